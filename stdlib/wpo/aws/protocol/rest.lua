-- wpo.aws.protocol.rest: what rest-json and rest-xml share — binding input
-- members to the URI ({Label}, greedy {Key+}), the query string, headers
-- (a prefix map for location "headers") and the body or payload member; and
-- reading output members from headers and the status code.
local cjson = require "cjson.safe"
local crypto = require "wpo.core.crypto"
local common = require "wpo.aws.protocol.common"

local M = {}

local ref_parts = common.ref
local NULL = common.NULL
local tointeger = math.tointeger

local function text_value(target, v)
  if target == "boolean" then return v and "true" or "false" end
  if target == "integer" or target == "long" then return string.format("%d", tointeger(v)) end
  if target == "float" or target == "double" then return common.json_number(v) end
  return tostring(v)
end

local function header_value(model, ref, v)
  local target, tr = ref_parts(ref)
  if target == "timestamp" then
    -- whole seconds in headers, as botocore sends them
    local sec, err = common.parse_time(v)
    if not sec then error(err, 0) end
    return tostring(common.encode_time(sec, tr.tf or "rfc822"))
  end
  if target == "string" and tr.j then
    return crypto.base64(common.to_json(v))
  end
  local shape = model.shapes[target]
  if shape and shape.T == "list" then
    local parts = {}
    for i = 1, #v do parts[i] = header_value(model, shape.m, v[i]) end
    return table.concat(parts, ",")
  end
  if target == "blob" then return crypto.base64(v) end
  return text_value(target, v)
end

local function query_value(target, tr, v)
  if target == "timestamp" then return tostring(common.encode_time(v, tr.tf or "iso8601")) end
  return text_value(target, v)
end

-- rest.build(model, op, params, body_encoder) -> request
-- body_encoder(model, ref, value, root_name, tr) -> text encodes the body
-- (a structure with only the body members, or the payload member).
-- body_encoder.empty: the body of an input with body members but no values
-- (rest-json "{}", rest-xml ""); body_encoder.content_type.
function M.build(model, op, params, codec)
  params = params or {}
  local template, static_query = op.u:match("^([^?]*)%??(.*)$")
  local req = { method = op.m or "POST", headers = {}, body = "" }
  local labels, query = {}, {}
  local body_params, has_body_member = nil, false
  local input = op.i and model.shapes[ref_parts(op.i)]
  if input then
    for i = 1, #input, 2 do
      local name, mref = input[i], input[i + 1]
      local target, tr = ref_parts(mref)
      local v = params[name]
      local loc = tr.l
      if not loc then has_body_member = true end
      if v ~= nil and v ~= NULL then
        local key = tr.n or name
        if loc == "uri" then
          labels[key] = text_value(target, v)
        elseif loc == "querystring" then
          local shape = model.shapes[target]
          if shape and shape.T == "map" then
            local keys = {}
            for k in pairs(v) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
              local mv = v[k]
              if type(mv) == "table" then
                for _, item in ipairs(mv) do query[#query + 1] = { k, tostring(item) } end
              else
                query[#query + 1] = { k, tostring(mv) }
              end
            end
          elseif shape and shape.T == "list" then
            local mt, mtr = ref_parts(shape.m)
            for _, item in ipairs(v) do query[#query + 1] = { key, query_value(mt, mtr, item) } end
          else
            query[#query + 1] = { key, query_value(target, tr, v) }
          end
        elseif loc == "header" then
          local shape = model.shapes[target]
          if not (shape and shape.T == "list" and #v == 0) then
            req.headers[key] = header_value(model, mref, v)
          end
        elseif loc == "headers" then
          for k, hv in pairs(v) do req.headers[key .. k] = tostring(hv) end
        elseif loc ~= "statusCode" then
          body_params = body_params or {}
          body_params[name] = v
        end
      end
    end
  end
  req.path = template:gsub("{([^}]+)}", function(label)
    local greedy = label:sub(-1) == "+"
    local name = greedy and label:sub(1, -2) or label
    local v = labels[name]
    if v == nil then
      error(string.format("missing the URI parameter %s", name), 0)
    end
    return common.percent_encode(v, greedy)
  end)
  local q = {}
  if static_query ~= "" then q[1] = static_query end
  if #query > 0 then
    table.sort(query, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
    for _, kv in ipairs(query) do
      q[#q + 1] = common.percent_encode(kv[1]) .. "=" .. common.percent_encode(kv[2])
    end
  end
  req.query = table.concat(q, "&")
  if input then
    local payload = input.payload
    if payload then
      local pref = common.member(input, payload)
      local ptarget, ptr = ref_parts(pref)
      local pv = params[payload]
      if ptarget == "blob" or ptarget == "string" then
        req.body = (pv ~= nil and pv ~= NULL) and pv or ""
        req.streaming = true
      elseif pv ~= nil and pv ~= NULL then
        req.body = codec.encode_body(model, pref, pv, ptr.n or payload)
      else
        req.body = codec.empty or ""
      end
    elseif body_params then
      local _, itr = ref_parts(op.i)
      req.body = codec.encode_body(model, op.i, body_params, itr.n)
    elseif has_body_member then
      req.body = codec.empty or ""
    end
  end
  if codec.content_type and req.body ~= "" and not req.streaming then
    local has = false
    for k in pairs(req.headers) do if k:lower() == "content-type" then has = true end end
    if not has then req.headers["Content-Type"] = codec.content_type end
  end
  if op.hp then
    req.host_prefix = op.hp:gsub("{([^}]+)}", function(name)
      return tostring(params[name] or error("missing the host label " .. name, 0))
    end)
  end
  return req
end

local function header_decode(model, ref, s)
  local target, tr = ref_parts(ref)
  if target == "string" then
    if tr.j then
      local decoded = crypto.unbase64(s)
      local v = decoded and cjson.decode(decoded)
      if v ~= nil then return v end
    end
    return s
  end
  if target == "integer" or target == "long" then
    local n = tonumber(s)
    return n and (tointeger(n) or n)
  end
  if target == "float" or target == "double" then return tonumber(s) end
  if target == "boolean" then return s == "true" end
  if target == "timestamp" then return common.decode_time(s) end
  if target == "blob" then return crypto.unbase64(s) or s end
  local shape = model.shapes[target]
  if shape and shape.T == "list" then
    local list = setmetatable({}, common.LIST_MT)
    for item in (s .. ","):gmatch("%s*([^,]-)%s*,") do
      list[#list + 1] = header_decode(model, shape.m, item)
    end
    return list
  end
  return s
end

-- rest.decode_located(model, shape, resp, out): fill out with the members
-- bound to headers and the status code. resp.headers have lower-case names.
function M.decode_located(model, shape, resp, out)
  for i = 1, #shape, 2 do
    local name, mref = shape[i], shape[i + 1]
    local _, tr = ref_parts(mref)
    local loc = tr.l
    if loc == "header" then
      local v = resp.headers[(tr.n or name):lower()]
      if v ~= nil then out[name] = header_decode(model, mref, v) end
    elseif loc == "headers" then
      local prefix = (tr.n or ""):lower()
      local map = {}
      for k, v in pairs(resp.headers) do
        if k:sub(1, #prefix) == prefix then map[k:sub(#prefix + 1)] = v end
      end
      out[name] = map
    elseif loc == "statusCode" then
      out[name] = resp.status
    end
  end
end

-- rest.request_id(headers) -> the request id of a rest response
function M.request_id(headers)
  return headers["x-amzn-requestid"] or headers["x-amz-request-id"]
end

return M
