-- wpo.workflow: what the engine's commands (plan, run, apply, destroy,
-- refresh, import, state, output, graph) share: their common options, loading
-- the stack with its variables, opening its state and the lifecycle of its
-- lock, confirmation, colour, and saved plan files.
--
-- The lock's lifecycle: open_state takes it (waiting up to --lock-timeout);
-- a remote lock's lease is renewed by a heartbeat task while wpo works (the
-- backend starts it); it is checked again right before applying (it may have
-- been lost while a prompt waited); `<close>` releases it, after errors too;
-- and a SIGINT or SIGTERM outside apply (which handles its own) lets a write
-- in progress finish, releases the lock and exits 130 (SIGINT) or 143 (SIGTERM).
local cjson = require "cjson.safe"
local errors = require "wpo.errors"
local value = require "wpo.value"
local fs = require "wpo.core.fs"
local sys = require "wpo.core.sys"
local task = require "wpo.task"
local crypto = require "wpo.core.crypto"
local cli = require "wpo.cli"
local stackmod = require "wpo.stack"
local plan = require "wpo.plan"
local state = require "wpo.state"
local source = require "wpo.source"
local coregit = require "wpo.core.git"
local git = require "wpo.git"
local crypt = require "wpo.state.crypt"
local json = require "wpo.json"
local textlib = require "wpo.text"

local M = {}

M.STACK_OPTIONS = {
  var = { type = "string", repeatable = true, metavar = "NAME=VALUE", help = "set a stack variable" },
  var_file = { type = "string", repeatable = true, metavar = "FILE", help = "a Lua file returning { name = value }" },
  state = { type = "string", metavar = "PATH", help = "the state file (default: .wpo/<stack>.state.json beside the stack)" },
  lock_timeout = { type = "string", metavar = "DURATION",
                   help = "wait up to this long (30s, 5m, 1h) for a state lock another process holds" },
  ref = { type = "string", metavar = "REF",
          help = "the stack as committed at REF (tag, branch or commit), never the working tree" },
  offline = { type = "boolean", help = "a git+ stack URL: use the cached clone as it is, fetch nothing" },
  script_budget = { type = "string", metavar = "N",
                    help = "instructions stack code may run (default 500M; like 2G or 10000000)" },
  script_memory = { type = "string", metavar = "SIZE", help = "memory stack code may take (default 512M)" },
  max_value_size = { type = "string", metavar = "SIZE",
                     help = "the longest string stack code may hand wpo in one value (default 1M)" },
}

-- workflow.amount("512M", option, unit) -> a whole number (raises a usage
-- error): digits with an optional suffix K, M or G (multiples of unit, 1000
-- for counts, 1024 for sizes), or a number like 2e9.
function M.amount(s, option, unit)
  local n, suffix = tostring(s):match("^(%d+)([KkMmGg]?)$")
  local v
  if n then
    local scale = ({ [""] = 0, k = 1, m = 2, g = 3 })[suffix:lower()]
    v = tonumber(n) * unit ^ scale
  else
    v = tonumber(s)
  end
  v = v and v == v and v < 2 ^ 62 and math.tointeger(math.floor(v)) or nil
  if not v or v <= 0 then
    M.usage("--%s takes a whole number with an optional K, M or G (like 512M), not '%s'", option, tostring(s))
  end
  return v
end

-- The sandbox limits the options set (nil: the defaults).
function M.limits(opts)
  local limits = {}
  if opts.script_budget then limits.instructions = M.amount(opts.script_budget, "script-budget", 1000) end
  if opts.script_memory then limits.memory = M.amount(opts.script_memory, "script-memory", 1024) end
  if opts.max_value_size then limits.value_bytes = M.amount(opts.max_value_size, "max-value-size", 1024) end
  return limits
end

-- For the commands that deploy (run; plan --out).
M.ROLLBACK_OPTIONS = {
  allow_rollback = { type = "boolean", help = "allow rolling to a commit older than the deployed one" },
}

