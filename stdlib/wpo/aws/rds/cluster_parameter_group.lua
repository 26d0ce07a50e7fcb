-- aws.rds.cluster_parameter_group: engine settings for Aurora clusters.
--
--   name         required, replaces (RDS keeps names lower-case)
--   family       required, replaces ("aurora-mysql8.0", ...)
--   description  replaces (RDS cannot change it; default "Managed by wpo")
--   parameters   map name -> value, in place: set with ModifyDBClusterParameterGroup
--                (20 a call), each applied "immediate" when the engine allows it
--                (dynamic) and "pending-reboot" otherwise (static); a name
--                removed from the map is reset to the engine default
--   tags         in place
-- Outputs: id (the name), arn. read reports the parameters whose source is
-- "user" (what was set), so a change made in the console shows as drift.
local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local rds = require "wpo.aws.rds.common"
local resource = require "wpo.resource"

local BATCH = 20

local function describe(ctx, name)
  local out, err = rds.client(ctx):pcall("DescribeDBClusterParameterGroups", { DBClusterParameterGroupName = name })
  if not out then
    if kit.is_code(err, "DBClusterParameterGroupNotFound", "DBParameterGroupNotFound") then return nil end
    error(err, 0)
  end
  return out.DBClusterParameterGroups and out.DBClusterParameterGroups[1]
end

-- every parameter of the group: name -> { value, apply_type, modifiable, source }
local function catalogue(ctx, name, source)
  local out = {}
  for page in rds.client(ctx):paginate("DescribeDBClusterParameters",
      { DBClusterParameterGroupName = name, Source = source }) do
    for _, p in ipairs(page.Parameters or {}) do
      out[p.ParameterName] = { value = p.ParameterValue, apply_type = p.ApplyType, modifiable = p.IsModifiable,
        source = p.Source }
    end
  end
  return out
end

local function user_parameters(ctx, name)
  local out = {}
  for k, p in pairs(catalogue(ctx, name, "user")) do out[k] = p.value or "" end
  return out
end

local function observed(ctx, group)
  return {
    id = group.DBClusterParameterGroupName,
    arn = group.DBClusterParameterGroupArn,
    name = group.DBClusterParameterGroupName,
    family = group.DBParameterGroupFamily,
    description = group.Description,
    parameters = user_parameters(ctx, group.DBClusterParameterGroupName),
    tags = rds.tags(ctx, group.DBClusterParameterGroupArn),
  }
end

local function batches(list)
  local out = {}
  for i = 1, #list, BATCH do
    out[#out + 1] = table.move(list, i, math.min(i + BATCH - 1, #list), 1, {})
  end
  return out
end

-- Set `want` (name -> value) and reset the names in `reset`.
local function apply(ctx, name, want, reset)
  local client = rds.client(ctx)
  local names = {}
  for k in pairs(want) do names[#names + 1] = k end
  table.sort(names)
  if #names == 0 and #reset == 0 then return end
  local known = catalogue(ctx, name)
  local function method(pname)
    local p = known[pname]
    if not p then
      ctx:fail("UnknownParameter", "the parameter group family has no parameter '%s'", pname)
    end
    if p.modifiable == false then ctx:fail("InvalidParameter", "the parameter '%s' cannot be modified", pname) end
    return p.apply_type == "static" and "pending-reboot" or "immediate"
  end
  local set = {}
  for _, k in ipairs(names) do
    set[#set + 1] = { ParameterName = k, ParameterValue = tostring(want[k]), ApplyMethod = method(k) }
  end
  for _, batch in ipairs(batches(set)) do
    client:call("ModifyDBClusterParameterGroup", { DBClusterParameterGroupName = name, Parameters = batch })
  end
  local unset = {}
  for _, k in ipairs(reset) do unset[#unset + 1] = { ParameterName = k, ApplyMethod = method(k) } end
  for _, batch in ipairs(batches(unset)) do
    client:call("ResetDBClusterParameterGroup", { DBClusterParameterGroupName = name, Parameters = batch })
  end
end

local function check_name(ctx, name)
  if name ~= name:lower() then
    ctx:fail("InvalidName", "parameter group name '%s': RDS keeps names lower-case; write it in lower case", name)
  end
end

return resource.define "aws.rds.cluster_parameter_group" {
  description = "RDS DB cluster parameter group",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    family = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by wpo", force_new = true },
    parameters = { type = "map", of = "string", default = {} },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    check_name(ctx, want.name)
    local existing = describe(ctx, want.name)
    return rds.named(ctx, "DB cluster parameter group", want.name, existing,
      existing and rds.tags(ctx, existing.DBClusterParameterGroupArn) or {})
  end,

  create = function(ctx, want, found)
    local name = want.name
    check_name(ctx, name)
    local group = found and found.object
    if not group then
      group = aws.required(rds.client(ctx):call("CreateDBClusterParameterGroup", {
        DBClusterParameterGroupName = name, DBParameterGroupFamily = want.family, Description = want.description,
        Tags = kit.tag_list(want.tags),
      }), "DBClusterParameterGroup")
    end
    local have = user_parameters(ctx, name)
    local set, reset = {}, {}
    for k, v in pairs(want.parameters or {}) do if have[k] ~= v then set[k] = v end end
    for k in pairs(have) do if (want.parameters or {})[k] == nil then reset[#reset + 1] = k end end
    table.sort(reset)
    apply(ctx, name, set, reset)
    return observed(ctx, group)
  end,

  read = function(ctx, id)
    local group = describe(ctx, id)
    return group and observed(ctx, group)
  end,

  update = function(ctx, id, old, new, changed)
    local group = describe(ctx, id)
    if not group then ctx:fail("NotFound", "DB cluster parameter group %s disappeared", id) end
    for _, name in ipairs(changed) do
      if name == "parameters" then
        local set, reset = {}, {}
        for k, v in pairs(new.parameters or {}) do
          if (old.parameters or {})[k] ~= v then set[k] = v end
        end
        for k in pairs(old.parameters or {}) do
          if (new.parameters or {})[k] == nil then reset[#reset + 1] = k end
        end
        table.sort(reset)
        apply(ctx, id, set, reset)
      elseif name == "tags" then
        rds.update_tags(ctx, group.DBClusterParameterGroupArn, old.tags, new.tags)
      end
    end
    return observed(ctx, group)
  end,

  delete = function(ctx, id)
    local done, err = rds.client(ctx):pcall("DeleteDBClusterParameterGroup", { DBClusterParameterGroupName = id })
    if not done and not kit.is_code(err, "DBClusterParameterGroupNotFound", "DBParameterGroupNotFound") then
      error(err, 0)
    end
  end,

  import = function(ctx, id)
    local group = describe(ctx, id)
    return group and observed(ctx, group)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "rds:DescribeDBClusterParameterGroups", "rds:DescribeDBClusterParameters",
      "rds:ListTagsForResource" },
    create = { "rds:AddTagsToResource", "rds:CreateDBClusterParameterGroup",
      "rds:ModifyDBClusterParameterGroup", "rds:ResetDBClusterParameterGroup" },
    update = { "rds:AddTagsToResource", "rds:CreateDBClusterParameterGroup",
      "rds:ModifyDBClusterParameterGroup", "rds:RemoveTagsFromResource", "rds:ResetDBClusterParameterGroup" },
    delete = { "rds:DeleteDBClusterParameterGroup", "rds:RemoveTagsFromResource" },
  },
}
