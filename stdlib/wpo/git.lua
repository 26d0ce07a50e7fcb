-- wpo.git: stack scripts read from git.
--
-- A *source* is where a stack script and the modules it requires are read
-- from:
--   git.at_commit(repo, resolved, opts)  the object database at one commit:
--                                        uncommitted edits never leak in and
--                                        the working tree is never touched;
--   git.worktree(root, opts)             files on disk (the working tree, or
--                                        any directory outside git); opts.repo,
--                                        or opts.opening: the id of a
--                                        git.open_start of it, awaited when
--                                        its repository is first needed
-- Both give the same methods:
--   src:read(path) -> data | nil, err, code      path relative to src.root
--   src:loadfile(path, env) -> chunk | nil, err  text chunks only; chunkname
--       "@stacks/prod.lua" (repository-relative at a commit; as the user can
--       open it, relative to the current directory, in the working tree)
--   src:load_stack(env) -> chunk | nil, err      the stack script itself
--   src:searcher(env) -> fn                      a package.searchers entry
--   src:require_function(env) -> require         a require with its own module
--       cache, so two stacks at two commits never share a module; names
--       under "wpo." (and anything not in the repository) come from wpo's
--       library via the global require, never from the current directory
--   src:dirty() -> boolean, paths                (working tree only)
--   src:in_git() -> boolean                      without waiting for an opening
--   src:provenance() -> { repo, ref, commit, short, dirty, time, user,
--       path, summary, committed } | nil when the stack is not in git
--   src:describe() -> "v1.4.0 (def5678)"
--   src:close()
-- Module names map to "<name with / for .>.lua" then ".../init.lua" under
-- the repository root (M.PATH).
--
-- Dirty (working tree): a file the stack loaded (its script, the modules it
-- required, its var files) is not committed at HEAD as it is on disk
-- (modified, staged, untracked, ignored, new). Nothing else counts: an
-- edited README or another stack's script does not make this deployment
-- irreproducible; an edited or untracked module the stack required does.
-- Only those files are looked at (git status of each), never the whole
-- work tree.
--
-- Also: git.open, git.read_worktree (a plain work tree's repository, read
-- without libgit2 as far as a plan needs), git.resolve (an unknown ref
-- lists the nearest tags),
-- git.compare / git.check_rollback (rollback detection), git.describe /
-- git.transition (the plan header "v1.3.0 (abc1234) → v1.4.0 (def5678)").
local core = require "wpo.core.git"
local errors = require "wpo.errors"
local text = require "wpo.text"
local sys = require "wpo.core.sys"
local log = require "wpo.log"

local M = {}

M.PATH = { "?.lua", "?/init.lua" }

local function fail(code, fmt, ...)
  return nil, errors.new { code = code, message = string.format(fmt, ...) }
end

-- git.open(path) -> repo | nil, err: the repository containing path (a file
-- or directory), searching upward.
function M.open(path)
  assert(type(path) == "string", "git.open: path must be a string")
  local repo, err, code = core.open(path)
  if not repo then return fail(code == "notfound" and "NotInGit" or "GitError", "%s", err) end
  return repo
end

