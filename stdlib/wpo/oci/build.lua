-- wpo.oci.build: an image made from a base image plus layers, env and labels,
-- assembled offline (every digest computed here, nothing from the clock) and
-- pushed blobs first, then manifests, then the index.
-- (The resource type oci.image, stdlib/wpo/oci/image.lua, builds and pushes
-- through this module.)
--
--   image.read_base(client, ref, platforms?) -> base | nil, err
--       client: a wpo.oci.registry client of ref's registry; ref: a parsed
--       wpo.oci.reference; platforms: the ones wanted (default linux/amd64 and
--       linux/arm64; of an index, those it has — none of them is an error;
--       a single manifest is taken as the one platform its config names).
--       base = { ref, repository, digest (what ref resolved to), index (bool),
--                platforms = { { platform = "linux/amd64", manifest = bytes,
--                                config = bytes }, ... } }
--       Everything image.assemble needs: keep it and the plan is offline.
--   image.assemble(base, spec) -> built | nil, err
--       spec = { layers = { layer, ... }              appended to every platform
--                platform_layers = { ["linux/arm64"] = { layer, ... } }?  after those
--                env = { NAME = "value" }?             merged into Env (replaces a name)
--                labels = { key = "value" }?           merged into Labels
--                created = "1970-01-01T00:00:00Z"?     the new history entries' time
--                created_by = "wpo"? }                 their created_by prefix
--       layer = { media_type, digest = "sha256:..", diff_id = "sha256:..", size, blob = bytes? }
--       built = { digest, media_type (index or manifest), body,
--                 platforms = { { platform, manifest = { digest, body, media_type },
--                                 config = { digest, body }, layers = { descriptor... } } } }
--   image.push(client, repository, built, opts?) -> { digest, uri = "host/repo@sha256:..",
--                                                    blobs = { exists, mounted, uploaded } }
--       opts = { tag?, base_client? (the base's registry, when not client), layers_by_digest?
--                (digest -> bytes: layers given without blob, base layers already at hand), chunked?,
--                parallel? (blobs pushed at a time, default 3) }
--       Base layers are mounted from the base's repository on the same registry,
--       else copied blob -> upload from base_client. Nothing half-way: every
--       blob of every platform is in before the first manifest goes, and every
--       manifest before the index.
local json = require "wpo.json"
local registry = require "wpo.oci.registry"
local reference = require "wpo.oci.reference"
local task = require "wpo.task"
local text = require "wpo.text"

local M = {}

M.DEFAULT_PLATFORMS = { "linux/amd64", "linux/arm64" }
M.EPOCH = "1970-01-01T00:00:00Z"

local OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
local DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
local LAYER_TYPES = {
  ["application/vnd.docker.image.rootfs.diff.tar.gzip"] = "application/vnd.oci.image.layer.v1.tar+gzip",
  ["application/vnd.oci.image.layer.v1.tar+gzip"] = "application/vnd.oci.image.layer.v1.tar+gzip",
  ["application/vnd.oci.image.layer.v1.tar"] = "application/vnd.oci.image.layer.v1.tar",
  ["application/vnd.oci.image.layer.v1.tar+zstd"] = "application/vnd.oci.image.layer.v1.tar+zstd",
}

local function decode(bytes, what)
  local doc, err = registry.decode(bytes)
  if type(doc) ~= "table" then return nil, what .. " is not JSON: " .. tostring(err) end
  return doc
end

local function platform_string(p)
  local s = tostring(p.os) .. "/" .. tostring(p.architecture)
  if p.variant and p.variant ~= "" then s = s .. "/" .. p.variant end
  return s
end

local function fail(address, message, code)
  local errors = require "wpo.errors"
  return nil, errors.new { address = address, code = code or "InvalidImage", message = message }
end

function M.read_base(client, ref, platforms)
  assert(type(ref) == "table" and ref.repository, "image.read_base: a parsed reference expected")
  platforms = platforms or M.DEFAULT_PLATFORMS
  local address = reference.string(ref)
  local top, err = client:get_manifest(ref.repository, ref.digest or ref.tag)
  if not top then return nil, err end
  local base = { ref = ref, repository = ref.repository, digest = top.digest, index = false, platforms = {} }
  local function add(m, wanted)
    if not registry.MANIFEST_TYPES[m.media_type] then
      return fail(address, "the image for " .. tostring(wanted) .. " is not an image manifest (" .. m.media_type .. ")")
    end
    local cfg = m.doc.config
    if type(cfg) ~= "table" or not reference.is_digest(cfg.digest) then
      return fail(address, "the manifest " .. m.digest .. " has no config descriptor")
    end
    local config, cerr = client:get_blob(ref.repository, cfg.digest, cfg.size)
    if not config then return nil, cerr end
    local doc, derr = decode(config, "the config " .. cfg.digest)
    if not doc then return fail(address, derr) end
    local p = wanted or platform_string(doc)
    base.platforms[#base.platforms + 1] = { platform = p, manifest = m.body, config = config }
    return true
  end
  if registry.INDEX_TYPES[top.media_type] then
    base.index = true
    for _, p in ipairs(platforms) do
      local d = registry.platform_of(top.doc, p)
      if d then
        local m, merr = client:get_manifest(ref.repository, d.digest)
        if not m then return nil, merr end
        local ok, aerr = add(m, p)
        if not ok then return nil, aerr end
      end
    end
    if #base.platforms == 0 then
      local _, why = registry.platform_of(top.doc, platforms[1])
      return fail(address, "none of " .. table.concat(platforms, ", ") .. " in the base: " .. why)
    end
  else
    local ok, aerr = add(top)
    if not ok then return nil, aerr end
  end
  return base
end

local function check_layer(l, where)
  assert(type(l) == "table", where .. ": a layer table expected")
  assert(reference.is_digest(l.digest), where .. ": digest must be sha256:<64 hex>")
  assert(reference.is_digest(l.diff_id), where .. ": diff_id must be sha256:<64 hex>")
  assert(math.type(l.size) == "integer" and l.size >= 0, where .. ": size must be an integer")
  assert(type(l.media_type) == "string", where .. ": media_type expected")
  if l.blob ~= nil then
    assert(type(l.blob) == "string" and #l.blob == l.size, where .. ": blob must be size bytes")
  end
end

local SPEC = { layers = true, platform_layers = true, env = true, labels = true, created = true, created_by = true }

local function build_platform(entry, spec)
  local manifest, merr = decode(entry.manifest, "the base manifest")
  if not manifest then error(merr, 0) end
  local config, cerr = decode(entry.config, "the base config")
  if not config then error(cerr, 0) end
  local layers = {}
  for _, l in ipairs(spec.layers or {}) do layers[#layers + 1] = l end
  for _, l in ipairs((spec.platform_layers or {})[entry.platform] or {}) do layers[#layers + 1] = l end
  -- config: rootfs, history, Env, Labels; no time from the clock
  config.rootfs = config.rootfs or { type = "layers" }
  config.rootfs.diff_ids = json.array(config.rootfs.diff_ids or {})
  config.history = json.array(config.history or {})
  for _, l in ipairs(layers) do
    config.rootfs.diff_ids[#config.rootfs.diff_ids + 1] = l.diff_id
    config.history[#config.history + 1] = { created = spec.created or M.EPOCH,
      created_by = (spec.created_by or "wpo") .. " layer " .. l.diff_id:sub(8, 19) }
  end
  config.created = spec.created or M.EPOCH
  if type(config.config) ~= "table" then config.config = {} end
  local c = config.config
  if spec.env and next(spec.env) then
    local env, seen = json.array({}), {}
    for _, kv in ipairs(type(c.Env) == "table" and c.Env or {}) do
      local name = kv:match("^([^=]*)")
      if spec.env[name] ~= nil then
        env[#env + 1] = name .. "=" .. spec.env[name]
        seen[name] = true
      else
        env[#env + 1] = kv
      end
    end
    for _, name in ipairs(text.sorted_keys(spec.env or {})) do
      if not seen[name] then env[#env + 1] = name .. "=" .. spec.env[name] end
    end
    c.Env = env
  end
  if spec.labels and next(spec.labels) then
    c.Labels = type(c.Labels) == "table" and c.Labels or {}
    for k, v in pairs(spec.labels) do c.Labels[k] = v end
  end
  local config_body = json.encode(config)
  local config_desc = { mediaType = OCI_CONFIG, digest = registry.digest(config_body), size = #config_body }
  local descs = json.array({})
  for _, d in ipairs(manifest.layers or {}) do
    local mt = LAYER_TYPES[d.mediaType]
    if not mt then error("the base has a layer of media type " .. tostring(d.mediaType) .. ", which wpo cannot carry", 0) end
    descs[#descs + 1] = { mediaType = mt, digest = d.digest, size = d.size, base = true }
  end
  for _, l in ipairs(layers) do
    descs[#descs + 1] = { mediaType = l.media_type, digest = l.digest, size = l.size, layer = l }
  end
  local out = json.array({})
  for i, d in ipairs(descs) do out[i] = { mediaType = d.mediaType, digest = d.digest, size = d.size } end
  local body = json.encode({ schemaVersion = 2, mediaType = registry.OCI_MANIFEST, config = config_desc, layers = out })
  return {
    platform = entry.platform,
    os = config.os, architecture = config.architecture, variant = config.variant,
    manifest = { digest = registry.digest(body), body = body, media_type = registry.OCI_MANIFEST },
    config = { digest = config_desc.digest, body = config_body },
    layers = descs,
  }
end

function M.assemble(base, spec)
  assert(type(base) == "table" and type(base.platforms) == "table", "image.assemble: a base from image.read_base expected")
  assert(type(spec) == "table", "image.assemble: a spec table expected")
  for k in pairs(spec) do
    if not SPEC[k] then
      error(string.format("image.assemble: unknown key '%s' (valid: %s)", tostring(k),
        table.concat(text.sorted_keys(SPEC), ", ")), 2)
    end
  end
  for i, l in ipairs(spec.layers or {}) do check_layer(l, "image.assemble: layers[" .. i .. "]") end
  for p, ls in pairs(spec.platform_layers or {}) do
    for i, l in ipairs(ls) do check_layer(l, "image.assemble: platform_layers[" .. p .. "][" .. i .. "]") end
  end
  for k, v in pairs(spec.env or {}) do
    assert(type(k) == "string" and k:match("^[^=]+$") and type(v) == "string",
      "image.assemble: env holds NAME = \"value\" strings")
  end
  for k, v in pairs(spec.labels or {}) do
    assert(type(k) == "string" and type(v) == "string", "image.assemble: labels hold string = string")
  end
  local built = { platforms = {} }
  for i, entry in ipairs(base.platforms) do
    local ok, p = pcall(build_platform, entry, spec)
    if not ok then return fail(base.ref and reference.string(base.ref) or "the base image", tostring(p)) end
    built.platforms[i] = p
  end
  if #built.platforms == 1 and not base.index then
    local p = built.platforms[1]
    built.digest, built.body, built.media_type = p.manifest.digest, p.manifest.body, p.manifest.media_type
  else
    local manifests = json.array({})
    for i, p in ipairs(built.platforms) do
      local plat = { os = p.os, architecture = p.architecture, variant = p.variant }
      manifests[i] = { mediaType = p.manifest.media_type, digest = p.manifest.digest, size = #p.manifest.body,
        platform = plat }
    end
    built.body = json.encode({ schemaVersion = 2, mediaType = registry.OCI_INDEX, manifests = manifests })
    built.digest, built.media_type = registry.digest(built.body), registry.OCI_INDEX
  end
  built.base = base
  return built
end

M.CONFIG_TYPES = { [OCI_CONFIG] = true, [DOCKER_CONFIG] = true }

function M.push(client, repository, built, opts)
  opts = opts or {}
  local base = built.base
  local base_client = opts.base_client or client
  local same_registry = base_client.host == client.host
  local counts = { exists = 0, mounted = 0, uploaded = 0 }
  -- every blob of every platform first, each once, opts.parallel at a time
  local jobs, seen = {}, {}
  local function job(digest, source, from)
    if seen[digest] then return end
    seen[digest] = true
    jobs[#jobs + 1] = { digest = digest, source = source, from = from }
  end
  for _, p in ipairs(built.platforms) do
    for _, d in ipairs(p.layers) do
      local have = (opts.layers_by_digest or {})[d.digest]
      if d.base and not have then
        job(d.digest, function()
          return base_client:get_blob(base.repository, d.digest, d.size)
        end, same_registry and base.repository or nil)
      else
        local bytes = have or d.layer.blob
        if not bytes then
          return fail(client.host .. "/" .. repository, "layer " .. d.digest .. " has no bytes to push", "MissingLayer")
        end
        job(d.digest, bytes)
      end
    end
    job(p.config.digest, p.config.body)
  end
  local sem = task.semaphore(opts.parallel or 3)
  local running = {}
  for i, j in ipairs(jobs) do
    running[i] = task.spawn(function()
      return sem:with(function()
        return client:push_blob(repository, j.digest, j.source, { from = j.from, chunked = opts.chunked })
      end)
    end)
  end
  local first_err
  for _, t in ipairs(running) do
    local ok, how, err = task.join(t)
    if not ok then how, err = nil, how end
    if how then
      counts[how] = counts[how] + 1
    elseif not first_err then
      first_err = err
    end
  end
  if first_err then return nil, first_err end
  -- then the manifests, then the index (or the one manifest under the tag)
  local single = built.media_type ~= registry.OCI_INDEX
  for _, p in ipairs(built.platforms) do
    local ref = (single and opts.tag) or p.manifest.digest
    local digest, err = client:put_manifest(repository, ref, p.manifest.media_type, p.manifest.body)
    if not digest then return nil, err end
  end
  if not single then
    local digest, err = client:put_manifest(repository, opts.tag or built.digest, built.media_type, built.body)
    if not digest then return nil, err end
  end
  return { digest = built.digest, uri = client.host .. "/" .. repository .. "@" .. built.digest, blobs = counts }
end

return M
