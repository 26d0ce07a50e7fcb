-- wpo.wordpress.security: the security groups of the WordPress-on-ECS layout,
-- one per tier, each admitting only the tier that needs it (rules name the
-- peer group, not address blocks), and each sending only what it must.
--
--   security.build(stack, p, deps) -> sg
--
-- Reads from p (validated by wpo.wordpress): name, tags (optional map),
-- site.certificate_arn or site.zone (443 is opened only when there is a
-- certificate to serve it: given, or made and validated in the zone), service.network_mode ("bridge" when absent: ECS maps each
-- container to a dynamic host port, 32768-65535; "awsvpc": the container's own
-- port, service.port, default 80). wpo.wordpress does not take network_mode as
-- a parameter: the service tier runs tasks in bridge mode behind these rules.
-- Reads from deps: net.vpc (or net.vpc_id) from wpo.wordpress.network.
--
-- Declares the groups aws.ec2.security_group.{alb,ecs,db,cache,efs} (named
-- <name>-alb, ...; none keeps AWS's allow-all egress) and these rules
-- (aws.ec2.security_group_rule.<name>):
--   alb   in   80 (and 443 with a certificate) from 0.0.0.0/0 and ::/0 — the only
--              group open to the internet       alb-http-v4/-v6, alb-https-v4/-v6
--         out  the ECS port range to ecs        alb-to-ecs
--   ecs   in   the ECS port range from alb      ecs-from-alb
--         out  3306 to db, 6379 to cache, 2049 to efs
--                                               ecs-to-db, ecs-to-cache, ecs-to-efs
--         out  443 to 0.0.0.0/0                 ecs-https-out
--   db    in   3306 from ecs                    db-from-ecs
--   cache in   6379 from ecs                    cache-from-ecs
--   efs   in   2049 from ecs                    efs-from-ecs
-- Egress, as narrow as works: security groups are stateful, so answers need no
-- egress rule, and the groups of the database, the cache and the file system
-- have none at all; the load balancer may only reach the ECS port range of
-- the ECS group. The instances need HTTPS out (through the NAT gateways): the
-- ECS agent, ECR and the image registry, CloudWatch Logs, Secrets Manager and
-- SSM, and WordPress's own updates from wordpress.org; S3 (ECR's image
-- layers) goes through the VPC's gateway endpoint. Nothing else leaves: no
-- plain HTTP, no SMTP (send mail through an HTTPS API). DNS, NTP and instance
-- metadata go to link-local AWS services, which security groups do not filter.
--
-- Returns sg = { alb, ecs, db, cache, efs (resources), ids = { alb = id, ... },
--   ports = { ecs = { from, to }, db = 3306, cache = 6379, efs = 2049, http = 80, https = 443 },
--   https (boolean: 443 open), rules = { [name] = resource } }
local M = {}

M.PORTS = { db = 3306, cache = 6379, efs = 2049, http = 80, https = 443 }
M.DYNAMIC_PORTS = { from = 32768, to = 65535 }

M.GROUPS = {
  { key = "alb", description = "load balancer: HTTP(S) from the internet" },
  { key = "ecs", description = "ECS instances: the load balancer in, HTTPS and the data tiers out" },
  { key = "db", description = "database: MySQL from the ECS instances" },
  { key = "cache", description = "cache: Redis from the ECS instances" },
  { key = "efs", description = "file system: NFS from the ECS instances" },
}

-- the ports the load balancer reaches containers on
function M.ecs_ports(p)
  local service = p.service or {}
  if (service.network_mode or "bridge") == "awsvpc" then
    local port = service.port or 80
    return { from = port, to = port }
  end
  return { from = M.DYNAMIC_PORTS.from, to = M.DYNAMIC_PORTS.to }
end

local function tags(p, extra)
  local out = {}
  for k, v in pairs(p.tags or {}) do out[k] = v end
  for k, v in pairs(extra) do out[k] = v end
  return out
