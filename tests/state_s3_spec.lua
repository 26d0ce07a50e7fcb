-- wpo.state.s3 and wpo.state.lease in process, against tests/fakeaws (S3,
-- DynamoDB, KMS), with an injected clock for the leases: taking the lock,
-- a live lock refused with its holder's details, a stale one taken over only
-- on the very lease that was seen, the former holder finding it lost, a
-- conditional release, wpo unlock by ID, the heartbeat; conditional writes
-- that refuse a racing writer; versions; KMS data keys.

describe("wpo.state.s3 (against fakeaws)", function()
  local aws = require "wpo.aws"
  local cjson = require "cjson"
  local crypt = require "wpo.state.crypt"
  local errors = require "wpo.errors"
  local fakeaws = require "fakeaws"
  local s3backend = require "wpo.state.s3"
  local task = require "wpo.task"

  local log = require "wpo.log"
  local f
  local COPTS
  local warnings = {}
  setup(function()
    f = fakeaws.start()
    COPTS = { endpoint = f.url, credentials = { access_key = "test", secret_key = "test" } }
    log.set_output(function(line) warnings[#warnings + 1] = line end)
  end)
  teardown(function()
    log.set_output(nil)
    if f then f:stop() end
  end)

  local function client(service)
    return aws.client(service, { region = "us-east-1", endpoint = COPTS.endpoint, credentials = COPTS.credentials })
  end

  local function create_table(name)
    local ddb = client("dynamodb")
    ddb:call("CreateTable", { TableName = name, BillingMode = "PAY_PER_REQUEST",
      KeySchema = { { AttributeName = "LockID", KeyType = "HASH" } },
      AttributeDefinitions = { { AttributeName = "LockID", AttributeType = "S" } } })
    aws.wait(function()
      return ddb:call("DescribeTable", { TableName = name }).Table.TableStatus == "ACTIVE"
    end, { what = "the lock table", timeout = 10, interval = 0.01 })
  end

  local loop = require "wpo.core.loop"
  local pending_before
  after_each(function()
    assert.are.equal(pending_before, loop.outstanding(), "the test left operations pending (a heartbeat?)")
  end)

  before_each(function()
    pending_before = loop.outstanding()
    f:reset()
    client("s3"):call("CreateBucket", { Bucket = "wpo-state" })
    create_table("locks")
  end)

  local STACK = { name = "t", path = "/srv/infra/s.lua", region = "us-east-1" }

  local function backend(extra, clock)
    local config = { type = "s3", bucket = "wpo-state", key = "t", lock_table = "locks" }
    for k, v in pairs(extra or {}) do config[k] = v end
    return s3backend.new(config, STACK, { clock = clock, client_opts = COPTS })
  end

  local function info(who, pid)
    return { pid = pid, host = who .. "-host", user = who, command = "wpo run s.lua", operation = "run",
      version = "0.1.0", since = "2030-01-01T00:00:00Z" }
  end

  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.is_true(errors.is(err), "expected a wpo.errors error, got " .. tostring(err))
    return err
  end

  local function lock_item()
    local out = client("dynamodb"):call("GetItem", { TableName = "locks", Key = { LockID = { S = "wpo-state/t" } },
      ConsistentRead = true })
    return out.Item
  end

  local function clock_at(t) local c = { t = t } return c, function() return c.t end end

  describe("the lease lock", function()
    for _, kind in ipairs({ "dynamodb", "s3 object" }) do
      local extra = kind == "dynamodb" and {} or { lock_table = false }
      local function make(clock)
        local e = {}
        for k, v in pairs(extra) do e[k] = v end
        if e.lock_table == false then e.lock_table = nil end
        return backend(e, clock)
      end

      it(kind .. ": one holder at a time; a live lock is refused at once naming its holder; a stale one is "
        .. "taken over only on the lease that was seen; the old holder finds it lost", function()
        local ca, clock_a = clock_at(1000000)
        local cb, clock_b = clock_at(1000000)
        local a, b = make(clock_a), make(clock_b)
        assert.is_true(a:lock(info("alice", 111)))
        local id_a = a.lease.record.ID
        if kind == "dynamodb" then
          local item = lock_item()
          assert.are.equal(id_a, item.ID.S)
          local i = cjson.decode(item.Info.S)
          assert.are.same({ id_a, "alice@alice-host", 111, "run", "0.1.0", "wpo run s.lua", "wpo-state/t" },
            { i.ID, i.Who, i.Pid, i.Operation, i.Version, i.Command, i.Path })
          assert.are.equal("1000060", item.Expires.N)
        end
        local ok, err, holder = b:lock(info("bob", 222))
        assert.is_nil(ok)
        assert.are.equal(id_a, holder.ID)
        assert.matches("^s3://wpo%-state/t is locked by alice@alice%-host %(pid 111, running 'wpo run s%.lua', "
          .. "wpo 0%.1%.0%) since 2030%-01%-01T00:00:00Z; lock ID " .. id_a:gsub("%-", "%%-")
          .. "; lease renewed 0s ago, expires in 60s; wait for it with %-%-lock%-timeout DURATION", err)
        assert.matches("if that process is gone: wpo unlock /srv/infra/s%.lua " .. id_a:gsub("%-", "%%-"), err)

        -- expired, but within the allowance for clocks: still refused
        cb.t = 1000000 + 60 + 29
        ok, err = b:lock(info("bob", 222))
        assert.is_nil(ok)
        assert.matches("its lease expired 29s ago %(taken over 2s from now if not renewed%)", err)

        -- stale now; but a taker that saw the lease before alice renewed loses
        cb.t = 1000000 + 200
        local _, seen = b.lease.store:get()
        ca.t = 1000000 + 150
        assert.is_true(a:check_lock())
        local taker = b.lease:new_record(info("bob", 222))
        assert.is_nil(b.lease.store:replace(taker, seen))
        ok, err = b:lock(info("bob", 222))          -- alice's fresh lease (expires 1000210) is live
        assert.is_nil(ok)
        assert.matches("lease renewed 50s ago, expires in 10s", err)

        -- alice stops renewing: bob takes the stale lock over
        cb.t = 1000000 + 300
        for k in pairs(warnings) do warnings[k] = nil end
        assert.is_true(b:lock(info("bob", 222)))
        assert.are.equal(id_a, b.lease.took_over.ID)
        assert.matches("^wpo%[warn%] took over the state lock of s3://wpo%-state/t: alice@alice%-host %(pid 111", warnings[1])
        local id_b = b.lease.record.ID
        assert.are_not.equal(id_a, id_b)

        -- alice finds out at her next renewal, and will not write
        local lok, lerr = a:check_lock()
        assert.is_nil(lok)
        assert.matches("wpo lost the state lock of s3://wpo%-state/t %(ID " .. id_a:gsub("%-", "%%-")
          .. "%): it is now held by bob@bob%-host %(pid 222", lerr)
        local e = raised(function() a:save("{}", { serial = 9, lineage = "L" }) end)
        assert.matches("lost the state lock.*refusing to write the state", e.message)
        -- her release is conditional on her own ID: bob's lock stays
        a:unlock()
        assert.are.equal(id_b, b:holder().ID)

        -- wpo unlock: only with the right ID
        e = raised(function() a:force_unlock(id_a) end)
        assert.are.equal("WrongLockID", e.code)
        assert.matches("is locked under ID " .. id_b:gsub("%-", "%%-") .. ", not " .. id_a:gsub("%-", "%%-")
          .. ": refusing to remove it %(holder: bob@bob%-host", e.message)
        assert.are.equal(id_b, a:force_unlock(id_b).ID)
        assert.is_nil(b:holder())
        assert.are.equal("NotLocked", raised(function() a:force_unlock(id_b) end).code)
        b.lease:stop_heartbeat()
      end)
    end

    it("renews the lease from a heartbeat task on the event loop, and stops it on release", function()
      local b = backend({ lock_lease = 2 })
      assert.is_true(b:lock(info("alice", 111)))
      local first = lock_item().Lease.S
      local seen = { [first] = true }
      local n = 1
      -- drive the event loop (the heartbeat renews every 2/3 s) until two renewals were seen
      local deadline = loop.now() + 20000
      while n < 3 and loop.now() < deadline do
        task.sleep(100)
        local lease = lock_item().Lease.S
        if not seen[lease] then seen[lease], n = true, n + 1 end
      end
      assert.are.equal(3, n)
      b:unlock()
      assert.is_nil(lock_item())
      assert.is_nil(b.lease.heartbeat)
    end)

    it("keeps its lock's writes while a plan's read-only client refuses writes", function()
      local b = backend()
      assert.is_true(b:lock(info("alice", 111)))
      local ok, err = pcall(function()
        local ro = aws.client("s3", { region = "us-east-1", endpoint = COPTS.endpoint, credentials = COPTS.credentials,
          read_only = true })
        local e = raised(function() ro:call("PutObject", { Bucket = "wpo-state", Key = "x", Body = "x" }) end)
        assert.are.equal("ReadOnlyViolation", e.code)
        assert.is_true(b:check_lock())
      end)
      b:unlock()
      assert(ok, err)
    end)

    it("explains a missing lock table", function()
      local e = raised(function() backend({ lock_table = "nope" }):lock(info("alice", 1)) end)
      assert.matches("the DynamoDB lock table nope does not exist %(create it with a string partition key LockID%)",
        e.message)
    end)
  end)

  describe("the state object", function()
    it("writes with Content-MD5, server-side encryption and its serial; refuses to overwrite a racing writer", function()
      local b = backend()
      assert.is_nil(b:load())
      b:save('{"serial":1}', { serial = 1, lineage = "L1", stack = "t" })
      b:save('{"serial":2}', { serial = 2, lineage = "L1", stack = "t" })
      local s3 = client("s3")
      local head = s3:call("HeadObject", { Bucket = "wpo-state", Key = "t" })
      assert.are.same({ "2", "L1", "t", "AES256" }, { head.Metadata["wpo-serial"], head.Metadata["wpo-lineage"],
        head.Metadata["wpo-stack"], head.ServerSideEncryption })
      -- a writer that ignores the lock moves the object under wpo
      s3:call("PutObject", { Bucket = "wpo-state", Key = "t", Body = '{"serial":7}',
        Metadata = { ["wpo-serial"] = "7", ["wpo-lineage"] = "L1" } })
      local e = raised(function() b:save('{"serial":3}', { serial = 3, lineage = "L1", stack = "t" }) end)
      assert.are.equal("StateConflict", e.code)
      assert.matches("^refusing to overwrite s3://wpo%-state/t: it changed since wpo read it %(it now holds serial 7 "
        .. "of lineage L1, written .*; wpo was writing serial 3 of lineage L1%)", e.message)
      assert.are.equal('{"serial":7}', s3:call("GetObject", { Bucket = "wpo-state", Key = "t" }).Body)
      -- a first write never replaces an object that appeared meanwhile
      local fresh = backend()
      fresh.etag = nil
      e = raised(function() fresh:save('{"serial":1}', { serial = 1, lineage = "L2" }) end)
      assert.matches("it now holds serial 7 of lineage L1", e.message)
    end)

    it("lists versions with their serials, reads one back, and refuses a deleted state whose versions remain", function()
      local s3 = client("s3")
      s3:call("PutBucketVersioning", { Bucket = "wpo-state", VersioningConfiguration = { Status = "Enabled" } })
      local b = backend()
      for serial = 1, 3 do b:save('{"serial":' .. serial .. '}', { serial = serial, lineage = "L" }) end
      local list = b:versions(10)
      assert.are.equal(3, #list)
      assert.are.same({ 3, 2, 1 }, { list[1].serial, list[2].serial, list[3].serial })
      assert.is_true(list[1].latest)
      assert.are.equal('{"serial":2}', b:load_version(list[2].version_id))
      assert.matches("has no version nope", raised(function() b:load_version("nope") end).message)
      s3:call("DeleteObject", { Bucket = "wpo-state", Key = "t" })
      local e = raised(function() backend():load() end)
      assert.matches("s3://wpo%-state/t was deleted, but 3 earlier versions remain: 'wpo state versions' lists them",
        e.message)
      local r = backend()
      r.restoring = true
      assert.is_nil(r:load())
    end)

    it("says so when bucket versioning is off", function()
      local e = raised(function() backend():versions() end)
      assert.matches("bucket versioning is off on wpo%-state, so S3 keeps no earlier states: enable it", e.message)
    end)

    it("rejects unknown and missing backend keys, naming the valid ones", function()
      local e = raised(function() s3backend.new({ type = "s3", bucket = "b", key = "k", buckett = 1 }, STACK) end)
      assert.matches("unknown key 'buckett' %(did you mean 'bucket'%?%) %(valid: bucket, encrypt, key, kms_key_id, "
        .. "lock_lease, lock_table, region, type%)", e.message)
      assert.matches("needs key", raised(function() s3backend.new({ type = "s3", bucket = "b" }, STACK) end).message)
      assert.matches("lock_lease is a whole number of seconds, at least 2", raised(function()
        s3backend.new({ type = "s3", bucket = "b", key = "k", lock_lease = 1 }, STACK) end).message)
      local state = require "wpo.state"
      local function with(config) return { name = "t", path = "/srv/s.lua", backend = config } end
      assert.matches("unknown state backend type 'gcs' %(valid: local, s3%)",
        raised(function() state.backend(with({ type = "gcs" })) end).message)
      assert.matches("the local state backend: unknown key 'bucket' %(valid: encrypt, kms_key_id, path, type%)",
        raised(function() state.backend(with({ type = "local", bucket = "b" })) end).message)
      assert.are.equal("/srv/.wpo/t.state.json", state.backend(with({ type = "local", encrypt = true })):describe())
    end)
  end)

  describe("KMS data keys", function()
    it("encrypts with one GenerateDataKey per process, stores the wrapped key, and decrypts it on load", function()
      local kms = client("kms")
      local arn = kms:call("CreateKey", { Description = "wpo state" }).KeyMetadata.Arn
      local kr = crypt.keyring({ kms_key_id = arn }, { name = "t" }, { kms = kms })
      local secret = "pw-" .. require("wpo.core.crypto").hex(require("wpo.core.crypto").random(8))
      local a, b = kr:seal("state 1 " .. secret), kr:seal("state 2")
      assert.are.equal(1, f:calls()["kms.GenerateDataKey"])
      assert.is_nil(a:find(secret, 1, true))
      local h = cjson.decode(a)
      assert.are.same({ "kms", arn }, { h.key_source, h.key_id })
      assert.is_string(h.data_key)
      local reader = crypt.keyring({}, { name = "t" }, { kms = kms })
      assert.are.equal("state 1 " .. secret, (reader:open(a)))
      assert.are.equal("state 2", (reader:open(b)))
      assert.are.equal(1, f:calls()["kms.Decrypt"])       -- the data key is decrypted once
      -- the data key is bound to the stack (KMS encryption context)
      local other = crypt.keyring({}, { name = "u" }, { kms = kms })
      local forged = a:gsub('"stack":"t"', '"stack":"u"')
      local e = raised(function() other:open(forged) end)
      assert.matches("which KMS would not decrypt %(InvalidCiphertextException", e.message)
    end)
  end)
end)

-- A store whose writes land but whose answers are lost once: the retry is
-- refused (its condition no longer holds), as DynamoDB and S3 answer a
-- conditional write sent twice.
describe("wpo.state.lease when a write's answer is lost", function()
  local lease = require "wpo.state.lease"

  local function lossy_store()
    local store = { lose = {} }
    local n = 0
    local function put(rec)
      n = n + 1
      store.rec, store.token = rec, "t" .. n
      return store.token
    end
    function store.get() return store.rec, store.token end
    function store.create(_, rec)
      if store.rec then return nil end
      local token = put(rec)
      if store.lose.create then store.lose.create = nil return nil end
      return token
    end
    function store.replace(_, rec, token)
      if token ~= store.token then return nil end
      local t = put(rec)
      if store.lose.replace then store.lose.replace = nil return nil end
      return t
    end
    function store.delete(_, rec)
      if not store.rec or store.rec.ID ~= rec.ID then return nil end
      store.rec, store.token = nil, nil
      return true
    end
    return store
  end

  local INFO = { pid = 1, host = "h", user = "u", command = "wpo run s.lua", operation = "run" }

  it("takes the lock its own create made, and keeps it through a renewal that landed", function()
    local store = lossy_store()
    local lock = lease.new(store, { lease = 60, clock = function() return 1000 end, what = "t" })
    store.lose.create = true
    assert.is_true(lock:acquire(INFO))
    assert.are.equal(store.rec.ID, lock.record.ID)
    store.lose.replace = true
    assert.is_true(lock:renew())
    assert.is_nil(lock.lost)
    assert.are.equal(store.token, lock.token)
    assert.is_true(lock:release())
    assert.is_nil(store.rec)
  end)
end)
