-- wpo.wordpress.database, .cache and .files: what the data tiers declare from
-- the parameters (Aurora writer + readers or a plain instance, deletion
-- protection and prevent_destroy with `protect`, Redis with failover and
-- encryption, EFS with a mount target per zone and the www-data access
-- point), and the three tiers run against tests/fakeaws through the binary:
-- apply, no changes, destroy with the final snapshot; a protected stack's
-- destroy refused at the script's line.
local typeflow = require "typeflow"
local h = require "helpers"

describe("wpo.wordpress data tiers", function()
  local wordpress = require "wpo.wordpress"
  local database = require "wpo.wordpress.database"
  local cache = require "wpo.wordpress.cache"
  local files = require "wpo.wordpress.files"
  local stackmod = require "wpo.stack"
  local value = require "wpo.value"

  local function params(over)
    local spec = { name = "acme", region = "eu-west-1", cidr = "10.20.0.0/16",
      site = { domain = "www.example.com" }, database = { readers = { min = 2, max = 2 } } }
    for k, v in pairs(over or {}) do spec[k] = v end
    return wordpress.params(spec)
  end

  local DEPS = {
    net = { subnet_ids = { private = { "subnet-p1", "subnet-p2", "subnet-p3" },
      database = { "subnet-d1", "subnet-d2", "subnet-d3" } } },
    sg = { ids = { db = "sg-db", cache = "sg-cache", efs = "sg-efs" } },
    secrets = { db_password_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/db-AbCdEf",
      redis_auth = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/redis-AbCdEf" } },
  }

  local function build(p)
    local s = stackmod.new { name = p.name, region = p.region }
    local parts = {
      db = database.build(s, p, DEPS),
      cache = cache.build(s, p, DEPS),
      files = files.build(s, p, DEPS),
    }
    return stackmod.finish(s), parts
  end

  local function decl(s, address)
    local d = s.by_address[address]
    assert.is_table(d, "not declared: " .. address)
    return d
  end

  local function addresses(s, prefix)
    local out = {}
    for _, d in ipairs(s.resources) do
      if d.address:sub(1, #prefix) == prefix then out[#out + 1] = d.address end
    end
    return out
  end

  local function ref(v)
    local found
    value.refs(v, function(d, name) found = d.address .. "." .. name end)
    return found
  end

  describe("declares", function()
    it("an encrypted, protected Aurora cluster with a writer and readers.min readers", function()
      local s, parts = build(params())
      local c = decl(s, "aws.rds.cluster.db")
      assert.are.same({ "acme-db", "aurora-mysql", true, true, false, 7, "wordpress", "wordpress" },
        { c.attrs.identifier, c.attrs.engine, c.attrs.storage_encrypted, c.attrs.deletion_protection,
          c.attrs.skip_final_snapshot, c.attrs.backup_retention_period, c.attrs.database_name,
          c.attrs.master_username })
      assert.are.equal(DEPS.secrets.db_password_arn, c.attrs.master_password_secret_arn)
      assert.are.same({ "sg-db" }, c.attrs.vpc_security_group_ids)
      assert.is_true(c.lifecycle.prevent_destroy)
      assert.are.equal("aws.rds.db_subnet_group.db.id", ref(c.attrs.db_subnet_group_name))
      assert.are.same({ "subnet-d1", "subnet-d2", "subnet-d3" }, decl(s, "aws.rds.db_subnet_group.db").attrs.subnet_ids)
      assert.are.same({ "aws.rds.cluster_instance.db-1", "aws.rds.cluster_instance.db-2",
        "aws.rds.cluster_instance.db-3" }, addresses(s, "aws.rds.cluster_instance."))
      assert.are.equal(0, decl(s, "aws.rds.cluster_instance.db-1").attrs.promotion_tier)
      local reader = decl(s, "aws.rds.cluster_instance.db-3")
      assert.are.equal(1, reader.attrs.promotion_tier)
      assert.are.same({ "aws.rds.cluster.db", "aws.rds.cluster_instance.db-1" }, reader.deps)
      assert.are.equal("aws.rds.cluster.db.endpoint", ref(parts.db.endpoint))
      assert.are.equal("aws.rds.cluster.db.reader_endpoint", ref(parts.db.reader_endpoint))
      assert.are.same({ "wordpress", "wordpress", DEPS.secrets.db_password_arn, "aurora-mysql" },
        { parts.db.name, parts.db.user, parts.db.secret_arn, parts.db.engine })
      assert.are.equal("utf8mb4", decl(s, "aws.rds.cluster_parameter_group.db").attrs.parameters.character_set_server)
      assert.is_nil(parts.db.autoscaling)
    end)

    it("no deletion protection and no prevent_destroy without protect", function()
      local s = build(params { protect = false })
      local c = decl(s, "aws.rds.cluster.db")
      assert.is_false(c.attrs.deletion_protection)
      assert.is_false(c.lifecycle.prevent_destroy)
      assert.is_false(decl(s, "aws.efs.file_system.content").lifecycle.prevent_destroy)
    end)

    it("a plain Multi-AZ instance for mysql and mariadb", function()
      local s, parts = build(params { database = { engine = "mariadb", instance_class = "db.t4g.small",
        allocated_storage = 50 } })
      assert.are.same({}, addresses(s, "aws.rds.cluster"))
      local i = decl(s, "aws.rds.instance.db")
      assert.are.same({ "mariadb", "db.t4g.small", 50, 250, true, true, true },
        { i.attrs.engine, i.attrs.instance_class, i.attrs.allocated_storage, i.attrs.max_allocated_storage,
          i.attrs.multi_az, i.attrs.storage_encrypted, i.attrs.deletion_protection })
      assert.is_true(i.lifecycle.prevent_destroy)
      assert.are.equal("aws.rds.instance.db.endpoint", ref(parts.db.reader_endpoint))
    end)

    it("refuses reader autoscaling while the Application Auto Scaling types are missing", function()
      if require("wpo.resource").get("aws.applicationautoscaling.target") then
        local s, parts = build(params { database = { readers = { min = 1, max = 4 } } })
        local t = decl(s, "aws.applicationautoscaling.target.db-readers")
        assert.are.same({ 1, 4 }, { t.attrs.min_capacity, t.attrs.max_capacity })
        assert.is_table(parts.db.autoscaling)
        return
      end
      local okb, err = pcall(build, params { database = { readers = { min = 1, max = 4 } } })
      assert.is_false(okb)
      assert.matches("read%-replica autoscaling .* needs the resource type aws%.applicationautoscaling%.target",
        tostring(err))
    end)

    it("Redis with failover, Multi-AZ, both encryptions and the AUTH token's secret", function()
      local s, parts = build(params { cache = { node_type = "cache.t4g.medium", nodes = 3 } })
      local g = decl(s, "aws.elasticache.replication_group.cache")
      assert.are.same({ "acme-cache", "cache.t4g.medium", 3, true, true, true, true, DEPS.secrets.redis_auth.arn },
        { g.attrs.replication_group_id, g.attrs.node_type, g.attrs.num_cache_clusters,
          g.attrs.automatic_failover_enabled, g.attrs.multi_az_enabled, g.attrs.at_rest_encryption_enabled,
          g.attrs.transit_encryption_enabled, g.attrs.auth_token_secret_arn })
      assert.are.same({ "sg-cache" }, g.attrs.security_group_ids)
      assert.are.same({ "subnet-d1", "subnet-d2", "subnet-d3" },
        decl(s, "aws.elasticache.subnet_group.cache").attrs.subnet_ids)
      assert.are.equal("aws.elasticache.replication_group.cache.primary_endpoint", ref(parts.cache.primary_endpoint))
      assert.are.equal(DEPS.secrets.redis_auth.arn, parts.cache.auth_secret_arn)
    end)

    it("EFS with a mount target per zone in the private subnets and the www-data access point", function()
      local s, parts = build(params { files = { transition_to_ia = "AFTER_14_DAYS" } })
      local fs = decl(s, "aws.efs.file_system.content")
      assert.are.same({ true, "AFTER_14_DAYS" }, { fs.attrs.encrypted, fs.attrs.transition_to_ia })
      assert.is_true(fs.lifecycle.prevent_destroy)
      assert.are.same({ "aws.efs.mount_target.content-a", "aws.efs.mount_target.content-b",
        "aws.efs.mount_target.content-c" }, addresses(s, "aws.efs.mount_target."))
      local mt = decl(s, "aws.efs.mount_target.content-b")
      assert.are.same({ "subnet-p2", { "sg-efs" } }, { mt.attrs.subnet_id, mt.attrs.security_groups })
      local ap = decl(s, "aws.efs.access_point.wordpress")
      assert.are.same({ uid = 33, gid = 33 }, ap.attrs.posix_user)
      assert.are.same({ path = "/wordpress", creation_info = { owner_uid = 33, owner_gid = 33, permissions = "0755" } },
        ap.attrs.root_directory)
      assert.are.equal("ENABLED", decl(s, "aws.efs.backup_policy.content").attrs.status)
      assert.are.same({ "aws.efs.file_system.content.id", "aws.efs.access_point.wordpress.id",
        "aws.efs.file_system.content.dns_name" },
        { ref(parts.files.file_system_id), ref(parts.files.access_point_id), ref(parts.files.dns_name) })
    end)

    it("takes the secrets tier's ARNs (references known after apply)", function()
      local p = params()
      local s = stackmod.new { name = p.name, region = p.region }
      local secrets = require("wpo.wordpress.secrets").build(s, p, {})
      local deps = { net = DEPS.net, sg = DEPS.sg, secrets = secrets }
      local db = database.build(s, p, deps)
      local c = cache.build(s, p, deps)
      stackmod.finish(s)
      assert.are.equal("aws.secretsmanager.secret.db-master-password.arn",
        ref(decl(s, "aws.rds.cluster.db").attrs.master_password_secret_arn))
      assert.are.equal("aws.secretsmanager.secret.redis-auth-token.arn",
        ref(decl(s, "aws.elasticache.replication_group.cache").attrs.auth_token_secret_arn))
      assert.are.equal("aws.secretsmanager.secret.db-master-password.arn", ref(db.secret_arn))
      assert.are.equal("aws.secretsmanager.secret.redis-auth-token.arn", ref(c.auth_secret_arn))
    end)

    it("names a missing dependency", function()
      local s = stackmod.new { name = "acme", region = "eu-west-1" }
      local okb, err = pcall(database.build, s, params(), { net = DEPS.net, sg = DEPS.sg })
      assert.is_false(okb)
      assert.matches("deps%.secrets%.db_password_arn", tostring(err))
    end)
  end)

  describe("against fakeaws", function()
    local env, net, secrets

    setup(function() env = typeflow.start { settle = 1, region = "eu-west-1" } end)
    teardown(function() env:stop() end)
    before_each(function()
      env:reset()
      net = env:network()
      secrets = { db = env:secret("acme/db", "db-Password-0001"),
        cache = env:secret("acme/redis", "redis-token-000001") }
    end)

    local function script(protect, max_readers)
      return string.format([[
local wordpress = require "wpo.wordpress"
local p = wordpress.params { name = "acme", region = "eu-west-1", cidr = "10.20.0.0/16",
  site = { domain = "www.example.com" }, protect = %s,
  database = { readers = { min = 1, max = %d } }, cache = { node_type = "cache.t4g.small", nodes = 2 } }
local s = wpo.stack { name = "acme", region = "eu-west-1" }
local deps = { net = { subnet_ids = { database = %s, private = %s } },
  sg = { ids = { db = %q, cache = %q, efs = %q } }, secrets = { db_password_arn = %q, redis_auth_arn = %q } }
local db = require("wpo.wordpress.database").build(s, p, deps)
local cache = require("wpo.wordpress.cache").build(s, p, deps)
local files = require("wpo.wordpress.files").build(s, p, deps)
s:output("db_endpoint", db.endpoint)
s:output("db_reader_endpoint", db.reader_endpoint)
s:output("db_secret_arn", db.secret_arn)
s:output("redis_endpoint", cache.primary_endpoint)
s:output("efs_id", files.file_system_id)
s:output("efs_access_point", files.access_point_id)
return s
]], tostring(protect), max_readers or 1, typeflow.lua_list(net.subnets), typeflow.lua_list(net.subnets),
        net.sg, net.sg2, net.sg, secrets.db, secrets.cache)
    end

    it("applies, finds no changes, and destroys leaving only the final snapshot", function()
      env:write("s.lua", script(false, 3))
      local r = env:wpo { "run", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("Apply complete: 15 added", r.stdout)
      local target = env:client("application-autoscaling"):call("DescribeScalableTargets",
        { ServiceNamespace = "rds" }).ScalableTargets[1]
      assert.are.same({ "cluster:acme-db", "rds:cluster:ReadReplicaCount", 1, 3 },
        { target.ResourceId, target.ScalableDimension, target.MinCapacity, target.MaxCapacity })
      local policy = env:client("application-autoscaling"):call("DescribeScalingPolicies",
        { ServiceNamespace = "rds" }).ScalingPolicies[1]
      local tt = policy.TargetTrackingScalingPolicyConfiguration
      assert.are.same({ 70, "RDSReaderAverageCPUUtilization" },
        { tt.TargetValue, tt.PredefinedMetricSpecification.PredefinedMetricType })
      local st = env:state("acme")
      assert.matches("^acme%-db%.cluster%-", st.outputs.db_endpoint.value)
      assert.matches("^acme%-db%.cluster%-ro%-", st.outputs.db_reader_endpoint.value)
      assert.are.equal(secrets.db, st.outputs.db_secret_arn.value)
      assert.matches("^master%.acme%-cache%.", st.outputs.redis_endpoint.value)
      assert.matches("^fs%-", st.outputs.efs_id.value)
      local text = env:state_text("acme")
      assert.is_nil(text:find("db-Password-0001", 1, true))
      assert.is_nil(text:find("redis-token-000001", 1, true))
      local c = env:objects("rds", "db-cluster")["acme-db"]
      assert.are.same({ true, false, 2 }, { c.StorageEncrypted, c.DeletionProtection, #c.DBClusterMembers })
      assert.are.equal(3, #require("wpo.text").sorted_keys(env:objects("efs", "mount-target")))

      r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.is_nil(r.stdout:find("Changed outside", 1, true), r.stdout)

      local final = env:resources("acme")["aws.rds.cluster.db"].outputs.final_snapshot_identifier
      r = env:wpo { "destroy", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("Destroy complete! Resources: 15 destroyed.", r.stdout, 1, true)
      local state = env.f:state()
      assert.are.same({ "db-cluster-snapshot" }, require("wpo.text").sorted_keys(state.rds))
      assert.is_table(state.rds["db-cluster-snapshot"][final])
      assert.is_nil(state.elasticache)
      assert.is_nil(state.efs)
      assert.is_nil(state["application-autoscaling"])
    end)

    it("with the network and security tiers: applies, and destroys leaving only the final snapshot", function()
      env:write("s.lua", string.format([[
local wordpress = require "wpo.wordpress"
local p = wordpress.params { name = "acme", region = "eu-west-1", cidr = "10.40.0.0/16",
  azs = { "eu-west-1a", "eu-west-1b" }, nat = "single",
  site = { domain = "www.example.com" }, protect = false,
  database = { engine = "mariadb", instance_class = "db.t4g.small" }, cache = { nodes = 2 } }
local s = wpo.stack { name = "acme", region = "eu-west-1" }
local net = require("wpo.wordpress.network").build(s, p, {})
local sg = require("wpo.wordpress.security").build(s, p, { net = net })
local secrets = { db_password_arn = %q, redis_auth_arn = %q }
require("wpo.wordpress.database").build(s, p, { net = net, sg = sg, secrets = secrets })
require("wpo.wordpress.cache").build(s, p, { net = net, sg = sg, secrets = secrets })
require("wpo.wordpress.files").build(s, p, { net = net, sg = sg })
return s
]], secrets.db, secrets.cache))
      local before = env.f:state()
      local r = env:wpo { "run", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      local inst = env:objects("rds", "db-instance")["acme-db"]
      local subnets = {}
      for _, sn in ipairs(inst.DBSubnetGroup.Subnets) do subnets[#subnets + 1] = sn.SubnetIdentifier end
      local tiers = {}
      for id, sn in pairs(env:objects("ec2", "subnet")) do
        for _, t in ipairs(sn.Tags or {}) do if t.Key == "wpo:address" then tiers[id] = t.Value end end
      end
      for _, id in ipairs(subnets) do assert.matches("^aws%.ec2%.subnet%.database%-", tiers[id]) end
      for _, mt in pairs(env:objects("efs", "mount-target")) do
        assert.matches("^aws%.ec2%.subnet%.private%-", tiers[mt.SubnetId])
      end
      r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      r = env:wpo { "destroy", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      local after = env.f:state()
      -- what is left: the secrets and network made before the run, and the final snapshot
      after.rds["db-snapshot"] = nil
      if next(after.rds) == nil then after.rds = nil end
      assert.are.same(before.secretsmanager, after.secretsmanager)
      assert.is_nil(after.rds)
      assert.is_nil(after.elasticache)
      assert.is_nil(after.efs)
      for id in pairs(after.ec2.subnet or {}) do assert.is_table(before.ec2.subnet[id], id .. " left behind") end
      for id in pairs(after.ec2["security-group"] or {}) do
        assert.is_table(before.ec2["security-group"][id], id .. " left behind")
      end
    end)

    it("refuses to destroy a protected stack's data, naming the line of the script", function()
      env:write("s.lua", script(true))
      local r = env:wpo { "run", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      r = env:wpo { "destroy", "s.lua", "--yes" }
      assert.are.equal(1, r.status)
      -- the protected data: the cluster (declared by the database tier) or the file system (files tier)
      local lines, n = {}, 0
      for l in (h.slurp(env.dir .. "/s.lua") .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        if l:find("database\").build", 1, true) then lines["aws.rds.cluster.db"] = n end
        if l:find("files\").build", 1, true) then lines["aws.efs.file_system.content"] = n end
      end
      local at, address = r.stderr:match("^wpo: s%.lua:(%d+): ([%w_.%-]+): .*prevent_destroy forbids destroying it")
      assert.is_string(address, r.stderr)
      assert.are.equal(lines[address], tonumber(at), r.stderr)
      assert.is_table(env:objects("rds", "db-cluster")["acme-db"])
      assert.is_true(env:objects("rds", "db-cluster")["acme-db"].DeletionProtection)
      assert.are.equal(0, env:ok_calls("rds.DeleteDBCluster"))
    end)
  end)
end)
