-- wpo.aws.protocol.common: what the five protocols share — walking the
-- generated models (refs, member indexes), parameter validation, timestamps,
-- percent-encoding, JSON and XML text helpers.
--
-- A model is what tools/genmodels.py generates (see its docstring): a ref is a
-- target name or { target, traits... }; a structure lists its members as
-- name, ref pairs in model order. Indexes are built lazily and cached on the
-- shape tables (fields starting with "_").
local cjson = require "cjson"
local errors = require "wpo.errors"
local text = require "wpo.text"

local M = {}

local NOTRAITS = setmetatable({}, { __newindex = function() error("read-only", 2) end })
M.NOTRAITS = NOTRAITS
M.NULL = cjson.null   -- JSON null in parameters: treated as absent

M.SCALARS = {
  string = true, integer = true, long = true, boolean = true, timestamp = true,
  blob = true, float = true, double = true,
}

-- Decoded lists carry this metatable, so an empty list is still a list when
-- printed as JSON (wpo aws) — common.is_list(t).
M.LIST_MT = { __name = "wpo.aws.list" }
function M.is_list(t) return getmetatable(t) == M.LIST_MT end

-- common.ref(ref) -> target, traits
local function ref_parts(ref)
  if type(ref) == "string" then return ref, NOTRAITS end
  return ref[1], ref
end
M.ref = ref_parts

-- common.member_index(shape) -> { Name = position } (position of the name;
-- the ref is at position + 1)
local function member_index(shape)
  local idx = shape._idx
  if not idx then
    idx = {}
    for i = 1, #shape, 2 do idx[shape[i]] = i end
    shape._idx = idx
  end
  return idx
end
M.member_index = member_index

function M.member_names(shape)
  local names = {}
  for i = 1, #shape, 2 do names[#names + 1] = shape[i] end
  return names
end

-- common.member(shape, name) -> ref | nil
function M.member(shape, name)
  local i = member_index(shape)[name]
  return i and shape[i + 1]
end

------------------------------------------------------------------ timestamps

local floor = math.floor

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }
local MONTH_NAMES = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
local DAY_NAMES = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" } -- day 0 = 1970-01-01, a Thursday

local function from_number(v)
  local sec = floor(v)
  local usec = floor((v - sec) * 1e6 + 0.5)
  if usec >= 1000000 then sec, usec = sec + 1, usec - 1000000 end
  return math.tointeger(sec), math.tointeger(usec)
end

-- common.parse_time(v) -> seconds (integer), microseconds | nil, err
-- v: epoch number (or numeric string), ISO 8601 (with any offset, or a date),
-- or RFC 822/1123 ("Wed, 02 Jan 2023 03:04:05 GMT").
function M.parse_time(v)
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return nil, "not a finite number" end
    return from_number(v)
  end
  if type(v) ~= "string" then return nil, "a timestamp is a number or a string, not a " .. type(v) end
  if v:match("^%s*%-?%d+%.?%d*%s*$") then return from_number(tonumber(v)) end
  local y, mo, d, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if y then
    local h, mi, s, frac, tz = 0, 0, 0, "", ""
    if rest ~= "" then
      h, mi, s, frac, tz = rest:match("^[Tt ](%d%d):(%d%d):(%d%d)([%.,]?%d*)(.*)$")
      if not h then
        h, mi, tz = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
        s, frac = 0, ""
      end
      if not h then return nil, "not an ISO 8601 timestamp: " .. v end
    end
    local offset = 0
    if tz ~= "" and tz ~= "Z" and tz ~= "z" then
      local sign, oh, om = tz:match("^([%+%-])(%d%d):?(%d%d)$")
      if not sign then
        sign, oh = tz:match("^([%+%-])(%d%d)$")
        om = "0"
      end
      if not sign then return nil, "not an ISO 8601 timestamp: " .. v end
      offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
    end
    local usec = 0
    if #frac > 1 then
      local digits = (frac:sub(2) .. "000000"):sub(1, 6)
      usec = tonumber(digits)
      local next_digit = frac:sub(8, 8)
      if next_digit ~= "" and tonumber(next_digit) >= 5 then usec = usec + 1 end
    end
    y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
    if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 24 or mi > 59 or s > 60 then
      return nil, "not a valid date and time: " .. v
    end
    local sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    if usec >= 1000000 then sec, usec = sec + 1, usec - 1000000 end
    return sec, usec
  end
  local dd, mon, yy, hh, mm, ss, zone = v:match("^%a+,%s+(%d+)%s+(%a+)%s+(%d+)%s+(%d+):(%d+):(%d+)%s*(%S*)%s*$")
  if dd and MONTHS[mon] and (zone == "" or zone == "GMT" or zone == "UTC" or zone == "Z" or zone == "+0000") then
    return days_from_civil(tonumber(yy), MONTHS[mon], tonumber(dd)) * 86400
      + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss), 0
  end
  return nil, "not a timestamp: " .. v
