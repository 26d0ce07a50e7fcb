-- aws.cloudfront.cache_policy, aws.cloudfront.origin_access_control and
-- aws.cloudfront.distribution against fakeaws: create, read, update, delete,
-- import, drift, a lost answer, a stale ETag, and a custom header's secret
-- value kept out of plans and logs.

local SECRET = "hdr-5ecret-7f3a9c"
local CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0c1d2e3f"

describe("aws.cloudfront types against fakeaws", function()
  local resource = require "wpo.resource"
  local typeflow = require "typeflow"
  local common = require "wpo.aws.cloudfront.common"
  local managed = require "wpo.aws.cloudfront.managed"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod", settle = 1 }
  local f, flow, cf
  before_each(function()
    f, flow = suite.f, suite.flow
    cf = suite:client("cloudfront")
  end)
  local raised = typeflow.raised
  local function calls(op) return f:calls()["cloudfront." .. op] or 0 end

  describe("aws.cloudfront.cache_policy", function()
    local function config(id) return cf:call("GetCachePolicy", { Id = id }).CachePolicy.CachePolicyConfig end

    it("creates a policy from cookies, headers and query strings; updates it with its ETag; deletes it", function()
      local rec = flow:create("aws.cloudfront.cache_policy", "wp", { name = "wp", default_ttl = 300,
        cookies = { behavior = "whitelist", names = { "wordpress_logged_in_x", "comment_author_x" } },
        query_strings = { behavior = "all" } })
      local c = config(rec.id)
      assert.are.same({ 0, 300, 31536000 }, { c.MinTTL, c.DefaultTTL, c.MaxTTL })
      local params = c.ParametersInCacheKeyAndForwardedToOrigin
      assert.are.equal("whitelist", params.CookiesConfig.CookieBehavior)
      assert.are.equal(2, params.CookiesConfig.Cookies.Quantity)
      assert.are.equal("none", params.HeadersConfig.HeaderBehavior)
      assert.is_true(params.EnableAcceptEncodingBrotli)
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, { name = "wp", default_ttl = 600, gzip = false, query_strings = { behavior = "none" } })
      c = config(rec.id)
      assert.are.equal(600, c.DefaultTTL)
      assert.is_false(c.ParametersInCacheKeyAndForwardedToOrigin.EnableAcceptEncodingGzip)
      assert.are.equal("none", c.ParametersInCacheKeyAndForwardedToOrigin.CookiesConfig.CookieBehavior)
      assert.are.same({}, flow:drift(rec))
      assert.are.equal(600, flow:import("aws.cloudfront.cache_policy", "wp", rec.id).inputs.default_ttl)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("refuses TTLs out of order and names the wrong behaviors take, when planning", function()
      local t = resource.get("aws.cloudfront.cache_policy")
      local ctx = flow:ctx("aws.cloudfront.cache_policy", "x")
      local want = flow:want("aws.cloudfront.cache_policy", "x", { name = "x", min_ttl = 10, default_ttl = 5 })
      assert.matches("min_ttl <= default_ttl <= max_ttl", tostring(raised(function() t.check(ctx, want) end)))
      want = flow:want("aws.cloudfront.cache_policy", "x", { name = "x", cookies = { behavior = "whitelist" } })
      assert.matches("cookies: behavior whitelist needs names", tostring(raised(function() t.check(ctx, want) end)))
      local _, attr = resource.desired(t, { name = "x", headers = { behavior = "all" } })
      assert.are.equal("headers", attr)
    end)

    it("finds the policy a lost answer made by its name, and refuses one of that name with other settings", function()
      f:faults { drop_rate = 1, operations = { "cloudfront.CreateCachePolicy" } }
      local rec = flow:create("aws.cloudfront.cache_policy", "wp", { name = "wp" })
      f:faults {}
      assert.are.equal(1, calls("CreateCachePolicy"))
      assert.are.equal(rec.id, config(rec.id) and rec.id)
      assert.are.equal("AlreadyExists", raised(function()
        flow:create("aws.cloudfront.cache_policy", "other", { name = "wp", max_ttl = 60, default_ttl = 60 })
      end).code)
    end)

    it("has the managed policies' ids, which CloudFront knows", function()
      assert.are.equal("Managed-CachingOptimized", config(managed.cache.CachingOptimized).Name)
      assert.are.equal(0, config(managed.cache.CachingDisabled).MaxTTL)
      assert.are.equal("b689b0a8-53d0-40ab-baf2-68738e2966ac", managed.origin_request.AllViewerExceptHostHeader)
    end)
  end)

  describe("aws.cloudfront.origin_access_control", function()
    it("creates, updates in place, sees drift, imports and deletes", function()
      local rec = flow:create("aws.cloudfront.origin_access_control", "site", { name = "prod-site" })
      local got = cf:call("GetOriginAccessControl", { Id = rec.id })
      local c = got.OriginAccessControl.OriginAccessControlConfig
      assert.are.same({ "s3", "always", "sigv4" }, { c.OriginAccessControlOriginType, c.SigningBehavior,
        c.SigningProtocol })
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, { name = "prod-site", description = "media bucket", signing_behavior = "no-override" })
      assert.are.same({}, flow:drift(rec))
      got = cf:call("GetOriginAccessControl", { Id = rec.id })
      c = got.OriginAccessControl.OriginAccessControlConfig
      assert.are.equal("no-override", c.SigningBehavior)
      c.SigningBehavior = "always"
      cf:call("UpdateOriginAccessControl", { Id = rec.id, IfMatch = got.ETag, OriginAccessControlConfig = c })
      assert.are.same({ "signing_behavior" }, flow:drift(rec))
      assert.are.equal("media bucket",
        flow:import("aws.cloudfront.origin_access_control", "site", rec.id).inputs.description)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
    end)
  end)

  describe("aws.cloudfront.distribution", function()
    local function attrs(over)
      local a = {
        aliases = { "www.example.com" }, certificate_arn = CERT, comment = "prod site",
        origins = {
          { id = "alb", domain_name = "origin.example.com", custom_headers = { ["X-Origin-Verify"] = SECRET } },
          { id = "media", domain_name = "media.s3.us-east-1.amazonaws.com", origin_access_control_id = over.oac },
        },
        default_behavior = { origin_id = "alb", cache_policy_id = managed.cache.CachingDisabled,
          origin_request_policy_id = managed.origin_request.AllViewerExceptHostHeader },
        behaviors = { { path_pattern = "/wp-content/uploads/*", origin_id = "media",
          cache_policy_id = managed.cache.CachingOptimized, allowed_methods = { "GET", "HEAD" } } },
      }
      for k, v in pairs(over) do if k ~= "oac" then a[k] = v end end
      return a
    end
    local function new_oac()
      return flow:create("aws.cloudfront.origin_access_control", "media", { name = "media" }).id
    end
    local function dist_config(id) return cf:call("GetDistributionConfig", { Id = id }) end

    it("creates a deployed distribution with its origins, behaviors and certificate; no drift", function()
      local oac = new_oac()
      local rec = flow:create("aws.cloudfront.distribution", "site", attrs { oac = oac, tags = { team = "web" } })
      assert.matches("^E%w+$", rec.id)
      assert.are.equal("Deployed", rec.outputs.status)
      assert.are.equal("Z2FDTNDATAQYW2", rec.outputs.hosted_zone_id)
      assert.matches("%.cloudfront%.net$", rec.outputs.domain_name)
      assert.matches("^arn:aws:cloudfront::123456789012:distribution/E", rec.outputs.arn)
      local c = dist_config(rec.id).DistributionConfig
      assert.are.equal("sni-only", c.ViewerCertificate.SSLSupportMethod)
      assert.are.equal("TLSv1.2_2021", c.ViewerCertificate.MinimumProtocolVersion)
      assert.are.same({ "PriceClass_100", "http2and3", true }, { c.PriceClass, c.HttpVersion, c.IsIPV6Enabled })
      local alb, media = c.Origins.Items[1], c.Origins.Items[2]
      assert.are.equal("https-only", alb.CustomOriginConfig.OriginProtocolPolicy)
      assert.are.same({ "TLSv1.2" }, alb.CustomOriginConfig.OriginSslProtocols.Items)
      assert.are.equal(SECRET, alb.CustomHeaders.Items[1].HeaderValue)
      assert.are.equal("", media.S3OriginConfig.OriginAccessIdentity)
      assert.are.equal(oac, media.OriginAccessControlId)
      assert.are.equal("redirect-to-https", c.DefaultCacheBehavior.ViewerProtocolPolicy)
      assert.are.equal(7, c.DefaultCacheBehavior.AllowedMethods.Quantity)
      assert.is_true(c.DefaultCacheBehavior.Compress)
      assert.are.equal("/wp-content/uploads/*", c.CacheBehaviors.Items[1].PathPattern)
      local tags = cf:call("ListTagsForResource", { Resource = rec.outputs.arn }).Tags.Items
      local map = {}
      for _, t in ipairs(tags) do map[t.Key] = t.Value end
      assert.are.same({ team = "web", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.cloudfront.distribution.site" },
        map)
      assert.are.same({}, flow:drift(rec))
    end)

    it("refuses a certificate outside us-east-1 when planning, and CloudFront refuses it too", function()
      local t = resource.get("aws.cloudfront.distribution")
      local ctx = flow:ctx("aws.cloudfront.distribution", "site")
      local eu = "arn:aws:acm:eu-west-1:123456789012:certificate/0c1d2e3f"
      local err = raised(function() t.check(ctx, flow:want("aws.cloudfront.distribution", "site",
        attrs { certificate_arn = eu })) end)
      assert.are.equal("InvalidAttribute", err.code)
      assert.matches("is in eu%-west%-1: CloudFront takes ACM certificates from us%-east%-1 only", err.message)
      err = raised(function() t.check(ctx, flow:want("aws.cloudfront.distribution", "site",
        attrs { default_behavior = { origin_id = "nope", cache_policy_id = "x" } })) end)
      assert.matches("default_behavior.origin_id nope names no origin", err.message)
      err = raised(function() t.check(ctx, flow:want("aws.cloudfront.distribution", "site",
        attrs { web_acl_id = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/1" })) end)
      assert.matches("web_acl_id must be the ARN of a WAFv2 web ACL of scope CLOUDFRONT", err.message)
      -- references not known yet when planning are not judged
      local value = require "wpo.value"
      t.check(ctx, flow:want("aws.cloudfront.distribution", "site", attrs { origins = value.UNKNOWN,
        certificate_arn = value.UNKNOWN }))
      assert.are.equal(0, calls("CreateDistributionWithTags"))
      local config = flow:want("aws.cloudfront.distribution", "site", attrs { certificate_arn = eu })
      local refused = raised(function()
        cf:call("CreateDistributionWithTags", { DistributionConfigWithTags = { Tags = { Items = {} },
          DistributionConfig = { CallerReference = "r", Comment = "", Enabled = true,
            Aliases = { Quantity = 1, Items = config.aliases },
            Origins = { Quantity = 1, Items = { { Id = "alb", DomainName = "origin.example.com",
              CustomOriginConfig = { HTTPPort = 80, HTTPSPort = 443, OriginProtocolPolicy = "https-only" } } } },
            DefaultCacheBehavior = { TargetOriginId = "alb", ViewerProtocolPolicy = "https-only",
              CachePolicyId = managed.cache.CachingDisabled },
            ViewerCertificate = { ACMCertificateArn = eu, SSLSupportMethod = "sni-only" } } } })
      end)
      assert.are.equal("InvalidViewerCertificate", refused.code)
    end)

    it("updates in place with the ETag, re-reading once after a stale one; sees drift; imports", function()
      local rec = flow:create("aws.cloudfront.distribution", "site", attrs { oac = new_oac() })
      -- someone changes the distribution between wpo's read and its update
      local real = common.client
      local meddled = false
      common.client = function(ctx)
        local c = real(ctx)
        return setmetatable({ call = function(_, op, params)
          if op == "UpdateDistribution" and not meddled then
            meddled = true
            local got = dist_config(rec.id)
            got.DistributionConfig.Comment = "changed outside wpo"
            cf:call("UpdateDistribution", { Id = rec.id, IfMatch = got.ETag, DistributionConfig = got.DistributionConfig })
          end
          return c:call(op, params)
        end }, { __index = c })
      end
      local ok, err = pcall(function()
        rec = flow:update(rec, attrs { comment = "new comment", price_class = "PriceClass_All", tags = { a = "1" } })
      end)
      common.client = real
      assert(ok, tostring(err))
      assert.is_true(meddled)
      assert.are.equal(1, (f:calls(true)["cloudfront.UpdateDistribution"].errors or {}).PreconditionFailed)
      local c = dist_config(rec.id).DistributionConfig
      assert.are.same({ "new comment", "PriceClass_All" }, { c.Comment, c.PriceClass })
      assert.are.same({}, flow:drift(rec))
      local got = dist_config(rec.id)
      got.DistributionConfig.DefaultCacheBehavior.ViewerProtocolPolicy = "allow-all"
      got.DistributionConfig.Origins.Items[1].CustomHeaders = { Quantity = 0 }
      cf:call("UpdateDistribution", { Id = rec.id, IfMatch = got.ETag, DistributionConfig = got.DistributionConfig })
      assert.are.same({ "default_behavior", "origins" }, flow:drift(rec))
      local imported = flow:import("aws.cloudfront.distribution", "site", rec.id)
      assert.are.equal("allow-all", imported.inputs.default_behavior.viewer_protocol_policy)
      assert.are.same({ "www.example.com" }, imported.inputs.aliases)
    end)

    it("changes only the tags without a new deployment; drops a policy the script no longer names", function()
      local rec = flow:create("aws.cloudfront.distribution", "site", attrs { oac = new_oac() })
      local updates = calls("UpdateDistribution")
      rec = flow:update(rec, attrs { oac = rec.inputs.origins[2].origin_access_control_id, tags = { team = "web" } })
      assert.are.equal(updates, calls("UpdateDistribution"))
      local tags = cf:call("ListTagsForResource", { Resource = rec.outputs.arn }).Tags.Items
      assert.are.equal(3, #tags)
      local a = attrs { oac = rec.inputs.origins[2].origin_access_control_id, tags = { team = "web" } }
      a.default_behavior.origin_request_policy_id = nil
      rec = flow:update(rec, a)
      assert.are.equal(updates + 1, calls("UpdateDistribution"))
      assert.is_nil(dist_config(rec.id).DistributionConfig.DefaultCacheBehavior.OriginRequestPolicyId)
      assert.are.same({}, flow:drift(rec))
    end)

    it("adopts what a lost answer made: by its caller reference, and by its wpo:address tag", function()
      local t = resource.get("aws.cloudfront.distribution")
      local want = flow:want("aws.cloudfront.distribution", "site", attrs { wait_deployed = false })
      local ctx = flow:ctx("aws.cloudfront.distribution", "site", nil, 1)
      local first = t.create(ctx, want, nil)
      -- the same create sent again with other settings: CloudFront names the one it made
      want.comment = "second attempt"
      local again = t.create(flow:ctx("aws.cloudfront.distribution", "site", nil, 1), want, nil)
      assert.are.equal(first.id, again.id)
      assert.are.equal("second attempt", dist_config(first.id).DistributionConfig.Comment)
      assert.are.equal(1, #cf:call("ListDistributions", {}).DistributionList.Items)
      -- an answer lost on the wire: found again by its tag
      f:faults { drop_rate = 1, operations = { "cloudfront.CreateDistributionWithTags" } }
      local rec = flow:create("aws.cloudfront.distribution", "other",
        attrs { aliases = { "cdn.example.com" }, wait_deployed = false })
      f:faults {}
      assert.is_true(calls("CreateDistributionWithTags") > 2)
      assert.are.equal(2, #cf:call("ListDistributions", {}).DistributionList.Items)
      assert.is_truthy(flow:read(rec))
    end)

    it("deletes by disabling, waiting until Deployed, then deleting with the ETag", function()
      local oac = new_oac()
      local rec = flow:create("aws.cloudfront.distribution", "site", attrs { oac = oac, wait_deployed = false })
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      assert.are.equal(1, calls("DeleteDistribution"))
      assert.is_nil((f:calls(true)["cloudfront.DeleteDistribution"].errors or {}).DistributionNotDisabled)
      flow:delete(rec)
      -- the OAC it used can go now
      resource.get("aws.cloudfront.origin_access_control").delete(
        flow:ctx("aws.cloudfront.origin_access_control", "media"), oac)
      assert.are.equal(0, #(cf:call("ListOriginAccessControls", {}).OriginAccessControlList.Items or {}))
    end)
  end)
end)

describe("aws.cloudfront.distribution through the wpo binary", function()
  local typeflow = require "typeflow"
  local env

  setup(function() env = typeflow.start { settle = 1 } end)
  teardown(function() env:stop() end)
  before_each(function() env:reset() end)

  local function stack(comment)
    return string.format([[
local s = wpo.stack { name = "t", region = "eu-west-1" }
local d = s:add("aws.cloudfront.distribution", "site", {
  aliases = { "www.example.com" }, certificate_arn = %q, comment = %q,
  origins = { { id = "alb", domain_name = "origin.example.com", custom_headers = { ["X-Origin-Verify"] = %q } } },
  default_behavior = { origin_id = "alb", cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" },
})
s:output("domain", d.domain_name)
return s
]], CERT, comment, SECRET)
  end

  it("never shows a custom header's value in plans, applies, destroys or debug logs", function()
    env:write("s.lua", stack("one"))
    local seen = {}
    local function run(args)
      local r = env:wpo(args, { WPO_LOG = "debug" })
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      seen[#seen + 1] = r.stdout .. r.stderr
      return r
    end
    assert.matches("origins%s+= %(sensitive%)", run({ "plan", "s.lua" }).stdout)
    -- the debug log shows the requests, the header's value redacted
    assert.matches("CreateDistributionWithTags", run({ "run", "s.lua", "--yes" }).stderr)
    local again = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, again.status, again.stdout .. again.stderr)
    assert.matches("No changes", again.stdout, 1, true)
    env:write("s.lua", stack("two"))
    local r = run { "plan", "s.lua" }
    assert.matches("comment", r.stdout)
    run { "run", "s.lua", "--yes" }
    run { "destroy", "s.lua", "--yes" }
    for _, out in ipairs(seen) do
      assert.is_nil(out:find(SECRET, 1, true), "the secret header value was printed")
    end
    assert.are.same({}, (env:objects("cloudfront", "distribution")))
  end)

  it("runs a policy, an OAC and a distribution using them; no changes on the next plan; destroys all", function()
    env:write("s.lua", string.format([[
local s = wpo.stack { name = "t", region = "eu-west-1" }
local static = s:add("aws.cloudfront.cache_policy", "static", { name = "t-static", default_ttl = 3600,
  query_strings = { behavior = "whitelist", names = { "ver" } } })
local oac = s:add("aws.cloudfront.origin_access_control", "media", { name = "t-media" })
s:add("aws.cloudfront.distribution", "site", {
  aliases = { "www.example.com" }, certificate_arn = %q,
  origins = {
    { id = "alb", domain_name = "origin.example.com", custom_headers = { ["X-Origin-Verify"] = %q } },
    { id = "media", domain_name = "t-media.s3.eu-west-1.amazonaws.com", origin_access_control_id = oac.id },
  },
  default_behavior = { origin_id = "alb", cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" },
  behaviors = {
    { path_pattern = "/wp-content/uploads/*", origin_id = "media", cache_policy_id = static.id,
      allowed_methods = { "GET", "HEAD" } },
    { path_pattern = "/wp-includes/*", origin_id = "alb", cache_policy_id = static.id },
  },
  tags = { Name = "t-site" },
})
return s
]], CERT, SECRET))
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local d = select(2, next(env:objects("cloudfront", "distribution")))
    local items = d.DistributionConfig.CacheBehaviors.Items
    assert.are.same({ "/wp-content/uploads/*", "/wp-includes/*" }, { items[1].PathPattern, items[2].PathPattern })
    r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("3 destroyed", r.stdout, 1, true)
    assert.are.same({}, env:objects("cloudfront", "distribution"))
    assert.are.same({}, env:objects("cloudfront", "origin-access-control"))
    for _, p in pairs(env:objects("cloudfront", "cache-policy")) do
      assert.matches("^Managed%-", p.CachePolicyConfig.Name)
    end
  end)

  it("waits while CloudFront deploys (fakeaws's cloudfront-deploy delay), then deletes once disabled", function()
    env.f:eventual { seconds = 1, fixed = true, behaviours = { "cloudfront-deploy" } }
    local ok, err = pcall(function()
      env:write("s.lua", stack("one"))
      local r = env:wpo { "run", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("waiting for the distribution to be Deployed (now: InProgress)", r.stdout, 1, true)
      local rec = env:resources()["aws.cloudfront.distribution.site"]
      assert.are.equal("Deployed", rec.outputs.status)
      r = env:wpo { "destroy", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("disabling the distribution", r.stdout, 1, true)
      assert.are.same({}, (env:objects("cloudfront", "distribution")))
      local shaped = 0
      for _, e in ipairs(env.f:eventual().log) do
        if e.behaviour == "cloudfront-deploy" and e.operation == "cloudfront.GetDistribution" then shaped = shaped + 1 end
      end
      assert.is_true(shaped > 0)
      assert.is_nil(((env.f:calls(true)["cloudfront.DeleteDistribution"] or {}).errors or {}).DistributionNotDisabled)
    end)
    env.f:eventual {}
    assert(ok, tostring(err))
  end)
end)
