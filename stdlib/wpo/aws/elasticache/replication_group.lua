-- aws.elasticache.replication_group: Redis with cluster mode disabled — a
-- primary and its replicas (num_cache_clusters nodes in all), for PHP sessions
-- and the object cache.
--
-- Replaces: replication_group_id, engine, port, subnet_group_name,
-- at_rest_encryption_enabled, transit_encryption_enabled, kms_key_id. In place:
-- description, node_type, num_cache_clusters (IncreaseReplicaCount /
-- DecreaseReplicaCount), engine_version, parameter_group_name,
-- security_group_ids, automatic_failover_enabled, multi_az_enabled,
-- snapshot_retention_limit, snapshot_window, maintenance_window,
-- auto_minor_version_upgrade, the AUTH token, tags (ModifyReplicationGroup,
-- ApplyImmediately). Production-safe defaults: 2 nodes, automatic failover,
-- Multi-AZ, encryption at rest and in transit, a daily snapshot kept 1 day.
--
-- The AUTH token is read from a Secrets Manager secret
-- (auth_token_secret_arn; its SecretString or JSON member auth_token_secret_key;
-- 16 to 128 printable characters without / " @ or spaces) and never kept in
-- the state. As for aws.rds.cluster, read compares the secret's current
-- version with the one last set (output auth_token_version): a rotated secret
-- shows as a change and the update sets the new token with
-- auth_token_update_strategy — ROTATE (default: the old token keeps working
-- beside the new one, so running tasks do not lose their sessions) or SET.
--
-- Outputs: id (the replication group id), arn, primary_endpoint,
-- reader_endpoint, port, member_clusters, auth_token_version.
local ec = require "wpo.aws.elasticache.common"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local waiter = require "wpo.aws.waiter"

local WAIT = { timeout = 3600, interval = 15 }   -- botocore ReplicationGroupAvailable polls every 15 s
local TOKEN_RULES = { min = 16, max = 128, forbidden = '/"@', what = "the Redis AUTH token" }

local function describe(ctx, id)
  local out, err = ec.client(ctx):pcall("DescribeReplicationGroups", { ReplicationGroupId = id })
  if not out then
    if kit.is_code(err, "ReplicationGroupNotFoundFault") then return nil end
    error(err, 0)
  end
  return out.ReplicationGroups and out.ReplicationGroups[1]
end

local function member(ctx, id)
  if not id then return nil end
  local out, err = ec.client(ctx):pcall("DescribeCacheClusters", { CacheClusterId = id })
  if not out then
    if kit.is_code(err, "CacheClusterNotFound") then return nil end
    error(err, 0)
  end
  return out.CacheClusters and out.CacheClusters[1]
end

local function available(ctx, id)
  return kit.wait(ctx, function()
    local g = describe(ctx, id)
    if not g then ctx:fail("NotFound", "replication group %s disappeared while waiting for it", id) end
    if g.Status == "available" then return g end
    if g.Status == "create-failed" then ctx:fail("CreateFailed", "replication group %s failed to create", id) end
    return nil, g.Status
  end, { what = "replication group " .. id .. " to become available", prefix = false, timeout = WAIT.timeout, interval = WAIT.interval })
end

local function token(ctx, want)
  return kit.secret(ctx, want.auth_token_secret_arn, want.auth_token_secret_key, TOKEN_RULES)
end

local function observed(ctx, g, prior)
  local prior_inputs = prior and prior.inputs or {}
  local group = g.NodeGroups and g.NodeGroups[1] or {}
  local primary = group.PrimaryEndpoint or {}
  local first = member(ctx, g.MemberClusters and g.MemberClusters[1])
  local sgs = {}
  for _, s in ipairs(first and first.SecurityGroups or {}) do sgs[#sgs + 1] = s.SecurityGroupId end
  local kms = g.KmsKeyId
  if kms and prior_inputs.kms_key_id and (kms:sub(-#prior_inputs.kms_key_id) == prior_inputs.kms_key_id
      or prior_inputs.kms_key_id:match("alias/")) then
    kms = prior_inputs.kms_key_id
  end
  return {
    id = g.ReplicationGroupId,
    arn = g.ARN,
    primary_endpoint = primary.Address,
    reader_endpoint = group.ReaderEndpoint and group.ReaderEndpoint.Address,
    port = primary.Port,
    member_clusters = g.MemberClusters,
    replication_group_id = g.ReplicationGroupId,
    description = g.Description,
    node_type = g.CacheNodeType,
    num_cache_clusters = #(g.MemberClusters or {}),
    engine = first and first.Engine or "redis",
    engine_version = first and first.EngineVersion,
    parameter_group_name = first and first.CacheParameterGroup and first.CacheParameterGroup.CacheParameterGroupName,
    subnet_group_name = first and first.CacheSubnetGroupName,
    security_group_ids = kit.as_prior_order(sgs, prior_inputs.security_group_ids),
    automatic_failover_enabled = g.AutomaticFailover == "enabled" or g.AutomaticFailover == "enabling",
    multi_az_enabled = g.MultiAZ == "enabled",
    at_rest_encryption_enabled = g.AtRestEncryptionEnabled,
    transit_encryption_enabled = g.TransitEncryptionEnabled,
    kms_key_id = kms,
    snapshot_retention_limit = g.SnapshotRetentionLimit,
    snapshot_window = g.SnapshotWindow,
    maintenance_window = first and first.PreferredMaintenanceWindow,
    auto_minor_version_upgrade = g.AutoMinorVersionUpgrade,
    tags = ec.tags(ctx, g.ARN),
  }
end

local function observed_token(ctx, g, prior)
  local arn = prior and prior.inputs and prior.inputs.auth_token_secret_arn
  if not arn then return nil end
  if not g.AuthTokenEnabled then return arn .. " (no AUTH token is set)" end
  local current = kit.secret_version(ctx, arn)
  if current == nil then return arn .. " (secret not found)" end
  local applied = prior.outputs and prior.outputs.auth_token_version
  if applied ~= nil and applied ~= current then
    return string.format("%s (token set from version %s; the secret is now at %s)", arn, applied, current)
  end
  return arn
end

local function check(ctx, want)
  local id = want.replication_group_id
  if id ~= id:lower() or #id > 40 or not id:match("^[a-z][a-z0-9-]*$") or id:find("--", 1, true)
      or id:sub(-1) == "-" then
    ctx:fail("InvalidName", "replication group id '%s': 1 to 40 lower-case letters, digits and single hyphens, "
      .. "starting with a letter", id)
  end
  if want.num_cache_clusters < 1 or want.num_cache_clusters > 6 then
    ctx:fail("InvalidParameter", "num_cache_clusters %d is out of range (1 to 6)", want.num_cache_clusters)
  end
  if want.automatic_failover_enabled and want.num_cache_clusters < 2 then
    ctx:fail("InvalidParameter", "automatic failover needs num_cache_clusters >= 2 (got %d)", want.num_cache_clusters)
  end
  if want.multi_az_enabled and not want.automatic_failover_enabled then
    ctx:fail("InvalidParameter", "multi_az_enabled needs automatic_failover_enabled")
  end
  if want.auth_token_secret_arn and not want.transit_encryption_enabled then
    ctx:fail("InvalidParameter", "an AUTH token needs transit_encryption_enabled = true")
  end
  if want.kms_key_id and not want.at_rest_encryption_enabled then
    ctx:fail("InvalidParameter", "kms_key_id is given but at_rest_encryption_enabled is false")
  end
end

local MODIFY = {
  description = "ReplicationGroupDescription", node_type = "CacheNodeType", engine_version = "EngineVersion",
  parameter_group_name = "CacheParameterGroupName", security_group_ids = "SecurityGroupIds",
  automatic_failover_enabled = "AutomaticFailoverEnabled", multi_az_enabled = "MultiAZEnabled",
  snapshot_retention_limit = "SnapshotRetentionLimit", snapshot_window = "SnapshotWindow",
  maintenance_window = "PreferredMaintenanceWindow", auto_minor_version_upgrade = "AutoMinorVersionUpgrade",
}

local ATTRIBUTES = {
  replication_group_id = { type = "string", required = true, force_new = true },
  description = { type = "string", default = "Managed by wpo" },
  node_type = { type = "string", required = true },
  num_cache_clusters = { type = "integer", default = 2 },
  engine = { type = "string", default = "redis", force_new = true, choices = { "redis" } },
  engine_version = { type = "string", computed = true },
  port = { type = "integer", default = 6379, force_new = true },
  parameter_group_name = { type = "string", computed = true },
  subnet_group_name = { type = "string", required = true, force_new = true },
  security_group_ids = { type = "list", of = "string", computed = true },
  automatic_failover_enabled = { type = "boolean", default = true },
  multi_az_enabled = { type = "boolean", default = true },
  at_rest_encryption_enabled = { type = "boolean", default = true, force_new = true },
  transit_encryption_enabled = { type = "boolean", default = true, force_new = true },
  kms_key_id = { type = "string", force_new = true },
  auth_token_secret_arn = { type = "string" },
  auth_token_secret_key = { type = "string" },
  auth_token_update_strategy = { type = "string", default = "ROTATE", choices = { "ROTATE", "SET" } },
  snapshot_retention_limit = { type = "integer", default = 1 },
  snapshot_window = { type = "string", computed = true },
  maintenance_window = { type = "string", computed = true },
  auto_minor_version_upgrade = { type = "boolean", default = true },
  apply_immediately = { type = "boolean", default = true },
  tags = { type = "tags" },
}

local function replicas(ctx, id, have, want)
  if want == have then return end
  local client = ec.client(ctx)
  local op = want > have and "IncreaseReplicaCount" or "DecreaseReplicaCount"
  ctx:log("%s nodes: %d -> %d", want > have and "adding" or "removing", have, want)
  client:call(op, { ReplicationGroupId = id, NewReplicaCount = want - 1, ApplyImmediately = true })
  available(ctx, id)
end

return resource.define "aws.elasticache.replication_group" {
  description = "ElastiCache Redis replication group (cluster mode disabled)",
  attributes = ATTRIBUTES,
  outputs = { "id", "arn", "primary_endpoint", "reader_endpoint", "port", "member_clusters", "auth_token_version" },

  found_by = "its id (tagged with its wpo:address)",
  find = function(ctx, want)
    local id = want.replication_group_id
    local existing = describe(ctx, id)
    if not existing then return {} end
    local tags = ec.tags(ctx, existing.ARN) or {}
    if not kit.owns(ctx, tags) then
      ctx:fail("AlreadyExists", "a replication group named %s already exists and is not this resource's: import it "
        .. "with 'wpo import STACK %s %s', or choose another id", id, ctx.address, id)
    end
    return { { id = id, tags = tags } }
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local id = want.replication_group_id
    if found then
      local o = observed(ctx, available(ctx, id), { inputs = want })
      o.auth_token_version = want.auth_token_secret_arn and kit.secret_version(ctx, want.auth_token_secret_arn)
      return o
    end
    local auth, version
    if want.auth_token_secret_arn then auth, version = token(ctx, want) end
    ec.client(ctx):call("CreateReplicationGroup", {
      ReplicationGroupId = id, ReplicationGroupDescription = want.description, CacheNodeType = want.node_type,
      NumCacheClusters = want.num_cache_clusters, Engine = want.engine, EngineVersion = want.engine_version,
      Port = want.port, CacheParameterGroupName = want.parameter_group_name,
      CacheSubnetGroupName = want.subnet_group_name, SecurityGroupIds = want.security_group_ids,
      AutomaticFailoverEnabled = want.automatic_failover_enabled, MultiAZEnabled = want.multi_az_enabled,
      AtRestEncryptionEnabled = want.at_rest_encryption_enabled,
      TransitEncryptionEnabled = want.transit_encryption_enabled, KmsKeyId = want.kms_key_id, AuthToken = auth,
      SnapshotRetentionLimit = want.snapshot_retention_limit, SnapshotWindow = want.snapshot_window,
      PreferredMaintenanceWindow = want.maintenance_window, AutoMinorVersionUpgrade = want.auto_minor_version_upgrade,
      Tags = kit.tag_list(want.tags),
    })
    local o = observed(ctx, available(ctx, id), { inputs = want })
    o.auth_token_version = version
    return o
  end,

  read = function(ctx, id, prior)
    local g = describe(ctx, id)
    if not g then return nil end
    if g.Status == "deleting" then return resource.deleting(id) end
    local o = kit.unset_computed(ATTRIBUTES, observed(ctx, g, prior), prior)
    o.auth_token_secret_arn = observed_token(ctx, g, prior)
    return o
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local set = {}
    for _, name in ipairs(changed) do set[name] = true end
    local g = available(ctx, id)
    local have = #(g.MemberClusters or {})
    -- more nodes first (failover may need them), fewer nodes last (after failover may be off)
    if set.num_cache_clusters and new.num_cache_clusters > have then replicas(ctx, id, have, new.num_cache_clusters) end
    local params = {}
    for attr, memb in pairs(MODIFY) do
      if set[attr] and new[attr] ~= nil then params[memb] = new[attr] end
    end
    if next(params) then
      params.ReplicationGroupId = id
      params.ApplyImmediately = new.apply_immediately
      ec.client(ctx):call("ModifyReplicationGroup", params)
      available(ctx, id)
    end
    if set.num_cache_clusters and new.num_cache_clusters < have then replicas(ctx, id, have, new.num_cache_clusters) end
    local version
    if (set.auth_token_secret_arn or set.auth_token_secret_key) and new.auth_token_secret_arn then
      local auth
      auth, version = token(ctx, new)
      ctx:log("setting the AUTH token from %s (version %s, strategy %s)", new.auth_token_secret_arn, version,
        new.auth_token_update_strategy)
      ec.client(ctx):call("ModifyReplicationGroup", { ReplicationGroupId = id, AuthToken = auth,
        AuthTokenUpdateStrategy = new.auth_token_update_strategy, ApplyImmediately = true })
      available(ctx, id)
    elseif set.auth_token_secret_arn and not new.auth_token_secret_arn then
      ctx:fail("InvalidParameter", "removing the AUTH token would open Redis to anything that reaches it: keep "
        .. "auth_token_secret_arn")
    end
    g = describe(ctx, id) or g
    if set.tags then ec.update_tags(ctx, g.ARN, old.tags, new.tags) end
    local o = observed(ctx, g, { inputs = new })
    o.auth_token_version = version
    return o
  end,

  delete = function(ctx, id)
    local g = describe(ctx, id)
    if not g then return end
    if g.Status ~= "deleting" then
      if g.Status ~= "available" and g.Status ~= "create-failed" and g.Status ~= "snapshotting" then
        available(ctx, id)
      end
      local done, err = ec.client(ctx):pcall("DeleteReplicationGroup", { ReplicationGroupId = id })
      if not done then
        if kit.is_code(err, "ReplicationGroupNotFoundFault") then return end
        error(err, 0)
      end
    end
    -- botocore's ReplicationGroupDeleted: gone (or "deleted"); "available" again is a failure
    waiter.wait(ctx, ec.client(ctx), "ReplicationGroupDeleted", { ReplicationGroupId = id },
      { what = "replication group " .. id .. " to be deleted", timeout = WAIT.timeout })
  end,

  import = function(ctx, id)
    local g = describe(ctx, id)
    if not g then return nil end
    local o = observed(ctx, g, nil)
    o.apply_immediately, o.auth_token_update_strategy = true, "ROTATE"
    return o
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticache:DescribeCacheClusters", "elasticache:DescribeReplicationGroups",
      "elasticache:ListTagsForResource", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue" },
    create = { "elasticache:AddTagsToResource", "elasticache:CreateReplicationGroup",
      "elasticache:DecreaseReplicaCount", "elasticache:IncreaseReplicaCount",
      "elasticache:ModifyReplicationGroup" },
    update = { "elasticache:AddTagsToResource", "elasticache:CreateReplicationGroup",
      "elasticache:DecreaseReplicaCount", "elasticache:IncreaseReplicaCount",
      "elasticache:ModifyReplicationGroup", "elasticache:RemoveTagsFromResource" },
    delete = { "elasticache:DeleteReplicationGroup", "elasticache:RemoveTagsFromResource" },
  },
}
