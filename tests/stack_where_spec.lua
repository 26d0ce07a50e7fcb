-- Where a declaration made by a library module is recorded: a user frame when
-- one is left, else the library module's own line (never nothing).
local h = require "helpers"
local stack = require "wpo.stack"

describe("wpo.stack declaration sites", function()
  local dir
  before_each(function()
    dir = h.tmpdir()
    -- A library module as the stdlib holds one: its chunkname is under package.wpo_stdlib.
    local src = "return function(spec)\n  local s = wpo.stack(spec)\n  s:add('wpo.null', 'x', {})\n  return s\nend\n"
    local lib = assert(load(src, "@" .. package.wpo_stdlib .. "/wpo/testlib/layout.lua", "t",
      setmetatable({ wpo = require "wpo" }, { __index = _G })))()
    package.preload["wpo.testlib.layout"] = function() return lib end
    require("wpo.sandbox").API_SET["wpo.testlib.layout"] = true   -- offered to stack code as the API is
  end)
  after_each(function()
    require("wpo.sandbox").API_SET["wpo.testlib.layout"] = nil
    package.preload["wpo.testlib.layout"] = nil
    package.loaded["wpo.testlib.layout"] = nil
    h.rmrf(dir)
  end)

  it("records the library line when a tail call left no frame of the script", function()
    h.write(dir .. "/s.lua", "return require('wpo.testlib.layout') { name = 't' }\n")
    local s = stack.load(dir .. "/s.lua")
    assert.are.equal("wpo/testlib/layout.lua:3", s.by_address["wpo.null.x"].where)
  end)

  it("records the script's line when the script's frame is still there", function()
    h.write(dir .. "/s.lua", "local s = require('wpo.testlib.layout') { name = 't' }\nreturn s\n")
    local s = stack.load(dir .. "/s.lua")
    assert.matches("/s%.lua:1$", s.by_address["wpo.null.x"].where)
  end)
end)

describe("wpo.stack require", function()
  it("finds wpo.* in the library even when the repository holds a file named wpo", function()
    local dir = h.tmpdir()
    os.execute("mkdir -p " .. h.quote(dir .. "/.git"))
    h.write(dir .. "/wpo", "#!/bin/sh\n")          -- a checkout: the binary beside the stacks
    h.write(dir .. "/s.lua", "local cidr = require('wpo.cidr')\n"
      .. "return wpo.stack { name = 'n' .. cidr.subnet('10.0.0.0/16', 8, 1):gsub('[^%d]', '') }\n")
    local ok, s = pcall(stack.load, dir .. "/s.lua")
    h.rmrf(dir)
    assert.is_true(ok, tostring(s))
    assert.are.equal("n1001024", s.name)
  end)

  it("never lets a user module shadow the library", function()
    local dir = h.tmpdir()
    os.execute("mkdir -p " .. h.quote(dir .. "/.git") .. " " .. h.quote(dir .. "/wpo"))
    h.write(dir .. "/wpo/cidr.lua", "return { subnet = function() return 'shadowed' end }\n")
    h.write(dir .. "/s.lua", "return wpo.stack { name = 'n' .. require('wpo.cidr').subnet('10.0.0.0/16', 8, 1):gsub('[^%d]', '') }\n")
    local ok, s = pcall(stack.load, dir .. "/s.lua")
    h.rmrf(dir)
    assert.is_true(ok, tostring(s))
    assert.are.equal("n1001024", s.name)
  end)
end)