-- workflow.duration("5m") -> seconds (raises a usage error): 90, 90s, 5m, 1h, 1h30m
function M.duration(s, option)
  if type(s) ~= "string" then return nil end
  if s:match("^%d+$") then return tonumber(s) end
  local total, rest = 0, s
  local units = { s = 1, m = 60, h = 3600 }
  while rest ~= "" do
    local n, u, more = rest:match("^(%d+)([smh])(.*)$")
    if not n then
      M.usage("--%s takes a duration like 30s, 5m or 1h, not '%s'", option or "lock-timeout", s)
    end
    total = total + tonumber(n) * units[u]
    rest = more
  end
  return total
end

M.PLAN_OPTIONS = {
  refresh = { type = "boolean", default = true, help = "read every resource first (--refresh=false skips it)" },
  target = { type = "string", repeatable = true, metavar = "ADDRESS",
             help = "only this resource and what it depends on" },
  parallelism = { type = "integer", default = 16, min = 1, metavar = "N",
    help = "operations at a time (a refresh reads 4 times as many objects at once)" },
  json = { type = "boolean", help = "machine-readable output" },
}

-- A command's option table: the given ones plus the named groups.
function M.options(own, ...)
  local out = {}
  for _, group in ipairs({ ... }) do for k, v in pairs(group) do out[k] = v end end
  for k, v in pairs(own or {}) do out[k] = v end
  return out
end

function M.usage(fmt, ...)
  cli.usage_error(fmt, ...)
end

local function parse_vars(list)
  local vars = {}
  for _, item in ipairs(list or {}) do
    local k, v = item:match("^([%a_][%w_]*)=(.*)$")
    if not k then M.usage("--var takes NAME=VALUE, not '%s'", item) end
    vars[k] = v
  end
  return vars
end

-- workflow.load(opts, path) -> stack
-- path: a stack script, or a git+ URL (wpo.source); opts.ref reads the stack
-- and its modules from the repository at that ref. stack.provenance is
-- where it came from (wpo.git; nil outside git), stack.source the source.
function M.load(opts, path)
  local src, err = source.open(path, { ref = opts.ref, offline = opts.offline })
  if not src then error(err, 0) end
  local load_opts = { vars = parse_vars(opts.var), var_files = opts.var_file, limits = M.limits(opts) }
  local stack_path = path
  if src:in_git() then
    local reader
    -- the current directory as wpo.stack sees it ($PWD), or as it is when
    -- the environment has no PWD
    local cwd = stackmod.absolute(".")
    if cwd:sub(1, 1) ~= "/" then cwd = coregit.realpath(".") or cwd end
    stack_path, reader = src:loader(cwd, not src.url and stackmod.absolute(path) or nil)
    load_opts.reader, load_opts.root = reader.reader, reader.root
  end
  local stack = stackmod.load(stack_path, load_opts)
  stack.source = src
  stack.provenance = src:provenance()
  return stack
end

