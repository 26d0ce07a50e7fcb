-- bench/plan_bench.lua: `wpo plan --refresh=false` on synthetic stacks of
-- 1,000 and 10,000 wpo.null resources (bench/gen_stack.lua), with no state
-- (everything to create) and with a matching state (nothing to do).
-- Prints wall time and peak RSS of each run beside the goals:
-- 10,000 resources in under 2 s and under 200 MB, growth no worse than linear.
--   wpo lua bench/plan_bench.lua        (make bench runs it)
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

-- The measured process reports its own peak RSS (VmHWM) when it exits.
local probe = dir .. "/probe.lua"
local f = assert(io.open(probe, "w"))
f:write([[
local argv = { [0] = "wpo" }
for i = 1, #arg do argv[i] = arg[i] end
local status = require("wpo.cli").main(argv)
local s = io.open("/proc/self/status"):read("a")
io.stderr:write("VmHWM_KB=", s:match("VmHWM:%s*(%d+)"), "\n")
return status
]])
f:close()

local function measure(n, with_state)
  local sdir = string.format("%s/%d%s", dir, n, with_state and "-state" or "")
  local _, st = sh(string.format("%s lua %s/gen_stack.lua %d %s %s", q(wpo), q(here), n, q(sdir),
    with_state and "--state" or ""))
  assert(st == 0, "the generator failed")
  local out, status = sh(string.format(
    "cd %s && s=$(date +%%s%%N) && %s lua %s plan stack.lua --refresh=false 2>err >/dev/null; "
    .. "rc=$?; e=$(date +%%s%%N); echo \"$rc $(( (e - s) / 1000000 )) $(sed -n 's/^VmHWM_KB=//p' err)\"",
    q(sdir), q(wpo), q(probe)))
  assert(status == 0, "the shell failed")
  local rc, ms, kb = out:match("^(%d+) (%d+) (%d+)")
  assert(rc == "0", "wpo plan failed on " .. sdir .. ": " .. out)
  return tonumber(ms) / 1000, tonumber(kb) / 1024
end

local results = {}
for _, case in ipairs({ { 1000, false }, { 10000, false }, { 1000, true }, { 10000, true } }) do
  local n, with_state = case[1], case[2]
  local secs, mb = measure(n, with_state)
  results[#results + 1] = { n = n, state = with_state, secs = secs, mb = mb }
  local label = string.format("plan --refresh=false, %5d resources, %s", n, with_state and "all unchanged" or "all new      ")
  if n == 10000 then
    print(string.format("%s: %6.2f s (goal < 2 s)   peak RSS %6.1f MB (goal < 200 MB)", label, secs, mb))
  else
    print(string.format("%s: %6.2f s                peak RSS %6.1f MB", label, secs, mb))
  end
end
for _, with_state in ipairs({ false, true }) do
  local small, big
  for _, r in ipairs(results) do
    if r.state == with_state then
      if r.n == 1000 then small = r else big = r end
    end
  end
  print(string.format("growth 1,000 -> 10,000 resources (%s): time x%.1f, memory above baseline x%.1f (goal: about x10 or less, linear)",
    with_state and "unchanged" or "new", big.secs / small.secs, (big.mb - 3) / math.max(1, small.mb - 3)))
end
os.execute("rm -rf " .. q(dir))
return 0
