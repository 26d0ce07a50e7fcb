-- Helpers for the wpo.aws specs: which C modules are built, a scripted
-- transport that records requests, a fake clock, fake environments.
local M = {}

-- awstest.missing{ "wpo.core.sigv4", ... } -> names of modules not available
-- Modules replaced by test doubles. Kept on the package table: busted
-- reloads this module for each spec file, but package.preload stays.
package.awstest_stubbed = package.awstest_stubbed or {}
M.stubbed = package.awstest_stubbed

function M.missing(names)
  local out = {}
  for _, name in ipairs(names) do
    if M.stubbed[name] or (not package.preload[name] and not package.searchpath(name, package.path)) then
      out[#out + 1] = name
    end
  end
  return out
end

-- awstest.preload_if_absent(name, fn): a test double for a module this spec
-- does not exercise (the real one is used as soon as it is built).
function M.preload_if_absent(name, fn)
  if not package.preload[name] and not package.searchpath(name, package.path) then
    package.preload[name] = fn
    M.stubbed[name] = true
  end
end

-- The loop and task modules, only where a spec injects its own clock,
-- sleep and transport and so never calls them.
function M.stub_loop()
  M.preload_if_absent("wpo.core.loop", function()
    return { now = function() error("test double: wpo.core.loop not built") end }
  end)
  M.preload_if_absent("wpo.core.http", function()
    return { start = function() error("test double: wpo.core.http not built") end }
  end)
  M.preload_if_absent("wpo.task", function()
    return {
      await = function() error("test double: wpo.task not built") end,
      sleep = function() error("test double: wpo.task not built") end,
    }
  end)
end

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
