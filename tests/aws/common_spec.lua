-- wpo.aws.protocol.common: timestamps, encodings and parameter validation.
local common = require "wpo.aws.protocol.common"
local errors = require "wpo.errors"

describe("wpo.aws.protocol.common timestamps", function()
  it("parses ISO 8601 with and without fractions and offsets to UTC epoch", function()
    assert.are.same({ 0, 0 }, { common.parse_time("1970-01-01T00:00:00Z") })
    assert.are.same({ 1700000000, 0 }, { common.parse_time("2023-11-14T22:13:20Z") })
    assert.are.same({ 1700000000, 123000 }, { common.parse_time("2023-11-14T22:13:20.123Z") })
    assert.are.same({ 1700000000 - 7200, 0 }, { common.parse_time("2023-11-14T22:13:20+02:00") })
    assert.are.same({ 1700000000 + 5400, 0 }, { common.parse_time("2023-11-14T22:13:20-0130") })
    assert.are.same({ 1699920000, 0 }, { common.parse_time("2023-11-14") })
  end)

  it("parses RFC 822 dates and epoch numbers", function()
    assert.are.same({ 1700000000, 0 }, { common.parse_time("Tue, 14 Nov 2023 22:13:20 GMT") })
    assert.are.same({ 1700000000, 500000 }, { common.parse_time(1700000000.5) })
    assert.are.same({ 1700000000, 0 }, { common.parse_time("1700000000") })
  end)

  it("refuses what is not a timestamp", function()
    assert.is_nil(common.parse_time("yesterday"))
    assert.is_nil(common.parse_time("2023-13-01T00:00:00Z"))
    assert.is_nil(common.parse_time({}))
  end)

  it("formats for the wire as botocore does and for users without trailing zeros", function()
    assert.are.equal("2023-11-14T22:13:20Z", common.iso8601(1700000000, 0, "wire"))
    assert.are.equal("2023-11-14T22:13:20.120000Z", common.iso8601(1700000000, 120000, "wire"))
    assert.are.equal("2023-11-14T22:13:20.12Z", common.iso8601(1700000000, 120000))
    assert.are.equal("Tue, 14 Nov 2023 22:13:20 GMT", common.rfc822(1700000000))
    assert.are.equal(1700000000, common.encode_time("2023-11-14T22:13:20.9Z", "unixTimestamp"))
    assert.are.equal("2023-11-14T22:13:20Z", common.decode_time(1700000000))
    assert.are.equal("1969-12-31T23:59:59Z", common.iso8601(-1, 0))
    assert.are.equal("2400-02-29T00:00:00Z", common.decode_time("2400-02-29T00:00:00Z"))
  end)
end)

describe("wpo.aws.protocol.common encodings", function()
  it("percent-encodes all but the unreserved characters", function()
    assert.are.equal("a%20b%2Fc~d_e.f-g", common.percent_encode("a b/c~d_e.f-g"))
    assert.are.equal("a%20b/c", common.percent_encode("a b/c", true))
    assert.are.equal("%C3%A9", common.percent_encode("é"))
  end)

  it("writes JSON with sorted keys, exact integers, [] for marked empty lists", function()
    local list = setmetatable({}, common.LIST_MT)
    assert.are.equal('{"a":[],"b":{},"c":9007199254740993,"d":1.5,"e":[1,"x"]}',
      common.to_json({ e = { 1, "x" }, d = 1.5, c = 9007199254740993, b = {}, a = list }))
    assert.are.equal("3.0", common.json_number(3.0))
    assert.are.equal("0.1", common.json_number(0.1))
  end)

  it("escapes XML text and attributes", function()
    assert.are.equal("a &amp; &lt;b&gt; \"c\"", common.xml_text('a & <b> "c"'))
    assert.are.equal("&quot;x&quot; &amp;&#10;", common.xml_attr('"x" &\n'))
  end)
end)

describe("wpo.aws.protocol.common validation", function()
  local model = {
    shapes = {
      Req = { T = "structure", "Name", { "string", r = true }, "Count", "integer", "Tags", "TagList",
        "When", "timestamp", "Attrs", "AttrMap", "Flag", "boolean" },
      TagList = { T = "list", m = "Tag" },
      Tag = { T = "structure", "Key", { "string", r = true }, "Value", "string" },
      AttrMap = { T = "map", k = "string", v = "integer" },
    },
  }

  local function problems(params)
    local ok, err = pcall(common.validate, model, "Req", params, "Op")
    if ok then return nil end
    assert.is_true(errors.is(err))
    assert.are.equal("ParamValidationError", err.code)
    return err.message
  end

  it("accepts valid parameters (integral floats from JSON count as integers)", function()
    assert.is_nil(problems { Name = "n", Count = 3.0, Tags = { { Key = "k" } }, When = "2023-01-01",
      Attrs = { a = 1 }, Flag = false })
  end)

  it("names an unknown member with the closest valid one", function()
    assert.matches("Op: unknown parameter Nme %(did you mean Name%?%)", problems { Name = "n", Nme = "x" })
  end)

  it("lists every problem: missing required, wrong types, nested paths", function()
    local msg = problems { Count = "3", Tags = { { Value = "v" } }, When = "soon", Attrs = { a = "x" } }
    assert.matches("Op: missing required parameter Name", msg, 1, true)
    assert.matches("Op.Count: expected an integer, got string", msg, 1, true)
    assert.matches("Op.Tags[1]: missing required parameter Key", msg, 1, true)
    assert.matches("Op.When: not a timestamp: soon", msg, 1, true)
    assert.matches("Op.Attrs[a]: expected an integer, got string", msg, 1, true)
  end)

  it("refuses a table with holes or keys where a list is expected", function()
    assert.matches("Op.Tags: expected a list", problems { Name = "n", Tags = { x = 1 } }, 1, true)
  end)
end)
