-- aws.backup.plan: an AWS Backup plan: when backups run, into which vault,
-- how long they are kept and where they are copied.
--
-- Attributes:
--   name   in place
--   rules  a list of {
--            name                       1 to 50 letters, digits, '-', '_' or '.'
--            vault_name                 the vault the rule backs up into
--            schedule                   a cron(...) expression of six fields,
--                                       in UTC: "cron(0 3 * * ? *)"
--            start_window_minutes       default 60 (at least 60)
--            completion_window_minutes  default 180 (at least 60 more than the start window)
--            delete_after_days          optional: kept forever without it
--            copy_to                    optional list of { vault_arn, delete_after_days? }
--          }, in place; checked at plan time
--   tags
-- Outputs: id (the plan id), arn, version_id (new after each update).
--
-- Exactly once: the CreatorRequestId comes from the resource's client token
-- (AWS answers the plan a request id made); a create whose answer was lost
-- finds its plan by that request id, or by its name and wpo:address tag.
-- Update: UpdateBackupPlan (a new version), tags. Delete fails, naming them,
-- while selections still use the plan (delete them first).
local kit = require "wpo.aws.typekit"
local backup = require "wpo.aws.backup.common"
local resource = require "wpo.resource"
local value = require "wpo.value"

local START, COMPLETION = 60, 180

local RULES = { type = "list", required = true, of = { type = "object", fields = {
  name = { type = "string", required = true },
  vault_name = { type = "string", required = true },
  schedule = { type = "string", required = true, description = "cron(...) of six fields, UTC" },
  start_window_minutes = { type = "integer", description = "default 60" },
  completion_window_minutes = { type = "integer", description = "default 180" },
  delete_after_days = { type = "integer" },
  copy_to = { type = "list", of = { type = "object", fields = {
    vault_arn = { type = "string", required = true },
    delete_after_days = { type = "integer" },
  } } },
} } }

-- a rule with its defaults filled in and an empty copy_to left out: the
-- form two rules are compared in
local function normal(rule)
  local copies
  for i, c in ipairs(rule.copy_to or {}) do
    copies = copies or {}
    copies[i] = { vault_arn = c.vault_arn, delete_after_days = c.delete_after_days }
  end
  return { name = rule.name, vault_name = rule.vault_name, schedule = rule.schedule,
    start_window_minutes = rule.start_window_minutes or START,
    completion_window_minutes = rule.completion_window_minutes or COMPLETION,
    delete_after_days = rule.delete_after_days, copy_to = copies }
end

local function same_rules(a, b)
  if #(a or {}) ~= #(b or {}) then return false end
  for i = 1, #a do
    if not value.equal(normal(a[i]), normal(b[i])) then return false end
  end
  return true
end

local function lifecycle(days)
  return days and { DeleteAfterDays = days } or nil
end

local function document(want)
  local rules = {}
  for i, r in ipairs(want.rules) do
    local n = normal(r)
    local copies
    for j, c in ipairs(n.copy_to or {}) do
      copies = copies or {}
      copies[j] = { DestinationBackupVaultArn = c.vault_arn, Lifecycle = lifecycle(c.delete_after_days) }
    end
    rules[i] = { RuleName = n.name, TargetBackupVaultName = n.vault_name, ScheduleExpression = n.schedule,
      StartWindowMinutes = n.start_window_minutes, CompletionWindowMinutes = n.completion_window_minutes,
      Lifecycle = lifecycle(n.delete_after_days), CopyActions = copies }
  end
  return { BackupPlanName = want.name, Rules = rules }
end

local function rules_of(doc)
  local out = {}
  for i, r in ipairs(doc.Rules or {}) do
    local copies
    for j, c in ipairs(r.CopyActions or {}) do
      copies = copies or {}
      copies[j] = { vault_arn = c.DestinationBackupVaultArn, delete_after_days = (c.Lifecycle or {}).DeleteAfterDays }
    end
    -- the defaults read as left out (as a script leaves them: an import then plans no change)
    local start = r.StartWindowMinutes ~= START and r.StartWindowMinutes or nil
    local done = r.CompletionWindowMinutes ~= COMPLETION and r.CompletionWindowMinutes or nil
    out[i] = { name = r.RuleName, vault_name = r.TargetBackupVaultName, schedule = r.ScheduleExpression,
      start_window_minutes = start, completion_window_minutes = done,
      delete_after_days = (r.Lifecycle or {}).DeleteAfterDays, copy_to = copies }
  end
  return out
