local options = require "wpo.options"

describe("wpo.options", function()
  it("returns the options, or an empty table for nil", function()
    local o = { a = 1 }
    assert.are.equal(o, options.check("f", o, { a = true, b = true }))
    assert.are.same({}, options.check("f", nil, { a = true }))
  end)
  it("names an unknown key and the valid ones", function()
    local ok, err = pcall(options.check, "plan.make", { tagrets = true }, { targets = true, destroy = true })
    assert.is_false(ok)
    assert.matches("plan%.make: unknown option 'tagrets' %(valid: destroy, targets%)", err)
  end)
  it("refuses options that are not a table", function()
    assert.has_error(function() options.check("f", "x", {}) end)
  end)
end)
