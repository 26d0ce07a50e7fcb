-- aws.elbv2.listener: a listener of an application load balancer.
--
--   default_action = { type = "forward", target_group_arn = tg.arn }
--                  | { type = "redirect", redirect = { protocol = "HTTPS", port = "443",
--                                                      status_code = "HTTP_301" } }
--                  | { type = "fixed-response", fixed_response = { status_code = "404",
--                                                                 content_type, message_body } }
--
-- HTTPS needs certificate_arn (an ACM certificate); its TLS policy defaults to
-- ELBSecurityPolicy-TLS13-1-2-2021-06. Port, protocol, certificate, policy and
-- action change in place. id = the ARN.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local action = require "wpo.aws.elbv2.action"

local DEFAULT_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"

local function client(ctx) return ctx:aws("elbv2") end

local function describe(ctx, arn)
  local out, err = kit.try(client(ctx), "DescribeListeners", { ListenerArns = { arn } })
  if err then
    if kit.is_code(err, "ListenerNotFound", "LoadBalancerNotFound") then return nil end
    error(err, 0)
  end
  return (out.Listeners or {})[1]
end

local function tags_of(ctx, arn)
  local out = client(ctx):call("DescribeTags", { ResourceArns = { arn } })
  local d = (out.TagDescriptions or {})[1]
  return kit.tag_map(d and d.Tags)
end

local function observed(ctx, li, prior_inputs)
  prior_inputs = prior_inputs or {}
  local default_action = action.from_aws((li.DefaultActions or {})[1], prior_inputs.default_action)
  local policy = li.SslPolicy
  if policy == DEFAULT_TLS_POLICY and prior_inputs.ssl_policy == nil then policy = nil end
  return { id = li.ListenerArn, arn = li.ListenerArn, load_balancer_arn = li.LoadBalancerArn, port = li.Port,
    protocol = li.Protocol, certificate_arn = ((li.Certificates or {})[1] or {}).CertificateArn,
    ssl_policy = policy, default_action = default_action, tags = kit.user_tags(tags_of(ctx, li.ListenerArn)) }
end

local function check(ctx, want)
  if want.protocol == "HTTPS" and not want.certificate_arn then
    kit.fail(ctx, "InvalidParameterValue", "an HTTPS listener needs certificate_arn")
  end
  if want.protocol == "HTTP" and (want.certificate_arn or want.ssl_policy) then
    kit.fail(ctx, "InvalidParameterValue", "certificate_arn and ssl_policy are for HTTPS listeners")
  end
  action.check(ctx, want.default_action)
end

local function params(want)
  local p = { Port = want.port, Protocol = want.protocol, DefaultActions = { action.to_aws(want.default_action) } }
  if want.protocol == "HTTPS" then
    p.Certificates = { { CertificateArn = want.certificate_arn } }
    p.SslPolicy = want.ssl_policy or DEFAULT_TLS_POLICY
  end
  return p
end

return resource.define "aws.elbv2.listener" {
  description = "an ALB listener (forward, redirect to HTTPS, fixed response)",
  attributes = {
    load_balancer_arn = { type = "string", required = true, force_new = true },
    port = { type = "integer", required = true },
    protocol = { type = "string", default = "HTTP", choices = { "HTTP", "HTTPS" } },
    certificate_arn = { type = "string" },
    ssl_policy = { type = "string" },
    default_action = action.attribute(true),
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },

  found_by = "its load balancer and port (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = client(ctx):collect("DescribeListeners", { LoadBalancerArn = want.load_balancer_arn }).Listeners
    for _, li in ipairs(existing or {}) do
      if li.Port == want.port then
        local tags = tags_of(ctx, li.ListenerArn)
        if tags[resource.TAG_ADDRESS] ~= ctx.address or (tags[resource.TAG_STACK] or ctx.stack) ~= ctx.stack then
          kit.fail(ctx, "AlreadyExists", "the load balancer already has a listener on port %d not made by this "
            .. "resource (import it with 'wpo import')", want.port)
        end
        return { { id = li.ListenerArn, tags = tags } }
      end
    end
    return {}
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local elb = client(ctx)
    if found then
      local p = params(want)
      p.ListenerArn = found.id
      return observed(ctx, aws.required(elb:call("ModifyListener", p), "Listeners", 1), want)
    end
    local p = params(want)
    p.LoadBalancerArn = want.load_balancer_arn
    p.Tags = kit.tag_list(want.tags)
    local li = aws.required(elb:call("CreateListener", p), "Listeners", 1)
    return observed(ctx, li, want)
  end,

  read = function(ctx, id, prior)
    local li = describe(ctx, id)
    return li and observed(ctx, li, prior and prior.inputs) or nil
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local elb = client(ctx)
    local modify = false
    for _, n in ipairs(changed) do if n ~= "tags" then modify = true end end
    if modify then
      local p = params(new)
      p.ListenerArn = id
      elb:call("ModifyListener", p)
    end
    local tset, removed = kit.tag_changes(old.tags, new.tags)
    if #removed > 0 then elb:call("RemoveTags", { ResourceArns = { id }, TagKeys = removed }) end
    if next(tset) then elb:call("AddTags", { ResourceArns = { id }, Tags = kit.tag_list(tset) }) end
    local li = describe(ctx, id)
    if not li then kit.fail(ctx, "NotFound", "the listener %s is gone", id) end
    return observed(ctx, li, new)
  end,

  delete = function(ctx, id)
    local _, err = kit.try(client(ctx), "DeleteListener", { ListenerArn = id })
    if err and not kit.is_code(err, "ListenerNotFound") then error(err, 0) end
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTags" },
    create = { "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:ModifyListener" },
    update = { "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:ModifyListener", "elasticloadbalancing:RemoveTags" },
    delete = { "elasticloadbalancing:DeleteListener", "elasticloadbalancing:RemoveTags" },
  },
}
