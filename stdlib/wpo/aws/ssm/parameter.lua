-- aws.ssm.parameter: an SSM Parameter Store parameter.
--
-- Attributes:
--   name             "/path/to/name" (or a plain name), force_new
--   type             "String" (default), "StringList" or "SecureString"
--   value            the value, sensitive: never printed (give this or insecure_value)
--   insecure_value   the value, shown in plans (for String parameters that hold
--                    nothing secret; give this or value)
--   description
--   key_id           KMS key of a SecureString (default: alias/aws/ssm)
--   tier             "Standard" (default), "Advanced" or "Intelligent-Tiering"
--   data_type        "text" (default), "aws:ec2:image" ...
--   allowed_pattern  a regular expression values must match
--   tags
-- Outputs: id (= name), arn, version.
--
-- Every change of value or settings is one PutParameter with Overwrite (which
-- AWS requires to carry the value); tags go through AddTagsToResource and
-- RemoveTagsFromResource. Read fetches the value (decrypted) only when the
-- parameter's version is not the one wpo wrote. Create adopts a parameter of
-- that name tagged with this resource's address. Delete: already gone is fine.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local iam = require "wpo.iam"

-- An optional setting AWS no longer holds but the script gave reads as ""
-- (a nil in what read returns would mean "unchanged").
local function cleared(v, given)
  if v == nil and given ~= nil then return "" end
  return v
end

local GONE = { ParameterNotFound = true }

local function describe(ctx, name)
  local ssm = ctx:aws("ssm")
  for page in ssm:paginate("DescribeParameters", { ParameterFilters = { { Key = "Name", Option = "Equals",
      Values = { name } } } }) do
    for _, p in ipairs(page.Parameters or {}) do
      if p.Name == name then return p end
    end
  end
  return nil
end

local function tags_of(ctx, name)
  local out, err = ctx:aws("ssm"):pcall("ListTagsForResource", { ResourceType = "Parameter", ResourceId = name })
  if out then return kit.tag_map(out.TagList) end
  if kit.is_code(err, "InvalidResourceId") then return {} end
  error(err, 0)
end

local function fetch(ctx, name)
  local out, err = ctx:aws("ssm"):pcall("GetParameter", { Name = name, WithDecryption = true })
  if out then return aws.required(out, "Parameter") end
  if GONE[err.code] then return nil end
  error(err, 0)
end

local function the_value(want)
  if want.value ~= nil then return want.value end
  return want.insecure_value
end

local function check(ctx, want)
  if (want.value == nil) == (want.insecure_value == nil) then
    ctx:fail("InvalidAttribute", "give value (sensitive) or insecure_value (shown in plans), one of them")
  end
  if want.key_id and want.type ~= "SecureString" then
    ctx:fail("InvalidAttribute", "key_id is for type = \"SecureString\" (it is %q)", want.type)
  end
end

local function arn_of(ctx, name)
  local p = fetch(ctx, name)
  return p and p.ARN
end

local function observe(ctx, meta, prior)
  local inputs, outputs = prior and prior.inputs or {}, prior and prior.outputs or {}
  local value
  if meta.Version == outputs.version then
    value = the_value(inputs)
  else
    local p = fetch(ctx, meta.Name)
    if not p then return nil end
    value = p.Value
    outputs = { arn = p.ARN }
  end
  local observed = {
    id = meta.Name, name = meta.Name, type = meta.Type, description = cleared(meta.Description, inputs.description),
    key_id = meta.Type == "SecureString" and meta.KeyId ~= "alias/aws/ssm" and meta.KeyId or nil,
    tier = meta.Tier or "Standard", data_type = meta.DataType or "text",
    allowed_pattern = cleared(meta.AllowedPattern, inputs.allowed_pattern),
    version = math.tointeger(meta.Version) or meta.Version, arn = outputs.arn or arn_of(ctx, meta.Name),
    tags = tags_of(ctx, meta.Name),
  }
  if inputs.insecure_value ~= nil then observed.insecure_value = value else observed.value = value end
  if inputs.key_id ~= nil and observed.key_id == nil and meta.KeyId == inputs.key_id then
    observed.key_id = inputs.key_id
  end
  observed.key_id = cleared(observed.key_id, inputs.key_id)
  return observed
