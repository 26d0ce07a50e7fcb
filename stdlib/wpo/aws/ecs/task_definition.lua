-- aws.ecs.task_definition: one revision of an ECS task definition.
--
-- A revision cannot change: any change registers a new revision (replace; a
-- service referring to `arn` follows it — declare it with
-- lifecycle.create_before_destroy so the old revision is deregistered only
-- after the service has moved). Only tags change in place.
--
-- container_definitions are in AWS's own shape (RegisterTaskDefinition's
-- camelCase members: name, image, essential, portMappings, environment,
-- secrets = { { name, valueFrom } }, mountPoints, logConfiguration,
-- healthCheck, ...); volumes likewise ({ name, efsVolumeConfiguration =
-- { fileSystemId, transitEncryption, authorizationConfig = { accessPointId,
-- iam } } }). Refused before anything is sent: an environment variable whose
-- name looks like a secret (PASSWORD, SECRET, TOKEN, ..._KEY, ...: use
-- secrets/valueFrom), an EFS volume with IAM authorisation but no transit
-- encryption.
--
-- Plan-time check: the images in ECR must exist — DescribeImages, a read the
-- plan's read-only guard allows; a missing tag (or repository) refuses the
-- plan, naming the container. Checked: every container image that is an ECR
-- reference (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or
-- @<digest>) once known, and every entry of ecr_images = { { repository =
-- "<name>", tag = "v1" | digest = "sha256:...", registry_id?, container? } } —
-- for an image whose URL is not known while planning (the repository's URL
-- comes from another resource), the repository's name and the tag are. Both
-- are checked again at apply, before the revision is registered. Not
-- checked: the images listed in built_images — what a resource of the stack
-- builds and pushes during the apply (an oci.image's uri), which the plan
-- cannot find yet and the apply has pushed before this. id = the
-- revision's ARN; outputs arn, revision.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local SECRET_NAMES = { "PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "ACCESS_KEY", "AUTH_KEY", "_SALT",
  "CREDENTIAL", "API_KEY" }

-- ECR image references in the containers: { { container, registry, region, repository, tag | digest, image } }
local function ecr_images(defs)
  local out = {}
  for _, c in ipairs(type(defs) == "table" and defs or {}) do
    local image = type(c) == "table" and c.image
    if type(image) == "string" then
      local registry, region, rest = image:match("^(%d+)%.dkr%.ecr%.([%w-]+)%.amazonaws%.com[%.%w]*/(.+)$")
      if registry then
        local repo, digest = rest:match("^([^@]+)@(.+)$")
        local tag
        if not repo then
          repo, tag = rest:match("^([^:]+):(.+)$")
          if not repo then repo, tag = rest, "latest" end
        end
        out[#out + 1] = { container = c.name, registry = registry, region = region, repository = repo, tag = tag,
          digest = digest, image = image }
      end
    end
  end
  return out
end

