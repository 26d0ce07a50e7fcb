-- wpo.wordpress.backup: AWS Backup of the database and the file system, beside
-- their own snapshots (a vault of its own, outside the services it protects).
--
--   backup.build(stack, p, deps) -> backup | nil     (nil without p.backup)
--
-- Reads from p: name, region, protect, backup.{daily ("HH:MM" UTC), retention_days,
-- copy_to_region}.
-- Reads from deps: db.resource.arn (the Aurora cluster or the RDS instance),
-- files.file_system_arn.
--
-- Declares:
--   aws.backup.vault.main          "<name>-backup", encrypted (AWS Backup's key); with
--                                  protect, destroy refuses it (and the copy vault)
--   aws.backup.vault.copy          with copy_to_region: "<name>-backup-copy" there
--                                  (provider "backup-copy")
--   aws.iam.role.backup            trusted by backup.amazonaws.com, with AWS's managed
--                                  backup and restore policies (attachments .backup,
--                                  .restore)
--   aws.backup.plan.main           one daily rule at backup.daily, kept retention_days,
--                                  copied to the other region's vault when asked
--   aws.backup.selection.main      the database and the EFS file system, by ARN
--
-- Returns backup = { vault, copy_vault?, role, plan, selection } (resources)
local identity = require "wpo.wordpress.identity"
local policy = require "wpo.aws.iam.policy"

local M = {}

-- "03:00" -> AWS Backup's cron(0 3 * * ? *)
function M.schedule(daily)
  local h, m = daily:match("^(%d%d):(%d%d)$")
  return string.format("cron(%d %d * * ? *)", tonumber(m), tonumber(h))
end

function M.build(stack, p, deps)
  local b = p.backup
  if not b then return nil end
  local partition = identity.partition(p.region)
  local out = {}
  local keep = { prevent_destroy = p.protect == true }   -- the recovery points are data
  out.vault = stack:add("aws.backup.vault", "main", { name = p.name .. "-backup", force_destroy = not p.protect,
    lifecycle = keep })
  local copy_to
  if b.copy_to_region then
    local there = stack:provider("backup-copy", { region = b.copy_to_region })
    out.copy_vault = stack:add("aws.backup.vault", "copy", {
      name = p.name .. "-backup-copy", force_destroy = not p.protect, provider = there, lifecycle = keep })
    copy_to = { { vault_arn = out.copy_vault.arn, delete_after_days = b.retention_days } }
  end
  out.role = stack:add("aws.iam.role", "backup", {
    name = identity.role_name(p, "backup"), path = "/wpo/",
    description = "AWS Backup of WordPress " .. p.name,
    assume_role_policy = policy.assume_role("backup.amazonaws.com"),
  })
  local attached = {}
  for _, which in ipairs({ "Backup", "Restores" }) do
    attached[#attached + 1] = stack:add("aws.iam.role_policy_attachment", which == "Backup" and "backup" or "restore", {
      role = out.role.name,
      policy_arn = "arn:" .. partition .. ":iam::aws:policy/service-role/AWSBackupServiceRolePolicyFor" .. which,
    })
  end
  out.plan = stack:add("aws.backup.plan", "main", {
    name = p.name .. "-daily",
    rules = { { name = "daily", vault_name = out.vault.name, schedule = M.schedule(b.daily),
      delete_after_days = b.retention_days, copy_to = copy_to } },
  })
  out.selection = stack:add("aws.backup.selection", "main", {
    plan_id = out.plan.id, name = p.name .. "-data", iam_role_arn = out.role.arn,
    resources = { deps.db.resource.arn, deps.files.file_system_arn },
    depends_on = attached,
  })
  return out
end

return M
