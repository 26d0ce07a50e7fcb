-- aws.route53.zone: a Route 53 hosted zone; private (attached to a VPC) when
-- vpc_id is given, public otherwise. Route 53 is global: the client signs for
-- us-east-1 whatever the stack's region.
--
-- Attributes:
--   name           the domain ("prod.internal"), force_new
--   comment        default "managed by wpo" (in place)
--   vpc_id         the VPC of a private zone, force_new (public <-> private
--                  cannot change in place; a new VPC makes a new zone)
--   vpc_region     the VPC's region (default: the stack's), force_new
--   force_destroy  on delete, delete the zone's records first (default false:
--                  a zone still holding records it did not start with is an error)
--   wait_insync    wait (GetChange) until the zone's creation, and the deletion of
--                  its records under force_destroy, is INSYNC (default false: not
--                  polled; records can be changed in a zone whose creation is PENDING)
--   tags
-- Outputs: id (= zone_id, "Z..."), zone_id, arn, name_servers (public zones).
--
-- Create uses a CallerReference derived from the resource (stable across a
-- crash and a re-run): a zone created by a run that died before saving its
-- state is found by it (HostedZoneAlreadyExists) or by its wpo:address tag and
-- adopted. A new zone's observed values come from CreateHostedZone's answer
-- and the tags set (no read after it). With wait_insync, create waits for the zone's change to be INSYNC
-- (wpo.aws.route53.change).
local aws = require "wpo.aws"
local change = require "wpo.aws.route53.change"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"
local names = require "wpo.aws.route53.common"

-- An optional setting AWS no longer holds but the script gave reads as ""
-- (a nil in what read returns would mean "unchanged").
local function cleared(v, given)
  if v == nil and given ~= nil then return "" end
  return v
end

local GONE = { NoSuchHostedZone = true }

local fqdn, bare = names.fqdn, names.zone_id

local function get(ctx, id)
  local out, err = ctx:aws("route53"):pcall("GetHostedZone", { Id = bare(id) })
  if out then return out end
  if GONE[err.code] then return nil end
  error(err, 0)
end

local function tags_of(ctx, id)
  local out, err = ctx:aws("route53"):pcall("ListTagsForResource", { ResourceType = "hostedzone", ResourceId = bare(id) })
  if out then return kit.tag_map(aws.required(out, "ResourceTagSet").Tags) end
  if GONE[err.code] then return {} end
  error(err, 0)
end

local function set_tags(ctx, id, old, new)
  local r53 = ctx:aws("route53")
  local set, remove = kit.tag_changes(old, new)
  local add = kit.tag_list(set)
  -- Route 53 takes at most 10 tags to add and 10 to remove per request
  local i, j = 1, 1
  while i <= #add or j <= #remove do
    local params = { ResourceType = "hostedzone", ResourceId = bare(id) }
    if i <= #add then params.AddTags = table.move(add, i, math.min(i + 9, #add), 1, {}) end
    if j <= #remove then params.RemoveTagKeys = table.move(remove, j, math.min(j + 9, #remove), 1, {}) end
    r53:call("ChangeTagsForResource", params)
    i, j = i + 10, j + 10
  end
end

