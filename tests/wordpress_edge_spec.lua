-- A WordPress stack at its own name, with every option of issue 16: a public
-- zone that exists before the run (looked up, kept), certificates validated by
-- DNS in it (eu-west-1 for the ALB, us-east-1 for CloudFront), CloudFront with
-- the secret origin header the ALB requires, a WAF in us-east-1, the uploads
-- bucket, backups copied to a second region; on two AZs, one NAT gateway and
-- plain MySQL. Planned offline with no credentials, then run against fakeaws
-- (eventually consistent), replanned with no changes, and destroyed, leaving
-- nothing of its own and the zone as it was.
local cjson = require "cjson"
local h = require "helpers"

local STACK = [[
local wordpress = require "wpo.wordpress"

return wordpress.stack {
  name     = "shop",
  region   = "eu-west-1",
  azs      = { "eu-west-1a", "eu-west-1b" },
  cidr     = "10.30.0.0/16",
  nat      = "single",
  site     = { domain = "www.shop.test", aliases = { "shop.test" }, zone = "shop.test", cdn = true, waf = true },
  media    = { bucket = true },
  backup   = { daily = "02:30", retention_days = 14, copy_to_region = "eu-central-1" },
  compute  = { instance_type = "t3.medium", min = 1, max = 2 },
  service  = { cpu = 256, memory = 512, desired = 1, min = 1, max = 2 },
  database = { engine = "mysql", instance_class = "db.t4g.medium" },
  cache    = { node_type = "cache.t4g.small", nodes = 2 },
  protect  = false,
}
]]

-- what the options add to the plan
local EDGE = {
  "aws.route53.zone_lookup.public",
  "aws.acm.certificate.site", "aws.acm.certificate_validation.site",
  "aws.acm.certificate.cdn", "aws.acm.certificate_validation.cdn",
  "random.password.origin-secret", "aws.elbv2.listener_rule.from-cdn",
  "aws.wafv2.web_acl.site", "aws.cloudfront.cache_policy.static", "aws.cloudfront.origin_access_control.media",
  "aws.cloudfront.distribution.site",
  "aws.route53.record.site", "aws.route53.record.site-aaaa",
  "aws.route53.record.alias-1", "aws.route53.record.alias-1-aaaa",
  "aws.s3.bucket.media", "aws.s3.bucket_policy.media",
  "aws.backup.vault.main", "aws.backup.vault.copy", "aws.iam.role.backup",
  "aws.backup.plan.main", "aws.backup.selection.main",
}

local function new_root()
  local root = h.tmpdir()
  assert(require("wpo.core.fs").mkdir_p(root .. "/.git"))
  h.write(root .. "/shop.lua", STACK)
  return root
end

