-- aws.backup.selection: the resources an AWS Backup plan backs up, by ARN,
-- and the role AWS Backup uses to do it.
--
-- Attributes (AWS cannot change a selection: each one replaces it):
--   plan_id       the plan (aws.backup.plan's id)
--   name          1 to 50 letters, digits, '-', '_' or '.'
--   iam_role_arn  a role AWS Backup can assume (trusting backup.amazonaws.com,
--                 with AWSBackupServiceRolePolicyForBackup and ...ForRestores)
--   resources     the ARNs of what is backed up (at least one)
-- Outputs: id ("<plan id>/<selection id>", also what import takes).
--
-- Exactly once: the CreatorRequestId comes from the resource's client token;
-- a create whose answer was lost finds its selection in the plan by that
-- request id. A role made a moment ago is refused by AWS Backup until IAM has
-- propagated it: the create is sent again for a bounded time (late condition
-- backup_iam_role). A selection goes before its plan (the plan's delete fails
-- while one remains).
local kit = require "wpo.aws.typekit"
local backup = require "wpo.aws.backup.common"
local resource = require "wpo.resource"
local value = require "wpo.value"

local function split(ctx, id)
  local plan_id, selection_id = tostring(id):match("^([^/]+)/([^/]+)$")
  if not plan_id then
    ctx:fail("InvalidId", "a backup selection's id is \"<plan id>/<selection id>\", not %q", tostring(id))
  end
  return plan_id, selection_id
end

local function read(ctx, id, prior)
  local plan_id, selection_id = split(ctx, id)
  local out, err = backup.client(ctx):pcall("GetBackupSelection", { BackupPlanId = plan_id,
    SelectionId = selection_id })
  if not out then
    if kit.is_code(err, "ResourceNotFoundException") then return nil end
    error(err, 0)
  end
  local sel = out.BackupSelection or {}
  return { id = plan_id .. "/" .. selection_id, plan_id = plan_id, name = sel.SelectionName,
    iam_role_arn = sel.IamRoleArn,
    resources = kit.as_prior_order(sel.Resources or {}, prior and prior.inputs and prior.inputs.resources) }
end

local function check(ctx, want)
  local name = want.name
  if type(name) == "string" and not (name:match("^[%w_%.%-]+$") and #name <= 50) then
    ctx:fail("InvalidAttribute", "name %q: 1 to 50 letters, digits, '-', '_' or '.'", name)
  end
  local resources = want.resources
  if type(resources) == "table" and resources ~= value.UNKNOWN and not value.is_lazy(resources) then
    if #resources == 0 then ctx:fail("InvalidAttribute", "resources: give at least one ARN to back up") end
    for i, arn in ipairs(resources) do
      if type(arn) == "string" and not arn:match("^arn:aws[%w%-]*:[%w%-]+:") then
        ctx:fail("InvalidAttribute", "resources[%d] %q is not an ARN", i, arn)
      end
    end
  end
  local role = want.iam_role_arn
  if type(role) == "string" and not role:match("^arn:aws[%w%-]*:iam::%d+:role/") then
    ctx:fail("InvalidAttribute", "iam_role_arn %q is not an IAM role ARN", role)
  end
end

return resource.define "aws.backup.selection" {
  description = "the resources (by ARN) an AWS Backup plan backs up, with the role it uses",
  attributes = {
    plan_id = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    iam_role_arn = { type = "string", required = true, force_new = true },
    resources = { type = "list", of = "string", required = true, force_new = true },
  },
  outputs = { "id" },

  check = function(ctx, after) check(ctx, after) end,

  found_by = "its CreatorRequestId in its plan",
  find = function(ctx, want)
    local rid = backup.request_id(ctx)
    local ok, pages = pcall(function()
      local out = {}
      for page in backup.client(ctx):paginate("ListBackupSelections", { BackupPlanId = want.plan_id }) do
        for _, s in ipairs(page.BackupSelectionsList or {}) do out[#out + 1] = s end
      end
      return out
    end)
    if not ok then
      if kit.is_code(pages, "ResourceNotFoundException") then return {} end
      error(pages, 0)
    end
    for _, s in ipairs(pages) do
      if s.CreatorRequestId == rid then return { { id = want.plan_id .. "/" .. s.SelectionId } } end
    end
    for _, s in ipairs(pages) do
      if s.SelectionName == want.name then
        ctx:fail("AlreadyExists", "the backup plan %s already has a selection named %s (%s) not made by this "
          .. "resource (import it with 'wpo import' as %s/%s, or choose another name)", want.plan_id, want.name,
          s.SelectionId, want.plan_id, s.SelectionId)
      end
    end
    return {}
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local id = found and found.id
    if not id then
      local out = backup.client(ctx):call("CreateBackupSelection", { BackupPlanId = want.plan_id,
        CreatorRequestId = backup.request_id(ctx), BackupSelection = { SelectionName = want.name,
          IamRoleArn = want.iam_role_arn, Resources = want.resources } })
      if not out.SelectionId then ctx:fail("InvalidResponse", "CreateBackupSelection answered no SelectionId") end
      id = want.plan_id .. "/" .. out.SelectionId
    end
    local current = read(ctx, id, { inputs = want })
    if not current then ctx:fail("NotFound", "the backup selection %s was created but cannot be read back", id) end
    return current
  end,

  read = read,

  delete = function(ctx, id)
    local plan_id, selection_id = split(ctx, id)
    local ok, err = backup.client(ctx):pcall("DeleteBackupSelection", { BackupPlanId = plan_id,
      SelectionId = selection_id })
    if ok or kit.is_code(err, "ResourceNotFoundException") then return end
    error(err, 0)
  end,

  import = function(ctx, id) return read(ctx, id) end,
  late = kit.late { "backup_iam_role" },
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`); AWS Backup
  -- is handed the role
  iam = {
    read = { "backup:GetBackupSelection" },
    create = { "backup:CreateBackupSelection", "backup:ListBackupSelections", "iam:PassRole" },
    delete = { "backup:DeleteBackupSelection" },
  },
}
