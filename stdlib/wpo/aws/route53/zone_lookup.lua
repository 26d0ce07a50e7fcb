-- aws.route53.zone_lookup: a Route 53 hosted zone that exists before the run
-- and is not the stack's (the company's example.com, say): found by name, so
-- that records and certificate validations can go into it. wpo never changes
-- or deletes the zone: "creating" the resource looks the zone up, destroying
-- it only forgets it.
--
-- Attributes:
--   name     the zone's domain ("example.com"; a trailing dot is optional), force_new
--   private  look for a private zone (default false: a public one), force_new
-- Outputs: id (= zone_id), zone_id ("Z...", without /hostedzone/),
--   name_servers (a public zone's; nil for a private one).
--
-- Create: ListHostedZonesByName; no zone of that name and kind, or several,
-- is an error (the several are named). Read: GetHostedZone (nil when the zone
-- was deleted). Delete: nothing is sent to AWS.
local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"
local names = require "wpo.aws.route53.common"

local fqdn, bare = names.fqdn, names.zone_id

local function observe(got, inputs)
  inputs = inputs or {}
  local z = aws.required(got, "HostedZone")
  local id = bare(z.Id)
  return {
    id = id, zone_id = id,
    name = fqdn(z.Name) == fqdn(inputs.name or "") and inputs.name or z.Name,
    private = (z.Config and z.Config.PrivateZone) == true,
    name_servers = got.DelegationSet and got.DelegationSet.NameServers or nil,
  }
end

local function get(ctx, id, inputs)
  local out, err = ctx:aws("route53"):pcall("GetHostedZone", { Id = bare(id) })
  if out then return observe(out, inputs) end
  if kit.is_code(err, "NoSuchHostedZone") then return nil end
  error(err, 0)
end

local function lookup(ctx, want)
  local r53 = ctx:aws("route53")
  local name = fqdn(want.name)
  local kind = want.private and "private" or "public"
  local found, params = {}, { DNSName = name }
  while true do
    local out = r53:call("ListHostedZonesByName", params)
    local done = false
    for _, z in ipairs(out.HostedZones or {}) do
      if fqdn(z.Name) ~= name then done = true; break end
      if ((z.Config and z.Config.PrivateZone) == true) == (want.private == true) then found[#found + 1] = bare(z.Id) end
    end
    if done or not out.IsTruncated then break end
    params = { DNSName = out.NextDNSName, HostedZoneId = out.NextHostedZoneId }
  end
  if #found == 0 then
    ctx:fail("NotFound", "no %s hosted zone named %s in this account (aws.route53.zone_lookup finds a zone made "
      .. "outside this stack; make one with aws.route53.zone, or with site.create_zone = true in wordpress.stack)",
      kind, name)
  end
  if #found > 1 then
    table.sort(found)
    ctx:fail("Ambiguous", "%d %s hosted zones are named %s (%s): wpo cannot tell which one is meant", #found, kind,
      name, table.concat(found, ", "))
  end
  return found[1]
end

return resource.define "aws.route53.zone_lookup" {
  description = "a Route 53 hosted zone made outside the stack, found by name (never changed or deleted: "
    .. "destroying it only forgets it)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    private = { type = "boolean", default = false, force_new = true },
  },
  outputs = { "zone_id", "name_servers" },
  lookup = true,

  create = function(ctx, want)
    local id = lookup(ctx, want)
    local observed = get(ctx, id, want)
    if not observed then ctx:fail("NotFound", "the hosted zone %s (%s) went away while it was looked up", id,
      fqdn(want.name)) end
    return observed
  end,

  read = function(ctx, id, prior)
    return get(ctx, id, prior and prior.inputs)
  end,

  import = function(ctx, id) return get(ctx, id) end,

  delete = function(ctx, id)
    ctx:log("forgetting the hosted zone %s (not deleted: it is not this stack's)", tostring(id))
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "route53:GetHostedZone" },
    create = { "route53:GetHostedZone", "route53:ListHostedZonesByName" },
    delete = {},
  },
}
