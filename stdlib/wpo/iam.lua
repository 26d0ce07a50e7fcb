-- wpo.iam: the least-privilege IAM policy wpo needs for a stack.
--
-- Each resource type declares, in resource.define's `iam` key, the IAM
-- actions its functions call in each phase, and which of them IAM can limit
-- to the type's own objects:
--
--   iam = {
--     read   = { "logs:DescribeLogGroups", ... },   -- read, check, import (a plan)
--     create = { ... },  update = { ... },          -- find + create; update
--     delete = { ... },                             -- delete (destroy, replacements)
--     scoped = { "logs:PutRetentionPolicy", ... },  -- limited to resources(...)
--     resources = function(attrs, env) -> { ARN pattern, ... } | nil,
--   }
--
-- resources gets the declaration's attributes as the script gave them (a
-- value known only after apply is not a string) and env = { region, stack,
-- roles }: roles are the ARN patterns of the stack's own IAM roles (nil when
-- one's name is not known before apply). When it answers nil, the scoped
-- actions apply to "*". iam:PassRole, wherever a type declares it, is always
-- limited to the stack's own roles.
--
--   iam.action(service, op) -> "prefix:Action"  (botocore service name and operation)
--   iam.phases(phase) -> the type phases a wpo command phase needs
--   iam.policy(stack, phase) -> policy document (a table; encode with iam.json)
--   iam.json(doc) -> deterministic JSON text
local value = require "wpo.value"
local text = require "wpo.text"
local cjson = require "cjson"

local M = {}

-- IAM's service prefix where it is not botocore's service name.
M.PREFIX = { elbv2 = "elasticloadbalancing", efs = "elasticfilesystem" }

-- S3's IAM actions are not its operation names.
M.S3_ACTION = {
  HeadBucket = "ListBucket", ListObjectsV2 = "ListBucket", ListObjects = "ListBucket",
  ListObjectVersions = "ListBucketVersions", HeadObject = "GetObject",
  GetObjectAttributes = "GetObject", ListBuckets = "ListAllMyBuckets", DeleteObjects = "DeleteObject",
  GetBucketEncryption = "GetEncryptionConfiguration", PutBucketEncryption = "PutEncryptionConfiguration",
  DeleteBucketEncryption = "PutEncryptionConfiguration",
  GetPublicAccessBlock = "GetBucketPublicAccessBlock", PutPublicAccessBlock = "PutBucketPublicAccessBlock",
  DeletePublicAccessBlock = "PutBucketPublicAccessBlock",
  GetBucketLifecycleConfiguration = "GetLifecycleConfiguration",
  PutBucketLifecycleConfiguration = "PutLifecycleConfiguration", DeleteBucketLifecycle = "PutLifecycleConfiguration",
  DeleteBucketTagging = "PutBucketTagging", DeleteBucketOwnershipControls = "PutBucketOwnershipControls",
}

-- Actions IAM does not check: anyone signed may call them.
M.UNCHECKED = { ["sts:GetCallerIdentity"] = true }

function M.action(service, op)
  if service == "s3" then return "s3:" .. (M.S3_ACTION[op] or op) end
  return (M.PREFIX[service] or service) .. ":" .. op
end

M.PHASES = {
  plan = { "read" },
  apply = { "read", "create", "update", "delete" },
  destroy = { "read", "delete" },
}
function M.phases(phase) return M.PHASES[phase] end

local function known(v) return type(v) == "string" and not value.is_lazy(v) end
M.known = known

local function region_of(stack, decl)
  local providers = stack.providers or {}
  local p = decl.provider and providers[decl.provider]
  local r = p and p.region or stack.region
  return known(r) and r or "*"
end

-- iam.path_arns(kind, path, name) -> the ARNs of an IAM role or instance
-- profile: with its path, and without (before it exists, IAM knows no path
-- for a request that names it only by name).
function M.path_arns(kind, path, name)
  local out = { "arn:aws:iam::*:" .. kind .. path .. name }
  if path ~= "/" then out[2] = "arn:aws:iam::*:" .. kind .. "/" .. name end
  return out
end

