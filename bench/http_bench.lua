-- bench/http_bench.lua — HTTP requests per second through wpo.core.http and
-- wpo.task against a local keep-alive server (tests/servers/http_echo.py),
-- with 1 and with 32 requests in flight.
--   ./wpo lua bench/http_bench.lua [requests]
-- Goal: >= 2,000 req/s at 32 in flight on loopback.
local loop = require "wpo.core.loop"
local http = require "wpo.core.http"
local task = require "wpo.task"

local REPO = os.getenv("WPO_REPO") or "."
local launch = dofile(REPO .. "/tests/servers/launch.lua")
local GOAL_32 = 2000
local total = tonumber(arg and arg[1]) or 6400

local server <close> = launch.echo()
local url = server.url .. "/bench"

-- `total` GETs by `in_flight` tasks, each sending its next request as soon as
-- the previous one answered. Returns requests per second.
local function measure(in_flight, count)
  local per = count // in_flight
  local failures = 0
  local t0 = loop.now()
  for _ = 1, in_flight do
    task.spawn(function()
      for _ = 1, per do
        local r = task.await(http.start { url = url })
        if not (r and r.status == 200) then failures = failures + 1 end
      end
    end)
  end
  task.run()
  local seconds = (loop.now() - t0) / 1000
  assert(failures == 0, failures .. " requests failed")
  return per * in_flight / seconds
end

measure(32, 320)    -- warm up: open the connections
local one = measure(1, total // 4)
local many = measure(32, total)
print(string.format("http: %7.0f req/s with  1 in flight (keep-alive, loopback)", one))
print(string.format("http: %7.0f req/s with 32 in flight (goal >= %d req/s)%s", many, GOAL_32,
  many >= GOAL_32 and "" or "  BELOW GOAL"))
