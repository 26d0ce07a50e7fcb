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
