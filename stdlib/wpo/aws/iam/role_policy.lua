-- aws.iam.role_policy: an inline policy of an IAM role.
--
-- Attributes:
--   role    the role's name, force_new
--   name    the policy's name, force_new
--   policy  the document: a table (see wpo.aws.iam.policy) or JSON text
-- Outputs: id ("<role>:<name>").
--
-- Create and update are PutRolePolicy (which replaces the document whole);
-- the document is checked before it is sent. Read compares documents by
-- content (IAM answers them URL-encoded, with its own spacing). Delete: a
-- policy or role already gone is fine.
local aws = require "wpo.aws"
local policy = require "wpo.aws.iam.policy"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local MAX_BYTES = 10240   -- IAM's limit on a role's inline policies (whitespace excluded)

local function split(id)
  local role, name = tostring(id):match("^([^:]+):(.+)$")
  return role, name
end

local function put(ctx, want)
  local problem = policy.check(want.policy)
  if problem then ctx:fail("InvalidPolicy", "policy: %s", problem) end
  local text = policy.encode(want.policy)
  if #text:gsub("%s", "") > MAX_BYTES then
    ctx:fail("InvalidPolicy", "the policy is %d bytes: IAM allows %d for a role's inline policies", #text, MAX_BYTES)
  end
  ctx:aws("iam"):call("PutRolePolicy", { RoleName = want.role, PolicyName = want.name, PolicyDocument = text })
  return { id = want.role .. ":" .. want.name, role = want.role, name = want.name, policy = want.policy }
end

return resource.define "aws.iam.role_policy" {
  description = "an inline policy of an IAM role",
  attributes = {
    role = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    policy = { type = "any", required = true },
  },
  outputs = { "id" },

  -- PutRolePolicy is an upsert: the policy is found by its role and name,
  -- and taken as it is when it holds the wanted document
  found_by = "its role and name (holding the wanted document)",
  find = function(ctx, want)
    local out, err = ctx:aws("iam"):pcall("GetRolePolicy", { RoleName = want.role, PolicyName = want.name })
    if not out then
      if kit.is_code(err, "NoSuchEntity") then return {} end
      error(err, 0)
    end
    if not policy.same(want.policy, policy.decode(out.PolicyDocument)) then return {} end
    return { { id = want.role .. ":" .. want.name, role = want.role, name = want.name, policy = want.policy } }
  end,

  create = function(ctx, want, found)
    if found then return found end
    return put(ctx, want)
  end,

  read = function(ctx, id, prior)
    local role, name = split(id)
    if not role then ctx:fail("InvalidId", "%s is not <role>:<policy name>", tostring(id)) end
    local out, err = ctx:aws("iam"):pcall("GetRolePolicy", { RoleName = role, PolicyName = name })
    if not out then
      if kit.is_code(err, "NoSuchEntity") then return nil end
      error(err, 0)
    end
    local doc = policy.decode(aws.required(out, "PolicyDocument"))
    local given = prior and prior.inputs and prior.inputs.policy
    if given ~= nil and policy.same(given, doc) then doc = given end
    return { id = id, role = out.RoleName, name = out.PolicyName, policy = doc }
  end,

  update = function(ctx, _, _, new) return put(ctx, new) end,

  delete = function(ctx, id)
    local role, name = split(id)
    local out, err = ctx:aws("iam"):pcall("DeleteRolePolicy", { RoleName = role, PolicyName = name })
    if out or kit.is_code(err, "NoSuchEntity") then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "iam:GetRolePolicy" },
    create = { "iam:PutRolePolicy" },
    update = { "iam:PutRolePolicy" },
    delete = { "iam:DeleteRolePolicy" },
    scoped = { "iam:DeleteRolePolicy", "iam:GetRolePolicy", "iam:PutRolePolicy" },
    resources = function(_, env) return env.roles end,   -- the stack's own roles
  },
}
