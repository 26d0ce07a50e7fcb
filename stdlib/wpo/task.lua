-- wpo.task: cooperative tasks over the event loop (wpo.core.loop). The only
-- place that resumes coroutines: C starts operations and reports completions,
-- this module maps completion ids to the tasks that wait for them.
--
--   task.spawn(fn, ...) -> t       a new task, started at the next scheduling
--                                  step (run, await, join... drive them)
--   task.await(id) -> value | nil, err, code
--                                  inside a task: yield until operation id
--                                  completes; elsewhere: drive the loop (and
--                                  every task) until it does
--   task.sleep(ms) -> true | nil, err, "cancelled"
--   task.run()                     drive the loop until every task finished;
--                                  raises a "Deadlock" error when tasks remain
--                                  blocked with nothing left that could wake them
--   task.join(t) -> true, results... | false, err
--                                  (or nil, err, "cancelled" if the joining
--                                  task is cancelled while it waits)
--   task.cancel(t) -> boolean      cancel what t is waiting on (its operation
--                                  completes with code "cancelled"); from then
--                                  on every await/sleep/acquire/join in t
--                                  returns nil, err, "cancelled" at once.
--                                  false if t already finished.
--   task.current() -> t | nil      the task running now
--   task.idle() -> boolean         no other task is ready to run
--   task.cancelled() -> boolean    whether the running task was cancelled
--   task.semaphore(n) -> sem       sem:acquire() -> true | nil, err, "cancelled";
--                                  sem:release(); sem:with(fn, ...) -> fn's
--                                  results (acquire, call, release even on
--                                  error); sem.available, sem.size
--   task.on_error(fn) -> previous  fn(t, err, traceback) receives the error of
--                                  a failed task (default: stderr); nil = default
--   task.on_interrupt(fn) -> previous
--                                  fn(count, signal) is called on each SIGINT
--                                  or SIGTERM (count = 1, 2, ... since the
--                                  handler was set, both signals together;
--                                  signal = "SIGINT" | "SIGTERM"), from the
--                                  scheduler, not inside a task; setting a
--                                  handler catches both (loop.catch_interrupts),
--                                  nil restores their default actions
--
-- A task t has fields id, name (settable; used in error reports), status
-- ("ready", "running", "blocked", "done", "failed"), error and traceback (when
-- failed), and methods t:join(), t:cancel(). An error inside a task is
-- reported (by default one line on stderr; its traceback with WPO_LOG=debug)
-- and does not stop other tasks.
--
-- Everything waits through this module: a direct loop.wait elsewhere would
-- take completions away from the tasks awaiting them. A completion that
-- arrives before anyone awaits its id is kept until task.await(id).
--
-- await must be called from the task's own coroutine to yield; called from
-- any other coroutine (e.g. an iterator made with coroutine.wrap inside a
-- task) it drives the loop until the operation completes, like outside a task.
local loop = require "wpo.core.loop"
local errors = require "wpo.errors"
local log = require "wpo.log"

local M = {}

local BLOCK = {}                      -- what tasks yield; anything else is foreign
local CANCELLED = { ok = false, err = "task cancelled", code = "cancelled" }
local WOKEN = { ok = true }

local by_co = setmetatable({}, { __mode = "k" })   -- coroutine -> task
local waiters = {}      -- operation id -> task awaiting it
local arrived = {}      -- operation id -> completion that nobody awaited yet
local queue, q_first, q_last = {}, 1, 0             -- runnable { task, completion }
local live = {}         -- task -> true while not finished
local live_count = 0
local next_id = 0
local current = nil     -- the task being resumed
local error_handler, interrupt_handler

local Task = {}
Task.__index = Task

function Task:__tostring()
  return string.format("task %s (%s)", self.name or self.id, self.status)
end

local function describe(err)
  if type(err) == "string" then return err end
  local mt = getmetatable(err)
  if mt and mt.__tostring then return tostring(err) end
  return string.format("(error object is a %s value)", type(err))
end

-- One line naming the task and its error; the traceback only with WPO_LOG=debug.
local function default_error_handler(t, err, traceback)
  local what = t and tostring(t.name or ("task " .. t.id)) or "interrupt handler"
  if log.enabled("debug") then
    io.stderr:write(string.format("wpo: %s failed: %s\n", what, traceback))
  else
    io.stderr:write(string.format("wpo: %s failed: %s\n", what, (describe(err):gsub("[\r\n]+", " "))))
  end
  io.stderr:flush()
end

local function report(t, err, traceback)
  local ok, herr = pcall(error_handler or default_error_handler, t, err, traceback)
  if not ok then
    default_error_handler(t, err, traceback)
    io.stderr:write("wpo: the task error handler failed too: " .. describe(herr) .. "\n")
  end
