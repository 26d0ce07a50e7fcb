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
    assert.are.equal(0, v.status, v.stderr)
    assert.matches("^wpo %d", v.stdout)
    -- the manual page names every command; the bash completion asks the installed wpo
    local man = h.slurp(prefix .. "/share/man/man1/wpo.1")
    assert.matches("^%.TH WPO 1", man)
    for _, name in ipairs({ "plan", "run", "apply", "destroy", "validate", "show", "rollout", "completion" }) do
      assert.is_truthy(man:find("\\fBwpo " .. name, 1, true), name)
    end
    local function complete(words, cword)
      local script = string.format("PATH=%s:$PATH; source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _wpo; "
        .. "printf '%%s\\n' \"${COMPREPLY[@]}\"", h.quote(prefix .. "/bin"),
        h.quote(prefix .. "/share/bash-completion/completions/wpo"), words, cword)
      return h.sh("cd / && env -u WPO_STDLIB bash -c " .. h.quote(script)).stdout
    end
    assert.are.equal("plan\n", complete("wpo pl", 1))
    assert.are.equal("--detailed-exitcode\n", complete("wpo plan --det", 2))
    assert.are.equal("list\n", complete("wpo state li", 2))
    h.rmrf(prefix)
  end)

  it("runs the specs with plain busted, through the wpo binary (.busted)", function()
    local r = h.sh("cd " .. h.quote(h.REPO) .. " && busted tests/json_spec.lua")
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("4 successes / 0 failures / 0 errors / 0 pending", r.stdout, 1, true)
  end)

  it("builds and installs as a rock into any tree with luarocks --lua-version 5.4", function()
    -- a copy of the tracked files, so the rock builds from scratch as a user's checkout would
    local src, tree = h.tmpdir(), h.tmpdir()
    local r = h.sh(string.format("(cd %s && git ls-files -z | xargs -0 cp --parents -t %s)", h.quote(h.REPO), h.quote(src)))
    assert.are.equal(0, r.status, r.stderr)
    r = h.sh(string.format("cd %s && luarocks --lua-version 5.4 --tree %s make wpo-scm-1.rockspec", h.quote(src),
      h.quote(tree)))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("wpo scm%-1 is now installed in", r.stdout)
    local v = h.sh("cd / && env -u WPO_STDLIB " .. h.quote(tree .. "/bin/wpo") .. " validate "
      .. h.quote(src .. "/stacks/staging.lua"))
    h.rmrf(src)
    h.rmrf(tree)
    assert.are.equal(0, v.status, v.stdout .. v.stderr)
    assert.matches("^Stack staging is valid: %d+ resources", v.stdout)
  end)
end)
