-- aws.wait: polling with interval, backoff, progress, and a timeout error
-- naming what it waited for. A fake clock: no real sleeps.

describe("wpo.aws wait", function()
  local aws = require "wpo.aws"
  local errors = require "wpo.errors"

  local function fake_time()
    local t = { now = 0, sleeps = {} }
    t.opts = function(extra)
      local o = { now = function() return t.now end,
        sleep = function(s) t.sleeps[#t.sleeps + 1] = s; t.now = t.now + s end }
      for k, v in pairs(extra or {}) do o[k] = v end
      return o
    end
    return t
  end

  it("returns the check's value once it is truthy, polling at the interval", function()
    local t = fake_time()
    local n = 0
    local v = aws.wait(function()
      n = n + 1
      if n < 4 then return nil, "pending" end
      return { id = "vpc-1" }, "available"
    end, t.opts { interval = 2 })
    assert.are.equal("vpc-1", v.id)
    assert.are.same({ 2, 2, 2 }, t.sleeps)
  end)

  it("backs off up to max_interval and reports progress", function()
    local t = fake_time()
    local seen = {}
    local n = 0
    aws.wait(function()
      n = n + 1
      return n == 6, "state" .. n
    end, t.opts { interval = 1, backoff = 2, max_interval = 5, what = "the thing",
      progress = function(info) seen[#seen + 1] = info.attempt .. ":" .. info.state .. ":" .. info.next_in end })
    assert.are.same({ 1, 2, 4, 5, 5 }, t.sleeps)
    assert.are.same({ "1:state1:1", "2:state2:2", "3:state3:4", "4:state4:5", "5:state5:5" }, seen)
  end)

  it("times out with an error naming what it waited for and the last state", function()
    local t = fake_time()
    local ok, err = pcall(aws.wait, function() return false, "pending" end,
      t.opts { interval = 10, timeout = 25, what = "NAT gateway nat-1 to become available" })
    assert.is_false(ok)
    assert.is_true(errors.is(err))
    assert.are.equal("WaitTimeout", err.code)
    assert.are.equal("timed out after 25s waiting for NAT gateway nat-1 to become available (last state: pending)",
      err.message)
    assert.are.same({ 10, 10, 5 }, t.sleeps)
  end)

  it("stops at once when the check raises", function()
    local t = fake_time()
    local ok, err = pcall(aws.wait, function() error({ code = "Failed" }) end, t.opts())
    assert.is_false(ok)
    assert.are.equal("Failed", err.code)
    assert.are.same({}, t.sleeps)
  end)

  it("rejects unknown options, naming the valid ones", function()
    local ok, err = pcall(aws.wait, function() return true end, { intervl = 1 })
    assert.is_false(ok)
    assert.matches("unknown option 'intervl' %(valid: backoff, first, interval", err)
  end)

  it("pauses `first` seconds after the first poll, then grows by backoff up to max_interval", function()
    local t = fake_time()
    local n = 0
    aws.wait(function()
      n = n + 1
      return n == 7, "pending"
    end, t.opts { first = 1, interval = 30, backoff = 2, max_interval = 15 })
    assert.are.same({ 1, 2, 4, 8, 15, 15 }, t.sleeps)
  end)
end)
