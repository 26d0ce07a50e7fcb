-- bench/start_bench.lua: how fast wpo starts. `wpo version` and the offline
-- plan of the production stack (`wpo plan stacks/prod.lua`: local state, no
-- AWS call, in this git work tree) run alternately, 25 times each, with the
-- library built into the binary (WPO_STDLIB unset, as users run it). Prints
-- the median wall time of each, their ratio and the plan's peak RSS beside
-- the goals: plan < 20 ms and <= 2.5x wpo version; peak RSS < 20 MB.
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

-- bash's $EPOCHREALTIME: no process is started to read the clock
local script = string.format([[
cd %s/.. || exit 1
unset WPO_STDLIB
for i in $(seq %d); do
  s=$EPOCHREALTIME; %s version >/dev/null || exit 1; e=$EPOCHREALTIME; echo "version $s $e"
  s=$EPOCHREALTIME; %s plan stacks/prod.lua >/dev/null || exit 1; e=$EPOCHREALTIME; echo "plan $s $e"
done
/usr/bin/time -f "rss %%M" %s plan stacks/prod.lua 2>&1 >/dev/null | tail -1
]], q(here), runs, q(wpo), q(wpo), q(wpo))
local out, status = sh("bash -c " .. q(script))
assert(status == 0, "a run failed:\n" .. out)

local times = { version = {}, plan = {} }
local rss_kb
for line in out:gmatch("[^\n]+") do
  local what, s, e = line:match("^(%a+) ([%d.]+) ([%d.]+)$")
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
print(string.format("wpo version:                %6.1f ms (median of %d)", version, #times.version))
print(string.format("wpo plan stacks/prod.lua:   %6.1f ms (goal < 20 ms), x%.2f wpo version (goal <= x2.5), "
  .. "peak RSS %.1f MB (goal < 20 MB)", plan, ratio, mb))
print((plan < 20 and ratio <= 2.5 and mb < 20) and "start: every goal met" or "start: a goal is missed")
return 0