end

local function put(ctx, want, overwrite)
  check(ctx, want)
  local out = ctx:aws("ssm"):call("PutParameter", {
    Name = want.name, Type = want.type, Value = the_value(want), Description = want.description,
    KeyId = want.key_id, Tier = want.tier, DataType = want.data_type, AllowedPattern = want.allowed_pattern,
    Overwrite = overwrite or nil, Tags = (not overwrite) and kit.tag_list(want.tags) or nil,
  })
  local version = aws.required(out, "Version")
  return math.tointeger(version) or version
end

local function set_tags(ctx, name, old, new)
  local ssm = ctx:aws("ssm")
  local set, remove = kit.tag_changes(old, new)
  if #remove > 0 then
    ssm:call("RemoveTagsFromResource", { ResourceType = "Parameter", ResourceId = name, TagKeys = remove })
  end
  if next(set) then
    ssm:call("AddTagsToResource", { ResourceType = "Parameter", ResourceId = name, Tags = kit.tag_list(set) })
  end
end

local SETTINGS = { "type", "value", "insecure_value", "description", "key_id", "tier", "data_type", "allowed_pattern" }

local function settings_changed(old, new)
  for _, k in ipairs(SETTINGS) do
    if old[k] ~= new[k] then return true end
  end
  return false
end

local function read(ctx, id, prior)
  local meta = describe(ctx, id)
  return meta and observe(ctx, meta, prior)
end

return resource.define "aws.ssm.parameter" {
  description = "an SSM parameter (String, StringList or SecureString)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    type = { type = "string", default = "String", choices = { "String", "StringList", "SecureString" } },
    value = { type = "string", sensitive = true },
    insecure_value = { type = "string" },
    description = { type = "string" },
    key_id = { type = "string" },
    tier = { type = "string", default = "Standard", choices = { "Standard", "Advanced", "Intelligent-Tiering" } },
    data_type = { type = "string", default = "text" },
    allowed_pattern = { type = "string" },
    tags = { type = "tags" },
  },
  outputs = { "arn", "version" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    if not describe(ctx, want.name) then return {} end
    local tags = tags_of(ctx, want.name)
    if not kit.owns(ctx, tags) then
      ctx:fail("AlreadyExists", "a parameter named %s already exists and is not this resource's (no tag %s=%s): "
        .. "import it with 'wpo import', or choose another name", want.name, resource.TAG_ADDRESS, ctx.address)
    end
    return { { id = want.name, tags = tags } }
  end,

  create = function(ctx, want, found)
    if found then
      put(ctx, want, true)
      set_tags(ctx, want.name, found.tags, want.tags)
    else
      put(ctx, want, false)
    end
    return read(ctx, want.name, { inputs = want, outputs = {} })
  end,

  read = read,

  update = function(ctx, id, old, new)
    local current = read(ctx, id, ctx.prior)
    if not current then ctx:fail("NotFound", "the parameter %s no longer exists", id) end
    if settings_changed(old, new) then put(ctx, new, true) end
    set_tags(ctx, id, current.tags, new.tags)
    return read(ctx, id, { inputs = new, outputs = {} })
  end,

  delete = function(ctx, id)
    local out, err = ctx:aws("ssm"):pcall("DeleteParameter", { Name = id })
    if out or GONE[err.code] then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ssm:DescribeParameters", "ssm:GetParameter", "ssm:ListTagsForResource" },
    create = { "ssm:AddTagsToResource", "ssm:PutParameter" },
    update = { "ssm:AddTagsToResource", "ssm:PutParameter", "ssm:RemoveTagsFromResource" },
    delete = { "ssm:DeleteParameter", "ssm:RemoveTagsFromResource" },
    scoped = { "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:ListTagsForResource",
      "ssm:PutParameter", "ssm:RemoveTagsFromResource" },
    resources = function(a, env)
      if iam.known(a.name) then
        return { string.format("arn:aws:ssm:%s:*:parameter/%s", env.region, (a.name:gsub("^/", ""))) }
      end
    end,
  },
}
