-- The state's journal (wpo.state, wpo.state.journal, the local backend): each
-- resource committed as a record appended beside the snapshot, in groups, a
-- record durable before its dependents start; read back merged; a record cut
-- short at the end dropped, a damaged one refused (in the clear and
-- encrypted); compacted into the snapshot; old state files still read; the
-- state commands on a journaled state; and wpo killed mid-apply, then run
-- again, against fakeaws: nothing created twice.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
local KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="       -- base64 of 32 bytes

-- `wpo ARGS` in dir; env: extra environment
local function wpo(dir, args, env)
  local parts = { "cd " .. h.quote(dir) .. " && exec env NO_COLOR=1 WPO_LOG=" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
  parts[#parts + 1] = h.quote(WPO)
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  return h.sh(table.concat(parts, " "))
end

local function lines_of(path)
  local text = fs.read(path) or ""
  text = text:gsub("%z+$", "")
  local out = {}
  for line in text:gmatch("([^\n]*)\n") do out[#out + 1] = line end
  return out, text
end

-- a chain of wpo.null: n1 <- n2 <- ... (each refers to the one before)
local function chain(n, name, extra)
  local src = { string.format('local s = wpo.stack { name = %q%s }\nlocal prev\n', name or "t", extra or "") }
  for i = 1, n do
    src[#src + 1] = string.format('prev = s:add("wpo.null", "n%d", { value = prev and prev.id or "first" })\n', i)
  end
  src[#src + 1] = 's:output("last", prev.id)\nreturn s\n'
  return table.concat(src)
end

describe("wpo.state's journal", function()
  local state = require "wpo.state"
  local dir, stack
  before_each(function()
    dir = h.tmpdir()
    stack = { name = "t", path = dir .. "/s.lua" }
  end)
  after_each(function() h.rmrf(dir) end)

  local function record(i)
    return { type = "wpo.null", id = "id-" .. i, inputs = { value = "v" .. i }, outputs = { id = "id-" .. i }, deps = {} }
  end

  it("records each commit beside the snapshot and reads the two back merged", function()
    local st = state.open(stack, { operation = "apply" })
    st:save()
    local snapshot = fs.read(dir .. "/.wpo/t.state.json")
    for i = 1, 3 do
      st:set("wpo.null.n" .. i, record(i))
      st.generations["wpo.null.n" .. i] = 1
      st:commit("wpo.null.n" .. i)
    end
    st:remove("wpo.null.n2")
    st:commit("wpo.null.n2")
    st.outputs = { last = { value = "id-3" } }
    st:commit({}, { outputs = true })
    assert.are.equal(6, st.serial)
    st:close()
    -- the snapshot is as the first save left it; the journal holds five groups
    assert.are.equal(snapshot, fs.read(dir .. "/.wpo/t.state.json"))
    local lines = lines_of(dir .. "/.wpo/t.state.json.journal")
    assert.are.equal(6, #lines)
    assert.are.equal(tonumber("600", 8), fs.stat(dir .. "/.wpo/t.state.json.journal").mode)
    local header = cjson.decode(lines[1])
    assert.are.same({ 1, "t", 1 }, { header.wpo_state_journal, header.stack, header.base_serial })
    assert.matches('^5 %x+ %[{"outputs":{"last":{"value":"id%-3"}}}%]$', lines[6])

    local again = state.open(stack, { operation = "plan" })
    assert.are.same({ "wpo.null.n1", "wpo.null.n3" }, again:addresses())
    assert.are.equal("v3", again:get("wpo.null.n3").inputs.value)
    assert.are.equal(1, again.generations["wpo.null.n3"])
    assert.are.equal("id-3", again.outputs.last.value)
    assert.are.equal(6, again.serial)
    again:close()
  end)

  it("writes the commits that come while a group is on its way as the next group, each returning once durable", function()
    local task = require "wpo.task"
    local st = state.open(stack, { operation = "apply" })
    st:save()
    local returned = {}
    for i = 1, 4 do
      task.spawn(function()
        st:set("wpo.null.n" .. i, record(i))
        st:commit("wpo.null.n" .. i)
        -- by now the record is in the file, whole
        local _, text = lines_of(dir .. "/.wpo/t.state.json.journal")
        returned[i] = text:find('"set":"wpo.null.n' .. i .. '"', 1, true) ~= nil
        if i == 1 then
          st:set("wpo.null.n5", record(5))
          st:commit("wpo.null.n5")
        end
      end)
    end
    task.run()
    st:close()
    assert.are.same({ true, true, true, true }, returned)
    -- four commits at once: one group; the fifth, made after the first returned, the next
    local lines = lines_of(dir .. "/.wpo/t.state.json.journal")
    assert.are.equal(3, #lines)
    assert.are.equal(4, #cjson.decode(lines[2]:match("^1 %x+ (.*)$")))
    assert.matches("^2 %x+ %[{.*}%]$", lines[3])
    assert.truthy(lines[3]:find('"set":"wpo.null.n5"', 1, true))
  end)

  it("compacts the journal into the snapshot once it outgrows it, and at every whole save", function()
    local saved = state.JOURNAL_MIN_BYTES
    state.JOURNAL_MIN_BYTES = 0
    local ok, err = pcall(function()
      local st = state.open(stack, { operation = "apply" })
      st:save()
      local compacted_at
      for i = 1, 6 do
        st:set("wpo.null.n" .. i, record(i))
        st:commit("wpo.null.n" .. i)
        local first = lines_of(dir .. "/.wpo/t.state.json.journal")[1]
        local header = first and cjson.decode(first)
        if not compacted_at and (not header or header.base_serial > 1) then compacted_at = i end
      end
      -- the journal outgrew the small snapshot: a commit wrote the snapshot instead
      assert.is_number(compacted_at)
      local snap = cjson.decode(fs.read(dir .. "/.wpo/t.state.json"))
      assert.is_true(#snap.resources >= compacted_at)
      local serial = st.serial
      st:save()
      assert.are.equal(serial + 1, st.serial)
      assert.is_nil(fs.read(dir .. "/.wpo/t.state.json.journal"))
      snap = cjson.decode(fs.read(dir .. "/.wpo/t.state.json"))
      assert.are.equal(6, #snap.resources)
      assert.are.equal(st.serial, math.tointeger(snap.serial))
      st:close()
    end)
    state.JOURNAL_MIN_BYTES = saved
    assert(ok, err)
  end)

  local function journaled(n)
    local st = state.open(stack, { operation = "apply" })
    st:save()
    for i = 1, n do
      st:set("wpo.null.n" .. i, record(i))
      st:commit("wpo.null.n" .. i)
    end
    st:close()
    return dir .. "/.wpo/t.state.json.journal"
  end

  local function open_error()
    local ok, err = pcall(state.open, stack, { operation = "plan" })
    assert.is_false(ok)
    return tostring(err)
  end

  it("drops a last record cut short (a writer killed while appending it), and refuses any damaged one", function()
    local path = journaled(3)
    local lines, text = lines_of(path)
    -- cut short: the end of the last line is missing
    fs.write_atomic(path, text:sub(1, -20))
    local st = state.open(stack, { operation = "plan", lock = false })   -- (no lock: no note on stderr)
    assert.are.same({ "wpo.null.n1", "wpo.null.n2" }, st:addresses())
    assert.are.equal(3, st.serial)
    st:close()
    -- one byte changed in the middle record, or in the last (complete) one
    for _, at in ipairs({ 3, 4 }) do
      local copy = { table.unpack(lines) }
      copy[at] = copy[at]:gsub('"v(%d)"', '"w%1"')
      fs.write_atomic(path, table.concat(copy, "\n") .. "\n")
      assert.matches("StateError: the state journal " .. path:gsub("%p", "%%%0") .. " is damaged at line " .. at
        .. ": its checksum does not match", open_error())
    end
    -- a record missing from the middle
    fs.write_atomic(path, table.concat({ lines[1], lines[2], lines[4] }, "\n") .. "\n")
    assert.matches("is damaged at line 3: it is group 3 where group 2 was due", open_error())
  end)

  it("reads state files without a journal, ignores an obsolete journal, refuses one that does not fit", function()
    fs.mkdir_p(dir .. "/.wpo", "0700")
    local old = cjson.encode({ format_version = 1, lineage = "L-1", serial = 7, stack = "t",
      resources = { { address = "wpo.null.a", type = "wpo.null", id = "a", inputs = {}, outputs = { id = "a" } } } })
    fs.write_atomic(dir .. "/.wpo/t.state.json", old)
    local st = state.open(stack, { operation = "plan" })
    assert.are.same({ "wpo.null.a" }, st:addresses())
    assert.are.equal(7, st.serial)
    st:close()
    local journal = require "wpo.state.journal"
    local function with_journal(fields)
      local w = journal.start(fields)
      local payload = cjson.encode({ { set = "wpo.null.b", resource = { type = "wpo.null", id = "b" } } })
      fs.write_atomic(dir .. "/.wpo/t.state.json.journal", w.header .. w:line(1, payload))
    end
    -- a save cut short after writing the snapshot, before removing the journal
    with_journal({ stack = "t", lineage = "L-1", base_serial = 6 })
    st = state.open(stack, { operation = "plan" })
    assert.are.same({ "wpo.null.a" }, st:addresses())
    st:close()
    with_journal({ stack = "t", lineage = "L-1", base_serial = 7 })
    st = state.open(stack, { operation = "plan" })
    assert.are.same({ "wpo.null.a", "wpo.null.b" }, st:addresses())
    assert.are.equal(8, st.serial)
    st:close()
    with_journal({ stack = "t", lineage = "L-1", base_serial = 9 })
    assert.matches("continues serial 9, but the state is at serial 7", open_error())
    with_journal({ stack = "t", lineage = "L-2", base_serial = 7 })
    assert.matches("belongs to lineage L%-2, not the state's L%-1", open_error())
    os.remove(dir .. "/.wpo/t.state.json")
    assert.matches("the state is missing but its journal .* is there", open_error())
  end)

  it("lets no resource start before the records of what it depends on are durable (a fake disk)", function()
    local fakecore = require "fakecore"
    local et = require "enginetest"
    local fake = fakecore.install({ seed = 3 })
    local ok, err = pcall(function()
      local plan, apply = require "wpo.plan", require "wpo.apply"
      local DISK_MS = 40
      local st = require("wpo.state").open(stack, { operation = "apply" })
      st:save()
      -- the disk: an append is durable DISK_MS after it was written
      local writes = {}
      st.backend.begin_journal = function()
        return { append = function(_, data)
          writes[#writes + 1] = { data = data, durable = fake.now + DISK_MS }
          return fake.loop.timer(DISK_MS)
        end, close = function() end }
      end
      local s = et.stack('local s = wpo.stack { name = "t" }\n'
        .. 'local a = s:add("wpo.null", "a", { create_delay_ms = 1000 })\n'
        .. 'local c = s:add("wpo.null", "c", { create_delay_ms = 1000 })\n'
        .. 'local d = s:add("wpo.null", "d", { create_delay_ms = 1010 })\n'
        .. 'local b = s:add("wpo.null", "b", { value = a.id })\n'
        .. 's:add("wpo.null", "e", { value = { c.id, d.id } })\n'
        .. 's:add("wpo.null", "f", { value = b.id })\nreturn s\n')
      local p = plan.make(s, st, {})
      local r = et.recorder(fake)
      local result = apply.run(p, s, st, { reporter = r, parallelism = 16 })
      assert.is_true(result.ok)
      -- when each address's record became durable
      local durable = {}
      for _, w in ipairs(writes) do
        local payload = w.data:match("^%d+ %x+ (.*)\n$")
        for _, c in ipairs(cjson.decode(payload)) do
          if c.set then durable[c.set] = durable[c.set] or w.durable end
        end
      end
      local deps = { ["wpo.null.b"] = { "wpo.null.a" }, ["wpo.null.e"] = { "wpo.null.c", "wpo.null.d" },
        ["wpo.null.f"] = { "wpo.null.b" } }
      for address, list in pairs(deps) do
        local started = r:find("start", address).t
        for _, dep in ipairs(list) do
          assert.is_number(durable[dep], dep)
          assert.is_true(started >= durable[dep], address .. " started at " .. started .. ", before " .. dep
            .. " was durable at " .. durable[dep])
        end
      end
      -- and no commit returned (so no finish was reported) before its record was durable
      for address, t in pairs(durable) do assert.is_true(r:find("finish", address).t >= t, address) end
      -- a and c finished together: one group, one write
      assert.are.equal(durable["wpo.null.a"], durable["wpo.null.c"])
      assert.are.equal(1040, durable["wpo.null.a"])
      assert.are.equal(1040, r:find("start", "wpo.null.b").t)
      st:close()
    end)
    fakecore.restore()
    assert(ok, err)
  end)
end)

describe("a journaled state through the wpo binary", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmrf(dir) end)

  local function addresses(args, env)
    local r = wpo(dir, { "state", "list", "s.lua", table.unpack(args or {}) }, env)
    assert.are.equal(0, r.status, r.stderr)
    local out = {}
    for line in r.stdout:gmatch("[^\n]+") do out[#out + 1] = line end
    return out, r
  end

  it("keeps what a run killed mid-append committed, drops the record cut short, and completes on the next run",
    function()
    h.write(dir .. "/s.lua", chain(8))
    -- killed while appending its fourth group (the chain commits one resource per group)
    local r = wpo(dir, { "run", "s.lua", "--yes" }, { WPO_FS_FAULT = "journal-torn:4" })
    assert.are.equal(86, r.status, r.stdout .. r.stderr)
    assert.are.same({ "wpo.null.n1", "wpo.null.n2", "wpo.null.n3" }, addresses())
    -- what takes the lock says so; a reader without it (state list) says nothing
    r = wpo(dir, { "plan", "s.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Plan: 5 to add", r.stdout)
    assert.matches("t%.state%.json%.journal ends with a record cut short %(%d+ bytes, from a run killed while "
      .. "writing it, before anything relied on it%): ignored\n$", r.stderr)
    local ids = {}
    for i = 1, 3 do
      ids[i] = wpo(dir, { "state", "show", "s.lua", "wpo.null.n" .. i }).stdout:match('\n  id%s+"(%x+)"')
      assert.is_string(ids[i])
    end
    r = wpo(dir, { "run", "s.lua", "--yes" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Apply complete: 5 added, 0 changed, 0 destroyed%.", r.stdout)
    assert.is_nil(fs.read(dir .. "/.wpo/t.state.json.journal"))     -- compacted at the end
    local doc = cjson.decode(fs.read(dir .. "/.wpo/t.state.json"))
    assert.are.equal(8, #doc.resources)
    for i = 1, 3 do
      for _, res in ipairs(doc.resources) do
        if res.address == "wpo.null.n" .. i and ids[i] then assert.are.equal(ids[i], res.id) end
      end
    end
  end)

  it("starts no dependent before the record of what it depends on is flushed (killed between write and flush)",
    function()
    h.write(dir .. "/s.lua", chain(6))
    -- the third group is written, and the process dies before its fdatasync returns
    local r = wpo(dir, { "run", "s.lua", "--yes" }, { WPO_FS_FAULT = "journal-before-sync:3" })
    assert.are.equal(86, r.status, r.stdout .. r.stderr)
    assert.matches("wpo%.null%.n3: creating%.%.%.", r.stdout)
    assert.is_nil(r.stdout:find("wpo.null.n3: created", 1, true), r.stdout)
    assert.is_nil(r.stdout:find("wpo.null.n4: creating", 1, true), r.stdout)
  end)

  it("lists, shows and removes entries of a journaled state, which state rm compacts", function()
    h.write(dir .. "/s.lua", chain(5))
    local r = wpo(dir, { "run", "s.lua", "--yes" }, { WPO_FS_FAULT = "journal-after-sync:4" })
    assert.are.equal(86, r.status, r.stdout .. r.stderr)
    local snapshot = cjson.decode(fs.read(dir .. "/.wpo/t.state.json"))
    assert.are.equal(0, #snapshot.resources)               -- all of it in the journal
    assert.are.same({ "wpo.null.n1", "wpo.null.n2", "wpo.null.n3", "wpo.null.n4" }, addresses())
    r = wpo(dir, { "state", "show", "s.lua", "wpo.null.n4" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("wpo%.null%.n4", r.stdout)
    r = wpo(dir, { "state", "rm", "s.lua", "wpo.null.n4" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.is_nil(fs.read(dir .. "/.wpo/t.state.json.journal"))
    snapshot = cjson.decode(fs.read(dir .. "/.wpo/t.state.json"))
    assert.are.equal(3, #snapshot.resources)
    assert.are.same({ "wpo.null.n1", "wpo.null.n2", "wpo.null.n3" }, addresses())
  end)

  it("seals each group of an encrypted state, refusing a modified one and dropping one cut short", function()
    h.write(dir .. "/s.lua", chain(6, "t", ', backend = { type = "local", encrypt = true }'))
    local env = { WPO_STATE_KEY = KEY }
    local r = wpo(dir, { "run", "s.lua", "--yes" }, { WPO_STATE_KEY = KEY, WPO_FS_FAULT = "journal-after-sync:4" })
    assert.are.equal(86, r.status, r.stdout .. r.stderr)
    local path = dir .. "/.wpo/t.state.json.journal"
    local lines, text = lines_of(path)
    assert.are.equal(5, #lines)
    assert.is_nil(text:find("wpo.null", 1, true))       -- no address, no value in the clear
    local header = cjson.decode(lines[1])
    assert.are.same({ "AES-256-GCM", "env" }, { header.encryption.scheme, header.encryption.key_source })
    assert.are.same({ "wpo.null.n1", "wpo.null.n2", "wpo.null.n3", "wpo.null.n4" }, addresses({}, env))
    -- without the key, or with another, nothing is read
    r = wpo(dir, { "state", "list", "s.lua" }, { WPO_STATE_KEY = "" })
    assert.are.equal(1, r.status)
    -- cut short: dropped
    fs.write_atomic(path, text:sub(1, -10))
    assert.are.same({ "wpo.null.n1", "wpo.null.n2", "wpo.null.n3" }, addresses({}, env))
    -- a changed byte in the middle: refused, naming the line
    local seq, sealed = lines[3]:match("^(%d+) (.*)$")
    local flipped = sealed:sub(1, 20) .. (sealed:sub(21, 21) == "A" and "B" or "A") .. sealed:sub(22)
    fs.write_atomic(path, table.concat({ lines[1], lines[2], seq .. " " .. flipped, lines[4], lines[5] }, "\n") .. "\n")
    r = wpo(dir, { "state", "list", "s.lua" }, env)
    assert.are.equal(1, r.status)
    assert.matches("is damaged at line 3: it failed authentication", r.stderr)
    -- a journal in the clear beside an encrypted state is refused
    local journal = require "wpo.state.journal"
    local hdr = cjson.decode(lines[1])
    local w = journal.start({ stack = "t", lineage = hdr.lineage, base_serial = hdr.base_serial })
    fs.write_atomic(path, w.header .. w:line(1, cjson.encode({ { remove = "wpo.null.n1" } })))
    r = wpo(dir, { "state", "list", "s.lua" }, env)
    assert.are.equal(1, r.status)
    assert.matches("the state is encrypted but its journal .* is not", r.stderr)
  end)
end)

describe("wpo killed during a large apply, then run again (against fakeaws)", function()
  local fakeaws = require "fakeaws"
  local N = 24
  local f, dir
  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
    -- VPCs in a tree: each tagged with its parent's id, so each waits for its parent's record
    local src = { 'local s = wpo.stack { name = "t", region = "eu-west-1" }\nlocal v = {}\n' }
    for i = 1, N do
      src[#src + 1] = string.format('v[%d] = s:add("aws.ec2.vpc", "v%d", { cidr_block = "10.%d.0.0/16"%s })\n', i, i, i,
        i > 1 and string.format(", tags = { parent = v[%d].id }", i // 2) or "")
    end
    src[#src + 1] = "return s\n"
    h.write(dir .. "/s.lua", table.concat(src))
  end)
  after_each(function() h.rmrf(dir) end)

  local function env()
    local e = { WPO_WAIT_SCALE = "0.001" }
    for k, v in pairs(f.env) do e[k] = v end
    return e
  end

  local function vpcs()
    local out = {}
    for id, v in pairs((f:state().ec2 or {}).vpc or {}) do
      for _, t in ipairs(v.Tags or {}) do
        if t.Key == "wpo:address" then out[#out + 1] = { id = id, address = t.Value } end
      end
    end
    return out
  end

  it("creates nothing twice, and the state holds each object once", function()
    -- stopped with SIGKILL once a third of the VPCs are reported created
    local parts = { "cd " .. h.quote(dir) .. " && exec env" }
    for k, v in pairs(env()) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
    parts[#parts + 1] = h.quote(WPO) .. " run s.lua --yes"
    local p = io.popen("echo $$; " .. table.concat(parts, " ") .. " 2>&1", "r")
    local pid = p:read("l")
    local created = 0
    for line in p:lines() do
      if line:match(": created in ") then created = created + 1 end
      if created == N // 3 then
        os.execute("kill -9 " .. pid)
        break
      end
    end
    p:close()
    assert.are.equal(N // 3, created)
    local made = #vpcs()
    assert.is_true(made >= created)

    local r = wpo(dir, { "run", "s.lua", "--yes" }, env())
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local adopted = select(2, r.stdout:gsub(": adopting vpc%-", ""))
    assert.is_true(adopted <= made - created, r.stdout)   -- only what the killed run had not committed
    local held = vpcs()
    assert.are.equal(N, #held)                            -- 0 duplicates
    assert.are.equal(N, f:calls()["ec2.CreateVpc"])       -- each object made once, the rest adopted
    local by_address = {}
    for _, v in ipairs(held) do
      assert.is_nil(by_address[v.address], v.address .. " twice")
      by_address[v.address] = v.id
    end
    local doc = cjson.decode(fs.read(dir .. "/.wpo/t.state.json"))
    assert.are.equal(N, #doc.resources)
    for _, res in ipairs(doc.resources) do assert.are.equal(by_address[res.address], res.id, res.address) end
    assert.is_nil(fs.read(dir .. "/.wpo/t.state.json.journal"))
    r = wpo(dir, { "plan", "s.lua", "--detailed-exitcode" }, env())
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)
end)
