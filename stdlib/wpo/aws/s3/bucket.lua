-- aws.s3.bucket: an S3 bucket with its versioning, default encryption, public
-- access block, object ownership, lifecycle and tags.
--
-- Attributes:
--   bucket                  the bucket's name (force_new; S3's naming rules are
--                           checked while planning: 3-63 characters, lower-case
--                           letters, digits, dots and hyphens, ...)
--   versioning              keep every version of every object (default false;
--                           turned off on a versioned bucket it is Suspended:
--                           S3 never un-versions a bucket)
--   encryption              default encryption: { algorithm = "AES256" (default,
--                           SSE-S3) | "aws:kms", kms_key_id = key id or ARN
--                           (aws:kms only; without it S3's aws/s3 key),
--                           bucket_key = boolean (S3 Bucket Keys, aws:kms) }
--   block_public_access     all four public access block flags on (default true);
--                           false removes the bucket's public access block
--   object_ownership        "BucketOwnerEnforced" (default: ACLs off),
--                           "BucketOwnerPreferred" or "ObjectWriter"
--   noncurrent_expiration_days    lifecycle: noncurrent versions expire N days
--                           after they became noncurrent
--   abort_incomplete_upload_days  lifecycle: multipart uploads not finished N
--                           days after they began are aborted
--                           (with neither, the bucket has no lifecycle
--                           configuration; with either, the configuration is
--                           wpo's: rules made outside wpo are replaced)
--   force_destroy           delete every object version and delete marker with
--                           the bucket (default false: destroying a bucket that
--                           holds anything fails, saying so). A destroy reads the
--                           value last applied: set it, apply, then destroy
--   tags
-- Outputs: id (= bucket), arn (arn:aws:s3:::NAME), bucket_regional_domain_name
-- (NAME.s3.REGION.amazonaws.com), region.
--
-- CreateBucket names the region as its LocationConstraint (except in
-- us-east-1, where S3 refuses one). Exactly once: tags are the first
-- configuration written, and find looks for the bucket by name — one tagged
-- with this resource's address is adopted; so is one this account owns that is
-- untagged, empty and made in the last hour (the bucket of a create whose
-- answer was lost before its tags were written); a CreateBucket answered
-- BucketAlreadyOwnedByYou is that case too. Any other bucket of the name is an
-- error: this account's ("import it"), or another account's (names are global:
-- "choose another name"). S3 answers NoSuchBucket for a moment after
-- CreateBucket: those calls are sent again (typekit.late "s3_new_bucket").
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local value = require "wpo.value"

local ALGORITHMS = { "AES256", "aws:kms" }
local OWNERSHIP = { "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter" }
local PAB_FLAGS = { "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets" }
local RULE_NONCURRENT, RULE_ABORT = "wpo-noncurrent-expiration", "wpo-abort-incomplete-uploads"
-- how recent an untagged, empty bucket of the name must be to be taken as the
-- one a create whose answer was lost made
local ADOPT_WITHIN = 3600

local GONE = { NoSuchBucket = true }

-- S3's bucket naming rules (general purpose buckets) -> nil | the rule broken
local function name_problem(name)
  if #name < 3 or #name > 63 then return "must be 3 to 63 characters long" end
  if name:find("[^a-z0-9.-]") then return "may hold only lower-case letters, digits, dots and hyphens" end
  if not name:match("^[a-z0-9]") or not name:match("[a-z0-9]$") then
    return "must begin and end with a letter or a digit"
  end
  if name:find("..", 1, true) then return "must not hold two dots in a row" end
  if name:find(".-", 1, true) or name:find("-.", 1, true) then return "must not hold a dot next to a hyphen" end
  if name:match("^%d+%.%d+%.%d+%.%d+$") then return "must not look like an IP address" end
  if name:match("^xn%-%-") or name:match("^sthree%-") then return "must not begin with 'xn--' or 'sthree-'" end
  if name:match("%-s3alias$") or name:match("%-%-ol%-s3$") then
    return "must not end with '-s3alias' or '--ol-s3'"
  end
  return nil
end

local function validate(ctx, want)
  if type(want.bucket) == "string" then
    local problem = name_problem(want.bucket)
    if problem then kit.fail(ctx, "InvalidBucketName", "bucket %q: an S3 bucket name %s", want.bucket, problem) end
  end
  local enc = want.encryption
  if type(enc) == "table" and not value.is_lazy(enc) then
    local algorithm = enc.algorithm or "AES256"
    if algorithm ~= "aws:kms" and (enc.kms_key_id ~= nil or enc.bucket_key == true) then
      kit.fail(ctx, "InvalidAttribute", "encryption: kms_key_id and bucket_key = true are for algorithm = \"aws:kms\"")
    end
  end
  for _, name in ipairs({ "noncurrent_expiration_days", "abort_incomplete_upload_days" }) do
    local days = want[name]
    if math.type(days) == "integer" and days < 1 then
      kit.fail(ctx, "InvalidAttribute", "%s must be a number of days >= 1 (got %d)", name, days)
    end
  end
end

local function s3(ctx) return ctx:aws("s3") end

-- a call whose NoSuchX answer means "not configured": -> out | nil
local function get_config(ctx, op, bucket, absent)
  local out, err = s3(ctx):pcall(op, { Bucket = bucket })
  if out then return out end
  if kit.is_code(err, absent) then return nil end
  error(err, 0)
end

local function tags_of(ctx, bucket)
  local out = get_config(ctx, "GetBucketTagging", bucket, "NoSuchTagSet")
  return kit.user_tags(kit.tag_map(out and out.TagSet))
end

-- The key as the script wrote it when AWS names the same key (id vs ARN).
local function same_key(given, observed)
  if given == nil or observed == nil then return given == observed end
  return given == observed or observed:sub(-#given - 1) == "/" .. given
end

local function observe_encryption(ctx, bucket, given)
  local out = get_config(ctx, "GetBucketEncryption", bucket, "ServerSideEncryptionConfigurationNotFoundError")
  local rule = out and out.ServerSideEncryptionConfiguration and out.ServerSideEncryptionConfiguration.Rules
    and out.ServerSideEncryptionConfiguration.Rules[1] or {}
  local default = rule.ApplyServerSideEncryptionByDefault or {}
  given = type(given) == "table" and given or {}
  local enc = { algorithm = default.SSEAlgorithm or "AES256" }
  local key = default.KMSMasterKeyID
  if key ~= nil then enc.kms_key_id = same_key(given.kms_key_id, key) and given.kms_key_id or key end
  if rule.BucketKeyEnabled or given.bucket_key ~= nil then enc.bucket_key = rule.BucketKeyEnabled == true end
  return enc
end

local function observe_lifecycle(ctx, bucket)
  local out = get_config(ctx, "GetBucketLifecycleConfiguration", bucket, "NoSuchLifecycleConfiguration")
  local noncurrent, abort
  for _, r in ipairs(out and out.Rules or {}) do
    if r.Status == "Enabled" then
      if r.NoncurrentVersionExpiration and r.NoncurrentVersionExpiration.NoncurrentDays then
        noncurrent = noncurrent or r.NoncurrentVersionExpiration.NoncurrentDays
      end
      if r.AbortIncompleteMultipartUpload and r.AbortIncompleteMultipartUpload.DaysAfterInitiation then
        abort = abort or r.AbortIncompleteMultipartUpload.DaysAfterInitiation
      end
    end
  end
  return noncurrent, abort, out ~= nil
end

local function outputs(ctx, name, observed)
  local region = s3(ctx).region
  observed.id, observed.bucket = name, name
  observed.arn = "arn:aws:s3:::" .. name
  observed.region = region
  observed.bucket_regional_domain_name = string.format("%s.s3.%s.amazonaws.com", name, region)
  return observed
end

-- the bucket's state, or nil when it is gone
local function read(ctx, id, prior)
  local inputs = prior and prior.inputs or {}
  local out, err = s3(ctx):pcall("GetBucketVersioning", { Bucket = id })
  if not out then
    if GONE[err.code] then return nil end
    error(err, 0)
  end
  local pab = get_config(ctx, "GetPublicAccessBlock", id, "NoSuchPublicAccessBlockConfiguration")
  local conf = pab and pab.PublicAccessBlockConfiguration or {}
  local blocked = pab ~= nil
  for _, flag in ipairs(PAB_FLAGS) do blocked = blocked and conf[flag] == true end
  local own = get_config(ctx, "GetBucketOwnershipControls", id, "OwnershipControlsNotFoundError")
  local rules = own and own.OwnershipControls and own.OwnershipControls.Rules or {}
  local noncurrent, abort = observe_lifecycle(ctx, id)
  return outputs(ctx, id, {
    versioning = out.Status == "Enabled",
    encryption = observe_encryption(ctx, id, inputs.encryption),
    block_public_access = blocked,
    object_ownership = rules[1] and rules[1].ObjectOwnership or "ObjectWriter",
    noncurrent_expiration_days = noncurrent,
    abort_incomplete_upload_days = abort,
    tags = tags_of(ctx, id),
  })
end

local function lifecycle_rules(want)
  local rules = {}
  if want.noncurrent_expiration_days then
    rules[#rules + 1] = { ID = RULE_NONCURRENT, Status = "Enabled", Filter = { Prefix = "" },
      NoncurrentVersionExpiration = { NoncurrentDays = want.noncurrent_expiration_days } }
  end
  if want.abort_incomplete_upload_days then
    rules[#rules + 1] = { ID = RULE_ABORT, Status = "Enabled", Filter = { Prefix = "" },
      AbortIncompleteMultipartUpload = { DaysAfterInitiation = want.abort_incomplete_upload_days } }
  end
  return rules
end

local function encryption_rule(enc)
  enc = enc or {}
  local algorithm = enc.algorithm or "AES256"
  return { ApplyServerSideEncryptionByDefault = { SSEAlgorithm = algorithm, KMSMasterKeyID = enc.kms_key_id },
    BucketKeyEnabled = enc.bucket_key }
end

local function same_encryption(a, b)
  a, b = a or {}, b or {}
  return (a.algorithm or "AES256") == (b.algorithm or "AES256") and same_key(a.kms_key_id, b.kms_key_id)
    and (a.bucket_key == true) == (b.bucket_key == true)
end

-- Bring the bucket to `want`; current nil: a bucket just made (S3's defaults
-- are not assumed: every setting is written). Tags first: from then on find
-- knows the bucket as this resource's.
local function converge(ctx, name, current, want)
  local client = s3(ctx)
  local tags = want.tags or {}
  if not current or not value.equal(current.tags, kit.user_tags(tags)) then
    client:call("PutBucketTagging", { Bucket = name, Tagging = { TagSet = kit.tag_list(tags) } })
  end
  if current == nil and want.versioning or current and current.versioning ~= want.versioning then
    client:call("PutBucketVersioning", { Bucket = name,
      VersioningConfiguration = { Status = want.versioning and "Enabled" or "Suspended" } })
  end
  if not current or not same_encryption(current.encryption, want.encryption) then
    client:call("PutBucketEncryption", { Bucket = name,
      ServerSideEncryptionConfiguration = { Rules = { encryption_rule(want.encryption) } } })
  end
  if not current or current.block_public_access ~= want.block_public_access then
    if want.block_public_access then
      local conf = {}
      for _, flag in ipairs(PAB_FLAGS) do conf[flag] = true end
      client:call("PutPublicAccessBlock", { Bucket = name, PublicAccessBlockConfiguration = conf })
    else
      client:call("DeletePublicAccessBlock", { Bucket = name })
    end
  end
  if not current or current.object_ownership ~= want.object_ownership then
    client:call("PutBucketOwnershipControls", { Bucket = name,
      OwnershipControls = { Rules = { { ObjectOwnership = want.object_ownership } } } })
  end
  local rules = lifecycle_rules(want)
  if not current or current.noncurrent_expiration_days ~= want.noncurrent_expiration_days
      or current.abort_incomplete_upload_days ~= want.abort_incomplete_upload_days then
    if #rules > 0 then
      client:call("PutBucketLifecycleConfiguration", { Bucket = name, LifecycleConfiguration = { Rules = rules } })
    elseif current then
      client:call("DeleteBucketLifecycle", { Bucket = name })
    end
  end
end

local function is_empty(ctx, name)
  local out = s3(ctx):call("ListObjectVersions", { Bucket = name, MaxKeys = 1 })
  return not (out.Versions and out.Versions[1]) and not (out.DeleteMarkers and out.DeleteMarkers[1])
end

local function created_at(ctx, name)
  local out = s3(ctx):call("ListBuckets", {})
  for _, b in ipairs(out.Buckets or {}) do
    if b.Name == name then return aws.time(b.CreationDate) end
  end
  return nil
end

-- Is this bucket (of this account, untagged) the one a create of this
-- resource made before its answer was lost?
local function lost_create(ctx, name)
  local at = created_at(ctx, name)
  return at ~= nil and resource.clock.epoch() - at < ADOPT_WITHIN and is_empty(ctx, name)
end

local function taken(ctx, name)
  kit.fail(ctx, "BucketAlreadyExists", "the bucket name %s is taken by another AWS account (S3 bucket names are "
    .. "global): choose another name", name)
end

local function not_ours(ctx, name)
  kit.fail(ctx, "AlreadyExists", "a bucket named %s already exists in this account and is not this resource's (no "
    .. "tag %s=%s): import it with 'wpo import', or choose another name", name, resource.TAG_ADDRESS, ctx.address)
end

-- nil when there is no such bucket; its user tags (with wpo's) when this
-- account owns it
local function probe(ctx, name)
  local out, err = s3(ctx):pcall("GetBucketTagging", { Bucket = name })
  if out then return kit.tag_map(out.TagSet) end
  if kit.is_code(err, "NoSuchTagSet") then return {} end
  if GONE[err.code] then return nil end
  if kit.is_code(err, "AccessDenied") then taken(ctx, name) end
  error(err, 0)
end

local function adopt(ctx, name, tags)
  if kit.owns(ctx, tags) then return true end
  if next(kit.user_tags(tags)) == nil and lost_create(ctx, name) then
    ctx:log("adopting the bucket %s: this account's, untagged, empty and made within the hour (the create whose "
      .. "answer was lost)", name)
    return true
  end
  not_ours(ctx, name)
end

local function delete_everything(ctx, name)
  local client = s3(ctx)
  local n = 0
  while true do
    local out = client:call("ListObjectVersions", { Bucket = name, MaxKeys = 1000 })
    local batch = {}
    for _, v in ipairs(out.Versions or {}) do batch[#batch + 1] = { Key = v.Key, VersionId = v.VersionId } end
    for _, m in ipairs(out.DeleteMarkers or {}) do batch[#batch + 1] = { Key = m.Key, VersionId = m.VersionId } end
    if #batch == 0 then break end
    for chunk in kit.chunks(batch, 1000) do
      local res = client:call("DeleteObjects", { Bucket = name, Delete = { Objects = chunk, Quiet = true } })
      local failed = res.Errors and res.Errors[1]
      if failed then
        kit.fail(ctx, "DeleteObjectsFailed", "emptying the bucket %s: %s %s: %s", name, tostring(failed.Key),
          tostring(failed.Code), tostring(failed.Message))
      end
      n = n + #chunk
    end
  end
  if n > 0 then ctx:log("deleted %d object versions and delete markers from the bucket %s", n, name) end
end

return resource.define "aws.s3.bucket" {
  description = "an S3 bucket (versioning, default encryption, public access block, ownership, lifecycle)",
  attributes = {
    bucket = { type = "string", required = true, force_new = true },
    versioning = { type = "boolean", default = false },
    encryption = { type = "object", default = { algorithm = "AES256" }, fields = {
      algorithm = { type = "string", choices = ALGORITHMS },
      kms_key_id = { type = "string" },
      bucket_key = { type = "boolean" },
    } },
    block_public_access = { type = "boolean", default = true },
    object_ownership = { type = "string", default = "BucketOwnerEnforced", choices = OWNERSHIP },
    noncurrent_expiration_days = { type = "integer" },
    abort_incomplete_upload_days = { type = "integer" },
    force_destroy = { type = "boolean", default = false },
    tags = { type = "tags" },
  },
  outputs = { "arn", "bucket_regional_domain_name", "region" },

  check = function(ctx, after) validate(ctx, after) end,

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    validate(ctx, want)
    local tags = probe(ctx, want.bucket)
    if tags == nil then return {} end
    adopt(ctx, want.bucket, tags)
    return { read(ctx, want.bucket, { inputs = want }) }
  end,

  create = function(ctx, want, found)
    validate(ctx, want)
    local name = want.bucket
    if found then
      converge(ctx, name, found, want)
      return read(ctx, name, { inputs = want })
    end
    local client = s3(ctx)
    local region = client.region
    local out, err = client:pcall("CreateBucket", { Bucket = name,
      CreateBucketConfiguration = region ~= "us-east-1" and { LocationConstraint = region } or nil })
    if not out then
      if kit.is_code(err, "BucketAlreadyExists") then taken(ctx, name) end
      if not kit.is_code(err, "BucketAlreadyOwnedByYou") then error(err, 0) end
      -- ours already: this create's own retry, or one whose answer was lost
      adopt(ctx, name, probe(ctx, name) or {})
      local current = read(ctx, name, { inputs = want })
      converge(ctx, name, current, want)
      return read(ctx, name, { inputs = want })
    end
    converge(ctx, name, nil, want)
    return read(ctx, name, { inputs = want })
  end,

  read = read,

  update = function(ctx, id, old, new)
    validate(ctx, new)
    local current = read(ctx, id, { inputs = old })
    if not current then kit.fail(ctx, "NotFound", "the bucket %s no longer exists", id) end
    converge(ctx, id, current, new)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id, prior)
    local force = prior and prior.inputs and prior.inputs.force_destroy
    if force then
      local ok, err = pcall(delete_everything, ctx, id)
      if not ok then
        if kit.is_code(err, "NoSuchBucket") then return end
        error(err, 0)
      end
    end
    local out, err = s3(ctx):pcall("DeleteBucket", { Bucket = id })
    if out or GONE[err.code] then return end
    if kit.is_code(err, "BucketNotEmpty") then
      kit.fail(ctx, "BucketNotEmpty", "the bucket %s still holds objects (or their versions): empty it, or set "
        .. "force_destroy = true to delete them with it", id)
    end
    error(err, 0)
  end,

  late = kit.late { "s3_new_bucket" },

  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "s3:GetBucketVersioning", "s3:GetBucketPublicAccessBlock", "s3:GetBucketOwnershipControls",
      "s3:GetLifecycleConfiguration", "s3:GetEncryptionConfiguration", "s3:GetBucketTagging" },
    create = { "s3:CreateBucket", "s3:ListAllMyBuckets", "s3:ListBucketVersions", "s3:PutBucketTagging",
      "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketOwnershipControls", "s3:PutLifecycleConfiguration" },
    update = { "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
      "s3:PutBucketPublicAccessBlock", "s3:PutBucketOwnershipControls", "s3:PutLifecycleConfiguration" },
    delete = { "s3:DeleteBucket", "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion" },
    -- all but ListAllMyBuckets (which IAM cannot limit to one bucket)
    scoped = { "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteObject", "s3:DeleteObjectVersion",
      "s3:GetBucketOwnershipControls", "s3:GetBucketPublicAccessBlock", "s3:GetBucketTagging",
      "s3:GetBucketVersioning", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration",
      "s3:ListBucketVersions", "s3:PutBucketOwnershipControls", "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
      "s3:PutLifecycleConfiguration" },
    resources = function(a)
      if require("wpo.iam").known(a.bucket) then
        return { "arn:aws:s3:::" .. a.bucket, "arn:aws:s3:::" .. a.bucket .. "/*" }
      end
    end,
  },
}
