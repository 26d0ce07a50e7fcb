-- wpo.wordpress.cache: the cache tier of the WordPress-on-ECS layout — Redis
-- (ElastiCache, cluster mode disabled) for PHP sessions and the object cache.
--
--   cache.build(stack, p, deps) -> cache
--
-- Reads from p (validated by wpo.wordpress): name, cache = { node_type, nodes
-- (2 to 6) }.
-- Reads from deps: net.subnet_ids.database (the isolated database subnets, one
-- per zone; or net.subnets.database), sg.cache (or sg.ids.cache),
-- secrets.redis_auth_arn (the ARN of the AUTH token's Secrets Manager secret,
-- whose SecretString is the token; or secrets.redis_auth / secrets.cache: a
-- part { arn }, an aws.secretsmanager.secret or an ARN), as
-- wpo.wordpress.secrets returns them.
--
-- Declares:
--   aws.elasticache.subnet_group.cache        <name>-cache, in the database subnets
--   aws.elasticache.replication_group.cache   <name>-cache: Redis 7.1, cache.nodes
--                                             nodes spread over the zones, automatic
--                                             failover and Multi-AZ (2+ nodes),
--                                             encryption at rest and in transit, the
--                                             AUTH token from the secret (rotated with
--                                             ROTATE: old and new both work meanwhile),
--                                             a daily snapshot kept 1 day
-- Nothing in it needs keeping (sessions and cached objects rebuild), so no
-- prevent_destroy and no final snapshot.
--
-- Returns cache = { replication_group, subnet_group, primary_endpoint,
-- reader_endpoint, port, auth_secret_arn, id }.
local M = {}

M.PORT = 6379
M.ENGINE_VERSION = "7.1"

local function is_handle(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "wpo.resource"
end

local function subnet_ids(net)
  if net and net.subnet_ids and net.subnet_ids.database then return net.subnet_ids.database end
  local out = {}
  for i, s in ipairs(net and net.subnets and net.subnets.database or {}) do
    out[i] = is_handle(s) and s.id or s
  end
  if #out == 0 then error("wordpress.cache: deps.net.subnet_ids.database (the database subnets) is missing", 3) end
  return out
end

local function group_id(sg)
  if sg and sg.cache ~= nil then return is_handle(sg.cache) and sg.cache.id or sg.cache end
  if sg and sg.ids and sg.ids.cache then return sg.ids.cache end
  error("wordpress.cache: deps.sg.cache (the cache's security group) is missing", 3)
end

-- an ARN given as such, as a resource (its arn output) or as a part { arn = ... }
local function arn_of(v)
  if type(v) == "string" or require("wpo.value").is_lazy(v) then return v end
  if is_handle(v) then return v.arn end
  if type(v) == "table" and getmetatable(v) == nil and v.arn ~= nil then return v.arn end
  return v
end

local function secret_arn(secrets)
  local s = secrets and (secrets.redis_auth_arn or secrets.redis_auth or secrets.cache)
  if s == nil then error("wordpress.cache: deps.secrets.redis_auth_arn (the AUTH token's secret) is missing", 3) end
  return arn_of(s)
end

function M.build(stack, p, deps)
  deps = deps or {}
  local c = p.cache
  local base = p.name .. "-cache"
  local auth = secret_arn(deps.secrets)
  local subnets = stack:add("aws.elasticache.subnet_group", "cache", {
    name = base, description = "WordPress " .. p.name .. ": cache subnets", subnet_ids = subnet_ids(deps.net) })
  local failover = c.nodes >= 2
  local group = stack:add("aws.elasticache.replication_group", "cache", {
    replication_group_id = base, description = "WordPress " .. p.name .. ": sessions and object cache",
    node_type = c.node_type, num_cache_clusters = c.nodes, engine = "redis", engine_version = M.ENGINE_VERSION,
    port = M.PORT, subnet_group_name = subnets.id, security_group_ids = { group_id(deps.sg) },
    automatic_failover_enabled = failover, multi_az_enabled = failover, at_rest_encryption_enabled = true,
    transit_encryption_enabled = true, auth_token_secret_arn = auth, auth_token_update_strategy = "ROTATE",
    snapshot_retention_limit = 1 })
  return { replication_group = group, subnet_group = subnets, id = group.id,
    primary_endpoint = group.primary_endpoint, reader_endpoint = group.reader_endpoint, port = group.port,
    auth_secret_arn = auth }
end

return M
