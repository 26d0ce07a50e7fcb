-- aws.ssm.parameter against fakeaws: SecureString and String values, overwrite
-- in place, drift, adoption, import, delete.

describe("aws.ssm.parameter against fakeaws", function()
  local resource = require "wpo.resource"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }
  local f, flow
  before_each(function() f, flow = suite.f, suite.flow end)
  local function client(service) return suite:client(service) end
  local raised = typeflow.raised

  local function calls(op) return f:calls()[op] or 0 end

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
