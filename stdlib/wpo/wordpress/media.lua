-- wpo.wordpress.media: an S3 bucket for the site's uploads.
--
--   media.build(stack, p, deps) -> media      (before identity: the task role may touch it)
--   media.policy(stack, p, media, edge)       (after edge.front: CloudFront reads through
--                                              its origin access control)
--
-- Reads from p: name, region, protect, media.{bucket, noncurrent_days}, site.cdn.
-- Reads from deps: registry.repository_arn (the account id for the bucket's name).
--
-- Declares (only with media.bucket):
--   aws.s3.bucket.media           "<name>-<region>-media-<account>": public access
--                                 blocked, bucket-owner-enforced, AES256 by default,
--                                 versioned, old versions expired after
--                                 media.noncurrent_days; emptied on destroy only when
--                                 protect = false (with protect, destroy refuses it)
--   aws.s3.bucket_policy.media    TLS only; with the CDN, s3:GetObject for this
--                                 distribution only (CloudFront origin access control)
--
-- Returns media = { bucket (resource), bucket_name, bucket_arn, domain_name } or {}
local identity = require "wpo.wordpress.identity"
local s3policy = require "wpo.aws.s3.policy"
local iampolicy = require "wpo.aws.iam.policy"
local value = require "wpo.value"

local M = {}

function M.build(stack, p, deps)
  if not p.media.bucket then return {} end
  local account = identity.account_of(deps.registry.repository_arn)
  local bucket = stack:add("aws.s3.bucket", "media", {
    bucket = value.format("%s-%s-media-%s", p.name, p.region, account),
    versioning = true, block_public_access = true, encryption = { algorithm = "AES256" },
    noncurrent_expiration_days = p.media.noncurrent_days, abort_incomplete_upload_days = 7,
    force_destroy = not p.protect, lifecycle = { prevent_destroy = p.protect == true },
  })
  return { bucket = bucket, bucket_name = bucket.bucket, bucket_arn = bucket.arn,
    domain_name = bucket.bucket_regional_domain_name }
end

function M.policy(stack, _, media, edge)
  if not media.bucket then return nil end
  local statements = { s3policy.tls_only(media.bucket_arn) }
  if edge and edge.distribution then
    statements[2] = s3policy.cloudfront_read(media.bucket_arn, edge.distribution.arn)
  end
  media.policy = stack:add("aws.s3.bucket_policy", "media", {
    bucket = media.bucket_name, policy = iampolicy.document(statements),
  })
  return media.policy
end

return M
