-- aws.efs.backup_policy: automatic daily AWS Backup of an EFS file system.
--
--   file_system_id  required, replaces
--   status          "ENABLED" (default) | "DISABLED", in place
-- The id is the file system's. read answers the settled status (ENABLING
-- reads as ENABLED); delete turns backups off (the file system may stay).
local kit = require "wpo.aws.typekit"
local efs = require "wpo.aws.efs.common"
local resource = require "wpo.resource"

local SETTLED = { ENABLING = "ENABLED", DISABLING = "DISABLED" }

local function status(ctx, fs_id)
  local out, err = efs.client(ctx):pcall("DescribeBackupPolicy", { FileSystemId = fs_id })
  if not out then
    if kit.is_code(err, "FileSystemNotFound") then return nil end
    if kit.is_code(err, "PolicyNotFound") then return "DISABLED" end
    error(err, 0)
  end
  return out.BackupPolicy and out.BackupPolicy.Status or "DISABLED"
end

-- put the status, after any transition under way has finished
local function put(ctx, fs_id, want)
  local now = kit.wait(ctx, function()
    local s = status(ctx, fs_id)
    if s == nil then ctx:fail("NotFound", "file system %s does not exist", fs_id) end
    if SETTLED[s] then return nil, s end
    return s
  end, { what = "the backup policy of " .. fs_id .. " to settle", prefix = false, timeout = efs.WAIT.timeout,
    interval = efs.WAIT.interval })
  if now ~= want then
    efs.client(ctx):call("PutBackupPolicy", { FileSystemId = fs_id, BackupPolicy = { Status = want } })
    kit.wait(ctx, function()
      local s = status(ctx, fs_id)
      if s == nil then ctx:fail("NotFound", "file system %s does not exist", fs_id) end
      if s == want then return s end
      return nil, s
    end, { what = "the backup policy of " .. fs_id .. " to become " .. want, prefix = false,
      timeout = efs.WAIT.timeout, interval = efs.WAIT.interval })
  end
end

return resource.define "aws.efs.backup_policy" {
  description = "EFS automatic backups",
  attributes = {
    file_system_id = { type = "string", required = true, force_new = true },
    status = { type = "string", default = "ENABLED", choices = { "ENABLED", "DISABLED" } },
  },
  outputs = { "id" },

  -- PutBackupPolicy is an upsert: the file system's policy, when it already
  -- has the wanted status, is this resource's
  found_by = "its file system (with the wanted status)",
  find = function(ctx, want)
    local s = status(ctx, want.file_system_id)
    if s == nil or (SETTLED[s] or s) ~= want.status then return {} end
    return { { id = want.file_system_id, file_system_id = want.file_system_id, status = want.status } }
  end,

  create = function(ctx, want, found)
    if found then return found end
    efs.available(ctx, "file system", want.file_system_id, efs.file_system)
    put(ctx, want.file_system_id, want.status)
    return { id = want.file_system_id, file_system_id = want.file_system_id, status = want.status }
  end,

  read = function(ctx, id)
    local s = status(ctx, id)
    if s == nil then return nil end
    return { id = id, file_system_id = id, status = SETTLED[s] or s }
  end,

  update = function(ctx, id, _, new)
    put(ctx, id, new.status)
    return { id = id, status = new.status }
  end,

  delete = function(ctx, id)
    local s = status(ctx, id)
    if s == nil or s == "DISABLED" or s == "DISABLING" then return end
    local fs = efs.file_system(ctx, id)
    if not fs or fs.LifeCycleState ~= "available" then return end
    put(ctx, id, "DISABLED")
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticfilesystem:DescribeBackupPolicy", "elasticfilesystem:DescribeFileSystems" },
    create = { "elasticfilesystem:PutBackupPolicy", "elasticfilesystem:TagResource" },
    update = { "elasticfilesystem:PutBackupPolicy", "elasticfilesystem:TagResource" },
    delete = { "elasticfilesystem:PutBackupPolicy" },
  },
}
