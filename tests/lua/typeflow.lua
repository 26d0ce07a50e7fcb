-- tests/lua/typeflow.lua — drive a resource type's functions in-process
-- against a fakeaws server, as apply and refresh would, for the per-type specs.
--
--   local flow = typeflow.new(f, { stack = "test", region = "us-east-1" })  -- f: fakeaws.start()
--   local rec = flow:create("aws.ecr.repository", "main", { name = "wp" })
--        -> a state-like record { type, address, id, inputs, outputs, observed }
--   flow:read(rec)            -> observed | nil (and refreshes rec like plan.refresh)
--   flow:drift(rec)           -> names of attributes whose observed value differs from rec.inputs
--   flow:update(rec, attrs)   -> rec updated with the new inputs and outputs
--   flow:delete(rec)
--   flow:import("aws.ecr.repository", "main", id) -> record (as `wpo import` makes it)
--   flow:ctx(type_name, name, prior?) -> the context a type's function receives
--
-- The contexts' AWS clients go to the fakeaws endpoint with its test
-- credentials and without the client-side rate limits (IAM's 10 calls a
-- second would only slow the specs down); every record gets the tags
-- wpo:stack / wpo:address as the stack DSL gives them.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local value = require "wpo.value"

local M = {}

local Flow = {}
Flow.__index = Flow

function M.new(f, opts)
  opts = opts or {}
  return setmetatable({ f = f, stack = opts.stack or "test", region = opts.region or f.region or "us-east-1",
    lineage = opts.lineage or "lineage-test", generations = {}, logs = {} }, Flow)
end

local function type_of(name)
  return assert(resource.get(name))
end

function Flow:ctx(type_name, name, prior, generation)
  local t = type_of(type_name)
  local address = type_name .. "." .. name
  local flow = self
  local ctx = resource.context { address = address, type = t, stack = self.stack, region = self.region,
    where = "spec:1", prior = prior, lineage = self.lineage, generation = generation,
    logger = function(_, msg) flow.logs[#flow.logs + 1] = address .. ": " .. msg end }
  ctx.aws = function(c, service, o)
    c.clients = c.clients or {}
    local key = service .. ((o and o.region) or "")
    if not c.clients[key] then
      c.clients[key] = aws.client(service, { region = (o and o.region) or flow.region, endpoint = flow.f.url,
        credentials = { access_key = "test", secret_key = "test" }, rate_limit = false })
    end
    return c.clients[key]
  end
  return ctx
end

-- attrs with the type's defaults and wpo's tags, as apply hands them to create/update
function Flow:want(type_name, name, attrs)
  local t = type_of(type_name)
  local want, bad, err = resource.desired(t, value.copy(attrs))
  assert(want, tostring(bad) .. ": " .. tostring(err))
  if t.taggable then want.tags = resource.tags(self.stack, type_name .. "." .. name, {}, want.tags) end
  return want
end

local function record_for(t, rec, want, observed)
  observed = value.normalize_numbers(value.copy(observed or {}))
  rec.inputs = want
  rec.outputs = rec.outputs or {}
  for oname in pairs(t.outputs) do
    if observed[oname] ~= nil then rec.outputs[oname] = observed[oname] end
  end
  rec.id = observed.id or rec.id
  rec.outputs.id = rec.id
  rec.observed = observed
  return rec
end

function Flow:create(type_name, name, attrs)
  local t = type_of(type_name)
  local address = type_name .. "." .. name
  self.generations[address] = (self.generations[address] or 0) + 1
  local want = self:want(type_name, name, attrs)
  local observed = resource.create(t, self:ctx(type_name, name, nil, self.generations[address]), value.copy(want))
  assert(observed and observed.id ~= nil, type_name .. " create returned no id")
  return record_for(t, { type = type_name, name = name, address = address }, want, observed)
end

function Flow:read(rec)
  local t = type_of(rec.type)
  local observed = t.read(self:ctx(rec.type, rec.name, rec), rec.id, rec)
  if observed == nil then return nil end
  return value.normalize_numbers(observed)
end

function Flow:drift(rec)
  local t = type_of(rec.type)
  local observed = self:read(rec)
  if observed == nil then return nil end
  local changed = {}
  for k, v in pairs(observed) do
    if t.attributes[k] and not value.equal(rec.inputs[k], v) then changed[#changed + 1] = k end
  end
  table.sort(changed)
  return changed, observed
end

function Flow:update(rec, attrs)
  local t = type_of(rec.type)
  local want = self:want(rec.type, rec.name, attrs)
  local changed = {}
  for _, k in ipairs(t.attribute_names) do
    if not value.equal(want[k], rec.inputs[k]) then changed[#changed + 1] = k end
  end
  local observed = resource.update(t, self:ctx(rec.type, rec.name, rec), rec.id, rec.inputs, value.copy(want), changed)
  return record_for(t, rec, want, observed or {})
end

function Flow:delete(rec)
  local t = type_of(rec.type)
  t.delete(self:ctx(rec.type, rec.name, rec), rec.id, rec)
end

function Flow:import(type_name, name, id)
  local t = type_of(type_name)
  local prior = { type = type_name, id = id, inputs = {}, outputs = {} }
  local ctx = self:ctx(type_name, name, prior)
  local observed = t.import and t.import(ctx, id) or t.read(ctx, id, prior)
  if observed == nil then return nil end
  observed = value.normalize_numbers(observed)
  local rec = { type = type_name, name = name, address = type_name .. "." .. name, id = observed.id or id,
    inputs = {}, outputs = {} }
  for k, v in pairs(observed) do
    if t.attributes[k] then rec.inputs[k] = v end
    if t.outputs[k] then rec.outputs[k] = v end
  end
  rec.observed = observed
  return rec
end

return M