-- While a remote lock is held outside apply: SIGINT or SIGTERM lets a write
-- in progress finish, releases the lock (and any other held with it) and
-- exits 130 or 143 (the first signal's status).
local guarded = {}          -- states whose lock the handler releases
local previous_handler
local first_signal

local function on_interrupt(count, signal)
  first_signal = first_signal or signal
  if count >= 2 then
    io.stderr:write("wpo: interrupted again: exiting; a state lock may remain until its lease expires\n")
    os.exit(cli.signal_status(first_signal))
  end
  io.stderr:write("wpo: interrupted: releasing the state lock\n")
  task.spawn(function()
    for st in pairs(guarded) do
      if st.save_lock then st.save_lock:acquire() end
      st.backend:unlock()
    end
    io.stderr:write("wpo: interrupted; the state lock was released\n")
    os.exit(cli.signal_status(first_signal))
  end)
end

local function guard(st)
  if not next(guarded) then previous_handler = task.on_interrupt(on_interrupt) end
  guarded[st] = true
  st.on_close = st.on_close or {}
  table.insert(st.on_close, function()
    if guarded[st] then
      guarded[st] = nil
      if not next(guarded) then
        -- put the previous handler back, unless another (apply's, rollout's)
        -- was set over ours meanwhile: that one stays
        local current = task.on_interrupt(previous_handler)
        if current ~= on_interrupt then task.on_interrupt(current) end
      end
    end
  end)
end

-- workflow.open_state(stack, opts, operation, how) -> st
-- how: lock (false: read without locking), path, lineage, migrating, restoring
function M.open_state(stack, opts, operation, how)
  how = how or {}
  local path = opts.state and stackmod.absolute(opts.state) or how.path
  local st = state.open(stack, { path = path, operation = operation, lock = how.lock,
    command = "wpo " .. operation .. " " .. stackmod.display(stack.path), lineage = how.lineage,
    lock_timeout = M.duration(opts.lock_timeout), migrating = how.migrating, restoring = how.restoring,
    before_lock = function(st) if st.backend.remote_lock then guard(st) end end })
  return st
end

-- Whether the stack or its state involves AWS resource types.
function M.uses_aws(stack, st)
  for _, d in ipairs(stack.resources) do if d.type_name:match("^aws%.") then return true end end
  if st then
    for _, a in ipairs(st:addresses()) do if st:get(a).type:match("^aws%.") then return true end end
  end
  return false
end

function M.color()
  if cli.no_color then return false end
  local nc = os.getenv("NO_COLOR")
  return (nc == nil or nc == "") and os.getenv("TERM") ~= "dumb" and sys.isatty(1)
end

-- Ask on the terminal; refuse without one unless --yes.
function M.confirm(opts, question)
  if opts.yes then return true end
  if opts.json or not sys.isatty(0) then
    errors.raise { code = "NotConfirmed",
      message = "refusing to apply without confirmation: there is no terminal to ask on (pass --yes)" }
  end
  io.stdout:write(question, " Only 'yes' is accepted: ")
  io.stdout:flush()
  -- Wait on the event loop, so a state lock's heartbeat goes on and SIGINT
  -- is noticed while the question is open.
  if sys.readable then
    while not sys.readable(0, 200) do task.sleep(0) end
  end
  local answer = io.stdin:read("l")
  return answer == "yes"
end

-- Where the stack comes from against what is deployed: { from, to,
-- direction ("same", "forward", "rollback", "diverged", "unknown", "new"),
-- text = "prod: v1.3.0 (abc1234) → v1.4.0 (def5678)" } | nil outside git.
function M.source_change(stack, st)
  if not stack.provenance then return nil end
  local from, to = st.source, stack.provenance
  local direction = "new"
  if from and from.commit then
    direction = stack.source and stack.source.repo and git.compare(stack.source.repo, from.commit, to.commit)
      or "unknown"
  end
  return { from = from, to = to, direction = direction,
           text = stack.name .. ": " .. git.transition(from, to) }
end

-- The plan header: where the stack comes from, a rollback, a dirty tree.
function M.header(p)
  local sc = p.source
  if not sc then return "" end
  local lines = { sc.text }
  if sc.direction == "same" then
    lines[1] = lines[1] .. " (as deployed)"
  elseif sc.direction == "rollback" then
    lines[1] = lines[1] .. " (a rollback: the target is older than what is deployed)"
  elseif sc.direction == "diverged" then
    lines[1] = lines[1] .. " (diverged: neither contains the other)"
  end
  if sc.to.dirty then
    lines[#lines + 1] = "warning: the working tree has uncommitted changes; --ref REF rolls out a commit"
  end
  return table.concat(lines, "\n") .. "\n\n"
end

-- workflow.show_plan(p, opts, event): the plan on stdout, as the header and
-- the rendered plan, or with --json as one JSON document (`event` names it in
-- an event stream: "plan" for run and destroy).
function M.show_plan(p, opts, event)
  if opts.json then
    local doc = plan.json(p)
    doc.event = event
    if event then
      doc["@timestamp"], doc["@level"] = sys.timestamp(), "info"
    end
    doc.source = p.source and { from = p.source.from, to = p.source.to, direction = p.source.direction }
    io.stdout:write(json.encode(doc), "\n")
  else
    io.stdout:write(M.header(p), plan.render(p, { color = M.color() }))
  end
end

-- Refuse a rollback (the target commit is an ancestor of the deployed one)
-- unless --allow-rollback.
function M.check_rollback(stack, st, opts)
  if not stack.provenance or not st.source then return end
  local ok, err = git.check_rollback(stack.source, st.source,
    { allow = opts.allow_rollback, stack = stack.name })
  if not ok then error(err, 0) end
end

-- Refresh progress for people: a line per resource read (up to 20 of them),
-- else a count at each quarter; then a blank line before the plan.
function M.refresh_progress(out)
  local marks = {}
  return function(address, id, done, total)
    if total <= 20 then
      out:write(address, ": read", id ~= nil and (" [id=" .. tostring(id) .. "]") or "", "\n")
    else
      local quarter = done * 4 // total
      if quarter > 0 and not marks[quarter] then
        marks[quarter] = true
        out:write(string.format("Read %d of %d resources\n", done, total))
      end
    end
    if done == total then out:write("\n") end
    out:flush()
  end
end

-- plan + render, shared by plan, run and destroy. Returns the plan; p.source
-- is M.source_change.
function M.make_plan(stack, st, opts, destroy)
  local drift = {}
  -- what the refresh reads, the apply of this run takes instead of reading again
  require("wpo.aws.readcache").start(st)
  if opts.refresh ~= false and st.exists then
    drift = plan.refresh(stack, st, { parallelism = opts.parallelism,
      progress = not opts.json and M.refresh_progress(io.stdout) or nil })
  end
  local p = plan.make(stack, st, { targets = opts.target, destroy = destroy, drift = drift })
  if opts.target and #opts.target > 0 then
    io.stderr:write("wpo: warning: --target plans only part of the stack (", table.concat(opts.target, ", "),
      " and what it needs); the rest may no longer match its script\n")
  end
  p.source = M.source_change(stack, st)
  return p
end

-- After an apply: the rollout history gets an entry (provenance, operation,
-- result, counts); a successful one records what is now deployed (nothing,
-- after a destroy). Saves the state.
function M.record_rollout(p, stack, st, result)
  if not st.exists and not plan.has_changes(p) then return nil end
  local prov = stack.provenance or {}
  local entry = {
    time = os.time(), user = prov.user or sys.user(),
    operation = p.destroy and "destroy" or "apply",
    result = result.ok and "ok" or (result.interrupted and "interrupted" or "failed"),
    added = result.counts and result.counts.added or 0, changed = result.counts and result.counts.changed or 0,
    destroyed = result.counts and result.counts.destroyed or 0,
    repo = prov.repo, ref = prov.ref, commit = prov.commit, short = prov.short, dirty = prov.dirty,
    path = prov.path,
  }
  st:record_rollout(entry)
  if result.ok then
    if p.destroy then st.source = nil
    elseif stack.provenance then st.source = stack.provenance end
  end
  st:save()
  return entry
end

-- Run a confirmed plan and report; the exit status: 0, 1 (something
-- failed), 130 or 143 (interrupted by SIGINT or SIGTERM; the state saved).
-- After an apply, and in `wpo show STACK`: the stack's outputs, as `wpo
-- output` shows them (secrets as "(sensitive)").
function M.print_outputs(st)
  local names = textlib.sorted_keys(st.outputs or {})
  if #names == 0 then return end
  io.stdout:write("\nOutputs:\n\n")
  for _, n in ipairs(names) do
    local o = st.outputs[n]
    io.stdout:write(n, " = ", value.show(o.value, o.sensitive), "\n")
  end
end

function M.apply(p, stack, st, opts)
  -- lazy: the apply engine loads only for run, apply and destroy (not for plan)
  local apply = require "wpo.apply"
  -- the lock may have been lost while the plan was read; a KMS data key is
  -- fetched before anything changes
  if st.check_lock then st:check_lock() end
  if st.keyring then st.keyring:prepare() end
  local result = apply.run(p, stack, st, { parallelism = opts.parallelism, interrupt = true,
    reporter = apply.reporter(opts.json and "json" or "human") })
  M.record_rollout(p, stack, st, result)
  if result.ok and not opts.json and not p.destroy then M.print_outputs(st) end
  if result.ok then return 0 end
  if result.interrupted then return cli.signal_status(result.signal) end
  return 1
end

-- ---- saved plans ----
--
-- A plan file holds what the plan was made from — every source file read
-- (keyed by absolute path), the variables, the stack's root, the state's
-- location (absolute) — and the state as refreshed, with its lineage and
-- serial. Every path in it is absolute, so it applies from any directory.
-- Whether it still holds is judged on content, never on paths: its digest
-- (of the sources by their path under the root, the variables, targets,
-- mode, and the state's lineage and serial) must match what it holds; the
-- state must still be at that lineage and serial; and its stack, evaluated
-- again from the saved sources, must give the same changes (file:line
-- aside: those are shown relative to the directory wpo runs in).

M.PLAN_FILE_VERSION = 3

-- The digest of what a plan document was made from (hex sha256).
function M.plan_digest(doc)
  local root = type(doc.root) == "string" and doc.root or nil
  local function rel(path)
    path = tostring(path)
    if root and path:sub(1, #root + 1) == root .. "/" then return path:sub(#root + 2) end
    return path
  end
  local function sorted(t)
    local keys = {}
    for k in pairs(t or {}) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    return keys
  end
  local parts = { "wpo plan " .. tostring(M.PLAN_FILE_VERSION), "stack " .. tostring(doc.stack),
    "script " .. rel(doc.stack_path), "destroy " .. tostring(doc.destroy == true),
    "state " .. tostring(doc.lineage) .. " " .. tostring(doc.serial) }
  for _, path in ipairs(sorted(doc.sources)) do
    local src = tostring(doc.sources[path])
    parts[#parts + 1] = string.format("source %s %d %s", rel(path), #src, src)
  end
  for _, k in ipairs(sorted(doc.cli_vars)) do
    local v = tostring(doc.cli_vars[k])
    parts[#parts + 1] = string.format("var %s %d %s", tostring(k), #v, v)
  end
  for _, k in ipairs(sorted(doc.env_vars)) do
    local v = tostring(doc.env_vars[k])
    parts[#parts + 1] = string.format("env_var %s %d %s", tostring(k), #v, v)
  end
  for _, k in ipairs(sorted(doc.limits)) do parts[#parts + 1] = "limit " .. tostring(k) .. " " .. tostring(doc.limits[k]) end
  for _, f in ipairs(doc.var_files or {}) do parts[#parts + 1] = "var_file " .. rel(f) end
  for _, t in ipairs(doc.targets or {}) do parts[#parts + 1] = "target " .. tostring(t) end
  return crypto.hex(crypto.sha256(table.concat(parts, "\0")))
end

-- The changes of a plan as compared for staleness: without file:line, which
-- depends on the directory wpo runs in.
function M.plan_changes(changes)
  local out = {}
  for i, c in ipairs(changes or {}) do
    local copy = {}
    for k, v in pairs(c) do if k ~= "where" then copy[k] = v end end
    out[i] = copy
  end
  return out
end

-- (stack.load makes the script's path, its root, its sources' and variables
-- files' paths absolute; --state is made absolute here.)
function M.save_plan(path, p, stack, st, opts, destroy)
  local records = {}
  for _, a in ipairs(st:addresses()) do records[a] = st:get(a) end
  local doc = {
    wpo_plan = M.PLAN_FILE_VERSION, stack = stack.name, stack_path = stack.path, cli_vars = stack.cli_vars,
    var_files = stack.var_files, sources = stack.sources, targets = opts.target, destroy = destroy or false,
    root = stack.root, provenance = stack.provenance, env_vars = stack.env_vars, limits = stack.limits,
    state_path = opts.state and stackmod.absolute(opts.state) or nil,
    lineage = st.lineage, serial = st.serial, refreshed = records, outputs = st.outputs,
    changes = plan.json(p).resource_changes,
  }
  doc.digest = M.plan_digest(doc)
  local text, err = cjson.encode(doc)
  if not text then errors.raise { code = "PlanError", message = "cannot encode the plan: " .. tostring(err) } end
  -- a plan holds the refreshed state: encrypted as the state is
  if st.keyring and st.keyring:write_scheme() then text = st.keyring:seal(text) end
  fs.remove_stale_temps(path)        -- what a plan killed while saving here left (it holds the state)
  local ok, werr = fs.write_atomic(path, text, "0600")
  if not ok then errors.raise { code = "PlanError", message = "cannot save the plan: " .. werr } end
end

-- workflow.memory_state(records, { outputs, lineage, serial }) -> a state
-- held in memory (nothing read or written): what validate plans against
-- (empty) and what show plans a saved plan against (its refreshed records).
function M.memory_state(records, fields)
  fields = fields or {}
  local st = { resources = records or {}, outputs = fields.outputs or {}, generations = {},
    lineage = fields.lineage, serial = fields.serial or 0, exists = next(records or {}) ~= nil }
  function st:get(address) return self.resources[address] end
  function st:addresses()
    local list = {}
    for a in pairs(self.resources) do list[#list + 1] = a end
    table.sort(list)
    return list
  end
  return st
end

-- workflow.stack_of_plan(doc) -> the stack a saved plan was made from, from
-- the sources, variables and limits saved in it (never the files on disk)
function M.stack_of_plan(doc)
  local stack = stackmod.load(doc.stack_path, {
    vars = doc.cli_vars, var_files = doc.var_files, root = doc.root, limits = doc.limits,
    -- the WPO_VAR_ values the plan was made with, not today's environment
    environ = function(name) return (doc.env_vars or {})[name:match("^WPO_VAR_(.*)$")] end,
    reader = function(path)
      local src = doc.sources[path]
      if src then return src end
      return nil, path .. " is not among the sources saved in the plan", "ENOENT"
    end,
  })
  stack.provenance = doc.provenance   -- where the planned stack came from (git)
  return stack
end

-- The refreshed records a saved plan holds, each with its lists in place
function M.plan_records(doc)
  local records = doc.refreshed or {}
  for _, r in pairs(records) do
    r.inputs, r.outputs, r.deps = r.inputs or {}, r.outputs or {}, r.deps or {}
  end
  return records
end

function M.load_plan(path)
  local text, err = fs.read(path)
  if not text then errors.raise { code = "PlanError", message = "cannot read the plan: " .. err } end
  if crypt.is_encrypted(text) then
    local header = cjson.decode(text)
    local stack_name = type(header) == "table" and type(header.stack) == "string" and header.stack or "?"
    text = crypt.keyring({}, { name = stack_name }):open(text, "the plan " .. path)
  end
  local doc = cjson.decode(text)
  if type(doc) ~= "table" or doc.wpo_plan ~= M.PLAN_FILE_VERSION or type(doc.sources) ~= "table"
      or type(doc.stack_path) ~= "string" then
    errors.raise { code = "PlanError", message = path .. " is not a wpo plan file (or is from another wpo version)" }
  end
  doc = value.normalize_numbers(doc)
  if doc.digest ~= M.plan_digest(doc) then
    errors.raise { code = "PlanError", message = path .. " does not hold what it was saved with (its digest "
      .. "differs): it was modified or damaged; make a new plan" }
  end
  return doc
end

return M
