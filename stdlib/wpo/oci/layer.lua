-- wpo.oci.layer: one reproducible OCI image layer (a gzip'd POSIX tar) made
-- from a directory of the stack's repository, as it is in the working tree
-- or at a commit.
--
-- layer.build{
--   source     = SOURCE,                 -- see below
--   from       = "site/themes",          -- a directory, relative to the repository root
--   to         = "/usr/src/wordpress/wp-content/themes",  -- absolute, in the image
--   owner      = "33:33",                -- "UID:GID" or a number (both); default "0:0"
--   mode_dirs  = 493 (0755),             -- directories at and under `to`
--   mode_files = 420 (0644),             -- regular files; an executable file
--                                        -- (any x bit on disk, 100755 in git) gets
--                                        -- x where mode_files has r (0644 -> 0755,
--                                        -- 0640 -> 0750)
--   mtime      = 0,                      -- every entry's mtime
--   max_bytes  = 512 MiB,                -- any one file, and the whole tar
--   include    = "*.ini",                -- only the files and links whose name
--                                        -- matches this glob (* and ?; directories
--                                        -- are kept); default every file
-- } -> layer | nil, err
-- layer = { media_type = layer.MEDIA_TYPE, digest = "sha256:<hex of blob>",
--           diff_id = "sha256:<hex of the tar>", size = #blob, blob = gzip bytes,
--           files = regular files, entries = tar entries, tar_size = tar bytes }
--
-- SOURCE is where the files come from:
--   a string                      a directory on disk (the working tree's root)
--   { kind = "worktree", root }   the same (a wpo.git source of the working tree)
--   { kind = "commit", repo, commit }  the object database at a commit (a
--                                 wpo.git source at --ref): uncommitted edits
--                                 never get in
-- The tar: ustar entries sorted by path (bytewise), a pax header only for a
-- path over 100/155 bytes or a link target over 100; the directories above
-- `to` (0755, owner 0:0, so the image's /usr keeps root's ownership), then
-- `to` and everything under `from` with `owner`; uname/gname empty, no
-- atime/ctime, devmajor/minor 0. Symbolic links whose target resolves inside
-- `from` (following the links inside it) are kept as links. ".git" entries
-- are left out.
-- Refusals (nil, err; one line naming the path): `from` absolute or with
-- "..", or missing, or not a directory, or (on disk) leading out of the
-- repository through a link; a file that changes while read (LayerSource);
-- a link escaping `from` (LayerLinkEscapes); a device, fifo, socket or
-- submodule (LayerSpecialFile); a file or the layer over max_bytes
-- (LayerTooLarge).
-- Misuse (an unknown option, a wrong type) raises.
--
-- Memory: files are read one at a time (a large one on disk in 1 MB slices);
-- the tar streams through SHA-256 and the compressor, whose output grows in
-- one C buffer copied out once as blob (bench/layer_bench.lua: peak RSS
-- 1.1x the tar for 400 files, 1.7x for one 50 MB file).
-- Inside a wpo.task the build lets other tasks run after every
-- M.YIELD_BYTES of tar, and ends with code "Cancelled" when its task is.
-- From the working tree, untracked and ignored files are files like any
-- other: only a commit source leaves out what is not committed.
local errors = require "wpo.errors"
local fs = require "wpo.core.fs"
local gitcore = require "wpo.core.git"
local crypto = require "wpo.core.crypto"
local zlib = require "wpo.core.zlib"

local M = {}

M.MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
M.DEFAULT_MAX_BYTES = 512 * 1024 * 1024
M.LEVEL = 6
M.YIELD_BYTES = 4 * 1024 * 1024   -- inside a task, other tasks run after each this many tar bytes

local OPTIONS = { source = true, from = true, to = true, owner = true, mode_dirs = true,
                  mode_files = true, mtime = true, max_bytes = true, include = true }
local OPTION_LIST = "from, include, max_bytes, mode_dirs, mode_files, mtime, owner, source, to"

local GIT_EXECUTABLE = tonumber("100755", 8)
local FLUSH_AT = 256 * 1024
local SLICE = 1024 * 1024
local BIG_FILE = 4 * 1024 * 1024
local GC_EVERY = 16 * 1024 * 1024
local MAX_LINK_HOPS = 40

local function fail(code, fmt, ...)
  return nil, errors.new { code = code, message = string.format(fmt, ...) }
end

local function split(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do parts[#parts + 1] = part end
  return parts
end

-- ---------------------------------------------------------------- sources

-- A reader lists a directory and reads files; paths are relative to the
-- repository root, "" for the root. Each entry: { name, type = "file" |
-- "dir" | "link" | "special", exec, target, special }.
local function worktree_reader(root)
  local r = { where = "the working tree (" .. root .. ")" }
  local function full(rel) return rel == "" and root or root .. "/" .. rel end
  function r.dir_kind(rel)
    local st, err, code = fs.lstat(full(rel))
    if not st then return nil, code == "ENOENT" and "missing" or err end
    -- a link on the way (or `from` itself) must not lead out of the repository
    local real, rroot = gitcore.realpath(full(rel)), gitcore.realpath(root)
    if not real or not rroot or (real ~= rroot and real:sub(1, #rroot + 1) ~= rroot .. "/") then
      return nil, "resolves outside the repository (" .. tostring(real) .. ")"
    end
    st = fs.stat(real)
    return st and st.type == "directory" and "dir" or (st and st.type or "missing")
  end
  function r.list(rel)
    local names, err = fs.list(full(rel))
    if not names then return nil, err end
    local out = {}
    for _, name in ipairs(names) do
      local path = rel == "" and name or rel .. "/" .. name
      local st, serr = fs.lstat(full(path))
      if not st then return nil, serr end
      local e = { name = name }
      if st.type == "file" then
        e.type, e.exec, e.size = "file", st.mode & 73 ~= 0, st.size
      elseif st.type == "directory" then
        e.type = "dir"
      elseif st.type == "link" then
        e.type, e.target = "link", st.target
      else
        e.type, e.special = "special", st.special or "special file"
      end
      out[#out + 1] = e
    end
    return out
  end
  function r.read(rel, max)
    return fs.read(full(rel), max)
  end
  -- a large file, SLICE bytes at a time to fn: never whole in memory; true,
  -- or nil, why when it cannot be read or does not hold size bytes now
  function r.stream(rel, size, fn)
    local f, err = io.open(full(rel), "rb")
    if not f then return nil, "cannot read: " .. tostring(err) end
    local total = 0
    while total <= size do
      local piece = f:read(SLICE)
      if not piece then break end
      total = total + #piece
      if total <= size then fn(piece) end
    end
    f:close()
    if total ~= size then return nil, string.format("changed while it was read (%d bytes when listed)", size) end
    return true
  end
  return r
end

local function commit_reader(repo, commit)
  local r = { where = "commit " .. commit:sub(1, 7) }
  function r.dir_kind(rel)
    if rel == "" then return "dir" end
    local entries, err, code = repo:list(commit, rel)
    if entries then return "dir" end
    if code == "ENOENT" then return nil, "missing" end
    if code == "git" then return "file" end
    return nil, err
  end
  function r.list(rel)
    local entries, err = repo:list(commit, rel)
    if not entries then return nil, err end
    local out = {}
    for _, ent in ipairs(entries) do
      local e = { name = ent.name }
      local path = rel == "" and ent.name or rel .. "/" .. ent.name
      if ent.kind == "file" then
        e.type, e.exec = "file", ent.mode == GIT_EXECUTABLE
      elseif ent.kind == "dir" then
        e.type = "dir"
      elseif ent.kind == "link" then
        local target, lerr = repo:readlink(commit, path)
        if not target then return nil, lerr end
        e.type, e.target = "link", target
      else
        e.type, e.special = "special", "submodule"
      end
      out[#out + 1] = e
    end
    return out
  end
  function r.read(rel, max)
    return repo:read(commit, rel, max)
  end
  return r
end

local function reader_for(source)
  if type(source) == "string" then return worktree_reader((source:gsub("(.)/+$", "%1"))) end
  if type(source) == "table" then
    local kind = rawget(source, "kind")
    if kind == "worktree" and type(rawget(source, "root")) == "string" then
      return worktree_reader((rawget(source, "root"):gsub("(.)/+$", "%1")))
    end
    if kind == "commit" and rawget(source, "repo") and type(rawget(source, "commit")) == "string" then
      return commit_reader(rawget(source, "repo"), rawget(source, "commit"))
    end
  end
  error("layer.build: source must be a directory path, { kind = 'worktree', root = DIR } " ..
        "or { kind = 'commit', repo = REPO, commit = ID } (a wpo.git source)", 3)
end

-- ---------------------------------------------------------------- the walk

-- Every entry under from: { rel (relative to from), type, exec, target },
-- or nil, err for the first thing refused.
local function walk(reader, from)
  local out = {}
  local function visit(rel)
    local full = from == "" and rel or (rel == "" and from or from .. "/" .. rel)
    local entries, err = reader.list(full)
    if not entries then return fail("LayerSource", "%s: cannot list: %s", full, tostring(err)) end
    for _, e in ipairs(entries) do
      if e.name ~= ".git" then
        local path = rel == "" and e.name or rel .. "/" .. e.name
        local shown = from == "" and path or from .. "/" .. path
        if e.type == "special" then
          return fail("LayerSpecialFile", "%s: is a %s; a layer holds files, directories and links only",
            shown, e.special)
        end
        out[#out + 1] = { rel = path, type = e.type, exec = e.exec, target = e.target, size = e.size }
        if e.type == "dir" then
          local ok, verr = visit(path)
          if not ok then return nil, verr end
        end
      end
    end
    return true
  end
  local ok, err = visit("")
  if not ok then return nil, err end
  return out
end

-- Whether the link at rel (relative to from) resolves inside from, following
-- the links among entries (by rel) as the kernel would.
local function link_stays_inside(rel, target, by_rel)
  if target:sub(1, 1) == "/" then return false, "its target is absolute" end
  local stack = split(rel)
  stack[#stack] = nil   -- the link's directory
  local pending = split(target)
  local hops = 0
  local i = 1
  while i <= #pending do
    local part = pending[i]
    i = i + 1
    if part == ".." then
      if #stack == 0 then return false, "its target leaves the directory" end
      stack[#stack] = nil
    elseif part ~= "." then
      stack[#stack + 1] = part
      local e = by_rel[table.concat(stack, "/")]
      if e and e.type == "link" then
        hops = hops + 1
        if hops > MAX_LINK_HOPS then return false, "too many levels of links" end
        if e.target:sub(1, 1) == "/" then return false, "it leads through an absolute link" end
        stack[#stack] = nil
        local rest = split(e.target)
        for j = i, #pending do rest[#rest + 1] = pending[j] end
        pending, i = rest, 1
      end
    end
  end
  return true
end

-- ---------------------------------------------------------------- tar

local function field(s, width)
  return s .. ("\0"):rep(width - #s)
end

local function octal(n, width)
  local s = string.format("%0" .. (width - 1) .. "o", n)
  assert(#s == width - 1, "tar: number too large for its field")
  return s .. "\0"
end

local function checksum(h)
  local sum = 0
  for i = 1, #h, 64 do
    local bytes = { h:byte(i, i + 63) }
    for j = 1, #bytes do sum = sum + bytes[j] end
  end
  return sum
end

-- One 512-byte ustar header.
local function ustar(e)
  local h = table.concat {
    field(e.name, 100), octal(e.mode, 8), octal(e.uid, 8), octal(e.gid, 8),
    octal(e.size or 0, 12), octal(e.mtime, 12), "        ", e.typeflag,
    field(e.linkname or "", 100), "ustar\0", "00", field("", 32), field("", 32),
    octal(0, 8), octal(0, 8), field(e.prefix or "", 155), ("\0"):rep(12),
  }
  return h:sub(1, 148) .. string.format("%06o\0 ", checksum(h)) .. h:sub(157)
end

-- name into ustar's prefix and name, or nil when it does not fit
local function split_name(name)
  if #name <= 100 then return "", name end
  local best
  for i = 1, math.min(#name - 1, 156) do
    if name:byte(i) == 47 and i - 1 <= 155 and #name - i <= 100 and #name - i > 0 then best = i end
  end
  if not best then return nil end
  return name:sub(1, best - 1), name:sub(best + 1)
end

local function pax_record(key, value)
  local body = " " .. key .. "=" .. value .. "\n"
  local n = #body + 1
  while #tostring(n) + #body ~= n do n = #tostring(n) + #body end
  return n .. body
end

local function padding(size)
  local r = size % 512
  return r == 0 and "" or ("\0"):rep(512 - r)
end

-- The header bytes of one entry (a pax header before it when needed).
local function entry_header(e)
  local records = {}
  local prefix, name = split_name(e.path)
  if not prefix then
    records[#records + 1] = pax_record("path", e.path)
    prefix, name = "", e.path:sub(-100):gsub("^/+", "")
  end
  local linkname = e.linkname
  if linkname and #linkname > 100 then
    records[#records + 1] = pax_record("linkpath", linkname)
    linkname = linkname:sub(1, 100)
  end
  local h = ustar { name = name, prefix = prefix, mode = e.mode, uid = e.uid, gid = e.gid,
                    size = e.size, mtime = e.mtime, typeflag = e.typeflag, linkname = linkname }
  if #records == 0 then return h end
  local pax = table.concat(records)
  return ustar { name = "././@PaxHeader", mode = 420, uid = e.uid, gid = e.gid, size = #pax,
                 mtime = e.mtime, typeflag = "x" } .. pax .. padding(#pax) .. h
end

-- ---------------------------------------------------------------- options

local function check_options(opts)
  if type(opts) ~= "table" then error("layer.build: expects a table of options", 3) end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      error(string.format("layer.build: unknown option '%s' (valid: %s)", tostring(k), OPTION_LIST), 3)
    end
  end
  if type(opts.from) ~= "string" then error("layer.build: from must be a string (a directory of the repository)", 3) end
  if type(opts.to) ~= "string" or opts.to:sub(1, 1) ~= "/" then
    error("layer.build: to must be an absolute path in the image", 3)
  end
  for _, part in ipairs(split(opts.to)) do
    if part == ".." or part == "." then error("layer.build: to must not hold '.' or '..': " .. opts.to, 3) end
  end
  local uid, gid = 0, 0
  if type(opts.owner) == "number" and math.type(opts.owner) == "integer" then
    uid, gid = opts.owner, opts.owner
  elseif type(opts.owner) == "string" then
    local u, g = opts.owner:match("^(%d+):(%d+)$")
    if not u then error("layer.build: owner must be 'UID:GID' (numbers), got '" .. opts.owner .. "'", 3) end
    uid, gid = tonumber(u), tonumber(g)
  elseif opts.owner ~= nil then
    error("layer.build: owner must be 'UID:GID' or an integer", 3)
  end
  if uid > 2097151 or gid > 2097151 then error("layer.build: owner ids must be below 2097152", 3) end
  local function mode(v, default, name)
    if v == nil then return default end
    if math.type(v) ~= "integer" or v < 0 or v > 4095 then
      error("layer.build: " .. name .. " must be an integer mode (e.g. tonumber('755', 8))", 3)
    end
    return v
  end
  local mtime = opts.mtime or 0
  if math.type(mtime) ~= "integer" or mtime < 0 or mtime > 8589934591 then
    error("layer.build: mtime must be an integer number of seconds >= 0", 3)
  end
  local max = opts.max_bytes or M.DEFAULT_MAX_BYTES
  if math.type(max) ~= "integer" or max <= 0 or max > 8589934591 then
    error("layer.build: max_bytes must be a positive integer below 8 GiB (ustar's size field)", 3)
  end
  local include
  if opts.include ~= nil then
    if type(opts.include) ~= "string" or opts.include == "" or opts.include:find("/", 1, true) then
      error("layer.build: include must be a glob of file names such as '*.ini' (no '/')", 3)
    end
    include = "^" .. opts.include:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
  end
  return { uid = uid, gid = gid, mode_dirs = mode(opts.mode_dirs, 493, "mode_dirs"),
           mode_files = mode(opts.mode_files, 420, "mode_files"), mtime = mtime, max = max, include = include }
end

-- ---------------------------------------------------------------- build

-- The tar stream: pieces are hashed and compressed as they come; only the
-- compressed chunks are kept.
local function new_sink(max)
  -- keep: the compressed stream grows in one C buffer, returned by finish
  local sink = { tar = crypto.sha256_new(), z = zlib.deflater(M.LEVEL, true),
                 pending = {}, pending_size = 0, size = 0, max = max, churn = 0 }
  function sink.flush()
    local data = #sink.pending == 1 and sink.pending[1] or table.concat(sink.pending)
    sink.pending, sink.pending_size = {}, 0
    sink.tar:update(data)
    sink.z:write(data)
    -- what went through is garbage: collect it every GC_EVERY bytes, or the
    -- collector lets the heap grow to twice what is kept first
    sink.churn = sink.churn + #data
    if sink.churn >= GC_EVERY then
      sink.churn = 0
      collectgarbage()
    end
  end
  function sink.add(data)
    sink.size = sink.size + #data
    if #data >= FLUSH_AT then   -- a large piece goes through in slices
      if #sink.pending > 0 then sink.flush() end
      for i = 1, #data, SLICE do
        sink.pending[1], sink.pending_size = i == 1 and #data <= SLICE and data or data:sub(i, i + SLICE - 1), 0
        sink.flush()
      end
      return
    end
    sink.pending[#sink.pending + 1] = data
    sink.pending_size = sink.pending_size + #data
    if sink.pending_size >= FLUSH_AT then sink.flush() end
  end
  -- the end: diff_id (raw), the gzip stream
  function sink.finish()
    sink.flush()
    collectgarbage()   -- the last file's bytes, before the stream is copied out
    return sink.tar:digest(), sink.z:finish()
  end
  function sink.close()
    sink.z:close()
    sink.tar:close()
  end
  return sink
end

-- layer.build(opts) -> layer | nil, err (see the header)
function M.build(opts)
  local o = check_options(opts)
  local reader = reader_for(opts.source)
  local from = opts.from:gsub("/+$", ""):gsub("^%./", "")
  if from == "." then from = "" end
  if from:sub(1, 1) == "/" then
    return fail("LayerSource", "from %s: is absolute; give a directory relative to the repository root", opts.from)
  end
  for _, part in ipairs(split(from)) do
    if part == ".." then
      return fail("LayerSource", "from %s: goes outside the repository ('..')", opts.from)
    end
  end
  local kind, kerr = reader.dir_kind(from)
  if not kind then
    if kerr == "missing" then
      local _, err = fail("LayerSource", "from %s: no such directory in %s", opts.from, reader.where)
      err.missing = true    -- for a caller whose layer is optional
      return nil, err
    end
    return fail("LayerSource", "from %s: %s", opts.from, tostring(kerr))
  end
  if kind ~= "dir" then
    return fail("LayerSource", "from %s: is not a directory (a %s) in %s", opts.from, kind, reader.where)
  end

  local found, werr = walk(reader, from)
  if not found then return nil, werr end
  local by_rel = {}
  for _, e in ipairs(found) do by_rel[e.rel] = e end
  local function shown(rel) return from == "" and rel or from .. "/" .. rel end
  for _, e in ipairs(found) do
    if e.type == "link" then
      local ok, why = link_stays_inside(e.rel, e.target, by_rel)
      if not ok then
        return fail("LayerLinkEscapes", "%s: symbolic link to '%s' escapes %s: %s", shown(e.rel), e.target,
          opts.from, why)
      end
    elseif e.type == "file" and e.size and e.size > o.max then
      return fail("LayerTooLarge", "%s: %d bytes, over max_bytes (%d)", shown(e.rel), e.size, o.max)
    end
  end

  if o.include then
    local kept = {}
    for _, e in ipairs(found) do
      if e.type == "dir" or (e.rel:match("([^/]*)$")):match(o.include) then kept[#kept + 1] = e end
    end
    found = kept
  end

  -- the tar entries, sorted by path
  local to_parts = split(opts.to)
  local entries = {}
  for i = 1, #to_parts - 1 do
    entries[#entries + 1] = { key = table.concat(to_parts, "/", 1, i), type = "dir", uid = 0, gid = 0, mode = 493 }
  end
  local to = table.concat(to_parts, "/")
  if to ~= "" then entries[#entries + 1] = { key = to, type = "dir", uid = o.uid, gid = o.gid, mode = o.mode_dirs } end
  for _, e in ipairs(found) do
    local key = to == "" and e.rel or to .. "/" .. e.rel
    local mode = e.type == "dir" and o.mode_dirs or e.type == "link" and 511
      or (e.exec and (o.mode_files | (o.mode_files & 292) >> 2) or o.mode_files)
    entries[#entries + 1] = { key = key, rel = e.rel, type = e.type, target = e.target, uid = o.uid, gid = o.gid,
                              mode = mode, size = e.size }
  end
  table.sort(entries, function(a, b) return a.key < b.key end)

  local sink = new_sink(o.max)
  local files = 0
  local task = require "wpo.task"   -- at the call: the specs' fake core reloads it
  local yielded_at = 0
  for _, e in ipairs(entries) do
    local h = { path = e.key, mode = e.mode, uid = e.uid, gid = e.gid, mtime = o.mtime }
    if e.type == "dir" then
      h.path, h.typeflag = e.key .. "/", "5"
      sink.add(entry_header(h))
    elseif e.type == "link" then
      h.typeflag, h.linkname = "2", e.target
      sink.add(entry_header(h))
    elseif e.size and e.size >= BIG_FILE and reader.stream then
      -- a large file on disk streams through in slices: never whole in memory
      if sink.size + 1024 + e.size > o.max then
        sink.close()
        return fail("LayerTooLarge", "%s: the layer passes max_bytes (%d) at this file", shown(e.rel), o.max)
      end
      h.typeflag, h.size = "0", e.size
      sink.add(entry_header(h))
      local ok, serr = reader.stream(shown(e.rel), e.size, sink.add)
      if not ok then
        sink.close()
        return fail("LayerSource", "%s: %s", shown(e.rel), serr)
      end
      sink.add(padding(e.size))
      files = files + 1
      collectgarbage()   -- its slices, before the next file is read
    else
      local data, rerr, code = reader.read(shown(e.rel), o.max)
      if not data then
        sink.close()
        if code == "EFBIG" then
          return fail("LayerTooLarge", "%s: over max_bytes (%d)", shown(e.rel), o.max)
        end
        return fail("LayerSource", "%s: cannot read: %s", shown(e.rel), tostring(rerr))
      end
      if sink.size + 1024 + #data > o.max then
        sink.close()
        return fail("LayerTooLarge", "%s: the layer passes max_bytes (%d) at this file", shown(e.rel), o.max)
      end
      h.typeflag, h.size = "0", #data
      sink.add(entry_header(h))
      sink.add(data)
      sink.add(padding(#data))
      files = files + 1
      -- a large blob's bytes and slices are garbage now: free them before the
      -- next file is read (the collector would let the heap double first)
      if #data >= BIG_FILE then
        data = nil   -- luacheck: ignore 311
        collectgarbage()
      end
    end
    if sink.size > o.max then
      sink.close()
      return fail("LayerTooLarge", "%s: the layer passes max_bytes (%d) at this entry", e.key, o.max)
    end
    -- inside a task, let the others run now and then (and stop when cancelled)
    if task.current() and sink.size - yielded_at >= M.YIELD_BYTES then
      yielded_at = sink.size
      if not task.sleep(0) then
        sink.close()
        return fail("Cancelled", "%s: the layer build was cancelled", e.key)
      end
    end
  end
  sink.add(("\0"):rep(1024))   -- the end of the archive
  local tar_digest, blob = sink.finish()
  local tar_size = sink.size
  sink.close()
  return {
    media_type = M.MEDIA_TYPE, digest = "sha256:" .. crypto.hex(crypto.sha256(blob)),
    diff_id = "sha256:" .. crypto.hex(tar_digest),
    size = #blob, blob = blob, files = files, entries = #entries, tar_size = tar_size,
  }
end

return M