-- The ARN patterns of the stack's IAM roles; nil when a name is unknown.
local function stack_roles(stack)
  local out = {}
  for _, d in ipairs(stack.resources) do
    if d.type_name == "aws.iam.role" then
      local name, path = d.attrs.name, d.attrs.path or "/"
      if not known(name) or not known(path) then return nil end
      for _, arn in ipairs(M.path_arns("role", path, name)) do out[#out + 1] = arn end
    end
  end
  return out
end

-- What the state backend calls, as statements { actions, resources }.
function M.backend(stack, phase)
  local b = stack.backend or {}
  if b.type ~= "s3" then return {} end
  local region = known(b.region) and b.region or (known(stack.region) and stack.region or "*")
  local bucket, key = b.bucket, b.key
  local object, lock = "arn:aws:s3:::" .. bucket .. "/" .. key, "arn:aws:s3:::" .. bucket .. "/" .. key .. ".lock"
  local out = {
    { actions = { "s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions" },
      resources = { "arn:aws:s3:::" .. bucket } },
    { actions = { "s3:GetObject", "s3:GetObjectVersion" }, resources = { object, lock } },
  }
  -- a plan writes no state, but takes the lock like every command
  if phase ~= "plan" then
    out[#out + 1] = { actions = { "s3:DeleteObject", "s3:PutObject" }, resources = { object } }
  end
  if not b.lock_table then
    out[#out + 1] = { actions = { "s3:DeleteObject", "s3:PutObject" }, resources = { lock } }
  end
  if b.lock_table then
    out[#out + 1] = { actions = { "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem" },
      resources = { string.format("arn:aws:dynamodb:%s:*:table/%s", region, b.lock_table) } }
  end
  if b.kms_key_id then
    local k = b.kms_key_id
    local arn = k:match("^arn:") and k or string.format("arn:aws:kms:%s:*:key/%s", region, k)
    out[#out + 1] = { actions = { "kms:Decrypt", "kms:GenerateDataKey" }, resources = { arn } }
  end
  return out
end

-- iam.needs(stack, phase) -> { [action] = { [resource] = true } }, errs
function M.needs(stack, phase)
  local phases = assert(M.PHASES[phase], "phase is plan, apply or destroy")
  local need = {}
  local function add(action, resources)
    if M.UNCHECKED[action] then return end
    local set = need[action]
    if set == "*" then return end
    if not resources then need[action] = "*"; return end
    need[action] = set or {}
    for _, r in ipairs(resources) do need[action][r] = true end
  end
  local roles = stack_roles(stack)
  local missing = {}
  for _, d in ipairs(stack.resources) do
    local decl = d.type and d.type.iam
    if not decl then
      missing[d.type_name] = true
    else
      local scoped = {}
      for _, a in ipairs(decl.scoped or {}) do scoped[a] = true end
      local resources
      if decl.resources then
        resources = decl.resources(d.attrs, { region = region_of(stack, d), stack = stack.name, roles = roles })
      end
      for _, ph in ipairs(phases) do
        for _, a in ipairs(decl[ph] or {}) do
          if a == "iam:PassRole" then add(a, roles)
          elseif scoped[a] then add(a, resources)
          else add(a, nil) end
        end
      end
    end
  end
  -- the state backend reads in every phase, and writes (the lock, the state)
  for _, st in ipairs(M.backend(stack, phase)) do
    for _, a in ipairs(st.actions) do add(a, st.resources) end
  end
  return need, text.sorted_keys(missing)
end

-- iam.policy(stack, phase) -> document, missing (types without a declaration)
function M.policy(stack, phase)
  local need, missing = M.needs(stack, phase)
  -- group actions by the resources they apply to
  local groups = {}
  for action, set in pairs(need) do
    local resources = set == "*" and { "*" } or text.sorted_keys(set)
    local key = table.concat(resources, "\n")
    groups[key] = groups[key] or { resources = resources, actions = {} }
    table.insert(groups[key].actions, action)
  end
  local statements = {}
  for _, key in ipairs(text.sorted_keys(groups)) do
    local g = groups[key]
    table.sort(g.actions)
    statements[#statements + 1] = { Effect = "Allow", Action = g.actions,
      Resource = #g.resources == 1 and g.resources[1] or g.resources }
  end
  for i, st in ipairs(statements) do st.Sid = string.format("Wpo%s%d", phase:sub(1, 1):upper() .. phase:sub(2), i) end
  return { Version = "2012-10-17", Statement = statements }, missing
end

-- JSON with keys in a fixed order, two-space indented.
local ORDER = { Version = 1, Statement = 2, Sid = 1, Effect = 2, Action = 3, Resource = 4 }
local function in_order(a, b)
  local oa, ob = ORDER[a] or 99, ORDER[b] or 99
  if oa ~= ob then return oa < ob end
  return a < b
end

local function encode(v, indent)
  local pad = string.rep("  ", indent)
  if type(v) == "table" then
    if v[1] ~= nil then
      local parts = {}
      for _, x in ipairs(v) do parts[#parts + 1] = pad .. "  " .. encode(x, indent + 1) end
      return "[\n" .. table.concat(parts, ",\n") .. "\n" .. pad .. "]"
    end
    local keys = text.sorted_keys(v, in_order)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = pad .. "  " .. cjson.encode(k) .. ": " .. encode(v[k], indent + 1) end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. pad .. "}"
  end
  return (cjson.encode(v):gsub("\\/", "/"))
end

function M.json(doc) return encode(doc, 0) .. "\n" end

return M
