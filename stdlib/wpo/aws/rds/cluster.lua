-- aws.rds.cluster: an Aurora DB cluster (the storage, endpoints, backups and
-- credentials; its instances are aws.rds.cluster_instance).
--
-- Replaces: identifier, engine, database_name, master_username,
-- db_subnet_group_name, storage_encrypted, kms_key_id. In place
-- (ModifyDBCluster, ApplyImmediately): engine_version, vpc_security_group_ids,
-- db_cluster_parameter_group_name, port, backup_retention_period (1-35),
-- preferred_backup_window ("hh24:mi-hh24:mi", UTC), preferred_maintenance_window
-- ("ddd:hh24:mi-ddd:hh24:mi"), deletion_protection, copy_tags_to_snapshot,
-- iam_database_authentication_enabled, enabled_cloudwatch_logs_exports, the
-- master password, tags. Local only: skip_final_snapshot, apply_immediately,
-- allow_major_version_upgrade (a major engine_version change is refused without it).
-- Production-safe defaults: encrypted, 7 days of backups, deletion protection
-- on, a final snapshot on delete, tags copied to snapshots.
--
-- The master password is read from a Secrets Manager secret
-- (master_password_secret_arn; its SecretString, or the JSON member
-- master_password_secret_key) when the cluster is created, and set again when
-- the ARN or key changes or the secret's current version is not the one last
-- set: read compares the secret's AWSCURRENT version with the version
-- recorded (output master_password_version), so a rotated secret shows in the
-- plan as a change of master_password_secret_arn. Only the ARN and version
-- ids are kept in the state; the password goes to AWS in MasterUserPassword
-- only. (RDS's ManageMasterUserPassword is not in this botocore model, and its
-- weekly rotation would break running WordPress tasks, which read the
-- password once at start.)
--
-- Delete: refused while deletion protection is on (turn it off first: an
-- in-place change); instances that Application Auto Scaling added
-- (application-autoscaling-*) are deleted first; then DeleteDBCluster with the
-- final snapshot final_snapshot_identifier (an output, fixed at create:
-- <identifier>-final-<8 hex>) unless skip_final_snapshot; waits until gone.
--
-- Outputs: id (the identifier), arn, endpoint, reader_endpoint, port,
-- resource_id, hosted_zone_id, final_snapshot_identifier, master_password_version.
local kit = require "wpo.aws.typekit"
local rds = require "wpo.aws.rds.common"
local resource = require "wpo.resource"

local AUTOSCALED = "^application%-autoscaling%-"

local function available(ctx, id)
  return rds.wait_status(ctx, "DB cluster", id, rds.cluster, "Status", "available")
end

