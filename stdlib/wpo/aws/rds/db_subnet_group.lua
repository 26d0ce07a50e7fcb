-- aws.rds.db_subnet_group: the subnets (two zones or more) an RDS database
-- may live in.
--
--   name         required, replaces: lower-case letters, digits, . _ - and spaces (RDS lower-cases names)
--   subnet_ids   required, in place (ModifyDBSubnetGroup)
--   description  in place (default "Managed by wpo")
--   tags         in place
-- Outputs: id (the name), arn, vpc_id.
local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local rds = require "wpo.aws.rds.common"
local resource = require "wpo.resource"

local function describe(ctx, name)
  local out, err = rds.client(ctx):pcall("DescribeDBSubnetGroups", { DBSubnetGroupName = name })
  if not out then
    if kit.is_code(err, "DBSubnetGroupNotFoundFault") then return nil end
    error(err, 0)
  end
  return out.DBSubnetGroups and out.DBSubnetGroups[1]
end

local function observed(ctx, group, prior_inputs)
  return {
    id = group.DBSubnetGroupName,
    arn = group.DBSubnetGroupArn,
    vpc_id = group.VpcId,
    name = group.DBSubnetGroupName,
    description = group.DBSubnetGroupDescription,
    subnet_ids = kit.as_prior_order(rds.ids(group.Subnets, "SubnetIdentifier"),
      prior_inputs and prior_inputs.subnet_ids),
    tags = rds.tags(ctx, group.DBSubnetGroupArn),
  }
end

local function check_name(ctx, name)
  if name ~= name:lower() or not name:match("^[a-z0-9 ._-]+$") or #name > 255 or name == "default" then
    ctx:fail("InvalidName", "DB subnet group name '%s': use lower-case letters, digits, '.', '_', '-' and spaces "
      .. "(RDS keeps names lower-case), at most 255, not 'default'", name)
  end
end

return resource.define "aws.rds.db_subnet_group" {
  description = "RDS DB subnet group",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by wpo" },
    subnet_ids = { type = "list", of = "string", required = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "vpc_id" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    check_name(ctx, want.name)
    local existing = describe(ctx, want.name)
    return rds.named(ctx, "DB subnet group", want.name, existing,
      existing and rds.tags(ctx, existing.DBSubnetGroupArn) or {})
  end,

  create = function(ctx, want, found)
    check_name(ctx, want.name)
    if found then return observed(ctx, found.object, want) end
    local group = aws.required(rds.client(ctx):call("CreateDBSubnetGroup", {
      DBSubnetGroupName = want.name, DBSubnetGroupDescription = want.description,
      SubnetIds = want.subnet_ids, Tags = kit.tag_list(want.tags),
    }), "DBSubnetGroup")
    return observed(ctx, group, want)
  end,

  read = function(ctx, id, prior)
    local group = describe(ctx, id)
    if not group then return nil end
    return observed(ctx, group, prior and prior.inputs)
  end,

  update = function(ctx, id, old, new, changed)
    local set = {}
    for _, name in ipairs(changed) do set[name] = true end
    -- the same subnets in another order is no change to RDS
    if set.subnet_ids and not set.description
        and table.concat(kit.sorted(old.subnet_ids), ",") == table.concat(kit.sorted(new.subnet_ids), ",") then
      set.subnet_ids = nil
    end
    if set.subnet_ids or set.description then
      rds.client(ctx):call("ModifyDBSubnetGroup", { DBSubnetGroupName = id,
        DBSubnetGroupDescription = new.description, SubnetIds = new.subnet_ids })
    end
    local group = describe(ctx, id)
    if not group then ctx:fail("NotFound", "DB subnet group %s disappeared", id) end
    if set.tags then rds.update_tags(ctx, group.DBSubnetGroupArn, old.tags, new.tags) end
    return observed(ctx, group, new)
  end,

  delete = function(ctx, id)
    local done, err = rds.client(ctx):pcall("DeleteDBSubnetGroup", { DBSubnetGroupName = id })
    if not done and not kit.is_code(err, "DBSubnetGroupNotFoundFault") then error(err, 0) end
  end,

  import = function(ctx, id)
    local group = describe(ctx, id)
    return group and observed(ctx, group, nil)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "rds:DescribeDBSubnetGroups", "rds:ListTagsForResource" },
    create = { "rds:AddTagsToResource", "rds:CreateDBSubnetGroup", "rds:ModifyDBSubnetGroup" },
    update = { "rds:AddTagsToResource", "rds:CreateDBSubnetGroup", "rds:ModifyDBSubnetGroup",
      "rds:RemoveTagsFromResource" },
    delete = { "rds:DeleteDBSubnetGroup", "rds:RemoveTagsFromResource" },
  },
}
