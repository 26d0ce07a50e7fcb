-- aws.iam.role: an IAM role (IAM is global: the client signs for us-east-1).
--
-- Attributes:
--   name                  role name, force_new
--   path                  default "/", force_new
--   assume_role_policy    the trust policy: a table (see wpo.aws.iam.policy,
--                         e.g. policy.assume_role("ecs-tasks.amazonaws.com")) or JSON text
--   description
--   max_session_duration  seconds, 3600 (default) .. 43200
--   exclusive_policies    default true: the role owns its policies. A managed
--                         policy attached to it, or an inline policy in it,
--                         that no aws.iam.role_policy_attachment or
--                         aws.iam.role_policy of this stack's state manages
--                         is drift: read reports it in unmanaged_policies
--                         ({ ["attached arn:..."] = "unmanaged managed policy
--                         arn:...", ["inline NAME"] = "unmanaged inline policy
--                         NAME" }), whose desired value is none, so the plan
--                         shows it and apply's update detaches or deletes it.
--                         false leaves them alone.
--   tags
-- Outputs: id (= name), arn, unique_id (AROA...).
--
-- Create adopts a role of that name already tagged with this resource's
-- address. Update: trust policy, description, session duration and tags in
-- place. Delete: when IAM answers DeleteConflict (objects left by hand), it
-- takes the role out of its instance profiles, detaches its managed policies
-- and deletes its inline policies, each noted in the log, then deletes it.
local aws = require "wpo.aws"
local policy = require "wpo.aws.iam.policy"
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
  local out, err = ctx:aws("iam"):pcall("GetRole", { RoleName = name })
  if out then return aws.required(out, "Role") end
  if kit.is_code(err, "NoSuchEntity") then return nil end
  error(err, 0)
end

local function observe(role, prior_inputs)
  local trust = policy.decode(role.AssumeRolePolicyDocument)
  local given = prior_inputs and prior_inputs.assume_role_policy
  if given ~= nil and policy.same(given, trust) then trust = given end
  return {
    id = role.RoleName, name = role.RoleName, path = role.Path, arn = role.Arn, unique_id = role.RoleId,
    assume_role_policy = trust, description = cleared(role.Description, (prior_inputs or {}).description),
    max_session_duration = role.MaxSessionDuration or 3600,
    tags = kit.tag_map(role.Tags),
  }
end

local function check(ctx, want)
  local problem = policy.check(want.assume_role_policy)
  if problem then ctx:fail("InvalidPolicy", "assume_role_policy: %s", problem) end
  local d = want.max_session_duration
  if d < 3600 or d > 43200 then
    ctx:fail("InvalidAttribute", "max_session_duration must be 3600..43200 seconds (it is %d)", d)
  end
end

local function converge(ctx, current, want)
  local iam = ctx:aws("iam")
  if not policy.same(current.assume_role_policy, want.assume_role_policy) then
    iam:call("UpdateAssumeRolePolicy", { RoleName = current.name, PolicyDocument = policy.encode(want.assume_role_policy) })
  end
  if (current.description or "") ~= (want.description or "")
      or current.max_session_duration ~= want.max_session_duration then
    iam:call("UpdateRole", { RoleName = current.name, Description = want.description or "",
      MaxSessionDuration = want.max_session_duration })
  end
  local set, remove = kit.tag_changes(current.tags, want.tags)
  if #remove > 0 then iam:call("UntagRole", { RoleName = current.name, TagKeys = remove }) end
  if next(set) then iam:call("TagRole", { RoleName = current.name, Tags = kit.tag_list(set) }) end
end

local function read(ctx, id, prior)
  local role = get(ctx, id)
  return role and observe(role, prior and prior.inputs)
end

-- The policies of the role no record of this stack's state manages (nil: none).
local function unmanaged(ctx, name)
  local managed = {}
  for _, rec in ipairs(ctx:records("aws.iam.role_policy_attachment")) do managed["attached " .. tostring(rec.id)] = true end
  for _, rec in ipairs(ctx:records("aws.iam.role_policy")) do managed["inline " .. tostring(rec.id)] = true end
  local iam = ctx:aws("iam")
  local out, any = {}, false
  for page in iam:paginate("ListAttachedRolePolicies", { RoleName = name }) do
    for _, p in ipairs(page.AttachedPolicies or {}) do
      if not managed["attached " .. name .. "/" .. p.PolicyArn] then
        out["attached " .. p.PolicyArn], any = "unmanaged managed policy " .. p.PolicyArn, true
      end
    end
  end
  for page in iam:paginate("ListRolePolicies", { RoleName = name }) do
    for _, p in ipairs(page.PolicyNames or {}) do
      if not managed["inline " .. name .. ":" .. p] then
        out["inline " .. p], any = "unmanaged inline policy " .. p, true
      end
    end
  end
  return any and out or nil
end

local function remove_unmanaged(ctx, name, old, new)
  if new.exclusive_policies == false then return end
  local iam = ctx:aws("iam")
  local keys = {}
  for k in pairs(old.unmanaged_policies or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local kind, what = k:match("^(%a+) (.+)$")
    local out, err
    if kind == "attached" then
      ctx:log("detaching unmanaged policy %s", what)
      out, err = iam:pcall("DetachRolePolicy", { RoleName = name, PolicyArn = what })
    elseif kind == "inline" then
      ctx:log("deleting unmanaged inline policy %s", what)
      out, err = iam:pcall("DeleteRolePolicy", { RoleName = name, PolicyName = what })
    end
    if not out and err and err.code ~= "NoSuchEntity" then error(err, 0) end
  end
end

-- Everything that keeps IAM from deleting a role, removed.
local function detach_all(ctx, name)
  local iam = ctx:aws("iam")
  local ok, err = pcall(function()
    for page in iam:paginate("ListInstanceProfilesForRole", { RoleName = name }) do
      for _, ip in ipairs(page.InstanceProfiles or {}) do
        ctx:log("removing role %s from instance profile %s", name, ip.InstanceProfileName)
        iam:call("RemoveRoleFromInstanceProfile", { InstanceProfileName = ip.InstanceProfileName, RoleName = name })
      end
    end
    for page in iam:paginate("ListAttachedRolePolicies", { RoleName = name }) do
      for _, p in ipairs(page.AttachedPolicies or {}) do
        ctx:log("detaching %s from role %s", p.PolicyArn, name)
        iam:call("DetachRolePolicy", { RoleName = name, PolicyArn = p.PolicyArn })
      end
    end
    for page in iam:paginate("ListRolePolicies", { RoleName = name }) do
      for _, p in ipairs(page.PolicyNames or {}) do
        ctx:log("deleting inline policy %s of role %s", p, name)
        iam:call("DeleteRolePolicy", { RoleName = name, PolicyName = p })
      end
    end
  end)
  if not ok and not kit.is_code(err, "NoSuchEntity") then error(err, 0) end
end

return resource.define "aws.iam.role" {
  description = "an IAM role with its trust (assume-role) policy",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    path = { type = "string", default = "/", force_new = true },
    assume_role_policy = { type = "any", required = true },
    description = { type = "string" },
    max_session_duration = { type = "integer", default = 3600 },
    exclusive_policies = { type = "boolean", description = "the role owns its policies (default true)" },
    unmanaged_policies = { type = "map", of = "string",
      description = "policies no declared attachment or inline policy manages, as read: removed on apply" },
    tags = { type = "tags" },
  },
  outputs = { "arn", "unique_id" },

  unique_name = "name",
  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = get(ctx, want.name)
    if not existing then return {} end
    local current = observe(existing, want)
    if not kit.owns(ctx, current.tags) then
      ctx:fail("AlreadyExists", "an IAM role named %s already exists and is not this resource's (no tag %s=%s): "
        .. "import it with 'wpo import', or choose another name", want.name, resource.TAG_ADDRESS, ctx.address)
    end
    return { current }
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    if found then
      converge(ctx, found, want)
      return read(ctx, want.name, { inputs = want })
    end
    local role = aws.required(ctx:aws("iam"):call("CreateRole", {
      RoleName = want.name, Path = want.path, AssumeRolePolicyDocument = policy.encode(want.assume_role_policy),
      Description = want.description, MaxSessionDuration = want.max_session_duration,
      Tags = kit.tag_list(want.tags),
    }), "Role")
    local observed = observe(role, want)
    observed.tags = want.tags
    return observed
  end,

  read = function(ctx, id, prior)
    local o = read(ctx, id, prior)
    if o and not (prior and prior.inputs and prior.inputs.exclusive_policies == false) then
      o.unmanaged_policies = unmanaged(ctx, id)
    end
    return o
  end,

  update = function(ctx, id, old, new)
    check(ctx, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the IAM role %s no longer exists", id) end
    converge(ctx, current, new)
    remove_unmanaged(ctx, id, old, new)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id)
    local iam = ctx:aws("iam")
    local out, err = iam:pcall("DeleteRole", { RoleName = id })
    if out or kit.is_code(err, "NoSuchEntity") then return end
    if err.code ~= "DeleteConflict" then error(err, 0) end
    detach_all(ctx, id)
    out, err = iam:pcall("DeleteRole", { RoleName = id })
    if out or kit.is_code(err, "NoSuchEntity") then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies" },
    create = { "iam:CreateRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole" },
    update = { "iam:CreateRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:RemoveRoleFromInstanceProfile", "iam:TagRole",
      "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole" },
    delete = { "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
      "iam:RemoveRoleFromInstanceProfile" },
    scoped = { "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:GetRole",
      "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies", "iam:TagRole",
      "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole" },
    resources = function(a)
      local path = a.path or "/"
      if iamlib.known(a.name) and iamlib.known(path) then return iamlib.path_arns("role", path, a.name) end
    end,
  },
}
