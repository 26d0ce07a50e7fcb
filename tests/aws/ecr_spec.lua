-- aws.ecr.repository and aws.ecr.lifecycle_policy against fakeaws: create,
-- read, update, import, drift (changed and deleted outside wpo), delete,
-- adoption after a lost state, and the lifecycle policy built from numbers.

describe("aws.ecr types against fakeaws", function()
  local cjson = require "cjson"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { stack = "prod" }
  local f, flow, ecr
  setup(function() ecr = suite:client("ecr") end)
  before_each(function() f, flow = suite.f, suite.flow end)
  local raised = typeflow.raised

  local function repo_state(name)
    return ((f:state().ecr or {}).repository or {})[name]
  end

  local function tags(name)
    local out = {}
    for _, t in ipairs(repo_state(name).Tags) do out[t.Key] = t.Value end
    return out
  end

  describe("aws.ecr.repository", function()
    it("creates an encrypted, scanned, immutable repository tagged with its stack and address", function()
      local rec = flow:create("aws.ecr.repository", "wp", { name = "prod/wordpress", tags = { team = "web" } })
      local held = repo_state("prod/wordpress")
      assert.are.equal("IMMUTABLE", held.imageTagMutability)
      assert.is_true(held.imageScanningConfiguration.scanOnPush)
      assert.are.equal("AES256", held.encryptionConfiguration.encryptionType)
      assert.are.same({ team = "web", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.ecr.repository.wp" },
        tags("prod/wordpress"))
      assert.are.equal("prod/wordpress", rec.id)
      assert.are.equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/prod/wordpress", rec.outputs.repository_url)
      assert.are.equal(held.repositoryArn, rec.outputs.arn)
      assert.are.same({}, flow:drift(rec))
    end)

    it("updates scan on push, tag mutability and tags in place", function()
      local rec = flow:create("aws.ecr.repository", "wp", { name = "wp", tags = { a = "1", b = "2" } })
      local arn = rec.outputs.arn
      rec = flow:update(rec, { name = "wp", scan_on_push = false, image_tag_mutability = "MUTABLE",
        tags = { a = "9" } })
      local held = repo_state("wp")
      assert.are.equal(arn, held.repositoryArn)
      assert.is_false(held.imageScanningConfiguration.scanOnPush)
      assert.are.equal("MUTABLE", held.imageTagMutability)
      assert.are.same({ a = "9", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.ecr.repository.wp" }, tags("wp"))
      assert.are.same({}, flow:drift(rec))
    end)

    it("sees changes made outside wpo, and a repository deleted outside wpo as gone", function()
      local rec = flow:create("aws.ecr.repository", "wp", { name = "wp" })
      ecr:call("PutImageTagMutability", { repositoryName = "wp", imageTagMutability = "MUTABLE" })
      local changed, observed = flow:drift(rec)
      assert.are.same({ "image_tag_mutability" }, changed)
      assert.are.equal("MUTABLE", observed.image_tag_mutability)
      ecr:call("DeleteRepository", { repositoryName = "wp" })
      assert.is_nil(flow:read(rec))
    end)

    it("imports a repository by name with the attributes it has", function()
      ecr:call("CreateRepository", { repositoryName = "legacy", imageTagMutability = "MUTABLE",
        encryptionConfiguration = { encryptionType = "KMS" }, tags = { { Key = "owner", Value = "ops" } } })
      local rec = flow:import("aws.ecr.repository", "legacy", "legacy")
      assert.are.equal("legacy", rec.id)
      assert.are.equal("MUTABLE", rec.inputs.image_tag_mutability)
      assert.are.equal("KMS", rec.inputs.encryption_type)
      assert.is_nil(rec.inputs.kms_key)        -- the AWS-managed key reads as no key given
      assert.are.same({ owner = "ops" }, rec.inputs.tags)
      assert.is_nil(flow:import("aws.ecr.repository", "none", "no-such-repo"))
    end)

    it("adopts its own repository after a lost state, and refuses one it does not manage", function()
      local first = flow:create("aws.ecr.repository", "wp", { name = "wp" })
      local again = flow:create("aws.ecr.repository", "wp", { name = "wp", scan_on_push = false })
      assert.are.equal(first.outputs.arn, again.outputs.arn)
      assert.is_false(repo_state("wp").imageScanningConfiguration.scanOnPush)
      assert.are.equal(1, f:calls()["ecr.CreateRepository"])
      local err = raised(function() flow:create("aws.ecr.repository", "other", { name = "wp" }) end)
      assert.are.equal("AlreadyExists", err.code)
      assert.matches("an ECR repository named wp already exists and is not this resource's", err.message, 1, true)
      assert.are.equal("aws.ecr.repository.other", err.address)
    end)

    it("keeps a repository holding images unless force_delete, and deleting twice is fine", function()
      local rec = flow:create("aws.ecr.repository", "wp", { name = "wp" })
      ecr:call("PutImage", { repositoryName = "wp", imageManifest = '{"schemaVersion":2}', imageTag = "v1" })
      local err = raised(function() flow:delete(rec) end)
      assert.are.equal("RepositoryNotEmpty", err.code)
      assert.matches("still holds images", err.message)
      assert.is_table(repo_state("wp"))
      rec = flow:update(rec, { name = "wp", force_delete = true })
      flow:delete(rec)
      assert.is_nil(repo_state("wp"))
      flow:delete(rec)
    end)

    it("checks kms_key against the encryption type before calling AWS", function()
      local err = raised(function() flow:create("aws.ecr.repository", "x", { name = "x", kms_key = "k" }) end)
      assert.are.equal("InvalidAttribute", err.code)
      assert.is_nil(f:calls()["ecr.CreateRepository"])
    end)
  end)

  describe("aws.ecr.lifecycle_policy", function()
    local t = require("wpo.resource").get("aws.ecr.lifecycle_policy")

    local function policy_text()
      return ecr:call("GetLifecyclePolicy", { repositoryName = "wp" }).lifecyclePolicyText
    end

    it("builds the policy from keep_last and untagged_expire_days", function()
      local doc = cjson.decode(t.build_policy(20, 14))
      assert.are.equal(2, #doc.rules)
      assert.are.same({ tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 14 },
        doc.rules[1].selection)
      assert.are.same({ tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }, doc.rules[2].selection)
      assert.are.equal(2, doc.rules[2].rulePriority)
      local only = cjson.decode(t.build_policy(5, 0))
      assert.are.equal(1, #only.rules)
      assert.are.equal(5, only.rules[1].selection.countNumber)
      assert.are.equal(t.build_policy(20, 14), t.build_policy(20, 14))
      assert.are.same({ 20, 14 }, { t.parse_policy(t.build_policy(20, 14)) })
      assert.are.same({ 0, 0 }, { t.parse_policy('{"rules":[]}') })
    end)

    it("puts the policy, reads it back, updates it, and deletes it", function()
      flow:create("aws.ecr.repository", "wp", { name = "wp" })
      local rec = flow:create("aws.ecr.lifecycle_policy", "wp", { repository = "wp" })
      assert.are.equal("wp", rec.id)
      assert.are.equal(t.build_policy(20, 14), policy_text())
      assert.are.equal(policy_text(), rec.outputs.policy)
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, { repository = "wp", keep_last = 5, untagged_expire_days = 0 })
      assert.are.equal(t.build_policy(5, 0), policy_text())
      assert.are.same({}, flow:drift(rec))
      local imported = flow:import("aws.ecr.lifecycle_policy", "wp", "wp")
      assert.are.same({ 5, 0 }, { imported.inputs.keep_last, imported.inputs.untagged_expire_days })
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("sees a policy replaced outside wpo as drift, and a repository gone as the policy gone", function()
      flow:create("aws.ecr.repository", "wp", { name = "wp" })
      local rec = flow:create("aws.ecr.lifecycle_policy", "wp", { repository = "wp", keep_last = 30 })
      local foreign = t.build_policy(30, 14):gsub('"countUnit":"days"', '"countUnit":"days"', 1)
        :gsub("expire untagged", "remove untagged")
      ecr:call("PutLifecyclePolicy", { repositoryName = "wp", lifecyclePolicyText = foreign })
      local changed, observed = flow:drift(rec)
      assert.are.same({ "keep_last", "untagged_expire_days" }, changed)
      assert.are.equal(0, observed.keep_last)
      ecr:call("DeleteRepository", { repositoryName = "wp" })
      assert.is_nil(flow:read(rec))
    end)

    it("refuses keep_last below 1", function()
      local ok, err = pcall(flow.create, flow, "aws.ecr.lifecycle_policy", "wp", { repository = "wp", keep_last = 0 })
      assert.is_false(ok)
      assert.are.equal("InvalidAttribute", err.code)
    end)
  end)
end)
