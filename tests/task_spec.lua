local h = require "helpers"
local loop = require "wpo.core.loop"
local task = require "wpo.task"

local function run_child(source, opts)
  local dir = h.tmpdir()
  h.write(dir .. "/child.lua", source)
  local r = h.wpo({ "lua", dir .. "/child.lua" }, opts)
  h.rmrf(dir)
  return r
end

describe("wpo.task", function()
  local errors_seen, previous_handler, pending_before

  before_each(function()
    pending_before = loop.outstanding()
    errors_seen = {}
    previous_handler = task.on_error(function(t, err, traceback)
      errors_seen[#errors_seen + 1] = { task = t, err = err, traceback = traceback }
    end)
  end)

  after_each(function()
    task.on_error(previous_handler)
    assert.are.equal(pending_before, loop.outstanding(), "the test left operations pending")
  end)

  it("says whether any other task is ready to run", function()
    assert.is_true(task.idle())
    local seen
    local t = task.spawn(function() seen = task.idle() end)
    assert.is_false(task.idle())
    task.spawn(function() end)
    task.join(t)
    assert.is_false(seen)                 -- the second was ready while the first ran
    task.run()
    assert.is_true(task.idle())
  end)

  it("awaits an operation outside any task by driving the loop", function()
    assert.is_nil(task.current())
    local t0 = loop.now()
    assert.is_true(task.await(loop.timer(20)))
    assert.is_true(loop.now() - t0 >= 20)
  end)

  it("returns a completion that arrived before it was awaited", function()
    local early = loop.timer(0)
    assert.is_true(task.await(loop.timer(10)))
    assert.is_true(task.await(early))
  end)

  it("raises when awaiting an id that is not pending", function()
    assert.has_error(function() task.await(123456789) end)
    assert.has_error(function() task.await("x") end)
  end)

  it("wakes sleeping tasks in order of their deadlines", function()
    local order = {}
    for _, ms in ipairs({ 40, 10, 30, 0, 20 }) do
      task.spawn(function()
        task.sleep(ms)
        order[#order + 1] = ms
      end)
    end
    task.run()
    assert.are.same({ 0, 10, 20, 30, 40 }, order)
  end)

  it("runs tasks concurrently: sleeps overlap", function()
    local t0 = loop.now()
    for _ = 1, 20 do task.spawn(task.sleep, 100) end
    task.run()
    -- 20 sequential sleeps would take 2 s
    assert.is_true(loop.now() - t0 < 1500)
  end)

  it("passes arguments to a task and returns its results through join", function()
    local t = task.spawn(function(a, b)
      task.sleep(1)
      return a + b, "sum", nil
    end, 2, 3)
    assert.are.same({ true, 5, "sum", nil, n = 4 }, table.pack(task.join(t)))
    assert.are.equal("done", t.status)
  end)

  it("joins from inside another task", function()
    local inner = task.spawn(function() task.sleep(5) return "inner" end)
    local outer = task.spawn(function() return select(2, task.join(inner)) .. "+outer" end)
    task.run()
    assert.are.same({ true, "inner+outer" }, { task.join(outer) })
  end)

  it("reports an error inside a task with its traceback and lets the others finish", function()
    local finished = {}
    local function explode_here()
      error("boom in a task")
    end
    local failing = task.spawn(function()
      task.sleep(5)
      explode_here()
    end)
    failing.name = "the failing task"
    for i = 1, 3 do
      task.spawn(function()
        task.sleep(10 * i)
        finished[#finished + 1] = i
      end)
    end
    task.run()
    assert.are.same({ 1, 2, 3 }, finished)
    assert.are.equal(1, #errors_seen)
    local e = errors_seen[1]
    assert.are.equal(failing, e.task)
    assert.matches("boom in a task", e.err)
    assert.matches("stack traceback", e.traceback)
    assert.matches("explode_here", e.traceback)
    assert.matches("task_spec.lua:%d+", e.traceback)
    assert.are.equal("failed", failing.status)
    local ok, err = task.join(failing)
    assert.is_false(ok)
    assert.matches("boom in a task", err)
  end)

  it("writes a failed task's error to stderr by default: one line, the traceback only with WPO_LOG=debug", function()
    local child = [[
      local task = require "wpo.task"
      local function inner_failure() error({ code = "X" }) end
      task.spawn(function() task.sleep(1) inner_failure() end)
      task.spawn(function() task.sleep(5) print("the other task finished") end)
      task.run()
    ]]
    local r = run_child(child, { env = { WPO_LOG = "" } })
    assert.are.equal(0, r.status)
    assert.are.equal("the other task finished\n", r.stdout)
    assert.are.equal("wpo: task 1 failed: (error object is a table value)\n", r.stderr)
    r = run_child(child, { env = { WPO_LOG = "debug" } })
    assert.are.equal(0, r.status)
    assert.matches("task 1 failed: %(error object is a table value%)\nstack traceback", r.stderr)
    assert.matches("inner_failure", r.stderr)
  end)

  it("never lets more than N tasks hold a semaphore", function()
    local sem = task.semaphore(3)
    local active, peak, done = 0, 0, 0
    for i = 1, 20 do
      task.spawn(function()
        assert(sem:acquire())
        active = active + 1
        peak = math.max(peak, active)
        task.sleep(i % 4)
        active = active - 1
        sem:release()
        done = done + 1
      end)
    end
    task.run()
    assert.are.equal(20, done)
    assert.are.equal(3, peak)
    assert.are.equal(3, sem.available)
  end)

  it("releases a semaphore taken with :with even when the function fails", function()
    local sem = task.semaphore(1)
    local t = task.spawn(function()
      sem:with(function() task.sleep(1) error("inside with") end)
    end)
    local after = task.spawn(function()
      return sem:with(function(x) return x * 2 end, 21)
    end)
    task.run()
    assert.are.equal("failed", t.status)
    assert.are.same({ true, 42 }, { task.join(after) })
    assert.are.equal(1, sem.available)
    assert.has_error(function() sem:release() end)
  end)

  it("cancels what a task waits for, and every later wait in it", function()
    local results = {}
    local sleeper = task.spawn(function()
      results[1] = table.pack(task.sleep(60000))
      results[2] = table.pack(task.sleep(60000))
      results[3] = task.cancelled()
      return "cleaned up"
    end)
    task.spawn(function()
      task.sleep(1)
      assert.is_true(task.cancel(sleeper))
    end)
    local t0 = loop.now()
    task.run()
    assert.is_true(loop.now() - t0 < 10000)
    assert.are.equal("cancelled", results[1][3])
    assert.is_nil(results[1][1])
    assert.are.equal("cancelled", results[2][3])
    assert.is_true(results[3])
    assert.are.same({ true, "cleaned up" }, { task.join(sleeper) })
    assert.is_false(task.cancel(sleeper))
  end)

  it("cancels a task waiting for a semaphore or a join", function()
    local sem = task.semaphore(1)
    local holder = task.spawn(function() sem:acquire() task.sleep(30) sem:release() end)
    local waiting = task.spawn(function() return sem:acquire() end)
    local joiner = task.spawn(function() return task.join(holder) end)
    task.spawn(function()
      task.sleep(1)
      task.cancel(waiting)
      task.cancel(joiner)
    end)
    task.run()
    local _, ok, _, code = task.join(waiting)
    assert.is_nil(ok)
    assert.are.equal("cancelled", code)
    _, ok, _, code = task.join(joiner)
    assert.is_nil(ok)
    assert.are.equal("cancelled", code)
    assert.are.equal(1, sem.available)
    assert.are.equal("done", holder.status)
  end)

  it("lets a task await from an inner coroutine (an iterator)", function()
    local t = task.spawn(function()
      local pages = coroutine.wrap(function()
        for i = 1, 3 do
          task.sleep(1)
          coroutine.yield(i)
        end
      end)
      local sum = 0
      for i in pages do sum = sum + i end
      return sum
    end)
    task.run()
    assert.are.same({ true, 6 }, { task.join(t) })
  end)

  it("fails a task that yields on its own instead of hanging", function()
    local t = task.spawn(function() coroutine.yield("rogue") end)
    task.run()
    assert.are.equal("failed", t.status)
    assert.matches("coroutine.yield", errors_seen[1].err)
  end)

  it("raises a Deadlock error when blocked tasks can never be woken", function()
    local sem = task.semaphore(1)
    sem:acquire()
    local stuck = task.spawn(function() sem:acquire() end)
    local ok, err = pcall(task.run)
    assert.is_false(ok)
    assert.are.equal("Deadlock", err.code)
    assert.matches("task " .. stuck.id, tostring(err))
    sem:release()   -- hands the permit to the stuck task
    task.run()
    assert.are.equal("done", stuck.status)
  end)

  it("rejects misuse", function()
    assert.has_error(function() task.spawn("not a function") end)
    assert.has_error(function() task.semaphore(0) end)
    assert.has_error(function() task.join({}) end)
    assert.has_error(function() task.sleep(-1) end)
    assert.has_error(function() task.on_error(42) end)
    local t = task.spawn(function() task.run() end)
    task.run()
    assert.are.equal("failed", t.status)
    assert.matches("inside a task", errors_seen[1].err)
  end)

  it("hands SIGINTs to the interrupt handler: first stop, then cancel", function()
    local r = run_child([[
      local task = require "wpo.task"
      local sys = require "wpo.core.sys"
      local stopping = false
      local first_seen = task.semaphore(1)
      first_seen:acquire()
      local worker
      task.on_interrupt(function(n)
        print("interrupt " .. n)
        if n == 1 then
          stopping = true
          first_seen:release()
        else
          task.cancel(worker)
        end
      end)
      worker = task.spawn(function()
        local _, _, code = task.sleep(60000)
        print("worker: " .. tostring(code), stopping)
      end)
      task.spawn(function()
        io.popen("kill -INT " .. sys.pid()):close()
        first_seen:acquire()   -- until the handler has seen the first one
        io.popen("kill -INT " .. sys.pid()):close()
      end)
      task.run()
      task.on_interrupt(nil)
      print("done")
    ]])
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("interrupt 1\ninterrupt 2\nworker: cancelled\ttrue\ndone\n", r.stdout)
  end)
end)

-- The same module over a fake core: a virtual clock, no real waiting.
describe("wpo.task over a fake loop", function()
  local fake, ftask

  local function fake_loop()
    local L = { clock = 0, last_id = 0, timers = {}, ready = {}, ready_ids = {}, signals = 0, catching = false }
    function L.now() return L.clock end
    function L.timer(ms)
      L.last_id = L.last_id + 1
      L.timers[L.last_id] = L.clock + ms
      return L.last_id
    end
    local function complete(c)
      L.ready[#L.ready + 1] = c
      L.ready_ids[c.id] = true
    end
    function L.cancel(id)
      if not L.timers[id] then return false end
      L.timers[id] = nil
      complete { id = id, ok = false, err = "cancelled", code = "cancelled" }
      return true
    end
    function L.outstanding(id)
      if id then return L.timers[id] ~= nil or L.ready_ids[id] == true end
      local n = #L.ready
      for _ in pairs(L.timers) do n = n + 1 end
      return n
    end
    function L.catch_interrupts(on) local was = L.catching L.catching = on return was end
    function L.signal()
      L.signals = L.signals + 1
      complete { id = 0, ok = false, code = "interrupt", err = "interrupted (SIGINT)", signal = "SIGINT", count = L.signals }
    end
    function L.wait(timeout)
      if #L.ready == 0 and timeout ~= 0 then
        local first
        for _, due in pairs(L.timers) do
          if not first or due < first then first = due end
        end
        if first then L.clock = math.max(L.clock, first) end
      end
      local due = {}
      for id, at in pairs(L.timers) do
        if at <= L.clock then due[#due + 1] = id end
      end
      table.sort(due, function(a, b) return L.timers[a] < L.timers[b] or (L.timers[a] == L.timers[b] and a < b) end)
      for _, id in ipairs(due) do
        L.timers[id] = nil
        complete { id = id, ok = true, value = true }
      end
      local out = L.ready
      L.ready, L.ready_ids = {}, {}
      return out
    end
    return L
  end

  before_each(function()
    fake = fake_loop()
    local real = package.loaded["wpo.core.loop"]
    package.loaded["wpo.core.loop"] = fake
    ftask = dofile(package.searchpath("wpo.task", package.path))
    package.loaded["wpo.core.loop"] = real
  end)

  it("wakes a thousand sleepers in deadline order on a virtual clock", function()
    local order = {}
    for i = 1, 1000 do
      local ms = (i * 7919) % 3600000   -- up to an hour each
      ftask.spawn(function()
        ftask.sleep(ms)
        order[#order + 1] = ms
      end)
    end
    ftask.run()
    assert.are.equal(1000, #order)
    for i = 2, #order do assert.is_true(order[i - 1] <= order[i]) end
    assert.are.equal(order[#order], fake.clock)
  end)

  it("hands interrupt records to the handler, in order, outside any task", function()
    local seen = {}
    ftask.on_interrupt(function(n) seen[#seen + 1] = { n, ftask.current() } end)
    assert.is_true(fake.catching)
    local t = ftask.spawn(function()
      fake.signal()
      ftask.sleep(10)
      fake.signal()
      ftask.sleep(10)
    end)
    ftask.run()
    assert.are.equal("done", t.status)
    assert.are.equal(2, #seen)
    assert.are.same({ 1, 2 }, { seen[1][1], seen[2][1] })
    assert.is_nil(seen[1][2])
    ftask.on_interrupt(nil)
    assert.is_false(fake.catching)
  end)

  it("gives the cancelled completion to the task that awaited it", function()
    local r
    local t = ftask.spawn(function() r = table.pack(ftask.sleep(1000)) end)
    ftask.spawn(function() ftask.cancel(t) end)
    ftask.run()
    assert.are.same({ nil, "cancelled", "cancelled", n = 3 }, r)
    assert.are.equal(0, fake.clock)
  end)
end)
