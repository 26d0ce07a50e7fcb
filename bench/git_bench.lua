-- Loading a fleet from git: a repository with N customer stacks, each
-- requiring a shared module, built with the git CLI in /tmp (not timed).
-- Measured: resolving a tag, reading one blob at a commit (loose objects,
-- as after a local commit, and packed, as in a fetched clone), and loading and
-- evaluating every stack at the tag through wpo.git sources (each with its
-- own require and module cache, as a rollout does).
--   ./wpo lua bench/git_bench.lua [stacks]
local core = require "wpo.core.git"
local git = require "wpo.git"

local N = tonumber(arg and arg[1]) or 200

-- goals: a rollout of 200 stacks spends well under a second loading them
local GOAL_RESOLVE_US, GOAL_READ_US, GOAL_STACK_MS = 200, 150, 2

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  assert(ok, "failed: " .. cmd)
end

local dir = io.popen("mktemp -d"):read("l")
local env = "GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.invalid GIT_COMMITTER_NAME=b "
  .. "GIT_COMMITTER_EMAIL=b@example.invalid GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null "
sh("mkdir -p " .. dir .. "/stacks/customers " .. dir .. "/lib")
local f = assert(io.open(dir .. "/lib/customer.lua", "w"))
f:write([[
local M = {}
function M.stack(p)
  local subnets = {}
  for i = 1, 6 do subnets[i] = { cidr = p.cidr, index = i, name = p.name .. "-" .. i } end
  return { name = p.name, cidr = p.cidr, subnets = subnets }
end
return M
]])
f:close()
for i = 1, N do
  f = assert(io.open(string.format("%s/stacks/customers/c%04d.lua", dir, i), "w"))
  f:write(string.format('return require("lib.customer").stack { name = "c%04d", cidr = "10.%d.0.0/16" }\n', i, i % 250))
  f:close()
end
sh("cd " .. dir .. " && " .. env .. "git init -q -b main . && " .. env .. "git add -A && "
  .. env .. "git commit -q -m fleet && " .. env .. "git tag -a v1.0.0 -m v1")

local clock = os.clock
local repo = assert(core.open(dir))

local iterations = 2000
local t0 = clock()
for _ = 1, iterations do assert(repo:resolve("v1.0.0")) end
local resolve_us = (clock() - t0) / iterations * 1e6

local commit = repo:resolve("v1.0.0")
local function read_us()
  local t = clock()
  for i = 1, iterations do
    assert(repo:read(commit, string.format("stacks/customers/c%04d.lua", i % N + 1)))
  end
  return (clock() - t) / iterations * 1e6
end
local loose_us = read_us()
sh("cd " .. dir .. " && " .. env .. "git gc -q")
repo:close()
repo = assert(core.open(dir))
local packed_us = read_us()

local resolved = assert(git.resolve(repo, "v1.0.0"))
t0 = clock()
for _, entry in ipairs(assert(repo:list(commit, "stacks/customers"))) do
  local src = git.at_commit(repo, resolved, { path = "stacks/customers/" .. entry.name })
  local envt = setmetatable({}, { __index = _G })
  envt.require = src:require_function(envt)
  local stack = assert(src:load_stack(envt))()
  assert(#stack.subnets == 6)
end
local stack_ms = (clock() - t0) / N * 1e3

repo:close()
os.execute("rm -rf " .. dir)

print(string.format("git resolve tag          %8.1f µs   (goal < %d µs)", resolve_us, GOAL_RESOLVE_US))
print(string.format("git read blob (loose)    %8.1f µs   (goal < %d µs)", loose_us, GOAL_READ_US))
print(string.format("git read blob (packed)   %8.1f µs   (goal < %d µs)", packed_us, GOAL_READ_US))
print(string.format("git load+eval stack      %8.3f ms   (goal < %d ms; %d stacks, shared module each)",
  stack_ms, GOAL_STACK_MS, N))
