-- wpo.wordpress.database: the database tier of the WordPress-on-ECS layout —
-- Aurora MySQL (a writer, min readers, read-replica autoscaling up to max),
-- or one plain RDS MySQL/MariaDB instance for small customers.
--
--   database.build(stack, p, deps) -> db
--
-- Reads from p (validated by wpo.wordpress): name, protect, database = {
-- engine ("aurora-mysql" | "mysql" | "mariadb"), instance_class, readers =
-- { min, max } (Aurora), name (the WordPress database), user (the master user),
-- backup_retention_days, deletion_protection (default: protect),
-- allocated_storage (plain instances) }.
-- Reads from deps: net.subnet_ids.database (the database subnets' ids, one per
-- zone; or net.subnets.database, their resources), sg.db (the database's
-- security group; or sg.ids.db), secrets.db_password_arn (the ARN of the
-- master password's Secrets Manager secret, whose SecretString is the
-- password; or secrets.db_password / secrets.db: a part { arn }, an
-- aws.secretsmanager.secret or an ARN), as wpo.wordpress.secrets returns them.
--
-- Declares, for Aurora:
--   aws.rds.db_subnet_group.db              <name>-db, in the database subnets
--   aws.rds.cluster_parameter_group.db      <name>-db, aurora-mysql8.0, utf8mb4
--   aws.rds.cluster.db                      <name>-db: encrypted, backups kept
--                                           backup_retention_days (02:00-03:00 UTC,
--                                           maintenance sun 04:00-05:00), error and
--                                           slow query logs to CloudWatch, deletion
--                                           protection, a final snapshot on delete
--   aws.rds.cluster_instance.db-1           the writer (promotion tier 0)
--   aws.rds.cluster_instance.db-2 ...       readers.min readers (tier 1), after the writer
--   aws.applicationautoscaling.target.db-readers and .policy.db-readers-cpu
--                                           when readers.max > readers.min: replicas
--                                           (rds:cluster:ReadReplicaCount) between min and
--                                           max, tracking 70 % reader CPU
-- or, for mysql/mariadb:
--   aws.rds.db_subnet_group.db, aws.rds.instance.db   Multi-AZ, encrypted gp3
--                                           storage growing up to 5x allocated_storage
-- With p.protect the cluster (or instance) carries lifecycle.prevent_destroy:
-- wpo refuses to destroy or replace it, naming the line of the stack script.
--
-- Returns db = { engine, identifier, endpoint, reader_endpoint (the writer's
-- for a plain instance), port, name, user, secret_arn, subnet_group,
-- parameter_group (Aurora), cluster (Aurora), instances (Aurora: writer
-- first), instance (plain), cluster_id = cluster_identifier (Aurora: the
-- DBClusterIdentifier of CloudWatch metrics), instance_id (plain: the
-- DBInstanceIdentifier), writer_identifier,
-- autoscaling = { target, policy } | nil, resource (the cluster or instance) }.
local parts = require "wpo.wordpress.deps"
local resource = require "wpo.resource"

local M = {}

M.PORT = 3306
M.FAMILY = "aurora-mysql8.0"
M.PARAMETERS = { character_set_server = "utf8mb4", collation_server = "utf8mb4_unicode_ci" }
M.BACKUP_WINDOW = "02:00-03:00"
M.MAINTENANCE_WINDOW = "sun:04:00-sun:05:00"
M.READER_CPU_TARGET = 70





local function secret_arn(secrets)
  secrets = secrets or {}
  return parts.arn("database", secrets.db_password_arn or secrets.db_password or secrets.db, "secrets.db_password_arn")
end

