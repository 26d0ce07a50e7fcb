-- wpo.core.sigv4: the signer's rules one by one, then every v4 case of the
-- AWS SigV4 test suite (read at test time from ../shared/testdata/aws-sigv4,
-- or $WPO_SIGV4_SUITE): one test per case, header form and presigned form.
local sigv4 = require "wpo.core.sigv4"
local crypto = require "wpo.core.crypto"
local cjson = require "cjson"
local lfs = require "lfs"

local SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
local T0 = 1440938160 -- 2015-08-30T12:36:00Z

local function request(fields)
  local req = {
    method = "GET", url = "https://example.amazonaws.com/", region = "us-east-1",
    service = "service", access_key = "AKIDEXAMPLE", secret_key = SECRET, time = T0,
  }
  for k, v in pairs(fields or {}) do req[k] = v end
  return req
end

local function lines(s)
  local t = {}
  for line in (s .. "\n"):gmatch("(.-)\n") do t[#t + 1] = line end
  return t
end

-- The canonical request's parts: method, uri, query, headers..., signed, payload.
local function parts(cr)
  local l = lines(cr)
  local headers = {}
  for i = 4, #l - 3 do headers[#headers + 1] = l[i] end
  return { method = l[1], uri = l[2], query = l[3], headers = headers, signed = l[#l - 1],
    payload = l[#l] }
end

describe("wpo.core.sigv4", function()
  describe("canonical request", function()
    it("upper-cases the method and hashes an empty body", function()
      local p = parts(sigv4.canonical_request(request { method = "get" }))
      assert.are.equal("GET", p.method)
      assert.are.equal(crypto.hex(crypto.sha256("")), p.payload)
    end)

    it("hashes the body", function()
      local p = parts(sigv4.canonical_request(request { method = "POST", body = "Action=DescribeVpcs" }))
      assert.are.equal(crypto.hex(crypto.sha256("Action=DescribeVpcs")), p.payload)
    end)

    it("uses a given payload hash, UNSIGNED-PAYLOAD included", function()
      local p = parts(sigv4.canonical_request(request { body = "ignored", payload_hash = "UNSIGNED-PAYLOAD" }))
      assert.are.equal("UNSIGNED-PAYLOAD", p.payload)
    end)

    it("sorts query parameters by key then value, repeated and empty ones kept", function()
      local p = parts(sigv4.canonical_request(request {
        url = "https://example.amazonaws.com/?b=2&a=z&a=&a=b&c&=v&a=b" }))
      assert.are.equal("=v&a=&a=b&a=b&a=z&b=2&c=", p.query)
    end)

    it("decodes then re-encodes query components ('+' is a plus, escapes normalised)", function()
      local p = parts(sigv4.canonical_request(request {
        url = "https://example.amazonaws.com/?k=a+b&sp=a%20b&lc=%2f&raw=a b&u=\xe1\x88\xb4&bad=%zz&t=~" }))
      assert.are.equal("bad=%25zz&k=a%2Bb&lc=%2F&raw=a%20b&sp=a%20b&t=~&u=%E1%88%B4", p.query)
    end)

    it("drops empty query pieces and the fragment", function()
      local p = parts(sigv4.canonical_request(request { url = "https://example.amazonaws.com/?&a=1&&b=2&#frag" }))
      assert.are.equal("a=1&b=2", p.query)
    end)

    it("lower-cases header names, trims values and collapses runs of whitespace", function()
      local cr, signed = sigv4.canonical_request(request {
        headers = { ["X-Custom"] = "  a   b \t c  ", ["Content-Type"] = "text/plain",
          ["X-Folded"] = "one\n   two\r\n\tthree" } })
      local p = parts(cr)
      assert.are.same({ "content-type:text/plain", "host:example.amazonaws.com", "x-amz-date:20150830T123600Z",
        "x-custom:a b c", "x-folded:one two three" }, p.headers)
      assert.are.equal("content-type;host;x-amz-date;x-custom;x-folded", signed)
      assert.are.equal(signed, p.signed)
    end)

    it("joins a repeated header's values with ',' in the order given", function()
      local p = parts(sigv4.canonical_request(request { headers = { ["My-Header"] = { "b", " a ", "b" } } }))
      assert.are.equal("my-header:b,a,b", p.headers[2])
    end)

    it("refuses the same header under two spellings", function()
      assert.has_error(function()
        sigv4.canonical_request(request { headers = { ["X-A"] = "1", ["x-a"] = "2" } })
      end)
    end)

    it("accepts numbers as header values", function()
      local p = parts(sigv4.canonical_request(request { headers = { ["Content-Length"] = 13 } }))
      assert.are.equal("content-length:13", p.headers[1])
    end)

    it("never signs user-agent, expect, x-amzn-trace-id or a stale authorization", function()
      local _, signed = sigv4.canonical_request(request { headers = {
        ["User-Agent"] = "wpo", Expect = "100-continue", ["X-Amzn-Trace-Id"] = "Root=1",
        Authorization = "stale", ["X-Amz-Date"] = "19990101T000000Z" } })
      assert.are.equal("host;x-amz-date", signed)
    end)

    it("takes the host from the url: lower-case, userinfo and default port dropped", function()
      local function host(url) return parts(sigv4.canonical_request(request { url = url })).headers[1] end
      assert.are.equal("host:example.amazonaws.com", host("https://user:pw@Example.AmazonAWS.com:443/"))
      assert.are.equal("host:example.amazonaws.com", host("http://example.amazonaws.com:80/"))
      assert.are.equal("host:127.0.0.1:4566", host("http://127.0.0.1:4566/"))
      assert.are.equal("host:[::1]:8080", host("http://[::1]:8080/x"))
      assert.are.equal("host:example.amazonaws.com:443", host("http://example.amazonaws.com:443/"))
    end)

    it("keeps a given Host header", function()
      local p = parts(sigv4.canonical_request(request { headers = { Host = "other.example" } }))
      assert.are.equal("host:other.example", p.headers[1])
    end)

    it("normalises and double-encodes the path for services other than S3", function()
      local p = parts(sigv4.canonical_request(request { url = "https://h.example/a//b/./c/../d%20e/~x/" }))
      assert.are.equal("/a/b/d%2520e/~x/", p.uri)
      p = parts(sigv4.canonical_request(request { url = "https://h.example" }))
      assert.are.equal("/", p.uri)
      p = parts(sigv4.canonical_request(request { url = "https://h.example/a/.." }))
      assert.are.equal("/", p.uri)
    end)

    it("leaves an S3 path as it is on the wire", function()
      local p = parts(sigv4.canonical_request(request { service = "s3", url = "https://b.s3.amazonaws.com/a//b/../c%20d" }))
      assert.are.equal("/a//b/../c%20d", p.uri)
      -- bytes that cannot appear in a path are still encoded once
      p = parts(sigv4.canonical_request(request { service = "s3", url = "https://b.s3.amazonaws.com/a b=\xc3\xa9" }))
      assert.are.equal("/a%20b%3D%C3%A9", p.uri)
    end)

    it("lets normalize_path and double_encode be set explicitly", function()
      local p = parts(sigv4.canonical_request(request { url = "https://h.example/a/../b%20", normalize_path = false }))
      assert.are.equal("/a/../b%2520", p.uri)
      p = parts(sigv4.canonical_request(request { url = "https://h.example/a/../b%20", double_encode = false }))
      assert.are.equal("/b%20", p.uri)
    end)

    it("signs x-amz-content-sha256 for S3 and a session token when given", function()
      local cr, signed = sigv4.canonical_request(request { service = "s3", body = "hi", session_token = "tok" })
      assert.are.equal("host;x-amz-content-sha256;x-amz-date;x-amz-security-token", signed)
      assert.truthy(cr:find("x-amz-content-sha256:" .. crypto.hex(crypto.sha256("hi")), 1, true))
      assert.truthy(cr:find("x-amz-security-token:tok", 1, true))
    end)

    it("uses a given x-amz-content-sha256 header as the payload hash outside S3", function()
      local p = parts(sigv4.canonical_request(request { headers = { ["X-Amz-Content-Sha256"] = "UNSIGNED-PAYLOAD" } }))
      assert.are.equal("UNSIGNED-PAYLOAD", p.payload)
      assert.are.equal("host;x-amz-content-sha256;x-amz-date", p.signed)
    end)
  end)

  describe("signing key and signature", function()
    it("derives the key AWS documents for its example (iam, 20120215)", function()
      local key = sigv4.signing_key(SECRET, "20120215", "us-east-1", "iam")
      assert.are.equal("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d", crypto.hex(key))
    end)

    it("equals the HMAC chain computed step by step, cached or not", function()
      local h = crypto.hmac_sha256
      local want = h(h(h(h("AWS4" .. "other-secret", "20240101"), "eu-west-1"), "ec2"), "aws4_request")
      assert.are.equal(crypto.hex(want), crypto.hex(sigv4.signing_key("other-secret", "20240101", "eu-west-1", "ec2")))
      assert.are.equal(crypto.hex(want), crypto.hex(sigv4.signing_key("other-secret", "20240101", "eu-west-1", "ec2")))
      assert.are_not.equal(crypto.hex(want), crypto.hex(sigv4.signing_key("other-secreT", "20240101", "eu-west-1", "ec2")))
    end)

    it("signs a string with the key as hex HMAC-SHA256", function()
      local key = sigv4.signing_key(SECRET, "20150830", "us-east-1", "service")
      assert.are.equal(crypto.hex(crypto.hmac_sha256(key, "abc")), sigv4.signature(key, "abc"))
    end)
  end)

  describe("sign", function()
    it("returns Authorization and X-Amz-Date whose signature covers the canonical request", function()
      local req = request { method = "POST", body = "Action=DescribeVpcs&Version=2016-11-15",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" } }
      local h = sigv4.sign(req)
      assert.are.equal("20150830T123600Z", h["X-Amz-Date"])
      assert.is_nil(h["X-Amz-Security-Token"])
      assert.is_nil(h["X-Amz-Content-Sha256"])
      local cr, signed = sigv4.canonical_request(req)
      local sig = sigv4.signature(sigv4.signing_key(SECRET, "20150830", "us-east-1", "service"),
        sigv4.string_to_sign(req, cr))
      assert.are.equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        .. "SignedHeaders=" .. signed .. ", Signature=" .. sig, h.Authorization)
    end)

    it("adds X-Amz-Security-Token and, for S3, X-Amz-Content-Sha256", function()
      local h = sigv4.sign(request { service = "s3", session_token = "tok", body = "x" })
      assert.are.equal("tok", h["X-Amz-Security-Token"])
      assert.are.equal(crypto.hex(crypto.sha256("x")), h["X-Amz-Content-Sha256"])
      assert.matches("SignedHeaders=host;x%-amz%-content%-sha256;x%-amz%-date;x%-amz%-security%-token,", h.Authorization)
    end)

    it("can leave the session token unsigned", function()
      local h = sigv4.sign(request { session_token = "tok", sign_session_token = false })
      assert.are.equal("tok", h["X-Amz-Security-Token"])
      assert.matches("SignedHeaders=host;x%-amz%-date,", h.Authorization)
    end)

    it("signs at the current time by default", function()
      local before = os.time()
      local req = request {}
      req.time = nil
      local h = sigv4.sign(req)
      local y, mo, d, hh, mi, ss = h["X-Amz-Date"]:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
      assert.truthy(y)
      local t = os.time { year = y, month = mo, day = d, hour = hh, min = mi, sec = ss, isdst = false }
      local offset = os.time(os.date("!*t", before)) - before
      assert.is_true(math.abs(t - offset - before) <= 5)
    end)

    it("formats X-Amz-Date right for any second from 1970 to 9999", function()
      local times = { 0, 59, 86399, 86400, 951782400, 951868799, 4107542399, 4107542400, 253402300799 }
      local seed = 7
      for _ = 1, 500 do
        seed = (seed * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
        times[#times + 1] = seed % 253402300800
      end
      for _, t in ipairs(times) do
        assert.are.equal(os.date("!%Y%m%dT%H%M%SZ", t), sigv4.sign(request { time = t })["X-Amz-Date"])
      end
      assert.has_error(function() sigv4.sign(request { time = 253402300800 }) end)
      assert.has_error(function() sigv4.sign(request { time = -1 }) end)
    end)

    it("differs when anything signed changes", function()
      local base = sigv4.sign(request {}).Authorization
      for _, change in ipairs({ { method = "POST" }, { url = "https://example.amazonaws.com/x" },
        { url = "https://example.amazonaws.com/?a=1" }, { body = "x" }, { region = "eu-west-1" },
        { service = "ec2" }, { time = T0 + 1 }, { secret_key = SECRET .. "x" },
        { headers = { ["X-A"] = "1" } } }) do
        assert.are_not.equal(base, sigv4.sign(request(change)).Authorization)
      end
    end)
  end)

  describe("presign", function()
    it("puts the X-Amz-* parameters and the signature in the url", function()
      local url = sigv4.presign(request { url = "https://example.amazonaws.com/p?b=2&a=1" }, 900)
      local q = url:match("^https://example%.amazonaws%.com/p%?(.*)$")
      assert.truthy(q)
      -- sorted bytewise: upper-case X before lower-case a
      assert.matches("^X%-Amz%-Algorithm=AWS4%-HMAC%-SHA256"
        .. "&X%-Amz%-Credential=AKIDEXAMPLE%%2F20150830%%2Fus%-east%-1%%2Fservice%%2Faws4_request"
        .. "&X%-Amz%-Date=20150830T123600Z&X%-Amz%-Expires=900&X%-Amz%-SignedHeaders=host&a=1&b=2&X%-Amz%-Signature=%x+$", q)
      local cr = sigv4.canonical_request(request { url = "https://example.amazonaws.com/p?b=2&a=1" }, 900)
      local req = request {}
      local sig = sigv4.signature(sigv4.signing_key(SECRET, "20150830", "us-east-1", "service"), sigv4.string_to_sign(req, cr))
      assert.are.equal(sig, q:match("X%-Amz%-Signature=(%x+)$"))
    end)

    it("uses UNSIGNED-PAYLOAD for S3 and signs no content hash header", function()
      local cr, signed = sigv4.canonical_request(request { service = "s3", url = "https://b.s3.amazonaws.com/k" }, 60)
      assert.are.equal("UNSIGNED-PAYLOAD", parts(cr).payload)
      assert.are.equal("host", signed)
    end)

    it("refuses a url that already carries signing parameters, and silly expiries", function()
      assert.has_error(function()
        sigv4.presign(request { url = "https://h.example/?X-Amz-Signature=abc" }, 60)
      end)
      assert.has_error(function() sigv4.presign(request {}, 0) end)
      assert.has_error(function() sigv4.presign(request {}, 604801) end)
    end)
  end)

  describe("misuse raises", function()
    it("names an unknown key and the valid ones", function()
      local ok, err = pcall(sigv4.sign, request { regoin = "x" })
      assert.is_false(ok)
      assert.matches("unknown request key 'regoin' %(valid: method, url, headers", err)
    end)

    it("refuses a relative url, a bad header name, a bad region, missing credentials", function()
      for _, bad in ipairs({ { url = "/relative" }, { url = "https:///nohost" }, { url = "http://h:99999999/" },
        { url = "http://h:65536/" }, { url = "http://h:8x/" }, { url = "http://ex ample.com/" },
        { headers = { ["bad name"] = "x" } }, { region = "us east 1" }, { service = "" },
        { secret_key = false }, { time = 1.5 }, { headers = { X = true } }, { normalize_path = "yes" } }) do
        local req = request(bad)
        if bad.secret_key == false then req.secret_key = nil end
        assert.has_error(function() sigv4.sign(req) end)
      end
    end)
  end)
end)

-- ---- the AWS SigV4 test suite ---------------------------------------------

local SUITE = os.getenv("WPO_SIGV4_SUITE") or "../shared/testdata/aws-sigv4"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function must_read(path)
  return (assert(read(path), "cannot read " .. path))
end

-- Days since 1970-01-01 of a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function parse_timestamp(s)
  local y, mo, d, h, mi, sec = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
  assert(y, "bad timestamp " .. s)
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600
    + tonumber(mi) * 60 + tonumber(sec)
end

-- request.txt: a raw HTTP/1.1 request; a header line starting with
-- whitespace continues the previous header's value.
local function parse_request(raw)
  local head, body = raw:match("^(.-)\r?\n\r?\n(.*)$")
  if not head then head, body = raw:gsub("\r?\n$", ""), "" end
  local l = {}
  for line in (head .. "\n"):gmatch("(.-)\r?\n") do l[#l + 1] = line end
  local method, target = l[1]:match("^(%S+) (.*) HTTP/%d%.%d$")
  assert(method, "bad request line: " .. l[1])
  local headers, order = {}, {}
  for i = 2, #l do
    local line = l[i]
    if line:match("^[ \t]") then
      local last = order[#order]
      headers[last.name][last.index] = headers[last.name][last.index] .. "\n" .. line
    else
      local name, value = line:match("^([^:]+):(.*)$")
      assert(name, "bad header line: " .. line)
      headers[name] = headers[name] or {}
      table.insert(headers[name], value)
      order[#order + 1] = { name = name, index = #headers[name] }
    end
  end
  local host
  for name, values in pairs(headers) do
    if name:lower() == "host" then host = values[1] end
    if #values == 1 then headers[name] = values[1] end
  end
  return { method = method, target = target, headers = headers, body = body, host = host }
end

local function suite_request(dir)
  local ctx = cjson.decode(must_read(dir .. "/context.json"))
  local r = parse_request(must_read(dir .. "/request.txt"))
  local req = {
    method = r.method, url = "https://" .. r.host .. r.target, headers = r.headers,
    body = r.body ~= "" and r.body or nil,
    access_key = ctx.credentials.access_key_id, secret_key = ctx.credentials.secret_access_key,
    session_token = ctx.credentials.token, region = ctx.region, service = ctx.service,
    time = parse_timestamp(ctx.timestamp), normalize_path = ctx.normalize,
    content_sha256_header = ctx.sign_body, sign_session_token = not ctx.omit_session_token,
  }
  return req, ctx
end

local function trim_newline(s) return (s:gsub("\n$", "")) end

describe("AWS SigV4 test suite", function()
  local cases = {}
  if lfs.attributes(SUITE, "mode") == "directory" then
    for name in lfs.dir(SUITE) do
      if lfs.attributes(SUITE .. "/" .. name .. "/context.json", "mode") == "file" then
        cases[#cases + 1] = name
      end
    end
    table.sort(cases)
  end

  -- the suite is part of the test set (make check runs with ../shared beside
  -- the repository): without it this spec fails rather than passing unchecked
  it("finds the AWS SigV4 test suite", function()
    assert(#cases > 0, "no SigV4 test case found at " .. SUITE
      .. " (../shared/testdata/aws-sigv4 beside the repository, or WPO_SIGV4_SUITE)")
  end)

  for _, name in ipairs(cases) do
    it(name, function()
      local dir = SUITE .. "/" .. name
      local req, ctx = suite_request(dir)
      local key_date = os.date("!%Y%m%d", req.time)

      local cr = sigv4.canonical_request(req)
      assert.are.equal(trim_newline(read(dir .. "/header-canonical-request.txt")), cr)
      local sts = sigv4.string_to_sign(req, cr)
      assert.are.equal(trim_newline(read(dir .. "/header-string-to-sign.txt")), sts)
      local want = trim_newline(read(dir .. "/header-signature.txt"))
      local key = sigv4.signing_key(req.secret_key, key_date, req.region, req.service)
      assert.are.equal(want, sigv4.signature(key, sts))
      assert.are.equal(want, sigv4.sign(req).Authorization:match("Signature=(%x+)$"))

      local qcr = read(dir .. "/query-canonical-request.txt")
      if qcr then
        local expires = ctx.expiration_in_seconds
        local got = sigv4.canonical_request(req, expires)
        assert.are.equal(trim_newline(qcr), got)
        local qsts = sigv4.string_to_sign(req, got)
        assert.are.equal(trim_newline(read(dir .. "/query-string-to-sign.txt")), qsts)
        local qwant = trim_newline(read(dir .. "/query-signature.txt"))
        assert.are.equal(qwant, sigv4.signature(key, qsts))
        local url = sigv4.presign(req, expires)
        assert.are.equal(qwant, url:match("[?&]X%-Amz%-Signature=(%x+)$"))
        if req.session_token then
          assert.truthy(url:find("X-Amz-Security-Token=", 1, true))
        end
      end
    end)
  end
end)
