-- Start the test servers of tests/servers/ from a spec or a benchmark:
--   local launch = dofile(REPO .. "/tests/servers/launch.lua")
--   local s = launch.echo{ tls = { cert, key } }   -- s.port, s.url, s.pid
--   ... s:stop()
--   launch.self_signed(dir) -> cert, key   (a throwaway cert for 127.0.0.1)
--   launch.closed_port() -> a port on 127.0.0.1 with nobody listening
local M = {}

local REPO = os.getenv("WPO_REPO") or "."
local PY = "/usr/bin/python3"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local Server = {}
Server.__index = Server

function Server:stop()
  if not self.proc then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  self.proc:close()
  self.proc = nil
end
Server.__close = Server.stop
Server.__gc = Server.stop

-- launch.echo{ tls = { cert, key }? } -> server (tests/servers/http_echo.py)
function M.echo(opts)
  opts = opts or {}
  local cmd = "exec " .. PY .. " " .. quote(REPO .. "/tests/servers/http_echo.py")
  if opts.tls then cmd = cmd .. " --tls " .. quote(opts.tls[1]) .. " " .. quote(opts.tls[2]) end
  if os.getenv("WPO_LOG") ~= "debug" then cmd = cmd .. " 2>/dev/null" end
  local proc = assert(io.popen(cmd, "r"))
  local line = proc:read("l")
  local port, pid = (line or ""):match("^PORT=(%d+) PID=(%d+)")
  if not port then
    proc:close()
    error("the test server did not start (first line: " .. tostring(line) .. ")")
  end
  local scheme = opts.tls and "https" or "http"
  return setmetatable({ proc = proc, port = tonumber(port), pid = tonumber(pid),
    url = scheme .. "://127.0.0.1:" .. port }, Server)
end

function M.self_signed(dir)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local ok = os.execute(string.format(
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 " ..
    "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null",
    quote(key), quote(cert)))
  assert(ok, "openssl could not make a self-signed certificate")
  return cert, key
end

function M.closed_port()
  local p = io.popen(PY .. [[ -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']])
  local port = tonumber(p:read("l"))
  p:close()
  return port
end

return M