-- git.nearest_tags(repo, name, n) -> up to n tags nearest to name (edit
-- distance, then name), nearest first
function M.nearest_tags(repo, name, n)
  local tags = repo:tags() or {}
  local scored = {}
  for _, t in ipairs(tags) do scored[#scored + 1] = { t, text.distance(name:lower(), t:lower()) } end
  table.sort(scored, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] > b[1]   -- equally near: the newer-looking name first
  end)
  local out = {}
  for i = 1, math.min(n or 3, #scored) do out[i] = scored[i][1] end
  return out
end

-- git.resolve(repo, ref) -> { ref, commit, short, kind, refname, summary, time }
-- | nil, err (code "UnknownRef" listing the nearest tags)
function M.resolve(repo, ref)
  assert(type(ref) == "string" and ref ~= "", "git.resolve: ref must be a non-empty string")
  local commit, kind, refname = repo:resolve(ref)
  if not commit then
    local err, code = kind, refname
    if code ~= "notfound" then return fail("GitError", "%s", err) end
    local near = M.nearest_tags(repo, ref, 3)
    local where = repo:workdir() or repo:path()
    if #near == 0 then
      return fail("UnknownRef", "no tag, branch or commit named '%s' in %s (it has no tags)", ref, where)
    end
    return fail("UnknownRef", "no tag, branch or commit named '%s' in %s (nearest tags: %s)",
      ref, where, table.concat(near, ", "))
  end
  local info, err = repo:commit(commit)
  if not info then return fail("GitError", "%s", err) end
  return { ref = ref, commit = commit, short = info.short, kind = kind, refname = refname,
           summary = info.summary, time = info.time }
end

-- Module name -> candidate paths relative to the root.
local function module_paths(name)
  local base = name:gsub("%.", "/")
  local out = {}
  for i, template in ipairs(M.PATH) do out[i] = (template:gsub("%?", base)) end
  return out
end

-- Names the global require may serve: wpo's library, package.preload, and
-- Lua libraries at absolute locations — never a path relative to the
-- current directory (which would read uncommitted files).
local function library_path()
  local parts = {}
  for template in package.path:gmatch("[^;]+") do
    if template:sub(1, 1) == "/" then parts[#parts + 1] = template end
  end
  return table.concat(parts, ";")
end

local function library_has(name)
  if package.loaded[name] ~= nil or package.preload[name] then return true end
  return package.searchpath(name, library_path()) ~= nil
end

local Source = {}

-- A work tree's repository as wpo.core.git's read_head saw it, without
-- libgit2: head(), workdir(), path(), remote_url("origin"), HEAD's commit
-- (repo.info) and unproven(paths) answer from what it read; anything else
-- (the status of a file the index does not prove clean among them) opens
-- the repository with libgit2 then: repo:libgit2().
local Native = {}

function Native:libgit2()
  local repo = rawget(self, "real")
  if not repo then
    local err, code
    repo, err, code = core.open(self.info.workdir, { search = false })
    if not repo then
      errors.raise { code = code == "unavailable" and "GitUnavailable" or "GitError",
                     where = rawget(self, "where") or self.info.workdir, message = err }
    end
    self.real = repo
  end
  return repo
end

Native.__index = function(self, key)
  local own = Native[key]
  if own then return own end
  return function(_, ...)
    local repo = self:libgit2()
    return repo[key](repo, ...)
  end
end

function Native:head() return self.info.commit, self.info.refname end
function Native:workdir() return self.info.workdir end
function Native:path() return self.info.path end

function Native:remote_url(name)
  if name ~= nil and name ~= "origin" then return self:libgit2():remote_url(name) end
  if self.info.remote then return self.info.remote end
  return nil, "no remote named 'origin'", "notfound"
end

-- repo:unproven(paths) -> those of paths the index does not prove to be
-- as HEAD has them (an empty list: all are)
function Native:unproven(paths)
  return (core.read_unproven(self.info.workdir, self.info.tree, paths))
end

function Native:file_status(path)
  if #self:unproven({ path }) == 0 then return "current" end
  return self:libgit2():file_status(path)
end

function Native:close()
  local repo = rawget(self, "real")
  self.real = nil
  if repo then repo:close() end
  return true
end

-- git.read_worktree(root [, where]) -> repo | nil: the work tree's
-- repository read without libgit2 (see Native), or nil when it is outside
-- what wpo.core.git's read_head reads (then git.open / open_start is the
-- way). where: what an error opening libgit2 later names (the stack path).
function M.read_worktree(root, where)
  local info, why = core.read_head(root)
  if not info then
    log.debug("git: %s: %s; libgit2 opens it", root, why)
    return nil
  end
  return setmetatable({ info = info, where = where }, Native)
end

-- What a work tree source learns from its repository once open (a
-- worktree opened with opts.opening resolves them on first use).
local FROM_REPO = { repo = true, commit = true, short = true, summary = true, committed = true, ref = true,
                    refkind = true }

-- Fill a work tree source's commit fields from its repository's HEAD.
local function read_head(src)
  local commit, refname = src.repo:head()
  if commit then
    -- read without libgit2, HEAD's commit is known already
    local info = getmetatable(src.repo) == Native and src.repo.info or src.repo:commit(commit)
    src.commit, src.short = commit, info and info.short
    src.summary, src.committed = info and info.summary, info and info.time
    src.ref = refname == "HEAD" and commit or refname:gsub("^refs/heads/", "")
    src.refkind = refname == "HEAD" and "commit" or "branch"
  end
end

-- Wait for the repository opening on a worker thread (git.open_start): it
-- is the source's repository when its work tree is the source's root; when
-- it cannot be opened, the source is not in git after all — unless libgit2
-- itself could not be loaded (code "unavailable"): that is raised, as a
-- plan that went on would not show what git knows.
local function settle(src)
  local id = rawget(src, "opening")
  src.opening = nil
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local opened, err, code = require("wpo.task").await(id)
  if code == "unavailable" then
    errors.raise { code = "GitUnavailable", where = rawget(src, "user_path") or src.path, message = err }
  end
  local repo = opened and opened.repo
  if repo and repo:workdir() ~= src.root then
    repo:close()
    repo = nil
  end
  if repo then
    src.repo = repo
    read_head(src)
  end
end

Source.__index = function(src, key)
  if FROM_REPO[key] and rawget(src, "opening") then
    settle(src)
    return rawget(src, key)
  end
  return Source[key]
end

local function new_source(fields)
  fields.modules = {}     -- name -> value returned by the module
  fields.loading = {}     -- name -> true while its chunk runs (cycles)
  fields.loading_paths = {}  -- the files being loaded, innermost last
  fields.files = {}       -- paths read, in order
  return setmetatable(fields, Source)
end

local function join(root, path)
  if path:sub(1, 1) == "/" then return path end
  if root == nil or root == "" or root == "." then return path end
  return root .. "/" .. path
end

-- The path to show for a file in the working tree: relative to the current
-- directory when under it, else absolute.
local function display_path(abs, cwd)
  if cwd and abs:sub(1, #cwd + 1) == cwd .. "/" then return abs:sub(#cwd + 2) end
  return abs
end

-- git.at_commit(repo, resolved, opts) -> source
-- resolved: what git.resolve returned; opts: { path = stack path relative to
-- the repository root, url = the repository's name for provenance }
function M.at_commit(repo, resolved, opts)
  opts = opts or {}
  return new_source {
    kind = "commit", repo = repo, commit = resolved.commit, short = resolved.short,
    ref = resolved.ref, refkind = resolved.kind, summary = resolved.summary,
    committed = resolved.time, path = opts.path, url = opts.url,
    root = repo:workdir(),
  }
end

-- git.worktree(root, opts) -> source
-- root: the directory module names resolve under (the repository's work
-- tree, or the current directory outside git); opts: { path = stack path
-- relative to root, repo = the repository (nil outside git), url }
function M.worktree(root, opts)
  opts = opts or {}
  local cwd = core.realpath(".")
  local src = new_source { kind = "worktree", root = root, repo = opts.repo, path = opts.path,
                           url = opts.url, cwd = cwd, opening = opts.opening }
  if rawget(src, "repo") then read_head(src) end
  return src
end

-- src:in_git() -> whether the source is (or, its repository still opening,
-- is expected to be) in a git repository; never waits.
function Source:in_git()
  return rawget(self, "opening") ~= nil or self.repo ~= nil
end

function Source:read(path)
  assert(type(path) == "string", "source:read: path must be a string")
  if self.kind == "commit" then
    local data, err, code = self.repo:read(self.commit, path)
    if data then self.files[#self.files + 1] = path end
    return data, err, code
  end
  local full = join(self.root, path)
  local f, err = io.open(full, "rb")
  if not f then return nil, err, "ENOENT" end
  local data = f:read("a")
  f:close()
  if not data then return nil, full .. ": is a directory", "EISDIR" end
  self.files[#self.files + 1] = path
  return data
end

-- The chunkname for a file (without the "@").
function Source:display(path)
  if self.kind == "commit" then return path end
  local full = join(self.root, path)
  if full:sub(1, 1) ~= "/" then return full end
  return display_path(full, self.cwd)
end

-- Where the source is, for messages: "v1.0.0 (abc1234)" or "the working tree".
function Source:where()
  if self.kind == "commit" then return self:describe() end
  return "the working tree"
end

function Source:loadfile(path, env)
  local data, err, code = self:read(path)
  if not data then
    if code == "ENOENT" then
      return fail("NotFound", "%s: no such file in %s", path, self:where())
    end
    return fail("GitError", "%s", err)
  end
  local chunk, lerr = load(data, "@" .. self:display(path), "t", env or _ENV)
  if not chunk then return fail("LoadError", "%s", lerr) end
  return chunk
end

function Source:load_stack(env)
  assert(self.path, "source:load_stack: the source has no stack path")
  return self:loadfile(self.path, env)
end

-- Finds a module in the source: path, its text | nil, the paths tried.
function Source:find_module(name)
  local tried = module_paths(name)
  for _, path in ipairs(tried) do
    local data, _, code = self:read(path)
    if data then return path, data end
    if code ~= "ENOENT" and code ~= "EISDIR" and code ~= "git" then break end
  end
  return nil, tried
end

-- src:searcher(env) -> function(name) -> loader, path | message
function Source:searcher(env)
  return function(name)
    if name:match("^wpo%.") or name:match("^wpo$") then return "\n\tnot a stack module: " .. name end
    local path, found = self:find_module(name)
    if not path then
      local lines = {}
      for i, p in ipairs(found) do lines[i] = "\n\tno file '" .. p .. "' in " .. self:where() end
      return table.concat(lines)
    end
    local chunk, err = load(found, "@" .. self:display(path), "t", env or _ENV)
    if not chunk then error(errors.new { code = "LoadError", message = err }, 0) end
    return chunk, path
  end
end

-- Where a require was called: the caller's file:line, or, when the call
-- was a tail call (`return require "x"`, whose frame Lua drops), the file
-- being loaded.
function Source:caller()
  local require_frame = debug.getinfo(2, "t")
  local where = not (require_frame and require_frame.istailcall) and errors.where(3)
  if where then return where end
  local path = self.loading_paths[#self.loading_paths] or self.path
  return path and self:display(path) or nil
end

-- src:require_function(env) -> require(name): the stack's own require.
function Source:require_function(env)
  local search = self:searcher(env)
  return function(name)
    if type(name) ~= "string" then
      error(errors.new { code = "BadRequire", where = self:caller(),
        message = "require needs a module name (a string), got " .. type(name) }, 0)
    end
    local value = self.modules[name]
    if value ~= nil then return value end
    if self.loading[name] then
      error(errors.new { code = "CircularRequire", where = self:caller(),
        message = "module '" .. name .. "' requires itself (directly or through others)" }, 0)
    end
    local loader, path = search(name)
    if type(loader) ~= "function" then
      -- the module is named at run time
      if library_has(name) then return require(name) end
      error(errors.new { code = "ModuleNotFound", where = self:caller(),
        message = string.format("module '%s' not found: no %s in %s, and wpo's library has none",
          name, table.concat(module_paths(name), " or "), self:where()) }, 0)
    end
    self.loading[name] = true
    self.loading_paths[#self.loading_paths + 1] = path
    local ok, result = pcall(loader, name, path)
    self.loading_paths[#self.loading_paths] = nil
    self.loading[name] = nil
    if not ok then error(result, 0) end
    if result == nil then result = true end
    self.modules[name] = result
    return result
  end
end

-- src:dirty() -> boolean, { path... }: see the header. A commit is never dirty.
function Source:dirty()
  if self.kind == "commit" or not self.repo then return false, {} end
  local files, seen = {}, {}
  for _, path in ipairs(self.files) do
    if not seen[path] then
      seen[path] = true
      files[#files + 1] = path
    end
  end
  -- a repository read without libgit2 proves what it can in one index
  -- read; libgit2 says what became of the rest
  local repo = self.repo
  if getmetatable(repo) == Native then
    files = repo:unproven(files)
    if #files > 0 then repo = repo:libgit2() end
  end
  local paths = {}
  for _, path in ipairs(files) do
    if repo:file_status(path) ~= "current" then paths[#paths + 1] = path end
  end
  table.sort(paths)
  return #paths > 0, paths
end

-- src:provenance() -> table | nil (not in git). time and user are now and
-- the local user: when the rollout happened and who ran it.
function Source:provenance()
  if not self.repo or not self.commit then return nil end
  local dirty = self:dirty()
  local url = self.url
  if not url then
    url = self.repo:remote_url("origin") or self.repo:workdir() or self.repo:path()
  end
  return {
    repo = url, ref = self.ref, commit = self.commit, short = self.short, dirty = dirty,
    time = os.time(), user = sys.user(), path = self.path,
    summary = self.summary, committed = self.committed,
  }
end

function Source:describe()
  if self.kind == "worktree" then return M.describe(self:provenance()) end
  return M.describe({ ref = self.ref, commit = self.commit, short = self.short })
end

-- src:loader(cwd, user_abs) -> stack_path, { reader = fn(abs) -> text | nil, err, code, root = dir }
-- What wpo.stack.load needs to read this source (cwd: the current directory
-- as wpo.stack sees it; user_abs: the stack argument made absolute the same
-- way, for a local stack). At a commit, the repository is laid over its work
-- tree (as the user's path names it; over cwd for a remote repository), so
-- the stack keeps the path, and so the state location, it has without a
-- ref, and nothing under it is read from disk; paths outside it (a
-- --var-file elsewhere) come from disk. Run from the repository root,
-- chunknames are repository-relative ("@stacks/prod.lua"). In the working
-- tree, files come from disk (the stack path as the user gave it, the
-- loader's own root), and each one read is remembered for dirty().
function Source:loader(cwd, user_abs)
  assert(type(cwd) == "string" and cwd:sub(1, 1) == "/", "source:loader: cwd must be an absolute path")
  local function from_disk(abs)
    local f, err = io.open(abs, "rb")
    if not f then return nil, err, "ENOENT" end
    local data = f:read("a")
    f:close()
    if not data then return nil, abs .. ": is a directory", "EISDIR" end
    return data
  end
  if self.kind == "commit" then
    local root = cwd
    if self.root then
      root = self.root
      local suffix = "/" .. self.path
      if user_abs and #user_abs > #suffix and user_abs:sub(-#suffix) == suffix then
        root = user_abs:sub(1, -#suffix - 1)
      end
    end
    local top = root
    root = root == "/" and "" or root
    return root .. "/" .. self.path, {
      root = top,
      reader = function(abs)
        if abs:sub(1, #root + 1) ~= root .. "/" then return from_disk(abs) end
        local rel = abs:sub(#root + 2)
        local data, err, code = self:read(rel)
        if data then return data end
        if code == "ENOENT" then return nil, rel .. ": no such file in " .. self:where(), "ENOENT" end
        return nil, err, code
      end,
    }
  end
  local root = self.root
  return self.user_path or join(root, self.path), {
    root = nil,   -- the loader's own (the directory holding .git)
    reader = function(abs)
      local data, err, code = from_disk(abs)
      local real = data and root and core.realpath(abs)
      if real and real:sub(1, #root + 1) == root .. "/" then
        self.files[#self.files + 1] = real:sub(#root + 2)
      end
      return data, err, code
    end,
  }
end

function Source:close()
  if self.repo and self.owns_repo then self.repo:close() end
  self.repo = nil
end

M.Source = Source

-- git.describe(prov) -> "v1.4.0 (def5678)", "main (def5678, dirty)", "def5678"
-- prov: a provenance (or anything with ref, commit, short, dirty); nil
-- gives "(not in git)".
function M.describe(prov)
  if not prov or not prov.commit then return "(not in git)" end
  local short = prov.short or prov.commit:sub(1, 7)
  local ref = prov.ref
  local is_id = ref and ref:match("^%x+$") and prov.commit:sub(1, #ref) == ref
  if not ref or ref == "" or ref == "HEAD" or is_id then
    return short .. (prov.dirty and " (dirty)" or "")
  end
  return string.format("%s (%s%s)", ref, short, prov.dirty and ", dirty" or "")
end

-- git.transition(from, to) -> "v1.3.0 (abc1234) → v1.4.0 (def5678)"
-- from nil (nothing deployed yet) gives "(new) → ...".
function M.transition(from, to)
  return string.format("%s → %s", from and M.describe(from) or "(new)", M.describe(to))
end

-- git.compare(repo, from, to) -> "same" | "forward" | "rollback" |
-- "diverged" | "unknown" (from is not in this repository)
-- from/to: commit ids. "rollback": to is an ancestor of from.
function M.compare(repo, from, to)
  if from == to then return "same" end
  if not repo:commit(from) then return "unknown" end
  if repo:is_ancestor(to, from) then return "rollback" end
  if repo:is_ancestor(from, to) then return "forward" end
  return "diverged"
end

-- git.check_rollback(src, deployed, opts) -> direction | nil, err
-- deployed: the provenance recorded by the last rollout (nil: none);
-- opts: { allow = boolean (--allow-rollback), stack = name for messages }.
-- Moving to an ancestor of the deployed commit is refused unless allowed;
-- a deployed commit from another repository, or absent here, is "unknown"
-- and allowed.
function M.check_rollback(src, deployed, opts)
  opts = opts or {}
  if not deployed or not deployed.commit or not src.repo or not src.commit then return "unknown" end
  local direction = M.compare(src.repo, deployed.commit, src.commit)
  if direction == "rollback" and not opts.allow then
    return nil, errors.new { code = "RollbackRefused", exit = 1, message = string.format(
      "%s is deployed at %s; %s is older (an ancestor of it): rolling back needs --allow-rollback",
      opts.stack or "the stack", M.describe(deployed), src:describe()) }
  end
  return direction
end

return M
