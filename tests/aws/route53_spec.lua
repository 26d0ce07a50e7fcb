-- aws.route53.zone and aws.route53.record against fakeaws (Route 53 is
-- global: the clients sign for us-east-1 whatever the stack's region):
-- private and public zones, records and aliases, waits on GetChange until
-- INSYNC, drift, import, adoption, delete.

describe("aws.route53 types against fakeaws", function()
  local aws = require "wpo.aws"
  local change = require "wpo.aws.route53.change"
  local fakeaws = require "fakeaws"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }  -- settle 1: every change is PENDING once
  local f, flow, r53, vpc
  local saved_poll
  setup(function()
    saved_poll = change.POLL
    change.POLL = { interval = 0.01, backoff = 1, max_interval = 0.01, timeout = 10 }
  end)
  teardown(function() change.POLL = saved_poll end)
  before_each(function()
    f, flow = suite.f, suite.flow
    r53 = suite:client("route53")
    vpc = suite:client("ec2"):call("CreateVpc", { CidrBlock = "10.9.0.0/16" }).Vpc.VpcId
  end)
  local raised = typeflow.raised

  local function sets(zone_id)
    local out = {}
    for _, s in ipairs(r53:collect("ListResourceRecordSets", { HostedZoneId = zone_id }).ResourceRecordSets) do
      out[s.Name .. " " .. s.Type] = s
    end
    return out
  end

  describe("aws.route53.zone", function()
    it("creates a private zone attached to the VPC, tagged, and with wait_insync waits until INSYNC", function()
      local rec = flow:create("aws.route53.zone", "internal", { name = "prod.internal", vpc_id = vpc,
        wait_insync = true })
      local got = r53:call("GetHostedZone", { Id = rec.id })
      assert.are.equal("prod.internal.", got.HostedZone.Name)
      assert.is_true(got.HostedZone.Config.PrivateZone)
      assert.are.same({ { VPCRegion = "eu-west-1", VPCId = vpc } }, { got.VPCs[1] })
      assert.matches("^Z%w+$", rec.id)
      assert.are.equal(rec.id, rec.outputs.zone_id)
      assert.is_true((f:calls()["route53.GetChange"] or 0) >= 2, "waited: PENDING, then INSYNC")
      local tags = r53:call("ListTagsForResource", { ResourceType = "hostedzone", ResourceId = rec.id })
      local map = {}
      for _, t in ipairs(tags.ResourceTagSet.Tags) do map[t.Key] = t.Value end
      assert.are.equal("aws.route53.zone.internal", map["wpo:address"])
      assert.are.same({}, flow:drift(rec))
    end)

    it("creates a public zone with name servers; comment and tags change in place", function()
      local rec = flow:create("aws.route53.zone", "site", { name = "example.com" })
      assert.are.equal(4, #rec.outputs.name_servers)
      rec = flow:update(rec, { name = "example.com", comment = "the site", tags = { team = "web" } })
      assert.are.equal("the site", r53:call("GetHostedZone", { Id = rec.id }).HostedZone.Config.Comment)
      assert.are.same({}, flow:drift(rec))
      r53:call("UpdateHostedZoneComment", { Id = rec.id })
      assert.are.same({ "comment" }, flow:drift(rec))
    end)

    it("adopts its own zone after a lost state, by caller reference or tag", function()
      local first = flow:create("aws.route53.zone", "internal", { name = "prod.internal", vpc_id = vpc })
      flow.generations["aws.route53.zone.internal"] = 0      -- the same create, run again
      local again = flow:create("aws.route53.zone", "internal", { name = "prod.internal", vpc_id = vpc })
      assert.are.equal(first.id, again.id)
      assert.are.equal(1, f:calls()["route53.CreateHostedZone"])
    end)

    it("refuses to delete a zone holding records unless force_destroy; gone is fine", function()
      local rec = flow:create("aws.route53.zone", "internal", { name = "prod.internal", vpc_id = vpc })
      r53:call("ChangeResourceRecordSets", { HostedZoneId = rec.id, ChangeBatch = { Changes = { {
        Action = "CREATE", ResourceRecordSet = { Name = "x.prod.internal", Type = "A", TTL = 60,
          ResourceRecords = { { Value = "10.9.0.1" } } } } } } })
      local err = raised(function() flow:delete(rec) end)
      assert.are.equal("HostedZoneNotEmpty", err.code)
      rec = flow:update(rec, { name = "prod.internal", vpc_id = vpc, force_destroy = true })
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      assert.matches("deleting 1 record%(s%) of zone prod.internal.", table.concat(flow.logs, "\n"))
    end)

    it("imports a zone by id", function()
      local id = r53:call("CreateHostedZone", { Name = "legacy.internal", CallerReference = "legacy",
        VPC = { VPCId = vpc, VPCRegion = "eu-west-1" } }).HostedZone.Id:gsub("^/hostedzone/", "")
      local rec = flow:import("aws.route53.zone", "legacy", id)
      assert.are.equal(vpc, rec.inputs.vpc_id)
      assert.are.equal("legacy.internal.", rec.inputs.name)
      r53:call("DeleteHostedZone", { Id = id })
      assert.is_nil(flow:read(rec))
    end)
  end)

  describe("aws.route53.record", function()
    local zone
    before_each(function()
      zone = flow:create("aws.route53.zone", "internal", { name = "prod.internal", vpc_id = vpc }).id
    end)

    it("without wait_insync, a zone and a record are created, changed and deleted without one GetChange", function()
      local z = flow:create("aws.route53.zone", "quiet", { name = "quiet.internal", vpc_id = vpc,
        force_destroy = true })
      local before = f:calls()["route53.GetChange"] or 0
      local rec = flow:create("aws.route53.record", "q", { zone_id = z.id, name = "q.quiet.internal", type = "A",
        records = { "10.0.0.9" } })
      assert.are.equal("10.0.0.9", sets(z.id)["q.quiet.internal. A"].ResourceRecords[1].Value)
      rec = flow:update(rec, { zone_id = z.id, name = "q.quiet.internal", type = "A", records = { "10.0.0.10" } })
      assert.are.equal("10.0.0.10", sets(z.id)["q.quiet.internal. A"].ResourceRecords[1].Value)
      flow:delete(rec)
      assert.is_nil(sets(z.id)["q.quiet.internal. A"])
      flow:delete(z)
      assert.are.equal(before, f:calls()["route53.GetChange"] or 0)
    end)

    it("in a zone it made, a record's create makes one call and the zone's create no read", function()
      local before = f:calls()
      local z = flow:create("aws.route53.zone", "fresh", { name = "fresh.internal", vpc_id = vpc })
      local rec = flow:create("aws.route53.record", "a", { zone_id = z.id, name = "a.fresh.internal", type = "A",
        records = { "10.0.0.7" } })
      local after = f:calls()
      local function made(op) return (after["route53." .. op] or 0) - (before["route53." .. op] or 0) end
      assert.are.same({ 0, 0, 0, 1, 1 }, { made("GetHostedZone"), made("ListTagsForResource"),
        made("ListResourceRecordSets"), made("ChangeResourceRecordSets"), made("CreateHostedZone") })
      -- what the create returned is what a read sees
      assert.are.same({}, flow:drift(z))
      assert.are.same({}, flow:drift(rec))
      -- a record put there by someone else is seen by reads, and a create of it adopts nothing: it fails
      r53:call("ChangeResourceRecordSets", { HostedZoneId = z.id, ChangeBatch = { Changes = { { Action = "CREATE",
        ResourceRecordSet = { Name = "b.fresh.internal.", Type = "A", TTL = 300,
          ResourceRecords = { { Value = "10.0.0.8" } } } } } } })
      local imported = flow:import("aws.route53.record", "b", z.id .. "_b.fresh.internal._A")
      assert.are.same({ "10.0.0.8" }, imported.inputs.records)
      local ok = pcall(flow.create, flow, "aws.route53.record", "b", { zone_id = z.id, name = "b.fresh.internal",
        type = "A", records = { "10.0.0.8" } })
      assert.is_false(ok)
    end)

    it("with wait_insync, creates a CNAME and waits for its change; updates by UPSERT; deletes with the held values",
        function()
      local before = f:calls()["route53.GetChange"] or 0
      local rec = flow:create("aws.route53.record", "db", { zone_id = zone, name = "db.prod.internal", type = "CNAME",
        records = { "wp.cluster-abc.eu-west-1.rds.amazonaws.com" }, wait_insync = true })
      assert.are.equal(zone .. "_db.prod.internal._CNAME", rec.id)
      assert.are.equal("db.prod.internal.", rec.outputs.fqdn)
      assert.is_true((f:calls()["route53.GetChange"] or 0) >= before + 2, "waited for PENDING -> INSYNC")
      local held = sets(zone)["db.prod.internal. CNAME"]
      assert.are.equal(300, held.TTL)
      assert.are.equal("wp.cluster-abc.eu-west-1.rds.amazonaws.com", held.ResourceRecords[1].Value)
      assert.are.same({}, flow:drift(rec))
      before = f:calls()["route53.GetChange"] or 0
      rec = flow:update(rec, { zone_id = zone, name = "db.prod.internal", type = "CNAME", ttl = 60,
        records = { "other.example.net" }, wait_insync = true })
      assert.is_true((f:calls()["route53.GetChange"] or 0) >= before + 2, "the UPSERT waited")
      held = sets(zone)["db.prod.internal. CNAME"]
      assert.are.same({ 60, "other.example.net" }, { held.TTL, held.ResourceRecords[1].Value })
      assert.are.same({}, flow:drift(rec))
      flow:delete(rec)
      assert.is_nil(sets(zone)["db.prod.internal. CNAME"])
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("creates an alias A record to an ALB", function()
      local rec = flow:create("aws.route53.record", "site", { zone_id = zone, name = "www.prod.internal", type = "A",
        alias = { name = "prod-alb-1234.eu-west-1.elb.amazonaws.com", zone_id = "Z32O12XQLNTSW2" } })
      local held = sets(zone)["www.prod.internal. A"]
      assert.are.equal("prod-alb-1234.eu-west-1.elb.amazonaws.com.", held.AliasTarget.DNSName)
      assert.is_false(held.AliasTarget.EvaluateTargetHealth)
      assert.is_nil(held.TTL)
      assert.are.same({}, flow:drift(rec))
    end)

    it("aliases A and AAAA records to an ALB and to a CloudFront distribution", function()
      local targets = {
        alb = { name = "Prod-ALB-1234.eu-west-1.elb.amazonaws.com", zone_id = "Z32O12XQLNTSW2",
          evaluate_target_health = true },
        cdn = { name = "d111111abcdef8.cloudfront.net", zone_id = "Z2FDTNDATAQYW2" },
      }
      local recs = {}
      for _, which in ipairs({ "alb", "cdn" }) do
        for _, rtype in ipairs({ "A", "AAAA" }) do
          recs[which .. rtype] = flow:create("aws.route53.record", which .. "-" .. rtype, { zone_id = zone,
            name = which .. ".prod.internal", type = rtype, alias = targets[which] })
        end
      end
      local held = sets(zone)
      for _, rtype in ipairs({ "A", "AAAA" }) do
        local a = held["alb.prod.internal. " .. rtype].AliasTarget
        assert.are.same({ "prod-alb-1234.eu-west-1.elb.amazonaws.com.", "Z32O12XQLNTSW2", true },
          { a.DNSName:lower(), a.HostedZoneId, a.EvaluateTargetHealth })
        local c = held["cdn.prod.internal. " .. rtype]
        assert.are.same({ "d111111abcdef8.cloudfront.net.", "Z2FDTNDATAQYW2", false },
          { c.AliasTarget.DNSName, c.AliasTarget.HostedZoneId, c.AliasTarget.EvaluateTargetHealth })
        assert.is_nil(c.TTL)
        assert.is_nil(c.ResourceRecords)
      end
      for _, rec in pairs(recs) do assert.are.same({}, flow:drift(rec)) end
      assert.are.equal(zone .. "_cdn.prod.internal._AAAA", recs.cdnAAAA.id)
      assert.are.equal("cdn.prod.internal.", recs.cdnAAAA.outputs.fqdn)
      flow:delete(recs.cdnAAAA)
      assert.is_nil(sets(zone)["cdn.prod.internal. AAAA"])
      assert.is_not_nil(sets(zone)["cdn.prod.internal. A"])
    end)

    it("sees an alias moved to another target, or turned into plain records, and heals it; imports an alias",
        function()
      local want = { zone_id = zone, name = "www.prod.internal", type = "A",
        alias = { name = "d111111abcdef8.cloudfront.net", zone_id = "Z2FDTNDATAQYW2" } }
      local rec = flow:create("aws.route53.record", "www", want)
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { { Action = "UPSERT",
        ResourceRecordSet = { Name = "www.prod.internal.", Type = "A", AliasTarget = {
          DNSName = "prod-alb-1234.eu-west-1.elb.amazonaws.com", HostedZoneId = "Z32O12XQLNTSW2",
          EvaluateTargetHealth = false } } } } } })
      local changed, observed = flow:drift(rec)
      assert.are.same({ "alias" }, changed)
      assert.are.equal("Z32O12XQLNTSW2", observed.alias.zone_id)
      rec = flow:update(rec, want)
      assert.are.equal("d111111abcdef8.cloudfront.net.", sets(zone)["www.prod.internal. A"].AliasTarget.DNSName)
      assert.are.same({}, flow:drift(rec))
      -- plain records in its place: both the records and the alias differ
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { { Action = "UPSERT",
        ResourceRecordSet = { Name = "www.prod.internal.", Type = "A", TTL = 300,
          ResourceRecords = { { Value = "10.9.1.1" } } } } } } })
      local plain
      changed, plain = flow:drift(rec)
      assert.are.same({ "alias", "records" }, changed)
      assert.are.same({ {}, { "10.9.1.1" } }, { plain.alias, plain.records })
      rec = flow:update(rec, want)
      assert.is_not_nil(sets(zone)["www.prod.internal. A"].AliasTarget)
      assert.are.same({}, flow:drift(rec))
      -- wpo import of the alias: the same values, no drift against them
      local imported = flow:import("aws.route53.record", "legacy", rec.id)
      assert.are.same({ name = "d111111abcdef8.cloudfront.net.", zone_id = "Z2FDTNDATAQYW2" }, imported.inputs.alias)
      assert.are.same({ "A", "www.prod.internal.", zone }, { imported.inputs.type, imported.inputs.name,
        imported.inputs.zone_id })
      assert.is_nil(imported.inputs.records)
      assert.is_nil(imported.inputs.ttl)
      assert.are.same({}, flow:drift(imported))
      assert.is_not_nil(require("wpo.resource").get("aws.route53.record").import, "wpo import takes it")
    end)

    it("sees plain records turned into an alias outside wpo, and puts the records back", function()
      local want = { zone_id = zone, name = "db.prod.internal", type = "A", records = { "10.9.1.10" } }
      local rec = flow:create("aws.route53.record", "db", want)
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { { Action = "UPSERT",
        ResourceRecordSet = { Name = "db.prod.internal.", Type = "A", AliasTarget = {
          DNSName = "prod-alb-1234.eu-west-1.elb.amazonaws.com", HostedZoneId = "Z32O12XQLNTSW2",
          EvaluateTargetHealth = false } } } } } })
      local changed, observed = flow:drift(rec)
      assert.are.same({ "alias", "records" }, changed)
      assert.are.same({}, observed.records)
      rec = flow:update(rec, want)
      local held = sets(zone)["db.prod.internal. A"]
      assert.are.same({ "10.9.1.10" }, { held.ResourceRecords[1].Value })
      assert.is_nil(held.AliasTarget)
      assert.are.same({}, flow:drift(rec))
    end)

    it("sees values changed outside wpo, a deleted record as gone, and imports one", function()
      local rec = flow:create("aws.route53.record", "db", { zone_id = zone, name = "db.prod.internal", type = "A",
        records = { "10.9.1.10" } })
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { { Action = "UPSERT",
        ResourceRecordSet = { Name = "db.prod.internal.", Type = "A", TTL = 300,
          ResourceRecords = { { Value = "10.9.1.99" } } } } } } })
      assert.are.same({ "records" }, flow:drift(rec))
      local imported = flow:import("aws.route53.record", "db", rec.id)
      assert.are.same({ "10.9.1.99" }, imported.inputs.records)
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { { Action = "DELETE",
        ResourceRecordSet = { Name = "db.prod.internal.", Type = "A", TTL = 300,
          ResourceRecords = { { Value = "10.9.1.99" } } } } } } })
      assert.is_nil(flow:read(rec))
    end)

    it("adopts a record already holding the wanted values; refuses one with other values", function()
      flow:create("aws.route53.record", "db", { zone_id = zone, name = "db.prod.internal", type = "A",
        records = { "10.9.1.10" } })
      flow:create("aws.route53.record", "db", { zone_id = zone, name = "db.prod.internal", type = "A",
        records = { "10.9.1.10" } })
      local err = raised(function()
        flow:create("aws.route53.record", "db2", { zone_id = zone, name = "db.prod.internal", type = "A",
          records = { "10.9.1.11" } })
      end)
      assert.are.equal("AlreadyExists", err.code)
      assert.are.equal("InvalidAttribute", raised(function()
        flow:create("aws.route53.record", "x", { zone_id = zone, name = "x.prod.internal", type = "A" }) end).code)
    end)

    it("times out naming the resource when a change never settles", function()
      local slow = fakeaws.start { region = "eu-west-1", settle = 1000 }
      local slow_flow = typeflow.new(slow, { stack = "prod", region = "eu-west-1" })
      local slow_vpc = aws.client("ec2", { region = "eu-west-1", endpoint = slow.url,
        credentials = { access_key = "test", secret_key = "test" }, rate_limit = false }):call("CreateVpc", { CidrBlock = "10.9.0.0/16" })
      change.POLL = { interval = 0.01, backoff = 1, max_interval = 0.01, timeout = 0.1 }
      local ok, err = pcall(slow_flow.create, slow_flow, "aws.route53.zone", "internal",
        { name = "prod.internal", vpc_id = slow_vpc.Vpc.VpcId, wait_insync = true })
      change.POLL = { interval = 0.01, backoff = 1, max_interval = 0.01, timeout = 10 }
      slow:stop()
      assert.is_false(ok)
      assert.are.equal("WaitTimeout", err.code)
      assert.matches("the new zone prod.internal. (aws.route53.zone.internal) to reach every Route 53 server",
        err.message, 1, true)
      assert.matches("last state: PENDING", err.message, 1, true)
    end)
  end)
  describe("aws.route53.zone_lookup", function()
    local function zone_named(name, reference, private_vpc)
      local params = { Name = name, CallerReference = reference }
      if private_vpc then params.VPC = { VPCId = private_vpc, VPCRegion = "eu-west-1" } end
      return (r53:call("CreateHostedZone", params).HostedZone.Id:gsub("^/hostedzone/", ""))
    end

    it("finds a zone made outside the stack by name and kind; destroying it only forgets it", function()
      local public = zone_named("example.com", "company")
      local private = zone_named("example.com", "inside", vpc)
      local rec = flow:create("aws.route53.zone_lookup", "site", { name = "example.com" })
      assert.are.same({ public, public }, { rec.id, rec.outputs.zone_id })
      assert.are.equal(4, #rec.outputs.name_servers)
      assert.are.same({}, flow:drift(rec))
      local inner = flow:create("aws.route53.zone_lookup", "inner", { name = "example.com.", private = true })
      assert.are.equal(private, inner.outputs.zone_id)
      assert.is_nil(inner.outputs.name_servers)
      assert.are.same({}, flow:drift(inner))
      flow:delete(rec)
      flow:delete(inner)
      assert.is_nil(f:calls()["route53.DeleteHostedZone"])
      assert.is_not_nil(r53:call("GetHostedZone", { Id = public }).HostedZone)
      assert.matches("forgetting the hosted zone " .. public .. " (not deleted", table.concat(flow.logs, "\n"), 1,
        true)
      local imported = flow:import("aws.route53.zone_lookup", "again", public)
      assert.are.same({ "example.com.", false }, { imported.inputs.name, imported.inputs.private })
      r53:call("DeleteHostedZone", { Id = public })
      assert.is_nil(flow:read(rec))
    end)

    it("fails naming the resource when no zone or several zones have the name", function()
      local err = raised(function() flow:create("aws.route53.zone_lookup", "site", { name = "example.org" }) end)
      assert.are.same({ "NotFound", "aws.route53.zone_lookup.site" }, { err.code, err.address })
      assert.matches("no public hosted zone named example.org.", err.message, 1, true)
      assert.matches("site.create_zone = true", err.message, 1, true)   -- how a WordPress stack makes one
      zone_named("example.org", "private-only", vpc)
      assert.are.equal("NotFound", raised(function()
        flow:create("aws.route53.zone_lookup", "site", { name = "example.org" }) end).code)
      local a, b = zone_named("example.org", "one"), zone_named("example.org", "two")
      err = raised(function() flow:create("aws.route53.zone_lookup", "site", { name = "example.org" }) end)
      assert.are.equal("Ambiguous", err.code)
      assert.matches("2 public hosted zones are named example.org.", err.message, 1, true)
      assert.matches(a, err.message, 1, true)
      assert.matches(b, err.message, 1, true)
    end)
  end)
end)