end

local function civil(sec)
  local days = sec // 86400
  local rem = sec - days * 86400
  local y, m, d = civil_from_days(days)
  return y, m, d, rem // 3600, (rem % 3600) // 60, rem % 60, days
end

-- common.iso8601(sec, usec, style) -> "2023-01-02T03:04:05Z"
-- style "wire" (what botocore sends): 6 fraction digits when usec > 0;
-- otherwise (what wpo returns): the fraction without trailing zeros.
function M.iso8601(sec, usec, style)
  local y, m, d, hh, mm, ss = civil(sec)
  local base = string.format("%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, hh, mm, ss)
  if not usec or usec == 0 then return base .. "Z" end
  local frac = string.format("%06d", usec)
  if style ~= "wire" then frac = frac:gsub("0+$", "") end
  return base .. "." .. frac .. "Z"
end

-- common.rfc822(sec) -> "Mon, 02 Jan 2023 03:04:05 GMT"
function M.rfc822(sec)
  local y, m, d, hh, mm, ss, days = civil(sec)
  return string.format("%s, %02d %s %04d %02d:%02d:%02d GMT", DAY_NAMES[days % 7 + 1], d,
    MONTH_NAMES[m], y, hh, mm, ss)
end

-- common.decode_time(v) -> ISO 8601 string as wpo presents timestamps, or
-- the raw value when it is not a timestamp (never raises on service output).
function M.decode_time(v)
  local sec, usec = M.parse_time(v)
  if not sec then return v end
  return M.iso8601(sec, usec)
end

-- common.encode_time(v, format) -> string or integer for the wire
-- format: "iso8601" | "unixTimestamp" | "rfc822"
function M.encode_time(v, format, where)
  local sec, usec = M.parse_time(v)
  if not sec then
    errors.raise { code = "ParamValidationError", message = string.format("%s: %s", where or "timestamp", usec) }
  end
  format = format:lower()
  if format == "iso8601" then return M.iso8601(sec, usec, "wire") end
  if format == "unixtimestamp" then return sec end
  if format == "rfc822" then return M.rfc822(sec) end
  error("unknown timestamp format " .. format)
end

----------------------------------------------------------- text encodings

local function pct_byte(c) return string.format("%%%02X", c:byte()) end

-- common.percent_encode(s, keep_slash) -> RFC 3986 encoding (unreserved kept)
local function percent_encode(s, keep_slash)
  if keep_slash then
    if not s:find("[^%w%-%._~/]") then return s end
    return (s:gsub("[^%w%-%._~/]", pct_byte))
  end
  if not s:find("[^%w%-%._~]") then return s end
  return (s:gsub("[^%w%-%._~]", pct_byte))
end
M.percent_encode = percent_encode

-- common.form(pairs) -> "k=v&k=v" from an array of {k, v}, in that order
function M.form(list)
  local out = {}
  for i = 1, #list do
    local kv = list[i]
    out[i] = percent_encode(kv[1]) .. "=" .. percent_encode(kv[2])
  end
  return table.concat(out, "&")
end

local cjson_encode = cjson.encode
-- common.json_string(s) -> a JSON string literal. lua-cjson escapes "/" as
-- "\/"; that is valid JSON but noisy in ARNs, so it is undone (an escaped
-- backslash is always "\\", so "\/" can only be cjson's escape).
local function json_string(s)
  local out = cjson_encode(s)
  if out:find("\\/", 1, true) then out = out:gsub("\\/", "/") end
  return out
end
M.json_string = json_string

-- common.json_number(v) -> text; integers exactly, floats round-trip
function M.json_number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v or v == math.huge or v == -math.huge then return nil end
  if v == floor(v) and v > -2^53 and v < 2^53 then return string.format("%.1f", v) end
  local s = string.format("%.15g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end
  return s
end

-- common.json_encode(v) -> JSON text of any Lua value (documents, wpo aws output).
-- Lists marked with LIST_MT or non-empty sequences are arrays; other tables objects.
local function json_encode(v, out, indent, depth)
  local t = type(v)
  if t == "string" then out[#out + 1] = json_string(v)
  elseif t == "number" then
    out[#out + 1] = M.json_number(v) or "null"
  elseif t == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == cjson.null then out[#out + 1] = "null"
  elseif t == "table" then
    local n = #v
    local is_array = getmetatable(v) == M.LIST_MT or (n > 0 and M.is_sequence(v))
    local nl = indent and ("\n" .. string.rep(indent, depth + 1)) or ""
    local close_nl = indent and ("\n" .. string.rep(indent, depth)) or ""
    if is_array then
      if n == 0 then out[#out + 1] = "[]" return end
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = nl
        json_encode(v[i], out, indent, depth + 1)
      end
      out[#out + 1] = close_nl .. "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      if #keys == 0 then out[#out + 1] = "{}" return end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = nl .. json_string(k) .. (indent and ": " or ":")
        local val = v[k]
        if val == nil then val = v[math.tointeger(tonumber(k))] end
        json_encode(val, out, indent, depth + 1)
      end
      out[#out + 1] = close_nl .. "}"
    end
  else
    error("cannot encode a " .. t .. " as JSON", 0)
  end
end

-- common.to_json(v, indent) -> text (keys sorted; indent e.g. "  " to pretty-print)
function M.to_json(v, indent)
  local out = {}
  json_encode(v, out, indent, 0)
  return table.concat(out)
end

local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
  ["\r"] = "&#13;", ["\n"] = "&#10;", ["\t"] = "&#9;" }
-- common.xml_text(s) / common.xml_attr(s) -> escaped
function M.xml_text(s)
  if not s:find("[&<>\r]") then return s end
  return (s:gsub("[&<>\r]", XML_ESC))
end
function M.xml_attr(s)
  if not s:find('[&<>"\r\n\t]') then return s end
  return (s:gsub('[&<>"\r\n\t]', XML_ESC))
end

------------------------------------------------------------------ validation

local function type_name(v)
  local t = type(v)
  if t == "number" then return math.type(v) end
  return t
end

local function is_sequence(v)
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end
M.is_sequence = is_sequence

-- A value's path in error messages is built only when needed: parent is the
-- path of the enclosing value, seg a member name (".Name"), a list index
-- ("[3]") or { text } (a map key, taken as is).
local function join(parent, seg)
  local t = type(seg)
  if t == "string" then return parent .. "." .. seg end
  if t == "number" then return parent .. "[" .. seg .. "]" end
  if seg == nil then return parent end
  return parent .. seg[1]
end

local function check(model, ref, v, parent, seg, problems)
  local target = ref
  if type(ref) ~= "string" then target = ref[1] end
  if v == cjson.null then return end
  local tv = type(v)
  if target == "string" then
    if tv ~= "string" then problems[#problems + 1] = join(parent, seg) .. ": expected a string, got " .. type_name(v) end
  elseif target == "integer" or target == "long" then
    if math.type(v) == "integer" then return end
    if tv == "number" and v == floor(v) and math.tointeger(v) then return end
    problems[#problems + 1] = join(parent, seg) .. ": expected an integer, got " .. type_name(v)
  elseif target == "float" or target == "double" then
    if tv ~= "number" then problems[#problems + 1] = join(parent, seg) .. ": expected a number, got " .. type_name(v) end
  elseif target == "boolean" then
    if tv ~= "boolean" then problems[#problems + 1] = join(parent, seg) .. ": expected a boolean, got " .. type_name(v) end
  elseif target == "timestamp" then
    local ok, err = M.parse_time(v)
    if not ok then problems[#problems + 1] = join(parent, seg) .. ": " .. err end
  elseif target == "blob" then
    if tv ~= "string" then
      problems[#problems + 1] = join(parent, seg) .. ": expected a string (bytes), got " .. type_name(v)
    end
  else
    local shape = model.shapes[target]
    if shape.doc then return end
    local path = join(parent, seg)
    if tv ~= "table" then
      problems[#problems + 1] = string.format("%s: expected a %s, got %s", path,
        shape.T == "structure" and "table of members" or shape.T == "list" and "list" or "map", type_name(v))
      return
    end
    if shape.T == "structure" then
      local idx = member_index(shape)
      for k, mv in pairs(v) do
        local i = type(k) == "string" and idx[k]
        if not i then
          local names = M.member_names(shape)
          local near = type(k) == "string" and text.closest(k, names)
          problems[#problems + 1] = string.format("%s: unknown parameter %s%s", path, tostring(k),
            near and (" (did you mean " .. near .. "?)") or
            (" (valid: " .. table.concat(names, ", ") .. ")"))
        else
          check(model, shape[i + 1], mv, path, k, problems)
        end
      end
      local required = shape._req
      if not required then
        required = {}
        for i = 1, #shape, 2 do
          local mref = shape[i + 1]
          if type(mref) == "table" and mref.r then required[#required + 1] = shape[i] end
        end
        shape._req = required
      end
      for j = 1, #required do
        local name = required[j]
        if v[name] == nil or v[name] == cjson.null then
          problems[#problems + 1] = path .. ": missing required parameter " .. name
        end
      end
      if shape.union then
        local n = 0
        for _ in pairs(v) do n = n + 1 end
        if n ~= 1 then problems[#problems + 1] = path .. ": exactly one member must be set" end
      end
    elseif shape.T == "list" then
      if not is_sequence(v) then
        problems[#problems + 1] = path .. ": expected a list (a sequence 1..n)"
        return
      end
      local mref = shape.m
      for i = 1, #v do check(model, mref, v[i], path, i, problems) end
    else
      for k, mv in pairs(v) do
        check(model, shape.k, k, path, { " key" }, problems)
        check(model, shape.v, mv, path, { "[" .. tostring(k) .. "]" }, problems)
      end
    end
  end
end

-- common.validate(model, ref, params, op_name): raises a ParamValidationError
-- listing every problem (unknown members with the valid ones, missing
-- required members, wrong types).
function M.validate(model, ref, params, op_name)
  if ref == nil then
    if params ~= nil and next(params) ~= nil then
      errors.raise { code = "ParamValidationError",
        message = op_name .. " takes no parameters" }
    end
    return
  end
  local problems = {}
  check(model, ref, params or {}, op_name, nil, problems)
  if #problems > 0 then
    errors.raise { code = "ParamValidationError", message = table.concat(problems, "; ") }
  end
end

-- common.each_member(shape, params, fn): fn(name, ref, value) for each member
-- present in params (cjson.null skipped), in model order.
function M.each_member(shape, params, fn)
  for i = 1, #shape, 2 do
    local name = shape[i]
    local v = params[name]
    if v ~= nil and v ~= cjson.null then fn(name, shape[i + 1], v) end
  end
end

return M
