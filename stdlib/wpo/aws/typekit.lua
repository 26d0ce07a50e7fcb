-- wpo.aws.typekit: what the compute, service and load-balancer resource types
-- share — tag lists in each service's shape, comparing what AWS answers with
-- what the script asked for, waiting with the resource named, AWS error codes.
-- Not a resource type (no resource.define here).
--
--   typekit.ec2_tags(map) -> { { Key, Value } } (sorted)   typekit.from_ec2_tags(list) -> map
--   typekit.ecs_tags(map) -> { { key, value } } (sorted)   typekit.from_ecs_tags(list) -> map
--   typekit.user_tags(map, drop?) -> map without aws:* keys (and the keys in the set drop)
--   typekit.tag_changes(old, new) -> set (map of keys added or changed), removed (sorted keys)
--   typekit.try(client, op, params) -> result | nil, err   (client:pcall gives result, meta)
--   typekit.is_code(err, code...) -> boolean     an AWS error with one of these codes
--   typekit.wait(ctx, check, opts) -> aws.wait with the resource's address in
--        `what` and progress notes; polling intervals scaled by WPO_WAIT_SCALE
--        (tests against fakeaws) — by aws.wait itself when it has a time scale
--        (aws.wait_scale), else here (intervals only, never the timeout)
--   typekit.same_set(a, b) -> boolean              lists equal as sets
--   typekit.as_prior_order(observed, prior) -> prior when it holds the same set, else observed as AWS
--        ordered it
--   typekit.contains(want, have) -> boolean        every value of want is in have (recursively);
--        lists compare element by element; what AWS adds (defaults) is ignored
--   typekit.same_strategy(a, b) -> boolean        capacity-provider strategies equal, weight and
--        base 0 when left out
--   typekit.sorted(list) -> a sorted copy
--   typekit.chunks(list, n) -> iterator over slices of at most n
--   typekit.owns(ctx, tags) -> boolean: the tags carry this resource's address
--        (and no other stack's name)
--   typekit.named(ctx, noun, name, tags, object?) -> a type's find answer for an
--        object found under the name the resource wants: { { id = name, tags,
--        object } } when its tags carry this resource's address (and no other
--        stack's), else an AlreadyExists error ("import it, or choose another
--        name"); {} when tags is nil (no such object)
local aws = require "wpo.aws"
local errors = require "wpo.errors"
local resource = require "wpo.resource"

local M = {}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

function M.ec2_tags(map)
  local out = {}
  for _, k in ipairs(sorted_keys(map)) do out[#out + 1] = { Key = k, Value = map[k] } end
  return out
end

function M.from_ec2_tags(list)
  local out = {}
  for _, t in ipairs(list or {}) do out[t.Key] = t.Value or "" end
  return out
end

function M.ecs_tags(map)
  local out = {}
  for _, k in ipairs(sorted_keys(map)) do out[#out + 1] = { key = k, value = map[k] } end
  return out
end

function M.from_ecs_tags(list)
  local out = {}
  for _, t in ipairs(list or {}) do out[t.key] = t.value or "" end
  return out
end

function M.user_tags(map, drop)
  local out = {}
  for k, v in pairs(map or {}) do
    if not k:match("^aws:") and not (drop and drop[k]) then out[k] = v end
  end
  return out
end

function M.tag_changes(old, new)
  local set, removed = {}, {}
  for k, v in pairs(new or {}) do
    if (old or {})[k] ~= v then set[k] = v end
  end
  for _, k in ipairs(sorted_keys(old)) do
    if (new or {})[k] == nil then removed[#removed + 1] = k end
  end
  return set, removed
end

function M.try(client, op, params)
  local out, err = client:pcall(op, params)
  if out == nil then return nil, err end
  return out
end

function M.is_code(err, ...)
  if type(err) ~= "table" or not errors.is(err) then return false end
  for i = 1, select("#", ...) do
    if err.code == select(i, ...) then return true end
  end
  return false
end

-- The scale applied to polling intervals; read from WPO_WAIT_SCALE on first use.
M.wait_scale = nil

local function scale()
  if M.wait_scale == nil then
    local s = tonumber(os.getenv("WPO_WAIT_SCALE") or "")
    M.wait_scale = (s and s >= 0) and s or 1
  end
  return M.wait_scale
end

-- typekit.wait(ctx, check, { what, timeout, interval, backoff, max_interval })
function M.wait(ctx, check, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if not aws.wait_scale then
    local s = scale()
    o.interval = (o.interval or 5) * s
    o.max_interval = (o.max_interval or 60) * s
  end
  o.what = (ctx.address and (ctx.address .. ": ") or "") .. (o.what or "the change to finish")
  o.progress = o.progress or function(info)
    if info.attempt == 1 or info.attempt % 6 == 0 then
      ctx:log("waiting for %s (%s)", opts.what or "the change", tostring(info.state))
    end
  end
  return aws.wait(check, o)
end

function M.same_set(a, b)
  a, b = a or {}, b or {}
  if #a ~= #b then return false end
  local count = {}
  for _, x in ipairs(a) do count[x] = (count[x] or 0) + 1 end
  for _, x in ipairs(b) do
    if not count[x] or count[x] == 0 then return false end
    count[x] = count[x] - 1
  end
  return true
end

function M.same_strategy(a, b)
  local function norm(list)
    local out = {}
    for i, x in ipairs(list or {}) do
      out[i] = { capacity_provider = x.capacity_provider, weight = x.weight or 0, base = x.base or 0 }
    end
    return out
  end
  local na, nb = norm(a), norm(b)
  if #na ~= #nb then return false end
  for i = 1, #na do
    for _, k in ipairs({ "capacity_provider", "weight", "base" }) do
      if na[i][k] ~= nb[i][k] then return false end
    end
  end
  return true
end

function M.sorted(list)
  local out = {}
  for i, x in ipairs(list or {}) do out[i] = x end
  table.sort(out, function(x, y) return tostring(x) < tostring(y) end)
  return out
end

function M.as_prior_order(observed, prior)
  if prior and M.same_set(observed, prior) then return prior end
  return observed
end

local function contains(want, have)
  if type(want) ~= "table" then return want == have end
  if next(want) == nil then return have == nil or (type(have) == "table" and next(have) == nil) end
  if type(have) ~= "table" then return false end
  if #want > 0 then
    if #want ~= #have then return false end
    for i = 1, #want do
      if not contains(want[i], have[i]) then return false end
    end
    return true
  end
  for k, v in pairs(want) do
    if not contains(v, have[k]) then return false end
  end
  return true
end
M.contains = contains

function M.chunks(list, n)
  local i = 0
  return function()
    if i >= #list then return nil end
    local out = {}
    for j = i + 1, math.min(i + n, #list) do out[#out + 1] = list[j] end
    i = i + n
    return out
  end
end

function M.owns(ctx, tags)
  return tags ~= nil and tags[resource.TAG_ADDRESS] == ctx.address
    and (tags[resource.TAG_STACK] or ctx.stack) == ctx.stack
end

function M.named(ctx, noun, name, tags, object)
  if tags == nil then return {} end
  if not M.owns(ctx, tags) then
    M.fail(ctx, "AlreadyExists", "%s named %s already exists and was not made by this resource (import it with "
      .. "'wpo import', or choose another name)", noun, name)
  end
  return { { id = name, tags = tags, object = object } }
end

-- typekit.fail(ctx, code, fmt, ...) : ctx:fail, for a context built by a test too
function M.fail(ctx, code, fmt, ...)
  errors.raise { code = code, message = string.format(fmt, ...), address = ctx.address, where = ctx.where }
end

return M
