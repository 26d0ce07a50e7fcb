-- wpo.wordpress.files: the file tier of the WordPress-on-ECS layout — EFS for
-- wp-content, shared by every task in every zone.
--
--   files.build(stack, p, deps) -> files
--
-- Reads from p (validated by wpo.wordpress): name, protect, azs,
-- files = { transition_to_ia } (default AFTER_30_DAYS).
-- Reads from deps: net.subnet_ids.private (the private subnets, one per zone,
-- in p.azs order; or net.subnets.private), sg.efs (or sg.ids.efs).
--
-- Declares:
--   aws.efs.file_system.content        encrypted, elastic throughput, files unread
--                                      for transition_to_ia move to Infrequent
--                                      Access and back on first access; Name tag
--                                      <name>-content; prevent_destroy with p.protect
--   aws.efs.mount_target.content-<z>   one per zone (z: the zone's letter), in the
--                                      zone's private subnet, with sg.efs
--   aws.efs.access_point.wordpress     uid/gid 33 (www-data in the official
--                                      WordPress image), root /wordpress created
--                                      33:33 0755 — tasks see only that directory
--   aws.efs.backup_policy.content      daily AWS Backup on
--
-- Returns files = { file_system, mount_targets (in zone order), access_point,
-- backup_policy, file_system_id, file_system_arn, access_point_id,
-- access_point_arn, dns_name, root = "/wordpress", uid = 33, gid = 33 }.
local parts = require "wpo.wordpress.deps"

local M = {}

M.UID, M.GID = 33, 33
M.ROOT = "/wordpress"
M.PERMISSIONS = "0755"




-- "eu-west-1b" -> "b"
local function letter(az, i)
  return (type(az) == "string" and az:match("(%l)$")) or ("abcdef"):sub(i, i)
end

function M.build(stack, p, deps)
  deps = deps or {}
  local files = p.files or {}
  local fs = stack:add("aws.efs.file_system", "content", {
    encrypted = true, performance_mode = "generalPurpose", throughput_mode = "elastic",
    transition_to_ia = files.transition_to_ia or "AFTER_30_DAYS",
    transition_to_primary_storage_class = "AFTER_1_ACCESS",
    tags = { Name = p.name .. "-content" },
    lifecycle = { prevent_destroy = p.protect == true } })
  local sg = parts.group("files", deps.sg, "efs")
  local mount_targets = {}
  for i, subnet in ipairs(parts.subnets("files", deps.net, "private")) do
    mount_targets[i] = stack:add("aws.efs.mount_target", "content-" .. letter(p.azs and p.azs[i], i), {
      file_system_id = fs.id, subnet_id = subnet, security_groups = { sg } })
  end
  local ap = stack:add("aws.efs.access_point", "wordpress", {
    file_system_id = fs.id, posix_user = { uid = M.UID, gid = M.GID },
    root_directory = { path = M.ROOT, creation_info = { owner_uid = M.UID, owner_gid = M.GID,
      permissions = M.PERMISSIONS } },
    tags = { Name = p.name .. "-wordpress" } })
  local backup = stack:add("aws.efs.backup_policy", "content", { file_system_id = fs.id, status = "ENABLED" })
  return { file_system = fs, mount_targets = mount_targets, access_point = ap, backup_policy = backup,
    file_system_id = fs.id, file_system_arn = fs.arn, access_point_id = ap.id, access_point_arn = ap.arn,
    dns_name = fs.dns_name, root = M.ROOT, uid = M.UID, gid = M.GID }
end

return M
