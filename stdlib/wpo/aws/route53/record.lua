-- aws.route53.record: one record set of a Route 53 hosted zone: plain
-- records (ttl + records) or an alias to an AWS endpoint (an ALB...).
--
-- Attributes:
--   zone_id  the hosted zone ("Z..."), force_new
--   name     the record's name ("db.prod.internal"; a trailing dot is optional), force_new
--   type     A | AAAA | CNAME | TXT | MX | SRV | CAA | NS | PTR | SPF, force_new
--   ttl      seconds (plain records only; default 300)
--   records  list of values (plain records)
--   alias    { name = target DNS name, zone_id = target's hosted zone,
--              evaluate_target_health = false } (instead of ttl + records)
--   wait_insync  wait (GetChange) until each change is INSYNC on every Route 53
--              server (default false: the change is sent and not polled; set
--              it when something needs the record resolvable as soon as the
--              resource is done)
-- Outputs: id ("<zone_id>_<name>_<type>"), fqdn.
--
-- A record created in a zone this process made is not looked up before its
-- first create (wpo.aws.route53.change.known_absent): the zone was empty; a
-- record put there meanwhile by someone else makes the CREATE fail loudly.
-- Reads and deletes always look.
-- Every change is a ChangeResourceRecordSets batch; with wait_insync, create,
-- update and delete wait on it with GetChange until INSYNC
-- (wpo.aws.route53.change). Create uses
-- CREATE: a record already there with exactly the wanted values (left by a
-- run that died before saving its state) is adopted, one with other values is
-- an error; update uses UPSERT; delete sends DELETE with the values Route 53
-- holds (a record or zone already gone is fine).
local aws = require "wpo.aws"
local change = require "wpo.aws.route53.change"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"
local names = require "wpo.aws.route53.common"
local value = require "wpo.value"

local M = { DEFAULT_TTL = 300 }

