-- bench/oci_push_bench.lua — pushing an image to a registry: wpo.oci.build.push
-- beside Debian's `skopeo copy` of the same image, in the same run, against
-- Debian's docker-registry on 127.0.0.1 (tests/lua/ociregistry.lua).
--   wpo lua bench/oci_push_bench.lua [--base-mb 50] [--layer-mb 5]
-- The image: a base of one layer of --base-mb (random bytes, so nothing
-- compresses them away), made here, plus a content layer of --layer-mb, one
-- platform. wpo pushes it to repository wpo-bench from memory; skopeo copies
-- it from an OCI layout directory (written first, not timed) to skopeo-bench.
-- Both start from an empty repository. Then wpo pushes again: every blob is
-- there, so it must send none (HEAD only).
-- Goal: wpo <= skopeo; second push: 0 blobs sent.
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. package.path

local crypto = require "wpo.core.crypto"
local loop = require "wpo.core.loop"
local json = require "wpo.json"
local ociregistry = require "ociregistry"
local ocitest = require "ocitest"
local registry = require "wpo.oci.registry"
local image = require "wpo.oci.build"

local BASE_MB, LAYER_MB = 50, 5
for i = 1, #arg do
  if arg[i] == "--base-mb" then BASE_MB = tonumber(arg[i + 1]) end
  if arg[i] == "--layer-mb" then LAYER_MB = tonumber(arg[i + 1]) end
end

local function random_layer(name, mb)
  return ocitest.layer { { name, crypto.random(mb * 1024 * 1024) } }
end

-- the base, as image.read_base would have it
local base_layer = random_layer("base.bin", BASE_MB)
local config = json.encode({ architecture = "amd64", os = "linux", created = "2020-01-01T00:00:00Z",
  config = { Env = json.array({ "PATH=/usr/bin:/bin" }) },
  rootfs = { type = "layers", diff_ids = json.array({ base_layer.diff_id }) } })
local manifest = json.encode({ schemaVersion = 2, mediaType = registry.OCI_MANIFEST,
  config = { mediaType = "application/vnd.oci.image.config.v1+json", digest = registry.digest(config), size = #config },
  layers = json.array({ { mediaType = base_layer.media_type, digest = base_layer.digest, size = base_layer.size } }) })
local base = { repository = "bench-base", index = false,
  platforms = { { platform = "linux/amd64", manifest = manifest, config = config } } }
local content = random_layer("content.bin", LAYER_MB)
local built = assert(image.assemble(base, { layers = { content }, env = { SITE = "bench" } }))

local reg <close> = ociregistry.start()
local dir = os.tmpname()
os.remove(dir)
ocitest.oci_layout(dir, built, { [base_layer.digest] = base_layer.blob, [content.digest] = content.blob })

local function seconds(ms) return string.format("%.2f s", ms / 1000) end

local t0 = loop.now()
local ok = os.execute("skopeo copy -q --dest-tls-verify=false oci:" .. dir .. ":latest docker://" .. reg.host ..
  "/skopeo-bench:latest")
local skopeo_ms = loop.now() - t0
os.execute("rm -rf '" .. dir .. "'")
assert(ok, "skopeo copy failed")

local c = registry.new(reg.host)
t0 = loop.now()
local res = assert(image.push(c, "wpo-bench", built, { tag = "latest",
  layers_by_digest = { [base_layer.digest] = base_layer.blob } }))
local wpo_ms = loop.now() - t0
assert(res.digest == built.digest)

local uploads = c.stats.blob_uploads
t0 = loop.now()
local again = assert(image.push(c, "wpo-bench", built, { tag = "latest",
  layers_by_digest = { [base_layer.digest] = base_layer.blob } }))
local again_ms = loop.now() - t0
local sent = c.stats.blob_uploads - uploads

print(string.format("image: %d MB base layer + %d MB layer, 1 platform, digest %s", BASE_MB, LAYER_MB, res.digest))
print(string.format("skopeo copy (oci: -> docker://127.0.0.1)  %s", seconds(skopeo_ms)))
print(string.format("wpo image.push                            %s   goal: <= skopeo: %s", seconds(wpo_ms),
  wpo_ms <= skopeo_ms and "met" or "NOT MET"))
print(string.format("wpo second push                           %s   blobs sent: %d (goal 0: %s), exists: %d",
  seconds(again_ms), sent, sent == 0 and "met" or "NOT MET", again.blobs.exists))
