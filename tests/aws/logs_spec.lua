-- aws.logs.log_group against fakeaws: create, read, update (retention, KMS key,
-- tags), import, drift, adoption, delete.

describe("aws.logs.log_group against fakeaws", function()
  local resource = require "wpo.resource"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }
  local f, flow
  before_each(function() f, flow = suite.f, suite.flow end)
  local function client(service) return suite:client(service) end
  local raised = typeflow.raised

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
end)
