-- wpo.wordpress.compute: the compute tier of the WordPress-on-ECS layout — an
-- ECS cluster on EC2 instances of an Auto Scaling group in the private
-- subnets, scaled by an ECS capacity provider.
--
--   compute.build(stack, p, deps) -> compute
--
-- Reads from p (validated by wpo.wordpress): name, compute = { instance_type,
-- min, max }.
-- Reads from deps: net.subnet_ids.private (the private subnets' ids, one per
-- zone; or net.subnets.private, their resources), sg.ids.ecs (or sg.ecs),
-- identity.instance_profile_arn (or identity.instance_profile_name, or the
-- identity.instance_profile resource).
--
-- Declares:
--   aws.ecs.cluster.main                       <name>, Container Insights on
--   aws.ec2.launch_template.ecs                <name>-ecs: the ECS-optimised Amazon
--                                              Linux 2023 AMI through resolve:ssm: (no
--                                              lookup at plan time), IMDSv2 required
--                                              with hop limit 1 (containers cannot
--                                              reach the instance's credentials), the
--                                              instance profile, the ecs group,
--                                              encrypted gp3 root volume, user data
--                                              joining the cluster (ECS_CLUSTER in
--                                              /etc/ecs/ecs.config)
--   aws.autoscaling.group.ecs                  <name>-ecs: private subnets across the
--                                              zones, compute.min..max instances, new
--                                              instances protected from scale-in
--   aws.ecs.capacity_provider.ecs              <name>-ec2: managed scaling (target 100 %),
--                                              managed termination protection
--   aws.ecs.cluster_capacity_providers.main    the provider, and the cluster's default
--                                              strategy: all of it on the provider
-- Destroy needs no manual step: the capacity providers leave the cluster, the
-- provider goes, then the group is emptied (protection removed, ForceDelete)
-- and the cluster deleted once its instances have deregistered.
--
-- Returns compute = { cluster, launch_template, auto_scaling_group, capacity_provider,
--   cluster_capacity_providers (resources), cluster_name, cluster_arn,
--   capacity_provider_name, auto_scaling_group_name, auto_scaling_group_arn,
--   capacity_provider_strategy = { { capacity_provider, weight, base } } (for services) }.
local parts = require "wpo.wordpress.deps"

local M = {}

M.ECS_CONFIG = {
  ECS_ENABLE_CONTAINER_METADATA = "true",
  ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM = "ec2_instance",
}



-- a capacity provider's name may not begin with aws, ecs or fargate
function M.capacity_provider_name(name)
  local n = name .. "-ec2"
  if n:lower():match("^aws") or n:lower():match("^ecs") or n:lower():match("^fargate") then n = "wp-" .. n end
  return n
end

function M.build(stack, p, deps)
  local net, sg, identity = deps.net or {}, deps.sg or {}, deps.identity or {}
  local private = parts.subnets("compute", net, "private")
  local ecs_sg = parts.group("compute", sg, "ecs")
  local profile = identity.instance_profile_arn or identity.instance_profile_name
    or (identity.instance_profile and identity.instance_profile.arn)
  if profile == nil then error("wordpress.compute: deps.identity.instance_profile_arn is missing", 2) end

  local cluster = stack:add("aws.ecs.cluster", "main", { name = p.name, container_insights = true })
  local lt = stack:add("aws.ec2.launch_template", "ecs", {
    name = p.name .. "-ecs", instance_type = p.compute.instance_type, instance_profile = profile,
    security_group_ids = { ecs_sg }, ecs_cluster = cluster.name, ecs_config = M.ECS_CONFIG,
    http_tokens = "required", http_put_response_hop_limit = 1,
    root_volume_size = 30, root_volume_type = "gp3", root_volume_encrypted = true,
  })
  local asg = stack:add("aws.autoscaling.group", "ecs", {
    name = p.name .. "-ecs", launch_template_id = lt.id, launch_template_version = "$Default",
    subnet_ids = private, min_size = p.compute.min, max_size = p.compute.max, protect_from_scale_in = true,
    health_check_type = "EC2", health_check_grace_period = 300,
  })
  local cp = stack:add("aws.ecs.capacity_provider", "ecs", {
    name = M.capacity_provider_name(p.name), auto_scaling_group_arn = asg.arn, managed_scaling = true,
    target_capacity = 100, managed_termination_protection = true,
  })
  local strategy = { { capacity_provider = cp.name, weight = 1, base = 0 } }
  local ccp = stack:add("aws.ecs.cluster_capacity_providers", "main", {
    cluster = cluster.name, capacity_providers = { cp.name }, default_strategy = strategy,
  })
  return {
    cluster = cluster, launch_template = lt, auto_scaling_group = asg, capacity_provider = cp,
    cluster_capacity_providers = ccp,
    cluster_name = cluster.name, cluster_arn = cluster.arn, capacity_provider_name = cp.name,
    auto_scaling_group_name = asg.name, auto_scaling_group_arn = asg.arn,
    capacity_provider_strategy = strategy,
  }
end

return M
