-- aws.elasticache.subnet_group: the subnets ElastiCache nodes may live in.
--
--   name         required, replaces (lower-case letters, digits and hyphens)
--   subnet_ids   required, in place (ModifyCacheSubnetGroup)
--   description  in place (default "Managed by wpo")
--   tags         in place
-- Outputs: id (the name), arn, vpc_id.
local aws = require "wpo.aws"
local ec = require "wpo.aws.elasticache.common"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local function describe(ctx, name)
  local out, err = ec.client(ctx):pcall("DescribeCacheSubnetGroups", { CacheSubnetGroupName = name })
  if not out then
    if kit.is_code(err, "CacheSubnetGroupNotFoundFault") then return nil end
    error(err, 0)
  end
  return out.CacheSubnetGroups and out.CacheSubnetGroups[1]
end

local function observed(ctx, group, prior_inputs)
  local ids = {}
  for _, s in ipairs(group.Subnets or {}) do ids[#ids + 1] = s.SubnetIdentifier end
  return {
    id = group.CacheSubnetGroupName,
    arn = group.ARN,
    vpc_id = group.VpcId,
    name = group.CacheSubnetGroupName,
    description = group.CacheSubnetGroupDescription,
    subnet_ids = kit.as_prior_order(ids, prior_inputs and prior_inputs.subnet_ids),
    tags = ec.tags(ctx, group.ARN),
  }
end

local function check_name(ctx, want)
  if want.name ~= want.name:lower() or not want.name:match("^[a-z0-9][a-z0-9-]*$") or #want.name > 255 then
    ctx:fail("InvalidName", "cache subnet group name '%s': use lower-case letters, digits and hyphens, starting "
      .. "with a letter or digit", want.name)
  end
end

return resource.define "aws.elasticache.subnet_group" {
  description = "ElastiCache cache subnet group",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by wpo" },
    subnet_ids = { type = "list", of = "string", required = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "vpc_id" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    check_name(ctx, want)
    local existing = describe(ctx, want.name)
    if not existing then return {} end
    local tags = ec.tags(ctx, existing.ARN) or {}
    if not kit.owns(ctx, tags) then
      ctx:fail("AlreadyExists", "a cache subnet group named %s already exists and is not this resource's: import it "
        .. "with 'wpo import STACK %s %s', or choose another name", want.name, ctx.address, want.name)
    end
    return { { id = want.name, tags = tags, group = existing } }
  end,

  create = function(ctx, want, found)
    check_name(ctx, want)
    if found then return observed(ctx, found.group, want) end
    local group = aws.required(ec.client(ctx):call("CreateCacheSubnetGroup", {
      CacheSubnetGroupName = want.name, CacheSubnetGroupDescription = want.description,
      SubnetIds = want.subnet_ids, Tags = kit.tag_list(want.tags),
    }), "CacheSubnetGroup")
    return observed(ctx, group, want)
  end,

  read = function(ctx, id, prior)
    local group = describe(ctx, id)
    return group and observed(ctx, group, prior and prior.inputs)
  end,

  update = function(ctx, id, old, new, changed)
    local set = {}
    for _, name in ipairs(changed) do set[name] = true end
    -- the same subnets in another order is no change to ElastiCache
    if set.subnet_ids and not set.description
        and table.concat(kit.sorted(old.subnet_ids), ",") == table.concat(kit.sorted(new.subnet_ids), ",") then
      set.subnet_ids = nil
    end
    local group
    if set.subnet_ids or set.description then
      group = aws.required(ec.client(ctx):call("ModifyCacheSubnetGroup", { CacheSubnetGroupName = id,
        CacheSubnetGroupDescription = new.description, SubnetIds = new.subnet_ids }), "CacheSubnetGroup")
    else
      group = describe(ctx, id)
      if not group then ctx:fail("NotFound", "cache subnet group %s disappeared", id) end
    end
    if set.tags then ec.update_tags(ctx, group.ARN, old.tags, new.tags) end
    return observed(ctx, group, new)
  end,

  delete = function(ctx, id)
    local done, err = ec.client(ctx):pcall("DeleteCacheSubnetGroup", { CacheSubnetGroupName = id })
    if not done and not kit.is_code(err, "CacheSubnetGroupNotFoundFault") then error(err, 0) end
  end,

  import = function(ctx, id)
    local group = describe(ctx, id)
    return group and observed(ctx, group, nil)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticache:DescribeCacheSubnetGroups", "elasticache:ListTagsForResource" },
    create = { "elasticache:AddTagsToResource", "elasticache:CreateCacheSubnetGroup",
      "elasticache:ModifyCacheSubnetGroup" },
    update = { "elasticache:AddTagsToResource", "elasticache:CreateCacheSubnetGroup",
      "elasticache:ModifyCacheSubnetGroup", "elasticache:RemoveTagsFromResource" },
    delete = { "elasticache:DeleteCacheSubnetGroup", "elasticache:RemoveTagsFromResource" },
  },
}
