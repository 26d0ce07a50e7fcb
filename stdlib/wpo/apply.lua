-- wpo.apply: carries out a plan. Every action is a node of a wpo.core.dag
-- graph; a node starts as a task the moment its own dependencies finish (never
-- level by level), at most `parallelism` at a time. Each resource's change is
-- committed to the state (st:commit: a journal record, durable) before its
-- dependents may start. A failure skips its transitive dependents
-- ("skipped: upstream X failed") while independent branches run to the end.
-- SIGINT or SIGTERM: the first stops starting nodes and lets running ones
-- finish; the second (of either) cancels the running ones. Either way what
-- completed is committed (the caller, wpo.workflow, then saves the state
-- whole).
--
--   apply.run(plan, stack, st, { parallelism = 16, reporter = r,
--                                interrupt = true }) -> result
--   result = { ok, interrupted, signal ("SIGINT" | "SIGTERM": the first one),
--              failures = { { address, where, action, err } },
--              skipped = { { address, where, reason } },
--              not_started = { address }, counts = { added, changed, destroyed, looked_up, forgotten },
--              where_of = { [node id] = "file:line" } }
--   apply.reporter(kind, out, err) -> r     kind "human" | "json"; r receives
--        start(a), still(a, elapsed_ms), finish(a, ms, record), fail(a, ms, err),
--        skip(address, reason, where), note(a, msg), interrupt(count, signal),
--        summary(result)
--
-- Streams: progress (starts, completions, notes, what an interrupt does, and
-- "Apply complete") goes to `out` (stdout); every failure, skip and the
-- summary of a run that did not complete go to `err` (stderr), one line each
-- naming the file:line and address. With --json the events stay on stdout
-- and the failure summary is written to stderr as well. An error that is not
-- a wpo error (a bug) is one line; its traceback only with WPO_LOG=debug.
--
-- Progress ("still creating... (10s elapsed)") runs on the loop's timers
-- (wpo.core.loop through wpo.task), so a fake loop drives it in tests.
local dag = require "wpo.core.dag"
local errors = require "wpo.errors"
local json = require "wpo.json"
local readcache = require "wpo.aws.readcache"
local check_options = require("wpo.options").check
local log = require "wpo.log"
local loop = require "wpo.core.loop"
local resource = require "wpo.resource"
local stackmod = require "wpo.stack"
local sys = require "wpo.core.sys"
local task = require "wpo.task"
local text = require "wpo.text"
local value = require "wpo.value"
local plan = require "wpo.plan"

local M = {}

M.PROGRESS_MS = 10000

local ING = { create = "creating", update = "updating", replace = "replacing", delete = "destroying" }
local ED = { create = "created", update = "updated", replace = "replaced", delete = "destroyed" }

local message_of = errors.describe

-- ---- reporters ----

local Human = {}
Human.__index = Human

function Human:line(s)
  self.out:write(s, "\n")
  self.out:flush()
end

function Human:error_line(s)
  self.err:write(s, "\n")
  self.err:flush()
end

-- "s.lua:3: wpo.null.a" — where a resource is declared, then its address
local function place(where, address)
  if where then return tostring(where) .. ": " .. address end
  return address
end

function Human:start(a)
  self:line(string.format("%s: %s...", a.id, ING[a.action]))
end

function Human:still(a, ms)
  self:line(string.format("%s: still %s... (%s elapsed)", a.id, ING[a.action], text.duration(ms / 1000)))
end

function Human:finish(a, ms, record)
  local id = record and record.id and (" [id=" .. tostring(record.id) .. "]") or ""
  self:line(string.format("%s: %s in %s%s", a.id, ED[a.action], text.duration(ms / 1000), id))
end

function Human:fail(a, ms, err)
  self:error_line(string.format("%s: %s failed after %s: %s", place(a.where, a.id), a.action,
    text.duration(ms / 1000), message_of(err)))
end

function Human:skip(address, reason, where)
  self:error_line(string.format("%s: %s", place(where, address), reason))
end

function Human:note(a, msg)
  self:line(string.format("%s: %s", a.id, msg))
end

function Human:interrupt(count, signal)
  if count == 1 then
    self:line(string.format("Interrupt (%s): starting nothing new; waiting for running operations to finish "
      .. "(interrupt again to cancel them)", signal or "SIGINT"))
  else
    self:line(string.format("Interrupt (%s): cancelling running operations", signal or "SIGINT"))
  end
