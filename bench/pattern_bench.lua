-- CPU per call of wpo.core.pattern (the budgeted matcher stack code gets)
-- against Lua's own string library, on patterns a stack script uses: the
-- ratio must stay within 2x of lstrlib.
--   ./wpo lua bench/pattern_bench.lua [iterations]
local pattern = require "wpo.core.pattern"

local ITERATIONS = tonumber(arg and arg[1]) or 100000
local GOAL_RATIO = 2.0

local words = {}
for i = 1, 120 do words[i] = ({ "subnet", "vpc", "nat", "gateway", "prod", "10.0.1.0/24", "eu-west-1a" })[i % 7 + 1] end
local text = table.concat(words, "  ,\t")

-- name, function of a library, iterations relative to ITERATIONS
local cases = {
  { "find a word: find(text, '%f[%w]prod%f[%W]')", function(lib)
      return lib.find(text, "%f[%w]prod%f[%W]")
    end, 1 },
  { "ARN: match(arn, '^arn:aws:([^:]+):([^:]*):(%d*):(.+)$')", function(lib)
      return lib.match("arn:aws:iam::123456789012:role/wpo-prod-deploy", "^arn:aws:([^:]+):([^:]*):(%d*):(.+)$")
    end, 1 },
  { "CIDR: match(cidr, '^(%d+)%.(%d+)%.(%d+)%.(%d+)/(%d+)$')", function(lib)
      return lib.match("10.20.128.0/17", "^(%d+)%.(%d+)%.(%d+)%.(%d+)/(%d+)$")
    end, 1 },
  { "trim: match(s, '^%s*(.-)%s*$')", function(lib)
      return lib.match("   wordpress prod database   ", "^%s*(.-)%s*$")
    end, 1 },
  { "name check: find(name, '^[%a][%w%-]*$')", function(lib)
      return lib.find("wpo-prod-web-asg-01", "^[%a][%w%-]*$")
    end, 1 },
  { "split: gmatch(list, '[^,]+'), 120 fields", function(lib)
      local n = 0
      for _ in lib.gmatch(text, "[^,]+") do n = n + 1 end
      return n
    end, 1 / 20 },
  { "squeeze: gsub(text, '%s+', ' ')", function(lib)
      return lib.gsub(text, "%s+", " ")
    end, 1 / 20 },
  { "template: gsub(s, '%${(%w+)}', table)", function(lib)
      return lib.gsub("${stack}-${tier}-${az}-sg", "%${(%w+)}", { stack = "prod", tier = "web", az = "a" })
    end, 1 / 2 },
}

-- The best of seven batches each, the two libraries' batches interleaved:
-- other processes on the machine only ever make a batch slower.
local function us_per_call(fn, n)
  for _ = 1, n // 10 do fn(string); fn(pattern) end
  local best = { [string] = math.huge, [pattern] = math.huge }
  for _ = 1, 7 do
    for _, lib in ipairs({ string, pattern }) do
      local t0 = os.clock()
      for _ = 1, n do fn(lib) end
      best[lib] = math.min(best[lib], (os.clock() - t0) / n * 1e6)
    end
  end
  return best[pattern], best[string]
end

local worst = 0
for _, c in ipairs(cases) do
  local name, fn, scale = c[1], c[2], c[3]
  local want, got = table.pack(fn(string)), table.pack(fn(pattern))
  for i = 1, math.max(want.n, got.n) do assert(want[i] == got[i], name .. ": results differ") end
  local n = math.max(1, math.floor(ITERATIONS * scale))
  local ours, lstrlib = us_per_call(fn, n)
  local ratio = ours / lstrlib
  worst = math.max(worst, ratio)
  print(string.format("%-62s %7.3f µs  lstrlib %7.3f µs  ratio %4.2f", name, ours, lstrlib, ratio))
end
print(string.format("%-62s %4.2f   goal < %.1f   %s", "worst ratio to lstrlib", worst, GOAL_RATIO,
  worst < GOAL_RATIO and "ok" or "OVER"))
