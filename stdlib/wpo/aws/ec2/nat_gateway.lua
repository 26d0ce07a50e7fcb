-- aws.ec2.nat_gateway: a NAT gateway in a (public) subnet.
--
--   subnet_id          required; replaces
--   allocation_id      the Elastic IP (aws.ec2.eip id); required for a public
--                      gateway; replaces
--   connectivity_type  "public" (default) or "private"; replaces
--   private_ip         its private address (AWS picks one when absent); replaces
--   tags
-- Outputs: id, public_ip, network_interface_id (and the attributes).
-- A public gateway needs an internet gateway attached to its VPC: declare it
-- with depends_on = { igw }, so that destroy also deletes the NAT gateway
-- before detaching the internet gateway. Create uses a deterministic
-- ClientToken and waits until the gateway is available (botocore's
-- NatGatewayAvailable: failed, deleting or deleted end the wait with AWS's
-- failure message). Delete waits until it is deleted — only then does AWS
-- free its Elastic IP. A gateway that is failed, deleting or deleted reads as
-- gone.
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"
local waiter = require "wpo.aws.waiter"

local GONE = { "NatGatewayNotFound", "InvalidNatGatewayID.NotFound" }
local DEAD = { failed = true, deleting = true, deleted = true }

local function observe(nat)
  local addr = (nat.NatGatewayAddresses or {})[1] or {}
  return {
    id = nat.NatGatewayId, subnet_id = nat.SubnetId, allocation_id = addr.AllocationId,
    connectivity_type = nat.ConnectivityType or "public", private_ip = addr.PrivateIp, public_ip = addr.PublicIp,
    network_interface_id = addr.NetworkInterfaceId, tags = kit.user_tags(kit.tag_map(nat.Tags)), state = nat.State,
    failure = nat.FailureMessage,
  }
end

local function describe(ctx, id)
  return common.describe_one(ctx, "DescribeNatGateways", "NatGatewayIds", id, "NatGateways", GONE)
end

local function read(ctx, id)
  local nat = describe(ctx, id)
  if nat and nat.State == "deleting" then return resource.deleting(id) end
  if not nat or DEAD[nat.State] then return nil end
  local o = observe(nat)
  o.state, o.failure = nil, nil
  return o
end

return resource.define "aws.ec2.nat_gateway" {
  description = "a NAT gateway",
  attributes = {
    subnet_id = { type = "string", required = true, force_new = true },
    allocation_id = { type = "string", force_new = true },
    connectivity_type = { type = "string", default = "public", choices = { "public", "private" }, force_new = true },
    private_ip = { type = "string", force_new = true, computed = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "public_ip", "network_interface_id" },

  found_by = "its wpo:address tag",
  find = common.tagged("DescribeNatGateways", "NatGateways", function(_, nat) return observe(nat) end,
    { { Name = "state", Values = { "pending", "available" } } }, "Filter"),

  create = function(ctx, want, found)
    if want.connectivity_type == "public" and not want.allocation_id then
      ctx:fail("InvalidNatGateway", "a public NAT gateway needs allocation_id (an aws.ec2.eip id)")
    end
    local id
    if found then
      id = found.id
      common.sync_tags(ctx, id, found.tags, want.tags)
    else
      id = aws.required(common.client(ctx):call("CreateNatGateway", { SubnetId = want.subnet_id,
        AllocationId = want.allocation_id, ConnectivityType = want.connectivity_type, PrivateIpAddress = want.private_ip,
        ClientToken = ctx:client_token(), TagSpecifications = common.tag_specs("natgateway", want.tags),
      }), "NatGateway", "NatGatewayId")
    end
    common.wait(ctx, "to become available", function()
      local nat = describe(ctx, id)
      local state = nat and nat.State or "not visible yet"
      if nat and DEAD[state] then
        ctx:fail("NatGatewayFailed", "NAT gateway %s is %s: %s", id, state, nat.FailureMessage or "no reason given")
      end
      return state == "available", state
    end, common.TIMING.nat)
    return read(ctx, id)
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    local now = describe(ctx, id)
    if now and now.State ~= "deleting" and now.State ~= "deleted" then
      common.call_unless(ctx, "DeleteNatGateway", { NatGatewayId = id }, GONE)
    end
    -- botocore's NatGatewayDeleted; EC2's other "not found" code means gone too
    waiter.wait(ctx, ctx:aws("ec2"), "NatGatewayDeleted", { NatGatewayIds = { id } },
      { what = "NAT gateway " .. id .. " to be deleted", timeout = common.TIMING.nat.timeout,
        also = { { matcher = "error", expected = "InvalidNatGatewayID.NotFound", state = "success" } } })
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeNatGateways" },
    create = { "ec2:CreateNatGateway" },
    update = { "ec2:CreateNatGateway" },
    delete = { "ec2:DeleteNatGateway" },
  },
}
