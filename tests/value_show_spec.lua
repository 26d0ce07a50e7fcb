-- value.show and value.quote (engine/value.c): checked against a plain Lua
-- statement of what they print, on hand-picked and on generated values.
local value = require "wpo.value"
local core_sandbox = require "wpo.core.sandbox"

-- the reference: value.show as it was written in Lua
local ESCAPES = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' }
for byte = 0, 127 do
  local c = string.char(byte)
  if c:find("%c") and not ESCAPES[c] then ESCAPES[c] = string.format("\\u%04x", byte) end
end
local function quote(s) return '"' .. s:gsub('[%c"\\]', ESCAPES) .. '"' end

local function ref_show(v, sensitive)
  if sensitive then return "(sensitive)" end
  local t = type(v)
  if t == "string" then return quote(v) end
  if v == nil then return "null" end
  if t == "number" then
    local i = math.tointeger(v)
    return i and tostring(i) or string.format("%.17g", v)
  end
  if t ~= "table" then return tostring(v) end
  if v == value.UNKNOWN or value.is_lazy(v) then return "(known after apply)" end
  if next(v) == nil then return "{}" end
  local parts = {}
  if value.is_array(v) then
    for _, x in ipairs(v) do parts[#parts + 1] = ref_show(x) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    return a < b
  end)
  for i, k in ipairs(keys) do
    local ks = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. ref_show(k) .. "]")
    parts[i] = ks .. " = " .. ref_show(v[k])
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- a deterministic generator of values
local seed = 12345
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local STRINGS = { "", "a", "web", "x_1", "1x", "has space", "quo\"te", "back\\slash", "line\nbreak",
  "tab\there", "cr\rhere", "bell\7", "del\127", "nul\0byte", "é utf-8", "_", "A9", "kebab-case" }
local function gen(depth)
  local r = rand(depth > 3 and 6 or 9)
  if r == 0 then return STRINGS[rand(#STRINGS) + 1] end
  if r == 1 then return rand(2000) - 1000 end
  if r == 2 then return ({ 0.5, -2.25, 1e300, 3.0, -0.0, 1 / 3, 2 ^ 53, 1e-7 })[rand(8) + 1] end
  if r == 3 then return rand(2) == 0 end
  if r == 4 then return value.UNKNOWN end
  if r == 5 then return STRINGS[rand(#STRINGS) + 1] .. rand(10) end
  if r == 6 then
    local t = {}
    for i = 1, rand(5) do t[i] = gen(depth + 1) end
    return t
  end
  local t = {}
  for _ = 1, rand(5) do
    local kr = rand(4)
    local k = kr == 0 and rand(6) + 1 or kr == 1 and (rand(3) == 0 and 2.5 or true)
      or STRINGS[rand(#STRINGS) + 1]
    if k ~= "" or rand(2) == 0 then t[k] = gen(depth + 1) end
  end
  return t
end

describe("value.show", function()
  it("prints scalars, strings, arrays and maps as the Lua reference does", function()
    local cases = {
      "plain", 'a "b" \\ c', "\n\t\r\1\31\127", 42, -7, 3.0, 0.1, 1e300, -0.0, true, false,
      {}, { 1, 2, 3 }, { "a", { b = 1 } }, { b = 2, a = 1, ["c d"] = 3, _x = 4, ["9"] = 5 },
      { [1] = "one", [3] = "three" }, { [1] = 1, x = 2 }, { [true] = 1, [2] = 2, s = 3, [1.5] = 4 },
      { tags = { Name = "web", ["aws:x"] = "y" }, ports = { 80, 443 } },
    }
    for _, v in ipairs(cases) do
      assert.are.equal(ref_show(v), value.show(v))
    end
    assert.are.equal("null", value.show(nil))
    assert.are.equal("(sensitive)", value.show({ secret = 1 }, true))
    assert.are.equal("(known after apply)", value.show(value.UNKNOWN))
    assert.are.equal("[1, (known after apply)]", value.show({ 1, value.compute(function() return 1 end) }))
  end)

  it("agrees with the reference on 3,000 generated values", function()
    for _ = 1, 3000 do
      local v = gen(0)
      assert.are.equal(ref_show(v), value.show(v))
    end
  end)

  it("quotes as the reference does", function()
    for _, s in ipairs(STRINGS) do assert.are.equal(quote(s), value.quote(s)) end
    for b = 0, 255 do
      local s = "<" .. string.char(b) .. ">"
      assert.are.equal(quote(s), value.quote(s))
    end
  end)

  it("runs no metamethod of the value it shows", function()
    local boom = function() error("a metamethod ran") end
    local t = setmetatable({ a = 1, 2 }, { __index = boom, __pairs = boom, __len = boom, __tostring = boom })
    assert.are.equal("{ [1] = 2, a = 1 }", value.show(t))
    -- a userdata's __tostring neither runs nor fails the show
    local u = io.tmpfile()
    local mt = getmetatable(u)
    local saved = mt.__tostring
    mt.__tostring = boom
    local ok, shown = pcall(value.show, { "x", u })
    mt.__tostring = saved
    u:close()
    assert.is_true(ok, shown)
    assert.matches('^%["x", userdata: 0x%x+%]$', shown)
  end)

  it("shows a table with holes as a map, not as the array its border suggests", function()
    local t = { 1, nil, 3, x = 9 }
    assert.are.equal("{ [1] = 1, [3] = 3, x = 9 }", value.show(t))
    assert.is_false(value.is_array(t))
    assert.is_true(value.is_array({ 1, 2, 3 }))
  end)

  it("shows an object with a name (a resource's handle) by its name", function()
    local handle = setmetatable({ secret_insides = 1 }, { __name = "wpo.resource" })
    assert.are.equal("[<wpo.resource>]", value.show({ handle }))
  end)

  it("shows a table inside itself, and one nested past its depth limit, without failing", function()
    local t = { name = "loop" }
    t.self = t
    t.list = { t, 1 }
    assert.are.equal('{ list = [<cycle>, 1], name = "loop", self = <cycle> }', value.show(t))
    local v = {}
    for _ = 1, 150 do v = { v } end
    local shown = value.show(v)
    assert.are.equal(string.rep("[", 100) .. "{...}" .. string.rep("]", 100), shown)
    -- a table met twice side by side is no cycle
    local shared = { 1 }
    assert.are.equal("[[1], [1]]", value.show({ shared, shared }))
  end)

  it("charges its work to the running sandbox's instruction budget", function()
    local big = {}
    for i = 1, 20000 do big["k" .. i] = string.rep("x", 100) end
    local ok, err = core_sandbox.run({ instructions = 50000 }, function()
      for _ = 1, 100 do value.show(big) end
    end)
    assert.is_false(ok)
    assert.are.equal("instructions", type(err) == "table" and err.budget)
    -- the same work with budget to spare finishes
    assert.is_true((core_sandbox.run({ instructions = 100000000 }, function() return value.show(big) end)))
  end)
end)
