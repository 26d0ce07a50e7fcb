-- Remote and encrypted state through the wpo binary, against tests/fakeaws
-- (S3, DynamoDB, KMS): two processes and one S3 state, a lock left by a
-- killed process, a stale lease taken over, SIGINT, a write racing another
-- writer, encryption at rest (the generated password nowhere in the state,
-- plans, JSON or the debug log; a flipped byte; a wrong key; rekey; KMS),
-- and migration local -> S3 -> local.
local h = require "helpers"

describe("remote state (wpo binary against fakeaws)", function()
  local aws = require "wpo.aws"
  local cjson = require "cjson"
  local crypto = require "wpo.core.crypto"
  local fakeaws = require "fakeaws"
  local fs = require "wpo.core.fs"
  local loop = require "wpo.core.loop"
  local task = require "wpo.task"

  local f, dir
  local KEY = crypto.base64(crypto.random(32))

  setup(function() f = fakeaws.start() end)
  teardown(function() if f then f:stop() end end)

  local function client(service)
    return aws.client(service, { region = f.region, endpoint = f.url,
      credentials = { access_key = "test", secret_key = "test" } })
  end

  before_each(function()
    f:reset()
    dir = h.tmpdir()
    local s3 = client("s3")
    s3:call("CreateBucket", { Bucket = "wpo-state" })
    s3:call("PutBucketVersioning", { Bucket = "wpo-state", VersioningConfiguration = { Status = "Enabled" } })
    local ddb = client("dynamodb")
    ddb:call("CreateTable", { TableName = "locks", BillingMode = "PAY_PER_REQUEST",
      KeySchema = { { AttributeName = "LockID", KeyType = "HASH" } },
      AttributeDefinitions = { { AttributeName = "LockID", AttributeType = "S" } } })
    aws.wait(function() return ddb:call("DescribeTable", { TableName = "locks" }).Table.TableStatus == "ACTIVE" end,
      { what = "the lock table", timeout = 10, interval = 0.01 })
  end)
  after_each(function() h.rmrf(dir) end)

  local function env_with(extra)
    local env = {}
    for k, v in pairs(f.env) do env[k] = v end
    for k, v in pairs(extra or {}) do env[k] = v end
    return env
  end

  local function command(args, extra_env)
    return h.command_in(dir, args, env_with(extra_env))
  end

  local function wpo(args, extra_env)
    return h.sh(command(args, extra_env))
  end

  -- wpo in the background, its output (stderr too) on a fifo: until_line(pattern),
  -- finish() -> exit status, everything it printed. The exit status arrives in
  -- a file renamed into place once it is complete.
  local n = 0
  local function background(args, extra_env)
    n = n + 1
    local out, rc = dir .. "/bg" .. n .. ".out", dir .. "/bg" .. n .. ".rc"
    os.execute("mkfifo " .. h.quote(out))
    local pidfile = dir .. "/bg" .. n .. ".pid"
    -- exec: $! is wpo itself (a signal reaches it, not a shell)
    local cmd = command(args, extra_env):gsub(" && env ", " && exec env ", 1)
    os.execute(string.format("( ( %s ) > %s 2>&1 & echo $! > %s.tmp; mv %s.tmp %s; wait $!; echo $? > %s.tmp; "
      .. "mv %s.tmp %s ) </dev/null >/dev/null 2>&1 &", cmd, h.quote(out),
      h.quote(pidfile), h.quote(pidfile), h.quote(pidfile), h.quote(rc), h.quote(rc), h.quote(rc)))
    local stream = assert(io.open(out, "r"))
    local seen = {}
    local bg = {}
    function bg.pid()
      local deadline = loop.now() + 30000
      while not fs.exists(pidfile) and loop.now() < deadline do task.sleep(10) end
      return assert(fs.read(pidfile)):match("%d+")
    end
    function bg.until_line(pattern)
      for line in stream:lines() do
        seen[#seen + 1] = line
        if line:match(pattern) then return line end
      end
      error("the output ended before a line matching " .. pattern .. ":\n" .. table.concat(seen, "\n"))
    end
    function bg.finish()
      for line in stream:lines() do seen[#seen + 1] = line end
      stream:close()
      local deadline = loop.now() + 30000
      while not fs.exists(rc) and loop.now() < deadline do task.sleep(10) end
      local status = tonumber((assert(fs.read(rc))))
      return status, table.concat(seen, "\n") .. "\n"
    end
    return bg
  end

  local function lock_item()
    local item = client("dynamodb"):call("GetItem", { TableName = "locks", Key = { LockID = { S = "wpo-state/t" } },
      ConsistentRead = true }).Item
    if not item then return nil end
    local info = cjson.decode(item.Info.S)
    return { id = item.ID.S, lease = item.Lease.S, pid = math.tointeger(info.Pid), info = info }
  end

  local function object(key, version)
    return client("s3"):call("GetObject", { Bucket = "wpo-state", Key = key or "t", VersionId = version })
  end

  local function all_versions(key)
    local out = {}
    for page in client("s3"):paginate("ListObjectVersions", { Bucket = "wpo-state", Prefix = key or "t" }) do
      for _, v in ipairs(page.Versions or {}) do
        if v.Key == (key or "t") then out[#out + 1] = object(key, v.VersionId).Body end
      end
    end
    return out
  end

  local function esc(s) return (s:gsub("%p", "%%%0")) end

  local BACKEND = 'backend = { type = "s3", bucket = "wpo-state", key = "t", lock_table = "locks"%s }'
  local function stack(backend_extra, body)
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t", vars = { delay = "0", trigger = "1" }, '
      .. string.format(BACKEND, backend_extra or "") .. ' }\n'
      .. (body or 's:add("wpo.null", "slow", { create_delay_ms = tonumber(s.vars.delay), '
        .. 'triggers = { t = s.vars.trigger } })\n')
      .. 'return s\n')
  end

  describe("locking", function()
    it("fails a second process at once, naming the first; it proceeds once the first is done", function()
      stack()
      local first = background({ "run", "s.lua", "--yes", "--var", "delay=2000" })
      first.until_line("^wpo%.null%.slow: creating")
      local holder = assert(lock_item(), "the first process holds the lock")
      local r = wpo({ "plan", "s.lua" })
      assert.are.equal(1, r.status)
      assert.are.equal(1, select(2, r.stderr:gsub("\n", "")))
      assert.matches("^wpo: StateLocked: the state is locked: s3://wpo%-state/t is locked by [^ ]+ %(pid "
        .. holder.pid .. ", running 'wpo run s%.lua', wpo [%d.]+%) since [%dT:Z-]+; lock ID " .. esc(holder.id)
        .. "; lease renewed %d+s ago, expires in %d+s; wait for it with %-%-lock%-timeout DURATION %(e%.g%. 5m%), "
        .. "or if that process is gone: wpo unlock s%.lua " .. esc(holder.id), r.stderr)
      -- it failed without waiting: the first one still holds the lock
      assert.are.equal(holder.id, lock_item().id)
      local status, out = first.finish()
      assert.are.equal(0, status, out)
      assert.is_nil(lock_item())
      r = wpo({ "plan", "s.lua", "--var", "delay=2000", "--detailed-exitcode" })
      assert.are.equal(0, r.status, r.stderr)
      assert.matches("No changes", r.stdout)

      -- with --lock-timeout the second one waits for the first
      first = background({ "run", "s.lua", "--yes", "--var", "delay=1500", "--var", "trigger=2" })
      first.until_line("^wpo%.null%.slow: replacing")
      local second = background({ "plan", "s.lua", "--var", "delay=1500", "--var", "trigger=2", "--lock-timeout", "1m" })
      second.until_line("^wpo: waiting up to 60s for the state lock: s3://wpo%-state/t is locked by")
      assert.are.equal(0, (first.finish()))
      local s2, out2 = second.finish()
      assert.are.equal(0, s2, out2)
      assert.matches("wpo: got the state lock\n", out2)
      assert.matches("No changes", out2)
    end)

    it("reports a lock left by a killed process with its details, and removes it with wpo unlock (right ID only)", function()
      stack()
      local victim = background({ "run", "s.lua", "--yes", "--var", "delay=600000" })
      victim.until_line("^wpo%.null%.slow: creating")
      local holder = assert(lock_item())
      os.execute("kill -9 " .. holder.pid)
      assert.are.equal(137, (victim.finish()))
      local r = wpo({ "plan", "s.lua" })
      assert.are.equal(1, r.status)
      assert.matches("locked by [^ ]+ %(pid " .. holder.pid .. ", running 'wpo run s%.lua'", r.stderr)
      assert.matches("wpo unlock s%.lua " .. esc(holder.id), r.stderr)
      r = wpo({ "unlock", "s.lua", "00000000-0000-4000-8000-000000000000" })
      assert.are.equal(1, r.status)
      assert.matches("WrongLockID: s3://wpo%-state/t is locked under ID " .. esc(holder.id)
        .. ", not 00000000%-0000%-4000%-8000%-000000000000: refusing to remove it", r.stderr)
      assert.are.equal(holder.id, lock_item().id)
      r = wpo({ "unlock", "s.lua", holder.id })
      assert.are.equal(0, r.status, r.stderr)
      assert.matches("^Removed the state lock of s3://wpo%-state/t: [^ ]+ %(pid " .. holder.pid, r.stdout)
      assert.is_nil(lock_item())
      r = wpo({ "plan", "s.lua" })
      assert.are.equal(0, r.status, r.stderr)
      assert.matches("Plan: 1 to add", r.stdout)
    end)

    it("keeps a working holder's lease alive past its length, and takes over a killed holder's once it is stale", function()
      stack(", lock_lease = 2")
      local victim = background({ "run", "s.lua", "--yes", "--var", "delay=600000" })
      victim.until_line("^wpo%.null%.slow: creating")
      local holder = assert(lock_item())
      -- watch the heartbeat renew the 2 s lease until more than lease + allowance (3 s) went by
      local leases, renewals, t0 = { [holder.lease] = true }, 0, loop.now()
      while renewals < 5 and loop.now() - t0 < 30000 do
        task.sleep(100)
        local now = lock_item()
        if now and not leases[now.lease] then leases[now.lease], renewals = true, renewals + 1 end
      end
      assert.are.equal(5, renewals)
      assert.is_true(loop.now() - t0 > 3000)
      local r = wpo({ "plan", "s.lua" })
      assert.are.equal(1, r.status)
      assert.matches("is locked by [^ ]+ %(pid " .. holder.pid, r.stderr)

      os.execute("kill -9 " .. holder.pid)
      victim.finish()
      r = wpo({ "plan", "s.lua", "--lock-timeout", "60s" })
      assert.are.equal(0, r.status, r.stderr)
      assert.matches("took over the state lock of s3://wpo%-state/t: [^ ]+ %(pid " .. holder.pid
        .. ", running 'wpo run s%.lua'.-lock ID " .. esc(holder.id) .. "; its lease expired %d+s ago", r.stderr)
      assert.is_nil(lock_item())
    end)

    it("renews the lease while a plan of AWS resources reads under the read-only guard", function()
      stack(", lock_lease = 2", 's:add("aws.ec2.vpc", "main", { cidr_block = "10.0.0.0/16" })\n')
      local r = wpo({ "run", "s.lua", "--yes" })
      assert.are.equal(0, r.status, r.stderr .. r.stdout)
      local before = f:calls(true)["dynamodb.PutItem"].ok
      -- the refresh takes longer than the lease and its allowance (3 s)
      f:faults { latency_ms = 4000, operations = { "ec2.DescribeVpcs" } }
      r = wpo({ "plan", "s.lua", "--detailed-exitcode" })
      f:faults {}
      assert.are.equal(0, r.status, r.stderr .. r.stdout)
      assert.matches("No changes", r.stdout)
      assert.is_nil(r.stderr:find("ReadOnlyViolation", 1, true), r.stderr)
      assert.is_nil(r.stderr:find("lost the state lock", 1, true), r.stderr)
      -- the lock was taken once and renewed at least four times (every 2/3 s) while reading
      local put = f:calls(true)["dynamodb.PutItem"]
      assert.is_true(put.ok - before >= 5, r.stderr)
      -- a write refused can only be a retry of one whose answer was lost on a
      -- loaded machine (wpo looks, finds its own record and goes on)
      for code in pairs(put.errors) do assert.are.equal("ConditionalCheckFailedException", code) end
    end)

    it("on SIGINT while waiting for the lock, exits at once holding nothing; the holder's lock stays its own", function()
      stack()
      local first = background({ "run", "s.lua", "--yes", "--var", "delay=2000" })
      first.until_line("^wpo%.null%.slow: creating")
      local holder = assert(lock_item())
      local waiter = background({ "plan", "s.lua", "--var", "delay=2000", "--lock-timeout", "5m" })
      waiter.until_line("^wpo: waiting up to 300s for the state lock")
      os.execute("kill -INT " .. waiter.pid())
      local status, out = waiter.finish()
      assert.are.equal(130, status, out)
      assert.matches("wpo: interrupted", out)
      assert.are.equal(holder.id, lock_item().id)
      assert.are.equal(0, (first.finish()))
      assert.is_nil(lock_item())
    end)
  end)

  it("lists the object's versions with their serials, and restores one as a new serial", function()
    local function versions()
      local r = wpo({ "state", "versions", "s.lua" })
      assert.are.equal(0, r.status, r.stderr)
      local rows = {}
      for id, serial in r.stdout:gmatch("\n(%S+)%s+%S+%s+(%d+)%s+%d+") do rows[#rows + 1] = { id = id, serial = tonumber(serial) } end
      return rows, r.stdout
    end
    stack()
    assert.are.equal(0, wpo({ "run", "s.lua", "--yes" }).status)
    local first_run = versions()[1]            -- the version the first run ended with
    assert.are.equal(0, wpo({ "run", "s.lua", "--yes", "--var", "trigger=2" }).status)
    local rows, listing = versions()
    assert.is_true(#rows >= 2, listing)
    assert.matches("%(current%)", listing)
    local newest, oldest = rows[1], rows[#rows]
    assert.is_true(newest.serial > first_run.serial and first_run.serial > oldest.serial)
    local r = wpo({ "state", "restore", "s.lua", first_run.id })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^Restored version " .. esc(first_run.id) .. " of s3://wpo%-state/t as serial " .. (newest.serial + 1)
      .. " %(the state was at serial " .. newest.serial .. "%)", r.stdout)
    -- the restored state is the first run's: trigger 1
    r = wpo({ "plan", "s.lua", "--var", "trigger=2" })
    assert.matches("triggers%[\"t\"%] = \"1\" %-> \"2\"", r.stdout)
    r = wpo({ "state", "restore", "s.lua", "no-such-version" })
    assert.are.equal(1, r.status)
    assert.matches("s3://wpo%-state/t has no version no%-such%-version %('wpo state versions' lists them%)", r.stderr)
  end)

  it("refuses a write racing another writer, losing neither", function()
    stack(nil, 'local a = s:add("wpo.null", "first")\n'
      .. 's:add("wpo.null", "second", { value = a.id, create_delay_ms = 1500 })\n')
    local run = background({ "run", "s.lua", "--yes" })
    run.until_line("^wpo%.null%.second: creating")
    -- someone writes the state without the lock, moving its serial on
    local doc = cjson.decode(object().Body)
    doc.serial = doc.serial + 5
    doc.outputs = { intruder = { value = "was here" } }
    local body = cjson.encode(doc)
    client("s3"):call("PutObject", { Bucket = "wpo-state", Key = "t", Body = body,
      Metadata = { ["wpo-serial"] = tostring(doc.serial), ["wpo-lineage"] = doc.lineage } })
    local status, out = run.finish()
    assert.are.equal(1, status, out)
    assert.matches("refusing to overwrite s3://wpo%-state/t: it changed since wpo read it %(it now holds serial "
      .. doc.serial .. " of lineage " .. esc(doc.lineage), out)
    -- the other writer's state is there, untouched
    assert.are.equal(body, object().Body)
    -- and wpo's own, with the resource it created, is kept beside the stack
    local kept = out:match("wpo's own version %(serial %d+%) is kept in ([^;\n]-%.json)")
    assert.is_not_nil(kept, out)
    local mine = cjson.decode((assert(fs.read(kept))))
    local addresses = {}
    for _, r in ipairs(mine.resources) do addresses[#addresses + 1] = r.address end
    table.sort(addresses)
    assert.are.same({ "wpo.null.first", "wpo.null.second" }, addresses)
    assert.is_nil(lock_item())
  end)

  describe("encryption at rest", function()
    local PW_STACK = 'local pw = s:add("random.password", "db", { length = 32 })\n'
      .. 's:add("wpo.null", "app", { value = { db_host = "db.internal", db_password = pw.result } })\n'
      .. 's:output("db_password", pw.result)\n'

    local function password(extra_env)
      local r = wpo({ "output", "s.lua", "db_password", "--show-sensitive" }, extra_env)
      assert.are.equal(0, r.status, r.stderr)
      local pw = r.stdout:gsub("\n$", "")
      assert.are.equal(32, #pw)
      return pw
    end

    local function files_under(path)
      local out = {}
      for _, name in ipairs(fs.list(path) or {}) do out[#out + 1] = path .. "/" .. name end
      return out
    end

    it("keeps the generated password out of the state, plans, JSON and the debug log of a full run", function()
      stack(", encrypt = true", PW_STACK)
      local env = { WPO_STATE_KEY = KEY }
      local plan = wpo({ "plan", "s.lua" }, env)
      local json = wpo({ "plan", "s.lua", "--json" }, env)
      local run = wpo({ "run", "s.lua", "--yes" }, { WPO_STATE_KEY = KEY, WPO_LOG = "debug" })
      assert.are.equal(0, run.status, run.stderr)
      assert.matches("aws s3 PutObject", run.stderr)             -- the debug log shows the state's writes
      local plan2 = wpo({ "plan", "s.lua", "--out", "saved.plan", "--var", "trigger=2" }, env)
      local json2 = wpo({ "plan", "s.lua", "--json", "--var", "trigger=2" }, env)
      local destroy = wpo({ "plan", "s.lua", "--destroy", "--json" }, env)
      local shown = wpo({ "state", "show", "s.lua", "wpo.null.app" }, env)
      local outputs = wpo({ "output", "s.lua", "--json" }, env)
      local pw = password(env)
      local texts = { plan.stdout, plan.stderr, json.stdout, run.stdout, run.stderr, plan2.stdout, json2.stdout,
        destroy.stdout, shown.stdout, outputs.stdout, assert(fs.read(dir .. "/saved.plan")) }
      local stored = all_versions()
      assert.is_true(#stored >= 3)
      for _, body in ipairs(stored) do
        assert.are.equal('{"wpo_encrypted_state":1,', body:sub(1, 25))
        texts[#texts + 1] = body
      end
      for _, path in ipairs(files_under(dir .. "/.wpo")) do texts[#texts + 1] = fs.read(path) end
      for i, text in ipairs(texts) do
        assert.is_nil(text:find(pw, 1, true), "the password appears in text #" .. i)
      end
      assert.is_not_nil(destroy.stdout:find('"before_sensitive":{"value":true}', 1, true), destroy.stdout)
      assert.matches("value = %(sensitive%)", shown.stdout)
      -- the saved plan (which holds the refreshed state) is encrypted too, and applies
      local r = wpo({ "apply", "saved.plan" }, env)
      assert.are.equal(0, r.status, r.stderr)
    end)

    it("detects a flipped byte and a wrong key, writing nothing; rekey moves to a new key", function()
      stack(", encrypt = true", PW_STACK)
      assert.are.equal(0, wpo({ "run", "s.lua", "--yes" }, { WPO_STATE_KEY = KEY }).status)
      local good = object().Body
      local versions = #all_versions()
      local at = good:find('"ciphertext":"', 1, true) + 60
      while not good:sub(at, at):match("%w") do at = at + 1 end
      local flipped = good:sub(1, at - 1) .. (good:sub(at, at) == "A" and "B" or "A") .. good:sub(at + 1)
      client("s3"):call("PutObject", { Bucket = "wpo-state", Key = "t", Body = flipped })
      for _, args in ipairs({ { "plan", "s.lua" }, { "run", "s.lua", "--yes", "--var", "trigger=9" } }) do
        local r = wpo(args, { WPO_STATE_KEY = KEY })
        assert.are.equal(1, r.status)
        assert.matches("^wpo: StateEncryptionError: the state s3://wpo%-state/t failed authentication %(AES%-256%-GCM, "
          .. "key sha256:%x+%): it was modified or damaged since wpo wrote it", r.stderr)
      end
      assert.are.equal(versions + 1, #all_versions())              -- only the tampering itself
      assert.are.equal(flipped, object().Body)
      client("s3"):call("PutObject", { Bucket = "wpo-state", Key = "t", Body = good })

      local other = crypto.base64(crypto.random(32))
      local r = wpo({ "plan", "s.lua" }, { WPO_STATE_KEY = other })
      assert.are.equal(1, r.status)
      assert.matches("is encrypted with key sha256:%x+, but WPO_STATE_KEY is key sha256:%x+: wrong key", r.stderr)
      r = wpo({ "plan", "s.lua" }, { WPO_STATE_KEY = crypto.base64(crypto.random(24)) })
      assert.matches("WPO_STATE_KEY must be the base64 of 32 random bytes .*it decodes to 24 bytes, not 32", r.stderr)

      local pw = password({ WPO_STATE_KEY = KEY })
      r = wpo({ "state", "rekey", "s.lua" }, { WPO_STATE_KEY = other, WPO_STATE_KEY_OLD = KEY })
      assert.are.equal(0, r.status, r.stderr)
      assert.matches("Rewrote the state of stack t as serial %d+: AES%-256%-GCM with WPO_STATE_KEY %(key sha256:%x+%) "
        .. "%(was WPO_STATE_KEY sha256:%x+%)", r.stdout)
      assert.matches("wrong key", wpo({ "plan", "s.lua" }, { WPO_STATE_KEY = KEY }).stderr)
      r = wpo({ "plan", "s.lua", "--detailed-exitcode" }, { WPO_STATE_KEY = other })
      assert.are.equal(0, r.status, r.stderr)
      assert.are.equal(pw, password({ WPO_STATE_KEY = other }))
      -- in the clear only on purpose
      r = wpo({ "state", "rekey", "s.lua", "--decrypt" }, { WPO_STATE_KEY = other })
      assert.are.equal(0, r.status, r.stderr)
      local clear = object().Body
      assert.are.equal(pw, cjson.decode(clear).outputs.db_password.value)
    end)

    it("encrypts with a KMS data key: one GenerateDataKey per write run, Decrypt on load", function()
      local arn = client("kms"):call("CreateKey", { Description = "wpo state" }).KeyMetadata.Arn
      stack(', kms_key_id = "' .. arn .. '"', PW_STACK .. 's:add("wpo.null", "x", { triggers = { t = s.vars.trigger } })\n')
      local r = wpo({ "run", "s.lua", "--yes" })
      assert.are.equal(0, r.status, r.stderr)
      local calls = f:calls()
      assert.are.same({ 1, nil }, { calls["kms.GenerateDataKey"], calls["kms.Decrypt"] })
      local body = object().Body
      local header = cjson.decode(body)
      assert.are.same({ "kms", arn }, { header.key_source, header.key_id })
      local pw = password()                                          -- reads: one Decrypt
      assert.is_nil(body:find(pw, 1, true))
      -- a later run decrypts the stored data key and writes with it again
      r = wpo({ "run", "s.lua", "--yes", "--var", "trigger=2" })
      assert.are.equal(0, r.status, r.stderr)
      calls = f:calls()
      assert.are.same({ 1, 2 }, { calls["kms.GenerateDataKey"], calls["kms.Decrypt"] })
      assert.are.equal(header.data_key, cjson.decode(object().Body).data_key)
      -- rekey asks KMS for a fresh data key
      r = wpo({ "state", "rekey", "s.lua" })
      assert.are.equal(0, r.status, r.stderr)
      assert.are.equal(2, f:calls()["kms.GenerateDataKey"])
      assert.are_not.equal(header.data_key, cjson.decode(object().Body).data_key)
      assert.are.equal(pw, password())
    end)

    it("seals a local state's journal with its KMS data key, read back after a run killed mid-apply", function()
      local arn = client("kms"):call("CreateKey", { Description = "wpo state" }).KeyMetadata.Arn
      h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t", backend = { type = "local", kms_key_id = "' .. arn
        .. '" } }\n' .. PW_STACK .. 's:add("wpo.null", "last", { value = "x" })\nreturn s\n')
      -- killed once the first group (the password and the null beside it) is durable
      local r = wpo({ "run", "s.lua", "--yes" }, { WPO_FS_FAULT = "journal-after-sync:1" })
      assert.are.equal(86, r.status, r.stdout .. r.stderr)
      local journal = assert(fs.read(dir .. "/.wpo/t.state.json.journal"))
      local header = cjson.decode(journal:match("^[^\n]*"))
      assert.are.same({ "kms", arn }, { header.encryption.key_source, header.encryption.key_id })
      assert.is_nil(journal:find("db.internal", 1, true))
      assert.are.equal(1, f:calls()["kms.GenerateDataKey"])
      r = wpo({ "state", "list", "s.lua" })                          -- the journal's records, decrypted
      assert.are.equal(0, r.status, r.stderr)
      assert.are.equal("random.password.db\nwpo.null.last\n", r.stdout)
      r = wpo({ "run", "s.lua", "--yes" })
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("Apply complete: 1 added", r.stdout)
      assert.is_nil(fs.read(dir .. "/.wpo/t.state.json.journal"))
      assert.is_nil(journal:find(password(), 1, true))
      assert.are.equal(1, f:calls()["kms.GenerateDataKey"])          -- the data key the state holds, reused
    end)

    it("writes a local state encrypted once encryption is turned on, its backup too", function()
      h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t" }\n' .. PW_STACK .. 'return s\n')
      assert.are.equal(0, wpo({ "run", "s.lua", "--yes" }).status)
      local pw = password()
      assert.is_not_nil(fs.read(dir .. "/.wpo/t.state.json"):find(pw, 1, true))
      h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t", backend = { type = "local", encrypt = true } }\n'
        .. PW_STACK .. 's:add("wpo.null", "more")\nreturn s\n')
      local r = wpo({ "run", "s.lua", "--yes" }, { WPO_STATE_KEY = KEY })
      assert.are.equal(0, r.status, r.stderr)
      for _, name in ipairs({ "t.state.json", "t.state.json.backup" }) do
        local text = assert(fs.read(dir .. "/.wpo/" .. name))
        assert.are.equal('{"wpo_encrypted_state":1,', text:sub(1, 25), name)
        assert.is_nil(text:find(pw, 1, true), name)
      end
      assert.are.equal(pw, password({ WPO_STATE_KEY = KEY }))
    end)
  end)

  it("migrates local -> S3 -> local with byte-identical resources, both locks held, switching only after a check", function()
    -- canonical JSON (sorted keys) of a state's resources
    local function canonical(v)
      if type(v) ~= "table" then return cjson.encode(v) end
      if #v > 0 or next(v) == nil then
        local parts = {}
        for i, x in ipairs(v) do parts[i] = canonical(x) end
        return "[" .. table.concat(parts, ",") .. "]"
      end
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      local parts = {}
      for i, k in ipairs(keys) do parts[i] = cjson.encode(k) .. ":" .. canonical(v[k]) end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    local function resources(text) return canonical(cjson.decode(text).resources) end
    local body = 'local pw = s:add("random.password", "db", { length = 16 })\n'
      .. 's:add("wpo.null", "app", { value = { pw = pw.result }, triggers = { a = "1" } })\n'
    local LOCAL = 'local s = wpo.stack { name = "t" }\n' .. body .. 'return s\n'
    h.write(dir .. "/s.lua", LOCAL)
    assert.are.equal(0, wpo({ "run", "s.lua", "--yes" }).status)
    local path = dir .. "/.wpo/t.state.json"
    local original = assert(fs.read(path))

    stack(nil, body)
    local r = wpo({ "plan", "s.lua" })
    assert.are.equal(1, r.status)
    assert.matches("there is no state here, but a local state exists at .*%.wpo/t%.state%.json %(planning from nothing "
      .. "would create everything again%): move it here with 'wpo state migrate s%.lua %-%-to s3'", r.stderr)
    r = wpo({ "state", "migrate", "s.lua", "--to", "s3" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^Moved the state of stack t %(serial %d+, 2 resources%) from .*%.wpo/t%.state%.json to "
      .. "s3://wpo%-state/t, verified%.", r.stdout)
    assert.are.equal(resources(original), resources(object().Body))
    assert.are.same(cjson.decode(original).lineage, cjson.decode(object().Body).lineage)
    assert.matches("wpo_state_moved", fs.read(path))
    assert.is_nil(lock_item())
    r = wpo({ "plan", "s.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stderr .. r.stdout)

    r = wpo({ "state", "migrate", "s.lua", "--to", "local" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Now set the stack's backend to local", r.stdout)
    r = wpo({ "plan", "s.lua" })
    assert.are.equal(1, r.status)
    assert.matches("the state moved to .*%.wpo/t%.state%.json on .* %(serial %d+, by wpo state migrate%)", r.stderr)
    h.write(dir .. "/s.lua", LOCAL)
    r = wpo({ "plan", "s.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stderr .. r.stdout)
    assert.are.equal(resources(original), resources(fs.read(path)))
    -- a second migration finds nothing to move
    stack(nil, body)
    r = wpo({ "state", "migrate", "s.lua", "--to", "local" })
    assert.are.equal(1, r.status)
    assert.matches("the state moved to", r.stderr)
  end)
end)