local function aurora(stack, p, d, common)
  local base = p.name .. "-db"
  local protect = { prevent_destroy = p.protect == true }
  local params = stack:add("aws.rds.cluster_parameter_group", "db", {
    name = base, family = M.FAMILY, description = "WordPress " .. p.name .. ": utf8mb4",
    parameters = M.PARAMETERS })
  local cluster = stack:add("aws.rds.cluster", "db", {
    identifier = base, engine = "aurora-mysql", database_name = d.name, master_username = d.user,
    master_password_secret_arn = common.secret_arn, db_subnet_group_name = common.subnet_group.id,
    db_cluster_parameter_group_name = params.id, vpc_security_group_ids = { common.group_id }, port = M.PORT,
    storage_encrypted = true, backup_retention_period = d.backup_retention_days,
    preferred_backup_window = M.BACKUP_WINDOW, preferred_maintenance_window = M.MAINTENANCE_WINDOW,
    deletion_protection = d.deletion_protection, skip_final_snapshot = false, copy_tags_to_snapshot = true,
    enabled_cloudwatch_logs_exports = { "error", "slowquery" },
    lifecycle = protect })
  local instances = {}
  instances[1] = stack:add("aws.rds.cluster_instance", "db-1", {
    identifier = base .. "-1", cluster_identifier = cluster.id, engine = "aurora-mysql",
    instance_class = d.instance_class, promotion_tier = 0 })
  for i = 1, d.readers.min do
    instances[#instances + 1] = stack:add("aws.rds.cluster_instance", "db-" .. (i + 1), {
      identifier = base .. "-" .. (i + 1), cluster_identifier = cluster.id, engine = "aurora-mysql",
      instance_class = d.instance_class, promotion_tier = 1, depends_on = { instances[1] } })
  end
  local db = { engine = "aurora-mysql", identifier = base, cluster = cluster, parameter_group = params,
    instances = instances, cluster_identifier = cluster.id, cluster_id = cluster.id,
    writer_identifier = instances[1].id,
    endpoint = cluster.endpoint, reader_endpoint = cluster.reader_endpoint, port = cluster.port, resource = cluster }
  if d.readers.max > d.readers.min then
    if not resource.get("aws.applicationautoscaling.target") then
      error("wordpress.database: read-replica autoscaling (database.readers.max > min) needs the resource type "
        .. "aws.applicationautoscaling.target, which this wpo does not have yet; set readers.max = readers.min", 3)
    end
    local depends = {}
    for i, inst in ipairs(instances) do depends[i] = inst end
    local target = stack:add("aws.applicationautoscaling.target", "db-readers", {
      service_namespace = "rds", resource_id = "cluster:" .. cluster.id,
      scalable_dimension = "rds:cluster:ReadReplicaCount", min_capacity = d.readers.min,
      max_capacity = d.readers.max, depends_on = depends })
    local policy = stack:add("aws.applicationautoscaling.policy", "db-readers-cpu", {
      name = base .. "-readers-cpu", service_namespace = "rds", resource_id = "cluster:" .. cluster.id,
      scalable_dimension = "rds:cluster:ReadReplicaCount", policy_type = "TargetTrackingScaling",
      target_tracking = { target_value = M.READER_CPU_TARGET,
        predefined_metric_type = "RDSReaderAverageCPUUtilization",
        scale_out_cooldown = 300 },
      depends_on = { target } })
    db.autoscaling = { target = target, policy = policy }
  end
  return db
end

local function plain(stack, p, d, common)
  local base = p.name .. "-db"
  local storage = d.allocated_storage or 20
  local inst = stack:add("aws.rds.instance", "db", {
    identifier = base, engine = d.engine, instance_class = d.instance_class, allocated_storage = storage,
    max_allocated_storage = storage * 5, storage_type = "gp3", storage_encrypted = true, db_name = d.name,
    master_username = d.user, master_password_secret_arn = common.secret_arn,
    db_subnet_group_name = common.subnet_group.id, vpc_security_group_ids = { common.group_id }, port = M.PORT,
    multi_az = true, backup_retention_period = d.backup_retention_days, preferred_backup_window = M.BACKUP_WINDOW,
    preferred_maintenance_window = M.MAINTENANCE_WINDOW, deletion_protection = d.deletion_protection,
    skip_final_snapshot = false, copy_tags_to_snapshot = true,
    lifecycle = { prevent_destroy = p.protect == true } })
  return { engine = d.engine, identifier = base, instance = inst, instance_id = inst.id, writer_identifier = inst.id,
    endpoint = inst.endpoint, reader_endpoint = inst.endpoint, port = inst.port, resource = inst }
end

function M.build(stack, p, deps)
  deps = deps or {}
  local d = p.database
  local deletion_protection = d.deletion_protection
  if deletion_protection == nil then deletion_protection = p.protect == true end
  local settings = {}
  for k, v in pairs(d) do settings[k] = v end
  settings.deletion_protection = deletion_protection
  settings.readers = d.readers or { min = 0, max = 0 }
  local common = { secret_arn = secret_arn(deps.secrets), group_id = parts.group("database", deps.sg, "db") }
  common.subnet_group = stack:add("aws.rds.db_subnet_group", "db", {
    name = p.name .. "-db", description = "WordPress " .. p.name .. ": database subnets",
    subnet_ids = parts.subnets("database", deps.net, "database") })
  local db
  if d.engine == "aurora-mysql" then
    db = aurora(stack, p, settings, common)
  else
    db = plain(stack, p, settings, common)
  end
  db.subnet_group = common.subnet_group
  db.name, db.user, db.secret_arn = d.name, d.user, common.secret_arn
  return db
end

return M
