-- aws.rds.instance: a plain RDS MySQL or MariaDB instance (the small-customer
-- option; Aurora is aws.rds.cluster + aws.rds.cluster_instance).
--
-- Replaces: identifier, engine, db_name, master_username, db_subnet_group_name,
-- storage_encrypted, kms_key_id. In place (ModifyDBInstance, ApplyImmediately):
-- engine_version, instance_class, allocated_storage (grow only: RDS cannot
-- shrink storage), max_allocated_storage (storage autoscaling), storage_type,
-- vpc_security_group_ids, parameter_group_name, multi_az, port,
-- backup_retention_period (0-35), preferred_backup_window,
-- preferred_maintenance_window, deletion_protection, copy_tags_to_snapshot,
-- publicly_accessible, auto_minor_version_upgrade, the master password, tags.
-- Local only: skip_final_snapshot, apply_immediately, allow_major_version_upgrade
-- (a major engine_version change is refused without it).
-- Production-safe defaults: encrypted gp3 storage, Multi-AZ, 7 days of
-- backups, deletion protection, a final snapshot on delete, not public.
--
-- The master password comes from Secrets Manager exactly as for
-- aws.rds.cluster (master_password_secret_arn / _key; never in the state;
-- set again when the secret's current version changes). Delete: refused while
-- deletion protection is on; takes the final snapshot final_snapshot_identifier
-- (an output fixed at create) unless skip_final_snapshot; waits until gone.
--
-- Outputs: id (the identifier), arn, endpoint (host name), port, resource_id,
-- hosted_zone_id, final_snapshot_identifier, master_password_version.
local kit = require "wpo.aws.typekit"
local rds = require "wpo.aws.rds.common"
local resource = require "wpo.resource"

local function available(ctx, id)
  return rds.wait_status(ctx, "DB instance", id, rds.instance, "DBInstanceStatus", "available")
end

local function observed(inst, prior)
  local prior_inputs = prior and prior.inputs or {}
  local sgs = {}
  for _, g in ipairs(inst.VpcSecurityGroups or {}) do sgs[#sgs + 1] = g.VpcSecurityGroupId end
  local groups = inst.DBParameterGroups or {}
  return {
    id = inst.DBInstanceIdentifier,
    arn = inst.DBInstanceArn,
    endpoint = inst.Endpoint and inst.Endpoint.Address,
    port = inst.Endpoint and inst.Endpoint.Port,
    hosted_zone_id = inst.Endpoint and inst.Endpoint.HostedZoneId,
    resource_id = inst.DbiResourceId,
    identifier = inst.DBInstanceIdentifier,
    engine = inst.Engine,
    engine_version = inst.EngineVersion,
    instance_class = inst.DBInstanceClass,
    allocated_storage = inst.AllocatedStorage,
    max_allocated_storage = inst.MaxAllocatedStorage,
    storage_type = inst.StorageType,
    storage_encrypted = inst.StorageEncrypted,
    kms_key_id = rds.kms_observed(inst.KmsKeyId, prior_inputs.kms_key_id),
    db_name = inst.DBName,
    master_username = inst.MasterUsername,
    db_subnet_group_name = inst.DBSubnetGroup and inst.DBSubnetGroup.DBSubnetGroupName,
    vpc_security_group_ids = kit.as_prior_order(sgs, prior_inputs.vpc_security_group_ids),
    parameter_group_name = groups[1] and groups[1].DBParameterGroupName,
    multi_az = inst.MultiAZ,
    backup_retention_period = inst.BackupRetentionPeriod,
    preferred_backup_window = inst.PreferredBackupWindow,
    preferred_maintenance_window = inst.PreferredMaintenanceWindow,
    deletion_protection = inst.DeletionProtection,
    copy_tags_to_snapshot = inst.CopyTagsToSnapshot,
    publicly_accessible = inst.PubliclyAccessible,
    auto_minor_version_upgrade = inst.AutoMinorVersionUpgrade,
    tags = kit.tag_map(inst.TagList),
  }
end

local MODIFY = {
  engine_version = "EngineVersion", instance_class = "DBInstanceClass", allocated_storage = "AllocatedStorage",
  max_allocated_storage = "MaxAllocatedStorage", storage_type = "StorageType",
  vpc_security_group_ids = "VpcSecurityGroupIds", parameter_group_name = "DBParameterGroupName",
  multi_az = "MultiAZ", port = "DBPortNumber", backup_retention_period = "BackupRetentionPeriod",
  preferred_backup_window = "PreferredBackupWindow", preferred_maintenance_window = "PreferredMaintenanceWindow",
  deletion_protection = "DeletionProtection", copy_tags_to_snapshot = "CopyTagsToSnapshot",
  publicly_accessible = "PubliclyAccessible", auto_minor_version_upgrade = "AutoMinorVersionUpgrade",
}

-- "8.0.35" -> "8.0", "10.11.6" -> "10.11"
local function major(version)
  return version and version:match("^(%d+%.%d+)")
end

local function check(ctx, want)
  if want.identifier ~= want.identifier:lower() then
    ctx:fail("InvalidName", "instance identifier '%s': RDS keeps identifiers lower-case; write it in lower case",
      want.identifier)
  end
  if want.kms_key_id and not want.storage_encrypted then
    ctx:fail("InvalidParameter", "kms_key_id is given but storage_encrypted is false")
  end
  if want.max_allocated_storage and want.max_allocated_storage <= want.allocated_storage then
    ctx:fail("InvalidParameter", "max_allocated_storage (%d) must be greater than allocated_storage (%d)",
      want.max_allocated_storage, want.allocated_storage)
  end
end

local ATTRIBUTES = {
  identifier = { type = "string", required = true, force_new = true },
  engine = { type = "string", required = true, force_new = true, choices = { "mysql", "mariadb" } },
  engine_version = { type = "string", computed = true },
  instance_class = { type = "string", required = true },
  allocated_storage = { type = "integer", default = 20 },
  max_allocated_storage = { type = "integer" },
  storage_type = { type = "string", default = "gp3", choices = { "gp2", "gp3", "io1", "standard" } },
  storage_encrypted = { type = "boolean", default = true, force_new = true },
  kms_key_id = { type = "string", computed = true, force_new = true },
  db_name = { type = "string", force_new = true },
  master_username = { type = "string", default = "admin", force_new = true },
  master_password_secret_arn = { type = "string", required = true },
  master_password_secret_key = { type = "string" },
  db_subnet_group_name = { type = "string", required = true, force_new = true },
  vpc_security_group_ids = { type = "list", of = "string", computed = true },
  parameter_group_name = { type = "string", computed = true },
  multi_az = { type = "boolean", default = true },
  port = { type = "integer", computed = true },
  backup_retention_period = { type = "integer", default = 7 },
  preferred_backup_window = { type = "string", default = "02:00-03:00" },
  preferred_maintenance_window = { type = "string", default = "sun:04:00-sun:05:00" },
  deletion_protection = { type = "boolean", default = true },
  skip_final_snapshot = { type = "boolean", default = false },
  copy_tags_to_snapshot = { type = "boolean", default = true },
  publicly_accessible = { type = "boolean", default = false },
  auto_minor_version_upgrade = { type = "boolean", default = true },
  allow_major_version_upgrade = { type = "boolean", default = false },
  apply_immediately = { type = "boolean", default = true },
  tags = { type = "tags" },
}

return resource.define "aws.rds.instance" {
  description = "RDS MySQL or MariaDB DB instance",
  attributes = ATTRIBUTES,
  outputs = { "id", "arn", "endpoint", "port", "resource_id", "hosted_zone_id", "final_snapshot_identifier",
              "master_password_version" },

  found_by = "its identifier (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = rds.instance(ctx, want.identifier)
    return rds.named(ctx, "DB instance", want.identifier, existing, existing and kit.tag_map(existing.TagList))
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local final = rds.final_snapshot_name(ctx, want.identifier)
    if found then
      local o = observed(available(ctx, want.identifier), { inputs = want })
      o.final_snapshot_identifier = final
      o.master_password_version = kit.secret_version(ctx, want.master_password_secret_arn)
      return o
    end
    local password, version = rds.password(ctx, want)
    rds.client(ctx):call("CreateDBInstance", {
      DBInstanceIdentifier = want.identifier, Engine = want.engine, EngineVersion = want.engine_version,
      DBInstanceClass = want.instance_class, AllocatedStorage = want.allocated_storage,
      MaxAllocatedStorage = want.max_allocated_storage, StorageType = want.storage_type,
      StorageEncrypted = want.storage_encrypted, KmsKeyId = want.kms_key_id, DBName = want.db_name,
      MasterUsername = want.master_username, MasterUserPassword = password,
      DBSubnetGroupName = want.db_subnet_group_name, VpcSecurityGroupIds = want.vpc_security_group_ids,
      DBParameterGroupName = want.parameter_group_name, MultiAZ = want.multi_az, Port = want.port,
      BackupRetentionPeriod = want.backup_retention_period, PreferredBackupWindow = want.preferred_backup_window,
      PreferredMaintenanceWindow = want.preferred_maintenance_window, DeletionProtection = want.deletion_protection,
      CopyTagsToSnapshot = want.copy_tags_to_snapshot, PubliclyAccessible = want.publicly_accessible,
      AutoMinorVersionUpgrade = want.auto_minor_version_upgrade, Tags = kit.tag_list(want.tags),
    })
    local o = observed(available(ctx, want.identifier), { inputs = want })
    o.final_snapshot_identifier = final
    o.master_password_version = version
    return o
  end,

  read = function(ctx, id, prior)
    local inst = rds.instance(ctx, id)
    if not inst then return nil end
    if inst.DBInstanceStatus == "deleting" then return resource.deleting(id) end
    local o = kit.unset_computed(ATTRIBUTES, observed(inst, prior), prior)
    o.master_password_secret_arn = rds.observed_secret(ctx, prior)
    return o
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local set, params = {}, {}
    for _, name in ipairs(changed) do
      set[name] = true
      if MODIFY[name] and new[name] ~= nil then params[MODIFY[name]] = new[name] end
    end
    if set.allocated_storage and old.allocated_storage and new.allocated_storage < old.allocated_storage then
      ctx:fail("StorageShrink", "allocated_storage cannot go down (%d -> %d GiB): RDS cannot shrink storage",
        old.allocated_storage, new.allocated_storage)
    end
    if set.engine_version and major(new.engine_version) ~= major(old.engine_version) then
      if not new.allow_major_version_upgrade then
        ctx:fail("MajorVersionUpgrade", "engine_version %s -> %s is a major version upgrade: set "
          .. "allow_major_version_upgrade = true to allow it", tostring(old.engine_version), new.engine_version)
      end
      params.AllowMajorVersionUpgrade = true
    end
    local version
    if set.master_password_secret_arn or set.master_password_secret_key then
      params.MasterUserPassword, version = rds.password(ctx, new)
      ctx:log("setting the master password from %s (version %s)", new.master_password_secret_arn, version)
    end
    local inst = available(ctx, id)
    if next(params) then
      params.DBInstanceIdentifier = id
      params.ApplyImmediately = new.apply_immediately
      rds.client(ctx):call("ModifyDBInstance", params)
      inst = available(ctx, id)
    end
    if set.tags then
      rds.update_tags(ctx, inst.DBInstanceArn, old.tags, new.tags)
      inst = rds.instance(ctx, id) or inst
    end
    local o = observed(inst, { inputs = new })
    o.master_password_version = version
    return o
  end,

  delete = function(ctx, id, prior)
    local inst = rds.instance(ctx, id)
    if not inst then return end
    if inst.DBInstanceStatus ~= "deleting" then
      if inst.DeletionProtection then rds.refuse_protected(ctx, "DB instance", id) end
      if inst.DBInstanceStatus ~= "available" and not rds.FAILED[inst.DBInstanceStatus] then available(ctx, id) end
      rds.delete(ctx, "DeleteDBInstance", { DBInstanceIdentifier = id }, prior,
        { not_found = "DBInstanceNotFound", snapshot_exists = "DBSnapshotAlreadyExists" })
    end
    rds.wait_gone(ctx, "DB instance", id)
  end,

  import = function(ctx, id)
    local inst = rds.instance(ctx, id)
    if not inst then return nil end
    if inst.DBClusterIdentifier then
      ctx:fail("ClusterInstance", "DB instance %s belongs to the cluster %s: import it as aws.rds.cluster_instance",
        id, inst.DBClusterIdentifier)
    end
    local o = observed(inst, nil)
    o.final_snapshot_identifier = rds.final_snapshot_name(ctx, id)
    -- the settings wpo keeps itself start at their defaults
    o.skip_final_snapshot, o.apply_immediately, o.allow_major_version_upgrade = false, true, false
    return o
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "rds:DescribeDBInstances", "rds:ListTagsForResource", "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue" },
    create = { "rds:AddTagsToResource", "rds:CreateDBInstance", "rds:ModifyDBInstance" },
    update = { "rds:AddTagsToResource", "rds:CreateDBInstance", "rds:ModifyDBInstance",
      "rds:RemoveTagsFromResource" },
    delete = { "rds:DeleteDBInstance", "rds:RemoveTagsFromResource" },
  },
}
