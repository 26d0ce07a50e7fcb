-- wpo.json: the same bytes for the same value, whatever the table's history.
local json = require "wpo.json"
local cjson = require "cjson"

describe("wpo.json", function()
  it("sorts object keys, keeps arrays in order, and leaves '/' unescaped", function()
    assert.are.equal('{"a":[3,1,2],"b":{"x":"10.0.0.0/16","y":true},"c":null}',
      json.encode { c = json.null, b = { y = true, x = "10.0.0.0/16" }, a = { 3, 1, 2 } })
    -- a backslash of the data stays escaped, next to a slash
    local s = "a\\/b"
    assert.are.equal(s, cjson.decode(json.encode(s)))
    assert.are.equal('"a\\\\/b"', json.encode(s))
  end)

  it("gives the same bytes for tables filled in different orders", function()
    local a, b = {}, {}
    for i = 1, 50 do a["k" .. i] = i end
    for i = 50, 1, -1 do b["k" .. i] = i end
    assert.are.equal(json.encode(a), json.encode(b))
  end)

  it("writes an empty table as an object unless it is marked an array", function()
    assert.are.equal('{"a":{},"b":[]}', json.encode { a = {}, b = json.array() })
  end)

  it("refuses what JSON cannot hold, naming where", function()
    assert.has_error(function() json.encode { x = { 1, 2, math.huge } } end,
      "wpo.json: the value.x[3] is inf, which JSON cannot hold")
    assert.has_error(function() json.encode { [true] = 1 } end,
      "wpo.json: the value has a key of type boolean (an object's keys are strings)")
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t) end, "wpo.json: the value.self holds itself")
    assert.has_error(function() json.encode { f = print } end,
      "wpo.json: the value.f is a function, which JSON cannot hold")
  end)
end)
