-- aws.ec2.internet_gateway: an internet gateway and its attachment to a VPC.
--
--   vpc_id   the VPC it is attached to; changed in place (detach, attach).
--            Left out: wpo does not manage the attachment ("" reads as detached).
--   tags
-- Outputs: id, arn, owner_id.
-- Delete detaches it first — retrying while AWS refuses because NAT gateways
-- with public addresses are still in the VPC — then deletes it.
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { "InvalidInternetGatewayID.NotFound" }

local function observe(ctx, igw)
  local vpc = ""
  for _, a in ipairs(igw.Attachments or {}) do
    if a.State ~= "detached" then vpc = a.VpcId end
  end
  return { id = igw.InternetGatewayId, owner_id = igw.OwnerId, vpc_id = vpc,
    tags = kit.user_tags(kit.tag_map(igw.Tags)),
    arn = common.arn(ctx, igw.OwnerId, "internet-gateway/" .. igw.InternetGatewayId) }
end

local function read(ctx, id)
  local igw = common.describe_one(ctx, "DescribeInternetGateways", "InternetGatewayIds", id, "InternetGateways", GONE)
  return igw and observe(ctx, igw)
end

local function detach(ctx, id, vpc_id)
  common.delete_retrying(ctx, "to detach from " .. vpc_id .. " (NAT gateways with public addresses to go)", function()
    common.client(ctx):call("DetachInternetGateway", { InternetGatewayId = id, VpcId = vpc_id })
  end, { gone = { "Gateway.NotAttached", "InvalidInternetGatewayID.NotFound", "InvalidVpcID.NotFound" } })
end

local function attach(ctx, id, vpc_id)
  common.client(ctx):call("AttachInternetGateway", { InternetGatewayId = id, VpcId = vpc_id })
end

return resource.define "aws.ec2.internet_gateway" {
  description = "an internet gateway, attached to a VPC",
  attributes = {
    vpc_id = { type = "string", computed = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "owner_id" },

  found_by = "its wpo:address tag",
  find = common.tagged("DescribeInternetGateways", "InternetGateways", observe),

  create = function(ctx, want, found)
    local attached, id = ""
    if found then
      id, attached = found.id, found.vpc_id
      common.sync_tags(ctx, id, found.tags, want.tags)
    else
      id = aws.required(common.client(ctx):call("CreateInternetGateway", {
        TagSpecifications = common.tag_specs("internet-gateway", want.tags) }), "InternetGateway", "InternetGatewayId")
    end
    if want.vpc_id and want.vpc_id ~= "" and attached ~= want.vpc_id then
      if attached ~= "" then detach(ctx, id, attached) end
      attach(ctx, id, want.vpc_id)
    end
    return read(ctx, id)
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    local now = read(ctx, id)
    if not now then ctx:fail("InvalidInternetGatewayID.NotFound", "the internet gateway %s is gone", id) end
    if new.vpc_id ~= nil and new.vpc_id ~= now.vpc_id then
      if now.vpc_id ~= "" then detach(ctx, id, now.vpc_id) end
      if new.vpc_id ~= "" then attach(ctx, id, new.vpc_id) end
    end
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    local now = read(ctx, id)
    if not now then return end
    if now.vpc_id ~= "" then detach(ctx, id, now.vpc_id) end
    common.delete_retrying(ctx, "to be deleted", function()
      common.client(ctx):call("DeleteInternetGateway", { InternetGatewayId = id })
    end, { gone = GONE, timing = common.TIMING.vpc_delete })
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeInternetGateways" },
    create = { "ec2:AttachInternetGateway", "ec2:CreateInternetGateway" },
    update = { "ec2:AttachInternetGateway", "ec2:CreateInternetGateway", "ec2:DetachInternetGateway" },
    delete = { "ec2:DeleteInternetGateway", "ec2:DetachInternetGateway" },
  },
}
