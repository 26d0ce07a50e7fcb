-- The registry, secrets, identity, observability and dns tiers end to end,
-- through the wpo binary against fakeaws: run -> every object there, tagged
-- -> no changes -> one parameter changed is an in-place update -> drift made
-- outside wpo is planned back -> destroy leaves nothing of theirs. And the
-- generated secrets' values never appear in `wpo plan`, `wpo plan --json`,
-- `wpo output`, `wpo state show`, or a WPO_LOG=debug log of a run, a plan or a
-- destroy.
local cjson = require "cjson"
local h = require "helpers"

describe("wordpress registry/identity/operations/names tiers against fakeaws", function()
  local fakeaws = require "fakeaws"
  local aws = require "wpo.aws"

  local f, dir, client

  local function wpo(args, env)
    return h.sh(h.command_in(dir, args, f.env, env))
  end

  local function ok(r)
    assert(r.status == 0, "wpo failed (" .. tostring(r.status) .. "):\n" .. r.stdout .. r.stderr)
    return r
  end

  local function state()
    return f:state()
  end

  setup(function()
    f = fakeaws.start { settle = 0 }
    dir = h.tmpdir()
    client = function(service)
      return aws.client(service, { region = "us-east-1", endpoint = f.url,
        credentials = { access_key = "test", secret_key = "test" }, rate_limit = false })
    end
    local vpc = client("ec2"):call("CreateVpc", { CidrBlock = "10.20.0.0/16" }).Vpc.VpcId
    local public = client("route53"):call("CreateHostedZone", { Name = "acme.test", CallerReference = "public" })
      .HostedZone.Id:gsub("^/hostedzone/", "")
    h.write(dir .. "/stack.lua", string.format([[
local wordpress = require "wpo.wordpress"
local s = wpo.stack { name = "acme", region = "us-east-1", vars = { retention = 30 } }
local p = wordpress.params { name = "acme", region = "us-east-1", cidr = "10.20.0.0/16", protect = false,
  site = { domain = "www.acme.test", zone_id = %q }, logs = { retention_days = s.vars.retention },
  alarms = { email = "ops@acme.test" } }
local registry = require("wpo.wordpress.registry").build(s, p, {})
local secrets = require("wpo.wordpress.secrets").build(s, p, {})
local identity = require("wpo.wordpress.identity").build(s, p, { registry = registry, secrets = secrets })
local ops = require("wpo.wordpress.observability").build(s, p, {
  lb = { alb_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/acme/0123456789abcdef" },
  db = { cluster_id = "acme" }, compute = { cluster_name = "acme" } })
local dns = require("wpo.wordpress.dns").build(s, p, { net = { vpc_id = %q },
  db = { endpoint = "acme.cluster-x.us-east-1.rds.amazonaws.com" },
  cache = { primary_endpoint = "master.acme.x.use1.cache.amazonaws.com" }, files = { file_system_id = "fs-0123abcd" } })
local edge = require "wpo.wordpress.edge"
local e = edge.prepare(s, p)
edge.front(s, p, e, { lb = { dns_name = "acme-1.us-east-1.elb.amazonaws.com", zone_id = "Z35SXDOTRQ7X7K" } })
s:output("ecr_repository_url", registry.repository_url)
s:output("db_secret_arn", secrets.db_password_arn)
s:output("execution_role_arn", identity.execution_role_arn)
s:output("log_group", ops.log_group_name)
s:output("private_zone", dns.zone_id)
return s
]], public, vpc))
  end)

  teardown(function()
    if f then f:stop() end
    if dir then h.rmrf(dir) end
  end)

  local secret_values
  local outputs = {}
  local function record(name, r) outputs[name] = r.stdout .. r.stderr end

  it("runs: every object exists, tagged with the stack and its address", function()
    local plan = ok(wpo { "plan", "stack.lua" })
    assert.matches("Plan: 28 to add, 0 to change, 0 to destroy.", plan.stdout, 1, true)
    record("first plan", plan)
    record("run (debug log)", ok(wpo({ "run", "stack.lua", "--yes" }, { WPO_LOG = "debug" })))
    assert.matches("wpo[debug] aws secretsmanager CreateSecret", outputs["run (debug log)"], 1, true)
    local st = state()
    assert.is_table(st.ecr.repository["acme/wordpress"])
    assert.are.equal("IMMUTABLE", st.ecr.repository["acme/wordpress"].imageTagMutability)
    local roles = {}
    for _, r in pairs(st.iam.role) do roles[#roles + 1] = r.RoleName end
    table.sort(roles)
    assert.are.same({ "acme-us-east-1-ecs-instance", "acme-us-east-1-task", "acme-us-east-1-task-exec" }, roles)
    assert.is_table(st.iam["instance-profile"]["acme-us-east-1-ecs-instance"])
    assert.are.equal(30, st.logs["log-group"]["/wpo/acme/wordpress"].retentionInDays)
    local alarms = {}
    for name in pairs(st.cloudwatch.alarm) do alarms[#alarms + 1] = name end
    assert.are.equal(6, #alarms)
    local topic = "arn:aws:sns:us-east-1:123456789012:acme-alarms"
    assert.is_table(st.sns.topic[topic])
    assert.are.same({ topic }, st.cloudwatch.alarm["acme-db-cpu"].AlarmActions)
    local subs = {}
    for _, sub in pairs(st.sns.subscription) do subs[#subs + 1] = sub.Protocol .. " " .. sub.Endpoint end
    assert.are.same({ "email ops@acme.test" }, subs)
    local secrets = {}
    for _, sec in pairs(st.secretsmanager.secret) do secrets[#secrets + 1] = sec end
    assert.are.equal(3, #secrets)
    for _, kind in ipairs({ { st.ecr.repository["acme/wordpress"], "aws.ecr.repository.wordpress" },
        { st.iam.role["acme-us-east-1-task-exec"], "aws.iam.role.task-execution" },
        { st.logs["log-group"]["/wpo/acme/wordpress"], "aws.logs.log_group.wordpress" },
        { st.cloudwatch.alarm["acme-ecs-cpu"], "aws.cloudwatch.metric_alarm.ecs-cpu" } }) do
      local tags = {}
      for _, t in ipairs(kind[1].Tags) do tags[t.Key] = t.Value end
      assert.are.same({ ["wpo:stack"] = "acme", ["wpo:address"] = kind[2] }, tags)
    end
    local names, validations = {}, 0
    for key in pairs(st.route53["record-set"]) do
      local name = key:match("^%S+ (%S+ %S+)")
      -- the certificate's validation record: _<hash>.www.acme.test.
      if name:match("^_%x+%.www%.acme%.test%. CNAME$") then validations = validations + 1
      else names[#names + 1] = name end
    end
    table.sort(names)
    assert.are.same({ "acme.internal. NS", "acme.internal. SOA", "acme.test. NS", "acme.test. SOA",
      "cache.acme.internal. CNAME", "db.acme.internal. CNAME", "nfs.acme.internal. CNAME", "www.acme.test. A" },
      names)
    assert.are.equal(1, validations)
    secret_values = {}
    for _, sec in ipairs(secrets) do
      secret_values[sec.Name] = client("secretsmanager"):call("GetSecretValue", { SecretId = sec.ARN }).SecretString
    end
    assert.are.equal(32, #secret_values["acme/db/master-password"])
    assert.are.equal(64, #secret_values["acme/cache/auth-token"])
    local keys = cjson.decode(secret_values["acme/wordpress/keys"])
    assert.are.equal(64, #keys.AUTH_KEY)
    assert.are.equal(64, #keys.NONCE_SALT)
    assert.are_not.equal(keys.AUTH_KEY, keys.SECURE_AUTH_KEY)
    for k, v in pairs(keys) do secret_values["acme/wordpress/keys " .. k] = v end
  end)

  it("plans no changes on a second run", function()
    local plan = ok(wpo { "plan", "stack.lua" })
    assert.matches("No changes: stack acme matches its script (28 resources).", plan.stdout, 1, true)
    record("plan", plan)
    record("plan --json", ok(wpo { "plan", "stack.lua", "--json" }))
    record("plan (debug log)", ok(wpo({ "plan", "stack.lua" }, { WPO_LOG = "debug" })))
    for _, address in ipairs({ "aws.secretsmanager.secret.db-master-password",
        "aws.secretsmanager.secret.redis-auth-token", "aws.secretsmanager.secret.wordpress-keys" }) do
      local shown = ok(wpo { "state", "show", "stack.lua", address })
      assert.matches("value = (sensitive)", shown.stdout, 1, true)
      record("state show " .. address, shown)
    end
    local out = ok(wpo { "output", "stack.lua", "--json" })
    record("output --json", out)
    local doc = cjson.decode(out.stdout)
    local arn = doc.db_secret_arn and (doc.db_secret_arn.value or doc.db_secret_arn)
    assert.matches("^arn:aws:secretsmanager:us%-east%-1:123456789012:secret:acme/db/master%-password%-", arn)
  end)

  it("changes one parameter as an in-place update", function()
    local plan = ok(wpo { "plan", "stack.lua", "--var", "retention=90" })
    assert.matches("~ aws.logs.log_group.wordpress", plan.stdout, 1, true)
    assert.matches("retention_days = 30 -> 90", plan.stdout, 1, true)
    assert.matches("Plan: 0 to add, 1 to change, 0 to destroy.", plan.stdout, 1, true)
    record("update plan", plan)
    record("update run", ok(wpo { "run", "stack.lua", "--var", "retention=90", "--yes" }))
    assert.are.equal(90, state().logs["log-group"]["/wpo/acme/wordpress"].retentionInDays)
  end)

  it("plans back what was changed or deleted outside wpo", function()
    client("logs"):call("DeleteLogGroup", { logGroupName = "/wpo/acme/wordpress" })
    client("iam"):call("DeleteRolePolicy", { RoleName = "acme-us-east-1-task-exec", PolicyName = "task-execution" })
    client("ecr"):call("PutImageTagMutability", { repositoryName = "acme/wordpress", imageTagMutability = "MUTABLE" })
    local plan = ok(wpo { "plan", "stack.lua", "--var", "retention=90" })
    assert.matches("aws.logs.log_group.wordpress no longer exists", plan.stdout, 1, true)
    assert.matches("aws.iam.role_policy.task-execution no longer exists", plan.stdout, 1, true)
    assert.matches("aws.ecr.repository.wordpress: image_tag_mutability", plan.stdout, 1, true)
    assert.matches("Plan: 2 to add, 1 to change, 0 to destroy.", plan.stdout, 1, true)
    record("drift plan", plan)
    record("drift run", ok(wpo({ "run", "stack.lua", "--var", "retention=90", "--yes" }, { WPO_LOG = "debug" })))
    assert.are.equal("IMMUTABLE", state().ecr.repository["acme/wordpress"].imageTagMutability)
    assert.matches("No changes", ok(wpo { "plan", "stack.lua", "--var", "retention=90" }).stdout, 1, true)
  end)

  it("destroys everything it made, and nothing else", function()
    record("destroy (debug log)", ok(wpo({ "destroy", "stack.lua", "--var", "retention=90", "--yes" },
      { WPO_LOG = "debug" })))
    local st = state()
    for _, service in ipairs({ "ecr", "iam", "logs", "cloudwatch", "secretsmanager", "sns" }) do
      assert.is_nil(st[service], service .. " still holds objects")
    end
    local zones = {}
    for _, z in pairs(st.route53["hosted-zone"]) do zones[#zones + 1] = z.Name end
    assert.are.same({ "acme.test." }, zones)
    local left = {}
    for key in pairs(st.route53["record-set"]) do left[#left + 1] = key:match("^%S+ (%S+ %S+)") end
    table.sort(left)
    assert.are.same({ "acme.test. NS", "acme.test. SOA" }, left)
  end)

  it("never shows a secret's value, in any output or debug log", function()
    assert.is_table(secret_values, "the run did not complete")
    local checked = 0
    for what, text in pairs(outputs) do
      for name, v in pairs(secret_values) do
        assert.is_nil(text:find(v, 1, true), name .. "'s value appears in " .. what)
        checked = checked + 1
      end
    end
    assert.is_true(checked >= 100)
    assert.matches('"SecretString":"<redacted>"', outputs["run (debug log)"], 1, true)
  end)
end)
