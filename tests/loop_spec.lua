local h = require "helpers"
local loop = require "wpo.core.loop"

-- Drain the loop until every id in `ids` completed; returns the completions in
-- the order wait() delivered them.
local function collect(ids)
  local want, got = {}, {}
  for _, id in ipairs(ids) do want[id] = true end
  local left = #ids
  while left > 0 do
    for _, c in ipairs(loop.wait(5000)) do
      if want[c.id] then
        want[c.id] = nil
        left = left - 1
        got[#got + 1] = c
      end
    end
  end
  return got
end

-- Run a Lua script in a child wpo (for what must not touch the test process).
local function run_child(source)
  local dir = h.tmpdir()
  h.write(dir .. "/child.lua", source)
  local r = h.wpo({ "lua", dir .. "/child.lua" })
  h.rmrf(dir)
  return r
end

describe("wpo.core.loop", function()
  it("fires timers in the order they are due, not the order they were started", function()
    local ids, by_id = {}, {}
    for _, ms in ipairs({ 30, 10, 20, 0, 10 }) do
      local id = loop.timer(ms)
      ids[#ids + 1] = id
      by_id[id] = ms
    end
    local order = {}
    for _, c in ipairs(collect(ids)) do
      assert.is_true(c.ok)
      assert.is_true(c.value)
      order[#order + 1] = by_id[c.id]
    end
    assert.are.same({ 0, 10, 10, 20, 30 }, order)
  end)

  it("does not fire a timer early", function()
    local start = loop.now()
    local id = loop.timer(50)
    collect({ id })
    assert.is_true(loop.now() - start >= 50)
  end)

  it("polls without blocking with a timeout of 0", function()
    local id = loop.timer(60000)
    local start = loop.now()
    assert.are.same({}, loop.wait(0))
    assert.is_true(loop.now() - start < 1000)
    assert.is_true(loop.cancel(id))
    collect({ id })
  end)

  it("returns {} at once when nothing is pending", function()
    -- in a fresh process: nothing another spec left pending can interfere
    local r = run_child([[
      local loop = require "wpo.core.loop"
      local start = loop.now()
      local a, b = loop.wait(), loop.wait(10000)
      print(loop.outstanding(), #a, #b, loop.now() - start < 1000)
    ]])
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("0\t0\t0\ttrue\n", r.stdout)
  end)

  it("returns empty after a positive timeout when nothing completed", function()
    local id = loop.timer(60000)
    local start = loop.now()
    assert.are.same({}, loop.wait(30))
    assert.is_true(loop.now() - start >= 29)
    loop.cancel(id)
    collect({ id })
  end)

  it("counts pending operations and knows each id", function()
    local before = loop.outstanding()
    local a, b = loop.timer(0), loop.timer(60000)
    assert.are.equal(before + 2, loop.outstanding())
    assert.is_true(loop.outstanding(a))
    assert.is_true(loop.outstanding(b))
    assert.is_true(a ~= b and a > 0 and b > 0)
    collect({ a })
    assert.is_false(loop.outstanding(a))
    assert.are.equal(before + 1, loop.outstanding())
    loop.cancel(b)
    assert.is_true(loop.outstanding(b))   -- until its cancellation is delivered
    collect({ b })
    assert.are.equal(before, loop.outstanding())
  end)

  it("counts pending operations by kind", function()
    local timers, transfers = loop.outstanding("timer"), loop.outstanding("transfer")
    local a = loop.timer(60000)
    assert.are.equal(timers + 1, loop.outstanding("timer"))
    assert.are.equal(transfers, loop.outstanding("transfer"))
    loop.cancel(a)
    collect({ a })
    assert.are.equal(timers, loop.outstanding("timer"))
    assert.has_error(function() loop.outstanding("nap") end)
  end)

  it("cancels a timer: it completes at once with code cancelled, only once", function()
    local id = loop.timer(60000)
    assert.is_true(loop.cancel(id))
    assert.is_false(loop.cancel(id))
    local start = loop.now()
    local c = collect({ id })[1]
    assert.is_true(loop.now() - start < 1000)
    assert.is_false(c.ok)
    assert.are.equal("cancelled", c.code)
    assert.matches("cancelled", c.err)
    assert.is_false(loop.cancel(id))
    assert.is_false(loop.cancel(987654321))
  end)

  it("keeps the other timers when one in the middle of the heap is cancelled", function()
    local ids, by_id = {}, {}
    for i = 1, 40 do
      local ms = (i * 7) % 23
      local id = loop.timer(ms)
      ids[#ids + 1] = id
      by_id[id] = ms
    end
    for i = 5, 40, 5 do loop.cancel(ids[i]) end
    local last = -1
    local fired, cancelled = 0, 0
    for _, c in ipairs(collect(ids)) do
      if c.ok then
        assert.is_true(by_id[c.id] >= last)
        last = by_id[c.id]
        fired = fired + 1
      else
        assert.are.equal("cancelled", c.code)
        cancelled = cancelled + 1
      end
    end
    assert.are.equal(32, fired)
    assert.are.equal(8, cancelled)
  end)

  it("has a monotonic clock in milliseconds", function()
    local a = loop.now()
    local b = loop.now()
    assert.is_number(a)
    assert.is_true(b >= a)
  end)

  it("raises on misuse", function()
    assert.has_error(function() loop.timer(-1) end)
    assert.has_error(function() loop.timer("soon") end)
    assert.has_error(function() loop.wait("x") end)
    assert.has_error(function() loop.cancel("x") end)
    assert.has_error(function() loop.catch_interrupts("yes") end)
  end)

  it("wakes a blocked wait on SIGINT or SIGTERM and reports each as a record, counted together", function()
    local r = run_child([[
      local loop = require "wpo.core.loop"
      local sys = require "wpo.core.sys"
      io.stdout:setvbuf("no")
      assert(loop.catch_interrupts(true) == false)
      local long = loop.timer(60000)
      local p = io.popen("kill -INT " .. sys.pid())
      p:close()
      local start = loop.now()
      local got = loop.wait()
      local c = got[1]
      print(#got, c.id, c.ok, c.code, c.signal, c.err, c.count, loop.interrupts(), loop.now() - start < 30000)
      io.popen("kill -TERM " .. sys.pid()):close()
      c = loop.wait()[1]
      print(c.code, c.signal, c.err, c.count, loop.interrupts())
      io.popen("kill -INT " .. sys.pid() .. "; kill -TERM " .. sys.pid()):close()
      got = loop.wait(0)
      while #got < 2 do
        for _, x in ipairs(loop.wait()) do got[#got + 1] = x end
      end
      print(got[1].signal, got[1].count, got[2].signal, got[2].count)
      assert(loop.catch_interrupts(false) == true)
      loop.cancel(long)
      loop.wait()
      -- released: SIGTERM has its default action again
      io.popen("kill -TERM " .. sys.pid()):close()
      loop.wait(60000)
      print("not reached")
    ]])
    assert.are.equal(143, r.status, r.stderr)
    assert.are.equal("1\t0\tfalse\tinterrupt\tSIGINT\tinterrupted (SIGINT)\t1\t1\ttrue\n"
      .. "interrupt\tSIGTERM\tinterrupted (SIGTERM)\t2\t2\n"
      .. "SIGINT\t3\tSIGTERM\t4\n", r.stdout)
  end)

  it("frees pending timers and requests when the state closes", function()
    local r = run_child([[
      local loop = require "wpo.core.loop"
      local http = require "wpo.core.http"
      for i = 1, 10 do loop.timer(60000 + i) end
      http.start{ url = "http://127.0.0.1:9/" }
      loop.cancel(loop.timer(5))
      print(loop.outstanding())
    ]])
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("12\n", r.stdout)
  end)
end)
