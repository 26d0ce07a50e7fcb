-- wpo rollout REF PATH...: roll a fleet of stacks to one git ref, in waves.
--
-- Every stack (a file, or each *.lua directly inside a directory, as they
-- are at REF; git+ URLs too) is planned at REF first; --dry-run stops there
-- with one line per stack. Then, after one confirmation: the canary, then
-- growing waves, at most --max-parallel stacks at once, each with its own
-- state and lock; the first failure stops new stacks and later waves
-- (--keep-going runs what it can). Progress goes to stderr as it happens,
-- the final table to stdout. The rollout record (.wpo/rollout.json in the
-- current directory) lets 'wpo rollout --resume' finish what is not done.
--
-- Executors: "local" runs the stacks in this process (concurrently, on the
-- event loop). "ecs" (one ECS task per stack) is not available yet.
local cjson = require "cjson.safe"
local errors = require "wpo.errors"
local fs = require "wpo.core.fs"
local rollout = require "wpo.rollout"
local source = require "wpo.source"
local workflow = require "wpo.workflow"

local M = {
  summary = "roll a fleet of stacks to a git ref in waves (canary first), resumable",
  args = { "[REF]", "PATH..." },
  options = {
    canary = { type = "integer", default = 1, min = 0, metavar = "N", help = "stacks in the first wave, alone" },
    waves = { type = "string", default = "10%,50%,100%", metavar = "LIST",
              help = "then waves up to these cumulative shares (or counts) of the fleet" },
    max_parallel = { type = "integer", default = 4, min = 1, metavar = "N", help = "stacks applied at once" },
    keep_going = { type = "boolean", help = "go on past a failed stack (default: stop starting new ones)" },
    resume = { type = "boolean", help = "finish the rollout recorded in this directory (no REF or PATH)" },
    dry_run = { type = "boolean", help = "plan every stack, print one line each, change nothing" },
    executor = { type = "string", default = "local", choices = { "local", "ecs" },
                 help = "where stacks run: local (this process)" },
    record = { type = "string", default = ".wpo/rollout.json", metavar = "FILE",
               help = "the rollout record (what --resume reads)" },
    allow_rollback = workflow.ROLLBACK_OPTIONS.allow_rollback,
    offline = workflow.STACK_OPTIONS.offline,
    parallelism = workflow.PLAN_OPTIONS.parallelism,
    yes = { type = "boolean", help = "apply without asking" },
  },
  help = "Example: wpo rollout v1.4.0 stacks/customers/ --canary 1 --waves 10%,50%,100% --max-parallel 8",
}

local function raise(code, fmt, ...)
  errors.raise { code = code, message = string.format(fmt, ...) }
end

-- A reporter that keeps nothing: the rollout prints its own lines.
local silent = setmetatable({}, { __index = function() return function() end end })

-- The local executor: each stack loaded at its ref, planned with its state
-- locked, applied with the plan, its rollout recorded in its state.
function M.local_executor(o)
  local apply = require "wpo.apply"
  local ex = {}
  function ex.plan(target)
    local stack = workflow.load({ ref = target.ref, offline = o.offline }, target.path)
    local st = workflow.open_state(stack, {}, "rollout")
    local ok, p = pcall(function()
      workflow.check_rollback(stack, st, { allow_rollback = o.allow_rollback })
      return workflow.make_plan(stack, st, { parallelism = o.parallelism }, false)
    end)
    if not ok then
      st:close()
      return { ok = false, err = p }
    end
    return { ok = true, counts = p.summary, from = st.source, to = stack.provenance,
             planned = { stack = stack, st = st, plan = p } }
  end
  function ex.apply(_, p)
    local result = apply.run(p.plan, p.stack, p.st, { parallelism = o.parallelism, reporter = silent })
    workflow.record_rollout(p.plan, p.stack, p.st, result)
    p.st:close()
    local counts = { add = result.counts.added, change = result.counts.changed, destroy = result.counts.destroyed }
    if result.ok then return { ok = true, counts = counts, to = p.stack.provenance } end
    local f = result.failures[1]
    local err = f and errors.new { code = errors.is(f.err) and f.err.code or nil, where = f.where,
      address = f.address, message = errors.is(f.err) and f.err.message or tostring(f.err) }
      or (result.interrupted and "interrupted" or "failed")
    return { ok = false, err = err, counts = counts }
  end
  function ex.release(planned)
    if planned and planned.st then planned.st:close() end
  end
  return ex
