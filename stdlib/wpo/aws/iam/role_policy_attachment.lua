-- aws.iam.role_policy_attachment: a managed policy attached to an IAM role.
--
-- Attributes:
--   role        the role's name, force_new
--   policy_arn  the managed policy's ARN (AWS's own, e.g.
--               arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role,
--               or the account's), force_new
-- Outputs: id ("<role>/<policy_arn>").
--
-- Nothing updates in place: any change is a new attachment. Read pages
-- through the role's attached policies; a role that is gone means the
-- attachment is gone. Delete: already detached is fine.
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local function split(id)
  return tostring(id):match("^([^/]+)/(arn:.+)$")
end

local function attached(ctx, role, arn)
  local iam = ctx:aws("iam")
  local ok, found = pcall(function()
    for page in iam:paginate("ListAttachedRolePolicies", { RoleName = role }) do
      for _, p in ipairs(page.AttachedPolicies or {}) do
        if p.PolicyArn == arn then return true end
      end
    end
    return false
  end)
  if ok then return found end
  if type(found) == "table" and found.code == "NoSuchEntity" then return false end
  error(found, 0)
end

return resource.define "aws.iam.role_policy_attachment" {
  description = "a managed IAM policy attached to a role",
  attributes = {
    role = { type = "string", required = true, force_new = true },
    policy_arn = { type = "string", required = true, force_new = true },
  },
  outputs = { "id" },

  found_by = "its role's attached policies",
  find = function(ctx, want)
    if not attached(ctx, want.role, want.policy_arn) then return {} end
    return { { id = want.role .. "/" .. want.policy_arn, role = want.role, policy_arn = want.policy_arn } }
  end,

  create = function(ctx, want, found)
    if not want.policy_arn:match("^arn:aws[%w-]*:iam::[%w]+:policy/") then
      ctx:fail("InvalidAttribute", "policy_arn %q is not the ARN of a managed IAM policy", want.policy_arn)
    end
    if found then return found end
    ctx:aws("iam"):call("AttachRolePolicy", { RoleName = want.role, PolicyArn = want.policy_arn })
    return { id = want.role .. "/" .. want.policy_arn, role = want.role, policy_arn = want.policy_arn }
  end,

  read = function(ctx, id)
    local role, arn = split(id)
    if not role then ctx:fail("InvalidId", "%s is not <role>/<policy ARN>", tostring(id)) end
    if not attached(ctx, role, arn) then return nil end
    return { id = id, role = role, policy_arn = arn }
  end,

  delete = function(ctx, id)
    local role, arn = split(id)
    local out, err = ctx:aws("iam"):pcall("DetachRolePolicy", { RoleName = role, PolicyArn = arn })
    if out or kit.is_code(err, "NoSuchEntity") then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "iam:ListAttachedRolePolicies" },
    create = { "iam:AttachRolePolicy" },
    update = { "iam:AttachRolePolicy", "iam:DetachRolePolicy" },
    delete = { "iam:DetachRolePolicy" },
    scoped = { "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListAttachedRolePolicies" },
    resources = function(_, env) return env.roles end,   -- the stack's own roles
  },
}
