-- aws.wafv2.web_acl: an AWS WAF web ACL of AWS managed rule groups and a
-- rate limit by IP.
--
-- Attributes:
--   name                 force_new (1-128 of [A-Za-z0-9_-])
--   scope                "REGIONAL" (default: for load balancers) | "CLOUDFRONT"
--                        (for distributions: made in us-east-1, so the resource's
--                        provider must be in us-east-1); force_new
--   default_action       "allow" (default) | "block": what a request no rule
--                        decides gets
--   managed_rule_groups  list of { name, vendor = "AWS", override = "none" | "count" }:
--                        each a rule, its priority its place in the list (0, 1...);
--                        override "count" only counts what the group would block
--   rate_limit           optional { limit = 100..2000000000 requests per 5 minutes
--                        from one IP, action = "block" (default) | "count" }: a
--                        rule after the groups
--   metric_name          the CloudWatch metric of the ACL (default: the name);
--                        its rules' are "<metric_name>-<rule>"; metrics and
--                        sampled requests are on
--   tags
-- Outputs: id (the web ACL's id), arn (what a load balancer's association
-- and a CloudFront distribution's web_acl_id take).
--
-- Names are unique per scope and region: a create whose answer was lost is
-- found again by its name (and adopted when tagged with this resource's
-- address). Every change carries the lock token read just before it; one that
-- went stale meanwhile (WAFOptimisticLockException) is read and sent once
-- more. Read compares the rules as wpo writes them: what AWS adds is no drift.
-- Import takes the id, the ARN, or "<id>/<name>/<scope>".
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local value = require "wpo.value"

local RATE_RULE = "rate-limit"

local function client(ctx) return ctx:aws("wafv2") end

local function metric_of(want)
  return want.metric_name or want.name
end

-- the name of a group's rule: its own for AWS's groups, "<vendor>-<name>" otherwise
local function rule_name(g)
  local vendor = g.vendor or "AWS"
  return vendor == "AWS" and g.name or (vendor .. "-" .. g.name)
end

local function visibility(metric)
  return { SampledRequestsEnabled = true, CloudWatchMetricsEnabled = true, MetricName = metric }
end

local function rules_of(want)
  local metric = metric_of(want)
  local rules = {}
  for i, g in ipairs(want.managed_rule_groups or {}) do
    local name = rule_name(g)
    rules[#rules + 1] = { Name = name, Priority = i - 1,
      OverrideAction = (g.override == "count") and { Count = {} } or { None = {} },
      Statement = { ManagedRuleGroupStatement = { VendorName = g.vendor or "AWS", Name = g.name } },
      VisibilityConfig = visibility(metric .. "-" .. name) }
  end
  local r = want.rate_limit
  if r and r.limit ~= nil then
    rules[#rules + 1] = { Name = RATE_RULE, Priority = #rules,
      Action = (r.action == "count") and { Count = {} } or { Block = {} },
      Statement = { RateBasedStatement = { Limit = r.limit, AggregateKeyType = "IP" } },
      VisibilityConfig = visibility(metric .. "-" .. RATE_RULE) }
  end
  return rules
end

local function settings(want)
  return { DefaultAction = (want.default_action == "block") and { Block = {} } or { Allow = {} },
    Rules = rules_of(want), VisibilityConfig = visibility(metric_of(want)) }
end

-- the web ACL's name, scope and id from its ARN
-- (arn:aws:wafv2:<region>:<account>:regional|global/webacl/<name>/<id>)
local function parse_arn(arn)
  local kind, name, id = tostring(arn):match("^arn:aws[%w-]*:wafv2:[%w-]*:%d*:(%a+)/webacl/([%w_-]+)/([%w-]+)$")
  if not kind then return nil end
  return name, (kind == "global") and "CLOUDFRONT" or "REGIONAL", id
end

-- where the web ACL is: its name and scope (from the state's inputs, or the
-- id an import was given) and its id
local function locate(id, prior)
  local inputs = prior and prior.inputs or {}
  if inputs.name and inputs.scope then return inputs.name, inputs.scope, id end
  local name, scope, acl_id = parse_arn(id)
  if name then return name, scope, acl_id end
  acl_id, name, scope = tostring(id):match("^([%w-]+)/([%w_-]+)/(%u+)$")
  return name, scope, acl_id
end

local function get(ctx, name, scope, id)
  local out, err = kit.try(client(ctx), "GetWebACL", { Name = name, Scope = scope, Id = id })
  if not out then
    if kit.is_code(err, "WAFNonexistentItemException") then return nil end
    error(err, 0)
  end
  return out.WebACL, out.LockToken
end

local function tags_of(ctx, arn)
  local out, err = kit.try(client(ctx), "ListTagsForResource", { ResourceARN = arn })
  if not out then
    if kit.is_code(err, "WAFNonexistentItemException") then return {} end
    error(err, 0)
  end
  return kit.tag_map((out.TagInfoForResource or {}).TagList)
end

-- one of AWS's rules, as wpo writes them: a managed group (with its place) or
-- the rate limit; nil for a rule of another kind
local function group_of(rule)
  local st = rule.Statement or {}
  local m = st.ManagedRuleGroupStatement
  if m and not m.ScopeDownStatement and not m.Version and not next(m.ExcludedRules or {})
      and not next(m.RuleActionOverrides or {}) and not next(m.ManagedRuleGroupConfigs or {}) then
    local override = (rule.OverrideAction or {}).Count and "count" or "none"
    return { name = m.Name, vendor = m.VendorName, override = override }
  end
  return nil
end

local function rate_of(rule)
  local rb = (rule.Statement or {}).RateBasedStatement
  if rb and rb.AggregateKeyType == "IP" and not rb.ScopeDownStatement and rule.Action then
    local action = rule.Action.Block and "block" or rule.Action.Count and "count" or "other"
    return { limit = math.tointeger(rb.Limit) or rb.Limit, action = action }
  end
  return nil
end

-- the groups and rate limit as given, with their defaults
local function full_groups(list)
  local out = {}
  for i, g in ipairs(list or {}) do
    out[i] = { name = g.name, vendor = g.vendor or "AWS", override = g.override or "none" }
  end
  return out
end

local function full_rate(r)
  return r and { limit = r.limit, action = r.action or "block" } or nil
end

local function observe(ctx, acl, scope, prior)
  local inputs = prior and prior.inputs or {}
  local rules = {}
  for _, r in ipairs(acl.Rules or {}) do rules[#rules + 1] = r end
  table.sort(rules, function(a, b) return (a.Priority or 0) < (b.Priority or 0) end)
  local groups, rate = {}, nil
  for i, r in ipairs(rules) do
    local g = group_of(r)
    local rl = not g and rate_of(r)
    if g and not rate then
      groups[#groups + 1] = g
    elseif rl and i == #rules then
      rate = rl
    else
      -- a rule wpo does not write (or out of place): seen as a group that
      -- differs from every group a script can ask for, so the plan shows it
      groups[#groups + 1] = { name = tostring(r.Name), vendor = "(a rule that is not a managed rule group)",
        override = "none" }
    end
  end
  -- what the script gave, when it means the same (defaults left out)
  if inputs.managed_rule_groups and value.equal(full_groups(inputs.managed_rule_groups), groups) then
    groups = inputs.managed_rule_groups
  end
  if inputs.rate_limit and value.equal(full_rate(inputs.rate_limit), rate) then rate = inputs.rate_limit end
  -- gone while the script has one: {} (a nil would read as "unchanged")
  if rate == nil and inputs.rate_limit ~= nil then rate = {} end
  local metric = (acl.VisibilityConfig or {}).MetricName
  if inputs.metric_name == nil and metric == acl.Name then metric = nil end
  return { id = acl.Id, arn = acl.ARN, name = acl.Name, scope = scope,
    default_action = (acl.DefaultAction or {}).Block and "block" or "allow",
    managed_rule_groups = groups, rate_limit = rate, metric_name = metric,
    tags = kit.user_tags(tags_of(ctx, acl.ARN)) }
end

local function check_region(ctx, want)
  if want.scope == "CLOUDFRONT" and ctx.region ~= "us-east-1" then
    kit.fail(ctx, "InvalidParameterValue", "a web ACL of scope CLOUDFRONT is made in us-east-1, not %s: give this "
      .. "resource a provider in us-east-1 (provider = s:provider(\"edge\", { region = \"us-east-1\" }))",
      tostring(ctx.region))
  end
  local seen = {}
  for _, g in ipairs(want.managed_rule_groups or {}) do
    local name = rule_name(g)
    if name == RATE_RULE or seen[name] then
      kit.fail(ctx, "InvalidParameterValue", "managed_rule_groups names %s twice", name)
    end
    seen[name] = true
  end
  local r = want.rate_limit
  if r and (math.type(r.limit) ~= "integer" or r.limit < 100 or r.limit > 2000000000) then
    kit.fail(ctx, "InvalidParameterValue", "rate_limit.limit must be a whole number of requests per 5 minutes "
      .. "from 100 to 2000000000, not %s", tostring(r.limit))
  end
end

-- UpdateWebACL with the lock token read just before; a token gone stale in
-- between (another writer) is read and sent once more
local function put(ctx, name, scope, id, want)
  local waf = client(ctx)
  for attempt = 1, 2 do
    local acl, token = get(ctx, name, scope, id)
    if not acl then kit.fail(ctx, "NotFound", "the web ACL %s (%s) is gone", name, id) end
    local p = settings(want)
    p.Name, p.Scope, p.Id, p.LockToken = name, scope, id, token
    local out, err = kit.try(waf, "UpdateWebACL", p)
    if out then return end
    if not (attempt == 1 and kit.is_code(err, "WAFOptimisticLockException")) then error(err, 0) end
    ctx:log("the web ACL %s changed while it was being updated (stale lock token): reading it again", name)
  end
end

local function retag(ctx, arn, old, new)
  local waf = client(ctx)
  local set, remove = kit.tag_changes(old, new)
  if #remove > 0 then waf:call("UntagResource", { ResourceARN = arn, TagKeys = remove }) end
  if next(set) then waf:call("TagResource", { ResourceARN = arn, Tags = kit.tag_list(set) }) end
end

local function read_back(ctx, name, scope, id, want)
  local acl = get(ctx, name, scope, id)
  if not acl then kit.fail(ctx, "NotFound", "the web ACL %s (%s) cannot be read back", name, id) end
  return observe(ctx, acl, scope, { inputs = want })
end

-- the summary of the web ACL of that name in that scope, or nil
local function by_name(ctx, name, scope)
  local waf = client(ctx)
  local marker
  repeat
    local out = waf:call("ListWebACLs", { Scope = scope, NextMarker = marker, Limit = 100 })
    for _, s in ipairs(out.WebACLs or {}) do
      if s.Name == name then return s end
    end
    marker = out.NextMarker
  until not marker or #(out.WebACLs or {}) == 0
  return nil
end

-- the name, scope and id of the web ACL of that id (REGIONAL, or CLOUDFRONT
-- in us-east-1), or nil
local function by_id(ctx, id)
  local scopes = { "REGIONAL" }
  if ctx.region == "us-east-1" then scopes[2] = "CLOUDFRONT" end
  for _, scope in ipairs(scopes) do
    local marker
    repeat
      local out = client(ctx):call("ListWebACLs", { Scope = scope, NextMarker = marker, Limit = 100 })
      for _, s in ipairs(out.WebACLs or {}) do
        if s.Id == id then return s.Name, scope, s.Id end
      end
      marker = out.NextMarker
    until not marker or #(out.WebACLs or {}) == 0
  end
  return nil
end

local function find(ctx, want)
  local s = by_name(ctx, want.name, want.scope)
  if not s then return {} end
  local found = kit.named(ctx, "a " .. want.scope .. " web ACL", want.name, tags_of(ctx, s.ARN), s)
  found[1].id = s.Id
  return found
end

return resource.define "aws.wafv2.web_acl" {
  description = "an AWS WAF web ACL: AWS managed rule groups and a rate limit by IP",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    scope = { type = "string", default = "REGIONAL", choices = { "REGIONAL", "CLOUDFRONT" }, force_new = true },
    default_action = { type = "string", default = "allow", choices = { "allow", "block" } },
    managed_rule_groups = { type = "list", default = {}, of = { type = "object", fields = {
      name = { type = "string", required = true },
      vendor = { type = "string", default = "AWS" },
      override = { type = "string", default = "none", choices = { "none", "count" } },
    } } },
    rate_limit = { type = "object", fields = {
      limit = { type = "integer", required = true },
      action = { type = "string", default = "block", choices = { "block", "count" } },
    } },
    metric_name = { type = "string" },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },

  check = function(ctx, after)
    check_region(ctx, after)
  end,

  found_by = "its name in its scope (tagged with its wpo:address)",
  find = find,

  create = function(ctx, want, found)
    check_region(ctx, want)
    if not found then
      local p = settings(want)
      p.Name, p.Scope, p.Tags = want.name, want.scope, kit.tag_list(want.tags)
      local out, err = kit.try(client(ctx), "CreateWebACL", p)
      if out then
        local s = out.Summary or {}
        return read_back(ctx, want.name, want.scope, s.Id, want)
      end
      if not kit.is_code(err, "WAFDuplicateItemException") then error(err, 0) end
      -- the name is taken: by this resource's own earlier create (adopted), or not (AlreadyExists)
      found = find(ctx, want)[1]
      if not found then error(err, 0) end
    end
    local s = found.object
    put(ctx, want.name, want.scope, s.Id, want)
    retag(ctx, s.ARN, kit.user_tags(found.tags), want.tags)
    return read_back(ctx, want.name, want.scope, s.Id, want)
  end,

  read = function(ctx, id, prior)
    local name, scope, acl_id = locate(id, prior)
    if not name then
      name, scope, acl_id = by_id(ctx, id)
      if not name then return nil end
    end
    local acl = get(ctx, name, scope, acl_id)
    return acl and observe(ctx, acl, scope, prior) or nil
  end,

  update = function(ctx, id, old, new, changed)
    check_region(ctx, new)
    local rules = false
    for _, n in ipairs(changed) do if n ~= "tags" then rules = true end end
    if rules then put(ctx, new.name, new.scope, id, new) end
    local acl = get(ctx, new.name, new.scope, id)
    if not acl then kit.fail(ctx, "NotFound", "the web ACL %s (%s) is gone", new.name, id) end
    retag(ctx, acl.ARN, old.tags, new.tags)
    return read_back(ctx, new.name, new.scope, id, new)
  end,

  delete = function(ctx, id, prior)
    local name, scope, acl_id = locate(id, prior)
    if not name then
      name, scope, acl_id = by_id(ctx, id)
      if not name then return end   -- no web ACL of that id: gone
    end
    local waf = client(ctx)
    for attempt = 1, 2 do
      local acl, token = get(ctx, name, scope, acl_id)
      if not acl then return end
      local _, err = kit.try(waf, "DeleteWebACL", { Name = name, Scope = scope, Id = acl_id, LockToken = token })
      if not err or kit.is_code(err, "WAFNonexistentItemException") then return end
      if kit.is_code(err, "WAFAssociatedItemException") then
        kit.fail(ctx, "ResourceInUse", "the web ACL %s is still associated with a resource (a load balancer, or a "
          .. "CloudFront distribution's web_acl_id): remove that first", name)
      end
      if not (attempt == 1 and kit.is_code(err, "WAFOptimisticLockException")) then error(err, 0) end
      ctx:log("the web ACL %s changed while it was being deleted (stale lock token): reading it again", name)
    end
  end,

  import = function(ctx, id)
    local name, scope, acl_id = locate(id)
    if not name and tostring(id):match("^[%x-]+$") then name, scope, acl_id = by_id(ctx, id) end
    if not name then
      kit.fail(ctx, "InvalidParameterValue", "import a web ACL by its id, its ARN, or <id>/<name>/<scope> (%s is "
        .. "none of them)", tostring(id))
    end
    local acl = get(ctx, name, scope, acl_id)
    return acl and observe(ctx, acl, scope) or nil
  end,

  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "wafv2:GetWebACL", "wafv2:ListTagsForResource", "wafv2:ListWebACLs" },
    create = { "wafv2:CreateWebACL", "wafv2:GetWebACL", "wafv2:ListTagsForResource", "wafv2:ListWebACLs",
      "wafv2:TagResource", "wafv2:UntagResource", "wafv2:UpdateWebACL" },
    update = { "wafv2:GetWebACL", "wafv2:TagResource", "wafv2:UntagResource", "wafv2:UpdateWebACL" },
    delete = { "wafv2:DeleteWebACL", "wafv2:GetWebACL", "wafv2:ListWebACLs" },
  },
}
