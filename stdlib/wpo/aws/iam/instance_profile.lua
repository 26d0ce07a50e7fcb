-- aws.iam.instance_profile: an IAM instance profile carrying one role (what
-- EC2 instances, e.g. the ECS hosts of a launch template, assume).
--
-- Attributes:
--   name  force_new
--   path  default "/", force_new
--   role  the role's name (optional; changing it swaps the role in place)
--   tags
-- Outputs: id (= name), arn, unique_id (AIPA...).
--
-- Create adopts a profile of that name already tagged with this resource's
-- address, then waits until the profile reads back with its role (botocore's
-- InstanceProfileExists waiter: every second, 40 times). Delete takes the
-- role out first; a profile already gone is fine.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local iamlib = require "wpo.iam"

-- An optional setting AWS no longer holds but the script gave reads as ""
-- (a nil in what read returns would mean "unchanged").
local function cleared(v, given)
  if v == nil and given ~= nil then return "" end
  return v
end

local function get(ctx, name)
  local out, err = ctx:aws("iam"):pcall("GetInstanceProfile", { InstanceProfileName = name })
  if out then return aws.required(out, "InstanceProfile") end
  if kit.is_code(err, "NoSuchEntity") then return nil end
  error(err, 0)
end

local function observe(ip)
  local roles = ip.Roles or {}
  return {
    id = ip.InstanceProfileName, name = ip.InstanceProfileName, path = ip.Path, arn = ip.Arn,
    unique_id = ip.InstanceProfileId, role = roles[1] and roles[1].RoleName or nil,
    tags = kit.tag_map(ip.Tags),
  }
end

local function same_role(a, b)
  if a == nil or b == nil then return a == b end
  return a:lower() == b:lower()
end

local function converge(ctx, current, want)
  local iam = ctx:aws("iam")
  if current.role == "" then current.role = nil end
  if not same_role(current.role, want.role) then
    if current.role then
      iam:call("RemoveRoleFromInstanceProfile", { InstanceProfileName = current.name, RoleName = current.role })
    end
    if want.role then
      iam:call("AddRoleToInstanceProfile", { InstanceProfileName = current.name, RoleName = want.role })
    end
  end
  local set, remove = kit.tag_changes(current.tags, want.tags)
  if #remove > 0 then iam:call("UntagInstanceProfile", { InstanceProfileName = current.name, TagKeys = remove }) end
  if next(set) then iam:call("TagInstanceProfile", { InstanceProfileName = current.name, Tags = kit.tag_list(set) }) end
end

local function settled(ctx, name, role)
  return aws.wait(function()
    local ip = get(ctx, name)
    if ip and same_role(observe(ip).role, role) then return observe(ip) end
    return false, ip and "role not attached yet" or "not visible yet"
  end, { what = string.format("instance profile %s (%s) to be readable with its role", name, ctx.address),
    interval = 1, timeout = 40 })
end

local function read(ctx, id, prior)
  local ip = get(ctx, id)
  if not ip then return nil end
  local observed = observe(ip)
  local given = prior and prior.inputs and prior.inputs.role
  if same_role(given, observed.role) then observed.role = given end
  observed.role = cleared(observed.role, given)
  return observed
end

return resource.define "aws.iam.instance_profile" {
  description = "an IAM instance profile with its role",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    path = { type = "string", default = "/", force_new = true },
    role = { type = "string" },
    tags = { type = "tags" },
  },
  outputs = { "arn", "unique_id" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = get(ctx, want.name)
    if not existing then return {} end
    local current = observe(existing)
    if not kit.owns(ctx, current.tags) then
      ctx:fail("AlreadyExists", "an instance profile named %s already exists and is not this resource's "
        .. "(no tag %s=%s): import it with 'wpo import', or choose another name", want.name,
        resource.TAG_ADDRESS, ctx.address)
    end
    return { current }
  end,

  create = function(ctx, want, found)
    local iam = ctx:aws("iam")
    if found then
      converge(ctx, found, want)
    else
      iam:call("CreateInstanceProfile", { InstanceProfileName = want.name, Path = want.path,
        Tags = kit.tag_list(want.tags) })
      if want.role then
        iam:call("AddRoleToInstanceProfile", { InstanceProfileName = want.name, RoleName = want.role })
      end
    end
    local observed = settled(ctx, want.name, want.role)
    observed.role = want.role
    return observed
  end,

  read = read,

  update = function(ctx, id, old, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the instance profile %s no longer exists", id) end
    converge(ctx, current, new)
    local observed = settled(ctx, id, new.role)
    observed.role = new.role
    return observed
  end,

  delete = function(ctx, id)
    local iam = ctx:aws("iam")
    local ip = get(ctx, id)
    if not ip then return end
    for _, r in ipairs(ip.Roles or {}) do
      local out, err = iam:pcall("RemoveRoleFromInstanceProfile", { InstanceProfileName = id, RoleName = r.RoleName })
      if not out and err.code ~= "NoSuchEntity" then error(err, 0) end
    end
    local out, err = iam:pcall("DeleteInstanceProfile", { InstanceProfileName = id })
    if out or kit.is_code(err, "NoSuchEntity") then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "iam:GetInstanceProfile" },
    create = { "iam:PassRole", "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile", "iam:TagInstanceProfile",
      "iam:UntagInstanceProfile" },
    update = { "iam:PassRole", "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile",
      "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile", "iam:UntagInstanceProfile" },
    delete = { "iam:DeleteInstanceProfile", "iam:RemoveRoleFromInstanceProfile" },
    scoped = { "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
      "iam:GetInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile",
      "iam:UntagInstanceProfile" },
    resources = function(a)
      local path = a.path or "/"
      if iamlib.known(a.name) and iamlib.known(path) then return iamlib.path_arns("instance-profile", path, a.name) end
    end,
  },
}
