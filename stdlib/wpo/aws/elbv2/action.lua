-- wpo.aws.elbv2.action: the action of an ALB listener (its default_action)
-- and of a listener rule (its action), one shape for both:
--
--   { type = "forward", target_group_arn = tg.arn }
--   { type = "redirect", redirect = { protocol = "HTTPS", port = "443", host, path, query,
--                                     status_code = "HTTP_301" | "HTTP_302" } }
--   { type = "fixed-response", fixed_response = { status_code = "404", content_type, message_body } }
--
-- Not a resource type: aws.elbv2.listener and aws.elbv2.listener_rule use it.
local kit = require "wpo.aws.typekit"

local M = {}

-- action.attribute(required) -> the attribute spec of an action
function M.attribute(required)
  return { type = "object", required = required, fields = {
    type = { type = "string", required = true, choices = { "forward", "redirect", "fixed-response" } },
    target_group_arn = { type = "string" },
    redirect = { type = "object", fields = {
      protocol = { type = "string" }, port = { type = "string" }, host = { type = "string" },
      path = { type = "string" }, query = { type = "string" },
      status_code = { type = "string", choices = { "HTTP_301", "HTTP_302" } },
    } },
    fixed_response = { type = "object", fields = {
      status_code = { type = "string" }, content_type = { type = "string" }, message_body = { type = "string" },
    } },
  } }
end

-- action.to_aws(a) -> the Action member ELBv2 takes
function M.to_aws(a)
  local out = { Type = a.type }
  if a.type == "forward" then
    out.TargetGroupArn = a.target_group_arn
  elseif a.type == "redirect" then
    local r = a.redirect or {}
    out.RedirectConfig = { Protocol = r.protocol, Port = r.port, Host = r.host, Path = r.path, Query = r.query,
      StatusCode = r.status_code or "HTTP_301" }
  elseif a.type == "fixed-response" then
    local f = a.fixed_response or {}
    out.FixedResponseConfig = { StatusCode = f.status_code, ContentType = f.content_type, MessageBody = f.message_body }
  end
  return out
end

-- action.from_aws(a, given?) -> the action ELBv2 answered, in the stack's
-- shape; `given` (what the script asked for) when it holds the same (what
-- AWS adds, its defaults, is no drift)
function M.from_aws(a, given)
  a = a or {}
  local out = { type = a.Type }
  if a.Type == "forward" then
    out.target_group_arn = a.TargetGroupArn
    if not out.target_group_arn and a.ForwardConfig then
      out.target_group_arn = ((a.ForwardConfig.TargetGroups or {})[1] or {}).TargetGroupArn
    end
  elseif a.Type == "redirect" then
    local r = a.RedirectConfig or {}
    out.redirect = { protocol = r.Protocol, port = r.Port, host = r.Host, path = r.Path, query = r.Query,
      status_code = r.StatusCode }
  elseif a.Type == "fixed-response" then
    local f = a.FixedResponseConfig or {}
    out.fixed_response = { status_code = f.StatusCode, content_type = f.ContentType, message_body = f.MessageBody }
  end
  if given and kit.contains(given, out) then return given end
  return out
end

-- action.check(ctx, a, what) : raises (naming the resource) when a lacks what its type needs
function M.check(ctx, a, what)
  what = what or "action"
  if a.type == "forward" and not a.target_group_arn then
    kit.fail(ctx, "InvalidParameterValue", "a forward %s needs target_group_arn", what)
  elseif a.type == "redirect" and not a.redirect then
    kit.fail(ctx, "InvalidParameterValue", "a redirect %s needs redirect = { protocol, port, status_code }", what)
  elseif a.type == "fixed-response" and not (a.fixed_response and a.fixed_response.status_code) then
    kit.fail(ctx, "InvalidParameterValue", "a fixed-response %s needs fixed_response = { status_code }", what)
  end
end

return M
