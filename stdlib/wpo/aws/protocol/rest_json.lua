-- wpo.aws.protocol.rest_json: the "rest-json" protocol (EFS, ...): members
-- bound to the URI, query string and headers; the rest as a JSON body;
-- errors from x-amzn-errortype or the body's code.
local common = require "wpo.aws.protocol.common"
local jsoncodec = require "wpo.aws.protocol.jsoncodec"
local rest = require "wpo.aws.protocol.rest"

local M = {}

local codec = {
  empty = "{}",
  content_type = "application/json",
  encode_body = function(model, ref, value) return jsoncodec.encode(model, ref, value) end,
}

-- rest_json.build(model, meta, op_name, op, params) -> request
function M.build(model, _meta, _op_name, op, params)
  return rest.build(model, op, params, codec)
end

-- rest_json.parse(model, op, resp) -> result, request_id | nil, err
function M.parse(model, op, resp)
  local result = {}
  if op.o then
    local shape = model.shapes[common.ref(op.o)]
    rest.decode_located(model, shape, resp, result)
    local payload = shape.payload
    if payload then
      local pref = common.member(shape, payload)
      local ptarget = common.ref(pref)
      if ptarget == "blob" or ptarget == "string" then
        result[payload] = resp.body
      else
        local v, err = jsoncodec.parse(resp.body)
        if v == nil then return nil, err end
        result[payload] = jsoncodec.decode(model, pref, v)
      end
    else
      local v, err = jsoncodec.parse(resp.body)
      if v == nil then return nil, err end
      for k, val in pairs(jsoncodec.decode(model, op.o, v)) do result[k] = val end
    end
  end
  return result, rest.request_id(resp.headers)
end

-- rest_json.parse_error(model, op, resp) -> { code, message, request_id }
function M.parse_error(_model, _op, resp)
  local e = jsoncodec.error_fields(resp, true)
  e.request_id = e.request_id or rest.request_id(resp.headers)
  return e
end

return M
