-- wpo.aws.protocol.query: the AWS "query" protocol (IAM, STS, RDS,
-- ElastiCache, ELBv2, CloudWatch, Auto Scaling): parameters flattened into
-- a form body (Action, Version, Name.member.N, Map.entry.N.key), XML
-- responses wrapped in <OperationResult>, errors in <ErrorResponse>.
-- wpo.aws.protocol.ec2 reuses flatten() with EC2's naming rules.
local crypto = require "wpo.core.crypto"
local common = require "wpo.aws.protocol.common"
local xmlcodec = require "wpo.aws.protocol.xmlcodec"

local M = {}

local ref_parts = common.ref
local NOTRAITS = common.NOTRAITS
local NULL = common.NULL

-- EC2's wire name: queryName, else the capitalised locationName (cached on
-- the ref), else the member name.
local function ec2_name(name, tr)
  if tr.q then return tr.q end
  if tr.n then
    local cached = tr._ec2
    if not cached then
      cached = tr.n:sub(1, 1):upper() .. tr.n:sub(2)
      if tr ~= common.NOTRAITS then tr._ec2 = cached end
    end
    return cached
  end
  return name
end

local flatten

local function scalar(target, tr, v, prefix, out)
  local s
  if target == "boolean" then s = v and "true" or "false"
  elseif target == "integer" or target == "long" then s = string.format("%d", math.tointeger(v))
  elseif target == "float" or target == "double" then s = common.json_number(v)
  elseif target == "timestamp" then s = tostring(common.encode_time(v, tr.tf or "iso8601", prefix))
  elseif target == "blob" then s = crypto.base64(v)
  else s = v end
  out[#out + 1] = { prefix, s }
end

-- A structure's members with their wire names (query or EC2 rules), target
-- and composite shape, computed once and cached on the shape.
local function compiled(model, shape, ec2)
  local field = ec2 and "_qec2" or "_q"
  local members = shape[field]
  if members then return members end
  members = {}
  for i = 1, #shape, 2 do
    local name, mref = shape[i], shape[i + 1]
    local target, mtr = ref_parts(mref)
    members[#members + 1] = { name = name, ref = mref, target = target, tr = mtr,
      shape = model.shapes[target], key = ec2 and ec2_name(name, mtr) or (mtr.n or name) }
  end
  shape[field] = members
  return members
end

-- query.flatten(model, ref, value, prefix, out, ec2): append {key, value}
-- pairs for value to out.
flatten = function(model, ref, v, prefix, out, ec2)
  local target, tr = ref, NOTRAITS
  if type(ref) ~= "string" then target, tr = ref[1], ref end
  local shape = model.shapes[target]
  if not shape then return scalar(target, tr, v, prefix, out) end
  if shape.T == "structure" then
    if shape.doc then error("document members are not supported by the query protocol") end
    local members = compiled(model, shape, ec2)
    for i = 1, #members do
      local m = members[i]
      local mv = v[m.name]
      if mv ~= nil and mv ~= NULL then
        local key = prefix == "" and m.key or (prefix .. "." .. m.key)
        if m.shape then
          flatten(model, m.ref, mv, key, out, ec2)
        else
          scalar(m.target, m.tr, mv, key, out)
        end
      end
    end
  elseif shape.T == "list" then
    local _, mtr = ref_parts(shape.m)
    local list_prefix
    if ec2 then
      list_prefix = prefix
    else
      if #v == 0 then
        out[#out + 1] = { prefix, "" }
        return
      end
      if tr.f then
        list_prefix = prefix
        if mtr.n then
          -- the list's own name is replaced by its member's: Parent.MemberName.N
          local parent = prefix:match("^(.*)%.[^.]*$")
          list_prefix = parent and (parent .. "." .. mtr.n) or mtr.n
        end
      else
        list_prefix = prefix .. "." .. (mtr.n or "member")
      end
    end
    for i = 1, #v do flatten(model, shape.m, v[i], list_prefix .. "." .. i, out, ec2) end
  else
    local _, ktr = ref_parts(shape.k)
    local _, vtr = ref_parts(shape.v)
    local base = tr.f and prefix or (prefix .. ".entry")
    local kname, vname = ktr.n or "key", vtr.n or "value"
    if ec2 then
      kname = ktr.n and ec2_name(nil, ktr) or "key"
      vname = vtr.n and ec2_name(nil, vtr) or "value"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do
      flatten(model, shape.k, k, base .. "." .. i .. "." .. kname, out, ec2)
      flatten(model, shape.v, v[k], base .. "." .. i .. "." .. vname, out, ec2)
    end
  end
end
M.flatten = flatten

-- query.build(model, meta, op_name, op, params, ec2) -> request
-- request = { method, path, query, headers, body }
function M.build(model, meta, op_name, op, params, ec2)
  local out = { { "Action", op_name }, { "Version", meta.api_version } }
  if op.i then flatten(model, op.i, params or {}, "", out, ec2) end
  return {
    method = op.m or "POST",
    path = "/",
    query = "",
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" },
    body = common.form(out),
  }
end

local function parse_xml(resp)
  local root, err = xmlcodec.parse(resp.body)
  if not root then return nil, "the response is not valid XML: " .. tostring(err) end
  return root
end

-- query.parse(model, op, resp) -> result, request_id | nil, err
function M.parse(model, op, resp)
  local root, err = parse_xml(resp)
  if not root then return nil, err end
  local result = {}
  if op.o then
    local _, tr = ref_parts(op.o)
    local start = root
    if tr.rw then start = xmlcodec.child(root, tr.rw) end
    if start then result = xmlcodec.decode(model, op.o, start) end
  end
  local meta = xmlcodec.child(root, "ResponseMetadata")
  local rid = meta and xmlcodec.child(meta, "RequestId")
  return result, rid and rid.text or nil
end

-- query.parse_error(model, op, resp) -> { code, message, request_id }
function M.parse_error(_model, _op, resp)
  local root = resp.body ~= "" and xmlcodec.parse(resp.body)
  if not root then return { request_id = resp.headers["x-amzn-requestid"] } end
  local code, message, rid = xmlcodec.error_fields(root)
  return { code = code, message = message, request_id = rid or resp.headers["x-amzn-requestid"] }
end

return M
