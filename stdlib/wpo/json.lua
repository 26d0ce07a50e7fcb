-- wpo.json: JSON as wpo writes it for other programs (plans, events, state
-- listings): the same bytes for the same value on every run — object keys
-- sorted, arrays in order, "/" not escaped — on one line.
--
--   json.encode(v) -> text          raises on a value JSON cannot hold (a
--                                   function, NaN, a key that is not a string,
--                                   a table inside itself)
--   json.null                       JSON null (cjson's)
--   json.array(t) -> t              t marked as an array: an empty table is
--                                   written as {} otherwise
local cjson = require "cjson"

local M = {}

M.null = cjson.null

local ARRAY = { __name = "wpo.json.array" }

function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

local function scalar(v)
  -- cjson escapes "/" as "\/"; every "\/" it writes is that escape (a
  -- backslash of the data is written "\\"), so the pair can be undone
  return (cjson.encode(v):gsub("\\/", "/"))
end

local function is_array(t)
  if getmetatable(t) == ARRAY then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, out, open, path)
  local tv = type(v)
  if v == cjson.null or tv == "nil" then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      error(string.format("wpo.json: %s is %s, which JSON cannot hold", path, tostring(v)), 0)
    end
    out[#out + 1] = scalar(v)
  elseif tv == "string" then
    out[#out + 1] = scalar(v)
  elseif tv == "table" then
    if open[v] then error("wpo.json: " .. path .. " holds itself", 0) end
    open[v] = true
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, open, path .. "[" .. i .. "]")
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then
          error(string.format("wpo.json: %s has a key of type %s (an object's keys are strings)", path, type(k)), 0)
        end
        keys[#keys + 1] = k
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = scalar(k)
        out[#out + 1] = ":"
        encode(v[k], out, open, path .. "." .. k)
      end
      out[#out + 1] = "}"
    end
    open[v] = nil
  else
    error(string.format("wpo.json: %s is a %s, which JSON cannot hold", path, tv), 0)
  end
end

function M.encode(v)
  local out = {}
  encode(v, out, {}, "the value")
  return table.concat(out)
end

return M
