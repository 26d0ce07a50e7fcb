-- aws.acm.certificate and aws.acm.certificate_validation against fakeaws,
-- whose ACM issues a certificate only once its validation CNAMEs are held by
-- a public hosted zone of fakeaws's Route 53: create (records filled in late),
-- read, tags, delete (in use), import, drift, a lost answer, validation end to
-- end, and two certificates (eu-west-1 and us-east-1) sharing their records.

describe("aws.acm types against fakeaws", function()
  local aws = require "wpo.aws"
  local common = require "wpo.aws.acm.common"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }  -- settle 1: records show on the 2nd describe
  local f, flow, acm, edge_acm, r53, zone
  local raised = typeflow.raised
  local VALIDATION = "aws.acm.certificate_validation"

  setup(function()
    aws.set_wait_scale(0.001)
  end)
  teardown(function() aws.set_wait_scale(nil) end)
  before_each(function()
    f, flow = suite.f, suite.flow
    acm, r53 = suite:client("acm"), suite:client("route53")
    edge_acm = aws.client("acm", { region = "us-east-1", endpoint = f.url,
      credentials = { access_key = "test", secret_key = "test" }, rate_limit = false })
    zone = r53:call("CreateHostedZone", { Name = "example.com", CallerReference = "site" }).HostedZone.Id
      :gsub("^/hostedzone/", "")
    for k in pairs(common.released) do common.released[k] = nil end
  end)

  local function certs()
    return (f:state().acm or {}).certificate or {}
  end

  local function cname(name)
    for _, s in ipairs(r53:collect("ListResourceRecordSets", { HostedZoneId = zone }).ResourceRecordSets) do
      if s.Name == name and s.Type == "CNAME" then return s end
    end
    return nil
  end

  local function tags_of(client, arn)
    local map = {}
    for _, t in ipairs(client:call("ListTagsForCertificate", { CertificateArn = arn }).Tags) do map[t.Key] = t.Value end
    return map
  end

  local SITE = { domain_name = "example.com", subject_alternative_names = { "*.example.com", "example.com" } }

  local function with(extra)
    local out = {}
    for k, v in pairs(SITE) do out[k] = v end
    for k, v in pairs(extra or {}) do out[k] = v end
    return out
  end

  describe("aws.acm.certificate", function()
    it("requests a DNS-validated certificate, tagged, and waits for ACM to fill in its records", function()
      local rec = flow:create("aws.acm.certificate", "site", SITE)
      assert.matches("^arn:aws:acm:eu%-west%-1:%d+:certificate/[%x-]+$", rec.id)
      assert.are.equal(rec.id, rec.outputs.arn)
      assert.are.equal("PENDING_VALIDATION", rec.outputs.status)
      assert.is_true(f:calls()["acm.DescribeCertificate"] >= 2, "the first describe had no records yet")
      local records = rec.outputs.validation_records
      assert.are.equal(1, #records, "*.example.com shares example.com's record")
      assert.are.equal("CNAME", records[1].type)
      assert.are.equal("example.com", records[1].domain_name)
      assert.matches("^_%x+%.example%.com%.$", records[1].name)
      assert.matches("acm%-validations%.aws%.$", records[1].value)
      local held = certs()[rec.id]
      assert.are.same({ "example.com", "*.example.com" }, held.SubjectAlternativeNames)
      assert.are.equal("RSA_2048", held.KeyAlgorithm)
      assert.are.equal("aws.acm.certificate.site", tags_of(acm, rec.id)["wpo:address"])
      assert.are.same({}, flow:drift(rec))
    end)

    it("waits for validation records ACM fills in late (fakeaws eventual: acm-records)", function()
      f:eventual { seconds = 0.1, fixed = true, behaviours = { "acm-records" } }
      local ok, rec = pcall(flow.create, flow, "aws.acm.certificate", "site", SITE)
      local log = f:eventual().log
      f:eventual { seconds = 0 }
      assert.is_true(ok, tostring(rec))
      assert.are.equal(1, #rec.outputs.validation_records)
      assert.is_true(#log >= 1, "a describe was answered without the records")
      assert.are.same({ "acm-records", "no ResourceRecord" }, { log[1].behaviour, log[1].answer })
    end)

    it("sends one name list without repeats and keeps the script's order when it reads them back", function()
      local rec = flow:create("aws.acm.certificate", "multi", { domain_name = "example.com",
        subject_alternative_names = { "www.example.com", "api.example.com" }, key_algorithm = "EC_prime256v1" })
      assert.are.same({ "example.com", "www.example.com", "api.example.com" },
        certs()[rec.id].SubjectAlternativeNames)
      assert.are.equal(3, #rec.outputs.validation_records)
      local names = {}
      for i, r in ipairs(rec.outputs.validation_records) do names[i] = r.name end
      local sorted = { table.unpack(names) }
      table.sort(sorted)
      assert.are.same(sorted, names)
      assert.are.same({}, flow:drift(rec))
    end)

    it("changes tags in place and sees tags changed outside wpo", function()
      local rec = flow:create("aws.acm.certificate", "site", SITE)
      rec = flow:update(rec, with { tags = { team = "web" } })
      assert.are.equal("web", tags_of(acm, rec.id).team)
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, SITE)
      assert.is_nil(tags_of(acm, rec.id).team)
      acm:call("AddTagsToCertificate", { CertificateArn = rec.id, Tags = { { Key = "owner", Value = "x" } } })
      assert.are.same({ "tags" }, flow:drift(rec))
    end)

    it("reads a deleted certificate as gone, imports one by ARN, and deletes (gone is fine)", function()
      local rec = flow:create("aws.acm.certificate", "site", SITE)
      local imported = flow:import("aws.acm.certificate", "legacy", rec.id)
      assert.are.equal("example.com", imported.inputs.domain_name)
      assert.are.same({ "*.example.com" }, imported.inputs.subject_alternative_names)
      assert.are.equal("DNS", imported.inputs.validation_method)
      assert.are.equal("RSA_2048", imported.inputs.key_algorithm)
      assert.are.equal(rec.id, imported.outputs.arn)
      flow:delete(rec)
      assert.is_nil(certs()[rec.id])
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    -- every answer lost after ACM did it (a 500; or the connection closed
    -- half-way, inside the answer's headers for an answer this small): sent
    -- again with its token, then found by its tag
    for _, how in ipairs({ "error", "close" }) do
      it("makes one certificate when RequestCertificate's answer is lost (" .. how .. "), or the create runs again",
        function()
        f:faults { drop_rate = 1, drop_as = how, operations = { "acm.RequestCertificate" } }
        local rec = flow:create("aws.acm.certificate", "site", SITE)
        f:faults {}
        assert.are.same({ rec.id }, (function()
          local ids = {}
          for id in pairs(certs()) do ids[#ids + 1] = id end
          return ids
        end)())
        assert.are.equal(1, #rec.outputs.validation_records)
        assert.is_true(f:calls()["acm.RequestCertificate"] >= 2)
        flow.generations["aws.acm.certificate.site"] = 0      -- the same create, its state lost
        local again = flow:create("aws.acm.certificate", "site", SITE)
        assert.are.equal(rec.id, again.id)
        local n = 0
        for _ in pairs(certs()) do n = n + 1 end
        assert.are.equal(1, n)
      end)
    end

    it("refuses a validation method other than DNS, naming the resource", function()
      local err = raised(function() flow:create("aws.acm.certificate", "mail", with { validation_method = "EMAIL" }) end)
      assert.are.equal("InvalidAttribute", err.code)
      assert.are.equal("aws.acm.certificate.mail", err.address)
      assert.matches("validation_method EMAIL is not supported", err.message, 1, true)
      assert.is_nil(f:calls()["acm.RequestCertificate"])
    end)

    it("waits while a load balancer holds it: deleted once released, else fails naming it", function()
      local rec = flow:create("aws.acm.certificate", "site", SITE)
      local ec2, elb = suite:client("ec2"), suite:client("elbv2")
      local vpc = ec2:call("CreateVpc", { CidrBlock = "10.1.0.0/16" }).Vpc.VpcId
      local subnets = {}
      for i, az in ipairs({ "a", "b" }) do
        subnets[i] = ec2:call("CreateSubnet", { VpcId = vpc, CidrBlock = "10.1." .. i .. ".0/24",
          AvailabilityZone = "eu-west-1" .. az }).Subnet.SubnetId
      end
      local lb = elb:call("CreateLoadBalancer", { Name = "site", Subnets = subnets }).LoadBalancers[1].LoadBalancerArn
      local listener = elb:call("CreateListener", { LoadBalancerArn = lb, Protocol = "HTTPS", Port = 443,
        Certificates = { { CertificateArn = rec.id } }, DefaultActions = { { Type = "fixed-response",
          FixedResponseConfig = { StatusCode = "404" } } } }).Listeners[1].ListenerArn
      local saved = common.IN_USE_WAIT
      common.IN_USE_WAIT = { timeout = 20, interval = 1 }   -- scaled: 20 ms
      local err = raised(function() flow:delete(rec) end)
      common.IN_USE_WAIT = saved
      assert.are.equal("ResourceInUse", err.code)
      assert.are.equal("aws.acm.certificate.site", err.address)
      assert.matches(lb, err.message, 1, true)
      assert.is_true((f:calls(true)["acm.DeleteCertificate"].errors.ResourceInUseException or 0) >= 2,
        "sent again while in use")
      -- released while the delete waits (the listener goes when the wait first says so): the delete goes through
      local refused = f:calls(true)["acm.DeleteCertificate"].errors.ResourceInUseException
      flow.logs = setmetatable({}, { __newindex = function(t, k, v)
        rawset(t, k, v)
        if v:find("(now: in use by " .. lb, 1, true) then elb:call("DeleteListener", { ListenerArn = listener }) end
      end })
      flow:delete(rec)
      assert.is_nil(certs()[rec.id])
      assert.are.equal(refused + 1, f:calls(true)["acm.DeleteCertificate"].errors.ResourceInUseException)
      assert.matches("waiting for what uses the certificate to release it (now: in use by " .. lb .. ")",
        table.concat(flow.logs, "\n"), 1, true)
    end)
  end)

  describe("aws.acm.certificate_validation", function()
    it("writes the records into the zone and waits until ACM issues the certificate", function()
      local cert = flow:create("aws.acm.certificate", "site", SITE)
      local rec = flow:create(VALIDATION, "site", { certificate_arn = cert.id, zone_id = zone })
      assert.are.equal(zone .. "_" .. cert.id, rec.id)
      assert.are.equal(cert.id, rec.outputs.certificate_arn)
      assert.are.equal("ISSUED", rec.outputs.status)
      assert.are.equal("ISSUED", certs()[cert.id].Status)
      local r = cert.outputs.validation_records[1]
      local held = cname(r.name)
      assert.are.equal(r.value, held.ResourceRecords[1].Value)
      assert.are.same({}, flow:drift(rec))
      -- the record deleted outside wpo: drift, and the update writes it again
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { {
        Action = "DELETE", ResourceRecordSet = held } } } })
      assert.are.same({ "records_in_zone" }, flow:drift(rec))
      rec = flow:update(rec, { certificate_arn = cert.id, zone_id = zone })
      assert.is_not_nil(cname(r.name))
      assert.are.same({}, flow:drift(rec))
      -- delete removes the records, never the certificate
      flow:delete(rec)
      assert.is_nil(cname(r.name))
      assert.is_not_nil(certs()[cert.id])
      flow:delete(rec)
      flow:delete(cert)
      assert.is_nil(flow:read(rec))
    end)

    it("fails naming the resource and the reason when ACM cannot issue (CAA)", function()
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { { Action = "CREATE",
        ResourceRecordSet = { Name = "example.com", Type = "CAA", TTL = 300,
          ResourceRecords = { { Value = '0 issue "letsencrypt.org"' } } } } } } })
      local cert = flow:create("aws.acm.certificate", "site", SITE)
      local err = raised(function() flow:create(VALIDATION, "site", { certificate_arn = cert.id, zone_id = zone }) end)
      assert.are.equal("CertificateNotIssued", err.code)
      assert.are.equal("aws.acm.certificate_validation.site", err.address)
      assert.matches("is FAILED (CAA_ERROR)", err.message, 1, true)
    end)

    it("fails on a certificate whose validation timed out; refuses a private zone or one without the names",
        function()
      local cert = flow:create("aws.acm.certificate", "site", SITE)
      -- a private zone is refused before anything is written
      local vpc = suite:client("ec2"):call("CreateVpc", { CidrBlock = "10.2.0.0/16" }).Vpc.VpcId
      local private = r53:call("CreateHostedZone", { Name = "example.com", CallerReference = "p",
        VPC = { VPCId = vpc, VPCRegion = "eu-west-1" } }).HostedZone.Id:gsub("^/hostedzone/", "")
      local perr = raised(function() flow:create(VALIDATION, "p", { certificate_arn = cert.id, zone_id = private }) end)
      assert.are.equal("InvalidAttribute", perr.code)
      assert.matches("is private", perr.message, 1, true)
      local wrong = r53:call("CreateHostedZone", { Name = "example.net", CallerReference = "n" }).HostedZone.Id
        :gsub("^/hostedzone/", "")
      local werr = raised(function() flow:create(VALIDATION, "n", { certificate_arn = cert.id, zone_id = wrong }) end)
      assert.matches("is not in the hosted zone " .. wrong, werr.message, 1, true)
      assert.is_nil(f:calls()["route53.ChangeResourceRecordSets"])
      f:advance(73 * 3600)        -- ACM gives up after 72 hours
      local err = raised(function() flow:create(VALIDATION, "site", { certificate_arn = cert.id, zone_id = zone }) end)
      assert.are.equal("CertificateNotIssued", err.code)
      assert.matches("is VALIDATION_TIMED_OUT, not ISSUED", err.message, 1, true)
    end)

    it("two certificates for the same names share records: deleting one validation keeps what the other needs",
        function()
      local edge = typeflow.new(f, { stack = "prod", region = "us-east-1" })
      local regional = flow:create("aws.acm.certificate", "site", SITE)
      local global = edge:create("aws.acm.certificate", "edge", SITE)
      assert.are.same(regional.outputs.validation_records, global.outputs.validation_records)
      local va = flow:create(VALIDATION, "site", { certificate_arn = regional.id, zone_id = zone })
      -- the us-east-1 certificate's validation, declared in the eu-west-1 stack: its calls go to us-east-1
      local vb = flow:create(VALIDATION, "edge", { certificate_arn = global.id, zone_id = zone })
      assert.are.same({ "ISSUED", "ISSUED" }, { va.outputs.status, vb.outputs.status })
      assert.are.equal("ISSUED", edge_acm:call("DescribeCertificate", { CertificateArn = global.id }).Certificate.Status)
      local name = regional.outputs.validation_records[1].name
      flow:delete(va)
      assert.is_not_nil(cname(name), "kept: the us-east-1 certificate needs it")
      assert.matches("keeping the validation record " .. name .. ": the certificate " .. global.id,
        table.concat(flow.logs, "\n"), 1, true)
      assert.are.same({}, flow:drift(vb))
      flow:delete(regional)
      flow:delete(vb)
      assert.is_nil(cname(name), "the last validation removes it")
      -- both deleted in one run: neither keeps the record for the other
      regional = flow:create("aws.acm.certificate", "site2", SITE)
      va = flow:create(VALIDATION, "site2", { certificate_arn = regional.id, zone_id = zone })
      vb = flow:create(VALIDATION, "edge2", { certificate_arn = global.id, zone_id = zone })
      flow:delete(va)
      assert.is_not_nil(cname(name))
      flow:delete(vb)
      assert.is_nil(cname(name), "the regional certificate's validation went in this run: not kept for it")
      -- and had it been deleted anyway, the other's read sees it and the update heals it
      for k in pairs(common.released) do common.released[k] = nil end
      vb = flow:create(VALIDATION, "edge3", { certificate_arn = global.id, zone_id = zone })
      local held = cname(name)
      r53:call("ChangeResourceRecordSets", { HostedZoneId = zone, ChangeBatch = { Changes = { {
        Action = "DELETE", ResourceRecordSet = held } } } })
      assert.are.same({ "records_in_zone" }, flow:drift(vb))
      vb = flow:update(vb, { certificate_arn = global.id, zone_id = zone })
      assert.are.same({}, flow:drift(vb))
    end)
  end)
end)