-- The ECR images to check: those found in the containers (when known) and
-- the declared ecr_images (when known), once each.
local function image_refs(ctx, defs, declared, built)
  local out, seen = {}, {}
  local skip = {}
  for _, b in ipairs(type(built) == "table" and built or {}) do
    if type(b) == "string" then skip[b] = true end
  end
  for _, r in ipairs(ecr_images(defs)) do
    if not skip[r.image] then out[#out + 1] = r end
  end
  for _, r in ipairs(out) do seen[r.repository .. "|" .. (r.tag or r.digest)] = true end
  for _, e in ipairs(type(declared) == "table" and declared or {}) do
    local named = type(e) == "table" and type(e.repository) == "string"
    if named and (type(e.tag) == "string" or type(e.digest) == "string") then
      local key = e.repository .. "|" .. (e.tag or e.digest)
      if not seen[key] then
        seen[key] = true
        out[#out + 1] = { container = e.container, registry = e.registry_id, region = ctx.region,
          repository = e.repository, tag = e.digest == nil and e.tag or nil, digest = e.digest,
          image = e.repository .. (e.digest and ("@" .. e.digest) or (":" .. e.tag)) }
      end
    end
  end
  return out
end

-- Every ECR image must exist; raises ImageNotFound naming the container.
local function check_images(ctx, defs, declared, built)
  for _, ref in ipairs(image_refs(ctx, defs, declared, built)) do
    local ecr = ctx:aws("ecr", ref.region and ref.region ~= ctx.region and { region = ref.region } or nil)
    local id = ref.digest and { imageDigest = ref.digest } or { imageTag = ref.tag }
    local out, err = kit.try(ecr, "DescribeImages", { registryId = ref.registry, repositoryName = ref.repository,
      imageIds = { id } })
    local what = ref.digest and ("digest " .. ref.digest) or ("tag " .. ref.tag)
    if err then
      if kit.is_code(err, "ImageNotFoundException") then
        kit.fail(ctx, "ImageNotFound", "container %s: the image %s does not exist (%s not found in the ECR "
          .. "repository %s): push it first, or keep the service on an image that exists",
          tostring(ref.container), ref.image, what, ref.repository)
      elseif kit.is_code(err, "RepositoryNotFoundException") then
        kit.fail(ctx, "ImageNotFound", "container %s: the image %s does not exist: there is no ECR repository %s "
          .. "yet (a repository this run creates holds no image: deploy the public image first, push %s, then "
          .. "point the service at it)", tostring(ref.container), ref.image, ref.repository, what)
      end
      error(err, 0)
    end
    if #(out.imageDetails or {}) == 0 then
      kit.fail(ctx, "ImageNotFound", "container %s: the image %s does not exist (%s not found in the ECR "
        .. "repository %s)", tostring(ref.container), ref.image, what, ref.repository)
    end
  end
end

local function check(ctx, want)
  local names = {}
  for i, c in ipairs(want.container_definitions) do
    if type(c) ~= "table" or type(c.name) ~= "string" or c.name == "" then
      kit.fail(ctx, "InvalidParameterValue", "container_definitions[%d] needs a name", i)
    end
    if names[c.name] then kit.fail(ctx, "InvalidParameterValue", "two containers are named %s", c.name) end
    names[c.name] = true
    if c.image == nil or c.image == "" then
      kit.fail(ctx, "InvalidParameterValue", "container %s needs an image", c.name)
    end
    for _, e in ipairs(c.environment or {}) do
      local upper = tostring(e.name):upper()
      for _, s in ipairs(SECRET_NAMES) do
        if upper:find(s, 1, true) then
          kit.fail(ctx, "SecretInEnvironment", "container %s: the environment variable %s looks like a secret: "
            .. "pass it through secrets = { { name = %q, valueFrom = <Secrets Manager or SSM parameter ARN> } }, "
            .. "never as plain environment", c.name, tostring(e.name), tostring(e.name))
        end
      end
    end
    for _, s in ipairs(c.secrets or {}) do
      if type(s.name) ~= "string" or s.valueFrom == nil then
        kit.fail(ctx, "InvalidParameterValue", "container %s: each secret is { name = ..., valueFrom = ARN }", c.name)
      end
    end
  end
  for _, v in ipairs(want.volumes or {}) do
    local efs = type(v) == "table" and v.efsVolumeConfiguration
    if efs then
      local auth = efs.authorizationConfig or {}
      if (auth.iam == "ENABLED" or auth.accessPointId) and efs.transitEncryption ~= "ENABLED" then
        kit.fail(ctx, "InvalidParameterValue", "volume %s: IAM authorisation and access points need "
          .. "transitEncryption = \"ENABLED\"", tostring(v.name))
      end
    end
  end
end

local function describe(ctx, ref)
  local out, err = kit.try(ctx:aws("ecs"), "DescribeTaskDefinition", { taskDefinition = ref, include = { "TAGS" } })
  if err then
    if kit.is_code(err, "ClientException") then return nil end
    error(err, 0)
  end
  return out.taskDefinition, out.tags
end

local function observed(td, tags, prior_inputs)
  prior_inputs = prior_inputs or {}
  local function keep(name, have)
    local want = prior_inputs[name]
    if want ~= nil and kit.contains(want, have) then return want end
    return have
  end
  local o = {
    id = td.taskDefinitionArn, arn = td.taskDefinitionArn, revision = td.revision, family = td.family,
    container_definitions = keep("container_definitions", td.containerDefinitions),
    network_mode = td.networkMode, cpu = tonumber(td.cpu), memory = tonumber(td.memory),
    execution_role_arn = td.executionRoleArn, task_role_arn = td.taskRoleArn,
    requires_compatibilities = kit.as_prior_order(td.requiresCompatibilities or {},
      prior_inputs.requires_compatibilities),
    tags = kit.user_tags(kit.tag_map(tags, "key", "value")),
  }
  local volumes = td.volumes or {}
  if #volumes > 0 or prior_inputs.volumes ~= nil then o.volumes = keep("volumes", volumes) end
  return o
end

-- Is the registered revision (observed) the one `want` describes?
local function same_revision(o, want)
  for _, k in ipairs({ "family", "network_mode", "cpu", "memory", "execution_role_arn", "task_role_arn" }) do
    if o[k] ~= want[k] then return false end
  end
  return o.container_definitions == want.container_definitions
    and o.volumes == want.volumes
    and kit.same_set(o.requires_compatibilities, want.requires_compatibilities)
end

local function register(ctx, want)
  local params = {
    family = want.family, containerDefinitions = want.container_definitions, networkMode = want.network_mode,
    executionRoleArn = want.execution_role_arn, taskRoleArn = want.task_role_arn,
    requiresCompatibilities = want.requires_compatibilities,
    cpu = want.cpu and tostring(math.tointeger(want.cpu)) or nil,
    memory = want.memory and tostring(math.tointeger(want.memory)) or nil,
    volumes = want.volumes,
  }
  if next(want.tags or {}) then params.tags = kit.tag_list(want.tags, "key", "value") end
  return ctx:aws("ecs"):call("RegisterTaskDefinition", params)
end

return resource.define "aws.ecs.task_definition" {
  description = "an ECS task definition revision (secrets via valueFrom, EFS volumes, awslogs)",
  attributes = {
    family = { type = "string", required = true, force_new = true },
    container_definitions = { type = "list", of = "any", required = true, force_new = true },
    network_mode = { type = "string", default = "bridge", force_new = true,
      choices = { "bridge", "host", "awsvpc", "none" } },
    cpu = { type = "integer", force_new = true, description = "task-level CPU units" },
    memory = { type = "integer", force_new = true, description = "task-level memory (MiB)" },
    execution_role_arn = { type = "string", force_new = true },
    task_role_arn = { type = "string", force_new = true },
    volumes = { type = "list", of = "any", force_new = true },
    requires_compatibilities = { type = "list", of = "string", default = { "EC2" }, force_new = true },
    ecr_images = { type = "list", description = "ECR images to check at plan time", of = { type = "object", fields = {
      repository = { type = "string", required = true }, tag = { type = "string" }, digest = { type = "string" },
      registry_id = { type = "string" }, container = { type = "string" } } } },
    built_images = { type = "list", of = "string",
      description = "images the stack builds and pushes itself (an oci.image's uri): not checked in ECR" },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "revision" },

  check = function(ctx, after)
    check_images(ctx, after.container_definitions, after.ecr_images, after.built_images)
  end,

  -- a revision has no name of its own: the family's latest, registered for
  -- this resource (its tags) with the same settings, is the one a create made
  found_by = "its content: the family's latest revision, tagged with its wpo:address",
  find = function(ctx, want)
    local latest, tags = describe(ctx, want.family)
    if not latest or latest.status ~= "ACTIVE" then return {} end
    local t = kit.tag_map(tags, "key", "value")
    local o = observed(latest, tags, want)
    if t[resource.TAG_ADDRESS] == ctx.address and (t[resource.TAG_STACK] or ctx.stack) == ctx.stack
        and same_revision(o, want) then
      return { o }
    end
    return {}
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    check_images(ctx, want.container_definitions, want.ecr_images, want.built_images)
    if found then return found end
    local out = register(ctx, want)
    return observed(aws.required(out, "taskDefinition"), out.tags or kit.tag_list(want.tags, "key", "value"), want)
  end,

  read = function(ctx, id, prior)
    local td, tags = describe(ctx, id)
    if not td or td.status ~= "ACTIVE" then return nil end
    return observed(td, tags, prior and prior.inputs)
  end,

  update = function(ctx, id, old, new)
    local ecs = ctx:aws("ecs")
    local set, removed = kit.tag_changes(old.tags, new.tags)
    if #removed > 0 then ecs:call("UntagResource", { resourceArn = id, tagKeys = removed }) end
    if next(set) then ecs:call("TagResource", { resourceArn = id, tags = kit.tag_list(set, "key", "value") }) end
    return {}
  end,

  delete = function(ctx, id)
    local _, err = kit.try(ctx:aws("ecs"), "DeregisterTaskDefinition", { taskDefinition = id })
    if err and not kit.is_code(err, "ClientException") then error(err, 0) end
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ecr:DescribeImages", "ecs:DescribeTaskDefinition" },
    create = { "iam:PassRole", "ecr:TagResource", "ecr:UntagResource", "ecs:RegisterTaskDefinition", "ecs:TagResource",
      "ecs:UntagResource" },
    update = { "iam:PassRole", "ecr:TagResource", "ecr:UntagResource", "ecs:RegisterTaskDefinition", "ecs:TagResource",
      "ecs:UntagResource" },
    delete = { "ecs:DeregisterTaskDefinition" },
  },
}