end

local function schedule(t, completion)
  t.status = "ready"
  q_last = q_last + 1
  queue[q_last] = { t, completion }
end

local function finish(t, ok, ...)
  live[t] = nil
  live_count = live_count - 1
  by_co[t.co] = nil
  if ok then
    t.status = "done"
    t.results = table.pack(...)
  else
    local info = ...
    t.status = "failed"
    t.error, t.traceback = info.err, info.traceback
    report(t, t.error, t.traceback)
  end
  local joiners = t.joiners
  t.joiners = nil
  for _, j in ipairs(joiners) do schedule(j, WOKEN) end
end

local function resume(t, completion)
  local prev = current
  current = t
  t.status = "running"
  local r = table.pack(coroutine.resume(t.co, completion))
  current = prev
  if not r[1] then      -- the wrapper itself failed: never expected
    coroutine.close(t.co)
    finish(t, false, { err = r[2], traceback = debug.traceback(t.co, describe(r[2])) })
  elseif coroutine.status(t.co) == "dead" then
    if r[2] then
      finish(t, true, table.unpack(r, 3, r.n))
    else
      finish(t, false, r[3])
    end
  elseif r[2] ~= BLOCK then
    coroutine.close(t.co)
    finish(t, false, { err = "coroutine.yield called inside a task (use the wpo.task functions to wait)",
      traceback = "coroutine.yield called inside a task (use the wpo.task functions to wait)" })
  end
end

local function run_ready()
  local last = q_last
  while q_first <= last do
    local entry = queue[q_first]
    queue[q_first] = nil
    q_first = q_first + 1
    resume(entry[1], entry[2])
  end
end

local function dispatch(completions)
  for _, c in ipairs(completions) do
    if c.id == 0 then
      if interrupt_handler then
        local ok, err = xpcall(interrupt_handler, function(e) return { err = e, traceback = debug.traceback(describe(e), 2) } end,
          c.count, c.signal)
        if not ok then report(nil, err.err, err.traceback) end
      end
    else
      local t = waiters[c.id]
      if t then
        waiters[c.id] = nil
        schedule(t, c)
      else
        arrived[c.id] = c
      end
    end
  end
end

