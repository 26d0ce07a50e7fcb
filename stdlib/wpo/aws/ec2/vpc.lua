-- aws.ec2.vpc: a VPC (IPv4), with its DNS settings.
--
--   cidr_block            required; replaces the VPC when changed (/16 to /28)
--   instance_tenancy      "default" (default) or "dedicated"; replaces
--   enable_dns_support    default true   } changed in place (ModifyVpcAttribute);
--   enable_dns_hostnames  default true   } hostnames need DNS support
--   tags
-- Outputs: id, arn, owner_id, default_security_group_id, main_route_table_id.
-- Create waits until the VPC is available (botocore's VpcAvailable). Delete
-- retries while AWS answers DependencyViolation (something still in the VPC
-- that the stack does not order before it, e.g. interfaces left by a service).
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { "InvalidVpcID.NotFound" }

local function observe(ctx, vpc)
  return {
    id = vpc.VpcId, arn = common.arn(ctx, vpc.OwnerId, "vpc/" .. vpc.VpcId), owner_id = vpc.OwnerId,
    cidr_block = vpc.CidrBlock, instance_tenancy = vpc.InstanceTenancy, tags = kit.user_tags(kit.tag_map(vpc.Tags)),
    state = vpc.State,
  }
end

local function attribute(ctx, id, name)
  local out = common.client(ctx):call("DescribeVpcAttribute", { VpcId = id, Attribute = name })
  local member = name:sub(1, 1):upper() .. name:sub(2)
  return out[member] and out[member].Value
end

local function read(ctx, id)
  local vpc = common.describe_one(ctx, "DescribeVpcs", "VpcIds", id, "Vpcs", GONE)
  if not vpc then return nil end
  local ec2 = common.client(ctx)
  local o = observe(ctx, vpc)
  o.state = nil
  o.enable_dns_support = attribute(ctx, id, "enableDnsSupport")
  o.enable_dns_hostnames = attribute(ctx, id, "enableDnsHostnames")
  local groups = ec2:call("DescribeSecurityGroups", { Filters = {
    { Name = "vpc-id", Values = { id } }, { Name = "group-name", Values = { "default" } } } }).SecurityGroups or {}
  o.default_security_group_id = groups[1] and groups[1].GroupId
  local tables = ec2:call("DescribeRouteTables", { Filters = {
    { Name = "vpc-id", Values = { id } }, { Name = "association.main", Values = { "true" } } } }).RouteTables or {}
  o.main_route_table_id = tables[1] and tables[1].RouteTableId
  return o
end

-- DNS support must be on while hostnames are: turn support on first, hostnames off first.
local function set_dns(ctx, id, want, have)
  local ec2 = common.client(ctx)
  local function set(name, v)
    ec2:call("ModifyVpcAttribute", { VpcId = id, [name] = { Value = v } })
  end
  if want.enable_dns_support and have.enable_dns_support ~= true then set("EnableDnsSupport", true) end
  if want.enable_dns_hostnames ~= have.enable_dns_hostnames then set("EnableDnsHostnames", want.enable_dns_hostnames) end
  if not want.enable_dns_support and have.enable_dns_support ~= false then set("EnableDnsSupport", false) end
end

local function dns_now(ctx, id)
  return { enable_dns_support = attribute(ctx, id, "enableDnsSupport"),
    enable_dns_hostnames = attribute(ctx, id, "enableDnsHostnames") }
end

local function wait_available(ctx, id)
  common.wait(ctx, "to become available", function()
    local vpc = common.describe_one(ctx, "DescribeVpcs", "VpcIds", id, "Vpcs", {})
    return vpc and vpc.State == "available", vpc and vpc.State
  end)
end

return resource.define "aws.ec2.vpc" {
  description = "a VPC",
  attributes = {
    cidr_block = { type = "cidr", required = true, force_new = true },
    instance_tenancy = { type = "string", default = "default", choices = { "default", "dedicated" }, force_new = true },
    enable_dns_support = { type = "boolean", default = true },
    enable_dns_hostnames = { type = "boolean", default = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "owner_id", "default_security_group_id", "main_route_table_id" },

  found_by = "its wpo:address tag",
  find = common.tagged("DescribeVpcs", "Vpcs", observe),

  create = function(ctx, want, found)
    local id
    if found then
      id = found.id
      common.sync_tags(ctx, id, found.tags, want.tags)
    else
      id = aws.required(common.client(ctx):call("CreateVpc", { CidrBlock = want.cidr_block,
        InstanceTenancy = want.instance_tenancy, TagSpecifications = common.tag_specs("vpc", want.tags) }), "Vpc", "VpcId")
    end
    wait_available(ctx, id)
    set_dns(ctx, id, want, dns_now(ctx, id))
    return read(ctx, id)
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    set_dns(ctx, id, new, dns_now(ctx, id))
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    common.delete_retrying(ctx, "to be deleted", function()
      common.client(ctx):call("DeleteVpc", { VpcId = id })
    end, { gone = GONE, timing = common.TIMING.vpc_delete })
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcAttribute",
      "ec2:DescribeVpcs" },
    create = { "ec2:CreateVpc", "ec2:ModifyVpcAttribute" },
    update = { "ec2:CreateVpc", "ec2:ModifyVpcAttribute" },
    delete = { "ec2:DeleteVpc" },
  },
}
