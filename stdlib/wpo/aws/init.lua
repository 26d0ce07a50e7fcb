-- wpo.aws: what resource types and commands use to talk to AWS.
--
--   local aws = require "wpo.aws"
--   local ec2 = aws.client("ec2", { region = ctx.region })     -- see wpo.aws.client
--   local vpc = ec2:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }).Vpc
--   ec2:call("CreateTags", { Resources = { vpc.VpcId }, Tags = { { Key = "Name", Value = "main" } } })
--   aws.wait(function()
--     local v = ec2:call("DescribeVpcs", { VpcIds = { vpc.VpcId } }).Vpcs[1]
--     return v.State == "available" and v, v.State
--   end, { what = "VPC " .. vpc.VpcId .. " to become available", timeout = 300, interval = 2 })
--   for page in ec2:paginate("DescribeVpcs", { Filters = { { Name = "tag:wpo:stack", Values = { "prod" } } } }) do
--     for _, v in ipairs(page.Vpcs) do ... end
--   end
--   local out, err = ec2:pcall("DeleteVpc", { VpcId = vpc.VpcId })   -- err.code "DependencyViolation"...
--   local id = aws.required(ec2:call("CreateVpc", {...}), "Vpc", "VpcId")   -- InvalidResponse when AWS left it out
--   aws.client("ec2", { read_only = true })   -- a plan's: any write raises ReadOnlyViolation
--
-- aws.client(service, opts) -> client (wpo.aws.client.new). Results are Lua
-- tables named as in AWS's API: integers, booleans, timestamps as ISO 8601
-- UTC strings ("2024-01-02T03:04:05Z"; aws.time converts to epoch), blobs as
-- bytes, lists marked with aws.LIST_MT (aws.is_list) so [] stays a list.
--
-- aws.wait(check, opts) polls check() until it returns a truthy first value,
-- which wait returns. check's second value describes the current state (shown
-- in progress and in the timeout error). An error raised by check ends the
-- wait. opts: what (for messages), timeout (seconds, default 600), interval
-- (seconds, default 5), backoff (factor applied to the interval after each
-- poll, default 1), max_interval (default 60), first (seconds before the
-- second poll, default: interval; later pauses start from it and grow by
-- backoff up to max_interval), progress(info) called after
-- each unsuccessful poll with { what, attempt, elapsed, state, next_in };
-- sleep(seconds) and now() -> seconds for tests. Inside a task the sleeps
-- yield; outside one they drive the loop.
--
-- Time scale: WPO_WAIT_SCALE (a number > 0, default 1), or
-- aws.set_wait_scale(x), multiplies every duration of aws.wait (interval,
-- max_interval, timeout) — 0.001 makes a 10-minute wait a 0.6-second one, for
-- tests against tests/fakeaws. Scaled intervals are at least 5 ms. Messages
-- still show the time actually spent. Time a check spent inside a call
-- waiting for what AWS shows late (aws.late_spent) does not count against
-- the timeout.
local errors = require "wpo.errors"
local task = require "wpo.task"
local loop = require "wpo.core.loop"
local text = require "wpo.text"

local M = {}

-- The client (with its credentials, signer and transport) and the protocols
-- are required when a field below is first read, not here: every resource
-- type requires wpo.aws for its functions, and an offline plan loads every
-- type of its stack for the schema while calling AWS never.
local FROM = {
  client = { "wpo.aws.client", "new" }, required = { "wpo.aws.client", "required" },
  is_read = { "wpo.aws.client", "is_read" }, services = { "wpo.aws.client", "services" },
  is_list = { "wpo.aws.protocol.common", "is_list" }, LIST_MT = { "wpo.aws.protocol.common", "LIST_MT" },
}
setmetatable(M, { __index = function(_, k)
  local from = FROM[k]
  if not from then return nil end
  local v = require(from[1])[from[2]]   -- the client's modules load on first use (start time)
  rawset(M, k, v)
  return v
end })

