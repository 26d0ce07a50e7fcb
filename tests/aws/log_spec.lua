-- wpo.log: levels from WPO_LOG, lazy formatting, header redaction.
local log = require "wpo.log"

describe("wpo.log", function()
  local lines
  before_each(function()
    lines = {}
    log.set_output(function(l) lines[#lines + 1] = l end)
  end)
  after_each(function()
    log.set_output(nil)
    log.set_level(nil)
  end)

  it("prints a level and everything more severe", function()
    log.set_level("info")
    log.debug("hidden %d", 1)
    log.info("shown %d", 2)
    log.error("bad %s", "thing")
    assert.are.same({ "wpo[info] shown 2", "wpo[error] bad thing" }, lines)
    assert.is_true(log.enabled("info"))
    assert.is_false(log.enabled("debug"))
    assert.are.equal("info", log.level())
  end)

  it("does not format arguments below the level", function()
    log.set_level("warn")
    log.debug("%s", setmetatable({}, { __tostring = function() error("formatted") end }))
    assert.are.same({}, lines)
  end)

  it("rejects an unknown level naming the valid ones", function()
    local ok, err = pcall(log.set_level, "verbose")
    assert.is_false(ok)
    assert.matches("unknown level 'verbose' %(valid: debug, error, info, warn%)", err)
  end)

  it("redacts Authorization, security tokens and extra secret headers", function()
    local h = log.redact_headers({ Authorization = "AWS4-HMAC-SHA256 Credential=AKID/..., Signature=abc",
      ["X-Amz-Security-Token"] = "tok", ["X-Amz-Date"] = "20240101T000000Z", ["X-Custom-Key"] = "k" },
      { ["x-custom-key"] = true })
    assert.are.same({ Authorization = "<redacted>", ["X-Amz-Security-Token"] = "<redacted>",
      ["X-Amz-Date"] = "20240101T000000Z", ["X-Custom-Key"] = "<redacted>" }, h)
    assert.are.equal("Authorization: <redacted>; X-Amz-Date: 20240101T000000Z; X-Amz-Security-Token: <redacted>; "
      .. "X-Custom-Key: <redacted>", log.format_headers(h))
  end)
end)
