-- aws.ec2.eip: an Elastic IP address (VPC), e.g. for a NAT gateway.
--
--   tags
-- Outputs: id (the allocation id), public_ip, network_border_group.
-- Release retries while AWS answers that the address is in use: a NAT gateway
-- holding it is still being deleted (wpo deletes the NAT gateway first, but AWS
-- frees its address a little after).
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { "InvalidAllocationID.NotFound" }

local function observe(a)
  return { id = a.AllocationId, public_ip = a.PublicIp, network_border_group = a.NetworkBorderGroup,
    tags = kit.user_tags(kit.tag_map(a.Tags)) }
end

local function read(ctx, id)
  local a = common.describe_one(ctx, "DescribeAddresses", "AllocationIds", id, "Addresses", GONE)
  return a and observe(a)
end

return resource.define "aws.ec2.eip" {
  description = "an Elastic IP address",
  attributes = {
    tags = { type = "tags" },
  },
  outputs = { "id", "public_ip", "network_border_group" },

  found_by = "its wpo:address tag",
  find = common.tagged("DescribeAddresses", "Addresses", function(_, a) return observe(a) end),

  create = function(ctx, want, found)
    if found then
      common.sync_tags(ctx, found.id, found.tags, want.tags)
      return read(ctx, found.id)
    end
    local a = common.client(ctx):call("AllocateAddress", { Domain = "vpc",
      TagSpecifications = common.tag_specs("elastic-ip", want.tags) })
    return read(ctx, aws.required(a, "AllocationId"))
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    common.delete_retrying(ctx, "to be released (the NAT gateway holding it to let go)", function()
      common.client(ctx):call("ReleaseAddress", { AllocationId = id })
    end, { gone = GONE, retry = { "InvalidIPAddress.InUse", "AuthFailure" }, timing = common.TIMING.address })
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeAddresses" },
    create = { "ec2:AllocateAddress" },
    update = { "ec2:AllocateAddress", "ec2:ReleaseAddress" },
    delete = { "ec2:ReleaseAddress" },
  },
}
