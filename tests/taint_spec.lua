-- Tainted objects, end to end through the wpo binary against tests/fakeaws
-- (issue 12, item 2): a create that makes its object and then fails a later
-- step (an RDS cluster parameter group made, then ModifyDBClusterParameterGroup
-- refused) leaves the object in the state as tainted, with the error; the next
-- plan replaces it ("-/+ ... (tainted: ...)"), a run does, and destroy removes
-- a tainted object: nothing is orphaned.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

local function stack(parameters)
  return string.format([[
local s = wpo.stack { name = "t", region = "eu-west-1" }
s:add("aws.rds.cluster_parameter_group", "db", { name = "t-db", family = "aurora-mysql8.0",
  parameters = { %s } })
s:add("aws.logs.log_group", "app", { name = "/t/app", retention_days = 7 })
return s
]], parameters)
end

local GOOD = 'character_set_server = "utf8mb4"'
local BAD = 'character_set_server = "utf8mb4", binlog_format = "SOMETIMES"'

describe("tainted objects (end to end)", function()
  local fakeaws = require "fakeaws"
  local f, dir

  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
  end)
  after_each(function() h.rmrf(dir) end)

  local function wpo(args)
    return h.sh(h.command_in(dir, args, { WPO_WAIT_SCALE = "0.001", NO_COLOR = "1" }, f.env))
  end

  local function record(address)
    local text = fs.read(dir .. "/.wpo/t.state.json")
    for _, r in ipairs(text and cjson.decode(text).resources or {}) do
      if r.address == address then return r end
    end
    return nil
  end

  local function groups()
    local out = {}
    for name in pairs(((f:state().rds or {})["db-cluster-parameter-group"]) or {}) do out[#out + 1] = name end
    table.sort(out)
    return out
  end

  local ADDRESS = "aws.rds.cluster_parameter_group.db"

  it("records the object a failed create left as tainted, replaces it on the next run", function()
    h.write(dir .. "/s.lua", stack(BAD))
    local r = wpo { "run", "s.lua", "--yes" }
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    local refusal = "Value: SOMETIMES is not in the allowed values of binlog_format"
    assert.matches(refusal, r.stderr, 1, true)   -- failures go to stderr
    assert.are.same({ "t-db" }, groups())
    local rec = record(ADDRESS)
    assert.is_table(rec, "the group is in the state")
    assert.are.equal("t-db", rec.id)
    assert.matches("^rds ModifyDBClusterParameterGroup: InvalidParameterValue: " .. refusal, rec.tainted)
    assert.is_table(record("aws.logs.log_group.app"))

    -- the next plan replaces it, saying why
    r = wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(2, r.status, r.stdout .. r.stderr)
    assert.matches("-/+ " .. ADDRESS .. "  # s.lua:2 will be replaced (tainted: rds ModifyDBClusterParameterGroup: "
      .. "InvalidParameterValue: " .. refusal, r.stdout, 1, true)
    assert.matches("Plan: 1 to add, 0 to change, 1 to destroy.", r.stdout, 1, true)
    local doc = cjson.decode(wpo({ "plan", "s.lua", "--json" }).stdout)
    local change
    for _, c in ipairs(doc.resource_changes) do if c.address == ADDRESS then change = c end end
    assert.are.same({ "delete", "create" }, change.change.actions)
    assert.are.equal("replace_because_tainted", change.action_reason)
    assert.matches("InvalidParameterValue", change.tainted, 1, true)

    -- fixed, the run deletes the tainted group and makes it again
    h.write(dir .. "/s.lua", stack(GOOD))
    r = wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Apply complete: 1 added, 0 changed, 1 destroyed.", r.stdout, 1, true)
    assert.is_nil(record(ADDRESS).tainted)
    assert.are.same({ "t-db" }, groups())
    r = wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)

    assert.are.equal(0, wpo({ "destroy", "s.lua", "--yes" }).status)
    assert.are.same({}, groups())
  end)

  it("destroys a tainted object: nothing is orphaned", function()
    h.write(dir .. "/s.lua", stack(BAD))
    assert.are.equal(1, wpo({ "run", "s.lua", "--yes" }).status)
    assert.is_string(record(ADDRESS).tainted)
    local r = wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Destroy complete! Resources: 2 destroyed.", r.stdout, 1, true)
    assert.are.same({}, groups())
    assert.are.same({}, (f:state().logs or {})["log-group"] or {})
  end)
end)
