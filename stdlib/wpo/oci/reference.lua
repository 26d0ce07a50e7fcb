-- wpo.oci.reference: image references as Docker reads them.
--
--   reference.parse(s) -> ref | nil, err       (err: one line naming s)
--     "wordpress:6-apache"       -> domain "docker.io", registry "registry-1.docker.io",
--                                   repository "library/wordpress", tag "6-apache"
--     "host:5000/a/b@sha256:<64 hex>"  -> registry "host:5000", repository "a/b", digest
--     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/site:v1"
--                                -> ecr = { account = "123456789012", region = "eu-west-1" }
--   ref = { domain, registry (host[:port] the API is at), repository, tag?, digest?,
--           ecr? = { account, region } }
--   A reference with neither tag nor digest gets tag "latest", as Docker does;
--   one with both keeps both and is pulled by its digest.
--   reference.string(ref) -> "docker.io/library/wordpress:6-apache" (normalised;
--     tag and digest both when both are set)
--   reference.pinned(ref, digest) -> a copy of ref pinned to digest (tag kept)
--   reference.is_digest(s) -> boolean      "sha256:" and 64 lower-case hex digits
--
-- Grammar (distribution/reference): a domain is the first component when it
-- holds "." or ":" or is "localhost"; path components are lower-case
-- [a-z0-9]+ joined by ".", "_", "__" or dashes; tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
-- the whole name at most 255 characters.
local M = {}

local DOCKER_HUB = "docker.io"
local DOCKER_HUB_API = "registry-1.docker.io"

function M.is_digest(s)
  return type(s) == "string" and s:match("^sha256:[0-9a-f]+$") ~= nil and #s == 71
end

local function valid_component(c)
  if c == "" or not c:match("^[a-z0-9]") or not c:match("[a-z0-9]$") then return false end
  -- separators: one "." or "_", exactly "__", or one or more "-"
  local rest = c
  while rest ~= "" do
    local word, tail = rest:match("^([a-z0-9]+)(.*)$")
    if not word then return false end
    rest = tail
    if rest ~= "" then
      local sep, after = rest:match("^([._-]+)(.*)$")
      if not sep then return false end
      if not (sep == "." or sep == "_" or sep == "__" or sep:match("^%-+$")) then return false end
      rest = after
    end
  end
  return true
end

local function valid_domain(d)
  local host, port = d:match("^(.-):(%d+)$")
  host = host or d
  if port and tonumber(port) > 65535 then return false end
  if host:match("^%[[%x:]+%]$") then return true end     -- an IPv6 literal
  for label in (host .. "."):gmatch("([^.]*)%.") do
    if not label:match("^[A-Za-z0-9]$") and not label:match("^[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]$") then
      return false
    end
  end
  return true
end

local function fail(s, why)
  return nil, string.format("invalid image reference %q: %s", s, why)
end

function M.parse(s)
  if type(s) ~= "string" then return nil, "invalid image reference: expected a string, got " .. type(s) end
  if s == "" then return fail(s, "empty") end
  if s:match("%s") then return fail(s, "holds white space") end
  local rest, digest = s, nil
  local at = s:find("@", 1, true)
  if at then
    rest, digest = s:sub(1, at - 1), s:sub(at + 1)
    if not digest:match("^[a-z0-9]+[a-z0-9+._-]*:") then return fail(s, "the digest must be algorithm:hex") end
    if not digest:match("^sha256:") then return fail(s, "only sha256 digests are supported") end
    if not M.is_digest(digest) then return fail(s, "a sha256 digest is 64 lower-case hex digits") end
  end
  local tag
  local last_slash = rest:match("^.*()/") or 0
  local colon = rest:find(":", last_slash + 1, true)
  if colon then
    rest, tag = rest:sub(1, colon - 1), rest:sub(colon + 1)
    if not tag:match("^[A-Za-z0-9_][A-Za-z0-9_.-]*$") or #tag > 128 then
      return fail(s, "bad tag " .. string.format("%q", tag) .. " (letters, digits, _ . -; at most 128)")
    end
  end
  if rest == "" then return fail(s, "no repository name") end
  local domain, path
  local first, remainder = rest:match("^([^/]+)/(.+)$")
  if first and (first:find("[.:]") or first == "localhost" or first:match("%u")) then
    domain, path = first, remainder
    if not valid_domain(domain) then return fail(s, "bad registry host " .. string.format("%q", domain)) end
  else
    domain, path = DOCKER_HUB, rest
  end
  if domain == "index.docker.io" then domain = DOCKER_HUB end
  if domain == DOCKER_HUB and not path:find("/", 1, true) then path = "library/" .. path end
  for component in (path .. "/"):gmatch("([^/]*)/") do
    if not valid_component(component) then
      if component:match("%u") then return fail(s, "repository names are lower-case") end
      return fail(s, "bad repository path component " .. string.format("%q", component))
    end
  end
  if #domain + 1 + #path > 255 then return fail(s, "the name is longer than 255 characters") end
  if not tag and not digest then tag = "latest" end
  local ref = {
    domain = domain,
    registry = domain == DOCKER_HUB and DOCKER_HUB_API or domain,
    repository = path,
    tag = tag,
    digest = digest,
  }
  local account, region = domain:match("^(%d%d%d%d%d%d%d%d%d%d%d%d)%.dkr%.ecr%.([a-z0-9-]+)%.amazonaws%.com$")
  if not account then
    account, region = domain:match("^(%d%d%d%d%d%d%d%d%d%d%d%d)%.dkr%.ecr%.([a-z0-9-]+)%.amazonaws%.com%.cn$")
  end
  if account then ref.ecr = { account = account, region = region } end
  return ref
end

function M.string(ref)
  local s = ref.domain .. "/" .. ref.repository
  if ref.tag then s = s .. ":" .. ref.tag end
  if ref.digest then s = s .. "@" .. ref.digest end
  return s
end

function M.pinned(ref, digest)
  assert(M.is_digest(digest), "reference.pinned: not a sha256 digest")
  local copy = {}
  for k, v in pairs(ref) do copy[k] = v end
  copy.digest = digest
  return copy
end

return M
