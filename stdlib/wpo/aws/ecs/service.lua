-- aws.ecs.service: a long-running ECS service behind an ALB target group.
--
-- Production-safe defaults: tasks spread across AZs then instances, a
-- deployment circuit breaker with rollback, 100% minimum healthy, ECS-managed
-- tags propagated from the service. A capacity-provider strategy (or the
-- cluster's default) places it; changing the strategy forces a new
-- deployment. Create and update wait for a steady state
-- (wait_for_steady_state): the primary deployment COMPLETED with its tasks
-- running — a deployment the circuit breaker fails is an error.
--
-- With Application Auto Scaling on the service, declare it with
-- lifecycle.ignore_changes = { "desired_count" }.
--
-- Delete: desired count to 0, DeleteService, wait until INACTIVE (so the
-- cluster and the capacity behind it can go next). id = the service's ARN.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local STRATEGY = { type = "list", computed = true, of = { type = "object", fields = {
  capacity_provider = { type = "string", required = true },
  weight = { type = "integer" },
  base = { type = "integer" },
} } }
local LOAD_BALANCERS = { type = "list", of = { type = "object", fields = {
  target_group_arn = { type = "string", required = true },
  container_name = { type = "string", required = true },
  container_port = { type = "integer", required = true },
} } }
local PLACEMENT = { type = "list", of = { type = "object", fields = {
  type = { type = "string", required = true, choices = { "spread", "binpack", "random" } },
  field = { type = "string" },
} } }
local NETWORK = { type = "object", computed = true, fields = {
  subnets = { type = "list", of = "string", required = true },
  security_groups = { type = "list", of = "string" },
  assign_public_ip = { type = "boolean" },
} }

local function cluster_of(arn)
  return arn:match(":service/([^/]+)/[^/]+$")
end

local function describe(ctx, cluster, name)
  local out, err = kit.try(ctx:aws("ecs"), "DescribeServices", { cluster = cluster, services = { name },
    include = { "TAGS" } })
  if err then
    if kit.is_code(err, "ClusterNotFoundException") then return nil end
    error(err, 0)
  end
  return (out.services or {})[1]
end

local function strategy_in(list)
  if not list then return nil end
  local out = {}
  for i, s in ipairs(list) do
    out[i] = { capacityProvider = s.capacity_provider, weight = s.weight or 0, base = s.base or 0 }
  end
  return out
end

