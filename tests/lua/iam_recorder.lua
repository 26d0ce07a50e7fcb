-- tests/lua/iam_recorder.lua — run one wpo command in this process and
-- record every AWS operation each resource type calls, by phase, as IAM
-- actions:
--
--   wpo lua tests/lua/iam_recorder.lua OUT.json COMMAND ARGS...
--
-- Each type's find/create, read/check/import, update and delete is wrapped as
-- it is defined, and marks the coroutine it runs in with the type and phase;
-- every client call made in a marked coroutine is recorded under them (calls
-- made in no marked coroutine — the state backend's — under "(engine)").
-- Writes { ["aws.ec2.vpc"] = { create = { "ec2:CreateVpc", ... }, ... } } to
-- OUT.json and exits with the command's status.
local cjson = require "cjson"
local resource = require "wpo.resource"
local client = require "wpo.aws.client"
local iam = require "wpo.iam"

local out_path = arg[1]
local argv = { table.unpack(arg, 2) }

local PHASE = { find = "create", create = "create", read = "read", check = "read", import = "read",
  update = "update", delete = "delete" }

local marks = setmetatable({}, { __mode = "k" })   -- coroutine -> { type, phase }
local seen = {}

local function record(service, op)
  local co = coroutine.running()
  local m = marks[co] or { type = "(engine)", phase = "any" }
  local action = iam.action(service, op)
  seen[m.type] = seen[m.type] or {}
  seen[m.type][m.phase] = seen[m.type][m.phase] or {}
  seen[m.type][m.phase][action] = true
end

local define = resource.define
resource.define = function(name)
  local make = define(name)
  return function(spec)
    local t = make(spec)
    for fn, phase in pairs(PHASE) do
      local f = rawget(t, fn)
      if type(f) == "function" then
        t[fn] = function(...)
          local co = coroutine.running()
          local prev = marks[co]
          marks[co] = { type = name, phase = phase }
          local r = table.pack(pcall(f, ...))
          marks[co] = prev
          if not r[1] then error(r[2], 0) end
          return table.unpack(r, 2, r.n)
        end
      end
    end
    return t
  end
end

local new = client.new
client.new = function(...)
  local c = new(...)
  local invoke = c.invoke
  c.invoke = function(self, op, params)
    record(self.service, tostring(op))
    return invoke(self, op, params)
  end
  return c
end
require("wpo.aws").client = client.new

local status = require("wpo.cli").main(argv)

local doc = {}
for tname, phases in pairs(seen) do
  doc[tname] = {}
  for phase, actions in pairs(phases) do
    local list = {}
    for a in pairs(actions) do list[#list + 1] = a end
    table.sort(list)
    doc[tname][phase] = list
  end
end
local f = assert(io.open(out_path, "wb"))
f:write(cjson.encode(doc))
f:close()
return status
