-- aws.rds.db_subnet_group, aws.rds.cluster_parameter_group, aws.rds.cluster,
-- aws.rds.cluster_instance and aws.rds.instance through the wpo binary
-- against fakeaws (states moving over describes): create, read (no changes),
-- update in place, drift after an out-of-band deletion, import, adoption,
-- destroy with the final snapshot, deletion protection, the master password
-- from Secrets Manager (never in the state; set again after a rotation).
local typeflow = require "typeflow"

local function has(haystack, needle)
  return haystack:find(needle, 1, true) ~= nil
end

describe("aws.rds types against fakeaws", function()
  local env, net, secret
  local PASSWORD = "first-Password-1"

  setup(function() env = typeflow.start { settle = 1 } end)
  teardown(function() env:stop() end)
  before_each(function()
    env:reset()
    net = env:network()
    secret = env:secret("t/db", PASSWORD)
  end)

  local function aurora(opts)
    opts = opts or {}
    local subnets = { net.subnets[1], net.subnets[2] }
    return string.format([[
local s = wpo.stack { name = "t", region = "us-east-1", vars = { retention = %d, klass = "db.r6g.large" } }
local subnets = s:add("aws.rds.db_subnet_group", "db", { name = "t-db", subnet_ids = %s })
local params = s:add("aws.rds.cluster_parameter_group", "db", { name = "t-db", family = "aurora-mysql8.0",
  parameters = { character_set_server = "utf8mb4", %s } })
local cluster = s:add("aws.rds.cluster", "db", {
  identifier = "t-db", database_name = "wordpress", master_username = "wordpress",
  master_password_secret_arn = %q, db_subnet_group_name = subnets.id,
  db_cluster_parameter_group_name = params.id, vpc_security_group_ids = { %q },
  backup_retention_period = s.vars.retention, deletion_protection = %s,
  enabled_cloudwatch_logs_exports = { "error", "slowquery" }, tags = { tier = "db" } })
local writer = s:add("aws.rds.cluster_instance", "db-1", { identifier = "t-db-1", cluster_identifier = cluster.id,
  instance_class = s.vars.klass, promotion_tier = 0 })
s:add("aws.rds.cluster_instance", "db-2", { identifier = "t-db-2", cluster_identifier = cluster.id,
  instance_class = s.vars.klass, depends_on = { writer } })
s:output("endpoint", cluster.endpoint)
s:output("reader_endpoint", cluster.reader_endpoint)
return s
]], opts.retention or 7, typeflow.lua_list(subnets), opts.extra_parameter or "",
      secret, net.sg, tostring(opts.protected or false))
  end

  it("creates a subnet group, parameter group, cluster, writer and reader; finds no changes; destroys with the "
    .. "final snapshot", function()
    env:write("s.lua", aurora())
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Apply complete: 5 added", r.stdout)
    local c = env:objects("rds", "db-cluster")["t-db"]
    assert.are.equal("available", c.Status)
    assert.is_true(c.StorageEncrypted)
    assert.are.equal(7, c.BackupRetentionPeriod)
    assert.are.equal("t-db", c.DBSubnetGroup)
    assert.are.equal("t-db", c.DBClusterParameterGroup)
    assert.are.same({ "error", "slowquery" }, c.EnabledCloudwatchLogsExports)
    assert.are.same({ { VpcSecurityGroupId = net.sg, Status = "active" } }, c.VpcSecurityGroups)
    local tags = {}
    for _, t in ipairs(c.TagList) do tags[t.Key] = t.Value end
    assert.are.same({ tier = "db", ["wpo:stack"] = "t", ["wpo:address"] = "aws.rds.cluster.db" }, tags)
    local members = {}
    for _, m in ipairs(c.DBClusterMembers) do members[m.DBInstanceIdentifier] = m.IsClusterWriter end
    assert.are.same({ ["t-db-1"] = true, ["t-db-2"] = false }, members)
    assert.are.equal("utf8mb4", (function()
      local out = env:client("rds"):call("DescribeDBClusterParameters", { DBClusterParameterGroupName = "t-db",
        Source = "user" })
      return out.Parameters[1].ParameterValue
    end)())

    local res = env:resources()
    local rec = res["aws.rds.cluster.db"]
    assert.are.equal("t-db", rec.id)
    assert.matches("^t%-db%-final%-%x%x%x%x%x%x%x%x$", rec.outputs.final_snapshot_identifier)
    assert.is_string(rec.outputs.master_password_version)
    assert.matches("^t%-db%.cluster%-", rec.outputs.endpoint)
    assert.are.equal(true, res["aws.rds.cluster_instance.db-1"].outputs.writer)
    assert.is_false(has(env:state_text(), PASSWORD), "the password reached the state")
    assert.is_false(has(r.stdout .. r.stderr, PASSWORD), "the password was printed")

    r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("No changes", r.stdout)
    assert.is_nil(r.stdout:find("Changed outside", 1, true), r.stdout)

    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("taking the final snapshot t%-db%-final%-", r.stdout)
    assert.matches("Destroy complete! Resources: 5 destroyed.", r.stdout, 1, true)
    assert.are.same({}, env:objects("rds", "db-cluster"))
    assert.are.same({}, env:objects("rds", "db-instance"))
    assert.are.same({}, env:objects("rds", "db-subnet-group"))
    assert.are.same({}, env:objects("rds", "db-cluster-parameter-group"))
    local snap = env:objects("rds", "db-cluster-snapshot")[rec.outputs.final_snapshot_identifier]
    assert.is_table(snap, "no final snapshot")
    assert.are.equal("t-db", snap.DBClusterIdentifier)
  end)

  it("updates in place: backup retention, instance class, a parameter, tags", function()
    env:write("s.lua", aurora())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:write("s.lua", aurora { retention = 14, extra_parameter = 'time_zone = "Europe/Paris"' })
    local r = env:wpo { "run", "s.lua", "--yes", "--var", "klass=db.r6g.xlarge" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("~ aws%.rds%.cluster%.db .*will be updated in place", r.stdout)
    assert.matches("backup_retention_period = 7 %-> 14", r.stdout)
    assert.matches("parameters%[\"time_zone\"%] = \"Europe/Paris\"", r.stdout)
    assert.matches("Apply complete: 0 added, 4 changed, 0 destroyed", r.stdout)
    assert.are.equal(14, env:objects("rds", "db-cluster")["t-db"].BackupRetentionPeriod)
    assert.are.equal("db.r6g.xlarge", env:objects("rds", "db-instance")["t-db-2"].DBInstanceClass)
    r = env:wpo { "plan", "s.lua", "--detailed-exitcode", "--var", "klass=db.r6g.xlarge" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("sets the master password again after the secret is rotated, never showing it", function()
    env:write("s.lua", aurora())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    local before = env:ok_calls("rds.ModifyDBCluster")
    env:client("secretsmanager"):call("PutSecretValue", { SecretId = secret, SecretString = "second-Password-2" })
    local r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(2, r.status, r.stdout .. r.stderr)
    assert.matches("master_password_secret_arn = .*password set from version", r.stdout)
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.equal(before + 1, env:ok_calls("rds.ModifyDBCluster"))
    assert.matches("setting the master password from", r.stdout)
    assert.is_false(has(r.stdout .. r.stderr .. env:state_text(), "second-Password-2"))
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("re-creates a reader deleted out of band, and reads a deleted cluster as gone", function()
    env:write("s.lua", aurora())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:made_long_ago()
    local rds = env:client("rds")
    rds:call("DeleteDBInstance", { DBInstanceIdentifier = "t-db-2" })
    for _ = 1, 5 do if not env:objects("rds", "db-instance")["t-db-2"] then break end
      rds:call("DescribeDBInstances", {}) end
    local r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("aws%.rds%.cluster_instance%.db%-2 no longer exists", r.stdout)
    assert.matches("%+ aws%.rds%.cluster_instance%.db%-2 .*will be created", r.stdout)
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.equal("available", env:objects("rds", "db-instance")["t-db-2"].DBInstanceStatus)
  end)

  -- a destroy killed while RDS deletes them: they stay in the state, tainted,
  -- and the next run waits for them to go instead of dropping them
  it("reads a reader and a cluster still deleting as deleting: kept, tainted, waited for, not asked again", function()
    env:write("s.lua", aurora())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:made_long_ago()
    local rds = env:client("rds")
    rds:call("DeleteDBInstance", { DBInstanceIdentifier = "t-db-2" })
    local r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("aws%.rds%.cluster_instance%.db%-2 is being deleted", r.stdout)
    assert.matches("%-/%+ aws%.rds%.cluster_instance%.db%-2 .*will be replaced %(tainted: it is being deleted", r.stdout)
    local deletes = env:ok_calls("rds.DeleteDBInstance")
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.equal(deletes, env:ok_calls("rds.DeleteDBInstance"))
    assert.are.equal("available", env:objects("rds", "db-instance")["t-db-2"].DBInstanceStatus)
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
    -- the whole cluster deleting (its readers first): destroy waits for all of it
    env:made_long_ago()
    for _, id in ipairs({ "t-db-1", "t-db-2" }) do
      if env:objects("rds", "db-instance")[id] then rds:call("DeleteDBInstance", { DBInstanceIdentifier = id }) end
    end
    for _ = 1, 5 do if next(env:objects("rds", "db-instance")) == nil then break end
      rds:call("DescribeDBInstances", {}) end
    rds:call("DeleteDBCluster", { DBClusterIdentifier = "t-db", SkipFinalSnapshot = true })
    r = env:wpo { "plan", "s.lua" }
    assert.matches("aws%.rds%.cluster%.db is being deleted", r.stdout)
    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({}, env:objects("rds", "db-cluster"))
    assert.are.same({}, env:objects("rds", "db-instance"))
  end)

  it("refuses to delete a cluster with deletion protection on, and destroys once it is turned off", function()
    env:write("s.lua", aurora { protected = true })
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    local r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(1, r.status)
    assert.matches("s%.lua:%d+: aws%.rds%.cluster%.db: DeletionProtection: DB cluster t%-db has deletion protection on",
      r.stderr)
    assert.is_table(env:objects("rds", "db-cluster")["t-db"])
    env:write("s.lua", aurora { protected = false })
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("deletion_protection = true %-> false", r.stdout)
    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({}, env:objects("rds", "db-cluster"))
  end)

  it("deletes the readers Application Auto Scaling added before deleting the cluster", function()
    env:write("s.lua", aurora())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    local rds = env:client("rds")
    rds:call("CreateDBInstance", { DBInstanceIdentifier = "application-autoscaling-0a1b2c3d", Engine = "aurora-mysql",
      DBClusterIdentifier = "t-db", DBInstanceClass = "db.r6g.large" })
    local r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("deleting application%-autoscaling%-0a1b2c3d, a reader Application Auto Scaling added", r.stdout)
    assert.are.same({}, env:objects("rds", "db-cluster"))
    assert.are.same({}, env:objects("rds", "db-instance"))
  end)

  it("imports an existing cluster, and adopts one tagged with its own address", function()
    local rds = env:client("rds")
    rds:call("CreateDBSubnetGroup", { DBSubnetGroupName = "t-db", DBSubnetGroupDescription = "Managed by wpo",
      SubnetIds = { net.subnets[1], net.subnets[2] } })
    rds:call("CreateDBCluster", { DBClusterIdentifier = "t-db", Engine = "aurora-mysql", MasterUsername = "wordpress",
      MasterUserPassword = "whatever-123", DBSubnetGroupName = "t-db", StorageEncrypted = true,
      DatabaseName = "wordpress", VpcSecurityGroupIds = { net.sg } })
    env:write("s.lua", aurora())
    local r = env:wpo { "import", "s.lua", "aws.rds.cluster.db", "t-db" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.equal("t-db", env:resources()["aws.rds.cluster.db"].id)
    r = env:wpo { "import", "s.lua", "aws.rds.db_subnet_group.db", "t-db" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    -- a parameter group tagged with its address (a run that died before saving) is adopted
    rds:call("CreateDBClusterParameterGroup", { DBClusterParameterGroupName = "t-db", Description = "Managed by wpo",
      DBParameterGroupFamily = "aurora-mysql8.0", Tags = { { Key = "wpo:address",
        Value = "aws.rds.cluster_parameter_group.db" }, { Key = "wpo:stack", Value = "t" } } })
    r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("~ aws%.rds%.cluster%.db .*will be updated in place", r.stdout)
    assert.matches("backup_retention_period%s+= 1 %-> 7", r.stdout)
    assert.matches("master_password_secret_arn%s+= null %->", r.stdout)
    r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("aws%.rds%.cluster_parameter_group%.db: adopting t%-db", r.stdout)
    assert.are.equal(0, env:ok_calls("rds.CreateDBClusterParameterGroup") - 1)
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("plans every object deleted out of band again", function()
    env:write("s.lua", aurora())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:made_long_ago()
    local rds = env:client("rds")
    for _, id in ipairs({ "t-db-1", "t-db-2" }) do rds:call("DeleteDBInstance", { DBInstanceIdentifier = id }) end
    for _ = 1, 5 do if #rds:call("DescribeDBInstances", {}).DBInstances == 0 then break end end
    rds:call("DeleteDBCluster", { DBClusterIdentifier = "t-db", SkipFinalSnapshot = true })
    for _ = 1, 5 do if #rds:call("DescribeDBClusters", {}).DBClusters == 0 then break end end   -- deleting, then gone
    rds:call("DeleteDBClusterParameterGroup", { DBClusterParameterGroupName = "t-db" })
    rds:call("DeleteDBSubnetGroup", { DBSubnetGroupName = "t-db" })
    local r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    for _, address in ipairs({ "aws.rds.db_subnet_group.db", "aws.rds.cluster_parameter_group.db", "aws.rds.cluster.db",
        "aws.rds.cluster_instance.db-1", "aws.rds.cluster_instance.db-2" }) do
      local pat = address:gsub("%p", "%%%0")
      assert.matches(pat .. " no longer exists", r.stdout)
      assert.matches("%+ " .. pat .. "  #", r.stdout)
    end
    assert.matches("Plan: 5 to add, 0 to change, 0 to destroy", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("imports every object into a new state; only the master password is then set", function()
    env:write("s.lua", aurora())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    os.remove(env.dir .. "/.wpo/t.state.json")
    os.remove(env.dir .. "/.wpo/t.state.json.backup")
    for address, id in pairs({ ["aws.rds.db_subnet_group.db"] = "t-db", ["aws.rds.cluster_parameter_group.db"] = "t-db",
        ["aws.rds.cluster.db"] = "t-db", ["aws.rds.cluster_instance.db-1"] = "t-db-1",
        ["aws.rds.cluster_instance.db-2"] = "t-db-2" }) do
      local r = env:wpo { "import", "s.lua", address, id }
      assert.are.equal(0, r.status, address .. ": " .. r.stdout .. r.stderr)
    end
    local r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Plan: 0 to add, 1 to change, 0 to destroy", r.stdout)
    assert.matches("~ aws%.rds%.cluster%.db .*\n%s+master_password_secret_arn = null %-> \"arn:", r.stdout)
    local before = env:ok_calls("rds.ModifyDBCluster")
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    assert.are.equal(before + 1, env:ok_calls("rds.ModifyDBCluster"))
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("refuses to take over an object of the same name that is not its own", function()
    env:client("rds"):call("CreateDBSubnetGroup", { DBSubnetGroupName = "t-other", DBSubnetGroupDescription = "x",
      SubnetIds = { net.subnets[1], net.subnets[2] } })
    env:write("s.lua", string.format([[
local s = wpo.stack { name = "t", region = "us-east-1" }
s:add("aws.rds.db_subnet_group", "db", { name = "t-other", subnet_ids = %s })
return s
]], typeflow.lua_list({ net.subnets[1], net.subnets[2] })))
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(1, r.status)
    assert.matches("s%.lua:2: aws%.rds%.db_subnet_group%.db: AlreadyExists: a DB subnet group named t%-other already "
      .. "exists and is not this resource's %(its wpo:address tag is absent%): import it with 'wpo import STACK "
      .. "aws%.rds%.db_subnet_group%.db t%-other'", r.stderr)
    assert.are.equal(0, env:ok_calls("rds.CreateDBSubnetGroup") - 1)
  end)

  describe("aws.rds.instance", function()
    local function plain(opts)
      opts = opts or {}
      return string.format([[
local s = wpo.stack { name = "t", region = "us-east-1" }
local subnets = s:add("aws.rds.db_subnet_group", "db", { name = "t-db", subnet_ids = %s })
s:add("aws.rds.instance", "db", { identifier = "t-db", engine = "mariadb", instance_class = "db.t4g.micro",
  allocated_storage = %d, db_name = "wordpress", master_username = "wordpress", master_password_secret_arn = %q,
  db_subnet_group_name = subnets.id, vpc_security_group_ids = { %q }, deletion_protection = %s,
  skip_final_snapshot = %s })
return s
]], typeflow.lua_list({ net.subnets[1], net.subnets[2] }), opts.storage or 20, secret, net.sg,
        tostring(opts.protected or false), tostring(opts.skip or false))
    end

    it("creates Multi-AZ encrypted storage, grows it in place, refuses to shrink it, keeps the final snapshot",
      function()
      env:write("s.lua", plain())
      local r = env:wpo { "run", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      local inst = env:objects("rds", "db-instance")["t-db"]
      assert.are.same({ "mariadb", true, true, "gp3", 7, true },
        { inst.Engine, inst.MultiAZ, inst.StorageEncrypted, inst.StorageType, inst.BackupRetentionPeriod,
          inst.CopyTagsToSnapshot })
      assert.is_false(has(env:state_text(), PASSWORD))
      assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
      env:write("s.lua", plain { storage = 50 })
      r = env:wpo { "run", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("allocated_storage = 20 %-> 50", r.stdout)
      assert.are.equal(50, env:objects("rds", "db-instance")["t-db"].AllocatedStorage)
      env:write("s.lua", plain { storage = 30 })
      r = env:wpo { "run", "s.lua", "--yes" }
      assert.are.equal(1, r.status)
      assert.matches("StorageShrink: allocated_storage cannot go down %(50 %-> 30 GiB%)", r.stderr)
      env:write("s.lua", plain { storage = 50 })
      local final = env:resources()["aws.rds.instance.db"].outputs.final_snapshot_identifier
      r = env:wpo { "destroy", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.are.same({}, env:objects("rds", "db-instance"))
      assert.are.equal("t-db", env:objects("rds", "db-snapshot")[final].DBInstanceIdentifier)
    end)

    it("refuses to delete while protected; skips the final snapshot when told; re-creates after drift", function()
      env:write("s.lua", plain { protected = true })
      assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
      local r = env:wpo { "destroy", "s.lua", "--yes" }
      assert.are.equal(1, r.status)
      assert.matches("DeletionProtection: DB instance t%-db has deletion protection on", r.stderr)
      env:write("s.lua", plain { protected = false, skip = true })
      assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
      env:made_long_ago()
      local rds = env:client("rds")
      rds:call("DeleteDBInstance", { DBInstanceIdentifier = "t-db", SkipFinalSnapshot = true })
      r = env:wpo { "plan", "s.lua" }
      assert.matches("%+ aws%.rds%.instance%.db", r.stdout)
      assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
      r = env:wpo { "destroy", "s.lua", "--yes" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.are.same({}, env:objects("rds", "db-snapshot"))
    end)
  end)
end)
