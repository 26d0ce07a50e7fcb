-- wpo.core.zlib: the reproducible gzip header, a fixed vector (Debian's
-- `gzip -n -6` bytes with the OS byte 255), round trips of random sizes,
-- gunzip's refusals, the streaming deflater; and crypto.sha256_new fed in
-- pieces.
local zlib = require "wpo.core.zlib"
local crypto = require "wpo.core.crypto"
local h = require "helpers"

local function hex(s) return crypto.hex(s) end

-- deterministic pseudo-random bytes (a linear congruential generator)
local function noise(n, seed)
  local x, out = seed, {}
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = string.char(x >> 16 & 255)
  end
  return table.concat(out)
end

describe("wpo.core.zlib", function()
  it("writes the fixed header: MTIME 0, no name, XFL 0 at level 6, OS 255", function()
    local gz = zlib.gzip("hello")
    assert.are.equal("1f8b08000000000000ff", hex(gz:sub(1, 10)))
    assert.are.equal("1f8b08000000000002ff", hex(zlib.gzip("hello", 9):sub(1, 10)))
    assert.are.equal("1f8b08000000000004ff", hex(zlib.gzip("hello", 1):sub(1, 10)))
  end)

  it("gives the bytes of `gzip -n -6` but for the OS byte (255 here, 3 there)", function()
    local gz = zlib.gzip("hello")
    -- computed once with Debian's gzip 1.12: printf hello | gzip -n -6 | xxd -p
    assert.are.equal("1f8b08000000000000ffcb48cdc9c9070086a6103605000000", hex(gz))
    local dir = h.tmpdir()
    h.write(dir .. "/in", ("wpo layer "):rep(1000) .. noise(3000, 7))
    local r = h.sh("gzip -n -6 -c " .. h.quote(dir .. "/in"))
    local ours = zlib.gzip(h.slurp(dir .. "/in"))
    h.rmrf(dir)
    assert.are.equal(0, r.status)
    assert.are.equal(hex(r.stdout:sub(1, 9)) .. "03" .. hex(r.stdout:sub(11)), hex(ours:sub(1, 9)) .. "03" .. hex(ours:sub(11)))
  end)

  it("round-trips random sizes, and gzip's own decompressor reads the result", function()
    for _, n in ipairs { 0, 1, 2, 511, 512, 65535, 65536, 65537, 200003 } do
      local data = noise(n, n + 1)
      local gz = zlib.gzip(data)
      assert.are.equal(data, zlib.gunzip(gz))
      assert.are.equal(data, zlib.gunzip(zlib.gzip(data, 0)))
    end
    local dir = h.tmpdir()
    local data = noise(100000, 3)
    h.write(dir .. "/x.gz", zlib.gzip(data))
    local r = h.sh("gzip -dc " .. h.quote(dir .. "/x.gz"))
    h.rmrf(dir)
    assert.are.equal(data, r.stdout)
  end)

  it("refuses output over max, and corrupt, truncated or trailing data, with a code", function()
    local gz = zlib.gzip(("a"):rep(100000))
    local data, err, code = zlib.gunzip(gz, 99999)
    assert.is_nil(data)
    assert.are.equal("toolarge", code)
    assert.matches("larger than 99999 bytes", err)
    assert.are.equal(100000, #zlib.gunzip(gz, 100000))
    for _, bad in ipairs { "", "garbage", gz:sub(1, 20), gz:sub(1, -2), gz .. "x",
                           gz:sub(1, 30) .. "\255\255" .. gz:sub(33) } do
      local d, e, c = zlib.gunzip(bad)
      assert.is_nil(d)
      assert.are.equal("corrupt", c)
      assert.matches("^gunzip: corrupt gzip data", e)
    end
    -- a flipped byte in the CRC
    local crc = gz:sub(1, -9) .. string.char(gz:byte(-8) ~ 1) .. gz:sub(-7)
    assert.are.equal("corrupt", select(3, zlib.gunzip(crc)))
  end)

  it("answers every damaged copy of a member with data or a refusal, never a crash", function()
    local data = noise(2000, 9) .. ("abc"):rep(500)
    local gz = zlib.gzip(data)
    local refused = 0
    for i = 1, #gz do
      for _, bit in ipairs { 1, 128 } do
        local bad = gz:sub(1, i - 1) .. string.char(gz:byte(i) ~ bit) .. gz:sub(i + 1)
        local out, err, code = zlib.gunzip(bad, 10000)
        if out == nil then
          refused = refused + 1
          assert.is_true(code == "corrupt" or code == "toolarge", err)
        end
      end
      local cut, _, code = zlib.gunzip(gz:sub(1, i - 1))
      assert.is_nil(cut)
      assert.are.equal("corrupt", code)
    end
    -- the CRC-32 and length catch what the deflate stream lets through; only
    -- header bits zlib does not check (XFL, OS, MTIME) may pass
    assert.is_true(refused >= 2 * #gz - 2 * 10, "refused " .. refused .. " of " .. 2 * #gz)
  end)

  it("streams: a deflater's chunks join into the gzip of the whole", function()
    local data = noise(300000, 11)
    local d = zlib.deflater()
    local chunks = {}
    for i = 1, #data, 7777 do chunks[#chunks + 1] = d:write(data:sub(i, i + 7776)) end
    chunks[#chunks + 1] = d:finish()
    local gz = table.concat(chunks)
    assert.are.equal(zlib.gzip(data), gz)
    local inn, out = d:sizes()
    assert.are.equal(#data, inn)
    assert.are.equal(#gz, out)
    assert.has_error(function() d:write("x") end, "zlib deflater: used after finish")
    d:close()
    d:close()
    assert.has_error(function() d:finish() end, "zlib deflater: used after close")
    assert.has_error(function() zlib.deflater(10) end)
    assert.has_error(function() zlib.gzip("x", -1) end)
  end)

  it("keeps the output inside with keep: write gives \"\", finish the whole stream", function()
    local data = noise(300000, 13)
    local d = zlib.deflater(6, true)
    for i = 1, #data, 65536 do assert.are.equal("", d:write(data:sub(i, i + 65535))) end
    local gz = d:finish()
    assert.are.equal(zlib.gzip(data), gz)
    assert.are.equal(#gz, select(2, d:sizes()))
    assert.has_error(function() d:finish() end, "zlib deflater: used after finish")
    d:close()
    local empty = zlib.deflater(nil, true)
    assert.are.equal(zlib.gzip(""), empty:finish())
    local dropped = zlib.deflater(1, true)
    dropped:write(data)
    dropped:close()   -- its buffer freed unfinished
  end)

  it("crypto.sha256_new hashes data fed in pieces as sha256 does the whole", function()
    local data = noise(100000, 5)
    local s = crypto.sha256_new()
    for i = 1, #data, 999 do s:update(data:sub(i, i + 998)) end
    assert.are.equal(hex(crypto.sha256(data)), hex(s:digest()))
    assert.has_error(function() s:update("x") end, "sha256: used after digest or close")
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      hex(crypto.sha256_new():digest()))
  end)
end)
