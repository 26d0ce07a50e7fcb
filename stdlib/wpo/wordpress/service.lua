-- wpo.wordpress.service: the service tier of the WordPress-on-ECS layout — the
-- WordPress task definition, its ECS service behind the ALB, and autoscaling.
--
--   service.build(stack, p, deps) -> service
--
-- Reads from p (validated by wpo.wordpress): name, region, service = { cpu,
-- memory, desired, min, max, image (default the public official WordPress
-- image; or { base, content }: the image built from `content`, a directory
-- of the stack repository), ecr_tag (optional), port }, database = { name,
-- user } (defaults when deps.db has none), logs.
-- Reads from deps (the parts wpo.wordpress builds before this tier):
--   compute.cluster_name, compute.capacity_provider_name,
--   compute.cluster_capacity_providers (a resource: the service waits for the
--     providers to be associated)
--   lb.target_group_arn, lb.listeners (resources: the target group must be
--     attached to the ALB before a service may use it), lb.resource_label
--   db.endpoint, db.name, db.user
--   cache.primary_endpoint, cache.port (optional: without a cache no Redis settings)
--   secrets.db_password_arn, secrets.redis_auth_arn (Secrets Manager ARNs; the
--     values reach the container through `secrets`/`valueFrom`, never its
--     environment), secrets.wordpress_keys_arn (optional: a JSON secret with
--     AUTH_KEY, SECURE_AUTH_KEY, ... so every task signs cookies alike)
--   files.file_system_id, files.access_point_id (EFS for wp-content)
--   identity.execution_role_arn, identity.task_role_arn, identity.policies
--     (optional: resources the service waits for)
--   ops.log_group_name (or logs.log_group_name; default "/wpo/<name>/wordpress"),
--     ops.log_group (optional resource the service waits for)
--   registry.repository_url and registry.repository_name (with service.ecr_tag)
--   media.bucket_name (optional: the uploads bucket, given to the container as
--     WP_MEDIA_BUCKET and WP_MEDIA_REGION for an S3 uploads plugin)
--
-- Declares:
--   oci.image.wordpress                 (service.image = { base, content } only) the
--       customer's image: `base` plus a layer for each of <content>/themes,
--       <content>/plugins and <content>/mu-plugins that exists, to
--       /usr/src/wordpress/wp-content/<x> owned 33:33 (www-data; the image's
--       entrypoint copies /usr/src/wordpress into the document root at each
--       start), and <content>/conf.d/*.ini to /usr/local/etc/php/conf.d/;
--       pushed to registry.repository_url by digest (ECR auth); from the
--       working tree, or the commit with --ref
--   aws.ecs.task_definition.wordpress   family <name>-wordpress, bridge network mode
--       (dynamic host port behind the target group), task cpu/memory from p.service,
--       the container "wordpress": image p.service.image, the built image's uri
--       (<repository_url>@sha256:..., pinned), or
--       <repository_url>:<ecr_tag> with service.ecr_tag — checked at plan time
--       (DescribeImages: a tag that does not exist refuses the plan); environment
--       WORDPRESS_DB_HOST/NAME/USER, WP_REDIS_HOST/PORT and WORDPRESS_CONFIG_EXTRA
--       (the Redis object cache's settings, TLS); secrets WORDPRESS_DB_PASSWORD and
--       WP_REDIS_PASSWORD (valueFrom the secrets' ARNs); /var/www/html/wp-content on
--       the EFS access point (transit encryption, IAM authorisation); awslogs; a
--       container health check; a new revision on every change (create before
--       destroy, so the service moves first)
--   aws.ecs.service.wordpress           <name>-wordpress on the cluster's capacity
--       provider, spread across zones then instances, circuit breaker with
--       rollback, behind the target group (120 s grace), desired count left to
--       autoscaling after creation
--   aws.applicationautoscaling.target.wordpress        service.min..service.max tasks
--   aws.applicationautoscaling.policy.wordpress-cpu    average CPU at 60 %
--   aws.applicationautoscaling.policy.wordpress-requests
--       ALB requests per target at 1000 a minute
--
-- Returns service = { task_definition, service, scaling_target, scaling_policies =
--   { cpu, requests } (resources), service_name, service_arn, task_definition_arn,
--   container_name, image, log_group_name, built_image (the oci.image resource,
--   or nil) }.
local value = require "wpo.value"

local M = {}

M.CONTAINER = "wordpress"
M.CPU_TARGET = 60
M.REQUESTS_PER_TARGET = 1000
M.CONTENT = "/var/www/html/wp-content"
-- what service.image.content holds, and where each goes in the image
M.SOURCE_CONTENT = "/usr/src/wordpress/wp-content"
M.CONTENT_DIRS = { "themes", "plugins", "mu-plugins" }
M.PHP_CONF = "/usr/local/etc/php/conf.d"
M.WWW_DATA = "33:33"
M.HEALTH_CHECK = { "CMD-SHELL", "curl -fsS -o /dev/null http://localhost/wp-includes/images/blank.gif || exit 1" }
-- The Redis Object Cache plugin's settings, read from the container's
-- environment (the password from its secret): nothing secret in the text.
M.REDIS_CONFIG = table.concat({
  "define('WP_REDIS_HOST', getenv('WP_REDIS_HOST'));",
  "define('WP_REDIS_PORT', getenv('WP_REDIS_PORT'));",
  "define('WP_REDIS_PASSWORD', getenv('WP_REDIS_PASSWORD'));",
  "define('WP_REDIS_SCHEME', 'tls');",
}, " ")
M.WORDPRESS_KEYS = { "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT",
  "LOGGED_IN_SALT", "NONCE_SALT" }

local function need(v, what)
  if v == nil then error("wordpress.service: deps." .. what .. " is missing", 3) end
  return v
end

-- the resources among xs (lazy values and strings are not dependencies)
local function resources(...)
  local out = {}
  for i = 1, select("#", ...) do
    local x = select(i, ...)
    if type(x) == "table" and not value.is_lazy(x) then
      if getmetatable(x) == nil then
        for _, y in pairs(x) do
          if type(y) == "table" and not value.is_lazy(y) and getmetatable(y) ~= nil then out[#out + 1] = y end
        end
      else
        out[#out + 1] = x
      end
    end
  end
  return out
end

function M.build(stack, p, deps)
  local compute, lb, db = deps.compute or {}, deps.lb or {}, deps.db or {}
  local secrets, files, identity = deps.secrets or {}, deps.files or {}, deps.identity or {}
  local cache, registry = deps.cache, deps.registry or {}
  local ops = deps.ops or deps.logs or {}
  local svc = p.service
  local family = p.name .. "-wordpress"
  local log_group = ops.log_group_name or ("/wpo/" .. p.name .. "/wordpress")

  local image, ecr_images, built_image, built_images = svc.image, nil, nil, nil
  if type(svc.image) == "table" then
    built_image = M.image(stack, svc.image, need(registry.repository_url, "registry.repository_url"))
    image, built_images = built_image.uri, { built_image.uri }
  elseif svc.ecr_tag then
    image = need(registry.repository_url, "registry.repository_url") .. ":" .. svc.ecr_tag
    ecr_images = { { container = M.CONTAINER, repository = need(registry.repository_name, "registry.repository_name"),
      tag = svc.ecr_tag } }
  end

  local environment = {
    { name = "WORDPRESS_DB_HOST", value = need(db.endpoint, "db.endpoint") },
    { name = "WORDPRESS_DB_NAME", value = db.name or p.database.name },
    { name = "WORDPRESS_DB_USER", value = db.user or p.database.user },
  }
  local container_secrets = {
    { name = "WORDPRESS_DB_PASSWORD", valueFrom = need(secrets.db_password_arn, "secrets.db_password_arn") },
  }
  if cache then
    environment[#environment + 1] = { name = "WP_REDIS_HOST", value = need(cache.primary_endpoint, "cache.primary_endpoint") }
    local port = cache.port or 6379
    port = value.is_lazy(port) and value.compute(function(n) return tostring(math.tointeger(n) or n) end, port)
      or tostring(math.tointeger(port) or port)
    environment[#environment + 1] = { name = "WP_REDIS_PORT", value = port }
    environment[#environment + 1] = { name = "WORDPRESS_CONFIG_EXTRA", value = M.REDIS_CONFIG }
    container_secrets[#container_secrets + 1] = { name = "WP_REDIS_PASSWORD",
      valueFrom = need(secrets.redis_auth_arn, "secrets.redis_auth_arn") }
  end
  local media = deps.media or {}
  if media.bucket_name then
    environment[#environment + 1] = { name = "WP_MEDIA_BUCKET", value = media.bucket_name }
    environment[#environment + 1] = { name = "WP_MEDIA_REGION", value = p.region }
  end
  if secrets.wordpress_keys_arn then
    for _, key in ipairs(M.WORDPRESS_KEYS) do
      container_secrets[#container_secrets + 1] = { name = "WORDPRESS_" .. key,
        valueFrom = secrets.wordpress_keys_arn .. ":" .. key .. "::" }
    end
  end

  local td = stack:add("aws.ecs.task_definition", "wordpress", {
    family = family, network_mode = "bridge", requires_compatibilities = { "EC2" },
    cpu = svc.cpu, memory = svc.memory,
    execution_role_arn = need(identity.execution_role_arn, "identity.execution_role_arn"),
    task_role_arn = need(identity.task_role_arn, "identity.task_role_arn"),
    ecr_images = ecr_images, built_images = built_images,
    container_definitions = { {
      name = M.CONTAINER, image = image, essential = true,
      portMappings = { { containerPort = svc.port or 80, hostPort = 0, protocol = "tcp" } },
      environment = environment, secrets = container_secrets,
      mountPoints = { { sourceVolume = "wp-content", containerPath = M.CONTENT, readOnly = false } },
      logConfiguration = { logDriver = "awslogs", options = { ["awslogs-group"] = log_group,
        ["awslogs-region"] = p.region, ["awslogs-stream-prefix"] = M.CONTAINER } },
      healthCheck = { command = M.HEALTH_CHECK, interval = 30, timeout = 5, retries = 3, startPeriod = 120 },
    } },
    volumes = { {
      name = "wp-content",
      efsVolumeConfiguration = {
        fileSystemId = need(files.file_system_id, "files.file_system_id"), transitEncryption = "ENABLED",
        authorizationConfig = { accessPointId = need(files.access_point_id, "files.access_point_id"), iam = "ENABLED" },
      },
    } },
    lifecycle = { create_before_destroy = true },
  })

  local waits = resources(compute.cluster_capacity_providers, lb.listeners, ops.log_group, identity.policies)
  local service = stack:add("aws.ecs.service", "wordpress", {
    name = family, cluster = need(compute.cluster_name, "compute.cluster_name"), task_definition = td.arn,
    desired_count = svc.desired,
    capacity_provider_strategy = { { capacity_provider = need(compute.capacity_provider_name,
      "compute.capacity_provider_name"), weight = 1, base = 0 } },
    load_balancers = { { target_group_arn = need(lb.target_group_arn, "lb.target_group_arn"),
      container_name = M.CONTAINER, container_port = svc.port or 80 } },
    health_check_grace_period = 120,
    deployment_circuit_breaker = true, deployment_rollback = true,
    deployment_minimum_healthy_percent = 100, deployment_maximum_percent = 200,
    placement_strategy = { { type = "spread", field = "attribute:ecs.availability-zone" },
      { type = "spread", field = "instanceId" } },
    depends_on = waits,
    lifecycle = { ignore_changes = { "desired_count" } },
  })

  local resource_id = "service/" .. compute.cluster_name .. "/" .. service.name
  local target = stack:add("aws.applicationautoscaling.target", "wordpress", {
    service_namespace = "ecs", resource_id = resource_id, scalable_dimension = "ecs:service:DesiredCount",
    min_capacity = svc.min, max_capacity = svc.max,
  })
  local cpu = stack:add("aws.applicationautoscaling.policy", "wordpress-cpu", {
    name = family .. "-cpu", service_namespace = "ecs", resource_id = target.resource_id,
    scalable_dimension = "ecs:service:DesiredCount",
    target_tracking = { predefined_metric_type = "ECSServiceAverageCPUUtilization", target_value = M.CPU_TARGET,
      scale_in_cooldown = 300, scale_out_cooldown = 60 },
  })
  local requests = stack:add("aws.applicationautoscaling.policy", "wordpress-requests", {
    name = family .. "-requests", service_namespace = "ecs", resource_id = target.resource_id,
    scalable_dimension = "ecs:service:DesiredCount",
    target_tracking = { predefined_metric_type = "ALBRequestCountPerTarget", target_value = M.REQUESTS_PER_TARGET,
      resource_label = need(lb.resource_label, "lb.resource_label"), scale_in_cooldown = 300, scale_out_cooldown = 60 },
  })
  return {
    task_definition = td, service = service, scaling_target = target,
    scaling_policies = { cpu = cpu, requests = requests },
    service_name = service.name, service_arn = service.arn, task_definition_arn = td.arn,
    container_name = M.CONTAINER, image = image, log_group_name = log_group, built_image = built_image,
  }
end

-- service.image = { base, content } -> the oci.image resource that builds it
function M.image(stack, spec, repository_url)
  local layers = {}
  for _, dir in ipairs(M.CONTENT_DIRS) do
    layers[#layers + 1] = { from = spec.content .. "/" .. dir, to = M.SOURCE_CONTENT .. "/" .. dir,
      owner = M.WWW_DATA, optional = true }
  end
  layers[#layers + 1] = { from = spec.content .. "/conf.d", to = M.PHP_CONF, include = "*.ini", optional = true }
  return stack:add("oci.image", "wordpress", {
    base = spec.base, layers = layers, repository = repository_url, auth = "ecr",
  })
end

return M
