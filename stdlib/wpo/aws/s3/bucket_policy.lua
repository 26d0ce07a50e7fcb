-- aws.s3.bucket_policy: the bucket policy of one S3 bucket.
--
-- Attributes:
--   bucket   the bucket's name (force_new)
--   policy   the policy document: a table (see wpo.aws.iam.policy's document
--            and wpo.aws.s3.policy's statements) or JSON text; wpo encodes it.
--            Compared as a document: the key order and whitespace S3 answers
--            with are no drift.
-- Outputs: id (= bucket).
--
-- PutBucketPolicy replaces the bucket's policy whole: a policy the bucket
-- already holds is this resource's once it is the wanted one (find), and is
-- replaced otherwise. Delete removes the policy (a bucket already gone is fine).
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local policy = require "wpo.aws.iam.policy"
local value = require "wpo.value"

local GONE = { NoSuchBucket = true, NoSuchBucketPolicy = true }

local function check(ctx, want)
  if value.is_lazy(want.policy) or want.policy == value.UNKNOWN then return end
  local problem = policy.check(want.policy)
  if problem then kit.fail(ctx, "InvalidPolicy", "policy: %s", problem) end
end

local function read(ctx, id, prior)
  local out, err = ctx:aws("s3"):pcall("GetBucketPolicy", { Bucket = id })
  if not out then
    if GONE[err.code] then return nil end
    error(err, 0)
  end
  local doc = policy.decode(out.Policy)
  if doc == nil then
    kit.fail(ctx, "InvalidPolicy", "the policy of the bucket %s is not JSON", id)
  end
  local given = prior and prior.inputs and prior.inputs.policy
  if given ~= nil and policy.same(given, doc) then doc = given end
  return { id = id, bucket = id, policy = doc }
end

local function put(ctx, want)
  ctx:aws("s3"):call("PutBucketPolicy", { Bucket = want.bucket, Policy = policy.encode(want.policy) })
  return { id = want.bucket, bucket = want.bucket, policy = want.policy }
end

return resource.define "aws.s3.bucket_policy" {
  description = "the bucket policy of an S3 bucket (a document compared as JSON, not as text)",
  attributes = {
    bucket = { type = "string", required = true, force_new = true },
    policy = { type = "any", required = true },
  },

  check = function(ctx, after) check(ctx, after) end,

  found_by = "its bucket (holding the wanted policy)",
  find = function(ctx, want)
    check(ctx, want)
    local current = read(ctx, want.bucket, { inputs = want })
    if current and policy.same(current.policy, want.policy) then return { current } end
    return {}
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    if found then return found end
    return put(ctx, want)
  end,

  read = read,

  update = function(ctx, _, _, new)
    check(ctx, new)
    return put(ctx, new)
  end,

  delete = function(ctx, id)
    local out, err = ctx:aws("s3"):pcall("DeleteBucketPolicy", { Bucket = id })
    if out or GONE[err.code] then return end
    error(err, 0)
  end,

  late = kit.late { "s3_new_bucket" },

  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "s3:GetBucketPolicy" },
    create = { "s3:PutBucketPolicy" },
    update = { "s3:PutBucketPolicy" },
    delete = { "s3:DeleteBucketPolicy" },
    scoped = { "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy" },
    -- the bucket's name, when the script gives it (not a reference to the bucket's id)
    resources = function(a)
      if require("wpo.iam").known(a.bucket) then return { "arn:aws:s3:::" .. a.bucket } end
    end,
  },
}
