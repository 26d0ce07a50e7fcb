-- wpo.wordpress: WordPress on ECS as one parameterised stack.
--
--   local wordpress = require "wpo.wordpress"
--   return wordpress.stack { name = "prod", region = "eu-west-1", cidr = "10.10.0.0/16", ... }
--
-- Validates every parameter (a wrong one is one error line naming the user's
-- file:line — for a customer stack, the customer's file, not a shared module),
-- fills production-safe defaults, declares the stack and wires the tiers
-- (stdlib/wpo/wordpress/<tier>.lua, each `build(stack, p, deps) -> parts`).
-- wordpress.params(spec) -> p validates without declaring anything.
local errors = require "wpo.errors"
local cidr = require "wpo.cidr"
local text = require "wpo.text"
local stackmod = require "wpo.stack"

local M = {}

M.DEFAULT_IMAGE = "wordpress:6-apache"

-- ---- where the user is ----
-- A frame in the user's files when one is left; a `return wordpress.stack{...}`
-- is a tail call and leaves none, so then the parameter is found in the
-- text of the user's files: `database =`, then `readers =` after it, ...

local function line_of(source, path)
  local pos, line = 1, nil
  for key in path:gsub("%[%d+%]", ""):gmatch("[^%.]+") do
    local s = source:find("[%s{,;]" .. key:gsub("%p", "%%%0") .. "%s*=[^=]", pos)
    if not s then break end
    pos = s + 1
    line = select(2, source:sub(1, s + 1):gsub("\n", "")) + 1
  end
  return line
end

local function user_where(path)
  local files = stackmod.user_files() or {}
  local is_user = {}
  for _, f in ipairs(files) do is_user["@" .. f.path] = true end
  local found
  for level = 2, 80 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.currentline and info.currentline > 0 and is_user[info.source] then
      found = info.source:sub(2) .. ":" .. info.currentline
    end
  end
  if found then return found end
  for _, f in ipairs(files) do
    local line = path and line_of(" " .. f.source, path)
    if line then return f.path .. ":" .. line end
  end
  return files[1] and files[1].path or nil
end

local function fail(path, fmt, ...)
  errors.raise { code = "InvalidParameter", where = user_where(path),
    message = string.format("wordpress.stack: %s: " .. fmt, path, ...) }
end

-- ---- the parameter schema ----
-- Each field: type ("string" | "integer" | "boolean" | "table" | "list" |
-- "any": its check tells), default (a value or function(p) -> value),
-- check(value, path) (may return the value normalised), fields
-- (for tables: a nested schema), required.

local function one_of(choices)
  return function(v, path)
    for _, c in ipairs(choices) do if v == c then return end end
    fail(path, "'%s' is not one of %s", tostring(v), table.concat(choices, ", "))
  end
end

local function pattern(pat, what)
  return function(v, path)
    if not v:match(pat) then fail(path, "'%s' is not %s", v, what) end
  end
end

local function range(lo, hi)
  return function(v, path)
    if v < lo or v > hi then fail(path, "%d is out of range (%d to %d)", v, lo, hi) end
  end
end

-- service.image: a reference (the image as it is), or { base, content }:
-- the image wpo builds from `content`, a directory of the stack repository
-- (wpo.wordpress.service). -> the value, its table with base filled in
local IMAGE_REF = pattern("^[%w][%w%.%-_/:@]*$", "a container image reference")
local IMAGE_KEYS = { "base", "content" }

local function check_image(v, path)
  if type(v) == "string" then
    IMAGE_REF(v, path)
    return v
  end
  if type(v) ~= "table" or #v > 0 then
    fail(path, "expected an image reference or { base = \"wordpress:6-apache\", content = \"site/\" }, got %s", type(v))
  end
  for k in pairs(v) do
    if k ~= "base" and k ~= "content" then
      local near = text.closest(tostring(k), IMAGE_KEYS)
      fail(path .. "." .. tostring(k), "unknown parameter%s (valid: base, content)",
        near and (" (did you mean '" .. near .. "'?)") or "")
    end
  end
  local base = v.base == nil and M.DEFAULT_IMAGE or v.base
  if type(base) ~= "string" then fail(path .. ".base", "expected string, got %s", type(base)) end
  IMAGE_REF(base, path .. ".base")
  local content = v.content
  if content == nil then fail(path .. ".content", "is required (a directory of the stack repository, e.g. \"site/\")") end
  if type(content) ~= "string" then fail(path .. ".content", "expected string, got %s", type(content)) end
  local dir = content:gsub("/+$", ""):gsub("^%./", "")
  if dir == "" or dir:sub(1, 1) == "/" or not dir:match("^[%w%._%-/]+$") then
    fail(path .. ".content", "'%s' is not a directory relative to the stack repository (e.g. \"site/\")", content)
  end
  for part in dir:gmatch("[^/]+") do
    if part == ".." then fail(path .. ".content", "'%s' goes outside the stack repository ('..')", content) end
  end
  return { base = base, content = dir }
end

local function min_max(path, t)
  if t.min > t.max then fail(path, "min (%d) is greater than max (%d)", t.min, t.max) end
end

local SCHEMA = {
  name = { type = "string", required = true,
    check = pattern("^[a-z][a-z0-9-]*[a-z0-9]$", "a name of lower-case letters, digits and hyphens (2 to 28)") },
  region = { type = "string", required = true,
    check = pattern("^[a-z][a-z]%-[a-z]+%-%d$", "an AWS region name such as eu-west-1") },
  azs = { type = "list" },   -- default: the region's a, b and c (filled in by params)
  cidr = { type = "string", required = true },
  nat = { type = "string", default = "per_az", check = one_of({ "per_az", "single" }) },
  protect = { type = "boolean", default = true },
  tags = { type = "table", default = function() return {} end },
  backend = { type = "table" },
  aws = { type = "table" },   -- wpo.stack's: profile, region, assume_role (an account per customer)
  site = { type = "table", required = true, fields = {
    domain = { type = "string", required = true,
      check = pattern("^[%w][%w%.%-]*%.[%a][%w%-]*$", "a domain name such as www.example.com") },
    certificate_arn = { type = "string", check = pattern("^arn:aws[%w%-]*:acm:[%w%-]+:%d+:certificate/.+$",
      "an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)") },
    zone_id = { type = "string", check = pattern("^Z[A-Z0-9]+$", "a Route53 hosted zone id (Z...)") },
    -- the public hosted zone of the site's names: an id (Z...) or a name, looked up
    -- (kept, never destroyed) or, with create_zone, made by the stack
    zone = { type = "string", check = pattern("^[%w][%w%.%-]*[%w]%.?$", "a hosted zone's id (Z...) or name") },
    create_zone = { type = "boolean", default = false },
    aliases = { type = "list", default = function() return {} end, check = function(v, path)
      for i, name in ipairs(v) do
        if type(name) ~= "string" or not name:match("^[%w%*][%w%.%-]*%.[%a][%w%-]*$") then
          fail(path .. "[" .. i .. "]", "'%s' is not a domain name", tostring(name))
        end
      end
    end },
    cdn = { type = "boolean", default = false },
    cdn_certificate_arn = { type = "string", check = pattern("^arn:aws[%w%-]*:acm:us%-east%-1:%d+:certificate/.+$",
      "an ACM certificate ARN in us-east-1, where CloudFront's certificates live") },
    waf = { type = "boolean", default = false },
    waf_rate_limit = { type = "integer", default = 2000, check = range(100, 2000000000) },
  }, check = function(path, t)
    if t.zone and t.zone_id then fail(path .. ".zone_id", "give zone or zone_id, not both") end
    if t.create_zone and not t.zone then fail(path .. ".create_zone", "needs site.zone, the zone's name") end
    if t.create_zone and t.zone:match("^Z[A-Z0-9]+$") then
      fail(path .. ".create_zone", "site.zone '%s' is an id; give the name of the zone to create", t.zone)
    end
    local zone_name = t.zone and not t.zone:match("^Z[A-Z0-9]+$") and t.zone:gsub("%.$", ""):lower()
    if zone_name then
      for i, name in ipairs({ t.domain, table.unpack(t.aliases) }) do
        local n = name:lower()
        if n ~= zone_name and n:sub(-#zone_name - 1) ~= "." .. zone_name then
          fail(i == 1 and (path .. ".domain") or (path .. ".aliases[" .. (i - 1) .. "]"),
            "'%s' is not in the zone %s", name, zone_name)
        end
      end
    end
    if t.cdn and not (t.zone or t.zone_id or (t.certificate_arn and t.cdn_certificate_arn)) then
      fail(path .. ".cdn", "needs site.zone (wpo makes and validates the certificates), or both "
        .. "site.certificate_arn (the ALB's: CloudFront reaches it over HTTPS) and site.cdn_certificate_arn")
    end
  end },
  media = { type = "table", default = function() return {} end, fields = {
    bucket = { type = "boolean", default = false },
    noncurrent_days = { type = "integer", default = 30, check = range(1, 3650) },
  } },
  backup = { type = "table", fields = {
    daily = { type = "string", default = "03:00",
      check = pattern("^[0-2]%d:[0-5]%d$", "a time of day, HH:MM in UTC") },
    retention_days = { type = "integer", default = 35, check = range(1, 36500) },
    copy_to_region = { type = "string",
      check = pattern("^[a-z][a-z]%-[a-z]+%-%d$", "an AWS region name such as eu-central-1") },
  } },
  compute = { type = "table", default = function() return {} end, fields = {
    instance_type = { type = "string", default = "m6i.large",
      check = pattern("^[a-z][a-z0-9%-]*%.[a-z0-9]+$", "an EC2 instance type such as m6i.large") },
    min = { type = "integer", default = 2, check = range(1, 100) },
    max = { type = "integer", default = 10, check = range(1, 100) },
  }, check = min_max },
  service = { type = "table", default = function() return {} end, fields = {
    cpu = { type = "integer", default = 512, check = range(128, 16384) },
    memory = { type = "integer", default = 1024, check = range(128, 122880) },
    desired = { type = "integer", default = 2, check = range(1, 1000) },
    min = { type = "integer", default = function(t) return math.min(2, t.desired) end, check = range(1, 1000) },
    max = { type = "integer", default = 20, check = range(1, 1000) },
    image = { type = "any", default = M.DEFAULT_IMAGE, check = check_image },
    ecr_tag = { type = "string", check = pattern("^[%w_][%w%.%-_]*$", "an image tag") },
    port = { type = "integer", default = 80, check = range(1, 65535) },
  }, check = function(path, t)
    min_max(path, t)
    if type(t.image) == "table" and t.ecr_tag then
      fail(path .. ".ecr_tag", "'%s' cannot go with image.content: the image is built from the stack's files",
        t.ecr_tag)
    end
    if t.desired < t.min or t.desired > t.max then
      fail(path .. ".desired", "%d is outside min..max (%d..%d)", t.desired, t.min, t.max)
    end
  end },
  database = { type = "table", default = function() return {} end, fields = {
    engine = { type = "string", default = "aurora-mysql", check = one_of({ "aurora-mysql", "mysql", "mariadb" }) },
    instance_class = { type = "string", default = "db.r6g.large",
      check = pattern("^db%.[a-z0-9]+%.[a-z0-9]+$", "an RDS instance class such as db.r6g.large") },
    readers = { type = "table", default = function() return {} end, fields = {
      min = { type = "integer", default = 1, check = range(0, 15) },
      max = { type = "integer", default = 4, check = range(0, 15) },
    }, check = min_max },
    name = { type = "string", default = "wordpress", check = pattern("^[%a][%w_]*$", "a database name") },
    user = { type = "string", default = "wordpress", check = pattern("^[%a][%w_]*$", "a database user name") },
    backup_retention_days = { type = "integer", default = 7, check = range(1, 35) },
    deletion_protection = { type = "boolean" },   -- default: protect
    allocated_storage = { type = "integer", default = 20, check = range(20, 65536) },
  } },
  cache = { type = "table", default = function() return {} end, fields = {
    node_type = { type = "string", default = "cache.r6g.large",
      check = pattern("^cache%.[a-z0-9]+%.[a-z0-9]+$", "an ElastiCache node type such as cache.r6g.large") },
    nodes = { type = "integer", default = 2, check = range(2, 6) },
  } },
  files = { type = "table", default = function() return {} end, fields = {
    transition_to_ia = { type = "string", default = "AFTER_30_DAYS",
      check = one_of({ "AFTER_7_DAYS", "AFTER_14_DAYS", "AFTER_30_DAYS", "AFTER_60_DAYS", "AFTER_90_DAYS" }) },
  } },
  registry = { type = "table", default = function() return {} end, fields = {
    keep_images = { type = "integer", default = 20, check = range(1, 1000) },
    untagged_days = { type = "integer", default = 7, check = range(1, 365) },
  } },
  logs = { type = "table", default = function() return {} end, fields = {
    retention_days = { type = "integer", default = 30,
      check = one_of({ 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 }) },
  } },
  alarms = { type = "table", default = function() return {} end, fields = {
    email = { type = "string", check = pattern("^[^@%s]+@[^@%s]+%.[%a]+$", "an e-mail address") },
  } },
}

local function type_of(v)
  local t = type(v)
  if t == "number" and math.type(v) == "integer" then return "integer" end
  if t == "table" then return (#v > 0 or next(v) == nil) and "list" or "table" end
  return t
end

-- Fields are checked in name order; a default given as a function gets the
-- table built so far (service.min reads service.desired, which sorts first).
local function validate(schema, given, path)
  if type(given) ~= "table" then fail(path, "expected a table, got %s", type(given)) end
  local names = text.sorted_keys(schema)
  for k in pairs(given) do
    if not schema[k] then
      local near = text.closest(tostring(k), names)
      fail(path ~= "" and (path .. "." .. tostring(k)) or tostring(k), "unknown parameter%s (valid: %s)",
        near and (" (did you mean '" .. near .. "'?)") or "", table.concat(names, ", "))
    end
  end
  local out = {}
  for _, k in ipairs(names) do
    local f, v = schema[k], given[k]
    local at = path ~= "" and (path .. "." .. k) or k
    if v == nil and f.default ~= nil then
      if type(f.default) == "function" then v = f.default(out) else v = f.default end
    end
    if v == nil then
      if f.required then fail(at, "is required") end
    else
      local want, got = f.type, type_of(v)
      local ok = want == "any" or got == want or (want == "table" and got == "list" and next(v) == nil)
        or (want == "list" and got == "table" and next(v) == nil)
      if not ok then fail(at, "expected %s, got %s", want == "table" and "a table" or want, got) end
      if f.fields then v = validate(f.fields, v, at) end
      if f.check then
        -- a check may give the value back normalised (service.image)
        if f.fields then f.check(at, v) else v = f.check(v, at) or v end
      end
      out[k] = v
    end
  end
  return out
end

-- wordpress.params(spec) -> p   (raises InvalidParameter errors)
function M.params(spec)
  local p = validate(SCHEMA, spec, "")
  p.azs = p.azs or { p.region .. "a", p.region .. "b", p.region .. "c" }
  if p.database.deletion_protection == nil then p.database.deletion_protection = p.protect end
  local block, err = cidr.parse(p.cidr)
  if not block or block.version ~= 4 then
    fail("cidr", "'%s' is not an IPv4 CIDR block (%s)", p.cidr, err or "IPv6 is not supported for the VPC")
  end
  if block.prefix < 16 or block.prefix > 20 then
    fail("cidr", "'%s' has a /%d prefix; use /16 to /20", p.cidr, block.prefix)
  end
  if cidr.canonical(p.cidr) ~= p.cidr then
    fail("cidr", "'%s' has host bits set (did you mean '%s'?)", p.cidr, cidr.canonical(p.cidr))
  end
  if #p.azs < 2 or #p.azs > 3 then
    fail("azs", "%d availability zone%s given; use 2 or 3", #p.azs, #p.azs == 1 and "" or "s")
  end
  local seen = {}
  for i, az in ipairs(p.azs) do
    if type(az) ~= "string" or az:sub(1, #p.region) ~= p.region or not az:sub(#p.region + 1):match("^[a-z]$") then
      fail("azs[" .. i .. "]", "'%s' is not an availability zone of %s (such as %sa)", tostring(az), p.region, p.region)
    end
    if seen[az] then fail("azs[" .. i .. "]", "'%s' is listed twice", az) end
    seen[az] = true
  end
  if p.site.zone_id then p.site.zone = p.site.zone_id end   -- the older name of an id
  if p.backup then
    local hour = tonumber(p.backup.daily:sub(1, 2))
    if hour > 23 then fail("backup.daily", "'%s' is not a time of day (HH:MM, 00:00 to 23:59)", p.backup.daily) end
    if p.backup.copy_to_region == p.region then
      fail("backup.copy_to_region", "'%s' is the stack's own region; copies go to another", p.region)
    end
  end
  if p.database.engine ~= "aurora-mysql" and (p.database.readers.max > 0) then
    -- Plain RDS instances have no reader autoscaling in this layout.
    p.database.readers = { min = 0, max = 0 }
  end
  return p
end

-- wordpress.stack(spec) -> stack
function M.stack(spec)
  local p = M.params(spec)
  local stack = stackmod.new {
    name = p.name, region = p.region, azs = p.azs, backend = p.backend, aws = p.aws,
    tags = (function()
      local t = { ["wpo:app"] = "wordpress" }
      for k, v in pairs(p.tags) do t[k] = v end
      return t
    end)(),
    description = "WordPress on ECS: " .. p.site.domain,
  }
  -- the module is named at run time
  local tier = function(name) return require("wpo.wordpress." .. name) end
  local parts = {}
  parts.net = tier("network").build(stack, p, {})
  parts.sg = tier("security").build(stack, p, { net = parts.net })
  parts.registry = tier("registry").build(stack, p, {})
  parts.secrets = tier("secrets").build(stack, p, {})
  parts.files = tier("files").build(stack, p, { net = parts.net, sg = parts.sg })
  parts.media = tier("media").build(stack, p, { registry = parts.registry })
  parts.identity = tier("identity").build(stack, p, { registry = parts.registry, secrets = parts.secrets,
    files = parts.files, media = parts.media })
  parts.db = tier("database").build(stack, p, { net = parts.net, sg = parts.sg, secrets = parts.secrets })
  parts.cache = tier("cache").build(stack, p, { net = parts.net, sg = parts.sg, secrets = parts.secrets })
  parts.edge = tier("edge").prepare(stack, p)
  parts.lb = tier("loadbalancer").build(stack, p, { net = parts.net, sg = parts.sg, edge = parts.edge })
  tier("edge").front(stack, p, parts.edge, { lb = parts.lb, media = parts.media })
  tier("media").policy(stack, p, parts.media, parts.edge)
  parts.compute = tier("compute").build(stack, p, { net = parts.net, sg = parts.sg, identity = parts.identity })
  parts.ops = tier("observability").build(stack, p, { lb = parts.lb, db = parts.db, compute = parts.compute })
  parts.service = tier("service").build(stack, p, parts)
  parts.dns = tier("dns").build(stack, p, { net = parts.net, db = parts.db, cache = parts.cache,
    files = parts.files })
  parts.backup = tier("backup").build(stack, p, { db = parts.db, files = parts.files })
  M.outputs(stack, p, parts)
  return stack
end

-- The stack's outputs: where the site is and what operators need — never a secret's value.
function M.outputs(stack, p, parts)
  local lb, db = parts.lb, parts.db
  stack:output("site_url", "https://" .. p.site.domain)
  stack:output("alb_dns_name", lb.dns_name)
  stack:output("ecr_repository_url", parts.registry.repository_url)
  stack:output("db_endpoint", db.endpoint)
  stack:output("db_reader_endpoint", db.reader_endpoint)
  stack:output("db_secret_arn", db.secret_arn)
  stack:output("efs_id", parts.files.file_system_id)
  stack:output("redis_endpoint", parts.cache.primary_endpoint)
  local edge = parts.edge or {}
  if edge.zone then stack:output("zone_name_servers", edge.zone.name_servers) end
  if edge.distribution then stack:output("cdn_domain_name", edge.distribution.domain_name) end
  if parts.media and parts.media.bucket then stack:output("media_bucket", parts.media.bucket_name) end
  if parts.backup then stack:output("backup_vault_arn", parts.backup.vault.arn) end
end

return M
