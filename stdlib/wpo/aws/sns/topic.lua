-- aws.sns.topic: an SNS topic (standard, not FIFO).
--
-- Attributes:
--   name               force_new
--   display_name       (in place)
--   kms_master_key_id  KMS key encrypting messages at rest (in place). No default:
--                      CloudWatch alarms cannot publish to a topic under the
--                      AWS-managed alias/aws/sns key (its key policy does not let
--                      CloudWatch use it), so an alarms topic would silently stay mute;
--                      give a customer-managed key that allows it, or none
--   tags
-- Outputs: id (= arn), arn.
--
-- CreateTopic is idempotent by name: a re-run after a crash gets the same
-- topic back, and a topic of that name that is not this resource's (other
-- tags) is refused by SNS itself. Update: display name, key and tags in
-- place. Delete takes the topic's subscriptions with it; a topic already gone
-- is fine.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local function cleared(v, given)
  if v == nil and given ~= nil then return "" end
  return v
end

local function attributes(ctx, arn)
  local out, err = ctx:aws("sns"):pcall("GetTopicAttributes", { TopicArn = arn })
  if out then return out.Attributes or {} end
  if kit.is_code(err, "NotFound") then return nil end
  error(err, 0)
end

local function tags_of(ctx, arn)
  local out, err = ctx:aws("sns"):pcall("ListTagsForResource", { ResourceArn = arn })
  if out then return kit.tag_map(out.Tags) end
  if kit.is_code(err, "ResourceNotFoundException") then return {} end
  error(err, 0)
end

local function observe(ctx, arn, attrs, inputs)
  inputs = inputs or {}
  local display = attrs.DisplayName
  if display == "" then display = nil end
  local key = attrs.KmsMasterKeyId
  if key == "" then key = nil end
  return { id = arn, arn = arn, name = arn:match(":([^:]+)$"), display_name = cleared(display, inputs.display_name),
    kms_master_key_id = cleared(key, inputs.kms_master_key_id), tags = tags_of(ctx, arn) }
end

local function converge(ctx, current, want)
  local sns = ctx:aws("sns")
  for _, pair in ipairs({ { "display_name", "DisplayName" }, { "kms_master_key_id", "KmsMasterKeyId" } }) do
    local have, wanted = current[pair[1]] or "", want[pair[1]] or ""
    if have ~= wanted then
      sns:call("SetTopicAttributes", { TopicArn = current.arn, AttributeName = pair[2], AttributeValue = wanted })
    end
  end
  local set, remove = kit.tag_changes(current.tags, want.tags)
  if #remove > 0 then sns:call("UntagResource", { ResourceArn = current.arn, TagKeys = remove }) end
  if next(set) then sns:call("TagResource", { ResourceArn = current.arn, Tags = kit.tag_list(set) }) end
end

local function read(ctx, id, prior)
  local attrs = attributes(ctx, id)
  return attrs and observe(ctx, id, attrs, prior and prior.inputs)
end

return resource.define "aws.sns.topic" {
  description = "an SNS topic",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    display_name = { type = "string" },
    kms_master_key_id = { type = "string" },
    tags = { type = "tags" },
  },
  outputs = { "arn" },

  found_by = "its name (CreateTopic is idempotent by name)",
  find = function(ctx, want)
    local account = ctx:aws("sts"):call("GetCallerIdentity", {}).Account
    local region = ctx:aws("sns").region
    local partition = region:match("^cn%-") and "aws-cn" or region:match("^us%-gov%-") and "aws-us-gov" or "aws"
    local current = read(ctx, string.format("arn:%s:sns:%s:%s:%s", partition, region, account, want.name),
      { inputs = want })
    -- one that is not this resource's: CreateTopic refuses it (other tags)
    if not current or not kit.owns(ctx, current.tags) then return {} end
    return { current }
  end,

  create = function(ctx, want, found)
    if found then
      converge(ctx, found, want)
      return read(ctx, found.id, { inputs = want })
    end
    local attrs = { DisplayName = want.display_name, KmsMasterKeyId = want.kms_master_key_id }
    local arn = aws.required(ctx:aws("sns"):call("CreateTopic", { Name = want.name,
      Attributes = next(attrs) and attrs or nil, Tags = kit.tag_list(want.tags) }), "TopicArn")
    local current = read(ctx, arn, { inputs = want })
    if not current then ctx:fail("NotFound", "the topic %s was created but cannot be read back", want.name) end
    converge(ctx, current, want)       -- a topic that already existed (a re-run) gets this resource's settings
    return read(ctx, arn, { inputs = want })
  end,

  read = read,

  update = function(ctx, id, old, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the topic %s no longer exists", id) end
    converge(ctx, current, new)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id)
    local out, err = ctx:aws("sns"):pcall("DeleteTopic", { TopicArn = id })
    if out or kit.is_code(err, "NotFound") then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "sns:GetTopicAttributes", "sns:ListTagsForResource", "sts:GetCallerIdentity" },
    create = { "sns:CreateTopic", "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource" },
    update = { "sns:CreateTopic", "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource" },
    delete = { "sns:DeleteTopic" },
  },
}
