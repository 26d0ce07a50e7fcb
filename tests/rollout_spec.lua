-- wpo.rollout: waves, parallelism, stopping, resuming, with a fake executor
-- whose stacks wait on real loop timers (so they do run concurrently).
local rollout = require "wpo.rollout"
local task = require "wpo.task"

-- A fake executor: plan and apply each sleep `ms`, and fail for the stacks
-- in `fail` ({ [path] = "plan" | "apply" }). Records the order of events
-- and the most stacks applying at once.
local function executor(fail, ms)
  local ex = { events = {}, running = 0, peak = 0, applied = {} }
  ex.plan = function(stack)
    task.sleep(ms or 1)
    if fail[stack.path] == "plan" then return { ok = false, err = "plan exploded" } end
    return { ok = true, counts = { add = 1, change = 2 },
             from = { ref = "v1.0.0", commit = string.rep("a", 40), short = "aaaaaaa" },
             to = { ref = stack.ref, commit = string.rep("b", 40), short = "bbbbbbb" } }
  end
  ex.apply = function(stack)
    ex.running = ex.running + 1
    ex.peak = math.max(ex.peak, ex.running)
    ex.events[#ex.events + 1] = "start " .. stack.path
    task.sleep(ms or 1)
    ex.running = ex.running - 1
    ex.events[#ex.events + 1] = "end " .. stack.path
    if fail[stack.path] == "apply" then return { ok = false, err = "CreateVpc: throttled\ntraceback..." } end
    ex.applied[#ex.applied + 1] = stack.path
    return { ok = true, counts = { add = 1, change = 2 } }
  end
  return ex
end

local function fleet(n)
  local out = {}
  for i = 1, n do out[i] = string.format("stacks/customers/c%d.lua", i) end
  return out
end

local function quiet() end

describe("wpo.rollout", function()
  it("parses waves as shares and counts, refusing nonsense", function()
    assert.are.same({ { percent = 10 }, { percent = 50 }, { percent = 100 } }, rollout.parse_waves("10%,50%,100%"))
    assert.are.same({ { count = 2 }, { percent = 100 } }, rollout.parse_waves("2, 100%"))
    for _, bad in ipairs({ "0%", "150%", "x", "", "10%,,50%" }) do
      local w, err = rollout.parse_waves(bad)
      assert.is_nil(w, bad)
      assert.matches("^BadRollout: %-%-waves", tostring(err))
    end
  end)

  it("cuts a fleet into canary and cumulative waves, dropping empty ones", function()
    local function cut(n, canary, waves)
      local out = {}
      for _, w in ipairs(rollout.plan_waves(n, canary, rollout.parse_waves(waves))) do
        out[#out + 1] = string.format("%s:%d-%d", w.label, w.first, w.last)
      end
      return table.concat(out, " ")
    end
    assert.are.equal("canary:1-1 50%:2-3 100%:4-6", cut(6, 1, "10%,50%,100%"))
    assert.are.equal("canary:1-2 10%:3-10 50%:11-50 100%:51-100", cut(100, 2, "10%,50%,100%"))
    assert.are.equal("canary:1-1 3:2-3 rest:4-5", cut(5, 1, "3"))
    assert.are.equal("canary:1-1", cut(1, 1, "10%,50%,100%"))
  end)

  it("applies every stack, canary first, never more than max_parallel at once", function()
    local ex = executor({}, 5)
    local report, exit = rollout.run { ref = "v1.1.0", stacks = fleet(6), executor = ex, max_parallel = 2, log = quiet }
    assert.are.equal(0, exit)
    assert.are.equal(6, #ex.applied)
    assert.are.equal("start stacks/customers/c1.lua", ex.events[1])
    assert.are.equal("end stacks/customers/c1.lua", ex.events[2])   -- the canary ends before anything else starts
    assert.are.equal(2, ex.peak)
    for _, row in ipairs(report.rows) do
      assert.are.equal("done", row.result)
      assert.are.equal("v1.0.0 (aaaaaaa)", row.from)
      assert.are.equal("v1.1.0 (bbbbbbb)", row.to)
      assert.are.equal(3, row.changes)
    end
    assert.is_nil(report.stopped)
  end)

  it("stops at the first failure: later waves never start, and resume finishes the rest", function()
    local stacks = fleet(6)
    local records = {}
    local fail = { [stacks[3]] = "apply" }
    local ex = executor(fail, 1)
    local report, exit = rollout.run { ref = "v1.1.0", stacks = stacks, executor = ex, max_parallel = 1,
      waves = "10%,50%,100%", log = quiet, record = function(r) records[#records + 1] = r end }
    assert.are.equal(1, exit)
    assert.are.same({ stacks[1], stacks[2] }, ex.applied)
    local results = {}
    for i, row in ipairs(report.rows) do results[i] = row.result end
    assert.are.same({ "done", "done", "failed", "not started", "not started", "not started" }, results)
    assert.matches("c3%.lua failed; later stacks not started %(%-%-resume continues%)", report.stopped)
    assert.matches("CreateVpc: throttled$", report.rows[3].error)   -- one line
    local record = records[#records]
    assert.are.equal("v1.1.0", record.ref)

    -- the record survives JSON (as the command stores it), then resume
    local cjson = require "cjson"
    local again = cjson.decode(cjson.encode(record))
    fail[stacks[3]] = nil
    local ex2 = executor(fail, 1)
    local report2, exit2 = rollout.run { resume = again, executor = ex2, log = quiet }
    assert.are.equal(0, exit2)
    assert.are.same({ stacks[3], stacks[4], stacks[5], stacks[6] }, ex2.applied)
    assert.are.equal(1, ex2.peak)   -- the recorded max_parallel
    for _, row in ipairs(report2.rows) do assert.are.equal("done", row.result) end
  end)

  it("starts no new stack in a wave after a failure, letting in-flight ones finish", function()
    local stacks = fleet(6)
    local ex = executor({ [stacks[2]] = "apply" }, 2)
    local report = rollout.run { ref = "v2", stacks = stacks, executor = ex, waves = "100%", max_parallel = 2, log = quiet }
    -- c2 and c3 start together; c2 fails, c3 finishes, nothing else starts
    assert.are.same({ stacks[1], stacks[3] }, ex.applied)
    local results = {}
    for i, row in ipairs(report.rows) do results[i] = row.result end
    assert.are.same({ "done", "failed", "done", "not started", "not started", "not started" }, results)
  end)

  it("keeps going past a failure with keep_going", function()
    local stacks = fleet(4)
    local ex = executor({ [stacks[1]] = "apply" }, 1)
    local report, exit = rollout.run { ref = "v2", stacks = stacks, executor = ex, keep_going = true, log = quiet }
    assert.are.equal(1, exit)
    assert.are.same({ stacks[2], stacks[3], stacks[4] }, ex.applied)
    assert.are.equal("failed", report.rows[1].result)
  end)

  it("applies nothing when a plan fails, and a dry run only plans", function()
    local stacks = fleet(3)
    local ex = executor({ [stacks[2]] = "plan" }, 1)
    local report, exit = rollout.run { ref = "v2", stacks = stacks, executor = ex, log = quiet }
    assert.are.equal(1, exit)
    assert.are.same({}, ex.applied)
    assert.are.equal("plan: plan exploded", report.rows[2].error)
    assert.matches("1 plan%(s%) failed; nothing applied", report.stopped)

    local lines = {}
    local ex2 = executor({}, 1)
    local _, exit2 = rollout.run { ref = "v2", stacks = stacks, executor = ex2, dry_run = true,
      log = function(l) lines[#lines + 1] = l end }
    assert.are.equal(0, exit2)
    assert.are.same({}, ex2.applied)
    assert.are.same({
      "stacks/customers/c1.lua: v1.0.0 (aaaaaaa) → v2 (bbbbbbb): +1 ~2 -0",
      "stacks/customers/c2.lua: v1.0.0 (aaaaaaa) → v2 (bbbbbbb): +1 ~2 -0",
      "stacks/customers/c3.lua: v1.0.0 (aaaaaaa) → v2 (bbbbbbb): +1 ~2 -0",
    }, lines)
  end)

  it("keeps each stack's executor notes in the record and shows a failure's details", function()
    local stacks = fleet(2)
    local records, lines = {}, {}
    local cjson = require "cjson"
    local ex = {
      plan = function() return { ok = true, counts = { add = 1 } } end,
      apply = function(target)
        target.memo.task = "task-" .. target.path:match("c(%d)")
        target.save()
        records[#records + 1] = cjson.encode(records.last)
        if target.path == stacks[2] then
          return { ok = false, err = "exited with code 1", details = { "| line one", "| line two" } }
        end
        return { ok = true }
      end,
    }
    local report, exit = rollout.run { ref = "v2", stacks = stacks, executor = ex, max_parallel = 1,
      log = function(l) lines[#lines + 1] = l end, record = function(r) records.last = r end }
    assert.are.equal(1, exit)
    assert.are.equal("task-1", report.record.stacks[1].memo.task)
    assert.matches('"task":"task%-2"', records[2])   -- saved while the stack was being applied
    local text = table.concat(lines, "\n")
    assert.matches("c2%.lua: FAILED: exited with code 1\n    | line one\n    | line two", text)
    -- resuming gives the executor its notes back
    local seen
    ex.apply = function(target) seen = target.memo.task return { ok = true } end
    local again = cjson.decode(cjson.encode(records.last))
    assert.are.equal(0, select(2, rollout.run { resume = again, executor = ex, log = quiet }))
    assert.are.equal("task-2", seen)
  end)

  it("on SIGINT starts no new stack, lets the running one finish, and lets the executor answer", function()
    local sys = require "wpo.core.sys"
    local stacks = fleet(4)
    local counts, lines = {}, {}
    local ex = executor({}, 1)
    local apply = ex.apply
    ex.apply = function(stack, planned)
      if stack.path == stacks[1] then
        io.popen("kill -INT " .. sys.pid()):close()
        task.sleep(20)   -- the signal is handled while this stack still runs
      end
      return apply(stack, planned)
    end
    ex.interrupt = function(n) counts[#counts + 1] = n return "executor: interrupt " .. n end
    local report, exit = rollout.run { ref = "v2", stacks = stacks, executor = ex, max_parallel = 1, interrupt = true,
      log = function(l) lines[#lines + 1] = l end }
    assert.are.equal(1, exit)
    assert.are.same({ 1 }, counts)
    assert.are.same({ stacks[1] }, ex.applied)
    assert.matches("\nexecutor: interrupt 1\n", "\n" .. table.concat(lines, "\n") .. "\n")
    assert.are.equal("interrupted; later stacks not started (--resume continues)", report.stopped)
    assert.are.equal("not started", report.rows[2].result)
    assert.is_nil(task.on_interrupt(nil))   -- the rollout put the previous handler (none) back
  end)

  it("renders the final table", function()
    local report = rollout.report({ ref = "v2", stacks = {
      { path = "stacks/a.lua", status = "done", from = "v1 (aaaaaaa)", to = "v2 (bbbbbbb)",
        counts = { add = 1 }, seconds = 12.2 },
      { path = "stacks/bb.lua", status = "failed", error = "boom", from = "(new)", to = "v2 (bbbbbbb)" },
    } }, "stacks/bb.lua failed")
    assert.are.equal(table.concat({
      "STACK          FROM          TO            RESULT        CHANGES  DURATION",
      "stacks/a.lua   v1 (aaaaaaa)  v2 (bbbbbbb)  done          1        12s",
      "stacks/bb.lua  (new)         v2 (bbbbbbb)  failed: boom  -        -",
      "stopped: stacks/bb.lua failed",
    }, "\n") .. "\n", rollout.render(report))
  end)
end)
