-- wpo.cidr: IP prefix arithmetic for stack scripts (IPv4 and IPv6), in the
-- manner of Terraform's cidrsubnet / cidrhost / cidrnetmask / cidrsubnets.
--
--   cidr.parse(s) -> { version = 4|6, bytes = {...}, prefix = n } | nil, err
--   cidr.valid(s) -> boolean
--   cidr.subnet(prefix, newbits, netnum) -> "10.0.3.0/24"
--   cidr.subnets(prefix, newbits, ...) -> { consecutive prefixes of those sizes }
--   cidr.host(prefix, hostnum) -> "10.0.0.5"   (negative: counted from the end)
--   cidr.netmask(prefix) -> "255.255.0.0"      (IPv4)
--   cidr.contains(prefix, address_or_prefix) -> boolean
-- Misuse (a malformed prefix, a number that does not fit) raises.
local M = {}

local function parse_v4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local bytes = {}
  for i, part in ipairs({ a, b, c, d }) do
    local n = tonumber(part)
    if n > 255 or (#part > 1 and part:sub(1, 1) == "0") then return nil end
    bytes[i] = n
  end
  return bytes
end

local function parse_v6(s)
  if s:find(":::", 1, true) or not s:match("^[%x:]+$") then return nil end
  local head, tail = s:match("^(.-)::(.*)$")
  local function groups(part)
    local out = {}
    if part == "" then return out end
    for g in (part .. ":"):gmatch("([^:]*):") do
      if g == "" or #g > 4 then return nil end
      out[#out + 1] = tonumber(g, 16)
    end
    return out
  end
  local all
  if head then
    local h, t = groups(head), groups(tail)
    if not h or not t or #h + #t > 7 then return nil end
    all = {}
    for _, g in ipairs(h) do all[#all + 1] = g end
    for _ = 1, 8 - #h - #t do all[#all + 1] = 0 end
    for _, g in ipairs(t) do all[#all + 1] = g end
  else
    all = groups(s)
    if not all or #all ~= 8 then return nil end
  end
  local bytes = {}
  for i, g in ipairs(all) do
    bytes[2 * i - 1], bytes[2 * i] = g >> 8, g & 0xff
  end
  return bytes
end

local function parse_address(s)
  local b = parse_v4(s)
  if b then return b, 4 end
  b = parse_v6(s)
  if b then return b, 6 end
  return nil
end

function M.parse(s)
  if type(s) ~= "string" then return nil, "expected a string, got " .. type(s) end
  local addr, len = s:match("^([^/]+)/(%d+)$")
  if not addr then return nil, "not a CIDR block (like 10.0.0.0/16): " .. s end
  local bytes, version = parse_address(addr)
  if not bytes then return nil, "not an IP address: " .. addr end
  local prefix = tonumber(len)
  if prefix > #bytes * 8 then
    return nil, string.format("prefix length /%d is too long for IPv%d", prefix, version)
  end
  return { version = version, bytes = bytes, prefix = prefix }
end

function M.valid(s) return M.parse(s) ~= nil end

local function format_address(bytes)
  if #bytes == 4 then return table.concat(bytes, ".") end
  local groups = {}
  for i = 1, 8 do groups[i] = (bytes[2 * i - 1] << 8) | bytes[2 * i] end
  local best_at, best_len, at, len = 0, 0, 0, 0
  for i = 1, 8 do
    if groups[i] == 0 then
      if len == 0 then at = i end
      len = len + 1
      if len > best_len then best_at, best_len = at, len end
    else
      len = 0
    end
  end
  local parts = {}
  for i = 1, 8 do parts[i] = string.format("%x", groups[i]) end
  if best_len < 2 then return table.concat(parts, ":") end
  local left = table.concat(parts, ":", 1, best_at - 1)
  local right = table.concat(parts, ":", best_at + best_len, 8)
  return left .. "::" .. right
end

-- Clear the bits after `prefix`.
local function network(bytes, prefix)
  local out = {}
  for i, b in ipairs(bytes) do
    local keep = math.max(0, math.min(8, prefix - (i - 1) * 8))
    out[i] = b & ((0xff << (8 - keep)) & 0xff)
  end
  return out
end

-- bytes + (n << shift), n a non-negative integer; nil on overflow.
local function add_shifted(bytes, n, shift)
  local out = { table.unpack(bytes) }
  local bit = 0
  while n ~= 0 do
    if n & 1 == 1 then
      local pos = shift + bit                    -- counted from the low end
      local i = #out - pos // 8
      local carry = 1 << (pos % 8)
      while carry > 0 do
        if i < 1 then return nil end
        local sum = out[i] + carry
        out[i] = sum & 0xff
        carry = sum >> 8
        i = i - 1
      end
    end
    n = n >> 1
    bit = bit + 1
  end
  return out
end

local function check(prefix, fname)
  local p, err = M.parse(prefix)
  if not p then error("cidr." .. fname .. ": " .. err, 3) end
  return p
end

local function check_int(v, what, fname)
  if math.type(v) ~= "integer" then
    error(string.format("cidr.%s: %s must be an integer, got %s", fname, what, tostring(v)), 3)
  end
end

function M.subnet(prefix, newbits, netnum)
  local p = check(prefix, "subnet")
  check_int(newbits, "newbits", "subnet")
  check_int(netnum, "netnum", "subnet")
  local bits = #p.bytes * 8
  local newprefix = p.prefix + newbits
  if newbits < 0 or newprefix > bits then
    error(string.format("cidr.subnet: cannot extend /%d by %d bits (IPv%d has %d)", p.prefix, newbits,
      p.version, bits), 2)
  end
  if netnum < 0 or (newbits < 63 and netnum >= (1 << newbits)) then
    error(string.format("cidr.subnet: netnum %d does not fit in %d bits", netnum, newbits), 2)
  end
  local out = add_shifted(network(p.bytes, p.prefix), netnum, bits - newprefix)
  return format_address(out) .. "/" .. newprefix
end

function M.subnets(prefix, ...)
  local p = check(prefix, "subnets")
  local bits = #p.bytes * 8
  local out, cursor = {}, network(p.bytes, p.prefix)
  local limit = add_shifted(network(p.bytes, p.prefix), 1, bits - p.prefix)
  for i = 1, select("#", ...) do
    local newbits = select(i, ...)
    check_int(newbits, "newbits", "subnets")
    local newprefix = p.prefix + newbits
    if newbits < 1 or newprefix > bits then
      error(string.format("cidr.subnets: cannot extend /%d by %d bits", p.prefix, newbits), 2)
    end
    -- align the cursor up to the next boundary of this size
    local aligned = network(cursor, newprefix)
    local same = true
    for k = 1, #cursor do if aligned[k] ~= cursor[k] then same = false break end end
    if not same then aligned = add_shifted(aligned, 1, bits - newprefix) end
    if not aligned then error("cidr.subnets: not enough room in " .. prefix, 2) end
    local next_cursor = add_shifted(aligned, 1, bits - newprefix)
    if limit then
      local fits = true
      if next_cursor then
        for k = 1, #limit do
          if next_cursor[k] ~= limit[k] then fits = next_cursor[k] < limit[k] break end
        end
      end
      if not next_cursor or not fits then error("cidr.subnets: not enough room in " .. prefix, 2) end
    end
    out[i] = format_address(aligned) .. "/" .. newprefix
    cursor = next_cursor
  end
  return out
end

function M.host(prefix, hostnum)
  local p = check(prefix, "host")
  check_int(hostnum, "hostnum", "host")
  local bits = #p.bytes * 8
  local hostbits = bits - p.prefix
  if hostbits < 63 then
    local size = 1 << hostbits
    if hostnum < 0 then hostnum = size + hostnum end
    if hostnum < 0 or hostnum >= size then
      error(string.format("cidr.host: host number %d does not fit in %s", hostnum, prefix), 2)
    end
  elseif hostnum < 0 then
    error("cidr.host: negative host numbers need a prefix with fewer than 63 host bits", 2)
  end
  return format_address(add_shifted(network(p.bytes, p.prefix), hostnum, 0))
end

function M.netmask(prefix)
  local p = check(prefix, "netmask")
  if p.version ~= 4 then error("cidr.netmask: only IPv4 has a dotted netmask", 2) end
  local mask = network({ 255, 255, 255, 255 }, p.prefix)
  return table.concat(mask, ".")
end

-- The canonical form of a prefix (host bits cleared), e.g. for error hints.
function M.canonical(prefix)
  local p = check(prefix, "canonical")
  return format_address(network(p.bytes, p.prefix)) .. "/" .. p.prefix
end

function M.contains(prefix, other)
  local p = check(prefix, "contains")
  local bytes, version, len
  if other:find("/", 1, true) then
    local o = check(other, "contains")
    bytes, version, len = o.bytes, o.version, o.prefix
  else
    bytes, version = parse_address(other)
    if not bytes then error("cidr.contains: not an IP address: " .. tostring(other), 2) end
    len = #bytes * 8
  end
  if version ~= p.version or len < p.prefix then return false end
  local a, b = network(p.bytes, p.prefix), network(bytes, p.prefix)
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

return M
