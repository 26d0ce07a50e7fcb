-- wpo.wordpress.network: the network tier of the WordPress-on-ECS layout — a
-- VPC with public, private and database subnets in each zone, an internet
-- gateway, NAT (one per zone, or one shared), route tables and an S3 gateway
-- endpoint.
--
--   network.build(stack, p, deps) -> net
--
-- Reads from p (validated by wpo.wordpress): name, region, azs (a list of 2 or
-- 3 zone names; a number n means the first n of <region>a, b, c), cidr (/16 to
-- /20), nat ("per_az" or "single"), tags (optional map, added to every
-- resource's). Reads nothing from deps.
--
-- Declares (addresses end in the zone's letter, "a", "b", "c"):
--   aws.ec2.vpc.main                         DNS support and hostnames on
--   aws.ec2.subnet.{public,private,database}-<z>
--   aws.ec2.internet_gateway.main            attached to the VPC
--   aws.ec2.eip.nat-<z>, aws.ec2.nat_gateway.nat-<z>
--                                            in each zone's public subnet; with
--                                            nat = "single", only the first zone's
--   aws.ec2.route_table.public               0.0.0.0/0 -> the internet gateway
--   aws.ec2.route_table.private-<z>          0.0.0.0/0 -> the zone's NAT gateway
--                                            (or the single one); one table per
--                                            zone either way, so moving between
--                                            "single" and "per_az" only changes routes
--   aws.ec2.route_table.database             no route out of the VPC at all
--   aws.ec2.route.public-internet, aws.ec2.route.private-<z>-internet
--   aws.ec2.route_table_association.{public,private,database}-<z>
--   aws.ec2.vpc_endpoint.s3                  S3 gateway endpoint on the private
--                                            tables (image layers from ECR, which
--                                            live in S3, skip the NAT gateways)
--
-- Address plan, from p.cidr (a /16 gives /18 private and /21 public and
-- database subnets; a /20 gives /22 and /25). Each subnet's block depends only
-- on its zone's position, so adding a third zone changes no existing subnet:
--   private  zone i: cidr.subnet(p.cidr, 2, i - 1)        the first three quarters
--   public   zone i: cidr.subnet(p.cidr, 5, 24 + i - 1)   the last quarter, eighths 0-2
--   database zone i: cidr.subnet(p.cidr, 5, 28 + i - 1)   the last quarter, eighths 4-6
--
-- Returns net = {
--   vpc (resource), vpc_id, cidr, azs (zone names, in order), zone_letters = { [az] = "a" },
--   subnets = { public = { resource per zone, in zone order }, private = {...}, database = {...} },
--   subnet_ids = { public = { id per zone }, private = {...}, database = {...} },
--   subnets_by_az = { public = { [az] = resource }, ... },
--   subnet_cidrs = { public = { [az] = "10.0.192.0/21" }, ... },
--   internet_gateway, eips = { [az] = resource }, nat_gateways = { [az] = the resource its private
--   subnet routes through }, route_tables = { public, private = { [az] = resource }, database },
--   routes = { [name] = resource }, s3_endpoint }
local cidr = require "wpo.cidr"

local M = {}

M.TIERS = { "public", "private", "database" }

-- the block of each tier's subnet in zone i (1-based)
function M.subnet_cidr(block, tier, i)
  if tier == "private" then return cidr.subnet(block, 2, i - 1) end
  if tier == "public" then return cidr.subnet(block, 5, 24 + i - 1) end
  if tier == "database" then return cidr.subnet(block, 5, 28 + i - 1) end
  error("network.subnet_cidr: tier is public, private or database, not " .. tostring(tier), 2)
end

-- p.azs as zone names
function M.zones(p)
  if type(p.azs) == "number" then
    local out = {}
    for i = 1, p.azs do out[i] = p.region .. ("abcdef"):sub(i, i) end
    return out
  end
  return p.azs
end

local function letter(az, i)
  return az:match("%-%d+(%l)$") or az:match("(%l)$") or tostring(i)
end

local function tags(p, extra)
  local out = {}
  for k, v in pairs(p.tags or {}) do out[k] = v end
  for k, v in pairs(extra) do out[k] = v end
  return out
end

function M.build(stack, p, deps)
  if type(p) ~= "table" or type(p.name) ~= "string" or type(p.cidr) ~= "string" then
    error("network.build: parameters with name and cidr expected", 2)
  end
  if deps ~= nil and type(deps) ~= "table" then error("network.build: deps must be a table", 2) end
  local azs = M.zones(p)
  local net = { cidr = p.cidr, azs = azs, zone_letters = {}, subnets = {}, subnet_ids = {}, subnets_by_az = {},
    subnet_cidrs = {}, eips = {}, nat_gateways = {}, routes = {}, route_tables = { private = {} } }

  local vpc = stack:add("aws.ec2.vpc", "main", {
    cidr_block = p.cidr, enable_dns_support = true, enable_dns_hostnames = true,
    tags = tags(p, { Name = p.name }),
  })
  net.vpc, net.vpc_id = vpc, vpc.id

  for _, tier in ipairs(M.TIERS) do
    net.subnets[tier], net.subnet_ids[tier], net.subnets_by_az[tier], net.subnet_cidrs[tier] = {}, {}, {}, {}
    for i, az in ipairs(azs) do
      local z = letter(az, i)
      net.zone_letters[az] = z
      local block = M.subnet_cidr(p.cidr, tier, i)
      local s = stack:add("aws.ec2.subnet", tier .. "-" .. z, {
        vpc_id = vpc.id, cidr_block = block, availability_zone = az, map_public_ip_on_launch = false,
        tags = tags(p, { Name = p.name .. "-" .. tier .. "-" .. z, ["wpo:tier"] = tier }),
      })
      net.subnets[tier][i], net.subnet_ids[tier][i] = s, s.id
      net.subnets_by_az[tier][az], net.subnet_cidrs[tier][az] = s, block
    end
  end

  local igw = stack:add("aws.ec2.internet_gateway", "main", { vpc_id = vpc.id, tags = tags(p, { Name = p.name }) })
  net.internet_gateway = igw

  -- public: the world through the internet gateway
  local public = stack:add("aws.ec2.route_table", "public", { vpc_id = vpc.id,
    tags = tags(p, { Name = p.name .. "-public" }) })
  net.route_tables.public = public
  net.routes["public-internet"] = stack:add("aws.ec2.route", "public-internet", {
    route_table_id = public.id, destination_cidr_block = "0.0.0.0/0", gateway_id = igw.id })

  -- NAT gateways in the public subnets: every zone's, or the first zone's only
  local nat_zones = p.nat == "single" and { azs[1] } or azs
  local own = {}
  for _, az in ipairs(nat_zones) do
    local z = net.zone_letters[az]
    local eip = stack:add("aws.ec2.eip", "nat-" .. z, { tags = tags(p, { Name = p.name .. "-nat-" .. z }) })
    own[az] = stack:add("aws.ec2.nat_gateway", "nat-" .. z, {
      subnet_id = net.subnets_by_az.public[az].id, allocation_id = eip.id,
      tags = tags(p, { Name = p.name .. "-nat-" .. z }),
      depends_on = { igw },          -- a public NAT needs the gateway; destroy deletes it first
    })
    net.eips[az] = eip
  end

  -- private: the world through the zone's NAT gateway (or the single one)
  local private_ids = {}
  for i, az in ipairs(azs) do
    local z = net.zone_letters[az]
    local nat = own[az] or own[azs[1]]
    net.nat_gateways[az] = nat
    local rtb = stack:add("aws.ec2.route_table", "private-" .. z, { vpc_id = vpc.id,
      tags = tags(p, { Name = p.name .. "-private-" .. z }) })
    net.route_tables.private[az] = rtb
    private_ids[i] = rtb.id
    net.routes["private-" .. z .. "-internet"] = stack:add("aws.ec2.route", "private-" .. z .. "-internet", {
      route_table_id = rtb.id, destination_cidr_block = "0.0.0.0/0", nat_gateway_id = nat.id })
  end

  -- database: nothing leaves the VPC
  local database = stack:add("aws.ec2.route_table", "database", { vpc_id = vpc.id,
    tags = tags(p, { Name = p.name .. "-database" }) })
  net.route_tables.database = database

  for _, az in ipairs(azs) do
    local z = net.zone_letters[az]
    local tables = { public = public, private = net.route_tables.private[az], database = database }
    for _, tier in ipairs(M.TIERS) do
      stack:add("aws.ec2.route_table_association", tier .. "-" .. z, {
        subnet_id = net.subnets_by_az[tier][az].id, route_table_id = tables[tier].id })
    end
  end

  net.s3_endpoint = stack:add("aws.ec2.vpc_endpoint", "s3", {
    vpc_id = vpc.id, service_name = "com.amazonaws." .. p.region .. ".s3", vpc_endpoint_type = "Gateway",
    route_table_ids = private_ids, tags = tags(p, { Name = p.name .. "-s3" }),
  })
  return net
end

return M
