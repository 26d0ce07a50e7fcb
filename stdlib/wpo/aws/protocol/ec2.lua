-- wpo.aws.protocol.ec2: the "ec2" protocol — the query protocol with EC2's
-- rules: lists always flattened as Name.N, names from queryName or the
-- capitalised locationName, responses not wrapped (<requestId> at the top),
-- errors as <Response><Errors><Error>... <RequestID>.
local query = require "wpo.aws.protocol.query"
local xmlcodec = require "wpo.aws.protocol.xmlcodec"

local M = {}

-- ec2.build(model, meta, op_name, op, params) -> request
function M.build(model, meta, op_name, op, params)
  return query.build(model, meta, op_name, op, params, true)
end

-- ec2.parse(model, op, resp) -> result, request_id | nil, err
function M.parse(model, op, resp)
  local root, err = xmlcodec.parse(resp.body)
  if not root then return nil, "the response is not valid XML: " .. tostring(err) end
  local result = op.o and xmlcodec.decode(model, op.o, root) or {}
  local rid = xmlcodec.child(root, "requestId")
  return result, rid and rid.text or nil
end

-- ec2.parse_error(model, op, resp) -> { code, message, request_id }
M.parse_error = query.parse_error

return M
