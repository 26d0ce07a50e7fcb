-- wpo.oci.layer: reproducible layers (same bytes from two copies on disk
-- with other mtimes and umask; from a commit as from the working tree),
-- what GNU tar sees in them (owner, modes, links, long names), and every
-- refusal naming its path.
local h = require "helpers"
local gr = require "gitrepo"
local layer = require "wpo.oci.layer"
local git = require "wpo.git"
local zlib = require "wpo.core.zlib"
local crypto = require "wpo.core.crypto"

local THEMES = "/usr/src/wordpress/wp-content/themes"

local function sh(cmd)
  local r = h.sh(cmd)
  assert(r.status == 0, cmd .. " failed: " .. r.stderr)
  return r.stdout
end

-- The same content written under dir (site/themes/...), with the given
-- umask and file mtime.
local function populate(dir, umask, touch)
  local script = table.concat({
    "umask " .. umask,
    "cd " .. h.quote(dir),
    "mkdir -p site/themes/twenty/inc site/themes/empty site/other",
    "printf '<?php echo 1;' > site/themes/twenty/index.php",
    "printf 'body{}' > site/themes/twenty/style.css",
    "printf '#!/bin/sh\\necho hi\\n' > site/themes/twenty/inc/run.sh && chmod +x site/themes/twenty/inc/run.sh",
    "ln -s index.php site/themes/twenty/home.php",
    "ln -s ../twenty/style.css site/themes/empty/style.css",
    "printf 'outside' > site/other/secret.txt",
    "touch -d " .. h.quote(touch) .. " site/themes/twenty/index.php site/themes/twenty/style.css",
  }, " && ")
  sh("sh -c " .. h.quote(script))
end