local function observed(c, prior)
  local prior_inputs = prior and prior.inputs or {}
  local sgs = {}
  for _, g in ipairs(c.VpcSecurityGroups or {}) do sgs[#sgs + 1] = g.VpcSecurityGroupId end
  local logs = c.EnabledCloudwatchLogsExports or {}
  return {
    id = c.DBClusterIdentifier,
    arn = c.DBClusterArn,
    endpoint = c.Endpoint,
    reader_endpoint = c.ReaderEndpoint,
    port = c.Port,
    resource_id = c.DbClusterResourceId,
    hosted_zone_id = c.HostedZoneId,
    identifier = c.DBClusterIdentifier,
    engine = c.Engine,
    engine_version = c.EngineVersion,
    database_name = c.DatabaseName,
    master_username = c.MasterUsername,
    db_subnet_group_name = c.DBSubnetGroup,
    vpc_security_group_ids = kit.as_prior_order(sgs, prior_inputs.vpc_security_group_ids),
    db_cluster_parameter_group_name = c.DBClusterParameterGroup,
    storage_encrypted = c.StorageEncrypted,
    kms_key_id = rds.kms_observed(c.KmsKeyId, prior_inputs.kms_key_id),
    backup_retention_period = c.BackupRetentionPeriod,
    preferred_backup_window = c.PreferredBackupWindow,
    preferred_maintenance_window = c.PreferredMaintenanceWindow,
    deletion_protection = c.DeletionProtection,
    copy_tags_to_snapshot = c.CopyTagsToSnapshot,
    iam_database_authentication_enabled = c.IAMDatabaseAuthenticationEnabled,
    enabled_cloudwatch_logs_exports = kit.as_prior_order(logs, prior_inputs.enabled_cloudwatch_logs_exports),
    tags = kit.tag_map(c.TagList),
  }
end

local function check(ctx, want)
  if want.identifier ~= want.identifier:lower() then
    ctx:fail("InvalidName", "cluster identifier '%s': RDS keeps identifiers lower-case; write it in lower case",
      want.identifier)
  end
  if want.kms_key_id and not want.storage_encrypted then
    ctx:fail("InvalidParameter", "kms_key_id is given but storage_encrypted is false")
  end
end

local function logs_change(old, new)
  local was, now = {}, {}
  for _, t in ipairs(old or {}) do was[t] = true end
  for _, t in ipairs(new or {}) do now[t] = true end
  local enable, disable = {}, {}
  for t in pairs(now) do if not was[t] then enable[#enable + 1] = t end end
  for t in pairs(was) do if not now[t] then disable[#disable + 1] = t end end
  table.sort(enable)
  table.sort(disable)
  return { EnableLogTypes = enable, DisableLogTypes = disable }
end

local function result(c, prior, extra)
  local o = observed(c, prior)
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local MODIFY = {
  engine_version = "EngineVersion", vpc_security_group_ids = "VpcSecurityGroupIds",
  db_cluster_parameter_group_name = "DBClusterParameterGroupName", port = "Port",
  backup_retention_period = "BackupRetentionPeriod", preferred_backup_window = "PreferredBackupWindow",
  preferred_maintenance_window = "PreferredMaintenanceWindow", deletion_protection = "DeletionProtection",
  copy_tags_to_snapshot = "CopyTagsToSnapshot",
  iam_database_authentication_enabled = "EnableIAMDatabaseAuthentication",
}

local function major(version)
  if not version then return nil end
  return version:match("^(%d+%.%d+)%.mysql_aurora") or version:match("^(%d+)")
end

local ATTRIBUTES = {
  identifier = { type = "string", required = true, force_new = true },
  engine = { type = "string", default = "aurora-mysql", force_new = true,
    choices = { "aurora-mysql", "aurora-postgresql" } },
  engine_version = { type = "string", computed = true },
  database_name = { type = "string", force_new = true },
  master_username = { type = "string", default = "admin", force_new = true },
  master_password_secret_arn = { type = "string", required = true },
  master_password_secret_key = { type = "string" },
  db_subnet_group_name = { type = "string", required = true, force_new = true },
  vpc_security_group_ids = { type = "list", of = "string", computed = true },
  db_cluster_parameter_group_name = { type = "string", computed = true },
  port = { type = "integer", computed = true },
  storage_encrypted = { type = "boolean", default = true, force_new = true },
  kms_key_id = { type = "string", computed = true, force_new = true },
  backup_retention_period = { type = "integer", default = 7 },
  preferred_backup_window = { type = "string", default = "02:00-03:00" },
  preferred_maintenance_window = { type = "string", default = "sun:04:00-sun:05:00" },
  deletion_protection = { type = "boolean", default = true },
  skip_final_snapshot = { type = "boolean", default = false },
  copy_tags_to_snapshot = { type = "boolean", default = true },
  iam_database_authentication_enabled = { type = "boolean", default = false },
  enabled_cloudwatch_logs_exports = { type = "list", of = "string", default = {} },
  allow_major_version_upgrade = { type = "boolean", default = false },
  apply_immediately = { type = "boolean", default = true },
  tags = { type = "tags" },
}

return resource.define "aws.rds.cluster" {
  description = "Aurora DB cluster",
  attributes = ATTRIBUTES,
  outputs = { "id", "arn", "endpoint", "reader_endpoint", "port", "resource_id", "hosted_zone_id",
              "final_snapshot_identifier", "master_password_version" },

  found_by = "its identifier (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = rds.cluster(ctx, want.identifier)
    return rds.named(ctx, "DB cluster", want.identifier, existing, existing and kit.tag_map(existing.TagList))
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local client = rds.client(ctx)
    local final = rds.final_snapshot_name(ctx, want.identifier)
    if found then
      local c = available(ctx, want.identifier)
      return result(c, { inputs = want }, { final_snapshot_identifier = final,
        master_password_version = kit.secret_version(ctx, want.master_password_secret_arn) })
    end
    local password, version = rds.password(ctx, want)
    local params = {
      DBClusterIdentifier = want.identifier, Engine = want.engine, EngineVersion = want.engine_version,
      DatabaseName = want.database_name, MasterUsername = want.master_username, MasterUserPassword = password,
      DBSubnetGroupName = want.db_subnet_group_name, VpcSecurityGroupIds = want.vpc_security_group_ids,
      DBClusterParameterGroupName = want.db_cluster_parameter_group_name, Port = want.port,
      StorageEncrypted = want.storage_encrypted, KmsKeyId = want.kms_key_id,
      BackupRetentionPeriod = want.backup_retention_period, PreferredBackupWindow = want.preferred_backup_window,
      PreferredMaintenanceWindow = want.preferred_maintenance_window, DeletionProtection = want.deletion_protection,
      CopyTagsToSnapshot = want.copy_tags_to_snapshot,
      EnableIAMDatabaseAuthentication = want.iam_database_authentication_enabled,
      Tags = kit.tag_list(want.tags),
    }
    if #want.enabled_cloudwatch_logs_exports > 0 then
      params.EnableCloudwatchLogsExports = want.enabled_cloudwatch_logs_exports
    end
    client:call("CreateDBCluster", params)
    local c = available(ctx, want.identifier)
    return result(c, { inputs = want }, { final_snapshot_identifier = final, master_password_version = version })
  end,

  read = function(ctx, id, prior)
    local c = rds.cluster(ctx, id)
    if not c then return nil end
    if c.Status == "deleting" then return resource.deleting(id) end
    local o = kit.unset_computed(ATTRIBUTES, observed(c, prior), prior)
    o.master_password_secret_arn = rds.observed_secret(ctx, prior)
    return o
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local set = {}
    for _, name in ipairs(changed) do set[name] = true end
    local params, extra = {}, {}
    for attr, member in pairs(MODIFY) do
      if set[attr] and new[attr] ~= nil then params[member] = new[attr] end
    end
    if set.engine_version and major(new.engine_version) ~= major(old.engine_version) then
      if not new.allow_major_version_upgrade then
        ctx:fail("MajorVersionUpgrade", "engine_version %s -> %s is a major version upgrade: set "
          .. "allow_major_version_upgrade = true to allow it", tostring(old.engine_version), new.engine_version)
      end
      params.AllowMajorVersionUpgrade = true
    end
    if set.enabled_cloudwatch_logs_exports then
      params.CloudwatchLogsExportConfiguration = logs_change(old.enabled_cloudwatch_logs_exports,
        new.enabled_cloudwatch_logs_exports)
    end
    if set.master_password_secret_arn or set.master_password_secret_key then
      local password, version = rds.password(ctx, new)
      params.MasterUserPassword = password
      extra.master_password_version = version
      ctx:log("setting the master password from %s (version %s)", new.master_password_secret_arn, version)
    end
    local c = available(ctx, id)
    if next(params) then
      params.DBClusterIdentifier = id
      params.ApplyImmediately = new.apply_immediately
      rds.client(ctx):call("ModifyDBCluster", params)
      c = available(ctx, id)
    end
    if set.tags then rds.update_tags(ctx, c.DBClusterArn, old.tags, new.tags) end
    if set.tags then c = rds.cluster(ctx, id) or c end
    return result(c, { inputs = new }, extra)
  end,

  delete = function(ctx, id, prior)
    local c = rds.cluster(ctx, id)
    if not c then return end
    local client = rds.client(ctx)
    if c.Status ~= "deleting" then
      if c.DeletionProtection then rds.refuse_protected(ctx, "DB cluster", id) end
      local others = {}
      for _, m in ipairs(c.DBClusterMembers or {}) do
        local mid = m.DBInstanceIdentifier
        if mid:match(AUTOSCALED) then
          local inst = rds.instance(ctx, mid)
          if inst and inst.DBInstanceStatus ~= "deleting" then
            ctx:log("deleting %s, a reader Application Auto Scaling added", mid)
            if inst.DBInstanceStatus ~= "available" and not rds.FAILED[inst.DBInstanceStatus] then
              rds.wait_status(ctx, "DB instance", mid, rds.instance, "DBInstanceStatus", "available")
            end
            local done, err = client:pcall("DeleteDBInstance", { DBInstanceIdentifier = mid })
            if not done and not kit.is_code(err, "DBInstanceNotFound") then error(err, 0) end
          end
        else
          local inst = rds.instance(ctx, mid)
          if inst and inst.DBInstanceStatus ~= "deleting" then others[#others + 1] = mid end
        end
      end
      if #others > 0 then
        ctx:fail("ClusterInUse", "DB cluster %s still has instances wpo does not manage here (%s): delete them first",
          id, table.concat(others, ", "))
      end
      for _, m in ipairs(c.DBClusterMembers or {}) do
        if m.DBInstanceIdentifier:match(AUTOSCALED) then
          rds.wait_gone(ctx, "DB instance", m.DBInstanceIdentifier)
        end
      end
      -- a cluster just modified (deletion protection turned off) may still be settling
      if c.Status ~= "available" then available(ctx, id) end
      rds.delete(ctx, "DeleteDBCluster", { DBClusterIdentifier = id }, prior,
        { not_found = "DBClusterNotFoundFault", snapshot_exists = "DBClusterSnapshotAlreadyExistsFault" })
    end
    rds.wait_gone(ctx, "DB cluster", id)
  end,

  import = function(ctx, id)
    local c = rds.cluster(ctx, id)
    if not c then return nil end
    -- the settings wpo keeps itself start at their defaults
    return result(c, nil, { final_snapshot_identifier = rds.final_snapshot_name(ctx, id),
      skip_final_snapshot = false, apply_immediately = true, allow_major_version_upgrade = false })
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "rds:DescribeDBClusters", "rds:ListTagsForResource", "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue" },
    create = { "rds:AddTagsToResource", "rds:CreateDBCluster", "rds:ModifyDBCluster" },
    update = { "rds:AddTagsToResource", "rds:CreateDBCluster", "rds:ModifyDBCluster",
      "rds:RemoveTagsFromResource" },
    -- DescribeDBInstances: the members a cluster still lists (Application
    -- Auto Scaling's readers, and any other) are looked at before it goes
    delete = { "rds:DeleteDBCluster", "rds:DeleteDBInstance", "rds:DescribeDBInstances",
      "rds:RemoveTagsFromResource" },
  },
}
