-- wpo.wordpress parameter validation, as a user meets it: `wpo plan` of a
-- stack script with a wrong parameter prints one line naming the script's
-- file:line, exits 1 and writes nothing.
local h = require "helpers"

-- The script: one parameter a line (line 3 onwards), `params` replacing or
-- adding keys; the error must name the line of the offending key.
local BASE = { name = '"shop"', region = '"eu-west-1"', cidr = '"10.20.0.0/16"',
               site = '{ domain = "shop.example.com" }' }
local ORDER = { "name", "region", "cidr", "site" }

local function plan_with(params, opts)
  local dir = h.tmpdir()
  local lines, keys = {}, {}
  for _, k in ipairs(ORDER) do keys[#keys + 1] = k end
  for k in pairs(params) do if not BASE[k] then keys[#keys + 1] = k end end
  table.sort(keys, function(a, b) return (BASE[a] and 0 or 1) < (BASE[b] and 0 or 1) or
    ((BASE[a] and 0 or 1) == (BASE[b] and 0 or 1) and a < b) end)
  local at = {}
  for i, k in ipairs(keys) do
    lines[#lines + 1] = "  " .. k .. " = " .. (params[k] or BASE[k]) .. ","
    at[k] = i + 2
  end
  local head = opts and opts.customer and "local unused = nil\nreturn require('customer') {\n"
    or "local wordpress = require 'wpo.wordpress'\nreturn wordpress.stack {\n"
  if opts and opts.customer then
    h.write(dir .. "/customer.lua", "local wordpress = require 'wpo.wordpress'\n" ..
      "return function(spec) return wordpress.stack(spec) end\n")
  end
  h.write(dir .. "/s.lua", head .. table.concat(lines, "\n") .. "\n}\n")
  local r = h.wpo({ "plan", dir .. "/s.lua" })
  local wrote = h.sh("ls -A " .. h.quote(dir)).stdout
  h.rmrf(dir)
  return r, wrote, at
end

-- expect_error(params, key whose line is named, message pattern)
local function expect_error(params, key, pattern, opts)
  local r, wrote, at = plan_with(params, opts)
  assert.are.equal(1, r.status, r.stdout .. r.stderr)
  local line = r.stderr:match("^[^\n]*")
  assert.matches("^wpo: .*/s%.lua:" .. at[key] .. ": InvalidParameter: wordpress%.stack: " .. pattern, line)
  assert.are.equal(1, select(2, r.stderr:gsub("\n", "")), "one line: " .. r.stderr)
  assert.is_nil(wrote:match("%.wpo"), "nothing written")
  return line
end

describe("wpo.wordpress parameters", function()
  it("rejects a malformed CIDR", function()
    expect_error({ cidr = '"10.20.0.0/33"' }, "cidr", "cidr: '10%.20%.0%.0/33' is not an IPv4 CIDR block")
  end)
  it("rejects a VPC CIDR outside /16../20 and one with host bits set", function()
    expect_error({ cidr = '"10.20.0.0/24"' }, "cidr", "cidr: '10%.20%.0%.0/24' has a /24 prefix; use /16 to /20")
    expect_error({ cidr = '"10.20.1.0/16"' }, "cidr", "cidr: '10%.20%.1%.0/16' has host bits set %(did you mean '10%.20%.0%.0/16'%?%)")
  end)
  it("rejects an AZ count of 1 and an AZ of another region", function()
    expect_error({ azs = '{ "eu-west-1a" }' }, "azs", "azs: 1 availability zone given; use 2 or 3")
    expect_error({ azs = '{ "eu-west-1a", "us-east-1b" }' }, "azs", "azs%[2%]: 'us%-east%-1b' is not an availability zone of eu%-west%-1")
  end)
  it("rejects a replica range with min > max", function()
    expect_error({ database = '{ readers = { min = 3, max = 1 } }' }, "database", "database%.readers: min %(3%) is greater than max %(1%)")
  end)
  it("rejects a desired count outside min..max", function()
    expect_error({ service = '{ desired = 30, max = 20 }' }, "service", "service%.desired: 30 is outside min%.%.max")
  end)
  it("names an unknown parameter with the closest valid one", function()
    expect_error({ databse = '{}' }, "databse", "databse: unknown parameter %(did you mean 'database'%?%)")
    expect_error({ cache = '{ node = 2 }' }, "cache", "cache%.node: unknown parameter %(did you mean 'nodes'%?%)")
  end)
  it("rejects a wrong type", function()
    expect_error({ compute = '{ min = "two" }' }, "compute", "compute%.min: expected integer, got string")
  end)
  it("rejects a missing required parameter", function()
    local r = plan_with({ site = "false" })
    assert.are.equal(1, r.status)
    assert.matches("site: expected a table, got boolean", r.stderr)
  end)
  it("rejects a site whose names are not in its zone, and options that cannot work", function()
    expect_error({ site = '{ domain = "shop.example.com", zone = "example.org" }' }, "site",
      "site%.domain: 'shop%.example%.com' is not in the zone example%.org")
    expect_error({ site = '{ domain = "shop.example.com", aliases = { "shop.example.net" }, zone = "example.com" }' },
      "site", "site%.aliases%[1%]: 'shop%.example%.net' is not in the zone example%.com")
    expect_error({ site = '{ domain = "shop.example.com", cdn = true }' }, "site", "site%.cdn: needs site%.zone")
    expect_error({ site = '{ domain = "shop.example.com", create_zone = true }' }, "site",
      "site%.create_zone: needs site%.zone")
    expect_error({ site = '{ domain = "shop.example.com", zone = "Z123ABC", create_zone = true }' }, "site",
      "site%.create_zone: site%.zone 'Z123ABC' is an id")
    expect_error({ site = '{ domain = "shop.example.com", cdn_certificate_arn = '
      .. '"arn:aws:acm:eu-west-1:123456789012:certificate/x" }' }, "site",
      "site%.cdn_certificate_arn: .* is not an ACM certificate ARN in us%-east%-1")
  end)
  it("rejects a backup time that is not a time of day, and a copy to the stack's own region", function()
    expect_error({ backup = '{ daily = "25:00" }' }, "backup", "backup%.daily: '25:00' is not a time of day")
    expect_error({ backup = '{ daily = "3am" }' }, "backup", "backup%.daily: '3am' is not a time of day")
    expect_error({ backup = '{ copy_to_region = "eu-west-1" }' }, "backup",
      "backup%.copy_to_region: 'eu%-west%-1' is the stack's own region")
    expect_error({ media = '{ bucket = "yes" }' }, "media", "media%.bucket: expected boolean, got string")
  end)
  it("checks service.image as a reference or { base, content }", function()
    expect_error({ service = '{ image = { content = "../site" } }' }, "service",
      "service%.image%.content: '%.%./site' goes outside the stack repository")
    expect_error({ service = '{ image = { content = "/srv/site" } }' }, "service",
      "service%.image%.content: '/srv/site' is not a directory relative to the stack repository")
    expect_error({ service = '{ image = { base = "wordpress:6-apache" } }' }, "service",
      "service%.image%.content: is required")
    expect_error({ service = '{ image = { content = "site/", bsae = "x" } }' }, "service",
      "service%.image%.bsae: unknown parameter %(did you mean 'base'%?%)")
    expect_error({ service = '{ image = { content = "site/", base = "Bad Image!" } }' }, "service",
      "service%.image%.base: 'Bad Image!' is not a container image reference")
    expect_error({ service = '{ image = 3 }' }, "service", "service%.image: expected an image reference or")
    expect_error({ service = '{ image = { content = "site" }, ecr_tag = "v1" }' }, "service",
      "service%.ecr_tag: 'v1' cannot go with image%.content")
  end)
  it("points a customer's error at the customer's file, not the shared module", function()
    local line = expect_error({ cidr = '"10.300.0.0/16"' }, "cidr", "cidr: ", { customer = true })
    assert.matches("/s%.lua:%d+:", line)
    assert.is_nil(line:match("customer%.lua"))
  end)
end)

describe("wpo.wordpress.params", function()
  local wordpress = require "wpo.wordpress"
  it("fills production-safe defaults", function()
    local p = wordpress.params { name = "shop", region = "eu-west-1", cidr = "10.20.0.0/16",
      site = { domain = "shop.example.com" } }
    assert.are.same({ "eu-west-1a", "eu-west-1b", "eu-west-1c" }, p.azs)
    assert.are.equal("per_az", p.nat)
    assert.is_true(p.protect)
    assert.is_true(p.database.deletion_protection)
    assert.are.equal(2, p.cache.nodes)
    assert.are.equal(20, p.registry.keep_images)
    assert.are.equal(wordpress.DEFAULT_IMAGE, p.service.image)
    assert.are.equal(2, p.service.min)
  end)
  it("normalises service.image = { content } with the default base", function()
    local p = wordpress.params { name = "shop", region = "eu-west-1", cidr = "10.20.0.0/16",
      site = { domain = "shop.example.com" }, service = { image = { content = "./site/" } } }
    assert.are.same({ base = wordpress.DEFAULT_IMAGE, content = "site" }, p.service.image)
  end)
  it("lets protect=false turn deletion protection off unless asked", function()
    local p = wordpress.params { name = "shop", region = "eu-west-1", cidr = "10.20.0.0/16", protect = false,
      site = { domain = "shop.example.com" } }
    assert.is_false(p.database.deletion_protection)
  end)
end)
