-- aws.ec2.security_group: a security group of a VPC. Its rules are
-- aws.ec2.security_group_rule resources (a rule naming another group as its
-- peer is how one tier admits another).
--
--   name              required, unique in the VPC; replaces (with
--                     create_before_destroy the new group is named
--                     "<name>-<8 hex>" while the old one holds the name)
--   description       default "Managed by wpo"; replaces (AWS cannot change it)
--   vpc_id            required; replaces
--   allow_all_egress  default false: the allow-all egress rule AWS gives every
--                     new group is removed, so a group sends only what its
--                     egress rules allow; true keeps it (or puts it back).
--                     Changed in place.
--   exclusive_rules   default true: the group owns its rules. A rule on it
--                     that no aws.ec2.security_group_rule of this stack
--                     manages (in the state, or tagged by this stack) is
--                     drift: read reports it in unmanaged_rules
--                     ({ ["sgr-..."] = "unmanaged ingress rule tcp/22 from
--                     0.0.0.0/0" }), whose desired value is none, so the plan
--                     shows it and apply's update revokes it. false leaves
--                     other rules alone. (The allow-all egress rule is
--                     allow_all_egress's.)
--   tags
-- Outputs: id, arn, owner_id.
-- Delete waits while network interfaces still carry the group (those AWS
-- services remove on their own after their object is gone) or another group's
-- rule still names it, retrying until it goes, or failing after 20 minutes
-- naming the interfaces that stayed.
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { "InvalidGroup.NotFound" }
local ALL_EGRESS = { { IpProtocol = "-1", IpRanges = { { CidrIp = "0.0.0.0/0" } } } }

local function allows_all_egress(g)
  for _, perm in ipairs(g.IpPermissionsEgress or {}) do
    if perm.IpProtocol == "-1" then
      for _, r in ipairs(perm.IpRanges or {}) do
        if r.CidrIp == "0.0.0.0/0" then return true end
      end
    end
  end
  return false
end

local function observe(ctx, g)
  return { id = g.GroupId, name = g.GroupName, description = g.Description, vpc_id = g.VpcId, owner_id = g.OwnerId,
    tags = kit.user_tags(kit.tag_map(g.Tags)), allow_all_egress = allows_all_egress(g),
    arn = common.arn(ctx, g.OwnerId, "security-group/" .. g.GroupId) }
end

-- "tcp/22", "tcp/1024-2048", "all traffic", "icmp 8/-1"
local function ports(r)
  local proto = r.IpProtocol
  if proto == "-1" then return "all traffic" end
  local from, to = math.tointeger(r.FromPort) or r.FromPort, math.tointeger(r.ToPort) or r.ToPort
  if proto == "icmp" or proto == "icmpv6" then return string.format("%s %s/%s", proto, from, to) end
  if from == to then return string.format("%s/%s", proto, from) end
  return string.format("%s/%s-%s", proto, from, to)
end

local function describe_rule(r)
  local peer = r.CidrIpv4 or r.CidrIpv6 or r.PrefixListId or (r.ReferencedGroupInfo and r.ReferencedGroupInfo.GroupId)
    or "?"
  return string.format("unmanaged %s rule %s %s %s", r.IsEgress and "egress" or "ingress", ports(r),
    r.IsEgress and "to" or "from", peer)
end

local function is_all_egress(r)
  return r.IsEgress and r.IpProtocol == "-1" and r.CidrIpv4 == "0.0.0.0/0"
end

-- The rules of the group no declared rule manages: not a rule record of this
-- stack's state, not tagged by this stack (a rule made by a run that died
-- before saving it), not the allow-all egress rule. nil when there are none.
local function unmanaged(ctx, id)
  local managed = {}
  for _, rec in ipairs(ctx:records("aws.ec2.security_group_rule")) do managed[tostring(rec.id)] = true end
  local out, any = {}, false
  local token
  repeat
    local page = common.client(ctx):call("DescribeSecurityGroupRules", { NextToken = token,
      Filters = { { Name = "group-id", Values = { id } } } })
    for _, r in ipairs(page.SecurityGroupRules or {}) do
      local tags = kit.user_tags(kit.tag_map(r.Tags))
      if not managed[r.SecurityGroupRuleId] and tags[resource.TAG_STACK] ~= ctx.stack and not is_all_egress(r) then
        out[r.SecurityGroupRuleId] = describe_rule(r)
        any = true
      end
    end
    token = page.NextToken
  until not token
  return any and out or nil
end

local function read(ctx, id, settings)
  local g = common.describe_one(ctx, "DescribeSecurityGroups", "GroupIds", id, "SecurityGroups", GONE)
  if not g then return nil end
  local o = observe(ctx, g)
  local exclusive = true
  if settings and settings.exclusive_rules == false then exclusive = false end
  if exclusive then o.unmanaged_rules = unmanaged(ctx, id) end
  return o
end

-- revoke the rules the plan saw unmanaged (old.unmanaged_rules) unless they are
-- still wanted (never: the script cannot declare them) or exclusivity is off
local function revoke_unmanaged(ctx, id, old, new)
  if new.exclusive_rules == false then return end
  local ingress, egress = {}, {}
  for rule_id, text in pairs(old.unmanaged_rules or {}) do
    if not (new.unmanaged_rules or {})[rule_id] then
      local list = text:match("^unmanaged egress") and egress or ingress
      list[#list + 1] = rule_id
    end
  end
  table.sort(ingress)
  table.sort(egress)
  local gone = { "InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound" }
  if #ingress > 0 then
    ctx:log("revoking %d unmanaged ingress rule(s): %s", #ingress, table.concat(ingress, ", "))
    common.call_unless(ctx, "RevokeSecurityGroupIngress", { GroupId = id, SecurityGroupRuleIds = ingress }, gone)
  end
  if #egress > 0 then
    ctx:log("revoking %d unmanaged egress rule(s): %s", #egress, table.concat(egress, ", "))
    common.call_unless(ctx, "RevokeSecurityGroupEgress", { GroupId = id, SecurityGroupRuleIds = egress }, gone)
  end
end

local function set_egress(ctx, id, want, have)
  if want == have then return end
  if want then
    common.call_unless(ctx, "AuthorizeSecurityGroupEgress", { GroupId = id, IpPermissions = ALL_EGRESS },
      { "InvalidPermission.Duplicate" })
  else
    common.call_unless(ctx, "RevokeSecurityGroupEgress", { GroupId = id, IpPermissions = ALL_EGRESS },
      { "InvalidPermission.NotFound" })
  end
end

return resource.define "aws.ec2.security_group" {
  description = "a security group",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by wpo", force_new = true },
    vpc_id = { type = "string", required = true, force_new = true },
    allow_all_egress = { type = "boolean", default = false },
    exclusive_rules = { type = "boolean", description = "the group owns its rules (default true)" },
    unmanaged_rules = { type = "map", of = "string",
      description = "rules no declared rule manages, as read: revoked on apply (the script leaves it out)" },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "owner_id" },

  unique_name = "name",
  found_by = "its wpo:address tag",
  find = common.tagged("DescribeSecurityGroups", "SecurityGroups", observe),

  create = function(ctx, want, found)
    local id
    if found then
      id = found.id
      common.sync_tags(ctx, id, found.tags, want.tags)
    else
      id = aws.required(common.client(ctx):call("CreateSecurityGroup", { GroupName = want.name,
        Description = want.description, VpcId = want.vpc_id,
        TagSpecifications = common.tag_specs("security-group", want.tags) }), "GroupId")
    end
    local now = read(ctx, id, { exclusive_rules = false })
    set_egress(ctx, id, want.allow_all_egress, now and now.allow_all_egress)
    return read(ctx, id, { exclusive_rules = false })
  end,

  read = function(ctx, id, prior) return read(ctx, id, prior and prior.inputs) end,

  update = function(ctx, id, old, new)
    local now = read(ctx, id, { exclusive_rules = false })
    if not now then ctx:fail("InvalidGroup.NotFound", "the security group %s is gone", id) end
    set_egress(ctx, id, new.allow_all_egress, now.allow_all_egress)
    revoke_unmanaged(ctx, id, old, new)
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id, { exclusive_rules = false })
  end,

  delete = function(ctx, id)
    common.delete_retrying(ctx, "to be deleted (the network interfaces using it to go)", function()
      common.client(ctx):call("DeleteSecurityGroup", { GroupId = id })
    end, { gone = GONE, blockers = function() return common.interfaces(ctx, "group-id", id) end })
  end,

  import = function(ctx, id) return read(ctx, id, { exclusive_rules = false }) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups" },
    create = { "ec2:AuthorizeSecurityGroupEgress", "ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress" },
    -- an update also revokes the rules no declared rule manages (exclusive_rules)
    update = { "ec2:AuthorizeSecurityGroupEgress", "ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress" },
    delete = { "ec2:DeleteSecurityGroup" },
  },
}
