-- The discoverable interface: wpo types, wpo help TYPE, wpo validate, and
-- the generated type reference in docs/types/ kept current.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

describe("wpo types and wpo help TYPE", function()
  it("lists every type, one line each, and describes one", function()
    local r = h.wpo { "types" }
    assert.are.equal(0, r.status, r.stderr)
    local names = {}
    for line in r.stdout:gmatch("[^\n]+") do names[#names + 1] = assert(line:match("^(%S+)  +%S")) end
    assert.is_true(#names >= 40)
    assert.are.same(names, (function() local c = { table.unpack(names) }; table.sort(c); return c end)())
    local doc = cjson.decode(h.wpo({ "types", "--json" }).stdout)
    assert.are.equal(#names, #doc)
    -- the library built into the binary lists the same types
    local built = h.sh("env -u WPO_STDLIB " .. h.quote(h.wpo_abs()) .. " types")
    assert.are.equal(r.stdout, built.stdout)
    r = h.wpo { "help", "aws.ec2.subnet" }
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("cidr_block +cidr; changing it replaces the object; required", r.stdout)
    assert.matches("map_public_ip_on_launch +boolean; changing it updates in place; default false", r.stdout)
    assert.matches("\noutputs:\n", r.stdout, 1, true)
    r = h.wpo { "help", "random.password" }
    assert.matches("\n  result %(sensitive%)", r.stdout)
  end)

  it("suggests the nearest type or command for a misspelt one", function()
    local r = h.wpo { "help", "aws.ec2.subnett" }
    assert.are.equal(2, r.status)
    assert.matches("unknown resource type 'aws.ec2.subnett' (did you mean aws.ec2.subnet?)", r.stderr, 1, true)
    r = h.wpo { "help", "pln" }
    assert.are.equal(2, r.status)
    assert.matches("no such command 'pln' (did you mean plan?)", r.stderr, 1, true)
  end)

  it("keeps docs/types/ as the type definitions give it (make docs)", function()
    local dir = h.tmpdir()
    local r = h.wpo { "lua", "tools/typedocs.lua", dir }
    assert.are.equal(0, r.status, r.stderr)
    local made = fs.list(dir)
    table.sort(made)
    local committed = fs.list("docs/types") or {}
    table.sort(committed)
    assert.are.same(made, committed)
    for _, f in ipairs(made) do
      assert.are.equal(fs.read(dir .. "/" .. f), fs.read("docs/types/" .. f),
        "docs/types/" .. f .. " is not current: run make docs")
    end
    h.rmrf(dir)
  end)
end)

describe("wpo validate", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmrf(dir) end)

  -- no AWS to reach: any call would fail to connect
  local NO_AWS = { AWS_ENDPOINT_URL = "http://127.0.0.1:9", AWS_ACCESS_KEY_ID = "x", AWS_SECRET_ACCESS_KEY = "y",
    AWS_REGION = "eu-west-1" }

  it("passes a good stack without state, lock or AWS", function()
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t", region = "eu-west-1" }\n'
      .. 'local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.0.0.0/16" })\n'
      .. 's:add("aws.ec2.subnet", "a", { vpc_id = vpc.id, cidr_block = "10.0.1.0/24" })\n'
      .. 's:output("vpc", vpc.id)\nreturn s\n')
    local r = h.wpo_in(dir, { "validate", "s.lua" }, NO_AWS)
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("Stack t is valid: 2 resources, 1 output.\n", r.stdout)
    assert.is_nil(fs.stat(dir .. "/.wpo"))
    assert.are.same({ valid = true, stack = "t", resources = 2, outputs = 1 },
      cjson.decode(h.wpo_in(dir, { "validate", "s.lua", "--json" }, NO_AWS).stdout))
  end)

  it("fails a bad value, a bad reference and a cycle, naming file:line", function()
    local cases = {
      { 'local s = wpo.stack { name = "t" }\ns:add("aws.ec2.vpc", "main", { cidr_block = "10.0.0.0/99" })\nreturn s\n',
        "^wpo: s%.lua:2: aws%.ec2%.vpc%.main: .*cidr" },
      { 'local s = wpo.stack { name = "t" }\nlocal v = s:add("wpo.null", "a", {})\n'
        .. 's:add("wpo.null", "b", { value = v.nope })\nreturn s\n', "^wpo: s%.lua:3: .*has no output or attribute 'nope'" },
      { 'local s = wpo.stack { name = "t" }\nlocal a = s:add("wpo.null", "a", { depends_on = { "wpo.null.b" } })\n'
        .. 's:add("wpo.null", "b", { depends_on = { a } })\nreturn s\n', "cycle" },
    }
    for i, c in ipairs(cases) do
      h.write(dir .. "/s.lua", c[1])
      local r = h.wpo_in(dir, { "validate", "s.lua" }, NO_AWS)
      assert.are.equal(1, r.status, "case " .. i .. ": " .. r.stdout .. r.stderr)
      assert.are.equal("", r.stdout)
      assert.matches(c[2], r.stderr)
      assert.are.equal(1, select(2, r.stderr:gsub("\n", "")), r.stderr)
    end
    assert.is_nil(fs.stat(dir .. "/.wpo"))
  end)
end)

describe("wpo show and wpo state --json", function()
  local dir
  local STACK = 'local s = wpo.stack { name = "e" }\n'
    .. 'local pw = s:add("random.password", "db", { length = 12 })\n'
    .. 'local a = s:add("wpo.null", "a", { value = "x/y" })\n'
    .. 's:output("pw", pw.result)\ns:output("a", a.id)\nreturn s\n'
  before_each(function()
    dir = h.tmpdir()
    h.write(dir .. "/e.lua", STACK)
    assert.are.equal(0, h.wpo_in(dir, { "run", "e.lua", "--yes" }).status)
  end)
  after_each(function() h.rmrf(dir) end)

  local function secret()
    local st = cjson.decode(fs.read(dir .. "/.wpo/e.state.json"))
    for _, r in ipairs(st.resources) do if r.type == "random.password" then return r.outputs.result end end
  end

  it("shows the state, for people and as Terraform's state JSON, secrets left out", function()
    local pw = assert(secret())
    local r = h.wpo_in(dir, { "show", "e.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("# wpo.null.a:\n    id    = \"%x+\"\n    value = \"x/y\"\n", r.stdout)
    assert.matches("    result      = (sensitive)\n", r.stdout, 1, true)
    assert.matches("\nOutputs:\n\na = \"%x+\"\npw = %(sensitive%)\n$", r.stdout)
    local j = h.wpo_in(dir, { "show", "e.lua", "--json" })
    assert.are.equal(0, j.status, j.stderr)
    local doc = cjson.decode(j.stdout)
    assert.are.equal(2, #doc.values.root_module.resources)
    assert.are.same({ sensitive = true }, doc.values.outputs.pw)
    local list = cjson.decode(h.wpo_in(dir, { "state", "list", "e.lua", "--json" }).stdout)
    assert.are.same({ "random.password.db", "wpo.null.a" }, { list[1].address, list[2].address })
    assert.are.equal("e.lua:3", list[2].where)
    local one = cjson.decode(h.wpo_in(dir, { "state", "show", "e.lua", "random.password.db", "--json" }).stdout)
    assert.is_true(one.sensitive_values.result)
    assert.is_nil(one.values.result)
    for _, text in ipairs({ r.stdout, j.stdout, cjson.encode(list), cjson.encode(one) }) do
      assert.is_nil(text:find(pw, 1, true))
    end
    assert.are.equal(2, h.wpo_in(dir, { "state", "rm", "e.lua", "wpo.null.a", "--json" }).status)
  end)

  it("shows a saved plan as apply will carry it out, without AWS or a lock", function()
    h.write(dir .. "/e.lua", (STACK:gsub("x/y", "x/z")))
    local planned = h.wpo_in(dir, { "plan", "e.lua", "--out", "p.plan" })
    assert.are.equal(0, planned.status, planned.stderr)
    local as_json = h.wpo_in(dir, { "plan", "e.lua", "--json" }).stdout
    -- another process holding the state's lock does not stop show
    local r = h.sh("cd " .. h.quote(dir) .. " && flock .wpo/e.lock " .. h.quote(h.wpo_abs()) .. " show p.plan")
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("~ wpo.null.a  # e.lua:3 will be updated in place\n      value = \"x/y\" -> \"x/z\"", r.stdout, 1, true)
    assert.is_truthy(planned.stdout:find(r.stdout, 1, true))
    local shown = cjson.decode(h.wpo_in(dir, { "show", "p.plan", "--json" }).stdout)
    assert.are.same(cjson.decode(as_json).resource_changes, shown.resource_changes)
    assert.are.same({ "no-op" }, shown.output_changes.a.actions)
    r = h.wpo_in(dir, { "show", "missing.plan" })
    assert.are.equal(1, r.status)
    assert.matches("^wpo: PlanError: cannot read the plan: [^\n]*missing.plan", r.stderr)
  end)
end)

describe("refresh progress", function()
  it("names each resource read in a small stack and counts by quarters in a large one", function()
    local dir = h.tmpdir()
    h.write(dir .. "/small.lua", 'local s = wpo.stack { name = "small" }\ns:add("wpo.null", "a", {})\nreturn s\n')
    h.write(dir .. "/big.lua", 'local s = wpo.stack { name = "big" }\n'
      .. 'for i = 1, 25 do s:add("wpo.null", "n" .. i, {}) end\nreturn s\n')
    for _, f in ipairs({ "small.lua", "big.lua" }) do assert.are.equal(0, h.wpo_in(dir, { "run", f, "--yes" }).status) end
    local r = h.wpo_in(dir, { "plan", "small.lua" })
    assert.matches("^wpo%.null%.a: read %[id=%x+%]\n\nNo changes", r.stdout)
    r = h.wpo_in(dir, { "plan", "big.lua", "--parallelism", "1" })
    assert.matches("^Read 7 of 25 resources\nRead 13 of 25 resources\nRead 19 of 25 resources\nRead 25 of 25 resources\n\n"
      .. "No changes", r.stdout)
    assert.are.equal("{", h.wpo_in(dir, { "plan", "big.lua", "--json" }).stdout:sub(1, 1))
    h.rmrf(dir)
  end)
end)

describe("wpo completion", function()
  it("completes commands, options, types and the addresses in a stack's state", function()
    local dir = h.tmpdir()
    h.write(dir .. "/e.lua", 'local s = wpo.stack { name = "e" }\ns:add("wpo.null", "a", {})\n'
      .. 's:add("wpo.null", "b", {})\nreturn s\n')
    assert.are.equal(0, h.wpo_in(dir, { "run", "e.lua", "--yes" }).status)
    local function complete(...)
      local r = h.wpo_in(dir, { "completion", "complete", ... })
      assert.are.equal(0, r.status, r.stderr)
      return r.stdout
    end
    assert.matches("\nvalidate\n", complete("1", "wpo", ""), 1, true)
    assert.are.equal("wpo.null.a\nwpo.null.b\n", complete("4", "wpo", "plan", "e.lua", "--target", ""))
    assert.are.equal("wpo.null.a\nwpo.null.b\n", complete("4", "wpo", "state", "show", "e.lua", ""))
    assert.are.equal("__files__\n", complete("2", "wpo", "plan", ""))
    assert.matches("\naws.ec2.subnet\n", complete("2", "wpo", "help", "aws"), 1, true)
    assert.matches("complete %-F _wpo wpo", h.wpo { "completion", "bash" }.stdout)
    assert.matches("bashcompinit", h.wpo { "completion", "zsh" }.stdout)
    assert.are.equal(2, h.wpo { "completion", "fish" }.status)
    -- (a stack applied from files outside git: its history says so)
    assert.matches("\ne is deployed from files outside git (no commit recorded).\n",
      h.wpo_in(dir, { "history", "e.lua" }).stdout, 1, true)
    h.rmrf(dir)
  end)
end)
