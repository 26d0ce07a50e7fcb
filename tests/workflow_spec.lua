-- wpo.workflow: a plan gives resource types read-only contexts: every AWS
-- client such a context makes refuses a write before anything is sent, and
-- the capability is the context's, not the process's.
local et = require "enginetest"
local fakecore = require "fakecore"
local resource = require "wpo.resource"

describe("wpo.workflow planning", function()
  local seen
  setup(function()
    fakecore.install({ seed = 9 })
    resource.define "aws.test.thing" {
      attributes = { size = { type = "integer" } },
      create = function() error("create must never run while planning") end,
      read = function(ctx, id, prior)
        -- nothing listens on port 9: a request that was sent would fail otherwise
        local ec2 = ctx:aws("ec2", { endpoint = "http://127.0.0.1:9", rate_limit = false, max_attempts = 1,
          credentials = { access_key = "test", secret_key = "test" } })
        local ok, err = pcall(ec2.call, ec2, "CreateVpc", { CidrBlock = "10.0.0.0/16" })
        seen[#seen + 1] = { read_only = ctx.read_only, ok = ok, code = type(err) == "table" and err.code or tostring(err) }
        return { id = id, size = prior.inputs.size + 1 }
      end,
      update = function() error("update must never run while planning") end,
      delete = function() error("delete must never run while planning") end,
    }
  end)
  teardown(function() fakecore.restore() end)
  before_each(function() seen = {} end)

  it("refreshes through read-only contexts whose clients refuse writes before sending", function()
    local workflow = require "wpo.workflow"
    local s = et.stack('local s = wpo.stack { name = "t", region = "eu-west-1" }\ns:add("aws.test.thing", "a", { size = 1 })\nreturn s\n')
    local st = et.memstate({ ["aws.test.thing.a"] = { type = "aws.test.thing", id = "t-1", inputs = { size = 1 },
      outputs = { id = "t-1" }, deps = {}, where = "s.lua:2" } })
    local p = workflow.make_plan(s, st, { parallelism = 4, json = true })   -- (json: no progress lines)
    assert.are.equal("update", p.by_id["aws.test.thing.a"].action)
    assert.are.same({ { read_only = true, ok = false, code = "ReadOnlyViolation" } }, seen)
  end)

  it("gives an apply's contexts clients that may write", function()
    local ctx = resource.context { address = "aws.test.thing.a", type = resource.get("aws.test.thing"),
      stack = "t", region = "eu-west-1" }
    local ec2 = ctx:aws("ec2", { endpoint = "http://127.0.0.1:9", rate_limit = false, max_attempts = 1,
      credentials = { access_key = "test", secret_key = "test" } })
    assert.is_false(ec2.read_only)
    local rctx = resource.context { address = "aws.test.thing.a", type = resource.get("aws.test.thing"),
      stack = "t", region = "eu-west-1", read_only = true }
    assert.is_true(rctx:aws("ec2", { endpoint = "http://127.0.0.1:9", rate_limit = false,
      credentials = { access_key = "test", secret_key = "test" } }).read_only)
  end)
end)
