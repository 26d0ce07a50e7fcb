-- Stacks from git through the wpo binary: plan/run/destroy --ref, the plan
-- header, rollback refusal, history, remote stacks through git+file:// with
-- the cache and --offline. wpo.null stacks (no AWS).
local cjson = require "cjson"
local gr = require "gitrepo"
local h = require "helpers"


local function wpo(dir, args, env)
  return h.wpo_in(dir, args, env)
end

local function one_line(s) return select(2, s:gsub("\n", "")) == 1 end

local function state(dir)
  local f = io.open(dir .. "/stacks/.wpo/prod.state.json")
  if not f then return nil end
  local doc = cjson.decode(f:read("a"))
  f:close()
  return doc
end

local function app_value(doc)
  for _, r in ipairs(doc.resources) do if r.address == "wpo.null.app" then return r.inputs.value end end
end

-- The fleet's stack: its version comes from a required module.
local function fixture()
  local dir = h.tmpdir()
  gr.git(dir, "init -q -b main .")
  gr.write(dir, "stacks/prod.lua", [[
local app = require "lib.app"
local s = wpo.stack { name = "prod" }
s:add("wpo.null", "app", { value = app.version })
return s
]])
  gr.write(dir, "lib/app.lua", 'return { version = "1.0.0" }\n')
  gr.write(dir, ".gitignore", ".wpo/\n")
  gr.git(dir, "add -A && git commit -q -m 'prod 1.0.0' && git tag v1.0.0")
  gr.write(dir, "lib/app.lua", 'return { version = "1.1.0" }\n')
  gr.git(dir, "commit -q -a -m 'prod 1.1.0' && git tag -a v1.1.0 -m 'release 1.1.0'")
  gr.write(dir, "lib/app.lua", 'return { version = "edited" }\n')   -- not committed
  return dir
end

