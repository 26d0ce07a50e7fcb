-- aws.elbv2.listener_rule: a rule of an ALB listener (aws.elbv2.listener):
-- the requests its conditions match get its action instead of the
-- listener's default_action.
--
-- Attributes:
--   listener_arn  force_new
--   priority      1..50000, unique on the listener (lower first); changes in place
--   conditions    { http_header = { name = "X-Origin-Verify", values = { "..." } },
--                   path_pattern = { "/wp-admin/*" }, host_header = { "www.example.com" } }:
--                 at least one; a request must match all those given (any value
--                 of each); at most 5 values in all. Sensitive: it may hold a
--                 secret header value (the one only CloudFront sends), so plans,
--                 state listings and debug logs never show it
--   action        as aws.elbv2.listener's default_action: forward / redirect /
--                 fixed-response (wpo.aws.elbv2.action)
--   tags
-- Outputs: id = arn (the rule's ARN, which import takes).
--
-- A create whose answer was lost is found again among the listener's rules
-- by its wpo:address tag; a rule at the same priority made by someone else is
-- refused (import it, or choose another priority). Priority, conditions,
-- action and tags change in place. Delete: a rule already gone is fine.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local action = require "wpo.aws.elbv2.action"

local GONE = { "RuleNotFound", "ListenerNotFound" }

local function client(ctx) return ctx:aws("elbv2") end

local function describe(ctx, arn)
  local out, err = kit.try(client(ctx), "DescribeRules", { RuleArns = { arn } })
  if not out then
    if kit.is_code(err, table.unpack(GONE)) then return nil end
    error(err, 0)
  end
  return (out.Rules or {})[1]
end

local function tags_of(ctx, arns)
  local out = {}
  for chunk in kit.chunks(arns, 20) do
    local res = client(ctx):call("DescribeTags", { ResourceArns = chunk })
    for _, d in ipairs(res.TagDescriptions or {}) do out[d.ResourceArn] = kit.tag_map(d.Tags) end
  end
  return out
end

local function conditions_in(c)
  local out = {}
  if c.host_header then
    out[#out + 1] = { Field = "host-header", HostHeaderConfig = { Values = c.host_header } }
  end
  if c.path_pattern then
    out[#out + 1] = { Field = "path-pattern", PathPatternConfig = { Values = c.path_pattern } }
  end
  if c.http_header then
    out[#out + 1] = { Field = "http-header",
      HttpHeaderConfig = { HttpHeaderName = c.http_header.name, Values = c.http_header.values } }
  end
  return out
end

local function conditions_out(list, given)
  given = given or {}
  local out = {}
  for _, c in ipairs(list or {}) do
    if c.Field == "host-header" then
      out.host_header = kit.as_prior_order((c.HostHeaderConfig or {}).Values or c.Values, given.host_header)
    elseif c.Field == "path-pattern" then
      out.path_pattern = kit.as_prior_order((c.PathPatternConfig or {}).Values or c.Values, given.path_pattern)
    elseif c.Field == "http-header" then
      local h = c.HttpHeaderConfig or {}
      local name = h.HttpHeaderName
      -- header names are case-insensitive
      if given.http_header and type(name) == "string" and type(given.http_header.name) == "string"
          and name:lower() == given.http_header.name:lower() then
        name = given.http_header.name
      end
      out.http_header = { name = name,
        values = kit.as_prior_order(h.Values, given.http_header and given.http_header.values) }
    else
      -- a condition wpo does not write: shown as a change the plan will undo
      out[tostring(c.Field)] = c.Values or true
    end
  end
  return out
end

local function observe(ctx, rule, prior_inputs, tags)
  prior_inputs = prior_inputs or {}
  tags = tags or tags_of(ctx, { rule.RuleArn })[rule.RuleArn]
  -- the rule's ARN names its listener: listener-rule/app/<lb>/<id>/<listener>/<rule>
  local listener_arn = rule.RuleArn:gsub(":listener%-rule/(.*)/[^/]+$", ":listener/%1")
  return { id = rule.RuleArn, arn = rule.RuleArn, listener_arn = listener_arn,
    priority = math.tointeger(tonumber(rule.Priority)) or rule.Priority,
    conditions = conditions_out(rule.Conditions, prior_inputs.conditions),
    action = action.from_aws((rule.Actions or {})[1], prior_inputs.action),
    tags = kit.user_tags(tags) }
end

local function check(ctx, want)
  local c = want.conditions or {}
  local count = #(c.host_header or {}) + #(c.path_pattern or {})
  if c.http_header then
    if not c.http_header.name or #(c.http_header.values or {}) == 0 then
      kit.fail(ctx, "InvalidParameterValue", "conditions.http_header needs a name and at least one value")
    end
    count = count + #c.http_header.values
  end
  if count == 0 then
    kit.fail(ctx, "InvalidParameterValue", "a listener rule needs at least one condition (http_header, "
      .. "path_pattern or host_header) with a value")
  end
  if count > 5 then
    kit.fail(ctx, "InvalidParameterValue", "a listener rule takes at most 5 condition values in all (%d given)", count)
  end
  if math.type(want.priority) ~= "integer" or want.priority < 1 or want.priority > 50000 then
    kit.fail(ctx, "InvalidParameterValue", "priority must be a whole number from 1 to 50000, not %s",
      tostring(want.priority))
  end
  action.check(ctx, want.action)
end

-- brings the rule to want: its priority when it differs, its conditions and
-- action unless `modify` is false (only tags or the priority changed)
local function converge(ctx, arn, rule, want, old_tags, modify)
  local elb = client(ctx)
  if math.tointeger(tonumber(rule.Priority)) ~= want.priority then
    elb:call("SetRulePriorities", { RulePriorities = { { RuleArn = arn, Priority = want.priority } } })
  end
  if modify ~= false then
    elb:call("ModifyRule", { RuleArn = arn, Conditions = conditions_in(want.conditions),
      Actions = { action.to_aws(want.action) } })
  end
  local set, remove = kit.tag_changes(old_tags, want.tags)
  if #remove > 0 then elb:call("RemoveTags", { ResourceArns = { arn }, TagKeys = remove }) end
  if next(set) then elb:call("AddTags", { ResourceArns = { arn }, Tags = kit.tag_list(set) }) end
end

local function read_back(ctx, arn, want)
  local rule = describe(ctx, arn)
  if not rule then kit.fail(ctx, "NotFound", "the listener rule %s cannot be read back", arn) end
  return observe(ctx, rule, want)
end

return resource.define "aws.elbv2.listener_rule" {
  description = "a rule of an ALB listener: conditions (header, path, host) and an action",
  attributes = {
    listener_arn = { type = "string", required = true, force_new = true },
    priority = { type = "integer", required = true },
    conditions = { type = "object", required = true, sensitive = true, fields = {
      http_header = { type = "object", fields = {
        name = { type = "string", required = true },
        values = { type = "list", of = "string", required = true },
      } },
      path_pattern = { type = "list", of = "string" },
      host_header = { type = "list", of = "string" },
    } },
    action = action.attribute(true),
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },

  found_by = "its listener's rules (tagged with its wpo:address)",
  find = function(ctx, want)
    local rules = client(ctx):collect("DescribeRules", { ListenerArn = want.listener_arn }).Rules or {}
    local arns, at_priority = {}, nil
    for _, r in ipairs(rules) do
      if not r.IsDefault then
        arns[#arns + 1] = r.RuleArn
        if tonumber(r.Priority) == want.priority then at_priority = r end
      end
    end
    if #arns == 0 then return {} end
    local tags = tags_of(ctx, arns)
    for _, r in ipairs(rules) do
      local t = tags[r.RuleArn]
      if t and kit.owns(ctx, t) then
        return { { id = r.RuleArn, tags = t, object = r } }
      end
    end
    if at_priority then
      kit.fail(ctx, "AlreadyExists", "the listener already has a rule at priority %d not made by this resource "
        .. "(import it with 'wpo import', or choose another priority)", want.priority)
    end
    return {}
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    if found then
      converge(ctx, found.id, found.object, want, kit.user_tags(found.tags))
      return read_back(ctx, found.id, want)
    end
    local out = client(ctx):call("CreateRule", { ListenerArn = want.listener_arn, Priority = want.priority,
      Conditions = conditions_in(want.conditions), Actions = { action.to_aws(want.action) },
      Tags = kit.tag_list(want.tags) })
    local rule = (out.Rules or {})[1]
    if not rule or not rule.RuleArn then
      kit.fail(ctx, "NotFound", "CreateRule answered no rule")
    end
    return read_back(ctx, rule.RuleArn, want)
  end,

  read = function(ctx, id, prior)
    local rule = describe(ctx, id)
    if not rule then return nil end
    return observe(ctx, rule, prior and prior.inputs)
  end,

  import = function(ctx, id)
    local rule = describe(ctx, id)
    return rule and observe(ctx, rule) or nil
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local rule = describe(ctx, id)
    if not rule then kit.fail(ctx, "NotFound", "the listener rule %s is gone", id) end
    local modify = false
    for _, n in ipairs(changed or { "conditions" }) do
      if n == "conditions" or n == "action" then modify = true end
    end
    converge(ctx, id, rule, new, old.tags, modify)
    return read_back(ctx, id, new)
  end,

  delete = function(ctx, id)
    local _, err = kit.try(client(ctx), "DeleteRule", { RuleArn = id })
    if err and not kit.is_code(err, table.unpack(GONE)) then error(err, 0) end
  end,

  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags" },
    create = { "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateRule",
      "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags", "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:RemoveTags", "elasticloadbalancing:SetRulePriorities" },
    update = { "elasticloadbalancing:AddTags", "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:ModifyRule", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:SetRulePriorities" },
    delete = { "elasticloadbalancing:DeleteRule" },
  },
}
