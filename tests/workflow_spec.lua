-- wpo.workflow: planning turns the AWS read-only guard on around everything it
-- does when the stack (or its state) has aws.* resources, and off after.
-- wpo.aws is faked here: only its set_read_only is involved.
local et = require "enginetest"
local fakecore = require "fakecore"
local resource = require "wpo.resource"

describe("wpo.workflow", function()
  local calls, saved_preload, saved_loaded
  setup(function()
    fakecore.install({ seed = 9 })
    saved_preload, saved_loaded = package.preload["wpo.aws"], package.loaded["wpo.aws"]
    local read_only = false
    calls = {}
    package.loaded["wpo.aws"] = nil
    package.preload["wpo.aws"] = function()
      return {
        set_read_only = function(on) read_only = on; calls[#calls + 1] = on end,
        is_read_only = function() return read_only end,
      }
    end
    resource.define "aws.test.thing" {
      attributes = { size = { type = "integer" } },
      create = function() error("create must never run while planning") end,
      read = function(_, id, prior)
        calls[#calls + 1] = "read while read-only=" .. tostring(require("wpo.aws").is_read_only())
        return { id = id, size = prior.inputs.size + 1 }
      end,
      update = function() error("update must never run while planning") end,
      delete = function() error("delete must never run while planning") end,
    }
  end)
  teardown(function()
    package.preload["wpo.aws"], package.loaded["wpo.aws"] = saved_preload, saved_loaded
    fakecore.restore()
  end)

  it("plans with AWS read-only, then turns it off", function()
    local workflow = require "wpo.workflow"
    local s = et.stack('local s = wpo.stack { name = "t" }\ns:add("aws.test.thing", "a", { size = 1 })\nreturn s\n')
    local st = et.memstate({ ["aws.test.thing.a"] = { type = "aws.test.thing", id = "t-1", inputs = { size = 1 },
      outputs = { id = "t-1" }, deps = {}, where = "s.lua:2" } })
    local p = workflow.make_plan(s, st, { parallelism = 4 })
    assert.are.equal("update", p.by_id["aws.test.thing.a"].action)
    assert.are.same({ true, "read while read-only=true", false, true, false }, calls)
  end)

  it("leaves wpo.aws alone for a stack without AWS resources", function()
    local workflow = require "wpo.workflow"
    calls = {}
    local s = et.stack('local s = wpo.stack { name = "t" }\ns:add("wpo.null", "a")\nreturn s\n')
    workflow.make_plan(s, et.memstate(), {})
    assert.are.same({}, calls)
  end)
end)
