-- Git repositories for the specs, built with the git CLI in temporary
-- directories (no user or system configuration, fixed identities).
local h = require "helpers"

local M = {}

M.ENV = {
  GIT_AUTHOR_NAME = "wpo test", GIT_AUTHOR_EMAIL = "test@example.invalid",
  GIT_COMMITTER_NAME = "wpo test", GIT_COMMITTER_EMAIL = "test@example.invalid",
  GIT_CONFIG_NOSYSTEM = "1", GIT_CONFIG_GLOBAL = "/dev/null", GIT_TERMINAL_PROMPT = "0",
}

-- gitrepo.git(dir, "args...") -> stdout (raises when git fails)
function M.git(dir, args)
  local r = h.sh("sh -c " .. h.quote("cd " .. h.quote(dir) .. " && git " .. args), { env = M.ENV })
  if r.status ~= 0 then error("git " .. args .. " failed in " .. dir .. ": " .. r.stderr, 2) end
  return r.stdout
end

function M.write(dir, path, data)
  local parent = (dir .. "/" .. path):match("^(.*)/[^/]*$")
  os.execute("mkdir -p " .. h.quote(parent))
  h.write(dir .. "/" .. path, data)
end

-- gitrepo.status(dir) -> `git status --porcelain` (untracked included)
function M.status(dir)
  return M.git(dir, "status --porcelain --untracked-files=all")
end

function M.rev(dir, rev)
  return (M.git(dir, "rev-parse " .. h.quote(rev)):gsub("%s+$", ""))
end

-- The fixture: stacks/prod.lua requiring lib.net, at tag v1.0.0
-- (lightweight), then both changed and tagged v1.1.0 (annotated). Returns
-- the directory (the caller removes it with helpers.rmrf).
function M.fixture()
  local dir = h.tmpdir()
  M.git(dir, "init -q -b main .")
  M.write(dir, "stacks/prod.lua", [[
local net = require "lib.net"
return { version = "1.0.0", cidr = net.cidr }
]])
  M.write(dir, "lib/net.lua", 'return { cidr = "10.0.0.0/16" }\n')
  M.git(dir, "add -A && git commit -q -m 'prod at 1.0.0'")
  M.git(dir, "tag v1.0.0")
  M.write(dir, "stacks/prod.lua", [[
local net = require "lib.net"
return { version = "1.1.0", cidr = net.cidr }
]])
  M.write(dir, "lib/net.lua", 'return { cidr = "10.1.0.0/16" }\n')
  M.git(dir, "commit -q -a -m 'prod at 1.1.0'")
  M.git(dir, "tag -a v1.1.0 -m 'release 1.1.0'")
  return dir
end

-- Uncommitted edits over the fixture: both files changed on disk.
function M.edit(dir)
  M.write(dir, "stacks/prod.lua", [[
local net = require "lib.net"
return { version = "edited", cidr = net.cidr }
]])
  M.write(dir, "lib/net.lua", 'return { cidr = "10.9.0.0/16" }\n')
end

return M
