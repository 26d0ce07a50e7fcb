-- wpo.wordpress.observability: the service's log group and the stack's alarms.
--
--   observability.build(stack, p, deps) -> ops
--   observability.log_group_name(p) -> "/wpo/<name>/wordpress" (known without building:
--        the identity tier scopes the task execution role to it)
--
-- Reads from p: name, logs.retention_days, database.engine,
-- database.allocated_storage (plain RDS), alarms.email (optional: where alarms are sent).
-- Reads from deps:
--   deps.lb.alb_arn                      the ALB's ARN (its "app/<name>/<id>" suffix is the
--                                        LoadBalancer dimension)
--   deps.db.cluster_id                   Aurora: the DB cluster identifier, or
--   deps.db.instance_id                  MySQL/MariaDB: the DB instance identifier
--   deps.compute.cluster_name            the ECS cluster
--   deps.service.service_name            optional: the ECS service (its CPU rather than the
--                                        cluster's)
-- An alarm whose dependency is missing from deps is not declared (a stack
-- without a load balancer has no ALB alarms).
--
-- Declares:
--   aws.logs.log_group.wordpress     /wpo/<name>/wordpress, retention p.logs.retention_days
--                                    (encrypted at rest by CloudWatch Logs' own key)
--   aws.cloudwatch.metric_alarm.*    <name>-alb-5xx           ELB 5xx > 10 a minute, 3 of 5 minutes
--                                    <name>-target-5xx        WordPress 5xx > 10 a minute, 3 of 5
--                                    <name>-response-time     p95 target response time > 2 s, 2 of 2
--                                                             five-minute periods
--                                    <name>-db-cpu            DB CPU > 80 %, 3 five-minute periods
--                                    <name>-db-free-storage   Aurora: local storage < 2 GiB;
--                                                             RDS: free space < 10 % of allocated
--                                    <name>-ecs-cpu           ECS CPU > 85 %, 3 five-minute periods
--   with p.alarms.email:
--   aws.sns.topic.alarms             "<name>-alarms" (not under the AWS-managed SNS key, which
--                                    CloudWatch cannot publish through; alarms carry no secrets)
--   aws.sns.subscription.alarms-email  the address (it must confirm the link SNS mails it)
--   and every alarm notifies the topic when it goes into ALARM and back to OK
--
-- Returns ops = { log_group (resource), log_group_name, log_group_arn (without ":*"),
--   alarms = { alb_5xx, target_5xx, response_time, db_cpu, db_free_storage, ecs_cpu } (resources
--   declared), alarm_names = { ... }, topic (resource or nil), topic_arn (or nil) }
local value = require "wpo.value"

local M = {}

local GIB = 1024 * 1024 * 1024

function M.log_group_name(p)
  return "/wpo/" .. p.name .. "/wordpress"
end

local function field(t, key)
  return type(t) == "table" and t[key] or nil
end

local function alb_suffix(arn)
  return value.compute(function(a)
    local suffix = tostring(a):match(":loadbalancer/(app/.+)$")
    if not suffix then error("not an application load balancer ARN: " .. tostring(a), 0) end
    return suffix
  end, arn)
end

function M.build(stack, p, deps)
  assert(type(stack) == "table" and type(p) == "table", "observability.build(stack, p, deps)")
  deps = deps or {}
  local topic
  if p.alarms and p.alarms.email then
    topic = stack:add("aws.sns.topic", "alarms", { name = p.name .. "-alarms",
      display_name = "WordPress " .. p.name .. " alarms" })
    stack:add("aws.sns.subscription", "alarms-email", { topic_arn = topic.arn, protocol = "email",
      endpoint = p.alarms.email })
  end
  local log_group = stack:add("aws.logs.log_group", "wordpress", {
    name = M.log_group_name(p), retention_days = p.logs.retention_days,
  })

  local alarms, names = {}, {}
  local function alarm(key, attrs)
    attrs.name = p.name .. "-" .. key:gsub("_", "-")
    attrs.treat_missing_data = attrs.treat_missing_data or "notBreaching"
    if topic then attrs.alarm_actions, attrs.ok_actions = { topic.arn }, { topic.arn } end
    alarms[key] = stack:add("aws.cloudwatch.metric_alarm", key:gsub("_", "-"), attrs)
    names[key] = attrs.name
  end

  local alb = field(deps.lb, "alb_arn")
  if alb then
    local dims = { LoadBalancer = alb_suffix(alb) }
    alarm("alb_5xx", { description = "the load balancer answers 5xx itself (no healthy target, timeouts)",
      namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_ELB_5XX_Count", dimensions = dims,
      statistic = "Sum", period = 60, evaluation_periods = 5, datapoints_to_alarm = 3, threshold = 10,
      comparison_operator = "GreaterThanThreshold" })
    alarm("target_5xx", { description = "WordPress answers 5xx",
      namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_Target_5XX_Count", dimensions = dims,
      statistic = "Sum", period = 60, evaluation_periods = 5, datapoints_to_alarm = 3, threshold = 10,
      comparison_operator = "GreaterThanThreshold" })
    alarm("response_time", { description = "95th percentile of the targets' response time above 2 s",
      namespace = "AWS/ApplicationELB", metric_name = "TargetResponseTime", dimensions = dims,
      extended_statistic = "p95", period = 300, evaluation_periods = 2, threshold = 2, unit = "Seconds",
      comparison_operator = "GreaterThanThreshold" })
  end

  local aurora = p.database.engine == "aurora-mysql"
  local db_dims
  if aurora and field(deps.db, "cluster_id") then
    db_dims = { DBClusterIdentifier = deps.db.cluster_id }
  elseif not aurora and field(deps.db, "instance_id") then
    db_dims = { DBInstanceIdentifier = deps.db.instance_id }
  end
  if db_dims then
    alarm("db_cpu", { description = "database CPU above 80 %", namespace = "AWS/RDS",
      metric_name = "CPUUtilization", dimensions = db_dims, statistic = "Average", period = 300,
      evaluation_periods = 3, threshold = 80, comparison_operator = "GreaterThanThreshold" })
    if aurora then
      alarm("db_free_storage", { description = "Aurora local storage below 2 GiB", namespace = "AWS/RDS",
        metric_name = "FreeLocalStorage", dimensions = db_dims, statistic = "Minimum", period = 300,
        evaluation_periods = 1, threshold = 2 * GIB, unit = "Bytes", comparison_operator = "LessThanThreshold" })
    else
      local allocated = (p.database.allocated_storage or 20) * GIB
      alarm("db_free_storage", { description = "database free storage below 10 %", namespace = "AWS/RDS",
        metric_name = "FreeStorageSpace", dimensions = db_dims, statistic = "Minimum", period = 300,
        evaluation_periods = 1, threshold = math.floor(allocated / 10), unit = "Bytes",
        comparison_operator = "LessThanThreshold" })
    end
  end

  local cluster = field(deps.compute, "cluster_name")
  if cluster then
    local dims = { ClusterName = cluster, ServiceName = field(deps.service, "service_name") }
    alarm("ecs_cpu", { description = "ECS CPU above 85 %", namespace = "AWS/ECS", metric_name = "CPUUtilization",
      dimensions = dims, statistic = "Average", period = 300, evaluation_periods = 3, threshold = 85,
      comparison_operator = "GreaterThanThreshold" })
  end

  return {
    log_group = log_group,
    log_group_name = M.log_group_name(p),
    log_group_arn = log_group.arn,
    alarms = alarms,
    alarm_names = names,
    topic = topic,
    topic_arn = topic and topic.arn or nil,
  }
end

return M
