-- aws.iam.role, role_policy, role_policy_attachment and instance_profile
-- against fakeaws (IAM is global: the clients sign for us-east-1 whatever the
-- stack's region): create, read, update, import, drift, delete, adoption.

describe("aws.iam types against fakeaws", function()
  local policy = require "wpo.aws.iam.policy"
  local typeflow = require "typeflow"

  local EC2_ROLE = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }
  local f, flow, iam
  setup(function() iam = suite:client("iam") end)
  before_each(function() f, flow = suite.f, suite.flow end)
  local raised = typeflow.raised

  local function role(name, extra)
    local attrs = { name = name, assume_role_policy = policy.assume_role("ecs-tasks.amazonaws.com") }
    for k, v in pairs(extra or {}) do attrs[k] = v end
    return attrs
  end

  describe("wpo.aws.iam.policy", function()
    it("builds trust documents and compares documents by content", function()
      local doc = policy.assume_role("ec2.amazonaws.com")
      assert.are.equal("2012-10-17", doc.Version)
      assert.are.same({ Service = "ec2.amazonaws.com" }, doc.Statement[1].Principal)
      local text = policy.encode(doc)
      assert.is_true(policy.same(doc, text))
      assert.is_true(policy.same(text, text:gsub("%%", "%%25"):gsub("{", "%%7B"):gsub("}", "%%7D"):gsub('"', "%%22")))
      assert.is_false(policy.same(doc, policy.assume_role("ecs-tasks.amazonaws.com")))
      assert.is_nil(policy.check(doc))
      assert.matches("needs an Action", policy.check { Version = "2012-10-17", Statement = { { Effect = "Allow" } } })
      assert.matches("Version", policy.check { Statement = {} })
    end)
  end)

  describe("aws.iam.role", function()
    it("creates a role with its trust policy and tags, signing for us-east-1", function()
      local rec = flow:create("aws.iam.role", "exec", role("prod-exec", { description = "task execution" }))
      local got = iam:call("GetRole", { RoleName = "prod-exec" }).Role
      assert.are.equal("arn:aws:iam::123456789012:role/prod-exec", rec.outputs.arn)
      assert.are.equal(got.RoleId, rec.outputs.unique_id)
      assert.is_true(policy.same(policy.assume_role("ecs-tasks.amazonaws.com"), got.AssumeRolePolicyDocument))
      assert.are.equal("task execution", got.Description)
      local tags = {}
      for _, t in ipairs(got.Tags) do tags[t.Key] = t.Value end
      assert.are.equal("aws.iam.role.exec", tags["wpo:address"])
      assert.are.same({}, flow:drift(rec))
      assert.are.same({ ["iam.CreateRole"] = 1 }, (function()
        local c = f:calls()
        return { ["iam.CreateRole"] = c["iam.CreateRole"] }
      end)())
    end)

    it("updates the trust policy, description, session duration and tags in place", function()
      local rec = flow:create("aws.iam.role", "r", role("r1"))
      rec = flow:update(rec, { name = "r1", assume_role_policy = policy.assume_role("ec2.amazonaws.com"),
        description = "hosts", max_session_duration = 7200, tags = { team = "web" } })
      local got = iam:call("GetRole", { RoleName = "r1" }).Role
      assert.is_true(policy.same(policy.assume_role("ec2.amazonaws.com"), got.AssumeRolePolicyDocument))
      assert.are.equal(7200, got.MaxSessionDuration)
      assert.are.equal("hosts", got.Description)
      assert.are.same({}, flow:drift(rec))
      assert.are.equal(1, f:calls()["iam.UpdateAssumeRolePolicy"])
    end)

    it("sees a trust policy changed outside wpo, and a deleted role as gone", function()
      local rec = flow:create("aws.iam.role", "r", role("r1"))
      iam:call("UpdateAssumeRolePolicy", { RoleName = "r1",
        PolicyDocument = policy.encode(policy.assume_role("lambda.amazonaws.com")) })
      assert.are.same({ "assume_role_policy" }, flow:drift(rec))
      iam:call("DeleteRole", { RoleName = "r1" })
      assert.is_nil(flow:read(rec))
    end)

    it("imports a role by name", function()
      iam:call("CreateRole", { RoleName = "legacy", Path = "/ops/",
        AssumeRolePolicyDocument = policy.encode(policy.assume_role("ec2.amazonaws.com")) })
      local rec = flow:import("aws.iam.role", "legacy", "legacy")
      assert.are.equal("/ops/", rec.inputs.path)
      assert.are.equal("arn:aws:iam::123456789012:role/ops/legacy", rec.outputs.arn)
      assert.are.equal("ec2.amazonaws.com", rec.inputs.assume_role_policy.Statement[1].Principal.Service)
    end)

    it("adopts its own role after a lost state and refuses another's", function()
      local first = flow:create("aws.iam.role", "r", role("r1"))
      local again = flow:create("aws.iam.role", "r", role("r1", { description = "again" }))
      assert.are.equal(first.outputs.unique_id, again.outputs.unique_id)
      assert.are.equal("again", iam:call("GetRole", { RoleName = "r1" }).Role.Description)
      local err = raised(function() flow:create("aws.iam.role", "other", role("r1")) end)
      assert.are.equal("AlreadyExists", err.code)
    end)

    it("refuses a malformed trust policy before calling IAM", function()
      local err = raised(function()
        flow:create("aws.iam.role", "r", { name = "r", assume_role_policy = { Statement = {} } })
      end)
      assert.are.equal("InvalidPolicy", err.code)
      assert.is_nil(f:calls()["iam.CreateRole"])
    end)

    it("deletes a role still attached to profiles and policies, noting each step", function()
      local rec = flow:create("aws.iam.role", "r", role("r1"))
      iam:call("PutRolePolicy", { RoleName = "r1", PolicyName = "left", PolicyDocument = policy.encode(policy.document {
        { Effect = "Allow", Action = "s3:GetObject", Resource = "*" } }) })
      iam:call("AttachRolePolicy", { RoleName = "r1", PolicyArn = EC2_ROLE })
      iam:call("CreateInstanceProfile", { InstanceProfileName = "ip" })
      iam:call("AddRoleToInstanceProfile", { InstanceProfileName = "ip", RoleName = "r1" })
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      local notes = table.concat(flow.logs, "\n")
      assert.matches("removing role r1 from instance profile ip", notes, 1, true)
      assert.matches("detaching " .. EC2_ROLE, notes, 1, true)
      assert.matches("deleting inline policy left", notes, 1, true)
      flow:delete(rec)
    end)
  end)

  describe("aws.iam.role_policy", function()
    local doc = policy.document { { Effect = "Allow", Action = { "logs:CreateLogStream", "logs:PutLogEvents" },
      Resource = "arn:aws:logs:eu-west-1:123456789012:log-group:/wpo/prod:*" } }

    it("puts, reads, updates, imports and deletes an inline policy", function()
      flow:create("aws.iam.role", "r", role("r1"))
      local rec = flow:create("aws.iam.role_policy", "logs", { role = "r1", name = "logs", policy = doc })
      assert.are.equal("r1:logs", rec.id)
      assert.are.same({}, flow:drift(rec))
      local doc2 = policy.document { { Effect = "Allow", Action = "logs:PutLogEvents", Resource = "*" } }
      rec = flow:update(rec, { role = "r1", name = "logs", policy = doc2 })
      assert.is_true(policy.same(doc2, iam:call("GetRolePolicy", { RoleName = "r1", PolicyName = "logs" }).PolicyDocument))
      iam:call("PutRolePolicy", { RoleName = "r1", PolicyName = "logs", PolicyDocument = policy.encode(doc) })
      assert.are.same({ "policy" }, flow:drift(rec))
      local imported = flow:import("aws.iam.role_policy", "logs", "r1:logs")
      assert.is_true(policy.same(doc, imported.inputs.policy))
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("accepts a JSON text and refuses a document IAM would refuse", function()
      flow:create("aws.iam.role", "r", role("r1"))
      local rec = flow:create("aws.iam.role_policy", "p", { role = "r1", name = "p", policy = policy.encode(doc) })
      assert.are.same({}, flow:drift(rec))
      local err = raised(function()
        flow:create("aws.iam.role_policy", "bad", { role = "r1", name = "bad", policy = { Version = "2012-10-17",
          Statement = { { Effect = "Maybe", Action = "x" } } } })
      end)
      assert.are.equal("InvalidPolicy", err.code)
    end)
  end)

  describe("aws.iam.role_policy_attachment", function()
    it("attaches, reads, detaches; a role deleted outside wpo means the attachment is gone", function()
      flow:create("aws.iam.role", "r", role("r1"))
      local rec = flow:create("aws.iam.role_policy_attachment", "ecs", { role = "r1", policy_arn = EC2_ROLE })
      assert.are.equal("r1/" .. EC2_ROLE, rec.id)
      local attached = iam:call("ListAttachedRolePolicies", { RoleName = "r1" }).AttachedPolicies
      assert.are.equal(EC2_ROLE, attached[1].PolicyArn)
      assert.are.same({}, flow:drift(rec))
      assert.are.equal(EC2_ROLE, flow:import("aws.iam.role_policy_attachment", "ecs", rec.id).inputs.policy_arn)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      rec = flow:create("aws.iam.role_policy_attachment", "ecs", { role = "r1", policy_arn = EC2_ROLE })
      iam:call("DetachRolePolicy", { RoleName = "r1", PolicyArn = EC2_ROLE })
      iam:call("DeleteRole", { RoleName = "r1" })
      assert.is_nil(flow:read(rec))
    end)
  end)

  describe("aws.iam.instance_profile", function()
    it("creates a profile with its role, swaps the role in place, and deletes it", function()
      flow:create("aws.iam.role", "a", role("a", { assume_role_policy = policy.assume_role("ec2.amazonaws.com") }))
      flow:create("aws.iam.role", "b", role("b", { assume_role_policy = policy.assume_role("ec2.amazonaws.com") }))
      local rec = flow:create("aws.iam.instance_profile", "hosts", { name = "prod-hosts", role = "a" })
      assert.are.equal("arn:aws:iam::123456789012:instance-profile/prod-hosts", rec.outputs.arn)
      local got = iam:call("GetInstanceProfile", { InstanceProfileName = "prod-hosts" }).InstanceProfile
      assert.are.equal("a", got.Roles[1].RoleName)
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, { name = "prod-hosts", role = "b" })
      got = iam:call("GetInstanceProfile", { InstanceProfileName = "prod-hosts" }).InstanceProfile
      assert.are.same({ "b" }, { got.Roles[1].RoleName, got.Roles[2] })
      iam:call("RemoveRoleFromInstanceProfile", { InstanceProfileName = "prod-hosts", RoleName = "b" })
      assert.are.same({ "role" }, flow:drift(rec))
      assert.are.equal("prod-hosts", flow:import("aws.iam.instance_profile", "hosts", "prod-hosts").id)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("adopts its own profile after a lost state", function()
      flow:create("aws.iam.role", "a", role("a"))
      local first = flow:create("aws.iam.instance_profile", "hosts", { name = "hosts", role = "a" })
      local again = flow:create("aws.iam.instance_profile", "hosts", { name = "hosts", role = "a" })
      assert.are.equal(first.outputs.unique_id, again.outputs.unique_id)
      assert.are.equal(1, f:calls()["iam.CreateInstanceProfile"])
      assert.are.equal(1, f:calls()["iam.AddRoleToInstanceProfile"])
      iam:call("RemoveRoleFromInstanceProfile", { InstanceProfileName = "hosts", RoleName = "a" })
      iam:call("DeleteInstanceProfile", { InstanceProfileName = "hosts" })
      assert.is_nil(flow:read(again))
    end)
  end)
end)
