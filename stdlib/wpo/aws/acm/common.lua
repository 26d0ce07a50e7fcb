-- wpo.aws.acm.common: what aws.acm.certificate and
-- aws.acm.certificate_validation share. A certificate lives in the region of
-- its ARN, whatever the stack's region: its calls go there.
--
--   common.region_of(arn) -> the region in a certificate ARN | nil
--   common.client(ctx, arn?) -> the ACM client of the certificate's region
--        (the resource's own when arn is nil)
--   common.describe(ctx, arn) -> CertificateDetail | nil (gone)
--   common.records(cert) -> the validation records, one per distinct record
--        name, sorted by name: { { domain_name, name, type, value } }; nil while
--        ACM has not filled in every DomainValidationOption's ResourceRecord
--   common.wait_records(ctx, arn) -> cert, records: waits (typekit.wait) until
--        ACM has filled them in (it does a few seconds after the request)
--   common.RECORDS_WAIT, common.IN_USE_WAIT (a certificate's delete while
--        something holds it), common.ISSUED_WAIT (a validation's wait for
--        ISSUED: 45 minutes) = { timeout, interval }   (seconds; WPO_WAIT_SCALE
--        applies; module fields so that tests can shorten them)
--   common.released[certificate arn] = true: this process deletes (or
--        deleted) that certificate's validation
--   common.KEY_TYPES: every key algorithm ACM knows (ListCertificates lists
--        only RSA_1024 and RSA_2048 certificates unless told)
local kit = require "wpo.aws.typekit"

local M = {}

M.RECORDS_WAIT = { timeout = 300, interval = 5 }
M.IN_USE_WAIT = { timeout = 600, interval = 15 }
M.ISSUED_WAIT = { timeout = 2700, interval = 15 }
M.released = {}
M.KEY_TYPES = { "RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1" }

function M.region_of(arn)
  return tostring(arn or ""):match("^arn:aws[%w-]*:acm:([%w-]+):%d+:certificate/")
end

function M.client(ctx, arn)
  local region = arn and M.region_of(arn)
  if region and region ~= ctx.region then return ctx:aws("acm", { region = region }) end
  return ctx:aws("acm")
end

function M.describe(ctx, arn)
  local out, err = M.client(ctx, arn):pcall("DescribeCertificate", { CertificateArn = arn })
  if out then return out.Certificate end
  if kit.is_code(err, "ResourceNotFoundException") then return nil end
  error(err, 0)
end

function M.records(cert)
  local by_name, names = {}, {}
  for _, option in ipairs(cert.DomainValidationOptions or {}) do
    local rr = option.ResourceRecord
    if not rr then return nil end
    local name = rr.Name:lower()
    if not by_name[name] then
      names[#names + 1] = name
      by_name[name] = { domain_name = option.DomainName, name = name, type = rr.Type, value = rr.Value }
    end
  end
  table.sort(names)
  local out = {}
  for i, name in ipairs(names) do out[i] = by_name[name] end
  return out
end

function M.wait_records(ctx, arn)
  local cert, records
  kit.wait(ctx, function()
    cert = M.describe(ctx, arn)
    if not cert then
      kit.fail(ctx, "NotFound", "the certificate %s no longer exists", arn)
    end
    records = M.records(cert)
    return records ~= nil, records and "records filled in" or "validation records not filled in yet"
  end, { what = "ACM to fill in the DNS validation records of " .. arn, timeout = M.RECORDS_WAIT.timeout,
    interval = M.RECORDS_WAIT.interval })
  return cert, records
end

return M
