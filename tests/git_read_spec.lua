-- wpo.core.git's read_head and read_unproven (engine/gitread.c): a plain work
-- tree's HEAD, remote and clean files read without libgit2. Each answer is
-- checked against libgit2's (git.open on the same repository) and the git
-- CLI; a repository outside what gitread reads says why and is left to
-- libgit2.
local h = require "helpers"
local gitrepo = require "gitrepo"
local core = require "wpo.core.git"
local git = require "wpo.git"

local function real(dir) return core.realpath(dir) end

-- a file written a minute ago: the index written after it is not racily clean
local function old_file(dir, path, data)
  gitrepo.write(dir, path, data)
  assert(os.execute("touch -d '-1 minute' " .. h.quote(dir .. "/" .. path)))
end

local function repo_with(files, message)
  local dir = real(h.tmpdir())
  gitrepo.git(dir, "init -q -b main .")
  for path, data in pairs(files) do old_file(dir, path, data) end
  gitrepo.git(dir, "add -A && git commit -q -m " .. h.quote(message or "one"))
  return dir
end

-- what libgit2 says of the same repository
local function libgit2_view(dir)
  local repo = assert(core.open(dir, { search = false }))
  local id, refname = repo:head()
  local c = assert(repo:commit(id))
  local url = repo:remote_url("origin")
  repo:close()
  return { commit = id, refname = refname, short = c.short, summary = c.summary, time = c.time, remote = url }
end

local function same_as_libgit2(dir)
  local info, why = core.read_head(dir)
  assert.is_table(info, why)
  local lib = libgit2_view(dir)
  for _, k in ipairs { "commit", "refname", "short", "summary", "time" } do
    assert.are.equal(lib[k], info[k], k)
  end
  assert.are.equal(lib.remote or false, info.remote)
  return info
end

