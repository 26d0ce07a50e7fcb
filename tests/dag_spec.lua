local dag = require "wpo.core.dag"

local function build(edges, labels)
  local g = dag.new()
  local seen = {}
  for _, e in ipairs(edges) do
    for _, id in ipairs(e) do
      if not seen[id] then seen[id] = true; g:add(id, labels and labels[id]) end
    end
  end
  for _, e in ipairs(edges) do if e[2] then g:depend(e[1], e[2]) end end
  return g
end

describe("wpo.core.dag", function()
  it("names every node of a cycle in order, with its label", function()
    local g = build({ { "a", "b" }, { "b", "c" }, { "c", "a" } },
      { a = "wpo.null.a (s.lua:1)", b = "wpo.null.b (s.lua:2)", c = "wpo.null.c (s.lua:3)" })
    local ok, err, cycle = g:check()
    assert.is_nil(ok)
    assert.are.equal("dependency cycle: wpo.null.a (s.lua:1) -> wpo.null.b (s.lua:2) -> wpo.null.c (s.lua:3) -> wpo.null.a (s.lua:1)", err)
    assert.are.same({ "a", "b", "c" }, cycle)
    assert.is_nil((g:walk()))
  end)

  it("hands out a node the moment its own dependencies are done", function()
    -- slow <- after_slow; fast <- after_fast: after_fast must not wait for slow
    local g = build({ { "slow" }, { "fast" }, { "after_slow", "slow" }, { "after_fast", "fast" } })
    assert.is_true(g:walk())
    assert.are.equal("slow", g:next())
    assert.are.equal("fast", g:next())
    assert.is_nil(g:next())
    g:done("fast")
    assert.are.equal("after_fast", g:next())
    assert.are.equal("running", (g:status("slow")))
  end)

  it("skips every transitive dependent of a failure and lets other branches run", function()
    local g = build({ { "a" }, { "b", "a" }, { "c", "b" }, { "x" }, { "y", "x" } })
    g:walk()
    assert.are.equal("a", g:next())
    assert.are.equal("x", g:next())
    assert.are.same({ "b", "c" }, g:fail("a"))
    local status, why, upstream = g:status("c")
    assert.are.equal("skipped", status)
    assert.are.equal("skipped: upstream a failed", why)
    assert.are.equal("a", upstream)
    g:done("x")
    assert.are.equal("y", g:next())
    g:done("y")
    assert.is_nil(g:next())
    assert.are.same({ pending = 0, ready = 0, running = 0, done = 2, failed = 1, skipped = 2 }, g:counts())
  end)

  it("walks in reverse for destroy: dependents first", function()
    local g = build({ { "vpc" }, { "subnet", "vpc" }, { "sg", "vpc" } })
    assert.are.same({ "subnet", "sg", "vpc" }, g:order(true))
    g:walk(true)
    assert.are.equal("subnet", g:next())
    assert.are.equal("sg", g:next())
    assert.is_nil(g:next())
    g:done("subnet"); g:done("sg")
    assert.are.equal("vpc", g:next())
  end)

  it("computes the closure of targets through dependencies or dependents", function()
    local g = build({ { "vpc" }, { "subnet", "vpc" }, { "nat", "subnet" }, { "other" } })
    assert.are.same({ "vpc", "subnet" }, g:closure({ "subnet" }, "deps"))
    assert.are.same({ "subnet", "nat" }, g:closure({ "subnet" }, "dependents"))
  end)

  it("raises on misuse: duplicate id, unknown node, done on a node not running", function()
    local g = build({ { "a" } })
    assert.has_error(function() g:add("a") end, "duplicate node 'a'")
    assert.has_error(function() g:depend("a", "zz") end)
    g:walk()
    assert.has_error(function() g:done("a") end)
  end)

  it("is a closable userdata", function()
    local g = dag.new()
    g:add("a")
    assert.matches("1 nodes", tostring(g))
    g:close(); g:close()
    assert.are.equal("wpo.dag (closed)", tostring(g))
    assert.has_error(function() g:add("b") end)
    do local _ <close> = dag.new() end
  end)

  it("walks 10,000 nodes with 20,000 edges", function()
    local g = dag.new()
    for i = 1, 10000 do g:add("n" .. i) end
    for i = 2, 10000 do g:depend("n" .. i, "n" .. (i - 1)); g:depend("n" .. i, "n1") end
    assert.is_true(g:check())
    g:walk()
    local n = 0
    for id in function() return g:next() end do n = n + 1; g:done(id) end
    assert.are.equal(10000, n)
  end)
end)

describe("wpo.core.dag ready order", function()

  local function drain(g)
    local out = {}
    for id in function() return g:next() end do out[#out + 1] = id end
    return out
  end

  it("starts first the ready node with the longest chain behind it, then in declaration order", function()
    local g <close> = dag.new()
    for _, id in ipairs({ "s1", "s2", "c1", "c2", "c3", "s3" }) do g:add(id, id) end
    g:depend("c2", "c1")
    g:depend("c3", "c2")
    assert.is_true(g:walk())
    assert.are.same({ "c1", "s1", "s2", "s3" }, drain(g))
    g:done("c1")
    assert.are.same({ "c2" }, drain(g))
  end)

  it("measures the chains in the walk's direction when destroying", function()
    local g <close> = dag.new()
    for _, id in ipairs({ "vpc", "subnet", "nat", "lone" }) do g:add(id, id) end
    g:depend("subnet", "vpc")
    g:depend("nat", "subnet")
    assert.is_true(g:walk(true))
    assert.are.same({ "nat", "lone" }, drain(g))
  end)
end)
