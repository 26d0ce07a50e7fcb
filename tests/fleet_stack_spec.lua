-- stacks/fleet.lua, the fleet runner from nothing, on a copy of stacks/ in a
-- temporary root with its runner root made by tools/runner-root.sh (the
-- Debian packages wpo loads, fetched with apt-get download): validated with
-- nothing at all; planned with no AWS credentials; run against fakeaws with
-- its image pushed to a Debian docker-registry (basic auth, standing in for
-- ECR; the base, standing in for debian:12-slim, on another, anonymous one);
-- no changes after; destroyed. The runner layer, unpacked with GNU tar into a Debian
-- root (libc6's files, /usr merged), holds a wpo that starts with nothing but
-- that root's loader and libraries.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"
local ocitest = require "ocitest"

local PASSWORD = "fleet-registry-pw-9d1e"
local REPO = require("wpo.stack").absolute(h.REPO)

local function sh(cmd)
  local r = h.sh("sh -c " .. h.quote(cmd))     -- the whole pipeline, not its last command, gets h.sh's redirections
  assert(r.status == 0, cmd .. ": " .. r.stdout .. r.stderr)
  return r.stdout
end

local function by_kind(f, service, kind)
  local out = {}
  for _, o in pairs(((f:state()[service] or {})[kind]) or {}) do out[#out + 1] = o end
  return out
end

describe("stacks/fleet.lua", function()
  local world, f, client, base, root, cache, work

  lazy_setup(function()
    world = ocitest.ecr_world(PASSWORD, { repo = "library/debian", tag = "12-slim", platforms = { "linux/amd64" },
      layers_of = { ["linux/amd64"] = { ocitest.layer { { "etc/debian_version", "12.8\n" } } } } })
    f, client, base, cache = world.f, world.client, world.base, world.cache
    root = h.tmpdir()
    work = h.tmpdir()
    sh("cp -r " .. h.quote(REPO .. "/stacks") .. " " .. h.quote(root .. "/stacks"))
    assert(fs.mkdir_p(root .. "/.git"))
    sh(h.quote(REPO .. "/tools/runner-root.sh") .. " " .. h.quote(h.wpo_abs()) .. " "
      .. h.quote(root .. "/build/runner-root"))
  end)
  lazy_teardown(function()
    if world then world:stop() end
    for _, d in ipairs({ root, work }) do if d then h.rmrf(d) end end
  end)

  local VARS = { WPO_VAR_state_bucket = "acme-wpo-state", WPO_VAR_lock_table = "wpo-locks",
    WPO_VAR_deploy_roles = "arn:aws:iam::222233334444:role/wpo-deploy,arn:aws:iam::555566667777:role/wpo-deploy" }

  local function wpo(args, aws)
    local env = { WPO_CACHE_DIR = cache, WPO_VAR_runner_base = base, WPO_WAIT_SCALE = "0.01" }
    for k, v in pairs(VARS) do env[k] = v end
    for k, v in pairs(aws or {}) do env[k] = v end
    return h.wpo_in(root, args, env)
  end

  it("validates and plans with no AWS credentials at all", function()
    local r = wpo({ "validate", "stacks/fleet.lua" }, { AWS_ACCESS_KEY_ID = "", AWS_SECRET_ACCESS_KEY = "",
      AWS_PROFILE = "", AWS_CONFIG_FILE = "/nonexistent", AWS_SHARED_CREDENTIALS_FILE = "/nonexistent" })
    assert(r.status == 0, r.stdout .. r.stderr)
    assert.matches("Stack fleet is valid: 19 resources, 6 outputs", r.stdout)
    r = wpo({ "plan", "stacks/fleet.lua" }, { AWS_ACCESS_KEY_ID = "", AWS_SECRET_ACCESS_KEY = "",
      AWS_PROFILE = "", AWS_CONFIG_FILE = "/nonexistent", AWS_SHARED_CREDENTIALS_FILE = "/nonexistent",
      AWS_ENDPOINT_URL = "http://127.0.0.1:9" })
    assert(r.status == 0, r.stdout .. r.stderr)
    assert.matches("Plan: 19 to add, 0 to change, 0 to destroy", r.stdout)
    assert.matches('digest%s+= "sha256:%x+"', r.stdout)
  end)

  local image_uri
  it("runs against fakeaws, the image in the registry, the task definition on it; then no changes", function()
    local r = wpo({ "run", "stacks/fleet.lua", "--yes" }, f.env)
    assert(r.status == 0, r.stdout .. r.stderr)
    local tds = by_kind(f, "ecs", "task-definition")
    assert.are.equal(1, #tds)
    local td = tds[1]
    assert.are.equal("wpo-fleet-runner", td.family)
    assert.are.equal("awsvpc", td.networkMode)
    assert.are.same({ "FARGATE" }, td.requiresCompatibilities)
    image_uri = td.containerDefinitions[1].image
    assert.matches("^%d+%.dkr%.ecr%.eu%-west%-1%.amazonaws%.com/wpo/runner@sha256:%x+$", image_uri)
    local lc = td.containerDefinitions[1].logConfiguration
    assert.are.same({ ["awslogs-group"] = "/wpo/fleet/runner", ["awslogs-region"] = "eu-west-1",
      ["awslogs-stream-prefix"] = "wpo" }, lc.options)
    assert.is_truthy(td.executionRoleArn:match(":role/wpo/wpo%-fleet%-execution$"), td.executionRoleArn)
    assert.is_truthy(td.taskRoleArn:match(":role/wpo/wpo%-fleet%-task$"), td.taskRoleArn)
    local clusters = by_kind(f, "ecs", "cluster")
    assert.are.equal(1, #clusters)
    -- the task role: the state bucket, the lock table, the deploy roles; nothing else
    local out = sh(h.command_in(root, { "aws", "iam", "GetRolePolicy",
      '{"RoleName":"wpo-fleet-task","PolicyName":"rollout"}' }, f.env))
    local doc = cjson.decode(out)
    local policy = cjson.decode((doc.PolicyDocument:gsub("%%(%x%x)", function(x)
      return string.char(tonumber(x, 16))
    end)))
    local sids = {}
    for _, st in ipairs(policy.Statement) do sids[#sids + 1] = st.Sid end
    assert.are.same({ "StateBucket", "StateObjects", "StateLock", "DeployRoles" }, sids)
    -- in the registry under its digest
    local digest = image_uri:match("@(sha256:%x+)$")
    assert.is_truthy(client:get_manifest("wpo/runner", digest))
    r = wpo({ "plan", "stacks/fleet.lua", "--detailed-exitcode" }, f.env)
    assert(r.status == 0, "expected no changes: " .. r.stdout .. r.stderr)
  end)

  it("holds a wpo that starts in a Debian root from the runner layer alone", function()
    assert(image_uri, "the run made the image")
    local index = assert(client:get_manifest("wpo/runner", image_uri:match("@(sha256:%x+)$")))
    local m = assert(client:get_manifest("wpo/runner", index.doc.manifests[1].digest))
    local runner = m.doc.layers[#m.doc.layers]
    h.write(work .. "/runner.tgz", (assert(client:get_blob("wpo/runner", runner.digest))))
    local deb = work .. "/root"
    -- a Debian root as debian:12-slim has it: /usr merged, libc6
    sh("mkdir -p " .. h.quote(deb) .. "/usr/lib/x86_64-linux-gnu " .. h.quote(deb) .. "/usr/lib64 "
      .. h.quote(deb) .. "/usr/bin " .. h.quote(deb) .. "/usr/sbin")
    for _, d in ipairs({ "lib", "lib64", "bin", "sbin" }) do sh("ln -s usr/" .. d .. " " .. h.quote(deb .. "/" .. d)) end
    sh("dpkg -L libc6 | while read -r p; do [ -f \"$p\" ] && [ ! -L \"$p\" ] && echo \"$p\"; done"
      .. " | tar -cf - -P -T - 2>/dev/null | tar -xf - -C " .. h.quote(deb) .. " --keep-directory-symlink")
    sh("tar -xzf " .. h.quote(work .. "/runner.tgz") .. " -C " .. h.quote(deb) .. " --keep-directory-symlink")
    assert.is_true(fs.lstat(deb .. "/lib").type == "link", "the layer kept the base's /lib link")
    local ld = deb .. "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    local libs = deb .. "/usr/lib/x86_64-linux-gnu"
    local wpo_bin = deb .. "/usr/local/bin/wpo"
    -- every library resolves inside the root: wpo's own, and those of
    -- libcurl and libgit2 (opened with dlopen, so not in wpo's list)
    local dlopened = sh("ls " .. h.quote(libs) .. "/libcurl.so.4 " .. h.quote(libs) .. "/libgit2.so.[0-9]*")
    local list, n = "", 0
    for _, file in ipairs({ wpo_bin, dlopened:match("(%S+)\n"), dlopened:match("\n(%S+)\n") }) do
      list = list .. sh(h.quote(ld) .. " --inhibit-cache --library-path " .. h.quote(libs) .. " --list " .. h.quote(file))
    end
    for path in list:gmatch("=> (%S+)") do
      n = n + 1
      assert.are.equal(deb, path:sub(1, #deb), "resolved outside the root: " .. path)
    end
    assert.is_true(n > 20, list)
    local out = sh(h.quote(ld) .. " --inhibit-cache --library-path " .. h.quote(libs) .. " " .. h.quote(wpo_bin)
      .. " version")
    assert.matches("^wpo %d+%.%d+%.%d+", out)
    -- libcurl and libgit2, each opened with dlopen, are in the root too
    assert.matches("\n  libgit2 +%d+%.%d+%.%d+", out)
    assert.matches("\n  curl +%d+%.%d+", out)
    assert.is_true(fs.lstat(deb .. "/etc/ssl/certs/ca-certificates.crt").size > 100000)
  end)

  it("destroys everything in AWS; the image is forgotten, left to the registry", function()
    assert(image_uri, "the run made the image")
    local r = wpo({ "destroy", "stacks/fleet.lua", "--yes" }, f.env)
    assert(r.status == 0, r.stdout .. r.stderr)
    assert.matches("%- oci%.image%.runner", r.stdout)
    for _, kind in ipairs({ { "ecs", "task-definition" }, { "ecs", "cluster" } }) do
      for _, o in ipairs(by_kind(f, kind[1], kind[2])) do assert.are.equal("INACTIVE", o.status) end
    end
    assert.are.equal(0, #by_kind(f, "ecr", "repository"))
    assert.are.equal(0, #by_kind(f, "iam", "role"))
    assert.is_truthy(client:get_manifest("wpo/runner", image_uri:match("@(sha256:%x+)$")))
  end)
end)
