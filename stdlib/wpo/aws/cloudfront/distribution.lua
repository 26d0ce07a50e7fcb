-- aws.cloudfront.distribution: a CloudFront distribution (web). CloudFront is
-- global: the client signs for us-east-1 whatever the stack's region.
--
-- Attributes:
--   aliases           the site's names (CNAMEs); they need certificate_arn
--   certificate_arn   an ACM certificate, which CloudFront takes from us-east-1 only
--                     (another region is refused when planning); served with SNI,
--                     TLSv1.2_2021 at least. Absent: CloudFront's *.cloudfront.net one
--   comment
--   enabled           default true
--   price_class       "PriceClass_100" (default) | "PriceClass_200" | "PriceClass_All"
--   http_version      "http2and3" (default) | "http2" | "http3" | "http1.1"
--   ipv6              default true
--   web_acl_id        a WAFv2 web ACL ARN (scope CLOUDFRONT, in us-east-1), optional
--   wait_deployed     default true: create and update return once the distribution
--                     is Deployed (botocore's DistributionDeployed waiter)
--   origins           list of { id, domain_name, origin_access_control_id?,
--                     custom_headers = { [name] = value }?, https_only? (default true) }:
--                     an origin with an origin access control is an S3 origin (and so
--                     is an S3 bucket's REST domain: <bucket>.s3[.<region>].amazonaws.com);
--                     any other is a custom origin (ports 80/443, TLSv1.2; https-only
--                     unless https_only = false: http-only). Sensitive as a whole:
--                     the custom headers' values are secrets (a header an origin
--                     checks), never shown in plans (the model marks HeaderValue
--                     sensitive: debug logs redact it)
--   default_behavior  { origin_id, cache_policy_id, origin_request_policy_id?,
--                     viewer_protocol_policy = "redirect-to-https" (default) |
--                     "https-only" | "allow-all", allowed_methods = all seven (default) |
--                     { "GET", "HEAD" } | { "GET", "HEAD", "OPTIONS" }, compress = true }
--                     (wpo.aws.cloudfront.managed has the managed policies' ids)
--   behaviors         ordered list of the same, each with its path_pattern
--   tags
-- Outputs: id, arn, domain_name (d....cloudfront.net), hosted_zone_id
-- ("Z2FDTNDATAQYW2": every distribution's, for Route 53 aliases), status.
--
-- Exactly once: CreateDistributionWithTags with a CallerReference derived from
-- the resource (ctx:client_token()): sent again with the same settings it
-- answers the distribution it made; with other settings, CloudFront answers
-- DistributionAlreadyExists naming it, and that one is adopted. A lost answer
-- is also found again by its wpo:address tag (ListDistributions, tags).
-- Update: GetDistributionConfig (its ETag), the settings wpo manages replaced
-- in it (what wpo does not manage — logging, error pages, default root object —
-- kept), UpdateDistribution with If-Match; a config changed meanwhile
-- (PreconditionFailed) is read again and sent once more. Delete: disable
-- (UpdateDistribution Enabled = false), wait until Deployed, DeleteDistribution
-- with If-Match; one already gone is fine.
-- Read compares what CloudFront answers with what was asked: its defaults
-- (the default fields of the behaviors and origins) are not drift.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local waiter = require "wpo.aws.waiter"
local common = require "wpo.aws.cloudfront.common"
local value = require "wpo.value"

local GONE = { NoSuchDistribution = true }
local HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
local ALL_METHODS = { "GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE" }
local METHOD_SETS = { { "GET", "HEAD" }, { "GET", "HEAD", "OPTIONS" }, ALL_METHODS }

local BEHAVIOR_FIELDS = {
  origin_id = { type = "string", required = true },
  cache_policy_id = { type = "string", required = true },
  origin_request_policy_id = { type = "string" },
  viewer_protocol_policy = { type = "string", choices = { "redirect-to-https", "https-only", "allow-all" } },
  allowed_methods = { type = "list", of = { type = "string" } },
  compress = { type = "boolean" },
}

-- the keys of a map, sorted
local function keys(map)
  local out = {}
  for k in pairs(map or {}) do out[#out + 1] = k end
  return kit.sorted(out)
end

local function with(fields, extra)
  local out = {}
  for k, v in pairs(fields) do out[k] = v end
  for k, v in pairs(extra) do out[k] = v end
  return out
end

-- ---- the script's settings ----

local function is_s3(origin)
  if origin.origin_access_control_id ~= nil then return true end
  local domain = tostring(origin.domain_name or ""):lower()
  return domain:match("%.s3%.amazonaws%.com$") ~= nil or domain:match("%.s3%.[%w%-]+%.amazonaws%.com$") ~= nil
end

-- an origin as the script means it, defaults filled in
local function full_origin(o)
  local out = { id = o.id, domain_name = o.domain_name, origin_access_control_id = o.origin_access_control_id }
  if o.custom_headers and next(o.custom_headers) then out.custom_headers = o.custom_headers end
  if not is_s3(o) then out.https_only = o.https_only ~= false end
  return out
end

local function full_behavior(b)
  local out = { origin_id = b.origin_id, cache_policy_id = b.cache_policy_id,
    origin_request_policy_id = b.origin_request_policy_id, path_pattern = b.path_pattern,
    viewer_protocol_policy = b.viewer_protocol_policy or "redirect-to-https",
    allowed_methods = kit.sorted(b.allowed_methods or ALL_METHODS), compress = b.compress ~= false }
  return out
end

local function certificate_problem(arn)
  if type(arn) ~= "string" then return nil end
  local service, region = arn:match("^arn:aws[%w%-]*:(%w+):([%w%-]*):%d+:certificate/")
  if service ~= "acm" then
    return string.format("certificate_arn must be an ACM certificate ARN (arn:aws:acm:us-east-1:...), got %s", arn)
  end
  if region ~= "us-east-1" then
    return string.format("certificate_arn %s is in %s: CloudFront takes ACM certificates from us-east-1 only "
      .. "(request or import the certificate in us-east-1)", arn, region)
  end
  return nil
end

-- a value known when planning (no reference still to resolve)
local function known(v)
  return type(v) ~= "table" or (not value.is_lazy(v) and not value.has_unknown(v))
end

local function methods_problem(where, methods)
  if type(methods) ~= "table" or not known(methods) then return nil end
  for _, set in ipairs(METHOD_SETS) do
    if kit.same_set(methods, set) then return nil end
  end
  return string.format("%s.allowed_methods must be {GET, HEAD}, {GET, HEAD, OPTIONS} or all seven "
    .. "(GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE)", where)
end

-- the settings checked together: nil, or a one-line problem
local function problem(want)
  local p = certificate_problem(want.certificate_arn)
  if p then return p end
  if type(want.aliases) == "table" and #want.aliases > 0 and want.certificate_arn == nil then
    return "aliases need certificate_arn (an ACM certificate in us-east-1 covering them)"
  end
  local acl = want.web_acl_id
  if type(acl) == "string" and not acl:match("^arn:aws[%w%-]*:wafv2:us%-east%-1:%d+:global/webacl/") then
    return string.format("web_acl_id must be the ARN of a WAFv2 web ACL of scope CLOUDFRONT "
      .. "(arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>), got %s", acl)
  end
  local ids, all_ids = {}, false
  if type(want.origins) == "table" and want.origins ~= value.UNKNOWN and not value.is_lazy(want.origins) then
    if #want.origins == 0 then return "origins: at least one origin is needed" end
    all_ids = true
    for i, o in ipairs(want.origins) do
      if type(o) == "table" and type(o.id) == "string" then
        if ids[o.id] then return string.format("origins[%d]: the id %s is used twice", i, o.id) end
        ids[o.id] = true
      else
        all_ids = false
      end
    end
  end
  local function behavior(where, b)
    if type(b) ~= "table" then return nil end
    if type(b.origin_id) == "string" and all_ids and not ids[b.origin_id] then
      return string.format("%s.origin_id %s names no origin (origins: %s)", where, b.origin_id,
        table.concat(keys(ids), ", "))
    end
    return methods_problem(where, b.allowed_methods)
  end
  p = behavior("default_behavior", want.default_behavior)
  if p then return p end
  local patterns = {}
  for i, b in ipairs(type(want.behaviors) == "table" and want.behaviors or {}) do
    local where = string.format("behaviors[%d]", i)
    p = behavior(where, b)
    if p then return p end
    if type(b) == "table" and type(b.path_pattern) == "string" then
      if patterns[b.path_pattern] then return string.format("%s: the path_pattern %s is used twice", where,
        b.path_pattern) end
      patterns[b.path_pattern] = true
    end
  end
  return nil
end

local function refuse_problem(ctx, want)
  local p = problem(want)
  if p then ctx:fail("InvalidAttribute", "%s", p) end
end

-- ---- to CloudFront's shapes ----

local function origin_of(o)
  local out = { Id = o.id, DomainName = o.domain_name, OriginPath = "" }
  local headers = {}
  for _, name in ipairs(keys(o.custom_headers)) do
    headers[#headers + 1] = { HeaderName = name, HeaderValue = o.custom_headers[name] }
  end
  out.CustomHeaders = common.items(headers)
  if is_s3(o) then
    out.S3OriginConfig = { OriginAccessIdentity = "" }
    out.OriginAccessControlId = o.origin_access_control_id or ""
  else
    out.CustomOriginConfig = { HTTPPort = 80, HTTPSPort = 443,
      OriginProtocolPolicy = o.https_only == false and "http-only" or "https-only",
      OriginSslProtocols = common.items({ "TLSv1.2" }) }
  end
  return out
end

local function behavior_of(b)
  local f = full_behavior(b)
  local methods = b.allowed_methods or ALL_METHODS
  return { PathPattern = f.path_pattern, TargetOriginId = f.origin_id, ViewerProtocolPolicy = f.viewer_protocol_policy,
    AllowedMethods = { Quantity = #methods, Items = methods,
      CachedMethods = common.items({ "GET", "HEAD" }) },
    Compress = f.compress, CachePolicyId = f.cache_policy_id, OriginRequestPolicyId = f.origin_request_policy_id }
end

-- config (what GetDistributionConfig answered, or nil) with wpo's settings in it
local function config_of(want, reference, current)
  local c = {}
  for k, v in pairs(current or {}) do c[k] = v end
  c.CallerReference = c.CallerReference or reference
  c.Aliases = common.items(want.aliases)
  local origins, behaviors = {}, {}
  for i, o in ipairs(want.origins) do origins[i] = origin_of(o) end
  c.Origins = common.items(origins)
  c.DefaultCacheBehavior = behavior_of(want.default_behavior)
  c.DefaultCacheBehavior.PathPattern = nil
  for i, b in ipairs(want.behaviors or {}) do behaviors[i] = behavior_of(b) end
  c.CacheBehaviors = common.items(behaviors)
  c.Comment = want.comment or ""
  c.PriceClass = want.price_class
  c.Enabled = want.enabled
  if want.certificate_arn then
    c.ViewerCertificate = { ACMCertificateArn = want.certificate_arn, SSLSupportMethod = "sni-only",
      MinimumProtocolVersion = "TLSv1.2_2021" }
  else
    c.ViewerCertificate = { CloudFrontDefaultCertificate = true }
  end
  c.WebACLId = want.web_acl_id or ""
  c.HttpVersion = want.http_version
  c.IsIPV6Enabled = want.ipv6
  c.Restrictions = c.Restrictions or { GeoRestriction = { RestrictionType = "none", Quantity = 0 } }
  return c
end

-- ---- from CloudFront's answers ----

local function same(a, b)
  return kit.contains(a, b) and kit.contains(b, a)
end

local function origin_seen(o)
  local out = { id = o.Id, domain_name = o.DomainName }
  if o.OriginAccessControlId and o.OriginAccessControlId ~= "" then
    out.origin_access_control_id = o.OriginAccessControlId
  end
  local headers = {}
  for _, h in ipairs(common.list(o.CustomHeaders)) do headers[h.HeaderName] = h.HeaderValue end
  if next(headers) then out.custom_headers = headers end
  if o.CustomOriginConfig then out.https_only = o.CustomOriginConfig.OriginProtocolPolicy == "https-only" end
  return out
end

local function behavior_seen(b)
  local out = { origin_id = b.TargetOriginId, cache_policy_id = b.CachePolicyId, path_pattern = b.PathPattern,
    viewer_protocol_policy = b.ViewerProtocolPolicy, compress = b.Compress == true,
    allowed_methods = kit.sorted(common.list(b.AllowedMethods)) }
  if b.OriginRequestPolicyId and b.OriginRequestPolicyId ~= "" then out.origin_request_policy_id = b.OriginRequestPolicyId end
  return out
end

-- the list seen, as the script wrote it when it means the same (full: defaults filled in)
local function as_given(seen, given, full)
  if type(given) ~= "table" or #given ~= #seen then return seen end
  for i = 1, #seen do
    if not same(full(given[i]), seen[i]) then return seen end
  end
  return given
end

local function observe(dist, tags, prior)
  local c = dist.DistributionConfig or {}
  local inputs = prior and prior.inputs or {}
  local cert = c.ViewerCertificate or {}
  local origins, behaviors = {}, {}
  for i, o in ipairs(common.list(c.Origins)) do origins[i] = origin_seen(o) end
  for i, b in ipairs(common.list(c.CacheBehaviors)) do behaviors[i] = behavior_seen(b) end
  local default = behavior_seen(c.DefaultCacheBehavior or {})
  default.path_pattern = nil
  local out = {
    id = dist.Id, arn = dist.ARN, domain_name = dist.DomainName, hosted_zone_id = HOSTED_ZONE_ID,
    status = dist.Status,
    aliases = kit.as_prior_order(common.list(c.Aliases), inputs.aliases),
    certificate_arn = cert.ACMCertificateArn,
    enabled = c.Enabled, price_class = c.PriceClass, http_version = c.HttpVersion, ipv6 = c.IsIPV6Enabled,
    origins = as_given(origins, inputs.origins, full_origin),
    default_behavior = as_given({ default }, { inputs.default_behavior }, full_behavior)[1],
    behaviors = as_given(behaviors, inputs.behaviors, full_behavior),
    tags = kit.user_tags(tags),
  }
  if c.Comment ~= nil and c.Comment ~= "" then out.comment = c.Comment
  elseif inputs.comment ~= nil then out.comment = "" end
  if c.WebACLId ~= nil and c.WebACLId ~= "" then out.web_acl_id = c.WebACLId
  elseif inputs.web_acl_id ~= nil then out.web_acl_id = "" end
  if #out.aliases == 0 and inputs.aliases == nil then out.aliases = nil end
  if #out.behaviors == 0 and inputs.behaviors == nil then out.behaviors = nil end
  if out.certificate_arn == nil and inputs.certificate_arn ~= nil then out.certificate_arn = "" end
  return out
end

local get = common.getter("GetDistribution", "NoSuchDistribution")

local function tags_of(ctx, arn)
  local out, err = common.client(ctx):pcall("ListTagsForResource", { Resource = arn })
  if out then return kit.tag_map(common.list(out.Tags)) end
  if kit.is_code(err, "NoSuchResource", "NoSuchDistribution") then return {} end
  error(err, 0)
end

local function read(ctx, id, prior)
  local got = get(ctx, id)
  if not got then return nil end
  local dist = got.Distribution
  return observe(dist, tags_of(ctx, dist.ARN), prior)
end

local function wait_deployed(ctx, id, what)
  waiter.wait(ctx, common.client(ctx), "DistributionDeployed", { Id = id },
    { what = what or "the distribution to be Deployed" })
end

local function set_tags(ctx, arn, old, new)
  local cf = common.client(ctx)
  local set, remove = kit.tag_changes(kit.user_tags(old), new)
  if #remove > 0 then cf:call("UntagResource", { Resource = arn, TagKeys = { Items = remove } }) end
  if next(set) then cf:call("TagResource", { Resource = arn, Tags = { Items = kit.tag_list(set) } }) end
end

-- config changed by fn(current config) -> new config, or nil when it already
-- is as wanted; sent with the ETag it came with. -> UpdateDistribution's answer,
-- { unchanged = true }, or nil when the distribution is gone
local function change_config(ctx, id, fn)
  local cf = common.client(ctx)
  local config
  return common.with_etag(ctx, function()
    local out, err = cf:pcall("GetDistributionConfig", { Id = id })
    if not out then
      if GONE[err.code] then return nil end
      error(err, 0)
    end
    config = out.DistributionConfig
    return out.ETag
  end, function(etag)
    local new = fn(config)
    if new == nil then return { unchanged = true } end
    return cf:call("UpdateDistribution", { Id = id, IfMatch = etag, DistributionConfig = new })
  end)
end

local function text(v) return v or "" end

-- does the config CloudFront holds already say what want says?
local function as_wanted(config, want)
  local seen = observe({ DistributionConfig = config }, {}, { inputs = want })
  for _, k in ipairs({ "enabled", "price_class", "http_version", "ipv6" }) do
    if seen[k] ~= want[k] then return false end
  end
  for _, k in ipairs({ "certificate_arn", "comment", "web_acl_id" }) do
    if text(seen[k]) ~= text(want[k]) then return false end
  end
  local no_behaviors = #(seen.behaviors or {}) == 0 and #(want.behaviors or {}) == 0
  return kit.same_set(seen.aliases or {}, want.aliases or {}) and seen.origins == want.origins
    and seen.default_behavior == want.default_behavior and (no_behaviors or seen.behaviors == want.behaviors)
end

-- bring the distribution id to want (settings, tags), waiting when asked
local function converge(ctx, id, want)
  local changed = change_config(ctx, id, function(current)
    if as_wanted(current, want) then return nil end
    return config_of(want, nil, current)
  end)
  if not changed then ctx:fail("NotFound", "the distribution %s no longer exists", id) end
  local arn = changed.Distribution and changed.Distribution.ARN
  if not arn then
    local got = get(ctx, id)
    if not got then ctx:fail("NotFound", "the distribution %s no longer exists", id) end
    arn = got.Distribution.ARN
  end
  set_tags(ctx, arn, tags_of(ctx, arn), want.tags)
  if want.wait_deployed and not changed.unchanged then wait_deployed(ctx, id) end
  return read(ctx, id, { inputs = want })
end

local function update(ctx, id, _, new)
  refuse_problem(ctx, new)
  return converge(ctx, id, new)
end

return resource.define "aws.cloudfront.distribution" {
  description = "a CloudFront distribution: origins, cache behaviors, certificate and aliases",
  attributes = {
    aliases = { type = "list", of = { type = "string" } },
    certificate_arn = { type = "string" },
    comment = { type = "string" },
    enabled = { type = "boolean", default = true },
    price_class = { type = "string", default = "PriceClass_100",
      choices = { "PriceClass_100", "PriceClass_200", "PriceClass_All" } },
    http_version = { type = "string", default = "http2and3", choices = { "http1.1", "http2", "http3", "http2and3" } },
    ipv6 = { type = "boolean", default = true },
    web_acl_id = { type = "string" },
    wait_deployed = { type = "boolean", default = true },
    origins = { type = "list", required = true, sensitive = true, of = { type = "object", fields = {
      id = { type = "string", required = true },
      domain_name = { type = "string", required = true },
      origin_access_control_id = { type = "string" },
      custom_headers = { type = "map", of = { type = "string" } },
      https_only = { type = "boolean" },
    } } },
    default_behavior = { type = "object", required = true, fields = BEHAVIOR_FIELDS },
    behaviors = { type = "list", of = { type = "object",
      fields = with(BEHAVIOR_FIELDS, { path_pattern = { type = "string", required = true } }) } },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "domain_name", "hosted_zone_id", "status" },

  check = function(ctx, after)
    refuse_problem(ctx, after)
  end,

  found_by = "its caller reference or its wpo:address tag",
  find = function(ctx, want)
    local mine = {}
    local alias = want.aliases and want.aliases[1]
    for d in common.each(ctx, "ListDistributions", "DistributionList") do
      local aliases = common.list(d.Aliases)
      local candidate = alias == nil
      for _, a in ipairs(aliases) do if a == alias then candidate = true end end
      if candidate then
        local tags = tags_of(ctx, d.ARN)
        if tags[resource.TAG_ADDRESS] == ctx.address then mine[#mine + 1] = { id = d.Id, tags = tags } end
      end
    end
    return mine
  end,

  create = function(ctx, want, found)
    refuse_problem(ctx, want)
    if found then return converge(ctx, found.id, want) end
    local cf = common.client(ctx)
    local out, err = cf:pcall("CreateDistributionWithTags", { DistributionConfigWithTags = {
      DistributionConfig = config_of(want, ctx:client_token()), Tags = { Items = kit.tag_list(want.tags) } } })
    if not out then
      if kit.is_code(err, "DistributionAlreadyExists") then
        -- made by an earlier attempt of this create (its caller reference), with other settings
        local id = tostring(err.message):match("Already exists: (E[%w]+)")
        if not id then error(err, 0) end
        ctx:log("the distribution %s was made by an earlier attempt (its caller reference): adopting it", id)
        return converge(ctx, id, want)
      end
      error(err, 0)
    end
    local id = out.Distribution.Id
    if want.wait_deployed then wait_deployed(ctx, id) end
    return read(ctx, id, { inputs = want })
  end,

  read = read,
  update = update,

  delete = function(ctx, id)
    local got = get(ctx, id)
    if not got then return end
    if got.Distribution.DistributionConfig.Enabled then
      ctx:log("disabling the distribution %s before deleting it", id)
      local changed = change_config(ctx, id, function(current)
        current.Enabled = false
        return current
      end)
      if not changed then return end
    end
    if got.Distribution.Status ~= "Deployed" or got.Distribution.DistributionConfig.Enabled then
      local ok, err = pcall(wait_deployed, ctx, id, "the disabled distribution to be Deployed")
      if not ok then
        if kit.is_code(err, "NoSuchDistribution") then return end
        error(err, 0)
      end
    end
    common.delete(ctx, id, get, "DeleteDistribution", "NoSuchDistribution", "DistributionNotDisabled",
      "the distribution %s was enabled again while wpo deleted it: run the destroy again")
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "cloudfront:GetDistribution", "cloudfront:GetDistributionConfig", "cloudfront:ListDistributions",
      "cloudfront:ListTagsForResource" },
    create = { "cloudfront:CreateDistribution", "cloudfront:CreateDistributionWithTags", "cloudfront:TagResource",
      "cloudfront:UntagResource", "cloudfront:UpdateDistribution" },
    update = { "cloudfront:TagResource", "cloudfront:UntagResource", "cloudfront:UpdateDistribution" },
    delete = { "cloudfront:DeleteDistribution", "cloudfront:UpdateDistribution" },
  },
}
