-- The package as a user gets it: the rockspec, make install.
local h = require "helpers"

describe("build", function()
  it("has a rockspec that luarocks lint accepts", function()
    local r = h.sh("cd " .. h.quote(h.REPO) .. " && luarocks lint wpo-scm-1.rockspec")
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("installs a wpo that finds its Lua library under PREFIX/share/wpo", function()
    local prefix = h.tmpdir()
    local build = os.getenv("BUILDDIR") or "build"
    local r = h.sh(string.format("make -s -C %s install BUILDDIR=%s PREFIX=%s", h.quote(h.REPO), h.quote(build), h.quote(prefix)))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local f = io.open(prefix .. "/share/wpo/wpo/cli.lua")
    assert.is_not_nil(f)
    f:close()
    -- From another directory and without WPO_STDLIB, as an installed binary runs.
    local v = h.sh("cd / && env -u WPO_STDLIB " .. h.quote(prefix .. "/bin/wpo") .. " version")
    h.rmrf(prefix)
    assert.are.equal(0, v.status, v.stderr)
    assert.matches("^wpo %d", v.stdout)
  end)
end)
