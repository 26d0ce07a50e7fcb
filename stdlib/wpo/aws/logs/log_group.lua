-- aws.logs.log_group: a CloudWatch Logs log group.
--
-- Attributes:
--   name            force_new
--   retention_days  one of CloudWatch Logs' periods (1, 3, 5, 7, 14, 30, 60, 90,
--                   120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
--                   2922, 3288, 3653), default 30; 0 keeps events forever
--   kms_key_id      a KMS key ARN to encrypt the group with (optional; in place)
--   tags
-- Outputs: id (= name), arn (arn:aws:logs:<region>:<account>:log-group:<name>,
-- without the ':*' DescribeLogGroups shows: append ":*" for its streams in
-- IAM policies).
--
-- Create adopts a group of that name already tagged with this resource's
-- address. Update: retention, KMS key and tags in place. Delete: a group
-- already gone is fine.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local iam = require "wpo.iam"

-- An optional setting AWS no longer holds but the script gave reads as ""
-- (a nil in what read returns would mean "unchanged").
local function cleared(v, given)
  if v == nil and given ~= nil then return "" end
  return v
end

local RETENTION = { 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
  3288, 3653 }

local GONE = { ResourceNotFoundException = true }

local function describe(ctx, name)
  local logs = ctx:aws("logs")
  for page in logs:paginate("DescribeLogGroups", { logGroupNamePrefix = name }) do
    for _, g in ipairs(page.logGroups or {}) do
      if g.logGroupName == name then return g end
    end
  end
  return nil
end

local function arn_of(g)
  return (g.arn:gsub(":%*$", ""))
end

local function tags_of(ctx, arn)
  local out, err = ctx:aws("logs"):pcall("ListTagsForResource", { resourceArn = arn })
  if out then return out.tags or {} end
  if GONE[err.code] then return {} end
  error(err, 0)
end

local function observe(ctx, g, prior)
  local arn = arn_of(g)
  local given = prior and prior.inputs and prior.inputs.kms_key_id
  return { id = g.logGroupName, name = g.logGroupName, arn = arn, retention_days = g.retentionInDays or 0,
    kms_key_id = cleared(g.kmsKeyId, given), tags = tags_of(ctx, arn) }
end

local function converge(ctx, current, want)
  local logs = ctx:aws("logs")
  if current.retention_days ~= want.retention_days then
    if want.retention_days == 0 then
      logs:call("DeleteRetentionPolicy", { logGroupName = current.name })
    else
      logs:call("PutRetentionPolicy", { logGroupName = current.name, retentionInDays = want.retention_days })
    end
  end
  if (current.kms_key_id or "") ~= (want.kms_key_id or "") then
    if want.kms_key_id then
      logs:call("AssociateKmsKey", { logGroupName = current.name, kmsKeyId = want.kms_key_id })
    else
      logs:call("DisassociateKmsKey", { logGroupName = current.name })
    end
  end
  local set, remove = kit.tag_changes(current.tags, want.tags)
  if #remove > 0 then logs:call("UntagResource", { resourceArn = current.arn, tagKeys = remove }) end
  if next(set) then logs:call("TagResource", { resourceArn = current.arn, tags = set }) end
end

local function read(ctx, id, prior)
  local g = describe(ctx, id)
  return g and observe(ctx, g, prior)
end

return resource.define "aws.logs.log_group" {
  description = "a CloudWatch Logs log group with its retention",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    retention_days = { type = "integer", default = 30, choices = RETENTION },
    kms_key_id = { type = "string" },
    tags = { type = "tags" },
  },
  outputs = { "arn" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = describe(ctx, want.name)
    if not existing then return {} end
    local current = observe(ctx, existing)
    if not kit.owns(ctx, current.tags) then
      ctx:fail("AlreadyExists", "a log group named %s already exists and is not this resource's (no tag %s=%s): "
        .. "import it with 'wpo import', or choose another name", want.name, resource.TAG_ADDRESS, ctx.address)
    end
    return { current }
  end,

  create = function(ctx, want, found)
    local logs = ctx:aws("logs")
    if found then
      converge(ctx, found, want)
      return read(ctx, want.name)
    end
    logs:call("CreateLogGroup", { logGroupName = want.name, kmsKeyId = want.kms_key_id, tags = want.tags })
    local created = describe(ctx, want.name)
    if not created then ctx:fail("NotFound", "the log group %s was created but cannot be read back", want.name) end
    local current = observe(ctx, created)
    converge(ctx, current, want)
    current.retention_days, current.tags = want.retention_days, want.tags
    return current
  end,

  read = read,

  update = function(ctx, id, old, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the log group %s no longer exists", id) end
    converge(ctx, current, new)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    local out, err = ctx:aws("logs"):pcall("DeleteLogGroup", { logGroupName = id })
    if out or GONE[err.code] then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "logs:DescribeLogGroups", "logs:ListTagsForResource" },
    create = { "logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource",
      "logs:UntagResource" },
    update = { "logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:DisassociateKmsKey",
      "logs:PutRetentionPolicy", "logs:TagResource", "logs:UntagResource" },
    delete = { "logs:DeleteLogGroup", "logs:DeleteRetentionPolicy", "logs:DisassociateKmsKey" },
    scoped = { "logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:DeleteRetentionPolicy",
      "logs:DisassociateKmsKey", "logs:ListTagsForResource", "logs:PutRetentionPolicy", "logs:TagResource",
      "logs:UntagResource" },
    resources = function(a, env)
      if iam.known(a.name) then
        local arn = string.format("arn:aws:logs:%s:*:log-group:%s", env.region, a.name)
        return { arn, arn .. ":*" }
      end
    end,
  },
}
