-- wpo.wordpress.deps: reading the parts one tier hands another. A part may be
-- a resource (its id or arn output is taken), a plain part table ({ id = ...,
-- arn = ... }), or the value itself (a string, or a reference known after
-- apply). A missing part is a wiring error naming the tier and the part.
local value = require "wpo.value"

local M = {}

local function is_resource(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "wpo.resource"
end

local function missing(tier, what)
  error(string.format("wordpress.%s: deps.%s is missing", tier, what), 0)
end

local function field(tier, x, key, what)
  if x == nil then missing(tier, what) end
  if type(x) == "string" or value.is_lazy(x) then return x end
  if is_resource(x) then return x[key] end
  if type(x) == "table" and getmetatable(x) == nil and x[key] ~= nil then return x[key] end
  missing(tier, what)
end

-- deps.id(tier, part, what) -> the part's id
function M.id(tier, part, what) return field(tier, part, "id", what) end

-- deps.arn(tier, part, what) -> the part's ARN
function M.arn(tier, part, what) return field(tier, part, "arn", what) end

-- deps.ids(tier, list, what) -> the ids of a non-empty list of parts
function M.ids(tier, list, what)
  if type(list) ~= "table" or getmetatable(list) ~= nil or #list == 0 then missing(tier, what) end
  local out = {}
  for i, x in ipairs(list) do out[i] = M.id(tier, x, what) end
  return out
end

-- deps.subnets(tier, net, kind) -> the ids of the network's subnets of a kind
-- ("public", "private", "database"), one per zone
function M.subnets(tier, net, kind)
  net = net or {}
  local list = net.subnet_ids and net.subnet_ids[kind] or (net.subnets and net.subnets[kind])
  return M.ids(tier, list, "net.subnet_ids." .. kind)
end

-- deps.group(tier, sg, name) -> the id of the security group `name` (sg.<name> or sg.ids.<name>)
function M.group(tier, sg, name)
  sg = sg or {}
  local g = sg[name]
  if g == nil and sg.ids then g = sg.ids[name] end
  return M.id(tier, g, "sg." .. name)
end

return M
