-- wpo.rollout.ecs: the ecs executor against fakeaws, in this process: where
-- a task reads its stack, the task definition checks, RunTask/DescribeTasks
-- until the container's exit code, start failures, timeouts (StopTask), a
-- lost RunTask answer found again, tasks adopted on resume, one
-- DescribeTasks for many tasks.
local core = require "wpo.core.git"
local ecs = require "wpo.rollout.ecs"
local fakeaws = require "fakeaws"
local gr = require "gitrepo"
local h = require "helpers"
local task = require "wpo.task"

local CREDS = { access_key = "test", secret_key = "test" }

describe("wpo.rollout.ecs", function()
  it("parses durations", function()
    assert.are.equal(6, ecs.parse_duration("6"))
    assert.are.equal(30, ecs.parse_duration("30s"))
    assert.are.equal(0.5, ecs.parse_duration("500ms"))
    assert.are.equal(600, ecs.parse_duration("10m"))
    assert.are.equal(7200, ecs.parse_duration("2h"))
    for _, bad in ipairs({ "", "0", "soon", "5d", "-1s" }) do assert.is_nil(ecs.parse_duration(bad), bad) end
  end)

  it("turns a repository's remote into the git URL a task fetches", function()
    assert.are.equal("git+https://git.example.com/org/infra.git", ecs.git_url("https://git.example.com/org/infra.git"))
    assert.are.equal("git+ssh://git@github.com/org/infra.git", ecs.git_url("git@github.com:org/infra.git"))
    assert.are.equal("git+ssh://git@host:2222/infra.git", ecs.git_url("ssh://git@host:2222/infra.git"):gsub("^git%+", "git+"))
    assert.are.equal("git+file:///srv/git/infra.git", ecs.git_url("/srv/git/infra.git"))
    local none, why = ecs.git_url("https://me:secret@git.example.com/infra.git")
    assert.is_nil(none)
    assert.matches("password", why)
    assert.is_nil(ecs.git_url("../infra.git"))
  end)

  describe("a stack's task source", function()
    local dir
    setup(function()
      dir = h.tmpdir()
      gr.git(dir, "init -q -b main work && git init -q --bare origin.git")
      gr.write(dir .. "/work", "stacks/customers/acme.lua", "return nil\n")
      gr.git(dir .. "/work", "add -A && git commit -q -m c && git remote add origin " .. h.quote(dir .. "/origin.git"))
    end)
    teardown(function() h.rmrf(dir) end)

    it("is the stack's path in the origin remote, or in --repo-url", function()
      local real = core.realpath(dir)
      local path = dir .. "/work/stacks/customers/acme.lua"
      assert.are.equal("git+file://" .. real .. "/origin.git//stacks/customers/acme.lua", ecs.task_source({}, path))
      assert.are.equal("git+https://git.example.com/infra.git//stacks/customers/acme.lua",
        ecs.task_source({ repo_url = "https://git.example.com/infra.git/" }, path))
      -- a stack that exists only in a commit, not in the working tree
      assert.are.equal("git+file://" .. real .. "/origin.git//stacks/new/zulu.lua",
        ecs.task_source({}, dir .. "/work/stacks/new/zulu.lua"))
      local url = "git+file:///srv/infra.git//stacks/customers/acme.lua"
      assert.are.equal(url, ecs.task_source({}, url))
      local _, err = ecs.task_source({}, "git+https://me:tok@host/infra.git//stacks/a.lua")
      assert.matches("^SecretInCommand: .*a token in the stack URL would be visible in the ECS task's command", tostring(err))
      gr.git(dir .. "/work", "remote remove origin")
      _, err = ecs.task_source({}, path)
      gr.git(dir .. "/work", "remote add origin " .. h.quote(dir .. "/origin.git"))
      assert.matches("^NoRepoURL: .*has no 'origin' remote .*: give %-%-repo%-url$", tostring(err))
    end)
  end)

  describe("against fakeaws", function()
    local f, ecs_client

    setup(function()
      f = fakeaws.start { region = "eu-west-1" }
    end)
    teardown(function() if f then f:stop() end end)

    local function client(service)
      return require("wpo.aws").client(service, { region = "eu-west-1", endpoint = f.url, credentials = CREDS })
    end

    local function register(family, containers, extra)
      local params = { family = family, containerDefinitions = containers }
      for k, v in pairs(extra or {}) do params[k] = v end
      return ecs_client:call("RegisterTaskDefinition", params).taskDefinition
    end

    local function results(rules)
      local cjson = require "cjson"
      f:_control("POST", "/_fake/ecs/task-results", #rules == 0 and '{"rules": []}' or cjson.encode({ rules = rules }))
    end

    before_each(function()
      f:reset()
      ecs_client = client("ecs")
      ecs_client:call("CreateCluster", { clusterName = "fleet" })
      register("wpo", { { name = "wpo", image = "wpo:latest", memory = 256 } })
    end)

    local lines
    local function executor(extra)
      lines = {}
      local o = { cluster = "fleet", task_definition = "wpo", region = "eu-west-1", poll_interval = 0.02,
        client = { endpoint = f.url, credentials = CREDS }, log = function(l) lines[#lines + 1] = l end }
      for k, v in pairs(extra or {}) do o[k] = v end
      return ecs.new(o):prepare()
    end

    -- apply one stack in a task; -> result, memo, saves
    local function apply(ex, name, memo)
      local saves = 0
      local target = { path = "stacks/customers/" .. name .. ".lua", ref = "v1.0.0", memo = memo or {},
        save = function() saves = saves + 1 end }
      local planned = { url = "git+file:///srv/infra.git//stacks/customers/" .. name .. ".lua", stack = name,
        counts = { add = 1, change = 0, destroy = 0 } }
      local t = task.spawn(function() return ex.apply(target, planned) end)
      local ok, result = task.join(t)
      assert.is_true(ok, tostring(result))
      return result, target.memo, saves
    end

    local function tasks()
      local out = {}
      for _, t in pairs((f:state().ecs or {}).task or {}) do out[#out + 1] = t end
      return out
    end

    it("checks the task definition: the container, the network mode, the launch type", function()
      local ex = executor()
      assert.are.equal("wpo", ex.container)
      assert.matches(":task%-definition/wpo:1$", ex.task_definition_arn)
      register("two", { { name = "app", image = "a", memory = 64 }, { name = "wpo", image = "w", memory = 64 } })
      local ok, err = pcall(executor, { task_definition = "two" })
      assert.is_false(ok)
      assert.matches("^EcsExecutor: .* has 2 containers %(app, wpo%): name the one running wpo with %-%-container$",
        tostring(err))
      assert.are.equal("app", executor({ task_definition = "two", container = "app" }).container)
      ok, err = pcall(executor, { container = "nope" })
      assert.is_false(ok)
      assert.matches("%-%-container nope: the task definition .* has no such container %(it has: wpo%)", tostring(err))
      register("vpc", { { name = "wpo", image = "w" } }, { networkMode = "awsvpc", cpu = "256", memory = "512",
        requiresCompatibilities = { "FARGATE" } })
      ok, err = pcall(executor, { task_definition = "vpc" })
      assert.is_false(ok)
      assert.matches("uses network mode awsvpc: give the tasks' %-%-subnets", tostring(err))
      ok, err = pcall(executor, { subnets = { "subnet-1" } })
      assert.is_false(ok)
      assert.matches("need a task definition with network mode awsvpc; .* uses bridge", tostring(err))
      ok, err = pcall(executor, { launch_type = "FARGATE" })
      assert.is_false(ok)
      assert.matches("%-%-launch%-type FARGATE: the task definition .* is compatible with EC2 only", tostring(err))
      ok, err = pcall(executor, { cluster = "nowhere" })
      assert.is_false(ok)
      assert.matches("^EcsExecutor: %-%-cluster nowhere: no such active cluster in eu%-west%-1 %(MISSING%)$", tostring(err))
      ok, err = pcall(executor, { task_definition = "missing" })
      assert.is_false(ok)
      assert.matches("ClientException", tostring(err))
    end)

    it("runs a stack as one task, with wpo run as its command, and takes the exit code 0 as success", function()
      local ex = executor({ allow_rollback = true })
      local result, memo, saves = apply(ex, "acme")
      assert.is_true(result.ok, tostring(result.err))
      assert.are.same({ add = 1, change = 0, destroy = 0 }, result.counts)
      local all = tasks()
      assert.are.equal(1, #all)
      local t = all[1]
      assert.are.equal(memo.task_arn, t.taskArn)
      assert.matches("^wpo%-%x%x%x%x%x%x%x%x$", memo.started_by)
      assert.are.equal(memo.started_by, t.startedBy)
      assert.is_true(saves >= 2)   -- before RunTask (startedBy) and after (the task)
      assert.are.same({ "wpo", "run", "--ref", "v1.0.0", "git+file:///srv/infra.git//stacks/customers/acme.lua",
        "--yes", "--allow-rollback" }, t.overrides.containerOverrides[1].command)
      assert.are.equal("STOPPED", t.lastStatus)
      assert.are.same({ { key = "wpo:stack", value = "acme" }, { key = "wpo:ref", value = "v1.0.0" } }, t.tags)
      assert.matches("acme%.lua: task %x+ started on cluster fleet", lines[1])
    end)

    it("fails a stack whose container exits non-zero, or whose task never ran wpo", function()
      results({ { match = "delta.lua", exit_code = 1 },
                { match = "echo.lua", start_failure = "CannotPullContainerError: pull access denied" } })
      local ex = executor()
      local result = apply(ex, "delta")
      assert.is_false(result.ok)
      assert.matches("^TaskFailed: wpo exited with code 1 in task %x+ %(Essential container in task exited%)$",
        tostring(result.err))
      assert.matches("no log lines: the container wpo sends no logs to CloudWatch", result.details[1])
      result = apply(ex, "echo")
      assert.matches("^TaskFailed: task %x+ stopped before wpo ran: CannotPullContainerError: pull access denied$",
        tostring(result.err))
    end)

    it("shows the end of a failed task's log stream", function()
      register("logged", { { name = "wpo", image = "wpo:latest", memory = 256, logConfiguration = {
        logDriver = "awslogs", options = { ["awslogs-group"] = "/wpo/rollout", ["awslogs-stream-prefix"] = "fleet",
          ["awslogs-create-group"] = "true", ["awslogs-region"] = "eu-west-1" } } } })
      local log = {}
      for i = 1, 40 do log[i] = "line " .. i end
      log[#log + 1] = "wpo: stacks/customers/delta.lua:3: aws.ec2.vpc.main: InternalError: boom"
      results({ { match = "delta.lua", exit_code = 1, log = log } })
      local ex = executor({ task_definition = "logged", log_lines = 5 })
      local result = apply(ex, "delta")
      assert.is_false(result.ok)
      local arn_id = tostring(result.err):match("in task (%x+)")
      assert.are.same({
        "last lines of /wpo/rollout fleet/wpo/" .. arn_id .. ":",
        "| line 37", "| line 38", "| line 39", "| line 40",
        "| wpo: stacks/customers/delta.lua:3: aws.ec2.vpc.main: InternalError: boom",
      }, result.details)
      -- a stream that is not there (the task never started) says so
      results({ { match = "echo.lua", start_failure = "CannotPullContainerError: no such image" } })
      result = apply(ex, "echo")
      assert.matches("^%(no log lines from /wpo/rollout fleet/wpo/%x+: ResourceNotFoundException: ", result.details[1])
    end)

    it("stops a task that gives no result in time", function()
      results({ { match = "slow.lua", running_describes = 10000 } })
      local ex = executor({ task_timeout = 0.3 })
      local result = apply(ex, "slow")
      assert.matches("^TaskTimeout: task %x+ gave no result in 300ms %(%-%-task%-timeout%); it was stopped$",
        tostring(result.err))
      local t = tasks()[1]
      assert.are.equal("STOPPED", t.desiredStatus)
      assert.are.equal(1, f:calls()["ecs.StopTask"])
    end)

    it("finds the task of a RunTask whose answer was lost instead of starting another", function()
      f:faults { drop_rate = 1, operations = { "ecs.RunTask" } }
      local ex = executor()
      local result, memo = apply(ex, "acme")
      f:faults {}
      assert.is_true(result.ok, tostring(result.err))
      local all = tasks()
      assert.are.equal(1, #all)
      assert.are.equal(all[1].taskArn, memo.task_arn)
      assert.are.equal(1, f:calls()["ecs.RunTask"])
      assert.matches("RunTask's answer was lost", table.concat(lines, "\n"))
    end)

    it("waits for a task started before (resume) rather than starting another, and starts anew after a failure", function()
      results({ { match = "acme.lua", running_describes = 3 } })
      local run = ecs_client:call("RunTask", { cluster = "fleet", taskDefinition = "wpo", startedBy = "wpo-0badcafe",
        overrides = { containerOverrides = { { name = "wpo", command = { "wpo", "run", "acme.lua" } } } } })
      local arn = run.tasks[1].taskArn
      local ex = executor()
      local result, memo = apply(ex, "acme", { task_arn = arn, started_by = "wpo-0badcafe" })
      assert.is_true(result.ok, tostring(result.err))
      assert.are.equal(1, f:calls()["ecs.RunTask"])
      assert.are.equal(arn, memo.task_arn)
      assert.matches("waiting for its task %x+, started before and still", lines[1])
      -- known only by its startedBy (wpo stopped between RunTask and the record)
      result = apply(ex, "acme", { started_by = "wpo-0badcafe" })
      assert.is_true(result.ok)
      assert.are.equal(1, f:calls()["ecs.RunTask"])
      assert.matches("started before%) ended well", lines[#lines])
      -- a failed task is not adopted: a new one runs
      results({ { match = "acme.lua", exit_code = 2 } })
      local failed = ecs_client:call("RunTask", { cluster = "fleet", taskDefinition = "wpo",
        overrides = { containerOverrides = { { name = "wpo", command = { "wpo", "run", "acme.lua" } } } } })
      for _ = 1, 4 do ecs_client:call("DescribeTasks", { cluster = "fleet", tasks = { failed.tasks[1].taskArn } }) end
      results({})
      result, memo = apply(ex, "acme", { task_arn = failed.tasks[1].taskArn })
      assert.is_true(result.ok)
      assert.are_not.equal(failed.tasks[1].taskArn, memo.task_arn)
    end)

    it("stops waiting at a second interrupt, leaving the task running for --resume", function()
      results({ { match = "slow.lua", running_describes = 10000 } })
      local ex = executor()
      assert.matches("^Interrupt: starting no new stack; waiting for the running tasks", ex.interrupt(1))
      local waiter = task.spawn(function() return apply(ex, "slow") end)
      while not (tasks()[1] and tasks()[1].lastStatus == "RUNNING") do task.sleep(20) end
      assert.matches("^Interrupt: no longer waiting; the running tasks keep running", ex.interrupt(2))
      local ok, result, memo = task.join(waiter)
      assert.is_true(ok)
      assert.matches("^Detached: stopped waiting for task %x+ %(it keeps running on cluster fleet; "
        .. "wpo rollout %-%-resume waits for it%)$", tostring(result.err))
      assert.are.equal(tasks()[1].taskArn, memo.task_arn)
      assert.are.equal("RUNNING", tasks()[1].desiredStatus)
      assert.is_nil(f:calls()["ecs.StopTask"])
      -- and no new stack starts
      assert.matches("^Interrupted: ", tostring(apply(ex, "acme").err))
    end)

    it("polls every task being waited for with one DescribeTasks", function()
      local ex = executor()
      local names = { "a", "b", "c", "d", "e", "f" }
      local ts = {}
      for i, name in ipairs(names) do
        ts[i] = task.spawn(function() return apply(ex, name) end)
      end
      for _, t in ipairs(ts) do
        local ok, result = task.join(t)
        assert.is_true(ok and result.ok)
      end
      -- each task needs 3 describes to stop: 18 if polled one by one
      local describes = f:calls()["ecs.DescribeTasks"]
      assert.is_true(describes <= 8, "DescribeTasks calls: " .. tostring(describes))
      assert.are.equal(6, #tasks())
    end)
  end)
end)
