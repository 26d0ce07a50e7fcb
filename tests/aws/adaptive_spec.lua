-- wpo.aws's adaptive client-side rate limit against fakeaws limiting Route 53
-- to 20 calls a second (a token bucket, as AWS's per-account limits): a
-- client configured for more (a burst of 10, then 100 a second) that cuts
-- its rate on each throttle is throttled less than one that does not, and
-- every call still succeeds; the same holds for a wpo.rollout of 20 stacks,
-- each applying through its own Route 53 client (one bucket for them all).
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

  -- a rollout of 20 stacks, all at once, each making 3 Route 53 calls with
  -- its own client -> throttled answers, exit status
  local function rollout_of_20(adaptive)
    local rollout = require "wpo.rollout"
    retry.reset()
    retry.ADAPTIVE = adaptive
    f:reset()
    f:faults { rate_per_s = 20, burst = 5, operations = { "route53.ListHostedZonesByName" } }
    local stacks = {}
    for i = 1, 20 do stacks[i] = string.format("stacks/c%d.lua", i) end
    local ex = {
      plan = function(target) return { ok = true, counts = { add = 1 }, to = { ref = target.ref } } end,
      apply = function()
        local r53 = aws.client("route53", { region = "us-east-1", endpoint = f.url, rate_limit = { 10, 100 },
          credentials = { access_key = "test", secret_key = "test" } })
        for _ = 1, 3 do
          local out, err = r53:pcall("ListHostedZonesByName", {})
          if not out then return { ok = false, err = tostring(err) } end
        end
        return { ok = true, counts = { add = 1 } }
      end,
    }
    local _, exit = rollout.run { ref = "v1", stacks = stacks, executor = ex, max_parallel = 20, canary = 1,
      waves = "100%", log = function() end }
    local throttled = 0
    for _, n in pairs(f:calls(true)["route53.ListHostedZonesByName"].errors or {}) do throttled = throttled + n end
    return throttled, exit
  end

  it("a rollout's stacks share the adaptive bucket: fewer throttled calls than the fixed limiter", function()
    local fixed_throttled, fixed_exit = rollout_of_20(false)
    local adaptive_throttled, adaptive_exit = rollout_of_20(true)
    print(string.format("rollout of 20 stacks, throttled calls: fixed limiter %d (exit %s), adaptive %d (exit %s)",
      fixed_throttled, tostring(fixed_exit), adaptive_throttled, tostring(adaptive_exit)))
    assert.are.equal(0, adaptive_exit)
    assert.is_true(adaptive_throttled < fixed_throttled,
      string.format("adaptive %d < fixed %d", adaptive_throttled, fixed_throttled))
  end)

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
