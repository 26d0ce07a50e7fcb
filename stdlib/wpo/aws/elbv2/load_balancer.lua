-- aws.elbv2.load_balancer: an application load balancer (internet-facing by
-- default) in public subnets, behind security groups.
--
-- Attributes set through ModifyLoadBalancerAttributes: idle_timeout,
-- deletion_protection (a protected ALB refuses destroy: turn it off first),
-- drop_invalid_header_fields (on by default), http2. Subnets and security
-- groups change in place. Create waits until the ALB is active; delete until
-- it is gone. id = the ARN; outputs arn, arn_suffix ("app/<name>/<id>", the
-- CloudWatch dimension), dns_name, zone_id (for alias records), vpc_id.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local ATTRS = {
  idle_timeout = "idle_timeout.timeout_seconds",
  deletion_protection = "deletion_protection.enabled",
  drop_invalid_header_fields = "routing.http.drop_invalid_header_fields.enabled",
  http2 = "routing.http2.enabled",
}

local function client(ctx) return ctx:aws("elbv2") end

local function describe(ctx, arn)
  local out, err = kit.try(client(ctx), "DescribeLoadBalancers", { LoadBalancerArns = { arn } })
  if err then
    if kit.is_code(err, "LoadBalancerNotFound") then return nil end
    error(err, 0)
  end
  return (out.LoadBalancers or {})[1]
end

local function tags_of(ctx, arn)
  local out = client(ctx):call("DescribeTags", { ResourceArns = { arn } })
  local d = (out.TagDescriptions or {})[1]
  return kit.tag_map(d and d.Tags)
end

local function attributes_of(ctx, arn)
  local out = client(ctx):call("DescribeLoadBalancerAttributes", { LoadBalancerArn = arn })
  local a = {}
  for _, kv in ipairs(out.Attributes or {}) do a[kv.Key] = kv.Value end
  return a
end