describe("a WordPress stack at its own name (zone, certificates, CDN, WAF, media, backup)", function()
  it("plans offline, with no credentials", function()
    local root = new_root()
    local r = h.sh(h.offline_command(root, { "plan", "shop.lua", "--json" }))
    h.rmrf(root)
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(r.stdout)
    local planned = {}
    for _, c in ipairs(doc.resource_changes) do planned[c.address] = c.change.actions[1] end
    for _, address in ipairs(EDGE) do assert.are.equal("create", planned[address], address) end
    -- no public zone is made: it is looked up
    assert.is_nil(planned["aws.route53.zone.public"])
  end)

  describe("against fakeaws", function()
    local fakeaws = require "fakeaws"
    local f, root

    setup(function()
      f = fakeaws.start { region = "eu-west-1", eventual = 3, eventual_seed = 16 }
      root = new_root()
    end)
    teardown(function()
      if f then f:stop() end
      if root then h.rmrf(root) end
    end)

    local function wpo(args)
      return h.sh(h.command_in(root, args, { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1" }, f.env))
    end

    local function ok(r)
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      return r
    end

    -- one AWS call through wpo aws, decoded
    local function call(service, op, params, region)
      local args = { "aws", service, op, cjson.encode(params or {}), "--paginate" }
      if region then args[#args + 1] = "--region"; args[#args + 1] = region end
      return cjson.decode(ok(wpo(args)).stdout)
    end

    local function records(zone_id)
      local out = {}
      for _, rr in ipairs(call("route53", "ListResourceRecordSets", { HostedZoneId = zone_id }).ResourceRecordSets) do
        out[rr.Name .. " " .. rr.Type] = rr
      end
      return out
    end

    local function certificates(region)
      local out = {}
      for _, c in ipairs(call("acm", "ListCertificates", {}, region).CertificateSummaryList or {}) do
        out[#out + 1] = call("acm", "DescribeCertificate", { CertificateArn = c.CertificateArn }, region).Certificate
      end
      return out
    end

    it("runs, replans with no changes, and destroys all but the zone that was there", function()
      local zone = call("route53", "CreateHostedZone", { Name = "shop.test", CallerReference = "before-wpo" })
      local zone_id = zone.HostedZone.Id:match("([^/]+)$")
      local before = records(zone_id)

      local run = ok(wpo { "run", "shop.lua", "--yes" })
      -- the zone is counted as looked up, not added
      assert.matches("Plan: %d+ to add, 0 to change, 0 to destroy, 1 to look up%.", run.stdout)
      assert.matches("Apply complete: %d+ added, 0 changed, 0 destroyed, 1 looked up%.", run.stdout)

      -- certificates: one per region, DNS-validated in the zone, ISSUED
      for _, region in ipairs({ "eu-west-1", "us-east-1" }) do
        local certs = certificates(region)
        assert.are.equal(1, #certs, region)
        local c = certs[1]
        assert.are.equal("ISSUED", c.Status, region)
        assert.are.equal("www.shop.test", c.DomainName)
        for _, o in ipairs(c.DomainValidationOptions) do
          assert.are.equal("DNS", o.ValidationMethod)
          local held = records(zone_id)
          local rr = held[o.ResourceRecord.Name .. " CNAME"]
          assert.is_truthy(rr, o.ResourceRecord.Name .. " among " .. cjson.encode(held))
          assert.are.equal(o.ResourceRecord.Value, rr.ResourceRecords[1].Value)
        end
      end

      -- CloudFront: the site's names, the us-east-1 certificate, the WAF, the ALB over HTTPS with the header
      local dists = call("cloudfront", "ListDistributions", {}).DistributionList.Items
      assert.are.equal(1, #dists)
      local d = call("cloudfront", "GetDistribution", { Id = dists[1].Id }).Distribution
      local config = d.DistributionConfig
      local aliases = config.Aliases.Items
      table.sort(aliases)
      assert.are.same({ "shop.test", "www.shop.test" }, aliases)
      assert.matches("^arn:aws:acm:us%-east%-1:", config.ViewerCertificate.ACMCertificateArn)
      local acls = call("wafv2", "ListWebACLs", { Scope = "CLOUDFRONT" }, "us-east-1").WebACLs
      assert.are.equal(1, #acls)
      assert.are.equal(acls[1].ARN, config.WebACLId)
      assert.are.same({}, call("wafv2", "ListWebACLs", { Scope = "REGIONAL" }).WebACLs)
      local header
      for _, o in ipairs(config.Origins.Items) do
        if o.CustomOriginConfig then
          assert.are.equal("https-only", o.CustomOriginConfig.OriginProtocolPolicy)
          for _, hd in ipairs(o.CustomHeaders.Items) do
            if hd.HeaderName == "X-Origin-Verify" then header = hd.HeaderValue end
          end
        end
      end
      assert.is_truthy(header)
      assert.is_true(#header >= 32)
      -- the secret is never printed
      assert.is_nil(run.stdout:find(header, 1, true))
      assert.is_nil(run.stderr:find(header, 1, true))

      -- the ALB answers 403 unless the request carries CloudFront's header
      local lbs = call("elbv2", "DescribeLoadBalancers", {}).LoadBalancers
      local listeners = call("elbv2", "DescribeListeners", { LoadBalancerArn = lbs[1].LoadBalancerArn }).Listeners
      local https
      for _, l in ipairs(listeners) do if l.Port == 443 then https = l end end
      assert.are.equal("fixed-response", https.DefaultActions[1].Type)
      assert.are.equal("403", https.DefaultActions[1].FixedResponseConfig.StatusCode)
      local forwarded = 0
      for _, rule in ipairs(call("elbv2", "DescribeRules", { ListenerArn = https.ListenerArn }).Rules) do
        if not rule.IsDefault then
          assert.are.equal("forward", rule.Actions[1].Type)
          local c = rule.Conditions[1]
          assert.are.equal("http-header", c.Field)
          assert.are.equal("X-Origin-Verify", c.HttpHeaderConfig.HttpHeaderName)
          assert.are.same({ header }, c.HttpHeaderConfig.Values)
          forwarded = forwarded + 1
        end
      end
      assert.are.equal(1, forwarded)

      -- the names point at CloudFront, A and AAAA
      local now = records(zone_id)
      for _, name in ipairs({ "www.shop.test.", "shop.test." }) do
        for _, kind in ipairs({ "A", "AAAA" }) do
          local rr = now[name .. " " .. kind]
          assert.is_truthy(rr, name .. " " .. kind)
          assert.are.equal("Z2FDTNDATAQYW2", rr.AliasTarget.HostedZoneId)
          assert.are.equal(d.DomainName .. ".", rr.AliasTarget.DNSName:gsub("%.?$", "."))
        end
      end

      -- the uploads bucket: not public, TLS only, read by this distribution only
      local bucket
      for _, b in ipairs(call("s3", "ListBuckets", {}).Buckets) do
        if b.Name:match("^shop%-eu%-west%-1%-media%-") then bucket = b.Name end
      end
      assert.is_truthy(bucket)
      local pab = call("s3", "GetPublicAccessBlock", { Bucket = bucket }).PublicAccessBlockConfiguration
      assert.are.same({ BlockPublicAcls = true, BlockPublicPolicy = true, IgnorePublicAcls = true,
        RestrictPublicBuckets = true }, pab)
      local policy = cjson.decode(call("s3", "GetBucketPolicy", { Bucket = bucket }).Policy)
      local tls, cdn
      for _, st in ipairs(policy.Statement) do
        local c = st.Condition or {}
        if st.Effect == "Deny" and c.Bool and c.Bool["aws:SecureTransport"] == "false" then tls = true end
        if st.Effect == "Allow" and c.StringEquals and c.StringEquals["AWS:SourceArn"] == d.ARN then cdn = true end
      end
      assert.is_true(tls)
      assert.is_true(cdn)

      -- backups: the database and the file system, and a copy in the second region
      local plans = call("backup", "ListBackupPlans", {}).BackupPlansList
      assert.are.equal(1, #plans)
      local sels = call("backup", "ListBackupSelections", { BackupPlanId = plans[1].BackupPlanId }).BackupSelectionsList
      assert.are.equal(1, #sels)
      local sel = call("backup", "GetBackupSelection", { BackupPlanId = plans[1].BackupPlanId,
        SelectionId = sels[1].SelectionId }).BackupSelection
      local covered = {}
      for _, arn in ipairs(sel.Resources) do covered[arn:match("^arn:aws:(%w+):")] = true end
      assert.is_true(covered.rds)
      assert.is_true(covered.elasticfilesystem)
      local copies = call("backup", "ListBackupVaults", {}, "eu-central-1").BackupVaultList
      assert.are.equal(1, #copies, cjson.encode(copies))

      -- nothing left to do
      local r = wpo { "plan", "shop.lua", "--detailed-exitcode" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)

      -- destroy: everything of its own, not the zone
      local destroyed = ok(wpo { "destroy", "shop.lua", "--yes" })
      assert.matches("Destroy complete! Resources: %d+ destroyed, 1 forgotten%.", destroyed.stdout)
      assert.are.equal(zone.HostedZone.Id, call("route53", "GetHostedZone", { Id = zone_id }).HostedZone.Id)
      assert.are.same(before, records(zone_id))
      assert.are.same({}, call("cloudfront", "ListDistributions", {}).DistributionList.Items or {})
      assert.are.same({}, certificates("eu-west-1"))
      assert.are.same({}, certificates("us-east-1"))
      assert.are.same({}, call("wafv2", "ListWebACLs", { Scope = "CLOUDFRONT" }, "us-east-1").WebACLs)
      for _, b in ipairs(call("s3", "ListBuckets", {}).Buckets) do assert.are_not.equal(bucket, b.Name) end
      assert.are.same({}, call("backup", "ListBackupVaults", {}).BackupVaultList)
      assert.are.same({}, call("backup", "ListBackupVaults", {}, "eu-central-1").BackupVaultList)
    end)
  end)
end)
