-- wpo.rollout.ecs: the ecs executor of wpo.rollout: one ECS task per stack,
-- for fleets beyond one machine.
--
--   local ecs = require "wpo.rollout.ecs"
--   local ex = ecs.new { cluster = "fleet", task_definition = "wpo", ... }   -- options below
--   ex:prepare()        -- the cluster; the task definition: the container, its logs, the network mode
--   rollout.run { executor = ex, ... }
--
-- What a stack goes through:
--   plan     here, as the task will see it: the stack is read from the git URL
--            the task fetches (a local path becomes <repo_url>//<path in the
--            repository>, repo_url being the repository's "origin" remote unless
--            given), at the ref, and planned against its state. A stack whose
--            state is local is refused: the state would be lost with the
--            container. The state lock is taken to plan and released at once
--            (the task takes it again).
--   apply    RunTask of the task definition on the cluster, the container's
--            command overridden with `wpo run --ref REF URL --yes`, then
--            DescribeTasks until the task has stopped (every poll_interval, on
--            the event loop; one DescribeTasks serves every task being waited
--            for). The result is the container's exit code; a task that never
--            ran wpo fails with its stoppedReason. For a failure, the last
--            log_lines lines of the container's log stream (its awslogs
--            configuration: awslogs-group, awslogs-stream-prefix/<container>/<task
--            id>; GetLogEvents) are the result's details. No result after
--            task_timeout: the task is stopped (StopTask) and the stack fails.
--   resume   the task started for a stack is kept in the rollout record
--            (target.memo): when the rollout is resumed, a task still running
--            is waited for rather than started again, and a task that ended
--            well after wpo stopped watching counts as done.
-- RunTask has no idempotency token: every start carries its own startedBy
-- (wpo-<8 hex>), made once per attempt, so an answer lost on the way back
-- (or a crash in between) is found again with ListTasks instead of
-- starting a second task.
--
-- Options (unknown keys are errors):
--   cluster, task_definition   required (names or ARNs)
--   container        the container running wpo (default: the only one, or the
--                    only essential one)
--   launch_type      "FARGATE" | "EC2" | "EXTERNAL" (default: the cluster's
--                    capacity provider strategy)
--   subnets, security_groups, assign_public_ip   the awsvpc network
--                    configuration (subnets are required for network mode awsvpc)
--   region           (default: the cluster ARN's, then AWS_REGION...)
--   repo_url         where tasks fetch the stacks from (default: origin)
--   poll_interval    seconds between DescribeTasks (default 6)
--   task_timeout     seconds a task may take (default 7200)
--   log_lines        log lines shown for a failed stack (default 30)
--   offline, allow_rollback, parallelism   as for the local executor (the
--                    task gets --allow-rollback and --parallelism N)
--   log              fn(line): progress (tasks started, adopted, stopped)
--   client           extra wpo.aws.client options (tests: endpoint, credentials)
local aws = require "wpo.aws"
local core_git = require "wpo.core.git"
local errors = require "wpo.errors"
local task = require "wpo.task"
local text = require "wpo.text"
local workflow = require "wpo.workflow"

local M = {}

M.OPTIONS = {
  cluster = "string", task_definition = "string", container = "string", launch_type = "string",
  subnets = "table", security_groups = "table", assign_public_ip = "boolean", region = "string",
  repo_url = "string", poll_interval = "number", task_timeout = "number", log_lines = "number",
  offline = "boolean", allow_rollback = "boolean", parallelism = "number", log = "function", client = "table",
}
M.LAUNCH_TYPES = { "FARGATE", "EC2", "EXTERNAL" }
M.DEFAULTS = { poll_interval = 6, task_timeout = 7200, log_lines = 30 }
M.DEFAULT_PARALLELISM = 16

local function fail(code, fmt, ...)
  return errors.new { code = code, message = string.format(fmt, ...) }
end

local function raise(code, fmt, ...)
  error(fail(code, fmt, ...), 0)
end

local function short_id(arn)
  return (tostring(arn):match("([^/]+)$") or tostring(arn))
end

local function message_of(err)
  if errors.is(err) then
    return ((err.code and err.code ~= "error") and (err.code .. ": ") or "") .. tostring(err.message)
  end
  return tostring(err)
end

-- ecs.parse_duration("90", "30s", "500ms", "10m", "2h") -> seconds | nil
function M.parse_duration(s)
  if type(s) == "number" then return s > 0 and s or nil end
  if type(s) ~= "string" then return nil end
  local n, unit = s:match("^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  n = tonumber(n)
  local scale = ({ [""] = 1, s = 1, ms = 0.001, m = 60, h = 3600 })[unit]
  if not n or not scale or n <= 0 then return nil end
  return n * scale
end

-- ---- where a task reads a stack from ----

-- ecs.git_url(remote) -> "git+<url>" for a git remote URL (https, ssh, file,
-- scp-like user@host:path, an absolute path) | nil, err
function M.git_url(remote)
  if remote:match("^[%a][%w+.-]*://") then
    if remote:match("^[%a][%w+.-]*://[^/@]*:[^/@]*@") then
      return nil, "it carries a password"
    end
    return "git+" .. remote
  end
  local user_host, path = remote:match("^([^/:]+@[^/:]+):(.+)$")
  if not user_host then user_host, path = remote:match("^([%w.-]+):(.+)$") end
  if user_host and not path:match("^//") then
    return "git+ssh://" .. user_host .. "/" .. path:gsub("^/", "")
  end
  if remote:sub(1, 1) == "/" then return "git+file://" .. remote end
  return nil, "wpo cannot tell where '" .. remote .. "' is from a task"
end

-- The git+ URL a task runs for a stack argument (a local path or a git+ URL).
local function task_source(o, arg)
  -- lazy: the stack's source (git) is read only to build a rollout from it
  local source = require "wpo.source"
  local spec, err = source.parse(arg)
  if not spec then return nil, err end
  if spec.kind == "git" then
    if spec.token then
      return nil, fail("SecretInCommand", "%s: a token in the stack URL would be visible in the ECS task's "
        .. "command; give the task WPO_GIT_TOKEN from its task definition's secrets instead", spec.display)
    end
    return arg
  end
  -- the stack may exist only at the ref: its nearest existing directory
  -- finds the repository and the absolute path
  local probe, rest = arg, ""
  local abs = core_git.realpath(probe)
  while not abs do
    local parent, base = probe:match("^(.*)/([^/]+)$")
    if not parent then parent, base = ".", probe end
    if parent == "" then parent = "/" end
    probe, rest = parent, "/" .. base .. rest
    abs = core_git.realpath(probe)
    if not abs and (probe == "." or probe == "/") then break end
  end
  abs = abs and (abs .. rest)
  local repo, oerr, ocode = nil, nil, nil
  if abs then repo, oerr, ocode = core_git.open(probe) end
  if ocode == "unavailable" then return nil, fail("GitUnavailable", "%s: %s", arg, oerr) end
  if not repo then
    return nil, fail("NotInGit", "%s is not inside a git repository; an ECS task reads its stack from git", arg)
  end
  local workdir = repo:workdir()
  local remote, rerr = o.repo_url, nil
  if not remote then remote, rerr = repo:remote_url("origin") end
  repo:close()
  if not abs or not workdir or abs:sub(1, #workdir + 1) ~= workdir .. "/" then
    return nil, fail("StackNotFound", "no such stack script: %s", arg)
  end
  if not remote then
    return nil, fail("NoRepoURL", "%s: the ECS tasks fetch the stacks from git, and the repository %s has no "
      .. "'origin' remote (%s): give --repo-url", arg, workdir, tostring(rerr))
  end
  local base, why = M.git_url(remote)
  if not base or remote:find("***", 1, true) then
    return nil, fail("BadRepoURL", "%s: %s is not a URL an ECS task can fetch (%s): give --repo-url",
      arg, core_git.redact(remote), why or "it carries a password")
  end
  return base:gsub("/+$", "") .. "//" .. abs:sub(#workdir + 2)
end
M.task_source = task_source

-- ---- one DescribeTasks for every task being waited for ----

local Poller = {}
Poller.__index = Poller

local function new_poller(client, cluster, interval)
  return setmetatable({ client = client, cluster = cluster, fresh = interval / 2, watched = {}, seen = {},
    -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
    sem = task.semaphore(1), now = function() return require("wpo.core.loop").now() / 1000 end }, Poller)
end

function Poller:watch(arn) self.watched[arn] = true end
function Poller:unwatch(arn) self.watched[arn], self.seen[arn] = nil, nil end

-- poller:get(arn) -> entry { task = <Task> | nil, missing = reason | nil }
-- A describe made less than interval/2 ago answers for every task it
-- covered; otherwise one DescribeTasks (100 tasks a call) covers them all.
function Poller:get(arn)
  self.watched[arn] = true
  local entry = self.seen[arn]
  if entry and self.now() - entry.at < self.fresh then return entry end
  local ok, cerr, code = self.sem:acquire()
  if not ok then return nil, cerr, code end
  local pok, perr = pcall(function()
    entry = self.seen[arn]
    if entry and self.now() - entry.at < self.fresh then return end
    local arns = text.sorted_keys(self.watched)
    for i = 1, #arns, 100 do
      local chunk = table.move(arns, i, math.min(i + 99, #arns), 1, {})
      local out = self.client:call("DescribeTasks", { cluster = self.cluster, tasks = chunk })
      local at = self.now()
      for _, t in ipairs(out.tasks or {}) do self.seen[t.taskArn] = { task = t, at = at } end
      for _, f in ipairs(out.failures or {}) do
        if f.arn then self.seen[f.arn] = { missing = f.reason or "MISSING", at = at } end
      end
    end
  end)
  self.sem:release()
  if not pok then error(perr, 0) end
  return self.seen[arn] or { missing = "not in the DescribeTasks answer", at = self.now() }
end

-- ---- the executor ----

local Executor = {}
Executor.__index = Executor

-- ecs.new(o) -> executor (see the header)
function M.new(o)
  o = o or {}
  for k, v in pairs(o) do
    if not M.OPTIONS[k] then
      error(string.format("rollout.ecs.new: unknown option '%s' (valid: %s)", tostring(k),
        table.concat(text.sorted_keys(M.OPTIONS), ", ")), 2)
    end
    if type(v) ~= M.OPTIONS[k] then
      error(string.format("rollout.ecs.new: option %s must be a %s", k, M.OPTIONS[k]), 2)
    end
  end
  for _, k in ipairs({ "cluster", "task_definition" }) do
    if not o[k] or o[k] == "" then error("rollout.ecs.new: option " .. k .. " is required", 2) end
  end
  local self = setmetatable({ name = "ecs", o = o, waiting = {}, detaching = false }, Executor)
  for k, v in pairs(M.DEFAULTS) do if self.o[k] == nil then self.o[k] = v end end
  self.region = o.region or o.cluster:match("^arn:[^:]+:ecs:([^:]+):")
  -- bind the methods wpo.rollout calls as plain functions
  self.plan = function(target) return self:plan_stack(target) end
  self.apply = function(target, planned) return self:apply_stack(target, planned) end
  self.interrupt = function(n) return self:on_interrupt(n) end
  return self
end

function Executor:client(service, extra)
  local opts = { region = service == "logs" and self.logs_region or self.region }
  for k, v in pairs(self.o.client or {}) do opts[k] = v end
  for k, v in pairs(extra or {}) do opts[k] = v end
  -- lazy: the AWS client, credentials and models load only when AWS is called (the offline plan starts fast)
  return require("wpo.aws").client(service, opts)
end

function Executor:ecs()
  if not self.ecs_client then self.ecs_client = self:client("ecs") end
  return self.ecs_client
end

-- executor:prepare(): the cluster (DescribeClusters), the task definition
-- (pinned to its revision), the container running wpo, its log
-- configuration, the network mode against the options. Raises a wpo.errors
-- error (code EcsExecutor) on a mismatch.
function Executor:prepare()
  if self.prepared then return self end
  local o = self.o
  local clusters = self:ecs():call("DescribeClusters", { clusters = { o.cluster } })
  local cluster = clusters.clusters and clusters.clusters[1]
  if not cluster or cluster.status ~= "ACTIVE" then
    local f = clusters.failures and clusters.failures[1]
    raise("EcsExecutor", "--cluster %s: no such active cluster in %s (%s)", o.cluster, self:ecs().region,
      cluster and cluster.status or (f and f.reason) or "not found")
  end
  local out = self:ecs():call("DescribeTaskDefinition", { taskDefinition = o.task_definition })
  local td = aws.required(out, "taskDefinition")
  local names, essential = {}, {}
  for _, c in ipairs(td.containerDefinitions or {}) do
    names[#names + 1] = c.name
    if c.essential ~= false then essential[#essential + 1] = c end
  end
  local container
  for _, c in ipairs(td.containerDefinitions or {}) do
    if c.name == o.container then container = c end
  end
  if o.container and not container then
    raise("EcsExecutor", "--container %s: the task definition %s has no such container (it has: %s)",
      o.container, td.taskDefinitionArn, table.concat(names, ", "))
  end
  if not container then
    if #names == 1 then container = td.containerDefinitions[1]
    elseif #essential == 1 then container = essential[1]
    else
      raise("EcsExecutor", "the task definition %s has %d containers (%s): name the one running wpo with --container",
        td.taskDefinitionArn, #names, table.concat(names, ", "))
    end
  end
  local awsvpc = td.networkMode == "awsvpc"
  if awsvpc and not (o.subnets and #o.subnets > 0) then
    raise("EcsExecutor", "the task definition %s uses network mode awsvpc: give the tasks' --subnets "
      .. "(and --security-groups)", td.taskDefinitionArn)
  end
  if not awsvpc and (o.subnets or o.security_groups or o.assign_public_ip) then
    raise("EcsExecutor", "--subnets, --security-groups and --assign-public-ip need a task definition with network "
      .. "mode awsvpc; %s uses %s", td.taskDefinitionArn, td.networkMode or "bridge")
  end
  if o.launch_type then
    local known = false
    for _, lt in ipairs(td.compatibilities or {}) do known = known or lt == o.launch_type end
    if not known then
      raise("EcsExecutor", "--launch-type %s: the task definition %s is compatible with %s only", o.launch_type,
        td.taskDefinitionArn, table.concat(td.compatibilities or {}, ", "))
    end
  end
  self.task_definition_arn = td.taskDefinitionArn
  self.container = container.name
  local lc = container.logConfiguration
  if lc and lc.logDriver == "awslogs" and lc.options and lc.options["awslogs-group"] then
    self.awslogs = { group = lc.options["awslogs-group"], prefix = lc.options["awslogs-stream-prefix"] }
    self.logs_region = lc.options["awslogs-region"] or self.region
  else
    self.no_logs = lc and ("its log driver is " .. tostring(lc.logDriver)) or "it has no log configuration"
  end
  self.poller = new_poller(self:ecs(), o.cluster, o.poll_interval)
  self.prepared = true
  return self
end

-- What the rollout record keeps to resume with the same task definition revision.
function Executor:settings()
  local out = {}
  for k, v in pairs(self.o) do
    if k ~= "log" and k ~= "client" then out[k] = v end
  end
  out.task_definition = self.task_definition_arn or self.o.task_definition
  return out
end

function Executor:log(fmt, ...)
  if self.o.log then self.o.log(string.format(fmt, ...)) end
end

-- The command the task's container runs.
function Executor:command(ref, url)
  local cmd = { "wpo", "run", "--ref", ref, url, "--yes" }
  if self.o.allow_rollback then cmd[#cmd + 1] = "--allow-rollback" end
  if self.o.parallelism and self.o.parallelism ~= M.DEFAULT_PARALLELISM then
    cmd[#cmd + 1] = "--parallelism"
    cmd[#cmd + 1] = tostring(math.tointeger(self.o.parallelism) or self.o.parallelism)
  end
  return cmd
end

-- plan: the stack as the task will read it; refused with local state.
function Executor:plan_stack(target)
  local url, uerr = task_source(self.o, target.path)
  if not url then return { ok = false, err = uerr } end
  local stack = workflow.load({ ref = target.ref, offline = self.o.offline }, url)
  local ok, result = pcall(function()
    local btype = stack.backend and stack.backend.type or "local"
    if btype == "local" then
      error(errors.new { code = "LocalState", where = stack.where, message = string.format(
        "stack %s keeps its state locally, which an ECS task would lose with its container: give it a remote "
        .. "backend (backend = { type = \"s3\", bucket = ..., key = ..., lock_table = ... }) or use --executor local",
        stack.name) }, 0)
    end
    local st = workflow.open_state(stack, {}, "rollout")
    local pok, p = pcall(function()
      workflow.check_rollback(stack, st, { allow_rollback = self.o.allow_rollback })
      return workflow.make_plan(stack, st, { parallelism = self.o.parallelism }, false)
    end)
    st:close()   -- the task takes the lock itself
    if not pok then error(p, 0) end
    return { ok = true, counts = p.summary, from = st.source, to = stack.provenance,
             planned = { url = url, stack = stack.name, counts = p.summary, to = stack.provenance } }
  end)
  if stack.source and stack.source.close then stack.source:close() end
  if not ok then return { ok = false, err = result } end
  return result
end

local function transient(err)
  return errors.is(err) and (err.retryable or err.code == "RequestError" or err.code == "InvalidResponse")
end

-- A task started with this startedBy, if ECS knows one (running or stopped).
function Executor:find_started(started_by)
  for _, desired in ipairs({ "RUNNING", "STOPPED" }) do
    for page in self:ecs():paginate("ListTasks", { cluster = self.o.cluster, startedBy = started_by,
      desiredStatus = desired }) do
      if page.taskArns and page.taskArns[1] then return page.taskArns[1] end
    end
  end
  return nil
end

local function tag_value(s)
  return (tostring(s):gsub("[^%w%s_.:/=+@-]", "_"):sub(1, 256))
end

-- RunTask, at most 3 attempts; an attempt whose answer was lost is looked
-- for (ListTasks by its startedBy) before the next. -> arn | nil, err
function Executor:start(target, planned)
  local o = self.o
  local once = self:client("ecs", { max_attempts = 1 })
  local params = {
    cluster = o.cluster, taskDefinition = self.task_definition_arn, count = 1, launchType = o.launch_type,
    overrides = { containerOverrides = { { name = self.container, command = self:command(target.ref, planned.url) } } },
    tags = { { key = "wpo:stack", value = tag_value(planned.stack) }, { key = "wpo:ref", value = tag_value(target.ref) } },
  }
  if o.subnets then
    params.networkConfiguration = { awsvpcConfiguration = { subnets = o.subnets, securityGroups = o.security_groups,
      assignPublicIp = o.assign_public_ip and "ENABLED" or "DISABLED" } }
  end
  local last
  for attempt = 1, 3 do
    -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
    local started_by = "wpo-" .. require("wpo.core.crypto").hex(require("wpo.core.crypto").random(4))
    target.memo.started_by, target.memo.task_arn = started_by, nil
    target.save()
    params.startedBy = started_by
    local out, err = once:pcall("RunTask", params)
    if out then
      local t = out.tasks and out.tasks[1]
      if t then return t.taskArn end
      local f = out.failures and out.failures[1] or {}
      return nil, fail("TaskNotStarted", "RunTask placed no task on cluster %s: %s%s", o.cluster,
        tostring(f.reason or "no reason given"), f.detail and (" (" .. f.detail .. ")") or "")
    end
    if not transient(err) then return nil, err end
    last = err
    local found = self:find_started(started_by)
    if found then
      self:log("  %s: RunTask's answer was lost (%s); its task %s was found by startedBy %s", target.path,
        message_of(err), short_id(found), started_by)
      return found
    end
    task.sleep(math.floor(1000 * math.min(2 ^ attempt * 0.25, 5)))
  end
  return nil, last
end

-- The last lines of the container's log stream for a task (details of a failure).
function Executor:log_tail(arn)
  if not self.awslogs then
    return { string.format("(no log lines: the container %s sends no logs to CloudWatch: %s)", self.container,
      self.no_logs) }
  end
  if not self.awslogs.prefix then
    return { string.format("(no log lines: without awslogs-stream-prefix the stream of task %s cannot be named; "
      .. "see log group %s)", short_id(arn), self.awslogs.group) }
  end
  local stream = string.format("%s/%s/%s", self.awslogs.prefix, self.container, short_id(arn))
  local logs = self:client("logs")
  local out, err = logs:pcall("GetLogEvents", { logGroupName = self.awslogs.group, logStreamName = stream,
    limit = math.tointeger(self.o.log_lines) or 30, startFromHead = false })
  if not out then
    return { string.format("(no log lines from %s %s: %s)", self.awslogs.group, stream, message_of(err)) }
  end
  local lines = { string.format("last lines of %s %s:", self.awslogs.group, stream) }
  for _, e in ipairs(out.events or {}) do
    for line in (tostring(e.message or "") .. "\n"):gmatch("([^\n]*)\n") do
      if #lines <= self.o.log_lines then lines[#lines + 1] = "| " .. line:gsub("%s+$", "") end
    end
  end
  if #lines == 1 then lines[1] = string.format("(the log stream %s %s is empty)", self.awslogs.group, stream) end
  return lines
end

-- executor:outcome(task description) -> result
function Executor:outcome(t, planned)
  local container
  for _, c in ipairs(t.containers or {}) do if c.name == self.container then container = c end end
  local code = container and container.exitCode
  local id = short_id(t.taskArn)
  if code == 0 then return { ok = true, counts = planned and planned.counts, to = planned and planned.to } end
  local err
  if code ~= nil then
    err = fail("TaskFailed", "wpo exited with code %d in task %s (%s)", code, id,
      t.stoppedReason or t.stopCode or "stopped")
  else
    local reason = t.stoppedReason or t.stopCode or "no reason given"
    if container and container.reason and container.reason ~= reason then reason = reason .. "; " .. container.reason end
    err = fail("TaskFailed", "task %s stopped before wpo ran: %s", id, reason)
  end
  return { ok = false, err = err, details = self:log_tail(t.taskArn) }
end

-- Wait for a task to stop -> its description | nil, err. A task just
-- started is first described a poll interval later (RunTask said what it is).
function Executor:wait(target, arn, just_started)
  local poller = self.poller
  poller:watch(arn)
  local me = task.current()
  if me then self.waiting[me] = arn end
  local function detached()
    return fail("Detached", "stopped waiting for task %s (it keeps running on cluster %s; "
      .. "wpo rollout --resume waits for it)", short_id(arn), self.o.cluster)
  end
  local ok, result = pcall(aws.wait, function()
    if task.cancelled() then error(detached(), 0) end
    if just_started then
      just_started = false
      return nil, "PROVISIONING"
    end
    local gok, entry = pcall(poller.get, poller, arn)
    if not gok then
      if transient(entry) then return nil, "DescribeTasks failed: " .. message_of(entry) end
      error(entry, 0)
    end
    if not entry then return nil, "waiting" end
    if entry.missing then
      error(fail("TaskMissing", "task %s is not known to ECS any more (DescribeTasks: %s)", short_id(arn),
        entry.missing), 0)
    end
    local status = entry.task.lastStatus
    return status == "STOPPED" and entry.task, status
  end, { what = string.format("task %s of %s to stop", short_id(arn), target.path),
         timeout = self.o.task_timeout, interval = self.o.poll_interval })
  if me then self.waiting[me] = nil end
  poller:unwatch(arn)
  if ok then return result end
  if me and task.cancelled() then return nil, detached() end   -- even if a call was cut short
  if errors.is(result) and result.code == "WaitTimeout" then
    local reason = string.format("wpo rollout: no result after %s (--task-timeout)", text.duration(self.o.task_timeout))
    local stopped, serr = self:ecs():pcall("StopTask", { cluster = self.o.cluster, task = arn, reason = reason })
    if stopped then serr = nil end
    return nil, fail("TaskTimeout", "task %s gave no result in %s (--task-timeout); %s", short_id(arn),
      text.duration(self.o.task_timeout), serr and ("StopTask failed: " .. message_of(serr)) or "it was stopped")
  end
  return nil, result
end

-- A task this rollout started for the stack earlier (memo), if it is still
-- worth waiting for: -> arn, description | nil
function Executor:earlier_task(target)
  local memo = target.memo
  local arn = memo.task_arn
  if not arn and memo.started_by then arn = self:find_started(memo.started_by) end
  if not arn then return nil end
  local out = self:ecs():call("DescribeTasks", { cluster = self.o.cluster, tasks = { arn } })
  local t = out.tasks and out.tasks[1]
  if not t then return nil end
  return arn, t
end

-- apply: start (or adopt) the stack's task and wait for its result.
function Executor:apply_stack(target, planned)
  if self.detaching then return { ok = false, err = fail("Interrupted", "interrupted before its task started") } end
  local arn, t = self:earlier_task(target)
  if t and t.lastStatus == "STOPPED" then
    local result = self:outcome(t, planned)
    if result.ok then
      self:log("  %s: its task %s (started before) ended well", target.path, short_id(arn))
      return result
    end
    arn = nil   -- it failed: start another
  elseif arn then
    self:log("  %s: waiting for its task %s, started before and still %s", target.path, short_id(arn),
      tostring(t.lastStatus))
  end
  local started = not arn
  if started then
    local err
    arn, err = self:start(target, planned)
    if not arn then return { ok = false, err = err } end
    target.memo.task_arn = arn
    target.save()
    self:log("  %s: task %s started on cluster %s", target.path, short_id(arn), self.o.cluster)
  end
  local stopped, werr = self:wait(target, arn, started)
  if not stopped then return { ok = false, err = werr } end
  return self:outcome(stopped, planned)
end

-- SIGINT while applying: the first starts no new stack (wpo.rollout); the
-- second stops waiting, leaving the tasks running for --resume.
function Executor:on_interrupt(n)
  if n == 1 then
    return "Interrupt: starting no new stack; waiting for the running tasks (interrupt again to stop waiting: "
      .. "they keep running, and wpo rollout --resume waits for them)"
  end
  self.detaching = true
  for t in pairs(self.waiting) do task.cancel(t) end
  return "Interrupt: no longer waiting; the running tasks keep running (wpo rollout --resume waits for them)"
end

return M