end

function M.build(stack, p, deps)
  if type(p) ~= "table" or type(p.name) ~= "string" then error("security.build: parameters with a name expected", 2) end
  local net = deps and deps.net
  local vpc_id = net and (net.vpc_id or (net.vpc and net.vpc.id))
  if not vpc_id then error("security.build: deps.net (from wpo.wordpress.network) with the VPC expected", 2) end
  local site = p.site or {}
  local https = site.certificate_arn ~= nil or site.zone ~= nil
  local ecs_ports = M.ecs_ports(p)
  local sg = { ids = {}, rules = {}, https = https,
    ports = { ecs = ecs_ports, db = M.PORTS.db, cache = M.PORTS.cache, efs = M.PORTS.efs, http = M.PORTS.http,
      https = M.PORTS.https } }

  for _, g in ipairs(M.GROUPS) do
    local group = stack:add("aws.ec2.security_group", g.key, {
      name = p.name .. "-" .. g.key, description = "wpo " .. p.name .. " " .. g.description, vpc_id = vpc_id,
      allow_all_egress = false, tags = tags(p, { Name = p.name .. "-" .. g.key, ["wpo:tier"] = g.key }),
    })
    sg[g.key], sg.ids[g.key] = group, group.id
  end

  local function rule(name, group, kind, from, to, peer, description)
    local attrs = { security_group_id = sg[group].id, type = kind, protocol = "tcp", from_port = from, to_port = to,
      description = description, tags = tags(p, { Name = p.name .. "-" .. name }) }
    for k, v in pairs(peer) do attrs[k] = v end
    sg.rules[name] = stack:add("aws.ec2.security_group_rule", name, attrs)
  end
  local function from_group(other) return { referenced_security_group_id = sg[other].id } end

  -- the load balancer: the only group the internet reaches
  local open = { { "http", M.PORTS.http } }
  if https then open[#open + 1] = { "https", M.PORTS.https } end
  for _, o in ipairs(open) do
    rule("alb-" .. o[1] .. "-v4", "alb", "ingress", o[2], o[2], { cidr_ipv4 = "0.0.0.0/0" }, o[1]:upper() .. " from the internet")
    rule("alb-" .. o[1] .. "-v6", "alb", "ingress", o[2], o[2], { cidr_ipv6 = "::/0" }, o[1]:upper() .. " from the internet")
  end
  rule("alb-to-ecs", "alb", "egress", ecs_ports.from, ecs_ports.to, from_group("ecs"), "to the containers")

  -- ECS instances: the load balancer in; the data tiers and HTTPS out
  rule("ecs-from-alb", "ecs", "ingress", ecs_ports.from, ecs_ports.to, from_group("alb"), "from the load balancer")
  rule("ecs-to-db", "ecs", "egress", M.PORTS.db, M.PORTS.db, from_group("db"), "MySQL")
  rule("ecs-to-cache", "ecs", "egress", M.PORTS.cache, M.PORTS.cache, from_group("cache"), "Redis")
  rule("ecs-to-efs", "ecs", "egress", M.PORTS.efs, M.PORTS.efs, from_group("efs"), "NFS")
  rule("ecs-https-out", "ecs", "egress", M.PORTS.https, M.PORTS.https, { cidr_ipv4 = "0.0.0.0/0" },
    "HTTPS: AWS APIs, image registries, wordpress.org")

  -- the data tiers: the ECS instances in, nothing out
  rule("db-from-ecs", "db", "ingress", M.PORTS.db, M.PORTS.db, from_group("ecs"), "MySQL from the ECS instances")
  rule("cache-from-ecs", "cache", "ingress", M.PORTS.cache, M.PORTS.cache, from_group("ecs"), "Redis from the ECS instances")
  rule("efs-from-ecs", "efs", "ingress", M.PORTS.efs, M.PORTS.efs, from_group("ecs"), "NFS from the ECS instances")
  return sg
end

return M
