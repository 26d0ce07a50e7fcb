-- wpo.wordpress.registry: the stack's ECR repository, for custom WordPress
-- images (the service runs the public image until p.service.ecr_tag names one
-- of these, or service.image = { base, content } has wpo build one and push
-- it here, tagged wpo-<digest>), with its lifecycle policy (which expires the
-- old digests wpo's builds leave: a destroyed oci.image is only forgotten).
--
--   registry.build(stack, p, deps) -> registry
--
-- Reads from p: name, protect, registry.keep_images (keep the newest N images),
-- registry.untagged_days (expire untagged images after D days). Reads nothing
-- from deps.
--
-- Declares:
--   aws.ecr.repository.wordpress        "<name>/wordpress": scan on push, IMMUTABLE
--                                       tags (a tag checked at plan time is the image
--                                       that runs), AES256 encryption at rest;
--                                       force_delete unless p.protect (destroying a
--                                       staging stack removes its images with it)
--   aws.ecr.lifecycle_policy.wordpress  keep_last / untagged_expire_days from p.registry
--
-- Returns registry = {
--   repository (resource), lifecycle_policy (resource),
--   repository_name ("<name>/wordpress", known at plan time),
--   repository_url (<account>.dkr.ecr.<region>.amazonaws.com/<name>/wordpress),
--   repository_arn (for IAM policies: the execution role pulls from it only) }
local M = {}

function M.repository_name(p)
  return p.name .. "/wordpress"
end

function M.build(stack, p, deps)
  assert(type(stack) == "table" and type(p) == "table", "registry.build(stack, p, deps)")
  local _ = deps
  local name = M.repository_name(p)
  local repository = stack:add("aws.ecr.repository", "wordpress", {
    name = name,
    scan_on_push = true,
    image_tag_mutability = "IMMUTABLE",
    encryption_type = "AES256",
    force_delete = not p.protect,
  })
  local lifecycle_policy = stack:add("aws.ecr.lifecycle_policy", "wordpress", {
    repository = repository.name,
    keep_last = p.registry.keep_images,
    untagged_expire_days = p.registry.untagged_days,
  })
  return {
    repository = repository,
    lifecycle_policy = lifecycle_policy,
    repository_name = name,
    repository_url = repository.repository_url,
    repository_arn = repository.arn,
  }
end

return M
