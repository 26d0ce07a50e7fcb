-- stacks/state.lua (the S3 bucket and DynamoDB lock table of wpo's S3 state
-- backend) through the wpo binary, on a copy in a temporary directory:
-- planned offline with no credentials; run against tests/fakeaws, with S3
-- showing a new bucket late (--eventual, the s3-bucket behaviour); re-planned
-- with no changes; a small wpo.null stack's local state migrated into the
-- bucket with `wpo state migrate STACK --to s3` and planned from there; then
-- destroy, refused while the bucket holds states (force_destroy = false),
-- leaving nothing once it is emptied.
local cjson = require "cjson"
local h = require "helpers"
local typeflow = require "typeflow"

local REPO = require("wpo.stack").absolute(h.REPO)
local VARS = { "--var", "bucket=acme-wpo-state", "--var", "region=eu-west-1" }

local function args(...)
  local out = { ... }
  for _, v in ipairs(VARS) do out[#out + 1] = v end
  return out
end

describe("stacks/state.lua", function()
  local env

  setup(function()
    env = typeflow.start { region = "eu-west-1", eventual = 1, eventual_seed = 7 }
    env:write("state.lua", h.slurp(REPO .. "/stacks/state.lua"))
  end)
  teardown(function() if env then env:stop() end end)

  local function s3_objects()
    local out = {}
    for _, o in pairs(env:objects("s3", "object")) do out[#out + 1] = o end
    return out
  end

  it("plans offline with no credentials at all", function()
    local r = h.sh(h.offline_command(env.dir, { "plan", "state.lua", table.unpack(VARS) }))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Plan: 3 to add, 0 to change, 0 to destroy", r.stdout, 1, true)
    for _, address in ipairs({ "aws.s3.bucket.state", "aws.s3.bucket_policy.state", "aws.dynamodb.table.locks" }) do
      assert.matches("+ " .. address .. "  # state.lua:", r.stdout, 1, true)
    end
    -- S3's naming rules, before anything is sent
    r = env:wpo({ "plan", "state.lua", "--var", "bucket=Acme_State" })
    assert.are.equal(1, r.status)
    assert.matches("aws.s3.bucket.state: InvalidBucketName: bucket \"Acme_State\": an S3 bucket name may hold only "
      .. "lower-case letters, digits, dots and hyphens", r.stderr, 1, true)
    assert.is_nil(env.f:calls()["s3.CreateBucket"])
  end)

  it("runs, replans with no changes, takes a stack's state by migration, and destroys to nothing", function()
    local r = env:wpo(args("run", "state.lua", "--yes"))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local b = env:objects("s3", "bucket")["acme-wpo-state"]
    assert.is_table(b)
    assert.are.equal("eu-west-1", b.Region)
    assert.are.equal("Enabled", b.Versioning)
    assert.are.equal("AES256", b.Encryption.Rules[1].ApplyServerSideEncryptionByDefault.SSEAlgorithm)
    assert.are.same({ BlockPublicAcls = true, IgnorePublicAcls = true, BlockPublicPolicy = true,
      RestrictPublicBuckets = true }, b.PublicAccessBlock)
    assert.are.same({ NoncurrentDays = 90 }, b.Lifecycle[1].NoncurrentVersionExpiration)
    local policy = cjson.decode(b.Policy)
    assert.are.equal("Deny", policy.Statement[1].Effect)
    assert.are.same({ Bool = { ["aws:SecureTransport"] = "false" } }, policy.Statement[1].Condition)
    local t = env:objects("dynamodb", "table")["wpo-locks"]
    assert.are.equal("ACTIVE", t.TableStatus)
    assert.are.same({ { AttributeName = "LockID", KeyType = "HASH" } }, t.KeySchema)
    assert.are.equal(1, env:ok_calls("s3.CreateBucket"))
    -- S3 showed the new bucket late, and wpo waited for it
    local shaped = 0
    for _, e in ipairs(env.f:eventual().log) do
      if e.behaviour == "s3-bucket" then shaped = shaped + 1 end
    end
    assert.is_true(shaped > 0, "fakeaws never answered NoSuchBucket for the new bucket")

    r = env:wpo(args("plan", "state.lua", "--detailed-exitcode"))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("No changes", r.stdout, 1, true)

    -- a stack with a local state moves it into the bucket
    local body = 's:add("wpo.null", "app", { value = { v = "1" }, triggers = { a = "1" } })\nreturn s\n'
    env:write("app.lua", 'local s = wpo.stack { name = "app" }\n' .. body)
    r = env:wpo({ "run", "app.lua", "--yes" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    env:write("app.lua", 'local s = wpo.stack { name = "app", backend = { type = "s3", bucket = "acme-wpo-state", '
      .. 'key = "app", region = "eu-west-1", lock_table = "wpo-locks" } }\n' .. body)
    r = env:wpo({ "state", "migrate", "app.lua", "--to", "s3" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("to s3://acme-wpo-state/app, verified", r.stdout, 1, true)
    r = env:wpo({ "plan", "app.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.is_true(#s3_objects() > 0)

    -- the bucket holds a state: destroy refuses to empty it
    r = env:wpo(args("destroy", "state.lua", "--yes"))
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.matches("aws.s3.bucket.state: BucketNotEmpty: the bucket acme-wpo-state still holds objects", r.stderr, 1,
      true)
    assert.is_table(env:objects("s3", "bucket")["acme-wpo-state"])

    -- emptied by hand (the states moved elsewhere first), it goes, and so does everything else
    local s3 = env:client("s3")
    local out = s3:call("ListObjectVersions", { Bucket = "acme-wpo-state" })
    for _, v in ipairs(out.Versions or {}) do
      s3:call("DeleteObject", { Bucket = "acme-wpo-state", Key = v.Key, VersionId = v.VersionId })
    end
    for _, m in ipairs(out.DeleteMarkers or {}) do
      s3:call("DeleteObject", { Bucket = "acme-wpo-state", Key = m.Key, VersionId = m.VersionId })
    end
    r = env:wpo(args("destroy", "state.lua", "--yes"))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({}, env:objects("s3", "bucket"))
    assert.are.same({}, env:objects("dynamodb", "table"))
    assert.are.same({}, s3_objects())
  end)
end)
