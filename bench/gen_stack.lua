-- bench/gen_stack.lua N DIR [--state]: write DIR/stack.lua, a synthetic stack of
-- N wpo.null resources in chains and fans (each refers to one or two earlier
-- ones; beyond 20,000 in modules DIR/partK.lua), and with --state a matching
-- DIR/.wpo/bench.state.json as if it had been applied (so a plan finds
-- nothing to do).
--   wpo lua bench/gen_stack.lua 10000 /tmp/b --state
local n, dir, with_state = tonumber(arg[1]), arg[2], arg[3] == "--state"
if not n or not dir then
  io.stderr:write("usage: wpo lua bench/gen_stack.lua N DIR [--state]\n")
  return 2
end
n = math.tointeger(n)
local fs = require "wpo.core.fs"
assert(fs.mkdir_p(dir))

-- resource i depends on i-1 (a chain) and on i // 10 (a fan), when they exist
local function deps(i)
  local d = {}
  if i > 1 then d[#d + 1] = i - 1 end
  if i // 10 >= 1 and i // 10 ~= i - 1 then d[#d + 1] = i // 10 end
  return d
end

-- Stack sources are at most 4 MiB each: beyond PART resources the
-- declarations go in modules part1.lua, part2.lua... (PART each), which
-- stack.lua requires in order.
local PART = 20000
local function declaration(i)
  local refs = {}
  for _, j in ipairs(deps(i)) do refs[#refs + 1] = string.format("r[%d].id", j) end
  return string.format(
    'r[%d] = s:add("wpo.null", "n%d", { triggers = { tier = s.vars.tier, shard = "%d" }, value = { %s } })',
    i, i, i % 16, table.concat(refs, ", "))
end
local where = {}
local lines = { 'local s = wpo.stack { name = "bench", vars = { tier = "gold" } }', "local r = {}" }
if n <= PART then
  for i = 1, n do
    lines[#lines + 1] = declaration(i)
    where[i] = "stack.lua:" .. #lines
  end
else
  for part = 1, (n + PART - 1) // PART do
    local body = { "return function(s, r)" }
    for i = (part - 1) * PART + 1, math.min(n, part * PART) do
      body[#body + 1] = declaration(i)
      where[i] = string.format("part%d.lua:%d", part, #body)
    end
    body[#body + 1] = "end"
    assert(fs.write_atomic(string.format("%s/part%d.lua", dir, part), table.concat(body, "\n") .. "\n", "0644"))
    lines[#lines + 1] = string.format('require("part%d")(s, r)', part)
  end
end
lines[#lines + 1] = "return s"
assert(fs.write_atomic(dir .. "/stack.lua", table.concat(lines, "\n") .. "\n", "0644"))

if with_state then
  local cjson = require "cjson"
  local resources = {}
  for i = 1, n do
    local value, dep_addrs = {}, {}
    for _, j in ipairs(deps(i)) do
      value[#value + 1] = string.format("id-%d", j)
      dep_addrs[#dep_addrs + 1] = "wpo.null.n" .. j
    end
    resources[i] = { address = "wpo.null.n" .. i, type = "wpo.null", id = "id-" .. i,
      inputs = { triggers = { tier = "gold", shard = tostring(i % 16) }, value = value },
      outputs = { id = "id-" .. i }, deps = dep_addrs, where = where[i] }
  end
  table.sort(resources, function(a, b) return a.address < b.address end)
  assert(fs.mkdir_p(dir .. "/.wpo", "0700"))
  assert(fs.write_atomic(dir .. "/.wpo/bench.state.json", cjson.encode({
    format_version = 1, lineage = "bench-0000", serial = 1, stack = "bench", resources = resources,
    outputs = {}, generations = {} })))
end
return 0
