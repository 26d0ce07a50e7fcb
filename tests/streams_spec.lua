-- What a failing apply prints, and where, through the wpo binary against
-- tests/fakeaws: progress on stdout; each failure, its skipped dependents and
-- the summary on stderr, one line each naming the file:line and address; an
-- answer AWS cut short (a 200 without the member the type needs) as one
-- InvalidResponse line naming the operation, the member and the request; a
-- bug in a resource type as one line, its traceback only with WPO_LOG=debug.
local h = require "helpers"
local fs = require "wpo.core.fs"

local STACK = [[
local s = wpo.stack { name = "net", region = "eu-west-1" }
local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.60.0.0/16" })
s:add("aws.ec2.subnet", "a", { vpc_id = vpc.id, cidr_block = "10.60.1.0/24", availability_zone = "eu-west-1a" })
s:add("aws.ec2.security_group", "web", { name = "net-web", vpc_id = vpc.id })
return s
]]

-- a resource type with a bug in its create
local BUGGY = [[
local resource = require "wpo.resource"
return resource.define "aws.test.buggy" {
  attributes = { size = { type = "integer" } },
  create = function(ctx, want)
    local answer = {}
    return { id = answer.Thing.Id }
  end,
  read = function() return nil end,
  delete = function() end,
}
]]

local function lines_of(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

describe("wpo's output streams (against fakeaws)", function()
  local fakeaws = require "fakeaws"
  local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
  local f, dir

  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
    h.write(dir .. "/s.lua", STACK)
  end)
  after_each(function() h.rmrf(dir) end)

  local function wpo(args, extra)
    local parts = { "cd " .. h.quote(dir) .. " && env", "WPO_WAIT_SCALE=0.001", "NO_COLOR=1" }
    local env = { WPO_LOG = "" }
    for k, v in pairs(f.env) do env[k] = v end
    for k, v in pairs(extra or {}) do env[k] = v end
    for k, v in pairs(env) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
    parts[#parts + 1] = h.quote(WPO)
    for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
    return h.sh(table.concat(parts, " "))
  end

  it("reports a 200 answer without the created object as InvalidResponse, one line on stderr with its "
    .. "file:line, never a traceback", function()
    f:faults { strip_members = { "Vpc" }, operations = { "ec2.CreateVpc" } }
    local r = wpo({ "run", "s.lua", "--yes" })
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.are.equal(1, f:calls()["ec2.CreateVpc"])          -- not retried: the answer came, it was short
    -- stdout: the plan and the progress, nothing about the failure
    assert.matches("aws%.ec2%.vpc%.main: creating%.%.%.\n", r.stdout)
    assert.is_nil(r.stdout:find("InvalidResponse", 1, true))
    assert.is_nil(r.stdout:find("skipped", 1, true))
    local lines = lines_of(r.stderr)
    assert.are.equal(7, #lines, r.stderr)
    local rid = lines[1]:match("^s%.lua:2: aws%.ec2%.vpc%.main: create failed after %w+: InvalidResponse: ec2 CreateVpc "
      .. "answered without Vpc %(request ([%x-]+)%)$")
    assert.is_string(rid, lines[1])
    assert.are.equal("s.lua:3: aws.ec2.subnet.a: skipped: upstream aws.ec2.vpc.main failed", lines[2])
    assert.are.equal("s.lua:4: aws.ec2.security_group.web: skipped: upstream aws.ec2.vpc.main failed", lines[3])
    assert.are.equal("Apply failed: 0 added, 0 changed, 0 destroyed; 1 failed, 2 skipped.", lines[4])
    assert.are.equal("  s.lua:2: aws.ec2.vpc.main: InvalidResponse: ec2 CreateVpc answered without Vpc (request "
      .. rid .. ")", lines[5])
    assert.are.equal("  s.lua:3: aws.ec2.subnet.a: skipped: upstream aws.ec2.vpc.main failed", lines[6])
    assert.are.equal("  s.lua:4: aws.ec2.security_group.web: skipped: upstream aws.ec2.vpc.main failed", lines[7])
    for _, text in ipairs({ r.stdout, r.stderr }) do
      assert.is_nil(text:find("traceback", 1, true))
      assert.is_nil(text:find("attempt to index", 1, true))
    end
  end)

  it("reports a bug in a resource type in one line; WPO_LOG=debug adds its traceback", function()
    fs.mkdir_p(dir .. "/lib/wpo/aws/test")
    h.write(dir .. "/lib/wpo/aws/test/buggy.lua", BUGGY)
    h.write(dir .. "/b.lua", 'local s = wpo.stack { name = "b", region = "eu-west-1" }\n'
      .. 's:add("aws.test.buggy", "x", { size = 1 })\nreturn s\n')
    local lua_path = { LUA_PATH = dir .. "/lib/?.lua;;" }
    local r = wpo({ "run", "b.lua", "--yes" }, lua_path)
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    local lines = lines_of(r.stderr)
    assert.are.equal(3, #lines, r.stderr)
    assert.matches("^b%.lua:2: aws%.test%.buggy%.x: create failed after %w+: InternalError: .*buggy%.lua:6: attempt to "
      .. "index a nil value %(field 'Thing'%)$", lines[1])
    assert.are.equal("Apply failed: 0 added, 0 changed, 0 destroyed; 1 failed, 0 skipped.", lines[2])
    assert.matches("^  b%.lua:2: aws%.test%.buggy%.x: InternalError: .*buggy%.lua:6: attempt to index a nil value", lines[3])
    assert.is_nil(r.stderr:find("traceback", 1, true))

    h.rmrf(dir .. "/.wpo")
    r = wpo({ "run", "b.lua", "--yes" }, { LUA_PATH = lua_path.LUA_PATH, WPO_LOG = "debug" })
    assert.are.equal(1, r.status)
    assert.matches("stack traceback:\n.*buggy%.lua:6", r.stderr)
  end)
end)
