-- The fleet runner: everything `wpo rollout ... --executor ecs` needs, in an
-- empty account.
--
--   make runner-root                  # build/runner-root: wpo + its Debian libraries
--   wpo run stacks/fleet.lua --var state_bucket=acme-wpo-state --var deploy_roles=arn:aws:iam::...:role/wpo-deploy
--   wpo output stacks/fleet.lua rollout_command     # then run what it prints, with the tag
--
-- Makes: an ECR repository and the runner image in it — debian:12-slim plus
-- one layer of build/runner-root (wpo at /usr/local/bin, the Debian packages
-- of the libraries it loads, unpacked; see tools/runner-root.sh), built and
-- pushed by wpo itself (oci.image, no Docker); a log group; the task
-- execution role (pull this image, write this log group); the task role
-- (what a rollout needs: the fleet's state bucket and lock table, assuming
-- the customers' deploy roles, and any policy given for stacks deployed into
-- this account); a Fargate task definition; a cluster; a VPC with two public
-- subnets (tasks get a public address to reach git, ECR and AWS; nothing
-- reaches them: their security group has no ingress).
--
-- Variables (WPO_VAR_<name>, --var-file, --var):
--   runner_base    the base image (default debian:12-slim; pin it @sha256:
--                  and a plan needs no registry once its manifests are cached)
--   runner_root    the directory `make runner-root` prepares (ignored by git,
--                  read from disk even with --ref)
--   state_bucket   the S3 bucket of the fleet's stacks' states ("": none)
--   state_prefix   the keys under it the tasks may touch (default: all)
--   lock_table     their DynamoDB lock table ("": none)
--   deploy_roles   comma-separated role ARNs the stacks assume (aws.assume_role)
--   stacks_policy  a policy document (JSON) for stacks deployed into this
--                  account: what `wpo iam-policy STACK` prints for them
--   git_token_secret  a Secrets Manager secret's ARN holding a token for a
--                  private stack repository (WPO_GIT_TOKEN in the task)
--   cidr           the VPC's block (default 10.90.0.0/16)
-- Another region: edit region, azs and the subnets' zones below.
local s = wpo.stack {
  name = "fleet",
  region = "eu-west-1",
  azs = { "eu-west-1a", "eu-west-1b" },
  tags = { ["wpo:app"] = "fleet-runner" },
  vars = {
    runner_base = "debian:12-slim",
    runner_root = "build/runner-root",
    state_bucket = "",
    state_prefix = "",
    lock_table = "",
    deploy_roles = "",
    stacks_policy = "",
    git_token_secret = "",
    cidr = "10.90.0.0/16",
  },
}
local v = s.vars
local NAME = "wpo-fleet"
local REGION = "eu-west-1"
local CONTAINER = "wpo"
local LOG_GROUP = "/wpo/fleet/runner"

-- ---- the image ----
local repo = s:add("aws.ecr.repository", "runner", {
  name = "wpo/runner", scan_on_push = true, image_tag_mutability = "IMMUTABLE", encryption_type = "AES256",
  force_delete = true,
})
s:add("aws.ecr.lifecycle_policy", "runner", { repository = repo.name, keep_last = 10, untagged_expire_days = 7 })
local image = s:add("oci.image", "runner", {
  base = v.runner_base,
  layers = { { from = v.runner_root, to = "/", source = "worktree" } },
  env = { WPO_CACHE_DIR = "/tmp/wpo-cache" },
  labels = { ["org.opencontainers.image.title"] = "wpo fleet runner" },
  repository = repo.repository_url,
})

-- ---- logs and roles ----
local logs = s:add("aws.logs.log_group", "runner", { name = LOG_GROUP, retention_days = 30 })
local account = repo.registry_id
local trust = {
  Version = "2012-10-17",
  Statement = { {
    Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole",
    Condition = {
      StringEquals = { ["aws:SourceAccount"] = account },
      ArnLike = { ["aws:SourceArn"] = wpo.format("arn:aws:ecs:%s:%s:*", REGION, account) },
    },
  } },
}

local exec_statements = {
  { Sid = "EcrLogin", Effect = "Allow", Action = "ecr:GetAuthorizationToken", Resource = "*" },
  { Sid = "EcrPull", Effect = "Allow", Resource = repo.arn,
    Action = { "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer" } },
  { Sid = "Logs", Effect = "Allow", Action = { "logs:CreateLogStream", "logs:PutLogEvents" },
    Resource = wpo.format("%s:*", logs.arn) },
}
if v.git_token_secret ~= "" then
  exec_statements[#exec_statements + 1] = { Sid = "GitToken", Effect = "Allow", Action = "secretsmanager:GetSecretValue",
    Resource = v.git_token_secret }
end
local execution = s:add("aws.iam.role", "execution", {
  name = NAME .. "-execution", path = "/wpo/", description = "ECS task execution of the wpo fleet runner",
  assume_role_policy = trust,
})
local execution_policy = s:add("aws.iam.role_policy", "execution", {
  role = execution.name, name = "runner-execution", policy = { Version = "2012-10-17", Statement = exec_statements },
})

