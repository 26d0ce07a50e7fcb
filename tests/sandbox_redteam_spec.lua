-- The stack sandbox against a red-team corpus: each case is a stack script
-- that tries to leave its sandbox or exhaust the machine during `wpo plan`.
-- Each must exit 1 with one line naming the case's file and the line marked
-- `--!` in it, create no sentinel file, and send no write to (fake) AWS.
local h = require "helpers"
local fakeaws = require "fakeaws"
local aws = require "wpo.aws"

-- the binary by an absolute path: each case runs in its own directory
local WPO = h.WPO:sub(1, 1) == "/" and h.WPO or (h.sh("pwd").stdout:gsub("%s+$", "") .. "/" .. h.WPO)

-- SENTINEL in a case's source is replaced by a path the attack tries to create.
-- args: extra command-line arguments (small budgets keep the suite fast).
local SMALL = { "--script-budget", "20M", "--script-memory", "64M" }
local CASES = {
  { name = "writes a file through the engine's fs module", expect = "module 'wpo.core.fs' is not available", src = [[
local fs = require("wpo.core.fs") --!
fs.write_atomic("SENTINEL", "x")
return wpo.stack { name = "t" }
]] },
  { name = "runs a Lua file unsandboxed through wpo lua", expect = "module 'wpo.commands.lua' is not available", src = [[
require("wpo.commands.lua").run({}, { "SENTINEL" }) --!
return wpo.stack { name = "t" }
]] },
  { name = "runs a shell command through penlight", expect = "module 'pl.utils' not found", src = [[
require("pl.utils").execute("touch SENTINEL") --!
return wpo.stack { name = "t" }
]] },
  { name = "loads a host C module (lfs)", expect = "module 'lfs' not found", src = [[
local lfs = require "lfs" --!
lfs.touch("SENTINEL")
return wpo.stack { name = "t" }
]] },
  { name = "creates a VPC through the AWS client during a plan", expect = "module 'wpo.aws' is not available", src = [[
require("wpo.aws").client("ec2"):call("CreateVpc", { CidrBlock = "10.0.0.0/16" }) --!
return wpo.stack { name = "t" }
]] },
  { name = "reaches the sandbox's own budgets", expect = "module 'wpo.core.sandbox' is not available", src = [[
local core = require "wpo.core.sandbox" --!
return wpo.stack { name = "t" }
]] },
  { name = "reaches the stack loader", expect = "module 'wpo.stack' is not available", src = [[
local stack = require "wpo.stack" --!
return wpo.stack { name = "t" }
]] },
  { name = "changes the shared string metatable", expect = "attempt to index a nil value", src = [[
getmetatable("").__index.format = function() return "SENTINEL" end --!
return wpo.stack { name = "t" }
]] },
  { name = "rawsets into the string metatable", expect = "bad argument #1 to 'rawset'", src = [[
rawset(getmetatable(""), "__index", {}) --!
return wpo.stack { name = "t" }
]] },
  { name = "reads a secret from the environment", expect = "os%.getenv is not available to stack code %(inputs come from", src = [[
local secret = os.getenv("AWS_SECRET_ACCESS_KEY") --!
return wpo.stack { name = "t", description = secret }
]] },
  { name = "runs os.execute", expect = "os%.execute is not available to stack code", src = [[
os.execute("touch SENTINEL") --!
return wpo.stack { name = "t" }
]] },
  { name = "exits the process", expect = "os%.exit is not available to stack code", src = [[
os.exit(0) --!
return wpo.stack { name = "t" }
]] },
  { name = "opens a file with io", expect = "io is not available to stack code", src = [[
local f = io.open("SENTINEL", "w") --!
return wpo.stack { name = "t" }
]] },
  { name = "uses the debug library", expect = "debug is not available to stack code", src = [[
debug.sethook() --!
return wpo.stack { name = "t" }
]] },
  { name = "loads a binary chunk", expect = "load is not available to stack code", src = [[
local f = load(string.char(27) .. "Lua") --!
return wpo.stack { name = "t" }
]] },
  { name = "dumps a function to bytecode", expect = "string%.dump is not available to stack code", src = [[
local b = string.dump(function() end) --!
return wpo.stack { name = "t" }
]] },
  { name = "writes package.loaded", expect = "package is not available to stack code", src = [[
package.loaded["wpo.stack"] = {} --!
return wpo.stack { name = "t" }
]] },
  { name = "replaces the environment's metatable", expect = "cannot change the metatable of a wpo value", src = [[
setmetatable(_G, {}) --!
return wpo.stack { name = "t" }
]] },
  { name = "changes the wpo library", expect = "cannot change the wpo library", src = [[
wpo.stack = function() end --!
return wpo.stack { name = "t" }
]] },
  { name = "reaches the engine's stack object", expect = "a stack has no field 'resources'", src = [[
local s = wpo.stack { name = "t" }
s.resources[1] = { address = "x" } --!
return s
]] },
  { name = "changes a resource handle's metatable", expect = "cannot change the metatable of a wpo value", src = [[
local s = wpo.stack { name = "t" }
local a = s:add("wpo.null", "a", {})
setmetatable(a, {}) --!
return s
]] },
  { name = "installs a __gc finaliser", expect = "__gc finalisers are not allowed", src = [[
setmetatable({}, { __gc = function() end }) --!
return wpo.stack { name = "t" }
]] },
  { name = "stops the collector", expect = "collectgarbage is not available to stack code", src = [[
collectgarbage("stop") --!
return wpo.stack { name = "t" }
]] },
  { name = "loops forever", expect = "exceeded its instruction budget", src = [[
local s = wpo.stack { name = "t" }
while true do end --!
]] },
  { name = "catches the budget error with pcall and goes on", expect = "exceeded its instruction budget", src = [[
while true do pcall(function() while true do end end) end --!
]] },
  { name = "catches the budget error with xpcall and a looping handler", expect = "exceeded its instruction budget", src = [[
while true do xpcall(function() while true do end end, function() while true do end end) end --!
]] },
  { name = "loops inside a coroutine and resumes it", expect = "exceeded its instruction budget", src = [[
local co = coroutine.create(function() while true do end end) --!
while true do coroutine.resume(co) end --!
]] },
  { name = "yields forever from a wrapped coroutine", expect = "exceeded its instruction budget", src = [[
local next_one = coroutine.wrap(function() while true do coroutine.yield(1) end end) --!
while true do next_one() end --!
]] },
  { name = "loops forever in __pairs", expect = "exceeded its instruction budget", src = [[
local t = setmetatable({}, { __pairs = function() return function() return 1, 1 end, nil, nil end }) --!
for _ in pairs(t) do end --!
]] },
  { name = "matches a backtracking pattern", expect = "exceeded its instruction budget", src = [[
local subject = string.rep("a", 4000)
local found = subject:find(".-.-.-.-.-.-b") --!
return wpo.stack { name = "t" }
]] },
  { name = "doubles a string with gsub", expect = "exceeded its memory budget",
    args = { "--script-budget", "2G", "--script-memory", "64M" }, src = [[
local s = "xx"
while true do s = s:gsub(".", "%0%0") end --!
]] },
  { name = "fills a table", expect = "exceeded its memory budget", args = { "--script-budget", "2G", "--script-memory", "64M" },
    src = [[
local t = {}
local i = 0
while true do i = i + 1; t[i] = { i } end --!
]] },
  { name = "asks string.rep for more than the memory cap", expect = "exceeded its memory budget", src = [[
local big = string.rep("x", 1024 * 1024 * 1024) --!
return wpo.stack { name = "t" }
]] },
  { name = "requires itself", expect = "requires itself", files = { ["loop.lua"] = 'return require("loop")\n' }, src = [[
require("loop") --!
return wpo.stack { name = "t" }
]] },
  { name = "yields out of the script", expect = "attempt to yield", src = [[
coroutine.yield() --!
return wpo.stack { name = "t" }
]] },
  { name = "raises a table", expect = "the script raised an error value that is a table", src = [[
local s = wpo.stack { name = "t" }
error({ code = 0 }) --!
]] },
  { name = "raises nothing", expect = "the script raised error%(%) with no message", src = [[
local s = wpo.stack { name = "t" }
error() --!
]] },
  { name = "changes a caught wpo error's exit status", expect = "unknown resource type", src = [[
local s = wpo.stack { name = "t" }
local ok, e = pcall(s.add, s, "no.such.type", "a", {})
e.exit = 0
error(e) --!
]], where = false },
  { name = "hands wpo a cyclic value", expect = "attribute value.self: a cyclic value", src = [[
local s = wpo.stack { name = "t" }
local v = {}
v.self = v
s:add("wpo.null", "a", { value = v }) --!
return s
]] },
  { name = "names a resource with a table that holds itself",
    expect = "a name is letters, digits, %- and _, got { me = <cycle> }", src = [[
local s = wpo.stack { name = "t" }
local n = {}
n.me = n
s:add("wpo.null", n, {}) --!
return s
]] },
  { name = "hands wpo a value nested 100000 deep", expect = "nested deeper than 64 levels", src = [[
local s = wpo.stack { name = "t" }
local v = {}
for _ = 1, 100000 do v = { v } end
s:add("wpo.null", "a", { value = v }) --!
return s
]] },
  { name = "hands wpo NaN", expect = "attribute value.x: NaN is not a value", src = [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = { x = 0/0 } }) --!
return s
]] },
  { name = "hands wpo infinity", expect = "output big: infinity is not a value", src = [[
local s = wpo.stack { name = "t" }
s:output("big", math.huge) --!
return s
]] },
  { name = "hands wpo a 2 MiB string", expect = "over the limit of 1048576", src = [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = string.rep("x", 2 * 1024 * 1024) }) --!