local function observed(svc, prior_inputs)
  prior_inputs = prior_inputs or {}
  local cfg = svc.deploymentConfiguration or {}
  local cb = cfg.deploymentCircuitBreaker or {}
  local o = {
    id = svc.serviceArn, arn = svc.serviceArn, name = svc.serviceName,
    cluster = prior_inputs.cluster or cluster_of(svc.serviceArn),
    task_definition = svc.taskDefinition, desired_count = svc.desiredCount, launch_type = svc.launchType,
    deployment_circuit_breaker = cb.enable or false, deployment_rollback = cb.rollback or false,
    deployment_minimum_healthy_percent = cfg.minimumHealthyPercent,
    deployment_maximum_percent = cfg.maximumPercent,
    health_check_grace_period = svc.healthCheckGracePeriodSeconds,
    enable_execute_command = svc.enableExecuteCommand or false,
    enable_ecs_managed_tags = svc.enableECSManagedTags or false,
    propagate_tags = svc.propagateTags or "NONE",
    tags = kit.user_tags(kit.tag_map(svc.tags, "key", "value")),
  }
  if prior_inputs.launch_type == nil and svc.capacityProviderStrategy then o.launch_type = nil end
  local strategy = svc.capacityProviderStrategy
  if strategy and (prior_inputs.capacity_provider_strategy or #strategy > 0) then
    local s = {}
    for i, x in ipairs(strategy) do
      s[i] = { capacity_provider = x.capacityProvider, weight = x.weight or 0,
        base = (x.base or 0) ~= 0 and x.base or nil }
    end
    local before = prior_inputs.capacity_provider_strategy
    if before and kit.same_strategy(before, s) then s = before end
    o.capacity_provider_strategy = s
  end
  local lbs = {}
  for i, lb in ipairs(svc.loadBalancers or {}) do
    lbs[i] = { target_group_arn = lb.targetGroupArn, container_name = lb.containerName,
      container_port = lb.containerPort }
  end
  if #lbs > 0 or prior_inputs.load_balancers then o.load_balancers = lbs end
  local ps = {}
  for i, p in ipairs(svc.placementStrategy or {}) do ps[i] = { type = p.type, field = p.field } end
  if prior_inputs.placement_strategy and kit.contains(prior_inputs.placement_strategy, ps) then
    ps = prior_inputs.placement_strategy
  end
  o.placement_strategy = ps
  local net = svc.networkConfiguration and svc.networkConfiguration.awsvpcConfiguration
  if net then
    o.network_configuration = { subnets = kit.as_prior_order(net.subnets or {},
      prior_inputs.network_configuration and prior_inputs.network_configuration.subnets),
      security_groups = kit.as_prior_order(net.securityGroups or {},
        prior_inputs.network_configuration and prior_inputs.network_configuration.security_groups),
      assign_public_ip = net.assignPublicIp == "ENABLED" }
  end
  return o
end

local function params_of(want)
  local p = {
    taskDefinition = want.task_definition, desiredCount = want.desired_count,
    capacityProviderStrategy = strategy_in(want.capacity_provider_strategy),
    deploymentConfiguration = {
      deploymentCircuitBreaker = { enable = want.deployment_circuit_breaker, rollback = want.deployment_rollback },
      minimumHealthyPercent = want.deployment_minimum_healthy_percent, maximumPercent = want.deployment_maximum_percent,
    },
    healthCheckGracePeriodSeconds = want.health_check_grace_period,
    enableExecuteCommand = want.enable_execute_command,
    enableECSManagedTags = want.enable_ecs_managed_tags, propagateTags = want.propagate_tags,
  }
  local lbs = {}
  for i, lb in ipairs(want.load_balancers or {}) do
    lbs[i] = { targetGroupArn = lb.target_group_arn, containerName = lb.container_name,
      containerPort = lb.container_port }
  end
  p.loadBalancers = lbs
  local ps = {}
  for i, s in ipairs(want.placement_strategy or {}) do ps[i] = { type = s.type, field = s.field } end
  p.placementStrategy = ps
  if want.network_configuration then
    local n = want.network_configuration
    p.networkConfiguration = { awsvpcConfiguration = { subnets = n.subnets, securityGroups = n.security_groups,
      assignPublicIp = n.assign_public_ip and "ENABLED" or "DISABLED" } }
  end
  return p
end

local function wait_steady(ctx, cluster, name, want)
  if not want.wait_for_steady_state then return end
  kit.wait(ctx, function()
    local svc = describe(ctx, cluster, name)
    if not svc or svc.status ~= "ACTIVE" then kit.fail(ctx, "NotFound", "the service %s is gone", name) end
    local primary
    for _, d in ipairs(svc.deployments or {}) do if d.status == "PRIMARY" then primary = d end end
    if not primary then return false, "no primary deployment" end
    if primary.rolloutState == "FAILED" then
      local events = svc.events or {}
      kit.fail(ctx, "DeploymentFailed", "the deployment of %s failed (%s)%s", primary.taskDefinition or "?",
        tostring(primary.rolloutStateReason), events[1] and ("; last event: " .. events[1].message) or "")
    end
    local state = string.format("%s, %d/%d running, %d deployments", tostring(primary.rolloutState),
      math.tointeger(svc.runningCount) or 0, math.tointeger(svc.desiredCount) or 0, #(svc.deployments or {}))
    local done = #(svc.deployments or {}) == 1 and svc.runningCount == svc.desiredCount
      and (primary.rolloutState == nil or primary.rolloutState == "COMPLETED")
    return done and svc, state
  end, { what = "the service to reach a steady state", timeout = 1800, interval = 15 })
end

local function check(ctx, want)
  if want.capacity_provider_strategy and want.launch_type then
    kit.fail(ctx, "InvalidParameterValue", "set capacity_provider_strategy or launch_type, not both")
  end
  if want.health_check_grace_period and not want.load_balancers then
    kit.fail(ctx, "InvalidParameterValue", "health_check_grace_period needs load_balancers")
  end
end

return resource.define "aws.ecs.service" {
  description = "an ECS service (target group, spread across AZs, circuit breaker with rollback)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    cluster = { type = "string", required = true, force_new = true },
    task_definition = { type = "string", required = true },
    desired_count = { type = "integer", default = 1 },
    capacity_provider_strategy = STRATEGY,
    launch_type = { type = "string", force_new = true, computed = true, choices = { "EC2", "FARGATE", "EXTERNAL" } },
    load_balancers = LOAD_BALANCERS,
    health_check_grace_period = { type = "integer", computed = true },
    deployment_circuit_breaker = { type = "boolean", default = true },
    deployment_rollback = { type = "boolean", default = true },
    deployment_minimum_healthy_percent = { type = "integer", default = 100 },
    deployment_maximum_percent = { type = "integer", default = 200 },
    placement_strategy = { type = PLACEMENT.type, of = PLACEMENT.of, default = {
      { type = "spread", field = "attribute:ecs.availability-zone" }, { type = "spread", field = "instanceId" } } },
    network_configuration = NETWORK,
    enable_execute_command = { type = "boolean", default = false },
    enable_ecs_managed_tags = { type = "boolean", default = true },
    propagate_tags = { type = "string", default = "SERVICE", choices = { "SERVICE", "TASK_DEFINITION", "NONE" } },
    wait_for_steady_state = { type = "boolean", default = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },
  -- ECS's service-linked role (made with the account's first cluster) and the
  -- association of a target group with the listener just made reach ECS late
  late = kit.late { "ecs_service_linked_role", "target_group_association" },

  found_by = "its name in its cluster (tagged with its wpo:address; created with a client token)",
  find = function(ctx, want)
    local existing = describe(ctx, want.cluster, want.name)
    if not existing or existing.status == "INACTIVE" then return {} end
    local tags = kit.tag_map(existing.tags, "key", "value")
    if tags[resource.TAG_ADDRESS] ~= ctx.address or (tags[resource.TAG_STACK] or ctx.stack) ~= ctx.stack then
      kit.fail(ctx, "AlreadyExists", "the cluster %s already has a service %s not made by this resource (import "
        .. "it with 'wpo import', or choose another name)", want.cluster, want.name)
    end
    return { { id = existing.serviceArn, tags = tags } }
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local ecs = ctx:aws("ecs")
    local arn
    if found then
      arn = found.id
    else
      local p = params_of(want)
      p.cluster, p.serviceName, p.clientToken = want.cluster, want.name, ctx:client_token():sub(1, 36)
      p.launchType = want.launch_type
      p.schedulingStrategy = "REPLICA"
      if next(want.tags or {}) then p.tags = kit.tag_list(want.tags, "key", "value") end
      arn = aws.required(ecs:call("CreateService", p), "service", "serviceArn")
    end
    wait_steady(ctx, want.cluster, want.name, want)
    local svc = describe(ctx, want.cluster, want.name)
    if not svc then kit.fail(ctx, "NotFound", "the service %s is gone right after its creation", arn) end
    return observed(svc, want)
  end,

  read = function(ctx, id, prior)
    local cluster = (prior and prior.inputs and prior.inputs.cluster) or cluster_of(id)
    if not cluster then
      local c, n = tostring(id):match("^([^/:]+)/([^/]+)$")
      if not c then
        kit.fail(ctx, "InvalidParameterValue", "an ECS service id is its ARN or cluster/name, not %s", id)
      end
      local svc = describe(ctx, c, n)
      if not svc or svc.status ~= "ACTIVE" then return nil end
      return observed(svc, { cluster = c })
    end
    local svc = describe(ctx, cluster, id)
    -- DRAINING: deleted, not yet gone; it still holds its capacity provider
    if svc and svc.status == "DRAINING" then return resource.deleting(id) end
    if not svc or svc.status ~= "ACTIVE" then return nil end
    return observed(svc, prior and prior.inputs)
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local ecs = ctx:aws("ecs")
    local only_tags = true
    for _, name in ipairs(changed) do
      if name ~= "tags" and name ~= "wait_for_steady_state" then only_tags = false end
    end
    if not only_tags then
      local p = params_of(new)
      p.cluster, p.service = new.cluster, id
      local strategy_changed = false
      for _, name in ipairs(changed) do if name == "capacity_provider_strategy" then strategy_changed = true end end
      if strategy_changed then p.forceNewDeployment = true end
      if not new.capacity_provider_strategy then p.capacityProviderStrategy = nil end
      ecs:call("UpdateService", p)
    end
    local set, removed = kit.tag_changes(old.tags, new.tags)
    if #removed > 0 then ecs:call("UntagResource", { resourceArn = id, tagKeys = removed }) end
    if next(set) then ecs:call("TagResource", { resourceArn = id, tags = kit.tag_list(set, "key", "value") }) end
    if not only_tags then wait_steady(ctx, new.cluster, id, new) end
    local svc = describe(ctx, new.cluster, id)
    return svc and observed(svc, new) or {}
  end,

  delete = function(ctx, id, prior)
    local ecs = ctx:aws("ecs")
    local cluster = (prior and prior.inputs and prior.inputs.cluster) or cluster_of(id)
    local svc = describe(ctx, cluster, id)
    if not svc or svc.status == "INACTIVE" then return end
    if svc.status == "ACTIVE" then
      if (svc.desiredCount or 0) > 0 then
        local _, err = kit.try(ecs, "UpdateService", { cluster = cluster, service = id, desiredCount = 0 })
        if err and not kit.is_code(err, "ServiceNotFoundException", "ServiceNotActiveException") then error(err, 0) end
      end
      local _, err = kit.try(ecs, "DeleteService", { cluster = cluster, service = id })
      if err and not kit.is_code(err, "ServiceNotFoundException", "ServiceNotActiveException",
          "ClusterNotFoundException") then
        error(err, 0)
      end
    end
    -- not botocore's ServicesInactive: it fails on a service ECS no longer
    -- shows (MISSING), which for a delete means done
    kit.wait(ctx, function()
      local now = describe(ctx, cluster, id)
      return (not now or now.status == "INACTIVE"), now and now.status
    end, { what = "the service to drain and become INACTIVE", timeout = 1200, interval = 15 })
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ecs:DescribeServices" },
    create = { "ecs:CreateService", "ecs:TagResource", "ecs:UntagResource" },
    update = { "ecs:CreateService", "ecs:TagResource", "ecs:UntagResource", "ecs:UpdateService" },
    delete = { "ecs:DeleteService", "ecs:UpdateService" },
  },
}
