-- wpo.core.crypto: published vectors (FIPS 180 SHA-256, RFC 4231 HMAC, RFC 1321
-- MD5, RFC 4648 base64, the GCM specification's AES-256 cases), AES-GCM round
-- trips, and tampering or a wrong key detected.
local crypto = require "wpo.core.crypto"

local function unhex(h) return (assert(crypto.unhex(h))) end
local function hex(s) return crypto.hex(s) end

describe("wpo.core.crypto", function()
  describe("sha256", function()
    it("matches the FIPS 180 examples", function()
      assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex(crypto.sha256("")))
      assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex(crypto.sha256("abc")))
      assert.are.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        hex(crypto.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))
      assert.are.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        hex(crypto.sha256(("a"):rep(1000000))))
    end)

    it("returns 32 raw bytes and hashes embedded NULs", function()
      local d = crypto.sha256("a\0b")
      assert.are.equal(32, #d)
      assert.are_not.equal(hex(crypto.sha256("a")), hex(d))
    end)
  end)

  describe("hmac_sha256", function()
    local cases = {
      { ("0b"):rep(20), "4869205468657265", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
      { "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
      { ("aa"):rep(20), ("dd"):rep(50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
      { "0102030405060708090a0b0c0d0e0f10111213141516171819", ("cd"):rep(50),
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
      { ("aa"):rep(131), hex("Test Using Larger Than Block-Size Key - Hash Key First"),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
      { ("aa"):rep(131), hex("This is a test using a larger than block-size key and a larger than block-size data."
        .. " The key needs to be hashed before being used by the HMAC algorithm."),
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    }
    for i, c in ipairs({ 1, 2, 3, 4, 6, 7 }) do
      it("matches RFC 4231 test case " .. c, function()
        assert.are.equal(cases[i][3], hex(crypto.hmac_sha256(unhex(cases[i][1]), unhex(cases[i][2]))))
      end)
    end

    it("accepts an empty key and empty data", function()
      assert.are.equal("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", hex(crypto.hmac_sha256("", "")))
    end)
  end)

  describe("md5", function()
    it("matches the RFC 1321 test suite", function()
      local suite = {
        [""] = "d41d8cd98f00b204e9800998ecf8427e",
        a = "0cc175b9c0f1b6a831c399e269772661",
        abc = "900150983cd24fb0d6963f7d28e17f72",
        ["message digest"] = "f96b697d7cb7938d525a2f31aaf161d0",
        abcdefghijklmnopqrstuvwxyz = "c3fcd3d76192e4007dfb496cca67e13b",
        ["12345678901234567890123456789012345678901234567890123456789012345678901234567890"] =
          "57edf4a22be3c955ac49da2e2107b67a",
      }
      for input, want in pairs(suite) do assert.are.equal(want, hex(crypto.md5(input))) end
    end)
  end)

  describe("hex", function()
    it("encodes lower-case and round-trips every byte", function()
      local all = {}
      for b = 0, 255 do all[#all + 1] = string.char(b) end
      all = table.concat(all)
      local h = crypto.hex(all)
      assert.are.equal(512, #h)
      assert.are.equal("000102", h:sub(1, 6))
      assert.are.equal("fdfeff", h:sub(-6))
      assert.are.equal(all, crypto.unhex(h))
      assert.are.equal(all, crypto.unhex(h:upper()))
    end)

    it("refuses an odd length or a non-hex digit", function()
      local v, err = crypto.unhex("abc")
      assert.is_nil(v)
      assert.matches("odd", err)
      v, err = crypto.unhex("zz")
      assert.is_nil(v)
      assert.matches("not a hex digit", err)
      assert.are.equal("", crypto.unhex(""))
    end)
  end)

  describe("base64", function()
    local vectors = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
      { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } }

    it("matches RFC 4648 section 10", function()
      for _, v in ipairs(vectors) do
        assert.are.equal(v[2], crypto.base64(v[1]))
        assert.are.equal(v[1], crypto.unbase64(v[2]))
      end
    end)

    it("round-trips binary data of every length up to 300", function()
      for n = 0, 300 do
        local data = crypto.random(n)
        assert.are.equal(data, crypto.unbase64(crypto.base64(data)))
      end
      assert.are.equal("+/8=", crypto.base64("\251\255"))
    end)

    it("refuses what is not canonical padded base64", function()
      for _, bad in ipairs({ "Zg", "Zg=", "Zg==Zg==", "Z===", "Zh==", "Zm9=", "Z!==", "Zm9v\n", " Zm9v",
        "Zm-_", "=Zm9" }) do
        local v, err = crypto.unbase64(bad)
        assert.is_nil(v, bad)
        assert.matches("base64", err)
      end
    end)
  end)

  describe("random and uuid", function()
    it("gives the bytes asked for, different each time", function()
      assert.are.equal("", crypto.random(0))
      assert.are.equal(1000, #crypto.random(1000))
      assert.are_not.equal(crypto.random(32), crypto.random(32))
      assert.has_error(function() crypto.random(-1) end)
    end)

    it("makes RFC 4122 version 4 uuids, all distinct", function()
      local seen = {}
      for _ = 1, 1000 do
        local u = crypto.uuid()
        assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", u)
        assert.is_nil(seen[u])
        seen[u] = true
      end
    end)
  end)

  describe("aes_gcm", function()
    local key = unhex(("00"):rep(32))
    local gcm_key = unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")

    it("decrypts the GCM specification's AES-256 test cases 13, 14 and 16", function()
      assert.are.equal("", crypto.aes_gcm_decrypt(key, unhex(("00"):rep(12) .. "530f8afbc74536b9a963b4f1c4cb738b")))
      assert.are.equal(("00"):rep(16), hex(crypto.aes_gcm_decrypt(key,
        unhex(("00"):rep(12) .. "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"))))
      local blob = unhex("cafebabefacedbaddecaf888"
        .. "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        .. "76fc6ece0f4e1768cddf8853bb2d551b")
      assert.are.equal("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        .. "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        hex(crypto.aes_gcm_decrypt(gcm_key, blob, unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"))))
    end)

    it("round-trips, with and without associated data, empty and large", function()
      local k = crypto.random(32)
      for _, plain in ipairs({ "", "x", '{"serial":3,"resources":[]}', crypto.random(100000) }) do
        local blob = crypto.aes_gcm_encrypt(k, plain)
        assert.are.equal(#plain + 28, #blob)
        assert.are.equal(plain, crypto.aes_gcm_decrypt(k, blob))
        local with_aad = crypto.aes_gcm_encrypt(k, plain, "lineage-1234")
        assert.are.equal(plain, crypto.aes_gcm_decrypt(k, with_aad, "lineage-1234"))
      end
    end)

    it("uses a fresh IV each time", function()
      local k = crypto.random(32)
      local a, b = crypto.aes_gcm_encrypt(k, "same"), crypto.aes_gcm_encrypt(k, "same")
      assert.are_not.equal(a:sub(1, 12), b:sub(1, 12))
      assert.are_not.equal(a, b)
    end)

    it("detects any flipped bit: IV, ciphertext or tag", function()
      local k = crypto.random(32)
      local blob = crypto.aes_gcm_encrypt(k, "the state of prod", "aad")
      for i = 1, #blob do
        local flipped = blob:sub(1, i - 1) .. string.char(blob:byte(i) ~ (1 << (i % 8))) .. blob:sub(i + 1)
        local v, err = crypto.aes_gcm_decrypt(k, flipped, "aad")
        assert.is_nil(v)
        assert.matches("^authentication failed", err)
      end
    end)

    it("detects a wrong key, wrong or missing associated data, truncation", function()
      local k = crypto.random(32)
      local blob = crypto.aes_gcm_encrypt(k, "secret", "aad")
      for _, try in ipairs({ { crypto.random(32), blob, "aad" }, { k, blob, "aaD" }, { k, blob, nil },
        { k, blob:sub(1, -2), "aad" }, { k, blob:sub(1, 27), "aad" }, { k, "", "aad" } }) do
        local v, err = crypto.aes_gcm_decrypt(try[1], try[2], try[3])
        assert.is_nil(v)
        assert.matches("^authentication failed", err)
      end
    end)

    it("raises on a key that is not 32 bytes", function()
      assert.has_error(function() crypto.aes_gcm_encrypt("short", "x") end)
      assert.has_error(function() crypto.aes_gcm_decrypt(("k"):rep(31), ("x"):rep(40)) end)
    end)
  end)
end)