-- aws.time(iso8601 | epoch) -> epoch seconds (float when fractional) | nil, err
function M.time(v)
  -- the protocols load on first use (an offline plan needs none)
  local sec, usec = require("wpo.aws.protocol.common").parse_time(v)
  if not sec then return nil, usec end
  if usec == 0 then return sec end
  return sec + usec / 1e6
end

local WAIT_OPTIONS = { what = "string", timeout = "number", interval = "number", first = "number", backoff = "number",
  max_interval = "number", progress = "function", sleep = "function", now = "function" }

local function wait_sleep(seconds)
  if seconds > 0 then task.sleep(math.floor(seconds * 1000 + 0.5)) end
end

-- Seconds each task (or the main program) spent waiting inside a call for
-- what AWS shows late (wpo.aws.typekit's late waits, which report them here):
-- aws.wait does not count them against its timeout. A wait's timeout bounds
-- the state it waits for; AWS's propagation delays are real time even when
-- WPO_WAIT_SCALE shortens every timeout (tests against fakeaws --eventual).
local late_spent = setmetatable({}, { __mode = "k" })
local MAIN = {}

-- aws.late_spent(seconds?) -> the seconds this task spent so far (after adding seconds)
function M.late_spent(seconds)
  local key = task.current() or MAIN
  late_spent[key] = (late_spent[key] or 0) + (seconds or 0)
  return late_spent[key]
end

local function wait_now() return loop.now() / 1000 - M.late_spent() end

local wait_scale

-- aws.wait_scale() -> the factor aws.wait applies to its durations
function M.wait_scale()
  if wait_scale == nil then
    local v = tonumber(os.getenv("WPO_WAIT_SCALE") or "")
    wait_scale = (v and v > 0) and v or 1
  end
  return wait_scale
end

-- aws.set_wait_scale(x | nil): nil goes back to WPO_WAIT_SCALE
function M.set_wait_scale(x)
  if x ~= nil and (type(x) ~= "number" or x <= 0) then error("aws.set_wait_scale: a number > 0 expected", 2) end
  wait_scale = x
end

function M.wait(check, opts)
  if type(check) ~= "function" then error("aws.wait: a check function expected", 2) end
  opts = opts or {}
  for k, v in pairs(opts) do
    if not WAIT_OPTIONS[k] then
      local names = {}
      for n in pairs(WAIT_OPTIONS) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("aws.wait: unknown option '%s' (valid: %s)", tostring(k), table.concat(names, ", ")), 2)
    end
    if type(v) ~= WAIT_OPTIONS[k] then
      error(string.format("aws.wait: option %s must be a %s", k, WAIT_OPTIONS[k]), 2)
    end
  end
  local what = opts.what or "the condition"
  local scale = M.wait_scale()
  local floor = scale ~= 1 and 0.005 or 0
  local timeout = (opts.timeout or 600) * scale
  local interval = math.max((opts.first or opts.interval or 5) * scale, floor)
  local backoff = opts.backoff or 1
  local max_interval = math.max((opts.max_interval or 60) * scale, floor)
  local sleep, now = opts.sleep or wait_sleep, opts.now or wait_now
  local started = now()
  local attempt = 0
  while true do
    attempt = attempt + 1
    local done, state = check()
    if done then return done, state end
    local elapsed = now() - started
    local left = timeout - elapsed
    if left <= 0 then
      errors.raise { code = "WaitTimeout", what = what, state = state,
        message = string.format("timed out after %s waiting for %s%s", text.duration(elapsed),
          what, state ~= nil and (" (last state: " .. tostring(state) .. ")") or "") }
    end
    local pause = math.min(interval, left)
    if opts.progress then
      opts.progress { what = what, attempt = attempt, elapsed = elapsed, state = state, next_in = pause }
    end
    sleep(pause)
    interval = math.min(interval * backoff, max_interval)
  end
end

return M
