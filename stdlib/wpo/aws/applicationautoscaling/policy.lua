-- aws.applicationautoscaling.policy: a target-tracking scaling policy on a
-- scalable target (aws.applicationautoscaling.target):
--
--   policy_type   = "TargetTrackingScaling" (the only kind wpo declares)
--   target_tracking = { target_value = 60, predefined_metric_type = "ECSServiceAverageCPUUtilization",
--                       resource_label = ..., scale_in_cooldown = 300, scale_out_cooldown = 60,
--                       disable_scale_in = false }
--
-- predefined_metric_type: ECSServiceAverageCPUUtilization,
-- ECSServiceAverageMemoryUtilization, ALBRequestCountPerTarget (needs
-- resource_label = "<alb arn_suffix>/<target group arn_suffix>"),
-- RDSReaderAverageCPUUtilization, RDSReaderAverageDatabaseConnections, ... .
-- PutScalingPolicy is an upsert: create adopts, changes update in place. The
-- cooldowns default to 300 s (in) and 60 s (out). id = the policy's ARN;
-- output alarm_arns (the CloudWatch alarms Application Auto Scaling manages).
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local value = require "wpo.value"
local kit = require "wpo.aws.typekit"

local METRICS = { "ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization", "ALBRequestCountPerTarget",
  "RDSReaderAverageCPUUtilization", "RDSReaderAverageDatabaseConnections",
  "ElastiCachePrimaryEngineCPUUtilization", "ElastiCacheReplicaEngineCPUUtilization" }
local SCALE_IN_COOLDOWN, SCALE_OUT_COOLDOWN = 300, 60

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

local function tracking(want)
  local t = want.target_tracking
  return {
    target_value = t.target_value, predefined_metric_type = t.predefined_metric_type,
    resource_label = t.resource_label, scale_in_cooldown = t.scale_in_cooldown or SCALE_IN_COOLDOWN,
    scale_out_cooldown = t.scale_out_cooldown or SCALE_OUT_COOLDOWN, disable_scale_in = t.disable_scale_in or false,
  }
end

local function observed(p, prior_inputs)
  local cfg = p.TargetTrackingScalingPolicyConfiguration or {}
  local spec = cfg.PredefinedMetricSpecification or {}
  local alarms = {}
  for i, a in ipairs(p.Alarms or {}) do alarms[i] = a.AlarmARN end
  -- the defaults are left out, as a script leaves them out
  local t = { target_value = cfg.TargetValue, predefined_metric_type = spec.PredefinedMetricType,
    resource_label = spec.ResourceLabel,
    scale_in_cooldown = cfg.ScaleInCooldown ~= SCALE_IN_COOLDOWN and cfg.ScaleInCooldown or nil,
    scale_out_cooldown = cfg.ScaleOutCooldown ~= SCALE_OUT_COOLDOWN and cfg.ScaleOutCooldown or nil,
    disable_scale_in = cfg.DisableScaleIn or nil }
  local prior = prior_inputs and prior_inputs.target_tracking
  if prior and value.equal(tracking({ target_tracking = prior }), tracking({ target_tracking = t })) then
    t = prior
  end
  return { id = p.PolicyARN, arn = p.PolicyARN, name = p.PolicyName, service_namespace = p.ServiceNamespace,
    resource_id = p.ResourceId, scalable_dimension = p.ScalableDimension, policy_type = p.PolicyType,
    target_tracking = t, alarm_arns = alarms }
end

local function put(ctx, want)
  local t = tracking(want)
  if t.predefined_metric_type == "ALBRequestCountPerTarget" then
    if not t.resource_label then
      kit.fail(ctx, "InvalidParameterValue", "ALBRequestCountPerTarget needs target_tracking.resource_label "
        .. "(\"app/<alb>/<id>/targetgroup/<tg>/<id>\": the load balancer's and the target group's arn_suffix)")
    end
  elseif t.resource_label then
    kit.fail(ctx, "InvalidParameterValue", "target_tracking.resource_label is for ALBRequestCountPerTarget only")
  end
  if t.target_value <= 0 then kit.fail(ctx, "InvalidParameterValue", "target_tracking.target_value must be above 0") end
  local out = client(ctx):call("PutScalingPolicy", { PolicyName = want.name, ServiceNamespace = want.service_namespace,
    ResourceId = want.resource_id, ScalableDimension = want.scalable_dimension, PolicyType = want.policy_type,
    TargetTrackingScalingPolicyConfiguration = { TargetValue = t.target_value,
      PredefinedMetricSpecification = { PredefinedMetricType = t.predefined_metric_type,
        ResourceLabel = t.resource_label },
      ScaleInCooldown = t.scale_in_cooldown, ScaleOutCooldown = t.scale_out_cooldown,
      DisableScaleIn = t.disable_scale_in } })
  local alarms = {}
  for i, a in ipairs(out.Alarms or {}) do alarms[i] = a.AlarmARN end
  local arn = aws.required(out, "PolicyARN")
  return { id = arn, arn = arn, alarm_arns = alarms }
end

return resource.define "aws.applicationautoscaling.policy" {
  description = "a target-tracking scaling policy (ECS CPU, ALB requests per target, Aurora readers)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    service_namespace = { type = "string", required = true, force_new = true },
    resource_id = { type = "string", required = true, force_new = true },
    scalable_dimension = { type = "string", required = true, force_new = true },
    policy_type = { type = "string", default = "TargetTrackingScaling", choices = { "TargetTrackingScaling" } },
    target_tracking = { type = "object", required = true, fields = {
      target_value = { type = "number", required = true },
      predefined_metric_type = { type = "string", required = true, choices = METRICS },
      resource_label = { type = "string" },
      scale_in_cooldown = { type = "integer" },
      scale_out_cooldown = { type = "integer" },
      disable_scale_in = { type = "boolean" },
    } },
  },
  outputs = { "id", "arn", "alarm_arns" },

  -- PutScalingPolicy is an upsert: the policy of that name, when it already
  -- has the wanted settings, is this resource's
  found_by = "its name on its scalable target (with the wanted settings)",
  find = function(ctx, want)
    local p = describe(ctx, want.service_namespace, want.resource_id, want.name)
    if not p or p.ScalableDimension ~= want.scalable_dimension or p.PolicyType ~= want.policy_type then return {} end
    local o = observed(p, want)
    if not value.equal(tracking(o), tracking(want)) then return {} end
    return { o }
  end,

  create = function(ctx, want, found)
    if found then return found end
    return put(ctx, want)
  end,

  read = function(ctx, id, prior)
    local ns, rid, name = split_arn(id)
    if not ns then kit.fail(ctx, "InvalidParameterValue", "a scaling policy's id is its ARN, not %s", tostring(id)) end
    local p = describe(ctx, ns, rid, name)
    return p and observed(p, prior and prior.inputs) or nil
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
