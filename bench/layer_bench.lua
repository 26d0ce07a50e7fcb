-- Building an image layer (wpo.oci.layer) of about 50 MB: 400 files of
-- 100 KB and one of 10 MB, half base64 of random bytes (compresses to ~75%)
-- and half text with some repetition; then one file of 50 MB (base64 of
-- random bytes). Made in /tmp by the bench (not timed).
-- The build runs in a process of its own, which reports its wall time and
-- peak RSS (VmHWM); the figures are printed beside the goals:
--   throughput >= 20 MB of tar per CPU second (level 6 gzip is most of it;
--   CPU time, so a loaded machine does not skew it: wall time is printed too)
--   the build's CPU time <= 1.5x that of zlib.gzip alone over the same tar
--   (reading, tar headers and the two SHA-256 cost the rest)
--   peak RSS over the idle process <= 2.5x the layer's tar size (files are
--   read one at a time, a large one in slices; the tar streams through its
--   hash and the compressor, whose output grows in one C buffer copied out
--   once: about the gzip twice at the end)
--   ./wpo lua bench/layer_bench.lua [MB]
local MB = tonumber(arg and arg[1]) or 50
local GOAL_MBPS, GOAL_OVERHEAD, GOAL_RSS_RATIO = 20, 1.5, 2.5

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, "failed: " .. cmd)
  return out
end

local wpo = os.getenv("WPO") or "./wpo"
local dir = sh("mktemp -d"):gsub("%s+$", "")
assert(dir:match("^/tmp/"), "mktemp failed")

-- the files: (MB - 10) MB of 100 KB files, then one 10 MB file
local small = math.max(1, (MB - 10) * 10)
sh(string.format([[
set -e
cd %s && mkdir -p site/themes
i=0
while [ $i -lt %d ]; do
  d=site/themes/t$((i / 50))
  mkdir -p $d
  if [ $((i %% 2)) -eq 0 ]; then
    head -c 76800 /dev/urandom | base64 -w 76 > $d/f$i.js
  else
    seq $((i * 1000)) $((i * 1000 + 16000)) | sed 's/$/ wp_enqueue_style( get_stylesheet_uri() );/' | head -c 102400 > $d/f$i.php
  fi
  i=$((i + 1))
done
head -c 7680000 /dev/urandom | base64 -w 76 > site/themes/big.bin
mkdir -p site/one && head -c %d /dev/urandom | base64 -w 76 > site/one/whole.bin
]], q(dir), small, MB * 1048576 * 3 // 4))

local probe = dir .. "/probe.lua"
local f = assert(io.open(probe, "w"))
f:write(string.format([[
local layer = require "wpo.oci.layer"
local loop = require "wpo.core.loop"
local t0, c0 = loop.now(), os.clock()
local l = assert(layer.build { source = %q, from = arg[1],
  to = "/usr/src/wordpress/wp-content/themes", owner = "33:33" })
local t1, c1 = loop.now(), os.clock()
local GZ, FILES = l.size, l.files
local s = io.open("/proc/self/status"):read("a")
-- then, for comparison, zlib alone over the same tar
local zlib = require "wpo.core.zlib"
local tar = assert(zlib.gunzip(l.blob))
l = nil
local c2 = os.clock()
zlib.gzip(tar)
local c3 = os.clock()
print(string.format("SECS=%%f TAR=%%d GZ=%%d FILES=%%d VmHWM_KB=%%s CPU=%%f GZIP_CPU=%%f", (t1 - t0) / 1000, #tar, GZ,
  FILES, s:match("VmHWM:%%s*(%%d+)"), c1 - c0, c3 - c2))
]], dir))
f:close()

-- the same process without building: the interpreter's own footprint
local base = dir .. "/base.lua"
f = assert(io.open(base, "w"))
f:write([[
require "wpo.oci.layer"
print("VmHWM_KB=" .. io.open("/proc/self/status"):read("a"):match("VmHWM:%s*(%d+)"))
]])
f:close()

local base_kb = tonumber(sh(q(wpo) .. " lua " .. q(base)):match("VmHWM_KB=(%d+)"))
local missed = false

local function measure(from, what)
  local out = sh(q(wpo) .. " lua " .. q(probe) .. " " .. q(from))
  local secs, tar, gz, files, kb, cpu, gzip_cpu =
    out:match("SECS=([%d.]+) TAR=(%d+) GZ=(%d+) FILES=(%d+) VmHWM_KB=(%d+) CPU=([%d.]+) GZIP_CPU=([%d.]+)")
  assert(secs, "the build did not report: " .. out)
  secs, tar, gz, kb = tonumber(secs), tonumber(tar), tonumber(gz), tonumber(kb)
  cpu, gzip_cpu = tonumber(cpu), tonumber(gzip_cpu)
  local tar_mb = tar / 1048576
  local mbps = tar_mb / cpu
  local overhead = cpu / gzip_cpu
  local rss_mb, grown_mb = kb / 1024, (kb - base_kb) / 1024
  local ratio = grown_mb / tar_mb
  print(string.format("%s: %s files, %.1f MB tar -> %.1f MB gzip: %.2f s wall (%.1f MB/s), %.2f s CPU: " ..
    "%.1f MB/s (goal >= %d MB/s)", what, files, tar_mb, gz / 1048576, secs, tar_mb / secs, cpu, mbps, GOAL_MBPS))
  print(string.format("  CPU: zlib.gzip alone over the same tar %.2f s (%.1f MB/s): the build %.2fx (goal <= %.1fx)",
    gzip_cpu, tar_mb / gzip_cpu, overhead, GOAL_OVERHEAD))
  print(string.format("  peak RSS %.1f MB (%.1f MB over the idle %.1f MB) = %.2fx the tar (goal <= %.1fx)",
    rss_mb, grown_mb, base_kb / 1024, ratio, GOAL_RSS_RATIO))
  if mbps < GOAL_MBPS or overhead > GOAL_OVERHEAD or ratio > GOAL_RSS_RATIO then missed = true end
end

measure("site/themes", "many files")
measure("site/one", "one file")
os.execute("rm -rf " .. q(dir))
if missed then print("goal missed") end
