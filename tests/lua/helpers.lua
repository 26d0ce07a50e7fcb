-- Helpers shared by the specs: run the wpo binary, make temporary directories.
local M = {}

M.WPO = os.getenv("WPO") or "./wpo"
M.REPO = os.getenv("WPO_REPO") or "."

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
M.slurp = slurp

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function M.tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

function M.rmrf(dir)
  assert(dir:match("^/tmp/"), "refusing to remove " .. dir)
  os.execute("rm -rf " .. M.quote(dir))
end

-- helpers.sh(cmd, opts) -> { status = n, stdout = s, stderr = s }
-- opts.env: extra environment (name -> value); opts.stdin: data for stdin.
function M.sh(cmd, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local prefix = ""
  for k, v in pairs(opts.env or {}) do
    prefix = prefix .. k .. "=" .. M.quote(v) .. " "
  end
  local stdin = "/dev/null"
  if opts.stdin then
    stdin = dir .. "/in"
    M.write(stdin, opts.stdin)
  end
  local full = string.format("%s%s <%s >%s/out 2>%s/err", prefix ~= "" and ("env " .. prefix) or "",
    cmd, M.quote(stdin), M.quote(dir), M.quote(dir))
  local _, _, status = os.execute(full)
  local result = { status = status, stdout = slurp(dir .. "/out"), stderr = slurp(dir .. "/err") }
  M.rmrf(dir)
  return result
end

-- helpers.wpo({args...}, opts) -> { status, stdout, stderr }
function M.wpo(args, opts)
  local parts = { M.quote(M.WPO) }
  for _, a in ipairs(args) do parts[#parts + 1] = M.quote(a) end
  return M.sh(table.concat(parts, " "), opts)
end

-- helpers.wpo_abs() -> the binary as an absolute path (a bare name is left
-- for PATH to find), for specs that run it from another directory
function M.wpo_abs()
  if not M.WPO:find("/", 1, true) then return M.WPO end
  return require("wpo.stack").absolute(M.WPO)
end

-- helpers.command_in(dir, args, env...) -> the shell command that runs wpo in
-- dir (so paths in its messages are relative, as a user sees them), each env
-- table (name -> value) added to its environment, a later one winning
function M.command_in(dir, args, ...)
  local parts = { "cd " .. M.quote(dir) .. " && env" }
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do parts[#parts + 1] = M.quote(k .. "=" .. v) end
  end
  parts[#parts + 1] = M.quote(M.wpo_abs())
  for _, a in ipairs(args) do parts[#parts + 1] = M.quote(a) end
  return table.concat(parts, " ")
end

-- helpers.offline_command(dir, args, endpoint?) -> a shell command running wpo
-- in dir with no AWS setup at all: an empty environment but for PATH,
-- WPO_STDLIB and the sanitizers' options, HOME nowhere, and every AWS call
-- sent to endpoint (default: port 9 of 127.0.0.1, where nothing listens)
function M.offline_command(dir, args, endpoint)
  local parts = { "cd " .. M.quote(dir) .. " && env -i", M.quote("HOME=/nonexistent"), "NO_COLOR=1",
    M.quote("AWS_ENDPOINT_URL=" .. (endpoint or "http://127.0.0.1:9")) }
  for _, k in ipairs({ "PATH", "WPO_STDLIB", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" }) do
    if os.getenv(k) then parts[#parts + 1] = M.quote(k .. "=" .. os.getenv(k)) end
  end
  parts[#parts + 1] = M.quote(M.wpo_abs())
  for _, a in ipairs(args) do parts[#parts + 1] = M.quote(a) end
  return table.concat(parts, " ")
end

-- helpers.wpo_in(dir, args, env, opts) -> { status, stdout, stderr }: wpo run
-- in dir (helpers.command_in); opts as helpers.sh's (stdin)
function M.wpo_in(dir, args, env, opts)
  return M.sh(M.command_in(dir, args, env), opts)
end

return M
