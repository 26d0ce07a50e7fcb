-- wpo.wordpress.dns: stable private names for the stack's endpoints, and the
-- site's public name when its hosted zone is given.
--
--   dns.build(stack, p, deps) -> dns
--
-- Reads from p: name, region, protect. (The site's public names are
-- wpo.wordpress.edge's.)
-- Reads from deps (a record whose target is missing from deps is not declared):
--   deps.net.vpc_id                   the VPC the private zone is attached to (required)
--   deps.db.endpoint                  the database's writer endpoint
--   deps.db.reader_endpoint           optional: Aurora's reader endpoint
--   deps.cache.primary_endpoint       Redis's primary endpoint
--   deps.files.file_system_id         the EFS file system (its regional DNS name
--                                     <fs-id>.efs.<region>.amazonaws.com), or
--   deps.files.dns_name               that name, when the files tier gives it
--
-- Declares:
--   aws.route53.zone.internal         "<name>.internal", private, attached to the VPC
--                                     (force_destroy unless p.protect)
--   aws.route53.record.db             CNAME db.<name>.internal -> the writer endpoint
--   aws.route53.record.db-ro          CNAME db-ro.<name>.internal -> the reader endpoint
--   aws.route53.record.cache          CNAME cache.<name>.internal -> the Redis primary endpoint
--   aws.route53.record.nfs            CNAME nfs.<name>.internal -> the EFS DNS name
-- (records: TTL 60, so a failover's new endpoint is picked up within a minute)
--
-- Returns dns = { zone (resource), zone_id, zone_name ("<name>.internal"),
--   records = { db, db_ro, cache, nfs } (the resources declared),
--   names = { db = "db.<name>.internal", db_ro, cache, nfs } }
local value = require "wpo.value"

local M = {}

M.TTL = 60

local function field(t, key)
  return type(t) == "table" and t[key] or nil
end

function M.zone_name(p)
  return p.name .. ".internal"
end

function M.build(stack, p, deps)
  assert(type(stack) == "table" and type(p) == "table", "dns.build(stack, p, deps)")
  deps = deps or {}
  local vpc_id = field(deps.net, "vpc_id")
  if vpc_id == nil then error("dns.build: deps.net.vpc_id is required", 2) end
  local zone_name = M.zone_name(p)
  local zone = stack:add("aws.route53.zone", "internal", {
    name = zone_name, vpc_id = vpc_id,
    comment = "private names of WordPress " .. p.name .. " (managed by wpo)",
    force_destroy = not p.protect,
  })
  local records, names = {}, {}
  local function cname(key, label, target)
    if target == nil then return end
    local fqdn = label .. "." .. zone_name
    records[key] = stack:add("aws.route53.record", key:gsub("_", "-"), {
      zone_id = zone.zone_id, name = fqdn, type = "CNAME", ttl = M.TTL, records = { target },
    })
    names[key] = fqdn
  end
  cname("db", "db", field(deps.db, "endpoint"))
  cname("db_ro", "db-ro", field(deps.db, "reader_endpoint"))
  cname("cache", "cache", field(deps.cache, "primary_endpoint"))
  local nfs = field(deps.files, "dns_name")
  if nfs == nil and field(deps.files, "file_system_id") ~= nil then
    nfs = value.format("%s.efs.%s.amazonaws.com", deps.files.file_system_id, p.region)
  end
  cname("nfs", "nfs", nfs)

  return { zone = zone, zone_id = zone.zone_id, zone_name = zone_name, records = records, names = names }
end

return M
