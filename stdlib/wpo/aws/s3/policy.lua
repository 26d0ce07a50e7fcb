-- wpo.aws.s3.policy: bucket policy statements the stdlib's compositions use
-- (tables, as wpo.aws.iam.policy spells them; put them in a document with
-- require("wpo.aws.iam.policy").document { ... } for aws.s3.bucket_policy).
--
--   policy.tls_only(bucket_arn) -> statement: deny every S3 action on the
--        bucket and its objects to any request not sent over TLS
--        (aws:SecureTransport false)
--   policy.cloudfront_read(bucket_arn, distribution_arn) -> statement: allow
--        CloudFront (origin access control) to read the bucket's objects, for
--        that one distribution only (AWS:SourceArn)
--
-- The ARNs may be references to other resources' outputs (aws.s3.bucket's
-- arn, a distribution's arn): they are resolved before the policy is sent.
local value = require "wpo.value"

local M = {}

-- a reference joins like a string (resolved when the policy is sent)
local function objects(bucket_arn)
  return bucket_arn .. "/*"
end

local function check_arn(fn, name, v)
  if not value.is_lazy(v) and (type(v) ~= "string" or v == "") then
    error(string.format("policy.%s: %s must be an ARN (a string or a resource's output), got %s", fn, name,
      type(v)), 3)
  end
end

function M.tls_only(bucket_arn)
  check_arn("tls_only", "bucket_arn", bucket_arn)
  return {
    Sid = "DenyInsecureTransport",
    Effect = "Deny",
    Principal = "*",
    Action = "s3:*",
    Resource = { bucket_arn, objects(bucket_arn) },
    Condition = { Bool = { ["aws:SecureTransport"] = "false" } },
  }
end

function M.cloudfront_read(bucket_arn, distribution_arn)
  check_arn("cloudfront_read", "bucket_arn", bucket_arn)
  check_arn("cloudfront_read", "distribution_arn", distribution_arn)
  return {
    Sid = "AllowCloudFrontRead",
    Effect = "Allow",
    Principal = { Service = "cloudfront.amazonaws.com" },
    Action = "s3:GetObject",
    Resource = objects(bucket_arn),
    Condition = { StringEquals = { ["AWS:SourceArn"] = distribution_arn } },
  }
end

return M
