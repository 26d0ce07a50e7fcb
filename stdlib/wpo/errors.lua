-- wpo.errors: the one error type wpo raises and returns.
--
-- An error is a table { code, message, where, address, cause, exit } whose
-- string form is one line:  where: address: code: message
-- e.g. "stacks/prod.lua:42: network.nat["a"]: InvalidSubnetID.NotFound: The subnet ..."
-- An AWS error (wpo.aws) adds service, operation, status, request_id:
--   "...: ec2 CreateNatGateway: InvalidSubnetID.NotFound: The subnet ... (HTTP 400, request 5f1c...)"
local M = {}

local Error = {}
Error.__index = Error

-- What the error says after its place: "ec2 CreateVpc: Code: message (HTTP 400, request id)".
local function describe(e)
  local parts = {}
  if e.service and e.operation then parts[#parts + 1] = e.service .. " " .. e.operation end
  if e.code and e.code ~= "error" then parts[#parts + 1] = e.code end
  parts[#parts + 1] = e.message or "unknown error"
  local line = table.concat(parts, ": ")
  -- an AWS error (wpo.aws) also names its HTTP status and request id
  if e.status or e.request_id then
    local extra = {}
    if e.status then extra[#extra + 1] = "HTTP " .. tostring(e.status) end
    if e.request_id then extra[#extra + 1] = "request " .. tostring(e.request_id) end
    line = line .. " (" .. table.concat(extra, ", ") .. ")"
  end
  return (line:gsub("[\r\n]+", " "))
end

function Error:__tostring()
  local parts = {}
  if self.where then parts[#parts + 1] = self.where end
  if self.address then parts[#parts + 1] = self.address end
  parts[#parts + 1] = describe(self)
  return (table.concat(parts, ": "):gsub("[\r\n]+", " "))
end

local FIELDS = { code = true, message = true, where = true, address = true, cause = true, exit = true }

-- errors.new{ message = ..., code = ..., where = ..., address = ..., cause = ..., exit = ... }
-- Any extra keys (an AWS error's service, status, request_id...) are kept.
function M.new(fields)
  if type(fields) == "string" then fields = { message = fields } end
  assert(type(fields) == "table" and type(fields.message) == "string", "errors.new: message required")
  return setmetatable(fields, Error)
end

-- errors.raise(fields, level): raise a new error (never adds Lua's position prefix).
function M.raise(fields)
  error(M.new(fields), 0)
end

-- errors.describe(value) -> the one-line form of an error without its where and
-- address (for output that names those itself); any other value as a string.
function M.describe(value)
  if getmetatable(value) == Error then return describe(value) end
  return tostring(value)
end

function M.is(value)
  return getmetatable(value) == Error
end

-- Known keys, for documentation and tests.
M.FIELDS = FIELDS

-- The caller's file:line `level` frames up the stack, as "file:line".
function M.where(level)
  local info = debug.getinfo((level or 1) + 1, "Sl")
  if not info or info.currentline < 0 then return nil end
  local src = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
  return src .. ":" .. info.currentline
end

return M
