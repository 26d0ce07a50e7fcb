-- Helpers for the wpo.aws specs: a scripted
-- transport that records requests, a fake clock, fake environments.
local M = {}

-- awstest.env(tbl) -> getenv function over tbl (nothing from the real environment)
function M.env(tbl)
  return function(name) return tbl[name] end
end

-- awstest.clock() -> c with c.now() (ms), c.sleep(seconds) advancing it,
-- c.clock() (epoch seconds), c.sleeps (every sleep, in seconds)
function M.clock(start_ms)
  local c = { t = start_ms or 1000, sleeps = {} }
  c.now = function() return c.t end
  c.sleep = function(s) c.sleeps[#c.sleeps + 1] = s; c.t = c.t + s * 1000 end
  c.clock = function() return 1700000000 + math.floor(c.t / 1000) end
  return c
end

-- awstest.transport(responder) -> send, calls
-- responder(req, n) -> resp table | nil, err, code ; every request is kept in calls.
function M.transport(responder)
  local calls = {}
  local function send(req)
    calls[#calls + 1] = req
    return responder(req, #calls)
  end
  return send, calls
end

-- awstest.response(status, body, headers)
function M.response(status, body, headers)
  local h = {}
  for k, v in pairs(headers or {}) do h[k:lower()] = v end
  return { status = status, body = body or "", headers = h, timing = { total_ms = 1 } }
end

-- awstest.form(body) -> { key = value } of an x-www-form-urlencoded body
function M.form(body)
  local out = {}
  for pair in (body or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    local function dec(s) return (s:gsub("+", " "):gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)) end
    out[dec(k)] = dec(v)
  end
  return out
end

return M
