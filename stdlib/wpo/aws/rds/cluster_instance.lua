-- aws.rds.cluster_instance: a DB instance in an Aurora cluster. The first one
-- created is the writer; the others are readers (after a failover, the reader
-- with the lowest promotion_tier takes over: output `writer` says which is now).
--
-- Replaces: identifier, cluster_identifier, engine, availability_zone. In place
-- (ModifyDBInstance, ApplyImmediately): instance_class, promotion_tier (0-15),
-- publicly_accessible (default false), auto_minor_version_upgrade,
-- performance_insights_enabled, db_parameter_group_name, tags.
-- Storage, backups, credentials and security groups belong to the cluster.
-- Outputs: id (the identifier), arn, endpoint, port, writer, availability_zone, resource_id.
local kit = require "wpo.aws.typekit"
local rds = require "wpo.aws.rds.common"
local resource = require "wpo.resource"

local function available(ctx, id)
  return rds.wait_status(ctx, "DB instance", id, rds.instance, "DBInstanceStatus", "available")
end

local function writer(ctx, inst)
  local c = inst.DBClusterIdentifier and rds.cluster(ctx, inst.DBClusterIdentifier)
  for _, m in ipairs(c and c.DBClusterMembers or {}) do
    if m.DBInstanceIdentifier == inst.DBInstanceIdentifier then return m.IsClusterWriter == true end
  end
  return false
end

local function observed(ctx, inst)
  local groups = inst.DBParameterGroups or {}
  return {
    id = inst.DBInstanceIdentifier,
    arn = inst.DBInstanceArn,
    endpoint = inst.Endpoint and inst.Endpoint.Address,
    port = inst.Endpoint and inst.Endpoint.Port,
    writer = writer(ctx, inst),
    resource_id = inst.DbiResourceId,
    identifier = inst.DBInstanceIdentifier,
    cluster_identifier = inst.DBClusterIdentifier,
    instance_class = inst.DBInstanceClass,
    engine = inst.Engine,
    availability_zone = inst.AvailabilityZone,
    promotion_tier = inst.PromotionTier,
    publicly_accessible = inst.PubliclyAccessible,
    auto_minor_version_upgrade = inst.AutoMinorVersionUpgrade,
    performance_insights_enabled = inst.PerformanceInsightsEnabled,
    db_parameter_group_name = groups[1] and groups[1].DBParameterGroupName,
    tags = kit.tag_map(inst.TagList),
  }
end

local MODIFY = {
  instance_class = "DBInstanceClass", promotion_tier = "PromotionTier", publicly_accessible = "PubliclyAccessible",
  auto_minor_version_upgrade = "AutoMinorVersionUpgrade", performance_insights_enabled = "EnablePerformanceInsights",
  db_parameter_group_name = "DBParameterGroupName",
}

local ATTRIBUTES = {
  identifier = { type = "string", required = true, force_new = true },
  cluster_identifier = { type = "string", required = true, force_new = true },
  instance_class = { type = "string", required = true },
  engine = { type = "string", default = "aurora-mysql", force_new = true,
    choices = { "aurora-mysql", "aurora-postgresql" } },
  availability_zone = { type = "string", computed = true, force_new = true },
  promotion_tier = { type = "integer", default = 1 },
  publicly_accessible = { type = "boolean", default = false },
  auto_minor_version_upgrade = { type = "boolean", default = true },
  performance_insights_enabled = { type = "boolean", default = false },
  db_parameter_group_name = { type = "string", computed = true },
  apply_immediately = { type = "boolean", default = true },
  tags = { type = "tags" },
}

return resource.define "aws.rds.cluster_instance" {
  description = "Aurora DB instance (writer or reader)",
  attributes = ATTRIBUTES,
  outputs = { "id", "arn", "endpoint", "port", "writer", "availability_zone", "resource_id" },

  found_by = "its identifier (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = rds.instance(ctx, want.identifier)
    return rds.named(ctx, "DB instance", want.identifier, existing, existing and kit.tag_map(existing.TagList))
  end,

  create = function(ctx, want, found)
    if want.identifier ~= want.identifier:lower() then
      ctx:fail("InvalidName", "instance identifier '%s': RDS keeps identifiers lower-case; write it in lower case",
        want.identifier)
    end
    if want.promotion_tier < 0 or want.promotion_tier > 15 then
      ctx:fail("InvalidParameter", "promotion_tier %d is out of range (0 to 15)", want.promotion_tier)
    end
    if found then return observed(ctx, available(ctx, want.identifier)) end
    rds.client(ctx):call("CreateDBInstance", {
      DBInstanceIdentifier = want.identifier, DBClusterIdentifier = want.cluster_identifier,
      Engine = want.engine, DBInstanceClass = want.instance_class, AvailabilityZone = want.availability_zone,
      PromotionTier = want.promotion_tier, PubliclyAccessible = want.publicly_accessible,
      AutoMinorVersionUpgrade = want.auto_minor_version_upgrade,
      EnablePerformanceInsights = want.performance_insights_enabled,
      DBParameterGroupName = want.db_parameter_group_name, Tags = kit.tag_list(want.tags),
    })
    return observed(ctx, available(ctx, want.identifier))
  end,

  read = function(ctx, id, prior)
    local inst = rds.instance(ctx, id)
    if not inst then return nil end
    if inst.DBInstanceStatus == "deleting" then return resource.deleting(id) end
    return kit.unset_computed(ATTRIBUTES, observed(ctx, inst), prior)
  end,

  update = function(ctx, id, old, new, changed)
    local params = {}
    local tags = false
    for _, name in ipairs(changed) do
      if MODIFY[name] and new[name] ~= nil then params[MODIFY[name]] = new[name] end
      if name == "tags" then tags = true end
    end
    local inst = available(ctx, id)
    if next(params) then
      params.DBInstanceIdentifier = id
      params.ApplyImmediately = new.apply_immediately
      rds.client(ctx):call("ModifyDBInstance", params)
      inst = available(ctx, id)
    end
    if tags then
      rds.update_tags(ctx, inst.DBInstanceArn, old.tags, new.tags)
      inst = rds.instance(ctx, id) or inst
    end
    return observed(ctx, inst)
  end,

  delete = function(ctx, id)
    local inst = rds.instance(ctx, id)
    if not inst then return end
    if inst.DBInstanceStatus ~= "deleting" then
      if inst.DBInstanceStatus ~= "available" and not rds.FAILED[inst.DBInstanceStatus] then available(ctx, id) end
      local done, err = rds.client(ctx):pcall("DeleteDBInstance", { DBInstanceIdentifier = id })
      if not done then
        if kit.is_code(err, "DBInstanceNotFound") then return end
        error(err, 0)
      end
    end
    rds.wait_gone(ctx, "DB instance", id)
  end,

  import = function(ctx, id)
    local inst = rds.instance(ctx, id)
    if not inst then return nil end
    if not inst.DBClusterIdentifier then
      ctx:fail("NotAClusterInstance", "DB instance %s is not in a cluster: import it as aws.rds.instance", id)
    end
    local o = observed(ctx, inst)
    o.apply_immediately = true
    return o
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "rds:DescribeDBClusters", "rds:DescribeDBInstances", "rds:ListTagsForResource" },
    create = { "rds:AddTagsToResource", "rds:CreateDBInstance", "rds:ModifyDBInstance" },
    update = { "rds:AddTagsToResource", "rds:CreateDBInstance", "rds:ModifyDBInstance",
      "rds:RemoveTagsFromResource" },
    delete = { "rds:DeleteDBInstance", "rds:RemoveTagsFromResource" },
  },
}
