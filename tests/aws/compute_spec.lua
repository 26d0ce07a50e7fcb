-- The compute, service and load-balancer resource types against tests/fakeaws
-- (in-process: each type's create/read/update/delete/import called as apply,
-- refresh and import call them): aws.ec2.launch_template,
-- aws.autoscaling.group, aws.ecs.cluster, aws.ecs.capacity_provider,
-- aws.ecs.cluster_capacity_providers, aws.ecs.task_definition,
-- aws.ecs.service, aws.applicationautoscaling.target/.policy,
-- aws.elbv2.load_balancer/.target_group/.listener/.listener_rule. For each: create, read (no
-- drift), update, import (read with an empty prior), delete (twice), and read
-- after an out-of-band deletion (nil: the plan re-creates it).

describe("compute, service and load-balancer types against fakeaws", function()
  local typeflow = require "typeflow"
  local aws = require "wpo.aws"
  local resource = require "wpo.resource"
  local value = require "wpo.value"
  local errors = require "wpo.errors"
  local kit = require "wpo.aws.typekit"
  local crypto = require "wpo.core.crypto"

  local f, fx
  local SERVICES = { "ec2", "autoscaling", "ecs", "elbv2", "application-autoscaling", "ecr" }

  local suite = typeflow.suite { settle = 1 }
  local function client(service) return suite:client(service) end

  local function ctx_for(t, address, prior)
    local ctx = resource.context { address = address, type = t, stack = "spec", region = "us-east-1",
      where = "spec.lua:1", prior = prior, lineage = "lineage-" .. address }
    ctx.clients = {}
    for _, s in ipairs(SERVICES) do ctx.clients[s] = client(s) end
    ctx.notes = {}
    ctx.logger = function(_, msg) ctx.notes[#ctx.notes + 1] = msg end
    return ctx
  end

  -- the desired attributes as the stack makes them: defaults, then tags
  local function desired(tname, address, attrs)
    local t = assert(resource.get(tname))
    local want, _, err = resource.desired(t, attrs)
    assert(want, err)
    if t.taggable then want.tags = resource.tags("spec", address, {}, want.tags) end
    return t, want
  end

  -- attributes read back equal what was applied (what plan.refresh compares)
  local function assert_no_drift(t, inputs, observed)
    assert.is_table(observed, "read returned nothing")
    for name, v in pairs(value.normalize_numbers(observed)) do
      if t.attributes[name] and inputs[name] ~= nil then
        assert.are.same(inputs[name], v, "drift on " .. name)
      end
    end
  end

  local function create(tname, address, attrs)
    local t, want = desired(tname, address, attrs)
    local ctx = ctx_for(t, address)
    local o = value.normalize_numbers(resource.create(t, ctx, want))
    assert.is_not_nil(o.id)
    local record = { type = tname, id = o.id, inputs = want, outputs = o }
    assert_no_drift(t, want, t.read(ctx_for(t, address, record), o.id, record))
    return record, t, ctx
  end

  local function update(record, t, changes)
    local new = value.copy(record.inputs)
    local changed = {}
    for k, v in pairs(changes) do
      new[k] = v
      changed[#changed + 1] = k
    end
    table.sort(changed)
    local ctx = ctx_for(t, "u")
    ctx.address = record.address or ctx.address
    local o = t.update(ctx, record.id, record.inputs, new, changed) or {}
    for k, v in pairs(value.normalize_numbers(o)) do if t.outputs[k] then record.outputs[k] = v end end
    record.inputs = new
    local seen = t.read(ctx, record.id, record)
    assert_no_drift(t, new, seen)
    return seen
  end

  local function import_matches(record, t)
    local prior = { type = record.type, id = record.id, inputs = {}, outputs = {} }
    local o = t.read(ctx_for(t, "imported", prior), record.id, prior)
    assert_no_drift(t, record.inputs, o)
    return o
  end

  local function destroy(record, t)
    t.delete(ctx_for(t, "d"), record.id, record)
    assert.is_nil(t.read(ctx_for(t, "d"), record.id, record))
    t.delete(ctx_for(t, "d"), record.id, record)   -- already gone: fine
  end

  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.is_true(errors.is(err), "expected a wpo.errors error, got " .. tostring(err))
    return err
  end

  setup(function()
    if aws.set_wait_scale then aws.set_wait_scale(0.001) end
  end)
  teardown(function()
    if aws.set_wait_scale then aws.set_wait_scale(nil) end
  end)
  before_each(function()
    f = suite.f
    local ec2 = client("ec2")
    fx = { vpc = ec2:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }).Vpc.VpcId, public = {}, private = {} }
    for i, az in ipairs({ "us-east-1a", "us-east-1b" }) do
      fx.public[i] = ec2:call("CreateSubnet", { VpcId = fx.vpc, CidrBlock = "10.0." .. i .. ".0/24",
        AvailabilityZone = az }).Subnet.SubnetId
      fx.private[i] = ec2:call("CreateSubnet", { VpcId = fx.vpc, CidrBlock = "10.0." .. (10 + i) .. ".0/24",
        AvailabilityZone = az }).Subnet.SubnetId
    end
    fx.sg_alb = ec2:call("CreateSecurityGroup", { VpcId = fx.vpc, GroupName = "alb", Description = "alb" }).GroupId
    fx.sg_ecs = ec2:call("CreateSecurityGroup", { VpcId = fx.vpc, GroupName = "ecs", Description = "ecs" }).GroupId
  end)

  local function state(service, kind)
    return (f:state()[service] or {})[kind] or {}
  end

  local function count(tbl)
    local n = 0
    for _ in pairs(tbl) do n = n + 1 end
    return n
  end

  -- a cluster, a launch template joining it, and its Auto Scaling group
  local function capacity(name, min)
    local cluster = create("aws.ecs.cluster", "aws.ecs.cluster." .. name, { name = name })
    local lt = create("aws.ec2.launch_template", "aws.ec2.launch_template." .. name, { name = name .. "-lt",
      instance_type = "t3.small", ecs_cluster = name, security_group_ids = { fx.sg_ecs } })
    local asg = create("aws.autoscaling.group", "aws.autoscaling.group." .. name, { name = name,
      launch_template_id = lt.id, subnet_ids = fx.private, min_size = min or 2, max_size = 4,
      protect_from_scale_in = true })
    return cluster, lt, asg
  end

  describe("aws.ec2.launch_template", function()
    it("creates an ECS-optimised, IMDSv2-only template whose user data joins the cluster", function()
      local r, t = create("aws.ec2.launch_template", "aws.ec2.launch_template.ecs", { name = "wp-ecs",
        instance_type = "t3.small", instance_profile = "arn:aws:iam::123456789012:instance-profile/wp",
        security_group_ids = { fx.sg_ecs }, ecs_cluster = "wp", ecs_config = { ECS_ENABLE_CONTAINER_METADATA = "true" } })
      assert.matches("^lt%-%x+$", r.id)
      assert.are.equal(1, r.outputs.latest_version)
      local lt = state("ec2", "launch-template")[r.id]
      assert.are.equal("wp-ecs", lt.LaunchTemplateName)
      local tags = kit.tag_map(lt.Tags)
      assert.are.equal("aws.ec2.launch_template.ecs", tags["wpo:address"])
      local v = client("ec2"):call("DescribeLaunchTemplateVersions", { LaunchTemplateId = r.id,
        Versions = { "$Default" } }).LaunchTemplateVersions[1].LaunchTemplateData
      assert.are.equal("resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id", v.ImageId)
      assert.are.equal("required", v.MetadataOptions.HttpTokens)
      assert.are.equal(1, v.MetadataOptions.HttpPutResponseHopLimit)
      assert.is_true(v.BlockDeviceMappings[1].Ebs.Encrypted)
      assert.are.equal("arn:aws:iam::123456789012:instance-profile/wp", v.IamInstanceProfile.Arn)
      local script = crypto.unbase64(v.UserData)
      assert.matches("ECS_CLUSTER=wp\n", script, 1, true)
      assert.matches("ECS_ENABLE_CONTAINER_METADATA=true\n", script, 1, true)
      assert.matches("/etc/ecs/ecs.config", script, 1, true)
      import_matches(r, t)
    end)

    it("makes a new default version on change, updates tags in place, and reads drift in the user data", function()
      local r, t = create("aws.ec2.launch_template", "aws.ec2.launch_template.ecs", { name = "wp-ecs",
        instance_type = "t3.small", ecs_cluster = "wp" })
      update(r, t, { instance_type = "t3.large", ecs_cluster = "wp2" })
      assert.are.equal(2, r.outputs.latest_version)
      assert.are.equal(2, r.outputs.default_version)
      local tags = value.copy(r.inputs.tags)
      tags.team = "web"
      update(r, t, { tags = tags })
      assert.are.equal(2, state("ec2", "launch-template")[r.id].LatestVersionNumber, "a tag change is no version")
      client("ec2"):call("CreateLaunchTemplateVersion", { LaunchTemplateId = r.id, LaunchTemplateData = {
        InstanceType = "t3.large", UserData = crypto.base64("#!/bin/bash\necho hand-made\n") } })
      client("ec2"):call("ModifyLaunchTemplate", { LaunchTemplateId = r.id, DefaultVersion = "3" })
      local seen = t.read(ctx_for(t, "x"), r.id, r)
      assert.are.equal("#!/bin/bash\necho hand-made\n", seen.user_data)
      assert.are.equal("optional", seen.http_tokens)
      destroy(r, t)
    end)

    it("makes exactly one version when every answer to CreateLaunchTemplateVersion is lost", function()
      local r, t = create("aws.ec2.launch_template", "aws.ec2.launch_template.ecs", { name = "wp-ecs",
        instance_type = "t3.small", ecs_cluster = "wp" })
      f:faults { drop_rate = 1, operations = { "ec2.CreateLaunchTemplateVersion" } }
      local new = value.copy(r.inputs)
      new.instance_type = "t3.large"
      local ctx = ctx_for(t, "aws.ec2.launch_template.ecs", r)
      local o = resource.update(t, ctx, r.id, r.inputs, new, { "instance_type" })
      f:faults {}
      assert.are.equal(2, o.latest_version)
      assert.are.equal(2, o.default_version)
      assert.are.equal(2, state("ec2", "launch-template")[r.id].LatestVersionNumber)
      assert.matches("running the update again", table.concat(ctx.notes, "\n"), 1, true)
      assert.are.equal("t3.large", t.read(ctx, r.id, r).instance_type)
      destroy(r, t)
    end)

    it("refuses a cluster name that is not one, and reads nil after an out-of-band deletion", function()
      local t, want = desired("aws.ec2.launch_template", "aws.ec2.launch_template.bad", { name = "bad",
        instance_type = "t3.small", ecs_cluster = "wp\nECS_X=1" })
      local err = raised(function() resource.create(t, ctx_for(t, "aws.ec2.launch_template.bad"), want) end)
      assert.are.equal("InvalidParameterValue", err.code)
      local r = create("aws.ec2.launch_template", "aws.ec2.launch_template.ecs", { name = "wp-ecs",
        instance_type = "t3.small" })
      client("ec2"):call("DeleteLaunchTemplate", { LaunchTemplateId = r.id })
      assert.is_nil(t.read(ctx_for(t, "x"), r.id, r))
    end)

    it("adopts the template a crashed run left, tagged with its address, instead of a duplicate", function()
      local r = create("aws.ec2.launch_template", "aws.ec2.launch_template.ecs", { name = "wp-ecs",
        instance_type = "t3.small" })
      local t, want = desired("aws.ec2.launch_template", "aws.ec2.launch_template.ecs", { name = "wp-ecs",
        instance_type = "t3.small" })
      local ctx = ctx_for(t, "aws.ec2.launch_template.ecs")
      local o = resource.create(t, ctx, want)
      assert.are.equal(r.id, o.id)
      assert.are.equal(1, count(state("ec2", "launch-template")))
      assert.matches("adopting", ctx.notes[1])
    end)
  end)

  describe("aws.autoscaling.group", function()
    it("launches protected instances across the private subnets' zones and waits until they are InService", function()
      local _, _, asg = capacity("wp", 2)
      local group = client("autoscaling"):call("DescribeAutoScalingGroups", { AutoScalingGroupNames = { "wp" } })
        .AutoScalingGroups[1]
      assert.are.equal(2, #group.Instances)
      local zones = {}
      for _, i in ipairs(group.Instances) do
        assert.are.equal("InService", i.LifecycleState)
        assert.is_true(i.ProtectedFromScaleIn)
        zones[i.AvailabilityZone] = true
      end
      assert.is_true(zones["us-east-1a"] and zones["us-east-1b"])
      assert.are.same(fx.private, asg.inputs.subnet_ids)
      assert.matches("^arn:aws:autoscaling:", asg.outputs.arn)
    end)

    it("updates sizes and tags in place, ignores the AmazonECSManaged tag, imports, and destroys protected instances", function()
      local _, _, r = capacity("wp", 2)
      local t = resource.get("aws.autoscaling.group")
      local tags = value.copy(r.inputs.tags)
      tags.team = "web"
      update(r, t, { max_size = 6, health_check_grace_period = 120, tags = tags })
      local group = client("autoscaling"):call("DescribeAutoScalingGroups", { AutoScalingGroupNames = { "wp" } })
        .AutoScalingGroups[1]
      assert.are.equal(6, group.MaxSize)
      client("autoscaling"):call("CreateOrUpdateTags", { Tags = { { ResourceId = "wp",
        ResourceType = "auto-scaling-group", Key = "AmazonECSManaged", Value = "", PropagateAtLaunch = true } } })
      import_matches(r, t)
      -- scale-in protection holds the instances: a plain delete is refused, wpo's destroy is not
      local _, err = kit.try(client("autoscaling"), "DeleteAutoScalingGroup", { AutoScalingGroupName = "wp" })
      assert.are.equal("ResourceInUse", err.code)
      local ctx = ctx_for(t, "d")
      t.delete(ctx, r.id, r)
      assert.are.same({}, client("autoscaling"):call("DescribeAutoScalingGroups",
        { AutoScalingGroupNames = { "wp" } }).AutoScalingGroups)
      for _, i in pairs(state("ec2", "instance")) do assert.are.equal("terminated", i.State.Name) end
      assert.matches("removed scale%-in protection from 2 instances", table.concat(ctx.notes, "\n"))
      assert.is_nil(t.read(ctx_for(t, "d"), r.id, r))
      t.delete(ctx_for(t, "d"), r.id, r)
    end)

    it("reads a group deleted out of band as deleting, then, once deleted, as gone; its delete waits without asking again", function()
      local _, _, r = capacity("wp", 1)
      local t = resource.get("aws.autoscaling.group")
      client("autoscaling"):call("DeleteAutoScalingGroup", { AutoScalingGroupName = "wp", ForceDelete = true })
      -- Status "Delete in progress": still there (a destroy killed here must wait for it)
      assert.are.same({ id = r.id, deleting = true }, t.read(ctx_for(t, "x"), r.id, r))
      local before = f:calls()
      t.delete(ctx_for(t, "d"), r.id, r)
      local after = f:calls()
      assert.are.equal(before["autoscaling.DeleteAutoScalingGroup"], after["autoscaling.DeleteAutoScalingGroup"])
      assert.are.equal(before["autoscaling.UpdateAutoScalingGroup"], after["autoscaling.UpdateAutoScalingGroup"])
      assert.is_nil(t.read(ctx_for(t, "x"), r.id, r))
    end)
  end)

  describe("aws.ecs.cluster", function()
    it("creates a cluster with Container Insights, toggles it, tags, imports, and deletes", function()
      local r, t = create("aws.ecs.cluster", "aws.ecs.cluster.main", { name = "wp" })
      assert.are.equal("wp", r.id)
      assert.matches(":cluster/wp$", r.outputs.arn)
      local c = client("ecs"):call("DescribeClusters", { clusters = { "wp" }, include = { "SETTINGS", "TAGS" } }).clusters[1]
      assert.are.same({ { name = "containerInsights", value = "enabled" } }, c.settings)
      assert.are.equal("aws.ecs.cluster.main", kit.tag_map(c.tags, "key", "value")["wpo:address"])
      local tags = value.copy(r.inputs.tags)
      tags.env = "test"
      update(r, t, { container_insights = false, tags = tags })
      import_matches(r, t)
      destroy(r, t)
    end)

    it("refuses a name another stack's cluster holds, and reads nil after an out-of-band deletion", function()
      client("ecs"):call("CreateCluster", { clusterName = "taken" })
      local t, want = desired("aws.ecs.cluster", "aws.ecs.cluster.main", { name = "taken" })
      local err = raised(function() resource.create(t, ctx_for(t, "aws.ecs.cluster.main"), want) end)
      assert.are.equal("AlreadyExists", err.code)
      assert.matches("wpo import", err.message, 1, true)
      local r = create("aws.ecs.cluster", "aws.ecs.cluster.main", { name = "wp" })
      client("ecs"):call("DeleteCluster", { cluster = "wp" })
      assert.is_nil(t.read(ctx_for(t, "x"), r.id, r))
    end)
  end)

  describe("aws.ecs.capacity_provider and aws.ecs.cluster_capacity_providers", function()
    it("associates a managed provider with the cluster, updates both, and takes them apart in order", function()
      local cluster, _, asg = capacity("wp", 2)
      local cp, cpt = create("aws.ecs.capacity_provider", "aws.ecs.capacity_provider.ecs", { name = "wp-ec2",
        auto_scaling_group_arn = asg.outputs.arn })
      local described = client("ecs"):call("DescribeCapacityProviders", { capacityProviders = { "wp-ec2" } })
        .capacityProviders[1].autoScalingGroupProvider
      assert.are.equal("ENABLED", described.managedTerminationProtection)
      assert.are.equal("ENABLED", described.managedScaling.status)
      local ccp, ccpt = create("aws.ecs.cluster_capacity_providers", "aws.ecs.cluster_capacity_providers.main", {
        cluster = cluster.id, capacity_providers = { "wp-ec2" },
        default_strategy = { { capacity_provider = "wp-ec2", weight = 1 } } })
      assert.are.equal("wp", ccp.id)
      local c = client("ecs"):call("DescribeClusters", { clusters = { "wp" } }).clusters[1]
      assert.are.same({ "wp-ec2" }, c.capacityProviders)
      assert.are.equal("UPDATE_COMPLETE", c.attachmentsStatus)
      update(cp, cpt, { target_capacity = 90 })
      update(ccp, ccpt, { default_strategy = { { capacity_provider = "wp-ec2", weight = 2, base = 1 } } })
      import_matches(cp, cpt)
      import_matches(ccp, ccpt)
      -- a provider still associated with the cluster cannot go: the association goes first
      local err = raised(function() cpt.delete(ctx_for(cpt, "d"), cp.id, cp) end)
      assert.are.equal("ResourceInUse", err.code)
      destroy(ccp, ccpt)
      assert.are.same({}, client("ecs"):call("DescribeClusters", { clusters = { "wp" } }).clusters[1].capacityProviders)
      destroy(cp, cpt)
      assert.are.equal("DELETE_COMPLETE", client("ecs"):call("DescribeCapacityProviders",
        { capacityProviders = { "wp-ec2" } }).capacityProviders[1].updateStatus)
    end)

    it("needs scale-in protection for managed termination protection; reads deleting, then nil, after out-of-band deletions", function()
      local _, _, asg = capacity("wp", 1)
      client("autoscaling"):call("UpdateAutoScalingGroup", { AutoScalingGroupName = "wp",
        NewInstancesProtectedFromScaleIn = false })
      local t, want = desired("aws.ecs.capacity_provider", "aws.ecs.capacity_provider.ecs", { name = "wp-ec2",
        auto_scaling_group_arn = asg.outputs.arn })
      local err = raised(function() resource.create(t, ctx_for(t, "aws.ecs.capacity_provider.ecs"), want) end)
      assert.are.equal("InvalidParameterException", err.code)
      local cp = create("aws.ecs.capacity_provider", "aws.ecs.capacity_provider.ecs", { name = "wp-ec2",
        auto_scaling_group_arn = asg.outputs.arn, managed_termination_protection = false })
      local ccp, ccpt = create("aws.ecs.cluster_capacity_providers", "aws.ecs.cluster_capacity_providers.main", {
        cluster = "wp", capacity_providers = { "wp-ec2" } })
      client("ecs"):call("DescribeClusters", { clusters = { "wp" } })
      client("ecs"):call("PutClusterCapacityProviders", { cluster = "wp", capacityProviders = {},
        defaultCapacityProviderStrategy = {} })
      assert.is_nil(ccpt.read(ctx_for(ccpt, "x"), ccp.id, ccp))
      client("ecs"):call("DeleteCapacityProvider", { capacityProvider = "wp-ec2" })
      -- DELETE_IN_PROGRESS: kept and waited for (a destroy killed here), not asked again
      assert.are.same({ id = cp.id, deleting = true }, t.read(ctx_for(t, "x"), cp.id, cp))
      local before = f:calls()["ecs.DeleteCapacityProvider"]
      t.delete(ctx_for(t, "d"), cp.id, cp)
      assert.are.equal(before, f:calls()["ecs.DeleteCapacityProvider"])
      assert.is_nil(t.read(ctx_for(t, "x"), cp.id, cp))
    end)
  end)

  local CONTAINERS = { {
    name = "wordpress", image = "wordpress:6-apache", essential = true, memoryReservation = 256,
    portMappings = { { containerPort = 80, hostPort = 0, protocol = "tcp" } },
    environment = { { name = "WORDPRESS_DB_HOST", value = "db.internal" } },
    secrets = { { name = "WORDPRESS_DB_PASSWORD",
      valueFrom = "arn:aws:secretsmanager:us-east-1:123456789012:secret:wp/db-AbCdEf" } },
    mountPoints = { { sourceVolume = "wp-content", containerPath = "/var/www/html/wp-content" } },
    logConfiguration = { logDriver = "awslogs", options = { ["awslogs-group"] = "/wpo/wp/wordpress",
      ["awslogs-region"] = "us-east-1", ["awslogs-stream-prefix"] = "wordpress" } },
  } }
  local VOLUMES = { { name = "wp-content", efsVolumeConfiguration = { fileSystemId = "fs-0123456789abcdef0",
    transitEncryption = "ENABLED", authorizationConfig = { accessPointId = "fsap-0123456789abcdef0", iam = "ENABLED" } } } }

  describe("aws.ecs.task_definition", function()
    it("registers a revision with secrets, EFS and awslogs; tags in place; deregisters", function()
      local r, t = create("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
        container_definitions = CONTAINERS, volumes = VOLUMES, cpu = 512, memory = 1024,
        execution_role_arn = "arn:aws:iam::123456789012:role/exec" })
      assert.matches(":task%-definition/wp:1$", r.id)
      assert.are.equal(1, r.outputs.revision)
      local td = client("ecs"):call("DescribeTaskDefinition", { taskDefinition = r.id }).taskDefinition
      assert.are.equal("512", td.cpu)
      assert.are.equal("bridge", td.networkMode)
      assert.are.equal("ENABLED", td.volumes[1].efsVolumeConfiguration.transitEncryption)
      local tags = value.copy(r.inputs.tags)
      tags.env = "test"
      update(r, t, { tags = tags })
      import_matches(r, t)
      destroy(r, t)
    end)

    it("refuses a secret in the environment and IAM-authorised EFS without transit encryption", function()
      local t = resource.get("aws.ecs.task_definition")
      local leaky = value.copy(CONTAINERS)
      leaky[1].environment[2] = { name = "WORDPRESS_DB_PASSWORD", value = "hunter2" }
      local _, want = desired("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
        container_definitions = leaky })
      local err = raised(function() resource.create(t, ctx_for(t, "aws.ecs.task_definition.wp"), want) end)
      assert.are.equal("SecretInEnvironment", err.code)
      assert.matches("valueFrom", err.message, 1, true)
      assert.is_nil(err.message:find("hunter2", 1, true))
      local plain = value.copy(VOLUMES)
      plain[1].efsVolumeConfiguration.transitEncryption = "DISABLED"
      _, want = desired("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
        container_definitions = CONTAINERS, volumes = plain })
      err = raised(function() resource.create(t, ctx_for(t, "aws.ecs.task_definition.wp"), want) end)
      assert.matches("transitEncryption", err.message, 1, true)
      assert.are.same({}, state("ecs", "task-definition"))
    end)

    it("adopts the revision a crashed run registered, but registers a new one when any setting differs", function()
      local r, t = create("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
        container_definitions = CONTAINERS, cpu = 512 })
      local _, same = desired("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
        container_definitions = CONTAINERS, cpu = 512 })
      assert.are.equal(r.id, resource.create(t, ctx_for(t, "aws.ecs.task_definition.wp"), same).id)
      local _, more_cpu = desired("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
        container_definitions = CONTAINERS, cpu = 1024 })
      local o = resource.create(t, ctx_for(t, "aws.ecs.task_definition.wp"), more_cpu)
      assert.matches(":task%-definition/wp:2$", o.id)
      assert.are.equal(1024, o.cpu)
    end)

    it("reads nil once its revision was deregistered out of band", function()
      local r, t = create("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
        container_definitions = CONTAINERS })
      client("ecs"):call("DeregisterTaskDefinition", { taskDefinition = r.id })
      assert.is_nil(t.read(ctx_for(t, "x"), r.id, r))
    end)
  end)

  -- an ALB with a target group and an HTTP listener forwarding to it
  local function web()
    local alb = create("aws.elbv2.load_balancer", "aws.elbv2.load_balancer.web", { name = "wp-alb",
      subnet_ids = fx.public, security_group_ids = { fx.sg_alb } })
    local tg = create("aws.elbv2.target_group", "aws.elbv2.target_group.web", { name = "wp-web", port = 80,
      vpc_id = fx.vpc, matcher = "200-399", deregistration_delay = 30 })
    local http = create("aws.elbv2.listener", "aws.elbv2.listener.http", { load_balancer_arn = alb.id, port = 80,
      default_action = { type = "forward", target_group_arn = tg.id } })
    return alb, tg, http
  end

  describe("aws.elbv2.load_balancer, target_group and listener", function()
    it("creates an active ALB in the public subnets with a target group and a forwarding listener", function()
      local alb, tg, http = web()
      local lb = client("elbv2"):call("DescribeLoadBalancers", { LoadBalancerArns = { alb.id } }).LoadBalancers[1]
      assert.are.equal("active", lb.State.Code)
      assert.are.equal("internet-facing", lb.Scheme)
      assert.matches("^app/wp%-alb/%x+$", alb.outputs.arn_suffix)
      assert.matches("^targetgroup/wp%-web/%x+$", tg.outputs.arn_suffix)
      assert.matches("%.elb%.amazonaws%.com$", alb.outputs.dns_name)
      assert.are.equal(fx.vpc, alb.outputs.vpc_id)
      local attrs = {}
      for _, a in ipairs(client("elbv2"):call("DescribeLoadBalancerAttributes", { LoadBalancerArn = alb.id }).Attributes) do
        attrs[a.Key] = a.Value
      end
      assert.are.equal("true", attrs["routing.http.drop_invalid_header_fields.enabled"])
      assert.are.equal(tg.id, client("elbv2"):call("DescribeListeners", { ListenerArns = { http.id } })
        .Listeners[1].DefaultActions[1].TargetGroupArn)
      import_matches(alb, resource.get("aws.elbv2.load_balancer"))
      import_matches(tg, resource.get("aws.elbv2.target_group"))
      import_matches(http, resource.get("aws.elbv2.listener"))
    end)

    it("updates in place: ALB attributes and tags, the health check, HTTP to a redirect and an HTTPS listener", function()
      local alb, tg, http = web()
      local albt = resource.get("aws.elbv2.load_balancer")
      local tags = value.copy(alb.inputs.tags)
      tags.env = "test"
      update(alb, albt, { idle_timeout = 120, tags = tags })
      update(tg, resource.get("aws.elbv2.target_group"), { health_check_path = "/wp-login.php", matcher = "200,302",
        deregistration_delay = 10 })
      local lt = resource.get("aws.elbv2.listener")
      local https = create("aws.elbv2.listener", "aws.elbv2.listener.https", { load_balancer_arn = alb.id, port = 443,
        protocol = "HTTPS", certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        default_action = { type = "forward", target_group_arn = tg.id } })
      local li = client("elbv2"):call("DescribeListeners", { ListenerArns = { https.id } }).Listeners[1]
      assert.are.equal("ELBSecurityPolicy-TLS13-1-2-2021-06", li.SslPolicy)
      update(http, lt, { default_action = { type = "redirect",
        redirect = { protocol = "HTTPS", port = "443", status_code = "HTTP_301" } } })
      li = client("elbv2"):call("DescribeListeners", { ListenerArns = { http.id } }).Listeners[1]
      assert.are.equal("HTTP_301", li.DefaultActions[1].RedirectConfig.StatusCode)
      import_matches(https, lt)
    end)

    it("deletes listener, target group and ALB (each twice), and reads nil after out-of-band deletions", function()
      local alb, tg, http = web()
      local err = raised(function()
        local _, e = kit.try(client("elbv2"), "DeleteTargetGroup", { TargetGroupArn = tg.id })
        error(e, 0)
      end)
      assert.are.equal("ResourceInUse", err.code)
      destroy(http, resource.get("aws.elbv2.listener"))
      destroy(tg, resource.get("aws.elbv2.target_group"))
      destroy(alb, resource.get("aws.elbv2.load_balancer"))
      assert.are.same({}, state("elbv2", "load-balancer"))
      local alb2, tg2, http2 = web()
      client("elbv2"):call("DeleteLoadBalancer", { LoadBalancerArn = alb2.id })
      client("elbv2"):call("DeleteTargetGroup", { TargetGroupArn = tg2.id })
      assert.is_nil(resource.get("aws.elbv2.listener").read(ctx_for(resource.get("aws.elbv2.listener"), "x"),
        http2.id, http2))
      assert.is_nil(resource.get("aws.elbv2.target_group").read(ctx_for(resource.get("aws.elbv2.target_group"), "x"),
        tg2.id, tg2))
      assert.is_nil(resource.get("aws.elbv2.load_balancer").read(ctx_for(resource.get("aws.elbv2.load_balancer"), "x"),
        alb2.id, alb2))
    end)

    it("refuses to destroy an ALB with deletion protection on, saying how to go on", function()
      local alb = create("aws.elbv2.load_balancer", "aws.elbv2.load_balancer.web", { name = "wp-alb",
        subnet_ids = fx.public, security_group_ids = { fx.sg_alb }, deletion_protection = true })
      local t = resource.get("aws.elbv2.load_balancer")
      local err = raised(function() t.delete(ctx_for(t, "d"), alb.id, alb) end)
      assert.are.equal("DeletionProtected", err.code)
      assert.matches("deletion_protection = false", err.message, 1, true)
    end)
  end)

  describe("aws.elbv2.listener_rule", function()
    local SECRET = "cf-only-7f3a9c2e41d8"
    local log = require "wpo.log"
    after_each(function()
      log.set_output(nil)
      log.set_level(nil)
    end)

    local function rule_on(http, tg, address, attrs)
      local a = { listener_arn = http.id, priority = 10,
        conditions = { http_header = { name = "X-Origin-Verify", values = { SECRET } }, path_pattern = { "/*" } },
        action = { type = "forward", target_group_arn = tg.id } }
      for k, v in pairs(attrs or {}) do a[k] = v end
      return create("aws.elbv2.listener_rule", address or "aws.elbv2.listener_rule.origin", a)
    end

    it("creates a rule on the listener: conditions and action as given, no drift, imported by ARN", function()
      local _, tg, http = web()
      local rule = rule_on(http, tg)
      assert.matches(":listener%-rule/app/wp%-alb/", rule.id)
      assert.are.equal(rule.id, rule.outputs.arn)
      local got = client("elbv2"):call("DescribeRules", { RuleArns = { rule.id } }).Rules[1]
      assert.are.equal("10", got.Priority)
      local fields = {}
      for _, c in ipairs(got.Conditions) do fields[c.Field] = c end
      assert.are.same({ HttpHeaderName = "X-Origin-Verify", Values = { SECRET } },
        fields["http-header"].HttpHeaderConfig)
      assert.are.same({ "/*" }, fields["path-pattern"].PathPatternConfig.Values)
      assert.are.equal(tg.id, got.Actions[1].TargetGroupArn)
      local imported = import_matches(rule, resource.get("aws.elbv2.listener_rule"))
      assert.are.equal(http.id, imported.listener_arn)
      -- the target group is in use by the rule as well as by the listener
      assert.are.equal("ResourceInUse", raised(function()
        local _, e = kit.try(client("elbv2"), "DeleteTargetGroup", { TargetGroupArn = tg.id })
        error(e, 0)
      end).code)
    end)

    it("changes priority, conditions, action and tags in place; sees changes made outside wpo", function()
      local _, tg, http = web()
      local rule, t = rule_on(http, tg)
      update(rule, t, { priority = 20, conditions = { host_header = { "www.example.com" } },
        action = { type = "fixed-response", fixed_response = { status_code = "403", content_type = "text/plain",
          message_body = "no" } }, tags = { wp = "1" } })
      local got = client("elbv2"):call("DescribeRules", { RuleArns = { rule.id } }).Rules[1]
      assert.are.equal("20", got.Priority)
      assert.are.equal("host-header", got.Conditions[1].Field)
      assert.are.equal("403", got.Actions[1].FixedResponseConfig.StatusCode)
      local modified = f:calls()["elbv2.ModifyRule"]
      update(rule, t, { tags = { wp = "2" } })
      assert.are.equal(modified, f:calls()["elbv2.ModifyRule"], "a change of tags alone modifies no rule")
      client("elbv2"):call("SetRulePriorities", { RulePriorities = { { RuleArn = rule.id, Priority = 30 } } })
      client("elbv2"):call("ModifyRule", { RuleArn = rule.id, Conditions = { { Field = "path-pattern",
        PathPatternConfig = { Values = { "/x" } } } } })
      local seen = t.read(ctx_for(t, "r"), rule.id, rule)
      assert.are.equal(30, seen.priority)
      assert.are.same({ path_pattern = { "/x" } }, seen.conditions)
      update(rule, t, { priority = 20, conditions = { host_header = { "www.example.com" } } })
    end)

    it("keeps the header value out of plans and debug logs", function()
      local t = resource.get("aws.elbv2.listener_rule")
      assert.is_true(t.attributes.conditions.sensitive)
      local h = require "helpers"
      local dir = h.tmpdir()
      h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t", region = "eu-west-1" }\n'
        .. 's:add("aws.elbv2.listener_rule", "origin", { listener_arn = "arn:aws:elasticloadbalancing:eu-west-1:'
        .. '123456789012:listener/app/wp/1/2", priority = 1, conditions = { http_header = { name = "X-Origin-Verify",'
        .. ' values = { "' .. SECRET .. '" } } }, action = { type = "fixed-response", fixed_response = { '
        .. 'status_code = "403" } } })\nreturn s\n')
      local plan, json = h.wpo_in(dir, { "plan", "s.lua" }), h.wpo_in(dir, { "plan", "s.lua", "--json" })
      h.rmrf(dir)
      assert.are.equal(0, plan.status, plan.stderr)
      assert.matches("conditions   = (sensitive)", plan.stdout, 1, true)
      assert.are.equal(0, json.status, json.stderr)
      assert.is_nil((plan.stdout .. plan.stderr .. json.stdout .. json.stderr):find(SECRET, 1, true))
      local lines = {}
      log.set_level("debug")
      log.set_output(function(l) lines[#lines + 1] = l end)
      local _, tg, http = web()
      local rule = rule_on(http, tg)
      update(rule, t, { conditions = { http_header = { name = "X-Origin-Verify", values = { SECRET .. "-2" } } } })
      log.set_output(nil)
      local text = table.concat(lines, "\n")
      assert.matches("elbv2 CreateRule params", text, 1, true)
      assert.matches("elbv2 ModifyRule params", text, 1, true)
      assert.is_nil(text:find(SECRET, 1, true))
    end)

    it("finds the rule its lost create made; refuses a priority another rule holds", function()
      local _, tg, http = web()
      f:faults { drop_rate = 1, operations = { "elbv2.CreateRule" } }
      local rule = rule_on(http, tg)
      f:faults {}
      assert.are.equal(1, count(state("elbv2", "rule")))
      assert.is_truthy(state("elbv2", "rule")[rule.id])
      local err = raised(function() rule_on(http, tg, "aws.elbv2.listener_rule.other") end)
      assert.are.equal("AlreadyExists", err.code)
      assert.matches("already has a rule at priority 10", err.message, 1, true)
    end)

    it("refuses a rule without conditions or with too many values, before calling AWS", function()
      local _, tg, http = web()
      assert.matches("at least one condition", raised(function() rule_on(http, tg, nil, { conditions = {} }) end)
        .message)
      assert.matches("at most 5 condition values", raised(function()
        rule_on(http, tg, nil, { conditions = { path_pattern = { "/a", "/b", "/c" }, host_header = { "a", "b", "c" } } })
      end).message)
      assert.matches("a forward action needs target_group_arn", raised(function()
        rule_on(http, tg, nil, { action = { type = "forward" } }) end).message)
      assert.are.equal(0, f:calls()["elbv2.CreateRule"] or 0)
    end)

    it("deletes twice, and reads nil once its listener is gone", function()
      local _, tg, http = web()
      local rule, t = rule_on(http, tg)
      destroy(rule, t)
      local again = rule_on(http, tg)
      client("elbv2"):call("DeleteListener", { ListenerArn = http.id })
      assert.is_nil(t.read(ctx_for(t, "x"), again.id, again))
    end)
  end)

  -- capacity, a web tier, a task definition and a service on them
  local function service_stack(desired_count)
    local cluster, _, asg = capacity("wp", 2)
    local cp = create("aws.ecs.capacity_provider", "aws.ecs.capacity_provider.ecs", { name = "wp-ec2",
      auto_scaling_group_arn = asg.outputs.arn })
    create("aws.ecs.cluster_capacity_providers", "aws.ecs.cluster_capacity_providers.main", {
      cluster = cluster.id, capacity_providers = { cp.id }, default_strategy = { { capacity_provider = cp.id, weight = 1 } } })
    local alb, tg = web()
    local td = create("aws.ecs.task_definition", "aws.ecs.task_definition.wp", { family = "wp",
      container_definitions = CONTAINERS })
    local svc, st = create("aws.ecs.service", "aws.ecs.service.wp", { name = "wordpress", cluster = "wp",
      task_definition = td.id, desired_count = desired_count or 2,
      capacity_provider_strategy = { { capacity_provider = "wp-ec2", weight = 1 } },
      load_balancers = { { target_group_arn = tg.id, container_name = "wordpress", container_port = 80 } },
      health_check_grace_period = 60 })
    return svc, st, td, alb, tg
  end

  describe("aws.ecs.service", function()
    it("creates a service spread across zones with a circuit breaker, and waits for its steady state", function()
      local svc = service_stack(2)
      assert.matches(":service/wp/wordpress$", svc.id)
      local s = client("ecs"):call("DescribeServices", { cluster = "wp", services = { "wordpress" } }).services[1]
      assert.are.equal(2, s.runningCount)
      assert.are.equal("COMPLETED", s.deployments[1].rolloutState)
      assert.is_true(s.deploymentConfiguration.deploymentCircuitBreaker.enable)
      assert.is_true(s.deploymentConfiguration.deploymentCircuitBreaker.rollback)
      assert.are.same({ type = "spread", field = "attribute:ecs.availability-zone" }, s.placementStrategy[1])
      assert.are.equal("SERVICE", s.propagateTags)
    end)

    it("moves to a new task definition in place, imports by ARN and cluster/name, scales to 0 and deletes", function()
      local svc, st = service_stack(2)
      local td2 = create("aws.ecs.task_definition", "aws.ecs.task_definition.wp2", { family = "wp",
        container_definitions = CONTAINERS, cpu = 256 })
      update(svc, st, { task_definition = td2.id, desired_count = 3 })
      local s = client("ecs"):call("DescribeServices", { cluster = "wp", services = { "wordpress" } }).services[1]
      assert.are.equal(td2.id, s.taskDefinition)
      assert.are.equal(3, s.runningCount)
      import_matches(svc, st)
      local by_name = st.read(ctx_for(st, "i"), "wp/wordpress", { inputs = {}, outputs = {} })
      assert.are.equal(svc.id, by_name.id)
      destroy(svc, st)
      assert.are.equal("INACTIVE", client("ecs"):call("DescribeServices", { cluster = "wp",
        services = { "wordpress" } }).services[1].status)
    end)

    -- a destroy killed while the service drains: it still holds the capacity
    -- provider, so it must be waited for, not read as gone
    it("reads a service deleted out of band as deleting while it drains, then as gone; its delete waits without asking again", function()
      local svc, st = service_stack(1)
      client("ecs"):call("DeleteService", { cluster = "wp", service = "wordpress", force = true })
      assert.are.same({ id = svc.id, deleting = true }, st.read(ctx_for(st, "x"), svc.id, svc))
      local before = f:calls()["ecs.DeleteService"]
      st.delete(ctx_for(st, "d"), svc.id, svc)
      assert.are.equal(before, f:calls()["ecs.DeleteService"])
      assert.is_nil(st.read(ctx_for(st, "x"), svc.id, svc))
    end)
  end)

  describe("aws.applicationautoscaling.target and policy", function()
    it("scales the service's count on CPU and on ALB requests per target; updates, imports, deletes", function()
      local _, _, _, alb, tg = service_stack(1)
      local target, tt = create("aws.applicationautoscaling.target", "aws.applicationautoscaling.target.wp", {
        service_namespace = "ecs", resource_id = "service/wp/wordpress", scalable_dimension = "ecs:service:DesiredCount",
        min_capacity = 1, max_capacity = 4 })
      assert.are.equal("ecs/service/wp/wordpress/ecs:service:DesiredCount", target.id)
      local cpu, pt = create("aws.applicationautoscaling.policy", "aws.applicationautoscaling.policy.cpu", {
        name = "cpu", service_namespace = "ecs", resource_id = "service/wp/wordpress",
        scalable_dimension = "ecs:service:DesiredCount",
        target_tracking = { predefined_metric_type = "ECSServiceAverageCPUUtilization", target_value = 60 } })
      assert.are.equal(2, #cpu.outputs.alarm_arns)
      local req = create("aws.applicationautoscaling.policy", "aws.applicationautoscaling.policy.requests", {
        name = "requests", service_namespace = "ecs", resource_id = "service/wp/wordpress",
        scalable_dimension = "ecs:service:DesiredCount",
        target_tracking = { predefined_metric_type = "ALBRequestCountPerTarget", target_value = 1000,
          resource_label = alb.outputs.arn_suffix .. "/" .. tg.outputs.arn_suffix } })
      update(target, tt, { max_capacity = 8 })
      update(cpu, pt, { target_tracking = { predefined_metric_type = "ECSServiceAverageCPUUtilization",
        target_value = 50, scale_in_cooldown = 600 } })
      local got = client("application-autoscaling"):call("DescribeScalingPolicies", { ServiceNamespace = "ecs",
        PolicyNames = { "cpu" } }).ScalingPolicies[1].TargetTrackingScalingPolicyConfiguration
      assert.are.equal(50, got.TargetValue)
      assert.are.equal(600, got.ScaleInCooldown)
      import_matches(target, tt)
      import_matches(req, pt)
      destroy(req, pt)
      destroy(cpu, pt)
      destroy(target, tt)
    end)

    it("needs a resource label for requests per target, and reads nil after out-of-band deletions", function()
      service_stack(1)
      local t, want = desired("aws.applicationautoscaling.policy", "aws.applicationautoscaling.policy.requests", {
        name = "requests", service_namespace = "ecs", resource_id = "service/wp/wordpress",
        scalable_dimension = "ecs:service:DesiredCount",
        target_tracking = { predefined_metric_type = "ALBRequestCountPerTarget", target_value = 1000 } })
      local err = raised(function() resource.create(t, ctx_for(t, "p"), want) end)
      assert.matches("resource_label", err.message, 1, true)
      local target, tt = create("aws.applicationautoscaling.target", "aws.applicationautoscaling.target.wp", {
        service_namespace = "ecs", resource_id = "service/wp/wordpress", scalable_dimension = "ecs:service:DesiredCount",
        min_capacity = 1, max_capacity = 4 })
      local cpu = create("aws.applicationautoscaling.policy", "aws.applicationautoscaling.policy.cpu", {
        name = "cpu", service_namespace = "ecs", resource_id = "service/wp/wordpress",
        scalable_dimension = "ecs:service:DesiredCount",
        target_tracking = { predefined_metric_type = "ECSServiceAverageCPUUtilization", target_value = 60 } })
      client("application-autoscaling"):call("DeregisterScalableTarget", { ServiceNamespace = "ecs",
        ResourceId = "service/wp/wordpress", ScalableDimension = "ecs:service:DesiredCount" })
      assert.is_nil(tt.read(ctx_for(tt, "x"), target.id, target))
      assert.is_nil(t.read(ctx_for(t, "x"), cpu.id, cpu), "deregistering the target deleted its policies")
    end)
  end)
end)
