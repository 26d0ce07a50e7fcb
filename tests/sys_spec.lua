-- wpo.core.sys.readable: whether a descriptor has input within a timeout
-- (what `wpo run` waits on at its confirmation prompt while the event loop
-- goes on), through the binary so that its standard input can be a pipe.
local h = require "helpers"

describe("wpo.core.sys.readable", function()
  local dir
  before_each(function()
    dir = h.tmpdir()
    h.write(dir .. "/probe.lua", [[
      local sys = require "wpo.core.sys"
      local loop = require "wpo.core.loop"
      local t0 = loop.now()
      local ready = sys.readable(0, 300)
      io.stdout:write(tostring(ready), " ", string.format("%d", math.floor(loop.now() - t0)), "\n")
      if ready then io.stdout:write("line=", tostring(io.stdin:read("l")), "\n") end
      local ok, err = pcall(sys.readable, 0, -1)
      io.stdout:write(tostring(ok), " ", tostring(err):match("timeout_ms between 0 and 3600000") or tostring(err), "\n")
    ]])
  end)
  after_each(function() h.rmrf(dir) end)

  it("is true at once when a line is waiting, and the line can be read", function()
    local r = h.sh("(printf 'yes\\n' | " .. h.quote(h.WPO) .. " lua " .. h.quote(dir .. "/probe.lua") .. ")")
    assert.are.equal(0, r.status, r.stderr)
    local ready, ms = r.stdout:match("^(%a+) (%d+)\n")
    assert.are.equal("true", ready)
    assert.is_true(tonumber(ms) < 300)
    assert.matches("\nline=yes\n", r.stdout)
    assert.matches("\nfalse timeout_ms between 0 and 3600000\n$", r.stdout)
  end)

  it("is false after the timeout when nothing arrives", function()
    local r = h.sh("(sleep 1 | " .. h.quote(h.WPO) .. " lua " .. h.quote(dir .. "/probe.lua") .. ")")
    assert.are.equal(0, r.status, r.stderr)
    local ready, ms = r.stdout:match("^(%a+) (%d+)\n")
    assert.are.equal("false", ready)
    assert.is_true(tonumber(ms) >= 290)
  end)
end)
