-- aws.cloudfront.cache_policy: a CloudFront cache policy (what goes into the
-- cache key, and how long objects stay). AWS's managed policies need no
-- resource: wpo.aws.cloudfront.managed has their ids.
--
-- Attributes:
--   name           force_new (CloudFront keeps it unique in the account)
--   comment
--   min_ttl, default_ttl, max_ttl   seconds (default 0, 86400, 31536000;
--                  min <= default <= max)
--   cookies        { behavior = "none"|"whitelist"|"allExcept"|"all", names = {...} }
--   headers        { behavior = "none"|"whitelist", names = {...} }
--   query_strings  { behavior = "none"|"whitelist"|"allExcept"|"all", names = {...} }
--                  (each default { behavior = "none" }; names are given exactly
--                  for whitelist and allExcept)
--   gzip, brotli   cache compressed objects (default true)
-- Outputs: id.
--
-- A cache policy has no tags: create finds the policy a lost answer made by
-- its name, holding the wanted settings (a policy of that name with other
-- settings is someone else's: AlreadyExists). Update and delete send the
-- ETag of what they read (If-Match); a policy changed meanwhile is read again
-- once. Delete: a policy already gone is fine; one a distribution still uses
-- is an error saying so.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local common = require "wpo.aws.cloudfront.common"
local value = require "wpo.value"


local function part(behaviors)
  return { type = "object", default = { behavior = "none" }, fields = {
    behavior = { type = "string", required = true, choices = behaviors },
    names = { type = "list", of = { type = "string" } },
  } }
end

local PARTS = {
  cookies = { "CookiesConfig", "CookieBehavior", "Cookies" },
  headers = { "HeadersConfig", "HeaderBehavior", "Headers" },
  query_strings = { "QueryStringsConfig", "QueryStringBehavior", "QueryStrings" },
}
local PART_NAMES = { "cookies", "headers", "query_strings" }

-- the script's settings, checked: nil, or a one-line problem
local function problem(want)
  local lo, default, hi = want.min_ttl, want.default_ttl, want.max_ttl
  if math.type(lo) and math.type(default) and math.type(hi) and not (lo <= default and default <= hi) then
    return string.format("min_ttl <= default_ttl <= max_ttl is required (given %d, %d, %d)", lo, default, hi)
  end
  for _, name in ipairs(PART_NAMES) do
    local p = want[name]
    if type(p) == "table" and type(p.behavior) == "string" and not value.has_unknown(p.names)
      and not value.is_lazy(p.names) then
      local listed = p.behavior == "whitelist" or p.behavior == "allExcept"
      local n = type(p.names) == "table" and #p.names or 0
      if listed and n == 0 then
        return string.format("%s: behavior %s needs names", name, p.behavior)
      elseif not listed and n > 0 then
        return string.format("%s: behavior %s takes no names", name, p.behavior)
      end
    end
  end
  return nil
end

local function config_of(want)
  local params = { EnableAcceptEncodingGzip = want.gzip, EnableAcceptEncodingBrotli = want.brotli }
  for _, name in ipairs(PART_NAMES) do
    local key, behavior, list = table.unpack(PARTS[name])
    local p = want[name]
    local c = { [behavior] = p.behavior }
    if p.names and #p.names > 0 then c[list] = common.items(p.names) end
    params[key] = c
  end
  return { Name = want.name, Comment = want.comment, MinTTL = want.min_ttl, DefaultTTL = want.default_ttl,
    MaxTTL = want.max_ttl, ParametersInCacheKeyAndForwardedToOrigin = params }
end

local function observe(policy, prior)
  local c = policy.CachePolicyConfig or {}
  local params = c.ParametersInCacheKeyAndForwardedToOrigin or {}
  local inputs = prior and prior.inputs or {}
  local out = { id = policy.Id, name = c.Name, min_ttl = c.MinTTL, default_ttl = c.DefaultTTL,
    max_ttl = c.MaxTTL, gzip = params.EnableAcceptEncodingGzip == true,
    brotli = params.EnableAcceptEncodingBrotli == true }
  if c.Comment ~= nil and c.Comment ~= "" then out.comment = c.Comment
  elseif inputs.comment ~= nil then out.comment = "" end
  for _, name in ipairs(PART_NAMES) do
    local key, behavior, list = table.unpack(PARTS[name])
    local got = params[key] or {}
    local names = common.list(got[list])
    local part_out = { behavior = got[behavior] }
    if #names > 0 then part_out.names = kit.as_set(names, (inputs[name] or {}).names) end
    out[name] = part_out
  end
  return out
end

local get = common.getter("GetCachePolicy", "NoSuchCachePolicy")

local function read(ctx, id, prior)
  local got = get(ctx, id)
  return got and observe(got.CachePolicy, prior)
end

local function named(ctx, name)
  for x in common.each(ctx, "ListCachePolicies", "CachePolicyList", { Type = "custom" }) do
    if x.CachePolicy and (x.CachePolicy.CachePolicyConfig or {}).Name == name then return x.CachePolicy end
  end
  return nil
end

local function refuse_problem(ctx, want)
  local p = problem(want)
  if p then ctx:fail("InvalidAttribute", "%s", p) end
end

local function same_settings(observed, want)
  for _, k in ipairs({ "min_ttl", "default_ttl", "max_ttl", "gzip", "brotli" }) do
    if observed[k] ~= want[k] then return false end
  end
  if (observed.comment or "") ~= (want.comment or "") then return false end
  for _, name in ipairs(PART_NAMES) do
    local o, w = observed[name], want[name]
    if o.behavior ~= w.behavior or not kit.same_set(o.names or {}, w.names or {}) then return false end
  end
  return true
end

local function update(ctx, id, _, new)
  refuse_problem(ctx, new)
  local cf = common.client(ctx)
  common.with_etag(ctx, function()
    local got = get(ctx, id)
    if not got then ctx:fail("NotFound", "the cache policy %s (%s) no longer exists", new.name, id) end
    return got.ETag
  end, function(etag)
    return cf:call("UpdateCachePolicy", { Id = id, IfMatch = etag, CachePolicyConfig = config_of(new) })
  end)
  return read(ctx, id, { inputs = new })
end

return resource.define "aws.cloudfront.cache_policy" {
  description = "a CloudFront cache policy: the cache key and the TTLs",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    comment = { type = "string" },
    min_ttl = { type = "integer", default = 0 },
    default_ttl = { type = "integer", default = 86400 },
    max_ttl = { type = "integer", default = 31536000 },
    cookies = part({ "none", "whitelist", "allExcept", "all" }),
    headers = part({ "none", "whitelist" }),
    query_strings = part({ "none", "whitelist", "allExcept", "all" }),
    gzip = { type = "boolean", default = true },
    brotli = { type = "boolean", default = true },
  },
  outputs = { "id" },

  check = function(ctx, after)
    refuse_problem(ctx, after)
  end,

  found_by = "its name (holding the wanted settings)",
  find = function(ctx, want)
    local policy = named(ctx, want.name)
    if not policy then return {} end
    local current = observe(policy, { inputs = want })
    if not same_settings(current, want) then
      ctx:fail("AlreadyExists", "a cache policy named %s already exists (%s) with other settings: import it with "
        .. "'wpo import', or choose another name", want.name, policy.Id)
    end
    return { current }
  end,

  create = function(ctx, want, found)
    refuse_problem(ctx, want)
    if found then return read(ctx, found.id, { inputs = want }) end
    local out = common.client(ctx):call("CreateCachePolicy", { CachePolicyConfig = config_of(want) })
    return observe(out.CachePolicy, { inputs = want })
  end,

  read = read,
  update = update,

  delete = function(ctx, id)
    common.delete(ctx, id, get, "DeleteCachePolicy", "NoSuchCachePolicy", "CachePolicyInUse",
      "the cache policy %s is still used by a distribution's cache behavior: change or delete that distribution first")
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "cloudfront:GetCachePolicy", "cloudfront:ListCachePolicies" },
    create = { "cloudfront:CreateCachePolicy" },
    update = { "cloudfront:UpdateCachePolicy" },
    delete = { "cloudfront:DeleteCachePolicy" },
  },
}
