-- wpo.aws.elasticache.common: what the aws.elasticache.* types share: the
-- client, tags by ARN, and the list order of the script kept when AWS
-- answers the same members in its own order.
local common = require "wpo.aws.data_common"

local M = {}

function M.client(ctx) return ctx:aws("elasticache") end

-- tags by ARN (nil when the object is gone)
function M.tags(ctx, arn)
  local out, err = M.client(ctx):pcall("ListTagsForResource", { ResourceName = arn })
  if not out then
    if err and err.status == 404 or common.missing(err, "CacheSubnetGroupNotFoundFault") then return nil end
    error(err, 0)
  end
  return common.tag_map(out.TagList)
end

function M.update_tags(ctx, arn, old, new)
  local add, remove = common.tag_changes(old, new)
  local client = M.client(ctx)
  if #remove > 0 then client:call("RemoveTagsFromResource", { ResourceName = arn, TagKeys = remove }) end
  if #add > 0 then client:call("AddTagsToResource", { ResourceName = arn, Tags = add }) end
end

function M.same_order(observed, prior)
  if type(prior) ~= "table" or #prior ~= #observed then return observed end
  local a, b = common.sorted(observed), common.sorted(prior)
  for i = 1, #a do if a[i] ~= b[i] then return observed end end
  return prior
end

return M
