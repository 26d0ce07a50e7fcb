-- aws.ec2.security_group: a security group of a VPC. Its rules are
-- aws.ec2.security_group_rule resources (a rule naming another group as its
-- peer is how one tier admits another).
--
--   name              required, unique in the VPC; replaces
--   description       default "Managed by wpo"; replaces (AWS cannot change it)
--   vpc_id            required; replaces
--   allow_all_egress  default false: the allow-all egress rule AWS gives every
--                     new group is removed, so a group sends only what its
--                     egress rules allow; true keeps it (or puts it back).
--                     Changed in place.
--   tags
-- Outputs: id, arn, owner_id.
-- Delete waits while network interfaces still carry the group (those AWS
-- services remove on their own after their object is gone) or another group's
-- rule still names it, retrying until it goes, or failing after 20 minutes
-- naming the interfaces that stayed.
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
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
    tags = common.tag_map(g.Tags), allow_all_egress = allows_all_egress(g),
    arn = common.arn(ctx, g.OwnerId, "security-group/" .. g.GroupId) }
end

local function read(ctx, id)
  local g = common.describe_one(ctx, "DescribeSecurityGroups", "GroupIds", id, "SecurityGroups", GONE)
  return g and observe(ctx, g)
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
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "owner_id" },

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
    local now = read(ctx, id)
    set_egress(ctx, id, want.allow_all_egress, now and now.allow_all_egress)
    return read(ctx, id)
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    local now = read(ctx, id)
    if not now then ctx:fail("InvalidGroup.NotFound", "the security group %s is gone", id) end
    set_egress(ctx, id, new.allow_all_egress, now.allow_all_egress)
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    common.delete_retrying(ctx, "to be deleted (the network interfaces using it to go)", function()
      common.client(ctx):call("DeleteSecurityGroup", { GroupId = id })
    end, { gone = GONE, blockers = function() return common.interfaces(ctx, "group-id", id) end })
  end,

  import = function(ctx, id) return read(ctx, id) end,
}
