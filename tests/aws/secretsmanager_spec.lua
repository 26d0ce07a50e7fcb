-- aws.secretsmanager.secret against fakeaws: a generated value (wpo.core.crypto),
-- sensitive, never fetched needlessly; a given one put back after drift;
-- update, regeneration, scheduled deletion, restore and adoption, import.

describe("aws.secretsmanager.secret against fakeaws", function()
  local resource = require "wpo.resource"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }
  local f, flow
  before_each(function() f, flow = suite.f, suite.flow end)
  local function client(service) return suite:client(service) end
  local raised = typeflow.raised

  local function calls(op) return f:calls()[op] or 0 end

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

    it("generates a JSON object of values for json_keys, new ones when the keys change", function()
      local rec = flow:create("aws.secretsmanager.secret", "keys", { name = "wp/keys", length = 40,
        json_keys = { "AUTH_KEY", "NONCE_SALT" } })
      local doc = require("cjson").decode(current(rec.id))
      assert.are.same({ 40, 40 }, { #doc.AUTH_KEY, #doc.NONCE_SALT })
      assert.are_not.equal(doc.AUTH_KEY, doc.NONCE_SALT)
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, { name = "wp/keys", length = 40, json_keys = { "AUTH_KEY", "NONCE_SALT", "AUTH_SALT" } })
      local again = require("cjson").decode(current(rec.id))
      assert.are.equal(40, #again.AUTH_SALT)
      assert.are_not.equal(doc.AUTH_KEY, again.AUTH_KEY)
      assert.are.equal("InvalidAttribute", raised(function()
        flow:create("aws.secretsmanager.secret", "bad", { name = "bad", json_keys = { "A", "A" } }) end).code)
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
end)
