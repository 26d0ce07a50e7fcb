-- aws.ecr.repository: an ECR repository for the stack's images.
--
-- Attributes:
--   name                  repository name (lower-case path segments), force_new
--   scan_on_push          scan each pushed image (default true)
--   image_tag_mutability  "IMMUTABLE" (default: a tag names one image forever,
--                         so a tag checked at plan time is the image deployed)
--                         or "MUTABLE"
--   encryption_type       "AES256" (default) or "KMS"; fixed at creation (force_new)
--   kms_key               KMS key id or ARN, with encryption_type "KMS" (force_new;
--                         without it ECR uses its AWS-managed key)
--   force_delete          delete the repository even when it holds images
--                         (default false: destroying a repository with images fails,
--                         naming them, unless asked)
--   tags
-- Outputs: id (= name), arn, repository_url (<registry>.dkr.ecr.<region>.amazonaws.com/<name>),
-- registry_id.
--
-- Create adopts a repository of that name already tagged with this
-- resource's address; one of that name not managed by this stack is an error
-- saying so. Update: scan on push, tag mutability and tags in place.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local GONE = { RepositoryNotFoundException = true }

local function pcall_gone(client, op, params)
  local out, err = client:pcall(op, params)
  if out then return out end
  if GONE[err.code] then return nil end
  error(err, 0)
end

local function is_managed_key(arn)
  return type(arn) == "string" and arn:match(":alias/aws/ecr$") ~= nil
end

-- The key as the script wrote it when AWS names the same key (id vs ARN).
local function same_key(given, observed)
  if given == nil or observed == nil then return given == observed end
  return given == observed or observed:sub(-#given - 1) == "/" .. given
end

local function observe(repo, tags, prior)
  local enc = repo.encryptionConfiguration or {}
  local given = prior and prior.inputs and prior.inputs.kms_key
  local key = enc.kmsKey
  if is_managed_key(key) then key = nil
  elseif same_key(given, key) then key = given end
  return {
    id = repo.repositoryName, name = repo.repositoryName, arn = repo.repositoryArn,
    repository_url = repo.repositoryUri, registry_id = repo.registryId,
    scan_on_push = (repo.imageScanningConfiguration or {}).scanOnPush == true,
    image_tag_mutability = repo.imageTagMutability,
    encryption_type = enc.encryptionType or "AES256", kms_key = key,
    tags = tags,
  }
end

local function describe(ctx, name)
  local out = pcall_gone(ctx:aws("ecr"), "DescribeRepositories", { repositoryNames = { name } })
  return out and out.repositories[1]
end

local function tags_of(ctx, arn)
  local out = pcall_gone(ctx:aws("ecr"), "ListTagsForResource", { resourceArn = arn })
  return out and kit.tag_map(out.tags) or {}
end

local function set_tags(ctx, arn, old, new)
  local ecr = ctx:aws("ecr")
  local set, remove = kit.tag_changes(old, new)
  if #remove > 0 then ecr:call("UntagResource", { resourceArn = arn, tagKeys = remove }) end
  if next(set) then ecr:call("TagResource", { resourceArn = arn, tags = kit.tag_list(set) }) end
end

-- Bring an existing repository to `want` (what can change in place).
local function converge(ctx, current, want)
  local ecr = ctx:aws("ecr")
  if current.scan_on_push ~= want.scan_on_push then
    ecr:call("PutImageScanningConfiguration", { repositoryName = current.name,
      imageScanningConfiguration = { scanOnPush = want.scan_on_push } })
  end
  if current.image_tag_mutability ~= want.image_tag_mutability then
    ecr:call("PutImageTagMutability", { repositoryName = current.name,
      imageTagMutability = want.image_tag_mutability })
  end
  set_tags(ctx, current.arn, current.tags, want.tags)
end

local function validate(ctx, want)
  if want.kms_key and want.encryption_type ~= "KMS" then
    ctx:fail("InvalidAttribute", "kms_key is for encryption_type = \"KMS\" (it is %q)", want.encryption_type)
  end
end

local function read(ctx, id, prior)
  local repo = describe(ctx, id)
  if not repo then return nil end
  return observe(repo, tags_of(ctx, repo.repositoryArn), prior)
end

return resource.define "aws.ecr.repository" {
  description = "an ECR repository (scan on push, tag immutability, encryption at rest)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    scan_on_push = { type = "boolean", default = true },
    image_tag_mutability = { type = "string", default = "IMMUTABLE", choices = { "IMMUTABLE", "MUTABLE" } },
    encryption_type = { type = "string", default = "AES256", choices = { "AES256", "KMS" }, force_new = true },
    kms_key = { type = "string", force_new = true },
    force_delete = { type = "boolean", default = false },
    tags = { type = "tags" },
  },
  outputs = { "arn", "repository_url", "registry_id" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    validate(ctx, want)
    local existing = describe(ctx, want.name)
    if not existing then return {} end
    local current = observe(existing, tags_of(ctx, existing.repositoryArn), { inputs = want })
    if not kit.owns(ctx, current.tags) then
      ctx:fail("AlreadyExists", "an ECR repository named %s already exists and is not this resource's "
        .. "(no tag %s=%s): import it with 'wpo import', or choose another name", want.name,
        resource.TAG_ADDRESS, ctx.address)
    end
    return { current }
  end,

  create = function(ctx, want, found)
    validate(ctx, want)
    local adopted = found
    if adopted then
      if adopted.encryption_type ~= want.encryption_type or not same_key(want.kms_key, adopted.kms_key) then
        ctx:fail("AlreadyExists", "the ECR repository %s already exists with encryption %s: encryption is "
          .. "fixed at creation", want.name, adopted.encryption_type)
      end
      converge(ctx, adopted, want)
      return read(ctx, want.name, { inputs = want })
    end
    local params = {
      repositoryName = want.name,
      imageTagMutability = want.image_tag_mutability,
      imageScanningConfiguration = { scanOnPush = want.scan_on_push },
      encryptionConfiguration = { encryptionType = want.encryption_type, kmsKey = want.kms_key },
      tags = kit.tag_list(want.tags),
    }
    local repo = aws.required(ctx:aws("ecr"):call("CreateRepository", params), "repository")
    return observe(repo, want.tags, { inputs = want })
  end,

  read = read,

  update = function(ctx, id, old, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the ECR repository %s no longer exists", id) end
    converge(ctx, current, new)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id, prior)
    local force = prior.inputs and prior.inputs.force_delete or false
    local out, err = ctx:aws("ecr"):pcall("DeleteRepository", { repositoryName = id, force = force })
    if out or GONE[err.code] then return end
    if kit.is_code(err, "RepositoryNotEmptyException") then
      ctx:fail("RepositoryNotEmpty", "the ECR repository %s still holds images: delete them, or set "
        .. "force_delete = true to delete them with it", id)
    end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ecr:DescribeRepositories", "ecr:ListTagsForResource" },
    create = { "ecr:CreateRepository", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability",
      "ecr:TagResource", "ecr:UntagResource" },
    update = { "ecr:CreateRepository", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability",
      "ecr:TagResource", "ecr:UntagResource" },
    delete = { "ecr:DeleteRepository" },
  },
}
