-- WordPress with its own image: a staging-like stack whose service.image =
-- { base, content = "site/" } has wpo build the customer's image from site/
-- of the stack repository (a git repository made here) and push it to the
-- stack's ECR repository — fakeaws's ECR, whose GetAuthorizationToken hands
-- out the address and password of a Debian docker-registry with basic auth
-- (tests/lua/ociregistry.lua); the base comes from another, anonymous one,
-- standing in for Docker Hub. run -> the task definition runs the image by
-- digest, with a layer for each content directory present -> no changes ->
-- --ref ignores an uncommitted theme edit -> run: exactly one new task
-- definition revision and one new image digest, the other layers unchanged
-- -> no changes; a copy of the repository elsewhere plans the same digest.
local cjson = require "cjson"
local gr = require "gitrepo"
local h = require "helpers"
local ocitest = require "ocitest"

local PASSWORD = "ecr-standin-pw-51c2"

local STACK = [[
local wordpress = require "wpo.wordpress"

return wordpress.stack {
  name     = "shop",
  region   = "eu-west-1",
  azs      = { "eu-west-1a", "eu-west-1b" },
  cidr     = "10.11.0.0/16",
  nat      = "single",
  site     = { domain = "shop.example.com" },
  compute  = { instance_type = "t3.medium", min = 1, max = 3 },
  service  = { cpu = 256, memory = 512, desired = 1, min = 1, max = 4,
               image = { base = "%s", content = "site/" } },
  database = { engine = "mysql", instance_class = "db.t4g.medium", backup_retention_days = 1 },
  cache    = { node_type = "cache.t4g.small", nodes = 2 },
  protect  = false,
}
]]

local function fixture(base)
  local dir = h.tmpdir()
  gr.git(dir, "init -q -b main .")
  gr.write(dir, "stacks/shop.lua", STACK:format(base))
  gr.write(dir, "site/themes/shop/style.css", "/* Theme Name: shop */\nbody { color: black }\n")
  gr.write(dir, "site/themes/shop/index.php", "<?php get_header();\n")
  gr.write(dir, "site/plugins/hello/hello.php", "<?php /* Plugin Name: hello */\n")
  gr.write(dir, "site/conf.d/uploads.ini", "upload_max_filesize = 64M\npost_max_size = 64M\n")
  gr.write(dir, "site/conf.d/README.md", "only *.ini files go into the image\n")
  gr.write(dir, ".gitignore", ".wpo/\n")
  gr.git(dir, "add -A && git commit -q -m site && git tag v1")
  return dir
end

local function record(dir, address)
  local doc = cjson.decode(h.slurp(dir .. "/stacks/.wpo/shop.state.json"))
  for _, r in ipairs(doc.resources) do
    if r.address == address then return r end
  end
  error("no " .. address .. " in the state")
end

