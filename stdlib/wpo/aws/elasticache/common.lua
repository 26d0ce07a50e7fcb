-- wpo.aws.elasticache.common: what the aws.elasticache.* types share: the
-- client and tags by ARN.
local kit = require "wpo.aws.typekit"

local M = {}

function M.client(ctx) return ctx:aws("elasticache") end

-- tags by ARN (nil when the object is gone)
function M.tags(ctx, arn)
  local out, err = M.client(ctx):pcall("ListTagsForResource", { ResourceName = arn })
  if not out then
    if err and err.status == 404 or kit.is_code(err, "CacheSubnetGroupNotFoundFault") then return nil end
    error(err, 0)
  end
  return kit.tag_map(out.TagList)
end

function M.update_tags(ctx, arn, old, new)
  local set, remove = kit.tag_changes(old, new)
  local client = M.client(ctx)
  if #remove > 0 then client:call("RemoveTagsFromResource", { ResourceName = arn, TagKeys = remove }) end
  if next(set) then client:call("AddTagsToResource", { ResourceName = arn, Tags = kit.tag_list(set) }) end
end

return M
