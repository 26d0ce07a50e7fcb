-- aws.ec2.route: one route of a route table.
--
--   route_table_id               required; replaces
--   destination_cidr_block       an IPv4 block (e.g. "0.0.0.0/0")  } exactly one;
--   destination_ipv6_cidr_block  an IPv6 block (e.g. "::/0")       } replaces
--   the target, exactly one, changed in place (ReplaceRoute):
--     gateway_id (an internet gateway), nat_gateway_id, network_interface_id,
--     egress_only_gateway_id, transit_gateway_id, vpc_peering_connection_id
-- Outputs: id ("<route table id>_<destination>", also what import takes),
-- state ("active", or "blackhole" while the target is gone), origin.
-- Routes carry no tags: a route is found again by its table and destination
-- (one a run that died before saving state made, or one whose answer was
-- lost), and adopted when it has the same target; the same destination with
-- another target is an error naming it.
local common = require "wpo.aws.ec2.common"
local resource = require "wpo.resource"

local TARGETS = {
  gateway_id = "GatewayId", nat_gateway_id = "NatGatewayId", network_interface_id = "NetworkInterfaceId",
  egress_only_gateway_id = "EgressOnlyInternetGatewayId", transit_gateway_id = "TransitGatewayId",
  vpc_peering_connection_id = "VpcPeeringConnectionId",
}
local TARGET_NAMES = { "egress_only_gateway_id", "gateway_id", "nat_gateway_id", "network_interface_id",
  "transit_gateway_id", "vpc_peering_connection_id" }
local GONE = { "InvalidRoute.NotFound", "InvalidRouteTableID.NotFound" }

local function destination(ctx, want)
  local v4, v6 = want.destination_cidr_block, want.destination_ipv6_cidr_block
  if (v4 == nil) == (v6 == nil) then
    ctx:fail("InvalidRoute", "give exactly one of destination_cidr_block and destination_ipv6_cidr_block")
  end
  if v4 then return "DestinationCidrBlock", v4 end
  return "DestinationIpv6CidrBlock", v6
end

local function target(ctx, want)
  local found
  for _, name in ipairs(TARGET_NAMES) do
    if want[name] ~= nil and want[name] ~= "" then
      if found then ctx:fail("InvalidRoute", "give exactly one target, not both %s and %s", found, name) end
      found = name
    end
  end
  if not found then ctx:fail("InvalidRoute", "give a target: %s", table.concat(TARGET_NAMES, ", ")) end
  return TARGETS[found], want[found]
end

local function split(id)
  local rtb, dest = tostring(id):match("^(rtb%-[%x]+)_(.+)$")
  return rtb, dest
end

local function observe(rtb_id, route)
  local o = { id = rtb_id .. "_" .. (route.DestinationCidrBlock or route.DestinationIpv6CidrBlock),
    route_table_id = rtb_id, destination_cidr_block = route.DestinationCidrBlock,
    destination_ipv6_cidr_block = route.DestinationIpv6CidrBlock, state = route.State, origin = route.Origin }
  for name, member in pairs(TARGETS) do o[name] = route[member] or "" end
  return o
end

local function read(ctx, id)
  local rtb, dest = split(id)
  if not rtb then ctx:fail("InvalidRouteId", "a route id is <route table id>_<destination>, not %s", tostring(id)) end
  local t = common.describe_one(ctx, "DescribeRouteTables", "RouteTableIds", rtb, "RouteTables", GONE)
  if not t then return nil end
  for _, route in ipairs(t.Routes or {}) do
    if route.DestinationCidrBlock == dest or route.DestinationIpv6CidrBlock == dest then
      return observe(rtb, route)
    end
  end
  return nil
end

local function params(ctx, rtb, want)
  local dmember, dvalue = destination(ctx, want)
  local tmember, tvalue = target(ctx, want)
  return { RouteTableId = rtb, [dmember] = dvalue, [tmember] = tvalue }, dvalue, tmember, tvalue
end

-- A route already there to want's destination is this resource's when it
-- has want's target; otherwise it is an error naming it.
local function mine(ctx, want, have)
  local _, dest = destination(ctx, want)
  local tmember, tvalue = target(ctx, want)
  local name
  for n, member in pairs(TARGETS) do if member == tmember then name = n end end
  if have and have[name] == tvalue then return end
  local other = "another target"
  for _, n in ipairs(TARGET_NAMES) do
    if have and have[n] ~= "" then other = n .. " = " .. have[n] end
  end
  local id = want.route_table_id .. "_" .. dest
  ctx:fail("RouteAlreadyExists", "route table %s already has a route to %s (%s): import it "
    .. "(wpo import STACK %s %s) or remove it", want.route_table_id, dest, other, ctx.address, id)
end

local attributes = {
  route_table_id = { type = "string", required = true, force_new = true },
  destination_cidr_block = { type = "cidr", force_new = true },
  destination_ipv6_cidr_block = { type = "cidr", force_new = true },
}
for _, name in ipairs(TARGET_NAMES) do attributes[name] = { type = "string", computed = true } end

return resource.define "aws.ec2.route" {
  description = "a route of a route table",
  attributes = attributes,
  outputs = { "id", "state", "origin" },

  found_by = "its route table and destination",
  find = function(ctx, want)
    local _, dest = destination(ctx, want)
    local have = read(ctx, want.route_table_id .. "_" .. dest)
    if have then mine(ctx, want, have) end
    return { have }
  end,

  create = function(ctx, want, found)
    if found then return read(ctx, found.id) end
    local p, dest = params(ctx, want.route_table_id, want)
    local created = common.call_unless(ctx, "CreateRoute", p, { "RouteAlreadyExists" })
    local id = want.route_table_id .. "_" .. dest
    if not created then
      mine(ctx, want, read(ctx, id))
      ctx:log("adopting the route to %s already in %s", dest, want.route_table_id)
    end
    return read(ctx, id)
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, _, new)
    local rtb = split(id)
    local p = params(ctx, rtb, new)
    common.client(ctx):call("ReplaceRoute", p)
    return read(ctx, id)
  end,

  delete = function(ctx, id, prior)
    local rtb, dest = split(id)
    local member = (prior.inputs.destination_ipv6_cidr_block or tostring(dest):find(":", 1, true))
      and "DestinationIpv6CidrBlock" or "DestinationCidrBlock"
    common.call_unless(ctx, "DeleteRoute", { RouteTableId = rtb, [member] = dest }, GONE)
  end,

  import = function(ctx, id) return read(ctx, id) end,
}
