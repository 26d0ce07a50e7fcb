-- The engine end to end, through the wpo binary, with wpo.null and
-- random.password stacks (no AWS): plan -> run -> no changes -> update ->
-- replace -> destroy, load errors, failures, locks, state safety,
-- prevent_destroy, JSON, exit codes, saved plans, outputs, state commands.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

-- Run wpo in dir (so paths in messages are relative, as a user sees them).
local WPO = h.wpo_abs()
local function wpo(dir, args, opts)
  return h.wpo_in(dir, args, opts and opts.env, { stdin = opts and opts.stdin })
end

local function one_line(s)
  return select(2, s:gsub("\n", "")) == 1
end

local function state_of(dir, name)
  local text = fs.read(dir .. "/.wpo/" .. (name or "t") .. ".state.json")
  return text and cjson.decode(text)
end

local function addresses(doc)
  local out = {}
  for _, r in ipairs(doc and doc.resources or {}) do out[#out + 1] = r.address end
  table.sort(out)
  return out
end

local STACK = [[
local s = wpo.stack { name = "t", vars = { greeting = "hello", trigger = "1" } }
local pw = s:add("random.password", "db", { length = 20 })
local app = s:add("wpo.null", "app", { value = s.vars.greeting, triggers = { t = s.vars.trigger } })
s:add("wpo.null", "worker", { value = app.id })
s:output("password", pw.result)
s:output("app", app.id)
return s
]]

describe("wpo engine (end to end)", function()
  local dir
  before_each(function()
    dir = h.tmpdir()
    h.write(dir .. "/s.lua", STACK)
  end)
  after_each(function() h.rmrf(dir) end)

  it("plans, runs, finds no changes, updates in place, replaces, and destroys", function()
    local r = wpo(dir, { "plan", "s.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Plan: 3 to add, 0 to change, 0 to destroy%.", r.stdout)
    assert.are.equal(2, wpo(dir, { "plan", "s.lua", "--detailed-exitcode" }).status)
    assert.is_nil(state_of(dir))

    r = wpo(dir, { "run", "s.lua", "--yes" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("wpo%.null%.worker: created in", r.stdout)
    -- the outputs after the summary, the secret hidden
    assert.matches("Apply complete: 3 added, 0 changed, 0 destroyed%.\n\nOutputs:\n\napp = \"%x+\"\n"
      .. "password = %(sensitive%)\n$", r.stdout)
    assert.matches("Apply complete: 3 added, 0 changed, 0 destroyed%.", r.stdout)
    local doc = state_of(dir)
    assert.are.same({ "random.password.db", "wpo.null.app", "wpo.null.worker" }, addresses(doc))
    local password = state_of(dir).outputs.password.value
    assert.are.equal(20, #password)
    assert.is_nil(r.stdout:find(password, 1, true))

    r = wpo(dir, { "plan", "s.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("No changes", r.stdout)

    r = wpo(dir, { "run", "s.lua", "--yes", "--var", "greeting=bonjour" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("~ wpo%.null%.app .*\n      value = \"hello\" %-> \"bonjour\"", r.stdout)
    assert.matches("Apply complete: 0 added, 1 changed, 0 destroyed%.", r.stdout)

    local old_app = state_of(dir).resources[2].id
    r = wpo(dir, { "run", "s.lua", "--yes", "--var", "greeting=bonjour", "--var", "trigger=2" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("%-/%+ wpo%.null%.app .*%(triggers forces replacement%)", r.stdout)
    assert.matches("~ wpo%.null%.worker", r.stdout)
    assert.matches("Plan: 1 to add, 1 to change, 1 to destroy%.", r.stdout)
    doc = state_of(dir)
    local by = {}
    for _, res in ipairs(doc.resources) do by[res.address] = res end
    assert.are_not.equal(old_app, by["wpo.null.app"].id)
    assert.are.equal(by["wpo.null.app"].id, by["wpo.null.worker"].inputs.value)
    assert.are.equal(password, doc.outputs.password.value)      -- stable once created

    r = wpo(dir, { "destroy", "s.lua", "--yes", "--var", "greeting=bonjour", "--var", "trigger=2" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Destroy complete! Resources: 3 destroyed%.", r.stdout)
    assert.are.same({}, addresses(state_of(dir)))
    assert.are.equal("", wpo(dir, { "state", "list", "s.lua" }).stdout)
  end)

  it("says what a partial plan leaves out, counts in the singular, and takes --no-color and '--flag false'", function()
    h.write(dir .. "/one.lua", 'local s = wpo.stack { name = "one" }\ns:add("wpo.null", "a", {})\nreturn s\n')
    assert.are.equal(0, wpo(dir, { "run", "one.lua", "--yes" }).status)
    local r = wpo(dir, { "plan", "one.lua", "--refresh", "false" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("No changes: stack one matches its script (1 resource).", r.stdout, 1, true)
    r = wpo(dir, { "plan", "s.lua", "--target", "wpo.null.app" })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("wpo: warning: --target plans only part of the stack (wpo.null.app and what it needs); "
      .. "the rest may no longer match its script\n", r.stderr)
    assert.matches("Plan: 1 to add", r.stdout)
    -- color only on a terminal: script(1) gives wpo one; --no-color turns it off there
    local function on_tty(args)
      return h.sh("cd " .. h.quote(dir) .. " && env -u NO_COLOR TERM=xterm script -qec "
        .. h.quote(h.quote(h.wpo_abs()) .. " " .. args) .. " /dev/null")
    end
    assert.is_truthy(on_tty("plan s.lua").stdout:find("\27[", 1, true))
    assert.is_nil(on_tty("plan s.lua --no-color").stdout:find("\27[", 1, true))
    assert.are.equal(2, wpo(dir, { "plan", "s.lua", "--refresh", "maybe" }).status)
  end)

  it("keeps state, backup and lock files 0600 in a 0700 directory; the backup is the state before the run", function()
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes" }).status)
    local first = state_of(dir).serial
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes", "--var", "greeting=x" }).status)
    for _, f in ipairs({ "t.state.json", "t.state.json.backup", "t.lock" }) do
      assert.are.equal(tonumber("600", 8), fs.stat(dir .. "/.wpo/" .. f).mode, f)
    end
    assert.are.equal(tonumber("700", 8), fs.stat(dir .. "/.wpo").mode)
    local backup = cjson.decode(fs.read(dir .. "/.wpo/t.state.json.backup"))
    assert.are.equal(first, backup.serial)
    assert.is_true(state_of(dir).serial > first)
  end)

  describe("refuses a bad script with one line naming file:line, touching nothing:", function()
    local cases = {
      { "a cycle", 'local s = wpo.stack { name = "t" }\nlocal a = s:add("wpo.null", "a", { depends_on = { "wpo.null.b" } })\n'
          .. 's:add("wpo.null", "b", { value = a.id })\nreturn s\n',
        "^wpo: s%.lua:2: dependency cycle: wpo%.null%.a %(s%.lua:2%) %-> wpo%.null%.b %(s%.lua:3%) %-> wpo%.null%.a %(s%.lua:2%)\n$" },
      { "an unknown attribute", 'local s = wpo.stack { name = "t" }\ns:add("wpo.null", "a", { tirggers = {} })\nreturn s\n',
        "^wpo: s%.lua:2: wpo%.null%.a: unknown attribute 'tirggers' %(did you mean 'triggers'%?%) %(valid: .*%)\n$" },
      { "a type error", 'local s = wpo.stack { name = "t" }\ns:add("random.password", "p", { length = "long" })\nreturn s\n',
        "^wpo: s%.lua:2: random%.password%.p: attribute length: expected an integer, got string \"long\"\n$" },
      { "an unknown global", 'local s = wpo.stack { name = "t" }\ns:add("wpo.null", "a", { value = vpc_id })\nreturn s\n',
        "^wpo: s%.lua:2: unknown global 'vpc_id'\n$" },
      { "a duplicate address", 'local s = wpo.stack { name = "t" }\ns:add("wpo.null", "a")\n\ns:add("wpo.null", "a")\nreturn s\n',
        "^wpo: s%.lua:4: wpo%.null%.a: duplicate address %(first declared at s%.lua:2%)\n$" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        h.write(dir .. "/s.lua", case[2])
        for _, args in ipairs({ { "plan", "s.lua" }, { "run", "s.lua", "--yes" } }) do
          local r = wpo(dir, args)
          assert.are.equal(1, r.status)
          assert.matches(case[3], r.stderr)
          assert.is_true(one_line(r.stderr))
          assert.are.equal("", r.stdout)
        end
        assert.is_false(fs.exists(dir .. "/.wpo"))
      end)
    end
  end)

  it("fails a resource, skips its dependents, creates the rest, and completes on the next run", function()
    local src = 'local s = wpo.stack { name = "t" }\nlocal a = s:add("wpo.null", "a", { %s })\n'
      .. 'local b = s:add("wpo.null", "b", { value = a.id })\ns:add("wpo.null", "c", { depends_on = { b } })\n'
      .. 'local x = s:add("wpo.null", "x")\ns:add("wpo.null", "y", { value = x.id })\nreturn s\n'
    h.write(dir .. "/s.lua", src:format('fail_on_create = "InsufficientCapacity in eu-west-1a"'))
    local r = wpo(dir, { "run", "s.lua", "--yes" })
    assert.are.equal(1, r.status)
    -- progress on stdout; the failure, its skipped dependents and the summary on
    -- stderr, one line each with the file:line and address
    assert.matches("wpo%.null%.x: created in", r.stdout)
    assert.is_nil(r.stdout:find("failed", 1, true))
    assert.is_nil(r.stdout:find("skipped", 1, true))
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = (line:gsub("failed after %w+:", "failed after T:")) end
    assert.are.same({
      "s.lua:2: wpo.null.a: create failed after T: NullFailure: InsufficientCapacity in eu-west-1a",
      "s.lua:3: wpo.null.b: skipped: upstream wpo.null.a failed",
      "s.lua:4: wpo.null.c: skipped: upstream wpo.null.a failed",
      "Apply failed: 2 added, 0 changed, 0 destroyed; 1 failed, 2 skipped.",
      "  s.lua:2: wpo.null.a: NullFailure: InsufficientCapacity in eu-west-1a",
      "  s.lua:3: wpo.null.b: skipped: upstream wpo.null.a failed",
      "  s.lua:4: wpo.null.c: skipped: upstream wpo.null.a failed",
    }, lines)
    assert.is_nil(r.stderr:find("traceback", 1, true))
    assert.are.same({ "wpo.null.x", "wpo.null.y" }, addresses(state_of(dir)))

    h.write(dir .. "/s.lua", src:format(""))
    r = wpo(dir, { "run", "s.lua", "--yes" })
    assert.are.equal(0, r.status, r.stdout)
    assert.matches("Plan: 3 to add, 0 to change, 0 to destroy%.", r.stdout)
    assert.are.same({ "wpo.null.a", "wpo.null.b", "wpo.null.c", "wpo.null.x", "wpo.null.y" }, addresses(state_of(dir)))
  end)

  it("fails at once when another process holds the stack's lock, naming it", function()
    local ready, release = dir .. "/ready", dir .. "/release"
    os.execute("mkfifo " .. h.quote(ready) .. " " .. h.quote(release))
    h.write(dir .. "/holder.lua", [[
      local path, ready, release = ...
      local stack = require("wpo.stack").load(path)
      local st = require("wpo.state").open(stack, { operation = "apply", command = "wpo run s.lua" })
      local f = io.open(ready, "w"); f:write("locked " .. require("wpo.core.sys").pid() .. "\n"); f:close()
      local g = io.open(release, "r"); g:read("a"); g:close()
      st:close()
    ]])
    -- if the holder fails, the fifo still gets a line, so this test cannot hang
    local child = io.popen(string.format("cd %s && (%s lua holder.lua s.lua %s %s || echo failed > %s) &",
      h.quote(dir), h.quote(WPO), h.quote(ready), h.quote(release), h.quote(ready)))
    child:close()
    local f = io.open(ready, "r")
    local pid = f:read("a"):match("^locked (%d+)")
    f:close()
    assert.is_not_nil(pid, "the holder took the lock")
    local r = wpo(dir, { "plan", "s.lua" })
    local g = io.open(release, "w"); g:write("done"); g:close()
    assert.are.equal(1, r.status)
    assert.is_true(one_line(r.stderr))
    assert.matches("^wpo: StateLocked: the state is locked: .*%.wpo/t%.lock is locked by pid " .. pid
      .. " on .* %(user .*, running 'wpo run s%.lua', since %d%d%d%d%-", r.stderr)
  end)

  it("refuses a corrupt, truncated, unknown-version or swapped state, touching nothing", function()
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes" }).status)
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes", "--var", "greeting=x" }).status)
    local path = dir .. "/.wpo/t.state.json"
    local good = fs.read(path)
    local doc = cjson.decode(good)
    local other = cjson.decode(good)
    other.lineage = "00000000-0000-4000-8000-000000000000"
    doc.format_version = 99
    local cases = {
      { "garbage", "corrupt or truncated" },
      { good:sub(1, #good // 2), "corrupt or truncated" },
      { cjson.encode(doc), "format version 99; this wpo reads version 1" },
      { cjson.encode(other), "lineage 00000000%-0000%-4000%-8000%-000000000000 differs from its backup's" },
    }
    for _, case in ipairs(cases) do
      fs.write_atomic(path, case[1])
      local backup = fs.read(path .. ".backup")
      local r = wpo(dir, { "run", "s.lua", "--yes", "--var", "greeting=changed" })
      assert.are.equal(1, r.status)
      assert.is_true(one_line(r.stderr), r.stderr)
      assert.matches(case[2], r.stderr)
      assert.matches("refusing to touch it", r.stderr)
      assert.are.equal(case[1], fs.read(path))
      assert.are.equal(backup, fs.read(path .. ".backup"))
    end
  end)

  it("refuses to start afresh when the state is gone but its backup is not", function()
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes" }).status)
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes", "--var", "greeting=x" }).status)
    os.remove(dir .. "/.wpo/t.state.json")
    local r = wpo(dir, { "run", "s.lua", "--yes" })
    assert.are.equal(1, r.status)
    assert.matches("the state is missing but its backup is there", r.stderr)
    assert.is_false(fs.exists(dir .. "/.wpo/t.state.json"))
  end)

  it("honours prevent_destroy from the script, and from the state once the declaration is gone", function()
    local protected = 'local s = wpo.stack { name = "t" }\ns:add("wpo.null", "keep", { lifecycle = { prevent_destroy = true } })\n'
      .. 's:add("wpo.null", "other")\nreturn s\n'
    h.write(dir .. "/s.lua", protected)
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes" }).status)
    local r = wpo(dir, { "destroy", "s.lua", "--yes" })
    assert.are.equal(1, r.status)
    assert.matches("^wpo: s%.lua:2: wpo%.null%.keep: .*prevent_destroy forbids destroying it\n$", r.stderr)
    assert.are.same({ "wpo.null.keep", "wpo.null.other" }, addresses(state_of(dir)))

    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t" }\ns:add("wpo.null", "other")\nreturn s\n')
    r = wpo(dir, { "run", "s.lua", "--yes" })
    assert.are.equal(1, r.status)
    assert.matches("^wpo: s%.lua:2: wpo%.null%.keep: .*recorded in the state: refusing to destroy it", r.stderr)
    assert.are.same({ "wpo.null.keep", "wpo.null.other" }, addresses(state_of(dir)))

    assert.are.equal(0, wpo(dir, { "state", "rm", "s.lua", "wpo.null.keep" }).status)
    r = wpo(dir, { "plan", "s.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("prints the plan as JSON in the documented shape", function()
    local r = wpo(dir, { "plan", "s.lua", "--json" })
    assert.are.equal(0, r.status, r.stderr)
    local doc = cjson.decode(r.stdout)
    assert.are.equal("1.2", doc.format_version)
    assert.are.equal("t", doc.stack)
    assert.are.same({ add = 3, change = 0, destroy = 0, read = 0, forget = 0 }, doc.summary)
    assert.are.equal(3, #doc.resource_changes)
    for _, c in ipairs(doc.resource_changes) do
      assert.are.same({ "create" }, c.change.actions)
      assert.are.equal(cjson.null, c.change.before)
      assert.matches("^s%.lua:%d+$", c.where)
      assert.is_string(c.type)
      assert.are.equal(c.type .. "." .. c.name, c.address)
      assert.are.equal("managed", c.mode)
    end
    -- the same bytes every run
    assert.are.equal(r.stdout, wpo(dir, { "plan", "s.lua", "--json" }).stdout)
    assert.are.equal(1, wpo(dir, { "plan", "nonexistent.lua", "--detailed-exitcode" }).status)
  end)

  it("applies a saved plan exactly, and refuses it once the state has moved", function()
    local r = wpo(dir, { "plan", "s.lua", "--out", "p.plan", "--var", "greeting=saved" })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal(tonumber("600", 8), fs.stat(dir .. "/p.plan").mode)
    h.write(dir .. "/s.lua", STACK:gsub('"hello"', '"edited after planning"'))
    r = wpo(dir, { "apply", "p.plan" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Apply complete: 3 added", r.stdout)
    local by = {}
    for _, res in ipairs(state_of(dir).resources) do by[res.address] = res end
    assert.are.equal("saved", by["wpo.null.app"].inputs.value)

    assert.are.equal(0, wpo(dir, { "plan", "s.lua", "--out", "p2.plan", "--var", "greeting=second" }).status)
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes", "--var", "greeting=third" }).status)
    r = wpo(dir, { "apply", "p2.plan" })
    assert.are.equal(1, r.status)
    assert.matches("^wpo: StalePlan: the state changed since this plan was made", r.stderr)
    by = {}
    for _, res in ipairs(state_of(dir).resources) do by[res.address] = res end
    assert.are.equal("third", by["wpo.null.app"].inputs.value)
  end)

  it("applies a saved plan from any directory: its paths are absolute, its staleness judged on content", function()
    -- planned in dir with relative paths everywhere: the script, a module it
    -- requires, a variables file, the state
    h.write(dir .. "/lib.lua", 'return { greeting = function(v) return "hi " .. v end }\n')
    h.write(dir .. "/vars.lua", 'return { greeting = "from a file" }\n')
    h.write(dir .. "/s.lua", STACK:gsub('value = s%.vars%.greeting', 'value = require("lib").greeting(s.vars.greeting)'))
    local r = wpo(dir, { "plan", "s.lua", "--out", "n.plan", "--var-file", "vars.lua", "--state", "st/t.json" })
    assert.are.equal(0, r.status, r.stderr)
    -- ... and applied from elsewhere, the stack's files edited meanwhile (the plan carries its own)
    h.write(dir .. "/lib.lua", 'return { greeting = function() return "edited" end }\n')
    local elsewhere = h.tmpdir()
    r = wpo(elsewhere, { "apply", dir .. "/n.plan" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Apply complete: 3 added", r.stdout)
    assert.are.same({}, fs.list(elsewhere))
    assert.is_false(fs.exists(dir .. "/.wpo/t.state.json"))
    local doc = cjson.decode(fs.read(dir .. "/st/t.json"))
    local by = {}
    for _, res in ipairs(doc.resources) do by[res.address] = res end
    assert.are.equal("hi from a file", by["wpo.null.app"].inputs.value)

    -- stale: the state moved since the plan was made, whichever directory applies it
    assert.are.equal(0, wpo(dir, { "plan", "s.lua", "--out", "n2.plan", "--state", "st/t.json",
      "--var", "greeting=two" }).status)
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes", "--state", "st/t.json", "--var", "greeting=three" }).status)
    r = wpo(elsewhere, { "apply", dir .. "/n2.plan" })
    assert.are.equal(1, r.status)
    assert.matches("^wpo: StalePlan: the state changed since this plan was made", r.stderr)

    -- a plan file whose content no longer matches its digest is refused
    assert.are.equal(0, wpo(dir, { "plan", "s.lua", "--out", "n3.plan", "--state", "st/t.json" }).status)
    local text = fs.read(dir .. "/n3.plan")
    local at = text:find('trigger = \\"1\\"', 1, true)
    assert.is_number(at)
    local edited = text:sub(1, at - 1) .. 'trigger = \\"2\\"' .. text:sub(at + #'trigger = \\"1\\"')
    h.write(dir .. "/n3.plan", edited)
    r = wpo(elsewhere, { "apply", dir .. "/n3.plan" })
    assert.are.equal(1, r.status)
    assert.are.equal("wpo: PlanError: " .. dir .. "/n3.plan does not hold what it was saved with (its digest differs): "
      .. "it was modified or damaged; make a new plan\n", r.stderr)
    h.rmrf(elsewhere)
  end)

  it("refuses to run without a terminal unless --yes", function()
    local r = wpo(dir, { "run", "s.lua" })
    assert.are.equal(1, r.status)
    assert.matches("refusing to apply without confirmation: there is no terminal to ask on %(pass %-%-yes%)", r.stderr)
    assert.is_nil(state_of(dir))
  end)

  it("shows outputs, hiding secrets unless asked for by name", function()
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes" }).status)
    local secret = state_of(dir).outputs.password.value
    local r = wpo(dir, { "output", "s.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("password = %(sensitive%)", r.stdout)
    assert.is_nil(r.stdout:find(secret, 1, true))
    r = wpo(dir, { "output", "s.lua", "password" })
    assert.are.equal(1, r.status)
    assert.matches("output 'password' is sensitive: add %-%-show%-sensitive to print it", r.stderr)
    r = wpo(dir, { "output", "s.lua", "password", "--show-sensitive" })
    assert.are.equal(secret .. "\n", r.stdout)
    local json = cjson.decode(wpo(dir, { "output", "s.lua", "--json" }).stdout)
    assert.are.same({ sensitive = true }, json.password)
    json = cjson.decode(wpo(dir, { "output", "s.lua", "--json", "--show-sensitive" }).stdout)
    assert.are.same({ value = secret, sensitive = true }, json.password)
  end)

  it("lists, shows, moves and removes state entries, and imports", function()
    assert.are.equal(0, wpo(dir, { "run", "s.lua", "--yes" }).status)
    local r = wpo(dir, { "state", "list", "s.lua" })
    assert.are.equal("random.password.db\nwpo.null.app\nwpo.null.worker\n", r.stdout)
    r = wpo(dir, { "state", "show", "s.lua", "random.password.db" })
    assert.matches("result = %(sensitive%)", r.stdout)
    assert.matches("where   s%.lua:2", r.stdout)
    assert.are.equal(0, wpo(dir, { "state", "mv", "s.lua", "wpo.null.worker", "wpo.null.worker2" }).status)
    assert.are.same({ "random.password.db", "wpo.null.app", "wpo.null.worker2" }, addresses(state_of(dir)))
    r = wpo(dir, { "state", "mv", "s.lua", "wpo.null.app", "random.password.x" })
    assert.are.equal(1, r.status)
    assert.matches("the new address must be wpo%.null%.<name>", r.stderr)
    assert.are.equal(0, wpo(dir, { "state", "rm", "s.lua", "wpo.null.worker2" }).status)
    r = wpo(dir, { "import", "s.lua", "wpo.null.worker", "imported-id" })
    assert.are.equal(0, r.status, r.stderr)
    local by = {}
    for _, res in ipairs(state_of(dir).resources) do by[res.address] = res end
    assert.are.equal("imported-id", by["wpo.null.worker"].id)
    r = wpo(dir, { "import", "s.lua", "wpo.null.worker", "again" })
    assert.are.equal(1, r.status)
    assert.matches("already in the state", r.stderr)
  end)

  it("limits plan and apply to --target and its dependencies", function()
    local r = wpo(dir, { "run", "s.lua", "--yes", "--target", "wpo.null.app" })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.same({ "wpo.null.app" }, addresses(state_of(dir)))
    r = wpo(dir, { "plan", "s.lua", "--target", "wpo.null.worker" })
    assert.matches("Plan: 1 to add, 0 to change, 0 to destroy%.", r.stdout)
  end)

  -- Start `wpo run` in the background with its stdout on a fifo; returns a
  -- line reader, the pid (from the lock file, once it holds the lock) and a
  -- function waiting for the exit status (through a second fifo).
  local function background_run(args)
    os.execute("mkfifo " .. h.quote(dir .. "/out") .. " " .. h.quote(dir .. "/rc"))
    local parts = {}
    for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
    os.execute(string.format("cd %s && ( %s %s > out 2> err & wait $!; echo $? > rc ) &", h.quote(dir), h.quote(WPO),
      table.concat(parts, " ")))
    local out = io.open(dir .. "/out", "r")
    local seen = {}
    local function until_line(pattern)
      for line in out:lines() do
        seen[#seen + 1] = line
        if line:match(pattern) then return line end
      end
      error("the output ended before a line matching " .. pattern .. ":\n" .. table.concat(seen, "\n"))
    end
    local function pid() return fs.read(dir .. "/.wpo/t.lock"):match("pid=(%d+)") end
    local function finish()
      for line in out:lines() do seen[#seen + 1] = line end
      out:close()
      local rc = io.open(dir .. "/rc", "r")
      local status = tonumber(rc:read("a"))
      rc:close()
      return status, table.concat(seen, "\n") .. "\n", h.slurp(dir .. "/err")
    end
    return until_line, pid, finish
  end

  it("on SIGINT starts nothing new, lets running creates finish, saves and exits 130; a second signal cancels them",
    function()
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t" }\n'
      .. 'local a = s:add("wpo.null", "a", { create_delay_ms = 1500 })\ns:add("wpo.null", "b", { value = a.id })\nreturn s\n')
    local until_line, pid, finish = background_run({ "run", "s.lua", "--yes" })
    until_line("^wpo%.null%.a: creating")
    os.execute("kill -INT " .. pid())
    local status, out, err = finish()
    assert.are.equal(130, status, out .. err)
    assert.matches("Interrupt %(SIGINT%): starting nothing new", out)
    assert.matches("wpo%.null%.a: created in", out)
    assert.matches("\nApply interrupted %(SIGINT%): 1 added, 0 changed, 0 destroyed; 0 failed, 0 skipped, 1 not started%.\n"
      .. "  s%.lua:3: wpo%.null%.b: not started %(interrupted%)\n$", err)
    assert.is_nil(out:find("not started", 1, true))
    assert.are.same({ "wpo.null.a" }, addresses(state_of(dir)))

    os.remove(dir .. "/out"); os.remove(dir .. "/rc")
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t" }\n'
      .. 's:add("wpo.null", "slow", { create_delay_ms = 600000 })\ns:add("wpo.null", "quick")\nreturn s\n')
    until_line, pid, finish = background_run({ "run", "s.lua", "--yes" })
    until_line("^wpo%.null%.quick: created")
    local holder = pid()
    os.execute("kill -TERM " .. holder)
    until_line("^Interrupt %(SIGTERM%): starting nothing new")
    os.execute("kill -INT " .. holder)
    status, out, err = finish()
    assert.are.equal(143, status, out .. err)        -- the first signal's status
    assert.matches("Interrupt %(SIGINT%): cancelling running operations", out)
    assert.matches("s%.lua:2: wpo%.null%.slow: create failed after .*: NullFailure: create interrupted", err)
    assert.matches("Apply interrupted %(SIGTERM%)", err)
    assert.are.same({ "wpo.null.quick" }, addresses(state_of(dir)))
  end)

  it("streams apply events as JSON lines with --json", function()
    local r = wpo(dir, { "run", "s.lua", "--yes", "--json" })
    assert.are.equal(0, r.status, r.stderr)
    local events = {}
    for line in r.stdout:gmatch("[^\n]+") do events[#events + 1] = cjson.decode(line) end
    assert.are.equal("plan", events[1].event)
    assert.are.same({ add = 3, change = 0, destroy = 0, read = 0, forget = 0 }, events[1].summary)
    local starts, ends = 0, 0
    local stamp = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%dZ$"
    for i, e in ipairs(events) do
      assert.matches(stamp, e["@timestamp"])
      assert.are.equal("info", e["@level"])
      if i > 1 then assert.is_true(e["@timestamp"] >= events[i - 1]["@timestamp"]) end
      if e.event == "start" then starts = starts + 1; assert.are.equal("create", e.action) end
      if e.event == "end" then
        ends = ends + 1
        assert.is_true(e.ok)
        assert.is_string(e.id)
        assert.is_number(e.duration_ms)
      end
    end
    assert.are.equal(3, starts)
    assert.are.equal(3, ends)
    local last = events[#events]
    assert.are.equal("summary", last.event)
    assert.is_true(last.ok)
    assert.are.equal(3, last.added)
  end)

  it("with --json keeps a failed apply's events on stdout and writes its summary to stderr", function()
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t" }\n'
      .. 'local a = s:add("wpo.null", "a", { fail_on_create = "no capacity" })\n'
      .. 's:add("wpo.null", "b", { value = a.id })\nreturn s\n')
    local r = wpo(dir, { "run", "s.lua", "--yes", "--json" })
    assert.are.equal(1, r.status)
    local events = {}
    for line in r.stdout:gmatch("[^\n]+") do events[#events + 1] = cjson.decode(line) end
    local last = events[#events]
    assert.are.equal("summary", last.event)
    assert.is_false(last.ok)
    assert.are.equal("error", last["@level"])
    assert.are.equal("s.lua:2", last.failures[1].where)
    assert.are.equal("Apply failed: 0 added, 0 changed, 0 destroyed; 1 failed, 1 skipped.\n"
      .. "  s.lua:2: wpo.null.a: NullFailure: no capacity\n"
      .. "  s.lua:3: wpo.null.b: skipped: upstream wpo.null.a failed\n", r.stderr)
  end)

  it("asks on a terminal and applies only on 'yes'", function()
    local fsh = require("wpo.core.fs")
    local script_bin
    for d in (os.getenv("PATH") or ""):gmatch("[^:]+") do
      if fsh.exists(d .. "/script") then script_bin = d .. "/script" end
    end
    assert(script_bin, "script(1) (Debian's bsdutils, always installed) is needed for a terminal")
    local function on_tty(answer)
      return h.sh(string.format("cd %s && %s -qec %s /dev/null", h.quote(dir), h.quote(script_bin),
        h.quote(h.quote(WPO) .. " run s.lua")), { stdin = answer .. "\n" })
    end
    local r = on_tty("no")
    assert.matches("Apply these changes to stack t%? Only 'yes' is accepted:", r.stdout)
    assert.matches("Apply cancelled%.", r.stdout)
    assert.is_nil(state_of(dir))
    r = on_tty("yes")
    assert.matches("Apply complete: 3 added", r.stdout)
    assert.are.equal(3, #state_of(dir).resources)
  end)

  it("prints the graph as DOT, and explains when Graphviz is missing for --svg", function()
    local r = wpo(dir, { "graph", "s.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches('^digraph "t" {', r.stdout)
    assert.matches('"wpo%.null%.worker" %-> "wpo%.null%.app";', r.stdout)
    assert.matches('"wpo%.null%.app" %[label = "wpo%.null%.app\\ns%.lua:3"%];', r.stdout)
    r = wpo(dir, { "graph", "s.lua", "--svg", "g.svg" }, { env = { PATH = "/nonexistent" } })
    assert.are.equal(1, r.status)
    assert.matches("%-%-svg needs Graphviz's dot, which is not installed", r.stderr)
  end)

  it("reads variables from --var-file and rejects unknown ones", function()
    h.write(dir .. "/prod.lua", 'return { greeting = "from file" }\n')
    local r = wpo(dir, { "plan", "s.lua", "--var-file", "prod.lua", "--json" })
    assert.are.equal(0, r.status, r.stderr)
    local doc = cjson.decode(r.stdout)
    local app
    for _, c in ipairs(doc.resource_changes) do if c.address == "wpo.null.app" then app = c end end
    assert.are.equal("from file", app.change.after.value)
    r = wpo(dir, { "plan", "s.lua", "--var", "greating=x" })
    assert.are.equal(1, r.status)
    assert.matches("the stack declares no variable 'greating' %(did you mean 'greeting'%?%)", r.stderr)
  end)
end)
