-- aws.ecs.cluster_capacity_providers: which capacity providers a cluster uses
-- and its default capacity-provider strategy — a lifecycle of its own, apart
-- from the cluster and the providers (PutClusterCapacityProviders replaces the
-- whole association; delete puts empty lists, so that the providers can go).
--
--   default_strategy = { { capacity_provider = "cp", weight = 1, base = 0 }, ... }
--
-- Waits until the cluster's attachments are UPDATE_COMPLETE. id = the cluster's
-- name.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local function describe(ctx, cluster)
  local out = ctx:aws("ecs"):call("DescribeClusters", { clusters = { cluster }, include = { "ATTACHMENTS" } })
  local c = (out.clusters or {})[1]
  if not c or c.status == "INACTIVE" then return nil end
  return c
end

local function strategy_in(list)
  local out = {}
  for i, s in ipairs(list or {}) do
    out[i] = { capacityProvider = s.capacity_provider, weight = s.weight or 0, base = s.base or 0 }
  end
  return out
end

local function observed(c, prior_inputs)
  prior_inputs = prior_inputs or {}
  local strategy = {}
  for i, s in ipairs(c.defaultCapacityProviderStrategy or {}) do
    strategy[i] = { capacity_provider = s.capacityProvider, weight = s.weight or 0,
      base = (s.base or 0) ~= 0 and s.base or nil }
  end
  if prior_inputs.default_strategy and kit.same_strategy(prior_inputs.default_strategy, strategy) then
    strategy = prior_inputs.default_strategy
  end
  return { id = c.clusterName, cluster = c.clusterName,
    capacity_providers = kit.as_prior_order(c.capacityProviders or {}, prior_inputs.capacity_providers),
    default_strategy = strategy }
end

-- Wait until no attachment update is in progress; -> the cluster | nil when gone
local function settled(ctx, cluster, what)
  return kit.wait(ctx, function()
    local c = describe(ctx, cluster)
    if not c then return true, nil end
    if c.attachmentsStatus == "UPDATE_FAILED" then
      kit.fail(ctx, "UpdateFailed", "associating the capacity providers with %s failed", cluster)
    end
    return c.attachmentsStatus ~= "UPDATE_IN_PROGRESS" and c, c.attachmentsStatus
  end, { what = what, timeout = 600, interval = 5 })
end

local function put(ctx, cluster, providers, strategy)
  local ecs = ctx:aws("ecs")
  kit.wait(ctx, function()
    local c = settled(ctx, cluster, "an earlier capacity provider update of the cluster")
    if c == true then kit.fail(ctx, "NotFound", "the cluster %s is gone", cluster) end
    local _, err = kit.try(ecs, "PutClusterCapacityProviders", { cluster = cluster, capacityProviders = providers,
      defaultCapacityProviderStrategy = strategy })
    if not err then return true end
    if kit.is_code(err, "UpdateInProgressException") then return false, "another update in progress" end
    error(err, 0)
  end, { what = "the cluster to accept its capacity providers", timeout = 600, interval = 5 })
  local c = settled(ctx, cluster, "the cluster's capacity provider attachments")
  return c ~= true and c or nil
end

local function check(ctx, want)
  local names = {}
  for _, n in ipairs(want.capacity_providers) do names[n] = true end
  local weighted = false
  for _, s in ipairs(want.default_strategy or {}) do
    if not names[s.capacity_provider] then
      kit.fail(ctx, "InvalidParameterValue", "default_strategy names %s, which is not in capacity_providers",
        tostring(s.capacity_provider))
    end
    if (s.weight or 0) > 0 then weighted = true end
  end
  if #(want.default_strategy or {}) > 0 and not weighted then
    kit.fail(ctx, "InvalidParameterValue", "default_strategy needs a capacity provider with a weight above 0")
  end
end

local STRATEGY = { type = "list", of = { type = "object", fields = {
  capacity_provider = { type = "string", required = true },
  weight = { type = "integer" },
  base = { type = "integer" },
} } }

return resource.define "aws.ecs.cluster_capacity_providers" {
  description = "the capacity providers of an ECS cluster and its default strategy",
  attributes = {
    cluster = { type = "string", required = true, force_new = true },
    capacity_providers = { type = "list", of = "string", required = true },
    default_strategy = STRATEGY,
  },
  outputs = { "id" },

  -- an upsert: the cluster's association, when it is already the one wanted
  found_by = "its cluster (already holding these providers and this strategy)",
  find = function(ctx, want)
    local c = describe(ctx, want.cluster)
    if not c then return {} end
    local o = observed(c, want)
    if kit.same_set(o.capacity_providers, want.capacity_providers)
        and kit.same_strategy(o.default_strategy, want.default_strategy or {}) then
      return { o }
    end
    return {}
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    if found then
      local c = settled(ctx, want.cluster, "the cluster's capacity provider attachments")
      if c ~= true then return observed(c, want) end
    end
    local c = put(ctx, want.cluster, want.capacity_providers, strategy_in(want.default_strategy))
    if not c then kit.fail(ctx, "NotFound", "the cluster %s is gone", want.cluster) end
    return observed(c, want)
  end,

  read = function(ctx, id, prior)
    local c = describe(ctx, id)
    if not c or (#(c.capacityProviders or {}) == 0 and #(c.defaultCapacityProviderStrategy or {}) == 0) then
      return nil
    end
    local o = observed(c, prior and prior.inputs)
    if prior and prior.inputs and prior.inputs.default_strategy == nil and #o.default_strategy == 0 then
      o.default_strategy = nil
    end
    return o
  end,

  update = function(ctx, id, _, new)
    check(ctx, new)
    local c = put(ctx, id, new.capacity_providers, strategy_in(new.default_strategy))
    if not c then kit.fail(ctx, "NotFound", "the cluster %s is gone", id) end
    local o = observed(c, new)
    if new.default_strategy == nil then o.default_strategy = nil end
    return o
  end,

  delete = function(ctx, id)
    if not describe(ctx, id) then return end
    local ok, err = pcall(put, ctx, id, {}, {})
    if not ok and not kit.is_code(err, "ClusterNotFoundException", "NotFound") then error(err, 0) end
  end,
}