end

-- The summary of a run that did not complete: a header, then one line per
-- failure, skip and node not started.
-- "2 added, 0 changed, 0 destroyed" (and ", 1 looked up", ", 1 forgotten"
-- when there are such)
local function counts_text(c)
  return string.format("%d added, %d changed, %d destroyed%s%s", c.added, c.changed, c.destroyed,
    c.looked_up > 0 and string.format(", %d looked up", c.looked_up) or "",
    c.forgotten > 0 and string.format(", %d forgotten", c.forgotten) or "")
end

local function failure_summary(r)
  local lines = { string.format("Apply %s: %s; %d failed, %d skipped%s.",
    r.interrupted and ("interrupted (" .. (r.signal or "SIGINT") .. ")") or "failed", counts_text(r.counts),
    #r.failures, #r.skipped,
    #r.not_started > 0 and string.format(", %d not started", #r.not_started) or "") }
  for _, f in ipairs(r.failures) do
    local e = f.err
    if errors.is(e) then
      e = errors.new { code = e.code, message = e.message, where = e.where or f.where, address = e.address or f.address }
      lines[#lines + 1] = "  " .. tostring(e)
    else
      lines[#lines + 1] = string.format("  %s: %s", place(f.where, f.address), tostring(e))
    end
  end
  for _, s in ipairs(r.skipped) do lines[#lines + 1] = string.format("  %s: %s", place(s.where, s.address), s.reason) end
  for _, a in ipairs(r.not_started) do
    local where = r.where_of and r.where_of[a]
    lines[#lines + 1] = string.format("  %s: not started (interrupted)", place(where, a))
  end
  return lines
end

function Human:summary(r)
  local c = r.counts
  if r.ok then
    if r.destroy then
      self:line(string.format("\nDestroy complete! Resources: %d destroyed%s.", c.destroyed,
        c.forgotten > 0 and string.format(", %d forgotten", c.forgotten) or ""))
    else
      self:line(string.format("\nApply complete: %s.", counts_text(c)))
    end
    return
  end
  self.err:write("\n")
  for _, line in ipairs(failure_summary(r)) do self:error_line(line) end
end

local Json = {}
Json.__index = Json

-- Each event carries @timestamp (UTC, RFC 3339, microseconds) and @level
-- ("info", or "error" for a failure), as Terraform's machine-readable UI.
local ERROR_EVENTS = { ["end"] = true, summary = true }
function Json:event(t)
  t["@timestamp"] = sys.timestamp()
  t["@level"] = (ERROR_EVENTS[t.event] and t.ok == false) and "error" or "info"
  self.out:write(json.encode(t), "\n")
  self.out:flush()
end

function Json:start(a)
  self:event({ event = "start", address = a.address, node = a.id, action = a.action, where = a.where })
end

function Json:still(a, ms)
  self:event({ event = "progress", address = a.address, node = a.id, action = a.action, elapsed_ms = math.floor(ms) })
end

function Json:finish(a, ms, record)
  self:event({ event = "end", ok = true, address = a.address, node = a.id, action = a.action,
    duration_ms = math.floor(ms), id = record and record.id })
end

function Json:fail(a, ms, err)
  self:event({ event = "end", ok = false, address = a.address, node = a.id, action = a.action, where = a.where,
    duration_ms = math.floor(ms), error = message_of(err), code = errors.is(err) and err.code or nil })
end

function Json:skip(address, reason, where)
  self:event({ event = "skipped", address = address, reason = reason, where = where })
end

function Json:note(a, msg)
  self:event({ event = "note", address = a.address, message = msg })
end

function Json:interrupt(count, signal)
  self:event({ event = "interrupt", count = count, signal = signal })
end

function Json:summary(r)
  local failures = {}
  for _, f in ipairs(r.failures) do
    failures[#failures + 1] = { address = f.address, where = f.where, action = f.action, error = message_of(f.err) }
  end
  self:event({ event = "summary", ok = r.ok, interrupted = r.interrupted, signal = r.signal, added = r.counts.added,
    changed = r.counts.changed, destroyed = r.counts.destroyed, looked_up = r.counts.looked_up,
    forgotten = r.counts.forgotten, failed = #failures,
    skipped = #r.skipped, not_started = #r.not_started, failures = failures[1] and failures or nil })
  if not r.ok then
    for _, line in ipairs(failure_summary(r)) do self.err:write(line, "\n") end
    self.err:flush()
  end
end

function M.reporter(kind, out, err)
  out, err = out or io.stdout, err or io.stderr
  if kind == "json" then return setmetatable({ out = out, err = err }, Json) end
  if kind == "human" then return setmetatable({ out = out, err = err }, Human) end
  error("apply.reporter: kind is \"human\" or \"json\", not " .. tostring(kind), 2)
end

-- ---- carrying out one action ----

local function resolve_at_apply(st, a)
  local function lookup(ref_decl, name)
    local r = st:get(ref_decl.address)
    if not r then
      errors.raise { code = "ApplyError", address = a.address, where = a.where,
        message = ref_decl.address .. " is not in the state: cannot read its " .. name }
    end
    local t = resource.get(r.type)
    local v
    if t and t.attributes[name] then v = r.inputs[name] end
    if v == nil then v = r.outputs[name] end
    if v == nil then v = r.inputs[name] end
    if v == nil then
      errors.raise { code = "ApplyError", address = a.address, where = a.where,
        message = string.format("%s has no value for %s after apply", ref_decl.address, name) }
    end
    return v
  end
  local want = {}
  local t = a.type_def
  for _, name in ipairs(t.attribute_names) do
    local v = value.resolve(a.decl.attrs[name], lookup)
    if v ~= nil then
      local err = resource.check(t.attributes[name], v)
      if err and (t.attributes[name].sensitive or (a.sensitive and a.sensitive[name])) then
        err = "its value (sensitive, not shown) is not a valid " .. tostring(t.attributes[name].type)
      end
      if err then
        errors.raise { code = "ApplyError", address = a.address, where = a.where,
          message = string.format("attribute %s: %s", name, err) }
      end
    end
    want[name] = v
  end
  -- what the type's derive computed while planning (an image's digest): the
  -- create or update is handed it, to make exactly that or refuse
  if t.derive and a.after then
    for _, name in ipairs(t.attribute_names) do
      local v = a.after[name]
      if want[name] == nil and t.attributes[name].computed and v ~= nil and not value.has_unknown(v) then
        want[name] = v
      end
    end
  end
  return want
end

-- The attributes whose values are sensitive because of where they came from
-- (the type does not say so): recorded in the state, so that every later
-- display — plans, wpo state show, outputs made from them — hides them too.
local function sensitive_names(a)
  local t, names = a.type_def, {}
  for name in pairs(a.sensitive or {}) do
    if not (t.attributes[name] and t.attributes[name].sensitive) then names[#names + 1] = name end
  end
  table.sort(names)
  return names[1] and names or nil
end

local function record_for(a, want, observed, prior)
  local t = a.type_def
  observed = value.normalize_numbers(observed or {})
  local outputs = {}
  for name in pairs(t.outputs) do
    local v = observed[name]
    if v == nil and prior then v = prior.outputs[name] end
    outputs[name] = v
  end
  local id = observed.id
  if id == nil and prior then id = prior.id end
  if id == nil then
    errors.raise { code = "ApplyError", address = a.address, where = a.where,
      message = t.name .. " returned no id from its create" }
  end
  outputs.id = id
  -- a computed attribute the script leaves out records what the object has,
  -- so that the next refresh does not report it as changed outside wpo
  local inputs = {}
  for k, v in pairs(want) do inputs[k] = v end
  for name, spec in pairs(t.attributes) do
    if inputs[name] == nil and spec.computed and observed[name] ~= nil then inputs[name] = observed[name] end
  end
  local d = a.decl
  return {
    type = t.name, id = id, inputs = inputs, outputs = outputs, deps = d.deps, where = d.where,
    sensitive = sensitive_names(a),
    prevent_destroy = d.lifecycle.prevent_destroy or nil,
    create_before_destroy = d.lifecycle.create_before_destroy or nil,
    deposed = prior and prior.deposed or nil,
    name_suffix = prior and prior.name_suffix or nil,
    provider = d.provider,
    created = prior and prior.created or nil,
  }
end

local function same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- A no-op still records where the resource is declared, its dependencies,
-- its lifecycle (prevent_destroy must be in the state) and which attributes
-- are sensitive. true when it changed.
local function refresh_metadata(st, a)
  local r = st:get(a.address)
  if not r or not a.decl then return false end
  local d = a.decl
  local pd, cbd = d.lifecycle.prevent_destroy or nil, d.lifecycle.create_before_destroy or nil
  local sens = sensitive_names(a)
  if r.where == d.where and r.prevent_destroy == pd and r.create_before_destroy == cbd
      and same_list(r.deps or {}, d.deps) and same_list(r.sensitive or {}, sens or {}) then
    return false
  end
  r.where, r.prevent_destroy, r.create_before_destroy, r.deps = d.where, pd, cbd, d.deps
  r.sensitive = sens
  return true
end

local function execute(a, ctx_for, st)
  local t = a.type_def
  local address = a.address
  -- deposed: the objects the record keeps for later deletion. A create that
  -- fails after making its object records that object as tainted (the error
  -- says why), so that the next plan replaces it and destroy removes it.
  local function create(prior_for_record, deposed)
    local want = resolve_at_apply(st, a)
    local generation = (st.generations[address] or 0) + 1
    local ctx = ctx_for(a, prior_for_record, generation)
    -- create before destroy, while the old object holds a unique name: the
    -- new one's name gets a suffix, recorded in the state
    local un, suffix = t.unique_name, nil
    if a.cbd and un and type(want[un]) == "string" then
      suffix = resource.name_suffix(ctx)
      want[un] = want[un] .. "-" .. suffix
    end
    -- when the object was made: AWS may not show it for a while after
    -- (resource.read, and reads within that window, wait for it)
    local made = resource.clock.epoch()
    local function recorded(observed)
      local record = record_for(a, want, observed, nil)
      if suffix then
        record.inputs[un] = resource.base_name(record.inputs[un], suffix)
        record.name_suffix = suffix
      end
      record.created = made
      return record
    end
    local ok, observed = pcall(resource.create, t, ctx, want)
    if not ok then
      local err = observed
      if errors.is(err) and err.left then
        local record = recorded(err.left)
        record.tainted = message_of(err)
        record.deposed = deposed
        st:set(address, record)
        st.generations[address] = generation
        st:commit(address)
        err.left = nil
      end
      error(err, 0)
    end
    return recorded(observed), generation
  end
  if a.action == "create" then
    local record, generation = create(nil)
    st:set(address, record)
    st.generations[address] = generation
    st:commit(address)
    return record
  elseif a.action == "update" then
    local want = resolve_at_apply(st, a)
    local prior = st:get(address)
    local observed = resource.update(t, ctx_for(a, prior), prior.id, prior.inputs, want, a.changed)
    local record = record_for(a, want, observed, prior)
    st:set(address, record)
    st:commit(address)
    return record
  elseif a.action == "replace" then
    local prior = st:get(address)
    if a.cbd then
      local deposed = {}
      for _, old in ipairs(prior.deposed or {}) do deposed[#deposed + 1] = old end
      deposed[#deposed + 1] = { id = prior.id, inputs = prior.inputs, outputs = prior.outputs }
      local record, generation = create(prior, deposed)
      record.deposed = deposed
      st:set(address, record)
      st.generations[address] = generation
      st:commit(address)
      return record
    end
    -- destroy before create: the old object went in this replace's own
    -- delete node ("ADDRESS (destroy)"), which this one waited for
    local keep = prior and prior.deposed
    local record, generation = create(nil, keep)
    record.deposed = keep
    st:set(address, record)
    st.generations[address] = generation
    st:commit(address)
    return record
  elseif a.action == "delete" then
    if a.deposed then
      local r = st:get(address)
      local list = r and r.deposed or {}
      local at
      for i, old in ipairs(list) do if old.id == a.prior.id then at = i end end
      if at then
        local old = list[at]
        t.delete(ctx_for(a, { type = t.name, id = old.id, inputs = old.inputs, outputs = old.outputs }), old.id,
          { type = t.name, id = old.id, inputs = old.inputs, outputs = old.outputs })
        table.remove(list, at)
        if #list == 0 then r.deposed = nil end
        st:commit(address)
      end
      return nil
    end
    local prior = st:get(address) or a.prior
    t.delete(ctx_for(a, prior), prior.id, prior)
    st:remove(address)
    st:commit(address)
    return nil
  end
  error("apply: unknown action " .. tostring(a.action))
end

-- Stack outputs from the state, keeping the previous value of any output
-- whose resources did not (yet) produce one.
local function update_outputs(stack, st, destroying)
  local outputs = {}
  if not destroying then
    for _, o in ipairs(stack.outputs) do
      local ok, v, sens = pcall(value.resolve, o.value, function(ref_decl, name)
        local r = st:get(ref_decl.address)
        if not r then error("missing", 0) end
        local t = resource.get(r.type)
        local x = (t and t.attributes[name]) and r.inputs[name] or r.outputs[name]
        if x == nil then error("missing", 0) end
        return x, (t and ((t.outputs[name] and t.outputs[name].sensitive)
          or (t.attributes[name] and t.attributes[name].sensitive)))
          or plan.was_sensitive({ prior = r }, name)
      end)
      if ok then
        outputs[o.name] = { value = v, sensitive = (o.sensitive or sens) or nil }
      elseif st.outputs[o.name] then
        outputs[o.name] = st.outputs[o.name]
      end
    end
  end
  local changed = false
  for k, v in pairs(outputs) do
    if not value.equal(v, st.outputs[k]) then changed = true end
  end
  for k in pairs(st.outputs) do if outputs[k] == nil then changed = true end end
  st.outputs = outputs
  return changed
end

-- ---- the walk ----

-- One apply in progress: the plan's graph, the result being gathered and
-- the tasks running, shared by the stages of M.run below.
local Run = {}
Run.__index = Run

-- The plan's actions as nodes of g, each waiting for what its action waits
-- for; a cycle raises CycleError naming it.
local function build_graph(g, p)
  for _, a in ipairs(p.actions) do g:add(a.id, a.id .. " (" .. tostring(a.where) .. ")") end
  for _, a in ipairs(p.actions) do
    for _, w in ipairs(a.waits_for) do
      if p.by_id[w] then g:depend(a.id, w) end
    end
  end
  local ok, err = g:walk()
  if not ok then errors.raise { code = "CycleError", message = err } end
end

-- A resource waiting for AWS to show what it made or changed (the late
-- waits of wpo.aws.typekit) lends its --parallelism slot to the next ready
-- resource while it sleeps: waiting for propagation is not work.
function Run:idle(fn)
  self.idle_n = self.idle_n + 1
  self:pump()
  local okf, e = pcall(fn)
  self.idle_n = self.idle_n - 1
  if not okf then error(e, 0) end
end

-- a create reaches AWS as its declaration says; anything done to an
-- existing object, where that object lives (its record's provider)
function Run:ctx_for(a, prior, generation)
  local decl_provider = a.decl and a.decl.provider
  local provider = decl_provider
  if not generation and prior and prior.type then provider = prior.provider end
  local region, aws = stackmod.aws_for(self.stack, provider)
  local reporter = self.reporter
  return resource.context { address = a.address, type = a.type_def, stack = self.stack.name, region = region,
    aws_settings = aws, where = a.where, prior = prior, lineage = self.st.lineage, generation = generation,
    state_view = resource.state_view(self.st), logger = function(_, msg) reporter:note(a, msg) end,
    idle = function(fn) return self:idle(fn) end, read_cache = readcache.of(self.st),
    source = self.stack.source, root = self.stack.root }
end

-- what plan.counts_as says an action counts as -> the count it adds to
local COUNTED = { add = "added", change = "changed", destroy = "destroyed", read = "looked_up", forget = "forgotten" }

function Run:count(a)
  local c = self.result.counts
  local first, second = plan.counts_as(a)
  if first then c[COUNTED[first]] = c[COUNTED[first]] + 1 end
  if second then c[COUNTED[second]] = c[COUNTED[second]] + 1 end
end

-- A failed node: its dependents are skipped (independent branches go on);
-- a state that cannot be written stops the run.
function Run:failed(a, ms, err)
  local result, g = self.result, self.g
  result.ok = false
  result.failures[#result.failures + 1] = { address = a.address, where = a.where, action = a.action, err = err }
  self.reporter:fail(a, ms, err)
  for _, id in ipairs(g:fail(a.id)) do
    local _, why = g:status(id)
    local where = result.where_of[id]
    result.skipped[#result.skipped + 1] = { address = id, where = where, reason = why }
    self.reporter:skip(id, why, where)
  end
  if errors.is(err) and err.code == "StateError" then self.stopping = true end
end

-- One action, as its own task: a progress line every PROGRESS_MS while it
-- runs, then done or failed in the graph, then the next ready ones started.
function Run:node(a)
  local reporter = self.reporter
  local t0 = loop.now()
  reporter:start(a)
  local over = false
  local watcher = task.spawn(function()
    while true do
      local fired = task.sleep(M.PROGRESS_MS)
      if not fired or over then return end
      reporter:still(a, loop.now() - t0)
    end
  end)
  watcher.name = "progress of " .. a.id
  local okn, record = xpcall(execute, function(e)
    if errors.is(e) then return e end
    local msg = type(e) == "string" and e or errors.describe(e)
    if log.enabled("debug") then log.debug("%s: %s", a.id, debug.traceback(msg, 2)) end
    return errors.new { code = "InternalError", message = msg }
  end, a, function(...) return self:ctx_for(...) end, self.st)
  over = true
  task.cancel(watcher)
  local ms = loop.now() - t0
  self.running[a.id] = nil
  self.running_n = self.running_n - 1
  if okn then
    self:count(a)
    self.g:done(a.id)
    reporter:finish(a, ms, record)
  else
    self:failed(a, ms, record)
  end
  self:pump()
end

-- Start ready nodes up to --parallelism (no-ops are done at once, their
-- recorded metadata refreshed); when nothing runs any more, the run is over.
function Run:pump()
  while not self.stopping and self.running_n - self.idle_n < self.parallelism do
    local id = self.g:next()
    if not id then break end
    local a = self.p.by_id[id]
    if a.action == "no-op" then
      if refresh_metadata(self.st, a) then self.refreshed[#self.refreshed + 1] = a.address end
      self.g:done(id)
    else
      self.running_n = self.running_n + 1
      local t = task.spawn(self.node, self, a)
      t.name = "apply " .. id
      self.running[id] = t
    end
  end
  if self.running_n == 0 and not self.finished then
    self.finished = true
    self.all_done:release()
  end
end

-- SIGINT/SIGTERM: start nothing more; a second one cancels what runs.
function Run:interrupt(n, signal)
  local result = self.result
  result.interrupted = true
  result.signal = result.signal or signal or "SIGINT"
  self.reporter:interrupt(n, signal)
  self.stopping = true
  if n >= 2 then
    for _, t in pairs(self.running) do task.cancel(t) end
  end
end

-- Run the graph to its end (or to an interrupt), interrupts handled by
-- Run:interrupt when opts.interrupt.
function Run:walk(catch_interrupts)
  local prev_handler
  if catch_interrupts then
    prev_handler = task.on_interrupt(function(n, signal) self:interrupt(n, signal) end)
  end
  local okw, werr = pcall(function()
    self:pump()
    self.all_done:acquire()
  end)
  if catch_interrupts then task.on_interrupt(prev_handler) end
  if not okw then error(werr, 0) end
end

function M.run(p, stack, st, opts)
  opts = check_options("apply.run", opts, { parallelism = true, reporter = true, interrupt = true })
  local g <close> = dag.new()
  build_graph(g, p)
  -- A new state is saved, empty, before anything is created: its lineage seeds
  -- every client token, so a run that dies mid-create and is run again sends
  -- the same tokens and finds what the first run made.
  if not st.lineage and #p.actions > 0 then st:save() end

  local result = { ok = true, interrupted = false, failures = {}, skipped = {}, not_started = {},
    counts = { added = 0, changed = 0, destroyed = 0, looked_up = 0, forgotten = 0 }, where_of = {},
    destroy = p.destroy or nil }
  for _, a in ipairs(p.actions) do result.where_of[a.id] = a.where end
  local run = setmetatable({ p = p, stack = stack, st = st, g = g, result = result,
    parallelism = opts.parallelism or 16, reporter = opts.reporter or M.reporter("human"),
    running = {}, running_n = 0, idle_n = 0, stopping = false, finished = false,
    refreshed = {},           -- addresses of no-ops whose recorded metadata changed
    all_done = task.semaphore(1) }, Run)
  run.all_done:acquire()
  run:walk(opts.interrupt)

  for _, id in ipairs(g:ids()) do
    local status = g:status(id)
    if status == "pending" or status == "ready" then result.not_started[#result.not_started + 1] = id end
  end
  if result.interrupted or #result.not_started > 0 then result.ok = false end
  local outputs_changed = update_outputs(stack, st, p.destroy)
  if run.refreshed[1] or outputs_changed then st:commit(run.refreshed, { outputs = outputs_changed }) end
  run.reporter:summary(result)
  return result
end

return M
