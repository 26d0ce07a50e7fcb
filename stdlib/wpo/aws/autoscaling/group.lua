-- aws.autoscaling.group: an EC2 Auto Scaling group launching from a launch
-- template into (private) subnets across AZs — the instances of an ECS
-- cluster's capacity provider.
--
-- protect_from_scale_in marks new instances protected from scale-in (what an
-- ECS capacity provider with managed termination protection needs). Create
-- waits until min_size instances are InService (wait_for_capacity). desired
-- capacity is left to the group (and to ECS managed scaling) unless set; the
-- AmazonECSManaged tag ECS adds is not drift.
--
-- Destroy needs no manual step, whatever protects the instances: min and
-- desired to 0, scale-in protection removed from every instance, then
-- DeleteAutoScalingGroup with ForceDelete (it terminates the instances), and a
-- wait until the group is gone. id = the group's name; output arn.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local SYSTEM_TAGS = { AmazonECSManaged = true }

local function describe(ctx, name)
  local out = ctx:aws("autoscaling"):call("DescribeAutoScalingGroups", { AutoScalingGroupNames = { name } })
  return (out.AutoScalingGroups or {})[1]
end

local function observed(group, prior_inputs)
  prior_inputs = prior_inputs or {}
  local tags = {}
  for _, t in ipairs(group.Tags or {}) do tags[t.Key] = t.Value or "" end
  local subnets = {}
  for id in (group.VPCZoneIdentifier or ""):gmatch("[^,%s]+") do subnets[#subnets + 1] = id end
  local lt = group.LaunchTemplate or {}
  local o = {
    id = group.AutoScalingGroupName, arn = group.AutoScalingGroupARN, name = group.AutoScalingGroupName,
    launch_template_id = lt.LaunchTemplateId, launch_template_version = lt.Version,
    subnet_ids = kit.as_prior_order(subnets, prior_inputs.subnet_ids),
    min_size = group.MinSize, max_size = group.MaxSize,
    protect_from_scale_in = group.NewInstancesProtectedFromScaleIn or false,
    health_check_type = group.HealthCheckType, health_check_grace_period = group.HealthCheckGracePeriod,
    tags = kit.user_tags(tags, SYSTEM_TAGS),
  }
  if prior_inputs.desired_capacity ~= nil then o.desired_capacity = group.DesiredCapacity end
  return o
end

local function in_service(group)
  local n = 0
  for _, i in ipairs(group.Instances or {}) do
    if i.LifecycleState == "InService" then n = n + 1 end
  end
  return n
end

local function wait_capacity(ctx, name, want)
  if not want.wait_for_capacity or want.min_size == 0 then return end
  kit.wait(ctx, function()
    local group = describe(ctx, name)
    if not group then kit.fail(ctx, "NotFound", "the Auto Scaling group %s disappeared while launching", name) end
    local n = in_service(group)
    return n >= want.min_size and group, string.format("%d of %d instances InService", n, want.min_size)
  end, { what = string.format("%d instances InService", want.min_size), timeout = 900, interval = 10 })
end

local function asg_tags(name, map)
  local out = {}
  for _, t in ipairs(kit.tag_list(map)) do
    out[#out + 1] = { ResourceId = name, ResourceType = "auto-scaling-group", Key = t.Key, Value = t.Value,
      PropagateAtLaunch = true }
  end
  return out
end

local function config(want)
  return {
    LaunchTemplate = { LaunchTemplateId = want.launch_template_id, Version = want.launch_template_version },
    MinSize = want.min_size, MaxSize = want.max_size, DesiredCapacity = want.desired_capacity,
    VPCZoneIdentifier = table.concat(want.subnet_ids, ","),
    NewInstancesProtectedFromScaleIn = want.protect_from_scale_in,
    HealthCheckType = want.health_check_type, HealthCheckGracePeriod = want.health_check_grace_period,
  }
end

local function not_found(err)
  return kit.is_code(err, "ValidationError") and tostring(err.message):find("not found", 1, true) ~= nil
end

return resource.define "aws.autoscaling.group" {
  description = "an EC2 Auto Scaling group (launch template, subnets across AZs, scale-in protection)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    launch_template_id = { type = "string", required = true },
    launch_template_version = { type = "string", default = "$Default" },
    subnet_ids = { type = "list", of = "string", required = true },
    min_size = { type = "integer", required = true },
    max_size = { type = "integer", required = true },
    desired_capacity = { type = "integer" },
    protect_from_scale_in = { type = "boolean", default = false },
    health_check_type = { type = "string", default = "EC2", choices = { "EC2", "ELB" } },
    health_check_grace_period = { type = "integer", default = 300 },
    wait_for_capacity = { type = "boolean", default = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },
  -- the instance profile its launch template names, and the version it takes,
  -- reach Auto Scaling a little after they are made
  late = kit.late { "iam_instance_profile", "launch_template_version" },

  found_by = "its wpo:address tag",
  find = function(ctx)
    local list = ctx:aws("autoscaling"):collect("DescribeAutoScalingGroups",
      { Filters = { { Name = "tag:" .. resource.TAG_ADDRESS, Values = { ctx.address } } } })
    local out = {}
    for _, g in ipairs(list.AutoScalingGroups or {}) do
      if g.Status ~= "Delete in progress" then
        local tags = {}
        for _, t in ipairs(g.Tags or {}) do tags[t.Key] = t.Value end
        out[#out + 1] = { id = g.AutoScalingGroupName, tags = tags }
      end
    end
    return out
  end,

  create = function(ctx, want, found)
    if #want.subnet_ids == 0 then kit.fail(ctx, "InvalidParameterValue", "subnet_ids is empty") end
    if want.min_size > want.max_size then
      kit.fail(ctx, "InvalidParameterValue", "min_size %d is above max_size %d", want.min_size, want.max_size)
    end
    local asg = ctx:aws("autoscaling")
    if not found then
      local params = config(want)
      params.AutoScalingGroupName = want.name
      params.Tags = asg_tags(want.name, want.tags)
      asg:call("CreateAutoScalingGroup", params)
    end
    local name = found and found.id or want.name
    wait_capacity(ctx, name, want)
    local group = describe(ctx, name)
    if not group then kit.fail(ctx, "NotFound", "the Auto Scaling group %s is gone right after its creation", name) end
    return observed(group, want)
  end,

  read = function(ctx, id, prior)
    local group = describe(ctx, id)
    if not group then return nil end
    if group.Status == "Delete in progress" then return resource.deleting(id) end
    return observed(group, prior and prior.inputs)
  end,

  update = function(ctx, id, old, new)
    local asg = ctx:aws("autoscaling")
    local params = config(new)
    params.AutoScalingGroupName = id
    asg:call("UpdateAutoScalingGroup", params)
    local set, removed = kit.tag_changes(old.tags, new.tags)
    if #removed > 0 then
      local keys = {}
      for i, k in ipairs(removed) do keys[i] = { ResourceId = id, ResourceType = "auto-scaling-group", Key = k } end
      asg:call("DeleteTags", { Tags = keys })
    end
    if next(set) then asg:call("CreateOrUpdateTags", { Tags = asg_tags(id, set) }) end
    local group = describe(ctx, id)
    return group and observed(group, new) or {}
  end,

  delete = function(ctx, id)
    local asg = ctx:aws("autoscaling")
    local group = describe(ctx, id)
    if not group then return end
    if group.Status ~= "Delete in progress" then
      local _, err = kit.try(asg, "UpdateAutoScalingGroup",
        { AutoScalingGroupName = id, MinSize = 0, DesiredCapacity = 0 })
      if err then
        if not_found(err) then return end
        error(err, 0)
      end
      local protected = {}
      for _, i in ipairs(group.Instances or {}) do
        if i.ProtectedFromScaleIn and not tostring(i.LifecycleState):match("^Terminat") then
          protected[#protected + 1] = i.InstanceId
        end
      end
      for ids in kit.chunks(protected, 50) do
        local _, perr = kit.try(asg, "SetInstanceProtection", { AutoScalingGroupName = id, InstanceIds = ids,
          ProtectedFromScaleIn = false })
        if perr and not kit.is_code(perr, "ValidationError") then error(perr, 0) end
      end
      if #protected > 0 then ctx:log("removed scale-in protection from %d instances", #protected) end
      kit.wait(ctx, function()
        local _, derr = kit.try(asg, "DeleteAutoScalingGroup", { AutoScalingGroupName = id, ForceDelete = true })
        if not derr or not_found(derr) then return true end
        if kit.is_code(derr, "ScalingActivityInProgress", "ResourceContention") then return false, derr.code end
        error(derr, 0)
      end, { what = "the group to accept its deletion", timeout = 600, interval = 10 })
    end
    kit.wait(ctx, function()
      local g = describe(ctx, id)
      return g == nil, g and string.format("%s, %d instances", g.Status or "active", #(g.Instances or {}))
    end, { what = "the Auto Scaling group and its instances to be gone", timeout = 1800, interval = 15 })
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "autoscaling:DescribeAutoScalingGroups" },
    create = { "iam:PassRole", "autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags" },
    update = { "iam:PassRole", "autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags",
      "autoscaling:SetInstanceProtection", "autoscaling:UpdateAutoScalingGroup" },
    delete = { "autoscaling:DeleteAutoScalingGroup", "autoscaling:DeleteTags",
      "autoscaling:SetInstanceProtection", "autoscaling:UpdateAutoScalingGroup" },
  },
}
