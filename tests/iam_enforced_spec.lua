-- The staging stack under IAM enforcement (tests/fakeaws --enforce-iam),
-- signed by a fakeaws IAM user whose only policy is what `wpo iam-policy`
-- prints: apply and destroy succeed; a plan under the --for plan policy
-- succeeds and cannot write; without any one sampled action, the call that
-- needs it fails with AccessDenied naming it. WPO_IAM_ALL=1 removes every
-- action in turn (make iam-check).
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
local REPO = require("wpo.stack").absolute(h.REPO)
local STACK = "stacks/staging.lua"

-- a sample for make check: one per kind of denial (EC2, a query service, a
-- JSON service, iam:PassRole, a scoped resource, a delete)
local SAMPLE = {
  apply = { "ec2:CreateVpc", "iam:PassRole", "logs:CreateLogGroup", "elasticloadbalancing:CreateListener" },
  destroy = { "rds:DeleteDBCluster" },
}

describe("wpo iam-policy under fakeaws IAM enforcement", function()
  local fakeaws = require "fakeaws"
  local f, root, key

  local function wpo(args, as_user)
    local e = { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1", AWS_MAX_ATTEMPTS = "1" }
    for k, v in pairs(f.env) do e[k] = v end
    if as_user then e.AWS_ACCESS_KEY_ID, e.AWS_SECRET_ACCESS_KEY = key.AccessKeyId, key.SecretAccessKey end
    local parts = { "cd " .. h.quote(root) .. " && env" }
    for k, v in pairs(e) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
    parts[#parts + 1] = h.quote(WPO)
    for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
    return h.sh(table.concat(parts, " "))
  end

  local function ok(r)
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    return r
  end

  local function policy(phase)
    return cjson.decode(ok(wpo { "iam-policy", STACK, "--for", phase }).stdout)
  end

  local function without(doc, action)
    local copy = cjson.decode(cjson.encode(doc))
    local out = {}
    for _, st in ipairs(copy.Statement) do
      local keep = {}
      for _, a in ipairs(st.Action) do if a ~= action then keep[#keep + 1] = a end end
      if #keep > 0 then st.Action = keep; out[#out + 1] = st end
    end
    copy.Statement = out
    return copy
  end

  local function grant(doc)
    ok(wpo { "aws", "iam", "PutUserPolicy", cjson.encode({ UserName = "deployer", PolicyName = "wpo",
      PolicyDocument = cjson.encode(doc) }) })
  end

  local function fresh_root()
    if root then h.rmrf(root) end
    root = h.tmpdir()
    assert(os.execute("cp -r " .. h.quote(REPO .. "/stacks") .. " " .. h.quote(root .. "/stacks")))
    assert(fs.mkdir_p(root .. "/.git"))
  end

  local function start()
    f:reset()
    fresh_root()
    ok(wpo { "aws", "iam", "CreateUser", '{"UserName":"deployer"}' })
    key = cjson.decode(ok(wpo { "aws", "iam", "CreateAccessKey", '{"UserName":"deployer"}' }).stdout).AccessKey
  end

  local function assert_denied(r, action)
    assert.are_not.equal(0, r.status, r.stdout)
    local text = r.stdout .. r.stderr
    assert.matches("not authorized to perform: " .. action:gsub("%p", "%%%0") .. " on resource", text)
    assert.matches("user/deployer", text, 1, true)
  end

  setup(function() f = fakeaws.start { region = "eu-west-1", enforce_iam = true } end)
  teardown(function()
    if f then f:stop() end
    if root then h.rmrf(root) end
  end)

  it("applies, plans read-only and destroys staging with exactly the printed policies", function()
    start()
    local apply, plan, destroy = policy("apply"), policy("plan"), policy("destroy")
    -- nothing works without a policy
    assert_denied(wpo({ "run", STACK, "--yes" }, true), "ec2:DescribeVpcs")
    grant(apply)
    ok(wpo({ "run", STACK, "--yes" }, true))
    grant(plan)
    local r = ok(wpo({ "plan", STACK, "--detailed-exitcode" }, true))
    assert.matches("No changes", r.stdout, 1, true)
    -- the plan policy cannot write: an apply of a change is refused by IAM
    local text = h.slurp(root .. "/" .. STACK)
    h.write(root .. "/" .. STACK, (text:gsub("retention_days = 14", "retention_days = 30")))
    assert_denied(wpo({ "run", STACK, "--yes" }, true), "logs:PutRetentionPolicy")
    h.write(root .. "/" .. STACK, text)
    grant(destroy)
    r = ok(wpo({ "destroy", STACK, "--yes" }, true))
    assert.matches("Destroy complete! Resources: %d+ destroyed", r.stdout)
  end)

  local function actions_of(doc)
    local out = {}
    for _, st in ipairs(doc.Statement) do for _, a in ipairs(st.Action) do out[#out + 1] = a end end
    table.sort(out)
    return out
  end

  local all = os.getenv("WPO_IAM_ALL") == "1"
  for _, phase in ipairs({ "apply", "destroy" }) do
    it(phase .. ": without any one " .. (all and "" or "sampled ") .. "action, a call fails naming it", function()
      start()
      local doc = policy(phase)
      local list = all and actions_of(doc) or SAMPLE[phase]
      local unused = {}
      for _, action in ipairs(list) do
        f:reset()
        fresh_root()
        ok(wpo { "aws", "iam", "CreateUser", '{"UserName":"deployer"}' })
        key = cjson.decode(ok(wpo { "aws", "iam", "CreateAccessKey", '{"UserName":"deployer"}' }).stdout).AccessKey
        if phase == "destroy" then
          ok(wpo { "run", STACK, "--yes" })        -- built with the unrestricted key
        end
        grant(without(doc, action))
        local r = wpo({ phase == "apply" and "run" or "destroy", STACK, "--yes" }, true)
        if r.status == 0 then
          unused[#unused + 1] = action
        else
          assert_denied(r, action)
        end
      end
      -- every sampled action is needed; of all, only the ones no staging call
      -- reaches (update paths, errors handled) may go unused
      if not all then assert.are.same({}, unused) end
      if all and #unused > 0 then
        io.stderr:write(string.format("\n%s: %d of %d actions not reached by staging: %s\n", phase, #unused, #list,
          table.concat(unused, ", ")))
      end
    end)
  end
end)
