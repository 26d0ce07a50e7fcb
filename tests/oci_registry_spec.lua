-- wpo.oci.reference, wpo.oci.registry and wpo.oci.build against Debian's
-- docker-registry (distribution 2.8) started on 127.0.0.1 by the spec:
-- anonymous, with htpasswd basic auth (standing in for ECR, its password
-- handed out by fakeaws's GetAuthorizationToken), and with bearer tokens from
-- tests/servers/oci_token.py (the registry trusts its certificate). The images
-- are made here: two tiny layers, two platforms, a Docker manifest list.
-- skopeo inspects what wpo pushed and must agree on every digest.
local h = require "helpers"
local cjson = require "cjson"
local ociregistry = require "ociregistry"
local ocitest = require "ocitest"
local reference = require "wpo.oci.reference"
local registry = require "wpo.oci.registry"
local image = require "wpo.oci.build"

local PLATFORMS = { "linux/amd64", "linux/arm64" }

local function base_layers()
  return {
    ["linux/amd64"] = { ocitest.layer { { "etc/os", "base amd64\n" } }, ocitest.layer { { "bin/app", "amd64" } } },
    ["linux/arm64"] = { ocitest.layer { { "etc/os", "base arm64\n" } }, ocitest.layer { { "bin/app", "arm64" } } },
  }
end

local function skopeo(args)
  local r = h.sh("skopeo " .. args .. " 2>&1")
  assert(r.status == 0, "skopeo " .. args .. ": " .. r.stdout .. r.stderr)
  return r.stdout
end

local function one_line(err)
  local s = tostring(err)
  assert.is_nil(s:find("\n"), "not one line: " .. s)
  return s
end

describe("wpo.oci.reference", function()
  it("normalises Docker Hub names as Docker does", function()
    local r = assert(reference.parse("wordpress:6-apache"))
    assert.are.same({ domain = "docker.io", registry = "registry-1.docker.io", repository = "library/wordpress",
      tag = "6-apache" }, r)
    assert.are.equal("docker.io/library/wordpress:6-apache", reference.string(r))
    assert.are.equal("latest", assert(reference.parse("wordpress")).tag)
    assert.are.equal("bitnami/wordpress", assert(reference.parse("bitnami/wordpress")).repository)
    assert.are.equal("library/debian", assert(reference.parse("index.docker.io/debian:12")).repository)
  end)

  it("reads a host:port registry, a digest, and ECR URIs", function()
    local d = "sha256:" .. string.rep("ab", 32)
    local r = assert(reference.parse("host:5000/a/b@" .. d))
    assert.are.same({ domain = "host:5000", registry = "host:5000", repository = "a/b", digest = d }, r)
    local both = assert(reference.parse("localhost/x:1@" .. d))
    assert.are.equal("1", both.tag)
    assert.are.equal(d, both.digest)
    local e = assert(reference.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/prod/site:v1"))
    assert.are.same({ account = "123456789012", region = "eu-west-1" }, e.ecr)
    assert.are.equal("prod/site", e.repository)
    assert.are.equal("123456789012.dkr.ecr.eu-west-1.amazonaws.com", e.registry)
  end)

  it("refuses bad references with one line naming them", function()
    for s, why in pairs({
      ["Wordpress"] = "lower%-case",
      ["wordpress:"] = "bad tag",
      ["wordpress:-x"] = "bad tag",
      ["a//b"] = "component",
      ["x@sha256:abc"] = "64",
      ["x@md5:abc"] = "sha256",
      [""] = "empty",
      ["a b"] = "white space",
      ["host:99999/x"] = "registry host",
    }) do
      local r, err = reference.parse(s)
      assert.is_nil(r, s)
      assert.is_truthy(err:find(string.format("%q", s), 1, true), err)
      assert.is_truthy(err:find(why), s .. ": " .. err)
      one_line(err)
    end
  end)
end)

describe("wpo.oci.registry without a registry", function()
  it("speaks https with verification, http only to the loopback or when told insecure", function()
    assert.are.equal("https://registry.example.com", registry.new("registry.example.com").base)
    assert.are.equal("https://10.0.0.1:5000", registry.new("10.0.0.1:5000").base)
    assert.are.equal("http://127.0.0.1:5000", registry.new("127.0.0.1:5000").base)
    assert.are.equal("http://10.0.0.1:5000", registry.new("10.0.0.1:5000", { insecure = true }).base)
    assert.has_error(function() registry.new("h", { pasword = "x" }) end)
    assert.has_error(function() registry.new("https://h") end)
  end)

  it("follows a blob's redirect without sending the credentials to the other host", function()
    local sent = {}
    local c = registry.new("registry.example.com", { username = "u", password = "secret-pw", send = function(req)
      sent[#sent + 1] = { url = req.url, auth = req.headers.Authorization }
      if req.url:find("^https://registry%.example%.com/") then
        if not req.headers.Authorization then
          return { status = 401, headers = { ["www-authenticate"] = 'Basic realm="r"' }, body = "" }
        end
        return { status = 307, headers = { location = "https://cdn.example.net/blob?sig=1" }, body = "" }
      end
      return { status = 200, headers = {}, body = "the blob" }
    end })
    local blob = assert(c:get_blob("a/b", registry.digest("the blob")))
    assert.are.equal("the blob", blob)
    assert.are.equal(3, #sent)
    assert.is_truthy(sent[2].auth)
    assert.are.equal("https://cdn.example.net/blob?sig=1", sent[3].url)
    assert.is_nil(sent[3].auth)
  end)

  it("refuses a bearer realm over plain http to another host", function()
    local c = registry.new("registry.example.com", { send = function()
      return { status = 401, headers = { ["www-authenticate"] =
        'Bearer realm="http://auth.example.com/token",service="s",scope="repository:a:pull"' }, body = "" }
    end })
    local r, err = c:get_manifest("a", "v1")
    assert.is_nil(r)
    assert.are.equal("registry.example.com/a:v1: UNAUTHORIZED: the registry's token realm is not https: " ..
      "auth.example.com", one_line(err))
  end)
end)

describe("wpo.oci against docker-registry, anonymous", function()
  local reg, c, layers, base_index
  lazy_setup(function()
    reg = ociregistry.start()
    c = registry.new(reg.host)
    layers = base_layers()
    base_index = ocitest.push_base(c, "base", "v1", PLATFORMS, layers)
  end)
  lazy_teardown(function() if reg then reg:stop() end end)

  local function built_from(ref_string, spec)
    local base = assert(image.read_base(c, assert(reference.parse(ref_string))))
    return assert(image.assemble(base, spec)), base
  end

  it("reads the base index and each platform's manifest and config back", function()
    local base = assert(image.read_base(c, assert(reference.parse(reg.host .. "/base:v1"))))
    assert.is_true(base.index)
    assert.are.equal(base_index, base.digest)
    assert.are.equal(2, #base.platforms)
    for i, p in ipairs(base.platforms) do
      assert.are.equal(PLATFORMS[i], p.platform)
      local m = cjson.decode(p.manifest)
      assert.are.equal(layers[p.platform][1].digest, m.layers[1].digest)
      assert.are.equal(m.config.digest, registry.digest(p.config))
    end
  end)

  it("assembles the same digests every time, from the base's bytes alone", function()
    local extra = ocitest.layer { { "var/www/index.php", "<?php echo 'hi';\n" } }
    local spec = { layers = { extra }, env = { PATH = "/opt/bin:/usr/bin", SITE = "blue" }, labels = { site = "blue" } }
    local a, base = built_from(reg.host .. "/base:v1", spec)
    -- from the base's stored bytes alone, with no request: what a plan does with a pinned base
    local requests = c.stats.requests
    local stored = { index = true, repository = "base", platforms = {} }
    for i, p in ipairs(base.platforms) do
      stored.platforms[i] = { platform = p.platform, manifest = p.manifest, config = p.config }
    end
    local b = assert(image.assemble(stored, spec))
    assert.are.equal(requests, c.stats.requests)
    assert.are.equal(a.digest, b.digest)
    assert.are.equal(a.body, b.body)
    local config = cjson.decode(a.platforms[2].config.body)
    assert.are.same({ "PATH=/opt/bin:/usr/bin", "BASE=1", "SITE=blue" }, config.config.Env)
    assert.are.same({ base = "yes", site = "blue" }, config.config.Labels)
    assert.are.same({ layers["linux/arm64"][1].diff_id, layers["linux/arm64"][2].diff_id, extra.diff_id },
      config.rootfs.diff_ids)
    assert.are.equal("1970-01-01T00:00:00Z", config.history[3].created)
    assert.are.equal("1970-01-01T00:00:00Z", config.created)
    -- an empty object of the base stays an object, arrays stay arrays
    assert.is_truthy(a.platforms[1].config.body:find('"Volumes":{}', 1, true))
    local other = assert(image.assemble(base, { layers = { extra }, env = { SITE = "green" } }))
    assert.are_not.equal(a.digest, other.digest)
  end)

  it("pushes blobs, manifests and the index; skopeo agrees on every digest; a second push sends no blob", function()
    local extra = ocitest.layer { { "var/www/index.php", "<?php echo 'v2';\n" } }
    local built = built_from(reg.host .. "/base:v1", { layers = { extra }, labels = { v = "2" } })
    local before = #reg:requests("^PATCH") + #reg:requests("^POST .*/blobs/uploads/$")
    local res = assert(image.push(c, "base", built, { tag = "v2" }))
    assert.are.equal(built.digest, res.digest)
    assert.are.equal(reg.host .. "/base@" .. built.digest, res.uri)
    -- the base's layers were there already: only the new layer (once) and two configs went up
    assert.are.same({ exists = 4, mounted = 0, uploaded = 3 }, res.blobs)
    local raw = skopeo("inspect --raw --tls-verify=false docker://" .. reg.host .. "/base:v2")
    assert.are.equal(built.digest, registry.digest(raw))
    local index = cjson.decode(raw)
    for i, p in ipairs(built.platforms) do
      assert.are.equal(p.manifest.digest, index.manifests[i].digest)
      local manifest = skopeo("inspect --raw --tls-verify=false docker://" .. reg.host .. "/base@" .. p.manifest.digest)
      assert.are.equal(p.manifest.digest, registry.digest(manifest))
      local config = skopeo("inspect --config --raw --tls-verify=false docker://" .. reg.host .. "/base@" ..
        p.manifest.digest)
      assert.are.equal(p.config.digest, registry.digest(config))
    end
    local arm = cjson.decode(skopeo("inspect --override-arch arm64 --tls-verify=false docker://" .. reg.host ..
      "/base:v2"))
    assert.are.equal(built.digest, arm.Digest)      -- skopeo names the index it resolved
    assert.are.equal("arm64", arm.Architecture)
    assert.are.equal(extra.digest, arm.Layers[3])
    assert.are.equal("2", arm.Labels.v)
    local uploads = #reg:requests("^PATCH") + #reg:requests("^POST .*/blobs/uploads/$")
    assert.are.equal(before + 3, uploads)
    -- again: every blob is there (HEAD), no upload starts
    local requests = c.stats.requests
    local again = assert(image.push(c, "base", built, { tag = "v2" }))
    assert.are.same({ exists = 7, mounted = 0, uploaded = 0 }, again.blobs)
    assert.are.equal(uploads, #reg:requests("^PATCH") + #reg:requests("^POST .*/blobs/uploads/$"))
    assert.are.equal(7 + 3, c.stats.requests - requests)    -- 7 HEAD, 2 manifests, 1 index
  end)

  it("mounts the base's layers into another repository of the same registry", function()
    local extra = ocitest.layer { { "site", "mounted" } }
    local built = built_from(reg.host .. "/base:v1", { layers = { extra } })
    local res = assert(image.push(c, "site", built, { tag = "live" }))
    assert.are.same({ exists = 0, mounted = 4, uploaded = 3 }, res.blobs)
    assert.are.equal(4, #reg:requests("^POST /v2/site/blobs/uploads/%?mount="))
    local back = assert(c:get_manifest("site", "live"))
    assert.are.equal(built.digest, back.digest)
  end)

  it("uploads instead when the registry answers a mount with 202", function()
    local blob = ocitest.tar { { "lonely", "not in the other repository" } }
    local d = registry.digest(blob)
    assert.are.equal("uploaded", assert(c:push_blob("fresh", d, blob, { from = "nowhere" })))
    assert.are.equal(1, #reg:requests("^POST /v2/fresh/blobs/uploads/%?mount="))
    assert.are.equal(blob, assert(c:get_blob("fresh", d)))
  end)

  it("uploads in chunks with Content-Range, then PUTs the digest", function()
    local blob = string.rep("0123456789", 500)   -- 5000 bytes
    local d = registry.digest(blob)
    local patches = c.stats.by_method.PATCH or 0
    assert(c:upload_blob("chunks", d, blob, { chunked = true, chunk_size = 1000 }))
    assert.are.equal(5, (c.stats.by_method.PATCH or 0) - patches)
    assert.are.equal(blob, assert(c:get_blob("chunks", d)))
    assert.are.equal(#blob, assert(c:has_blob("chunks", d)))
  end)

  it("detects a blob or a manifest whose bytes do not match the digest", function()
    local tamper = registry.new(reg.host, { send = function(req)
      local resp, err, code = require("wpo.aws.transport").send(req)
      if resp and req.method == "GET" and resp.status == 200 then resp.body = resp.body .. " " end
      return resp, err, code
    end })
    local d = layers["linux/amd64"][1].digest
    local r, err = tamper:get_blob("base", d)
    assert.is_nil(r)
    local prefix = reg.host .. "/base@" .. d .. ": DIGEST_MISMATCH: the blob fetched hashes to sha256:"
    assert.are.equal(prefix, one_line(err):sub(1, #prefix))
    r, err = tamper:get_manifest("base", base_index)
    assert.is_nil(r)
    assert.are.equal("DIGEST_MISMATCH", err.code)
    -- and bytes handed to an upload must hash to the digest named
    r, err = c:upload_blob("base", d, "other bytes")
    assert.is_nil(r)
    assert.are.equal("DIGEST_MISMATCH", err.code)
  end)

  it("answers a registry error as one line with its code, message and the reference", function()
    local m, err = c:get_manifest("base", "nope")
    assert.is_nil(m)
    assert.are.equal(reg.host .. "/base:nope: MANIFEST_UNKNOWN: get manifest: manifest unknown (HTTP 404)",
      one_line(err))
    local base, perr = image.read_base(c, assert(reference.parse(reg.host .. "/base:v1")), { "linux/s390x" })
    assert.is_nil(base)
    assert.is_truthy(one_line(perr):find("no linux/s390x image in the index (it has linux/amd64, linux/arm64)", 1,
      true))
  end)

  it("never pushes a manifest before all its blobs are in", function()
    local extra = ocitest.layer { { "half", "way" } }
    local built = built_from(reg.host .. "/base:v1", { layers = { extra } })
    local failing = registry.new(reg.host, { send = function(req)
      if req.method == "PUT" and req.url:find("digest=" .. extra.digest:gsub(":", "%%3A"), 1, true) then
        return { status = 500, headers = {}, body = '{"errors":[{"code":"UNKNOWN","message":"disk full"}]}' }
      end
      return require("wpo.aws.transport").send(req)
    end })
    local res, err = image.push(failing, "halfway", built, { tag = "t" })
    assert.is_nil(res)
    assert.are.equal(reg.host .. "/halfway@" .. extra.digest .. ": UNKNOWN: finish upload: disk full (HTTP 500)",
      one_line(err))
    assert.are.same({}, reg:requests("^PUT /v2/halfway/manifests/"))
  end)
end)

describe("wpo.oci with basic auth (ECR's login through fakeaws)", function()
  local fakeaws = require "fakeaws"
  local aws = require "wpo.aws.client"
  local reg, f, ecr
  lazy_setup(function()
    reg = ociregistry.start { auth = "basic", username = "AWS", password = "ecr-test-password" }
    f = fakeaws.start()
    ecr = aws.new("ecr", { region = f.region, endpoint = f.url, credentials = { access_key = "test",
      secret_key = "test" } })
  end)
  lazy_teardown(function()
    if reg then reg:stop() end
    if f then f:stop() end
  end)

  it("logs in with GetAuthorizationToken's credentials and pushes", function()
    f:post("/_fake/ecr/authorization", { password = "ecr-test-password", proxy_endpoint = "http://" .. reg.host })
    -- a resource context gives its client by ctx:aws(service)
    local ctx = { aws = function(_, service) assert(service == "ecr") return ecr end }
    local creds = assert(registry.ecr_auth(ctx))
    assert.are.equal("AWS", creds.username)
    assert.are.equal("ecr-test-password", creds.password)
    assert.are.equal("http://" .. reg.host, creds.endpoint)
    local c = registry.new(reg.host, { username = creds.username, password = creds.password })
    local idx = ocitest.push_base(c, "base", "v1", PLATFORMS, base_layers())
    local base = assert(image.read_base(c, assert(reference.parse(reg.host .. "/base:v1"))))
    assert.are.equal(idx, base.digest)
    local built = assert(image.assemble(base, { layers = { ocitest.layer { { "x", "y" } } } }))
    local res = assert(image.push(c, "site", built, { tag = "v1" }))
    assert.are.same({ exists = 0, mounted = 4, uploaded = 3 }, res.blobs)
    local raw = skopeo("inspect --raw --tls-verify=false --creds AWS:ecr-test-password docker://" .. reg.host ..
      "/site:v1")
    assert.are.equal(built.digest, registry.digest(raw))
  end)

  it("says in one line that the registry refused the credentials, and shows no password", function()
    local c = registry.new(reg.host, { username = "AWS", password = "wrong-password" })
    local r, err = c:get_manifest("base", "v1")
    assert.is_nil(r)
    local line = one_line(err)
    assert.are.equal(reg.host .. "/base:v1: UNAUTHORIZED: the registry refused the credentials (HTTP 401)", line)
    assert.is_nil(line:find("wrong-password", 1, true))
    local anonymous = registry.new(reg.host)
    r, err = anonymous:has_blob("base", "sha256:" .. string.rep("0", 64))
    assert.is_nil(r)
    assert.is_truthy(one_line(err):find("UNAUTHORIZED: the registry wants credentials (basic auth) and none were given",
      1, true))
  end)
end)

describe("wpo.oci with bearer tokens (docker-registry's token auth)", function()
  local reg
  lazy_setup(function()
    reg = ociregistry.start { auth = "token", username = "builder", password = "token-test-password" }
  end)
  lazy_teardown(function() if reg then reg:stop() end end)

  it("gets a token per scope from the challenge's realm, caches it, and pushes", function()
    local c = registry.new(reg.host, { username = "builder", password = "token-test-password" })
    local idx = ocitest.push_base(c, "base", "v1", PLATFORMS, base_layers())
    local base = assert(image.read_base(c, assert(reference.parse(reg.host .. "/base:v1"))))
    assert.are.equal(idx, base.digest)
    local built = assert(image.assemble(base, { layers = { ocitest.layer { { "t", "token" } } } }))
    local res = assert(image.push(c, "site", built, { tag = "v1" }))
    assert.are.equal(built.digest, res.digest)
    local stats = reg:token_stats()
    assert.are.equal(c.stats.tokens, stats.tokens)
    -- pull and pull,push for each repository, and the mount's pair: no scope asked twice
    assert.are.equal(5, stats.tokens, cjson.encode(stats))
    local again = assert(image.push(c, "site", built, { tag = "v1" }))
    assert.are.equal(7, again.blobs.exists)
    assert.are.equal(stats.tokens, reg:token_stats().tokens)
    -- anonymous: pulls, but may not push
    local anonymous = registry.new(reg.host)
    assert.are.equal(built.digest, assert(anonymous:get_manifest("site", "v1")).digest)
    local ok, err = anonymous:put_manifest("site", "v9", built.media_type, built.body)
    assert.is_nil(ok)
    assert.is_truthy(one_line(err):find("^" .. reg.host:gsub("%p", "%%%0") .. "/site:v9: UNAUTHORIZED: "), tostring(err))
  end)

  it("says in one line that the token service refused the credentials", function()
    local c = registry.new(reg.host, { username = "builder", password = "not-it" })
    local r, err = c:get_manifest("base", "v1")
    assert.is_nil(r)
    local line = one_line(err)
    assert.are.equal(reg.host .. "/base:v1: UNAUTHORIZED: the token service refused the credentials (HTTP 401)", line)
    assert.is_nil(line:find("not-it", 1, true))
  end)
end)

describe("wpo.oci across registries", function()
  it("copies the base's layers from one registry to another, blob by blob", function()
    local a <close> = ociregistry.start()
    local b <close> = ociregistry.start()
    local ca, cb = registry.new(a.host), registry.new(b.host)
    ocitest.push_base(ca, "base", "v1", PLATFORMS, base_layers())
    local base = assert(image.read_base(ca, assert(reference.parse(a.host .. "/base:v1"))))
    local built = assert(image.assemble(base, { layers = { ocitest.layer { { "copy", "me" } } } }))
    local res = assert(image.push(cb, "site", built, { tag = "v1", base_client = ca }))
    assert.are.same({ exists = 0, mounted = 0, uploaded = 7 }, res.blobs)
    -- the two configs (read_base) and the four layers, each fetched once
    assert.are.equal(6, #a:requests("^GET /v2/base/blobs/"))
    assert.are.equal(built.digest, registry.digest(skopeo("inspect --raw --tls-verify=false docker://" .. b.host ..
      "/site:v1")))
  end)
end)
