-- wpo.state.crypt with WPO_STATE_KEY (an injected environment): the key's
-- format, sealing and opening, the header, tampering anywhere, a wrong key,
-- a key being rotated out, and which writes stay encrypted.
local crypto = require "wpo.core.crypto"
local crypt = require "wpo.state.crypt"
local errors = require "wpo.errors"
local cjson = require "cjson"

local STACK = { name = "prod" }
local K1 = crypto.base64(crypto.random(32))
local K2 = crypto.base64(crypto.random(32))
local SECRET = "s3cr3t-" .. crypto.hex(crypto.random(8))
local STATE = cjson.encode({ format_version = 1, lineage = "L", serial = 3, stack = "prod",
  resources = { { address = "random.password.db", type = "random.password", outputs = { result = SECRET } } } })

local function env(vars)
  return function(name) return vars[name] end
end

local function keyring(config, vars)
  return crypt.keyring(config, STACK, { getenv = env(vars or {}) })
end

local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_true(errors.is(err), "expected a wpo.errors error, got " .. tostring(err))
  return err
end

-- the sealed text with one character of the base64 ciphertext changed
local function flip_ciphertext(text)
  local start = select(2, text:find('"ciphertext":"', 1, true))
  local at = start + 40
  while not text:sub(at, at):match("%w") do at = at + 1 end   -- a base64 digit, not an escape
  local c = text:sub(at, at)
  local other = c == "A" and "B" or "A"
  return text:sub(1, at - 1) .. other .. text:sub(at + 1)
end

describe("wpo.state.crypt", function()
  it("takes WPO_STATE_KEY as the base64 of exactly 32 bytes, saying what is wrong otherwise", function()
    assert.are.equal(32, #assert(crypt.parse_key(K1)))
    local key, err = crypt.parse_key(crypto.base64(crypto.random(16)))
    assert.is_nil(key)
    assert.are.equal("it decodes to 16 bytes, not 32", err)
    assert.is_nil((crypt.parse_key("not base64 !!")))
    local e = raised(function() keyring({ encrypt = true }, { WPO_STATE_KEY = crypto.base64("short") }):check() end)
    assert.are.equal("StateEncryptionError", e.code)
    assert.matches("WPO_STATE_KEY must be the base64 of 32 random bytes %(make one with: openssl rand %-base64 32%), "
      .. "but it decodes to 5 bytes, not 32", e.message)
    e = raised(function() keyring({ encrypt = true }, {}):check() end)
    assert.matches("encrypt = true, but WPO_STATE_KEY is not set", e.message)
  end)

  it("seals with AES-256-GCM behind a header naming the scheme and key, and opens it again", function()
    local kr = keyring({ encrypt = true }, { WPO_STATE_KEY = K1 })
    local sealed = kr:seal(STATE)
    assert.is_true(crypt.is_encrypted(sealed))
    assert.is_nil(sealed:find(SECRET, 1, true))
    assert.is_nil(sealed:find("random.password", 1, true))
    local h = cjson.decode(sealed)
    assert.are.same({ 1, "AES-256-GCM", "env", "prod" }, { h.wpo_encrypted_state, h.scheme, h.key_source, h.stack })
    assert.matches("^sha256:%x+$", h.key_id)
    -- a fresh IV each time: the same state never seals to the same bytes
    assert.are_not.equal(sealed, kr:seal(STATE))
    local plain, header = keyring({}, { WPO_STATE_KEY = K1 }):open(sealed)
    assert.are.equal(STATE, plain)
    assert.are.equal(h.key_id, header.key_id)
    -- a state in the clear is read as it is
    assert.are.equal(STATE, (keyring({}, {}):open(STATE)))
  end)

  it("refuses a changed byte in the ciphertext or in the header: authentication fails, clearly", function()
    local sealed = keyring({ encrypt = true }, { WPO_STATE_KEY = K1 }):seal(STATE)
    local e = raised(function() keyring({}, { WPO_STATE_KEY = K1 }):open(flip_ciphertext(sealed), "the state x") end)
    assert.are.equal("StateEncryptionError", e.code)
    assert.matches("^the state x failed authentication %(AES%-256%-GCM, key sha256:%x+%): it was modified or damaged",
      e.message)
    -- the header is authenticated too: claim another stack
    local renamed = sealed:gsub('"stack":"prod"', '"stack":"prud"')
    e = raised(function() keyring({}, { WPO_STATE_KEY = K1 }):open(renamed) end)
    assert.matches("failed authentication", e.message)
    -- a truncated envelope
    e = raised(function() keyring({}, { WPO_STATE_KEY = K1 }):open(sealed:sub(1, 80)) end)
    assert.matches("envelope is damaged", e.message)
  end)

  it("refuses a wrong key, and reads with the one being rotated out (WPO_STATE_KEY_OLD)", function()
    local sealed = keyring({ encrypt = true }, { WPO_STATE_KEY = K1 }):seal(STATE)
    local e = raised(function() keyring({}, { WPO_STATE_KEY = K2 }):open(sealed) end)
    assert.matches("is encrypted with key sha256:%x+, but WPO_STATE_KEY is key sha256:%x+: wrong key", e.message)
    e = raised(function() keyring({}, {}):open(sealed) end)
    assert.matches("is encrypted %(AES%-256%-GCM, key sha256:%x+%) and WPO_STATE_KEY is not set", e.message)
    -- a forged key id cannot make another key pass: the tag still fails
    local k2id = cjson.decode(keyring({ encrypt = true }, { WPO_STATE_KEY = K2 }):seal("x")).key_id
    local forged = sealed:gsub('"key_id":"[^"]*"', '"key_id":"' .. k2id .. '"')
    e = raised(function() keyring({}, { WPO_STATE_KEY = K2 }):open(forged) end)
    assert.matches("failed authentication", e.message)
    -- rotation: read with the old key, write with the new one
    local kr = keyring({ encrypt = true }, { WPO_STATE_KEY = K2, WPO_STATE_KEY_OLD = K1 })
    assert.are.equal(STATE, (kr:open(sealed)))
    local resealed = kr:seal(STATE)
    assert.are.equal(STATE, (keyring({}, { WPO_STATE_KEY = K2 }):open(resealed)))
    assert.matches("wrong key", raised(function() keyring({}, { WPO_STATE_KEY = K1 }):open(resealed) end).message)
  end)

  it("keeps an encrypted state encrypted, writes a clear one encrypted once asked, and decrypts only on purpose", function()
    local sealed = keyring({ encrypt = true }, { WPO_STATE_KEY = K1 }):seal(STATE)
    -- no encryption configured, but the state was read encrypted: it stays so
    local kr = keyring({}, { WPO_STATE_KEY = K1 })
    kr:open(sealed)
    assert.is_true(crypt.is_encrypted(kr:seal(STATE)))
    kr.mode = "decrypt"
    assert.are.equal(STATE, kr:seal(STATE))
    -- nothing configured, nothing read encrypted: in the clear
    assert.are.equal(STATE, keyring({}, { WPO_STATE_KEY = K1 }):seal(STATE))
    assert.are.equal("not encrypted", keyring({}, {}):describe())
    assert.matches("^AES%-256%-GCM with WPO_STATE_KEY %(key sha256:%x+%)$",
      keyring({ encrypt = true }, { WPO_STATE_KEY = K1 }):describe())
  end)

  it("rejects contradictory or malformed encryption settings", function()
    assert.matches("contradicts encrypt = false",
      raised(function() keyring({ encrypt = false, kms_key_id = "k" }) end).message)
    assert.matches("encrypt is true or false", raised(function() keyring({ encrypt = "yes" }) end).message)
  end)
end)
