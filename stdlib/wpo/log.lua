-- wpo.log: leveled logging to stderr, and the redaction every log line of a
-- request goes through.
--
-- The level comes from WPO_LOG (error, warn, info, debug; default warn), read
-- on first use. log.debug(fmt, ...) and friends format lazily: arguments are
-- only formatted when the level is enabled. Nothing secret may reach a log
-- line: use log.redact_headers for HTTP headers and log.REDACTED in place of
-- any secret value (wpo.aws redacts the members the models mark sensitive).
local M = {}

local LEVELS = { error = 1, warn = 2, info = 3, debug = 4 }
M.LEVELS = LEVELS
M.REDACTED = "<redacted>"

local level          -- numeric, resolved lazily
local output         -- function(line) or nil for stderr

local function current()
  if not level then
    local env = os.getenv("WPO_LOG")
    level = env and LEVELS[env:lower()] or LEVELS.warn
  end
  return level
end

-- log.set_level(name | nil): nil re-reads WPO_LOG on next use.
function M.set_level(name)
  if name == nil then level = nil return end
  local n = LEVELS[name]
  if not n then
    local valid = {}
    for k in pairs(LEVELS) do valid[#valid + 1] = k end
    table.sort(valid)
    error(string.format("log.set_level: unknown level '%s' (valid: %s)", tostring(name),
      table.concat(valid, ", ")), 2)
  end
  level = n
end

function M.level()
  for name, n in pairs(LEVELS) do if n == current() then return name end end
end

-- log.set_output(fn | nil): send lines to fn(line) instead of stderr (tests).
function M.set_output(fn)
  assert(fn == nil or type(fn) == "function", "log.set_output: function or nil expected")
  output = fn
end

function M.enabled(name)
  return (LEVELS[name] or 0) <= current()
end

local function emit(name, fmt, ...)
  if LEVELS[name] > current() then return end
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  local line = "wpo[" .. name .. "] " .. msg
  if output then output(line) else io.stderr:write(line, "\n") end
end

function M.error(fmt, ...) emit("error", fmt, ...) end
function M.warn(fmt, ...) emit("warn", fmt, ...) end
function M.info(fmt, ...) emit("info", fmt, ...) end
function M.debug(fmt, ...) emit("debug", fmt, ...) end

-- Headers whose value is a secret, by lower-case name.
local SECRET_HEADERS = {
  ["authorization"] = true,
  ["x-amz-security-token"] = true,
  ["x-aws-ec2-metadata-token"] = true,
  ["x-amz-server-side-encryption-customer-key"] = true,
  ["x-amz-copy-source-server-side-encryption-customer-key"] = true,
  ["cookie"] = true,
  ["set-cookie"] = true,
}
M.SECRET_HEADERS = SECRET_HEADERS

-- log.redact_headers(headers, extra) -> a copy with secret values replaced.
-- extra: a set of further lower-case header names to redact.
function M.redact_headers(headers, extra)
  local out = {}
  for k, v in pairs(headers or {}) do
    local lk = k:lower()
    if SECRET_HEADERS[lk] or (extra and extra[lk]) then v = M.REDACTED end
    out[k] = v
  end
  return out
end

-- log.format_headers(headers) -> "Name: value; Name: value" sorted by name.
function M.format_headers(headers)
  local names = {}
  for k in pairs(headers) do names[#names + 1] = k end
  table.sort(names, function(a, b) return a:lower() < b:lower() end)
  local parts = {}
  for i, k in ipairs(names) do parts[i] = k .. ": " .. tostring(headers[k]) end
  return table.concat(parts, "; ")
end

return M
