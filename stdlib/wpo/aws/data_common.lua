-- wpo.aws.data_common: what the data-tier resource types share (aws.rds.*,
-- aws.elasticache.*, aws.efs.*): tags as AWS lists, tag changes, waits with
-- a timeout naming the resource, "not found" errors, and secrets read from
-- Secrets Manager.
--
--   common.tag_list(map) -> { { Key, Value }... } (sorted by key)
--   common.tag_map(list) -> { [Key] = Value }
--   common.tag_changes(old_map, new_map) -> add (list), remove (keys)
--   common.missing(err, codes...) -> true when err is an AWS error with one of the codes
--   common.wait(ctx, what, check, { timeout = s, interval = s }) -> check's value
--       check() -> value | nil, state; a state in `fail` ends the wait with an error
--   common.secret(ctx, arn, key?, rules) -> value, version_id
--       GetSecretValue; the SecretString itself, or its JSON member `key`;
--       rules = { min, max, forbidden = "chars", what = "the master password" }
--       are checked without ever showing the value
--   common.secret_version(ctx, arn) -> the AWSCURRENT version id | nil (secret gone)
--   common.sorted(list) -> a sorted copy
--   common.unset_computed(attributes, observed, prior) -> observed without the
--       computed attributes the script left unset (AWS's choice is not drift)
--
-- Passwords and tokens read here are only ever passed to the AWS call that
-- sets them (members the models mark sensitive, redacted from debug logs);
-- types keep the secret's ARN and version id, never the value.
local aws = require "wpo.aws"
local errors = require "wpo.errors"

local M = {}

function M.tag_list(map)
  local keys = {}
  for k in pairs(map or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = { Key = k, Value = map[k] } end
  return out
end

function M.tag_map(list)
  local out = {}
  for _, t in ipairs(list or {}) do out[t.Key] = t.Value or "" end
  return out
end

function M.tag_changes(old, new)
  local add, remove = {}, {}
  for k, v in pairs(new or {}) do
    if (old or {})[k] ~= v then add[k] = v end
  end
  for k in pairs(old or {}) do
    if (new or {})[k] == nil then remove[#remove + 1] = k end
  end
  table.sort(remove)
  return M.tag_list(add), remove
end

function M.missing(err, ...)
  if not errors.is(err) or not err.code then return false end
  for i = 1, select("#", ...) do
    if err.code == select(i, ...) then return true end
  end
  return false
end

function M.sorted(list)
  local out = {}
  for i, v in ipairs(list or {}) do out[i] = v end
  table.sort(out)
  return out
end

function M.unset_computed(attributes, observed, prior)
  if not prior or not prior.inputs then return observed end   -- import: report everything
  for name, spec in pairs(attributes) do
    if spec.computed and prior.inputs[name] == nil then observed[name] = nil end
  end
  return observed
end

-- WPO_WAIT_SCALE (a number > 0) multiplies the durations of every wait, for
-- tests against fakeaws; aws.wait applies it itself where it knows it
-- (aws.wait_scale), and this module does otherwise.
local function scale()
  if aws.wait_scale then return 1 end
  local v = tonumber(os.getenv("WPO_WAIT_SCALE") or "")
  return (v and v > 0) and v or 1
end

function M.wait(ctx, what, check, opts)
  opts = opts or {}
  local k = scale()
  local o = require("wpo.aws.typekit").schedule { interval = opts.interval or 15 }
  local floor = k ~= 1 and 0.005 or 0
  local ok, value = pcall(aws.wait, check, { what = what, timeout = (opts.timeout or 1800) * k,
    interval = math.max(o.interval * k, floor), first = math.max(o.first * k, floor), backoff = o.backoff,
    max_interval = math.max(o.max_interval * k, floor) })
  if ok then return value end
  if errors.is(value) and value.code == "WaitTimeout" then
    ctx:fail("WaitTimeout", "%s", value.message)
  end
  error(value, 0)
end

local function decode_json(s)
  local ok, doc = pcall(require("cjson").decode, s)
  if ok and type(doc) == "table" then return doc end
  return nil
end

function M.secret(ctx, arn, key, rules)
  rules = rules or {}
  local what = rules.what or "the secret"
  local sm = ctx:aws("secretsmanager")
  local out, err = sm:pcall("GetSecretValue", { SecretId = arn })
  if not out then
    if M.missing(err, "ResourceNotFoundException") then
      ctx:fail("SecretNotFound", "%s comes from the secret %s, which does not exist (or has no current value)",
        what, arn)
    end
    error(err, 0)
  end
  local value = out.SecretString
  if value == nil then ctx:fail("InvalidSecret", "the secret %s holds binary data, not %s", arn, what) end
  if key then
    local doc = decode_json(value)
    if not doc then ctx:fail("InvalidSecret", "the secret %s is not a JSON object, so it has no key '%s'", arn, key) end
    value = doc[key]
    if type(value) ~= "string" then
      ctx:fail("InvalidSecret", "the secret %s has no string member '%s' for %s", arn, key, what)
    end
  end
  if rules.min and #value < rules.min or rules.max and #value > rules.max then
    ctx:fail("InvalidSecret", "%s from %s must be %d to %d characters long (it is %d)", what, arn,
      rules.min or 0, rules.max or math.huge, #value)
  end
  for i = 1, #value do
    local c = value:sub(i, i)
    local b = c:byte()
    if b <= 32 or b >= 127 or (rules.forbidden and rules.forbidden:find(c, 1, true)) then
      ctx:fail("InvalidSecret", "%s from %s may hold printable ASCII characters only%s; character %d is not allowed",
        what, arn, rules.forbidden and (", without spaces or any of " .. rules.forbidden) or "", i)
    end
  end
  return value, out.VersionId
end

function M.secret_version(ctx, arn)
  local out, err = ctx:aws("secretsmanager"):pcall("DescribeSecret", { SecretId = arn })
  if not out then
    if M.missing(err, "ResourceNotFoundException") then return nil end
    error(err, 0)
  end
  for version, stages in pairs(out.VersionIdsToStages or {}) do
    for _, stage in ipairs(stages) do
      if stage == "AWSCURRENT" then return version end
    end
  end
  return nil
end

return M
