-- The home of every other stack's state: the S3 bucket wpo's S3 backend keeps
-- states in, and the DynamoDB table it locks them with. A team's first two
-- commands:
--
--   wpo run stacks/state.lua --var bucket=acme-wpo-state --var region=eu-west-1
--   wpo state migrate stacks/prod.lua --to s3
--
-- after giving stacks/prod.lua the backend this stack's outputs describe:
--   backend = { type = "s3", bucket = "acme-wpo-state", key = "prod", region = "eu-west-1",
--               lock_table = "wpo-locks" }
--
-- The bucket: versioned (every write of a state kept: `wpo state versions`,
-- `wpo state restore`), encrypted (SSE-S3, AES256), public access blocked, a
-- policy refusing any request not sent over TLS, noncurrent versions expired
-- after `keep_days` days, and never emptied by a destroy (force_destroy =
-- false: destroying it while it holds states fails, saying so). The table:
-- on demand, partition key LockID (a string: "<bucket>/<key>"), point-in-time
-- recovery on, encrypted at rest with an AWS-owned key (DynamoDB's default).
--
-- This stack's own state stays local (.wpo/state.state.json beside this
-- file): it holds no secret; keep it with the repository, or migrate it into
-- the bucket it made once that exists, as any other stack.
local s = wpo.stack {
  name = "state",
  description = "the S3 bucket and DynamoDB lock table of wpo's S3 state backend",
  vars = {
    bucket = wpo.var { type = "string",
      description = "the state bucket's name (S3 names are global: e.g. <company>-wpo-state)" },
    table = wpo.var { default = "wpo-locks", description = "the DynamoDB lock table's name" },
    region = wpo.var { default = "eu-west-1", description = "the region of the bucket and the table" },
    keep_days = wpo.var { type = "number", default = 90,
      description = "days a state version is kept after a newer one replaced it" },
  },
  tags = { purpose = "wpo-state" },
}

local home = s:provider("home", { region = s.vars.region })
local arn = "arn:aws:s3:::" .. s.vars.bucket

local bucket = s:add("aws.s3.bucket", "state", {
  bucket = s.vars.bucket,
  versioning = true,
  encryption = { algorithm = "AES256" },
  block_public_access = true,
  object_ownership = "BucketOwnerEnforced",
  noncurrent_expiration_days = s.vars.keep_days,
  abort_incomplete_upload_days = 7,
  force_destroy = false,
  provider = home,
})

-- the bucket by name (so `wpo iam-policy` can limit the policy's actions to it), after it
s:add("aws.s3.bucket_policy", "state", {
  bucket = s.vars.bucket,
  depends_on = { bucket },
  policy = {
    Version = "2012-10-17",
    Statement = {
      { Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*",
        Resource = { arn, arn .. "/*" }, Condition = { Bool = { ["aws:SecureTransport"] = "false" } } },
    },
  },
  provider = home,
})

local locks = s:add("aws.dynamodb.table", "locks", {
  name = s.vars.table,
  hash_key = "LockID",
  attributes = { { name = "LockID", type = "S" } },
  billing_mode = "PAY_PER_REQUEST",
  point_in_time_recovery = true,
  provider = home,
})

s:output("bucket", bucket.id)
s:output("bucket_arn", bucket.arn)
s:output("lock_table", locks.id)
s:output("region", s.vars.region)

return s
