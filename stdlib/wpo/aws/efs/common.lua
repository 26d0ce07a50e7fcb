-- wpo.aws.efs.common: what the aws.efs.* types share: the client, describes
-- that answer nil when the object is gone (or going), waits on
-- LifeCycleState (EFS has no botocore waiters: polls every 5 s, as the AWS
-- CLI's own efs examples do), tags by resource id.
local kit = require "wpo.aws.typekit"

local M = {}

M.WAIT = { timeout = 1200, interval = 5 }

function M.client(ctx) return ctx:aws("efs") end

function M.file_system(ctx, id)
  local out, err = M.client(ctx):pcall("DescribeFileSystems", { FileSystemId = id })
  if not out then
    if kit.is_code(err, "FileSystemNotFound") then return nil end
    error(err, 0)
  end
  return out.FileSystems and out.FileSystems[1]
end

function M.mount_target(ctx, id)
  local out, err = M.client(ctx):pcall("DescribeMountTargets", { MountTargetId = id })
  if not out then
    if kit.is_code(err, "MountTargetNotFound", "FileSystemNotFound") then return nil end
    error(err, 0)
  end
  return out.MountTargets and out.MountTargets[1]
end

function M.access_point(ctx, id)
  local out, err = M.client(ctx):pcall("DescribeAccessPoints", { AccessPointId = id })
  if not out then
    if kit.is_code(err, "AccessPointNotFound", "FileSystemNotFound") then return nil end
    error(err, 0)
  end
  return out.AccessPoints and out.AccessPoints[1]
end

-- wait until describe(ctx, id).LifeCycleState is "available"
function M.available(ctx, noun, id, describe)
  return kit.wait(ctx, function()
    local obj = describe(ctx, id)
    if not obj then ctx:fail("NotFound", "%s %s disappeared while waiting for it", noun, id) end
    if obj.LifeCycleState == "available" then return obj end
    if obj.LifeCycleState == "error" then ctx:fail("InvalidState", "%s %s is in the error state", noun, id) end
    return nil, obj.LifeCycleState
  end, { what = string.format("%s %s to become available", noun, id), prefix = false, timeout = M.WAIT.timeout,
    interval = M.WAIT.interval })
end

function M.gone(ctx, noun, id, describe)
  kit.wait(ctx, function()
    local obj = describe(ctx, id)
    if not obj then return true end
    return nil, obj.LifeCycleState
  end, { what = string.format("%s %s to be deleted", noun, id), prefix = false, timeout = M.WAIT.timeout, interval = M.WAIT.interval })
end

function M.update_tags(ctx, id, old, new)
  local set, remove = kit.tag_changes(old, new)
  local client = M.client(ctx)
  if #remove > 0 then client:call("UntagResource", { ResourceId = id, TagKeys = remove }) end
  if next(set) then client:call("TagResource", { ResourceId = id, Tags = kit.tag_list(set) }) end
end

return M
