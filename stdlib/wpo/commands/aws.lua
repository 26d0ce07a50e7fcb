-- wpo aws SERVICE OPERATION [JSON]: one raw AWS call, its decoded response
-- printed as JSON. Users debug with it; tests use it.
--   wpo aws ec2 DescribeVpcs '{"Filters":[{"Name":"tag:Name","Values":["main"]}]}'
-- Names are AWS's own (botocore's service names: ec2, elbv2, ...). Blob
-- parameters are given as text; blobs in the response are printed base64.
-- A failure prints the structured error as JSON on stdout, one line on
-- stderr, and exits 1.
local cjson = require "cjson.safe"
local cli = require "wpo.cli"
local errors = require "wpo.errors"

local M = {
  summary = "call one AWS operation and print the response as JSON",
  args = { "SERVICE", "OPERATION", "[JSON]" },
  options = {
    region = { type = "string", metavar = "REGION", help = "the region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile)" },
    endpoint_url = { type = "string", metavar = "URL", help = "send to this endpoint instead" },
    profile = { type = "string", metavar = "NAME", help = "the shared config profile" },
    max_attempts = { type = "integer", min = 1, metavar = "N", help = "attempts per call, retries included (default 3)" },
    paginate = { type = "boolean", help = "follow every page and print them merged" },
  },
}

do
  local names = {}
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  for k in pairs(require "wpo.aws.services") do names[#names + 1] = k end
  table.sort(names)
  M.help = "SERVICE is one of: " .. table.concat(names, ", ") .. ".\n"
    .. "OPERATION and the members in JSON are AWS's own names, e.g.\n"
    .. "  wpo aws ec2 DescribeVpcs '{\"VpcIds\":[\"vpc-1\"]}'"
end

local ERROR_FIELDS = { "service", "operation", "code", "message", "status", "request_id", "retryable", "attempts",
  "outcome" }

function M.run(opts, args)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local aws = require "wpo.aws"
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local client_mod = require "wpo.aws.client"
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local common = require "wpo.aws.protocol.common"
  local service, op_name, json = args[1], args[2], args[3]
  local params = {}
  if json and json ~= "" then
    local err
    params, err = cjson.decode(json)
    if type(params) ~= "table" then
      cli.usage_error("JSON parameters: %s", err or "expected an object")
    end
  end
  local copts = { region = opts.region, endpoint = opts.endpoint_url, profile = opts.profile,
    max_attempts = opts.max_attempts }
  local ok, res = pcall(function()
    local c = aws.client(service, copts)
    local op, model = c:operation(op_name)
    local result
    if opts.paginate then
      result = c:collect(op_name, params)
    else
      result = c:call(op_name, params)
    end
    if not op.o then return result end          -- an operation without output (DeleteVpc): {}
    return client_mod.present(model, op.o, result)
  end)
  if not ok then
    if errors.is(res) then
      local e = {}
      for _, k in ipairs(ERROR_FIELDS) do e[k] = res[k] end
      io.stdout:write(common.to_json({ Error = e }, "  "), "\n")
    end
    error(res, 0)
  end
  io.stdout:write(common.to_json(res, "  "), "\n")
  return 0
end

return M
