-- wpo.null: a resource that does nothing, for tests and for ordering.
--
--   triggers  map of strings; any change replaces the resource
--   value     anything; changes update it in place (readable by others: r.value)
--   For tests only: fail_on_create / fail_on_update / fail_on_delete = "message"
--   make that operation fail with the message; create_delay_ms makes create
--   wait that long (on the event loop) before it finishes.
local errors = require "wpo.errors"
local resource = require "wpo.resource"

local function new_id()
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local crypto = require "wpo.core.crypto"
  return crypto.hex(crypto.random(8))
end

local function fail(ctx, message)
  errors.raise { code = "NullFailure", message = message, address = ctx.address, where = ctx.where }
end

local function observed(id, want)
  return { id = id, triggers = want.triggers, value = want.value }
end

return resource.define "wpo.null" {
  description = "does nothing; triggers replace it, value updates it in place",
  attributes = {
    triggers = { type = "map", of = "string", force_new = true },
    value = { type = "any" },
    fail_on_create = { type = "string" },
    fail_on_update = { type = "string" },
    fail_on_delete = { type = "string" },
    create_delay_ms = { type = "integer" },
  },
  outputs = { "id" },

  create = function(ctx, want)
    if want.create_delay_ms and want.create_delay_ms > 0 then
      -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
      local ok, err = require("wpo.task").sleep(want.create_delay_ms)
      if not ok then fail(ctx, "create interrupted: " .. tostring(err)) end
    end
    if want.fail_on_create then fail(ctx, want.fail_on_create) end
    return observed(new_id(), want)
  end,

  read = function(_, id, prior)
    return { id = id, triggers = prior.inputs.triggers, value = prior.inputs.value }
  end,

  update = function(ctx, id, _, new)
    if new.fail_on_update then fail(ctx, new.fail_on_update) end
    return observed(id, new)
  end,

  delete = function(ctx, _, prior)
    if prior.inputs.fail_on_delete then fail(ctx, prior.inputs.fail_on_delete) end
  end,

  import = function(_, id)
    return { id = id }
  end,
}
