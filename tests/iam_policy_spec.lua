-- wpo iam-policy and wpo.iam: every type declares its IAM actions; the
-- policy for each phase is deterministic JSON with no wildcard action, scoped
-- to the stack's roles, log groups, secrets and state backend where IAM can be.
local cjson = require "cjson"
local h = require "helpers"
local iam = require "wpo.iam"
local resource = require "wpo.resource"

local function policy(args)
  local r = h.wpo(args)
  assert.are.equal(0, r.status, r.stdout .. r.stderr)
  return cjson.decode(r.stdout), r.stdout
end

local function actions_of(doc)
  local out = {}
  for _, st in ipairs(doc.Statement) do
    assert.are.equal("Allow", st.Effect)
    for _, a in ipairs(st.Action) do out[a] = st.Resource end
  end
  return out
end

describe("wpo.iam", function()
  it("maps operations to IAM actions where the prefix or the name differs", function()
    assert.are.equal("elasticloadbalancing:CreateListener", iam.action("elbv2", "CreateListener"))
    assert.are.equal("elasticfilesystem:CreateMountTarget", iam.action("efs", "CreateMountTarget"))
    assert.are.equal("cloudwatch:PutMetricAlarm", iam.action("cloudwatch", "PutMetricAlarm"))
    assert.are.equal("s3:ListBucket", iam.action("s3", "HeadBucket"))
    assert.are.equal("s3:GetObject", iam.action("s3", "HeadObject"))
    assert.are.equal("s3:ListBucketVersions", iam.action("s3", "ListObjectVersions"))
  end)

  it("every resource type under stdlib declares its actions, without wildcards", function()
    local n = 0
    for _, name in ipairs(resource.known_types()) do
      if name:match("^aws%.") then
        local t = assert(resource.get(name))
        assert.is_table(t.iam, name .. " declares no iam")
        assert.is_true(#(t.iam.read or {}) > 0, name .. " declares no read action")
        -- a lookup type deletes nothing; a cluster's capacity providers go with it
        assert.is_true(#(t.iam.delete or {}) > 0 or t.lookup or name == "aws.ecs.cluster_capacity_providers", name)
        n = n + 1
      end
    end
    assert.is_true(n >= 45, "types checked: " .. n)
  end)

  it("refuses a wildcard action in a declaration", function()
    assert.has_error(function()
      resource.define "test.wild" { create = function() end, read = function() end, delete = function() end,
        iam = { read = { "ec2:Describe*" } } }
    end, "resource.define test.wild: iam.read: 'ec2:Describe*' is not an IAM action like \"ec2:CreateVpc\" (no wildcards)")
  end)
end)

describe("wpo iam-policy", function()
  it("prints the same document every time, Version 2012-10-17, no wildcard action", function()
    local doc, text = policy { "iam-policy", "stacks/staging.lua" }
    local _, again = policy { "iam-policy", "stacks/staging.lua", "--for", "apply" }
    assert.are.equal(text, again)
    assert.are.equal("2012-10-17", doc.Version)
    for a in pairs(actions_of(doc)) do
      assert.matches("^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$", a)
    end
  end)

  it("limits iam:PassRole and the role actions to the stack's own roles", function()
    local acts = actions_of((policy { "iam-policy", "stacks/staging.lua" }))
    local roles = acts["iam:PassRole"]
    -- each with its path, and without it (a request naming a role that does not exist yet)
    assert.are.same({ "arn:aws:iam::*:role/staging-eu-west-1-ecs-instance",
      "arn:aws:iam::*:role/staging-eu-west-1-task", "arn:aws:iam::*:role/staging-eu-west-1-task-exec",
      "arn:aws:iam::*:role/wpo/staging-eu-west-1-ecs-instance", "arn:aws:iam::*:role/wpo/staging-eu-west-1-task",
      "arn:aws:iam::*:role/wpo/staging-eu-west-1-task-exec" }, roles)
    assert.are.same(roles, acts["iam:CreateRole"])
    assert.are.same(roles, acts["iam:PutRolePolicy"])
    assert.are.same({ "arn:aws:logs:eu-west-1:*:log-group:/wpo/staging/wordpress",
      "arn:aws:logs:eu-west-1:*:log-group:/wpo/staging/wordpress:*" }, acts["logs:CreateLogGroup"])
    assert.are.equal("*", acts["ec2:CreateVpc"])
  end)

  it("--for plan holds reads only; destroy no create", function()
    local plan = actions_of((policy { "iam-policy", "stacks/staging.lua", "--for", "plan" }))
    for a in pairs(plan) do
      assert.matches(":[DLGH][a-z]", a)   -- Describe, List, Get, Head
    end
    assert.is_not_nil(plan["ec2:DescribeVpcs"])
    local destroy = actions_of((policy { "iam-policy", "stacks/staging.lua", "--for", "destroy" }))
    assert.is_not_nil(destroy["ec2:DeleteVpc"])
    assert.is_nil(destroy["ec2:CreateVpc"])
    assert.is_nil(destroy["iam:PassRole"])
  end)

  it("gives the S3 backend's bucket, key, lock table and KMS key", function()
    local dir = h.tmpdir()
    h.write(dir .. "/s.lua", [[
local s = wpo.stack { name = "b", region = "eu-west-1", backend = { type = "s3", bucket = "acme-state",
  key = "b/state", lock_table = "wpo-locks", kms_key_id = "1234abcd-12ab-34cd-56ef-1234567890ab" } }
s:add("aws.ssm.parameter", "p", { name = "/b/marker", type = "String", value = "x" })
return s
]])
    local acts = actions_of((policy { "iam-policy", dir .. "/s.lua", "--for", "plan" }))
    assert.is_nil(acts["s3:PutObject"])      -- the lock is in DynamoDB, a plan writes no state
    assert.are.same({ "arn:aws:s3:::acme-state/b/state", "arn:aws:s3:::acme-state/b/state.lock" }, acts["s3:GetObject"])
    assert.are.equal("arn:aws:s3:::acme-state", acts["s3:ListBucket"])
    assert.are.equal("arn:aws:dynamodb:eu-west-1:*:table/wpo-locks", acts["dynamodb:PutItem"])
    assert.are.equal("arn:aws:kms:eu-west-1:*:key/1234abcd-12ab-34cd-56ef-1234567890ab", acts["kms:Decrypt"])
    assert.are.equal("arn:aws:ssm:eu-west-1:*:parameter/b/marker", acts["ssm:GetParameter"])
    assert.is_nil(acts["ssm:PutParameter"])
    acts = actions_of((policy { "iam-policy", dir .. "/s.lua", "--for", "apply" }))
    assert.are.equal("arn:aws:s3:::acme-state/b/state", acts["s3:PutObject"])
    h.rmrf(dir)
  end)
end)
