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
-- Executors: "local" (wpo.rollout.local) runs the stacks in this process
-- (concurrently, on the event loop); "ecs" (wpo.rollout.ecs) runs one ECS
-- task per stack (wpo run --ref REF URL --yes in the given task definition's
-- container), for stacks whose state is remote. The executor and its
-- settings are kept in the record: --resume goes on with them (options
-- given again override them; --executor cannot change).
local cjson = require "cjson.safe"
local errors = require "wpo.errors"
local fs = require "wpo.core.fs"
local rollout = require "wpo.rollout"
local source = require "wpo.source"
local workflow = require "wpo.workflow"
local sys = require "wpo.core.sys"

-- The options only the ecs executor takes.
local ECS_OPTIONS = {
  cluster = { type = "string", metavar = "CLUSTER", help = "ecs: the cluster the tasks run on (name or ARN)" },
  task_definition = { type = "string", metavar = "TASKDEF",
                      help = "ecs: the task definition of the wpo image (family, family:revision or ARN)" },
  container = { type = "string", metavar = "NAME", help = "ecs: the container running wpo (default: the only one)" },
  launch_type = { type = "string", choices = { "FARGATE", "EC2", "EXTERNAL" }, metavar = "TYPE",
                  help = "ecs: FARGATE, EC2 or EXTERNAL (default: the cluster's capacity providers)" },
  subnets = { type = "string", metavar = "LIST", help = "ecs: the tasks' subnets, comma-separated (network mode awsvpc)" },
  security_groups = { type = "string", metavar = "LIST", help = "ecs: the tasks' security groups, comma-separated" },
  assign_public_ip = { type = "boolean", help = "ecs: give the tasks a public IP (awsvpc)" },
  region = { type = "string", metavar = "REGION", help = "ecs: the cluster's region (default: its ARN's, AWS_REGION...)" },
  repo_url = { type = "string", metavar = "URL",
               help = "ecs: where the tasks fetch the stacks (default: the repository's origin remote)" },
  poll_interval = { type = "string", metavar = "DURATION", help = "ecs: time between DescribeTasks polls (default 6s)" },
  task_timeout = { type = "string", metavar = "DURATION", help = "ecs: how long a task may run (default 2h)" },
  log_lines = { type = "integer", min = 1, metavar = "N", help = "ecs: log lines shown for a failed stack (default 30)" },
}

local M = {
  summary = "roll a fleet of stacks to a git ref in waves (canary first), resumable",
  args = { "[REF]", "PATH..." },
  options = workflow.options({
    canary = { type = "integer", default = 1, min = 0, metavar = "N", help = "stacks in the first wave, alone" },
    waves = { type = "string", default = "10%,50%,100%", metavar = "LIST",
              help = "then waves up to these cumulative shares (or counts) of the fleet" },
    max_parallel = { type = "integer", min = 1, metavar = "N",
                     help = "stacks applied at once (default 4; --resume: as recorded)" },
    keep_going = { type = "boolean", help = "go on past a failed stack (default: stop starting new ones)" },
    resume = { type = "boolean", help = "finish the rollout recorded in this directory (no REF or PATH)" },
    dry_run = { type = "boolean", help = "plan every stack, print one line each, change nothing" },
    executor = { type = "string", choices = { "local", "ecs" }, metavar = "local|ecs",
                 help = "where stacks run: local (this process; the default) or ecs (one ECS task per stack)" },
    record = { type = "string", default = ".wpo/rollout.json", metavar = "FILE",
               help = "the rollout record (what --resume reads)" },
    allow_rollback = workflow.ROLLBACK_OPTIONS.allow_rollback,
    offline = workflow.STACK_OPTIONS.offline,
    parallelism = workflow.PLAN_OPTIONS.parallelism,
    yes = { type = "boolean", help = "apply without asking" },
  }, ECS_OPTIONS),
  help = "Examples:\n"
    .. "  wpo rollout v1.4.0 stacks/customers/ --canary 1 --waves 10%,50%,100% --max-parallel 8\n"
    .. "  wpo rollout v1.4.0 stacks/customers/ --executor ecs --cluster fleet --task-definition wpo \\\n"
    .. "      --subnets subnet-0a1b,subnet-2c3d --security-groups sg-0e4f --max-parallel 50",
}

