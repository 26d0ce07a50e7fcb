-- wpo rollout --executor ecs through the binary, against fakeaws: a fleet of
-- six customer stacks with S3 state and DynamoDB locks, planned here from
-- their git remote and run as fake ECS tasks; one fails by its exit code,
-- its log lines are shown, later waves never start, --resume finishes after
-- the failure is gone; the command a task was given, run as its container
-- would, applies the stack at the ref and records it in its S3 state; a
-- stack with local state is refused at plan time.
local cjson = require "cjson"
local core = require "wpo.core.git"
local fakeaws = require "fakeaws"
local gr = require "gitrepo"
local h = require "helpers"

local WPO = core.realpath(h.WPO)
local NAMES = { "acme", "beta", "delta", "echo", "foxtrot", "gamma" }

local function run(dir, args, env)
  local parts = { "cd " .. h.quote(dir) .. " && env" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
  parts[#parts + 1] = h.quote(WPO)
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  return h.sh("sh -c " .. h.quote(table.concat(parts, " ")))
end

describe("wpo rollout --executor ecs (through the binary, against fakeaws)", function()
  local f, dir, work, origin, env

  local function aws(service, op, params)
    local r = run(dir, { "aws", service, op, cjson.encode(params) }, env)
    assert(r.status == 0, op .. ": " .. r.stderr)
    return cjson.decode(r.stdout)
  end

  local function results(rules)
    f:_control("POST", "/_fake/ecs/task-results", #rules == 0 and '{"rules": []}' or cjson.encode({ rules = rules }))
  end

  -- the tasks fakeaws holds, oldest first, as { stack = name, command = {...}, task = {...} }
  local function tasks()
    local out = {}
    for _, t in pairs((f:state().ecs or {}).task or {}) do
      local cmd = t.overrides.containerOverrides[1].command
      out[#out + 1] = { stack = cmd[5]:match("customers/([%w]+)%.lua$"), command = cmd, task = t }
    end
    table.sort(out, function(a, b) return a.task.createdAt < b.task.createdAt end)
    return out
  end

  local function stacks_of(list)
    local out = {}
    for i, t in ipairs(list) do out[i] = t.stack end
    return out
  end

  setup(function()
    f = fakeaws.start { region = "eu-west-1" }
    dir = h.tmpdir()
    work, origin = dir .. "/work", dir .. "/infra.git"
    env = { WPO_CACHE_DIR = dir .. "/cache" }
    for k, v in pairs(f.env) do env[k] = v end
    gr.git(dir, "init -q --bare infra.git && git init -q -b main work")
    gr.write(work, "lib/customer.lua", [[
return function(p)
  local s = wpo.stack { name = p.name, backend = { type = "s3", bucket = "wpo-state", key = "customers/" .. p.name,
    lock_table = "wpo-locks" } }
  s:add("wpo.null", "site", { value = "site " .. p.name })
  return s
end
]])
    for _, name in ipairs(NAMES) do
      gr.write(work, "stacks/customers/" .. name .. ".lua", 'return require("lib.customer") { name = "' .. name .. '" }\n')
    end
    gr.write(work, "stacks/legacy/old.lua", 'local s = wpo.stack { name = "old" }\ns:add("wpo.null", "x", { value = 1 })\nreturn s\n')
    gr.write(work, ".gitignore", ".wpo/\n")
    gr.git(work, "add -A && git commit -q -m fleet && git tag v1.0.0 && git remote add origin "
      .. h.quote(origin) .. " && git push -q origin main v1.0.0")
    aws("s3", "CreateBucket", { Bucket = "wpo-state", CreateBucketConfiguration = { LocationConstraint = "eu-west-1" } })
    aws("dynamodb", "CreateTable", { TableName = "wpo-locks", BillingMode = "PAY_PER_REQUEST",
      AttributeDefinitions = { { AttributeName = "LockID", AttributeType = "S" } },
      KeySchema = { { AttributeName = "LockID", KeyType = "HASH" } } })
    local status
    for _ = 1, 5 do   -- CREATING, then ACTIVE over describes
      status = aws("dynamodb", "DescribeTable", { TableName = "wpo-locks" }).Table.TableStatus
      if status == "ACTIVE" then break end
    end
    assert(status == "ACTIVE", "the lock table is " .. tostring(status))
    aws("ecs", "CreateCluster", { clusterName = "fleet" })
    aws("ecs", "RegisterTaskDefinition", { family = "wpo", containerDefinitions = { { name = "wpo",
      image = "wpo:latest", memory = 512, logConfiguration = { logDriver = "awslogs", options = {
        ["awslogs-group"] = "/wpo/rollout", ["awslogs-stream-prefix"] = "fleet", ["awslogs-create-group"] = "true",
        ["awslogs-region"] = "eu-west-1" } } } } })
  end)
  teardown(function()
    if f then f:stop() end
    if dir then h.rmrf(dir) end
  end)

  local ECS = { "--executor", "ecs", "--cluster", "fleet", "--task-definition", "wpo", "--poll-interval", "20ms" }
  local function rollout(extra)
    local args = { "rollout" }
    for _, a in ipairs(extra) do args[#args + 1] = a end
    return run(work, args, env)
  end
  local function with(list, ...)
    local out = {}
    for _, a in ipairs(list) do out[#out + 1] = a end
    for _, a in ipairs({ ... }) do out[#out + 1] = a end
    return out
  end

  it("refuses a stack with local state at plan time, and plans the fleet from its remote with --dry-run", function()
    local r = rollout(with(ECS, "v1.0.0", "stacks/legacy", "--dry-run"))
    assert.are.equal(1, r.status, r.stderr)
    assert.matches("stacks/legacy/old%.lua: plan: stacks/legacy/old%.lua:1: LocalState: stack old keeps its state "
      .. "locally, which an ECS task would lose with its container: give it a remote backend", r.stdout)
    local dry = rollout(with(ECS, "v1.0.0", "stacks/customers", "--dry-run"))
    assert.are.equal(0, dry.status, dry.stderr)
    local lines = {}
    for line in dry.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(6, #lines)
    for i, name in ipairs(NAMES) do
      assert.matches("^stacks/customers/" .. name .. "%.lua: %(new%) → v1%.0%.0 %(%x+%): %+1 ~0 %-0$", lines[i])
    end
    assert.are.same({}, tasks())
  end)

  it("stops at the task that fails, shows its log, never starts later waves, and --resume finishes", function()
    results({ { match = "customers/delta.lua", exit_code = 1,
                log = { "delta: planning", "wpo: stacks/customers/delta.lua: aws.ec2.vpc.main: InternalError: boom" } } })
    local r = rollout(with(ECS, "v1.0.0", "stacks/customers", "--yes", "--max-parallel", "1"))
    assert.are.equal(1, r.status, r.stderr)
    -- waves: canary acme; 50% beta, delta; 100% echo, foxtrot, gamma
    assert.matches("wave 1/3 %(canary%)", r.stderr)
    assert.matches("wave 2/3 %(50%%%)", r.stderr)
    assert.is_nil(r.stderr:find("wave 3/3", 1, true))
    assert.matches("stacks/customers/delta%.lua: FAILED: TaskFailed: wpo exited with code 1 in task %x+ "
      .. "%(Essential container in task exited%)\n    last lines of /wpo/rollout fleet/wpo/%x+:\n"
      .. "    | delta: planning\n    | wpo: stacks/customers/delta%.lua: aws%.ec2%.vpc%.main: InternalError: boom\n",
      r.stderr)
    assert.matches("stacks/customers/delta%.lua +%(new%) +v1%.0%.0 %(%x+%) +failed: TaskFailed: wpo exited with code 1",
      r.stdout)
    assert.matches("stopped: stacks/customers/delta%.lua failed; later stacks not started", r.stdout)
    for _, name in ipairs({ "echo", "foxtrot", "gamma" }) do
      assert.matches("stacks/customers/" .. name .. "%.lua .* not started", r.stdout)
    end
    local started = tasks()
    assert.are.same({ "acme", "beta", "delta" }, stacks_of(started))
    local real_origin = core.realpath(origin)
    for _, t in ipairs(started) do
      assert.are.same({ "wpo", "run", "--ref", "v1.0.0",
        "git+file://" .. real_origin .. "//stacks/customers/" .. t.stack .. ".lua", "--yes" }, t.command)
      assert.are.equal("STOPPED", t.task.lastStatus)
    end

    results({})
    local resumed = rollout({ "--resume", "--yes", "--poll-interval", "20ms" })
    assert.are.equal(0, resumed.status, resumed.stdout .. resumed.stderr)
    assert.are.same({ "acme", "beta", "delta", "delta", "echo", "foxtrot", "gamma" }, stacks_of(tasks()))
    for _, name in ipairs(NAMES) do
      assert.matches("stacks/customers/" .. name .. "%.lua +%(new%) +v1%.0%.0 %(%x+%) +done", resumed.stdout)
    end
    assert.matches("^Nothing to resume", rollout({ "--resume" }).stdout)
  end)

  it("gives tasks a command that applies the stack at the ref and records it in its S3 state", function()
    local acme = tasks()[1]
    assert.are.equal("acme", acme.stack)
    local cmd = acme.command
    assert.are.equal("wpo", cmd[1])
    local r = run(dir, table.move(cmd, 2, #cmd, 1, {}), env)   -- as the container would, elsewhere
    assert.are.equal(0, r.status, r.stderr)
    local object = aws("s3", "GetObject", { Bucket = "wpo-state", Key = "customers/acme" })
    local doc = cjson.decode(require("wpo.core.crypto").unbase64(object.Body))   -- a blob, as wpo aws prints it
    assert.are.equal("v1.0.0", doc.source.ref)
    assert.are.equal(gr.rev(work, "v1.0.0"), doc.source.commit)
    assert.are.equal("file://" .. core.realpath(origin), doc.source.repo)
  end)

  it("rolls the same fleet in this process with the local executor, locking and writing its S3 states", function()
    local r = rollout({ "v1.0.0", "stacks/customers", "--yes", "--max-parallel", "3", "--record", ".wpo/local.json" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("stacks/customers/acme%.lua +v1%.0%.0 %(%x+%) +v1%.0%.0 %(%x+%) +done +0 ", r.stdout)
    for _, name in ipairs(NAMES) do
      local object = aws("s3", "GetObject", { Bucket = "wpo-state", Key = "customers/" .. name })
      local doc = cjson.decode(require("wpo.core.crypto").unbase64(object.Body))
      assert.are.equal("v1.0.0", doc.source.ref, name)
      assert.are.equal("site " .. name, doc.resources[1].inputs.value, name)
    end
    local locks = 0
    for _, item in pairs((f:state().dynamodb or {}).item or {}) do
      if item.TableName == "wpo-locks" then locks = locks + 1 end
    end
    assert.are.equal(0, locks)   -- every lock released
  end)
end)
