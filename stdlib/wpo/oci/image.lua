-- oci.image: a container image built without Docker — a base image plus
-- reproducible layers of the stack repository's files (wpo.oci.layer), env
-- and labels (wpo.oci.build) — pushed to a registry repository by digest.
--
--   stack:add("oci.image", "site", {
--     base = "wordpress:6-apache",                 -- a reference; pinned by @sha256: is best
--     layers = { { from = "site/themes", to = "/usr/src/wordpress/wp-content/themes", owner = "33:33" } },
--     env = { WP_ENV = "staging" }, labels = { ["org.opencontainers.image.source"] = "..." },
--     platforms = { "linux/amd64" },               -- several: pushed as an index
--     repository = repo.repository_url,            -- "host/path", no tag, no digest
--     auth = "ecr",                                -- default for an ECR host, else "anonymous"
--   })
--   -> digest ("sha256:..") and uri ("host/path@sha256:..") for a task definition
--
-- Layers: { from, to, owner?, mode_files?, mode_dirs?, include?, optional?,
-- source? } (wpo.oci.layer's options). `from` is a directory relative to the
-- stack repository's root, read from the working tree, or from the commit
-- with --ref (uncommitted edits never get in); `source = "worktree"` reads
-- it from disk even with --ref (a directory the build prepares, ignored by
-- git); `include = "*.ini"` keeps only the files so named; `optional = true`
-- makes a missing `from` no layer rather than an error. The same files give
-- the same bytes and digests on any machine and path.
--
-- The plan (derive) builds the layers and compares their digests with the
-- state's, so unchanged content is no change and a changed file is an
-- update of this image and of what uses its uri. It computes the image's
-- digest too: offline when the base is pinned by digest and its manifests
-- and configs are in wpo's cache (<cache>/oci, content-addressed, filled on
-- the first read), else reading the base's manifest (a read). The apply
-- builds the layers again and pushes only what the plan showed: a digest
-- that differs (a file edited since the plan, a base tag moved) refuses
-- the create or update (ContentChanged).
--
-- Push: every blob of every platform, then the manifests, then the index
-- (nothing half-way), tagged "wpo-<first 16 hex of the digest>" (tag) so
-- that an ECR lifecycle rule for untagged images never expires an image in
-- use; base layers on the same registry are mounted, others copied. An
-- image already there under its tag is not sent again.
--
-- Auth: "ecr" — GetAuthorizationToken of the repository's account (the
-- registry is reached at the token's proxy endpoint); "basic" — the
-- credentials in $WPO_REGISTRY_USERNAME and $WPO_REGISTRY_PASSWORD (never
-- in the stack file); "anonymous". The base is read with the same client
-- when it lives on the repository's registry, else anonymously (Docker
-- Hub's anonymous bearer tokens).
--
-- Destroy forgets the image: images are content, a task definition revision
-- or a rollback may still name the digest, and ECR's lifecycle policy
-- expires old ones (many registries refuse deletes anyway). Refresh asks
-- the registry for the manifest: one it no longer has is pushed again.
--
-- Bad input fails the plan with one line naming the declaration (file:line):
-- a base that cannot be parsed or is missing (the registry's answer), a
-- registry refusing the credentials, a layer outside the repository or a
-- symbolic link escaping it, a file over max_layer_bytes.
local errors = require "wpo.errors"
local fs = require "wpo.core.fs"
local resource = require "wpo.resource"
local value = require "wpo.value"
local build = require "wpo.oci.build"
local layer = require "wpo.oci.layer"
local reference = require "wpo.oci.reference"
local registry = require "wpo.oci.registry"

local M = {}

M.DEFAULT_PLATFORMS = { "linux/amd64" }
M.ENV_USERNAME = "WPO_REGISTRY_USERNAME"
M.ENV_PASSWORD = "WPO_REGISTRY_PASSWORD"

local function fail(ctx, code, fmt, ...)
  errors.raise { code = code, message = string.format(fmt, ...), address = ctx.address, where = ctx.where }
end

-- the message of an error from the oci modules, one line
local function message(err)
  if errors.is(err) then
    return (err.code and err.code ~= "error" and (err.code .. ": ") or "") .. tostring(err.message)
  end
  return tostring(err)
end

-- ---- the cache of base manifests and configs (content-addressed) ----

local function cache_dir()
  local root = require("wpo.source").cache_root()
  return root and (root .. "/oci/sha256") or nil
end

local function cache_get(digest)
  local dir = cache_dir()
  if not dir or not reference.is_digest(digest) then return nil end
  local hex = digest:sub(8)
  local body = fs.read(dir .. "/" .. hex)
  if not body or registry.digest(body) ~= digest then return nil end
  return body, fs.read(dir .. "/" .. hex .. ".type")
end

local function cache_put(digest, body, media_type)
  local dir = cache_dir()
  if not dir or registry.digest(body) ~= digest then return end
  if not fs.mkdir_p(dir) then return end
  local hex = digest:sub(8)
  fs.write_atomic(dir .. "/" .. hex, body, "0644")
  if media_type then fs.write_atomic(dir .. "/" .. hex .. ".type", media_type, "0644") end
end

-- A client for read_base that answers by digest from the cache, and asks
-- the registry (connect() -> client) only for what the cache lacks.
local function caching_client(connect)
  local c = {}
  function c.get_manifest(_, repo, ref)
    if reference.is_digest(ref) then
      local body, media_type = cache_get(ref)
      if body and media_type then
        local doc = registry.decode(body)
        if type(doc) == "table" then
          return { media_type = media_type, digest = ref, size = #body, body = body, doc = doc }
        end
      end
    end
    local client, err = connect()
    if not client then return nil, err end
    local m, merr = client:get_manifest(repo, ref)
    if not m then return nil, merr end
    cache_put(m.digest, m.body, m.media_type)
    return m
  end
  function c.get_blob(_, repo, digest, size)
    local body = cache_get(digest)
    if body then return body end
    local client, err = connect()
    if not client then return nil, err end
    local b, berr = client:get_blob(repo, digest, size)
    if not b then return nil, berr end
    cache_put(digest, b)
    return b
  end
  return c
end

-- ---- registries and credentials ----

local function parse_repository(ctx, url)
  if url:find("@", 1, true) or (url:match("/([^/]*)$") or ""):find(":", 1, true) then
    fail(ctx, "InvalidImage", "repository %s: a repository URL has no tag or digest", url)
  end
  local ref, err = reference.parse(url)
  if not ref then fail(ctx, "InvalidImage", "repository: %s", message(err)) end
  ref.tag = nil
  return ref
end

-- what the plan can tell of the credentials without asking for them
local function check_auth(ctx, want)
  if want.auth == "basic" then
    local user, password = os.getenv(M.ENV_USERNAME), os.getenv(M.ENV_PASSWORD)
    if not user or user == "" or not password or password == "" then
      fail(ctx, "RegistryAuth", "auth \"basic\" takes its credentials from $%s and $%s, which are not both set",
        M.ENV_USERNAME, M.ENV_PASSWORD)
    end
  elseif want.auth == "ecr" and type(want.repository) == "string" and not value.has_unknown(want.repository) then
    local ref = parse_repository(ctx, want.repository)
    if not ref.ecr then
      fail(ctx, "InvalidImage", "auth \"ecr\" needs an ECR repository URL "
        .. "(<account>.dkr.ecr.<region>.amazonaws.com/...), not %s", ref.registry)
    end
  end
end

-- -> client, host (the registry API's host) for the repository's registry
local function repository_client(ctx, want, ref)
  local auth = want.auth or (ref.ecr and "ecr" or "anonymous")
  check_auth(ctx, { auth = auth, repository = want.repository })
  if auth == "ecr" then
    local creds, err = registry.ecr_auth(ctx:aws("ecr", { region = ref.ecr.region }), ref.ecr.account)
    if not creds then fail(ctx, "RegistryAuth", "ECR GetAuthorizationToken for %s: %s", ref.registry, message(err)) end
    -- the registry is where the token says (ECR's own host; a test registry)
    local host = ref.registry
    if type(creds.endpoint) == "string" then
      local scheme, h = creds.endpoint:match("^(https?)://([^/]+)/?$")
      if not h then fail(ctx, "RegistryAuth", "ECR answered a proxy endpoint that is not a URL") end
      host = h
      if scheme == "http" and not (h:match("^127%.0%.0%.1") or h:match("^localhost") or h:match("^%[::1%]")) then
        fail(ctx, "RegistryAuth", "ECR answered a plain-http proxy endpoint %s; wpo speaks https to it", h)
      end
    end
    return registry.new(host, { username = creds.username, password = creds.password }), host
  elseif auth == "basic" then
    return registry.new(ref.registry, { username = os.getenv(M.ENV_USERNAME), password = os.getenv(M.ENV_PASSWORD) }),
      ref.registry
  end
  return registry.new(ref.registry), ref.registry
end

-- ---- layers ----

local function source_of(ctx, spec)
  local src = ctx.source
  if spec.source == "worktree" or not src then
    local root = (src and src.root) or ctx.root
    if not root then fail(ctx, "InvalidImage", "the stack's directory is unknown: no layer can be read") end
    return root
  end
  if src.kind == "commit" then return src end
  return src.root
end

-- the layers, in order (an optional one whose directory is missing is none);
-- keep_blobs: the gzip bytes too (to push), else only what the plan compares
local function build_layers(ctx, want, keep_blobs)
  local out = {}
  for i, spec in ipairs(want.layers or {}) do
    local ok, l, err = pcall(layer.build, { source = source_of(ctx, spec), from = spec.from, to = spec.to,
      owner = spec.owner or "0:0", mode_files = spec.mode_files, mode_dirs = spec.mode_dirs, include = spec.include,
      max_bytes = want.max_layer_bytes })
    if not ok then fail(ctx, "InvalidLayer", "layers[%d] (%s): %s", i, spec.from, tostring(l)) end
    if not l then
      if not (spec.optional and errors.is(err) and err.missing) then
        fail(ctx, errors.is(err) and err.code or "InvalidLayer", "layers[%d] (%s): %s", i, spec.from,
          errors.is(err) and err.message or tostring(err))
      end
    else
      if not keep_blobs then l.blob = nil end
      out[#out + 1] = l
    end
  end
  return out
end

-- ---- the image ----

local function base_ref(ctx, want)
  local ref, err = reference.parse(want.base)
  if not ref then fail(ctx, "InvalidImage", "base: %s", message(err)) end
  return ref
end

-- a client for the base's registry: the repository's when they share one
local function base_connector(ctx, want, bref)
  local client
  return function()
    if client then return client end
    if ctx.offline then return nil, "offline" end
    local repo_ref = not value.has_unknown(want.repository) and want.repository
      and parse_repository(ctx, want.repository)
    if repo_ref and repo_ref.registry == bref.registry then
      client = repository_client(ctx, want, repo_ref)
    elseif bref.ecr then
      local creds, err = registry.ecr_auth(ctx:aws("ecr", { region = bref.ecr.region }), bref.ecr.account)
      if not creds then fail(ctx, "RegistryAuth", "ECR GetAuthorizationToken for the base: %s", message(err)) end
      client = registry.new(bref.registry, { username = creds.username, password = creds.password })
    else
      client = registry.new(bref.registry)
    end
    return client
  end
end

local function read_base(ctx, want, bref, connect)
  local base, err = build.read_base(caching_client(connect), bref, want.platforms or M.DEFAULT_PLATFORMS)
  if not base then
    if err == "offline" then return nil end
    fail(ctx, "BaseImage", "base %s: %s", want.base, message(err))
  end
  return base
end

local function spec_of(want, layers)
  return { layers = layers, env = want.env, labels = want.labels }
end

local function digests(layers)
  local out = {}
  for i, l in ipairs(layers) do out[i] = l.digest end
  return out
end

local function tag_of(want, digest)
  return want.tag or ("wpo-" .. digest:sub(8, 23))
end

local INPUTS = { "base", "layers", "env", "labels", "platforms", "max_layer_bytes" }

function M.derive(ctx, after)
  check_auth(ctx, after)
  for _, name in ipairs(INPUTS) do
    if value.has_unknown(after[name]) then
      after.layer_digests, after.digest, after.uri = value.UNKNOWN, value.UNKNOWN, value.UNKNOWN
      return
    end
  end
  local bref = base_ref(ctx, after)
  local layers = build_layers(ctx, after)
  after.layer_digests = digests(layers)
  local base = read_base(ctx, after, bref, base_connector(ctx, after, bref))
  if not base then
    after.digest, after.uri = value.UNKNOWN, value.UNKNOWN
    return
  end
  local built, err = build.assemble(base, spec_of(after, layers))
  if not built then fail(ctx, "InvalidImage", "%s", message(err)) end
  after.digest = built.digest
  if value.has_unknown(after.repository) then
    after.uri = value.UNKNOWN
  else
    parse_repository(ctx, after.repository)
    after.uri = after.repository .. "@" .. built.digest
  end
end

local function push(ctx, want)
  local bref = base_ref(ctx, want)
  local layers = build_layers(ctx, want, true)
  local rref = parse_repository(ctx, want.repository)
  local client, host = repository_client(ctx, want, rref)
  local base_client
  if bref.registry == rref.registry or bref.registry == host then base_client = client end
  local connect = base_connector(ctx, want, bref)
  local base = read_base(ctx, want, bref, function()
    if base_client then return base_client end
    return connect()
  end)
  local built, err = build.assemble(base, spec_of(want, layers))
  if not built then fail(ctx, "InvalidImage", "%s", message(err)) end
  -- what the plan showed (its derive), or nothing
  if want.digest and want.digest ~= built.digest then
    local what = "its base"
    for i, l in ipairs(layers) do
      if want.layer_digests and want.layer_digests[i] ~= l.digest then what = "layers[" .. i .. "]'s files" break end
    end
    fail(ctx, "ContentChanged", "the image would be %s, not the %s the plan showed: %s changed since the plan "
      .. "(plan again)", built.digest, want.digest, what)
  end
  local tag = tag_of(want, built.digest)
  -- already there under its tag (a create run again, an immutable tag): nothing to send
  local have = client:get_manifest(rref.repository, tag)
  if have and have.digest == built.digest then
    ctx:log("%s is already in %s/%s", built.digest, host, rref.repository)
  else
    local out, perr = build.push(client, rref.repository, built, { tag = tag, base_client = base_client or connect() })
    if not out then fail(ctx, "PushFailed", "pushing to %s/%s: %s", host, rref.repository, message(perr)) end
    ctx:log("pushed %s (%d blobs uploaded, %d mounted, %d already there)", built.digest, out.blobs.uploaded,
      out.blobs.mounted, out.blobs.exists)
  end
  local uri = want.repository .. "@" .. built.digest
  return { id = uri, uri = uri, digest = built.digest, layer_digests = digests(layers) }
end

M.type = resource.define "oci.image" {
  description = "a container image: a base image plus layers of the stack repository's files, pushed by digest",
  attributes = {
    base = { type = "string", required = true, description = "the base image reference (pin it: name@sha256:...)" },
    repository = { type = "string", required = true,
      description = "the registry repository URL (an ECR repository's repository_url), no tag" },
    layers = { type = "list", description = "layers of the stack repository's files, in order: { from (a directory of the "
      .. "repository), to (absolute, in the image), owner (\"UID:GID\"), mode_files, mode_dirs, include (a file-name "
      .. "glob), optional (a missing from is no layer), source (\"worktree\": from disk even with --ref) }", of = {
      type = "object", fields = {
        from = { type = "string", required = true }, to = { type = "string", required = true },
        owner = { type = "string" }, mode_files = { type = "integer" }, mode_dirs = { type = "integer" },
        source = { type = "string", choices = { "stack", "worktree" } },
        include = { type = "string" }, optional = { type = "boolean" },
      } } },
    env = { type = "map", of = "string", description = "merged into the base's environment" },
    labels = { type = "map", of = "string", description = "merged into the base's labels" },
    platforms = { type = "list", of = "string", default = M.DEFAULT_PLATFORMS,
      description = "the base's platforms to build (several: an index)" },
    auth = { type = "string", choices = { "ecr", "anonymous", "basic" },
      description = "ecr (default for an ECR host), anonymous (default otherwise), or basic from "
        .. M.ENV_USERNAME .. "/" .. M.ENV_PASSWORD },
    tag = { type = "string", description = "the tag pushed with the image (default wpo-<16 hex of the digest>)" },
    max_layer_bytes = { type = "integer", description = "any one file and any one layer at most (default 512 MiB)" },
    layer_digests = { type = "list", of = "string", computed = true, description = "each layer's digest" },
    digest = { type = "string", computed = true, description = "the image's (or index's) digest" },
    uri = { type = "string", computed = true, description = "repository@digest, for a task definition" },
  },
  outputs = { "id" },
  iam = {
    create = { "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
      "ecr:PutImage" },
    update = { "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
      "ecr:PutImage" },
    read = { "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer" },
  },

  derive = M.derive,

  create = function(ctx, want)
    return push(ctx, want)
  end,

  update = function(ctx, _, _, new)
    return push(ctx, new)
  end,

  -- images are content: the state's record stands while the registry has
  -- the digest; gone (a lifecycle rule expired it), it is pushed again
  read = function(ctx, id, prior)
    local repo_url, digest = tostring(id):match("^(.-)@(sha256:%x+)$")
    if not repo_url then return { id = id } end
    local rref = parse_repository(ctx, repo_url)
    local client, host = repository_client(ctx, { auth = prior and prior.inputs.auth, repository = repo_url }, rref)
    local m, err = client:get_manifest(rref.repository, digest)
    if m then return { id = id } end
    if errors.is(err) and (err.status == 404 or err.code == "MANIFEST_UNKNOWN") then return nil end
    fail(ctx, "RegistryError", "reading %s/%s@%s: %s", host, rref.repository, digest, message(err))
  end,

  -- forgotten, not deleted (see the header)
  delete = function() end,
}

return M.type
