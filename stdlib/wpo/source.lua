-- wpo.source: what a stack argument names, opened as a wpo.git source.
--
-- A stack argument is either
--   a local path                 stacks/prod.lua (in a git work tree or not)
--   a git URL                    git+https://host/org/infra.git//stacks/prod.lua?ref=v1.4.0
--                                git+ssh://git@host/org/infra.git//stacks/prod.lua
--                                git+file:///srv/git/infra.git//stacks/prod.lua
-- In a URL, "//" after the repository separates the stack's path inside
-- it; ?ref= names a tag, branch or commit (default: the remote's default
-- branch). A password in the URL is used as the HTTPS token and never
-- stored or printed.
--
-- source.open(arg, { ref = REF, offline = boolean }) -> src | nil, err
--   local, no ref     the working tree (src:dirty() says whether it is)
--   local, ref        the object database at REF, in the repository that
--                     contains the stack
--   URL               a bare clone cached under <cache>/git/<name>, fetched
--                     once per process (every branch and tag, pruned);
--                     offline: the cache as it is, an error when absent
-- <cache> is $WPO_CACHE_DIR, else $XDG_CACHE_HOME/wpo, else ~/.cache/wpo.
-- Credentials for fetching: ssh-agent (when SSH_AUTH_SOCK is set), the key
-- file $WPO_GIT_SSH_KEY (passphrase $WPO_GIT_SSH_PASSPHRASE), an HTTPS token
-- from $WPO_GIT_TOKEN (user $WPO_GIT_USERNAME, default "x-access-token").
local core = require "wpo.core.git"
local errors = require "wpo.errors"
local git = require "wpo.git"
local task = require "wpo.task"

local M = {}

M.QUERY_KEYS = { "ref" }

local function fail(code, fmt, ...)
  return nil, errors.new { code = code, message = string.format(fmt, ...) }
end

local function is_url(arg)
  return arg:match("^git%+[%a][%w+.-]*://") ~= nil
end
M.is_url = is_url

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local EXAMPLE = "git+https://host/org/infra.git//stacks/prod.lua?ref=v1.4.0"

-- source.parse(arg) -> spec | nil, err
-- spec: { kind = "local", path } or { kind = "git", url, path, ref, token,
-- display } (url without "git+" and without any password; display is the
-- argument with the password redacted).
function M.parse(arg)
  assert(type(arg) == "string", "source.parse: argument must be a string")
  if arg == "" then return fail("BadStack", "the stack argument is empty") end
  if not is_url(arg) then
    if arg:match("^git%+") or arg:match("^[%a][%w+.-]*://") then
      return fail("BadStackURL", "'%s' is not a stack URL wpo reads (git+https://, git+ssh://, git+file://; e.g. %s)",
        core.redact(arg), EXAMPLE)
    end
    return { kind = "local", path = arg }
  end
  local display = core.redact(arg)
  local rest, query = arg:sub(5), nil
  local q = rest:find("?", 1, true)
  if q then rest, query = rest:sub(1, q - 1), rest:sub(q + 1) end
  local scheme, after = rest:match("^([%a][%w+.-]*)://(.*)$")
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" and scheme ~= "ssh" and scheme ~= "file" then
    return fail("BadStackURL", "%s: unsupported scheme git+%s (use git+https, git+ssh or git+file)", display, scheme)
  end
  -- The stack path follows the first "//" after the authority.
  local from = after:sub(1, 1) == "/" and 2 or 1
  local sep = after:find("//", from, true)
  if not sep or sep + 2 > #after then
    return fail("BadStackURL", "%s: no stack path; put //PATH after the repository, e.g. %s", display, EXAMPLE)
  end
  local repo_part, path = after:sub(1, sep - 1), unescape(after:sub(sep + 2))
  if path:match("^/") or path:match("%.%.") then
    return fail("BadStackURL", "%s: the stack path '%s' must be relative to the repository root, without '..'",
      display, path)
  end
  local spec = { kind = "git", path = path, display = display }
  -- A password in the user info becomes the token; the stored URL has none.
  local userinfo, hostpath = repo_part:match("^([^/@]*)@(.*)$")
  if userinfo then
    local user, password = userinfo:match("^([^:]*):(.*)$")
    if password then
      spec.token, spec.token_from, spec.username = unescape(password), "the URL", unescape(user)
      repo_part = user .. "@" .. hostpath
    end
  end
  spec.url = scheme .. "://" .. repo_part
  for pair in (query or ""):gmatch("[^&]+") do
    local key, value = pair:match("^([^=]*)=(.*)$")
    key = key or pair
    if key ~= "ref" then
      return fail("BadStackURL", "%s: unknown parameter '%s' (valid: %s)", display, key, table.concat(M.QUERY_KEYS, ", "))
    end
    if not value or value == "" then return fail("BadStackURL", "%s: ref= needs a value", display) end
    spec.ref = unescape(value)
  end
  return spec
