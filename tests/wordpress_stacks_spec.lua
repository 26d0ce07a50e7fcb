-- The four WordPress stacks (stacks/prod.lua, stacks/staging.lua,
-- stacks/customers/acme.lua, stacks/customers/globex.lua) through the wpo
-- binary, each on a copy of stacks/ in a temporary root (never the
-- repository's): planned offline with no credentials at all, then against
-- tests/fakeaws, eventually consistent as AWS is (--eventual 3: every new
-- object, IAM change, listener, launch template version, Route 53 change and
-- forced secret deletion seen late by up to 3 s): run -> every object there
-- with its attributes and wpo tags, none twice -> no changes -> one parameter
-- edited gives exactly the expected in-place update -> destroy (refused while
-- the stack protects its data, naming the protected declaration's file:line)
-- leaves no live object, the protected Auto Scaling instances included -> the
-- stack created again under the same names (its secrets' names just freed,
-- its IAM names just deleted) -> no changes.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

-- What each stack must build, and the edits the spec makes to its copy.
-- change: { from, to } in the stack file; updates: the addresses it updates;
-- changed: { service, kind, member, value } one object of /_fake/state has after it.
-- unprotect: the edit turning protect off (nil: the stack is unprotected).
-- zone: a public hosted zone the stack looks up: made before the run, it must
-- outlive the stack's destroy.
local STACKS = {
  { file = "stacks/prod.lua", name = "prod", cidr = "10.10.0.0/16", azs = 3, nats = 3, aurora = true,
    db_instances = 2, redis = 2, instances = 2, zone = "example.com",
    change = { "retention_days = 90", "retention_days = 30" }, updates = { "aws.logs.log_group.wordpress" },
    changed = { "logs", "log-group", "retentionInDays", 30 },
    unprotect = { "protect  = true", "protect  = false" } },
  { file = "stacks/staging.lua", name = "staging", cidr = "10.11.0.0/16", azs = 2, nats = 1, aurora = true,
    db_instances = 1, redis = 2, instances = 1,
    change = { "min = 1, max = 4 }", "min = 1, max = 5 }" },
    updates = { "aws.applicationautoscaling.target.wordpress" },
    changed = { "application-autoscaling", "scalable-target", "MaxCapacity", 5 } },
  { file = "stacks/customers/acme.lua", name = "acme", cidr = "10.21.0.0/16", azs = 2, nats = 1, aurora = false,
    db_instances = 1, redis = 2, instances = 1,
    change = { 'cidr = "10.21.0.0/16" }', 'cidr = "10.21.0.0/16", logs = { retention_days = 7 } }' },
    updates = { "aws.logs.log_group.wordpress" }, changed = { "logs", "log-group", "retentionInDays", 7 },
    unprotect = { 'name = "acme",', 'name = "acme", protect = false,' } },
  { file = "stacks/customers/globex.lua", name = "globex", cidr = "10.22.0.0/16", azs = 2, nats = 1, aurora = true,
    db_instances = 2, redis = 2, instances = 1,
    change = { "min = 2, max = 10 }", "min = 2, max = 12 }" },
    updates = { "aws.applicationautoscaling.target.wordpress" },
    changed = { "application-autoscaling", "scalable-target", "MaxCapacity", 12 },
    unprotect = { 'name     = "globex",', 'name     = "globex", protect = false,' } },
}

-- Kinds of /_fake/state whose objects wpo creates with tags: each must carry
-- wpo:stack and wpo:address.
local TAGGED = {
  ec2 = { "vpc", "subnet", "natgateway", "elastic-ip", "internet-gateway", "security-group", "launch-template",
    "instance", "vpc-endpoint" },
  efs = { "file-system", "access-point" },
  rds = { "db-instance" },
  iam = { "role", "instance-profile" },
  logs = { "log-group" },
  ecr = { "repository" },
  secretsmanager = { "secret" },
  cloudwatch = { "alarm" },
}

local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
local REPO = require("wpo.stack").absolute(h.REPO)

local function copy_stacks()
  local root = h.tmpdir()
  assert(os.execute("cp -r " .. h.quote(REPO .. "/stacks") .. " " .. h.quote(root .. "/stacks")))
  assert(fs.mkdir_p(root .. "/.git"))
  return root
end

-- replace exactly one occurrence of `from` by `to` in root/file
local function edit(root, file, from, to)
  local path = root .. "/" .. file
  local text = h.slurp(path)
  local at = text:find(from, 1, true)
  assert(at, file .. " has no '" .. from .. "'")
  assert(not text:find(from, at + 1, true), file .. " has '" .. from .. "' twice")
  h.write(path, text:sub(1, at - 1) .. to .. text:sub(at + #from))
end

local function files_under(root)
  local out = {}
  local p = io.popen("cd " .. h.quote(root) .. " && find . -mindepth 1 | sort")
  for line in p:lines() do out[line] = true end
  p:close()
  return out
end

local function tags_of(obj)
  local list = obj.Tags or obj.TagList or obj.tags
  local out = {}
  if type(list) ~= "table" then return out end
  for k, v in pairs(list) do
    if type(v) == "table" then out[v.Key or v.key] = v.Value or v.value else out[k] = v end
  end
  return out
end

local function count(held, service, kind, pred)
  local n = 0
  for _, o in pairs(((held[service] or {})[kind]) or {}) do
    if not pred or pred(o) then n = n + 1 end
  end
  return n
end

-- Is an object in /_fake/state alive? Deleted objects AWS keeps for a while
-- (terminated instances, deleted NAT gateways, INACTIVE ECS objects, Route53
-- changes) are not, nor AWS's own (CloudFront's managed cache policies); the
-- final DB snapshots are kept on purpose (counted apart).
local function live(service, kind, obj)
  if service == "route53" and kind == "change" then return false end
  if service == "rds" and kind:match("snapshot") then return false end
  if service == "ec2" and kind == "instance" then
    return not ((obj.State or {}).Name or ""):match("^terminat")
  end
  if service == "ec2" and kind == "natgateway" then return obj.State ~= "deleted" and obj.State ~= "deleting" end
  if service == "ecs" then return obj.status ~= "INACTIVE" end
  if service == "cloudfront" and kind == "cache-policy"
      and tostring((obj.CachePolicyConfig or {}).Comment):match("managed by AWS$") then
    return false   -- AWS's own
  end
  return true
end

-- Objects carrying the same wpo:address (alive): duplicates, "service kind address"
-- (an Auto Scaling group's instances carry its tags: they are not duplicates)
local function duplicates(held)
  local seen, out = {}, {}
  for service, kinds in pairs(held) do
    if type(kinds) == "table" then
      for kind, objs in pairs(kinds) do
        if type(objs) == "table" then
          for _, o in pairs(objs) do
            local address = type(o) == "table" and live(service, kind, o) and kind ~= "instance"
              and tags_of(o)["wpo:address"]
            if address then
              local key = service .. " " .. kind .. " " .. address
              if seen[key] then out[#out + 1] = key end
              seen[key] = true
            end
          end
        end
      end
    end
  end
  table.sort(out)
  return out
end

local function live_objects(held)
  local out = {}
  for service, kinds in pairs(held) do
    if type(kinds) == "table" then
      for kind, objs in pairs(kinds) do
        if type(objs) == "table" then
          for id, o in pairs(objs) do
            if live(service, kind, o) then out[#out + 1] = service .. " " .. kind .. " " .. tostring(id) end
          end
        end
      end
    end
  end
  table.sort(out)
  return out
end

describe("the WordPress stacks", function()
  describe("planned offline, with no credentials", function()
    local root, closed
    setup(function()
      root = copy_stacks()
      -- a port nothing listens on: bound, then released
      local p = io.popen("/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); "
        .. "print(s.getsockname()[1]); s.close()'")
      closed = tonumber(p:read("l"))
      p:close()
    end)
    teardown(function() h.rmrf(root) end)

    for _, st in ipairs(STACKS) do
      it(st.file .. " prints its full plan", function()
        local before = files_under(root)
        local r = h.sh(h.offline_command(root, { "plan", st.file }, "http://127.0.0.1:" .. closed))
        assert.are.equal(0, r.status, r.stdout .. r.stderr)
        local n = tonumber(r.stdout:match("Plan: (%d+) to add, 0 to change, 0 to destroy"))
        assert.is_truthy(n, r.stdout)
        assert.is_true(n > 60, r.stdout)
        -- every resource shown with the file:line declaring it
        assert.is_nil(r.stdout:find("# ?", 1, true), r.stdout)
        local reads = tonumber(r.stdout:match("Plan: %d+ to add, 0 to change, 0 to destroy, (%d+) to look up%.")) or 0
        local creates, lookups = 0, 0
        for _ in r.stdout:gmatch("\n%s*%+ [%w_.%-]+  # [%w_/.%-]+%.lua:%d+ will be created") do
          creates = creates + 1
        end
        for _ in r.stdout:gmatch("\n%s*%+ [%w_.%-]+  # [%w_/.%-]+%.lua:%d+ will be looked up") do
          lookups = lookups + 1
        end
        assert.are.equal(n, creates, r.stdout)
        assert.are.equal(reads, lookups, r.stdout)
        -- nothing written but the lock directory beside the script
        for path in pairs(files_under(root)) do
          if not before[path] then
            assert.matches("/%.wpo$", path:match("^(.-/%.wpo)") or path, 1, false)
            assert.is_nil(path:find("state", 1, true), path)
          end
        end
      end)
    end
  end)

  describe("against fakeaws", function()
    local fakeaws = require "fakeaws"
    local f, root

    setup(function() f = fakeaws.start { region = "eu-west-1", eventual = 3, eventual_seed = 18 } end)
    teardown(function() if f then f:stop() end end)
    before_each(function()
      f:reset()
      root = copy_stacks()
    end)
    after_each(function() h.rmrf(root) end)

    local function wpo(args)
      local e = { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1" }
      for k, v in pairs(f.env) do e[k] = v end
      local parts = { "cd " .. h.quote(root) .. " && env" }
      for k, v in pairs(e) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
      parts[#parts + 1] = h.quote(WPO)
      for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
      return h.sh(table.concat(parts, " "))
    end

    local function ok(r)
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      return r
    end

    local function state_addresses(st)
      local path = root .. "/" .. st.file:gsub("[^/]*$", "") .. ".wpo/" .. st.name .. ".state.json"
      local doc = cjson.decode((assert(fs.read(path))))
      local out = {}
      for _, r in ipairs(doc.resources) do out[r.address] = true end
      return out
    end

    local function asg_instances()
      local r = ok(wpo { "aws", "autoscaling", "DescribeAutoScalingGroups", "{}" })
      local doc = cjson.decode(r.stdout)
      local out = {}
      for _, g in ipairs(doc.AutoScalingGroups) do
        for _, i in ipairs(g.Instances or {}) do out[#out + 1] = i end
      end
      return out
    end

    -- protected: the stack's data is protected (default: as the stack file
    -- ships; its copy is edited to lift the protection before destroy)
    local function check_built(st, protected)
      if protected == nil then protected = st.unprotect ~= nil end
      local held = f:state()
      local vpc_id, vpc = next(held.ec2.vpc)
      assert.are.equal(1, count(held, "ec2", "vpc"))
      assert.are.equal(st.cidr, vpc.CidrBlock)
      -- subnets: public, private and database tiers, one per AZ each
      assert.are.equal(3 * st.azs, count(held, "ec2", "subnet"))
      local per_az = {}
      for _, s in pairs(held.ec2.subnet) do
        assert.are.equal(vpc_id, s.VpcId)
        per_az[s.AvailabilityZone] = (per_az[s.AvailabilityZone] or 0) + 1
      end
      local zones = 0
      for _, n in pairs(per_az) do zones = zones + 1; assert.are.equal(3, n) end
      assert.are.equal(st.azs, zones)
      assert.are.equal(st.nats, count(held, "ec2", "natgateway", function(o) return o.State == "available" end))
      assert.are.equal(st.nats, count(held, "ec2", "elastic-ip"))
      -- the database: Aurora cluster or a plain instance
      assert.are.equal(st.aurora and 1 or 0, count(held, "rds", "db-cluster"))
      assert.are.equal(st.db_instances, count(held, "rds", "db-instance"))
      for _, c in pairs((held.rds or {})["db-cluster"] or {}) do
        assert.is_true(c.StorageEncrypted)
        assert.are.equal(protected, c.DeletionProtection)
      end
      for _, i in pairs(held.rds["db-instance"]) do
        if not st.aurora then
          assert.is_true(i.StorageEncrypted)
          assert.are.equal(protected, i.DeletionProtection)
        end
        assert.is_false(i.PubliclyAccessible)
      end
      -- Redis: the replication group's nodes, encrypted both ways
      local _, rg = next(held.elasticache["replication-group"])
      assert.are.equal(st.redis, #rg.MemberClusters)
      assert.are.equal(st.redis, count(held, "elasticache", "cache-cluster"))
      assert.is_true(rg.AtRestEncryptionEnabled)
      assert.is_true(rg.TransitEncryptionEnabled)
      -- EFS encrypted, a mount target per AZ
      local _, efs = next(held.efs["file-system"])
      assert.is_true(efs.Encrypted)
      assert.are.equal(st.azs, count(held, "efs", "mount-target"))
      -- the ECS cluster's instances, running and protected from scale-in
      local instances = asg_instances()
      assert.are.equal(st.instances, #instances)
      for _, i in ipairs(instances) do assert.is_true(i.ProtectedFromScaleIn) end
      assert.are.equal(st.instances, count(held, "ec2", "instance", function(o) return o.State.Name == "running" end))
      assert.are.equal(1, count(held, "ecs", "service", function(o) return o.status == "ACTIVE" end))
      -- the wpo tags: this stack, and an address the state knows
      local addresses = state_addresses(st)
      local checked = 0
      for service, kinds in pairs(TAGGED) do
        for _, kind in ipairs(kinds) do
          for id, o in pairs(((held[service] or {})[kind]) or {}) do
            if not (kind == "security-group" and o.GroupName == "default") then
              local tags = tags_of(o)
              local where = service .. " " .. kind .. " " .. id
              assert.are.equal(st.name, tags["wpo:stack"], where)
              assert.is_true(addresses[tags["wpo:address"]] == true, where .. ": " .. tostring(tags["wpo:address"]))
              checked = checked + 1
            end
          end
        end
      end
      assert.is_true(checked > 30, "tagged objects checked: " .. checked)
      assert.are.same({}, duplicates(held))
      return held
    end

    local function plan_json(st)
      local r = wpo { "plan", st.file, "--json" }
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      return cjson.decode(r.stdout)
    end

    local function actions(doc)
      local out = {}
      for _, c in ipairs(doc.resource_changes) do
        local action = #c.change.actions == 2 and "replace" or c.change.actions[1]
        if action ~= "no-op" then
          out[action] = out[action] or {}
          table.insert(out[action], c.address)
        end
      end
      for _, l in pairs(out) do table.sort(l) end
      return out
    end

    local function destroy_all(st, kept)
      local before = asg_instances()
      assert.are.equal(st.instances, #before)
      for _, i in ipairs(before) do assert.is_true(i.ProtectedFromScaleIn) end
      local r = ok(wpo { "destroy", st.file, "--yes" })
      assert.matches("Destroy complete! Resources: %d+ destroyed", r.stdout)
      local held = f:state()
      assert.are.same(kept, live_objects(held))
      assert.are.equal(st.instances, count(held, "ec2", "instance"))
      return held
    end

    for _, st in ipairs(STACKS) do
      it(st.file .. ": run, no changes, an in-place update, destroy", function()
        if st.zone then
          ok(wpo { "aws", "route53", "CreateHostedZone", cjson.encode { Name = st.zone, CallerReference = "before" } })
        end
        local kept = live_objects(f:state())   -- what was there before the stack: it outlives it
        ok(wpo { "run", st.file, "--yes" })
        check_built(st)
        local r = wpo { "plan", st.file, "--detailed-exitcode" }
        assert.are.equal(0, r.status, r.stdout .. r.stderr)
        assert.matches("No changes", r.stdout, 1, true)

        edit(root, st.file, st.change[1], st.change[2])
        local doc = plan_json(st)
        assert.are.same({ update = st.updates }, actions(doc))
        r = ok(wpo { "run", st.file, "--yes" })
        assert.matches("0 added, " .. #st.updates .. " changed, 0 destroyed", r.stdout, 1, true)
        local service, kind, member, want = table.unpack(st.changed)
        assert.are.equal(1, count(f:state(), service, kind, function(o) return o[member] == want end))
        r = wpo { "plan", st.file, "--detailed-exitcode" }
        assert.are.equal(0, r.status, r.stdout .. r.stderr)

        if st.unprotect then
          local calls = f:calls()
          r = wpo { "destroy", st.file, "--yes" }
          assert.are.equal(1, r.status, r.stdout .. r.stderr)
          assert.matches("prevent_destroy", r.stderr, 1, true)
          assert.matches("wpo/wordpress/[%w_]+%.lua:%d+: aws%.[%w_.%-]+", r.stderr)
          for op, n in pairs(f:calls()) do
            if n > (calls[op] or 0) then
              assert.is_nil(op:match("%.Delete") or op:match("%.Terminate"), op)
            end
          end
          assert.are.equal(1, count(f:state(), "ec2", "vpc"))
          edit(root, st.file, st.unprotect[1], st.unprotect[2])
          doc = plan_json(st)
          local acts = actions(doc)
          assert.is_nil(acts.create)
          assert.is_nil(acts.delete)
          assert.is_nil(acts.replace)
          assert.is_truthy(acts.update)
          ok(wpo { "run", st.file, "--yes" })
        end
        local held = destroy_all(st, kept)
        -- the final snapshot every stack's database takes on deletion
        assert.are.equal(st.aurora and 1 or 0, count(held, "rds", "db-cluster-snapshot"))
        assert.are.equal(st.aurora and 0 or 1, count(held, "rds", "db-snapshot"))

        -- created again under the same names, straight away
        r = ok(wpo { "run", st.file, "--yes" })
        assert.matches("Apply complete: %d+ added, 0 changed, 0 destroyed", r.stdout)
        check_built(st, false)
        r = wpo { "plan", st.file, "--detailed-exitcode" }
        assert.are.equal(0, r.status, r.stdout .. r.stderr)
      end)
    end
  end)
end)
