-- tests/lua/ocitest.lua — small images made by the tests themselves, for the
-- OCI registry spec and the push bench.
--
--   ocitest.tar({ { name, data }, ... }) -> bytes      a ustar archive (fixed mtime, uid 0)
--   ocitest.layer(files) -> layer     { media_type (uncompressed OCI tar), digest, diff_id, size, blob }
--   ocitest.push_base(client, repo, tag, platforms, layers_of)
--       -> index digest, { [platform] = { manifest digest, config digest } }
--       a Docker manifest list (one Docker v2 manifest per platform, each with
--       layers_of[platform] and a config with Env and Labels), pushed under tag
--   ocitest.oci_layout(dir, built, blobs) -- write built (wpo.oci.build) as an OCI layout
--       for skopeo; blobs: digest -> bytes of every layer
--   ocitest.ecr_world(password, base) -> w: what a spec that pushes images through
--       wpo needs: w.f, fakeaws; w.reg, a registry with basic auth standing in for
--       ECR (fakeaws's GetAuthorizationToken hands out user AWS and password);
--       w.client, a client of it; w.hub, a second registry holding the base image
--       base = { repo, tag, platforms, layers_of } (ocitest.push_base's), pushed
--       there as w.base ("host/repo@sha256:..."); w.cache, a cache directory;
--       w.env, fakeaws's environment with WPO_CACHE_DIR; w:stop()
local json = require "wpo.json"
local registry = require "wpo.oci.registry"

local M = {}

local function octal(n, width)
  return string.format("%0" .. (width - 1) .. "o", n) .. "\0"
end

local function header(name, size)
  local fields = {
    name .. string.rep("\0", 100 - #name),
    octal(420, 8), octal(0, 8), octal(0, 8), octal(size, 12), octal(0, 12),
    "        ",                         -- checksum, counted as spaces
    "0", string.rep("\0", 100),
    "ustar\0", "00", string.rep("\0", 32), string.rep("\0", 32), octal(0, 8), octal(0, 8),
    string.rep("\0", 155), string.rep("\0", 12),
  }
  local h = table.concat(fields)
  assert(#h == 512)
  local sum = 0
  for i = 1, #h do sum = sum + h:byte(i) end
  return h:sub(1, 148) .. string.format("%06o", sum) .. "\0 " .. h:sub(157)
end

function M.tar(files)
  local out = {}
  for _, f in ipairs(files) do
    out[#out + 1] = header(f[1], #f[2])
    out[#out + 1] = f[2]
    out[#out + 1] = string.rep("\0", (512 - #f[2] % 512) % 512)
  end
  out[#out + 1] = string.rep("\0", 1024)
  return table.concat(out)
end

function M.layer(files)
  local blob = M.tar(files)
  local digest = registry.digest(blob)
  return { media_type = "application/vnd.oci.image.layer.v1.tar", digest = digest, diff_id = digest,
    size = #blob, blob = blob }
end

local function split(platform)
  local os_, arch = platform:match("^(%w+)/(%w+)$")
  return os_, arch
end

function M.push_base(client, repo, tag, platforms, layers_of)
  local entries = json.array({})
  local out = {}
  for i, platform in ipairs(platforms) do
    local os_, arch = split(platform)
    local layers = layers_of[platform]
    local diff_ids, descs, history = json.array({}), json.array({}), json.array({})
    for j, l in ipairs(layers) do
      assert(client:push_blob(repo, l.digest, l.blob))
      diff_ids[j] = l.diff_id
      descs[j] = { mediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip", digest = l.digest, size = l.size }
      history[j] = { created = "2020-01-01T00:00:00Z", created_by = "test layer " .. j }
    end
    -- the Docker media type for an uncompressed tar is not a thing: use the OCI one
    for j, l in ipairs(layers) do descs[j].mediaType = l.media_type end
    local config = json.encode({ architecture = arch, os = os_, created = "2020-01-01T00:00:00Z",
      config = { Env = json.array({ "PATH=/usr/bin:/bin", "BASE=1" }), Cmd = json.array({ "/bin/sh" }),
        Labels = { base = "yes" }, Volumes = {} },
      rootfs = { type = "layers", diff_ids = diff_ids }, history = history })
    local config_digest = registry.digest(config)
    assert(client:push_blob(repo, config_digest, config))
    local manifest = json.encode({ schemaVersion = 2, mediaType = registry.DOCKER_MANIFEST,
      config = { mediaType = "application/vnd.docker.container.image.v1+json", digest = config_digest,
        size = #config }, layers = descs })
    local digest = assert(client:put_manifest(repo, registry.digest(manifest), registry.DOCKER_MANIFEST, manifest))
    entries[i] = { mediaType = registry.DOCKER_MANIFEST, digest = digest, size = #manifest,
      platform = { os = os_, architecture = arch } }
    out[platform] = { manifest = digest, config = config_digest }
  end
  local list = json.encode({ schemaVersion = 2, mediaType = registry.DOCKER_LIST, manifests = entries })
  local digest = assert(client:put_manifest(repo, tag, registry.DOCKER_LIST, list))
  return digest, out
end

local World = {}
World.__index = World

function M.ecr_world(password, base)
  local fakeaws, ociregistry, h = require "fakeaws", require "ociregistry", require "helpers"
  local w = setmetatable({}, World)
  w.f = fakeaws.start { region = "eu-west-1" }
  w.reg = ociregistry.start { auth = "basic", username = "AWS", password = password }
  w.hub = ociregistry.start()
  w.f:post("/_fake/ecr/authorization", { password = password, proxy_endpoint = "http://" .. w.reg.host })
  w.client = registry.new(w.reg.host, { username = "AWS", password = password })
  local index = M.push_base(registry.new(w.hub.host), base.repo, base.tag, base.platforms, base.layers_of)
  w.base = w.hub.host .. "/" .. base.repo .. "@" .. index
  w.cache = h.tmpdir()
  w.env = { WPO_CACHE_DIR = w.cache }
  for k, v in pairs(w.f.env) do w.env[k] = v end
  return w
end

function World:stop()
  if self.reg then self.reg:stop() end
  if self.hub then self.hub:stop() end
  if self.f then self.f:stop() end
  if self.cache then require("helpers").rmrf(self.cache) end
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function M.oci_layout(dir, built, blobs)
  os.execute("mkdir -p '" .. dir .. "/blobs/sha256'")
  local function put(digest, data)
    assert(registry.digest(data) == digest, "oci_layout: bytes do not match " .. digest)
    write(dir .. "/blobs/sha256/" .. digest:sub(8), data)
  end
  write(dir .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  for _, p in ipairs(built.platforms) do
    for _, d in ipairs(p.layers) do put(d.digest, assert(blobs[d.digest], "no bytes for " .. d.digest)) end
    put(p.config.digest, p.config.body)
    put(p.manifest.digest, p.manifest.body)
  end
  put(built.digest, built.body)
  write(dir .. "/index.json", json.encode({ schemaVersion = 2, manifests = json.array({
    { mediaType = built.media_type, digest = built.digest, size = #built.body,
      annotations = { ["org.opencontainers.image.ref.name"] = "latest" } } }) }))
end

return M
