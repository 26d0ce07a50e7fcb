-- aws.ecs.cluster: an ECS cluster with Container Insights (on by default).
--
-- Capacity providers are associated by aws.ecs.cluster_capacity_providers
-- (their own lifecycle). Delete waits while the cluster still holds
-- container instances or services (instances of a just-deleted Auto Scaling
-- group deregister over a few minutes) and ends when the cluster is INACTIVE.
-- id = the cluster's name; output arn.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local function describe(ctx, name)
  local out = ctx:aws("ecs"):call("DescribeClusters", { clusters = { name }, include = { "SETTINGS", "TAGS" } })
  local c = (out.clusters or {})[1]
  if not c or c.status == "INACTIVE" then return nil end
  return c
end

local function observed(c)
  local insights = false
  for _, s in ipairs(c.settings or {}) do
    if s.name == "containerInsights" then insights = s.value == "enabled" end
  end
  return { id = c.clusterName, name = c.clusterName, arn = c.clusterArn, container_insights = insights,
    tags = kit.user_tags(kit.tag_map(c.tags, "key", "value")) }
end

local function set_tags(ctx, arn, old, new)
  local ecs = ctx:aws("ecs")
  local set, removed = kit.tag_changes(old, new)
  if #removed > 0 then ecs:call("UntagResource", { resourceArn = arn, tagKeys = removed }) end
  if next(set) then ecs:call("TagResource", { resourceArn = arn, tags = kit.tag_list(set, "key", "value") }) end
end

return resource.define "aws.ecs.cluster" {
  description = "an ECS cluster (Container Insights)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    container_insights = { type = "boolean", default = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = describe(ctx, want.name)
    return kit.named(ctx, "an ECS cluster", want.name, existing and kit.tag_map(existing.tags, "key", "value"),
      existing)
  end,

  create = function(ctx, want, found)
    if not want.name:match("^[%w_-]+$") or #want.name > 255 then
      kit.fail(ctx, "InvalidParameterValue", "a cluster name is up to 255 letters, digits, - and _, not %q", want.name)
    end
    local existing = found and found.object
    if existing then
      if (observed(existing).container_insights) ~= want.container_insights then
        ctx:aws("ecs"):call("UpdateClusterSettings", { cluster = want.name, settings = {
          { name = "containerInsights", value = want.container_insights and "enabled" or "disabled" } } })
      end
      return observed(describe(ctx, want.name) or existing)
    end
    local c = ctx:aws("ecs"):call("CreateCluster", {
      clusterName = want.name, tags = kit.tag_list(want.tags, "key", "value"),
      settings = { { name = "containerInsights", value = want.container_insights and "enabled" or "disabled" } },
    }).cluster or {}        -- only a fallback for the ARN: the describe below is what counts
    local ready = kit.wait(ctx, function()
      local now = describe(ctx, want.name)
      return now and now.status == "ACTIVE" and now, now and now.status or "not yet described"
    end, { what = "the cluster to become ACTIVE", timeout = 300, interval = 2 })
    local o = observed(ready)
    o.arn = o.arn or c.clusterArn
    return o
  end,

  read = function(ctx, id)
    local c = describe(ctx, id)
    return c and observed(c) or nil
  end,

  update = function(ctx, id, old, new)
    if old.container_insights ~= new.container_insights then
      ctx:aws("ecs"):call("UpdateClusterSettings", { cluster = id, settings = {
        { name = "containerInsights", value = new.container_insights and "enabled" or "disabled" } } })
    end
    local c = describe(ctx, id)
    if not c then kit.fail(ctx, "NotFound", "the cluster %s is gone", id) end
    set_tags(ctx, c.clusterArn, old.tags, new.tags)
    return observed(describe(ctx, id) or c)
  end,

  delete = function(ctx, id)
    local ecs = ctx:aws("ecs")
    kit.wait(ctx, function()
      local _, err = kit.try(ecs, "DeleteCluster", { cluster = id })
      if not err or kit.is_code(err, "ClusterNotFoundException") then return true end
      if kit.is_code(err, "ClusterContainsContainerInstancesException", "ClusterContainsServicesException",
          "ClusterContainsTasksException", "UpdateInProgressException") then
        return false, err.code
      end
      error(err, 0)
    end, { what = "the cluster's container instances, services and tasks to be gone", timeout = 1200, interval = 10 })
    kit.wait(ctx, function()
      local out = ecs:call("DescribeClusters", { clusters = { id } })
      local c = (out.clusters or {})[1]
      return (not c or c.status == "INACTIVE"), c and c.status
    end, { what = "the cluster to become INACTIVE", timeout = 600, interval = 5 })
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ecs:DescribeClusters" },
    create = { "ecs:CreateCluster", "ecs:TagResource", "ecs:UntagResource", "ecs:UpdateClusterSettings" },
    update = { "ecs:CreateCluster", "ecs:TagResource", "ecs:UntagResource", "ecs:UpdateClusterSettings" },
    delete = { "ecs:DeleteCluster" },
  },
}
