-- aws.dynamodb.table against fakeaws: create (waiting ACTIVE, point-in-time
-- recovery on), read, update (billing mode, recovery, tags), import, drift
-- (changed and deleted outside wpo), delete (waiting until gone), adoption
-- after a lost state, and what is refused while planning.

describe("aws.dynamodb.table against fakeaws", function()
  local aws = require "wpo.aws"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { stack = "prod", region = "eu-west-1", settle = 1 }
  local f, flow, ddb
  setup(function()
    ddb = suite:client("dynamodb")
    aws.set_wait_scale(0.001)          -- the waits for ACTIVE and gone, in milliseconds
  end)
  teardown(function() aws.set_wait_scale(nil) end)
  before_each(function() f, flow = suite.f, suite.flow end)
  local raised = typeflow.raised

  local LOCKS = { name = "wpo-locks", hash_key = "LockID", attributes = { { name = "LockID", type = "S" } } }

  local function with(extra)
    local out = {}
    for k, v in pairs(LOCKS) do out[k] = v end
    for k, v in pairs(extra or {}) do out[k] = v end
    return out
  end

  local function held(name)
    return ((f:state().dynamodb or {}).table or {})[name]
  end

  local function tags(arn)
    local out = {}
    for _, t in ipairs(ddb:call("ListTagsOfResource", { ResourceArn = arn }).Tags or {}) do out[t.Key] = t.Value end
    return out
  end

  local function pitr(name)
    return ddb:call("DescribeContinuousBackups", { TableName = name })
      .ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus
  end

  it("creates an on-demand table keyed by LockID, waits until ACTIVE, turns point-in-time recovery on", function()
    local rec = flow:create("aws.dynamodb.table", "locks", with { tags = { team = "ops" } })
    local t = held("wpo-locks")
    assert.are.equal("ACTIVE", t.TableStatus)
    assert.are.same({ { AttributeName = "LockID", KeyType = "HASH" } }, t.KeySchema)
    assert.are.equal("PAY_PER_REQUEST", t.BillingModeSummary.BillingMode)
    assert.are.equal("ENABLED", pitr("wpo-locks"))
    assert.are.equal("wpo-locks", rec.id)
    assert.are.equal(t.TableArn, rec.outputs.arn)
    assert.are.same({ team = "ops", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.dynamodb.table.locks" },
      tags(t.TableArn))
    assert.are.same({}, flow:drift(rec))
    -- the S3 state backend's lock item fits it
    ddb:call("PutItem", { TableName = "wpo-locks", Item = { LockID = { S = "bucket/prod" } },
      ConditionExpression = "attribute_not_exists(LockID)" })
  end)

  it("updates the billing mode, point-in-time recovery and tags in place", function()
    local rec = flow:create("aws.dynamodb.table", "locks", with { tags = { a = "1", b = "2" } })
    rec = flow:update(rec, with { billing_mode = "PROVISIONED", read_capacity = 2, write_capacity = 3,
      point_in_time_recovery = false, tags = { a = "9" } })
    local t = held("wpo-locks")
    assert.are.equal("PROVISIONED", t.BillingModeSummary.BillingMode)
    assert.are.same({ 2, 3 }, { t.ProvisionedThroughput.ReadCapacityUnits, t.ProvisionedThroughput.WriteCapacityUnits })
    assert.are.equal("DISABLED", pitr("wpo-locks"))
    assert.are.same({ a = "9", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.dynamodb.table.locks" },
      tags(t.TableArn))
    assert.are.same({}, flow:drift(rec))
    rec = flow:update(rec, with {})
    assert.are.equal("PAY_PER_REQUEST", held("wpo-locks").BillingModeSummary.BillingMode)
    assert.are.equal("ENABLED", pitr("wpo-locks"))
    assert.are.same({}, flow:drift(rec))
  end)

  it("sees changes made outside wpo, and a table deleted outside wpo as gone", function()
    local rec = flow:create("aws.dynamodb.table", "locks", with {})
    ddb:call("UpdateContinuousBackups", { TableName = "wpo-locks",
      PointInTimeRecoverySpecification = { PointInTimeRecoveryEnabled = false } })
    local changed, observed = flow:drift(rec)
    assert.are.same({ "point_in_time_recovery" }, changed)
    assert.is_false(observed.point_in_time_recovery)
    ddb:call("DeleteTable", { TableName = "wpo-locks" })
    assert.is_true(flow:read(rec).deleting)            -- DELETING: on its way out
    assert.is_nil(flow:read(rec))
  end)

  it("imports a table by name with the settings it has", function()
    ddb:call("CreateTable", { TableName = "legacy", KeySchema = { { AttributeName = "pk", KeyType = "HASH" } },
      AttributeDefinitions = { { AttributeName = "pk", AttributeType = "N" } }, BillingMode = "PAY_PER_REQUEST",
      Tags = { { Key = "owner", Value = "ops" } } })
    local rec = flow:import("aws.dynamodb.table", "legacy", "legacy")
    assert.are.equal("legacy", rec.id)
    assert.are.equal("pk", rec.inputs.hash_key)
    assert.are.same({ { name = "pk", type = "N" } }, rec.inputs.attributes)
    assert.is_false(rec.inputs.point_in_time_recovery)
    assert.are.same({ owner = "ops" }, rec.inputs.tags)
    assert.is_nil(flow:import("aws.dynamodb.table", "none", "no-such-table"))
  end)

  it("adopts its own table after a lost state, and refuses a table it does not manage", function()
    local first = flow:create("aws.dynamodb.table", "locks", with {})
    local again = flow:create("aws.dynamodb.table", "locks", with { point_in_time_recovery = false })
    assert.are.equal(first.outputs.arn, again.outputs.arn)
    assert.are.equal("DISABLED", pitr("wpo-locks"))
    assert.are.equal(1, f:calls()["dynamodb.CreateTable"])
    local err = raised(function() flow:create("aws.dynamodb.table", "other", with {}) end)
    assert.are.equal("AlreadyExists", err.code)
    assert.matches("a DynamoDB table named wpo-locks already exists and is not this resource's", err.message, 1, true)
    assert.are.equal("aws.dynamodb.table.other", err.address)
  end)

  it("deletes the table and waits until it is gone; deleting twice is fine", function()
    local rec = flow:create("aws.dynamodb.table", "locks", with {})
    flow:delete(rec)
    assert.is_nil(held("wpo-locks"))
    flow:delete(rec)
  end)

  it("refuses while planning what it cannot make, before any call", function()
    local t = require("wpo.resource").get("aws.dynamodb.table")
    local ctx = flow:ctx("aws.dynamodb.table", "locks")
    local cases = {
      { with { deletion_protection = true }, "DeletionProtectionEnabled" },
      { with { attributes = { { name = "Other", type = "S" } } }, "not the hash key" },
      { with { attributes = {} }, "must define the hash key LockID" },
      { with { billing_mode = "PROVISIONED" }, "needs read_capacity" },
      { with { read_capacity = 1 }, "read_capacity is for billing_mode" },
    }
    for _, c in ipairs(cases) do
      local err = raised(function() t.check(ctx, c[1]) end)
      assert.matches(c[2], err.message, 1, true)
      assert.are.equal("aws.dynamodb.table.locks", err.address)
    end
    t.check(ctx, with {})
    assert.are.same({}, f:calls())
  end)
end)
