-- The local state backend through the wpo binary, where the disk gets in the
-- way: temp copies of the state left by a writer killed mid-write are removed
-- by the next run (only those whose writer is gone); a state directory that
-- cannot be written is its own error, never "the state is locked".
--
-- Tests run as root, where a chmod does not stop a write. A read-only file
-- system is made for real in a private mount namespace (unshare -m, a
-- read-only bind mount); "permission denied" is wpo run as nobody (setpriv).
-- Where the machine allows neither, the test is skipped, saying why.
local fs = require "wpo.core.fs"
local h = require "helpers"

local STACK = 'local s = wpo.stack { name = "t" }\n'
  .. 'local pw = s:add("random.password", "db", { length = 24 })\n'
  .. 's:add("wpo.null", "app", { value = pw.result })\nreturn s\n'

local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO

local function temps(dir)
  local out = {}
  for _, name in ipairs(fs.list(dir) or {}) do
    if name:match("%.tmp%-") then out[#out + 1] = name end
  end
  return out
end

-- "cmd" prefixed so that it runs in dir with wpo's own environment
local function in_dir(dir, args, prefix)
  local parts = { prefix or "", "sh -c", }
  local inner = { "cd " .. h.quote(dir) .. " && exec env NO_COLOR=1 WPO_LOG= WPO_STDLIB=" .. h.quote(os.getenv("WPO_STDLIB") or "")
    .. " " .. h.quote(WPO) }
  for _, a in ipairs(args) do inner[#inner + 1] = h.quote(a) end
  parts[#parts + 1] = h.quote(table.concat(inner, " "))
  return table.concat(parts, " ")
end

local function is_root()
  return h.sh("id -u").stdout:match("^0%s*$") ~= nil
end

describe("the local state on a difficult disk", function()
  local dir
  before_each(function()
    dir = h.tmpdir()
    h.write(dir .. "/s.lua", STACK)
  end)
  after_each(function()
    os.execute("chmod -R u+w " .. h.quote(dir))
    h.rmrf(dir)
  end)

  it("removes at the next run the temp copies of the state a killed writer left, and only those", function()
    assert.are.equal(0, h.sh(in_dir(dir, { "run", "s.lua", "--yes" })).status)
    local state = fs.read(dir .. "/.wpo/t.state.json")
    -- the next run is killed halfway through its second atomic write: the
    -- first started the journal its changes went to; the second, at the end
    -- of the run, is the backup's (the state as it was, secret included),
    -- stopped before its rename
    h.write(dir .. "/s.lua", STACK:gsub("length = 24", "length = 25"))
    local r = h.sh("env WPO_FS_FAULT=after-temp-write:2 " .. in_dir(dir, { "run", "s.lua", "--yes" }))
    assert.are.equal(86, r.status, r.stdout .. r.stderr)
    local left = temps(dir .. "/.wpo")
    assert.are.equal(1, #left)
    local pid = left[1]:match("^%.t%.state%.json%.backup%.tmp%-(%d+)%-%d+$")
    assert.is_string(pid, left[1])
    assert.are.equal(state, fs.read(dir .. "/.wpo/" .. left[1]))
    assert.are.equal(state, fs.read(dir .. "/.wpo/t.state.json"))                      -- the state is whole
    -- the same dead writer's copy of the state itself; a temp of a writer still
    -- running (pid 1 never goes); files that only look alike
    local dead = ".t.state.json.tmp-" .. pid .. "-1"
    h.write(dir .. "/.wpo/" .. dead, state)
    local keep = { ".t.state.json.tmp-1-3", ".t.state.json.tmp-x-1", "t.state.json.tmp-5-5", ".u.state.json.tmp-5-5" }
    for _, name in ipairs(keep) do h.write(dir .. "/.wpo/" .. name, "x") end

    r = h.sh(in_dir(dir, { "plan", "s.lua" }))
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("wpo: removed 1 temporary copy of " .. dir .. "/.wpo/t.state.json left by a writer that was "
      .. "killed: " .. dead .. "\n"
      .. "wpo: removed 1 temporary copy of " .. dir .. "/.wpo/t.state.json.backup left by a writer that was "
      .. "killed: " .. left[1] .. "\n", r.stderr)
    assert.are.same(keep, (function()
      local now = temps(dir .. "/.wpo")
      table.sort(now)
      table.sort(keep)
      return now
    end)())
    -- nothing left to say the next time
    r = h.sh(in_dir(dir, { "plan", "s.lua" }))
    assert.are.equal("", r.stderr)
  end)

  -- a mount namespace of its own (with a user namespace when not root)
  local UNSHARE = is_root() and "unshare -m" or "unshare -rm"

  -- wpo in dir, in a mount namespace of its own where dir is read-only
  local function read_only(args)
    return h.sh(in_dir(dir, args, UNSHARE .. " sh -c " .. h.quote("mount --bind -o ro " .. h.quote(dir) .. " "
      .. h.quote(dir) .. " && exec \"$0\" \"$@\"")))
  end

  local function can_mount_read_only()
    local probe = h.sh(UNSHARE .. " sh -c " .. h.quote("mount --bind -o ro " .. h.quote(dir) .. " " .. h.quote(dir)
      .. " && ! touch " .. h.quote(dir .. "/probe")))
    os.remove(dir .. "/probe")
    return probe.status == 0, probe.stderr
  end

  it("says a state directory on a read-only file system cannot be written, not that the state is locked", function()
    local ok, why = can_mount_read_only()
    assert(ok, "no read-only bind mount in a private mount namespace (" .. UNSHARE .. "): " .. why)
    -- no state yet: .wpo cannot be made
    local r = read_only({ "plan", "s.lua" })
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.are.equal("wpo: StateError: cannot write the state in " .. dir .. "/.wpo: read-only file system\n", r.stderr)
    -- a state already there: it cannot be locked or written either
    assert.are.equal(0, h.sh(in_dir(dir, { "run", "s.lua", "--yes" })).status)
    local before = fs.read(dir .. "/.wpo/t.state.json")
    r = read_only({ "run", "s.lua", "--yes" })
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.are.equal("wpo: StateError: cannot write the state in " .. dir .. "/.wpo: read-only file system\n", r.stderr)
    assert.is_nil(r.stderr:find("locked", 1, true))
    assert.are.equal(before, fs.read(dir .. "/.wpo/t.state.json"))
  end)

  it("says a state directory it may not write in cannot be written (permission denied)", function()
    -- root may write anywhere: as root the writer is nobody; otherwise the
    -- user itself, in directories without write permission
    local nobody = is_root() and "setpriv --reuid=65534 --regid=65534 --clear-groups" or nil
    if nobody then
      local probe = h.sh(nobody .. " true")
      assert(probe.status == 0, "cannot run as another user (setpriv): " .. probe.stderr)
    end
    os.execute("chmod 0555 " .. h.quote(dir))
    local r = h.sh(in_dir(dir, { "plan", "s.lua" }, nobody))
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.are.equal("wpo: StateError: cannot write the state in " .. dir .. "/.wpo: permission denied\n", r.stderr)
    -- the state directory exists, and the writer may not write in it
    os.execute("chmod 0755 " .. h.quote(dir))
    assert.are.equal(0, h.sh(in_dir(dir, { "run", "s.lua", "--yes" })).status)
    os.execute("chmod 0555 " .. h.quote(dir .. "/.wpo"))
    r = h.sh(in_dir(dir, { "plan", "s.lua" }, nobody))
    os.execute("chmod 0755 " .. h.quote(dir .. "/.wpo"))
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.are.equal("wpo: StateError: cannot write the state in " .. dir .. "/.wpo: permission denied\n", r.stderr)
  end)
end)
