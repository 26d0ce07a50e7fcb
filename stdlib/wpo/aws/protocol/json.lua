-- wpo.aws.protocol.json: the AWS "json" protocol, 1.0 (DynamoDB) and 1.1
-- (ECS, ECR, Logs, SSM, KMS, Secrets Manager...): POST / with
-- X-Amz-Target: <targetPrefix>.<Operation> and a JSON body; JSON responses;
-- errors from __type (or x-amzn-query-error) and message.
local jsoncodec = require "wpo.aws.protocol.jsoncodec"

local M = {}

-- json.build(model, meta, op_name, op, params) -> request
function M.build(model, meta, op_name, op, params)
  return {
    method = op.m or "POST",
    path = "/",
    query = "",
    headers = {
      ["X-Amz-Target"] = meta.target_prefix .. "." .. op_name,
      ["Content-Type"] = "application/x-amz-json-" .. meta.json_version,
    },
    body = op.i and jsoncodec.encode(model, op.i, params or {}) or "{}",
  }
end

-- json.parse(model, op, resp) -> result, request_id | nil, err
function M.parse(model, op, resp)
  local v, err = jsoncodec.parse(resp.body)
  if v == nil then return nil, err end
  local result = op.o and jsoncodec.decode(model, op.o, v) or {}
  return result, resp.headers["x-amzn-requestid"]
end

-- json.parse_error(model, op, resp) -> { code, message, request_id }
function M.parse_error(_model, _op, resp)
  return jsoncodec.error_fields(resp, false)
end

return M
