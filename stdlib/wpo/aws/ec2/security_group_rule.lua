-- aws.ec2.security_group_rule: one ingress or egress rule of a security group.
--
--   security_group_id  required; replaces
--   type               "ingress" or "egress"; replaces
--   protocol           "tcp" (default), "udp", "icmp", "icmpv6" or "-1" (all); replaces
--   from_port, to_port the port range (tcp/udp; ICMP type and code); replaces
--   the peer, exactly one (the source of ingress, the destination of egress); replaces:
--     referenced_security_group_id  another group: the tier-to-tier form
--     cidr_ipv4, cidr_ipv6          an address block ("0.0.0.0/0", "::/0": the world)
--     prefix_list_id                a managed prefix list (e.g. S3's)
--   description        default ""; changed in place (ModifySecurityGroupRules)
--   tags               changed in place
-- Outputs: id (the rule id, sgr-...).
-- A create that finds the same rule already there without this resource's
-- address tag fails naming it (import it, or remove it).
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { "InvalidSecurityGroupRuleId.NotFound", "InvalidGroup.NotFound", "InvalidPermission.NotFound" }
local PEERS = { "cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id" }

local function observe(r)
  local ref = r.ReferencedGroupInfo
  return {
    id = r.SecurityGroupRuleId, security_group_id = r.GroupId, type = r.IsEgress and "egress" or "ingress",
    protocol = r.IpProtocol, from_port = r.FromPort, to_port = r.ToPort, cidr_ipv4 = r.CidrIpv4,
    cidr_ipv6 = r.CidrIpv6, prefix_list_id = r.PrefixListId, referenced_security_group_id = ref and ref.GroupId,
    description = r.Description or "", tags = kit.user_tags(kit.tag_map(r.Tags)),
  }
end

local function read(ctx, id)
  local r = common.describe_one(ctx, "DescribeSecurityGroupRules", "SecurityGroupRuleIds", id,
    "SecurityGroupRules", GONE)
  return r and observe(r)
end

local function peer(ctx, want)
  local found
  for _, name in ipairs(PEERS) do
    if want[name] ~= nil then
      if found then ctx:fail("InvalidRule", "give exactly one peer, not both %s and %s", found, name) end
      found = name
    end
  end
  if not found then ctx:fail("InvalidRule", "give a peer: %s", table.concat(PEERS, ", ")) end
  return found
end

local function ports(ctx, want)
  if want.protocol == "-1" then return nil, nil end
  if (want.protocol == "tcp" or want.protocol == "udp") and (want.from_port == nil or want.to_port == nil) then
    ctx:fail("InvalidRule", "a %s rule needs from_port and to_port", want.protocol)
  end
  return want.from_port, want.to_port
end

-- the rule as IpPermissions (authorize) and as a SecurityGroupRuleRequest (modify)
local function permission(ctx, want)
  local from, to = ports(ctx, want)
  local which = peer(ctx, want)
  local desc = want.description ~= "" and want.description or nil
  local perm = { IpProtocol = want.protocol, FromPort = from, ToPort = to }
  local req = { IpProtocol = want.protocol, FromPort = from, ToPort = to, Description = want.description }
  if which == "cidr_ipv4" then
    perm.IpRanges = { { CidrIp = want.cidr_ipv4, Description = desc } }
    req.CidrIpv4 = want.cidr_ipv4
  elseif which == "cidr_ipv6" then
    perm.Ipv6Ranges = { { CidrIpv6 = want.cidr_ipv6, Description = desc } }
    req.CidrIpv6 = want.cidr_ipv6
  elseif which == "prefix_list_id" then
    perm.PrefixListIds = { { PrefixListId = want.prefix_list_id, Description = desc } }
    req.PrefixListId = want.prefix_list_id
  else
    perm.UserIdGroupPairs = { { GroupId = want.referenced_security_group_id, Description = desc } }
    req.ReferencedGroupId = want.referenced_security_group_id
  end
  return perm, req
end

local function same_rule(o, want)
  if o.type ~= want.type or o.protocol ~= want.protocol then return false end
  if want.protocol ~= "-1" and (o.from_port ~= want.from_port or o.to_port ~= want.to_port) then return false end
  for _, name in ipairs(PEERS) do
    if o[name] ~= want[name] then return false end
  end
  return true
end

local attributes = {
  security_group_id = { type = "string", required = true, force_new = true },
  type = { type = "string", required = true, choices = { "ingress", "egress" }, force_new = true },
  protocol = { type = "string", default = "tcp", choices = { "tcp", "udp", "icmp", "icmpv6", "-1" }, force_new = true },
  from_port = { type = "integer", force_new = true, computed = true },
  to_port = { type = "integer", force_new = true, computed = true },
  cidr_ipv4 = { type = "cidr", force_new = true },
  cidr_ipv6 = { type = "cidr", force_new = true },
  prefix_list_id = { type = "string", force_new = true },
  referenced_security_group_id = { type = "string", force_new = true },
  description = { type = "string", default = "" },
  tags = { type = "tags" },
}

return resource.define "aws.ec2.security_group_rule" {
  description = "an ingress or egress rule of a security group",
  attributes = attributes,
  outputs = { "id" },

  found_by = "its wpo:address tag",
  find = function(ctx, want)
    local out = {}
    for _, r in ipairs(common.find_tagged(ctx, "DescribeSecurityGroupRules", "SecurityGroupRules", {
      { Name = "group-id", Values = { want.security_group_id } } })) do
      out[#out + 1] = observe(r)
    end
    return out
  end,

  create = function(ctx, want, found)
    local perm = permission(ctx, want)
    if found then
      common.sync_tags(ctx, found.id, found.tags, want.tags)
      return read(ctx, found.id)
    end
    local op = want.type == "ingress" and "AuthorizeSecurityGroupIngress" or "AuthorizeSecurityGroupEgress"
    local out, err = common.call_unless(ctx, op, { GroupId = want.security_group_id, IpPermissions = { perm },
      TagSpecifications = common.tag_specs("security-group-rule", want.tags) }, { "InvalidPermission.Duplicate" })
    if not out then
      local rules = common.client(ctx):call("DescribeSecurityGroupRules", { Filters = {
        { Name = "group-id", Values = { want.security_group_id } } } }).SecurityGroupRules or {}
      for _, r in ipairs(rules) do
        if same_rule(observe(r), want) then
          ctx:fail("InvalidPermission.Duplicate", "security group %s already has this rule (%s) without the tag "
            .. "%s=%s: import it (wpo import STACK %s %s) or remove it", want.security_group_id,
            r.SecurityGroupRuleId, resource.TAG_ADDRESS, ctx.address, ctx.address, r.SecurityGroupRuleId)
        end
      end
      error(err, 0)
    end
    return read(ctx, aws.required(out, "SecurityGroupRules", 1, "SecurityGroupRuleId"))
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new, changed)
    for _, name in ipairs(changed or {}) do
      if name == "description" then
        local _, req = permission(ctx, new)
        common.client(ctx):call("ModifySecurityGroupRules", { GroupId = new.security_group_id,
          SecurityGroupRules = { { SecurityGroupRuleId = id, SecurityGroupRule = req } } })
      end
    end
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id, prior)
    local op = prior.inputs.type == "egress" and "RevokeSecurityGroupEgress" or "RevokeSecurityGroupIngress"
    common.call_unless(ctx, op, { GroupId = prior.inputs.security_group_id, SecurityGroupRuleIds = { id } }, GONE)
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeSecurityGroupRules" },
    create = { "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress",
      "ec2:ModifySecurityGroupRules" },
    update = { "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress",
      "ec2:ModifySecurityGroupRules", "ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress" },
    delete = { "ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress" },
  },
}
