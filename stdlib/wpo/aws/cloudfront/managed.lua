-- wpo.aws.cloudfront.managed: the ids of AWS's managed CloudFront policies,
-- the same in every account (CloudFront Developer Guide, "Use managed cache
-- policies" and "Use managed origin request policies"), for stdlib and stack
-- code: default_behavior = { cache_policy_id = managed.cache.CachingOptimized, ... }.
--
--   managed.cache.CachingOptimized            cache key: nothing but the path (and
--                                             the normalized Accept-Encoding); long TTLs
--   managed.cache.CachingDisabled             no caching (TTLs 0)
--   managed.origin_request.AllViewer          every header, cookie and query string
--   managed.origin_request.AllViewerExceptHostHeader   the same without Host (an ALB
--                                             or API origin that checks its own name)
--   managed.origin_request.CORS_S3Origin      the CORS headers S3 needs ("CORS-S3Origin")
local M = {}

M.cache = {
  CachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6",
  CachingDisabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
}

M.origin_request = {
  AllViewer = "216adef6-5c7f-47e4-b989-5492eafa07d3",
  AllViewerExceptHostHeader = "b689b0a8-53d0-40ab-baf2-68738e2966ac",
  CORS_S3Origin = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
}

return M
