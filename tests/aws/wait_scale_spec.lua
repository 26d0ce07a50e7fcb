-- aws.wait's time scale (WPO_WAIT_SCALE / aws.set_wait_scale): every duration
-- of a wait — interval, max_interval, timeout — multiplied, with a floor on the
-- interval; messages still give the time actually spent. A fake clock.

describe("wpo.aws wait time scale", function()
  local aws = require "wpo.aws"

  after_each(function() aws.set_wait_scale(nil) end)

  local function clock()
    local t = { now = 0, sleeps = {} }
    t.opts = function(extra)
      local o = { now = function() return t.now end,
        sleep = function(s) t.sleeps[#t.sleeps + 1] = s; t.now = t.now + s end }
      for k, v in pairs(extra) do o[k] = v end
      return o
    end
    return t
  end

  it("multiplies intervals, their cap and the timeout", function()
    aws.set_wait_scale(0.01)
    assert.are.equal(0.01, aws.wait_scale())
    local t = clock()
    local err = select(2, pcall(aws.wait, function() return false, "pending" end,
      t.opts { interval = 2, backoff = 2, max_interval = 5, timeout = 0.2 * 100, what = "the VPC" }))
    local ms = {}
    for i, s in ipairs(t.sleeps) do ms[i] = math.floor(s * 1000 + 0.5) end
    assert.are.same({ 20, 40, 50, 50, 40 }, ms)
    assert.are.equal("WaitTimeout", err.code)
    assert.matches("timed out after 200ms waiting for the VPC %(last state: pending%)", err.message)
  end)

  it("keeps scaled intervals at 5 ms or more", function()
    aws.set_wait_scale(0.0001)
    local t = clock()
    local n = 0
    aws.wait(function() n = n + 1; return n == 3 end, t.opts { interval = 1, timeout = 600 })
    assert.are.same({ 0.005, 0.005 }, t.sleeps)
  end)

  it("is 1 unless set, and refuses what is not a positive number", function()
    if os.getenv("WPO_WAIT_SCALE") == nil then assert.are.equal(1, aws.wait_scale()) end
    assert.has_error(function() aws.set_wait_scale(0) end)
    assert.has_error(function() aws.set_wait_scale("fast") end)
  end)
end)
