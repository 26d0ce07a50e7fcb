-- aws.applicationautoscaling.target: a scalable target of Application Auto
-- Scaling — an ECS service's desired count (service_namespace "ecs",
-- resource_id "service/<cluster>/<service>", scalable_dimension
-- "ecs:service:DesiredCount") or an Aurora cluster's replica count ("rds",
-- "cluster:<id>", "rds:cluster:ReadReplicaCount"), between min_capacity and
-- max_capacity. Registering is an upsert (so create adopts, and a crash leaves
-- nothing to duplicate). Deregistering also deletes the target's policies.
-- id = "<service_namespace>/<resource_id>/<scalable_dimension>" (also what
-- `wpo import` takes).
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local M = {}

-- target.split_id(id) -> namespace, resource_id, dimension
function M.split_id(id)
  local ns, rest = tostring(id):match("^([%w-]+)/(.+)$")
  if not ns then return nil end
  local rid, dim = rest:match("^(.+)/([^/]+)$")
  return ns, rid, dim
end

local function client(ctx)
  return ctx:aws("application-autoscaling")
end

local function describe(ctx, ns, rid, dim)
  local out = client(ctx):collect("DescribeScalableTargets", { ServiceNamespace = ns, ResourceIds = { rid },
    ScalableDimension = dim })
  return (out.ScalableTargets or {})[1]
end

local function observed(t)
  return { id = t.ServiceNamespace .. "/" .. t.ResourceId .. "/" .. t.ScalableDimension,
    service_namespace = t.ServiceNamespace, resource_id = t.ResourceId, scalable_dimension = t.ScalableDimension,
    min_capacity = t.MinCapacity, max_capacity = t.MaxCapacity }
end

local function register(ctx, want)
  if want.min_capacity > want.max_capacity then
    kit.fail(ctx, "InvalidParameterValue", "min_capacity %d is above max_capacity %d", want.min_capacity,
      want.max_capacity)
  end
  client(ctx):call("RegisterScalableTarget", { ServiceNamespace = want.service_namespace,
    ResourceId = want.resource_id, ScalableDimension = want.scalable_dimension,
    MinCapacity = want.min_capacity, MaxCapacity = want.max_capacity })
  local t = describe(ctx, want.service_namespace, want.resource_id, want.scalable_dimension)
  if not t then
    kit.fail(ctx, "NotFound", "the scalable target %s is not there after registering it", want.resource_id)
  end
  return observed(t)
end

M.type = resource.define "aws.applicationautoscaling.target" {
  description = "an Application Auto Scaling scalable target (ECS service count, Aurora replica count)",
  attributes = {
    service_namespace = { type = "string", required = true, force_new = true },
    resource_id = { type = "string", required = true, force_new = true },
    scalable_dimension = { type = "string", required = true, force_new = true },
    min_capacity = { type = "integer", required = true },
    max_capacity = { type = "integer", required = true },
  },
  outputs = { "id" },

  -- RegisterScalableTarget is an upsert: the target, when it already has the
  -- wanted capacities, is this resource's
  found_by = "its namespace, resource and dimension (with the wanted capacities)",
  find = function(ctx, want)
    local t = describe(ctx, want.service_namespace, want.resource_id, want.scalable_dimension)
    if not t or t.MinCapacity ~= want.min_capacity or t.MaxCapacity ~= want.max_capacity then return {} end
    return { observed(t) }
  end,

  create = function(ctx, want, found)
    if found then return found end
    return register(ctx, want)
  end,

  read = function(ctx, id)
    local ns, rid, dim = M.split_id(id)
    if not ns then
      kit.fail(ctx, "InvalidParameterValue", "a scalable target's id is <namespace>/<resource id>/<dimension>, "
        .. "not %s", id)
    end
    local t = describe(ctx, ns, rid, dim)
    return t and observed(t) or nil
  end,

  update = function(ctx, _, _, new) return register(ctx, new) end,

  delete = function(ctx, id)
    local ns, rid, dim = M.split_id(id)
    local _, err = kit.try(client(ctx), "DeregisterScalableTarget", { ServiceNamespace = ns, ResourceId = rid,
      ScalableDimension = dim })
    if err and not kit.is_code(err, "ObjectNotFoundException") then error(err, 0) end
  end,
}

return M.type