local function raise(code, fmt, ...)
  errors.raise { code = code, message = string.format(fmt, ...) }
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

local function split_list(name, value)
  if value == nil then return nil end
  local out = {}
  for item in value:gmatch("[^,%s]+") do out[#out + 1] = item end
  if #out == 0 then workflow.usage("--%s takes a comma-separated list, not '%s'", name:gsub("_", "-"), value) end
  return out
end

-- The ecs executor's settings: those recorded (resuming), then those given.
local function ecs_settings(opts, recorded)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local ecs = require "wpo.rollout.ecs"
  local o = {}
  for k, v in pairs(recorded or {}) do
    if ecs.OPTIONS[k] and ECS_OPTIONS[k] then o[k] = v end
  end
  for k in pairs(ECS_OPTIONS) do
    if opts[k] ~= nil then o[k] = opts[k] end
  end
  if opts.subnets then o.subnets = split_list("subnets", opts.subnets) end
  if opts.security_groups then o.security_groups = split_list("security_groups", opts.security_groups) end
  for _, k in ipairs({ "poll_interval", "task_timeout" }) do
    if type(o[k]) == "string" then
      local seconds = ecs.parse_duration(o[k])
      if not seconds then
        workflow.usage("--%s takes a duration such as 30s, 500ms, 10m or 2h, not '%s'", k:gsub("_", "-"), o[k])
      end
      o[k] = seconds
    end
  end
  local missing = {}
  for _, k in ipairs({ "cluster", "task_definition" }) do
    if not o[k] then missing[#missing + 1] = "--" .. k:gsub("_", "-") end
  end
  if #missing > 0 then workflow.usage("--executor ecs needs %s", table.concat(missing, " and ")) end
  return o
end

function M.run(opts, args)
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
  local recorded = record and record.options and record.options.executor or (record and "local")
  if recorded and opts.executor and opts.executor ~= recorded then
    workflow.usage("--resume goes on with the recorded executor (%s), not --executor %s", recorded, opts.executor)
  end
  local executor_name = recorded or opts.executor or "local"
  if executor_name ~= "ecs" then
    local given = {}
    for k in pairs(ECS_OPTIONS) do if opts[k] ~= nil then given[#given + 1] = "--" .. k:gsub("_", "-") end end
    table.sort(given)
    if #given > 0 then workflow.usage("%s: only for --executor ecs", table.concat(given, ", ")) end
  end

  -- One rollout at a time per record.
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
  local log = opts.dry_run and function(line) io.stdout:write(line, "\n") end
    or function(line) io.stderr:write(line, "\n") end
  local executor, settings
  if executor_name == "ecs" then
    local ecs_opts = ecs_settings(opts, options.ecs)
    for k, v in pairs(o) do ecs_opts[k] = v end
    ecs_opts.log = log
    -- lazy: `wpo help` loads every command module; the engine loads when the command runs
    executor = require("wpo.rollout.ecs").new(ecs_opts)
    executor:prepare()
    settings = executor:settings()
    for k in pairs(o) do settings[k] = nil end
  else
    -- lazy: `wpo help` loads every command module; the engine loads when the command runs
    executor = require("wpo.rollout.local").new(o)
  end
  local report, exit = rollout.run {
    ref = ref, stacks = not record and stacks or nil, resume = record,
    executor = executor, canary = opts.canary, waves = opts.waves,
    max_parallel = opts.max_parallel, keep_going = opts.keep_going or nil,
    dry_run = opts.dry_run, interrupt = true, log = log,
    record = function(r)
      if opts.dry_run then return end
      r.options = { offline = o.offline, allow_rollback = o.allow_rollback, executor = executor_name, ecs = settings }
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
