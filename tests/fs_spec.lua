local fs = require "wpo.core.fs"
local h = require "helpers"

describe("wpo.core.fs", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmrf(dir) end)

  it("writes atomically with mode 0600 by default, and reads back", function()
    local p = dir .. "/s.json"
    assert.is_true(fs.write_atomic(p, "hello"))
    assert.are.equal("hello", fs.read(p))
    assert.are.equal(tonumber("600", 8), fs.stat(p).mode)
    assert.is_true(fs.write_atomic(p, "x", "0644"))
    assert.are.equal(tonumber("644", 8), fs.stat(p).mode)
    assert.are.same({ "s.json" }, fs.list(dir))
  end)

  it("lstat: a link itself with its target, a special file by kind", function()
    assert(fs.write_atomic(dir .. "/f", "data", "0755"))
    os.execute("ln -s f " .. h.quote(dir .. "/l") .. " && mkfifo " .. h.quote(dir .. "/p"))
    local l = assert(fs.lstat(dir .. "/l"))
    assert.are.equal("link", l.type)
    assert.are.equal("f", l.target)
    assert.are.equal("file", fs.stat(dir .. "/l").type)
    local f = assert(fs.lstat(dir .. "/f"))
    assert.are.equal("file", f.type)
    assert.are.equal(tonumber("755", 8), f.mode)
    assert.are.equal(4, f.size)
    assert.is_nil(f.target)
    local p = assert(fs.lstat(dir .. "/p"))
    assert.are.equal("other", p.type)
    assert.are.equal("fifo", p.special)
    local none, err, code = fs.lstat(dir .. "/none")
    assert.is_nil(none)
    assert.are.equal("ENOENT", code)
    assert.matches("none", err)
  end)

  it("returns nil, message, ENOENT for a missing file", function()
    local data, err, code = fs.read(dir .. "/none")
    assert.is_nil(data)
    assert.matches("none: No such file", err)
    assert.are.equal("ENOENT", code)
  end)

  it("appends on a thread of its own, one append at a time, each completing once written and flushed", function()
    local task = require "wpo.task"
    local p = dir .. "/j"
    assert(fs.write_atomic(p, "head\n"))
    local a = assert(fs.appender(p))
    assert.matches("^wpo.fs.appender %(.*/j%)$", tostring(a))
    local id = a:append("one\n")
    assert.has_error(function() a:append("two\n") end)          -- the first has not completed
    assert.are.equal(4, task.await(id))
    assert.are.equal(4, task.await(a:append("two\n")))
    -- the file is grown ahead of the data, with zero bytes
    local text = fs.read(p)
    assert.are.equal("head\none\ntwo\n", (text:gsub("%z+$", "")))
    assert.is_true(#text >= 13)
    -- an append queued before close still lands; none after
    id = a:append("three\n")
    a:close()
    a:close()
    assert.are.equal(6, task.await(id))
    assert.has_error(function() a:append("four\n") end, "attempt to use a closed appender")
    assert.are.equal("head\none\ntwo\nthree\n", (fs.read(p):gsub("%z+$", "")))
    -- on the calling thread, for a caller with nothing else to do
    local b = assert(fs.appender(p))
    assert.are.equal(5, b:append_sync("five\n"))
    id = b:append("six\n")
    assert.has_error(function() b:append_sync("seven\n") end)     -- not while one is on its way
    assert.are.equal(4, task.await(id))
    b:close()
    assert.are.equal("head\none\ntwo\nthree\nfive\nsix\n", (fs.read(p):gsub("%z+$", "")))
    local none, err, code = fs.appender(dir .. "/missing")
    assert.is_nil(none)
    assert.matches("cannot open for appending", err)
    assert.are.equal("ENOENT", code)
    -- a writer killed in the middle of an append leaves the start of it
    local script = dir .. "/appender.lua"
    h.write(script, "local a = require('wpo.core.fs').appender(...)\n"
      .. "for i = 1, 3 do assert(require('wpo.task').await(a:append(('record %d\\n'):format(i)))) end\n")
    assert(fs.write_atomic(p, "head\n"))
    local r = h.wpo({ "lua", script, p }, { env = { WPO_FS_FAULT = "journal-torn:3" } })
    assert.are.equal(86, r.status, r.stderr)
    assert.are.equal("head\nrecord 1\nrecord 2\nreco", (fs.read(p):gsub("%z+$", "")))
  end)

  it("keeps the old content or the new when the writer dies at any step", function()
    local p = dir .. "/state.json"
    local script = dir .. "/writer.lua"
    h.write(script, "assert(require('wpo.core.fs').write_atomic(...))\n")
    for step, want in pairs({ ["after-temp-write"] = "old", ["after-fsync"] = "old",
                              ["before-rename"] = "old", ["after-rename"] = "new!" }) do
      assert(fs.write_atomic(p, "old"))
      local r = h.wpo({ "lua", script, p, "new!" }, { env = { WPO_FS_FAULT = step } })
      assert.are.equal(86, r.status, step)
      assert.are.equal(want, fs.read(p), step)
    end
  end)

  it("removes the temp copies a killed writer left, only when its process is gone and only of that file", function()
    local p = dir .. "/s.json"
    local script = dir .. "/writer.lua"
    h.write(script, "assert(require('wpo.core.fs').write_atomic(...))\n")
    assert(fs.write_atomic(p, "old"))
    local r = h.wpo({ "lua", script, p, "secret" }, { env = { WPO_FS_FAULT = "after-temp-write" } })
    assert.are.equal(86, r.status)
    local left = {}
    for _, name in ipairs(fs.list(dir)) do if name:match("^%.s%.json%.tmp%-") then left[#left + 1] = name end end
    assert.are.equal(1, #left)
    assert.are.equal("secret", fs.read(dir .. "/" .. left[1]))
    -- a live writer's (pid 1 is always alive), another file's, look-alikes
    local live = ".s.json.tmp-1-0"
    local keep = { live, ".other.json.tmp-999999999-1", ".s.json.tmp-x-1", ".s.json.tmp-12-", "s.json.tmp-5-5",
      ".s.json.tmp-5-5.bak" }
    for _, name in ipairs(keep) do h.write(dir .. "/" .. name, "x") end
    assert.are.same(left, fs.remove_stale_temps(p))
    assert.is_false(fs.exists(dir .. "/" .. left[1]))
    for _, name in ipairs(keep) do assert.is_true(fs.exists(dir .. "/" .. name), name) end
    assert.are.equal("old", fs.read(p))
    assert.are.same({}, fs.remove_stale_temps(p))
    local none, err, code = fs.remove_stale_temps(dir .. "/missing/s.json")
    assert.is_nil(none)
    assert.matches("cannot list", err)
    assert.are.equal("ENOENT", code)
  end)

  it("says whether a directory can be written in", function()
    assert.is_true(fs.writable(dir))
    local ok, err, code = fs.writable(dir .. "/missing")
    assert.is_nil(ok)
    assert.matches("cannot write in .*missing", err)
    assert.are.equal("ENOENT", code)
  end)

  it("creates directories with mkdir_p, lists, renames and removes", function()
    assert.is_true(fs.mkdir_p(dir .. "/a/b/c", "0700"))
    assert.are.equal(tonumber("700", 8), fs.stat(dir .. "/a/b/c").mode)
    assert.is_true(fs.exists(dir .. "/a/b"))
    fs.write_atomic(dir .. "/a/f", "1")
    assert.are.same({ "b", "f" }, fs.list(dir .. "/a"))
    assert.is_true(fs.rename(dir .. "/a/f", dir .. "/a/g"))
    assert.is_true(fs.remove(dir .. "/a/g"))
    assert.is_false(fs.exists(dir .. "/a/g"))
    local ok, _, code = fs.remove(dir .. "/a/g")
    assert.is_nil(ok)
    assert.are.equal("ENOENT", code)
  end)

  it("locks exclusively across processes and names the holder", function()
    local lockfile = dir .. "/s.lock"
    local ready, release = dir .. "/ready", dir .. "/release"
    os.execute("mkfifo " .. h.quote(ready) .. " " .. h.quote(release))
    local script = dir .. "/holder.lua"
    h.write(script, [[
      local fs = require "wpo.core.fs"
      local lockfile, ready, release = ...
      local lock = assert(fs.lock(lockfile, { pid = require("wpo.core.sys").pid(), host = "box",
        user = "alice", command = "wpo run prod.lua", since = "2030-01-01T00:00:00Z" }))
      local f = io.open(ready, "w"); f:write("locked\n"); f:close()
      local g = io.open(release, "r"); g:read("a"); g:close()
      lock:close()
    ]])
    local child = io.popen(h.quote(h.WPO) .. " lua " .. h.quote(script) .. " " .. h.quote(lockfile)
      .. " " .. h.quote(ready) .. " " .. h.quote(release) .. " & echo $!")
    local pid = tonumber(child:read("l"))
    local f = io.open(ready, "r"); assert.are.equal("locked\n", f:read("a")); f:close()
    local lock, err, holder = fs.lock(lockfile, { pid = 1 })
    assert.is_nil(lock)
    assert.are.equal(pid, holder.pid)
    assert.are.equal("alice", holder.user)
    assert.are.equal(lockfile .. " is locked by pid " .. pid
      .. " on box (user alice, running 'wpo run prod.lua', since 2030-01-01T00:00:00Z)", err)
    local g = io.open(release, "w"); g:write("go"); g:close()
    child:close()
    os.execute("while kill -0 " .. pid .. " 2>/dev/null; do :; done")
    local mine = assert(fs.lock(lockfile, { pid = 7 }))
    assert.matches("s.lock", tostring(mine))
    mine:close(); mine:close()
    assert.matches("released", tostring(mine))
  end)
end)
