-- wpo.aws.protocol.rest_xml: the "rest-xml" protocol (Route 53, S3): members
-- bound to the URI, query string and headers; the rest (or the payload
-- member) as an XML document named by the input's locationName, with its
-- xmlNamespace; errors as <ErrorResponse><Error> (Route 53) or <Error> (S3),
-- and from the status alone when the body is empty (HEAD).
local common = require "wpo.aws.protocol.common"
local rest = require "wpo.aws.protocol.rest"
local xmlcodec = require "wpo.aws.protocol.xmlcodec"

local M = {}

local codec = {
  empty = "",
  encode_body = function(model, ref, value, root)
    return xmlcodec.encode(model, ref, value, root)
  end,
}

-- rest_xml.build(model, meta, op_name, op, params) -> request
function M.build(model, _meta, _op_name, op, params)
  return rest.build(model, op, params, codec)
end

-- rest_xml.parse(model, op, resp) -> result, request_id | nil, err
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
      elseif resp.body ~= "" then
        local root, err = xmlcodec.parse(resp.body)
        if not root then return nil, "the response is not valid XML: " .. tostring(err) end
        result[payload] = xmlcodec.decode(model, pref, root)
      end
    elseif resp.body ~= "" then
      local root, err = xmlcodec.parse(resp.body)
      if not root then return nil, "the response is not valid XML: " .. tostring(err) end
      for k, v in pairs(xmlcodec.decode(model, op.o, root)) do result[k] = v end
    end
  end
  return result, rest.request_id(resp.headers)
end

-- rest_xml.parse_error(model, op, resp) -> { code, message, request_id }
function M.parse_error(_model, _op, resp)
  local rid = rest.request_id(resp.headers)
  local root = resp.body ~= "" and xmlcodec.parse(resp.body)
  if not root then return { request_id = rid } end
  local code, message, body_rid = xmlcodec.error_fields(root)
  return { code = code, message = message, request_id = rid or body_rid }
end

return M
