-- wpo.aws.protocol.xmlcodec: XML bodies for the ec2, query and rest-xml
-- protocols — decoding a wpo.core.xml tree by the output shape (lists and
-- maps recognised from the model, never guessed; scalars typed), encoding a
-- structure for rest-xml requests, and the protocols' error documents.
local crypto = require "wpo.core.crypto"
local xml = require "wpo.core.xml"
local common = require "wpo.aws.protocol.common"

local M = {}

local ref_parts = common.ref
local NOTRAITS = common.NOTRAITS
local LIST_MT = common.LIST_MT
local tointeger = math.tointeger

-- The element name a member is found under in its parent (botocore's
-- _member_key_name): a flattened list with a named member uses that name.
local function xml_name(model, name, ref)
  local target, tr = ref, NOTRAITS
  if type(ref) ~= "string" then target, tr = ref[1], ref end
  local shape = model.shapes[target]
  if shape and shape.T == "list" and tr.f then
    local _, mtr = ref_parts(shape.m)
    if mtr.n then return mtr.n end
  end
  return tr.n or name
end

-- Per structure: element name -> { name, ref, flat = "list" | "map" | nil },
-- plus the xmlAttribute members. Cached on the shape.
local function xml_index(model, shape)
  local xi = shape._xml
  if xi then return xi end
  xi = { attrs = nil, by = {} }
  for i = 1, #shape, 2 do
    local name, ref = shape[i], shape[i + 1]
    local target, tr = ref_parts(ref)
    if tr.x then
      xi.attrs = xi.attrs or {}
      xi.attrs[#xi.attrs + 1] = { name = name, ref = ref, attr = tr.n }
    elseif not tr.l then
      local s = model.shapes[target]
      local flat = tr.f and s and (s.T == "list" or s.T == "map") and s.T or nil
      xi.by[xml_name(model, name, ref)] = { name = name, ref = ref, flat = flat, shape = s, target = target }
    end
  end
  shape._xml = xi
  return xi
end

local decode

local function decode_scalar(target, s)
  if target == "string" then return s end
  if target == "integer" or target == "long" then
    local n = tonumber(s)
    return n and (tointeger(n) or n)
  end
  if target == "boolean" then return s == "true" end
  if target == "timestamp" then return common.decode_time(s) end
  if target == "float" or target == "double" then
    local n = tonumber(s)
    if n then return n end
    if s == "NaN" then return 0 / 0 elseif s == "Infinity" then return math.huge
    elseif s == "-Infinity" then return -math.huge end
    return nil
  end
  if target == "blob" then return crypto.unbase64(s) or s end
  return s
end
M.decode_scalar = decode_scalar

local function decode_map_entry(model, shape, entry, out)
  local _, ktr = ref_parts(shape.k)
  local _, vtr = ref_parts(shape.v)
  local kname, vname = ktr.n or "key", vtr.n or "value"
  local key, val
  for j = 1, #entry do
    local c = entry[j]
    if c.name == kname then key = decode(model, shape.k, c)
    elseif c.name == vname then val = decode(model, shape.v, c) end
  end
  if key ~= nil then out[key] = val end
end

local function decode_structure(model, shape, node)
  local out = {}
  local xi = xml_index(model, shape)
  local by = xi.by
  for i = 1, #node do
    local c = node[i]
    local e = by[c.name]
    if e then
      if e.flat == "list" then
        local list = out[e.name]
        if not list then
          list = setmetatable({}, LIST_MT)
          out[e.name] = list
        end
        list[#list + 1] = decode(model, e.shape.m, c)
      elseif e.flat == "map" then
        local map = out[e.name]
        if not map then map = {} out[e.name] = map end
        decode_map_entry(model, e.shape, c, map)
      elseif e.shape then
        out[e.name] = decode(model, e.ref, c)
      else
        out[e.name] = decode_scalar(e.target, c.text or "")
      end
    end
  end
  if xi.attrs and node.attrs then
    for _, a in ipairs(xi.attrs) do
      local v = node.attrs[a.attr] or node.attrs[a.attr:match(":(.*)$") or a.attr]
      if v ~= nil then out[a.name] = decode_scalar(ref_parts(a.ref), v) end
    end
  end
  return out
end

-- xmlcodec.decode(model, ref, node) -> the Lua value of node as ref describes
decode = function(model, ref, node)
  local target = ref
  if type(ref) ~= "string" then target = ref[1] end
  local shape = model.shapes[target]
  if not shape then return decode_scalar(target, node.text or "") end
  if shape.T == "structure" then return decode_structure(model, shape, node) end
  if shape.T == "list" then
    local list = setmetatable({}, LIST_MT)
    local mref = shape.m
    local mt = mref
    if type(mref) ~= "string" then mt = mref[1] end
    local mshape = model.shapes[mt]
    if mshape and mshape.T == "structure" then
      for i = 1, #node do list[i] = decode_structure(model, mshape, node[i]) end
    elseif mshape then
      for i = 1, #node do list[i] = decode(model, mref, node[i]) end
    else
      for i = 1, #node do list[i] = decode_scalar(mt, node[i].text or "") end
    end
    return list
  end
  local map = {}
  for i = 1, #node do decode_map_entry(model, shape, node[i], map) end
  return map
end
M.decode = decode

-- xmlcodec.parse(body) -> root | nil, err
function M.parse(body)
  return xml.decode(body)
end

-- xmlcodec.child(node, name) -> the first child element called name
function M.child(node, name)
  for i = 1, #node do
    if node[i].name == name then return node[i] end
  end
end

-------------------------------------------------------------------- encode

local xml_text, xml_attr = common.xml_text, common.xml_attr

local function scalar_text(target, tr, v)
  if target == "boolean" then return v and "true" or "false" end
  if target == "integer" or target == "long" then return string.format("%d", tointeger(v)) end
  if target == "float" or target == "double" then return common.json_number(v) end
  if target == "timestamp" then return tostring(common.encode_time(v, tr.tf or "iso8601")) end
  if target == "blob" then return crypto.base64(v) end
  return tostring(v)
end
M.scalar_text = scalar_text

local encode

local function ns_attr(tr)
  if not tr.ns then return "" end
  local name = tr.ns.prefix and ("xmlns:" .. tr.ns.prefix) or "xmlns"
  return " " .. name .. '="' .. xml_attr(tr.ns.uri) .. '"'
end

encode = function(model, ref, v, name, out)
  local target, tr = ref, NOTRAITS
  if type(ref) ~= "string" then target, tr = ref[1], ref end
  local shape = model.shapes[target]
  if not shape then
    out[#out + 1] = "<" .. name .. ">" .. xml_text(scalar_text(target, tr, v)) .. "</" .. name .. ">"
    return
  end
  if shape.T == "structure" then
    local attrs = ns_attr(tr)
    local open = #out + 1
    out[open] = false             -- the start tag, once the attributes are known
    for i = 1, #shape, 2 do
      local mname, mref = shape[i], shape[i + 1]
      local mv = v[mname]
      if mv ~= nil and mv ~= common.NULL then
        local mt, mtr = ref_parts(mref)
        if mtr.x then
          attrs = attrs .. " " .. mtr.n .. '="' .. xml_attr(scalar_text(mt, mtr, mv)) .. '"'
        else
          encode(model, mref, mv, mtr.n or mname, out)
        end
      end
    end
    if #out == open then
      out[open] = "<" .. name .. attrs .. " />"
    else
      out[open] = "<" .. name .. attrs .. ">"
      out[#out + 1] = "</" .. name .. ">"
    end
  elseif shape.T == "list" then
    local _, mtr = ref_parts(shape.m)
    if tr.f then
      for i = 1, #v do encode(model, shape.m, v[i], name, out) end
    else
      out[#out + 1] = "<" .. name .. ">"
      local item = mtr.n or "member"
      for i = 1, #v do encode(model, shape.m, v[i], item, out) end
      out[#out + 1] = "</" .. name .. ">"
    end
  else
    local _, ktr = ref_parts(shape.k)
    local _, vtr = ref_parts(shape.v)
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    out[#out + 1] = "<" .. name .. ">"
    for _, k in ipairs(keys) do
      out[#out + 1] = "<entry>"
      encode(model, shape.k, k, ktr.n or "key", out)
      encode(model, shape.v, v[k], vtr.n or "value", out)
      out[#out + 1] = "</entry>"
    end
    out[#out + 1] = "</" .. name .. ">"
  end
end

-- xmlcodec.encode(model, ref, value, root_name) -> XML text
function M.encode(model, ref, value, root_name)
  local out = {}
  encode(model, ref, value, root_name, out)
  return table.concat(out)
end

--------------------------------------------------------------------- errors

-- xmlcodec.error_fields(root) -> code, message, request_id from the error
-- documents of ec2 (<Response><Errors><Error>...<RequestID>), query
-- (<ErrorResponse><Error>...<RequestId>) and S3 (<Error>...<RequestId>).
function M.error_fields(root)
  local err = root
  if root.name ~= "Error" then
    local errs = M.child(root, "Errors")
    err = (errs and M.child(errs, "Error")) or M.child(root, "Error")
  end
  local function text_of(node, name)
    local c = node and M.child(node, name)
    return c and c.text or nil
  end
  local request_id = text_of(root, "RequestId") or text_of(root, "RequestID")
  if not err then return nil, nil, request_id end
  return text_of(err, "Code"), text_of(err, "Message"), request_id or text_of(err, "RequestId")
end

return M
