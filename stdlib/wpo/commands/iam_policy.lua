-- wpo iam-policy STACK [--for plan|apply|destroy]: the least-privilege IAM
-- policy wpo needs for that stack (wpo.iam).
local errors = require "wpo.errors"
local workflow = require "wpo.workflow"
local iam = require "wpo.iam"

local M = {
  summary = "print the least-privilege IAM policy wpo needs for the stack (JSON)",
  args = { "STACK" },
  options = workflow.options({
    ["for"] = { type = "string", default = "apply", choices = { "plan", "apply", "destroy" }, metavar = "PHASE",
                help = "plan (reads only), apply (run and apply: create, update, replace, delete) or destroy" },
  }, { var = workflow.STACK_OPTIONS.var, var_file = workflow.STACK_OPTIONS.var_file,
      ref = workflow.STACK_OPTIONS.ref, offline = workflow.STACK_OPTIONS.offline }),
  help = "Every resource type declares the IAM actions it calls while planning, creating, updating and\n"
    .. "deleting, and the ARNs IAM can limit them to (roles, log groups, parameters, secrets by the\n"
    .. "stack's names; iam:PassRole to the stack's own roles). The state backend's S3, DynamoDB and KMS\n"
    .. "actions are limited to its bucket and key, table and KMS key. The policy holds no wildcard action.",
}

function M.run(opts, args)
  local stack = workflow.load(opts, args[1])
  local doc, missing = iam.policy(stack, opts["for"])
  if #missing > 0 then
    errors.raise { code = "IamUndeclared", message = "these resource types do not declare the IAM actions they "
      .. "call, so no policy can be given: " .. table.concat(missing, ", ") }
  end
  io.stdout:write(iam.json(doc))
  return 0
end

return M
