-- wpo.core.sigv4 against botocore's signer: tests/sigv4_botocore.py makes
-- randomised requests from a fixed seed and signs them with botocore
-- (/usr/bin/python3, Debian's python3-botocore); each is signed again here
-- and the Authorization headers must be identical.
-- WPO_SIGV4_DIFF_SEED / WPO_SIGV4_DIFF_COUNT change the seed and the count.
local sigv4 = require "wpo.core.sigv4"
local crypto = require "wpo.core.crypto"
local cjson = require "cjson"
local h = require "helpers"

local PYTHON = "/usr/bin/python3"
local SEED = tonumber(os.getenv("WPO_SIGV4_DIFF_SEED") or "20240611")
local COUNT = tonumber(os.getenv("WPO_SIGV4_DIFF_COUNT") or "1200")

-- The cases, generated once for the whole file: cases | nil, reason.
local generated
local function cases()
  if generated then return table.unpack(generated) end
  local probe = h.sh(h.quote(PYTHON) .. " -c 'import botocore.auth'")
  if probe.status ~= 0 then
    generated = { nil, "botocore not importable with " .. PYTHON .. " (Debian python3-botocore)" }
    return table.unpack(generated)
  end
  local dir = h.tmpdir()
  local out = dir .. "/cases.json"
  local r = h.sh(string.format("%s %s/tests/sigv4_botocore.py --seed %d --count %d --out %s",
    h.quote(PYTHON), h.quote(h.REPO), SEED, COUNT, h.quote(out)))
  local data = h.slurp(out)
  h.rmrf(dir)
  assert(r.status == 0, "the botocore case generator failed:\n" .. r.stderr)
  generated = { cjson.decode(data).cases }
  return generated[1]
end

-- A generated case as wpo's sign() takes it: a repeated header becomes a
-- list of its values, in order.
local function to_request(case)
  local headers = {}
  for _, pair in ipairs(case.headers) do
    local name, value = pair[1], pair[2]
    if headers[name] == nil then
      headers[name] = value
    elseif type(headers[name]) == "table" then
      table.insert(headers[name], value)
    else
      headers[name] = { headers[name], value }
    end
  end
  local req = {
    method = case.method, url = case.url, headers = headers,
    access_key = case.access_key, secret_key = case.secret_key, region = case.region,
    service = case.service, time = case.time,
  }
  if case.body ~= cjson.null then req.body = assert(crypto.unbase64(case.body)) end
  if case.session_token ~= cjson.null then req.session_token = case.session_token end
  if case.unsigned then
    req.payload_hash = "UNSIGNED-PAYLOAD"
    req.content_sha256_header = true
  end
  return req
end

-- Signs every case that `select` picks; returns how many, and a report of
-- the first mismatches (with both canonical requests).
local function compare(select)
  local all, reason = cases()
  assert(all, reason)   -- make check installs python3-botocore: a missing signer fails
  local n, bad, report = 0, 0, {}
  for _, case in ipairs(all) do
    if select(case) then
      n = n + 1
      local req = to_request(case)
      local ok, got = pcall(sigv4.sign, req)
      local want = case.expect
      local same = ok and got.Authorization == want.authorization and got["X-Amz-Date"] == want.amz_date
        and (want.content_sha256 == cjson.null or got["X-Amz-Content-Sha256"] == want.content_sha256)
      if not same then
        bad = bad + 1
        if #report < 3 then
          local mine = ok and sigv4.canonical_request(req) or ("error: " .. tostring(got))
          report[#report + 1] = string.format("case %d (%s %s)\n-- wpo:\n%s\n-- botocore:\n%s",
            case.index, case.method, case.url, mine, want.canonical_request)
        end
      end
    end
  end
  assert(bad == 0, string.format("%d of %d signatures differ from botocore's; the first:\n%s", bad, n,
    table.concat(report, "\n\n")))
  return n
end

describe("wpo.core.sigv4 against botocore", function()
  it("has at least 1,000 cases covering every feature", function()
    local all, reason = cases()
    assert(all, reason)   -- make check installs python3-botocore: a missing signer fails
    assert.is_true(#all >= 1000, "only " .. #all .. " cases")
    local seen = { s3 = 0, token = 0, unsigned = 0 }
    for _, case in ipairs(all) do
      for k, v in pairs(case.features) do seen[k] = (seen[k] or 0) + (v and 1 or 0) end
      if case.s3 then seen.s3 = seen.s3 + 1 end
      if case.session_token ~= cjson.null then seen.token = seen.token + 1 end
      if case.unsigned then seen.unsigned = seen.unsigned + 1 end
    end
    for _, feature in ipairs({ "s3", "token", "unsigned", "repeated_query_key", "empty_query_value",
      "unicode_path", "space_in_path", "repeated_header", "spaced_header_value", "body" }) do
      assert.is_true(seen[feature] >= 20, feature .. " covered by only " .. seen[feature] .. " cases")
    end
  end)

  it("signs like botocore's SigV4Auth (services other than S3)", function()
    assert.is_true(compare(function(c) return not c.s3 and not c.unsigned end) > 100)
  end)

  it("signs like botocore's S3SigV4Auth (no path normalisation, x-amz-content-sha256)", function()
    assert.is_true(compare(function(c) return c.s3 and not c.unsigned end) > 100)
  end)

  it("signs UNSIGNED-PAYLOAD requests like botocore", function()
    assert.is_true(compare(function(c) return c.unsigned end) > 20)
  end)

  it("signs requests with session tokens like botocore", function()
    assert.is_true(compare(function(c) return c.session_token ~= cjson.null end) > 100)
  end)
end)
