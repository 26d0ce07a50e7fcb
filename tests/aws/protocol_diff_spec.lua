-- wpo.aws protocols against botocore (Debian's python3-botocore): random
-- parameters built from botocore's shapes are serialised by botocore and by
-- wpo, and must give the same request; random responses written in each
-- protocol's wire format are parsed by both, and must give the same result.
-- tests/aws/botocore_oracle.py does botocore's side and the comparison.
local h = require "helpers"
local cjson = require "cjson"

local PY = "/usr/bin/python3"
local ORACLE = h.REPO .. "/tests/aws/botocore_oracle.py"
local SEED = tonumber(os.getenv("WPO_DIFF_SEED") or "") or 20240601
local PER_OP = tonumber(os.getenv("WPO_DIFF_PER_OP") or "") or 12

local PROTOCOLS = {
  ["ec2"] = "wpo.aws.protocol.ec2", ["query"] = "wpo.aws.protocol.query", ["json"] = "wpo.aws.protocol.json",
  ["rest-json"] = "wpo.aws.protocol.rest_json", ["rest-xml"] = "wpo.aws.protocol.rest_xml",
}

local function have_botocore()
  local r = h.sh(PY .. " -c 'import botocore'")
  return r.status == 0
end

local function oracle(args)
  local r = h.sh(PY .. " " .. h.quote(ORACLE) .. " " .. args)
  return r
end

describe("wpo.aws protocols, differential against botocore", function()
  -- make check installs python3-botocore: without it this suite fails, it is not skipped
  assert(have_botocore(), "botocore not importable by " .. PY .. " (install python3-botocore)")
  local client = require "wpo.aws.client"
  local common = require "wpo.aws.protocol.common"
  local services = require "wpo.aws.services"

  it("serialises requests as botocore does (ec2, query, json, rest-json, rest-xml)", function()
    local dir = h.tmpdir()
    local r = oracle(string.format("requests %d %d", SEED, PER_OP))
    assert.are.equal(0, r.status, r.stderr)
    h.write(dir .. "/cases.json", r.stdout)
    local cases = cjson.decode(r.stdout)
    local actual, protocols = {}, {}
    for i, case in ipairs(cases) do
      local model = client.model(case.service)
      local meta = services[case.service]
      local op = model.ops[case.operation]
      protocols[case.protocol] = (protocols[case.protocol] or 0) + 1
      local ok, req = pcall(function()
        common.validate(model, op.i, case.params, case.operation)
        return require(PROTOCOLS[meta.protocol]).build(model, meta, case.operation, op, case.params)
      end)
      if ok then
        actual[i] = { method = req.method, path = req.path, query = req.query, headers = req.headers, body = req.body }
      else
        actual[i] = { error = tostring(req) }
      end
    end
    h.write(dir .. "/actual.json", common.to_json(actual))
    local cmp = oracle("compare-requests " .. h.quote(dir .. "/cases.json") .. " " .. h.quote(dir .. "/actual.json"))
    h.rmrf(dir)
    assert.are.equal(5, #require("wpo.text").sorted_keys(protocols))
    assert.matches("compared " .. #cases .. ", 0 differ", cmp.stdout, 1, true)
    assert.are.equal(0, cmp.status, cmp.stdout)
  end)

  it("decodes responses as botocore does (lists, maps, flattening, types)", function()
    local dir = h.tmpdir()
    local r = oracle(string.format("responses %d %d", SEED, PER_OP))
    assert.are.equal(0, r.status, r.stderr)
    h.write(dir .. "/cases.json", r.stdout)
    local cases = cjson.decode(r.stdout)
    local actual = {}
    for i, case in ipairs(cases) do
      local model = client.model(case.service)
      local meta = services[case.service]
      local op = model.ops[case.operation]
      local resp = case.response
      local headers = {}
      for k, v in pairs(resp.headers) do headers[k:lower()] = v end
      local result, err = require(PROTOCOLS[meta.protocol]).parse(model, op,
        { status = math.tointeger(resp.status), headers = headers, body = resp.body })
      actual[i] = result and client.present(model, op.o, result) or { error = tostring(err) }
    end
    h.write(dir .. "/actual.json", common.to_json(actual))
    local cmp = oracle("compare-responses " .. h.quote(dir .. "/cases.json") .. " " .. h.quote(dir .. "/actual.json"))
    h.rmrf(dir)
    assert.matches("compared " .. #cases .. ", 0 differ", cmp.stdout, 1, true)
    assert.are.equal(0, cmp.status, cmp.stdout)
  end)
end)
