-- wpo rollout through the binary against fakeaws: six customer stacks, each
-- with a VPC (aws.ec2.vpc), rolled to a tag; a fakeaws fault on the
-- CreateVpc calls of one stack (its CIDR in the request body) fails it: the
-- canary and the first wave succeed, the failing stack stops the rollout,
-- later waves never start; --resume after the fault is removed finishes the
-- rest; each stack's state records the ref, and fakeaws holds one VPC per
-- stack.
local cjson = require "cjson"
local core = require "wpo.core.git"
local fakeaws = require "fakeaws"
local gr = require "gitrepo"
local h = require "helpers"

local WPO = core.realpath(h.WPO)
local NAMES = { "acme", "beta", "delta", "echo", "foxtrot", "gamma" }

describe("wpo rollout of a fleet with AWS resources (local executor, against fakeaws)", function()
  local f, dir, env

  local function wpo(args)
    local parts = { "cd " .. h.quote(dir) .. " && env" }
    for k, v in pairs(env) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
    parts[#parts + 1] = h.quote(WPO)
    for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
    return h.sh("sh -c " .. h.quote(table.concat(parts, " ")))
  end

  local function state(name)
    local text = h.slurp(dir .. "/stacks/customers/.wpo/" .. name .. ".state.json")
    return text ~= "" and cjson.decode(text) or nil
  end

  -- CIDR -> how many VPCs fakeaws holds with it
  local function vpcs()
    local out = {}
    for _, v in pairs((f:state().ec2 or {}).vpc or {}) do out[v.CidrBlock] = (out[v.CidrBlock] or 0) + 1 end
    return out
  end

  local function cidr(i) return string.format("10.%d.0.0/16", i) end

  setup(function()
    f = fakeaws.start { region = "eu-west-1" }
    env = { WPO_WAIT_SCALE = "0.001", NO_COLOR = "1" }
    for k, v in pairs(f.env) do env[k] = v end
    dir = h.tmpdir()
    gr.git(dir, "init -q -b main .")
    gr.write(dir, "lib/customer.lua", [[
return function(p)
  local s = wpo.stack { name = p.name, region = "eu-west-1" }
  s:add("aws.ec2.vpc", "main", { cidr_block = p.cidr, tags = { customer = p.name } })
  return s
end
]])
    for i, name in ipairs(NAMES) do
      gr.write(dir, "stacks/customers/" .. name .. ".lua",
        string.format('return require("lib.customer") { name = %q, cidr = %q }\n', name, cidr(i)))
    end
    gr.write(dir, ".gitignore", ".wpo/\n")
    gr.git(dir, "add -A && git commit -q -m fleet && git tag v1.0.0")
  end)
  teardown(function()
    if f then f:stop() end
    if dir then h.rmrf(dir) end
  end)

  it("stops at the stack a fault fails, never starts later waves, and --resume finishes", function()
    -- delta is the third stack: only its CreateVpc calls fail (every attempt)
    f:faults { error_rate = 1, operations = { "ec2.CreateVpc" }, body_contains = cidr(3) }
    local r = wpo({ "rollout", "v1.0.0", "stacks/customers", "--yes", "--max-parallel", "1" })
    assert.are.equal(1, r.status, r.stderr)
    -- waves: canary acme; 50% beta, delta; 100% echo, foxtrot, gamma
    assert.matches("wave 1/3 %(canary%): 1 stack", r.stderr)
    assert.matches("wave 2/3 %(50%%%): 2 stack", r.stderr)
    assert.is_nil(r.stderr:find("wave 3/3", 1, true))
    local why = r.stderr:match("stacks/customers/delta%.lua: FAILED: lib/customer%.lua:3: aws%.ec2%.vpc%.main: (%w+):")
    assert.is_true(why == "InternalError" or why == "Unavailable", r.stderr)   -- EC2's 500 or 503
    assert.matches("stopped: stacks/customers/delta%.lua failed; later stacks not started", r.stdout)
    for _, name in ipairs({ "acme", "beta" }) do
      assert.matches("stacks/customers/" .. name .. "%.lua +%(new%) +v1%.0%.0 %(%x+%) +done +1 ", r.stdout)
      assert.are.equal("v1.0.0", state(name).source.ref, name)
    end
    for _, name in ipairs({ "echo", "foxtrot", "gamma" }) do
      assert.matches("stacks/customers/" .. name .. "%.lua .* not started", r.stdout)
      assert.is_nil(state(name), name .. " never started")
    end
    assert.are.same({ [cidr(1)] = 1, [cidr(2)] = 1 }, vpcs())
    local calls = f:calls(true)["ec2.CreateVpc"]
    assert.are.equal(2, calls.ok)
    assert.is_true(calls.count >= 3)   -- delta's attempts all failed

    f:faults {}
    local resumed = wpo({ "rollout", "--resume", "--yes" })
    assert.are.equal(0, resumed.status, resumed.stdout .. resumed.stderr)
    local want = {}
    for i, name in ipairs(NAMES) do
      want[cidr(i)] = 1
      local doc = state(name)
      assert.are.equal("v1.0.0", doc.source.ref, name)
      assert.are.equal(gr.rev(dir, "v1.0.0"), doc.source.commit, name)
      assert.matches("stacks/customers/" .. name .. "%.lua +%(new%) +v1%.0%.0 %(%x+%) +done", resumed.stdout)
    end
    assert.are.same(want, vpcs())   -- one VPC each: nothing made twice
    assert.are.equal(1, #state("acme").history)   -- the canary was not applied again
  end)
end)
