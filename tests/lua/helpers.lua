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

return M
