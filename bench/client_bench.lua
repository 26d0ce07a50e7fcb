-- bench/client_bench.lua — wpo.aws.client: CPU time per call spent in wpo
-- itself (validate, serialise, sign, decode; the network replaced by a
-- canned response), and calls per second through client:call against
-- tests/fakeaws with no injected latency, 1 and 32 calls in flight.
--   wpo lua bench/client_bench.lua [--calls N]
-- Client-side rate limiting is off here: it would pace EC2 at 20 calls/s.
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. package.path

local aws = require "wpo.aws"

local N = 3000
for i = 1, #arg do
  if arg[i] == "--calls" then N = tonumber(arg[i + 1]) end
end

local CREDS = { access_key = "AKIDEXAMPLE", secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  session_token = "FwoGZXIvYXdzEBYaDHRva2VuLXZhbHVl" }

local CASES = {
  { "ec2", "DescribeVpcs", { Filters = { { Name = "tag:Name", Values = { "main" } } } },
    '<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><vpcSet><item>'
    .. '<vpcId>vpc-0a1b2c3d</vpcId><state>available</state><cidrBlock>10.0.0.0/16</cidrBlock><isDefault>false</isDefault>'
    .. '<instanceTenancy>default</instanceTenancy><dhcpOptionsId>dopt-1</dhcpOptionsId><ownerId>123456789012</ownerId>'
    .. '<tagSet><item><key>Name</key><value>main</value></item><item><key>wpo:stack</key><value>prod</value></item>'
    .. '</tagSet></item></vpcSet></DescribeVpcsResponse>' },
  { "rds", "CreateDBSubnetGroup", { DBSubnetGroupName = "db", DBSubnetGroupDescription = "d",
      SubnetIds = { "subnet-1", "subnet-2" } },
    '<CreateDBSubnetGroupResponse><CreateDBSubnetGroupResult><DBSubnetGroup><DBSubnetGroupName>db</DBSubnetGroupName>'
    .. '<VpcId>vpc-1</VpcId><SubnetGroupStatus>Complete</SubnetGroupStatus><Subnets><Subnet><SubnetIdentifier>subnet-1'
    .. '</SubnetIdentifier></Subnet><Subnet><SubnetIdentifier>subnet-2</SubnetIdentifier></Subnet></Subnets>'
    .. '</DBSubnetGroup></CreateDBSubnetGroupResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>'
    .. '</CreateDBSubnetGroupResponse>' },
  { "dynamodb", "GetItem", { TableName = "wpo-locks", Key = { LockID = { S = "bucket/prod" } } },
    '{"Item":{"LockID":{"S":"bucket/prod"},"Info":{"S":"{\\"Who\\":\\"ci\\"}"},"Version":{"N":"3"}}}' },
  { "efs", "DescribeFileSystems", { FileSystemId = "fs-12345678" },
    '{"FileSystems":[{"FileSystemId":"fs-12345678","CreationTime":1700000000.5,"LifeCycleState":"available",'
    .. '"NumberOfMountTargets":2,"SizeInBytes":{"Value":6144},"Encrypted":true,"Tags":[]}]}' },
  { "route53", "ChangeResourceRecordSets", { HostedZoneId = "Z123", ChangeBatch = { Changes = { { Action = "UPSERT",
      ResourceRecordSet = { Name = "www.example.com.", Type = "CNAME", TTL = 300,
        ResourceRecords = { { Value = "lb.example.net" } } } } } } },
    '<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status>'
    .. '<SubmittedAt>2024-01-01T00:00:00.000Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>' },
}

local function cpu_per_call()
  print(string.format("wpo CPU per call (validate + serialise + sign + decode; os.clock, best of 5 rounds of %d):", N // 5))
  local total, count = 0, 0
  for _, case in ipairs(CASES) do
    local service, op, params, body = case[1], case[2], case[3], case[4]
    local resp = { status = 200, headers = { ["x-amzn-requestid"] = "r" }, body = body }
    local c = aws.client(service, { region = "eu-west-1", credentials = CREDS, rate_limit = false,
      transport = function() return resp end, now = function() return 0 end })
    c:call(op, params)                               -- warm: model loaded, indexes built
    local us = math.huge                             -- best of 5 rounds: the machine is shared
    for _ = 1, 5 do
      local t0 = os.clock()
      for _ = 1, N // 5 do c:call(op, params) end
      us = math.min(us, (os.clock() - t0) / (N // 5) * 1e6)
    end
    total, count = total + us, count + 1
    print(string.format("  %-9s %-26s %7.1f us/call   goal < 100 us  %s", service, op, us, us < 100 and "ok" or "OVER"))
  end
  local mean = total / count
  print(string.format("  %-36s %7.1f us/call   goal < 100 us  %s", "mean", mean, mean < 100 and "ok" or "OVER"))
end

local function throughput()
  local ok, fakeaws = pcall(require, "fakeaws")
  if not ok then
    print("calls/s against fakeaws: skipped (tests/lua/fakeaws.lua not available: " .. tostring(fakeaws):match("[^\n]*") .. ")")
    return
  end
  local task = require "wpo.task"
  local loop = require "wpo.core.loop"
  local f = fakeaws.start()
  local c = aws.client("ec2", { region = "us-east-1", endpoint = f.url, rate_limit = false,
    credentials = { access_key = "test", secret_key = "test" } })
  c:call("CreateVpc", { CidrBlock = "10.0.0.0/16" })
  print("calls/s through client:call against fakeaws (DescribeVpcs, no injected latency):")
  for _, inflight in ipairs({ 1, 32 }) do
    local calls = inflight == 1 and 300 or 1200
    local t0 = loop.now()
    local per = calls // inflight
    for _ = 1, inflight do
      task.spawn(function()
        for _ = 1, per do c:call("DescribeVpcs", {}) end
      end)
    end
    task.run()
    local secs = (loop.now() - t0) / 1000
    print(string.format("  %2d in flight: %7.0f calls/s  (%d calls in %.2fs; fakeaws, a Python server, bounds this)",
      inflight, per * inflight / secs, per * inflight, secs))
  end
  f:stop()
end

cpu_per_call()
throughput()
