-- wpo.aws against tests/fakeaws (a loopback AWS endpoint that validates every
-- request against botocore's models and checks SigV4 with botocore's signer):
-- one real call per protocol, retries under injected faults, the read-only
-- guard, AssumeRole, the `wpo aws` command and its redacted debug log.
local h = require "helpers"
local awstest = require "awstest"
local fakeaws = require "fakeaws"

describe("wpo.aws against fakeaws", function()
  local aws = require "wpo.aws"
  local retry = require "wpo.aws.retry"
  local credentials = require "wpo.aws.credentials"
  local errors = require "wpo.errors"
  local task = require "wpo.task"

  local f
  setup(function() f = fakeaws.start() end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    retry.reset()
  end)

  local function client(service, extra)
    local opts = { region = "us-east-1", endpoint = f.url, credentials = { access_key = "test", secret_key = "test" } }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return aws.client(service, opts)
  end

  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.is_true(errors.is(err), "expected a wpo.errors error, got " .. tostring(err))
    return err
  end

  -- how many calls fakeaws recorded: for one operation ("DescribeVpcs" or
  -- "ec2.DescribeVpcs"), or in all (/_fake/calls: { ["ec2.CreateVpc"] = n })
  local function count(op)
    local n = 0
    for name, c in pairs(f:calls()) do
      if op == nil or name == op or name:match("%.([^.]+)$") == op then
        n = n + (type(c) == "table" and c.count or c)
      end
    end
    return n
  end

  describe("one call per protocol", function()
    it("ec2: CreateVpc, then DescribeVpcs with a tag:Name filter", function()
      local ec2 = client("ec2")
      local main = ec2:call("CreateVpc", { CidrBlock = "10.0.0.0/16", TagSpecifications = {
        { ResourceType = "vpc", Tags = { { Key = "Name", Value = "main" } } } } }).Vpc
      ec2:call("CreateVpc", { CidrBlock = "10.1.0.0/16", TagSpecifications = {
        { ResourceType = "vpc", Tags = { { Key = "Name", Value = "other" } } } } })
      assert.matches("^vpc%-%x+$", main.VpcId)
      assert.are.equal("10.0.0.0/16", main.CidrBlock)
      local found = ec2:call("DescribeVpcs", { Filters = { { Name = "tag:Name", Values = { "main" } } } }).Vpcs
      assert.are.equal(1, #found)
      assert.are.equal(main.VpcId, found[1].VpcId)
      assert.are.equal("boolean", type(found[1].IsDefault))
    end)

    it("query: RDS CreateDBSubnetGroup with a list of subnets", function()
      local ec2 = client("ec2")
      local vpc = ec2:call("CreateVpc", { CidrBlock = "10.2.0.0/16" }).Vpc.VpcId
      local a = ec2:call("CreateSubnet", { VpcId = vpc, CidrBlock = "10.2.1.0/24", AvailabilityZone = "us-east-1a" })
      local b = ec2:call("CreateSubnet", { VpcId = vpc, CidrBlock = "10.2.2.0/24", AvailabilityZone = "us-east-1b" })
      local rds = client("rds")
      local group = rds:call("CreateDBSubnetGroup", { DBSubnetGroupName = "wp-db",
        DBSubnetGroupDescription = "wordpress database", SubnetIds = { a.Subnet.SubnetId, b.Subnet.SubnetId },
        Tags = { { Key = "wpo:stack", Value = "test" } } }).DBSubnetGroup
      assert.are.equal("wp-db", group.DBSubnetGroupName)
      assert.are.equal(2, #group.Subnets)
      local ids = { group.Subnets[1].SubnetIdentifier, group.Subnets[2].SubnetIdentifier }
      table.sort(ids)
      local want = { a.Subnet.SubnetId, b.Subnet.SubnetId }
      table.sort(want)
      assert.are.same(want, ids)
    end)

    it("json 1.1: ECS RegisterTaskDefinition with nested containers", function()
      local ecs = client("ecs")
      local td = ecs:call("RegisterTaskDefinition", {
        family = "wordpress", networkMode = "bridge", requiresCompatibilities = { "EC2" }, cpu = "512", memory = "1024",
        containerDefinitions = { {
          name = "wordpress", image = "wordpress:6", essential = true, memoryReservation = 512,
          portMappings = { { containerPort = 80, hostPort = 0, protocol = "tcp" } },
          environment = { { name = "WORDPRESS_DB_HOST", value = "db.internal" } },
          logConfiguration = { logDriver = "awslogs", options = { ["awslogs-group"] = "/wpo/wp", ["awslogs-region"] = "us-east-1" } },
          mountPoints = { { sourceVolume = "content", containerPath = "/var/www/html/wp-content" } },
        } },
        volumes = { { name = "content", efsVolumeConfiguration = { fileSystemId = "fs-12345678", transitEncryption = "ENABLED" } } },
      }).taskDefinition
      assert.are.equal("wordpress", td.family)
      assert.are.equal(1, td.revision)
      assert.are.equal("integer", math.type(td.revision))
      assert.are.equal(80, td.containerDefinitions[1].portMappings[1].containerPort)
      assert.are.equal("/wpo/wp", td.containerDefinitions[1].logConfiguration.options["awslogs-group"])
    end)

    it("rest-json: EFS CreateFileSystem", function()
      local efs = client("efs")
      local fs = efs:call("CreateFileSystem", { CreationToken = "wp-content", Encrypted = true,
        PerformanceMode = "generalPurpose", Tags = { { Key = "Name", Value = "wp-content" } } })
      assert.matches("^fs%-%x+$", fs.FileSystemId)
      assert.is_true(fs.Encrypted)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d", fs.CreationTime)
      local described = efs:call("DescribeFileSystems", { FileSystemId = fs.FileSystemId }).FileSystems
      assert.are.equal(fs.FileSystemId, described[1].FileSystemId)
    end)

    it("rest-xml: Route 53 ChangeResourceRecordSets", function()
      local r53 = client("route53")
      local zone = r53:call("CreateHostedZone", { Name = "example.com.", CallerReference = "wpo-test-1" }).HostedZone
      local change = r53:call("ChangeResourceRecordSets", { HostedZoneId = zone.Id, ChangeBatch = {
        Comment = "wpo test", Changes = { { Action = "UPSERT", ResourceRecordSet = { Name = "www.example.com.",
          Type = "CNAME", TTL = 300, ResourceRecords = { { Value = "lb.example.net" } } } } } } }).ChangeInfo
      assert.is_string(change.Id)
      assert.is_string(change.Status)
      local sets = r53:collect("ListResourceRecordSets", { HostedZoneId = zone.Id }).ResourceRecordSets
      local found
      for _, s in ipairs(sets) do if s.Name == "www.example.com." then found = s end end
      assert.is_table(found)
      assert.are.equal(300, found.TTL)
      assert.are.equal("lb.example.net", found.ResourceRecords[1].Value)
    end)

    it("json 1.0: DynamoDB PutItem with a ConditionExpression, and its ConditionalCheckFailedException", function()
      local ddb = client("dynamodb")
      ddb:call("CreateTable", { TableName = "wpo-locks", BillingMode = "PAY_PER_REQUEST",
        AttributeDefinitions = { { AttributeName = "LockID", AttributeType = "S" } },
        KeySchema = { { AttributeName = "LockID", KeyType = "HASH" } } })
      local progress = 0
      local status = aws.wait(function()
        local t = ddb:call("DescribeTable", { TableName = "wpo-locks" }).Table
        return t.TableStatus == "ACTIVE" and t.TableStatus, t.TableStatus
      end, { what = "table wpo-locks to become ACTIVE", interval = 0.02, timeout = 10,
        progress = function(info) progress = progress + 1; assert.are.equal("CREATING", info.state) end })
      assert.are.equal("ACTIVE", status)
      assert.is_true(progress >= 1)
      local item = { TableName = "wpo-locks", ConditionExpression = "attribute_not_exists(LockID)",
        Item = { LockID = { S = "bucket/prod" }, Info = { S = '{"Who":"ci"}' } } }
      ddb:call("PutItem", item)
      local err = raised(function() ddb:call("PutItem", item) end)
      assert.are.equal("ConditionalCheckFailedException", err.code)
      assert.are.equal(400, err.status)
      assert.is_false(err.retryable)
      assert.are.equal(1, err.attempts)
      assert.matches("dynamodb PutItem: ConditionalCheckFailedException: ", tostring(err), 1, true)
    end)
  end)

  describe("as a resource type uses it", function()
    it("creates a VPC, tags it, waits until available, pages through DescribeVpcs", function()
      local ec2 = client("ec2")
      local vpc = ec2:call("CreateVpc", { CidrBlock = "10.10.0.0/16" }).Vpc
      ec2:call("CreateTags", { Resources = { vpc.VpcId }, Tags = {
        { Key = "Name", Value = "prod" }, { Key = "wpo:address", Value = "aws.ec2.vpc.main" } } })
      local states = {}
      local ready = aws.wait(function()
        local v = ec2:call("DescribeVpcs", { VpcIds = { vpc.VpcId } }).Vpcs[1]
        return v.State == "available" and v, v.State
      end, { what = "VPC " .. vpc.VpcId .. " to become available", interval = 0.02, timeout = 10,
        progress = function(info) states[#states + 1] = info.state end })
      assert.are.equal(vpc.VpcId, ready.VpcId)
      local tags = {}
      for _, t in ipairs(ready.Tags) do tags[t.Key] = t.Value end
      assert.are.same({ Name = "prod", ["wpo:address"] = "aws.ec2.vpc.main" }, tags)
      for i = 1, 7 do ec2:call("CreateVpc", { CidrBlock = "10." .. (20 + i) .. ".0.0/16" }) end
      local pages, ids = 0, {}
      for page in ec2:paginate("DescribeVpcs", { MaxResults = 5 }) do
        pages = pages + 1
        for _, v in ipairs(page.Vpcs) do ids[v.VpcId] = true end
      end
      assert.is_true(pages >= 2, "expected several pages")
      assert.is_true(ids[vpc.VpcId])
      assert.is_true(#require("wpo.text").sorted_keys(ids) >= 8)
    end)
  end)

  describe("retries under faults", function()
    local function fast(extra)
      local opts = { random = function() return 0.01 end }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return opts
    end

    it("30% throttling: 50 calls all succeed, with retries", function()
      f:faults { throttle_rate = 0.3, seed = 7, operations = { "DescribeVpcs" } }
      local ec2 = client("ec2", fast { max_attempts = 8 })
      local attempts = 0
      for _ = 1, 50 do
        local out, meta = ec2:call("DescribeVpcs", {})
        assert.is_table(out.Vpcs)
        attempts = attempts + meta.attempts
      end
      assert.is_true(attempts > 50, "no call was throttled")
      assert.are.equal(attempts, count("DescribeVpcs"))
    end)

    it("100% throttling: fails after exactly THROTTLE_ATTEMPTS attempts (AWS did nothing) with the throttling error", function()
      f:faults { throttle_rate = 1.0, seed = 1, operations = { "DescribeVpcs" } }
      local ec2 = client("ec2", fast { max_attempts = 4 })
      local err = raised(function() ec2:call("DescribeVpcs", {}) end)
      assert.is_true(retry.THROTTLING_CODES[err.code], "not a throttling code: " .. tostring(err.code))
      assert.are.equal(retry.THROTTLE_ATTEMPTS, err.attempts)
      assert.is_true(err.retryable)
      assert.are.equal(retry.THROTTLE_ATTEMPTS, count("DescribeVpcs"))
    end)

    it("a dropped connection is retried", function()
      f:faults { drop_rate = 0.5, seed = 3, operations = { "DescribeVpcs" } }
      local ec2 = client("ec2", fast { max_attempts = 10 })
      local attempts = 0
      for _ = 1, 10 do
        local _, meta = ec2:call("DescribeVpcs", {})
        attempts = attempts + meta.attempts
      end
      assert.is_true(attempts > 10, "no connection was dropped")
    end)

    it("stops retrying when the retry quota is exhausted", function()
      f:faults { throttle_rate = 1.0, seed = 1, operations = { "DescribeVpcs" } }
      local ec2 = client("ec2", fast { max_attempts = 10 })
      ec2.quota = retry.quota(10)
      local err = raised(function() ec2:call("DescribeVpcs", {}) end)
      assert.are.equal(3, err.attempts)
      assert.are.equal(0, ec2.quota.available)
    end)

    it("runs calls concurrently inside tasks", function()
      local ec2 = client("ec2")
      local results = {}
      for i = 1, 8 do
        task.spawn(function()
          results[i] = ec2:call("CreateVpc", { CidrBlock = "10." .. i .. ".0.0/16" }).Vpc.VpcId
        end)
      end
      task.run()
      local seen = {}
      for i = 1, 8 do
        assert.matches("^vpc%-", results[i])
        seen[results[i]] = true
      end
      assert.are.equal(8, #require("wpo.text").sorted_keys(seen))
    end)
  end)

  describe("read-only clients", function()
    it("refuses a write and nothing reaches the server", function()
      local ec2 = client("ec2", { read_only = true })
      ec2:call("DescribeVpcs", {})
      local before = count()
      local err = raised(function() ec2:call("CreateVpc", { CidrBlock = "10.9.0.0/16" }) end)
      assert.are.equal("ReadOnlyViolation", err.code)
      assert.are.equal(before, count())
      assert.are.equal(0, count("CreateVpc"))
    end)
  end)

  describe("credentials", function()
    it("assumes a role through STS (fakeaws) for a profile with role_arn + source_profile", function()
      local dir = h.tmpdir()
      h.write(dir .. "/config", "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\n"
        .. "source_profile = base\nrole_session_name = wpo-test\n")
      h.write(dir .. "/credentials", "[base]\naws_access_key_id = test\naws_secret_access_key = test\n")
      credentials.clear_cache()
      local env = { HOME = dir, AWS_CONFIG_FILE = dir .. "/config", AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials",
        AWS_PROFILE = "deploy", AWS_EC2_METADATA_DISABLED = "true" }
      local ec2 = aws.client("ec2", { region = "us-east-1", endpoint = f.url, getenv = awstest.env(env) })
      ec2:call("DescribeVpcs", {})
      h.rmrf(dir)
      assert.are.equal(1, count("sts.AssumeRole"))
      local creds = ec2.credentials:get()
      assert.are_not.equal("test", creds.access_key)
      assert.is_string(creds.session_token)
      assert.is_true(creds.expiration > os.time())
      ec2:call("DescribeVpcs", {})
      assert.are.equal(1, count("sts.AssumeRole"))
    end)
  end)

  describe("wpo aws", function()
    local function run(args, env)
      local e = {}
      for k, v in pairs(f.env) do e[k] = v end
      e.AWS_REGION = "us-east-1"
      e.AWS_EC2_METADATA_DISABLED = "true"
      for k, v in pairs(env or {}) do e[k] = v end
      return h.wpo(args, { env = e })
    end

    it("prints the decoded response as JSON", function()
      local r = run { "aws", "ec2", "CreateVpc", '{"CidrBlock":"10.0.0.0/16"}' }
      assert.are.equal(0, r.status, r.stderr)
      local out = require("cjson").decode(r.stdout)
      assert.matches("^vpc%-", out.Vpc.VpcId)
      r = run { "aws", "ec2", "DescribeVpcs" }
      assert.are.equal(0, r.status, r.stderr)
      assert.matches('"VpcId": "vpc%-', r.stdout)
    end)

    it("prints the structured error and exits 1", function()
      local r = run { "aws", "ec2", "DescribeVpcs", '{"VpcIds":["vpc-00000000"]}' }
      assert.are.equal(1, r.status)
      local out = require("cjson").decode(r.stdout)
      assert.are.equal("ec2", out.Error.service)
      assert.are.equal("DescribeVpcs", out.Error.operation)
      assert.is_string(out.Error.code)
      assert.are.equal(1, select(2, r.stderr:gsub("\n", "")))
      assert.matches("^wpo: ec2 DescribeVpcs: ", r.stderr)
    end)

    it("logs requests under WPO_LOG=debug with the session token and sensitive members redacted", function()
      local key = client("kms"):call("CreateKey", { Description = "wpo state" }).KeyMetadata.KeyId
      local creds = client("sts"):call("AssumeRole", { RoleArn = "arn:aws:iam::123456789012:role/deploy",
        RoleSessionName = "wpo-test" }).Credentials
      local token = creds.SessionToken
      assert.is_true(#token > 8)
      local env = { WPO_LOG = "debug", AWS_ACCESS_KEY_ID = creds.AccessKeyId,
        AWS_SECRET_ACCESS_KEY = creds.SecretAccessKey, AWS_SESSION_TOKEN = token }
      -- a sensitive output member: the data key's plaintext
      local r = run({ "aws", "kms", "GenerateDataKey", '{"KeyId":"' .. key .. '","KeySpec":"AES_256"}' }, env)
      assert.are.equal(0, r.status, r.stderr)
      local plaintext = require("cjson").decode(r.stdout).Plaintext
      assert.are.equal(44, #plaintext)                   -- 32 bytes, base64
      assert.matches("attempt 1/3: POST " .. f.url:gsub("%p", "%%%0"), r.stderr)
      assert.matches("%-> 200 in %d+ms %(request [%w%-]+, attempt 1, 0 retries%)", r.stderr)
      assert.matches("X%-Amz%-Security%-Token: <redacted>", r.stderr)
      assert.matches("Authorization: <redacted>", r.stderr)
      assert.matches('"Plaintext":"<redacted>"', r.stderr, 1, true)
      local logged = r.stderr
      -- a sensitive input member bound to a header
      r = run({ "aws", "s3", "CreateBucket", '{"Bucket":"wpo-state"}' }, env)
      assert.are.equal(0, r.status, r.stderr)
      local kms_arn = "arn:aws:kms:us-east-1:123456789012:key/" .. key
      r = run({ "aws", "s3", "PutObject", '{"Bucket":"wpo-state","Key":"prod.json","Body":"{}",'
        .. '"ServerSideEncryption":"aws:kms","SSEKMSKeyId":"' .. kms_arn .. '"}' }, env)
      assert.are.equal(0, r.status, r.stderr)
      assert.matches("x%-amz%-server%-side%-encryption%-aws%-kms%-key%-id: <redacted>", r.stderr)
      assert.is_nil(r.stderr:find(kms_arn, 1, true), "the sensitive SSEKMSKeyId reached the log")
      logged = logged .. r.stderr
      for _, secret in ipairs({ token, creds.SecretAccessKey, plaintext }) do
        assert.is_nil(logged:find(secret, 1, true), "a secret reached the log")
      end
      assert.is_nil(r.stdout:find(token, 1, true))
    end)

    it("rejects bad JSON parameters as a usage error", function()
      local r = run { "aws", "ec2", "DescribeVpcs", "{not json" }
      assert.are.equal(2, r.status)
      assert.matches("JSON parameters", r.stderr)
    end)
  end)
end)
