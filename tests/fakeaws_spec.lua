local h = require "helpers"
local fakeaws = require "fakeaws"
local cjson = require "cjson"

-- AWS calls made by botocore with nothing but f.env: proves the environment is
-- complete and keeps the caller's own AWS setup out. calls: { { service, op, params }, ... };
-- -> one result per call: { ok = output } or { error = code }.
local function aws(f, calls)
  local script = [[
import json, os, sys, botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
session = botocore.session.get_session()
results = []
for service, op, params in json.loads(sys.argv[1]):
    c = session.create_client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                              config=Config(retries={"total_max_attempts": 1}))
    try:
        out = getattr(c, op)(**params)
        out.pop("ResponseMetadata", None)
        results.append({"ok": out})
    except ClientError as e:
        results.append({"error": e.response["Error"]["Code"]})
print(json.dumps(results, default=str))
]]
  local list = {}
  for i, c in ipairs(calls) do
    list[i] = { c[1], c[2], c[3] or {} }   -- cjson writes an empty table as {}
  end
  local r = h.sh("/usr/bin/python3 -c " .. h.quote(script) .. " " .. h.quote(cjson.encode(list)), { env = f.env })
  assert(r.status == 0, r.stderr)
  return cjson.decode(r.stdout)
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("tests/lua/fakeaws.lua", function()
  local f

  setup(function()
    f = fakeaws.start { region = "eu-west-1", settle = 0 }
  end)

  teardown(function()
    f:stop()
  end)

  before_each(function()
    f:reset()
  end)

  it("starts a server on a free loopback port and describes how to reach it", function()
    assert.is_true(f.port > 0)
    assert.are.equal("http://127.0.0.1:" .. f.port, f.url)
    assert.are.equal(f.url, f.env.AWS_ENDPOINT_URL)
    assert.are.equal("test", f.env.AWS_ACCESS_KEY_ID)
    assert.are.equal("test", f.env.AWS_SECRET_ACCESS_KEY)
    assert.are.equal("eu-west-1", f.env.AWS_REGION)
    assert.are.same({}, f:state())
    assert.are.same({}, f:calls())
  end)

  it("serves AWS calls made with f.env alone, shows them in state and calls, and resets", function()
    local out = aws(f, {
      { "ec2", "create_vpc", { CidrBlock = "10.0.0.0/16", TagSpecifications = {
        { ResourceType = "vpc", Tags = { { Key = "wpo:address", Value = "net.vpc" } } } } } },
      { "sts", "get_caller_identity" },
    })
    local id = out[1].ok.Vpc.VpcId
    assert.matches("^vpc%-%x+$", id)
    assert.are.equal("123456789012", out[2].ok.Account)
    local vpc = f:state().ec2.vpc[id]
    assert.are.equal("10.0.0.0/16", vpc.CidrBlock)
    assert.are.same({ { Key = "wpo:address", Value = "net.vpc" } }, vpc.Tags)
    assert.are.same({ ["ec2.CreateVpc"] = 1, ["sts.GetCallerIdentity"] = 1 }, f:calls())
    assert.are.same({ count = 1, ok = 1, errors = {} }, f:calls(true)["ec2.CreateVpc"])
    f:faults { latency_ms = 1 }
    f:reset()
    assert.are.same({}, f:state())
    assert.are.same({}, f:calls())
    assert.are.equal(0, f:faults({}).latency_ms)
  end)

  it("injects faults, limited to the named operations", function()
    local set = f:faults { throttle_rate = 1, operations = { "ec2.DescribeVpcs" } }
    assert.are.equal(1, set.throttle_rate)
    assert.are.same({ "ec2.DescribeVpcs" }, set.operations)
    local out = aws(f, { { "ec2", "describe_vpcs" }, { "ec2", "describe_availability_zones" } })
    assert.are.same({ error = "RequestLimitExceeded" }, out[1])
    assert.are.equal(3, #out[2].ok.AvailabilityZones)
    assert.are.equal(0, f:faults({}).throttle_rate)
  end)

  it("refuses bad fault settings, naming the key", function()
    local ok, err = pcall(f.faults, f, { latency = 5 })
    assert.is_false(ok)
    assert.matches("unknown fault key 'latency'", err)
  end)

  it("runs servers side by side; stop kills the process, frees the port and may be repeated", function()
    local g = fakeaws.start()
    assert.are_not.equal(f.port, g.port)
    aws(g, { { "ec2", "create_vpc", { CidrBlock = "10.1.0.0/16" } } })
    assert.are.same({}, f:state())
    assert.are.equal(1, count(g:state().ec2.vpc))
    local pid, port = g.pid, g.port
    g:stop()
    g:stop()
    assert.is_not_true(os.execute("kill -0 " .. pid .. " 2>/dev/null"))
    local r = h.sh("/usr/bin/python3 -c " .. h.quote("import socket; socket.create_connection(('127.0.0.1', " ..
      port .. "), timeout=2)"))
    assert.are_not.equal(0, r.status)
    assert.matches("stopped", tostring(g))
    assert.has_error(function() g:state() end)
  end)

  it("rejects unknown start options, naming the valid ones", function()
    local ok, err = pcall(fakeaws.start, { regoin = "x" })
    assert.is_false(ok)
    assert.matches("unknown option 'regoin' %(valid: region, settle", err)
  end)
end)
