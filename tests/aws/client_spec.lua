-- wpo.aws.client with a scripted transport, a fake clock and fixed
-- randomness: retries (standard mode, quota, backoff), rate limiting,
-- read-only mode, errors per protocol, pagination, redaction, endpoints.
local awstest = require "awstest"

local ERR_QUERY = '<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>'
  .. '<RequestId>rid-q</RequestId></ErrorResponse>'
local ERR_EC2 = '<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors>'
  .. '<RequestID>rid-ec2</RequestID></Response>'
local OK_VPCS = '<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid-ok</requestId>'
  .. '<vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock><isDefault>false</isDefault>'
  .. '<tagSet><item><key>Name</key><value>main</value></item></tagSet></item></vpcSet></DescribeVpcsResponse>'

describe("wpo.aws.client", function()
  local aws = require "wpo.aws"
  local client = require "wpo.aws.client"
  local retry = require "wpo.aws.retry"
  local errors = require "wpo.errors"
  local log = require "wpo.log"

  local CREDS = { access_key = "AKIDEXAMPLE", secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }

  -- a client whose transport answers with responder(req, n)
  local function make(service, responder, extra)
    local send, calls = awstest.transport(responder)
    local clock = awstest.clock()
    local opts = { region = "eu-west-1", credentials = CREDS, transport = send, random = function() return 0.5 end,
      sleep = clock.sleep, now = clock.now, clock = clock.clock, rate_limit = false,
      getenv = awstest.env {} }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return aws.client(service, opts), calls, clock
  end

  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.is_true(errors.is(err), "expected a wpo.errors error, got " .. tostring(err))
    return err
  end

  before_each(function()
    retry.reset()
  end)

  describe("retries (standard mode)", function()
    it("retries throttling with full-jitter backoff and succeeds", function()
      local c, calls, clock = make("ec2", function(_, n)
        if n <= 2 then return awstest.response(503, ERR_EC2:format("RequestLimitExceeded", "slow down")) end
        return awstest.response(200, OK_VPCS)
      end)
      local out, meta = c:call("DescribeVpcs", {})
      assert.are.equal(3, #calls)
      assert.are.equal("vpc-1", out.Vpcs[1].VpcId)
      assert.are.equal(3, meta.attempts)
      assert.are.same({ 0.5, 1.0 }, clock.sleeps)  -- 0.5 * 2^(attempt-1)
      assert.are.equal(495, c.quota.available)    -- two retries took 10; the success gave back 5
    end)

    it("tries a throttled call up to THROTTLE_ATTEMPTS times (nothing was done), then fails with the throttling error", function()
      local c, calls = make("ec2", function()
        return awstest.response(400, ERR_EC2:format("RequestLimitExceeded", "Request limit exceeded."))
      end, { max_attempts = 4 })
      local err = raised(function() c:call("DescribeVpcs", {}) end)
      assert.are.equal(10, retry.THROTTLE_ATTEMPTS)
      assert.are.equal(10, #calls)
      assert.are.equal("RequestLimitExceeded", err.code)
      assert.are.equal("Request limit exceeded.", err.message)
      assert.are.equal(400, err.status)
      assert.are.equal("rid-ec2", err.request_id)
      assert.is_true(err.retryable)
      assert.are.equal(10, err.attempts)
      assert.are.equal("ec2", err.service)
      assert.are.equal("DescribeVpcs", err.operation)
    end)

    it("does not count throttled attempts against max_attempts for other failures", function()
      local n = 0
      local c, calls = make("ec2", function()
        n = n + 1
        if n <= 4 then return awstest.response(400, ERR_EC2:format("RequestLimitExceeded", "slow down")) end
        if n <= 6 then return awstest.response(503, "") end
        return awstest.response(200, OK_VPCS)
      end, { max_attempts = 3 })
      c:call("DescribeVpcs", {})
      assert.are.equal(7, #calls)   -- 4 throttled, 2 unavailable (within 3 attempts of their own), then the answer
    end)

    it("never retries a validation error", function()
      local c, calls = make("iam", function()
        return awstest.response(400, ERR_QUERY:format("ValidationError", "bad name"))
      end)
      local err = raised(function() c:call("GetRole", { RoleName = "x" }) end)
      assert.are.equal(1, #calls)
      assert.are.equal("ValidationError", err.code)
      assert.is_false(err.retryable)
    end)

    it("retries a dropped connection and a 5xx", function()
      local c, calls = make("ec2", function(_, n)
        if n == 1 then return nil, "connection reset by peer", "transport" end
        if n == 2 then return awstest.response(502, "<html>bad gateway</html>") end
        return awstest.response(200, OK_VPCS)
      end)
      assert.are.equal("vpc-1", c:call("DescribeVpcs", {}).Vpcs[1].VpcId)
      assert.are.equal(3, #calls)
    end)

    it("charges 10 for a retry after a timeout and gives it back on success", function()
      local c = make("ec2", function(_, n)
        if n == 1 then return nil, "timed out", "timeout" end
        return awstest.response(200, OK_VPCS)
      end)
      c:call("DescribeVpcs", {})
      assert.are.equal(500, c.quota.available)
      local c2 = make("ec2", function() return nil, "timed out", "timeout" end, { max_attempts = 2 })
      local err = raised(function() c2:call("DescribeVpcs", {}) end)
      assert.are.equal("RequestError", err.code)
      assert.is_true(err.retryable)
      assert.are.equal(490, c2.quota.available)
    end)

    it("stops retrying when the retry quota is exhausted", function()
      local c, calls = make("ec2", function() return awstest.response(500, "") end, { max_attempts = 10 })
      c.quota = retry.quota(12)      -- room for two retries of 5
      local err = raised(function() c:call("DescribeVpcs", {}) end)
      assert.are.equal(3, #calls)
      assert.are.equal("500", err.code)
      assert.are.equal(2, c.quota.available)
    end)

    it("shares the retry quota between clients of one service and region", function()
      local fail = function() return awstest.response(503, "") end
      local a = make("ec2", fail, { max_attempts = 2 })
      local b = make("ec2", fail, { max_attempts = 2 })
      local other = make("ec2", fail, { max_attempts = 2, region = "us-west-2" })
      assert.are.equal(a.quota, b.quota)
      assert.are_not.equal(a.quota, other.quota)
      raised(function() a:call("DescribeVpcs", {}) end)
      assert.are.equal(495, b.quota.available)
      assert.are.equal(500, other.quota.available)
    end)

    it("caps the backoff at 20 s", function()
      local c, _, clock = make("ec2", function() return awstest.response(503, "") end, { max_attempts = 7 })
      raised(function() c:call("DescribeVpcs", {}) end)
      assert.are.same({ 0.5, 1, 2, 4, 8, 10 }, clock.sleeps)
    end)

    it("sends the same ClientToken on every attempt, without touching the caller's table", function()
      local c, calls = make("ec2", function(_, n)
        if n == 1 then return awstest.response(503, "") end
        return awstest.response(200, "<CreateNatGatewayResponse><requestId>r</requestId><clientToken>t</clientToken>"
          .. "<natGateway><natGatewayId>nat-1</natGatewayId></natGateway></CreateNatGatewayResponse>")
      end)
      local params = { SubnetId = "subnet-1" }
      local out = c:call("CreateNatGateway", params)
      assert.are.equal("nat-1", out.NatGateway.NatGatewayId)
      assert.is_nil(params.ClientToken)
      local t1, t2 = awstest.form(calls[1].body).ClientToken, awstest.form(calls[2].body).ClientToken
      assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", t1)
      assert.are.equal(t1, t2)
    end)

    it("never sends again a create whose answer was lost (a 5xx, a dropped connection, a garbled answer)", function()
      local OK_VPC = '<CreateVpcResponse><requestId>r</requestId><vpc><vpcId>vpc-9</vpcId></vpc></CreateVpcResponse>'
      for _, case in ipairs({
        { "a 500", function() return awstest.response(500, ERR_EC2:format("InternalError", "oops")) end, "InternalError" },
        { "a 503", function() return awstest.response(503, ERR_EC2:format("Unavailable", "later")) end, "Unavailable" },
        { "a dropped connection", function() return nil, "connection reset by peer", "transport" end, "RequestError" },
        { "a timeout", function() return nil, "timed out", "timeout" end, "RequestError" },
        { "an answer cut short", function() return awstest.response(200, OK_VPC:sub(1, 40)) end, "InvalidResponse" },
      }) do
        local c, calls = make("ec2", case[2])
        local err = raised(function() c:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }) end)
        assert.are.equal(1, #calls, case[1])
        assert.are.equal(case[3], err.code, case[1])
        assert.are.equal("unknown", err.outcome, case[1])
        assert.are.equal(1, err.attempts, case[1])
        if case[3] ~= "InvalidResponse" then
          assert.matches("the answer was lost and AWS may have done it: not sent again", err.message, 1, true)
        end
      end
    end)

    it("sends a create again when AWS surely did not do it: refused connection, throttling", function()
      local OK_VPC = '<CreateVpcResponse><requestId>r</requestId><vpc><vpcId>vpc-9</vpcId></vpc></CreateVpcResponse>'
      local c, calls = make("ec2", function(_, n)
        if n == 1 then return nil, "connection refused", "connect" end
        if n == 2 then return awstest.response(503, ERR_EC2:format("RequestLimitExceeded", "slow down")) end
        return awstest.response(200, OK_VPC)
      end)
      assert.are.equal("vpc-9", c:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }).Vpc.VpcId)
      assert.are.equal(3, #calls)
      local c4, calls4 = make("ec2", function() return awstest.response(400, ERR_EC2:format("InvalidParameterValue",
        "bad")) end)
      local err = raised(function() c4:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }) end)
      assert.are.equal(1, #calls4)
      assert.is_nil(err.outcome)
    end)

    it("sends again an idempotent write, and a create carrying its idempotency token; says when unknown", function()
      local c, calls = make("ec2", function() return awstest.response(500, "") end)
      local err = raised(function() c:call("ModifyVpcAttribute", { VpcId = "vpc-1",
        EnableDnsHostnames = { Value = true } }) end)
      assert.are.equal(3, #calls)
      assert.are.equal("unknown", err.outcome)
      assert.is_nil(err.message:find("not sent again", 1, true))
      local nat, nat_calls = make("ec2", function(_, n)
        if n < 3 then return nil, "connection reset by peer", "transport" end
        return awstest.response(200, "<CreateNatGatewayResponse><requestId>r</requestId>"
          .. "<natGateway><natGatewayId>nat-1</natGatewayId></natGateway></CreateNatGatewayResponse>")
      end)
      assert.are.equal("nat-1", nat:call("CreateNatGateway", { SubnetId = "subnet-1" }).NatGateway.NatGatewayId)
      assert.are.equal(3, #nat_calls)
      local reads, read_calls = make("ec2", function() return awstest.response(500, "") end)
      err = raised(function() reads:call("DescribeVpcs", {}) end)
      assert.are.equal(3, #read_calls)
      assert.is_nil(err.outcome)         -- a read changes nothing
    end)

    it("knows which writes make something when carried out twice", function()
      local cases = {
        { "ec2", "CreateVpc", false }, { "ec2", "AllocateAddress", false }, { "ec2", "AttachInternetGateway", false },
        { "ec2", "AssociateRouteTable", false }, { "ec2", "AuthorizeSecurityGroupIngress", false },
        { "ecs", "RegisterTaskDefinition", false }, { "iam", "AddRoleToInstanceProfile", false },
        { "route53", "ChangeResourceRecordSets", false }, { "ssm", "PutParameter", false },
        { "application-autoscaling", "RegisterScalableTarget", true }, { "rds", "AddTagsToResource", true },
        { "ec2", "CreateTags", true }, { "iam", "AttachRolePolicy", true }, { "iam", "PutRolePolicy", true },
        { "ec2", "ModifyVpcAttribute", true }, { "ec2", "DeleteVpc", true }, { "ec2", "ReleaseAddress", true },
        { "rds", "CreateDBCluster", false },
      }
      for _, case in ipairs(cases) do
        assert.are.equal(case[3], retry.resendable(case[1], case[2], false), case[1] .. " " .. case[2])
      end
      assert.is_true(retry.resendable("ec2", "CreateNatGateway", true))
      assert.is_true(retry.resendable("sns", "CreateTopic", false))      -- idempotent by name
      -- a token the model marks, or a member named like one (ECS CreateService's clientToken)
      assert.is_true(retry.has_token({ "ClientToken" }, { ClientToken = "t" }))
      assert.is_true(retry.has_token(false, { clientToken = "t" }))
      assert.is_false(retry.has_token({ "ClientToken" }, {}))
    end)

    it("signs each attempt afresh", function()
      local c, calls, clock = make("ec2", function(_, n)
        if n == 1 then return awstest.response(503, "") end
        return awstest.response(200, OK_VPCS)
      end)
      clock.t = 59500
      c:call("DescribeVpcs", {})
      assert.are_not.equal(calls[1].headers["X-Amz-Date"], calls[2].headers["X-Amz-Date"])
    end)
  end)

  describe("rate limiting", function()
    it("lets a burst of the bucket's capacity through, then paces at the refill rate", function()
      local c, calls, clock = make("ec2", function() return awstest.response(200, OK_VPCS) end, { rate_limit = true })
      for _ = 1, 105 do c:call("DescribeVpcs", {}) end
      assert.are.equal(105, #calls)
      assert.are.equal(5, #clock.sleeps)
      for _, s in ipairs(clock.sleeps) do assert.is_true(math.abs(s - 0.05) < 1e-9) end
    end)

    it("shares one bucket per service and region; Route 53 refills 10/s", function()
      local b1 = retry.bucket("route53", "us-east-1")
      assert.are.equal(b1, retry.bucket("route53", "us-east-1"))
      assert.are_not.equal(b1, retry.bucket("route53", "eu-west-1"))
      assert.are.same({ 50, 10 }, { b1.capacity, b1.rate })
      local ec2 = retry.bucket("ec2", "us-east-1")
      assert.are.same({ 100, 20 }, { ec2.capacity, ec2.rate })
    end)

    it("gives each EC2 action its own bucket, as EC2 throttles them: reads 100/20, writes 50/5", function()
      local subnets = retry.bucket("ec2", "eu-west-1", nil, "CreateSubnet")
      assert.are.equal(subnets, retry.bucket("ec2", "eu-west-1", nil, "CreateSubnet"))
      assert.are_not.equal(subnets, retry.bucket("ec2", "eu-west-1", nil, "CreateRoute"))
      assert.are.same({ 50, 5 }, { subnets.capacity, subnets.rate })
      local describe = retry.bucket("ec2", "eu-west-1", nil, "DescribeSubnets")
      assert.are.same({ 100, 20 }, { describe.capacity, describe.rate })
      -- services throttled as a whole keep one bucket whatever the operation
      assert.are.equal(retry.bucket("route53", "us-east-1", nil, "GetChange"),
        retry.bucket("route53", "us-east-1", nil, "ChangeResourceRecordSets"))
    end)

    it("cuts a bucket's rate on a throttle, empties its burst, and recovers along a cubic curve", function()
      retry.reset()
      local now = 0
      local function clock() return now end
      local slept = {}
      local function sleep(s) slept[#slept + 1] = s; now = now + s * 1000 end
      local b = retry.bucket("route53", "us-east-1", nil, nil, "AKID1")
      assert.are.same({ 50, 10, 10 }, { b.capacity, b.max_rate, b:rate_at(now) })
      assert.are.equal(0, b:take(clock, sleep))
      b:throttled(clock)
      assert.is_true(math.abs(b:rate_at(now) - 7) < 1e-9, "cut to 0.7 x 10: " .. b:rate_at(now))
      -- the burst is gone: the next call waits one token at the cut rate
      b:take(clock, sleep)
      assert.is_true(math.abs(slept[#slept] - 1 / 7) < 1e-6, tostring(slept[#slept]))
      -- k = cbrt(10 * 0.3 / 0.4) seconds after the cut the rate is back at 10
      local k = (10 * 0.3 / 0.4) ^ (1 / 3)
      local cut = now - slept[#slept] * 1000
      local half = b:rate_at(cut + k * 500)
      assert.is_true(half > 7 and half < 10, "recovering: " .. half)
      assert.is_true(math.abs(b:rate_at(cut + k * 1000) - 10) < 1e-9)
      assert.are.equal(10, b:rate_at(cut + k * 4000), "never above the configured rate")
      -- a second throttle while recovering cuts from where the rate is
      now = cut + k * 500
      b:throttled(clock)
      assert.is_true(math.abs(b:rate_at(now) - half * 0.7) < 1e-9)
      -- never below the floor
      for _ = 1, 30 do b:throttled(clock) end
      assert.are.equal(retry.ADAPT_MIN_RATE, b:rate_at(now))
    end)

    it("shares an adaptive bucket by caller, service and region, not across accounts or regions", function()
      retry.reset()
      local a = retry.bucket("route53", "us-east-1", nil, "GetChange", "AKID1 http://x")
      assert.are.equal(a, retry.bucket("route53", "us-east-1", nil, "ListResourceRecordSets", "AKID1 http://x"))
      assert.are_not.equal(a, retry.bucket("route53", "us-east-1", nil, "GetChange", "AKID2 http://x"))
      assert.are_not.equal(a, retry.bucket("route53", "eu-west-1", nil, "GetChange", "AKID1 http://x"))
      a:throttled(function() return 0 end)
      assert.are.equal(10, retry.bucket("route53", "us-east-1", nil, "GetChange", "AKID2 http://x"):rate_at(0))
    end)

    it("two clients of one account share the bucket: one's throttle slows the other", function()
      retry.reset()
      local n = 0
      local function responder()
        n = n + 1
        if n == 1 then return awstest.response(400, ERR_EC2:format("RequestLimitExceeded", "slow down")) end
        return awstest.response(200, OK_VPCS)
      end
      local c1, _, clock = make("ec2", responder, { rate_limit = true, random = function() return 0 end })
      local c2 = aws.client("ec2", { region = "eu-west-1", credentials = CREDS,
        transport = awstest.transport(responder), random = function() return 0 end, sleep = clock.sleep,
        now = clock.now, clock = clock.clock, rate_limit = true,
        getenv = awstest.env {} })
      c1:call("DescribeVpcs", {})       -- throttled once, then answered
      local b = retry.bucket("ec2", "eu-west-1", nil, "DescribeVpcs",
        CREDS.access_key .. " " .. c1.endpoint.url)
      assert.are.equal(1, b.throttles)
      local before = #clock.sleeps
      c2:call("DescribeVpcs", {})
      assert.are.equal(before + 1, #clock.sleeps)
      assert.is_true(clock.sleeps[#clock.sleeps] > 0.05, "the second client waited for the cut bucket")
      -- another account's client is not slowed
      local other = aws.client("ec2", { region = "eu-west-1", transport = awstest.transport(responder),
        credentials = { access_key = "AKIDOTHER", secret_key = "x" }, random = function() return 0 end,
        sleep = clock.sleep, now = clock.now, clock = clock.clock, rate_limit = true, getenv = awstest.env {} })
      before = #clock.sleeps
      other:call("DescribeVpcs", {})
      assert.are.equal(before, #clock.sleeps)
    end)

    it("does not hold back one EC2 action for another's burst", function()
      local c, calls, clock = make("ec2", function() return awstest.response(200, OK_VPCS) end, { rate_limit = true })
      for _ = 1, 100 do c:call("DescribeVpcs", {}) end
      for _ = 1, 20 do c:call("DescribeSubnets", {}) end
      assert.are.equal(120, #calls)
      assert.are.equal(0, #clock.sleeps)
    end)
  end)

  describe("read-only clients", function()
    it("raise ReadOnlyViolation for a write before anything is sent; reads go through", function()
      local c, calls = make("ec2", function() return awstest.response(200, OK_VPCS) end, { read_only = true })
      local err = raised(function() c:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }) end)
      assert.are.equal("ReadOnlyViolation", err.code)
      assert.are.equal(0, #calls)
      c:call("DescribeVpcs", {})
      assert.are.equal(1, #calls)
      assert.is_true(aws.is_read("sts", "GetCallerIdentity"))
      assert.is_true(aws.is_read("sts", "AssumeRole"))
      assert.is_false(aws.is_read("dynamodb", "PutItem"))
    end)

    it("are a capability of the client, not of the process: another client still writes", function()
      local ro, ro_calls = make("ec2", function() return awstest.response(200, OK_VPCS) end, { read_only = true })
      local rw, rw_calls = make("ec2", function() return awstest.response(200, OK_VPCS) end)
      assert.are.equal("ReadOnlyViolation", raised(function() ro:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }) end).code)
      rw:call("CreateVpc", { CidrBlock = "10.0.0.0/16" })
      assert.are.equal(0, #ro_calls)
      assert.are.equal(1, #rw_calls)
    end)
  end)

  describe("errors", function()
    it("decodes query errors and prints them on one line", function()
      local c = make("iam", function()
        return awstest.response(404, ERR_QUERY:format("NoSuchEntity", "The role with name x cannot be found."))
      end)
      local err = raised(function() c:call("GetRole", { RoleName = "x" }) end)
      assert.are.equal("NoSuchEntity", err.code)
      assert.are.equal("rid-q", err.request_id)
      assert.are.equal("iam GetRole: NoSuchEntity: The role with name x cannot be found. (HTTP 404, request rid-q)",
        tostring(err))
    end)

    it("decodes json errors (__type with a namespace, message)", function()
      local c = make("dynamodb", function()
        return awstest.response(400, '{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",'
          .. '"message":"The conditional request failed"}', { ["x-amzn-RequestId"] = "rid-j" })
      end)
      local err = raised(function()
        c:call("PutItem", { TableName = "t", Item = { LockID = { S = "x" } } })
      end)
      assert.are.equal("ConditionalCheckFailedException", err.code)
      assert.are.equal("The conditional request failed", err.message)
      assert.are.equal("rid-j", err.request_id)
      assert.is_false(err.retryable)
    end)

    it("decodes rest-json errors from x-amzn-errortype", function()
      local c = make("efs", function()
        return awstest.response(409, '{"ErrorCode":"FileSystemAlreadyExists","Message":"exists"}',
          { ["x-amzn-errortype"] = "FileSystemAlreadyExists:http://internal.amazon.com/", ["x-amzn-requestid"] = "r" })
      end)
      local err = raised(function() c:call("CreateFileSystem", { CreationToken = "t" }) end)
      assert.are.equal("FileSystemAlreadyExists", err.code)
      assert.are.equal("exists", err.message)
    end)

    it("decodes S3 errors, and a bodiless HEAD error from its status", function()
      local c = make("s3", function(req)
        if req.method == "HEAD" then return awstest.response(404, "", { ["x-amz-request-id"] = "s3r" }) end
        return awstest.response(404, "<Error><Code>NoSuchBucket</Code><Message>no bucket</Message>"
          .. "<RequestId>s3b</RequestId></Error>")
      end)
      local err = raised(function() c:call("ListObjectsV2", { Bucket = "b" }) end)
      assert.are.same({ "NoSuchBucket", "no bucket", "s3b" }, { err.code, err.message, err.request_id })
      err = raised(function() c:call("HeadObject", { Bucket = "b", Key = "k" }) end)
      assert.are.same({ "404", "HTTP 404", "s3r" }, { err.code, err.message, err.request_id })
    end)

    it("reports an unknown operation with a suggestion, and bad parameters before sending", function()
      local c, calls = make("ec2", function() return awstest.response(200, OK_VPCS) end)
      local err = raised(function() c:call("DescribeVpc", {}) end)
      assert.are.equal("UnknownOperation", err.code)
      assert.matches("did you mean DescribeVpcs", err.message)
      err = raised(function() c:call("DescribeVpcs", { VpcId = "x" }) end)
      assert.are.equal("ParamValidationError", err.code)
      assert.are.equal(0, #calls)
      local ok, e = pcall(aws.client, "ec2", { region = "x", colour = "blue" })
      assert.is_false(ok)
      assert.matches("unknown option 'colour'", e)
    end)

    it("says so for an operation answering with an event stream", function()
      local c, calls = make("s3", function() return awstest.response(200, "") end)
      local err = raised(function()
        c:call("SelectObjectContent", { Bucket = "b", Key = "k", Expression = "select 1", ExpressionType = "SQL",
          InputSerialization = {}, OutputSerialization = {} })
      end)
      assert.are.equal("NotImplemented", err.code)
      assert.are.equal(0, #calls)
    end)

    it("pcall returns nil and the error", function()
      local c = make("ec2", function() return awstest.response(400, ERR_EC2:format("InvalidVpcID.NotFound", "gone")) end)
      local out, err = c:pcall("DescribeVpcs", { VpcIds = { "vpc-9" } })
      assert.is_nil(out)
      assert.are.equal("InvalidVpcID.NotFound", err.code)
    end)
  end)

  describe("required members", function()
    local CREATED = '<CreateVpcResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid-cv</requestId>'
      .. '%s</CreateVpcResponse>'

    it("takes a member, following names and list positions", function()
      local c = make("ec2", function() return awstest.response(200, OK_VPCS) end)
      local out = c:call("DescribeVpcs", {})
      assert.are.equal("vpc-1", aws.required(out, "Vpcs", 1, "VpcId"))
      assert.are.equal("main", aws.required(out, "Vpcs", 1, "Tags", 1, "Value"))
      assert.are.equal(false, aws.required(out, "Vpcs", 1, "IsDefault"))   -- false is a value, not an absence
    end)

    it("raises InvalidResponse naming the service, operation, member and request when a 200 lacks it", function()
      local c = make("ec2", function() return awstest.response(200, CREATED:format("")) end)
      local out = c:call("CreateVpc", { CidrBlock = "10.0.0.0/16" })
      local err = raised(function() return aws.required(out, "Vpc", "VpcId") end)
      assert.are.equal("InvalidResponse", err.code)
      assert.is_false(err.retryable)
      assert.are.equal("InvalidResponse: ec2 CreateVpc answered without Vpc (request rid-cv)", tostring(err))
      assert.are.same({ service = "ec2", operation = "CreateVpc", request_id = "rid-cv" }, err.response)

      c = make("ec2", function() return awstest.response(200, CREATED:format("<vpc><cidrBlock>10.0.0.0/16</cidrBlock></vpc>")) end)
      out = c:call("CreateVpc", { CidrBlock = "10.0.0.0/16" })
      err = raised(function() return aws.required(out, "Vpc", "VpcId") end)
      assert.are.equal("InvalidResponse: ec2 CreateVpc answered without Vpc.VpcId (request rid-cv)", tostring(err))
      c = make("ec2", function() return awstest.response(200, OK_VPCS) end)
      err = raised(function() return aws.required(c:call("DescribeVpcs", {}), "Vpcs", 2, "VpcId") end)
      assert.are.equal("InvalidResponse: ec2 DescribeVpcs answered without Vpcs[2] (request rid-ok)", tostring(err))
    end)

    it("knows the answers of collect (and of each page), and says less of a table it did not make", function()
      local c = make("ec2", function() return awstest.response(200, OK_VPCS) end)
      local err = raised(function() return aws.required(c:collect("DescribeVpcs", {}), "NextToken") end)
      assert.are.equal("InvalidResponse: ec2 DescribeVpcs answered without NextToken (request rid-ok)", tostring(err))
      err = raised(function() return aws.required({}, "Vpc") end)
      assert.are.equal("InvalidResponse: an AWS answer without Vpc", tostring(err))
      assert.has_error(function() aws.required({}) end, "aws.required: name the member to take")
    end)
  end)

  describe("pagination", function()
    it("follows NextToken and collects every page", function()
      local tokens = {}
      local c, calls = make("ec2", function(req, n)
        local page = (n - 1) % 3 + 1
        tokens[n] = awstest.form(req.body).NextToken or false
        local next_token = page < 3 and ("<nextToken>t" .. page .. "</nextToken>") or ""
        return awstest.response(200, "<DescribeVpcsResponse><requestId>r</requestId><vpcSet><item><vpcId>vpc-" .. page
          .. "</vpcId></item></vpcSet>" .. next_token .. "</DescribeVpcsResponse>")
      end)
      local ids = {}
      for page in c:paginate("DescribeVpcs", {}) do ids[#ids + 1] = page.Vpcs[1].VpcId end
      assert.are.same({ "vpc-1", "vpc-2", "vpc-3" }, ids)
      local all = c:collect("DescribeVpcs", {})
      assert.are.equal(6, #calls)
      assert.are.same({ false, "t1", "t2", false, "t1", "t2" }, tokens)
      assert.are.same({ "vpc-1", "vpc-2", "vpc-3" }, { all.Vpcs[1].VpcId, all.Vpcs[2].VpcId, all.Vpcs[3].VpcId })
    end)

    it("uses several tokens and IsTruncated (Route 53 record sets)", function()
      local c, calls = make("route53", function(_, n)
        local more = n == 1 and "<IsTruncated>true</IsTruncated><NextRecordName>b.example.com.</NextRecordName>"
          .. "<NextRecordType>A</NextRecordType>" or "<IsTruncated>false</IsTruncated>"
        return awstest.response(200, '<ListResourceRecordSetsResponse><ResourceRecordSets><ResourceRecordSet>'
          .. '<Name>r' .. n .. '</Name><Type>A</Type></ResourceRecordSet></ResourceRecordSets>' .. more
          .. '<MaxItems>1</MaxItems></ListResourceRecordSetsResponse>')
      end)
      local all = c:collect("ListResourceRecordSets", { HostedZoneId = "/hostedzone/Z1" })
      assert.are.equal(2, #calls)
      assert.are.equal("https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/rrset", calls[1].url)
      assert.matches("name=b.example.com.", calls[2].url, 1, true)
      assert.matches("type=A", calls[2].url, 1, true)
      assert.are.same({ "r1", "r2" }, { all.ResourceRecordSets[1].Name, all.ResourceRecordSets[2].Name })
    end)

    it("merges nested result keys (ECR imageScanFindings.findings)", function()
      local c, calls = make("ecr", function(_, n)
        local next_token = n == 1 and ',"nextToken":"p2"' or ""
        return awstest.response(200, '{"repositoryName":"wp","imageScanFindings":{"findings":[{"name":"CVE-' .. n
          .. '"}]}' .. next_token .. '}')
      end)
      local all = c:collect("DescribeImageScanFindings", { repositoryName = "wp", imageId = { imageTag = "v1" } })
      assert.are.equal(2, #calls)
      assert.matches('"nextToken":"p2"', calls[2].body, 1, true)
      assert.are.same({ "CVE-1", "CVE-2" }, { all.imageScanFindings.findings[1].name, all.imageScanFindings.findings[2].name })
    end)

    it("evaluates S3's 'NextMarker || Contents[-1].Key' token", function()
      assert.are.equal("k2", client.eval_path({ Contents = { { Key = "k1" }, { Key = "k2" } } }, "NextMarker || Contents[-1].Key"))
      assert.are.equal("m", client.eval_path({ NextMarker = "m", Contents = { { Key = "k1" } } }, "NextMarker || Contents[-1].Key"))
    end)

    it("stops with an error when a token repeats", function()
      local c = make("ec2", function()
        return awstest.response(200, "<DescribeVpcsResponse><requestId>r</requestId><vpcSet/>"
          .. "<nextToken>same</nextToken></DescribeVpcsResponse>")
      end)
      local err = raised(function() c:collect("DescribeVpcs", {}) end)
      assert.are.equal("PaginationError", err.code)
    end)
  end)

  describe("debug log", function()
    after_each(function()
      log.set_output(nil)
      log.set_level(nil)
    end)

    it("shows each request and response with secrets redacted", function()
      local lines = {}
      log.set_level("debug")
      log.set_output(function(l) lines[#lines + 1] = l end)
      local session_token = "FwoGZXIvYXdzEBYaDSESSIONTOKENSECRETVALUE"
      local c = make("secretsmanager", function(_, n)
        if n == 1 then return awstest.response(500, "{}") end
        return awstest.response(200, '{"ARN":"arn:aws:secretsmanager:eu-west-1:1:secret:db","Name":"db"}')
      end, { credentials = { access_key = "AKIDEXAMPLE", secret_key = "SECRETKEYVALUE123", session_token = session_token } })
      c:call("CreateSecret", { Name = "db", SecretString = "hunter2-the-password" })
      local text = table.concat(lines, "\n")
      assert.matches("attempt 1/3: POST https://secretsmanager.eu-west-1.amazonaws.com/", text, 1, true)
      assert.matches("retrying after 500", text, 1, true)
      assert.matches("-> 200 in", text, 1, true)
      assert.matches("<redacted>", text, 1, true)
      assert.is_nil(text:find("hunter2", 1, true))
      assert.is_nil(text:find(session_token, 1, true))
      assert.is_nil(text:find("SECRETKEYVALUE123", 1, true))
      assert.is_nil(text:find("Signature=", 1, true))
    end)
  end)

  describe("endpoints and signing", function()
    it("signs IAM and Route 53 for us-east-1 at their global endpoints", function()
      local c, calls = make("iam", function()
        return awstest.response(200, "<GetRoleResponse><GetRoleResult><Role><RoleName>x</RoleName></Role>"
          .. "</GetRoleResult></GetRoleResponse>")
      end)
      assert.are.equal("x", c:call("GetRole", { RoleName = "x" }).Role.RoleName)
      assert.are.equal("https://iam.amazonaws.com/", calls[1].url)
      assert.matches("/us%-east%-1/iam/aws4_request", calls[1].headers.Authorization)
    end)

    it("honours AWS_ENDPOINT_URL_<SERVICE_ID>, then AWS_ENDPOINT_URL, then a stack override", function()
      local env = awstest.env { AWS_ENDPOINT_URL = "http://127.0.0.1:9/",
        AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 = "http://127.0.0.1:8" }
      local function url(service, extra)
        local opts = { getenv = env }
        for k, v in pairs(extra or {}) do opts[k] = v end
        local c = make(service, function() return awstest.response(200, "") end, opts)
        return c.endpoint.url, c.endpoint.signing_region
      end
      assert.are.same({ "http://127.0.0.1:8", "eu-west-1" }, { url("elbv2") })
      assert.are.same({ "http://127.0.0.1:9", "eu-west-1" }, { url("ecs") })
      assert.are.same({ "http://127.0.0.1:7", "us-east-1" }, { url("iam", { endpoint = { iam = "http://127.0.0.1:7" } }) })
      assert.are.same({ "https://api.ecr.eu-west-1.amazonaws.com", "eu-west-1" },
        { url("ecr", { getenv = awstest.env {} }) })
    end)

    it("addresses S3 buckets virtual-hosted on AWS, path-style on a custom endpoint", function()
      local c, calls = make("s3", function() return awstest.response(200, "") end)
      c:call("PutObject", { Bucket = "state-bucket", Key = "prod/state.json", Body = "{}" })
      assert.are.equal("https://state-bucket.s3.eu-west-1.amazonaws.com/prod/state.json", calls[1].url)
      assert.is_string(calls[1].headers["X-Amz-Content-Sha256"])
      local c2, calls2 = make("s3", function() return awstest.response(200, "") end, { endpoint = "http://127.0.0.1:5" })
      c2:call("PutObject", { Bucket = "state-bucket", Key = "a b", Body = "{}" })
      assert.are.equal("http://127.0.0.1:5/state-bucket/a%20b", calls2[1].url)
    end)
  end)
end)
