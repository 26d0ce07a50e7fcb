-- The stdlib built into the binary (tools/embed.c, engine/state.c): used
-- when WPO_STDLIB is not set, its chunks named as the files would be (so the
-- stack sandbox tells the engine's frames from the user's, and errors name
-- the user's file:line), bytecode loaded only from the binary itself; with
-- WPO_STDLIB, the Lua files of that directory, as the other specs run.
--
-- These tests run the binary's built-in copy: they are skipped, saying so,
-- when a file under stdlib/ is newer than the binary (run make).
local fs = require "wpo.core.fs"
local h = require "helpers"

local REPO = require("wpo.stack").absolute(h.REPO)
local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO

-- wpo ARGS from dir without WPO_STDLIB (or with the one given)
local function builtin(dir, args, stdlib)
  local parts = { "cd " .. h.quote(dir) .. " && exec env -u WPO_STDLIB NO_COLOR=1 WPO_LOG=" }
  if stdlib then parts[#parts + 1] = h.quote("WPO_STDLIB=" .. stdlib) end
  parts[#parts + 1] = h.quote(WPO)
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  return h.sh(table.concat(parts, " "))
end

-- whether a file under stdlib/ is newer than the binary (and which)
local function stale()
  local p = io.popen("find " .. h.quote(REPO .. "/stdlib") .. " -name '*.lua' -newer " .. h.quote(WPO) .. " | head -1")
  local found = p:read("l")
  p:close()
  return fs.stat(WPO) == nil or (found ~= nil and found ~= ""), found
end

describe("the stdlib built into wpo", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmrf(dir) end)

  local function skip_if_stale()
    local old, newer = stale()
    assert(not old, "the binary is older than " .. tostring(newer) .. ": run make")
    return false
  end

  local PROBE = [[
local info = debug.getinfo(require("wpo.stack").load, "S")
print(package.wpo_stdlib)
print(info.source)
print(package.preload["wpo.stack"] ~= nil, package.searchpath("wpo.stack", package.path) ~= nil)
print(package.wpo_types and #package.wpo_types or 0)
]]

  it("is what wpo runs without WPO_STDLIB, each chunk named after the file it was built from", function()
    if skip_if_stale() then return end
    h.write(dir .. "/probe.lua", PROBE)
    local r = builtin(dir, { "lua", "probe.lua" })
    assert.are.equal(0, r.status, r.stderr)
    local root, source, preloaded, on_path, types = r.stdout:match("^(.-)\n(.-)\n(%a+)\t(%a+)\n(%d+)\n")
    assert.are.equal(REPO .. "/stdlib", root)
    assert.are.equal("@" .. root .. "/wpo/stack.lua", source)
    assert.are.equal("true", preloaded)
    assert.are.equal("false", on_path)               -- no Lua file of the library is looked for
    assert.is_true(tonumber(types) > 40)              -- the resource types it defines, for suggestions
  end)

  it("gives way to the Lua files of WPO_STDLIB, and refuses a WPO_STDLIB without them", function()
    h.write(dir .. "/probe.lua", PROBE)
    local r = builtin(dir, { "lua", "probe.lua" }, REPO .. "/stdlib")
    assert.are.equal(0, r.status, r.stderr)
    local root, source, preloaded, on_path = r.stdout:match("^(.-)\n(.-)\n(%a+)\t(%a+)\n")
    assert.are.equal(REPO .. "/stdlib", root)
    assert.are.equal("@" .. root .. "/wpo/stack.lua", source)
    assert.are.same({ "false", "true" }, { preloaded, on_path })
    r = builtin(dir, { "version" }, dir)
    assert.are.equal(1, r.status)
    assert.are.equal("wpo: WPO_STDLIB=" .. dir .. ": no wpo Lua library there (wpo/cli.lua); unset it to use the one "
      .. "built in\n", r.stderr)
  end)

  it("names the user's file:line in errors, and the library's line where no user frame is left", function()
    if skip_if_stale() then return end
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t" }\n'
      .. 's:add("wpo.null", "a", { value = 1 })\n'
      .. 's:add("wpo.null", "a", { value = 2 })\nreturn s\n')
    local r = builtin(dir, { "plan", "s.lua" })
    assert.are.equal(1, r.status)
    assert.matches("^wpo: s%.lua:3: wpo%.null%.a: duplicate address %(first declared at s%.lua:2%)", r.stderr)
    h.write(dir .. "/w.lua", 'return require("wpo.wordpress").stack { name = "w", region = "eu-west-1",\n'
      .. '  azs = { "eu-west-1a" }, cidr = "10.0.0.0/16" }\n')
    r = builtin(dir, { "plan", "w.lua" })
    assert.are.equal(1, r.status)
    assert.matches("^wpo: w%.lua:%d+: ", r.stderr)
    assert.is_nil(r.stderr:find("stdlib/wpo/", 1, true), r.stderr)
    -- an unknown type is answered with the nearest the built-in library defines
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t" }\ns:add("aws.ec2.vpx", "a", {})\nreturn s\n')
    r = builtin(dir, { "plan", "s.lua" })
    assert.are.equal(1, r.status)
    assert.matches("s%.lua:2: unknown resource type 'aws%.ec2%.vpx' %(did you mean aws%.ec2%.vpc%?%)", r.stderr)
  end)

  -- tools/embed.c keeps file names and line numbers, not local names
  it("keeps each chunk's lines but not its local variable names, unlike the Lua files", function()
    if skip_if_stale() then return end
    h.write(dir .. "/names.lua", [[
local text = require "wpo.text"
print(debug.getinfo(text.closest, "S").linedefined, debug.getlocal(text.closest, 1))
print(select(2, pcall(text.closest, nil, { "a" })))
]])
    local r = builtin(dir, { "lua", "names.lua" })
    assert.are.equal(0, r.status, r.stderr)
    local line, name, err = r.stdout:match("^(%d+)\t(%a*)\n(.-)\n$")
    assert.is_true(tonumber(line) > 0, r.stdout)
    assert.are.equal("nil", name)                        -- no parameter name
    assert.matches("/wpo/text%.lua:%d+: attempt to index a nil value$", err)   -- the file:line stays
    -- _ENV keeps its name (Lua's "global 'x'"); another upvalue does not
    h.write(dir .. "/upvalues.lua", [[
local text = require "wpo.text"
print(debug.getupvalue(text.closest, 1), (debug.getupvalue(text.closest, 2)))
]])
    local up = builtin(dir, { "lua", "upvalues.lua" })
    assert.are.equal(0, up.status, up.stderr)
    assert.are.equal("_ENV\t(no name)\n", up.stdout)
    r = builtin(dir, { "lua", "names.lua" }, REPO .. "/stdlib")
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^%d+\tword\n[^\n]*/wpo/text%.lua:%d+: attempt to index a nil value %(local 'word'%)\n$", r.stdout)
  end)

  -- its own types are normalised without being checked again (the specs
  -- check them from the Lua files: resource_spec)
  it("normalises its own types' definitions, and checks every other definition", function()
    if skip_if_stale() then return end
    h.write(dir .. "/define.lua", [[
local resource = require "wpo.resource"
local lt = resource.get("aws.ec2.launch_template")
print(lt.attributes.security_group_ids.of.type, lt.attributes.tags.type, #lt.output_names)
local ok, err = pcall(function()
  resource.define "test.bad" { create = print, read = print, delete = print, updat = print }
end)
print(ok, err)
]])
    local r = builtin(dir, { "lua", "define.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("^string\ttags\t%d+\nfalse\t[^\n]*resource%.define test%.bad: unknown key 'updat'", r.stdout)
  end)

  it("passes the stack sandbox's specs (the engine's frames recognised by their chunknames)", function()
    if skip_if_stale() then return end
    local r = h.sh("cd " .. h.quote(REPO) .. " && env -u WPO_STDLIB " .. h.quote(WPO) .. " lua tests/busted.lua "
      .. "tests/stack_where_spec.lua tests/sandbox_spec.lua tests/sandbox_redteam_spec.lua tests/stack_spec.lua")
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("%d+ passed, 0 failed, 0 skipped\n$", r.stdout)
  end)
end)
