-- aws.logs.log_group, aws.cloudwatch.metric_alarm, aws.sns.topic,
-- aws.sns.subscription, aws.secretsmanager.secret and aws.ssm.parameter against fakeaws: create, read, update, import, drift,
-- delete, adoption; a secret's generated value is sensitive and never fetched
-- needlessly.
local awstest = require "awstest"

describe("operations types against fakeaws", function()
  local missing = awstest.missing { "wpo.core.sigv4", "wpo.core.crypto", "wpo.core.http", "wpo.core.loop", "wpo.task" }
  if #missing > 0 then
    pending(table.concat(missing, ", ") .. " not built")
    return
  end
  local aws = require "wpo.aws"
  local fakeaws = require "fakeaws"
  local resource = require "wpo.resource"
  local typeflow = require "typeflow"

  local f, flow
  local function client(service)
    return aws.client(service, { region = "eu-west-1", endpoint = f.url,
      credentials = { access_key = "test", secret_key = "test" } })
  end
  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    aws.set_read_only(false)
    flow = typeflow.new(f, { stack = "prod", region = "eu-west-1" })
  end)

  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    return err
  end

  local function calls(op) return f:calls()[op] or 0 end

  describe("aws.logs.log_group", function()
    local logs
    before_each(function() logs = client("logs") end)
    local function group(name)
      return logs:call("DescribeLogGroups", { logGroupNamePrefix = name }).logGroups[1]
    end

    it("creates a group with its retention and tags; arn without ':*'", function()
      local rec = flow:create("aws.logs.log_group", "wp", { name = "/wpo/prod/wordpress", retention_days = 90 })
      assert.are.equal(90, group("/wpo/prod/wordpress").retentionInDays)
      assert.are.equal("arn:aws:logs:eu-west-1:123456789012:log-group:/wpo/prod/wordpress", rec.outputs.arn)
      local tags = logs:call("ListTagsForResource", { resourceArn = rec.outputs.arn }).tags
      assert.are.equal("aws.logs.log_group.wp", tags["wpo:address"])
      assert.are.same({}, flow:drift(rec))
    end)

    it("updates retention and the KMS key in place; sees them changed outside wpo", function()
      local key = client("kms"):call("CreateKey", {}).KeyMetadata.Arn
      local rec = flow:create("aws.logs.log_group", "wp", { name = "/wpo/a" })
      assert.are.equal(30, group("/wpo/a").retentionInDays)
      rec = flow:update(rec, { name = "/wpo/a", retention_days = 0, kms_key_id = key })
      assert.is_nil(group("/wpo/a").retentionInDays)
      assert.are.equal(key, group("/wpo/a").kmsKeyId)
      assert.are.same({}, flow:drift(rec))
      logs:call("DisassociateKmsKey", { logGroupName = "/wpo/a" })
      logs:call("PutRetentionPolicy", { logGroupName = "/wpo/a", retentionInDays = 7 })
      assert.are.same({ "kms_key_id", "retention_days" }, flow:drift(rec))
      logs:call("DeleteLogGroup", { logGroupName = "/wpo/a" })
      assert.is_nil(flow:read(rec))
    end)

    it("refuses a retention CloudWatch Logs does not offer, at plan time", function()
      local t = resource.get("aws.logs.log_group")
      local _, attr, err = resource.desired(t, { name = "/x", retention_days = 42 })
      assert.are.equal("retention_days", attr)
      assert.matches("expected one of", err)
    end)

    it("imports, adopts after a lost state, and deletes twice", function()
      local rec = flow:create("aws.logs.log_group", "wp", { name = "/wpo/a" })
      flow:create("aws.logs.log_group", "wp", { name = "/wpo/a", retention_days = 7 })
      assert.are.equal(1, calls("logs.CreateLogGroup"))
      assert.are.equal(7, group("/wpo/a").retentionInDays)
      assert.are.equal(7, flow:import("aws.logs.log_group", "wp", "/wpo/a").inputs.retention_days)
      assert.are.equal("AlreadyExists", raised(function()
        flow:create("aws.logs.log_group", "other", { name = "/wpo/a" }) end).code)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)
  end)

  describe("aws.cloudwatch.metric_alarm", function()
    local cw
    before_each(function() cw = client("cloudwatch") end)
    local attrs = { name = "prod-alb-5xx", namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_ELB_5XX_Count",
      dimensions = { LoadBalancer = "app/prod/0123456789abcdef" }, statistic = "Sum", period = 60,
      evaluation_periods = 5, datapoints_to_alarm = 3, threshold = 10, comparison_operator = "GreaterThanThreshold",
      treat_missing_data = "notBreaching" }
    local function with(over)
      local a = {}
      for k, v in pairs(attrs) do a[k] = v end
      for k, v in pairs(over) do a[k] = v end
      return a
    end
    local function alarm()
      return cw:call("DescribeAlarms", { AlarmNames = { "prod-alb-5xx" } }).MetricAlarms[1]
    end

    it("puts an alarm with its dimensions and tags, reads it back unchanged", function()
      local rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      local a = alarm()
      assert.are.equal("app/prod/0123456789abcdef", a.Dimensions[1].Value)
      assert.are.equal(3, a.DatapointsToAlarm)
      assert.are.equal("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-alb-5xx", rec.outputs.arn)
      local tags = cw:call("ListTagsForResource", { ResourceARN = rec.outputs.arn }).Tags
      assert.are.equal(2, #tags)
      assert.are.same({}, flow:drift(rec))
    end)

    it("updates by putting the alarm again, tags separately", function()
      local rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      rec = flow:update(rec, with { threshold = 25, description = "5xx from the ALB", tags = { team = "web" } })
      local a = alarm()
      assert.are.equal(25, a.Threshold)
      assert.are.equal("5xx from the ALB", a.AlarmDescription)
      local tags = cw:call("ListTagsForResource", { ResourceARN = rec.outputs.arn }).Tags
      assert.are.equal(3, #tags)
      assert.are.same({}, flow:drift(rec))
      cw:call("PutMetricAlarm", { AlarmName = "prod-alb-5xx", Namespace = "AWS/ApplicationELB",
        MetricName = "HTTPCode_ELB_5XX_Count", Statistic = "Sum", Period = 60, EvaluationPeriods = 5,
        Threshold = 99, ComparisonOperator = "GreaterThanThreshold" })
      local changed = flow:drift(rec)
      assert.are.same({ "datapoints_to_alarm", "description", "dimensions", "threshold", "treat_missing_data" },
        changed)
    end)

    it("checks statistics and periods; imports; deletes, also when gone", function()
      assert.are.equal("InvalidAttribute", raised(function()
        flow:create("aws.cloudwatch.metric_alarm", "x", with { name = "x", period = 45 }) end).code)
      assert.are.equal("InvalidAttribute", raised(function()
        flow:create("aws.cloudwatch.metric_alarm", "x", with { name = "x", extended_statistic = "p99" }) end).code)
      local rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      local imported = flow:import("aws.cloudwatch.metric_alarm", "alb5xx", "prod-alb-5xx")
      assert.are.equal(10, imported.inputs.threshold)
      assert.are.same(attrs.dimensions, imported.inputs.dimensions)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      cw:call("DeleteAlarms", { AlarmNames = { "prod-alb-5xx" } })
      assert.is_nil(flow:read(rec))
    end)
  end)

  describe("aws.sns.topic and aws.sns.subscription", function()
    local sns
    before_each(function() sns = client("sns") end)

    it("creates a topic, updates it in place, sees drift, imports, deletes", function()
      local rec = flow:create("aws.sns.topic", "alarms", { name = "prod-alarms", display_name = "prod" })
      assert.are.equal("arn:aws:sns:eu-west-1:123456789012:prod-alarms", rec.id)
      local attrs = sns:call("GetTopicAttributes", { TopicArn = rec.id }).Attributes
      assert.are.equal("prod", attrs.DisplayName)
      assert.is_nil(attrs.KmsMasterKeyId)
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, { name = "prod-alarms", display_name = "prod alarms", tags = { team = "web" } })
      assert.are.equal("prod alarms", sns:call("GetTopicAttributes", { TopicArn = rec.id }).Attributes.DisplayName)
      assert.are.equal(3, #sns:call("ListTagsForResource", { ResourceArn = rec.id }).Tags)
      sns:call("SetTopicAttributes", { TopicArn = rec.id, AttributeName = "DisplayName", AttributeValue = "" })
      assert.are.same({ "display_name" }, flow:drift(rec))
      assert.are.equal("prod-alarms", flow:import("aws.sns.topic", "alarms", rec.id).inputs.name)
      local again = flow:create("aws.sns.topic", "alarms", { name = "prod-alarms", display_name = "prod alarms",
        tags = { team = "web" } })
      assert.are.equal(rec.id, again.id)
      assert.are.equal(0, #sns:collect("ListSubscriptionsByTopic", { TopicArn = rec.id }).Subscriptions)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("refuses a topic of that name that is not this resource's", function()
      flow:create("aws.sns.topic", "alarms", { name = "shared" })
      local err = raised(function() flow:create("aws.sns.topic", "other", { name = "shared" }) end)
      assert.are.equal("InvalidParameter", err.code)
    end)

    it("subscribes an e-mail address, pending until confirmed; deleting it leaves it to lapse", function()
      local topic = flow:create("aws.sns.topic", "alarms", { name = "prod-alarms" })
      local rec = flow:create("aws.sns.subscription", "ops", { topic_arn = topic.id, protocol = "email",
        endpoint = "ops@example.com" })
      assert.matches("^arn:aws:sns:eu%-west%-1:123456789012:prod%-alarms:", rec.id)
      assert.is_true(rec.outputs.pending_confirmation)
      assert.matches("email ops@example.com must confirm the subscription", table.concat(flow.logs, "\n"), 1, true)
      assert.are.same({}, flow:drift(rec))
      flow:delete(rec)
      assert.matches("still pending confirmation", table.concat(flow.logs, "\n"), 1, true)
      local queue = flow:create("aws.sns.subscription", "q", { topic_arn = topic.id, protocol = "sqs",
        endpoint = "arn:aws:sqs:eu-west-1:123456789012:q" })
      assert.is_false(queue.outputs.pending_confirmation)
      flow:delete(queue)
      assert.is_nil(flow:read(queue))
      flow:delete(topic)
      assert.is_nil(flow:read(rec))           -- the topic took the pending one with it
    end)
  end)

  describe("aws.secretsmanager.secret", function()
    local sm
    before_each(function() sm = client("secretsmanager") end)
    local function current(id) return sm:call("GetSecretValue", { SecretId = id }).SecretString end

    it("generates a value with wpo's crypto: sensitive output, never an attribute", function()
      local t = resource.get("aws.secretsmanager.secret")
      assert.is_true(t.outputs.value.sensitive)
      assert.is_true(t.attributes.secret_string.sensitive)
      local rec = flow:create("aws.secretsmanager.secret", "db", { name = "prod/db/master", recovery_window_days = 0 })
      local v = rec.outputs.value
      assert.are.equal(32, #v)
      assert.is_nil(v:find('[\"@/\\\' ]'))
      assert.matches("%l", v)
      assert.matches("%u", v)
      assert.matches("%d", v)
      assert.are.equal(v, current(rec.id))
      assert.matches("^arn:aws:secretsmanager:eu%-west%-1:123456789012:secret:prod/db/master%-%w%w%w%w%w%w$", rec.id)
      assert.is_nil(rec.inputs.secret_string)
      local other = flow:create("aws.secretsmanager.secret", "cache", { name = "prod/cache", length = 64,
        exclude_characters = "abcdefghijklmnopqrstuvwxyz" })
      assert.are.equal(64, #other.outputs.value)
      assert.is_nil(other.outputs.value:find("%l"))
      assert.are_not.equal(v, other.outputs.value)
    end)

    it("reads without fetching the value until someone changes it", function()
      local rec = flow:create("aws.secretsmanager.secret", "db", { name = "db" })
      local before = calls("secretsmanager.GetSecretValue")
      assert.are.same({}, flow:drift(rec))
      assert.are.equal(before, calls("secretsmanager.GetSecretValue"))
      sm:call("PutSecretValue", { SecretId = rec.id, SecretString = "rotated-elsewhere" })
      local changed, observed = flow:drift(rec)
      assert.are.same({}, changed)         -- a generated value is no attribute: no drift...
      assert.are.equal("rotated-elsewhere", observed.value)   -- ...but its users get the new one
      assert.are.equal(before + 1, calls("secretsmanager.GetSecretValue"))
    end)

    it("puts a given secret_string back when it was changed outside wpo", function()
      local rec = flow:create("aws.secretsmanager.secret", "tok", { name = "tok", secret_string = "given-value-1" })
      assert.are.equal("given-value-1", rec.outputs.value)
      sm:call("PutSecretValue", { SecretId = rec.id, SecretString = "changed" })
      assert.are.same({ "secret_string" }, flow:drift(rec))
      rec.outputs.value, rec.inputs.secret_string = "changed", "changed"
      rec = flow:update(rec, { name = "tok", secret_string = "given-value-1" })
      assert.are.equal("given-value-1", current(rec.id))
    end)

    it("updates description and tags in place; regenerates when the generation settings change", function()
      local rec = flow:create("aws.secretsmanager.secret", "db", { name = "db" })
      local v = rec.outputs.value
      rec = flow:update(rec, { name = "db", description = "database master", tags = { team = "web" } })
      local d = sm:call("DescribeSecret", { SecretId = rec.id })
      assert.are.equal("database master", d.Description)
      assert.are.equal(v, rec.outputs.value)
      assert.are.equal(v, current(rec.id))
      rec = flow:update(rec, { name = "db", description = "database master", tags = { team = "web" }, length = 40 })
      assert.are.equal(40, #rec.outputs.value)
      assert.are.equal(rec.outputs.value, current(rec.id))
      assert.are.same({}, flow:drift(rec))
    end)

    it("schedules deletion with the recovery window, then restores and adopts it on the next create", function()
      local rec = flow:create("aws.secretsmanager.secret", "db", { name = "db", recovery_window_days = 7 })
      flow:delete(rec)
      assert.is_string(sm:call("DescribeSecret", { SecretId = "db" }).DeletedDate)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      local again = flow:create("aws.secretsmanager.secret", "db", { name = "db", recovery_window_days = 7 })
      assert.are.equal(rec.id, again.id)
      assert.is_nil(sm:call("DescribeSecret", { SecretId = "db" }).DeletedDate)
      assert.are.equal(again.outputs.value, current("db"))
      assert.matches("restoring secret db", table.concat(flow.logs, "\n"), 1, true)
      assert.are.equal("AlreadyExists", raised(function()
        flow:create("aws.secretsmanager.secret", "other", { name = "db" }) end).code)
      again.inputs.recovery_window_days = 0
      flow:delete(again)
      assert.are.equal("ResourceNotFoundException", select(2, sm:pcall("DescribeSecret", { SecretId = "db" })).code)
    end)

    it("imports a secret with its current value as an output", function()
      local arn = sm:call("CreateSecret", { Name = "legacy", SecretString = "old-value" }).ARN
      local rec = flow:import("aws.secretsmanager.secret", "legacy", arn)
      assert.are.equal("old-value", rec.outputs.value)
      assert.is_nil(rec.inputs.secret_string)
      assert.are.equal("legacy", rec.inputs.name)
      sm:call("DeleteSecret", { SecretId = arn, ForceDeleteWithoutRecovery = true })
      assert.is_nil(flow:read(rec))
    end)
  end)

  describe("aws.ssm.parameter", function()
    local ssm
    before_each(function() ssm = client("ssm") end)
    local function get(name)
      return ssm:call("GetParameter", { Name = name, WithDecryption = true }).Parameter
    end

    it("creates a SecureString, overwrites it in place, and reads without fetching until changed", function()
      local rec = flow:create("aws.ssm.parameter", "url", { name = "/prod/db/password", type = "SecureString",
        value = "s3cret-1" })
      assert.are.equal("s3cret-1", get("/prod/db/password").Value)
      assert.are.equal(1, rec.outputs.version)
      assert.are.equal("arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db/password", rec.outputs.arn)
      local fetched = calls("ssm.GetParameter")
      assert.are.same({}, flow:drift(rec))
      assert.are.equal(fetched, calls("ssm.GetParameter"))
      rec = flow:update(rec, { name = "/prod/db/password", type = "SecureString", value = "s3cret-2",
        description = "db" })
      assert.are.equal("s3cret-2", get("/prod/db/password").Value)
      assert.are.equal(2, rec.outputs.version)
      ssm:call("PutParameter", { Name = "/prod/db/password", Value = "other", Overwrite = true })
      assert.are.same({ "value" }, flow:drift(rec))
    end)

    it("shows insecure_value, refuses both or neither, adopts, imports and deletes", function()
      local t = resource.get("aws.ssm.parameter")
      assert.is_true(t.attributes.value.sensitive)
      assert.is_nil(t.attributes.insecure_value.sensitive)
      assert.are.equal("InvalidAttribute", raised(function()
        flow:create("aws.ssm.parameter", "x", { name = "/x" }) end).code)
      local rec = flow:create("aws.ssm.parameter", "site", { name = "/prod/site", insecure_value = "https://a" })
      flow:create("aws.ssm.parameter", "site", { name = "/prod/site", insecure_value = "https://b" })
      assert.are.equal("https://b", get("/prod/site").Value)
      local tags = ssm:call("ListTagsForResource", { ResourceType = "Parameter", ResourceId = "/prod/site" }).TagList
      assert.are.equal(2, #tags)
      local imported = flow:import("aws.ssm.parameter", "site", "/prod/site")
      assert.are.equal("https://b", imported.inputs.value)
      ssm:call("DeleteParameter", { Name = "/prod/site" })
      assert.is_nil(flow:read(rec))
      rec = flow:create("aws.ssm.parameter", "site", { name = "/prod/site", insecure_value = "https://a" })
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)
  end)
end)
