-- wpo.sandbox and what wpo.stack builds on it: stacks loaded one after the
-- other in one process (a rollout) cannot reach each other through anything
-- the engine shares; inputs come only from --var, --var-file and WPO_VAR_;
-- Lua's own preambles (#!, a byte order mark) are accepted.
local h = require "helpers"
local stack = require "wpo.stack"
local sandbox = require "wpo.sandbox"
local value = require "wpo.value"

describe("wpo.sandbox", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmrf(dir) end)

  local function load(src, opts)
    h.write(dir .. "/s.lua", src)
    return stack.load(dir .. "/s.lua", opts)
  end

  local function load_error(src, opts)
    local ok, err = pcall(load, src, opts)
    assert.is_false(ok, "the load should fail")
    return tostring(err)
  end

  describe("isolation between stacks of one process", function()
    it("keeps what one stack did to the library, the string metatable and its views away from the next", function()
      load([[
local s = wpo.stack { name = "first" }
rawset(wpo, "stack", function() error("hijacked") end)
rawset(cidr, "subnet", function() return "10.6.6.0/24" end)
rawset(string, "format", function() return "hijacked" end)
local wp = require "wpo.wordpress"
rawset(wp, "stack", function() error("hijacked") end)
s:add("wpo.null", "a", { value = ("%d"):format(7) })
return s
]])
      assert.are.equal("7", string.format("%d", 7))
      local second = load([[
local s = wpo.stack { name = "second" }
s:add("wpo.null", "b", { value = cidr.subnet("10.0.0.0/16", 8, 1) .. (" %d"):format(1) })
return s
]])
      assert.are.equal("10.0.1.0/24 1", second.by_address["wpo.null.b"].attrs.value)
      assert.is_function(require("wpo").stack)
      assert.are.equal("table", type(getmetatable("").__index))
      assert.are.equal(string, getmetatable("").__index)
    end)

    it("shows stack code no engine metatable, and only its own", function()
      local s = load([[
local s = wpo.stack { name = "t" }
local own = {}
local t = setmetatable({}, own)
local a = s:add("wpo.null", "a", {})
s:add("wpo.null", "b", { value = {
  string = getmetatable("") == nil, handle = getmetatable(a) == nil, stack = getmetatable(s) == nil,
  ref = getmetatable(a.id) == nil, env = getmetatable(_G) == nil, own = getmetatable(t) == own } })
return s
]])
      assert.are.same({ string = true, handle = true, stack = true, ref = true, env = true, own = true },
        s.by_address["wpo.null.b"].attrs.value)
    end)

    it("copies what stack code hands over: changing it afterwards changes nothing", function()
      local s = load([[
local s = wpo.stack { name = "t" }
local v = { list = { 1, 2 } }
s:add("wpo.null", "a", { value = v })
v.list[1] = 99
v.extra = true
return s
]])
      assert.are.same({ list = { 1, 2 } }, s.by_address["wpo.null.a"].attrs.value)
    end)

    it("gives the string library its budgeted pattern functions only while stack code runs", function()
      local sb = sandbox.new()
      local inside = sb:run(function() return getmetatable("").__index.find end)
      assert.are_not.equal(string.find, inside)
      assert.are.equal(string, getmetatable("").__index)
    end)
  end)

  describe("inputs", function()
    local VARS = [[
local s = wpo.stack { name = "t", vars = { size = 1, name = "x", pw = wpo.var { sensitive = true, default = "" } } }
s:add("wpo.null", "a", { value = { size = s.vars.size, name = s.vars.name } })
s:output("pw", s.vars.pw, { sensitive = true })
return s
]]
    it("reads WPO_VAR_<name> for declared variables, below --var-file and --var", function()
      local env = { WPO_VAR_size = "5", WPO_VAR_name = "from-env", WPO_VAR_undeclared = "ignored" }
      local s = load(VARS, { environ = function(k) return env[k] end })
      assert.are.same({ size = 5, name = "from-env" }, s.by_address["wpo.null.a"].attrs.value)
      h.write(dir .. "/v.lua", 'return { name = "from-file" }\n')
      s = load(VARS, { environ = function(k) return env[k] end, var_files = { dir .. "/v.lua" }, vars = { size = "9" } })
      assert.are.same({ size = 9, name = "from-file" }, s.by_address["wpo.null.a"].attrs.value)
    end)

    it("names a WPO_VAR_ that is not of the variable's type", function()
      local env = { WPO_VAR_size = "big" }
      local msg = load_error(VARS, { environ = function(k) return env[k] end })
      assert.matches("WPO_VAR_size: variable 'size' is a number, not 'big'", msg)
    end)

    it("keeps a sensitive variable from the environment out of sight", function()
      local env = { WPO_VAR_pw = "hunter2-secret" }
      local s = load(VARS, { environ = function(k) return env[k] end })
      local o = s.output_by_name.pw
      local resolved, sensitive = value.resolve(o.value, function() end)
      assert.are.equal("hunter2-secret", resolved)
      assert.is_true(sensitive)
      assert.are.equal("(known after apply)", value.show(o.value))
    end)
  end)

  describe("sources", function()
    it("accepts a #! first line and a UTF-8 byte order mark, keeping line numbers", function()
      local s = load("#!/usr/bin/env wpo\nlocal s = wpo.stack { name = \"t\" }\ns:add(\"wpo.null\", \"a\", {})\nreturn s\n")
      assert.matches("s%.lua:3$", s.by_address["wpo.null.a"].where)
      s = load("\239\187\191local s = wpo.stack { name = \"t\" }\ns:add(\"wpo.null\", \"a\", {})\nreturn s\n")
      assert.matches("s%.lua:2$", s.by_address["wpo.null.a"].where)
    end)

    it("refuses a source larger than the limit without reading it all", function()
      local msg = load_error("-- " .. string.rep("x", 2000) .. "\nreturn wpo.stack { name = 't' }\n",
        { limits = { source_bytes = 1000 } })
      assert.matches("larger than 1000 bytes", msg)
    end)

    it("stops at the limit on a file that never ends (/dev/zero)", function()
      local r = h.wpo({ "plan", "/dev/zero" })
      assert.are.equal(1, r.status)
      assert.matches("wpo: .*/dev/zero.*larger than 4194304 bytes", r.stderr)
    end)
  end)

  describe("--ref", function()
    it("takes every module from the commit: nothing from the working tree, nothing from the host", function()
      local gr = require "gitrepo"
      local repo = h.tmpdir()
      gr.git(repo, "init -q -b main .")
      gr.write(repo, "lib/size.lua", "return 2\n")
      gr.write(repo, "stacks/s.lua", [[
local s = wpo.stack { name = "t" }
s:add("wpo.null", "a", { value = require("lib.size") })
local ok = pcall(require, "lib.only_on_disk")
s:add("wpo.null", "b", { value = ok and "leaked" or "committed only" })
local host = pcall(require, "pl.utils")
s:add("wpo.null", "c", { value = host and "host module" or "no host module" })
return s
]])
      gr.git(repo, "add -A")
      gr.git(repo, "commit -q -m one")
      gr.git(repo, "tag v1")
      gr.write(repo, "lib/size.lua", "return 99\n")          -- uncommitted edits
      gr.write(repo, "lib/only_on_disk.lua", "return 1\n")
      local r = h.sh("sh -c " .. h.quote("cd " .. h.quote(repo) .. " && " .. h.quote(h.WPO:sub(1, 1) == "/" and h.WPO
        or (h.sh("pwd").stdout:gsub("%s+$", "") .. "/" .. h.WPO)) .. " plan stacks/s.lua --ref v1 --json"))
      h.rmrf(repo)
      assert.are.equal(0, r.status, r.stderr)
      local after = {}
      for _, c in ipairs(require("cjson").decode(r.stdout).resource_changes) do after[c.address] = c.change.after.value end
      assert.are.same({ ["wpo.null.a"] = 2, ["wpo.null.b"] = "committed only", ["wpo.null.c"] = "no host module" },
        after)
    end)
  end)

  describe("budgets", function()
    it("counts the instructions of a value computed at apply time", function()
      local s = load([[
local s = wpo.stack { name = "t" }
local a = s:add("wpo.null", "a", {})
s:add("wpo.null", "b", { value = wpo.compute(function(id) while true do end end, a.id) })
return s
]], { limits = { instructions = 1000000 } })
      local ok, err = pcall(value.resolve, s.by_address["wpo.null.b"].attrs.value, function() return "known" end)
      assert.is_false(ok)
      assert.matches("s%.lua:3: the script exceeded its instruction budget %(1000000 instructions", tostring(err))
    end)

    it("does not charge loading a library module to stack code, and counts again after one fails", function()
      local core = require "wpo.core.sandbox"
      local LOOP = "local n = 0 for i = 1, 100000 do n = n + i end return n"
      package.preload["wpo_test.heavy"] = _G.load(LOOP)
      package.preload["wpo_test.fails"] = function() error("boom") end
      finally(function()
        package.preload["wpo_test.heavy"], package.preload["wpo_test.fails"] = nil, nil
        package.loaded["wpo_test.heavy"] = nil
      end)
      local ok, err = core.run({ instructions = 10000 }, function() return require "wpo_test.heavy" end)
      assert.is_true(ok, type(err) == "table" and tostring(err.budget) or tostring(err))
      assert.are.equal(5000050000, err)               -- the module's value
      -- the same loop run by stack code itself
      ok, err = core.run({ instructions = 10000 }, _G.load(LOOP))
      assert.is_false(ok)
      assert.are.equal("instructions", err.budget)
      ok, err = core.run({ instructions = 10000 }, function()
        assert(not pcall(require, "wpo_test.fails"))
        while true do end
      end)
      assert.is_false(ok)
      assert.are.equal("instructions", err.budget)
    end)

    it("bounds the memory taken from the system, however stack code cycles through block sizes", function()
      local core = require "wpo.core.sandbox"
      local function rss_kb()
        local f = assert(io.open("/proc/self/status"))
        local kb = tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
        f:close()
        return kb
      end
      collectgarbage()
      local before = rss_kb()
      local cap = 32 * 1024 * 1024
      -- 8 MiB of strings of one size, dropped, then the next size: each size
      -- fits the cap alone, and their free blocks serve only their own size
      local function fill(size)
        local keep = {}
        for i = 1, (8 * 1024 * 1024) // (size + 32) do
          keep[i] = string.rep("x", size - 12) .. string.format("%012d", i)
        end
        return #keep
      end
      local ok, err = core.run({ memory = cap }, function()
        for size = 40, 480, 16 do
          fill(size)
          collectgarbage()
        end
        return "done"
      end)
      local grown_mb = (rss_kb() - before) / 1024
      collectgarbage()
      if ok then assert.are.equal("done", err) else assert.are.equal("memory", err.budget) end
      assert.is_true(grown_mb < 3 * cap / 2 ^ 20, string.format("the process grew %.0f MiB under a 32 MiB cap", grown_mb))
    end)

    it("does not count C work (patterns) inside a library module's loading either", function()
      local core = require "wpo.core.sandbox"
      local pattern = require "wpo.core.pattern"    -- stack code's find: it charges its work
      local subject = string.rep("a", 200000) .. "b"
      package.preload["wpo_test.scans"] = function() return pattern.find(subject, "a*b") end
      finally(function() package.preload["wpo_test.scans"], package.loaded["wpo_test.scans"] = nil, nil end)
      local ok, err = core.run({ instructions = 20000 }, function() return require "wpo_test.scans" end)
      assert.is_true(ok, type(err) == "table" and tostring(err.budget) or tostring(err))
      ok, err = core.run({ instructions = 20000 }, function() return pattern.find(subject, "a*b") end)
      assert.is_false(ok)
      assert.are.equal("instructions", err.budget)
    end)

    it("takes the limits from the command line", function()
      h.write(dir .. "/s.lua", "local s = wpo.stack { name = 't' }\nlocal x = string.rep('x', 9 * 1024 * 1024)\nreturn s\n")
      local r = h.wpo({ "plan", dir .. "/s.lua", "--script-memory", "8M" })
      assert.are.equal(1, r.status)
      assert.matches("s%.lua:2: the script exceeded its memory budget %(8 MiB", r.stderr)
      r = h.wpo({ "plan", dir .. "/s.lua", "--script-memory", "lots" })
      assert.are.equal(2, r.status)
      assert.matches("%-%-script%-memory takes a whole number", r.stderr)
      assert.are.equal(0, h.wpo({ "plan", dir .. "/s.lua", "--script-memory", "64M" }).status)
    end)
  end)
end)
