-- wpo.apply records, for a computed attribute the script leaves out, what
-- the object has: the next refresh then reports no change made outside wpo,
-- and the plan stays empty (the C core faked).
local et = require "enginetest"
local fakecore = require "fakecore"

describe("wpo.apply and computed attributes", function()
  local plan, apply, resource
  before_each(function()
    fakecore.install({ seed = 5 })
    plan = require "wpo.plan"
    apply = require "wpo.apply"
    resource = require "wpo.resource"
  end)
  after_each(function() fakecore.restore() end)

  it("keeps the value AWS chose, so that the next refresh finds nothing changed", function()
    resource.define "test.zoned" {
      attributes = { zone = { type = "string", computed = true, force_new = true }, size = { type = "integer" } },
      create = function(_, want) return { id = "z-1", zone = want.zone or "zone-b", size = want.size } end,
      read = function(_, id, prior) return { id = id, zone = "zone-b", size = prior.inputs.size } end,
      delete = function() end,
    }
    local s = et.stack('local s = wpo.stack { name = "t" }\ns:add("test.zoned", "r", { size = 1 })\nreturn s\n')
    local st = et.memstate()
    local result = apply.run(plan.make(s, st), s, st, { reporter = et.recorder() })
    assert.is_true(result.ok)
    assert.are.same({ zone = "zone-b", size = 1 }, st:get("test.zoned.r").inputs)
    local drift = plan.refresh(s, st)
    assert.are.same({}, drift)
    assert.is_false(plan.has_changes(plan.make(s, st, { drift = drift })))
  end)
end)
