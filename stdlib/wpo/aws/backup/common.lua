-- wpo.aws.backup.common: what the aws.backup.* types share: the client, the
-- CreatorRequestId of a create (AWS Backup's idempotency key: 1 to 50
-- characters of [A-Za-z0-9-_.]), and tags by ARN (ListTags, TagResource,
-- UntagResource; a map on the wire).
local kit = require "wpo.aws.typekit"

local M = {}

function M.client(ctx) return ctx:aws("backup") end

-- backup.request_id(ctx) -> the CreatorRequestId of this resource's next
-- create: from its client token (stack, region, address, generation), so a
-- create retried after a lost answer or a crash names the same request
function M.request_id(ctx)
  return "wpo-" .. ctx:client_token():sub(1, 40)
end

-- backup.tags(ctx, arn) -> the user's tags of the object (nil when it is gone)
function M.tags(ctx, arn)
  local out, err = M.client(ctx):pcall("ListTags", { ResourceArn = arn })
  if not out then
    if kit.is_code(err, "ResourceNotFoundException") then return nil end
    error(err, 0)
  end
  local tags = {}
  for k, v in pairs(out.Tags or {}) do tags[k] = v end
  local token = out.NextToken
  while token do
    local more = M.client(ctx):call("ListTags", { ResourceArn = arn, NextToken = token })
    for k, v in pairs(more.Tags or {}) do tags[k] = v end
    token = more.NextToken
  end
  return kit.user_tags(tags)
end

function M.update_tags(ctx, arn, old, new)
  local set, remove = kit.tag_changes(old, new)
  local client = M.client(ctx)
  if #remove > 0 then client:call("UntagResource", { ResourceArn = arn, TagKeyList = remove }) end
  if next(set) then client:call("TagResource", { ResourceArn = arn, Tags = set }) end
end

return M
