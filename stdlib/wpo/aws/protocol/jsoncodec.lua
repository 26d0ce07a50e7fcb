-- wpo.aws.protocol.jsoncodec: JSON bodies for the json and rest-json
-- protocols. Encoding is shape-directed text building (an empty list is [],
-- integers stay integers, members in model order); decoding walks cjson's
-- output by the shape (integers, booleans, timestamps as ISO 8601 strings,
-- blobs decoded, lists marked with common.LIST_MT).
local cjson = require "cjson.safe"
local crypto = require "wpo.core.crypto"
local common = require "wpo.aws.protocol.common"

local M = {}

local ref_parts = common.ref
local NOTRAITS = common.NOTRAITS
local NULL = common.NULL
local json_string, json_number = common.json_string, common.json_number
local tointeger = math.tointeger
local LIST_MT = common.LIST_MT

local encode

encode = function(model, ref, v, out, ts_default)
  local target, tr = ref, NOTRAITS
  if type(ref) ~= "string" then target, tr = ref[1], ref end
  if target == "string" then out[#out + 1] = json_string(v)
  elseif target == "integer" or target == "long" then out[#out + 1] = string.format("%d", tointeger(v))
  elseif target == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif target == "float" or target == "double" then
    out[#out + 1] = json_number(v) or error("cannot send a non-finite number as JSON", 0)
  elseif target == "timestamp" then
    local t = common.encode_time(v, tr.tf or ts_default)
    out[#out + 1] = type(t) == "string" and json_string(t) or string.format("%d", t)
  elseif target == "blob" then out[#out + 1] = json_string(crypto.base64(v))
  else
    local shape = model.shapes[target]
    if shape.T == "structure" then
      if shape.doc then out[#out + 1] = common.to_json(v) return end
      out[#out + 1] = "{"
      local first = true
      for i = 1, #shape, 2 do
        local name, mref = shape[i], shape[i + 1]
        local mv = v[name]
        if mv ~= nil and mv ~= NULL then
          local _, mtr = ref_parts(mref)
          if not mtr.l then
            out[#out + 1] = (first and "" or ",") .. json_string(mtr.n or name) .. ":"
            first = false
            encode(model, mref, mv, out, ts_default)
          end
        end
      end
      out[#out + 1] = "}"
    elseif shape.T == "list" then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(model, shape.m, v[i], out, ts_default)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        out[#out + 1] = (i > 1 and "," or "") .. json_string(tostring(k)) .. ":"
        encode(model, shape.v, v[k], out, ts_default)
      end
      out[#out + 1] = "}"
    end
  end
end

-- jsoncodec.encode(model, ref, value) -> JSON text (members with a location
-- — uri, header, querystring — are left out: they are not in the body).
function M.encode(model, ref, value)
  local out = {}
  encode(model, ref, value, out, "unixTimestamp")
  return table.concat(out)
end

-- Per structure: JSON name -> { name, ref }. Cached on the shape.
local function json_index(shape)
  local ji = shape._json
  if not ji then
    ji = {}
    for i = 1, #shape, 2 do
      local _, tr = ref_parts(shape[i + 1])
      if not tr.l then ji[tr.n or shape[i]] = { shape[i], shape[i + 1] } end
    end
    shape._json = ji
  end
  return ji
end

local decode

decode = function(model, ref, v)
  if v == NULL then return nil end
  local target = ref
  if type(ref) ~= "string" then target = ref[1] end
  if target == "string" then return type(v) == "string" and v or tostring(v) end
  if target == "integer" or target == "long" then
    if type(v) == "number" then return tointeger(v) or v end
    local n = tonumber(v)
    return n and (tointeger(n) or n)
  end
  if target == "boolean" then return v == true or v == "true" end
  if target == "float" or target == "double" then
    if type(v) == "number" then return v end
    if v == "NaN" then return 0 / 0 elseif v == "Infinity" then return math.huge
    elseif v == "-Infinity" then return -math.huge end
    return tonumber(v)
  end
  if target == "timestamp" then return common.decode_time(v) end
  if target == "blob" then return type(v) == "string" and (crypto.unbase64(v) or v) or v end
  local shape = model.shapes[target]
  if type(v) ~= "table" then return v end
  if shape.T == "structure" then
    if shape.doc then return v end
    local out = {}
    local ji = json_index(shape)
    for k, raw in pairs(v) do
      local e = ji[k]
      if e and raw ~= NULL then out[e[1]] = decode(model, e[2], raw) end
    end
    return out
  elseif shape.T == "list" then
    local list = setmetatable({}, LIST_MT)
    local n = 0
    for i = 1, #v do
      local item = decode(model, shape.m, v[i])
      if item ~= nil then n = n + 1 list[n] = item end
    end
    return list
  end
  local map = {}
  for k, raw in pairs(v) do
    if raw ~= NULL then map[decode(model, shape.k, k)] = decode(model, shape.v, raw) end
  end
  return map
end
M.decode = decode

-- jsoncodec.parse(body) -> value | nil, err ("" is {})
function M.parse(body)
  if body == nil or body == "" then return {} end
  local v, err = cjson.decode(body)
  if v == nil then return nil, "the response is not valid JSON: " .. tostring(err) end
  return v
end

-- jsoncodec.error_fields(resp) -> { code, message, request_id } for json and
-- rest-json errors (__type, x-amzn-query-error, x-amzn-errortype, code).
function M.error_fields(resp, rest)
  local body = {}
  if resp.body and resp.body ~= "" then
    local v = cjson.decode(resp.body)
    if type(v) == "table" then body = v else body = { message = resp.body } end
  end
  local h = resp.headers or {}
  local code
  local qe = h["x-amzn-query-error"]
  if qe then
    local c = qe:match("^([^;]+);[^;]*$")
    if c then code = c end
  end
  if not code and type(body.__type) == "string" then code = body.__type end
  if rest then
    if h["x-amzn-errortype"] then
      code = h["x-amzn-errortype"]:match("^[^:]*")
    elseif type(body.code) == "string" or type(body.Code) == "string" then
      code = body.code or body.Code
    end
  end
  if code then code = code:match("#([^#]*)$") or code end
  local message = body.message or body.Message
  if message == NULL then message = nil end
  return { code = code, message = message and tostring(message), request_id = h["x-amzn-requestid"] }
end

return M
