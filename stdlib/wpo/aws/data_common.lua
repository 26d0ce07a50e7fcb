-- wpo.aws.data_common: the wait of the data-tier resource types (aws.rds.*,
-- aws.elasticache.*, aws.efs.*), with a timeout naming the resource. Their
-- tags, error codes, ordering, diffs and secrets are typekit's
-- (wpo.aws.typekit); only this wait is left here, for it is being reworked
-- with the other waits.
--
--   common.wait(ctx, what, check, { timeout = s, interval = s }) -> check's value
--       check() -> value | nil, state; a state in `fail` ends the wait with an error
local aws = require "wpo.aws"
local errors = require "wpo.errors"

local M = {}

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

return M