-- One scheduling step: run what is ready and poll for completions; only when
-- nothing was ready, block until a completion arrives. Either way hand the
-- completions out and run what became ready. (A step that ran something
-- never blocks: the caller's condition may hold now, and a long-lived task
-- such as a lock's heartbeat must not hold it up until its timer fires.)
local function step()
  if q_first <= q_last then
    run_ready()
    dispatch(loop.wait(0))
  else
    dispatch(loop.wait(-1))
  end
  run_ready()
end

local function blocked_names()
  local names = {}
  for t in pairs(live) do names[#names + 1] = tostring(t) end
  table.sort(names)
  return table.concat(names, ", ")
end

local function check_progress(what)
  if q_first > q_last and loop.outstanding() == 0 then
    errors.raise { code = "Deadlock",
      message = string.format("%s can never return: no operation is pending and every task is blocked (%s)", what,
        blocked_names()) }
  end
end

local function own_task()
  return by_co[coroutine.running()]
end

-- Yield the running task until something schedules it; returns that completion.
local function block(t, cancel_wait)
  t.status = "blocked"
  t.cancel_wait = cancel_wait
  local c = coroutine.yield(BLOCK)
  t.cancel_wait = nil
  return c
end

local function result_of(c)
  if c.ok then return c.value end
  return nil, c.err, c.code
end

local function check_task(t, fname)
  if getmetatable(t) ~= Task then
    error(string.format("task.%s: expected a task, got %s", fname, type(t)), 3)
  end
end

function M.spawn(fn, ...)
  local ft = type(fn)
  local mt = getmetatable(fn)
  if ft ~= "function" and not (mt and mt.__call) then
    error("task.spawn: expected a function, got " .. ft, 2)
  end
  local args = table.pack(...)
  next_id = next_id + 1
  local t = setmetatable({ id = next_id, status = "ready", joiners = {} }, Task)
  local function on_error(err)
    return { err = err, traceback = debug.traceback(describe(err), 2) }
  end
  t.co = coroutine.create(function()
    return xpcall(fn, on_error, table.unpack(args, 1, args.n))
  end)
  by_co[t.co] = t
  live[t] = true
  live_count = live_count + 1
  schedule(t, nil)
  return t
end

function M.await(id)
  if math.type(id) ~= "integer" then
    error("task.await: expected an operation id (integer), got " .. type(id), 2)
  end
  local c = arrived[id]
  if c then
    arrived[id] = nil
    return result_of(c)
  end
  if not loop.outstanding(id) then
    error("task.await: no pending operation has id " .. id, 2)
  end
  if waiters[id] then
    error(string.format("task.await: operation %d is already awaited by %s", id, tostring(waiters[id])), 2)
  end
  local t = own_task()
  if t then
    if t.cancelled then loop.cancel(id) end
    waiters[id] = t
    t.awaiting = id
    c = block(t, function() loop.cancel(id) end)
    t.awaiting = nil
    return result_of(c)
  end
  while not arrived[id] do
    if waiters[id] then
      error(string.format("task.await: operation %d was taken by %s", id, tostring(waiters[id])), 2)
    end
    step()
  end
  c = arrived[id]
  arrived[id] = nil
  return result_of(c)
end

function M.sleep(ms)
  if type(ms) ~= "number" or ms < 0 then
    error("task.sleep: expected a number of milliseconds >= 0, got " .. tostring(ms), 2)
  end
  local ok, err, code = M.await(loop.timer(ms))
  if ok then return true end
  return nil, err, code
end

function M.run()
  if current then error("task.run: called from inside a task", 2) end
  while live_count > 0 do
    check_progress("task.run")
    step()
  end
end

local function finished(t)
  return t.status == "done" or t.status == "failed"
end

function M.join(t)
  check_task(t, "join")
  local me = own_task()
  if me == t then error("task.join: a task cannot join itself", 2) end
  if not finished(t) then
    if me then
      if me.cancelled then return result_of(CANCELLED) end
      t.joiners[#t.joiners + 1] = me
      local c = block(me, function()
        for i, j in ipairs(t.joiners) do
          if j == me then table.remove(t.joiners, i) break end
        end
        schedule(me, CANCELLED)
      end)
      if not c.ok then return result_of(c) end
    else
      while not finished(t) do
        check_progress("task.join")
        step()
      end
    end
  end
  if t.status == "done" then return true, table.unpack(t.results, 1, t.results.n) end
  return false, t.error
end

function M.cancel(t)
  check_task(t, "cancel")
  if finished(t) then return false end
  t.cancelled = true
  local cancel_wait = t.cancel_wait
  t.cancel_wait = nil
  if cancel_wait then cancel_wait() end
  return true
end

function M.current()
  return current
end

function M.idle()
  return q_first > q_last
end

function M.cancelled()
  return current ~= nil and current.cancelled == true
end

Task.join = M.join
Task.cancel = M.cancel

local Semaphore = {}
Semaphore.__index = Semaphore

function Semaphore:__tostring()
  return string.format("semaphore (%d of %d available, %d waiting)", self.available, self.size, #self.waiting)
end

function M.semaphore(n)
  if math.type(n) ~= "integer" or n < 1 then
    error("task.semaphore: expected an integer >= 1, got " .. tostring(n), 2)
  end
  return setmetatable({ size = n, available = n, waiting = {} }, Semaphore)
end

function Semaphore:acquire()
  if self.available > 0 and #self.waiting == 0 then
    self.available = self.available - 1
    return true
  end
  local t = own_task()
  if t then
    if t.cancelled then return result_of(CANCELLED) end
    self.waiting[#self.waiting + 1] = t
    local c = block(t, function()
      for i, w in ipairs(self.waiting) do
        if w == t then table.remove(self.waiting, i) break end
      end
      schedule(t, CANCELLED)
    end)
    if c.ok then return true end   -- release handed its permit over
    return result_of(c)
  end
  while not (self.available > 0 and #self.waiting == 0) do
    check_progress("semaphore:acquire")
    step()
  end
  self.available = self.available - 1
  return true
end

function Semaphore:release()
  if #self.waiting > 0 then
    schedule(table.remove(self.waiting, 1), WOKEN)
  elseif self.available < self.size then
    self.available = self.available + 1
  else
    error("semaphore:release: released more times than acquired", 2)
  end
end

function Semaphore:with(fn, ...)
  local ok, err, code = self:acquire()
  if not ok then return nil, err, code end
  local _ <close> = setmetatable({}, { __close = function() self:release() end })
  return fn(...)
end

function M.on_error(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("task.on_error: expected a function or nil, got " .. type(fn), 2)
  end
  local prev = error_handler
  error_handler = fn
  return prev
end

function M.on_interrupt(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("task.on_interrupt: expected a function or nil, got " .. type(fn), 2)
  end
  local prev = interrupt_handler
  interrupt_handler = fn
  loop.catch_interrupts(fn ~= nil)
  return prev
end

return M
