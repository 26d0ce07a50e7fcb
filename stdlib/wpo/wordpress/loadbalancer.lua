-- wpo.wordpress.loadbalancer: the load-balancer tier of the WordPress-on-ECS
-- layout — an internet-facing ALB in the public subnets, one target group for
-- the WordPress tasks, and its listeners.
--
--   loadbalancer.build(stack, p, deps) -> lb
--
-- Reads from p (validated by wpo.wordpress): name, site.certificate_arn
-- (optional), site.cdn, service.port (the container's port; default 80).
-- Reads from deps: edge.certificate_arn (wpo.wordpress.edge: the given or the
-- validated certificate; site.certificate_arn without it), edge.origin_header
-- (with the CDN: { name, value } of the header only CloudFront sends).
-- Reads from deps: net.subnet_ids.public (the public subnets' ids, one per
-- zone; or net.subnets.public, their resources), net.vpc_id (or net.vpc),
-- sg.ids.alb (or sg.alb) from wpo.wordpress.network and .security.
--
-- Declares:
--   aws.elbv2.load_balancer.web   <name>-alb: internet-facing, public subnets,
--                                 the alb group, invalid header fields dropped
--   aws.elbv2.target_group.web    <name>-web: HTTP, target type instance (ECS
--                                 registers each task's dynamic host port: the
--                                 service runs in bridge mode), health check on
--                                 "/" accepting 200-399 (a fresh site answers
--                                 302 to its installer), 30 s deregistration delay
--   aws.elbv2.listener.http       80: with a certificate, a 301 redirect to
--                                 HTTPS; without, forward to the target group
--   aws.elbv2.listener.https      443 with the certificate (TLS 1.2/1.3
--                                 policy), forward to the target group — only
--                                 with a certificate; with the CDN its default
--                                 answer is 403, and
--   aws.elbv2.listener_rule.from-cdn  forwards only requests that carry the
--                                 origin header's secret value, so the ALB
--                                 cannot be used around CloudFront
--
-- Returns lb = { alb, target_group (resources), listeners = { http, https? },
--   alb_arn, alb_arn_suffix ("app/<name>/<id>": the CloudWatch LoadBalancer
--   dimension), dns_name, zone_id (for alias records), target_group_arn,
--   target_group_arn_suffix ("targetgroup/<name>/<id>"), resource_label (for
--   ALBRequestCountPerTarget scaling), https (boolean), url ("https://..." or
--   "http://<alb dns name>") }.
local parts = require "wpo.wordpress.deps"

local M = {}

M.HEALTH_CHECK_PATH = "/"
M.HEALTH_CHECK_MATCHER = "200-399"
M.DEREGISTRATION_DELAY = 30



function M.build(stack, p, deps)
  local net, sg = deps.net or {}, deps.sg or {}
  local public = parts.subnets("loadbalancer", net, "public")
  local vpc_id = net.vpc_id or parts.id("loadbalancer", net.vpc, "net.vpc_id")
  local alb_sg = parts.group("loadbalancer", sg, "alb")
  local port = p.service and p.service.port or 80
  local edge = deps.edge or {}
  local cert = edge.certificate_arn or (p.site and p.site.certificate_arn)

  local alb = stack:add("aws.elbv2.load_balancer", "web", {
    name = p.name .. "-alb", subnet_ids = public, security_group_ids = { alb_sg },
    drop_invalid_header_fields = true, idle_timeout = 60,
  })
  local tg = stack:add("aws.elbv2.target_group", "web", {
    name = p.name .. "-web", port = port, protocol = "HTTP", vpc_id = vpc_id, target_type = "instance",
    health_check_path = M.HEALTH_CHECK_PATH, matcher = M.HEALTH_CHECK_MATCHER, health_check_interval = 30,
    health_check_timeout = 5, healthy_threshold = 2, unhealthy_threshold = 3,
    deregistration_delay = M.DEREGISTRATION_DELAY,
  })
  local forward = { type = "forward", target_group_arn = tg.arn }
  local listeners = {}
  if cert then
    listeners.http = stack:add("aws.elbv2.listener", "http", {
      load_balancer_arn = alb.arn, port = 80, protocol = "HTTP",
      default_action = { type = "redirect", redirect = { protocol = "HTTPS", port = "443", status_code = "HTTP_301" } },
    })
    local origin = edge.origin_header
    listeners.https = stack:add("aws.elbv2.listener", "https", {
      load_balancer_arn = alb.arn, port = 443, protocol = "HTTPS", certificate_arn = cert,
      default_action = origin and { type = "fixed-response", fixed_response = { status_code = "403",
        content_type = "text/plain", message_body = "Forbidden" } } or forward,
    })
    if origin then
      listeners.from_cdn = stack:add("aws.elbv2.listener_rule", "from-cdn", {
        listener_arn = listeners.https.arn, priority = 1,
        conditions = { http_header = { name = origin.name, values = { origin.value } } }, action = forward,
      })
    end
  else
    listeners.http = stack:add("aws.elbv2.listener", "http", {
      load_balancer_arn = alb.arn, port = 80, protocol = "HTTP", default_action = forward,
    })
  end
  return {
    alb = alb, target_group = tg, listeners = listeners,
    alb_arn = alb.arn, alb_arn_suffix = alb.arn_suffix, dns_name = alb.dns_name, zone_id = alb.zone_id,
    target_group_arn = tg.arn, target_group_arn_suffix = tg.arn_suffix,
    resource_label = alb.arn_suffix .. "/" .. tg.arn_suffix,
    https = cert ~= nil,
    url = cert and ("https://" .. p.site.domain) or ("http://" .. alb.dns_name),
  }
end

return M