end

-- cron(minutes hours day-of-month month day-of-week year): one of the two day
-- fields is "?" (EventBridge's cron, which AWS Backup takes)
local function cron_problem(s)
  local body = s:match("^cron%((.*)%)$")
  if not body then return "is not a cron(...) expression" end
  local fields = {}
  for f in body:gmatch("%S+") do fields[#fields + 1] = f end
  if #fields ~= 6 then
    return string.format("has %d fields; cron(...) takes six: minutes hours day-of-month month day-of-week year",
      #fields)
  end
  for _, f in ipairs(fields) do
    if not f:match("^[%w%*%?,/%-#L]+$") then return string.format("has a field %q that is not cron syntax", f) end
  end
  if (fields[3] == "?") == (fields[5] == "?") then
    return "must give '?' in exactly one of day-of-month (3rd field) and day-of-week (5th field)"
  end
  return nil
end

local function check(ctx, want)
  local rules = want.rules
  if type(rules) ~= "table" or rules == value.UNKNOWN or value.is_lazy(rules) then return end
  if #rules == 0 then ctx:fail("InvalidAttribute", "rules: a backup plan needs at least one rule") end
  local names = {}
  for i, r in ipairs(rules) do
    if value.is_lazy(r) then r = {} end
    local function bad(fmt, ...)
      ctx:fail("InvalidAttribute", "rules[%d]: " .. fmt, i, ...)
    end
    if type(r.name) == "string" then
      if not r.name:match("^[%w_%.%-]+$") or #r.name > 50 then
        bad("name %q: 1 to 50 letters, digits, '-', '_' or '.'", r.name)
      end
      if names[r.name] then bad("name %q: rule names are unique within a plan", r.name) end
      names[r.name] = true
    end
    if type(r.schedule) == "string" then
      local problem = cron_problem(r.schedule)
      if problem then bad("schedule %q %s (e.g. \"cron(0 3 * * ? *)\": every day at 03:00 UTC)", r.schedule, problem) end
    end
    local start, done = r.start_window_minutes, r.completion_window_minutes
    if math.type(start) == "integer" and start < 60 then bad("start_window_minutes is %d: at least 60", start) end
    start = math.type(start) == "integer" and start or START
    if math.type(done) == "integer" and done < start + 60 then
      bad("completion_window_minutes is %d: at least 60 more than start_window_minutes (%d)", done, start)
    end
    if math.type(r.delete_after_days) == "integer" and r.delete_after_days < 1 then
      bad("delete_after_days is %d: at least 1", r.delete_after_days)
    end
    for j, c in ipairs(type(r.copy_to) == "table" and not value.is_lazy(r.copy_to) and r.copy_to or {}) do
      if value.is_lazy(c) then c = {} end
      if type(c.vault_arn) == "string" and not c.vault_arn:match("^arn:aws[%w%-]*:backup:[%w%-]+:%d+:backup%-vault:.+$") then
        bad("copy_to[%d].vault_arn %q is not a backup vault ARN", j, c.vault_arn)
      end
      if math.type(c.delete_after_days) == "integer" and c.delete_after_days < 1 then
        bad("copy_to[%d].delete_after_days is %d: at least 1", j, c.delete_after_days)
      end
    end
  end
end

local function get(ctx, id)
  local out, err = backup.client(ctx):pcall("GetBackupPlan", { BackupPlanId = id })
  if not out then
    if kit.is_code(err, "ResourceNotFoundException") then return nil end
    error(err, 0)
  end
  if out.DeletionDate then return nil end
  return out
end

local function read(ctx, id, prior)
  local plan = get(ctx, id)
  if not plan then return nil end
  local rules = rules_of(plan.BackupPlan or {})
  local given = prior and prior.inputs and prior.inputs.rules
  if given and same_rules(given, rules) then rules = value.copy(given) end
  return { id = plan.BackupPlanId, arn = plan.BackupPlanArn, version_id = plan.VersionId,
    name = (plan.BackupPlan or {}).BackupPlanName, rules = rules, tags = backup.tags(ctx, plan.BackupPlanArn) or {} }
end

local function converge(ctx, id, current, want)
  if current.name ~= want.name or not same_rules(current.rules, want.rules) then
    backup.client(ctx):call("UpdateBackupPlan", { BackupPlanId = id, BackupPlan = document(want) })
  end
  backup.update_tags(ctx, current.arn, current.tags, want.tags)
  return read(ctx, id, { inputs = want })
end

local function selections(ctx, id)
  local out = {}
  for page in backup.client(ctx):paginate("ListBackupSelections", { BackupPlanId = id }) do
    for _, s in ipairs(page.BackupSelectionsList or {}) do out[#out + 1] = s.SelectionName or s.SelectionId end
  end
  return out
end

return resource.define "aws.backup.plan" {
  description = "an AWS Backup plan: its rules' schedules, vaults, retention and copies",
  attributes = {
    name = { type = "string", required = true },
    rules = RULES,
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "version_id" },

  check = function(ctx, after) check(ctx, after) end,

  found_by = "its CreatorRequestId (or its name, tagged with its wpo:address)",
  find = function(ctx, want)
    local rid = backup.request_id(ctx)
    local named
    for page in backup.client(ctx):paginate("ListBackupPlans", {}) do
      for _, p in ipairs(page.BackupPlansList or {}) do
        if not p.DeletionDate then
          if p.CreatorRequestId == rid then return { { id = p.BackupPlanId } } end
          if p.BackupPlanName == want.name then named = p end
        end
      end
    end
    if not named then return {} end
    local tags = backup.tags(ctx, named.BackupPlanArn) or {}
    if not kit.owns(ctx, tags) then
      ctx:fail("AlreadyExists", "a backup plan named %s already exists (%s) and was not made by this resource "
        .. "(import it with 'wpo import', or choose another name)", want.name, named.BackupPlanId)
    end
    return { { id = named.BackupPlanId, tags = tags } }
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local id = found and found.id
    if not id then
      local out, err = backup.client(ctx):pcall("CreateBackupPlan", { BackupPlan = document(want),
        BackupPlanTags = want.tags, CreatorRequestId = backup.request_id(ctx) })
      if not out then
        if kit.is_code(err, "AlreadyExistsException") then
          ctx:fail("AlreadyExists", "a backup plan named %s already exists and was not made by this resource "
            .. "(import it with 'wpo import', or choose another name)", want.name)
        end
        error(err, 0)
      end
      id = out.BackupPlanId
      if not id then ctx:fail("InvalidResponse", "CreateBackupPlan answered no BackupPlanId") end
    end
    local current = read(ctx, id, { inputs = want })
    if not current then ctx:fail("NotFound", "the backup plan %s was created but cannot be read back", id) end
    return converge(ctx, id, current, want)
  end,

  read = read,

  update = function(ctx, id, old, new)
    check(ctx, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the backup plan %s no longer exists", id) end
    return converge(ctx, id, current, new)
  end,

  delete = function(ctx, id)
    local ok, err = backup.client(ctx):pcall("DeleteBackupPlan", { BackupPlanId = id })
    if ok or kit.is_code(err, "ResourceNotFoundException") then return end
    if kit.is_code(err, "InvalidRequestException") then
      local held = selections(ctx, id)
      if #held > 0 then
        ctx:fail("PlanInUse", "the backup plan %s still has %d selection%s (%s): delete them first", id, #held,
          #held == 1 and "" or "s", table.concat(held, ", "))
      end
    end
    error(err, 0)
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "backup:GetBackupPlan", "backup:ListTags" },
    create = { "backup:CreateBackupPlan", "backup:ListBackupPlans", "backup:TagResource", "backup:UntagResource",
      "backup:UpdateBackupPlan" },
    update = { "backup:TagResource", "backup:UntagResource", "backup:UpdateBackupPlan" },
    delete = { "backup:DeleteBackupPlan", "backup:ListBackupSelections" },
  },
}