local function build(source, extra)
  local opts = { source = source, from = "site/themes", to = THEMES, owner = "33:33" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return layer.build(opts)
end

-- `tar -tvzf` of a layer's blob, and the directory it extracts into
local function tar_list(l, dir)
  h.write(dir .. "/layer.tgz", l.blob)
  return sh("tar --numeric-owner -tvzf " .. h.quote(dir .. "/layer.tgz"))
end

describe("wpo.oci.layer", function()
  local a, b
  before_each(function()
    a, b = h.tmpdir(), h.tmpdir()
  end)
  after_each(function()
    h.rmrf(a)
    h.rmrf(b)
  end)

  it("include keeps only the files whose names match the glob; a missing `from` says so", function()
    populate(a, "022", "2020-01-01 00:00")
    local l = assert(build(a, { include = "*.php" }))
    local listing = tar_list(l, b)
    assert.is_truthy(listing:find("twenty/index.php", 1, true), listing)
    assert.is_truthy(listing:find("twenty/home.php", 1, true), listing)
    assert.is_nil(listing:find("style.css", 1, true), listing)
    assert.is_nil(listing:find("run.sh", 1, true), listing)
    assert.is_truthy(listing:find("twenty/inc/", 1, true), listing)
    local all = assert(build(a))
    assert.are_not.equal(all.digest, l.digest)
    assert.has_error(function() build(a, { include = "a/*.php" }) end)
    local none, err = build(a, { from = "site/nope" })
    assert.is_nil(none)
    assert.is_true(err.missing)
    assert.is_nil(select(2, build(a, { from = "/etc" })).missing)
  end)

  it("gives the same bytes for the same content at two paths, other mtimes and umask", function()
    populate(a, "022", "2020-01-01 00:00")
    populate(b .. "", "077", "2024-06-30 12:34")
    local la = assert(build(a))
    local lb = assert(build(b .. "/"))
    assert.are.equal(la.digest, lb.digest)
    assert.are.equal(la.diff_id, lb.diff_id)
    assert.are.equal(la.blob, lb.blob)
    assert.are.equal(layer.MEDIA_TYPE, la.media_type)
    assert.are.equal("application/vnd.oci.image.layer.v1.tar+gzip", la.media_type)
    assert.are.equal("sha256:" .. crypto.hex(crypto.sha256(la.blob)), la.digest)
    local tar = assert(zlib.gunzip(la.blob))
    assert.are.equal("sha256:" .. crypto.hex(crypto.sha256(tar)), la.diff_id)
    assert.are.equal(#la.blob, la.size)
    assert.are.equal(#tar, la.tar_size)
    assert.are.equal(3, la.files)
    -- the gzip header is the reproducible one
    assert.are.equal("1f8b08000000000000ff", crypto.hex(la.blob:sub(1, 10)))
  end)

  it("changes its digest when one file changes", function()
    populate(a, "022", "2020-01-01 00:00")
    local before = assert(build(a))
    h.write(a .. "/site/themes/twenty/style.css", "body{color:red}")
    local after = assert(build(a))
    assert.are_not.equal(before.digest, after.digest)
    assert.are_not.equal(before.diff_id, after.diff_id)
    -- a file outside `from` changes nothing
    h.write(a .. "/site/other/secret.txt", "changed")
    assert.are.equal(after.digest, assert(build(a)).digest)
  end)

  it("holds what GNU tar lists and extracts: sorted, owner, modes, links, parents of `to`", function()
    populate(a, "022", "2020-01-01 00:00")
    local l = assert(build(a))
    local lines = {}
    for line in tar_list(l, b):gmatch("[^\n]+") do
      local mode, owner, name = line:match("^(%S+) (%S+) +%d+ %S+ %S+ (.*)$")
      lines[#lines + 1] = mode .. " " .. owner .. " " .. name
    end
    local T = THEMES:sub(2)
    assert.are.same({
      "drwxr-xr-x 0/0 usr/",
      "drwxr-xr-x 0/0 usr/src/",
      "drwxr-xr-x 0/0 usr/src/wordpress/",
      "drwxr-xr-x 0/0 usr/src/wordpress/wp-content/",
      "drwxr-xr-x 33/33 " .. T .. "/",
      "drwxr-xr-x 33/33 " .. T .. "/empty/",
      "lrwxrwxrwx 33/33 " .. T .. "/empty/style.css -> ../twenty/style.css",
      "drwxr-xr-x 33/33 " .. T .. "/twenty/",
      "lrwxrwxrwx 33/33 " .. T .. "/twenty/home.php -> index.php",
      "drwxr-xr-x 33/33 " .. T .. "/twenty/inc/",
      "-rwxr-xr-x 33/33 " .. T .. "/twenty/inc/run.sh",
      "-rw-r--r-- 33/33 " .. T .. "/twenty/index.php",
      "-rw-r--r-- 33/33 " .. T .. "/twenty/style.css",
    }, lines)
    -- every entry dated 1970-01-01 00:00 (mtime 0), no user names
    local verbose = sh("TZ=UTC tar -tvzf " .. h.quote(b .. "/layer.tgz"))
    for line in verbose:gmatch("[^\n]+") do assert.matches(" 1970%-01%-01 00:00 ", line) end
    assert.is_nil(verbose:find("root", 1, true))
    sh("mkdir " .. h.quote(b .. "/x") .. " && tar -xzf " .. h.quote(b .. "/layer.tgz") .. " -C " .. h.quote(b .. "/x"))
    assert.are.equal("<?php echo 1;", h.slurp(b .. "/x/" .. T .. "/twenty/home.php"))
    assert.are.equal("body{}", h.slurp(b .. "/x/" .. T .. "/empty/style.css"))
  end)

  it("takes other modes, owner and mtime, keeping the executable bit", function()
    populate(a, "022", "2020-01-01 00:00")
    local l = assert(build(a, { owner = "1000:50", mode_dirs = tonumber("750", 8), mode_files = tonumber("640", 8),
                                mtime = 86400 }))
    local listing = tar_list(l, b)
    assert.matches("drwxr%-x%-%-%- 1000/50 +0 1970%-01%-02 %d%d:%d%d usr/src/wordpress/wp%-content/themes/twenty/\n",
      listing)
    assert.matches("%-rwxr%-x%-%-%- 1000/50 [^\n]-/themes/twenty/inc/run.sh\n", listing)
    assert.matches("%-rw%-r%-%-%-%-%- 1000/50 [^\n]-/themes/twenty/index.php\n", listing)
  end)

  it("from a commit ignores uncommitted edits and equals the working tree of the same content", function()
    populate(a, "022", "2020-01-01 00:00")
    gr.git(a, "init -q -b main . && git add -A && git commit -q -m themes")
    local clean = assert(build(a))
    local repo = assert(git.open(a))
    local resolved = assert(git.resolve(repo, "main"))
    local src = git.at_commit(repo, resolved, {})
    h.write(a .. "/site/themes/twenty/index.php", "<?php echo 2;")
    h.write(a .. "/site/themes/twenty/new.php", "untracked")
    local at_commit = assert(build(src))
    local dirty = assert(build(a))
    repo:close()
    assert.are.equal(clean.digest, at_commit.digest)
    assert.are_not.equal(dirty.digest, at_commit.digest)
    -- a wpo.git source of the working tree reads the disk
    local wt = git.worktree(a, {})
    assert.are.equal(dirty.digest, assert(build(wt)).digest)
  end)

  it("streams a large file from disk in slices, to the bytes a commit's blob gives", function()
    populate(a, "022", "2020-01-01 00:00")
    local big = {}
    for i = 1, 5 * 1024 * 1024 // 64 do big[i] = ("%063d\n"):format(i) end
    big = table.concat(big)   -- 5 MB: over the 4 MB where files are streamed
    h.write(a .. "/site/themes/twenty/big.txt", big)
    local from_disk = assert(build(a))
    gr.git(a, "init -q -b main . && git add -A && git commit -q -m big")
    local repo = assert(git.open(a))
    local from_commit = assert(build(git.at_commit(repo, assert(git.resolve(repo, "main")), {})))
    repo:close()
    assert.are.equal(from_commit.digest, from_disk.digest)
    local tar = assert(zlib.gunzip(from_disk.blob))
    assert.is_truthy(tar:find(big, 1, true))
    assert.are.equal(4, from_disk.files)
  end)

  it("writes a pax header for a path over 100/155 bytes, and GNU tar reads it back", function()
    local long = ("d"):rep(120) .. "/" .. ("f"):rep(120) .. ".php"
    local longer = ("e"):rep(200) .. ".txt"
    gr.write(a, "site/themes/" .. long, "long")
    gr.write(a, "site/themes/" .. longer, "longer")
    gr.write(a, "site/themes/" .. ("m"):rep(80) .. "/" .. ("n"):rep(60), "split")   -- fits ustar's prefix + name
    sh("ln -s " .. h.quote(long) .. " " .. h.quote(a .. "/site/themes/ll"))   -- a target over 100 bytes
    local l = assert(build(a))
    local tar = assert(zlib.gunzip(l.blob))
    local _, paxes = tar:gsub("%d+ path=", "")
    assert.are.equal(3, paxes)   -- the d... directory, the file in it, the e... file
    assert.are.equal(1, select(2, tar:gsub("%d+ linkpath=", "")))
    local listing = tar_list(l, b)
    local function literal(s) return (s:gsub("%p", "%%%0")) end
    assert.matches(literal(THEMES:sub(2) .. "/" .. long) .. "\n", listing)
    assert.matches(literal(THEMES:sub(2) .. "/" .. longer) .. "\n", listing)
    assert.matches(literal(THEMES:sub(2) .. "/ll -> " .. long) .. "\n", listing)
    sh("mkdir " .. h.quote(b .. "/x") .. " && tar -xzf " .. h.quote(b .. "/layer.tgz") .. " -C " .. h.quote(b .. "/x"))
    assert.are.equal("long", h.slurp(b .. "/x" .. THEMES .. "/" .. long))
    assert.are.equal("longer", h.slurp(b .. "/x" .. THEMES .. "/" .. longer))
    assert.are.equal("long", h.slurp(b .. "/x" .. THEMES .. "/ll"))
    assert.are.equal("split", h.slurp(b .. "/x" .. THEMES .. "/" .. ("m"):rep(80) .. "/" .. ("n"):rep(60)))
  end)

  it("inside a task, lets other tasks run while it builds, and stops when cancelled", function()
    local task = require "wpo.task"
    populate(a, "022", "2020-01-01 00:00")
    for i = 1, 8 do h.write(a .. "/site/themes/f" .. i, ("%08d"):format(i):rep(20000)) end
    local saved = layer.YIELD_BYTES
    layer.YIELD_BYTES = 100000
    local ticks, ticks_when_built = 0, nil
    local built = task.spawn(function()
      local l = assert(build(a))
      ticks_when_built = ticks
      return l
    end)
    local ticker = task.spawn(function()
      while not ticks_when_built do
        ticks = ticks + 1
        task.sleep(0)
      end
    end)
    task.run()
    local ok, l = task.join(built)
    assert.is_true(ok)
    assert.are.equal(11, l.files)
    assert.is_true(task.join(ticker))
    assert.is_true(ticks_when_built >= 5, "the other task ran " .. ticks_when_built .. " times")
    -- the same bytes as outside a task
    assert.are.equal(assert(build(a)).digest, l.digest)
    -- cancelled while it yields
    local err
    local victim = task.spawn(function()
      local none
      none, err = build(a)
      assert(none == nil)
    end)
    task.spawn(function() task.cancel(victim) end)
    task.run()
    layer.YIELD_BYTES = saved
    assert.are.equal("Cancelled", err and err.code)
  end)

  describe("refuses, naming the path and the reason", function()
    local function refused(code, pattern, extra)
      local l, err = build(a, extra)
      assert.is_nil(l)
      assert.are.equal(code, err.code)
      assert.matches(pattern, tostring(err))
      assert.is_nil(tostring(err):find("\n", 1, true))
    end

    before_each(function() populate(a, "022", "2020-01-01 00:00") end)

    it("a `from` outside the repository, absolute or missing", function()
      refused("LayerSource", "from site/%.%./%.%./etc: goes outside the repository", { from = "site/../../etc" })
      refused("LayerSource", "from /etc: is absolute", { from = "/etc" })
      refused("LayerSource", "from site/nope: no such directory in the working tree", { from = "site/nope" })
      refused("LayerSource", "from site/themes/twenty/style.css: is not a directory",
        { from = "site/themes/twenty/style.css" })
      sh("ln -s /etc " .. h.quote(a .. "/site/etc"))
      refused("LayerSource", "from site/etc: resolves outside the repository", { from = "site/etc" })
    end)

    it("a symbolic link escaping `from`, directly, absolutely or through another link", function()
      sh("ln -s ../../other/secret.txt " .. h.quote(a .. "/site/themes/twenty/leak"))
      refused("LayerLinkEscapes", "site/themes/twenty/leak: symbolic link to '%.%./%.%./other/secret.txt' escapes " ..
        "site/themes: its target leaves the directory")
      os.remove(a .. "/site/themes/twenty/leak")
      sh("ln -s /etc/passwd " .. h.quote(a .. "/site/themes/passwd"))
      refused("LayerLinkEscapes", "site/themes/passwd: .* its target is absolute")
      os.remove(a .. "/site/themes/passwd")
      -- up is a link to the top of from; up/.. is then outside it
      sh("ln -s ../.. " .. h.quote(a .. "/site/themes/twenty/inc/up"))
      sh("ln -s inc/up/../other " .. h.quote(a .. "/site/themes/twenty/sneaky"))
      refused("LayerLinkEscapes", "site/themes/twenty/sneaky: .*leaves the directory")
    end)

    it("a special file (fifo)", function()
      sh("mkfifo " .. h.quote(a .. "/site/themes/twenty/pipe"))
      refused("LayerSpecialFile", "site/themes/twenty/pipe: is a fifo")
    end)

    it("a file or the whole layer over max_bytes", function()
      h.write(a .. "/site/themes/big.bin", ("x"):rep(5000))
      refused("LayerTooLarge", "site/themes/big.bin: 5000 bytes, over max_bytes %(4096%)", { max_bytes = 4096 })
      os.remove(a .. "/site/themes/big.bin")
      for i = 1, 5 do h.write(a .. "/site/themes/f" .. i, ("y"):rep(1000)) end
      refused("LayerTooLarge", "the layer passes max_bytes %(8000%)", { max_bytes = 8000 })
    end)

    it("a file over max_bytes at a commit, before reading it", function()
      h.write(a .. "/site/themes/big.bin", ("x"):rep(5000))
      gr.git(a, "init -q -b main . && git add -A && git commit -q -m big")
      local repo = assert(git.open(a))
      local src = git.at_commit(repo, assert(git.resolve(repo, "main")), {})
      local l, err = build(src, { max_bytes = 4096 })
      repo:close()
      assert.is_nil(l)
      assert.are.equal("LayerTooLarge", err.code)
      assert.matches("site/themes/big.bin: over max_bytes %(4096%)", tostring(err))
    end)

    it("at a commit: an escaping link, a missing `from`, a submodule", function()
      sh("ln -s ../../../other " .. h.quote(a .. "/site/themes/twenty/out"))
      gr.git(a, "init -q -b main . && git add -A && git commit -q -m leak")
      local repo = assert(git.open(a))
      local src = git.at_commit(repo, assert(git.resolve(repo, "main")), {})
      local l, err = build(src)
      assert.is_nil(l)
      assert.are.equal("LayerLinkEscapes", err.code)
      assert.matches("site/themes/twenty/out: symbolic link to '%.%./%.%./%.%./other' escapes site/themes", tostring(err))
      l, err = build(src, { from = "site/gone" })
      assert.is_nil(l)
      assert.matches("from site/gone: no such directory in commit %x+", tostring(err))
      -- a gitlink (submodule) entry in the tree
      os.remove(a .. "/site/themes/twenty/out")
      gr.git(a, "add -A && git update-index --add --cacheinfo 160000," .. gr.rev(a, "HEAD") .. ",site/themes/sub && " ..
        "git commit -q -m sub")
      src = git.at_commit(repo, assert(git.resolve(repo, "main")), {})
      l, err = build(src)
      repo:close()
      assert.is_nil(l)
      assert.are.equal("LayerSpecialFile", err.code)
      assert.matches("site/themes/sub: is a submodule", tostring(err))
    end)

    it("misuse: unknown options and bad values raise", function()
      assert.has_error(function() build(a, { owner = "www-data" }) end,
        "layer.build: owner must be 'UID:GID' (numbers), got 'www-data'")
      assert.has_error(function() layer.build { source = a, from = "x", to = "/y", colour = 1 } end)
      assert.has_error(function() build(a, { to = "relative" }) end)
      assert.has_error(function() build({}, {}) end)
    end)
  end)
end)
