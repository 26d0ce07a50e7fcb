-- aws.ecs.capacity_provider: an ECS capacity provider over an Auto Scaling
-- group, with managed scaling and managed termination protection (both on by
-- default; the group must protect new instances from scale-in).
--
-- Its association with a cluster is aws.ecs.cluster_capacity_providers.
-- Delete waits for DELETE_COMPLETE. The Auto Scaling group it names cannot
-- change (a new provider). id = the provider's name; output arn.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local function describe(ctx, name)
  local out = ctx:aws("ecs"):call("DescribeCapacityProviders", { capacityProviders = { name }, include = { "TAGS" } })
  return (out.capacityProviders or {})[1]
end

local function observed(cp)
  local p = cp.autoScalingGroupProvider or {}
  local ms = p.managedScaling or {}
  return {
    id = cp.name, name = cp.name, arn = cp.capacityProviderArn, auto_scaling_group_arn = p.autoScalingGroupArn,
    managed_scaling = ms.status == "ENABLED", target_capacity = ms.targetCapacity,
    minimum_scaling_step_size = ms.minimumScalingStepSize, maximum_scaling_step_size = ms.maximumScalingStepSize,
    instance_warmup_period = ms.instanceWarmupPeriod,
    managed_termination_protection = p.managedTerminationProtection == "ENABLED",
    tags = kit.user_tags(kit.tag_map(cp.tags, "key", "value")),
  }
end

local function provider(want, with_arn)
  local p = {
    managedScaling = { status = want.managed_scaling and "ENABLED" or "DISABLED", targetCapacity = want.target_capacity,
      minimumScalingStepSize = want.minimum_scaling_step_size, maximumScalingStepSize = want.maximum_scaling_step_size,
      instanceWarmupPeriod = want.instance_warmup_period },
    managedTerminationProtection = want.managed_termination_protection and "ENABLED" or "DISABLED",
  }
  if with_arn then p.autoScalingGroupArn = want.auto_scaling_group_arn end
  return p
end

local function check(ctx, want)
  if not want.name:match("^[%w_-]+$") or want.name:lower():match("^aws") or want.name:lower():match("^ecs")
      or want.name:lower():match("^fargate") then
    kit.fail(ctx, "InvalidParameterValue", "a capacity provider name is letters, digits, - and _, not beginning "
      .. "with aws, ecs or fargate: %q", want.name)
  end
  if want.target_capacity < 1 or want.target_capacity > 100 then
    kit.fail(ctx, "InvalidParameterValue", "target_capacity is a percentage from 1 to 100, not %d",
      want.target_capacity)
  end
  if want.managed_termination_protection and not want.managed_scaling then
    kit.fail(ctx, "InvalidParameterValue", "managed_termination_protection needs managed_scaling")
  end
end

local function wait_update(ctx, name)
  return kit.wait(ctx, function()
    local cp = describe(ctx, name)
    if not cp then kit.fail(ctx, "NotFound", "the capacity provider %s is gone", name) end
    if cp.updateStatus == "UPDATE_FAILED" then
      kit.fail(ctx, "UpdateFailed", "updating the capacity provider failed: %s", tostring(cp.updateStatusReason))
    end
    return cp.updateStatus ~= "UPDATE_IN_PROGRESS" and cp, cp.updateStatus
  end, { what = "the capacity provider update", timeout = 300, interval = 5 })
end

return resource.define "aws.ecs.capacity_provider" {
  description = "an ECS capacity provider over an Auto Scaling group (managed scaling, termination protection)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    auto_scaling_group_arn = { type = "string", required = true, force_new = true },
    managed_scaling = { type = "boolean", default = true },
    target_capacity = { type = "integer", default = 100 },
    minimum_scaling_step_size = { type = "integer", default = 1 },
    maximum_scaling_step_size = { type = "integer", default = 10000 },
    instance_warmup_period = { type = "integer", default = 300 },
    managed_termination_protection = { type = "boolean", default = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },
  late = kit.late { "ecs_service_linked_role" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = describe(ctx, want.name)
    if not existing or existing.status ~= "ACTIVE" then return {} end
    return kit.named(ctx, "an ECS capacity provider", want.name, kit.tag_map(existing.tags, "key", "value"), existing)
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    if found then return observed(found.object) end
    local cp = aws.required(ctx:aws("ecs"):call("CreateCapacityProvider", { name = want.name,
      autoScalingGroupProvider = provider(want, true), tags = kit.tag_list(want.tags, "key", "value") }),
      "capacityProvider")
    return observed(cp)
  end,

  read = function(ctx, id)
    local cp = describe(ctx, id)
    if cp and cp.updateStatus == "DELETE_IN_PROGRESS" then return resource.deleting(id) end
    if not cp or cp.status ~= "ACTIVE" then return nil end
    return observed(cp)
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local ecs = ctx:aws("ecs")
    local settings = false
    for _, name in ipairs(changed) do if name ~= "tags" then settings = true end end
    if settings then
      ecs:call("UpdateCapacityProvider", { name = id, autoScalingGroupProvider = provider(new, false) })
      wait_update(ctx, id)
    end
    local cp = describe(ctx, id)
    if not cp then kit.fail(ctx, "NotFound", "the capacity provider %s is gone", id) end
    local set, removed = kit.tag_changes(old.tags, new.tags)
    if #removed > 0 then ecs:call("UntagResource", { resourceArn = cp.capacityProviderArn, tagKeys = removed }) end
    if next(set) then
      ecs:call("TagResource", { resourceArn = cp.capacityProviderArn, tags = kit.tag_list(set, "key", "value") })
    end
    return observed(describe(ctx, id) or cp)
  end,

  delete = function(ctx, id)
    local ecs = ctx:aws("ecs")
    local cp = describe(ctx, id)
    if not cp then return end
    if cp.status == "ACTIVE" then
      local _, err = kit.try(ecs, "DeleteCapacityProvider", { capacityProvider = id })
      if err then
        if kit.is_code(err, "ClientException") and tostring(err.message):find("does not exist", 1, true) then return end
        if kit.is_code(err, "ClientException", "ResourceInUseException")
            and tostring(err.message):find("in use", 1, true) then
          kit.fail(ctx, "ResourceInUse", "the capacity provider %s is still associated with a cluster (%s): remove "
            .. "it from the cluster's capacity providers first", id, err.message)
        end
        error(err, 0)
      end
    end
    kit.wait(ctx, function()
      local now = describe(ctx, id)
      if not now then return true end
      if now.updateStatus == "DELETE_FAILED" then
        kit.fail(ctx, "DeleteFailed", "deleting the capacity provider failed: %s", tostring(now.updateStatusReason))
      end
      return now.updateStatus == "DELETE_COMPLETE", now.updateStatus
    end, { what = "the capacity provider's deletion", timeout = 900, interval = 5 })
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ecs:DescribeCapacityProviders" },
    create = { "ecs:CreateCapacityProvider", "ecs:TagResource", "ecs:UntagResource",
      "ecs:UpdateCapacityProvider" },
    update = { "ecs:CreateCapacityProvider", "ecs:TagResource", "ecs:UntagResource",
      "ecs:UpdateCapacityProvider" },
    delete = { "ecs:DeleteCapacityProvider" },
  },
}
