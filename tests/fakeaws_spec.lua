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

-- wpo's own signer (wpo.core.sigv4) and HTTP client (wpo.core.http) against
-- fakeaws, whose checks are botocore's signer and the service models: one
-- request per protocol family, signed and sent the way wpo's AWS client will.
describe("wpo.core.sigv4 + wpo.core.http against fakeaws", function()
  local http = require "wpo.core.http"
  local sigv4 = require "wpo.core.sigv4"
  local task = require "wpo.task"
  local f

  setup(function()
    f = fakeaws.start { region = "eu-west-1", settle = 0 }
  end)

  teardown(function()
    f:stop()
  end)

  -- send { method, path, service, headers?, body?, secret? } -> response
  local function send(req)
    local url = f.url .. req.path
    local headers = {}
    for k, v in pairs(req.headers or {}) do headers[k] = v end
    local signed = sigv4.sign { method = req.method, url = url, headers = headers, body = req.body,
      access_key = "test", secret_key = req.secret or "test", region = f.region, service = req.service }
    for k, v in pairs(signed) do headers[k] = v end
    local resp, err = task.await(http.start { method = req.method, url = url, headers = headers,
      body = req.body })
    assert(resp, err)
    return resp
  end

  local FORM = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" }

  it("signs ec2 and query requests fakeaws accepts", function()
    local r = send { method = "POST", path = "/", service = "ec2", headers = FORM,
      body = "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16&TagSpecification.1.ResourceType=vpc" ..
        "&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=a%20b%2Bc" }
    assert.are.equal(200, r.status, r.body)
    local id = r.body:match("<vpcId>(vpc%-%x+)</vpcId>")
    assert.is_truthy(id)
    assert.are.same({ { Key = "Name", Value = "a b+c" } }, f:state().ec2.vpc[id].Tags)
    r = send { method = "POST", path = "/", service = "sts", headers = FORM,
      body = "Action=GetCallerIdentity&Version=2011-06-15" }
    assert.are.equal(200, r.status, r.body)
    assert.matches("<Account>123456789012</Account>", r.body)
  end)

  it("signs json requests fakeaws accepts", function()
    local r = send { method = "POST", path = "/", service = "dynamodb", headers = {
      ["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "DynamoDB_20120810.CreateTable" },
      body = cjson.encode { TableName = "locks", BillingMode = "PAY_PER_REQUEST",
        KeySchema = { { AttributeName = "LockID", KeyType = "HASH" } },
        AttributeDefinitions = { { AttributeName = "LockID", AttributeType = "S" } } } }
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("CREATING", cjson.decode(r.body).TableDescription.TableStatus)
  end)

  it("signs rest-json and rest-xml requests with query strings fakeaws accepts", function()
    local r = send { method = "GET", path = "/2015-02-01/file-systems?MaxItems=2", service = "elasticfilesystem" }
    assert.are.equal(200, r.status, r.body)
    assert.are.same({}, cjson.decode(r.body).FileSystems)
    r = send { method = "POST", path = "/2013-04-01/hostedzone", service = "route53",
      body = '<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">' ..
        "<Name>example.com</Name><CallerReference>spec</CallerReference></CreateHostedZoneRequest>" }
    assert.are.equal(201, r.status, r.body)
    local zone = r.body:match("<Id>/hostedzone/(Z%w+)</Id>")
    r = send { method = "GET", path = "/2013-04-01/hostedzone/" .. zone .. "/rrset?maxitems=1&name=example.com.",
      service = "route53" }
    assert.are.equal(200, r.status, r.body)
    assert.matches("<IsTruncated>true</IsTruncated>", r.body)
  end)

  it("signs s3 requests, with keys that need encoding, fakeaws accepts", function()
    assert.are.equal(200, send { method = "PUT", path = "/spec-bucket", service = "s3",
      body = '<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>' ..
        "</CreateBucketConfiguration>" }.status)
    local path = "/spec-bucket/state/prod%20%C3%A9t%C3%A9%2Bx.json"
    local put = send { method = "PUT", path = path, service = "s3", body = '{"serial":1}' }
    assert.are.equal(200, put.status, put.body)
    local got = send { method = "GET", path = path, service = "s3" }
    assert.are.equal(200, got.status, got.body)
    assert.are.equal('{"serial":1}', got.body)
    assert.are.same({ "spec-bucket/state/prod été+x.json" }, (function()
      local keys = {}
      for k in pairs(f:state().s3.object) do keys[#keys + 1] = k end
      return keys
    end)())
  end)

  it("is refused with the wrong secret", function()
    local r = send { method = "POST", path = "/", service = "sts", headers = FORM, secret = "wrong",
      body = "Action=GetCallerIdentity&Version=2011-06-15" }
    assert.are.equal(403, r.status)
    assert.matches("<Code>SignatureDoesNotMatch</Code>", r.body)
  end)
end)
