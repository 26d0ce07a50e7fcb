-- aws.ec2.route_table_association: a subnet's route table.
--
--   subnet_id        required; replaces
--   route_table_id   required; changed in place (ReplaceRouteTableAssociation,
--                    which gives the association a new id)
-- Outputs: id (the association id, rtbassoc-...).
-- Associations carry no tags: an association is found again by its subnet
-- (associated with the same table by a run that died before saving state, or
-- by a create whose answer was lost) and adopted; one with another table is
-- an error naming it.
local aws = require "wpo.aws"
local common = require "wpo.aws.ec2.common"
local resource = require "wpo.resource"

local GONE = { "InvalidAssociationID.NotFound" }

-- -> the association (with RouteTableId) found by one filter, or nil
local function find(ctx, filter, value)
  local out = common.client(ctx):call("DescribeRouteTables", { Filters = { { Name = filter, Values = { value } } } })
  for _, t in ipairs(out.RouteTables or {}) do
    for _, a in ipairs(t.Associations or {}) do
      if (filter == "association.subnet-id" and a.SubnetId == value)
          or (filter == "association.route-table-association-id" and a.RouteTableAssociationId == value) then
        return a
      end
    end
  end
  return nil
end

local function observe(a)
  return { id = a.RouteTableAssociationId, route_table_id = a.RouteTableId, subnet_id = a.SubnetId }
end

local function read(ctx, id)
  local a = find(ctx, "association.route-table-association-id", id)
  return a and observe(a)
end

return resource.define "aws.ec2.route_table_association" {
  description = "a subnet's association with a route table",
  attributes = {
    subnet_id = { type = "string", required = true, force_new = true },
    route_table_id = { type = "string", required = true },
  },
  outputs = { "id" },

  found_by = "its subnet",
  find = function(ctx, want)
    local existing = find(ctx, "association.subnet-id", want.subnet_id)
    if existing and existing.RouteTableId ~= want.route_table_id then
      ctx:fail("Resource.AlreadyAssociated", "subnet %s is already associated with route table %s (association "
        .. "%s): import that association, or remove it", want.subnet_id, existing.RouteTableId,
        existing.RouteTableAssociationId)
    end
    return { existing and observe(existing) }
  end,

  create = function(ctx, want, found)
    if found then return found end
    local out = common.client(ctx):call("AssociateRouteTable", { RouteTableId = want.route_table_id,
      SubnetId = want.subnet_id })
    return { id = aws.required(out, "AssociationId"), route_table_id = want.route_table_id, subnet_id = want.subnet_id }
  end,

  read = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, id, _, new)
    local out = common.client(ctx):call("ReplaceRouteTableAssociation", { AssociationId = id,
      RouteTableId = new.route_table_id })
    return read(ctx, aws.required(out, "NewAssociationId"))
  end,

  delete = function(ctx, id)
    common.call_unless(ctx, "DisassociateRouteTable", { AssociationId = id }, GONE)
  end,

  import = function(ctx, id) return read(ctx, id) end,
}
