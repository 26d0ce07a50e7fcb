-- aws.acm.certificate: a public ACM certificate validated by DNS. It lives in
-- its provider's region: a certificate for CloudFront is requested in
-- us-east-1 (`provider = s:provider("edge", { region = "us-east-1" })`), one for
-- an ALB in the ALB's region. Validating it is aws.acm.certificate_validation's
-- work (it writes the records into a Route 53 zone and waits for ISSUED).
--
-- Attributes:
--   domain_name                the certificate's first name ("example.com",
--                              "*.example.com"), force_new
--   subject_alternative_names  its other names, force_new (domain_name need
--                              not be repeated; order and repeats do not matter)
--   validation_method          "DNS" (the only one: e-mail validation needs a
--                              person), default "DNS"
--   key_algorithm              RSA_2048 (default) | EC_prime256v1 | EC_secp384r1, force_new
--   tags
-- Outputs: id (= arn), arn, status (PENDING_VALIDATION, ISSUED, ...),
--   validation_records: the CNAMEs that prove control of the names, one per
--   distinct record name ("*.example.com" shares example.com's), sorted by
--   name: { { domain_name, name, type = "CNAME", value } }.
--
-- Create: RequestCertificate with an IdempotencyToken derived from the
-- resource (a request sent again within the hour answers the same
-- certificate) and its wpo:address tag (a certificate whose answer was lost
-- is found again by it: ListCertificates, ListTagsForCertificate); then waits
-- until ACM has filled in every validation record (a few seconds after the
-- request). Update: tags in place. Delete: DeleteCertificate; while a load
-- balancer or a distribution being deleted still holds it
-- (ResourceInUseException) the delete is sent again for up to common.IN_USE_WAIT (10 minutes),
-- then fails naming what uses it (InUseBy). Gone is fine.
local aws = require "wpo.aws"
local common = require "wpo.aws.acm.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { ResourceNotFoundException = true }

local function lower_set(list, drop)
  local out, seen = {}, {}
  for _, name in ipairs(list or {}) do
    local n = tostring(name):lower()
    if n ~= drop and not seen[n] then seen[n] = true; out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

-- the names beside domain_name, as the script gave them when they are the
-- same set (domain_name repeated or not, any order, any case)
local function alternative_names(cert, given)
  local domain = tostring(cert.DomainName):lower()
  local have = lower_set(cert.SubjectAlternativeNames, domain)
  if given ~= nil then
    local want = lower_set(given, tostring(cert.DomainName):lower())
    if kit.same_set(have, want) then return given end
  end
  if #have == 0 then return given and {} or nil end
  local out = {}
  for _, n in ipairs(cert.SubjectAlternativeNames or {}) do
    if n:lower() ~= domain then out[#out + 1] = n end
  end
  return out
end

local function tags_of(ctx, arn)
  local out, err = common.client(ctx, arn):pcall("ListTagsForCertificate", { CertificateArn = arn })
  if out then return kit.tag_map(out.Tags) end
  if GONE[err.code] then return {} end
  error(err, 0)
end

local function observe(ctx, cert, inputs, tags)
  inputs = inputs or {}
  local method = ((cert.DomainValidationOptions or {})[1] or {}).ValidationMethod
  return {
    id = cert.CertificateArn, arn = cert.CertificateArn, status = cert.Status,
    domain_name = cert.DomainName:lower() == tostring(inputs.domain_name or ""):lower() and inputs.domain_name
      or cert.DomainName,
    subject_alternative_names = alternative_names(cert, inputs.subject_alternative_names),
    validation_method = method or inputs.validation_method,
    key_algorithm = cert.KeyAlgorithm,
    validation_records = common.records(cert) or {},
    tags = kit.user_tags(tags or tags_of(ctx, cert.CertificateArn)),
  }
end

local function read(ctx, id, prior)
  local cert = common.describe(ctx, id)
  return cert and observe(ctx, cert, prior and prior.inputs)
end

local function set_tags(ctx, arn, old, new)
  local client = common.client(ctx, arn)
  local set, remove = kit.tag_changes(old, new)
  if #remove > 0 then
    local keys = {}
    for i, k in ipairs(remove) do keys[i] = { Key = k } end
    client:call("RemoveTagsFromCertificate", { CertificateArn = arn, Tags = keys })
  end
  if next(set) then client:call("AddTagsToCertificate", { CertificateArn = arn, Tags = kit.tag_list(set) }) end
end

local function check(ctx, want)
  -- (while planning, a value known only after apply is a table: not judged yet)
  if type(want.validation_method) == "string" and want.validation_method ~= "DNS" then
    kit.fail(ctx, "InvalidAttribute", "validation_method %s is not supported: wpo validates certificates by DNS "
      .. "(validation_method = \"DNS\", with aws.acm.certificate_validation)", tostring(want.validation_method))
  end
end

-- the certificates of the region named domain_name, with their key algorithm
local function candidates(ctx, want)
  local client = ctx:aws("acm")
  local out = {}
  for page in client:paginate("ListCertificates", { Includes = { keyTypes = { want.key_algorithm } } }) do
    for _, c in ipairs(page.CertificateSummaryList or {}) do
      if tostring(c.DomainName):lower() == want.domain_name:lower() then out[#out + 1] = c.CertificateArn end
    end
  end
  return out
end

return resource.define "aws.acm.certificate" {
  description = "a public ACM certificate validated by DNS, in its provider's region (us-east-1 for CloudFront)",
  attributes = {
    domain_name = { type = "string", required = true, force_new = true },
    subject_alternative_names = { type = "list", of = "string", force_new = true },
    validation_method = { type = "string", default = "DNS" },
    key_algorithm = { type = "string", default = "RSA_2048", force_new = true,
      choices = { "RSA_2048", "EC_prime256v1", "EC_secp384r1" } },
    tags = { type = "tags" },
  },
  outputs = { "arn", "status", "validation_records" },

  check = function(ctx, after) check(ctx, after) end,

  found_by = "its idempotency token or its wpo:address tag",
  find = function(ctx, want)
    local mine = {}
    for _, arn in ipairs(candidates(ctx, want)) do
      local tags = tags_of(ctx, arn)
      if kit.owns(ctx, tags) then mine[#mine + 1] = { id = arn, tags = tags } end
    end
    return mine
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local arn
    if found then
      arn = found.id
      set_tags(ctx, arn, found.tags, want.tags)
    else
      local names = lower_set(want.subject_alternative_names, want.domain_name:lower())
      local params = { DomainName = want.domain_name, ValidationMethod = "DNS", KeyAlgorithm = want.key_algorithm,
        IdempotencyToken = ctx:client_token():sub(1, 32), Tags = kit.tag_list(want.tags) }
      if #names > 0 then
        params.SubjectAlternativeNames = { want.domain_name }
        for _, n in ipairs(want.subject_alternative_names) do
          if n:lower() ~= want.domain_name:lower() then params.SubjectAlternativeNames[#params.SubjectAlternativeNames + 1] = n end
        end
      end
      arn = aws.required(ctx:aws("acm"):call("RequestCertificate", params), "CertificateArn")
    end
    local cert = common.wait_records(ctx, arn)
    local tags = {}
    for k, v in pairs(want.tags or {}) do tags[k] = v end
    return observe(ctx, cert, want, tags)
  end,

  read = read,
  import = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    check(ctx, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the certificate %s no longer exists", id) end
    set_tags(ctx, id, current.tags, new.tags)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id)
    local client = common.client(ctx, id)
    local in_use
    local ok, err = pcall(kit.wait, ctx, function()
      local out, derr = client:pcall("DeleteCertificate", { CertificateArn = id })
      if out or GONE[derr.code] then return true end
      if not kit.is_code(derr, "ResourceInUseException") then error(derr, 0) end
      local cert = common.describe(ctx, id)
      if not cert then return true end
      in_use = cert.InUseBy or {}
      return false, "in use by " .. (#in_use > 0 and table.concat(in_use, ", ") or "something")
    end, { what = "what uses the certificate to release it", timeout = common.IN_USE_WAIT.timeout,
      interval = common.IN_USE_WAIT.interval })
    if ok then return end
    if kit.is_code(err, "WaitTimeout") then
      ctx:fail("ResourceInUse", "the certificate %s is still in use by %s after %s: delete or change what uses "
        .. "it first", id, (in_use and #in_use > 0) and table.concat(in_use, ", ") or "another AWS resource",
        err.message:match("after (%S+)") or "waiting")
    end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "acm:DescribeCertificate", "acm:ListCertificates", "acm:ListTagsForCertificate" },
    create = { "acm:AddTagsToCertificate", "acm:RequestCertificate" },
    update = { "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate" },
    delete = { "acm:DeleteCertificate" },
  },
}

