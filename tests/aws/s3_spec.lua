-- aws.s3.bucket, aws.s3.bucket_policy and wpo.aws.s3.policy against fakeaws:
-- create (with the region's LocationConstraint), read, update, import, drift
-- (changed and deleted outside wpo), delete (refused when not empty unless
-- force_destroy), adoption after a lost answer, another account's name, and
-- S3's naming rules while planning.

describe("aws.s3 types against fakeaws", function()
  local cjson = require "cjson"
  local typeflow = require "typeflow"
  local iampolicy = require "wpo.aws.iam.policy"
  local s3policy = require "wpo.aws.s3.policy"

  local suite = typeflow.suite { stack = "prod", region = "eu-west-1" }
  local f, flow, s3
  setup(function() s3 = suite:client("s3") end)
  before_each(function() f, flow = suite.f, suite.flow end)
  local raised = typeflow.raised

  local function held(name)
    return ((f:state().s3 or {}).bucket or {})[name]
  end

  local function tags(name)
    local out = {}
    for _, t in ipairs(held(name).Tags or {}) do out[t.Key] = t.Value end
    return out
  end

  local function put(bucket, key, body)
    s3:call("PutObject", { Bucket = bucket, Key = key, Body = body })
  end

  describe("aws.s3.bucket", function()
    it("creates a private, encrypted bucket in the stack's region, tagged with its stack and address", function()
      local rec = flow:create("aws.s3.bucket", "media", { bucket = "acme-media", tags = { team = "web" } })
      local b = held("acme-media")
      assert.are.equal("eu-west-1", b.Region)
      assert.are.same({ team = "web", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.s3.bucket.media" },
        tags("acme-media"))
      assert.are.equal("AES256", b.Encryption.Rules[1].ApplyServerSideEncryptionByDefault.SSEAlgorithm)
      assert.are.same({ BlockPublicAcls = true, IgnorePublicAcls = true, BlockPublicPolicy = true,
        RestrictPublicBuckets = true }, b.PublicAccessBlock)
      assert.are.equal("BucketOwnerEnforced", b.OwnershipControls.Rules[1].ObjectOwnership)
      assert.are.equal(cjson.null, b.Versioning)     -- never versioned
      assert.is_nil(b.Lifecycle)
      assert.are.equal("acme-media", rec.id)
      assert.are.same({ id = "acme-media", arn = "arn:aws:s3:::acme-media", region = "eu-west-1",
        bucket_regional_domain_name = "acme-media.s3.eu-west-1.amazonaws.com" }, rec.outputs)
      assert.are.same({}, flow:drift(rec))
    end)

    it("sends no LocationConstraint in us-east-1, and fakeaws refuses a mismatched one as S3 does", function()
      local east = typeflow.new(f, { stack = "prod", region = "us-east-1" })
      local rec = east:create("aws.s3.bucket", "b", { bucket = "acme-east" })
      assert.are.equal("us-east-1", held("acme-east").Region)
      assert.are.equal("acme-east.s3.us-east-1.amazonaws.com", rec.outputs.bucket_regional_domain_name)
      local err = raised(function()
        s3:call("CreateBucket", { Bucket = "acme-west", CreateBucketConfiguration = { LocationConstraint = "us-west-2" } })
      end)
      assert.are.equal("IllegalLocationConstraintException", err.code)
    end)

    it("sets versioning, KMS encryption, ownership and the lifecycle rules, and updates them in place", function()
      local rec = flow:create("aws.s3.bucket", "state", { bucket = "acme-state", versioning = true,
        encryption = { algorithm = "aws:kms", kms_key_id = "alias/state", bucket_key = true },
        object_ownership = "BucketOwnerPreferred", noncurrent_expiration_days = 90, abort_incomplete_upload_days = 7 })
      local b = held("acme-state")
      assert.are.equal("Enabled", b.Versioning)
      assert.are.same({ ApplyServerSideEncryptionByDefault = { SSEAlgorithm = "aws:kms", KMSMasterKeyID = "alias/state" },
        BucketKeyEnabled = true }, b.Encryption.Rules[1])
      assert.are.equal("BucketOwnerPreferred", b.OwnershipControls.Rules[1].ObjectOwnership)
      assert.are.equal(2, #b.Lifecycle)
      assert.are.same({ NoncurrentDays = 90 }, b.Lifecycle[1].NoncurrentVersionExpiration)
      assert.are.same({ DaysAfterInitiation = 7 }, b.Lifecycle[2].AbortIncompleteMultipartUpload)
      assert.are.same({}, flow:drift(rec))

      rec = flow:update(rec, { bucket = "acme-state", versioning = false, block_public_access = false,
        noncurrent_expiration_days = 30 })
      b = held("acme-state")
      assert.are.equal("Suspended", b.Versioning)
      assert.are.equal("AES256", b.Encryption.Rules[1].ApplyServerSideEncryptionByDefault.SSEAlgorithm)
      assert.is_nil(b.PublicAccessBlock)
      assert.are.equal("BucketOwnerEnforced", b.OwnershipControls.Rules[1].ObjectOwnership)
      assert.are.equal(1, #b.Lifecycle)
      assert.are.same({ NoncurrentDays = 30 }, b.Lifecycle[1].NoncurrentVersionExpiration)
      assert.are.same({}, flow:drift(rec))

      rec = flow:update(rec, { bucket = "acme-state", tags = { cost = "ops" } })
      assert.is_nil(held("acme-state").Lifecycle)
      assert.are.equal("ops", tags("acme-state").cost)
      assert.are.same({}, flow:drift(rec))
    end)

    it("sees changes made outside wpo, and a bucket deleted outside wpo as gone", function()
      local rec = flow:create("aws.s3.bucket", "b", { bucket = "acme-b", versioning = true })
      s3:call("PutBucketVersioning", { Bucket = "acme-b", VersioningConfiguration = { Status = "Suspended" } })
      s3:call("DeletePublicAccessBlock", { Bucket = "acme-b" })
      s3:call("PutBucketLifecycleConfiguration", { Bucket = "acme-b", LifecycleConfiguration = { Rules = {
        { ID = "x", Status = "Enabled", Filter = { Prefix = "" }, NoncurrentVersionExpiration = { NoncurrentDays = 5 } } } } })
      local changed, observed = flow:drift(rec)
      assert.are.same({ "block_public_access", "noncurrent_expiration_days", "versioning" }, changed)
      assert.is_false(observed.versioning)
      assert.are.equal(5, observed.noncurrent_expiration_days)
      rec = flow:update(rec, { bucket = "acme-b", versioning = true })
      assert.are.same({}, flow:drift(rec))
      assert.is_nil(held("acme-b").Lifecycle)
      s3:call("DeleteBucket", { Bucket = "acme-b" })
      assert.is_nil(flow:read(rec))
    end)

    it("imports a bucket by name with the settings it has", function()
      s3:call("CreateBucket", { Bucket = "legacy-site", CreateBucketConfiguration = { LocationConstraint = "eu-west-1" } })
      s3:call("PutBucketVersioning", { Bucket = "legacy-site", VersioningConfiguration = { Status = "Enabled" } })
      s3:call("PutBucketTagging", { Bucket = "legacy-site", Tagging = { TagSet = { { Key = "owner", Value = "ops" } } } })
      local rec = flow:import("aws.s3.bucket", "legacy", "legacy-site")
      assert.are.equal("legacy-site", rec.id)
      assert.is_true(rec.inputs.versioning)
      assert.is_true(rec.inputs.block_public_access)
      assert.are.same({ algorithm = "AES256" }, rec.inputs.encryption)
      assert.are.same({ owner = "ops" }, rec.inputs.tags)
      assert.are.equal("arn:aws:s3:::legacy-site", rec.outputs.arn)
      assert.is_nil(flow:import("aws.s3.bucket", "none", "no-such-bucket"))
    end)

    it("finds its bucket again after a lost answer, and refuses a bucket it does not manage", function()
      local first = flow:create("aws.s3.bucket", "b", { bucket = "acme-b" })
      local again = flow:create("aws.s3.bucket", "b", { bucket = "acme-b", versioning = true })
      assert.are.equal(first.id, again.id)
      assert.are.equal("Enabled", held("acme-b").Versioning)
      assert.are.equal(1, f:calls()["s3.CreateBucket"])
      local err = raised(function() flow:create("aws.s3.bucket", "other", { bucket = "acme-b" }) end)
      assert.are.equal("AlreadyExists", err.code)
      assert.matches("a bucket named acme-b already exists in this account and is not this resource's", err.message,
        1, true)
      assert.are.equal("aws.s3.bucket.other", err.address)
    end)

    it("adopts the untagged, empty bucket a create whose answer was lost left, but not one holding objects", function()
      -- CreateBucket carried out, its answer lost, nothing after it
      s3:call("CreateBucket", { Bucket = "acme-lost", CreateBucketConfiguration = { LocationConstraint = "eu-west-1" } })
      local rec = flow:create("aws.s3.bucket", "lost", { bucket = "acme-lost" })
      assert.are.equal("acme-lost", rec.id)
      assert.are.equal("aws.s3.bucket.lost", tags("acme-lost")["wpo:address"])
      assert.matches("adopting the bucket acme-lost", table.concat(flow.logs, "\n"), 1, true)
      -- the same through CreateBucket's own answer (find saw nothing: S3 had not shown it yet)
      s3:call("CreateBucket", { Bucket = "acme-lost2", CreateBucketConfiguration = { LocationConstraint = "eu-west-1" } })
      local t = require("wpo.resource").get("aws.s3.bucket")
      local want = flow:want("aws.s3.bucket", "lost2", { bucket = "acme-lost2" })
      local observed = t.create(flow:ctx("aws.s3.bucket", "lost2"), want, nil)
      assert.are.equal("acme-lost2", observed.id)
      assert.are.equal("aws.s3.bucket.lost2", tags("acme-lost2")["wpo:address"])
      -- a bucket with something in it is someone's
      s3:call("CreateBucket", { Bucket = "acme-full", CreateBucketConfiguration = { LocationConstraint = "eu-west-1" } })
      put("acme-full", "a.txt", "x")
      local err = raised(function() flow:create("aws.s3.bucket", "full", { bucket = "acme-full" }) end)
      assert.are.equal("AlreadyExists", err.code)
    end)

    it("makes the bucket once when CreateBucket's answers are lost", function()
      for _, mode in ipairs({ "error", "close" }) do
        f:reset()
        f:faults { drop_rate = 1, drop_as = mode, operations = { "s3.CreateBucket" } }
        local rec = flow:create("aws.s3.bucket", "b", { bucket = "acme-lost-" .. mode, versioning = true })
        f:faults {}
        assert.are.equal("acme-lost-" .. mode, rec.id)
        assert.are.same({ "acme-lost-" .. mode }, (function()
          local names = {}
          for name in pairs((f:state().s3 or {}).bucket or {}) do names[#names + 1] = name end
          return names
        end)())
        assert.are.equal("aws.s3.bucket.b", tags("acme-lost-" .. mode)["wpo:address"])
        assert.are.equal("Enabled", held("acme-lost-" .. mode).Versioning)
        assert.is_true(f:calls()["s3.CreateBucket"] >= 1)
      end
    end)

    it("says so when another account owns the name", function()
      f:post("/_fake/s3/foreign-bucket", { name = "taken-name" })
      local err = raised(function() flow:create("aws.s3.bucket", "b", { bucket = "taken-name" }) end)
      assert.are.equal("BucketAlreadyExists", err.code)
      assert.matches("the bucket name taken%-name is taken by another AWS account", err.message)
      -- and CreateBucket's own answer, when the name looked free
      local t = require("wpo.resource").get("aws.s3.bucket")
      local ctx = flow:ctx("aws.s3.bucket", "b")
      err = raised(function() t.create(ctx, flow:want("aws.s3.bucket", "b", { bucket = "taken-name" }), nil) end)
      assert.are.equal("BucketAlreadyExists", err.code)
      assert.are.equal(1, f:calls()["s3.CreateBucket"])
    end)

    it("refuses to delete a bucket holding objects unless force_destroy, which empties every version", function()
      local rec = flow:create("aws.s3.bucket", "b", { bucket = "acme-b", versioning = true })
      put("acme-b", "a.txt", "1")
      put("acme-b", "a.txt", "2")
      s3:call("DeleteObject", { Bucket = "acme-b", Key = "a.txt" })     -- a delete marker
      put("acme-b", "b.txt", "3")
      local err = raised(function() flow:delete(rec) end)
      assert.are.equal("BucketNotEmpty", err.code)
      assert.are.equal("aws.s3.bucket.b", err.address)
      assert.matches("still holds objects", err.message)
      assert.is_nil(tostring(err.message):find("\n"))
      assert.is_table(held("acme-b"))
      rec = flow:update(rec, { bucket = "acme-b", versioning = true, force_destroy = true })
      flow:delete(rec)
      assert.is_nil(held("acme-b"))
      assert.is_nil((f:state().s3 or {}).object)
      flow:delete(rec)
    end)

    it("checks S3's naming rules and the encryption settings while planning, before any call", function()
      local t = require("wpo.resource").get("aws.s3.bucket")
      local ctx = flow:ctx("aws.s3.bucket", "b")
      for name, rule in pairs({ ["Acme"] = "lower-case", ["ab"] = "3 to 63", ["a..b"] = "two dots",
        ["192.168.1.1"] = "IP address", ["-abc"] = "begin and end", ["xn--abc"] = "xn--" }) do
        local err = raised(function() t.check(ctx, { bucket = name }) end)
        assert.are.equal("InvalidBucketName", err.code)
        assert.matches(rule, err.message, 1, true)
        assert.are.equal("aws.s3.bucket.b", err.address)
      end
      local err = raised(function() t.check(ctx, { bucket = "ok-name", encryption = { kms_key_id = "k" } }) end)
      assert.are.equal("InvalidAttribute", err.code)
      err = raised(function() t.check(ctx, { bucket = "ok-name", noncurrent_expiration_days = 0 }) end)
      assert.are.equal("InvalidAttribute", err.code)
      t.check(ctx, { bucket = "ok-name.example-1", encryption = { algorithm = "AES256", bucket_key = false } })
      assert.are.same({}, f:calls())
    end)
  end)

  describe("aws.s3.bucket_policy and wpo.aws.s3.policy", function()
    local arn = "arn:aws:s3:::acme-media"

    it("builds the TLS-only and CloudFront-read statements", function()
      assert.are.same({ Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*",
        Resource = { arn, arn .. "/*" }, Condition = { Bool = { ["aws:SecureTransport"] = "false" } } },
        s3policy.tls_only(arn))
      local dist = "arn:aws:cloudfront::123456789012:distribution/E1"
      assert.are.same({ Sid = "AllowCloudFrontRead", Effect = "Allow",
        Principal = { Service = "cloudfront.amazonaws.com" }, Action = "s3:GetObject", Resource = arn .. "/*",
        Condition = { StringEquals = { ["AWS:SourceArn"] = dist } } }, s3policy.cloudfront_read(arn, dist))
      assert.has_error(function() s3policy.tls_only(nil) end)
    end)

    it("puts the policy, reads it back as the same document whatever S3's spacing, updates and deletes it", function()
      flow:create("aws.s3.bucket", "media", { bucket = "acme-media" })
      local doc = iampolicy.document { s3policy.tls_only(arn) }
      local rec = flow:create("aws.s3.bucket_policy", "media", { bucket = "acme-media", policy = doc })
      assert.are.equal("acme-media", rec.id)
      assert.are.same(doc, cjson.decode(held("acme-media").Policy))
      assert.are.same({}, flow:drift(rec))
      -- the same document, other key order and whitespace: no drift
      s3:call("PutBucketPolicy", { Bucket = "acme-media", Policy = '{ "Statement" : [ { "Condition": {"Bool": '
        .. '{"aws:SecureTransport": "false"}}, "Resource": ["' .. arn .. '", "' .. arn .. '/*"], "Action": "s3:*", '
        .. '"Principal": "*", "Effect": "Deny", "Sid": "DenyInsecureTransport" } ],\n "Version": "2012-10-17" }' })
      assert.are.same({}, flow:drift(rec))
      local doc2 = iampolicy.document { s3policy.tls_only(arn),
        s3policy.cloudfront_read(arn, "arn:aws:cloudfront::123456789012:distribution/E1") }
      rec = flow:update(rec, { bucket = "acme-media", policy = doc2 })
      assert.are.equal(2, #cjson.decode(held("acme-media").Policy).Statement)
      assert.are.same({}, flow:drift(rec))
      -- changed outside wpo: drift
      s3:call("PutBucketPolicy", { Bucket = "acme-media", Policy = iampolicy.encode(doc) })
      assert.are.same({ "policy" }, (flow:drift(rec)))
      local imported = flow:import("aws.s3.bucket_policy", "media", "acme-media")
      assert.are.same(doc, imported.inputs.policy)
      flow:delete(rec)
      assert.is_nil(held("acme-media").Policy)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("refuses a document without statements while planning, and a bucket gone reads as the policy gone", function()
      local t = require("wpo.resource").get("aws.s3.bucket_policy")
      local err = raised(function()
        t.check(flow:ctx("aws.s3.bucket_policy", "p"), { bucket = "x", policy = { Version = "2012-10-17" } })
      end)
      assert.are.equal("InvalidPolicy", err.code)
      assert.is_nil(flow:import("aws.s3.bucket_policy", "p", "no-such-bucket"))
    end)
  end)
end)
