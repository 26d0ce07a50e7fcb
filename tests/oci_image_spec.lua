-- oci.image through the wpo binary: a stack in a git repository makes an
-- ECR repository (fakeaws) and an image of its own files on a base image
-- the spec pushes to an anonymous Debian docker-registry (standing in for
-- Docker Hub); the image goes to another, with basic auth, standing in for
-- ECR (fakeaws's GetAuthorizationToken hands out its password and address).
-- run -> the image is in the registry under its digest -> no changes ->
-- one theme file edited: exactly that layer and the digest change -> --ref
-- ignores an uncommitted edit -> the same files elsewhere give the same
-- digest -> bad input fails with one line naming the declaration.
local cjson = require "cjson"
local gr = require "gitrepo"
local h = require "helpers"
local ocitest = require "ocitest"
local registry = require "wpo.oci.registry"

local PASSWORD = "registry-pw-7f3a"
local PLATFORMS = { "linux/amd64", "linux/arm64" }

local function base_layers()
  return {
    ["linux/amd64"] = { ocitest.layer { { "etc/os", "base amd64\n" } } },
    ["linux/arm64"] = { ocitest.layer { { "etc/os", "base arm64\n" } } },
  }
end

local function stack_text(base, extra)
  return ([[
local s = wpo.stack { name = "img", region = "eu-west-1" }
local repo = s:add("aws.ecr.repository", "site", { name = "img/site", force_delete = true })
local img = s:add("oci.image", "site", {
  base = %q,
  layers = {
    { from = "site/themes", to = "/usr/src/wordpress/wp-content/themes", owner = "33:33" },
    { from = "site/plugins", to = "/usr/src/wordpress/wp-content/plugins", owner = "33:33" },
  },
  env = { WP_ENV = "test" }, labels = { ["org.example.site"] = "img" },
  platforms = { "linux/amd64", "linux/arm64" },
  repository = repo.repository_url,%s
})
s:output("uri", img.uri)
s:output("digest", img.digest)
return s
]]):format(base, extra or "")
end

local function fixture(base, extra)
  local dir = h.tmpdir()
  gr.git(dir, "init -q -b main .")
  gr.write(dir, "stacks/img.lua", stack_text(base, extra))
  gr.write(dir, "site/themes/t1/style.css", "body { color: black }\n")
  gr.write(dir, "site/themes/t1/index.php", "<?php // theme\n")
  gr.write(dir, "site/plugins/p1/p1.php", "<?php // plugin\n")
  gr.write(dir, ".gitignore", ".wpo/\n")
  gr.git(dir, "add -A && git commit -q -m site && git tag v1")
  return dir
end

local function state(dir)
  local doc = cjson.decode(h.slurp(dir .. "/stacks/.wpo/img.state.json"))
  for _, r in ipairs(doc.resources) do
    if r.address == "oci.image.site" then return r end
  end
end

local function one_line(s)
  s = s:gsub("\n+$", "")
  assert.is_nil(s:find("\n"), "not one line: " .. s)
  return s
end

describe("oci.image", function()
  local world, f, reg, hub, client, base_ref, env
  local dirs = {}

  lazy_setup(function()
    world = ocitest.ecr_world(PASSWORD, { repo = "base", tag = "v1", platforms = PLATFORMS, layers_of = base_layers() })
    f, reg, hub, client, base_ref, env = world.f, world.reg, world.hub, world.client, world.base, world.env
  end)
  lazy_teardown(function()
    if world then world:stop() end
    for _, d in ipairs(dirs) do h.rmrf(d) end
  end)

  local function new_fixture(base, extra)
    local d = fixture(base or base_ref, extra)
    dirs[#dirs + 1] = d
    return d
  end

  local function wpo(dir, args, extra_env)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra_env or {}) do e[k] = v end
    return h.wpo_in(dir, args, e)
  end

  local function ok(r)
    assert(r.status == 0, r.stdout .. r.stderr)
    return r
  end

  local dir, first
  it("builds and pushes the image, tagged, by digest; a replan has no changes", function()
    dir = new_fixture()
    ok(wpo(dir, { "run", "stacks/img.lua", "--yes" }))
    first = state(dir)
    local digest = first.inputs.digest
    assert.is_truthy(digest:match("^sha256:%x+$"))
    assert.are.equal(2, #first.inputs.layer_digests)
    local acct_uri = first.inputs.uri
    assert.is_truthy(acct_uri:match("^%d+%.dkr%.ecr%.eu%-west%-1%.amazonaws%.com/img/site@sha256:%x+$"), acct_uri)
    -- in the registry: the index by digest and under its tag, the two platforms' manifests
    local m = assert(client:get_manifest("img/site", digest))
    assert.are.equal(registry.OCI_INDEX, m.media_type)
    assert.are.equal(2, #m.doc.manifests)
    local tagged = assert(client:get_manifest("img/site", "wpo-" .. digest:sub(8, 23)))
    assert.are.equal(digest, tagged.digest)
    local amd = assert(client:get_manifest("img/site", m.doc.manifests[1].digest))
    assert.are.equal(3, #amd.doc.layers)   -- the base's and ours
    assert.are.equal(first.inputs.layer_digests[1], amd.doc.layers[2].digest)
    local config = cjson.decode((assert(client:get_blob("img/site", amd.doc.config.digest))))
    assert.are.equal("img", config.config.Labels["org.example.site"])
    local r = wpo(dir, { "plan", "stacks/img.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("--ref ignores an uncommitted edit, the working tree does not", function()
    assert(dir, "the first test made the stack")
    -- an uncommitted theme edit: --ref v1 plans nothing, the working tree an update
    gr.write(dir, "site/themes/t1/style.css", "body { color: red }\n")
    local r = wpo(dir, { "plan", "stacks/img.lua", "--ref", "v1", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = wpo(dir, { "plan", "stacks/img.lua", "--detailed-exitcode" })
    assert.are.equal(2, r.status, r.stdout .. r.stderr)
    assert.is_truthy(r.stdout:find("~ oci.image.site  # stacks/img.lua:3 will be updated in place", 1, true), r.stdout)
    assert.is_truthy(r.stdout:find("Plan: 0 to add, 1 to change, 0 to destroy.", 1, true), r.stdout)
  end)

  it("a changed theme file changes that layer and the digest, and nothing else", function()
    assert(first, "the first test ran")
    local r = ok(wpo(dir, { "run", "stacks/img.lua", "--yes" }))
    assert.is_truthy(r.stdout:find("0 added, 1 changed, 0 destroyed", 1, true), r.stdout)
    local now = state(dir)
    assert.are_not.equal(first.inputs.digest, now.inputs.digest)
    assert.are_not.equal(first.inputs.layer_digests[1], now.inputs.layer_digests[1])
    assert.are.equal(first.inputs.layer_digests[2], now.inputs.layer_digests[2])
    assert.is_truthy(client:get_manifest("img/site", now.inputs.digest))
    r = wpo(dir, { "plan", "stacks/img.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("an image the registry no longer has (a lifecycle rule expired it) is pushed again", function()
    assert(first, "the first test ran")
    local digest = state(dir).inputs.digest
    local resp = assert(client:request({ method = "DELETE", path = "/v2/img/site/manifests/" .. digest },
      "repository:img/site:pull,push", "delete"))
    assert.are.equal(202, resp.status)
    assert.is_nil(client:get_manifest("img/site", digest))
    local r = wpo(dir, { "plan", "stacks/img.lua", "--detailed-exitcode" })
    assert.are.equal(2, r.status, r.stdout .. r.stderr)
    assert.matches("%+ oci%.image%.site  # stacks/img%.lua:3 will be created", r.stdout)
    r = wpo(dir, { "run", "stacks/img.lua", "--yes" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.equal(digest, state(dir).inputs.digest)
    assert.is_truthy(client:get_manifest("img/site", digest))
    r = wpo(dir, { "plan", "stacks/img.lua", "--detailed-exitcode" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("refuses bad input with one line naming the declaration", function()
    local cases = {
      { base = hub.host .. "/nothing:v9", want = "BaseImage.*nothing:v9.*MANIFEST_UNKNOWN" },
      { base = "Bad Name", want = "base: .*Bad Name" },
      { extra = '\n  auth = "basic",', want = "WPO_REGISTRY_USERNAME" },
      { extra = '\n  auth = "ecr", repository = "registry.example.com/site",', want = "needs an ECR repository URL" },
      { edit = { "site/themes", "../outside" }, want = "layers%[1%]" },
      { extra = "\n  max_layer_bytes = 10,", want = "LayerTooLarge" },
    }
    for _, c in ipairs(cases) do
      local d = new_fixture(c.base or base_ref, c.extra)
      if c.edit then
        local text = h.slurp(d .. "/stacks/img.lua"):gsub(c.edit[1]:gsub("%p", "%%%0"), c.edit[2], 1)
        h.write(d .. "/stacks/img.lua", text)
      end
      local r = wpo(d, { "plan", "stacks/img.lua" })
      assert.are.equal(1, r.status, r.stdout .. r.stderr)
      local line = one_line(r.stderr)
      assert.is_truthy(line:find("stacks/img.lua:3", 1, true), line)
      assert.is_truthy(line:find(c.want), c.want .. " not in: " .. line)
    end
    -- a link escaping the layer's directory
    local d = new_fixture()
    assert(os.execute("ln -s ../../../stacks " .. h.quote(d .. "/site/themes/t1/escape")))
    local r = wpo(d, { "plan", "stacks/img.lua" })
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    local line = one_line(r.stderr)
    assert.is_truthy(line:find("stacks/img.lua:3", 1, true) and line:find("LayerLinkEscapes"), line)
  end)

  it("a registry refusing the credentials: the registry's answer, nothing pushed", function()
    local d = new_fixture()
    f:post("/_fake/ecr/authorization", { password = "wrong-password", proxy_endpoint = "http://" .. reg.host })
    local r = wpo(d, { "run", "stacks/img.lua", "--yes" })
    f:post("/_fake/ecr/authorization", { password = PASSWORD, proxy_endpoint = "http://" .. reg.host })
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.is_truthy(r.stderr:find("UNAUTHORIZED"), r.stderr)
    assert.is_truthy(r.stderr:find("stacks/img.lua:3", 1, true), r.stderr)
    assert.is_nil(r.stderr:find("wrong-password", 1, true))
  end)
  it("a saved plan whose files changed since is refused; so is an apply that would push other content", function()
    local d = new_fixture()
    local r = wpo(d, { "plan", "stacks/img.lua", "--out", "img.plan" })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    gr.write(d, "site/plugins/p1/p1.php", "<?php // plugin, edited\n")
    r = wpo(d, { "apply", "img.plan" })
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    assert.matches("StalePlan", r.stderr)
    -- the type itself, handed a digest the plan derived that the files no longer give
    h.write(d .. "/create.lua", ([[
local resource = require "wpo.resource"
local t = assert(resource.get("oci.image"))
local ctx = resource.context { address = "oci.image.site", type = t, stack = "img", region = "eu-west-1",
  where = "stacks/img.lua:3", root = %q }
local ok, err = pcall(t.create, ctx, { base = %q, platforms = { "linux/amd64" }, auth = "anonymous",
  layers = { { from = "site/themes", to = "/srv/themes" } }, repository = %q,
  digest = "sha256:" .. string.rep("0", 64), layer_digests = { "sha256:" .. string.rep("1", 64) } })
io.write(tostring(ok), " ", tostring(err), "\n")
]]):format(d, base_ref, hub.host .. "/pushed"))
    local before = #hub:requests("^P[UOA]")
    r = h.sh(h.quote(h.wpo_abs()) .. " lua " .. h.quote(d .. "/create.lua"), { env = env })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("^false stacks/img.lua:3: oci.image.site: ContentChanged: the image would be sha256:%x+, not the "
      .. "sha256:0+ the plan showed: layers%[1%]'s files changed since the plan", r.stdout)
    assert.are.equal(before, #hub:requests("^P[UOA]"), "nothing sent")
  end)

  it("the same files on another path give the same digest, planned offline from the cache", function()
    assert(first, "the first test ran")
    local other = new_fixture()
    hub:stop()     -- the base is pinned and its manifests cached: no read
    local r = ok(wpo(other, { "plan", "stacks/img.lua", "--json" }))
    local doc = cjson.decode(r.stdout)
    local after
    for _, c in ipairs(doc.resource_changes) do
      if c.address == "oci.image.site" then after = c.change.after end
    end
    assert(after, r.stdout)
    assert.are.equal(first.inputs.digest, after.digest)
    assert.are.same(first.inputs.layer_digests, after.layer_digests)
  end)
end)
