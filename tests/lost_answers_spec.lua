-- The lost-answer matrix (issue 12), its fast part: for a sample of the write
-- operations the staging WordPress stack's apply sends — the creates issue 12
-- found duplicated, one per way of finding an object again (wpo:address tag,
-- name, client token, content, subnet) — fakeaws does the work and loses the
-- answer on every attempt; the apply exits 0 with exactly one of each object,
-- a re-plan shows no changes, destroy leaves nothing. Every operation and every
-- way of losing an answer: make chaos (tests/chaos/lost_answers.lua).
local lostanswers = require "lostanswers"

local SAMPLE = {
  { "ec2.CreateVpc", "close" },                      -- found by its wpo:address tag
  { "ec2.CreateInternetGateway", "error" },
  { "ec2.AllocateAddress", "garbled" },
  { "ec2.CreateRouteTable", "close" },
  { "ecs.RegisterTaskDefinition", "close" },         -- by its content
  { "ec2.CreateNatGateway", "close" },               -- a client token, sent again
  { "ec2.AssociateRouteTable", "close" },            -- by its subnet
  { "rds.CreateDBClusterParameterGroup", "error" },  -- by its name
  { "route53.CreateHostedZone", "close" },           -- by its caller reference
  { "iam.AddRoleToInstanceProfile", "close" },       -- a later step of a create
  { "ecs.CreateService", "garbled" },                -- its clientToken, then its name
  { "ec2.AuthorizeSecurityGroupIngress", "close" },  -- a rule, by its wpo:address tag
  { "efs.CreateFileSystem", "close" },               -- its creation token
}

describe("the lost-answer matrix (staging stack, a sample)", function()
  local fakeaws = require "fakeaws"
  local f, m, base
  setup(function()
    f = fakeaws.start { region = "eu-west-1" }
    m = lostanswers.new(f)
    base = m:baseline()
  end)
  teardown(function()
    if m then m:close() end
    if f then f:stop() end
  end)

  local results = {}
  for _, case in ipairs(SAMPLE) do
    local op, mode = case[1], case[2]
    it(op .. " answered " .. mode .. " on every attempt: one object, exit 0, no changes, nothing left", function()
      local found = false
      for _, name in ipairs(base.ops) do found = found or name == op end
      assert.is_true(found, op .. " is not among the staging apply's writes: " .. table.concat(base.ops, " "))
      local r = m:case(op, mode)
      results[#results + 1] = r
      print(lostanswers.line(r))
      assert.is_true(r.ok, lostanswers.line(r) .. "\n" .. tostring(r.detail))
    end)
  end

  it("prints its figures: 0 duplicates, 0 orphans", function()
    local t = lostanswers.totals(results)
    print(t.line)
    assert.are.equal(#SAMPLE, t.cases)
    assert.are.equal(0, t.duplicates)
    assert.are.equal(0, t.orphans)
  end)
end)
