-- wpo.aws.readcache: what a run's refresh read is handed once to the same
-- read of its apply, while fresh and not written since; through
-- wpo.aws.client (a read-only client fills, another takes) with a scripted
-- transport and a fake clock.
local awstest = require "awstest"

local OK_VPCS = '<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid-%d</requestId>'
  .. '<vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock><isDefault>false</isDefault>'
  .. '<tagSet><item><key>Name</key><value>main</value></item></tagSet></item></vpcSet></DescribeVpcsResponse>'
local OK_TAGS = '<CreateTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid-t</requestId>'
  .. '<return>true</return></CreateTagsResponse>'

describe("wpo.aws.readcache", function()
  local aws = require "wpo.aws"
  local readcache = require "wpo.aws.readcache"
  local retry = require "wpo.aws.retry"

  local CREDS = { access_key = "AKIDEXAMPLE", secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }
  local t

  before_each(function()
    retry.reset()
    t = 0
  end)

  local function cache() return readcache.new { now = function() return t end, fresh = 60 } end

  -- a refresh client (read-only, fills) and an apply client (takes) sharing one transport
  local function clients(rc)
    local send, calls = awstest.transport(function(req, n)
      if req.body:find("Action=CreateTags", 1, true) then return awstest.response(200, OK_TAGS) end
      return awstest.response(200, OK_VPCS:format(n))
    end)
    local function make(read_only)
      local clock = awstest.clock()
      return aws.client("ec2", { region = "eu-west-1", credentials = CREDS, transport = send, rate_limit = false,
        sleep = clock.sleep, now = clock.now, clock = clock.clock, getenv = awstest.env {}, read_only = read_only,
        read_cache = rc })
    end
    return make(true), make(false), calls
  end

  it("hands the refresh's answer to the apply's same read once; the next one asks AWS", function()
    local rc = cache()
    local refresh, apply, calls = clients(rc)
    local seen = refresh:call("DescribeVpcs", { VpcIds = { "vpc-1" } })
    assert.are.equal(1, #calls)
    local out, meta = apply:call("DescribeVpcs", { VpcIds = { "vpc-1" } })
    assert.are.equal(1, #calls)
    assert.are.equal(seen, out)
    assert.is_true(meta.cached)
    local _, meta2 = apply:call("DescribeVpcs", { VpcIds = { "vpc-1" } })
    assert.are.equal(2, #calls)
    assert.is_nil(meta2.cached)
    assert.are.same({ stored = 1, taken = 1, dropped = 0, stale = 0 }, rc.stats)
  end)

  it("asks AWS for another read, after a write naming the object, and once the answer is no longer fresh", function()
    local rc = cache()
    local refresh, apply, calls = clients(rc)
    refresh:call("DescribeVpcs", { VpcIds = { "vpc-1" } })
    refresh:call("DescribeVpcs", { VpcIds = { "vpc-2" } })
    apply:call("DescribeVpcs", { VpcIds = { "vpc-9" } })      -- never read by the refresh
    assert.are.equal(3, #calls)
    apply:call("CreateTags", { Resources = { "vpc-1" }, Tags = { { Key = "a", Value = "b" } } })
    assert.are.equal(4, #calls)
    apply:call("DescribeVpcs", { VpcIds = { "vpc-1" } })      -- written since: asked again
    assert.are.equal(5, #calls)
    t = 61
    apply:call("DescribeVpcs", { VpcIds = { "vpc-2" } })      -- 61 s old: asked again
    assert.are.equal(6, #calls)
    assert.are.same({ stored = 2, taken = 0, dropped = 1, stale = 1 }, rc.stats)
  end)

  it("keeps the answers of one scope (profile, role) from another, and one state's run from another's", function()
    local rc = cache()
    local a, b = rc:scope("prod"), rc:scope("other")
    a:put("ec2", "eu-west-1", "DescribeVpcs", { VpcIds = { "vpc-1" } }, { Vpcs = {} }, {})
    assert.is_nil(b:take("ec2", "eu-west-1", "DescribeVpcs", { VpcIds = { "vpc-1" } }))
    assert.is_nil(a:take("ec2", "eu-west-2", "DescribeVpcs", { VpcIds = { "vpc-1" } }))
    assert.is_table(a:take("ec2", "eu-west-1", "DescribeVpcs", { VpcIds = { "vpc-1" } }))
    local st1, st2 = {}, {}
    local c1 = readcache.start(st1)
    assert.are.equal(c1, readcache.of(st1))
    assert.is_nil(readcache.of(st2))
    assert.are_not.equal(c1, readcache.start(st1))
  end)

  it("is not used by a client given none", function()
    local _, apply, calls = clients(nil)
    apply:call("DescribeVpcs", { VpcIds = { "vpc-1" } })
    apply:call("DescribeVpcs", { VpcIds = { "vpc-1" } })
    assert.are.equal(2, #calls)
  end)
end)
