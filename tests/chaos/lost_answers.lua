-- tests/chaos/lost_answers.lua — the whole lost-answer matrix (issue 12), run
-- by `make chaos`: every write operation the staging WordPress stack's apply
-- sends, each in turn carried out by fakeaws with its answer lost on every
-- attempt, in each way asked for; after each, the apply exits 0 with exactly
-- the objects of a clean run, a re-plan shows no changes, destroy leaves
-- nothing. Prints a line per case, then the figures; exits 1 if any case failed.
--
--   WPO_STDLIB=$PWD/stdlib ./wpo lua tests/chaos/lost_answers.lua [--modes close,error,garbled] [--ops OP,...]
--       [--stack stacks/customers/acme.lua [--unprotect]]
--
-- --modes: how answers are lost (fakeaws drop_as; default close);
-- --ops: only these operations ("ec2.CreateVpc,...", default every write);
-- --stack: another stack of stacks/ (default the staging one); --unprotect
-- turns its protect off (in the copy the matrix runs), so destroy may run.
package.path = "tests/lua/?.lua;" .. package.path
local fakeaws = require "fakeaws"
local lostanswers = require "lostanswers"

local function list(s)
  local out = {}
  for x in (s or ""):gmatch("[^,%s]+") do out[#out + 1] = x end
  return out
end

local modes, only, stack, unprotect = { "close" }, nil, nil, false
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--modes" then modes = list(arg[i + 1]); i = i + 2
  elseif a == "--ops" then only = list(arg[i + 1]); i = i + 2
  elseif a == "--stack" then stack = arg[i + 1]; i = i + 2
  elseif a == "--unprotect" then unprotect = true; i = i + 1
  else
    io.stderr:write("usage: wpo lua tests/chaos/lost_answers.lua [--modes close,error,garbled] [--ops OP,...] "
      .. "[--stack FILE [--unprotect]]\n")
    os.exit(2)
  end
end
for _, mode in ipairs(modes) do
  local known = false
  for _, m in ipairs(lostanswers.MODES) do known = known or m == mode end
  if not known then
    io.stderr:write("unknown mode " .. mode .. " (valid: " .. table.concat(lostanswers.MODES, ", ") .. ")\n")
    os.exit(2)
  end
end

local f = fakeaws.start { region = "eu-west-1" }
local m = lostanswers.new(f, stack, unprotect)
local ok, err = pcall(function()
  local base = m:baseline()
  local ops = only or base.ops
  print(string.format("lost-answer matrix: %s, %d write operations x %s", m.stack, #ops,
    table.concat(modes, ", ")))
  local results = {}
  for _, mode in ipairs(modes) do
    for _, op in ipairs(ops) do
      local r = m:case(op, mode)
      results[#results + 1] = r
      print(lostanswers.line(r))
      if r.detail then print("    " .. r.detail:gsub("\n", "\n    ")) end
      io.stdout:flush()
    end
  end
  local t = lostanswers.totals(results)
  print(t.line)
  return t
end)
m:close()
f:stop()
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
os.exit(err.failed == 0 and 0 or 1)