describe("git.read_head", function()
  local dirs = {}
  local function track(dir) dirs[#dirs + 1] = dir return dir end
  after_each(function()
    for _, d in ipairs(dirs) do h.rmrf(d) end
    dirs = {}
  end)

  it("reads a loose commit as libgit2 and the git CLI do", function()
    local dir = track(repo_with({ ["s.lua"] = "return 1\n" }, "first line\n\nbody"))
    local info = same_as_libgit2(dir)
    assert.are.equal(gitrepo.rev(dir, "HEAD"), info.commit)
    assert.are.equal(gitrepo.rev(dir, "HEAD^{tree}"), info.tree)
    assert.are.equal("first line", info.summary)
    assert.are.equal(tonumber(gitrepo.git(dir, "log -1 --format=%ct")), info.time)
    assert.are.equal("refs/heads/main", info.refname)
    assert.are.equal(dir, info.workdir)
    assert.are.equal(dir .. "/.git", info.path)
  end)

  it("reads a packed commit through packed refs, and a detached HEAD", function()
    local dir = track(repo_with({ ["s.lua"] = "return 1\n" }))
    old_file(dir, "t.lua", "return 2\n")
    gitrepo.git(dir, "add t.lua && git commit -q -m two && git gc -q && git pack-refs --all")
    assert.is_nil(io.open(dir .. "/.git/refs/heads/main"))
    same_as_libgit2(dir)
    gitrepo.git(dir, "checkout -q --detach HEAD~1")
    local info = same_as_libgit2(dir)
    assert.are.equal("HEAD", info.refname)
  end)

  it("summarises a message as libgit2 does", function()
    for _, message in ipairs { "  leading spaces", "a\nwrapped\tsubject\n\nbody", "\n\nafter blank lines",
                               "trailing   \n", "one\n \nafter an all-space line", "one\ntwo\n\t\n" } do
      local dir = track(repo_with({ ["s.lua"] = "return 1\n" }))
      gitrepo.git(dir, "commit -q --allow-empty --cleanup=verbatim -m " .. h.quote(message))
      same_as_libgit2(dir)
    end
  end)

  it("lengthens the short id while another object shares it", function()
    local dir = track(repo_with({ ["s.lua"] = "return 1\n" }))
    local id = gitrepo.rev(dir, "HEAD")
    -- an object whose id agrees with HEAD's in 9 digits (its name is all libgit2 looks at)
    local twin = id:sub(1, 9) .. (id:sub(10, 10) == "0" and "1" or "0") .. id:sub(11)
    os.execute("mkdir -p " .. h.quote(dir .. "/.git/objects/" .. twin:sub(1, 2)))
    h.write(dir .. "/.git/objects/" .. twin:sub(1, 2) .. "/" .. twin:sub(3), "x")
    local info = same_as_libgit2(dir)
    assert.are.equal(id:sub(1, 10), info.short)
  end)

  it("gives the origin URL with its password redacted", function()
    local dir = track(repo_with({ ["s.lua"] = "return 1\n" }))
    gitrepo.git(dir, "remote add origin https://user:s3cret@git.example.invalid/stacks.git")
    local info = same_as_libgit2(dir)
    assert.are.equal("https://user:***@git.example.invalid/stacks.git", info.remote)
  end)

  it("leaves to libgit2 what it does not read, saying why", function()
    local dir = track(repo_with({ ["s.lua"] = "return 1\n" }))
    gitrepo.git(dir, "config url.https://mirror.invalid/.insteadOf https://git.example.invalid/")
    local info, why = core.read_head(dir)
    assert.is_nil(info)
    assert.matches("insteadOf", why)

    dir = track(real(h.tmpdir()))
    gitrepo.git(dir, "init -q -b main .")
    info, why = core.read_head(dir)                     -- no commit yet
    assert.is_nil(info)
    assert.matches("no commit yet", why)

    local pointer = track(real(h.tmpdir()))
    h.write(pointer .. "/.git", "gitdir: " .. pointer .. "/nowhere\n")
    info, why = core.read_head(pointer)                 -- a .git file naming nothing
    assert.is_nil(info)
    assert.matches("nowhere does not exist", why)

    local main = track(repo_with({ ["s.lua"] = "return 1\n" }))

    info, why = core.read_head(main .. "/./")           -- not its own real path
    assert.is_nil(info)
    assert.matches("real path", why)
  end)

  it("follows a linked work tree's .git file to its own HEAD and index and the shared objects", function()
    local main = track(repo_with({ ["s.lua"] = "return 1\n" }))
    local linked = track(real(h.tmpdir()))
    h.rmrf(linked)
    gitrepo.git(main, "worktree add -q -b other " .. h.quote(linked))
    old_file(linked, "t.lua", "return 2\n")
    gitrepo.git(linked, "add t.lua && git commit -q -m 'on other'")
    gitrepo.git(main, "gc -q")                          -- its commit packed, its branch in packed-refs
    local info = same_as_libgit2(linked)
    assert.are.equal("refs/heads/other", info.refname)
    assert.are.equal(gitrepo.rev(linked, "HEAD"), info.commit)
    local repo = assert(core.open(linked, { search = false }))
    assert.are.equal(repo:path(), info.path)
    repo:close()
    assert.are.equal("refs/heads/main", same_as_libgit2(main).refname)
    assert.are.same({}, core.read_unproven(linked, info.tree, { "t.lua", "s.lua" }))
    gitrepo.write(linked, "t.lua", "return 22\n")
    assert.are.same({ "t.lua" }, core.read_unproven(linked, info.tree, { "s.lua", "t.lua" }))
  end)

  it("says a damaged commit is outside, never raising", function()
    local dir = track(repo_with({ ["s.lua"] = "return 1\n" }))
    local id = gitrepo.rev(dir, "HEAD")
    local path = dir .. "/.git/objects/" .. id:sub(1, 2) .. "/" .. id:sub(3)
    os.execute("chmod u+w " .. h.quote(path))
    h.write(path, "not zlib at all")
    local info, why = core.read_head(dir)
    assert.is_nil(info)
    assert.matches("damaged", why)
  end)
end)

describe("git.read_unproven", function()
  local dir, tree
  before_each(function()
    dir = repo_with({ ["stacks/prod.lua"] = "return 1\n", ["lib/net.lua"] = "return 2\n" })
    tree = gitrepo.rev(dir, "HEAD^{tree}")
  end)
  after_each(function() h.rmrf(dir) end)

  -- true when the index proves every one of paths; else false, why
  local function clean(paths)
    local left, why = core.read_unproven(dir, tree, paths)
    if #left == 0 then return true end
    return false, why
  end

  it("proves committed files clean, in every index version", function()
    assert.is_true(clean({ "stacks/prod.lua", "lib/net.lua" }))
    for _, v in ipairs { 2, 3, 4 } do
      gitrepo.git(dir, "update-index --index-version " .. v)
      assert.is_true(clean({ "stacks/prod.lua", "lib/net.lua" }), "index version " .. v)
    end
  end)

  it("does not prove an edited, staged, untracked or racily clean file", function()
    old_file(dir, "new.lua", "return 3\n")
    local ok, why = clean({ "new.lua" })
    assert.is_false(ok)
    assert.matches("not in the index", why)

    gitrepo.write(dir, "lib/net.lua", "return 22\n")
    ok, why = clean({ "stacks/prod.lua", "lib/net.lua" })
    assert.is_false(ok)
    assert.matches("lib/net.lua changed", why)
    assert.are.same({ "lib/net.lua" }, core.read_unproven(dir, tree, { "stacks/prod.lua", "lib/net.lua" }))

    gitrepo.git(dir, "add lib/net.lua")
    ok, why = clean({ "stacks/prod.lua" })                 -- staged elsewhere: not HEAD's tree
    assert.is_false(ok)
    assert.matches("staged", why)
    assert.are.same({ "stacks/prod.lua" }, core.read_unproven(dir, tree, { "stacks/prod.lua" }))   -- every one
    gitrepo.git(dir, "checkout -q HEAD -- lib/net.lua")

  end)

  -- the file's time made the index's own: its times cannot tell an edit
  -- made since, and git (and gitread) compare the content
  local function make_racy(path)
    local r = h.sh("touch -r " .. h.quote(dir .. "/.git/index") .. " " .. h.quote(dir .. "/" .. path)
      .. " && git -C " .. h.quote(dir) .. " update-index --refresh -q"
      .. " && touch -r " .. h.quote(dir .. "/" .. path) .. " " .. h.quote(dir .. "/.git/index"))
    assert.are.equal(0, r.status, r.stderr)
  end

  it("proves a racily clean file by its content, of any length", function()
    -- the lengths around SHA-1's 64-byte blocks and its padding
    local files = {}
    for _, n in ipairs { 0, 1, 47, 48, 55, 56, 63, 64, 65, 119, 120, 1000, 100000 } do
      local path = "sizes/" .. n .. ".txt"
      files[#files + 1] = path
      old_file(dir, path, string.rep("x", n - 1) .. (n > 0 and "\n" or ""))
    end
    gitrepo.git(dir, "add sizes && git commit -q -m sizes")
    tree = gitrepo.rev(dir, "HEAD^{tree}")
    for _, path in ipairs(files) do
      make_racy(path)
      assert.is_true(clean({ path }), path)
    end
    -- attributes could make git store other bytes: left to libgit2
    old_file(dir, "sizes/.gitattributes", "*.txt text eol=crlf\n")
    local ok, why = clean({ "sizes/1000.txt" })
    assert.is_false(ok)
    assert.matches("attributes", why)
  end)

  it("does not prove anything from a damaged index", function()
    local index = h.slurp(dir .. "/.git/index")
    for _, cut in ipairs { 10, 40, 100, #index - 30 } do
      h.write(dir .. "/.git/index", index:sub(1, cut))
      local ok, why = clean({ "stacks/prod.lua" })
      assert.is_false(ok, "cut at " .. cut)
      assert.is_string(why)
    end
  end)
end)

describe("a work tree source read without libgit2", function()
  local dir
  before_each(function()
    dir = repo_with({ ["stacks/prod.lua"] = "return 1\n", ["lib/net.lua"] = "return 2\n" })
  end)
  after_each(function() h.rmrf(dir) end)

  it("answers what it read and asks libgit2 the rest", function()
    local repo = assert(git.read_worktree(dir))
    assert.are.equal("current", repo:file_status("stacks/prod.lua"))
    gitrepo.write(dir, "lib/net.lua", "return 22\n")
    assert.are.equal("modified", repo:file_status("lib/net.lua"))      -- libgit2's word
    assert.is_nil(repo:remote_url("origin"))
    local head = gitrepo.rev(dir, "HEAD")
    assert.is_true(repo:is_ancestor(head, head))                       -- libgit2's too
    assert.are.equal(dir, repo:workdir())
    assert.is_true(repo:close())
  end)
end)