local TYPES = { "A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "NS", "PTR", "SPF" }

local fqdn, bare = names.fqdn, names.zone_id

local function split(id)
  local zone, name, rtype = tostring(id):match("^([^_]+)_(.+)_([A-Z]+)$")
  return zone, name, rtype
end

-- the record set as Route 53 holds it, or nil
local function find(ctx, zone_id, name, rtype)
  local out, err = ctx:aws("route53"):pcall("ListResourceRecordSets", { HostedZoneId = bare(zone_id),
    StartRecordName = fqdn(name), StartRecordType = rtype, MaxItems = "1" })
  if not out then
    if kit.is_code(err, "NoSuchHostedZone") then return nil end
    error(err, 0)
  end
  local rrs = (out.ResourceRecordSets or {})[1]
  if rrs and fqdn(rrs.Name) == fqdn(name) and rrs.Type == rtype and not rrs.SetIdentifier then return rrs end
  return nil
end

local function record_set(want)
  local rrs = { Name = fqdn(want.name), Type = want.type }
  if want.alias then
    rrs.AliasTarget = { DNSName = want.alias.name, HostedZoneId = want.alias.zone_id,
      EvaluateTargetHealth = want.alias.evaluate_target_health or false }
  else
    rrs.TTL = want.ttl or M.DEFAULT_TTL
    rrs.ResourceRecords = {}
    for i, v in ipairs(want.records) do rrs.ResourceRecords[i] = { Value = v } end
  end
  return rrs
end

local function observe(zone_id, rrs, inputs)
  inputs = inputs or {}
  local observed = { id = bare(zone_id) .. "_" .. fqdn(rrs.Name) .. "_" .. rrs.Type, zone_id = bare(zone_id),
    name = fqdn(rrs.Name) == fqdn(inputs.name or "") and inputs.name or rrs.Name, type = rrs.Type,
    fqdn = fqdn(rrs.Name) }
  if inputs.zone_id and bare(inputs.zone_id) == observed.zone_id then observed.zone_id = inputs.zone_id end
  if rrs.AliasTarget then
    local a = rrs.AliasTarget
    local given = inputs.alias or {}
    observed.alias = {
      name = fqdn(a.DNSName) == fqdn(given.name or "") and given.name or a.DNSName,
      zone_id = a.HostedZoneId,
      evaluate_target_health = a.EvaluateTargetHealth,
    }
    if given.evaluate_target_health == nil and a.EvaluateTargetHealth == false then
      observed.alias.evaluate_target_health = nil
    end
    observed.ttl = inputs.ttl
    -- records given but an alias held: they read as none ({}), so that the
    -- drift shows and the update puts the script's form back
    if inputs.records ~= nil then observed.records = {} end
  else
    observed.ttl = math.tointeger(rrs.TTL) or rrs.TTL
    if inputs.ttl == nil and observed.ttl == M.DEFAULT_TTL then observed.ttl = nil end
    observed.records = {}
    for i, r in ipairs(rrs.ResourceRecords or {}) do observed.records[i] = r.Value end
    if inputs.alias ~= nil then observed.alias = {} end   -- an alias given, plain records held
  end
  return observed
end

local function check(ctx, want)
  if want.alias and want.records then ctx:fail("InvalidAttribute", "give records or alias, not both") end
  if not want.alias and (not want.records or #want.records == 0) then
    ctx:fail("InvalidAttribute", "give records (a list of values) or alias")
  end
  if want.alias and want.alias.zone_id == nil then ctx:fail("InvalidAttribute", "alias.zone_id is required") end
  if want.alias and want.ttl then ctx:fail("InvalidAttribute", "an alias record has no ttl (the target's applies)") end
end

local function submit(ctx, want, action)
  change.sending(bare(want.zone_id), fqdn(want.name), want.type)
  local out = ctx:aws("route53"):call("ChangeResourceRecordSets", { HostedZoneId = bare(want.zone_id),
    ChangeBatch = { Comment = "wpo " .. ctx.address, Changes = { { Action = action, ResourceRecordSet = record_set(want) } } } })
  change.settle(ctx, aws.required(out, "ChangeInfo"), string.format("the %s record %s", want.type, fqdn(want.name)),
    want.wait_insync)
end

local function same_values(want, rrs)
  return value.equal(observe(want.zone_id, rrs, want), observe(want.zone_id, record_set(want), want))
end

local function read(ctx, id, prior)
  local zone, name, rtype = split(id)
  if not zone then ctx:fail("InvalidId", "%s is not <zone id>_<name>_<type>", tostring(id)) end
  local rrs = find(ctx, zone, name, rtype)
  return rrs and observe(zone, rrs, prior and prior.inputs)
end

M.type = resource.define "aws.route53.record" {
  description = "a Route 53 record set (plain records or an alias)",
  attributes = {
    zone_id = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    type = { type = "string", required = true, force_new = true, choices = TYPES },
    ttl = { type = "integer" },
    records = { type = "list", of = "string" },
    alias = { type = "object", fields = {
      name = { type = "string", required = true },
      zone_id = { type = "string", required = true },
      evaluate_target_health = { type = "boolean" },
    } },
    wait_insync = { type = "boolean", default = false },
  },
  outputs = { "fqdn" },

  found_by = "its zone, name and type (holding the wanted values)",
  find = function(ctx, want)
    if change.known_absent(bare(want.zone_id), fqdn(want.name), want.type) then return {} end
    local existing = find(ctx, want.zone_id, want.name, want.type)
    if not existing then return {} end
    if not same_values(want, existing) then
      ctx:fail("AlreadyExists", "a %s record %s already exists in zone %s with other values: import it with "
        .. "'wpo import', or delete it", want.type, fqdn(want.name), bare(want.zone_id))
    end
    return { observe(want.zone_id, existing, want) }
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    if not found then submit(ctx, want, "CREATE") end
    return observe(want.zone_id, record_set(want), want)
  end,

  read = read,
  -- wpo import takes the id "<zone id>_<name>_<type>" ("Z123_www.example.com._A")
  import = function(ctx, id) return read(ctx, id) end,

  update = function(ctx, _, _, new)
    check(ctx, new)
    submit(ctx, new, "UPSERT")
    return observe(new.zone_id, record_set(new), new)
  end,

  delete = function(ctx, id, prior)
    local zone, name, rtype = split(id)
    local rrs = zone and find(ctx, zone, name, rtype)
    if not rrs then return end
    change.sending(zone, fqdn(name), rtype)
    local out, err = ctx:aws("route53"):pcall("ChangeResourceRecordSets", { HostedZoneId = zone,
      ChangeBatch = { Changes = { { Action = "DELETE", ResourceRecordSet = rrs } } } })
    if not out then
      if kit.is_code(err, "NoSuchHostedZone") or (kit.is_code(err, "InvalidChangeBatch")
          and tostring(err.message):find("not found", 1, true)) then return end
      error(err, 0)
    end
    change.settle(ctx, out.ChangeInfo, string.format("the deletion of the %s record %s", rtype, name),
      prior and prior.inputs and prior.inputs.wait_insync)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "route53:GetChange", "route53:ListResourceRecordSets" },
    create = { "route53:ChangeResourceRecordSets" },
    update = { "route53:ChangeResourceRecordSets" },
    delete = { "route53:ChangeResourceRecordSets" },
  },
}

return M.type
