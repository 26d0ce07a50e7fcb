-- wpo.oci.registry: a client of the OCI distribution API (the Docker
-- Registry HTTP API v2) over wpo's HTTP (wpo.aws.transport -> wpo.core.http).
--
--   local c = registry.new("127.0.0.1:5000", opts?)      -- or a host from wpo.oci.reference
--   opts: username, password      basic credentials (also sent to a bearer token realm)
--         insecure = true         speak http:// (else only 127.0.0.1/localhost/[::1] do;
--                                 everything else is https with verification on)
--         chunk_size              bytes per PATCH of a chunked upload (default 8 MiB)
--         monolithic_max          blobs up to this size go in one PUT (default 64 MiB)
--         timeout_ms, ca_bundle   passed to the HTTP layer
--         send(req) -> resp | nil, err, code    the transport (tests count requests)
--
-- Every operation returns its value, or nil and a wpo.errors error whose
-- string is one line naming the registry's error code and message and the
-- reference: "127.0.0.1:5000/site@sha256:..: MANIFEST_INVALID: manifest invalid (HTTP 400)".
--   c:get_manifest(repo, tag_or_digest, accept?) -> m
--       m = { media_type, digest, size, body (the bytes), doc (decoded) }; fetched by
--       digest, the bytes must hash to it (DIGEST_MISMATCH otherwise)
--   c:get_blob(repo, digest, size?) -> bytes      (verified against digest)
--   c:has_blob(repo, digest) -> size | false      (HEAD)
--   c:mount_blob(repo, digest, from_repo) -> true | false (the registry did not mount it)
--   c:upload_blob(repo, digest, bytes, { chunked = bool?, chunk_size? }) -> true
--   c:push_blob(repo, digest, bytes_or_fetch, { from?, chunked? }) -> "exists" | "mounted" | "uploaded"
--       bytes_or_fetch: the bytes, or a function() -> bytes | nil, err called only
--       when the registry has the blob neither already nor by mount
--   c:put_manifest(repo, tag_or_digest, media_type, body) -> digest
--       (the registry's Docker-Content-Digest must equal ours)
--   c.stats = { requests = n, by_method = { GET = n, ... }, blob_uploads = n, blob_bytes = n }
--   registry.platform_of(index_doc, "linux/amd64") -> descriptor | nil, err
--   registry.digest(bytes) -> "sha256:<hex>"
--   registry.ecr_auth(ctx_or_client, registry_id?) -> { username, password, endpoint, expires_at }
--       | nil, err (the AWS error)
--       ecr GetAuthorizationToken, its base64 "AWS:password" decoded
--   registry.MANIFEST_TYPES, registry.INDEX_TYPES: media types accepted
--
-- Authentication: the first request goes without credentials (or with the
-- bearer token cached for its scope); a 401 names the scheme: Basic gets the
-- credentials, Bearer a token from the challenge's realm for its service and
-- scope (repository:NAME:pull or pull,push), fetched with the credentials if
-- any, cached per scope. Passwords and tokens never reach a message or a log.
local crypto = require "wpo.core.crypto"
local errors = require "wpo.errors"
local json = require "wpo.json"
local task = require "wpo.task"
local transport = require "wpo.aws.transport"

local M = {}

M.OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
M.OCI_INDEX = "application/vnd.oci.image.index.v1+json"
M.DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
M.DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
M.MANIFEST_TYPES = { [M.OCI_MANIFEST] = true, [M.DOCKER_MANIFEST] = true }
M.INDEX_TYPES = { [M.OCI_INDEX] = true, [M.DOCKER_LIST] = true }
local ACCEPT = table.concat({ M.OCI_INDEX, M.DOCKER_LIST, M.OCI_MANIFEST, M.DOCKER_MANIFEST }, ", ")

local OPTIONS = { username = "string", password = "string", insecure = "boolean", chunk_size = "number",
  monolithic_max = "number", timeout_ms = "number", ca_bundle = "string", send = "function" }

function M.digest(bytes)
  return "sha256:" .. crypto.hex(crypto.sha256(bytes))
end

-- JSON -> Lua with every array marked by wpo.json.array, so that wpo.json
-- writes it back as an array even when empty (cjson 2.1 cannot tell [] from
-- {}); null is json.null. -> value | nil, err
local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_of(code)
  return utf8.char(code)
end

function M.decode(text)
  local pos = 1
  local function err(what)
    error(string.format("%s at byte %d", what, pos), 0)
  end
  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end
  local value
  local function str()
    pos = pos + 1
    local out = {}
    while true do
      local stop = text:find('["\\]', pos)
      if not stop then err("unterminated string") end
      local chunk = text:sub(pos, stop - 1)
      if chunk:find("[%z\1-\31]") then err("control character in a string") end
      out[#out + 1] = chunk
      pos = stop + 1
      if text:sub(stop, stop) == '"' then break end
      local c = text:sub(pos, pos)
      if c == "u" then
        local hex = text:match("^%x%x%x%x", pos + 1)
        if not hex then err("bad \\u escape") end
        local code = tonumber(hex, 16)
        pos = pos + 5
        if code >= 0xD800 and code <= 0xDBFF then
          local low = text:match("^\\u(%x%x%x%x)", pos)
          if not low then err("lone surrogate") end
          code = 0x10000 + (code - 0xD800) * 0x400 + (tonumber(low, 16) - 0xDC00)
          pos = pos + 6
        end
        out[#out + 1] = utf8_of(code)
      elseif ESCAPES[c] then
        out[#out + 1] = ESCAPES[c]
        pos = pos + 1
      else
        err("bad escape")
      end
    end
    return table.concat(out)
  end
  function value()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      local obj = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "}" then pos = pos + 1 return obj end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then err("object key expected") end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ":" then err("':' expected") end
        pos = pos + 1
        obj[k] = value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return obj end
        if d ~= "," then err("',' or '}' expected") end
      end
    elseif c == "[" then
      local arr = json.array({})
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "]" then pos = pos + 1 return arr end
      while true do
        arr[#arr + 1] = value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return arr end
        if d ~= "," then err("',' or ']' expected") end
      end
    elseif c == '"' then
      return str()
    elseif text:find("^true", pos) then pos = pos + 4 return true
    elseif text:find("^false", pos) then pos = pos + 5 return false
    elseif text:find("^null", pos) then pos = pos + 4 return json.null
    else
      local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" or num == "-" then err("unexpected " .. (c == "" and "end" or string.format("%q", c))) end
      pos = pos + #num
      local n = math.tointeger(tonumber(num)) or tonumber(num)
      if not n then err("bad number") end
      return n
    end
  end
  local ok, v = pcall(function()
    local out = value()
    skip()
    if pos <= #text then err("trailing data") end
    return out
  end)
  if not ok then return nil, v end
  return v
end

local Client = {}
Client.__index = Client

local function loopback(host)
  local name = host:match("^%[(.-)%]") or host:match("^([^:]+)")
  return name == "127.0.0.1" or name == "localhost" or name == "::1"
end

function M.new(host, opts)
  opts = opts or {}
  assert(type(host) == "string" and host ~= "" and not host:find("[/%s]"),
    "registry.new: host[:port] expected (no scheme, no path)")
  for k, v in pairs(opts) do
    if not OPTIONS[k] then
      local names = {}
      for n in pairs(OPTIONS) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("registry.new: unknown option '%s' (valid: %s)", tostring(k), table.concat(names, ", ")), 2)
    end
    assert(type(v) == OPTIONS[k], "registry.new: option " .. k .. " must be a " .. OPTIONS[k])
  end
  assert((opts.username == nil) == (opts.password == nil), "registry.new: username and password go together")
  local scheme = (opts.insecure or loopback(host)) and "http" or "https"
  return setmetatable({
    host = host,
    base = scheme .. "://" .. host,
    creds = opts.username and { opts.username, opts.password } or nil,
    chunk_size = opts.chunk_size or 8 * 1024 * 1024,
    monolithic_max = opts.monolithic_max or 64 * 1024 * 1024,
    timeout_ms = opts.timeout_ms,
    ca_bundle = opts.ca_bundle,
    send = opts.send or transport.send,
    scheme_auth = nil,       -- "basic" | "bearer" once a challenge said so
    tokens = {},             -- canonical scope -> bearer token
    auth_lock = task.semaphore(1),
    stats = { requests = 0, by_method = {}, blob_uploads = 0, blob_bytes = 0, tokens = 0 },
  }, Client)
end

function Client:__tostring()
  return "registry " .. self.host
end

local function where(self, repo, ref)
  local s = self.host .. "/" .. repo
  if ref then s = s .. (ref:match("^sha256:") and "@" or ":") .. ref end
  return s
end

local function fail(address, code, message, extra)
  local e = { address = address, code = code, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return nil, errors.new(e)
end

-- the registry's own error document: {"errors":[{"code","message","detail"}]}
local function registry_error(address, what, resp)
  local code, message
  local doc = resp.body and resp.body ~= "" and M.decode(resp.body)
  if type(doc) == "table" and type(doc.errors) == "table" and type(doc.errors[1]) == "table" then
    code, message = doc.errors[1].code, doc.errors[1].message
  end
  if type(code) ~= "string" then
    code = ({ [401] = "UNAUTHORIZED", [403] = "DENIED", [404] = "NOT_FOUND", [429] = "TOOMANYREQUESTS" })[resp.status]
      or "HTTP_" .. tostring(resp.status)
  end
  if type(message) ~= "string" then message = what .. " failed" end
  return fail(address, code, what .. ": " .. message,
    { status = resp.status })
end

-- parse a WWW-Authenticate header: scheme, { realm =, service =, scope = }
local function challenge(header)
  if not header then return nil end
  local scheme, rest = header:match("^%s*(%a+)%s*(.*)$")
  if not scheme then return nil end
  local params = {}
  for k, v in rest:gmatch('([%w_]+)="([^"]*)"') do params[k:lower()] = v end
  for k, v in rest:gmatch('([%w_]+)=([^",%s]+)') do params[k:lower()] = params[k:lower()] or v end
  return scheme:lower(), params
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function basic(creds)
  return "Basic " .. crypto.base64(creds[1] .. ":" .. creds[2])
end

function Client:_send(req)
  self.stats.requests = self.stats.requests + 1
  self.stats.by_method[req.method] = (self.stats.by_method[req.method] or 0) + 1
  req.timeout_ms = req.timeout_ms or self.timeout_ms
  req.ca_bundle = req.ca_bundle or self.ca_bundle
  return self.send(req)
end

-- a bearer token for scope, from the challenge's realm
function Client:_token(params, scope, address)
  local realm = params.realm
  if not realm or not realm:match("^https?://") then
    return fail(address, "UNAUTHORIZED", "the registry asked for a bearer token without a usable realm")
  end
  if realm:match("^http://") and not (self.base:match("^http://") and loopback(realm:match("^http://([^/]+)"))) then
    return fail(address, "UNAUTHORIZED", "the registry's token realm is not https: " .. realm:match("^http://([^/]+)"))
  end
  local q = {}
  if params.service then q[#q + 1] = "service=" .. urlencode(params.service) end
  for s in scope:gmatch("%S+") do q[#q + 1] = "scope=" .. urlencode(s) end
  local url = realm .. (#q > 0 and ((realm:find("?", 1, true) and "&" or "?") .. table.concat(q, "&")) or "")
  local headers = {}
  if self.creds then headers.Authorization = basic(self.creds) end
  local resp, err = self:_send({ method = "GET", url = url, headers = headers })
  if not resp then return fail(address, "TOKEN", "token service: " .. tostring(err)) end
  if resp.status ~= 200 then
    return fail(address, resp.status == 401 and "UNAUTHORIZED" or "DENIED",
      "the token service refused " .. (self.creds and "the credentials" or "an anonymous request") ..
      "", { status = resp.status })
  end
  local doc = M.decode(resp.body)
  local token = type(doc) == "table" and (doc.token or doc.access_token)
  if type(token) ~= "string" or token == "" then
    return fail(address, "TOKEN", "the token service answered without a token")
  end
  self.tokens[scope] = token
  self.stats.tokens = self.stats.tokens + 1
  return token
end

-- a scope as a cache key: its items sorted, each item's actions sorted
-- (distribution names "pull,push" or "push,pull" as its map iteration goes)
local function canonical(scope)
  local items = {}
  for item in scope:gmatch("%S+") do
    local head, actions = item:match("^(.*):([^:]*)$")
    if head then
      local list = {}
      for a in actions:gmatch("[^,]+") do list[#list + 1] = a end
      table.sort(list)
      item = head .. ":" .. table.concat(list, ",")
    end
    items[#items + 1] = item
  end
  table.sort(items)
  return table.concat(items, " ")
end

-- one request with authentication: req = { method, path or url, headers, body },
-- scope: "repository:NAME:pull" ...; the answer whatever its status, after at
-- most one challenge
function Client:request(req, scope, address)
  scope = canonical(scope)
  local url = req.url or (self.base .. req.path)
  local same_host = url:sub(1, #self.base + 1) == self.base .. "/"
  local function attempt(token)
    local headers = {}
    for k, v in pairs(req.headers or {}) do headers[k] = v end
    if same_host then
      if self.scheme_auth == "basic" and self.creds then
        headers.Authorization = basic(self.creds)
      elseif self.scheme_auth == "bearer" and token then
        headers.Authorization = "Bearer " .. token
      end
    end
    local resp, err, code = self:_send({ method = req.method, url = url, headers = headers, body = req.body })
    if not resp then return fail(address, code or "transport", tostring(err)) end
    return resp, headers.Authorization
  end
  local resp, sent = attempt(self.tokens[scope])
  if not resp then return nil, sent end
  if resp.status ~= 401 or not same_host then return resp end
  local scheme, params = challenge(resp.headers["www-authenticate"])
  local token
  if scheme == "basic" then
    if not self.creds then
      return fail(address, "UNAUTHORIZED", "the registry wants credentials (basic auth) and none were given",
        { status = 401 })
    end
    if sent and self.scheme_auth == "basic" then
      return fail(address, "UNAUTHORIZED", "the registry refused the credentials", { status = 401 })
    end
    self.scheme_auth = "basic"
  elseif scheme == "bearer" then
    self.scheme_auth = "bearer"
    -- the challenge names the scope this request needs (tokens are cached by it)
    local want = canonical((params.scope and params.scope ~= "") and params.scope or scope)
    -- a cached token may have expired: a fresh one, once (the retry's 401 is final)
    -- one token fetch at a time: tasks that met the same challenge meanwhile
    -- take the token the first one got
    local locked, lerr, lcode = self.auth_lock:acquire()
    if not locked then return fail(address, lcode or "cancelled", tostring(lerr)) end
    local current, err = self.tokens[want], nil
    if current and sent ~= "Bearer " .. current then
      token = current
    else
      token, err = self:_token(params, want, address)
    end
    self.auth_lock:release()
    if not token then return nil, err end
  else
    return fail(address, "UNAUTHORIZED", "the registry asked for an unknown authentication scheme", { status = 401 })
  end
  resp, sent = attempt(token)
  if not resp then return nil, sent end
  if resp.status == 401 then
    return fail(address, "UNAUTHORIZED", "the registry refused the " .. (scheme == "basic" and "credentials" or
      "token it was given"), { status = 401 })
  end
  return resp
end

local function pull(repo) return "repository:" .. repo .. ":pull" end
local function push(repo) return "repository:" .. repo .. ":pull,push" end

local function check_ref(repo, ref)
  assert(type(repo) == "string" and repo ~= "", "registry: repository name expected")
  assert(type(ref) == "string" and ref ~= "", "registry: tag or digest expected")
end

function Client:get_manifest(repo, ref, accept)
  check_ref(repo, ref)
  local address = where(self, repo, ref)
  local resp, err = self:request({ method = "GET", path = "/v2/" .. repo .. "/manifests/" .. ref,
    headers = { Accept = accept or ACCEPT } }, pull(repo), address)
  if not resp then return nil, err end
  if resp.status ~= 200 then return registry_error(address, "get manifest", resp) end
  local digest = M.digest(resp.body)
  if ref:match("^sha256:") and digest ~= ref then
    return fail(address, "DIGEST_MISMATCH", "the manifest fetched hashes to " .. digest)
  end
  local header = resp.headers["docker-content-digest"]
  if header and header:match("^sha256:") and header ~= digest then
    return fail(address, "DIGEST_MISMATCH", "the registry says " .. header .. " but the manifest hashes to " .. digest)
  end
  local doc, why = M.decode(resp.body)
  if type(doc) ~= "table" then return fail(address, "MANIFEST_INVALID", "not JSON: " .. tostring(why)) end
  local media_type = doc.mediaType or (resp.headers["content-type"] or ""):match("^[^;%s]+")
  if not (M.MANIFEST_TYPES[media_type] or M.INDEX_TYPES[media_type]) then
    return fail(address, "UNSUPPORTED", "unsupported manifest media type " .. tostring(media_type))
  end
  return { media_type = media_type, digest = digest, size = #resp.body, body = resp.body, doc = doc }
end

-- GET with redirects followed by hand (Docker Hub sends blobs from a CDN):
-- credentials only ever go to the registry's own host
function Client:get_blob(repo, digest, size)
  check_ref(repo, digest)
  local address = where(self, repo, digest)
  local resp, err = self:request({ method = "GET", path = "/v2/" .. repo .. "/blobs/" .. digest }, pull(repo), address)
  for _ = 1, 5 do
    if not resp then return nil, err end
    if resp.status < 300 or resp.status >= 400 or not resp.headers.location then break end
    local loc = resp.headers.location
    if not loc:match("^https?://") then loc = self.base .. loc end
    resp, err = self:request({ method = "GET", url = loc }, pull(repo), address)
  end
  if not resp then return nil, err end
  if resp.status ~= 200 then return registry_error(address, "get blob", resp) end
  if size and #resp.body ~= size then
    return fail(address, "SIZE_MISMATCH", "the blob is " .. #resp.body .. " bytes, its descriptor says " .. size)
  end
  local got = M.digest(resp.body)
  if got ~= digest then return fail(address, "DIGEST_MISMATCH", "the blob fetched hashes to " .. got) end
  return resp.body
end

function Client:has_blob(repo, digest)
  check_ref(repo, digest)
  local address = where(self, repo, digest)
  local resp, err = self:request({ method = "HEAD", path = "/v2/" .. repo .. "/blobs/" .. digest }, pull(repo), address)
  if not resp then return nil, err end
  if resp.status == 200 then return tonumber(resp.headers["content-length"]) or true end
  if resp.status == 404 then return false end
  return registry_error(address, "check blob", resp)
end

local function location(self, resp, address)
  local loc = resp.headers.location
  if not loc then return fail(address, "BLOB_UPLOAD_INVALID", "the registry gave no upload location") end
  if not loc:match("^https?://") then loc = self.base .. (loc:sub(1, 1) == "/" and "" or "/") .. loc end
  if loc:sub(1, #self.base + 1) ~= self.base .. "/" then
    return fail(address, "BLOB_UPLOAD_INVALID", "the upload location is on another host")
  end
  return loc
end

local function with_query(url, q)
  return url .. (url:find("?", 1, true) and "&" or "?") .. q
end

-- POST ?mount=&from=: 201 mounted; 202 an upload session instead (returned)
function Client:mount_blob(repo, digest, from)
  local address = where(self, repo, digest)
  local scope = push(repo) .. " " .. pull(from)
  local resp, err = self:request({ method = "POST", path = "/v2/" .. repo .. "/blobs/uploads/?mount=" ..
    urlencode(digest) .. "&from=" .. urlencode(from) }, scope, address)
  if not resp then return nil, err end
  if resp.status == 201 then return true end
  if resp.status == 202 then return false, location(self, resp, address) end
  return registry_error(address, "mount blob", resp)
end

function Client:upload_blob(repo, digest, bytes, opts)
  opts = opts or {}
  local address = where(self, repo, digest)
  assert(type(bytes) == "string", "registry: upload_blob needs the blob's bytes")
  if M.digest(bytes) ~= digest then
    return fail(address, "DIGEST_MISMATCH", "the bytes given hash to " .. M.digest(bytes))
  end
  local loc, err = opts.location
  if not loc then
    local resp
    resp, err = self:request({ method = "POST", path = "/v2/" .. repo .. "/blobs/uploads/" }, push(repo), address)
    if not resp then return nil, err end
    if resp.status ~= 202 then return registry_error(address, "start upload", resp) end
    loc, err = location(self, resp, address)
    if not loc then return nil, err end
  end
  local chunked = opts.chunked
  if chunked == nil then chunked = #bytes > self.monolithic_max end
  local final_body = bytes
  if chunked then
    local size = opts.chunk_size or self.chunk_size
    local offset = 0
    while offset < #bytes do
      local piece = bytes:sub(offset + 1, offset + size)
      local resp
      resp, err = self:request({ method = "PATCH", url = loc, body = piece, headers = {
        ["Content-Type"] = "application/octet-stream",
        ["Content-Range"] = offset .. "-" .. (offset + #piece - 1) } }, push(repo), address)
      if not resp then return nil, err end
      if resp.status ~= 202 then return registry_error(address, "upload chunk", resp) end
      loc, err = location(self, resp, address)
      if not loc then return nil, err end
      offset = offset + #piece
    end
    final_body = nil
  end
  local resp
  resp, err = self:request({ method = "PUT", url = with_query(loc, "digest=" .. urlencode(digest)), body = final_body,
    headers = { ["Content-Type"] = "application/octet-stream" } }, push(repo), address)
  if not resp then return nil, err end
  if resp.status ~= 201 then return registry_error(address, "finish upload", resp) end
  local said = resp.headers["docker-content-digest"]
  if said and said ~= digest then
    return fail(address, "DIGEST_MISMATCH", "the registry stored the blob as " .. said)
  end
  self.stats.blob_uploads = self.stats.blob_uploads + 1
  self.stats.blob_bytes = self.stats.blob_bytes + #bytes
  return true
end

function Client:push_blob(repo, digest, source, opts)
  opts = opts or {}
  local have, err = self:has_blob(repo, digest)
  if have == nil then return nil, err end
  if have then return "exists" end
  local loc
  if opts.from and opts.from ~= repo then
    local mounted
    mounted, loc = self:mount_blob(repo, digest, opts.from)
    if mounted == nil then return nil, loc end
    if mounted then return "mounted" end
  end
  local bytes = source
  if type(source) == "function" then
    bytes, err = source()
    if not bytes then return nil, err end
  end
  local ok
  ok, err = self:upload_blob(repo, digest, bytes, { location = loc, chunked = opts.chunked,
    chunk_size = opts.chunk_size })
  if not ok then return nil, err end
  return "uploaded"
end

function Client:put_manifest(repo, ref, media_type, body)
  check_ref(repo, ref)
  local address = where(self, repo, ref)
  local digest = M.digest(body)
  if ref:match("^sha256:") and ref ~= digest then
    return fail(address, "DIGEST_MISMATCH", "the manifest given hashes to " .. digest)
  end
  local resp, err = self:request({ method = "PUT", path = "/v2/" .. repo .. "/manifests/" .. ref, body = body,
    headers = { ["Content-Type"] = media_type } }, push(repo), address)
  if not resp then return nil, err end
  if resp.status ~= 201 and resp.status ~= 200 then return registry_error(address, "put manifest", resp) end
  local said = resp.headers["docker-content-digest"]
  if said and said ~= digest then
    return fail(address, "DIGEST_MISMATCH", "the registry stored the manifest as " .. said .. ", ours is " .. digest)
  end
  return digest
end

function M.platform_of(index, platform)
  local os_, arch, variant = platform:match("^([%w_]+)/([%w_]+)/?([%w_]*)$")
  assert(os_, "registry.platform_of: platform as os/arch[/variant] expected")
  for _, d in ipairs(index.manifests or {}) do
    local p = d.platform or {}
    if p.os == os_ and p.architecture == arch and (variant == "" or p.variant == variant) then
      return d
    end
  end
  local have = {}
  for _, d in ipairs(index.manifests or {}) do
    local p = d.platform or {}
    if p.os and p.os ~= "unknown" then have[#have + 1] = p.os .. "/" .. tostring(p.architecture) end
  end
  return nil, "no " .. platform .. " image in the index (it has " ..
    (#have > 0 and table.concat(have, ", ") or "none") .. ")"
end

-- ECR: the registry's basic credentials from GetAuthorizationToken. ctx is a
-- resource context (ctx:aws("ecr")) or an ecr wpo.aws.client.
function M.ecr_auth(ctx, registry_id)
  local ecr = ctx
  if type(ctx) == "table" and type(ctx.aws) == "function" then ecr = ctx:aws("ecr") end
  assert(type(ecr) == "table" and ecr.pcall, "registry.ecr_auth: a resource context or an ecr client expected")
  local params = {}
  if registry_id then params.registryIds = { registry_id } end
  local out, err = ecr:pcall("GetAuthorizationToken", params)
  if not out then return nil, err end
  local data = out.authorizationData and out.authorizationData[1]
  if not data or type(data.authorizationToken) ~= "string" then
    return nil, errors.new { code = "InvalidResponse", message = "ecr GetAuthorizationToken answered without a token" }
  end
  local decoded = crypto.unbase64(data.authorizationToken)
  local user, password = (decoded or ""):match("^([^:]+):(.+)$")
  if not user then
    return nil, errors.new { code = "InvalidResponse",
      message = "ecr GetAuthorizationToken answered a token that is not base64 user:password" }
  end
  return { username = user, password = password, endpoint = data.proxyEndpoint, expires_at = data.expiresAt }
end

return M
