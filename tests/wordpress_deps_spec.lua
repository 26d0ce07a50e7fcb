local parts = require "wpo.wordpress.deps"
local stack = require "wpo.stack"

describe("wpo.wordpress.deps", function()
  local s = stack.new { name = "t" }
  local subnet = s:add("wpo.null", "subnet", {})

  it("takes an id from a resource, a part table or the value itself", function()
    assert.are.equal("subnet-1", parts.id("x", { id = "subnet-1" }, "net.subnet"))
    assert.are.equal("subnet-2", parts.id("x", "subnet-2", "net.subnet"))
    assert.is_true(require("wpo.value").is_lazy(parts.id("x", subnet, "net.subnet")))
    assert.are.equal("arn:aws:x", parts.arn("x", { arn = "arn:aws:x" }, "secrets.a"))
  end)

  it("reads a network's subnets of a kind, as ids or as parts", function()
    assert.are.same({ "a", "b" }, parts.subnets("x", { subnet_ids = { private = { "a", "b" } } }, "private"))
    assert.are.same({ "a", "b" }, parts.subnets("x", { subnets = { private = { { id = "a" }, { id = "b" } } } }, "private"))
  end)

  it("finds a security group by name or under ids", function()
    assert.are.equal("sg-1", parts.group("x", { db = { id = "sg-1" } }, "db"))
    assert.are.equal("sg-2", parts.group("x", { ids = { db = "sg-2" } }, "db"))
  end)

  it("names the tier and the missing part", function()
    local ok, err = pcall(parts.subnets, "cache", { subnet_ids = {} }, "database")
    assert.is_false(ok)
    assert.are.equal("wordpress.cache: deps.net.subnet_ids.database is missing", err)
    ok, err = pcall(parts.group, "files", {}, "efs")
    assert.is_false(ok)
    assert.are.equal("wordpress.files: deps.sg.efs is missing", err)
  end)
end)
