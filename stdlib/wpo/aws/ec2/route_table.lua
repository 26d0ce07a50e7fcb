-- aws.ec2.route_table: a route table of a VPC. Its routes are aws.ec2.route
-- resources and its subnets aws.ec2.route_table_association resources (each
-- with its own lifecycle); the local route of the VPC's block is AWS's.
--
--   vpc_id   required; replaces
--   tags
-- Outputs: id, arn, owner_id.
-- Delete retries while AWS answers DependencyViolation (an association made
-- outside the stack, or one still going).
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local GONE = { "InvalidRouteTableID.NotFound" }

local function observe(ctx, t)
  return { id = t.RouteTableId, vpc_id = t.VpcId, owner_id = t.OwnerId, tags = kit.user_tags(kit.tag_map(t.Tags)),
    arn = common.arn(ctx, t.OwnerId, "route-table/" .. t.RouteTableId) }
end

local function read(ctx, id)
  local t = common.describe_one(ctx, "DescribeRouteTables", "RouteTableIds", id, "RouteTables", GONE)
  return t and observe(ctx, t)
end

return resource.define "aws.ec2.route_table" {
  description = "a route table of a VPC",
  attributes = {
    vpc_id = { type = "string", required = true, force_new = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "owner_id" },

  found_by = "its wpo:address tag",
  find = common.tagged("DescribeRouteTables", "RouteTables", observe),

  create = function(ctx, want, found)
    if found then
      common.sync_tags(ctx, found.id, found.tags, want.tags)
      return read(ctx, found.id)
    end
    local out = common.client(ctx):call("CreateRouteTable", { VpcId = want.vpc_id,
      TagSpecifications = common.tag_specs("route-table", want.tags) })
    return read(ctx, aws.required(out, "RouteTable", "RouteTableId"))
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, old, new)
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    common.delete_retrying(ctx, "to be deleted (its associations to go)", function()
      common.client(ctx):call("DeleteRouteTable", { RouteTableId = id })
    end, { gone = GONE, timing = common.TIMING.vpc_delete })
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeRouteTables" },
    create = { "ec2:CreateRouteTable" },
    update = { "ec2:CreateRouteTable" },
    delete = { "ec2:DeleteRouteTable" },
  },
}
