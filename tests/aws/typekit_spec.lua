-- wpo.aws.typekit: the helpers every resource type shares — tags in each
-- service's shape, tag diffs, error codes, lists AWS holds as sets, diffs.
local errors = require "wpo.errors"
local kit = require "wpo.aws.typekit"

describe("wpo.aws.typekit tags", function()
  it("turns a map into a list sorted by key, in the member names a service uses", function()
    local map = { b = "2", a = "1", ["wpo:stack"] = "prod" }
    assert.are.same({ { Key = "a", Value = "1" }, { Key = "b", Value = "2" }, { Key = "wpo:stack", Value = "prod" } },
      kit.tag_list(map))
    assert.are.same({ { key = "a", value = "1" }, { key = "b", value = "2" }, { key = "wpo:stack", value = "prod" } },
      kit.tag_list(map, "key", "value"))
    assert.are.same({}, kit.tag_list(nil))
  end)

  it("reads a list back into a map, a missing value as the empty string", function()
    assert.are.same({ a = "1", b = "" }, kit.tag_map({ { Key = "a", Value = "1" }, { Key = "b" } }))
    assert.are.same({ a = "1" }, kit.tag_map({ { key = "a", value = "1" } }, "key", "value"))
    assert.are.same({}, kit.tag_map(nil))
  end)

  it("drops AWS's own aws:* tags and the keys asked for", function()
    assert.are.same({ team = "web" },
      kit.user_tags({ team = "web", ["aws:cloudformation:stack-name"] = "x", Name = "n" }, { Name = true }))
  end)

  it("diffs two maps into one shape: the tags to set (a map) and the keys to remove (sorted)", function()
    local set, remove = kit.tag_changes({ a = "1", b = "2", c = "3", z = "9" }, { a = "1", b = "two", d = "4" })
    assert.are.same({ b = "two", d = "4" }, set)
    assert.are.same({ "c", "z" }, remove)
    set, remove = kit.tag_changes({ a = "1" }, { a = "1" })
    assert.are.same({}, set)
    assert.are.same({}, remove)
    set, remove = kit.tag_changes(nil, { a = "1" })
    assert.are.same({ a = "1" }, set)
    assert.are.same({}, remove)
  end)
end)

describe("wpo.aws.typekit errors", function()
  local aws_err = errors.new { code = "DBClusterNotFoundFault", message = "gone", service = "rds" }
  local fail = errors.new { code = "DBClusterNotFoundFault", message = "a ctx:fail" }

  it("is_code matches a wpo error with one of the codes, nothing else", function()
    assert.is_true(kit.is_code(aws_err, "Other", "DBClusterNotFoundFault"))
    assert.is_false(kit.is_code(aws_err, "Other"))
    assert.is_false(kit.is_code("DBClusterNotFoundFault", "DBClusterNotFoundFault"))
    assert.is_false(kit.is_code(nil, "DBClusterNotFoundFault"))
  end)

  it("code answers the code of an error AWS answered only", function()
    assert.are.equal("DBClusterNotFoundFault", kit.code(aws_err))
    assert.is_nil(kit.code(fail))
    assert.is_nil(kit.code("a Lua error"))
  end)
end)

describe("wpo.aws.typekit lists AWS holds as sets", function()
  it("as_prior_order keeps the script's order for the same members, else AWS's order", function()
    local prior = { "sg-b", "sg-a" }
    assert.are.equal(prior, kit.as_prior_order({ "sg-a", "sg-b" }, prior))
    assert.are.same({ "sg-c", "sg-a" }, kit.as_prior_order({ "sg-c", "sg-a" }, prior))
    assert.are.same({ "sg-c" }, kit.as_prior_order({ "sg-c" }, nil))
  end)

  it("as_set keeps the script's order for the same members, else sorts", function()
    local prior = { "rtb-b", "rtb-a" }
    local same = kit.as_set({ "rtb-a", "rtb-b" }, prior)
    assert.are.same(prior, same)
    assert.are_not.equal(prior, same)
    assert.are.same({ "rtb-a", "rtb-c" }, kit.as_set({ "rtb-c", "rtb-a" }, prior))
    assert.are.same({ "rtb-a", "rtb-c" }, kit.as_set({ "rtb-c", "rtb-a" }, nil))
    assert.are.same({ "x", "x", "y" }, kit.as_set({ "x", "y", "x" }, { "y", "x", "z" }))
    assert.is_nil(kit.as_set(nil, prior))
  end)

  it("same_set counts repeated members", function()
    assert.is_true(kit.same_set({ "a", "b", "a" }, { "a", "a", "b" }))
    assert.is_false(kit.same_set({ "a", "b", "b" }, { "a", "a", "b" }))
  end)
end)

describe("wpo.aws.typekit diffs", function()
  it("unset_computed drops the computed attributes the script left unset, except on import", function()
    local attributes = { port = { computed = true }, name = {}, engine_version = { computed = true } }
    local prior = { inputs = { name = "db", engine_version = "8.0" } }
    assert.are.same({ name = "db", engine_version = "8.0.1" },
      kit.unset_computed(attributes, { name = "db", port = 3306, engine_version = "8.0.1" }, prior))
    assert.are.same({ name = "db", port = 3306 }, kit.unset_computed(attributes, { name = "db", port = 3306 }, nil))
  end)

  it("contains ignores what AWS adds but compares lists element by element", function()
    assert.is_true(kit.contains({ a = { b = 1 } }, { a = { b = 1, c = 2 }, d = 3 }))
    assert.is_false(kit.contains({ 1, 2 }, { 1, 2, 3 }))
  end)
end)

describe("wpo.aws.typekit.wait", function()
  local aws = require "wpo.aws"
  setup(function() aws.set_wait_scale(0.001) end)
  teardown(function() aws.set_wait_scale(nil) end)

  local function ctx()
    local c = { address = "aws.rds.cluster.db", where = "s.lua:3", notes = {} }
    function c.log(self, fmt, ...) self.notes[#self.notes + 1] = string.format(fmt, ...) end
    return c
  end

  it("returns what the check gives, noting each new state once", function()
    local c, n = ctx(), 0
    local states = { "creating", "creating", "backing-up", "available" }
    local got = kit.wait(c, function()
      n = n + 1
      if states[n] == "available" then return "done" end
      return nil, states[n]
    end, { what = "the cluster", interval = 1 })
    assert.are.equal("done", got)
    assert.are.same({ "waiting for the cluster (now: creating)", "waiting for the cluster (now: backing-up)" }, c.notes)
  end)

  it("times out as an error about the resource, its address in the message unless prefix = false", function()
    local c = ctx()
    local ok, err = pcall(kit.wait, c, function() return nil, "modifying" end,
      { what = "the cluster to settle", timeout = 5, interval = 1 })
    assert.is_false(ok)
    assert.is_true(errors.is(err))
    assert.are.equal("WaitTimeout", err.code)
    assert.are.equal("aws.rds.cluster.db", err.address)
    assert.are.equal("s.lua:3", err.where)
    assert.matches("waiting for aws%.rds%.cluster%.db: the cluster to settle %(last state: modifying%)", err.message)
    local _, err2 = pcall(kit.wait, c, function() return nil, "x" end,
      { what = "DB cluster db to settle", prefix = false, timeout = 1, interval = 1 })
    assert.matches("waiting for DB cluster db to settle %(last state: x%)", err2.message)
  end)
end)