-- Zones named `name` (Route 53 allows several): HostedZone tables.
local function zones_named(ctx, name)
  local r53 = ctx:aws("route53")
  local want = fqdn(name)
  local found, params = {}, { DNSName = want }
  while true do
    local out = r53:call("ListHostedZonesByName", params)
    for _, z in ipairs(out.HostedZones or {}) do
      if fqdn(z.Name) ~= want then return found end
      found[#found + 1] = z
    end
    if not out.IsTruncated then return found end
    params = { DNSName = out.NextDNSName, HostedZoneId = out.NextHostedZoneId }
  end
end

local function observe(ctx, got, prior_inputs, tags)
  local z = aws.required(got, "HostedZone")
  local id = bare(aws.required(got, "HostedZone", "Id"))
  local inputs = prior_inputs or {}
  local name = fqdn(z.Name) == fqdn(inputs.name or "") and inputs.name or z.Name
  local vpc = (got.VPCs or {})[1]
  local observed = {
    id = id, zone_id = id, arn = "arn:aws:route53:::hostedzone/" .. id, name = name,
    comment = cleared((z.Config or {}).Comment, inputs.comment), tags = tags or tags_of(ctx, id),
    name_servers = got.DelegationSet and got.DelegationSet.NameServers or nil,
  }
  if vpc then
    observed.vpc_id = vpc.VPCId
    observed.vpc_region = vpc.VPCRegion
    if inputs.vpc_region == nil and vpc.VPCRegion == ctx.region then observed.vpc_region = nil end
  end
  return observed
end

local function read(ctx, id, prior)
  local got = get(ctx, id)
  return got and observe(ctx, got, prior and prior.inputs)
end

local function converge(ctx, current, want)
  if (current.comment or "") ~= (want.comment or "") then
    ctx:aws("route53"):call("UpdateHostedZoneComment", { Id = current.id, Comment = want.comment })
  end
  set_tags(ctx, current.id, current.tags, want.tags)
end

local function purge_records(ctx, id, apex, wait_insync)
  local r53 = ctx:aws("route53")
  local doomed = {}
  for page in r53:paginate("ListResourceRecordSets", { HostedZoneId = id }) do
    for _, rrs in ipairs(page.ResourceRecordSets or {}) do
      if not (fqdn(rrs.Name) == apex and (rrs.Type == "SOA" or rrs.Type == "NS")) then
        doomed[#doomed + 1] = { Action = "DELETE", ResourceRecordSet = rrs }
      end
    end
  end
  for i = 1, #doomed, 100 do
    ctx:log("deleting %d record(s) of zone %s (force_destroy)", math.min(100, #doomed - i + 1), apex)
    local info = aws.required(r53:call("ChangeResourceRecordSets", { HostedZoneId = id,
      ChangeBatch = { Changes = table.move(doomed, i, math.min(i + 99, #doomed), 1, {}) } }), "ChangeInfo")
    change.settle(ctx, info, "the deletion of the records of zone " .. apex, wait_insync)
  end
end

return resource.define "aws.route53.zone" {
  description = "a Route 53 hosted zone (private when attached to a VPC)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    comment = { type = "string", default = "managed by wpo" },
    vpc_id = { type = "string", force_new = true },
    vpc_region = { type = "string", force_new = true },
    force_destroy = { type = "boolean", default = false },
    wait_insync = { type = "boolean", default = false },
    tags = { type = "tags" },
  },
  outputs = { "zone_id", "arn", "name_servers" },

  -- the zone is tagged only after CreateHostedZone answers: its caller
  -- reference (this resource's client token) finds it before that
  found_by = "its caller reference or its wpo:address tag",
  find = function(ctx, want)
    local reference = ctx:client_token()
    local mine = {}
    for _, z in ipairs(zones_named(ctx, want.name)) do
      local tags = tags_of(ctx, z.Id)
      if z.CallerReference == reference or tags[resource.TAG_ADDRESS] == ctx.address then
        mine[#mine + 1] = { id = bare(z.Id), tags = tags }
      end
    end
    return mine
  end,

  create = function(ctx, want, found)
    local r53 = ctx:aws("route53")
    local reference = ctx:client_token()
    if found then
      local current = read(ctx, found.id, { inputs = want })
      converge(ctx, current, want)
      return read(ctx, found.id, { inputs = want })
    end
    local params = { Name = want.name, CallerReference = reference,
      HostedZoneConfig = { Comment = want.comment, PrivateZone = want.vpc_id ~= nil } }
    if want.vpc_id then params.VPC = { VPCId = want.vpc_id, VPCRegion = want.vpc_region or ctx.region } end
    local out = r53:call("CreateHostedZone", params)
    local id = bare(aws.required(out, "HostedZone", "Id"))
    change.zone_created(id)
    set_tags(ctx, id, {}, want.tags)
    change.settle(ctx, aws.required(out, "ChangeInfo"), "the new zone " .. fqdn(want.name), want.wait_insync)
    -- what CreateHostedZone answered and the tags just set: no read needed
    local tags = {}
    for k, v in pairs(want.tags or {}) do tags[k] = v end
    return observe(ctx, { HostedZone = out.HostedZone, DelegationSet = out.DelegationSet,
      VPCs = out.VPC and { out.VPC } or nil }, want, tags)
  end,

  read = read,

  update = function(ctx, id, old, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the hosted zone %s no longer exists", id) end
    converge(ctx, current, new)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id, prior)
    local got = get(ctx, id)
    if not got then return end
    local apex = fqdn(got.HostedZone.Name)
    if prior.inputs and prior.inputs.force_destroy then purge_records(ctx, id, apex, prior.inputs.wait_insync) end
    local out, err = ctx:aws("route53"):pcall("DeleteHostedZone", { Id = bare(id) })
    if out or GONE[err.code] then return end
    if kit.is_code(err, "HostedZoneNotEmpty") then
      ctx:fail("HostedZoneNotEmpty", "the hosted zone %s (%s) still holds records wpo does not manage: delete "
        .. "them, or set force_destroy = true", apex, id)
    end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "route53:GetChange", "route53:GetHostedZone", "route53:ListHostedZonesByName",
      "route53:ListResourceRecordSets", "route53:ListTagsForResource" },
    create = { "route53:ChangeResourceRecordSets", "route53:ChangeTagsForResource", "route53:CreateHostedZone",
      "route53:UpdateHostedZoneComment" },
    update = { "route53:ChangeResourceRecordSets", "route53:ChangeTagsForResource", "route53:CreateHostedZone",
      "route53:UpdateHostedZoneComment" },
    delete = { "route53:DeleteHostedZone" },
  },
}
