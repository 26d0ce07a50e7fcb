-- Keeps the IAM declarations honest per resource type and phase: the
-- staging stack's, the state stack's and a site-at-its-own-name stack's run,
-- plan and destroy against fakeaws, each in one wpo
-- process that records (tests/lua/iam_recorder.lua) every AWS operation each
-- type's find/create, read/check, update and delete calls; each must be
-- declared in that phase of the type's iam (or in its reads, which every
-- phase holds).
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"
local resource = require "wpo.resource"

local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
local REPO = require("wpo.stack").absolute(h.REPO)

describe("the IAM declarations of the resource types", function()
  local fakeaws = require "fakeaws"
  local f, root

  setup(function()
    f = fakeaws.start { region = "eu-west-1" }
    root = h.tmpdir()
    assert(os.execute("cp -r " .. h.quote(REPO .. "/stacks") .. " " .. h.quote(root .. "/stacks")))
    assert(fs.mkdir_p(root .. "/.git"))
  end)
  teardown(function()
    if f then f:stop() end
    if root then h.rmrf(root) end
  end)

  local function recorded(name, args)
    local e = { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1" }
    for k, v in pairs(f.env) do e[k] = v end
    local parts = { "cd " .. h.quote(root) .. " && env" }
    for k, v in pairs(e) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
    parts[#parts + 1] = h.quote(WPO) .. " lua " .. h.quote(REPO .. "/tests/lua/iam_recorder.lua")
      .. " " .. h.quote(root .. "/" .. name .. ".json")
    for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
    local r = h.sh(table.concat(parts, " "))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    return cjson.decode((assert(fs.read(root .. "/" .. name .. ".json"))))
  end

  -- The operations each type called that its iam does not declare for that
  -- phase (nor among its reads) -> problems; types seen -> types; returns how
  -- many operations were checked.
  local function undeclared(seen, problems, types)
    local checked = 0
    for tname, phases in pairs(seen) do
      if tname ~= "(engine)" then
        if types then types[tname] = true end
        local t = assert(resource.get(tname))
        for phase, actions in pairs(phases) do
          local declared = {}
          for _, a in ipairs(t.iam[phase] or {}) do declared[a] = true end
          for _, a in ipairs(t.iam.read or {}) do declared[a] = true end
          for _, a in ipairs(actions) do
            checked = checked + 1
            if not declared[a] then problems[#problems + 1] = tname .. " " .. phase .. ": " .. a end
          end
        end
      end
    end
    return checked
  end

  it("declare every operation staging's run, plan and destroy call, in its phase", function()
    local problems, checked = {}, 0
    for _, step in ipairs({ { "run", "run", "stacks/staging.lua", "--yes" }, { "plan", "plan", "stacks/staging.lua" },
        { "destroy", "destroy", "stacks/staging.lua", "--yes" } }) do
      local seen = recorded(step[1], { table.unpack(step, 2) })
      checked = checked + undeclared(seen, problems)
      if step[1] == "plan" then
        for tname, phases in pairs(seen) do
          if tname ~= "(engine)" then
            for phase in pairs(phases) do assert.are.equal("read", phase, tname) end
          end
        end
      end
    end
    table.sort(problems)
    assert.are.same({}, problems)
    assert.is_true(checked > 150, "operations checked: " .. checked)
  end)

  it("declare every operation the state stack's run, plan and destroy call (S3 bucket, policy, DynamoDB)", function()
    local vars = { "--var", "bucket=acme-wpo-state", "--var", "region=eu-west-1" }
    local problems, checked, types = {}, 0, {}
    for _, step in ipairs({ { "state-run", "run", "stacks/state.lua", "--yes" },
        { "state-plan", "plan", "stacks/state.lua" }, { "state-destroy", "destroy", "stacks/state.lua", "--yes" } }) do
      local args = { table.unpack(step, 2) }
      for _, v in ipairs(vars) do args[#args + 1] = v end
      checked = checked + undeclared(recorded(step[1], args), problems, types)
    end
    table.sort(problems)
    assert.are.same({}, problems)
    assert.are.same({ ["aws.dynamodb.table"] = true, ["aws.s3.bucket"] = true, ["aws.s3.bucket_policy"] = true }, types)
    assert.is_true(checked > 20, "operations checked: " .. checked)
  end)

  it("declare every operation of a site at its own name (certificates, CloudFront, WAF, S3, backups)", function()
    f:hosted_zone("shop.test")
    h.write(root .. "/shop.lua", [[
local wordpress = require "wpo.wordpress"
return wordpress.stack { name = "shop", region = "eu-west-1", azs = { "eu-west-1a", "eu-west-1b" },
  cidr = "10.30.0.0/16", nat = "single", protect = false, database = { engine = "mysql" },
  site = { domain = "www.shop.test", zone = "shop.test", cdn = true, waf = true },
  media = { bucket = true }, backup = { copy_to_region = "eu-central-1" } }
]])
    local problems, checked, types = {}, 0, {}
    for _, step in ipairs({ { "shop-run", "run", "shop.lua", "--yes" }, { "shop-plan", "plan", "shop.lua" },
        { "shop-destroy", "destroy", "shop.lua", "--yes" } }) do
      checked = checked + undeclared(recorded(step[1], { table.unpack(step, 2) }), problems, types)
    end
    table.sort(problems)
    assert.are.same({}, problems)
    for _, tname in ipairs({ "aws.route53.zone_lookup", "aws.acm.certificate", "aws.acm.certificate_validation",
        "aws.cloudfront.distribution", "aws.cloudfront.cache_policy", "aws.cloudfront.origin_access_control",
        "aws.wafv2.web_acl", "aws.elbv2.listener_rule", "aws.s3.bucket", "aws.s3.bucket_policy",
        "aws.backup.vault", "aws.backup.plan", "aws.backup.selection" }) do
      assert.is_true(types[tname], tname .. " was exercised")
    end
    assert.is_true(checked > 150, "operations checked: " .. checked)
  end)
end)