local function observed(ctx, lb, prior_inputs)
  prior_inputs = prior_inputs or {}
  local subnets = {}
  for _, z in ipairs(lb.AvailabilityZones or {}) do subnets[#subnets + 1] = z.SubnetId end
  local a = attributes_of(ctx, lb.LoadBalancerArn)
  return {
    id = lb.LoadBalancerArn, arn = lb.LoadBalancerArn, name = lb.LoadBalancerName,
    arn_suffix = lb.LoadBalancerArn:match(":loadbalancer/(.+)$"), dns_name = lb.DNSName,
    zone_id = lb.CanonicalHostedZoneId, vpc_id = lb.VpcId, internal = lb.Scheme == "internal",
    type = lb.Type, ip_address_type = lb.IpAddressType,
    subnet_ids = kit.as_prior_order(subnets, prior_inputs.subnet_ids),
    security_group_ids = kit.as_prior_order(lb.SecurityGroups or {}, prior_inputs.security_group_ids),
    idle_timeout = tonumber(a[ATTRS.idle_timeout]), deletion_protection = a[ATTRS.deletion_protection] == "true",
    drop_invalid_header_fields = a[ATTRS.drop_invalid_header_fields] == "true", http2 = a[ATTRS.http2] == "true",
    tags = kit.user_tags(tags_of(ctx, lb.LoadBalancerArn)),
  }
end

-- the attributes want gives, set unless the load balancer has them already
local function set_attributes(ctx, arn, want)
  local attrs = {
    { Key = ATTRS.idle_timeout, Value = tostring(math.tointeger(want.idle_timeout)) },
    { Key = ATTRS.deletion_protection, Value = tostring(want.deletion_protection) },
    { Key = ATTRS.drop_invalid_header_fields, Value = tostring(want.drop_invalid_header_fields) },
    { Key = ATTRS.http2, Value = tostring(want.http2) },
  }
  local have = attributes_of(ctx, arn)
  local same = true
  for _, kv in ipairs(attrs) do if have[kv.Key] ~= kv.Value then same = false end end
  if same then return end
  client(ctx):call("ModifyLoadBalancerAttributes", { LoadBalancerArn = arn, Attributes = attrs })
end

local function wait_active(ctx, arn)
  return kit.wait(ctx, function()
    local lb = describe(ctx, arn)
    if not lb then kit.fail(ctx, "NotFound", "the load balancer %s disappeared while provisioning", arn) end
    local code = lb.State and lb.State.Code
    if code == "failed" then
      kit.fail(ctx, "ProvisioningFailed", "the load balancer failed to provision: %s", tostring(lb.State.Reason))
    end
    return code == "active" and lb, code
  end, { what = "the load balancer to become active", timeout = 900, interval = 15 })
end

return resource.define "aws.elbv2.load_balancer" {
  description = "an application load balancer (public subnets, security groups)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    type = { type = "string", default = "application", force_new = true, choices = { "application" } },
    internal = { type = "boolean", default = false, force_new = true },
    subnet_ids = { type = "list", of = "string", required = true },
    security_group_ids = { type = "list", of = "string", required = true },
    ip_address_type = { type = "string", default = "ipv4", force_new = true, choices = { "ipv4", "dualstack" } },
    idle_timeout = { type = "integer", default = 60 },
    deletion_protection = { type = "boolean", default = false },
    drop_invalid_header_fields = { type = "boolean", default = true },
    http2 = { type = "boolean", default = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "arn_suffix", "dns_name", "zone_id", "vpc_id" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local out, err = kit.try(client(ctx), "DescribeLoadBalancers", { Names = { want.name } })
    if err and not kit.is_code(err, "LoadBalancerNotFound") then error(err, 0) end
    local existing = out and (out.LoadBalancers or {})[1]
    if not existing then return {} end
    local found = kit.named(ctx, "a load balancer", want.name, tags_of(ctx, existing.LoadBalancerArn))
    found[1].id = existing.LoadBalancerArn
    return found
  end,

  create = function(ctx, want, found)
    if #want.name > 32 or not want.name:match("^%w[%w-]*$") or want.name:match("%-$") then
      kit.fail(ctx, "InvalidParameterValue", "a load balancer name is up to 32 letters, digits and hyphens, not "
        .. "beginning or ending with a hyphen: %q", want.name)
    end
    if #want.subnet_ids < 2 then
      kit.fail(ctx, "InvalidParameterValue", "an application load balancer needs subnets in at least two AZs")
    end
    local elb = client(ctx)
    local arn
    if found then
      arn = found.id
    else
      arn = aws.required(elb:call("CreateLoadBalancer", { Name = want.name, Type = want.type,
        Subnets = want.subnet_ids, SecurityGroups = want.security_group_ids,
        Scheme = want.internal and "internal" or "internet-facing", IpAddressType = want.ip_address_type,
        Tags = kit.tag_list(want.tags) }), "LoadBalancers", 1, "LoadBalancerArn")
    end
    set_attributes(ctx, arn, want)
    return observed(ctx, wait_active(ctx, arn), want)
  end,

  read = function(ctx, id, prior)
    local lb = describe(ctx, id)
    return lb and observed(ctx, lb, prior and prior.inputs) or nil
  end,

  update = function(ctx, id, old, new, changed)
    local elb = client(ctx)
    local set_attrs = false
    for _, name in ipairs(changed) do
      if name == "subnet_ids" then
        elb:call("SetSubnets", { LoadBalancerArn = id, Subnets = new.subnet_ids })
      elseif name == "security_group_ids" then
        elb:call("SetSecurityGroups", { LoadBalancerArn = id, SecurityGroups = new.security_group_ids })
      elseif ATTRS[name] then
        set_attrs = true
      end
    end
    if set_attrs then set_attributes(ctx, id, new) end
    local tset, removed = kit.tag_changes(old.tags, new.tags)
    if #removed > 0 then elb:call("RemoveTags", { ResourceArns = { id }, TagKeys = removed }) end
    if next(tset) then elb:call("AddTags", { ResourceArns = { id }, Tags = kit.tag_list(tset) }) end
    local lb = describe(ctx, id)
    if not lb then kit.fail(ctx, "NotFound", "the load balancer %s is gone", id) end
    return observed(ctx, lb, new)
  end,

  delete = function(ctx, id)
    local _, err = kit.try(client(ctx), "DeleteLoadBalancer", { LoadBalancerArn = id })
    if err then
      if kit.is_code(err, "LoadBalancerNotFound") then return end
      if kit.is_code(err, "OperationNotPermitted") then
        kit.fail(ctx, "DeletionProtected", "the load balancer has deletion protection on: set deletion_protection = "
          .. "false and run again before destroying it (%s)", tostring(err.message))
      end
      error(err, 0)
    end
    kit.wait(ctx, function()
      local lb = describe(ctx, id)
      return lb == nil, lb and lb.State and lb.State.Code
    end, { what = "the load balancer to be gone", timeout = 600, interval = 15 })
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags" },
    create = { "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetSecurityGroups",
      "elasticloadbalancing:SetSubnets" },
    update = { "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:RemoveTags",
      "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets" },
    delete = { "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:RemoveTags" },
  },
}
