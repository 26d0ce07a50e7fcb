-- aws.ec2.subnet: a subnet of a VPC in one availability zone.
--
--   vpc_id                   required; replaces
--   cidr_block               required, inside the VPC's block; replaces
--   availability_zone        e.g. "eu-west-1a" (AWS picks one when absent); replaces
--   map_public_ip_on_launch  default false (instances get no public address); in place
--   tags
-- Outputs: id, arn, owner_id, availability_zone_id (and the attributes).
-- Create waits until the subnet is available. Delete waits while network
-- interfaces are still in the subnet — the ones AWS services remove on their
-- own after their object is gone (EFS mount targets, database and cache nodes,
-- load balancers, instances) — retrying DeleteSubnet until it goes, or fails
-- after 20 minutes naming the interfaces that stayed.
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { "InvalidSubnetID.NotFound" }

local function observe(ctx, s)
  return {
    id = s.SubnetId, arn = s.SubnetArn or common.arn(ctx, s.OwnerId, "subnet/" .. s.SubnetId), owner_id = s.OwnerId,
    vpc_id = s.VpcId, cidr_block = s.CidrBlock, availability_zone = s.AvailabilityZone,
    availability_zone_id = s.AvailabilityZoneId, map_public_ip_on_launch = s.MapPublicIpOnLaunch == true,
    tags = kit.user_tags(kit.tag_map(s.Tags)),
  }
end

local function read(ctx, id)
  local s = common.describe_one(ctx, "DescribeSubnets", "SubnetIds", id, "Subnets", GONE)
  return s and observe(ctx, s)
end

return resource.define "aws.ec2.subnet" {
  description = "a subnet of a VPC",
  attributes = {
    vpc_id = { type = "string", required = true, force_new = true },
    cidr_block = { type = "cidr", required = true, force_new = true },
    availability_zone = { type = "string", force_new = true, computed = true },
    map_public_ip_on_launch = { type = "boolean", default = false },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "owner_id", "availability_zone_id" },

  found_by = "its wpo:address tag",
  find = common.tagged("DescribeSubnets", "Subnets", observe),

  create = function(ctx, want, found)
    local ec2 = common.client(ctx)
    local id
    if found then
      id = found.id
      common.sync_tags(ctx, id, found.tags, want.tags)
    else
      id = aws.required(ec2:call("CreateSubnet", { VpcId = want.vpc_id, CidrBlock = want.cidr_block,
        AvailabilityZone = want.availability_zone, TagSpecifications = common.tag_specs("subnet", want.tags) }),
        "Subnet", "SubnetId")
    end
    local s = common.wait(ctx, "to become available", function()
      local s = common.describe_one(ctx, "DescribeSubnets", "SubnetIds", id, "Subnets", {})
      return s and s.State == "available" and s, s and s.State
    end)
    if (s.MapPublicIpOnLaunch == true) ~= want.map_public_ip_on_launch then
      ec2:call("ModifySubnetAttribute", { SubnetId = id, MapPublicIpOnLaunch = { Value = want.map_public_ip_on_launch } })
    end
    return read(ctx, id)
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    if old.map_public_ip_on_launch ~= new.map_public_ip_on_launch then
      common.client(ctx):call("ModifySubnetAttribute", { SubnetId = id,
        MapPublicIpOnLaunch = { Value = new.map_public_ip_on_launch } })
    end
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    common.delete_retrying(ctx, "to be deleted (its network interfaces to go)", function()
      common.client(ctx):call("DeleteSubnet", { SubnetId = id })
    end, { gone = GONE, blockers = function() return common.interfaces(ctx, "subnet-id", id) end })
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets" },
    create = { "ec2:CreateSubnet", "ec2:ModifySubnetAttribute" },
    update = { "ec2:CreateSubnet", "ec2:ModifySubnetAttribute" },
    delete = { "ec2:DeleteSubnet" },
  },
}
