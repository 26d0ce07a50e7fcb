-- tests/lua/typeflow.lua — the one setup of the per-type specs
-- (tests/aws/<service>_spec.lua): a fakeaws server, clients pointed at it,
-- and a resource type driven either in-process, as apply and refresh would
-- (typeflow.suite / typeflow.new), or through the wpo command line in a
-- directory (typeflow.start).
--
-- In-process, inside a describe:
--   local s = typeflow.suite { region = "eu-west-1", stack = "prod" }
--        -- registers setup (fakeaws started), teardown (stopped), before_each
--        -- (fakeaws reset, s.flow a fresh flow); s.f the fakeaws server
--   s:client("ssm") -> a wpo.aws client pointed at fakeaws (no rate limit)
--   typeflow.raised(fn) -> the error fn raised (it must raise)
--   local flow = typeflow.new(f, { stack = "test", region = "us-east-1" })  -- f: fakeaws.start()
--   local rec = flow:create("aws.ecr.repository", "main", { name = "wp" })
--        -> a state-like record { type, address, id, inputs, outputs, observed }
--   flow:read(rec)            -> observed | nil (and refreshes rec like plan.refresh)
--   flow:drift(rec)           -> names of attributes whose observed value differs from rec.inputs
--   flow:update(rec, attrs)   -> rec updated with the new inputs and outputs
--   flow:delete(rec)
--   flow:import("aws.ecr.repository", "main", id) -> record (as `wpo import` makes it)
--   flow:ctx(type_name, name, prior?) -> the context a type's function receives
--   flow.late = true          the contexts' clients send again what AWS refuses
--                             for a late condition the type declares (as apply's
--                             do: typekit.late_call); off by default, since it
--                             also waits out EC2's NotFound for a new object
--
--
-- Through the command line (the data-tier specs):
--   local env = typeflow.start { settle = 1 }  -- env.f (fakeaws), env.dir (a temp dir)
--   local net = env:network()                 -- { vpc, subnets = { a, b, c }, sg, sg2, other_vpc_sg }
--   local arn = env:secret("db", "value")     -- a Secrets Manager secret, its ARN
--   env:write("s.lua", text); local r = env:wpo{ "run", "s.lua", "--yes" }
--   env:state() -> the saved state document; env:resources() -> { [address] = record }
--   env:client("rds") -> a wpo.aws client pointed at fakeaws
--   env:objects("rds", "db-cluster") -> { [id] = object } held by fakeaws
--   env:reset() (fakeaws reset, fresh directory), env:stop()
--   env:made_long_ago() -> the state's records say their objects were made an
--     hour ago, so a read that finds one gone (deleted out of band) is believed
--     at once instead of being read again for resource.VISIBLE_AFTER_CREATE
--     (120 real seconds: AWS's delays are not scaled by WPO_WAIT_SCALE)
--   typeflow.lua_list { "a", "b" } -> Lua source for a list of strings
--
-- The contexts' AWS clients go to the fakeaws endpoint with its test
-- credentials and without the client-side rate limits (IAM's 10 calls a
-- second would only slow the specs down); every record gets the tags
-- wpo:stack / wpo:address as the stack DSL gives them.
local aws = require "wpo.aws"
local busted = require "busted"
local cjson = require "cjson"
local fakeaws = require "fakeaws"
local h = require "helpers"
local resource = require "wpo.resource"
local value = require "wpo.value"

local M = {}

local CREDENTIALS = { access_key = "test", secret_key = "test" }

-- a wpo.aws client of `service` pointed at the fakeaws server f
local function client_of(f, service, region, late)
  return aws.client(service, { region = region or f.region, endpoint = f.url, credentials = CREDENTIALS,
    rate_limit = false, late = late })
end

-- typeflow.raised(fn) -> the error fn raised; fails the test when it returns
function M.raised(fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error")
  return err
end

local Suite = {}
Suite.__index = Suite

-- typeflow.suite(opts) -> s; opts: region, stack, and the fakeaws.start
-- options (settle...). Call it inside a describe: it registers the hooks.
function M.suite(opts)
  opts = opts or {}
  local s = setmetatable({ region = opts.region or "us-east-1", stack = opts.stack or "test" }, Suite)
  local start = {}
  for k, v in pairs(opts) do if k ~= "stack" then start[k] = v end end
  busted.setup(function() s.f = fakeaws.start(start) end)
  busted.teardown(function() if s.f then s.f:stop() end end)
  busted.before_each(function()
    s.f:reset()
    s.flow = M.new(s.f, { stack = s.stack, region = s.region })
  end)
  return s
end

function Suite:client(service)
  return client_of(self.f, service, self.region)
end

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
      c.clients[key] = client_of(flow.f, service, (o and o.region) or flow.region,
        flow.late and require("wpo.aws.typekit").late_call(c) or nil)
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

-- ---- through the command line ----

local Env = {}
Env.__index = Env

function M.start(opts)
  local env = setmetatable({ f = fakeaws.start(opts), dir = h.tmpdir(), clients = {} }, Env)
  return env
end

function Env:reset()
  self.f:reset()
  h.rmrf(self.dir)
  self.dir = h.tmpdir()
  self.clients = {}
end

function Env:stop()
  if self.f then self.f:stop() end
  if self.dir then h.rmrf(self.dir) end
  self.f, self.dir = nil, nil
end

function Env:client(service)
  if not self.clients[service] then
    self.clients[service] = aws.client(service, { region = self.f.region, endpoint = self.f.url,
      credentials = CREDENTIALS })
  end
  return self.clients[service]
end

-- A VPC with a subnet in each of three zones, two security groups, and a
-- group in another VPC.
function Env:network()
  local ec2 = self:client("ec2")
  local region = self.f.region
  local vpc = ec2:call("CreateVpc", { CidrBlock = "10.20.0.0/16" }).Vpc.VpcId
  local other = ec2:call("CreateVpc", { CidrBlock = "10.30.0.0/16" }).Vpc.VpcId
  local subnets = {}
  for i, z in ipairs({ "a", "b", "c" }) do
    subnets[i] = ec2:call("CreateSubnet", { VpcId = vpc, CidrBlock = "10.20." .. i .. ".0/24",
      AvailabilityZone = region .. z }).Subnet.SubnetId
  end
  local sg = ec2:call("CreateSecurityGroup", { VpcId = vpc, GroupName = "data", Description = "data" }).GroupId
  local sg2 = ec2:call("CreateSecurityGroup", { VpcId = vpc, GroupName = "data2", Description = "data2" }).GroupId
  local foreign = ec2:call("CreateSecurityGroup", { VpcId = other, GroupName = "x", Description = "x" }).GroupId
  return { vpc = vpc, subnets = subnets, sg = sg, sg2 = sg2, other_vpc_sg = foreign,
    azs = { region .. "a", region .. "b", region .. "c" } }
end

function Env:secret(name, text)
  return self:client("secretsmanager"):call("CreateSecret", { Name = name, SecretString = text }).ARN
end

function Env:write(name, text)
  h.write(self.dir .. "/" .. name, text)
end

-- env:wpo(args, extra_env) -> { status, stdout, stderr }, run in env.dir
function Env:wpo(args, extra)
  return h.sh(h.command_in(self.dir, args, { WPO_WAIT_SCALE = "0.001" }, self.f.env, extra))
end

function Env:state_text(stack)
  return h.slurp(self.dir .. "/.wpo/" .. (stack or "t") .. ".state.json")
end

function Env:state(stack)
  local text = self:state_text(stack)
  return text ~= "" and cjson.decode(text) or nil
end

function Env:made_long_ago(stack)
  local doc = self:state(stack)
  assert(doc, "typeflow: made_long_ago: no state yet")
  for _, rec in ipairs(doc.resources or {}) do
    if tonumber(rec.created) then rec.created = rec.created - 3600 end
  end
  h.write(self.dir .. "/.wpo/" .. (stack or "t") .. ".state.json", cjson.encode(doc))
end

function Env:resources(stack)
  local out = {}
  for _, r in ipairs((self:state(stack) or {}).resources or {}) do out[r.address] = r end
  return out
end

-- env:objects("rds", "db-cluster") -> { id = object } held by fakeaws ({} when none)
function Env:objects(service, kind)
  local st = self.f:state()
  return (st[service] or {})[kind] or {}
end

-- how many successful calls of "service.Operation" fakeaws has seen
function Env:ok_calls(name)
  local d = self.f:calls(true)[name]
  return d and d.ok or 0
end

-- "a", "b" -> Lua source for a list of strings
function M.lua_list(list)
  local parts = {}
  for i, v in ipairs(list) do parts[i] = string.format("%q", v) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

return M
