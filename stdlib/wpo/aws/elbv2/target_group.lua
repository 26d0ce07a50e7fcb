-- aws.elbv2.target_group: an ALB target group with its health check.
--
-- Defaults fit ECS tasks on EC2 in bridge mode: target_type "instance" (ECS
-- registers each task's dynamic host port), HTTP/1.1, health check on "/" at
-- the traffic port, matcher "200". The health check, its matcher and the
-- deregistration delay change in place; name, port, protocol, VPC and target
-- type make a new group. id = the ARN; outputs arn, arn_suffix
-- ("targetgroup/<name>/<id>", the CloudWatch dimension).
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local HEALTH = { "health_check_path", "health_check_port", "health_check_protocol", "health_check_interval",
  "health_check_timeout", "healthy_threshold", "unhealthy_threshold", "matcher", "health_check_enabled" }

local function client(ctx) return ctx:aws("elbv2") end

local function describe(ctx, arn)
  local out, err = kit.try(client(ctx), "DescribeTargetGroups", { TargetGroupArns = { arn } })
  if err then
    if kit.is_code(err, "TargetGroupNotFound") then return nil end
    error(err, 0)
  end
  return (out.TargetGroups or {})[1]
end

local function tags_of(ctx, arn)
  local out = client(ctx):call("DescribeTags", { ResourceArns = { arn } })
  local d = (out.TagDescriptions or {})[1]
  return kit.tag_map(d and d.Tags)
end

local function observed(ctx, tg)
  local attrs = {}
  local described = client(ctx):call("DescribeTargetGroupAttributes", { TargetGroupArn = tg.TargetGroupArn })
  for _, kv in ipairs(described.Attributes or {}) do
    attrs[kv.Key] = kv.Value
  end
  return {
    id = tg.TargetGroupArn, arn = tg.TargetGroupArn, arn_suffix = tg.TargetGroupArn:match(":(targetgroup/.+)$"),
    name = tg.TargetGroupName, port = tg.Port, protocol = tg.Protocol, protocol_version = tg.ProtocolVersion,
    vpc_id = tg.VpcId, target_type = tg.TargetType,
    health_check_enabled = tg.HealthCheckEnabled, health_check_path = tg.HealthCheckPath,
    health_check_port = tg.HealthCheckPort, health_check_protocol = tg.HealthCheckProtocol,
    health_check_interval = tg.HealthCheckIntervalSeconds, health_check_timeout = tg.HealthCheckTimeoutSeconds,
    healthy_threshold = tg.HealthyThresholdCount, unhealthy_threshold = tg.UnhealthyThresholdCount,
    matcher = tg.Matcher and tg.Matcher.HttpCode,
    deregistration_delay = tonumber(attrs["deregistration_delay.timeout_seconds"]),
    tags = kit.user_tags(tags_of(ctx, tg.TargetGroupArn)),
  }
end

local function health(want)
  return {
    HealthCheckEnabled = want.health_check_enabled, HealthCheckPath = want.health_check_path,
    HealthCheckPort = want.health_check_port, HealthCheckProtocol = want.health_check_protocol,
    HealthCheckIntervalSeconds = want.health_check_interval, HealthCheckTimeoutSeconds = want.health_check_timeout,
    HealthyThresholdCount = want.healthy_threshold, UnhealthyThresholdCount = want.unhealthy_threshold,
    Matcher = { HttpCode = want.matcher },
  }
end

local function check(ctx, want)
  if #want.name > 32 or not want.name:match("^%w[%w-]*$") or want.name:match("%-$") then
    kit.fail(ctx, "InvalidParameterValue", "a target group name is up to 32 letters, digits and hyphens, not "
      .. "beginning or ending with a hyphen: %q", want.name)
  end
  if want.health_check_timeout >= want.health_check_interval then
    kit.fail(ctx, "InvalidParameterValue", "health_check_timeout (%d) must be below health_check_interval (%d)",
      want.health_check_timeout, want.health_check_interval)
  end
end

-- the deregistration delay, set unless the target group has it already
local function set_delay(ctx, arn, want)
  local value = tostring(math.tointeger(want.deregistration_delay))
  local described = client(ctx):call("DescribeTargetGroupAttributes", { TargetGroupArn = arn })
  for _, kv in ipairs(described.Attributes or {}) do
    if kv.Key == "deregistration_delay.timeout_seconds" and kv.Value == value then return end
  end
  client(ctx):call("ModifyTargetGroupAttributes", { TargetGroupArn = arn, Attributes = {
    { Key = "deregistration_delay.timeout_seconds", Value = tostring(math.tointeger(want.deregistration_delay)) } } })
end

return resource.define "aws.elbv2.target_group" {
  description = "an ALB target group (health check, matcher)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    port = { type = "integer", required = true, force_new = true },
    protocol = { type = "string", default = "HTTP", force_new = true, choices = { "HTTP", "HTTPS" } },
    protocol_version = { type = "string", default = "HTTP1", force_new = true, choices = { "HTTP1", "HTTP2", "GRPC" } },
    vpc_id = { type = "string", required = true, force_new = true },
    target_type = { type = "string", default = "instance", force_new = true, choices = { "instance", "ip" } },
    health_check_enabled = { type = "boolean", default = true },
    health_check_path = { type = "string", default = "/" },
    health_check_port = { type = "string", default = "traffic-port" },
    health_check_protocol = { type = "string", default = "HTTP", choices = { "HTTP", "HTTPS" } },
    health_check_interval = { type = "integer", default = 30 },
    health_check_timeout = { type = "integer", default = 5 },
    healthy_threshold = { type = "integer", default = 5 },
    unhealthy_threshold = { type = "integer", default = 2 },
    matcher = { type = "string", default = "200", description = "HTTP codes: \"200\", \"200-399\", \"200,302\"" },
    deregistration_delay = { type = "integer", default = 300 },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "arn_suffix" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local out, err = kit.try(client(ctx), "DescribeTargetGroups", { Names = { want.name } })
    if err and not kit.is_code(err, "TargetGroupNotFound") then error(err, 0) end
    local existing = out and (out.TargetGroups or {})[1]
    if not existing then return {} end
    local found = kit.named(ctx, "a target group", want.name, tags_of(ctx, existing.TargetGroupArn))
    found[1].id = existing.TargetGroupArn
    return found
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local elb = client(ctx)
    local arn
    if found then
      arn = found.id
      elb:call("ModifyTargetGroup", (function() local h = health(want); h.TargetGroupArn = arn; return h end)())
    else
      local p = health(want)
      p.Name, p.Port, p.Protocol, p.ProtocolVersion, p.VpcId, p.TargetType = want.name, want.port, want.protocol,
        want.protocol_version, want.vpc_id, want.target_type
      p.Tags = kit.tag_list(want.tags)
      arn = aws.required(elb:call("CreateTargetGroup", p), "TargetGroups", 1, "TargetGroupArn")
    end
    set_delay(ctx, arn, want)
    local tg = describe(ctx, arn)
    if not tg then kit.fail(ctx, "NotFound", "the target group %s is gone right after its creation", arn) end
    return observed(ctx, tg)
  end,

  read = function(ctx, id)
    local tg = describe(ctx, id)
    return tg and observed(ctx, tg) or nil
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local elb = client(ctx)
    local wanted = {}
    for _, n in ipairs(changed) do wanted[n] = true end
    for _, n in ipairs(HEALTH) do
      if wanted[n] then
        local p = health(new)
        p.TargetGroupArn = id
        elb:call("ModifyTargetGroup", p)
        break
      end
    end
    if wanted.deregistration_delay then set_delay(ctx, id, new) end
    local tset, removed = kit.tag_changes(old.tags, new.tags)
    if #removed > 0 then elb:call("RemoveTags", { ResourceArns = { id }, TagKeys = removed }) end
    if next(tset) then elb:call("AddTags", { ResourceArns = { id }, Tags = kit.tag_list(tset) }) end
    local tg = describe(ctx, id)
    if not tg then kit.fail(ctx, "NotFound", "the target group %s is gone", id) end
    return observed(ctx, tg)
  end,

  delete = function(ctx, id)
    local elb = client(ctx)
    kit.wait(ctx, function()
      local _, err = kit.try(elb, "DeleteTargetGroup", { TargetGroupArn = id })
      if not err or kit.is_code(err, "TargetGroupNotFound") then return true end
      if kit.is_code(err, "ResourceInUse") then return false, "in use by a listener or rule" end
      error(err, 0)
    end, { what = "the target group to be free of listeners", timeout = 300, interval = 5 })
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetGroups" },
    create = { "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateTargetGroup",
      "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes" },
    update = { "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateTargetGroup",
      "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes",
      "elasticloadbalancing:RemoveTags" },
    delete = { "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:RemoveTags" },
  },
}
