-- A busted output handler: a dot per test, every failure with its place and
-- message, then the line the test aggregator reads: "N passed, N failed, N skipped".
return function(_options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.base"()

  local function describe(list, label)
    for _, t in ipairs(list) do
      local where = t.element.trace and (t.element.trace.short_src .. ":" .. t.element.trace.currentline) or "?"
      local msg = t.message
      if type(msg) ~= "string" then msg = require("pl.pretty").write(msg) end
      io.write(string.format("\n%s %s\n  %s\n  %s\n", label, handler.getFullName(t.element), where,
        (msg or "nil"):gsub("\n", "\n  ")))
      if os.getenv("WPO_LOG") == "debug" and t.trace and t.trace.traceback then
        io.write("  ", t.trace.traceback:gsub("\n", "\n  "), "\n")
      end
    end
  end

  handler.testEnd = function(_element, _parent, status)
    io.write(({ success = ".", failure = "F", error = "E", pending = "s" })[status] or "?")
    io.flush()
    return nil, true
  end

  handler.suiteEnd = function()
    io.write("\n")
    describe(handler.failures, "FAILED")
    describe(handler.errors, "ERROR")
    for _, p in ipairs(handler.pendings) do
      io.write(string.format("skipped: %s (%s)\n", handler.getFullName(p.element), tostring(p.message or "pending")))
    end
    io.write(string.format("lua: %d passed, %d failed, %d skipped\n", handler.successesCount,
      handler.failuresCount + handler.errorsCount, handler.pendingsCount))
    io.flush()
    return nil, true
  end

  busted.subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
  busted.subscribe({ "suite", "end" }, handler.suiteEnd)
  return handler
end
