-- wpo.wordpress.edge: the site at its own name — its public zone, its
-- certificates (DNS-validated in that zone), CloudFront in front of the load
-- balancer, the web application firewall, and the alias records.
--
--   edge.prepare(stack, p) -> e        before the load balancer (its listener needs the certificate)
--   edge.front(stack, p, deps) -> e    after it (CloudFront's origin is the load balancer)
--
-- Reads from p (validated by wpo.wordpress): name, region, protect, site.{domain,
-- aliases, zone, create_zone, certificate_arn, cdn, cdn_certificate_arn, waf,
-- waf_rate_limit}, media.bucket.
-- Reads from deps (front): lb.{alb_arn, dns_name, zone_id}, media.{bucket, bucket_arn,
-- domain_name} (with media.bucket).
--
-- Declares (prepare):
--   aws.route53.zone.public           with site.create_zone: the public zone site.zone
--   aws.route53.zone_lookup.public    with site.zone a name: the zone that exists (kept,
--                                     never destroyed)
--   aws.acm.certificate.site          the site's names (domain + aliases), in the stack's
--                                     region, for the ALB — unless site.certificate_arn
--   aws.acm.certificate_validation.site  its DNS records in the zone; ISSUED before the
--                                     HTTPS listener uses it
--   aws.acm.certificate.cdn (+ _validation.cdn)  with site.cdn: the same names in
--                                     us-east-1 (provider "edge"), for CloudFront —
--                                     unless site.cdn_certificate_arn
--   random.password.origin-secret     with site.cdn: the header value only CloudFront
--                                     sends; the ALB refuses requests without it
-- Declares (front):
--   aws.wafv2.web_acl.site            with site.waf: AWS's managed rule groups (common,
--                                     known bad inputs, SQL injection, WordPress) and a
--                                     rate limit per IP; CLOUDFRONT scope in us-east-1
--                                     with the CDN, REGIONAL on the ALB without it
--   aws.wafv2.web_acl_association.alb without the CDN
--   aws.cloudfront.cache_policy.static  with site.cdn: wp-content/ and wp-includes/ cached
--                                     by path and query string, no cookies
--   aws.cloudfront.origin_access_control.media  with the CDN and media.bucket
--   aws.cloudfront.distribution.site  HTTPS only (HTTP redirected), the ALB as origin
--                                     over HTTPS with the secret header; nothing else
--                                     cached: wp-admin, wp-login.php, previews and
--                                     logged-in pages go to the origin every time
--   aws.route53.record.site (A), .site-aaaa, .alias-N, .alias-N-aaaa
--                                     alias records for each name: to CloudFront with
--                                     the CDN (A and AAAA), to the ALB without it (A
--                                     only: the ALB of this layout has no IPv6)
--
-- Returns e = { zone_id, zone (with create_zone), certificate_arn (nil when no HTTPS), edge = the us-east-1
--   provider (with the CDN), origin_header = { name, value } (with the CDN),
--   distribution, waf, records = { [name] = resource }, url }
local managed = require "wpo.aws.cloudfront.managed"

local M = {}

M.ORIGIN_HEADER = "X-Origin-Verify"
M.CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"   -- every CloudFront distribution's alias target zone
M.MANAGED_RULE_GROUPS = { "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
  "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesWordPressRuleSet" }
M.STATIC_PATHS = { "wp-content/*", "wp-includes/*" }
M.UPLOADS_PATH = "wp-content/uploads/*"
M.NEVER_CACHED = { "wp-admin/*", "wp-login.php" }

