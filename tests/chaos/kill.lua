-- tests/chaos/kill.lua — the kill -9 suite of issue 12, run by `make chaos`:
-- kill points spread evenly over the AWS calls of an apply and of a destroy of
-- the staging WordPress stack against fakeaws (each followed by one recovery
-- run: no duplicate, no orphan, no missing object, no second recovery run),
-- deletes caught in flight (NAT gateway, VPC endpoint, EFS mount target, ECS
-- service, Auto Scaling group), convergence under 20%
-- throttling plus 5% 5xx, and a disk that fills mid-apply. A line per case,
-- then the figures; exits 1 if any case failed.
--
--   WPO_STDLIB=$PWD/stdlib ./wpo lua tests/chaos/kill.lua [--apply N] [--destroy N] [--quick] [--destroy-only]
--                                                      [--faults-only]
--
-- --apply/--destroy: how many kill points in each (default 30 and 24);
-- --quick: a few of each kind (what make check runs); --destroy-only: the
-- destroy half (its kill points and the deletes caught in flight), no apply
-- kill points, faults or full disk; --faults-only: the throttling and 5xx
-- case alone. KILLPOINTS_TAIL=N: the last N lines of a
-- failed run's output (default 20, 0: all).
package.path = "tests/lua/?.lua;" .. package.path
local fakeaws = require "fakeaws"
local killpoints = require "killpoints"

local n_apply, n_destroy, quick, destroy_only, faults_only = 30, 24, false, false, false
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--apply" then n_apply = tonumber(arg[i + 1]); i = i + 2
  elseif a == "--destroy" then n_destroy = tonumber(arg[i + 1]); i = i + 2
  elseif a == "--quick" then quick = true; i = i + 1
  elseif a == "--destroy-only" then destroy_only = true; i = i + 1
  elseif a == "--faults-only" then faults_only = true; i = i + 1
  else
    io.stderr:write("usage: wpo lua tests/chaos/kill.lua [--apply N] [--destroy N] [--quick] [--destroy-only] "
      .. "[--faults-only]\n")
    os.exit(2)
  end
end
if quick then n_apply, n_destroy = 2, 1 end
if destroy_only then n_apply = 0 end
if faults_only then n_apply, n_destroy = 0, 0 end

local f = fakeaws.start { region = "eu-west-1" }
local k = killpoints.new(f)
local started = os.time()
local ok, err = pcall(function()
  local base = k:baseline()
  print(string.format("kill -9 suite: %s; a clean apply makes %d AWS calls, a destroy %d", k.stack,
    base.apply_calls, base.destroy_calls))
  local results = {}
  local function case(c)
    results[#results + 1] = c
    print(killpoints.line(c))
    if c.detail then print("    " .. c.detail:gsub("\n", "\n    ")) end
    io.stdout:flush()
  end
  -- spread evenly, from the first calls to the last ones
  for j = 1, n_apply do case(k:kill_apply(math.max(1, math.floor(j * base.apply_calls / (n_apply + 1))))) end
  for j = 1, n_destroy do
    case(k:kill_destroy(math.max(1, math.floor(j * base.destroy_calls / (n_destroy + 1)))))
  end
  -- deletes in flight when the kill comes
  if not faults_only then case(k:kill_destroy(1, "ec2.DeleteNatGateway")) end
  if not quick and not faults_only then
    case(k:kill_destroy(1, "ec2.DeleteVpcEndpoints"))
    case(k:kill_destroy(1, "efs.DeleteMountTarget"))
    case(k:kill_destroy(1, "ecs.DeleteService"))
    case(k:kill_destroy(1, "autoscaling.DeleteAutoScalingGroup"))
  end
  if not quick and not destroy_only then
    case(k:faults { throttle_rate = 0.2, error_rate = 0.05, seed = 12 })
  end
  if not destroy_only and not faults_only then case(k:full_disk(quick and 10 or 25)) end
  local t = killpoints.totals(results)
  print(string.format("kill -9 suite: %s in %ds", t.line, os.time() - started))
  return t
end)
k:close()
f:stop()
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
os.exit(err.failed == 0 and 0 or 1)
