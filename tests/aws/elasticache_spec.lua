-- aws.elasticache.subnet_group and aws.elasticache.replication_group through
-- the wpo binary against fakeaws: create (encrypted, multi-AZ, failover, AUTH
-- token from Secrets Manager), no changes, in-place updates (node type, node
-- count up and down, snapshots), token rotation, drift, import, destroy.
local typeflow = require "typeflow"

local function has(haystack, needle)
  return haystack:find(needle, 1, true) ~= nil
end

describe("aws.elasticache types against fakeaws", function()
  local env, net, secret
  local TOKEN = "first-redis-token-0001"

  setup(function() env = typeflow.start { settle = 1, region = "eu-west-1" } end)
  teardown(function() env:stop() end)
  before_each(function()
    env:reset()
    net = env:network()
    secret = env:secret("t/redis", '{"token":"' .. TOKEN .. '"}')
  end)

  local function stack(opts)
    opts = opts or {}
    return string.format([[
local s = wpo.stack { name = "t", region = "eu-west-1" }
local subnets = s:add("aws.elasticache.subnet_group", "cache", { name = "t-cache", subnet_ids = %s })
local redis = s:add("aws.elasticache.replication_group", "cache", {
  replication_group_id = "t-cache", description = "sessions and object cache", node_type = %q,
  num_cache_clusters = %d, subnet_group_name = subnets.id, security_group_ids = { %q },
  auth_token_secret_arn = %q, auth_token_secret_key = "token", snapshot_retention_limit = %d,
  automatic_failover_enabled = %s, multi_az_enabled = %s })
s:output("redis", redis.primary_endpoint)
return s
]], typeflow.lua_list(net.subnets), opts.node_type or "cache.t4g.small", opts.nodes or 2, net.sg, secret,
      opts.retention or 1, tostring(opts.failover ~= false), tostring(opts.failover ~= false))
  end

  it("creates an encrypted multi-AZ group with failover and an AUTH token, finds no changes, destroys", function()
    env:write("s.lua", stack())
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local g = env:objects("elasticache", "replication-group")["t-cache"]
    assert.are.same({ "available", true, true, true, "enabled", "enabled", 2, 1 },
      { g.Status, g.AtRestEncryptionEnabled, g.TransitEncryptionEnabled, g.AuthTokenEnabled, g.AutomaticFailover,
        g.MultiAZ, #g.MemberClusters, g.SnapshotRetentionLimit })
    local zones = {}
    for _, c in pairs(env:objects("elasticache", "cache-cluster")) do zones[c.PreferredAvailabilityZone] = true end
    assert.are.same({ ["eu-west-1a"] = true, ["eu-west-1b"] = true }, zones)
    local rec = env:resources()["aws.elasticache.replication_group.cache"]
    assert.matches("^master%.t%-cache%.", rec.outputs.primary_endpoint)
    assert.are.equal(6379, rec.outputs.port)
    assert.is_string(rec.outputs.auth_token_version)
    assert.is_false(has(env:state_text() .. r.stdout .. r.stderr, TOKEN), "the token leaked")
    r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.is_nil(r.stdout:find("Changed outside", 1, true), r.stdout)
    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({}, env.f:state().elasticache or {})
  end)

  it("changes node type, node count and snapshots in place, and rotates the token", function()
    env:write("s.lua", stack())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:write("s.lua", stack { node_type = "cache.r6g.large", nodes = 3, retention = 5 })
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("num_cache_clusters%s+= 2 %-> 3", r.stdout)
    assert.matches("adding nodes: 2 %-> 3", r.stdout)
    local g = env:objects("elasticache", "replication-group")["t-cache"]
    assert.are.same({ "cache.r6g.large", 3, 5 }, { g.CacheNodeType, #g.MemberClusters, g.SnapshotRetentionLimit })
    -- down to one node: failover and Multi-AZ go off first
    env:write("s.lua", stack { node_type = "cache.r6g.large", nodes = 1, retention = 5, failover = false })
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    g = env:objects("elasticache", "replication-group")["t-cache"]
    assert.are.same({ 1, "disabled", "disabled" }, { #g.MemberClusters, g.AutomaticFailover, g.MultiAZ })
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
    env:client("secretsmanager"):call("PutSecretValue", { SecretId = secret,
      SecretString = '{"token":"second-redis-token-0002"}' })
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("auth_token_secret_arn%s+= .*token set from version", r.stdout)
    assert.matches("setting the AUTH token from .*strategy ROTATE", r.stdout)
    assert.is_false(has(r.stdout .. env:state_text(), "second-redis-token-0002"))
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("refuses a token that breaks the rules without showing it", function()
    local bad = env:secret("t/bad", '{"token":"has a space in it, too"}')
    env:write("s.lua", stack():gsub(secret:gsub("%p", "%%%0"), bad))
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(1, r.status)
    assert.matches("InvalidSecret: the Redis AUTH token from .* may hold printable ASCII characters only", r.stderr)
    assert.is_false(has(r.stdout .. r.stderr, "has a space"))
    assert.are.same({}, env:objects("elasticache", "replication-group"))
  end)

  it("re-creates a group deleted out of band; imports an existing one", function()
    env:write("s.lua", stack())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:made_long_ago()
    local ec = env:client("elasticache")
    ec:call("DeleteReplicationGroup", { ReplicationGroupId = "t-cache" })
    -- still deleting (a destroy killed here): kept, tainted, and replaced
    -- once its delete is over, without asking for it again
    local r = env:wpo { "plan", "s.lua" }
    assert.matches("aws%.elasticache%.replication_group%.cache is being deleted", r.stdout)
    assert.matches("%-/%+ aws%.elasticache%.replication_group%.cache .*will be replaced %(tainted: it is being deleted",
      r.stdout)
    local deletes = env:ok_calls("elasticache.DeleteReplicationGroup")
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    assert.are.equal(deletes, env:ok_calls("elasticache.DeleteReplicationGroup"))
    assert.are.equal("available", env:objects("elasticache", "replication-group")["t-cache"].Status)
    -- deleted out of band, and gone
    env:made_long_ago()
    ec:call("DeleteReplicationGroup", { ReplicationGroupId = "t-cache" })
    for _ = 1, 5 do if not env:objects("elasticache", "replication-group")["t-cache"] then break end
      ec:call("DescribeReplicationGroups", {}) end
    r = env:wpo { "plan", "s.lua" }
    assert.matches("aws%.elasticache%.replication_group%.cache no longer exists", r.stdout)
    assert.matches("%+ aws%.elasticache%.replication_group%.cache", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    -- forget it, then take it back with import
    assert.are.equal(0, env:wpo({ "state", "rm", "s.lua", "aws.elasticache.replication_group.cache" }).status)
    r = env:wpo { "import", "s.lua", "aws.elasticache.replication_group.cache", "t-cache" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("~ aws%.elasticache%.replication_group%.cache .*will be updated in place", r.stdout)
    assert.matches("auth_token_secret_arn%s+= null %->", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("plans both objects deleted out of band again, and imports both into a new state", function()
    env:write("s.lua", stack())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    os.remove(env.dir .. "/.wpo/t.state.json")
    os.remove(env.dir .. "/.wpo/t.state.json.backup")
    for _, address in ipairs({ "aws.elasticache.subnet_group.cache", "aws.elasticache.replication_group.cache" }) do
      local r = env:wpo { "import", "s.lua", address, "t-cache" }
      assert.are.equal(0, r.status, address .. ": " .. r.stdout .. r.stderr)
    end
    local r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    -- the AUTH token cannot be read back: it is set again from the secret
    assert.matches("Plan: 0 to add, 1 to change, 0 to destroy", r.stdout)
    assert.matches("auth_token_secret_arn%s+= null %->", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
    env:made_long_ago()
    local ec = env:client("elasticache")
    ec:call("DeleteReplicationGroup", { ReplicationGroupId = "t-cache" })
    for _ = 1, 5 do if #ec:call("DescribeReplicationGroups", {}).ReplicationGroups == 0 then break end end
    ec:call("DeleteCacheSubnetGroup", { CacheSubnetGroupName = "t-cache" })
    r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("aws%.elasticache%.subnet_group%.cache no longer exists", r.stdout)
    assert.matches("Plan: 2 to add, 0 to change, 0 to destroy", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
  end)

  it("updates a subnet group's subnets in place and refuses a name that is not its own", function()
    env:write("s.lua", stack())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    local ec = env:client("elasticache")
    ec:call("ModifyCacheSubnetGroup", { CacheSubnetGroupName = "t-cache", CacheSubnetGroupDescription = "changed" })
    local r = env:wpo { "plan", "s.lua" }
    assert.matches("aws%.elasticache%.subnet_group%.cache: description", r.stdout)
    assert.matches("description = \"changed\" %-> \"Managed by wpo\"", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    assert.are.equal("Managed by wpo", env:objects("elasticache", "cache-subnet-group")["t-cache"]
      .CacheSubnetGroupDescription)
    ec:call("CreateCacheSubnetGroup", { CacheSubnetGroupName = "other", CacheSubnetGroupDescription = "x",
      SubnetIds = { net.subnets[1] } })
    env:write("o.lua", string.format([[
local s = wpo.stack { name = "o", region = "eu-west-1" }
s:add("aws.elasticache.subnet_group", "cache", { name = "other", subnet_ids = { %q } })
return s
]], net.subnets[1]))
    r = env:wpo { "run", "o.lua", "--yes" }
    assert.are.equal(1, r.status)
    assert.matches("AlreadyExists: a cache subnet group named other already exists and is not this resource's",
      r.stderr)
  end)
end)