describe("stacks from git (wpo plan/run/history)", function()
  local dir, short100, short110

  setup(function()
    dir = fixture()
    short100 = (gr.git(dir, "rev-parse --short v1.0.0"):gsub("%s+$", ""))
    short110 = (gr.git(dir, "rev-parse --short v1.1.0^{commit}"):gsub("%s+$", ""))
  end)
  teardown(function() h.rmrf(dir) end)

  it("plans v1.0.0's stack and module with --ref, the working tree without, touching nothing", function()
    local status = gr.status(dir)
    local at = wpo(dir, { "plan", "stacks/prod.lua", "--ref", "v1.0.0" })
    assert.are.equal(0, at.status, at.stderr)
    assert.matches("^prod: %(new%) → v1%.0%.0 %(" .. short100 .. "%)\n\n", at.stdout)
    assert.matches('value += "1%.0%.0"', at.stdout)
    assert.is_nil(at.stdout:find("edited", 1, true))

    local wt = wpo(dir, { "plan", "stacks/prod.lua" })
    assert.are.equal(0, wt.status, wt.stderr)
    assert.matches("^prod: %(new%) → main %(" .. short110 .. ", dirty%)\nwarning: the working tree has uncommitted changes",
      wt.stdout)
    assert.matches('value += "edited"', wt.stdout)
    assert.are.equal(status, gr.status(dir))
  end)

  it("fails for an unknown ref in one line listing the nearest tags", function()
    local r = wpo(dir, { "plan", "stacks/prod.lua", "--ref", "v9.9.9" })
    assert.are.equal(1, r.status)
    assert.is_true(one_line(r.stderr), r.stderr)
    assert.matches("^wpo: UnknownRef: no tag, branch or commit named 'v9%.9%.9' in .* %(nearest tags: v1%.1%.0, v1%.0%.0%)\n$",
      r.stderr)
  end)

  it("points errors at the file:line of the committed module", function()
    gr.write(dir, "lib/bad.lua", "local x = 1\nreturn x.y.z\n")
    gr.write(dir, "stacks/bad.lua", 'local b = require "lib.bad"\nreturn b\n')
    gr.git(dir, "add lib/bad.lua stacks/bad.lua && git commit -q -m bad && git tag broken")
    local r = wpo(dir, { "plan", "stacks/bad.lua", "--ref", "broken" })
    gr.git(dir, "tag -d broken && git reset -q --soft HEAD~1 && git rm -q --cached lib/bad.lua stacks/bad.lua")
    os.remove(dir .. "/lib/bad.lua")
    os.remove(dir .. "/stacks/bad.lua")
    assert.are.equal(1, r.status)
    assert.matches("^wpo: lib/bad%.lua:2: ", r.stderr)
  end)

  it("runs v1.1.0, refuses to roll back to v1.0.0 without --allow-rollback, then allows it, and records both", function()
    local r = wpo(dir, { "run", "stacks/prod.lua", "--ref", "v1.1.0", "--yes" })
    assert.are.equal(0, r.status, r.stderr)
    local doc = state(dir)
    assert.are.equal("1.1.0", app_value(doc))
    assert.are.equal("v1.1.0", doc.source.ref)
    assert.are.equal(gr.rev(dir, "v1.1.0^{commit}"), doc.source.commit)

    local serial = doc.serial
    r = wpo(dir, { "run", "stacks/prod.lua", "--ref", "v1.0.0", "--yes" })
    assert.are.equal(1, r.status)
    assert.is_true(one_line(r.stderr), r.stderr)
    assert.are.equal(string.format("wpo: RollbackRefused: prod is deployed at v1.1.0 (%s); v1.0.0 (%s) is older "
      .. "(an ancestor of it): rolling back needs --allow-rollback\n", short110, short100), r.stderr)
    assert.are.equal(serial, state(dir).serial)

    local p = wpo(dir, { "plan", "stacks/prod.lua", "--ref", "v1.0.0" })
    assert.are.equal(0, p.status, p.stderr)
    -- the refresh's progress, then the source change, then the plan
    assert.matches(string.format("^wpo%%.null%%.app: read %%[id=%%x+%%]\n\nprod: v1%%.1%%.0 %%(%s%%) → v1%%.0%%.0 %%(%s%%) "
      .. "%%(a rollback", short110, short100), p.stdout)
    local out = wpo(dir, { "plan", "stacks/prod.lua", "--ref", "v1.0.0", "--out", "p.json" })
    assert.are.equal(1, out.status)
    assert.matches("rolling back needs %-%-allow%-rollback", out.stderr)

    r = wpo(dir, { "run", "stacks/prod.lua", "--ref", "v1.0.0", "--yes", "--allow-rollback" })
    assert.are.equal(0, r.status, r.stderr)
    doc = state(dir)
    assert.are.equal("1.0.0", app_value(doc))
    assert.are.equal("v1.0.0", doc.source.ref)

    local hist = wpo(dir, { "history", "stacks/prod.lua" })
    assert.are.equal(0, hist.status, hist.stderr)
    local lines = {}
    for line in hist.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^TIME %(UTC%) +OPERATION +RESULT +REF +COMMIT +USER +CHANGES$", lines[1])
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d +apply +ok +v1%.1%.0 +" .. short110 .. " +%S+ +%+1 ~0 %-0$", lines[2])
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d +apply +ok +v1%.0%.0 +" .. short100 .. " +%S+ +%+0 ~1 %-0$", lines[3])
    assert.are.equal(string.format("prod is deployed at v1.0.0 (%s).", short100), lines[4])

    local js = wpo(dir, { "history", "stacks/prod.lua", "--json" })
    local h2 = cjson.decode(js.stdout)
    assert.are.equal("prod", h2.stack)
    assert.are.equal(2, #h2.history)
    assert.are.equal(gr.rev(dir, "v1.0.0"), h2.history[2].commit)
    assert.are.equal(gr.rev(dir, "v1.0.0"), h2.deployed.commit)

    -- destroy at a ref is recorded too, and leaves nothing deployed
    r = wpo(dir, { "destroy", "stacks/prod.lua", "--ref", "v1.0.0", "--yes" })
    assert.are.equal(0, r.status, r.stderr)
    doc = state(dir)
    assert.is_nil(doc.source)
    assert.are.equal("destroy", doc.history[3].operation)
    assert.matches("prod has nothing deployed (destroyed, or never applied).", wpo(dir, { "history", "stacks/prod.lua" }).stdout, 1, true)
  end)

  it("carries the ref through a saved plan into the history, applied from another directory", function()
    local out = wpo(dir, { "plan", "stacks/prod.lua", "--ref", "v1.1.0", "--out", "p.json" })
    assert.are.equal(0, out.status, out.stderr)
    local elsewhere = h.tmpdir()
    local r = wpo(elsewhere, { "apply", dir .. "/p.json" })
    h.rmrf(elsewhere)
    os.remove(dir .. "/p.json")
    assert.are.equal(0, r.status, r.stderr)
    local doc = state(dir)
    assert.are.equal("v1.1.0", doc.source.ref)
    assert.are.equal("v1.1.0", doc.history[#doc.history].ref)
    assert.are.equal("1.1.0", app_value(doc))
  end)

  it("renders history entries made outside git with dashes", function()
    local history = require "wpo.commands.history"
    local text = history.render({
      { time = 0, operation = "apply", result = "ok", user = "ops", added = 2, changed = 0, destroyed = 0 },
      { time = 60, operation = "destroy", result = "failed", user = "ops", added = 0, changed = 0, destroyed = 1,
        ref = "abc1234", commit = "abc1234" .. string.rep("0", 33), short = "abc1234", dirty = true },
    })
    assert.are.equal(table.concat({
      "TIME (UTC)           OPERATION  RESULT  REF  COMMIT           USER  CHANGES",
      "1970-01-01 00:00:00  apply      ok      -    -                ops   +2 ~0 -0",
      "1970-01-01 00:01:00  destroy    failed  -    abc1234 (dirty)  ops   +0 ~0 -1",
    }, "\n") .. "\n", text)
  end)

  it("keeps the state where it is without --ref, run from a subdirectory", function()
    local r = wpo(dir .. "/stacks", { "plan", "prod.lua", "--ref", "v1.1.0", "--state", "../sub.json" })
    assert.are.equal(0, r.status, r.stderr)
    local plain = wpo(dir .. "/stacks", { "output", "prod.lua", "--ref", "v1.1.0" })
    local plain2 = wpo(dir .. "/stacks", { "output", "prod.lua" })
    assert.are.equal(plain2.status, plain.status)
    assert.are.equal(plain2.stdout, plain.stdout)
  end)
end)

describe("remote stacks (git+file://) through the binary", function()
  local dir, origin, work

  setup(function()
    work = fixture()
    gr.git(work, "checkout -q -- .")
    dir = h.tmpdir()
    origin = dir .. "/infra.git"
    gr.git(dir, "clone -q --bare " .. h.quote(work) .. " infra.git")
  end)
  teardown(function()
    h.rmrf(work)
    h.rmrf(dir)
  end)

  it("runs a stack from a git+file URL through the cache, then plans --offline", function()
    local env = { WPO_CACHE_DIR = dir .. "/cache" }
    local url = "git+file://" .. origin .. "//stacks/prod.lua?ref=v1.0.0"
    local r = wpo(dir, { "run", url, "--yes", "--state", dir .. "/prod.json" }, env)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^prod: %(new%) → v1%.0%.0 %(%x+%)", r.stdout)
    local doc = cjson.decode(h.slurp(dir .. "/prod.json"))
    assert.are.equal("1.0.0", app_value(doc))
    assert.are.equal("file://" .. origin, doc.source.repo)

    h.sh("mv " .. h.quote(origin) .. " " .. h.quote(origin .. ".away"))
    local off = wpo(dir, { "plan", "git+file://" .. origin .. "//stacks/prod.lua", "--ref", "v1.1.0",
      "--offline", "--state", dir .. "/prod.json" }, env)
    local on = wpo(dir, { "plan", url, "--state", dir .. "/prod.json" }, env)
    h.sh("mv " .. h.quote(origin .. ".away") .. " " .. h.quote(origin))
    assert.are.equal(0, off.status, off.stderr)
    assert.matches("^wpo%.null%.app: read %[id=%x+%]\n\nprod: v1%.0%.0 %(%x+%) → v1%.1%.0 %(%x+%)", off.stdout)
    assert.matches('"1%.0%.0" %-> "1%.1%.0"', off.stdout)
    assert.are.equal(1, on.status)
    assert.is_true(one_line(on.stderr), on.stderr)
    assert.matches("^wpo: GitFetchFailed: cannot fetch file://.*/infra%.git: ", on.stderr)

    local empty = wpo(dir, { "plan", url, "--offline" }, { WPO_CACHE_DIR = dir .. "/nothing" })
    assert.are.equal(1, empty.status)
    assert.matches("^wpo: OfflineCacheMissing: %-%-offline: no cached clone of file://.*; run once without %-%-offline\n$",
      empty.stderr)
  end)
end)

describe("wpo rollout (local executor) through the binary", function()
  local dir
  local NAMES = { "acme", "beta", "delta", "echo", "foxtrot", "gamma" }

  setup(function()
    dir = h.tmpdir()
    gr.git(dir, "init -q -b main .")
    -- a stack fails to create when WPO_VAR_fail_<name> is set: the fault, removable for --resume
    gr.write(dir, "lib/customer.lua", [[
return function(p)
  local s = wpo.stack { name = p.name, vars = { ["fail_" .. p.name] = "" } }
  local fail = s.vars["fail_" .. p.name]
  s:add("wpo.null", "site", { value = "site " .. p.name, fail_on_create = fail ~= "" and fail or nil })
  return s
end
]])
    for _, name in ipairs(NAMES) do
      gr.write(dir, "stacks/customers/" .. name .. ".lua", 'return require("lib.customer") { name = "' .. name .. '" }\n')
    end
    gr.write(dir, "stacks/customers/README.md", "not a stack\n")
    gr.write(dir, ".gitignore", ".wpo/\n")
    gr.git(dir, "add -A && git commit -q -m fleet && git tag v1.0.0")
  end)
  teardown(function() h.rmrf(dir) end)

  local function customer_state(name)
    local text = h.slurp(dir .. "/stacks/customers/.wpo/" .. name .. ".state.json")
    return text ~= "" and cjson.decode(text) or nil
  end

  it("plans every stack of a directory at the ref with --dry-run, one line each, changing nothing", function()
    local r = wpo(dir, { "rollout", "v1.0.0", "stacks/customers/", "--dry-run" })
    assert.are.equal(0, r.status, r.stderr)
    local lines = {}
    for line in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(6, #lines)
    for i, name in ipairs(NAMES) do
      assert.matches("^stacks/customers/" .. name .. "%.lua: %(new%) → v1%.0%.0 %(%x+%): %+1 ~0 %-0$", lines[i])
      assert.is_nil(customer_state(name))
    end
  end)

  it("stops at the failing stack (later waves never start), then --resume finishes the rest", function()
    local r = wpo(dir, { "rollout", "v1.0.0", "stacks/customers", "--yes", "--max-parallel", "1" },
      { WPO_VAR_fail_delta = "injected fault" })
    assert.are.equal(1, r.status, r.stderr)
    -- waves: canary acme; 50% beta, delta; 100% echo, foxtrot, gamma
    assert.matches("wave 1/3 %(canary%)", r.stderr)
    assert.matches("wave 2/3 %(50%%%)", r.stderr)
    assert.is_nil(r.stderr:find("wave 3/3", 1, true))
    assert.matches("stacks/customers/delta%.lua +%(new%) +v1%.0%.0 %(%x+%) +failed: .*NullFailure: injected fault", r.stdout)
    assert.matches("stopped: stacks/customers/delta%.lua failed; later stacks not started %(%-%-resume continues%)", r.stdout)
    for _, name in ipairs({ "acme", "beta" }) do
      assert.are.equal("v1.0.0", customer_state(name).source.ref)
    end
    for _, name in ipairs({ "echo", "foxtrot", "gamma" }) do
      assert.is_nil(customer_state(name), name .. " never started")
      assert.matches("stacks/customers/" .. name .. "%.lua .* not started", r.stdout)
    end

    local resumed = wpo(dir, { "rollout", "--resume", "--yes" })
    assert.are.equal(0, resumed.status, resumed.stdout .. resumed.stderr)
    for _, name in ipairs(NAMES) do
      local doc = customer_state(name)
      assert.are.equal("v1.0.0", doc.source.ref, name)
      assert.are.equal(gr.rev(dir, "v1.0.0"), doc.source.commit, name)
    end
    -- acme and beta were not applied again
    assert.are.equal(1, #customer_state("acme").history)
    assert.are.equal(2, #customer_state("delta").history)   -- the failed attempt and the resumed one
    assert.matches("^Nothing to resume", wpo(dir, { "rollout", "--resume" }).stdout)
  end)

  it("refuses bad invocations clearly", function()
    local none = wpo(dir, { "rollout" })
    assert.are.equal(2, none.status)
    assert.matches("missing argument REF %(or %-%-resume%)", none.stderr)
    local ecs = wpo(dir, { "rollout", "v1.0.0", "stacks/customers", "--executor", "ecs" })
    assert.are.equal(2, ecs.status)
    assert.matches("%-%-executor ecs needs %-%-cluster and %-%-task%-definition", ecs.stderr)
    local stray = wpo(dir, { "rollout", "v1.0.0", "stacks/customers", "--cluster", "fleet", "--subnets", "subnet-1" })
    assert.are.equal(2, stray.status)
    assert.matches("%-%-cluster, %-%-subnets: only for %-%-executor ecs", stray.stderr)
    local dur = wpo(dir, { "rollout", "v1.0.0", "stacks/customers", "--executor", "ecs", "--cluster", "c",
      "--task-definition", "wpo", "--task-timeout", "soon" })
    assert.are.equal(2, dur.status)
    assert.matches("%-%-task%-timeout takes a duration such as 30s, 500ms, 10m or 2h, not 'soon'", dur.stderr)
    local bad = wpo(dir, { "rollout", "v9.9.9", "stacks/customers", "--dry-run" })
    assert.are.equal(1, bad.status)
    assert.matches("nearest tags: v1%.0%.0", bad.stderr)
  end)
end)