local task_role = s:add("aws.iam.role", "task", {
  name = NAME .. "-task", path = "/wpo/", description = "the wpo fleet runner: what a rollout's stacks need",
  assume_role_policy = trust,
})
local task_statements = {}
if v.state_bucket ~= "" then
  local bucket = "arn:aws:s3:::" .. v.state_bucket
  task_statements[#task_statements + 1] = { Sid = "StateBucket", Effect = "Allow", Resource = bucket,
    Action = { "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning" } }
  task_statements[#task_statements + 1] = { Sid = "StateObjects", Effect = "Allow",
    Resource = bucket .. "/" .. v.state_prefix .. "*",
    Action = { "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject" } }
end
if v.lock_table ~= "" then
  task_statements[#task_statements + 1] = { Sid = "StateLock", Effect = "Allow",
    Resource = wpo.format("arn:aws:dynamodb:%s:%s:table/%s", REGION, account, v.lock_table),
    Action = { "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem" } }
end
local deploy_roles = {}
for arn in v.deploy_roles:gmatch("[^,%s]+") do deploy_roles[#deploy_roles + 1] = arn end
if #deploy_roles > 0 then
  task_statements[#task_statements + 1] = { Sid = "DeployRoles", Effect = "Allow", Action = "sts:AssumeRole",
    Resource = deploy_roles }
end
local task_policies = {}
if #task_statements > 0 then
  task_policies[#task_policies + 1] = s:add("aws.iam.role_policy", "task", {
    role = task_role.name, name = "rollout", policy = { Version = "2012-10-17", Statement = task_statements },
  })
end
if v.stacks_policy ~= "" then
  task_policies[#task_policies + 1] = s:add("aws.iam.role_policy", "stacks", {
    role = task_role.name, name = "stacks", policy = v.stacks_policy,
  })
end

-- ---- the task definition and the cluster ----
local secrets
if v.git_token_secret ~= "" then secrets = { { name = "WPO_GIT_TOKEN", valueFrom = v.git_token_secret } } end
local waits = { execution_policy }
for _, p in ipairs(task_policies) do waits[#waits + 1] = p end
local td = s:add("aws.ecs.task_definition", "runner", {
  family = NAME .. "-runner", network_mode = "awsvpc", requires_compatibilities = { "FARGATE" },
  cpu = 512, memory = 1024,
  execution_role_arn = execution.arn, task_role_arn = task_role.arn,
  built_images = { image.uri },
  container_definitions = { {
    name = CONTAINER, image = image.uri, essential = true,
    command = { "wpo", "version" },           -- the executor gives each task its own
    secrets = secrets,
    logConfiguration = { logDriver = "awslogs", options = { ["awslogs-group"] = LOG_GROUP,
      ["awslogs-region"] = REGION, ["awslogs-stream-prefix"] = CONTAINER } },
  } },
  depends_on = waits,
  lifecycle = { create_before_destroy = true },
})
local cluster = s:add("aws.ecs.cluster", "fleet", { name = NAME, container_insights = false })

-- ---- the network: public subnets, egress only ----
local vpc = s:add("aws.ec2.vpc", "fleet", { cidr_block = v.cidr, enable_dns_support = true,
  enable_dns_hostnames = true, tags = { Name = NAME } })
local igw = s:add("aws.ec2.internet_gateway", "fleet", { vpc_id = vpc.id, tags = { Name = NAME } })
local rtb = s:add("aws.ec2.route_table", "fleet", { vpc_id = vpc.id, tags = { Name = NAME .. "-public" } })
s:add("aws.ec2.route", "fleet-internet", { route_table_id = rtb.id, destination_cidr_block = "0.0.0.0/0",
  gateway_id = igw.id })
local subnet_ids = {}
for i, az in ipairs({ "eu-west-1a", "eu-west-1b" }) do
  local z = az:sub(-1)
  local subnet = s:add("aws.ec2.subnet", "public-" .. z, {
    vpc_id = vpc.id, cidr_block = cidr.subnet(v.cidr, 4, i - 1), availability_zone = az,
    map_public_ip_on_launch = true, tags = { Name = NAME .. "-public-" .. z },
  })
  s:add("aws.ec2.route_table_association", "public-" .. z, { subnet_id = subnet.id, route_table_id = rtb.id })
  subnet_ids[i] = subnet.id
end
local sg = s:add("aws.ec2.security_group", "runner", {
  name = NAME .. "-runner", description = "wpo fleet runner tasks: egress only", vpc_id = vpc.id,
  allow_all_egress = true, tags = { Name = NAME .. "-runner" },
})

s:output("cluster", cluster.name)
s:output("task_definition", td.arn)
s:output("image", image.uri)
s:output("subnets", wpo.format("%s,%s", subnet_ids[1], subnet_ids[2]))
s:output("security_group", sg.id)
s:output("rollout_command", wpo.format("wpo rollout TAG stacks/customers/ --executor ecs --cluster %s "
  .. "--task-definition %s --launch-type FARGATE --subnets %s,%s --security-groups %s --assign-public-ip",
  cluster.name, td.arn, subnet_ids[1], subnet_ids[2], sg.id))
return s
