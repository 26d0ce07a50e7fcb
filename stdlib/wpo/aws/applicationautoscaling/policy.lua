-- aws.applicationautoscaling.policy: a target-tracking scaling policy on a
-- scalable target (aws.applicationautoscaling.target): keep
-- predefined_metric near target_value — "ECSServiceAverageCPUUtilization",
-- "ECSServiceAverageMemoryUtilization", "ALBRequestCountPerTarget" (needs
-- resource_label = "<alb arn_suffix>/<target group arn_suffix>"),
-- "RDSReaderAverageCPUUtilization", "RDSReaderAverageDatabaseConnections".
-- PutScalingPolicy is an upsert (create adopts; changes update in place).
-- id = the policy's ARN; output alarm_arns (the CloudWatch alarms it manages).
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local METRICS = { "ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization", "ALBRequestCountPerTarget",
  "RDSReaderAverageCPUUtilization", "RDSReaderAverageDatabaseConnections",
  "ElastiCachePrimaryEngineCPUUtilization", "ElastiCacheReplicaEngineCPUUtilization" }

local function client(ctx)
  return ctx:aws("application-autoscaling")
end

-- namespace, resource id, policy name from a policy ARN
local function split_arn(arn)
  return tostring(arn):match(":resource/([%w-]+)/(.+):policyName/(.+)$")
end

local function describe(ctx, ns, rid, name)
  local out = client(ctx):collect("DescribeScalingPolicies", { ServiceNamespace = ns, ResourceId = rid,
    PolicyNames = { name } })
  return (out.ScalingPolicies or {})[1]
end

local function observed(p)
  local cfg = p.TargetTrackingScalingPolicyConfiguration or {}
  local spec = cfg.PredefinedMetricSpecification or {}
  local alarms = {}
  for i, a in ipairs(p.Alarms or {}) do alarms[i] = a.AlarmARN end
  return { id = p.PolicyARN, arn = p.PolicyARN, name = p.PolicyName, service_namespace = p.ServiceNamespace,
    resource_id = p.ResourceId, scalable_dimension = p.ScalableDimension, target_value = cfg.TargetValue,
    predefined_metric = spec.PredefinedMetricType, resource_label = spec.ResourceLabel,
    scale_in_cooldown = cfg.ScaleInCooldown, scale_out_cooldown = cfg.ScaleOutCooldown,
    disable_scale_in = cfg.DisableScaleIn or false, alarm_arns = alarms }
end

local function put(ctx, want)
  if want.predefined_metric == "ALBRequestCountPerTarget" then
    if not want.resource_label then
      kit.fail(ctx, "InvalidParameterValue", "ALBRequestCountPerTarget needs resource_label "
        .. "(\"app/<alb>/<id>/targetgroup/<tg>/<id>\": the load balancer's and the target group's arn_suffix)")
    end
  elseif want.resource_label then
    kit.fail(ctx, "InvalidParameterValue", "resource_label is for ALBRequestCountPerTarget only")
  end
  if want.target_value <= 0 then kit.fail(ctx, "InvalidParameterValue", "target_value must be above 0") end
  local spec = { PredefinedMetricType = want.predefined_metric, ResourceLabel = want.resource_label }
  local out = client(ctx):call("PutScalingPolicy", { PolicyName = want.name, ServiceNamespace = want.service_namespace,
    ResourceId = want.resource_id, ScalableDimension = want.scalable_dimension, PolicyType = "TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration = { TargetValue = want.target_value,
      PredefinedMetricSpecification = spec, ScaleInCooldown = want.scale_in_cooldown,
      ScaleOutCooldown = want.scale_out_cooldown, DisableScaleIn = want.disable_scale_in } })
  local alarms = {}
  for i, a in ipairs(out.Alarms or {}) do alarms[i] = a.AlarmARN end
  return { id = out.PolicyARN, arn = out.PolicyARN, alarm_arns = alarms }
end

return resource.define "aws.applicationautoscaling.policy" {
  description = "a target-tracking scaling policy (ECS CPU, ALB requests per target, Aurora readers)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    service_namespace = { type = "string", required = true, force_new = true },
    resource_id = { type = "string", required = true, force_new = true },
    scalable_dimension = { type = "string", required = true, force_new = true },
    predefined_metric = { type = "string", required = true, choices = METRICS },
    target_value = { type = "number", required = true },
    resource_label = { type = "string" },
    scale_in_cooldown = { type = "integer", default = 300 },
    scale_out_cooldown = { type = "integer", default = 60 },
    disable_scale_in = { type = "boolean", default = false },
  },
  outputs = { "id", "arn", "alarm_arns" },

  create = function(ctx, want) return put(ctx, want) end,

  read = function(ctx, id)
    local ns, rid, name = split_arn(id)
    if not ns then kit.fail(ctx, "InvalidParameterValue", "a scaling policy's id is its ARN, not %s", tostring(id)) end
    local p = describe(ctx, ns, rid, name)
    return p and observed(p) or nil
  end,

  update = function(ctx, _, _, new) return put(ctx, new) end,

  delete = function(ctx, id, prior)
    local ns, rid, name = split_arn(id)
    local dim = prior and prior.inputs and prior.inputs.scalable_dimension
    if not dim then
      local p = describe(ctx, ns, rid, name)
      if not p then return end
      dim = p.ScalableDimension
    end
    local _, err = kit.try(client(ctx), "DeleteScalingPolicy", { PolicyName = name, ServiceNamespace = ns,
      ResourceId = rid, ScalableDimension = dim })
    if err and not kit.is_code(err, "ObjectNotFoundException") then error(err, 0) end
  end,
}
