-- bench/state_bench.lua: `wpo run --yes` of synthetic stacks of 1,000, 5,000
-- and 50,000 wpo.null resources (bench/gen_stack.lua: chains and fans, so
-- nearly every resource waits for the one before it to be committed) from no
-- state, with the local backend. Prints wall time, CPU per resource (every
-- thread of the process: the journal's flushes included) and peak RSS of
-- each run beside the goals: 5,000 in under 5 s, 50,000 in under 60 s, CPU
-- per resource at most 1 ms and within 1.5x from 1,000 to 50,000.
--   wpo lua bench/state_bench.lua [N...]     (make bench runs it; N: other sizes)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local wpo = os.getenv("WPO") or (here .. "/../wpo")
if wpo:sub(1, 1) ~= "/" then wpo = (os.getenv("PWD") or ".") .. "/" .. wpo end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, status = p:close()
  return out, ok and 0 or status
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local dir = sh("mktemp -d"):gsub("%s+$", "")
assert(dir:match("^/tmp/"), "mktemp failed")

-- The measured process reports its CPU time (os.clock: all its threads) and
-- its peak RSS (VmHWM) when it exits.
local probe = dir .. "/probe.lua"
local f = assert(io.open(probe, "w"))
f:write([[
local argv = { [0] = "wpo" }
for i = 1, #arg do argv[i] = arg[i] end
local status = require("wpo.cli").main(argv)
local s = io.open("/proc/self/status"):read("a")
io.stderr:write("CPU_S=", os.clock(), " VmHWM_KB=", s:match("VmHWM:%s*(%d+)"), "\n")
return status
]])
f:close()

local function measure(n)
  local sdir = string.format("%s/%d", dir, n)
  local _, st = sh(string.format("%s lua %s/gen_stack.lua %d %s", q(wpo), q(here), n, q(sdir)))
  assert(st == 0, "the generator failed")
  local out, status = sh(string.format(
    "cd %s && s=$(date +%%s%%N) && %s lua %s run stack.lua --yes 2>err >out; "
    .. "rc=$?; e=$(date +%%s%%N); echo \"$rc $(( (e - s) / 1000000 )) $(sed -n 's/^CPU_S=//p' err)\"",
    q(sdir), q(wpo), q(probe)))
  assert(status == 0, "the shell failed")
  local rc, ms, cpu, kb = out:match("^(%d+) (%d+) ([%d.]+) VmHWM_KB=(%d+)")
  assert(rc == "0", "wpo run failed in " .. sdir .. ": " .. out)
  assert(sh("tail -1 " .. q(sdir .. "/out")):match("Apply complete: " .. n .. " added"), "the apply did not complete")
  os.execute("rm -rf " .. q(sdir))
  return tonumber(ms) / 1000, tonumber(cpu) * 1000 / n, tonumber(kb) / 1024
end

local GOALS = { [5000] = "goal < 5 s", [50000] = "goal < 60 s" }
local LIMIT = { [5000] = 5, [50000] = 60 }
local sizes = {}
for i = 1, #arg do sizes[#sizes + 1] = math.tointeger(tonumber(arg[i])) end
if not sizes[1] then sizes = { 1000, 5000, 50000 } end
local results, met = {}, true
for _, n in ipairs(sizes) do
  local secs, cpu_ms, mb = measure(n)
  results[n] = cpu_ms
  if LIMIT[n] and secs >= LIMIT[n] then met = false end
  if cpu_ms > 1 then met = false end
  print(string.format("apply %6d wpo.null: %6.2f s%-14s  CPU %.3f ms/resource (goal <= 1 ms)  peak RSS %6.1f MB",
    n, secs, GOALS[n] and (" (" .. GOALS[n] .. ")") or "", cpu_ms, mb))
end
if results[1000] and results[50000] then
  local ratio = results[50000] / results[1000]
  if ratio > 1.5 then met = false end
  print(string.format("CPU per resource 1,000 -> 50,000: x%.2f (goal <= x1.5)", ratio))
end
print(met and "state: every goal met" or "state: a goal is missed")
os.execute("rm -rf " .. q(dir))
return 0