end

-- source.cache_root() -> the directory holding wpo's caches
function M.cache_root()
  local dir = os.getenv("WPO_CACHE_DIR")
  if dir and dir ~= "" then return dir end
  local xdg = os.getenv("XDG_CACHE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/wpo" end
  local home = os.getenv("HOME")
  if not home or home == "" then return nil end
  return home .. "/.cache/wpo"
end

-- source.cache_dir(url) -> <cache>/git/<host_path-hash> | nil, err
-- The name is readable (host and path, unsafe characters as "_") and
-- unique (a hash of the URL without user info).
function M.cache_dir(url)
  local root = M.cache_root()
  if not root then return fail("NoCacheDir", "no cache directory: set WPO_CACHE_DIR (or HOME)") end
  local bare = url:gsub("^[%a][%w+.-]*://", ""):gsub("^[^/@]*@", "")
  local name = bare:gsub("[^%w._-]+", "_"):gsub("^[_.]+", ""):sub(1, 80)
  return string.format("%s/git/%s-%s", root, name, core.blob_id((url:gsub("://[^/@]*@", "://"))):sub(1, 12))
end

-- The credential options for core.fetch, from the spec and the environment.
function M.credentials(spec)
  local env = os.getenv
  local creds = {
    ssh_agent = (env("SSH_AUTH_SOCK") or "") ~= "",
    ssh_key = env("WPO_GIT_SSH_KEY") ~= "" and env("WPO_GIT_SSH_KEY") or nil,
    ssh_passphrase = env("WPO_GIT_SSH_PASSPHRASE"),
    username = env("WPO_GIT_USERNAME") ~= "" and env("WPO_GIT_USERNAME") or nil,
  }
  if spec.token then
    creds.token, creds.token_from = spec.token, spec.token_from
    creds.username = spec.username ~= "" and spec.username or creds.username
  elseif (env("WPO_GIT_TOKEN") or "") ~= "" then
    creds.token, creds.token_from = env("WPO_GIT_TOKEN"), "WPO_GIT_TOKEN"
  end
  return creds
end

-- Directories fetched by this process: fetched once per run. Stacks opened
-- concurrently (a rollout) wait for the one fetch of their repository.
M.fetched = {}
local fetching = {}   -- dir -> semaphore(1)

-- source.fetch(spec, opts) -> dir | nil, err: the cache clone of spec.url,
-- fetched now unless opts.offline (or already fetched by this process).
-- The fetch runs on a worker thread; inside a task this yields.
function M.fetch(spec, opts)
  opts = opts or {}
  local dir, err = M.cache_dir(spec.url)
  if not dir then return nil, err end
  if opts.offline then
    local repo, oerr, ocode = core.open(dir, { search = false })
    if ocode == "unavailable" then
      return fail("GitUnavailable", "%s (opening the cached clone of %s)", oerr, core.redact(spec.url))
    end
    if not repo then
      return fail("OfflineCacheMissing", "--offline: no cached clone of %s (looked in %s); run once without --offline",
        core.redact(spec.url), dir)
    end
    repo:close()
    return dir
  end
  if M.fetched[dir] then return dir end
  fetching[dir] = fetching[dir] or task.semaphore(1)
  local once = fetching[dir]
  local ok, cerr = once:acquire()
  if not ok then return nil, errors.new { code = "Cancelled", message = cerr } end
  if M.fetched[dir] then once:release() return dir end
  local id, serr, scode = core.fetch_start(spec.url, dir, M.credentials(spec))
  local result, ferr, code
  if id then result, ferr, code = task.await(id) else ferr, code = serr, scode end
  once:release()
  if not result then
    return nil, errors.new { code = code == "auth" and "GitAuthFailed" or
      code == "cancelled" and "Cancelled" or "GitFetchFailed", message = ferr }
  end
  M.fetched[dir] = true
  return dir
end

-- The absolute path of a file that may not exist (its directory must).
local function absolute(path)
  local abs = core.realpath(path)
  if abs then return abs end
  local dir, base = path:match("^(.*)/([^/]+)$")
  if not dir then dir, base = ".", path end
  local absdir = core.realpath(dir == "" and "/" or dir)
  if not absdir then return nil end
  return absdir .. "/" .. base
end

-- The work tree holding abs (an absolute path): the nearest directory above
-- it holding .git, as wpo.stack finds a stack's root; nil outside git.
local function work_tree_of(abs)
  local dir = abs:match("^(.*)/[^/]*$")
  while dir and dir ~= "" do
    local f = io.open(dir .. "/.git", "rb")
    if f then f:close() return dir end
    dir = dir:match("^(.*)/[^/]*$")
  end
  local f = io.open("/.git", "rb")
  if f then f:close() return "/" end
  return nil
end

-- The work tree, without a ref: the stack is read from disk. A plain
-- repository's HEAD and index are read directly (git.read_worktree), and
-- libgit2 is started only for a question they do not answer; any other
-- repository opens (libgit2's start included) on a worker thread while the
-- stack loads. Outside git, libgit2 is never started.
local function open_work_tree(spec)
  local path = spec.path
  local f = io.open(path, "rb")
  if not f then return fail("StackNotFound", "no such stack script: %s", path) end
  f:close()
  local abs = absolute(path)
  local root = abs and work_tree_of(abs)
  if not root then
    local cwd = core.realpath(".")
    local rel = abs:sub(1, #cwd + 1) == cwd .. "/" and abs:sub(#cwd + 2) or abs
    return git.worktree(cwd, { path = rel })
  end
  -- a plain repository is read directly; any other is opened by libgit2
  -- on a worker thread meanwhile
  local repo = git.read_worktree(root, path)
  local src = git.worktree(root, { path = abs:sub(#root + (root == "/" and 1 or 2)), repo = repo,
    opening = not repo and core.open_start(abs) or nil })
  src.owns_repo = true
  src.user_path = path
  return src
end

local function open_local(spec, opts)
  local path = spec.path
  if not opts.ref then return open_work_tree(spec) end
  local repo, oerr, ocode = core.open(path)
  if ocode == "unavailable" then
    return nil, errors.new { code = "GitUnavailable", where = path, message = oerr }
  end
  if not repo then
    return fail("NotInGit", "--ref %s: %s is not inside a git repository", opts.ref, path)
  end
  local abs = absolute(path)
  local workdir = repo:workdir()
  if not abs or not workdir or abs:sub(1, #workdir + 1) ~= workdir .. "/" then
    repo:close()
    return fail("StackNotFound", "no such stack script: %s", path)
  end
  local rel = abs:sub(#workdir + 2)
  local resolved, err = git.resolve(repo, opts.ref)
  if not resolved then repo:close(); return nil, err end
  local src = git.at_commit(repo, resolved, { path = rel })
  src.owns_repo = true
  local _, rerr, code = repo:read(resolved.commit, rel)
  if code then
    src:close()
    if code == "ENOENT" then
      return fail("StackNotFound", "%s does not exist at %s", rel, git.describe(resolved))
    end
    return fail("GitError", "%s", rerr)
  end
  return src
end

local function open_remote(spec, opts)
  if opts.ref and spec.ref and opts.ref ~= spec.ref then
    return fail("ConflictingRef", "%s names ref %s but --ref says %s: give one", spec.display, spec.ref, opts.ref)
  end
  local dir, err = M.fetch(spec, opts)
  if not dir then return nil, err end
  local repo, oerr = core.open(dir, { search = false })
  if not repo then return fail("GitError", "%s", oerr) end
  local ref = opts.ref or spec.ref or "HEAD"
  local resolved, rerr = git.resolve(repo, ref)
  if not resolved then
    repo:close()
    if ref == "HEAD" then
      return fail("UnknownRef", "%s: the remote has no default branch; add ?ref=BRANCH or --ref", spec.display)
    end
    rerr.message = rerr.message:gsub(" in /[^ ]*", " in " .. core.redact(spec.url), 1)
    return nil, rerr
  end
  if ref == "HEAD" and resolved.refname:match("^refs/heads/") then
    resolved.ref = resolved.refname:sub(12)   -- the remote's default branch, by name
  end
  local src = git.at_commit(repo, resolved, { path = spec.path, url = core.redact(spec.url) })
  src.owns_repo = true
  src.display_name = spec.display
  local _, _, code = repo:read(resolved.commit, spec.path)
  if code then
    src:close()
    return fail("StackNotFound", "%s does not exist in %s at %s", spec.path, core.redact(spec.url),
      git.describe(resolved))
  end
  return src
end

-- The stack scripts (*.lua, not recursive, sorted) of a directory entry at a
-- commit, or nil when path is not a directory there.
local function lua_files(repo, commit, rel)
  local entries = repo:list(commit, rel)
  if not entries then return nil end
  local names = {}
  for _, e in ipairs(entries) do
    if e.kind == "file" and e.name:match("%.lua$") then names[#names + 1] = e.name end
  end
  table.sort(names)
  return names
end

-- source.expand(arg, { ref, offline }) -> { stack argument... } | nil, err
-- A directory (local, or the path of a git+ URL) stands for the stack
-- scripts directly inside it as they are at ref; anything else for itself.
function M.expand(arg, opts)
  opts = opts or {}
  assert(type(opts.ref) == "string", "source.expand: a ref is needed")
  local spec, err = M.parse(arg)
  if not spec then return nil, err end
  if spec.kind == "git" then
    local dir, ferr = M.fetch(spec, opts)
    if not dir then return nil, ferr end
    local repo, oerr = core.open(dir, { search = false })
    if not repo then return fail("GitError", "%s", oerr) end
    local resolved, rerr = git.resolve(repo, opts.ref)
    if not resolved then repo:close() return nil, rerr end
    local names = lua_files(repo, resolved.commit, spec.path:gsub("/+$", ""))
    repo:close()
    if not names then return { arg } end
    local base = arg:gsub("%?.*$", ""):gsub("/+$", "")
    local out = {}
    for i, name in ipairs(names) do out[i] = base .. "/" .. name end
    return out
  end
  -- a local path: the repository holding it (or its nearest existing parent)
  local path = spec.path:gsub("(.)/+$", "%1")
  local probe, repo = path
  while true do
    repo = core.open(probe)
    if repo or probe == "." or probe == "/" then break end
    probe = probe:match("^(.*)/[^/]*$") or "."
    if probe == "" then probe = "/" end
  end
  if not repo then return fail("NotInGit", "%s is not inside a git repository (a rollout reads stacks at a ref)", path) end
  local abs = absolute(path)
  local workdir = repo:workdir()
  if not abs or not workdir or (abs ~= workdir and abs:sub(1, #workdir + 1) ~= workdir .. "/") then
    repo:close()
    return fail("StackNotFound", "no such stack script or directory: %s", path)
  end
  local resolved, rerr = git.resolve(repo, opts.ref)
  if not resolved then repo:close() return nil, rerr end
  local rel = abs == workdir and "" or abs:sub(#workdir + 2)
  local names = lua_files(repo, resolved.commit, rel)
  repo:close()
  if not names then return { arg } end
  local out = {}
  for i, name in ipairs(names) do out[i] = path .. "/" .. name end
  return out
end

local OPEN_KEYS = { ref = true, offline = true }

-- source.open(arg, opts) -> src | nil, err (see the header)
function M.open(arg, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not OPEN_KEYS[k] then
      error(string.format("source.open: unknown option '%s' (valid: offline, ref)", tostring(k)), 2)
    end
  end
  local spec, err = M.parse(arg)
  if not spec then return nil, err end
  -- A local stack has nothing to fetch: offline changes nothing for it.
  if spec.kind == "local" then return open_local(spec, opts) end
  return open_remote(spec, opts)
end

return M