-- the site's names: the domain first, then its aliases
function M.names(p)
  local names = { p.site.domain }
  for _, a in ipairs(p.site.aliases or {}) do names[#names + 1] = a end
  return names
end

-- the zone's id, and the zone when the stack makes it
local function zone(stack, p)
  local site = p.site
  if not site.zone then return nil end
  if site.zone:match("^Z[A-Z0-9]+$") then return site.zone end
  local name = site.zone:gsub("%.$", "")
  if site.create_zone then
    local made = stack:add("aws.route53.zone", "public", {
      name = name, comment = "public names of WordPress " .. p.name .. " (managed by wpo)",
      force_destroy = not p.protect,
    })
    return made.zone_id, made
  end
  return stack:add("aws.route53.zone_lookup", "public", { name = name }).zone_id
end

-- a certificate for the site's names, validated by DNS in the zone; its ARN
-- comes from the validation, so what uses it waits until it is ISSUED
local function certificate(stack, p, key, zone_id, provider)
  local names = M.names(p)
  local cert = stack:add("aws.acm.certificate", key, {
    domain_name = names[1], subject_alternative_names = { table.unpack(names, 2) },
    validation_method = "DNS", provider = provider,
  })
  return stack:add("aws.acm.certificate_validation", key, {
    certificate_arn = cert.arn, zone_id = zone_id, provider = provider,
  }).certificate_arn
end

function M.prepare(stack, p)
  local site = p.site
  local e = {}
  e.zone_id, e.zone = zone(stack, p)
  e.certificate_arn = site.certificate_arn
  if not e.certificate_arn and e.zone_id then
    e.certificate_arn = certificate(stack, p, "site", e.zone_id)
  end
  if site.cdn then
    e.edge = stack:provider("edge", { region = "us-east-1" })
    e.edge_certificate_arn = site.cdn_certificate_arn or certificate(stack, p, "cdn", e.zone_id, e.edge)
    local secret = stack:add("random.password", "origin-secret", { length = 40, special = false })
    e.origin_header = { name = M.ORIGIN_HEADER, value = secret.result }
  end
  return e
end

local function firewall(stack, p, e, lb)
  local groups = {}
  for _, name in ipairs(M.MANAGED_RULE_GROUPS) do groups[#groups + 1] = { name = name } end
  local cdn = p.site.cdn
  local acl = stack:add("aws.wafv2.web_acl", "site", {
    name = p.name .. "-site", scope = cdn and "CLOUDFRONT" or "REGIONAL", default_action = "allow",
    managed_rule_groups = groups, rate_limit = { limit = p.site.waf_rate_limit, action = "block" },
    provider = cdn and e.edge or nil,
  })
  if not cdn then
    stack:add("aws.wafv2.web_acl_association", "alb", { resource_arn = lb.alb_arn, web_acl_arn = acl.arn })
  end
  return acl
end

local function behavior(origin_id, cache_policy_id, origin_request_policy_id, path)
  return { path_pattern = path, origin_id = origin_id, cache_policy_id = cache_policy_id,
    origin_request_policy_id = origin_request_policy_id, viewer_protocol_policy = "redirect-to-https" }
end

local function distribution(stack, p, e, deps)
  local lb, media = deps.lb, deps.media
  local static = stack:add("aws.cloudfront.cache_policy", "static", {
    name = p.name .. "-static", comment = "WordPress " .. p.name .. ": static files, by path and query string",
    min_ttl = 0, default_ttl = 86400, max_ttl = 31536000,
    cookies = { behavior = "none" }, headers = { behavior = "none" }, query_strings = { behavior = "all" },
  })
  -- The ALB's certificate is for the site's names, not its own DNS name:
  -- CloudFront forwards the viewer's Host (AllViewer) and checks the
  -- certificate against it.
  local origins = { { id = "alb", domain_name = lb.dns_name, https_only = true,
    custom_headers = { [e.origin_header.name] = e.origin_header.value } } }
  local behaviors = {}
  if media and media.bucket then
    local oac = stack:add("aws.cloudfront.origin_access_control", "media", {
      name = p.name .. "-media", description = "WordPress " .. p.name .. " uploads",
    })
    origins[2] = { id = "media", domain_name = media.domain_name, origin_access_control_id = oac.id }
    behaviors[1] = behavior("media", managed.cache.CachingOptimized, nil, M.UPLOADS_PATH)
  end
  for _, path in ipairs(M.NEVER_CACHED) do
    behaviors[#behaviors + 1] = behavior("alb", managed.cache.CachingDisabled,
      managed.origin_request.AllViewer, path)
  end
  for _, path in ipairs(M.STATIC_PATHS) do
    behaviors[#behaviors + 1] = behavior("alb", static.id, managed.origin_request.AllViewer, path)
  end
  return stack:add("aws.cloudfront.distribution", "site", {
    aliases = M.names(p), certificate_arn = e.edge_certificate_arn,
    comment = "WordPress " .. p.name .. " (managed by wpo)", web_acl_id = e.waf and e.waf.arn or nil,
    origins = origins, behaviors = behaviors,
    default_behavior = behavior("alb", managed.cache.CachingDisabled,
      managed.origin_request.AllViewer),
  })
end

local function aliases(stack, p, e, target)
  e.records = {}
  local kinds = target.ipv6 and { "A", "AAAA" } or { "A" }
  for i, name in ipairs(M.names(p)) do
    for _, kind in ipairs(kinds) do
      local key = (i == 1 and "site" or ("alias-" .. (i - 1))) .. (kind == "AAAA" and "-aaaa" or "")
      e.records[key] = stack:add("aws.route53.record", key, {
        zone_id = e.zone_id, name = name, type = kind,
        alias = { name = target.name, zone_id = target.zone_id, evaluate_target_health = target.health },
      })
    end
  end
end

function M.front(stack, p, e, deps)
  local site, lb = p.site, deps.lb
  if site.waf then e.waf = firewall(stack, p, e, lb) end
  local target = { name = lb.dns_name, zone_id = lb.zone_id, health = true }
  if site.cdn then
    e.distribution = distribution(stack, p, e, deps)
    target = { name = e.distribution.domain_name, zone_id = M.CLOUDFRONT_ZONE_ID, health = false, ipv6 = true }
  end
  if e.zone_id then aliases(stack, p, e, target) end
  return e
end

return M
