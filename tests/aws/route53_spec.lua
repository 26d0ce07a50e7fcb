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
end)
