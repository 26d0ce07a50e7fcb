-- wpo.aws's adaptive client-side rate limit against fakeaws limiting Route 53
-- to 20 calls a second (a token bucket, as AWS's per-account limits): a
-- client configured for more (a burst of 10, then 100 a second) that cuts
-- its rate on each throttle is throttled less than one that does not, and
-- every call still succeeds.
local fakeaws = require "fakeaws"

describe("wpo.aws adaptive rate limit against a throttling fakeaws", function()
  local aws = require "wpo.aws"
  local retry = require "wpo.aws.retry"
  local task = require "wpo.task"
  local f

  setup(function() f = fakeaws.start { region = "us-east-1" } end)
  teardown(function()
    retry.ADAPTIVE = true
    retry.reset()
    if f then f:stop() end
  end)

  -- 40 concurrent ListHostedZonesByName (as 40 stacks would); -> throttled answers, failures
  local function burst(adaptive)
    retry.reset()
    retry.ADAPTIVE = adaptive
    f:reset()
    f:faults { rate_per_s = 20, burst = 5, operations = { "route53.ListHostedZonesByName" } }
    local failed = 0
    for _ = 1, 40 do
      task.spawn(function()
        local r53 = aws.client("route53", { region = "us-east-1", endpoint = f.url, rate_limit = { 10, 100 },
          credentials = { access_key = "test", secret_key = "test" } })
        if not r53:pcall("ListHostedZonesByName", {}) then failed = failed + 1 end
      end)
    end
    task.run()
    local c = f:calls(true)["route53.ListHostedZonesByName"]
    local throttled = 0
    for _, n in pairs(c.errors or {}) do throttled = throttled + n end
    return throttled, failed, c.ok
  end

  it("cuts its rate on throttling: fewer throttled calls than the fixed limiter, none failed", function()
    local fixed_throttled, fixed_failed = burst(false)
    local adaptive_throttled, adaptive_failed, ok = burst(true)
    print(string.format("throttled calls: fixed limiter %d (failed %d), adaptive %d (failed %d)", fixed_throttled,
      fixed_failed, adaptive_throttled, adaptive_failed))
    assert.are.equal(0, adaptive_failed)
    assert.are.equal(40, ok)
    assert.is_true(adaptive_throttled < fixed_throttled,
      string.format("adaptive %d < fixed %d", adaptive_throttled, fixed_throttled))
  end)
end)
