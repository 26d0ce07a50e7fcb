-- wpo.core.git and wpo.git against real repositories built with the git CLI.
local h = require "helpers"
local gr = require "gitrepo"
local core = require "wpo.core.git"
local git = require "wpo.git"

-- Evaluates the stack of a source: its value (a table) or raises.
local function evaluate(src)
  local env = setmetatable({}, { __index = _G })
  env.require = src:require_function(env)
  local chunk = assert(src:load_stack(env))
  return chunk()
end

describe("wpo.core.git", function()
  local dir, repo

  setup(function()
    dir = gr.fixture()
    gr.edit(dir)
    repo = assert(core.open(dir .. "/stacks/prod.lua"))
  end)

  teardown(function()
    repo:close()
    h.rmrf(dir)
  end)

  it("opens the repository containing a file, discovering upward", function()
    assert.are.equal(core.realpath(dir), repo:workdir())
    assert.are.equal(core.realpath(dir) .. "/.git", repo:path())
    assert.matches("^git repository %(", tostring(repo))
  end)

  it("resolves lightweight and annotated tags, branches and HEAD to commits", function()
    local c100, kind = repo:resolve("v1.0.0")
    assert.are.equal(gr.rev(dir, "v1.0.0^{commit}"), c100)
    assert.are.equal("tag", kind)
    local c110, kind2, refname = repo:resolve("v1.1.0")
    assert.are.equal(gr.rev(dir, "v1.1.0^{commit}"), c110)
    -- the annotated tag object is not the commit: resolve peeled it
    assert.are_not.equal(gr.rev(dir, "v1.1.0"), c110)
    assert.are.same({ "tag", "refs/tags/v1.1.0" }, { kind2, refname })
    assert.are.same({ c110, "branch", "refs/heads/main" }, { repo:resolve("main") })
    assert.are.same({ c110, "head", "refs/heads/main" }, { repo:resolve("HEAD") })
    assert.are.same({ c100, "expression", "v1.1.0~1" }, { repo:resolve("v1.1.0~1") })
  end)

  it("resolves full and abbreviated commit ids and gives the short id git gives", function()
    local full = gr.rev(dir, "v1.0.0")
    assert.are.equal(full, (repo:resolve(full)))
    assert.are.equal(full, (repo:resolve(full:sub(1, 8))))
    local info = assert(repo:commit(full:sub(1, 10)))
    assert.are.equal(full, info.id)
    assert.are.equal((gr.git(dir, "rev-parse --short " .. full):gsub("%s+$", "")), info.short)
    assert.are.equal("prod at 1.0.0", info.summary)
    assert.are.equal("wpo test", info.author)
    assert.are.equal(tonumber((gr.git(dir, "log -1 --format=%ct " .. full):gsub("%s+$", ""))), info.time)
  end)

  it("fails for an unknown ref with nil, message, notfound", function()
    local id, err, code = repo:resolve("v9.9.9")
    assert.is_nil(id)
    assert.are.equal("no tag, branch or commit named 'v9.9.9'", err)
    assert.are.equal("notfound", code)
  end)

  it("reads a blob at a commit, not the working tree", function()
    local at100 = assert(repo:read(repo:resolve("v1.0.0"), "lib/net.lua"))
    local at110 = assert(repo:read(repo:resolve("v1.1.0"), "./lib//net.lua"))
    assert.are.equal('return { cidr = "10.0.0.0/16" }\n', at100)
    assert.are.equal('return { cidr = "10.1.0.0/16" }\n', at110)
    assert.are.equal('return { cidr = "10.9.0.0/16" }\n', h.slurp(dir .. "/lib/net.lua"))
  end)

  it("lists tags sorted, and the tags at a commit", function()
    assert.are.same({ "v1.0.0", "v1.1.0" }, repo:tags())
    assert.are.same({ "v1.1.0" }, repo:tags_at(repo:resolve("main")))
    gr.git(dir, "tag moved v1.0.0")
    assert.are.same({ "moved", "v1.0.0" }, repo:tags_at(gr.rev(dir, "v1.0.0")))
    gr.git(dir, "tag -d moved")
    assert.are.same({ "main" }, repo:branches())
  end)

  it("lists a directory of a commit's tree", function()
    local at100 = repo:resolve("v1.0.0")
    assert.are.same({ { name = "net.lua", kind = "file", mode = tonumber("100644", 8) } }, repo:list(at100, "lib"))
    local root = repo:list(at100, "")
    local names = {}
    for i, e in ipairs(root) do names[i] = e.name .. ":" .. e.kind end
    assert.are.same({ "lib:dir", "stacks:dir" }, names)
    local none, err, code = repo:list(at100, "nope")
    assert.is_nil(none)
    assert.are.equal("ENOENT", code)
    assert.matches("nope: no such directory at commit %x+", err)
    assert.are.equal("git", select(3, repo:list(at100, "lib/net.lua")))
  end)

  it("reads a blob only up to max bytes, and a link's target with readlink", function()
    local at100 = repo:resolve("v1.0.0")
    local data = assert(repo:read(at100, "lib/net.lua", 100))
    assert.are.equal(data, repo:read(at100, "lib/net.lua", #data))
    local none, err, code = repo:read(at100, "lib/net.lua", #data - 1)
    assert.is_nil(none)
    assert.are.equal("EFBIG", code)
    assert.matches("lib/net.lua: %d+ bytes, more than %d+", err)
    local l, lerr, lcode = repo:readlink(at100, "lib/net.lua")
    assert.is_nil(l)
    assert.are.equal("git", lcode)
    assert.matches("lib/net.lua: is not a symbolic link", lerr)
    local d = h.tmpdir()
    gr.git(d, "init -q -b main . && ln -s lib/target.txt link && git add link && git commit -q -m link")
    local r2 = assert(core.open(d))
    local head = r2:head()
    assert.are.equal("lib/target.txt", r2:readlink(head, "link"))
    assert.are.equal(tonumber("120000", 8), r2:list(head, "")[1].mode)
    assert.are.equal("git", select(3, r2:read(head, "link")))
    r2:close()
    h.rmrf(d)
  end)

  it("answers ancestry both ways", function()
    local a, b = repo:resolve("v1.0.0"), repo:resolve("v1.1.0")
    assert.is_true(repo:is_ancestor(a, b))
    assert.is_false(repo:is_ancestor(b, a))
    assert.is_true(repo:is_ancestor(a, a))
    assert.are.equal(a, repo:merge_base(a, b))
  end)

  it("reports tracked changes, and untracked files only when asked", function()
    gr.write(dir, "notes.txt", "scratch\n")
    local tracked = repo:status()
    local untracked = repo:status({ untracked = true })
    os.remove(dir .. "/notes.txt")
    local paths = {}
    for _, e in ipairs(tracked) do paths[#paths + 1] = e.path .. "=" .. e.state end
    table.sort(paths)
    assert.are.same({ "lib/net.lua=modified", "stacks/prod.lua=modified" }, paths)
    local found
    for _, e in ipairs(untracked) do if e.path == "notes.txt" then found = e.state end end
    assert.are.equal("untracked", found)
    assert.are.equal("modified", repo:file_status("lib/net.lua"))
  end)

  it("returns nil, message, code for every failure and raises only on misuse", function()
    local cases = {
      { core.open("/nonexistent/wpo-test") },
      { core.open("/") },
      { repo:resolve("no/such/branch") },
      { repo:resolve("..bad..") },
      { repo:read("0000000", "lib/net.lua") },
      { repo:read(repo:resolve("v1.0.0"), "lib/none.lua") },
      { repo:read(repo:resolve("v1.0.0"), "lib") },
      { repo:read(repo:resolve("v1.0.0"), "../etc/passwd") },
      { repo:read("not-hex", "lib/net.lua") },
      { repo:commit("deadbeef") },
      { repo:tags_at("deadbeef") },
      { repo:is_ancestor("deadbeef", repo:resolve("v1.0.0")) },
      { repo:merge_base(repo:resolve("v1.0.0"), "deadbeef") },
      { repo:file_status("no/such/file") },
      { repo:remote_url("origin") },
      { core.fetch("file:///nonexistent/wpo-test.git", dir .. "/.cache-x") },
      { core.realpath("/nonexistent/wpo-test") },
    }
    for i, c in ipairs(cases) do
      assert.is_nil(c[1], "case " .. i)
      assert.are.equal("string", type(c[2]), "case " .. i)
      assert.are.equal("string", type(c[3]), "case " .. i)
      assert.is_nil(c[2]:find("\n"), "case " .. i .. " is one line")
    end
    assert.are.equal("ENOENT", cases[6][3])
    assert.matches("lib/none%.lua: no such file at commit %x+", cases[6][2])
    assert.matches("is a directory", cases[7][2])
    local bare = assert(core.open(dir .. "/.git", { search = false }))
    local _, _, code = core.open(dir .. "/.git/objects", { search = false })
    assert.are.equal("notfound", code)
    bare:close()
    assert.has_error(function() repo:resolve() end)
    assert.has_error(function() repo:read(1) end)
    assert.has_error(function() core.fetch("file:///x", dir .. "/c", { bogus = 1 }) end,
      "git.fetch: unknown option 'bogus' (valid: token, token_from, username, ssh_key, ssh_passphrase, ssh_agent)")
  end)

  it("closes idempotently and raises when a closed repository is used", function()
    local r = assert(core.open(dir))
    assert.is_true(r:close())
    assert.is_true(r:close())
    assert.are.equal("git repository (closed)", tostring(r))
    assert.has_error(function() r:head() end, "attempt to use a closed git repository")
    do
      local scoped <close> = assert(core.open(dir))
      assert.is_string(scoped:head())
    end
  end)

  it("gives the id git gives a blob, and redacts passwords in URLs", function()
    h.write(dir .. "/blob.txt", "hello wpo\n")
    local want = (h.sh("git hash-object " .. h.quote(dir .. "/blob.txt")).stdout:gsub("%s+$", ""))
    os.remove(dir .. "/blob.txt")
    assert.are.equal(want, core.blob_id("hello wpo\n"))
    assert.are.equal("https://me:***@host/x.git", core.redact("https://me:s3cret@host/x.git"))
    assert.are.equal("https://me@host/x.git", core.redact("https://me@host/x.git"))
    assert.are.equal("ssh://git@host/x.git", core.redact("ssh://git@host/x.git"))
  end)
end)

describe("wpo.git", function()
  local dir, repo

  setup(function()
    dir = gr.fixture()
    repo = assert(git.open(dir))
  end)

  teardown(function()
    repo:close()
    h.rmrf(dir)
  end)

  it("evaluates the stack and its required module as committed at each ref, and the edits in the working tree", function()
    local clean = gr.status(dir)
    assert.are.equal("", clean)
    gr.edit(dir)
    local before_status = gr.status(dir)
    local before_stack = h.slurp(dir .. "/stacks/prod.lua")

    local v100 = evaluate(git.at_commit(repo, assert(git.resolve(repo, "v1.0.0")), { path = "stacks/prod.lua" }))
    local head = evaluate(git.at_commit(repo, assert(git.resolve(repo, "HEAD")), { path = "stacks/prod.lua" }))
    local wt = evaluate(git.worktree(repo:workdir(), { repo = repo, path = "stacks/prod.lua" }))
    assert.are.same({ version = "1.0.0", cidr = "10.0.0.0/16" }, v100)
    assert.are.same({ version = "1.1.0", cidr = "10.1.0.0/16" }, head)
    assert.are.same({ version = "edited", cidr = "10.9.0.0/16" }, wt)

    -- the working tree is untouched
    assert.are.equal(before_status, gr.status(dir))
    assert.are.equal(before_stack, h.slurp(dir .. "/stacks/prod.lua"))
    gr.git(dir, "checkout -q -- .")
  end)

  it("fails for an unknown ref listing the nearest existing tags", function()
    local r, err = git.resolve(repo, "v9.9.9")
    assert.is_nil(r)
    assert.are.equal("UnknownRef", err.code)
    assert.matches("no tag, branch or commit named 'v9%.9%.9' in .*%(nearest tags: v1%.1%.0, v1%.0%.0%)$", tostring(err))
    local _, err2 = git.resolve(repo, "v1.1.9")
    assert.matches("nearest tags: v1%.1%.0, v1%.0%.0", err2.message)
  end)

  it("names files by their repository path in chunknames, so errors point at file:line", function()
    gr.write(dir, "stacks/broken.lua", "local x = 1\nerror('boom at two')\n")
    gr.git(dir, "add stacks/broken.lua && git commit -q -m broken")
    local src = git.at_commit(repo, assert(git.resolve(repo, "HEAD")), { path = "stacks/broken.lua" })
    local ok, err = pcall(evaluate, src)
    assert.is_false(ok)
    assert.matches("^stacks/broken%.lua:2: boom at two", err)
    gr.git(dir, "reset -q --hard HEAD~1")
  end)

  it("never falls back to an uncommitted module at a commit; the working tree loads it and is dirty", function()
    gr.write(dir, "stacks/extra.lua", 'local extra = require("lib.extra")\nreturn extra\n')
    gr.git(dir, "add stacks/extra.lua && git commit -q -m extra")
    gr.write(dir, "lib/extra.lua", 'return { extra = true }\n')  -- untracked
    local at = git.at_commit(repo, assert(git.resolve(repo, "main")), { path = "stacks/extra.lua" })
    local ok, err = pcall(evaluate, at)
    assert.is_false(ok)
    assert.are.equal("ModuleNotFound", err.code)
    assert.matches("stacks/extra%.lua:1", err.where)
    assert.matches("module 'lib%.extra' not found: no lib/extra%.lua or lib/extra/init%.lua in main %(%x+%)", err.message)

    local wt = git.worktree(repo:workdir(), { repo = repo, path = "stacks/extra.lua" })
    local dirty_before = wt:dirty()
    assert.is_false(dirty_before)   -- an untracked file nothing loaded does not count
    assert.are.same({ extra = true }, evaluate(wt))
    local dirty, paths = wt:dirty()
    assert.is_true(dirty)
    assert.are.same({ "lib/extra.lua" }, paths)
    os.remove(dir .. "/lib/extra.lua")
    gr.git(dir, "reset -q --hard HEAD~1")
  end)

  it("calls the working tree dirty when a file the stack loaded differs from HEAD, staged or not", function()
    local wt = git.worktree(repo:workdir(), { repo = repo, path = "stacks/prod.lua" })
    evaluate(wt)                                   -- loads stacks/prod.lua and lib/net.lua
    assert.is_false((wt:dirty()))
    gr.write(dir, "lib/other.lua", "return { edited = true }\n")   -- staged, never loaded
    gr.git(dir, "add lib/other.lua")
    assert.is_false((wt:dirty()))
    gr.write(dir, "lib/net.lua", "return {}\n")
    local dirty, paths = wt:dirty()
    assert.is_true(dirty)
    assert.are.same({ "lib/net.lua" }, paths)
    gr.git(dir, "add lib/net.lua")                 -- staged: still not what HEAD holds
    dirty, paths = wt:dirty()
    gr.git(dir, "reset -q && git checkout -q -- lib/net.lua && rm lib/other.lua")
    assert.is_true(dirty)
    assert.are.same({ "lib/net.lua" }, paths)
    assert.is_false(git.at_commit(repo, assert(git.resolve(repo, "HEAD"))):dirty())
  end)

  it("serves wpo's own modules from its library and keeps one module cache per source", function()
    gr.write(dir, "stacks/lib.lua", 'local t = require "wpo.text"\nreturn { d = t.duration(75), net = require("lib.net") }\n')
    local wt = git.worktree(repo:workdir(), { repo = repo, path = "stacks/lib.lua" })
    local a = evaluate(wt)
    os.remove(dir .. "/stacks/lib.lua")
    assert.are.equal("1m15s", a.d)
    assert.are.equal("10.1.0.0/16", a.net.cidr)
    local s100 = git.at_commit(repo, assert(git.resolve(repo, "v1.0.0")), { path = "stacks/prod.lua" })
    local s110 = git.at_commit(repo, assert(git.resolve(repo, "v1.1.0")), { path = "stacks/prod.lua" })
    assert.are.equal("10.0.0.0/16", evaluate(s100).cidr)
    assert.are.equal("10.1.0.0/16", evaluate(s110).cidr)
    assert.is_nil(package.loaded["lib.net"])
    assert.are.same({ "stacks/prod.lua", "lib/net.lua" }, s100.files)
  end)

  it("detects a module that requires itself, naming the file even through a tail call", function()
    gr.write(dir, "lib/loop.lua", 'return require "lib.loop"\n')
    gr.write(dir, "stacks/loop.lua", 'return require "lib.loop"\n')
    local wt = git.worktree(repo:workdir(), { repo = repo, path = "stacks/loop.lua" })
    local ok, err = pcall(evaluate, wt)
    os.remove(dir .. "/lib/loop.lua")
    os.remove(dir .. "/stacks/loop.lua")
    assert.is_false(ok)
    assert.are.equal("CircularRequire", err.code)
    -- a tail call drops the caller's frame: the file being loaded is named
    assert.matches("/lib/loop%.lua$", err.where)
  end)

  it("gives provenance, the plan header and rollback detection", function()
    local s100 = git.at_commit(repo, assert(git.resolve(repo, "v1.0.0")), { path = "stacks/prod.lua" })
    local s110 = git.at_commit(repo, assert(git.resolve(repo, "v1.1.0")), { path = "stacks/prod.lua" })
    local p100, p110 = s100:provenance(), s110:provenance()
    assert.are.equal(gr.rev(dir, "v1.0.0"), p100.commit)
    assert.are.equal("v1.0.0", p100.ref)
    assert.are.equal(p100.commit:sub(1, #p100.short), p100.short)
    assert.is_false(p100.dirty)
    assert.are.equal(core.realpath(dir), p100.repo)
    assert.are.equal(require("wpo.core.sys").user(), p100.user)
    assert.is_true(math.abs(os.time() - p100.time) < 60)
    assert.are.equal("stacks/prod.lua", p100.path)

    assert.are.equal(string.format("v1.0.0 (%s) → v1.1.0 (%s)", p100.short, p110.short), git.transition(p100, p110))
    assert.are.equal(string.format("(new) → v1.1.0 (%s)", p110.short), git.transition(nil, p110))
    assert.are.equal(p100.short, git.describe({ ref = p100.commit:sub(1, 9), commit = p100.commit, short = p100.short }))
    assert.are.equal(string.format("main (%s, dirty)", p110.short),
      git.describe({ ref = "main", commit = p110.commit, short = p110.short, dirty = true }))

    assert.are.equal("forward", git.check_rollback(s110, p100, { stack = "prod" }))
    assert.are.equal("same", git.check_rollback(s110, p110, { stack = "prod" }))
    local ok, err = git.check_rollback(s100, p110, { stack = "prod" })
    assert.is_nil(ok)
    assert.are.equal("RollbackRefused", err.code)
    assert.are.equal(string.format("prod is deployed at v1.1.0 (%s); v1.0.0 (%s) is older (an ancestor of it): "
      .. "rolling back needs --allow-rollback", p110.short, p100.short), err.message)
    assert.are.equal("rollback", git.check_rollback(s100, p110, { stack = "prod", allow = true }))
    assert.are.equal("unknown", git.check_rollback(s100, { commit = string.rep("ab", 20) }, {}))
  end)

  it("tells diverged histories apart from rollbacks", function()
    gr.git(dir, "checkout -q -b hotfix v1.0.0")
    gr.write(dir, "lib/net.lua", 'return { cidr = "10.5.0.0/16" }\n')
    gr.git(dir, "commit -q -a -m hotfix")
    local hotfix = gr.rev(dir, "hotfix")
    gr.git(dir, "checkout -q main")
    assert.are.equal("diverged", git.compare(repo, gr.rev(dir, "v1.1.0"), hotfix))
    assert.are.equal("rollback", git.compare(repo, gr.rev(dir, "v1.1.0"), gr.rev(dir, "v1.0.0")))
    gr.git(dir, "branch -q -D hotfix")
  end)
end)
