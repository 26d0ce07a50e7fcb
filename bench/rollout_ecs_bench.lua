-- bench/rollout_ecs_bench.lua: the ecs executor (wpo.rollout.ecs) waiting for
-- 200 fake ECS tasks (tests/fakeaws on 127.0.0.1), 50 at once, polled every
-- 50 ms; each task needs 9 describes to stop (fakeaws --settle 3). One
-- DescribeTasks serves every task being waited for, so the calls follow the
-- poll rounds, not the tasks: goal at most 2 DescribeTasks per poll interval
-- (polling each task alone would make 200 x 9 = 1800 calls).
-- Prints the calls, the calls per interval and the wall time (which the
-- AWS client's own rate limit sets: 50 calls, then 20 a second, per service).
--   wpo lua bench/rollout_ecs_bench.lua        (make bench runs it)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../tests/lua/?.lua;" .. package.path

local fakeaws = require "fakeaws"
local ecs = require "wpo.rollout.ecs"
local loop = require "wpo.core.loop"
local task = require "wpo.task"

local N, AT_ONCE, INTERVAL = 200, 50, 0.05
local creds = { access_key = "test", secret_key = "test" }

local f = fakeaws.start { region = "eu-west-1", settle = 3 }
local client = require("wpo.aws").client("ecs", { region = "eu-west-1", endpoint = f.url, credentials = creds })
client:call("CreateCluster", { clusterName = "bench" })
client:call("RegisterTaskDefinition", { family = "wpo",
  containerDefinitions = { { name = "wpo", image = "wpo:latest", memory = 256 } } })

local ex = ecs.new { cluster = "bench", task_definition = "wpo", region = "eu-west-1", poll_interval = INTERVAL,
  client = { endpoint = f.url, credentials = creds } }
ex:prepare()

local sem = task.semaphore(AT_ONCE)
local failed = 0
local t0 = loop.now()
local tasks = {}
for i = 1, N do
  tasks[i] = task.spawn(function()
    sem:acquire()
    local result = ex.apply({ path = "stacks/c" .. i .. ".lua", ref = "v1", memo = {}, save = function() end },
      { url = "git+file:///srv/infra.git//stacks/c" .. i .. ".lua", stack = "c" .. i })
    sem:release()
    if not result.ok then failed = failed + 1 end
  end)
end
for _, t in ipairs(tasks) do task.join(t) end
local secs = (loop.now() - t0) / 1000
local calls = f:calls()["ecs.DescribeTasks"] or 0
assert(failed == 0, failed .. " task(s) failed")
print(string.format("ecs executor, %d tasks, %d at once, %dms polls: DescribeTasks %d (one per task: %d), "
  .. "%.2f per poll interval (goal <= 2), RunTask %d, %.2f s",
  N, AT_ONCE, INTERVAL * 1000, calls, N * 9, calls / (secs / INTERVAL), f:calls()["ecs.RunTask"] or 0, secs))
f:stop()
