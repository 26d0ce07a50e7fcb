-- aws.backup.vault, aws.backup.plan and aws.backup.selection against fakeaws:
-- create, read, update, delete, import, drift, a create whose answer was lost,
-- force_destroy both ways, plan-time checks; then through the wpo binary: a
-- stack with a role, a vault, a plan and a selection, the selection replaced
-- when its resources change, destroy in order, IAM propagating the new role.
local typeflow = require "typeflow"

local FS = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123abcd"
local DB = "arn:aws:rds:us-east-1:123456789012:cluster:wp"
local TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":'
  .. '"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}'

describe("aws.backup types against fakeaws", function()
  local suite = typeflow.suite { stack = "prod" }
  local f, flow, backup
  setup(function() backup = suite:client("backup") end)
  before_each(function() f, flow = suite.f, suite.flow end)
  local raised = typeflow.raised

  local function vaults() return ((f:state().backup or {}).vault or {}) end
  local function plans() return ((f:state().backup or {}).plan or {}) end
  local function count(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
  end

  local RULE = { name = "daily", vault_name = "wp", schedule = "cron(0 3 * * ? *)", delete_after_days = 35 }

  describe("aws.backup.vault", function()
    it("creates an encrypted vault with AWS's key, tagged with its stack and address", function()
      local rec = flow:create("aws.backup.vault", "main", { name = "wp", tags = { team = "web" } })
      local held = vaults().wp
      assert.are.equal("wp", rec.id)
      assert.are.same({ "wp", held.BackupVaultArn, held.EncryptionKeyArn },
        { rec.outputs.name, rec.outputs.arn, rec.outputs.encryption_key_arn })
      assert.matches("^arn:aws:kms:us%-east%-1:123456789012:key/", rec.outputs.encryption_key_arn)
      assert.matches("^wpo%-%x+$", held.CreatorRequestId)
      assert.are.same({ team = "web", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.backup.vault.main" },
        backup:call("ListTags", { ResourceArn = held.BackupVaultArn }).Tags)
      assert.are.same({}, flow:drift(rec))
    end)

    it("keeps the key it is given; updates tags in place and sees them changed outside wpo", function()
      local key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
      local rec = flow:create("aws.backup.vault", "main", { name = "wp", kms_key_arn = key, tags = { a = "1" } })
      assert.are.equal(key, rec.outputs.encryption_key_arn)
      rec = flow:update(rec, { name = "wp", kms_key_arn = key, tags = { b = "2" } })
      local arn = rec.outputs.arn
      assert.are.same({ b = "2", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.backup.vault.main" },
        backup:call("ListTags", { ResourceArn = arn }).Tags)
      assert.are.same({}, flow:drift(rec))
      backup:call("TagResource", { ResourceArn = arn, Tags = { b = "3" } })
      local changed, observed = flow:drift(rec)
      assert.are.same({ "tags" }, changed)
      assert.are.equal("3", observed.tags.b)
      backup:call("DeleteBackupVault", { BackupVaultName = "wp" })
      assert.is_nil(flow:read(rec))
    end)

    it("imports a vault by name", function()
      backup:call("CreateBackupVault", { BackupVaultName = "legacy", BackupVaultTags = { owner = "ops" } })
      local rec = flow:import("aws.backup.vault", "legacy", "legacy")
      assert.are.same({ "legacy", "legacy", false, { owner = "ops" } },
        { rec.id, rec.inputs.name, rec.inputs.force_destroy, rec.inputs.tags })
      assert.is_nil(rec.inputs.kms_key_arn)       -- AWS's own key reads as no key given
      assert.are.equal(vaults().legacy.EncryptionKeyArn, rec.outputs.encryption_key_arn)
      assert.is_nil(flow:import("aws.backup.vault", "none", "no-such-vault"))
    end)

    it("finds the vault whose create answer was lost, and refuses one it did not make", function()
      f:faults { drop_rate = 1, operations = { "backup.CreateBackupVault" } }
      local rec = flow:create("aws.backup.vault", "main", { name = "wp" })
      f:faults {}
      assert.are.equal(1, count(vaults()))
      assert.are.equal(vaults().wp.BackupVaultArn, rec.outputs.arn)
      local log = table.concat(flow.logs, "\n")
      assert.matches("the answer to backup CreateBackupVault: %S+ was lost", log)
      assert.matches("adopting wp, found by its name", log)
      -- a lost state: the next create (another request id) adopts it by its wpo:address tag
      local again = flow:create("aws.backup.vault", "main", { name = "wp", tags = { late = "1" } })
      assert.are.equal(rec.outputs.arn, again.outputs.arn)
      assert.are.equal("1", backup:call("ListTags", { ResourceArn = rec.outputs.arn }).Tags.late)
      assert.are.equal(1, count(vaults()))
      backup:call("CreateBackupVault", { BackupVaultName = "theirs" })
      local err = raised(function() flow:create("aws.backup.vault", "other", { name = "theirs" }) end)
      assert.are.equal("AlreadyExists", err.code)
      assert.are.equal("aws.backup.vault.other", err.address)
      assert.matches("a backup vault named theirs already exists and was not made by this resource", err.message,
        1, true)
    end)

    it("refuses to delete a vault holding recovery points, naming the count, unless force_destroy", function()
      local rec = flow:create("aws.backup.vault", "main", { name = "wp" })
      f:post("/_fake/backup/recovery-points", { vault = "wp", count = 3 })
      local err = raised(function() flow:delete(rec) end)
      assert.are.equal("VaultNotEmpty", err.code)
      assert.are.equal("aws.backup.vault.main", err.address)
      assert.matches("the backup vault wp holds 3 recovery points", err.message, 1, true)
      assert.is_table(vaults().wp)
      rec = flow:update(rec, { name = "wp", force_destroy = true })
      flow:delete(rec)
      assert.is_nil(vaults().wp)
      assert.is_true((f:calls()["backup.DeleteRecoveryPoint"] or 0) == 3)
      flow:delete(rec)            -- already gone: fine
    end)

    it("checks the name at plan time", function()
      local t = require("wpo.resource").get("aws.backup.vault")
      local err = raised(function() t.check(flow:ctx("aws.backup.vault", "x"), { name = "a b" }) end)
      assert.are.equal("InvalidAttribute", err.code)
      assert.matches("2 to 50 letters, digits", err.message)
    end)
  end)

  describe("aws.backup.plan", function()
    before_each(function() flow:create("aws.backup.vault", "wp", { name = "wp" }) end)

    it("creates a plan whose rules carry the defaults, and reads it back without drift", function()
      local dest = "arn:aws:backup:eu-west-1:123456789012:backup-vault:dr"
      local rule = { name = "daily", vault_name = "wp", schedule = "cron(0 3 * * ? *)", delete_after_days = 35,
        copy_to = { { vault_arn = dest, delete_after_days = 7 } } }
      local rec = flow:create("aws.backup.plan", "wp", { name = "wp", rules = { rule } })
      local held = plans()[rec.id]
      assert.are.same({ held.BackupPlanArn, held.VersionId }, { rec.outputs.arn, rec.outputs.version_id })
      local r = held.BackupPlan.Rules[1]
      assert.are.same({ "daily", "wp", "cron(0 3 * * ? *)", 60, 180, { DeleteAfterDays = 35 } },
        { r.RuleName, r.TargetBackupVaultName, r.ScheduleExpression, r.StartWindowMinutes, r.CompletionWindowMinutes,
          r.Lifecycle })
      assert.are.same({ { DestinationBackupVaultArn = dest, Lifecycle = { DeleteAfterDays = 7 } } }, r.CopyActions)
      assert.are.same({}, flow:drift(rec))
      assert.are.same({ ["wpo:stack"] = "prod", ["wpo:address"] = "aws.backup.plan.wp" },
        backup:call("ListTags", { ResourceArn = held.BackupPlanArn }).Tags)
    end)

    it("updates rules and name in place as a new version; sees a schedule changed outside wpo", function()
      local rec = flow:create("aws.backup.plan", "wp", { name = "wp", rules = { RULE } })
      local id, version = rec.id, rec.outputs.version_id
      local weekly = { name = "weekly", vault_name = "wp", schedule = "cron(0 4 ? * SUN *)",
        start_window_minutes = 120, completion_window_minutes = 600 }
      rec = flow:update(rec, { name = "wp-2", rules = { RULE, weekly }, tags = { x = "y" } })
      assert.are.equal(id, rec.id)
      assert.are_not.equal(version, rec.outputs.version_id)
      local held = plans()[id]
      assert.are.same({ "wp-2", 2, 120, 600 }, { held.BackupPlan.BackupPlanName, #held.BackupPlan.Rules,
        held.BackupPlan.Rules[2].StartWindowMinutes, held.BackupPlan.Rules[2].CompletionWindowMinutes })
      assert.are.same({}, flow:drift(rec))
      backup:call("UpdateBackupPlan", { BackupPlanId = id, BackupPlan = { BackupPlanName = "wp-2", Rules = {
        { RuleName = "daily", TargetBackupVaultName = "wp", ScheduleExpression = "cron(0 1 * * ? *)" } } } })
      local changed, observed = flow:drift(rec)
      assert.are.same({ "rules" }, changed)
      assert.are.equal("cron(0 1 * * ? *)", observed.rules[1].schedule)
      assert.are.equal(1, #observed.rules)
    end)

    it("checks rules at plan time, before calling AWS", function()
      local t = require("wpo.resource").get("aws.backup.plan")
      local ctx = flow:ctx("aws.backup.plan", "wp")
      local function problem(rule)
        local r = {}
        for k, v in pairs(RULE) do r[k] = v end
        for k, v in pairs(rule) do r[k] = v end
        local err = raised(function() t.check(ctx, { name = "wp", rules = { r } }) end)
        assert.are.equal("InvalidAttribute", err.code)
        assert.are.equal("aws.backup.plan.wp", err.address)
        return err.message
      end
      assert.matches('rules%[1%]: schedule "rate%(1 day%)" is not a cron%(%.%.%.%) expression', problem {
        schedule = "rate(1 day)" })
      assert.matches("has 5 fields; cron%(%.%.%.%) takes six", problem { schedule = "cron(0 3 * * ?)" })
      assert.matches("'%?' in exactly one of day%-of%-month", problem { schedule = "cron(0 3 * * * *)" })
      assert.matches("start_window_minutes is 30: at least 60", problem { start_window_minutes = 30 })
      assert.matches("completion_window_minutes is 90: at least 60 more", problem { completion_window_minutes = 90 })
      assert.matches("copy_to%[1%]%.vault_arn \"wp\" is not a backup vault ARN", problem {
        copy_to = { { vault_arn = "wp" } } })
      local err = raised(function() flow:create("aws.backup.plan", "wp", { name = "wp", rules = {
        { name = "daily", vault_name = "wp", schedule = "daily" } } }) end)
      assert.are.equal("InvalidAttribute", err.code)
      assert.is_nil(f:calls()["backup.CreateBackupPlan"])
      t.check(ctx, { name = "wp", rules = { RULE } })
      -- what is known only after apply is checked at the apply
      local unknown = require("wpo.value").UNKNOWN
      t.check(ctx, { name = "wp", rules = unknown })
      t.check(ctx, { name = "wp", rules = { { name = "daily", vault_name = unknown, schedule = unknown } } })
      local sel = require("wpo.resource").get("aws.backup.selection")
      sel.check(flow:ctx("aws.backup.selection", "wp"), { plan_id = unknown, name = "wp", iam_role_arn = unknown,
        resources = unknown })
      err = raised(function() sel.check(flow:ctx("aws.backup.selection", "wp"), { plan_id = unknown, name = "wp",
        iam_role_arn = "role", resources = { unknown } }) end)
      assert.matches('iam_role_arn "role" is not an IAM role ARN', err.message)
    end)

    it("imports a plan by id; finds its plan after a lost answer; deleting twice is fine", function()
      f:faults { drop_rate = 1, operations = { "backup.CreateBackupPlan" } }
      local rec = flow:create("aws.backup.plan", "wp", { name = "wp", rules = { RULE } })
      f:faults {}
      assert.are.equal(1, count(plans()))
      assert.matches("adopting " .. rec.id:gsub("%-", "%%-") .. ", found by its CreatorRequestId",
        table.concat(flow.logs, "\n"))
      local again = flow:create("aws.backup.plan", "wp", { name = "wp", rules = { RULE } })   -- a lost state
      assert.are.equal(rec.id, again.id)
      assert.are.equal(1, count(plans()))
      local err = raised(function() flow:create("aws.backup.plan", "theirs", { name = "wp", rules = { RULE } }) end)
      assert.are.equal("AlreadyExists", err.code)
      assert.matches("a backup plan named wp already exists", err.message, 1, true)
      local imported = flow:import("aws.backup.plan", "other", rec.id)
      assert.are.same({ "wp", { RULE } }, { imported.inputs.name, imported.inputs.rules })
      assert.are.equal(rec.outputs.version_id, imported.outputs.version_id)
      flow:delete(rec)
      assert.are.same({}, plans())
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
    end)
  end)

  describe("aws.backup.selection", function()
    local plan, role
    before_each(function()
      flow:create("aws.backup.vault", "wp", { name = "wp" })
      plan = flow:create("aws.backup.plan", "wp", { name = "wp", rules = { RULE } })
      role = suite:client("iam"):call("CreateRole", { RoleName = "backup", AssumeRolePolicyDocument = TRUST }).Role.Arn
    end)

    it("selects resources by ARN; the plan cannot go while the selection holds it", function()
      local sel = flow:create("aws.backup.selection", "wp", { plan_id = plan.id, name = "wp", iam_role_arn = role,
        resources = { DB, FS } })
      local selection_id = sel.id:match("^" .. plan.id:gsub("%-", "%%-") .. "/(.+)$")
      assert.is_string(selection_id)
      local got = backup:call("GetBackupSelection", { BackupPlanId = plan.id, SelectionId = selection_id })
      assert.are.same({ "wp", role, { DB, FS } }, { got.BackupSelection.SelectionName, got.BackupSelection.IamRoleArn,
        got.BackupSelection.Resources })
      assert.are.same({}, flow:drift(sel))
      local err = raised(function() flow:delete(plan) end)
      assert.are.equal("PlanInUse", err.code)
      assert.matches("the backup plan " .. plan.id:gsub("%-", "%%-") .. " still has 1 selection %(wp%): delete them "
        .. "first", err.message)
      flow:delete(sel)
      assert.is_nil(flow:read(sel))
      flow:delete(sel)
      flow:delete(plan)
      assert.are.same({}, plans())
    end)

    it("imports plan_id/selection_id; finds its selection after a lost answer", function()
      f:faults { drop_rate = 1, operations = { "backup.CreateBackupSelection" } }
      local sel = flow:create("aws.backup.selection", "wp", { plan_id = plan.id, name = "wp", iam_role_arn = role,
        resources = { FS } })
      f:faults {}
      assert.are.equal(1, count((f:state().backup or {}).selection or {}))
      assert.matches("found by its CreatorRequestId in its plan", table.concat(flow.logs, "\n"))
      local imported = flow:import("aws.backup.selection", "again", sel.id)
      assert.are.same({ plan.id, "wp", role, { FS } }, { imported.inputs.plan_id, imported.inputs.name,
        imported.inputs.iam_role_arn, imported.inputs.resources })
      local err = raised(function() flow:import("aws.backup.selection", "bad", "no-slash") end)
      assert.are.equal("InvalidId", err.code)
      err = raised(function() flow:create("aws.backup.selection", "other", { plan_id = plan.id, name = "wp",
        iam_role_arn = role, resources = { FS } }) end)
      assert.are.equal("AlreadyExists", err.code)
      assert.matches("already has a selection named wp", err.message)
    end)
  end)
end)

describe("aws.backup types through wpo", function()
  local env
  setup(function() env = typeflow.start { settle = 1 } end)
  teardown(function() env:stop() end)
  before_each(function() env:reset() end)

  local function stack(resources, opts)
    opts = opts or {}
    return string.format([[
local s = wpo.stack { name = "t", region = "us-east-1" }
local role = s:add("aws.iam.role", "backup", { name = "wp-backup", assume_role_policy = %q })
local policies = {}
for _, p in ipairs({ "AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores" }) do
  policies[#policies + 1] = s:add("aws.iam.role_policy_attachment", p, { role = role.name,
    policy_arn = "arn:aws:iam::aws:policy/service-role/" .. p })
end
local vault = s:add("aws.backup.vault", "wp", { name = "wp", force_destroy = %s })
local plan = s:add("aws.backup.plan", "wp", { name = "wp", rules = {
  { name = "daily", vault_name = vault.name, schedule = %q, delete_after_days = 35 } } })
s:add("aws.backup.selection", "wp", { plan_id = plan.id, name = "wp", iam_role_arn = role.arn,
  resources = %s, depends_on = { "aws.iam.role_policy_attachment.AWSBackupServiceRolePolicyForBackup",
  "aws.iam.role_policy_attachment.AWSBackupServiceRolePolicyForRestores" } })
return s
]], TRUST, tostring(opts.force_destroy or false), opts.schedule or "cron(0 3 * * ? *)", typeflow.lua_list(resources))
  end

  it("runs, replans clean, replaces the selection when its resources change, destroys in order", function()
    env:write("s.lua", stack { FS })
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local before = env:resources()["aws.backup.selection.wp"].id
    env:write("s.lua", stack { FS, DB })
    r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("%-/%+ aws%.backup%.selection%.wp", r.stdout)
    assert.matches("Plan: 1 to add, 0 to change, 1 to destroy", r.stdout)
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local after = env:resources()["aws.backup.selection.wp"].id
    assert.are_not.equal(before, after)
    local selections = env:objects("backup", "selection")
    local only_id, only = next(selections)
    assert.is_nil(next(selections, only_id))
    assert.are.same({ FS, DB }, only.BackupSelection.Resources)
    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({}, env.f:state().backup or {})
  end)

  it("waits while IAM propagates the new role to AWS Backup", function()
    env.f:eventual { seconds = 1, fixed = true }
    env:write("s.lua", stack { FS })
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("aws%.backup%.selection%.wp: waiting for IAM to propagate the role wp%-backup", r.stdout)
    assert.is_true(env.f:calls(true)["backup.CreateBackupSelection"].errors.InvalidParameterValueException >= 1)
    assert.are.equal(1, env:ok_calls("backup.CreateBackupSelection"))
  end)

  it("refuses a schedule that is not cron at plan time, naming the file:line", function()
    env:write("s.lua", stack({ FS }, { schedule = "rate(1 day)" }))
    local r = env:wpo { "plan", "s.lua" }
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.matches('s%.lua:9: aws%.backup%.plan%.wp: InvalidAttribute: rules%[1%]: schedule "rate%(1 day%)" is not a '
      .. "cron", r.stderr)
    assert.are.equal(0, env:ok_calls("backup.CreateBackupPlan"))
  end)

  it("destroy stops at a vault holding recovery points, and empties it with force_destroy", function()
    env:write("s.lua", stack { FS })
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env.f:post("/_fake/backup/recovery-points", { vault = "wp", count = 2 })
    local r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.matches("s%.lua:8: aws%.backup%.vault%.wp: VaultNotEmpty: the backup vault wp holds 2 recovery points",
      r.stderr)
    assert.is_table(env:objects("backup", "vault").wp)
    env:write("s.lua", stack({ FS }, { force_destroy = true }))
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({}, env.f:state().backup or {})
  end)
end)
