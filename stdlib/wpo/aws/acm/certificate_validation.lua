-- aws.acm.certificate_validation: proves control of a certificate's names
-- by DNS: writes its validation CNAMEs into a public Route 53 hosted zone and
-- waits until ACM has issued it. Reference its certificate_arn output (not
-- the certificate's arn) where an issued certificate is needed (an HTTPS
-- listener, a CloudFront distribution). The certificate may live in another
-- region than the stack's (us-east-1 for CloudFront): its calls go to the
-- region of its ARN.
--
-- Attributes:
--   certificate_arn  the certificate (aws.acm.certificate's arn), force_new
--   zone_id          the public hosted zone holding the names ("Z..."), force_new
--   records_in_zone  true (the only value to give, and the default): read back
--                    false when a validation record is missing from the zone or
--                    holds another value, so that the plan updates the
--                    resource and the update writes the records again
-- Outputs: id ("<zone_id>_<certificate_arn>", what `wpo import` takes), certificate_arn, status
--   (ISSUED once done), records (the CNAMEs written: { { name, type, value } }).
--
-- Create: waits until ACM has filled in the records, UPSERTs them (CNAME,
-- TTL 300) in one change, then waits (typekit.wait, common.ISSUED_WAIT: 45 minutes)
-- until the certificate is ISSUED; FAILED or VALIDATION_TIMED_OUT is an error
-- naming the reason. Read: nil when the certificate is gone. Delete removes
-- the records it wrote, never the certificate; a record is kept while
-- another certificate of the account still needs it — same names, same
-- records: a regional certificate and its us-east-1 twin for CloudFront — when
-- that certificate (PENDING_VALIDATION or ISSUED) is found in the regions this
-- resource knows of (the certificate's, the stack's, us-east-1, and those of
-- the stack's other validations) and is not one whose validation this process
-- is deleting too. A record deleted all the same (the twin lives elsewhere)
-- reads as records_in_zone = false on its validation, whose next run writes it
-- again.
local aws = require "wpo.aws"
local change = require "wpo.aws.route53.change"
local common = require "wpo.aws.acm.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"
local names = require "wpo.aws.route53.common"

local TTL = 300

local TYPE = "aws.acm.certificate_validation"
local LIVE = { "PENDING_VALIDATION", "ISSUED" }

local fqdn, bare = names.fqdn, names.zone_id

local function split(id)
  return tostring(id):match("^([%w]+)_(arn:.+)$")
end

-- the values Route 53 holds for the CNAME `name`: the record set | nil (nil, "zone" when the zone is gone)
local function held(ctx, zone, name)
  local out, err = ctx:aws("route53"):pcall("ListResourceRecordSets", { HostedZoneId = zone,
    StartRecordName = fqdn(name), StartRecordType = "CNAME", MaxItems = "1" })
  if not out then
    if kit.is_code(err, "NoSuchHostedZone") then return nil, "zone" end
    error(err, 0)
  end
  local rrs = (out.ResourceRecordSets or {})[1]
  if rrs and fqdn(rrs.Name) == fqdn(name) and rrs.Type == "CNAME" and not rrs.SetIdentifier then return rrs end
  return nil
end

local function holds(rrs, value)
  for _, r in ipairs(rrs and rrs.ResourceRecords or {}) do
    if fqdn(r.Value) == fqdn(value) then return true end
  end
  return false
end

local function written(records)
  local out = {}
  for i, r in ipairs(records or {}) do out[i] = { name = r.name, type = r.type, value = r.value } end
  return out
end

local function observe(arn, zone, cert, inputs, in_zone)
  inputs = inputs or {}
  local records = common.records(cert)
  return {
    id = bare(zone) .. "_" .. arn,
    certificate_arn = arn,
    zone_id = (inputs.zone_id and bare(inputs.zone_id) == bare(zone)) and inputs.zone_id or bare(zone),
    status = cert.Status,
    records = records and written(records) or nil,
    records_in_zone = in_zone,
  }
end

local function check_zone(ctx, zone, records)
  local out, err = ctx:aws("route53"):pcall("GetHostedZone", { Id = zone })
  if not out then
    if kit.is_code(err, "NoSuchHostedZone") then ctx:fail("NotFound", "the hosted zone %s does not exist", zone) end
    error(err, 0)
  end
  local z = aws.required(out, "HostedZone")
  if z.Config and z.Config.PrivateZone then
    ctx:fail("InvalidAttribute", "the hosted zone %s (%s) is private: ACM validates through public DNS, give a "
      .. "public zone", zone, z.Name)
  end
  local apex = fqdn(z.Name)
  for _, r in ipairs(records) do
    local name = fqdn(r.name)
    if name ~= apex and name:sub(-(#apex + 1)) ~= "." .. apex then
      ctx:fail("InvalidAttribute", "the validation record %s (for %s) is not in the hosted zone %s (%s): give the "
        .. "zone of that name", name, r.domain_name, zone, apex)
    end
  end
end

local function write(ctx, zone, records)
  local changes = {}
  for i, r in ipairs(records) do
    change.sending(zone, fqdn(r.name), "CNAME")
    changes[i] = { Action = "UPSERT", ResourceRecordSet = { Name = r.name, Type = "CNAME", TTL = TTL,
      ResourceRecords = { { Value = r.value } } } }
  end
  local out = ctx:aws("route53"):call("ChangeResourceRecordSets", { HostedZoneId = zone,
    ChangeBatch = { Comment = "wpo " .. ctx.address, Changes = changes } })
  change.settle(ctx, aws.required(out, "ChangeInfo"), "the certificate's validation records", false)
end

local FAILED = { FAILED = true, VALIDATION_TIMED_OUT = true, REVOKED = true, EXPIRED = true, INACTIVE = true }

local function wait_issued(ctx, arn)
  return kit.wait(ctx, function()
    local cert = common.describe(ctx, arn)
    if not cert then kit.fail(ctx, "NotFound", "the certificate %s no longer exists", arn) end
    if cert.Status == "ISSUED" then return cert, cert.Status end
    if FAILED[cert.Status] then
      kit.fail(ctx, "CertificateNotIssued", "the certificate %s is %s%s, not ISSUED", arn, cert.Status,
        cert.FailureReason and (" (" .. cert.FailureReason .. ")") or "")
    end
    return false, cert.Status
  end, { what = "ACM to issue the certificate " .. arn, timeout = common.ISSUED_WAIT.timeout,
    interval = common.ISSUED_WAIT.interval })
end

local function validate(ctx, want)
  local arn, zone = want.certificate_arn, bare(want.zone_id)
  if want.records_in_zone == false then
    kit.fail(ctx, "InvalidAttribute", "records_in_zone is true or left out (it reads false when a record is missing)")
  end
  common.released[arn] = nil
  local _, records = common.wait_records(ctx, arn)
  check_zone(ctx, zone, records)
  write(ctx, zone, records)
  local cert = wait_issued(ctx, arn)
  return observe(arn, zone, cert, want, true)
end

local function read(ctx, id, prior)
  local zone, arn = split(id)
  if not zone then ctx:fail("InvalidId", "%s is not <zone id>_<certificate arn>", tostring(id)) end
  local cert = common.describe(ctx, arn)
  if not cert then return nil end
  local records = common.records(cert)
  local in_zone = true
  for _, r in ipairs(records or {}) do
    if not holds(held(ctx, zone, r.name), r.value) then in_zone = false end
  end
  return observe(arn, zone, cert, prior and prior.inputs, in_zone)
end

-- record name -> the ARN of another live certificate asking for it
local function needed_elsewhere(ctx, arn, records)
  local regions, order = {}, {}
  local function add(r) if r and not regions[r] then regions[r] = true; order[#order + 1] = r end end
  add(common.region_of(arn)); add(ctx.region); add("us-east-1")
  for _, other in ipairs(ctx:records(TYPE)) do
    local _, other_arn = split(other.id)
    add(common.region_of(other_arn))
  end
  local wanted = {}
  for _, r in ipairs(records) do wanted[r.name] = true end
  local needed = {}
  for _, region in ipairs(order) do
    local client = ctx:aws("acm", { region = region })
    for page in client:paginate("ListCertificates", { CertificateStatuses = LIVE,
        Includes = { keyTypes = common.KEY_TYPES } }) do
      for _, c in ipairs(page.CertificateSummaryList or {}) do
        if c.CertificateArn ~= arn and not common.released[c.CertificateArn] then
          local out, err = client:pcall("DescribeCertificate", { CertificateArn = c.CertificateArn })
          if not out and not kit.is_code(err, "ResourceNotFoundException") then error(err, 0) end
          local theirs = out and common.records(out.Certificate) or {}
          for _, r in ipairs(theirs) do
            if wanted[r.name] and not needed[r.name] then needed[r.name] = c.CertificateArn end
          end
        end
      end
    end
  end
  return needed
end

return resource.define "aws.acm.certificate_validation" {
  description = "the DNS validation of an ACM certificate: its CNAMEs in a public Route 53 zone, and the wait "
    .. "until it is issued",
  attributes = {
    certificate_arn = { type = "string", required = true, force_new = true },
    zone_id = { type = "string", required = true, force_new = true },
    records_in_zone = { type = "boolean", default = true },
  },
  outputs = { "certificate_arn", "status", "records" },

  -- Its create only UPSERTs records and waits, so running it again makes
  -- nothing twice; a validation already done (ISSUED, its records in the
  -- zone) is taken as it is, without writing or waiting again.
  found_by = "its certificate being ISSUED with its records in the zone",
  find = function(ctx, want)
    local done = read(ctx, bare(want.zone_id) .. "_" .. tostring(want.certificate_arn))
    if done and done.status == "ISSUED" and done.records_in_zone then return { done } end
    return {}
  end,
  create = function(ctx, want, found)
    if not found then return validate(ctx, want) end
    common.released[want.certificate_arn] = nil   -- its records are needed again
    return found
  end,

  read = read,
  import = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, _, _, new) return validate(ctx, new) end,

  delete = function(ctx, id, prior)
    local zone, arn = split(id)
    if not zone then return end
    common.released[arn] = true
    local ok, err = pcall(function()
      local cert = common.describe(ctx, arn)
      local records = cert and common.records(cert) or (prior and prior.outputs and prior.outputs.records) or {}
      if #records == 0 then return end
      local needed = needed_elsewhere(ctx, arn, records)
      local changes = {}
      for _, r in ipairs(records) do
        if needed[r.name] then
          ctx:log("keeping the validation record %s: the certificate %s asks for it too", r.name, needed[r.name])
        else
          local rrs, gone = held(ctx, zone, r.name)
          if gone then return end
          if rrs and holds(rrs, r.value) then
            change.sending(zone, fqdn(r.name), "CNAME")
            changes[#changes + 1] = { Action = "DELETE", ResourceRecordSet = rrs }
          end
        end
      end
      if #changes == 0 then return end
      local out, cerr = ctx:aws("route53"):pcall("ChangeResourceRecordSets", { HostedZoneId = zone,
        ChangeBatch = { Comment = "wpo " .. ctx.address, Changes = changes } })
      if not out then
        if kit.is_code(cerr, "NoSuchHostedZone") or (kit.is_code(cerr, "InvalidChangeBatch")
            and tostring(cerr.message):find("not found", 1, true)) then return end
        error(cerr, 0)
      end
      change.settle(ctx, out.ChangeInfo, "the deletion of the certificate's validation records", false)
    end)
    if not ok then
      common.released[arn] = nil
      error(err, 0)
    end
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "acm:DescribeCertificate", "route53:ListResourceRecordSets" },
    create = { "acm:DescribeCertificate", "route53:ChangeResourceRecordSets", "route53:GetHostedZone" },
    update = { "acm:DescribeCertificate", "route53:ChangeResourceRecordSets", "route53:GetHostedZone" },
    delete = { "acm:DescribeCertificate", "acm:ListCertificates", "route53:ChangeResourceRecordSets",
      "route53:ListResourceRecordSets" },
  },
}

