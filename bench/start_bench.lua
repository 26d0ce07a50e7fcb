-- bench/start_bench.lua: how fast wpo starts. `wpo version` and the offline
-- plan of the production stack (`wpo plan stacks/prod.lua`: local state, no
-- AWS call, in this git work tree) run alternately, 25 times each, with the
-- library built into the binary (WPO_STDLIB unset, as users run it). Prints
-- the median wall time of each, their ratio and the plan's peak RSS beside
-- the goals: plan < 20 ms and <= 2.5x wpo version; peak RSS < 20 MB; and
-- the fastest run of each, for how much of the median is the machine's noise.
-- With BASELINE=/path/to/another/wpo (an earlier build), that binary's
-- version and plan run in the same loop, alternating with this one's, and
-- its figures are printed too: a comparison on a machine whose speed drifts.
--   wpo lua bench/start_bench.lua [RUNS]       (make bench runs it)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local wpo = os.getenv("WPO") or (here .. "/../wpo")
if wpo:sub(1, 1) ~= "/" then wpo = (os.getenv("PWD") or ".") .. "/" .. wpo end
local runs = math.tointeger(tonumber(arg[1] or "25")) or 25

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, status = p:close()
  return out, ok and 0 or status
end

local baseline = os.getenv("BASELINE")
if baseline == "" then baseline = nil end
if baseline and baseline:sub(1, 1) ~= "/" then baseline = (os.getenv("PWD") or ".") .. "/" .. baseline end
local binaries = { { key = "", path = wpo } }
if baseline then binaries[2] = { key = "base_", path = baseline } end

-- bash's $EPOCHREALTIME: no process is started to read the clock
local steps = {}
for _, b in ipairs(binaries) do
  steps[#steps + 1] = string.format('s=$EPOCHREALTIME; %s version >/dev/null || exit 1; e=$EPOCHREALTIME; '
    .. 'echo "%sversion $s $e"', q(b.path), b.key)
  steps[#steps + 1] = string.format('s=$EPOCHREALTIME; %s plan stacks/prod.lua >/dev/null || exit 1; '
    .. 'e=$EPOCHREALTIME; echo "%splan $s $e"', q(b.path), b.key)
end
local script = string.format([[
cd %s/.. || exit 1
unset WPO_STDLIB
for i in $(seq %d); do
  %s
done
/usr/bin/time -f "rss %%M" %s plan stacks/prod.lua 2>&1 >/dev/null | tail -1
]], q(here), runs, table.concat(steps, "\n  "), q(wpo))
local out, status = sh("bash -c " .. q(script))
assert(status == 0, "a run failed:\n" .. out)

local times = { version = {}, plan = {}, base_version = {}, base_plan = {} }
local rss_kb
for line in out:gmatch("[^\n]+") do
  local what, s, e = line:match("^([%a_]+) ([%d.]+) ([%d.]+)$")
  if what then
    local list = times[what]
    list[#list + 1] = (tonumber(e) - tonumber(s)) * 1000
  end
  rss_kb = rss_kb or tonumber(line:match("^rss (%d+)$"))
end

local function median(list)
  table.sort(list)
  return list[(#list + 1) // 2]
end

local version, plan = median(times.version), median(times.plan)
local ratio = plan / version
local mb = (rss_kb or 0) / 1024
-- median sorts in place: [1] is then the fastest run, which shows how far
-- the machine's own noise moves the median
print(string.format("wpo version:                %6.1f ms (median of %d; fastest %.1f ms)", version,
  #times.version, times.version[1]))
print(string.format("wpo plan stacks/prod.lua:   %6.1f ms (goal < 20 ms), x%.2f wpo version (goal <= x2.5), "
  .. "peak RSS %.1f MB (goal < 20 MB); fastest %.1f ms", plan, ratio, mb, times.plan[1]))
if baseline then
  local bv, bp = median(times.base_version), median(times.base_plan)
  print(string.format("baseline %s: version %.1f ms, plan %.1f ms, x%.2f (same loop)", baseline, bv, bp, bp / bv))
end
print((plan < 20 and ratio <= 2.5 and mb < 20) and "start: every goal met" or "start: a goal is missed")
return 0