end

local function save_record(path, record)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then fs.mkdir_p(dir, "0700") end
  local text, err = cjson.encode(record)
  if not text then raise("RolloutError", "cannot encode the rollout record: %s", tostring(err)) end
  local ok, werr = fs.write_atomic(path, text, "0600")
  if not ok then raise("RolloutError", "cannot write the rollout record %s: %s", path, werr) end
end

local function load_record(path)
  local text, err, code = fs.read(path)
  if not text then
    if code == "ENOENT" then raise("NothingToResume", "no rollout to resume: %s does not exist", path) end
    raise("RolloutError", "cannot read the rollout record %s: %s", path, err)
  end
  local record = cjson.decode(text)
  if type(record) ~= "table" or type(record.stacks) ~= "table" or type(record.ref) ~= "string" then
    raise("RolloutError", "%s is not a wpo rollout record", path)
  end
  return record
end

function M.run(opts, args)
  if opts.executor == "ecs" then
    raise("NotAvailable", "--executor ecs is not available yet (it needs ECS RunTask/DescribeTasks in wpo.aws "
      .. "and in fakeaws); use --executor local")
  end
  local record
  if opts.resume then
    if #args > 0 then workflow.usage("--resume takes no REF or PATH: it continues the recorded rollout") end
    record = load_record(opts.record)
    local left = 0
    for _, s in ipairs(record.stacks) do if s.status ~= "done" then left = left + 1 end end
    if left == 0 then
      io.stdout:write(string.format("Nothing to resume: every stack of the rollout to %s is done.\n", record.ref))
      return 0
    end
  elseif #args < 2 then
    workflow.usage(#args == 0 and "missing argument REF (or --resume)" or "missing argument PATH (stacks to roll out)")
  end

  -- One rollout at a time per record.
  local sys = require "wpo.core.sys"
  local dir = opts.record:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then fs.mkdir_p(dir, "0700") end
  local lock, lerr = fs.lock(opts.record:gsub("%.json$", "") .. ".lock", { pid = sys.pid(),
    host = sys.hostname(), user = sys.user(), command = "wpo rollout", since = os.date("!%Y-%m-%dT%H:%M:%SZ") })
  if not lock then raise("RolloutLocked", "%s: %s", opts.record, tostring(lerr)) end
  local _ <close> = lock

  local ref = record and record.ref or args[1]
  local stacks = {}
  if not record then
    local seen = {}
    for i = 2, #args do
      local list, err = source.expand(args[i], { ref = ref, offline = opts.offline })
      if not list then error(err, 0) end
      for _, s in ipairs(list) do
        if not seen[s] then seen[s] = true; stacks[#stacks + 1] = s end
      end
    end
    if #stacks == 0 then raise("NoStacks", "no stack scripts (*.lua) in %s at %s", table.concat(args, " ", 2), ref) end
  end

  local options = record and record.options or {}
  local o = {
    offline = opts.offline or options.offline or false,
    allow_rollback = opts.allow_rollback or options.allow_rollback or false,
    parallelism = opts.parallelism,
  }
  local report, exit = rollout.run {
    ref = ref, stacks = not record and stacks or nil, resume = record,
    executor = M.local_executor(o), canary = opts.canary, waves = opts.waves,
    max_parallel = record and nil or opts.max_parallel, keep_going = opts.keep_going or nil,
    dry_run = opts.dry_run, interrupt = true,
    log = opts.dry_run and function(line) io.stdout:write(line, "\n") end or nil,
    record = function(r)
      if opts.dry_run then return end
      r.options = { offline = o.offline, allow_rollback = o.allow_rollback }
      save_record(opts.record, r)
    end,
    confirm = function(r)
      return workflow.confirm(opts, string.format("\nRoll out %d stack(s) to %s?", #r.stacks, ref))
    end,
  }
  if not report then error(exit, 0) end
  if not opts.dry_run then io.stdout:write(rollout.render(report)) end
  return exit
end

return M
