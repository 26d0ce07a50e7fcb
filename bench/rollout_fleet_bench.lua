-- bench/rollout_fleet_bench.lua: `wpo rollout` (local executor) of a fleet of
-- 20 stacks against tests/fakeaws on 127.0.0.1 answering every call after
-- 50 ms (fault latency_ms): the canary alone, then the other 19 at once
-- (--canary 1 --waves 100% --max-parallel 20). Each stack: a public Route 53
-- zone and 4 records in it (A, CNAME, TXT, MX), all new.
--
-- Prints the AWS calls per stack by service (Route 53 apart, and by
-- operation), the wall time of the rollout, the bound and the ratio, beside
-- the goals: Route 53 calls per stack <= 8; wall <= 1.2 x bound.
--
-- The bound (a floor no rollout making these calls under these limits can
-- beat): bound = max(rate, solo x (1 + ceil((N - 1) / P))), where
--   rate = max over services s of max(0, calls_s - capacity_s) / refill_s:
--          the client-side bucket of s (wpo.aws.retry RATE_LIMITS, one per
--          account and region, shared by every stack of the rollout) lets
--          capacity_s calls through at once, then refill_s a second;
--   solo = the canary's duration in the rollout's report (one stack alone:
--          its chain of dependent calls at 50 ms each, loading, planning,
--          the state); after the canary the other N - 1 stacks run at most
--          P (--max-parallel) at once, each lasting at least solo.
--   wpo lua bench/rollout_fleet_bench.lua [N [P]]   (N stacks, default 20; --max-parallel P, default N)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../tests/lua/?.lua;" .. package.path

local fakeaws = require "fakeaws"
local gr = require "gitrepo"
local h = require "helpers"
local core = require "wpo.core.git"
local loop = require "wpo.core.loop"
local retry = require "wpo.aws.retry"

local N = tonumber(arg[1]) or 20
local P = tonumber(arg[2]) or N
local LATENCY_MS = 50
local WPO = core.realpath(h.WPO)

local f = fakeaws.start { region = "eu-west-1" }
local dir = h.tmpdir()
local env = { NO_COLOR = "1", WPO_WAIT_SCALE = os.getenv("WPO_WAIT_SCALE") or "1" }
for k, v in pairs(f.env) do env[k] = v end
if os.getenv("WPO_STDLIB") then env.WPO_STDLIB = os.getenv("WPO_STDLIB") end

gr.git(dir, "init -q -b main .")
gr.write(dir, "lib/customer.lua", [[
return function(name)
  local s = wpo.stack { name = name, region = "eu-west-1" }
  local zone = s:add("aws.route53.zone", "public", { name = name .. ".example.com" })
  local apex = name .. ".example.com"
  s:add("aws.route53.record", "www", { zone_id = zone.zone_id, name = "www." .. apex, type = "A",
    records = { "192.0.2.10" } })
  s:add("aws.route53.record", "app", { zone_id = zone.zone_id, name = "app." .. apex, type = "CNAME",
    records = { "www." .. apex } })
  s:add("aws.route53.record", "spf", { zone_id = zone.zone_id, name = apex, type = "TXT",
    records = { '"v=spf1 -all"' } })
  s:add("aws.route53.record", "mail", { zone_id = zone.zone_id, name = apex, type = "MX",
    records = { "10 mail." .. apex } })
  return s
end
]])
for i = 1, N do
  gr.write(dir, string.format("stacks/fleet/c%02d.lua", i),
    string.format('return require("lib.customer")("c%02d")\n', i))
end
gr.write(dir, ".gitignore", ".wpo/\n")
gr.git(dir, "add -A && git commit -q -m fleet && git tag v1")

f:faults { latency_ms = LATENCY_MS }
local parts = { "cd " .. h.quote(dir) .. " && env" }
for k, v in pairs(env) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
for _, a in ipairs({ WPO, "rollout", "v1", "stacks/fleet", "--yes", "--canary", "1", "--waves", "100%",
  "--max-parallel", tostring(P) }) do parts[#parts + 1] = h.quote(a) end
local t0 = loop.now()
local r = h.sh("sh -c " .. h.quote(table.concat(parts, " ")))
local wall = (loop.now() - t0) / 1000
if r.status ~= 0 then
  io.stderr:write(r.stdout, r.stderr)
  error("the rollout failed (exit " .. tostring(r.status) .. ")")
end
-- the canary's own duration, from the rollout's report line for stack 1
local solo
for line in r.stdout:gmatch("[^\n]+") do
  if line:find("stacks/fleet/c01.lua", 1, true) and line:find("done", 1, true) then
    local v, unit = line:match("(%d+%.?%d*)(m?s)%s*$")
    if v then solo = tonumber(v) / (unit == "ms" and 1000 or 1) end
  end
end
if not solo then io.stderr:write(r.stdout) error("no duration for the canary c01 in the report") end

local by_service, by_op = {}, {}
for op, n in pairs(f:calls()) do
  local service = op:match("^([^.]+)%.")
  if service and not op:find("^_") then
    by_service[service] = (by_service[service] or 0) + n
    if service == "route53" then by_op[op:sub(#service + 2)] = n end
  end
end
local rate, paced = 0, "none"
local parts_out = {}
for service, n in pairs(by_service) do
  local spec = retry.RATE_LIMITS[service] or retry.DEFAULT_RATE_LIMIT
  local t = math.max(0, n - spec[1]) / spec[2]
  if t > rate then rate, paced = t, service end
  parts_out[#parts_out + 1] = string.format("%s %.1f", service, n / N)
end
table.sort(parts_out)
local ops = {}
for op, n in pairs(by_op) do ops[#ops + 1] = string.format("%s %.1f", op, n / N) end
table.sort(ops)
local r53 = (by_service.route53 or 0) / N
local rounds = 1 + math.ceil((N - 1) / P)
local bound = math.max(rate, solo * rounds)
print(string.format("rollout of %d stacks (zone + 4 records), %d ms a call, --max-parallel %d: calls per stack: %s",
  N, LATENCY_MS, P, table.concat(parts_out, ", ")))
print(string.format("  route53 per stack by operation: %s", table.concat(ops, ", ")))
print(string.format("  Route 53 calls per stack %.1f (goal <= 8)", r53))
print(string.format("  wall %.2f s; bound %.2f s = max(rate %.2f s (%s), %d rounds x solo %.2f s); "
  .. "ratio %.2f (goal <= 1.2)", wall, bound, rate, paced, rounds, solo, wall / bound))
f:stop()
h.rmrf(dir)
