-- wpo.core.pattern against Lua 5.4's own string library, call for call: every
-- return value (with its type), or the error message with its file:line
-- prefix normalised, must be the same. Hand-written cases for each feature and
-- each error, then seeded random patterns and subjects.
local pattern = require "wpo.core.pattern"

local unpack, pack = table.unpack, table.pack
local GMATCH_LIMIT = 200 -- iterations recorded per gmatch

local function encode(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" then return math.type(v) .. " " .. tostring(v) end
  return tostring(v)
end

-- "where: " prefixes name different lines for the two libraries' callers
local function normalise(msg)
  if type(msg) ~= "string" then return "error value of type " .. type(msg) end
  return (string.gsub(msg, "^[%w_/%.%-]+:%d+: ", "<where>: "))
end

local function outcome(ok, ...)
  if not ok then return "error: " .. normalise((...)) end
  local t = pack(...)
  for i = 1, t.n do t[i] = encode(t[i]) end
  return t.n .. " [" .. table.concat(t, ", ") .. "]"
end

-- The replacement function logs its arguments: how often and with what gsub
-- calls it is part of the outcome.
local log
local function repl_function(...)
  local args = pack(...)
  for i = 1, args.n do args[i] = encode(args[i]) end
  log[#log + 1] = table.concat(args, ",")
  local first = ...
  if first == "b" or first == 2 then return nil end
  if first == "c" then return false end
  if first == "x" then return {} end
  if first == "1" then return 42 end
  return "<" .. table.concat(args, "|") .. ">"
end
local repl_table = setmetatable({ a = "A", b = false, c = 7, ["1"] = 1.5, ["("] = {} }, {
  __index = function(_, k) if k == " " then return "_" end end,
})

-- Each library is called the same way, as lib.NAME(...), so that argument
-- errors name the same function.
local run = {}
function run.find(lib, a) return lib.find(unpack(a, 1, a.n)) end
function run.match(lib, a) return lib.match(unpack(a, 1, a.n)) end
function run.gsub(lib, a) return lib.gsub(unpack(a, 1, a.n)) end
function run.gmatch(lib, a)
  local it = lib.gmatch(unpack(a, 1, a.n))
  local steps = {}
  for _ = 1, GMATCH_LIMIT do
    local step = pack(pcall(it))
    steps[#steps + 1] = outcome(unpack(step, 1, step.n))
    if not step[1] then return table.concat(steps, "; ") end -- not called again: see the last test
    if step[2] == nil then break end
  end
  steps[#steps + 1] = outcome(pcall(it)) -- once more after the end
  return table.concat(steps, "; ")
end

local function result(lib, name, args)
  log = {}
  local got = outcome(pcall(run[name], lib, args))
  if #log > 0 then got = got .. " calls " .. table.concat(log, " / ") end
  return got
end

local function describe_call(name, args)
  local shown = {}
  for i = 1, args.n do
    local v = args[i]
    shown[i] = v == repl_function and "repl_function" or v == repl_table and "repl_table" or encode(v)
  end
  return name .. "(" .. table.concat(shown, ", ") .. ")"
end

-- Runs every {name, args...} case through both libraries; the mismatches, a few shown.
local function compare(cases)
  local bad, shown = 0, {}
  for _, case in ipairs(cases) do
    local args = pack(unpack(case, 2, case.n or #case))
    local want = result(string, case[1], args)
    local got = result(pattern, case[1], args)
    if want ~= got then
      bad = bad + 1
      if #shown < 8 then
        shown[#shown + 1] = string.format("%s\n    string:  %s\n    pattern: %s",
          describe_call(case[1], args), want, got)
      end
    end
  end
  return bad, table.concat(shown, "\n")
end

local function assert_agree(cases)
  local bad, shown = compare(cases)
  assert(bad == 0, string.format("%d of %d calls differ:\n%s", bad, #cases, shown))
end

-- find, match, gmatch and gsub (string, function and table replacements) of
-- each subject against each pattern.
local function all_calls(subjects, patterns)
  local cases = {}
  local function add(...) cases[#cases + 1] = pack(...) end
  for _, p in ipairs(patterns) do
    for _, s in ipairs(subjects) do
      add("find", s, p)
      add("match", s, p)
      add("gmatch", s, p)
      add("gsub", s, p, "[%0]")
      add("gsub", s, p, repl_function)
      add("gsub", s, p, repl_table)
    end
  end
  return cases
end

describe("wpo.core.pattern", function()
  it("agrees on the character classes, alone, complemented and in sets", function()
    local all = {}
    for c = 0, 255 do all[#all + 1] = string.char(c) end
    local bytes = table.concat(all)
    local cases = {}
    for _, cl in ipairs({ "a", "c", "d", "g", "l", "p", "s", "u", "w", "x", "z" }) do
      for _, p in ipairs({ "%" .. cl, "%" .. cl:upper(), "[%" .. cl .. "]", "[^%" .. cl .. "]",
                           "%" .. cl .. "+", "[_%" .. cl:upper() .. "]+" }) do
        cases[#cases + 1] = pack("gsub", bytes, p, "")
        cases[#cases + 1] = pack("gmatch", bytes, p)
      end
    end
    for _, p in ipairs({ ".", "%.", "%%", "%q", "%Q", "%1x", "[a-z]", "[z-a]", "[%a-]", "[a-]", "[-a]",
                         "[]]", "[^]]", "[]a]", "[%]]", "[a%-z]", "[\0-\31]", "[^\0]", "\0", "%\0",
                         "[%w_.-]", "[^%s]+", "[%^a]", "[a^]", "[[]", "[^^]", "[a-c-e]", "[%%]" }) do
      cases[#cases + 1] = pack("gsub", bytes, p, "")
      cases[#cases + 1] = pack("find", bytes, p)
    end
    assert_agree(cases)
  end)

  it("agrees on quantifiers, anchors and plain characters", function()
    assert_agree(all_calls(
      { "", "a", "aaa", "aab", "baaac", "abcabc", "a.b", "x$y^z", "$", "^a", "  hello  world  ", "a\0b\0" },
      { "a*", "a+", "a-", "a?", "a-b", "a*b", "a+b", "a?b", ".-b", ".*b", ".+", ".-", "^a", "^a*", "^", "$",
        "a$", "^$", "^a$", "$y", "x$y", "y^z", "^^a", "a^", "%$", "^%^", "[$^]", ".-$", "b*$", "%w+",
        "%s*(.-)%s*$", "\0", "a\0b", "%z", "[a\0]+", "^.-%z" }))
  end)

  it("agrees on captures, position captures and back-references", function()
    assert_agree(all_calls(
      { "", "a", "hello=world", "aXbXc", "xyzzy", "abab", "aaaa", "key = val; k2=v2", "a(b)c" },
      { "()", "()a()", "(a)", "((a)(b))", "(%w+)=(%w+)", "()(%w+)()", "(.)%1", "(.)(.)%2%1", "(a*)%1",
        "(()a)", "(a)()", "(%w+)%s*=%s*(%w+)", "(X).-%1", "((.)%2)", "(z*)%1", "()%1", "(a)%1?",
        "(h)(e)(l)(l)(o)(=)(w)(o)(r)%9", "(.-)X", "(.*)X", "%((.-)%)", "(a(b)c)", "(%)?)" }))
  end)

  it("agrees on %b and %f", function()
    assert_agree(all_calls(
      { "", "(a(b)c)", "((()", "(a)(b)", "[x[y]z]", "THE (quick) fox", "ab", "aab", "abb", "f(a(b), c)",
        "THE (quick) fox\0" },
      { "%b()", "%b[]", "%bab", "%baa", "%b((", "%b()+", "(%b())", "f%b()", "%b\0a", "%f[%w]%w+", "%f[%W]",
        "%f[%a]", "%f[^%a]", "%f[%z]", "%f[a]", "%f[^\0]", "%f[%u]%u+%f[%U]", "%f[%l]", "()%f[%s]",
        "%f[]]", "%f[^]]" }))
  end)

  it("agrees on find's init and plain arguments and match's init", function()
    local cases = {}
    local inits = { 1, 2, 0, -1, -2, -3, 3, 4, 5, 100, -100, math.maxinteger, math.mininteger, "2", 2.0 }
    for _, s in ipairs({ "", "abc", "a.c", "a+b" }) do
      for _, p in ipairs({ "", "b", "a.c", ".", "^a", "^b", "a+", "+", "%", "[", "()", "$", "c$" }) do
        for _, init in ipairs(inits) do
          cases[#cases + 1] = pack("find", s, p, init)
          cases[#cases + 1] = pack("find", s, p, init, true)
          cases[#cases + 1] = pack("find", s, p, init, false)
          cases[#cases + 1] = pack("find", s, p, init, 0)
          cases[#cases + 1] = pack("match", s, p, init)
        end
        cases[#cases + 1] = pack("find", s, p, nil, true)
      end
    end
    -- no special character means a plain search, so no pattern error either
    for _, p in ipairs({ ")", "]", "a)", "a\0)", "\0", "a\0.", "%f", "a(" }) do
      cases[#cases + 1] = pack("find", "xa)y]a\0)\0a\0.%f", p)
      cases[#cases + 1] = pack("match", "xa)y]a\0)\0a\0.%f", p)
    end
    assert_agree(cases)
  end)

  it("agrees on gmatch: init, a leading '^' as a plain character, empty matches", function()
    local cases = {}
    for _, s in ipairs({ "", "abc", "hello world from Lua", "^a^b", "aaa", "a,b,,c" }) do
      for _, p in ipairs({ "%a+", "", "a*", "^a", "^", "()", "(%w+)", "[^,]*", "b*", ".-", "$", "x*$", "%f[%w]" }) do
        for _, init in ipairs({ 1, 2, 0, -1, -3, 4, 100, -100, math.maxinteger }) do
          cases[#cases + 1] = pack("gmatch", s, p, init)
        end
        cases[#cases + 1] = pack("gmatch", s, p)
      end
    end
    cases[#cases + 1] = pack("gmatch", "abc", "a", "x")
    cases[#cases + 1] = pack("gmatch", "abc", "a", 1.5)
    assert_agree(cases)
  end)

  it("agrees on gsub: replacement strings, tables, functions, the maximum and the count", function()
    local cases = {}
    local subjects = { "", "abc", "hello world", "a b c 1 x", "abcabc(x)" }
    local repls = { "", "x", "%0", "%1", "%2", "%%", "%0%0", "<%1|%2>", "%", "a%", "%x", "%a", "100%%", "%9",
                    "%\0", 5, 2.5, repl_function, repl_table }
    for _, s in ipairs(subjects) do
      for _, p in ipairs({ "%w", "%w+", "", "^", "^%w+", "(%w)(%w)", "()", "()(%w)", "(%w+)", "%s*", "$", "(" }) do
        for _, r in ipairs(repls) do
          cases[#cases + 1] = pack("gsub", s, p, r)
        end
        for _, n in ipairs({ 0, 1, 2, -1, 100, math.mininteger, "1", 1.0, 1.5, "x" }) do
          cases[#cases + 1] = pack("gsub", s, p, "[%0]", n)
        end
      end
    end
    for _, r in ipairs({ true, nil, false }) do cases[#cases + 1] = pack("gsub", "abc", "b", r) end
    cases[#cases + 1] = { "gsub", "abc", "b", n = 3 }
    cases[#cases + 1] = pack("gsub", "abc", "b", nil, "x")
    cases[#cases + 1] = pack("gsub", 12321, 2, 9)
    cases[#cases + 1] = pack("gsub", 12321, 5, 9)
    cases[#cases + 1] = pack("gsub", "abc", "%w", function() error("from the replacement") end)
    cases[#cases + 1] = pack("gsub", "abc", "%w", function() error({}) end)
    cases[#cases + 1] = pack("gsub", "abc", "(%w)", { a = { } })
    assert_agree(cases)
  end)

  it("raises lstrlib's error for each malformed pattern, only when the matcher reaches it", function()
    local errors = {
      { "a", "%", "malformed pattern (ends with '%')" },
      { "a", "a%", "malformed pattern (ends with '%')" },
      { "a", "[a", "malformed pattern (missing ']')" },
      { "a", "[]", "malformed pattern (missing ']')" },
      { "a", "[^]", "malformed pattern (missing ']')" },
      { "a", "[a%", "malformed pattern (missing ']')" },
      { "a", "%f", "missing '[' after '%f' in pattern" },
      { "a", "%fa", "missing '[' after '%f' in pattern" },
      { "a", "%f[a", "malformed pattern (missing ']')" },
      { "a", "%b", "malformed pattern (missing arguments to '%b')" },
      { "a", "%ba", "malformed pattern (missing arguments to '%b')" },
      { "a", "(a)%2", "invalid capture index %2" },
      { "a", "%1", "invalid capture index %1" },
      { "a", "%0", "invalid capture index %0" },
      { "a", "(a%1)", "invalid capture index %1" },
      { "a", "a)", "invalid pattern capture" },
      { "a", "()a)", "invalid pattern capture" },
      { "a", "(a", "unfinished capture" },
      { "a", "()(", "unfinished capture" },
      { ("a"):rep(40), ("(a)"):rep(33), "too many captures" },
      { ("a"):rep(300), ("a?"):rep(300), "pattern too complex" },
      { ("a"):rep(300), (".-"):rep(250), "pattern too complex" },
    }
    local cases = {}
    for _, e in ipairs(errors) do
      local ok, err = pcall(pattern.match, e[1], e[2])
      assert.is_false(ok)
      assert.are.equal(e[3], normalise(err))
      cases[#cases + 1] = pack("find", e[1], e[2])
      cases[#cases + 1] = pack("match", e[1], e[2])
      cases[#cases + 1] = pack("gmatch", e[1], e[2])
      cases[#cases + 1] = pack("gsub", e[1], e[2], "%0")
    end
    -- never reached: no error
    for _, p in ipairs({ "x%", "x[a", "x%f", "x%b", "x%1", "x)", "x(" }) do
      assert.is_nil(pattern.match("abc", p))
      cases[#cases + 1] = pack("match", "abc", p)
    end
    assert_agree(cases)
  end)

  it("gives up at lstrlib's limits: 32 captures, 200 nested matches, item for item", function()
    local cases = {}
    for n = 30, 34 do
      for _, item in ipairs({ "(a)", "()", "(a", "(()a)" }) do
        cases[#cases + 1] = pack("match", ("a"):rep(40), item:rep(n))
        cases[#cases + 1] = pack("gsub", ("a"):rep(40), item:rep(n), "%1")
      end
    end
    for n = 190, 210 do
      for _, item in ipairs({ "a?", "a*", "a-", "()", "(a)", ".-" }) do
        cases[#cases + 1] = pack("find", ("a"):rep(n), item:rep(n // #item))
      end
      cases[#cases + 1] = pack("match", ("a"):rep(n), ("a?"):rep(n) .. "$")
      cases[#cases + 1] = pack("match", ("a"):rep(n), ("%f[a]a?"):rep(n))
      cases[#cases + 1] = pack("match", ("(a)"):rep(n), ("%b()?"):rep(n))
    end
    assert_agree(cases)
  end)

  it("agrees with the string library on 4000 random patterns (seed 20240611)", function()
    math.randomseed(20240611)
    local random = math.random
    local function pick(list) return list[random(#list)] end
    local atoms = { "a", "a", "b", "b", "c", "x", " ", "1", ".", ".", "%a", "%d", "%s", "%w", "%x", "%p",
      "%l", "%u", "%c", "%g", "%z", "%A", "%D", "%S", "%W", "%P", "%U", "%.", "%%", "%(", "%)", "%-",
      "%[", "%]", "[ab]", "[^ab]", "[a-c]", "[%a%d]", "[%s%p]", "[]a]", "[^]a]", "[a-]", "[-a]", "[%]]",
      "[^%w]", "[.]", "[%-x]", "\0", "[\0a]", "^", "$", "]", "-", "*" }
    local quantifiers = { "", "", "", "", "*", "+", "-", "?" }
    local specials = { "()", "%1", "%2", "%3", "%b()", "%bab", "%f[%w]", "%f[%W]", "%f[a]", "%f[^a]", "%f[%z]" }
    local broken = { "%", "[a", "[^", "%f", "%fa", "%b", "%ba", "%0", "%9", ")", "(", "[%" }
    local chars = { "a", "a", "a", "b", "b", "c", "x", " ", "1", "(", ")", "A", "\0", ".", "%", "-", "]", "\n" }

    local function sequence(depth, budget)
      local items = {}
      for _ = 1, random(0, 5) do
        local r = random()
        if r < 0.12 and depth < 3 then
          items[#items + 1] = "(" .. sequence(depth + 1, budget) .. ")"
        elseif r < 0.2 then
          items[#items + 1] = pick(specials)
        else
          local q = pick(quantifiers)
          if q ~= "" then
            if budget.n == 0 then q = "" else budget.n = budget.n - 1 end
          end
          items[#items + 1] = pick(atoms) .. q
        end
      end
      return table.concat(items)
    end
    local function random_pattern()
      local p = sequence(0, { n = 3 }) -- at most 3 quantifiers: bounded backtracking
      if random() < 0.2 then p = "^" .. p end
      if random() < 0.15 then p = p .. "$" end
      if random() < 0.06 then
        local at = random(0, #p)
        p = p:sub(1, at) .. pick(broken) .. p:sub(at + 1)
      end
      return p
    end
    local function random_subject()
      local s = {}
      for i = 1, random(0, 14) do s[i] = pick(chars) end
      return table.concat(s)
    end

    local cases = {}
    local function add(...) cases[#cases + 1] = pack(...) end
    local inits = { 1, 2, 0, -1, -4, 5, 20 }
    for _ = 1, 4000 do
      local p = random_pattern()
      for _ = 1, 3 do
        local s = random_subject()
        add("find", s, p)
        add("find", s, p, pick(inits))
        add("find", s, p, pick(inits), true)
        add("match", s, p, pick(inits))
        add("gmatch", s, p)
        add("gmatch", s, p, pick(inits))
        add("gsub", s, p, pick({ "<%0>", "%1", "%2-%1", "", "%%" }))
        add("gsub", s, p, repl_function, random(-1, 3))
        add("gsub", s, p, repl_table)
      end
    end
    local bad, shown = compare(cases)
    assert(bad == 0, string.format("%d of %d calls differ:\n%s", bad, #cases, shown))
  end)

  -- The one difference: lstrlib does not restore its depth counter when an
  -- error leaves the matcher, and its gmatch iterator keeps it; after "pattern
  -- too complex" the iterator then recurses without limit (and can overflow
  -- the C stack). Here every call starts afresh and raises the error again.
  it("raises the same error again from a gmatch iterator called after an error", function()
    local it = pattern.gmatch(("a"):rep(300), ("a?"):rep(300))
    for _ = 1, 2 do
      local ok, err = pcall(it)
      assert.is_false(ok)
      assert.are.equal("pattern too complex", normalise(err))
    end
    -- lstrlib: "malformed pattern", then "pattern too complex" 150 levels down
    it = pattern.gmatch(("a"):rep(300), ("a?"):rep(150) .. "%")
    for _ = 1, 2 do
      local ok, err = pcall(it)
      assert.is_false(ok)
      assert.are.equal("malformed pattern (ends with '%')", normalise(err))
    end
  end)

  it("finds the documented answers, so that agreement alone proves nothing about a broken string library", function()
    assert.are.same({ 7, 10 }, { pattern.find("hello world", "wor%a") })
    assert.are.same({ 3, 4, "l", 5 }, { pattern.find("hello", "(l)l()") })
    assert.are.same({ "key", "val" }, { pattern.match(" key = val ", "(%w+)%s*=%s*(%w+)") })
    assert.are.same({ "hello hello world world", 2 }, { pattern.gsub("hello world", "(%w+)", "%1 %1") })
    assert.are.same({ "world hello Lua from", 2 }, { pattern.gsub("hello world from Lua", "(%w+)%s*(%w+)", "%2 %1") })
    assert.are.same({ "THE (quick) fox", 1 }, { pattern.gsub("THE (quick) fox", "%f[%a]%u+%f[%A]", "%0") })
    assert.are.same({ "-a-b-c-", 4 }, { pattern.gsub("abc", "", "-") })
    local words = {}
    for k, v in pattern.gmatch("from=world, to=Lua", "(%w+)=(%w+)") do words[#words + 1] = k .. ":" .. v end
    assert.are.same({ "from:world", "to:Lua" }, words)
    local at = {}
    for w in pattern.gmatch("one two three", "%a+", 5) do at[#at + 1] = w end
    assert.are.same({ "two", "three" }, at)
    assert.are.equal("f(a(b), c)", pattern.match("x = f(a(b), c);", "%a%b()"))
  end)
end)
