-- The kill -9 suite (issue 12), its fast part: the staging WordPress stack
-- against fakeaws, killed mid-apply, and mid-destroy while a NAT gateway's
-- delete is in flight (the destroy after it must wait for the gateway, not
-- read it as gone and time out on its Elastic IP, the internet gateway and
-- the subnet), then its disk full mid-apply; each time one recovery run
-- converges with no duplicate, nothing missing and nothing left. Every kill
-- point: make chaos (tests/chaos/kill.lua).
local killpoints = require "killpoints"

describe("kill -9 and a full disk (staging stack, a sample)", function()
  local fakeaws = require "fakeaws"
  local f, k, base
  setup(function()
    f = fakeaws.start { region = "eu-west-1" }
    k = killpoints.new(f)
    base = k:baseline()
  end)
  teardown(function()
    if k then k:close() end
    if f then f:stop() end
  end)

  local function converged(c)
    assert.is_true(c.ok, killpoints.line(c) .. "\n" .. tostring(c.detail))
    assert.are.equal(1, c.recovery_runs)
    assert.are.same({ 0, 0, 0 }, { c.duplicates, c.missing, c.orphans })
  end

  it("recovers in one run from a kill halfway through an apply", function()
    local c = k:kill_apply(math.floor(base.apply_calls / 2))
    assert.is_true(c.killed, "the apply was killed")
    converged(c)
  end)

  it("waits for a NAT gateway whose delete was in flight when the destroy was killed", function()
    local c = k:kill_destroy(1, "ec2.DeleteNatGateway")
    assert.is_true(c.killed, "the destroy was killed")
    converged(c)
  end)

  it("keeps the state whole when the disk fills mid-apply, and converges after", function()
    converged(k:full_disk(10))
  end)
end)
