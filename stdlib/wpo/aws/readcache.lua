-- wpo.aws.readcache: no second read of one object in one run. What a run's
-- refresh read (the answers to the read calls of its read-only clients) is
-- handed to the first identical read call of the delete or update path of
-- the same run, instead of asking AWS again, while it is still fresh:
--   * read in this run (the cache is made by each plan: workflow.make_plan),
--   * no write since to anything it names: a write call (any client, any
--     service) drops every answer whose parameters share a string with the
--     write's parameters (an id, a name, an ARN) — conservative by design,
--   * at most FRESH seconds old (AWS moves states on its own),
--   * taken once: the next identical read (a wait's poll) goes to AWS.
-- Errors are never kept. One cache per state (a run of one stack: a rollout's
-- stacks never share one), scoped by the provider's profile and role; not
-- used by clients made outside a resource context, nor when no plan started
-- one for the state.
--
--   readcache.start(st) -> a new cache for this state's run (workflow.make_plan)
--   readcache.of(st) -> that cache | nil
--   readcache.new { now = fn, fresh = seconds } -> cache
--   cache:scope(name) -> a view of the cache whose keys are prefixed with name
--   cache:put(service, region, op, params, out, meta)
--   cache:take(service, region, op, params) -> out, meta | nil
--   cache:invalidate(params)                a write naming these parameters
--   cache.stats -> { stored, taken, dropped, stale }
local M = {}

M.FRESH = 60

local runs = setmetatable({}, { __mode = "k" })

function M.start(st)
  runs[st] = M.new()
  return runs[st]
end

function M.of(st)
  return st and runs[st] or nil
end

local Cache = {}
Cache.__index = Cache

local function default_now() return require("wpo.core.loop").now() / 1000 end

function M.new(opts)
  opts = opts or {}
  return setmetatable({ entries = {}, now = opts.now or default_now, fresh = opts.fresh or M.FRESH,
    stats = { stored = 0, taken = 0, dropped = 0, stale = 0 } }, Cache)
end

-- a canonical text of a value: keys sorted, so equal parameters give one key
local function canon(v, out)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      out[#out + 1] = string.format("%q=", tostring(k))
      canon(v[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif t == "string" then
    out[#out + 1] = string.format("%q", v)
  else
    out[#out + 1] = tostring(v)
  end
  return out
end

local function key(scope, service, region, op, params)
  return table.concat(canon(params or {}, { scope, "\0", service, "\0", tostring(region), "\0", op, "\0" }))
end

-- every string in a parameter table (ids, names, ARNs)
local function strings(v, set)
  set = set or {}
  if type(v) == "string" then set[v] = true
  elseif type(v) == "table" then
    for _, x in pairs(v) do strings(x, set) end
  end
  return set
end

function Cache:put(service, region, op, params, out, meta)
  self.entries[key(self.prefix or "", service, region, op, params)] = { out = out, meta = meta, at = self.now(),
    names = strings(params) }
  self.stats.stored = self.stats.stored + 1
end

function Cache:take(service, region, op, params)
  local k = key(self.prefix or "", service, region, op, params)
  local e = self.entries[k]
  if not e then return nil end
  self.entries[k] = nil
  if self.now() - e.at > self.fresh then
    self.stats.stale = self.stats.stale + 1
    return nil
  end
  self.stats.taken = self.stats.taken + 1
  local meta = {}
  for mk, mv in pairs(e.meta or {}) do meta[mk] = mv end
  meta.cached = true
  return e.out, meta
end

function Cache:scope(name)
  return setmetatable({ prefix = name, entries = self.entries, now = self.now, fresh = self.fresh,
    stats = self.stats }, Cache)
end

function Cache:invalidate(params)
  local names = strings(params)
  if next(names) == nil then return end
  for k, e in pairs(self.entries) do
    for name in pairs(e.names) do
      if names[name] then
        self.entries[k] = nil
        self.stats.dropped = self.stats.dropped + 1
        break
      end
    end
  end
end

return M
