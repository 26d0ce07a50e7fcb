-- wpo.wordpress.identity: the IAM side of the stack — least privilege, with
-- resource ARNs wherever IAM allows them.
--
--   identity.build(stack, p, deps) -> identity
--
-- Reads from p: name, region.
-- Reads from deps:
--   deps.registry.repository_arn   the stack's ECR repository (wpo.wordpress.registry)
--   deps.secrets.arns              the stack's secrets (wpo.wordpress.secrets)
--   deps.logs.log_group_arn        optional: the service's log group ARN (without ":*");
--                                  default: the ARN of the group wpo.wordpress.observability
--                                  declares (its name is known from p)
--   deps.files.file_system_arn and deps.files.access_point_arn
--                                  optional: with them the task role may mount exactly that
--                                  file system through exactly that access point; without,
--                                  it may mount the region's file systems tagged
--                                  wpo:stack = <name>, through a mount target
-- IAM names are global to the account, so each carries the region:
-- "<name>-<region>-<role>", path /wpo/.
--
-- Declares:
--   aws.iam.role.ecs-instance                    trusted by ec2.amazonaws.com
--   aws.iam.role_policy_attachment.ecs-instance  AmazonEC2ContainerServiceforEC2Role (managed)
--   aws.iam.instance_profile.ecs-instance        carrying that role (after its policy is attached)
--   aws.iam.role.task-execution                  trusted by ecs-tasks.amazonaws.com from this
--                                                account's ECS only (aws:SourceAccount/SourceArn)
--   aws.iam.role_policy.task-execution           ecr:GetAuthorizationToken (IAM allows only "*");
--                                                pulls from the stack's repository only; log
--                                                streams of the stack's log group only;
--                                                secretsmanager:GetSecretValue on the stack's
--                                                secrets only
--   aws.iam.role.task                            the containers' role, same trust
--   aws.iam.role_policy.task                     elasticfilesystem:ClientMount/ClientWrite
--                                                through the access point (see deps.files);
--                                                with deps.media.bucket_arn, the objects of
--                                                that bucket (get, put, delete) and its listing
--
-- Returns identity = {
--   instance_role, instance_profile (resources), instance_profile_name, instance_profile_arn,
--   execution_role, execution_role_arn, task_role, task_role_arn (the roles' ARNs, for the task
--   definition), policies = { execution, task } (resources), account_id (from the repository's ARN) }
local observability = require "wpo.wordpress.observability"
local policy = require "wpo.aws.iam.policy"
local value = require "wpo.value"

local M = {}

function M.partition(region)
  if region:match("^cn%-") then return "aws-cn" end
  if region:match("^us%-gov%-") then return "aws-us-gov" end
  return "aws"
end

function M.role_name(p, role)
  return string.format("%s-%s-%s", p.name, p.region, role)
end

local function need(deps, path)
  local v = deps
  for key in path:gmatch("[^.]+") do
    v = type(v) == "table" and v[key] or nil
  end
  if v == nil then error("identity.build: deps." .. path .. " is required", 3) end
  return v
end

-- the account id inside an ARN (a reference resolved at apply time)
function M.account_of(arn)
  return value.compute(function(a)
    local account = tostring(a):match("^arn:[^:]+:[^:]+:[^:]*:(%d+):")
    if not account then error("no account id in the ARN " .. tostring(a), 0) end
    return account
  end, arn)
end

local function ecs_tasks_trust(partition, region, account)
  return policy.document {
    { Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole",
      Condition = {
        StringEquals = { ["aws:SourceAccount"] = account },
        ArnLike = { ["aws:SourceArn"] = value.format("arn:%s:ecs:%s:%s:*", partition, region, account) },
      } },
  }
end

function M.build(stack, p, deps)
  assert(type(stack) == "table" and type(p) == "table", "identity.build(stack, p, deps)")
  deps = deps or {}
  local repository_arn = need(deps, "registry.repository_arn")
  local secret_arns = need(deps, "secrets.arns")
  local partition = M.partition(p.region)
  local account = M.account_of(repository_arn)
  local log_group_arn = deps.logs and deps.logs.log_group_arn
    or value.format("arn:%s:logs:%s:%s:log-group:%s", partition, p.region, account,
      observability.log_group_name(p))

  -- the ECS container instances
  local instance_role = stack:add("aws.iam.role", "ecs-instance", {
    name = M.role_name(p, "ecs-instance"), path = "/wpo/",
    description = "ECS container instances of WordPress " .. p.name,
    assume_role_policy = policy.assume_role("ec2.amazonaws.com"),
  })
  local instance_policy = stack:add("aws.iam.role_policy_attachment", "ecs-instance", {
    role = instance_role.name,
    policy_arn = "arn:" .. partition .. ":iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
  })
  local instance_profile = stack:add("aws.iam.instance_profile", "ecs-instance", {
    name = M.role_name(p, "ecs-instance"), path = "/wpo/", role = instance_role.name,
    depends_on = { instance_policy },
  })

  -- what ECS itself does for the tasks: pull the image, write logs, read the secrets
  local execution_role = stack:add("aws.iam.role", "task-execution", {
    name = M.role_name(p, "task-exec"), path = "/wpo/",
    description = "ECS task execution role of WordPress " .. p.name,
    assume_role_policy = ecs_tasks_trust(partition, p.region, account),
  })
  local execution_policy = stack:add("aws.iam.role_policy", "task-execution", {
    role = execution_role.name, name = "task-execution",
    policy = policy.document {
      { Sid = "EcrLogin", Effect = "Allow", Action = "ecr:GetAuthorizationToken", Resource = "*" },
      { Sid = "EcrPull", Effect = "Allow",
        Action = { "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer" },
        Resource = repository_arn },
      { Sid = "Logs", Effect = "Allow", Action = { "logs:CreateLogStream", "logs:PutLogEvents" },
        Resource = log_group_arn .. ":*" },
      { Sid = "Secrets", Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = secret_arns },
    },
  })

  -- what the WordPress containers may do: mount wp-content from EFS
  local task_role = stack:add("aws.iam.role", "task", {
    name = M.role_name(p, "task"), path = "/wpo/",
    description = "WordPress " .. p.name .. " containers",
    assume_role_policy = ecs_tasks_trust(partition, p.region, account),
  })
  local efs
  local files = deps.files
  if files and files.file_system_arn and files.access_point_arn then
    efs = { Sid = "WpContent", Effect = "Allow",
      Action = { "elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite" },
      Resource = files.file_system_arn,
      Condition = { StringEquals = { ["elasticfilesystem:AccessPointArn"] = files.access_point_arn } } }
  else
    efs = { Sid = "WpContent", Effect = "Allow",
      Action = { "elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite" },
      Resource = value.format("arn:%s:elasticfilesystem:%s:%s:file-system/*", partition, p.region, account),
      Condition = { StringEquals = { ["aws:ResourceTag/wpo:stack"] = p.name },
        Bool = { ["elasticfilesystem:AccessedViaMountTarget"] = "true" } } }
  end
  local task_statements = { efs }
  local media = deps.media
  if media and media.bucket_arn then   -- the uploads bucket, and no other
    task_statements[2] = { Sid = "MediaObjects", Effect = "Allow",
      Action = { "s3:GetObject", "s3:PutObject", "s3:DeleteObject" }, Resource = media.bucket_arn .. "/*" }
    task_statements[3] = { Sid = "MediaList", Effect = "Allow", Action = "s3:ListBucket", Resource = media.bucket_arn }
  end
  local task_policy = stack:add("aws.iam.role_policy", "task", {
    role = task_role.name, name = "wp-content", policy = policy.document(task_statements),
  })

  return {
    instance_role = instance_role,
    instance_profile = instance_profile,
    instance_profile_name = M.role_name(p, "ecs-instance"),
    instance_profile_arn = instance_profile.arn,
    execution_role = execution_role,
    execution_role_arn = execution_role.arn,
    task_role = task_role,
    task_role_arn = task_role.arn,
    policies = { execution = execution_policy, task = task_policy, instance = instance_policy },
    account_id = account,
  }
end

return M