-- the task definition revisions of the family, live (ACTIVE) or not
local function revisions(f)
  local out = {}
  for _, td in pairs(((f:state().ecs or {})["task-definition"]) or {}) do
    if td.family == "shop-wordpress" then out[#out + 1] = td end
  end
  table.sort(out, function(a, b) return a.revision < b.revision end)
  return out
end

local function layer_listing(blob)
  local dir = h.tmpdir()
  h.write(dir .. "/l.tgz", blob)
  local r = h.sh("tar --numeric-owner -tvzf " .. h.quote(dir .. "/l.tgz"))
  h.rmrf(dir)
  assert(r.status == 0, r.stderr)
  return r.stdout
end

describe("wordpress with service.image.content", function()
  local world, f, client, base, env
  local dirs = {}

  lazy_setup(function()
    world = ocitest.ecr_world(PASSWORD, { repo = "library/wordpress", tag = "6-apache", platforms = { "linux/amd64" },
      layers_of = { ["linux/amd64"] = { ocitest.layer { { "usr/src/wordpress/index.php", "<?php // WordPress\n" } } } } })
    f, client, base, env = world.f, world.client, world.base, world.env
    env.WPO_WAIT_SCALE = "0.01"
  end)
  lazy_teardown(function()
    if world then world:stop() end
    for _, d in ipairs(dirs) do h.rmrf(d) end
  end)

  local function wpo(dir, args)
    return h.wpo_in(dir, args, env)
  end

  local function ok(r)
    assert(r.status == 0, r.stdout .. r.stderr)
    return r
  end

  local function no_changes(dir, extra)
    local args = { "plan", "stacks/shop.lua", "--detailed-exitcode" }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    local r = wpo(dir, args)
    assert(r.status == 0, "expected no changes: " .. r.stdout .. r.stderr)
  end

  local dir, first
  it("runs the built image by digest: a layer per content directory present, then no changes", function()
    dir = fixture(base)
    dirs[#dirs + 1] = dir
    ok(wpo(dir, { "run", "stacks/shop.lua", "--yes" }))
    first = record(dir, "oci.image.wordpress")
    local uri = first.inputs.uri
    assert.is_truthy(uri:match("^%d+%.dkr%.ecr%.eu%-west%-1%.amazonaws%.com/shop/wordpress@sha256:%x+$"), uri)
    -- the task definition is pinned to it
    local td = record(dir, "aws.ecs.task_definition.wordpress")
    assert.are.equal(uri, td.inputs.container_definitions[1].image)
    local revs = revisions(f)
    assert.are.equal(1, #revs)
    assert.are.equal(uri, revs[1].containerDefinitions[1].image)
    -- themes, plugins, conf.d (no mu-plugins directory: no layer)
    assert.are.equal(3, #first.inputs.layer_digests)
    -- the base is an index of one platform: so is the image
    local index = assert(client:get_manifest("shop/wordpress", first.inputs.digest))
    assert.are.equal(1, #index.doc.manifests)
    local m = assert(client:get_manifest("shop/wordpress", index.doc.manifests[1].digest))
    assert.are.equal(4, #m.doc.layers)
    local themes = layer_listing((assert(client:get_blob("shop/wordpress", m.doc.layers[2].digest))))
    assert.is_truthy(themes:find("33/33 .* usr/src/wordpress/wp%-content/themes/shop/style%.css"), themes)
    local conf = layer_listing((assert(client:get_blob("shop/wordpress", m.doc.layers[4].digest))))
    assert.is_truthy(conf:find("usr/local/etc/php/conf.d/uploads.ini", 1, true), conf)
    assert.is_nil(conf:find("README", 1, true), conf)
    no_changes(dir)
  end)

  it("--ref ignores an uncommitted theme edit; a run makes one new revision and one new digest", function()
    assert(first, "the first test ran")
    gr.write(dir, "site/themes/shop/style.css", "/* Theme Name: shop */\nbody { color: navy }\n")
    no_changes(dir, { "--ref", "v1" })
    local r = ok(wpo(dir, { "run", "stacks/shop.lua", "--yes" }))
    local now = record(dir, "oci.image.wordpress")
    assert.are_not.equal(first.inputs.digest, now.inputs.digest)
    assert.are_not.equal(first.inputs.layer_digests[1], now.inputs.layer_digests[1])
    assert.are.same({ first.inputs.layer_digests[2], first.inputs.layer_digests[3] },
      { now.inputs.layer_digests[2], now.inputs.layer_digests[3] })
    local revs = revisions(f)
    assert.are.equal(2, #revs, r.stdout)
    assert.are.equal(now.inputs.uri, revs[2].containerDefinitions[1].image)
    assert.are.equal("INACTIVE", revs[1].status)
    assert.are.equal(revs[2].taskDefinitionArn, record(dir, "aws.ecs.service.wordpress").inputs.task_definition)
    no_changes(dir)
  end)

  it("the same repository elsewhere plans the same digest", function()
    assert(first, "the first test ran")
    local other = fixture(base)
    dirs[#dirs + 1] = other
    local r = ok(wpo(other, { "plan", "stacks/shop.lua" }))
    local block = r.stdout:match("%+ oci%.image%.wordpress.-\n\n")
    assert(block, r.stdout)
    assert.is_truthy(block:find('digest%s+= "' .. first.inputs.digest .. '"'), block)
    assert.is_truthy(block:find(first.inputs.layer_digests[1], 1, true), block)
  end)
end)