return s
]] },
  { name = "hands wpo a function", expect = "a function is not a value", src = [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = { f = print } }) --!
return s
]] },
  { name = "hands wpo a coroutine", expect = "a coroutine is not a value", src = [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = coroutine.create(print) }) --!
return s
]] },
  { name = "hands wpo a table whose metamethods run later", expect = "a table with a metatable is not a value", src = [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = setmetatable({}, { __index = function() while true do end end }) }) --!
return s
]] },
  { name = "loops forever in a value computed at plan time", expect = "exceeded its instruction budget", src = [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = wpo.compute(function() while true do end end, 1) }) --!
return s
]], where = false },
  { name = "computes a value that is a function", expect = "a function is not a value", src = [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = wpo.compute(function() return print end, 1) }) --!
return s
]], where = false },
}

describe("the stack sandbox (red team)", function()
  local f, dir
  setup(function()
    f = fakeaws.start { region = "eu-west-1" }
    dir = h.tmpdir()
  end)
  teardown(function()
    if f then f:stop() end
    if dir then h.rmrf(dir) end
  end)

  local function writes_seen()
    local writes = {}
    for op, n in pairs(f:calls()) do
      local service, name = op:match("^([^.]+)%.(.+)$")
      if n > 0 and not aws.is_read(service, name) then writes[#writes + 1] = op end
    end
    table.sort(writes)
    return writes
  end

  for i, case in ipairs(CASES) do
    it(case.name, function()
      local case_dir = dir .. "/case" .. i
      os.execute("mkdir -p " .. h.quote(case_dir))
      local sentinel = case_dir .. "/SENTINEL-created"
      local src = case.src:gsub("SENTINEL", sentinel)
      h.write(case_dir .. "/case.lua", src)
      for name, text in pairs(case.files or {}) do h.write(case_dir .. "/" .. name, text) end
      local marked, n = {}, 0   -- the lines marked --!: where the attack is
      for l in (src .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        if l:find("--!", 1, true) then marked[#marked + 1] = tostring(n) end
      end
      local args = { "plan", "case.lua" }
      for _, a in ipairs(case.args or SMALL) do args[#args + 1] = a end
      local parts = { "cd", h.quote(case_dir), "&&", h.quote(WPO) }
      for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
      local r = h.sh("sh -c " .. h.quote(table.concat(parts, " ")), { env = f.env })
      assert.are.equal(1, r.status, r.stdout .. r.stderr)
      local lines = {}
      for l in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal(1, #lines, "one line on stderr: " .. r.stderr)
      assert.matches(case.expect, lines[1])
      if case.where ~= false then
        local at = lines[1]:match("^wpo: case%.lua:(%d+): ")
        assert.is_truthy(at and table.concat(marked, ","):find(at, 1, true),
          "the line names case.lua:" .. table.concat(marked, " or ") .. ": " .. lines[1])
      end
      assert.not_matches("traceback", r.stderr)
      assert.is_nil(io.open(sentinel, "r"), "the sentinel file was created")
      assert.are.same({}, writes_seen())
    end)
  end
end)
