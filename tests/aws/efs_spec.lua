-- aws.efs.file_system, aws.efs.mount_target, aws.efs.access_point and
-- aws.efs.backup_policy through the wpo binary against fakeaws: create
-- (encrypted, lifecycle to IA, one mount target per zone, an access point for
-- uid/gid 33 rooted at /wordpress, backups on), no changes, in-place updates,
-- drift, import, a create retried after a lost answer, destroy.
local typeflow = require "typeflow"

describe("aws.efs types against fakeaws", function()
  local env, net

  setup(function() env = typeflow.start { settle = 1 } end)
  teardown(function() env:stop() end)
  before_each(function()
    env:reset()
    net = env:network()
  end)

  local function stack(opts)
    opts = opts or {}
    return string.format([[
local s = wpo.stack { name = "t", region = "us-east-1" }
local fs = s:add("aws.efs.file_system", "content", { transition_to_ia = %q, throughput_mode = %q,
  tags = { Name = "t-content" } })
for i, subnet in ipairs(%s) do
  s:add("aws.efs.mount_target", "content-" .. i, { file_system_id = fs.id, subnet_id = subnet,
    security_groups = %s })
end
local ap = s:add("aws.efs.access_point", "wordpress", { file_system_id = fs.id,
  posix_user = { uid = 33, gid = 33 },
  root_directory = { path = "/wordpress", creation_info = { owner_uid = 33, owner_gid = 33, permissions = "0755" } },
  tags = { Name = %q } })
s:add("aws.efs.backup_policy", "content", { file_system_id = fs.id, status = %q })
s:output("fs", fs.id)
s:output("dns", fs.dns_name)
s:output("ap", ap.id)
return s
]], opts.ia or "AFTER_30_DAYS", opts.throughput or "elastic", typeflow.lua_list(net.subnets),
      typeflow.lua_list(opts.groups or { net.sg }), opts.ap_name or "wordpress", opts.backup or "ENABLED")
  end

  local function only(tbl)
    local k, v = next(tbl)
    assert.is_nil(next(tbl, k), "more than one object")
    return v, k
  end

  it("creates the file system, a mount target per zone, the access point and backups; destroys it all", function()
    env:write("s.lua", stack())
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local fs, fs_id = only(env:objects("efs", "file-system"))
    assert.are.same({ "available", true, "elastic", 3, "t-content" },
      { fs.LifeCycleState, fs.Encrypted, fs.ThroughputMode, fs.NumberOfMountTargets, fs.Name })
    local lc = env:client("efs"):call("DescribeLifecycleConfiguration", { FileSystemId = fs_id }).LifecyclePolicies
    assert.are.same({ { TransitionToIA = "AFTER_30_DAYS" }, { TransitionToPrimaryStorageClass = "AFTER_1_ACCESS" } },
      lc)
    local zones = {}
    for _, mt in pairs(env:objects("efs", "mount-target")) do
      zones[#zones + 1] = mt.AvailabilityZoneName
      assert.are.equal("available", mt.LifeCycleState)
    end
    table.sort(zones)
    assert.are.same(net.azs, zones)
    local enis = 0
    for _, eni in pairs(env:objects("ec2", "network-interface")) do
      enis = enis + 1
      assert.are.same({ net.sg }, { eni.Groups[1].GroupId })
    end
    assert.are.equal(3, enis)
    local ap = only(env:objects("efs", "access-point"))
    assert.are.same({ Uid = 33, Gid = 33 }, ap.PosixUser)
    assert.are.same({ Path = "/wordpress", CreationInfo = { OwnerUid = 33, OwnerGid = 33, Permissions = "0755" } },
      ap.RootDirectory)
    assert.are.equal("ENABLED", env:client("efs"):call("DescribeBackupPolicy", { FileSystemId = fs_id })
      .BackupPolicy.Status)
    local st = env:state()
    assert.are.equal(fs_id, st.outputs.fs.value)
    assert.are.equal(fs_id .. ".efs.us-east-1.amazonaws.com", st.outputs.dns.value)

    r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.is_nil(r.stdout:find("Changed outside", 1, true), r.stdout)

    r = env:wpo { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Destroy complete! Resources: 6 destroyed.", r.stdout, 1, true)
    assert.are.same({}, env.f:state().efs or {})
    for id, eni in pairs(env:objects("ec2", "network-interface")) do
      assert.are.equal("detaching", eni.Status, id .. " is still in use")
    end
  end)

  it("updates lifecycle, throughput, mount target groups, tags and backups in place", function()
    env:write("s.lua", stack())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    local fs_id = select(2, only(env:objects("efs", "file-system")))
    env:write("s.lua", stack { ia = "AFTER_7_DAYS", throughput = "bursting", groups = { net.sg, net.sg2 },
      ap_name = "wp-content", backup = "DISABLED" })
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Apply complete: 0 added, 6 changed, 0 destroyed", r.stdout)
    local fs = env:objects("efs", "file-system")[fs_id]
    assert.are.equal("bursting", fs.ThroughputMode)
    local efs = env:client("efs")
    assert.are.equal("AFTER_7_DAYS", efs:call("DescribeLifecycleConfiguration", { FileSystemId = fs_id })
      .LifecyclePolicies[1].TransitionToIA)
    for id in pairs(env:objects("efs", "mount-target")) do
      local groups = efs:call("DescribeMountTargetSecurityGroups", { MountTargetId = id }).SecurityGroups
      table.sort(groups)
      local want = { net.sg, net.sg2 }
      table.sort(want)
      assert.are.same(want, groups)
    end
    assert.are.equal("wp-content", only(env:objects("efs", "access-point")).Name)
    assert.are.equal("DISABLED", efs:call("DescribeBackupPolicy", { FileSystemId = fs_id }).BackupPolicy.Status)
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("re-creates what was deleted out of band; imports a file system", function()
    env:write("s.lua", stack())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:made_long_ago()
    local efs = env:client("efs")
    local _, ap_id = only(env:objects("efs", "access-point"))
    efs:call("DeleteAccessPoint", { AccessPointId = ap_id })
    efs:call("PutBackupPolicy", { FileSystemId = select(2, only(env:objects("efs", "file-system"))),
      BackupPolicy = { Status = "DISABLED" } })
    -- still deleting (a destroy killed here): kept, tainted, replaced
    local r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("aws%.efs%.access_point%.wordpress is being deleted", r.stdout)
    assert.matches("%-/%+ aws%.efs%.access_point%.wordpress .*will be replaced %(tainted: it is being deleted", r.stdout)
    -- then gone
    for _ = 1, 5 do if not env:objects("efs", "access-point")[ap_id] then break end
      efs:call("DescribeAccessPoints", {}) end
    r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("aws%.efs%.access_point%.wordpress no longer exists", r.stdout)
    assert.matches("aws%.efs%.backup_policy%.content: status", r.stdout)
    assert.matches("%+ aws%.efs%.access_point%.wordpress", r.stdout)
    assert.matches("status = \"DISABLED\" %-> \"ENABLED\"", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    local new_ap, new_id = only(env:objects("efs", "access-point"))
    assert.are_not.equal(ap_id, new_id)
    assert.are.equal("available", new_ap.LifeCycleState)
    local fs_id = select(2, only(env:objects("efs", "file-system")))
    assert.are.equal(0, env:wpo({ "state", "rm", "s.lua", "aws.efs.file_system.content" }).status)
    r = env:wpo { "import", "s.lua", "aws.efs.file_system.content", fs_id }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("plans every object deleted out of band again, and imports every object into a new state", function()
    env:write("s.lua", stack())
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    local res = env:resources()
    local ids = {}
    for address, rec in pairs(res) do ids[address] = rec.id end
    -- import: a new state, every object taken back by its id
    os.remove(env.dir .. "/.wpo/t.state.json")
    os.remove(env.dir .. "/.wpo/t.state.json.backup")
    for address, id in pairs(ids) do
      local r = env:wpo { "import", "s.lua", address, id }
      assert.are.equal(0, r.status, address .. ": " .. r.stdout .. r.stderr)
    end
    local r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    -- drift: everything deleted behind wpo's back
    env:made_long_ago()
    local efs = env:client("efs")
    local fs_id = ids["aws.efs.file_system.content"]
    efs:call("DeleteAccessPoint", { AccessPointId = ids["aws.efs.access_point.wordpress"] })
    for _ = 1, 5 do if #efs:call("DescribeAccessPoints", { FileSystemId = fs_id }).AccessPoints == 0 then break end end
    for i = 1, 3 do efs:call("DeleteMountTarget", { MountTargetId = ids["aws.efs.mount_target.content-" .. i] }) end
    for _ = 1, 5 do if #efs:call("DescribeMountTargets", { FileSystemId = fs_id }).MountTargets == 0 then break end end
    efs:call("DeleteFileSystem", { FileSystemId = fs_id })
    for _ = 1, 5 do if #efs:call("DescribeFileSystems", {}).FileSystems == 0 then break end end
    r = env:wpo { "plan", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    for address in pairs(ids) do
      local pat = address:gsub("%p", "%%%0")
      assert.matches(pat .. " no longer exists", r.stdout)
      assert.matches("%+ " .. pat .. "  #", r.stdout)
    end
    assert.matches("Plan: 6 to add, 0 to change, 0 to destroy", r.stdout)
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    assert.are.equal(0, env:wpo({ "plan", "s.lua", "--detailed-exitcode" }).status)
  end)

  it("finds the file system its lost create made instead of making another", function()
    -- a stack that already has a state (its lineage is part of the creation token)
    env:write("s.lua", 'local s = wpo.stack { name = "t", region = "us-east-1" }\ns:add("wpo.null", "x")\nreturn s\n')
    assert.are.equal(0, env:wpo({ "run", "s.lua", "--yes" }).status)
    env:write("s.lua", stack())
    -- every answer to CreateFileSystem lost, after EFS made it
    env.f:faults { drop_rate = 1, operations = { "efs.CreateFileSystem" } }
    local r = env:wpo({ "run", "s.lua", "--yes" }, { AWS_MAX_ATTEMPTS = "1" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local _, first = only(env:objects("efs", "file-system"))
    assert.is_truthy(r.stdout:find("adopting " .. first .. ", found by its creation token", 1, true), r.stdout)
    assert.matches("the answer to efs CreateFileSystem: RequestError was lost", r.stdout, 1, true)
    env.f:faults {}
    r = env:wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local _, after = only(env:objects("efs", "file-system"))
    assert.are.equal(first, after)
  end)

  it("refuses a mount target in a zone that already has one, naming the resource", function()
    local ec2 = env:client("ec2")
    local extra = ec2:call("CreateSubnet", { VpcId = net.vpc, CidrBlock = "10.20.9.0/24",
      AvailabilityZone = "us-east-1a" }).Subnet.SubnetId
    env:write("s.lua", string.format([[
local s = wpo.stack { name = "t", region = "us-east-1" }
local fs = s:add("aws.efs.file_system", "content", {})
s:add("aws.efs.mount_target", "a", { file_system_id = fs.id, subnet_id = %q })
s:add("aws.efs.mount_target", "a2", { file_system_id = fs.id, subnet_id = %q,
  depends_on = { "aws.efs.mount_target.a" } })
return s
]], net.subnets[1], extra))
    local r = env:wpo { "run", "s.lua", "--yes" }
    assert.are.equal(1, r.status)
    assert.matches("s%.lua:4: aws%.efs%.mount_target%.a2: MountTargetConflict: mount target already exists in this "
      .. "AZ %(us%-east%-1a%)", r.stderr)
  end)
end)
