-- random.password: a password drawn from OpenSSL's random generator, kept in
-- state (sensitive) and stable once created; changing any setting or a
-- `keepers` value draws a new one.
local resource = require "wpo.resource"

local UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
local LOWER = "abcdefghijklmnopqrstuvwxyz"
local NUMERIC = "0123456789"
local SPECIAL = "!#$%&*()-_=+[]{}<>:?"

-- A uniformly random index in 1..n, from a stream of random bytes.
local function picker()
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local crypto = require "wpo.core.crypto"
  local pool, at = "", 1
  return function(n)
    local limit = 256 - 256 % n
    while true do
      if at > #pool then pool, at = crypto.random(64), 1 end
      local b = pool:byte(at)
      at = at + 1
      if b < limit then return b % n + 1 end
    end
  end
end

local function generate(ctx, want)
  local classes = {}
  local function class(enabled, chars, min, name)
    if enabled and #chars > 0 then
      classes[#classes + 1] = { chars = chars, min = min or 0 }
    elseif (min or 0) > 0 then
      ctx:fail("InvalidPassword", "min_%s is %d but %s characters are turned off", name, min, name)
    end
  end
  class(want.upper, UPPER, want.min_upper, "upper")
  class(want.lower, LOWER, want.min_lower, "lower")
  class(want.numeric, NUMERIC, want.min_numeric, "numeric")
  class(want.special, want.override_special or SPECIAL, want.min_special, "special")
  if #classes == 0 then ctx:fail("InvalidPassword", "every character class is turned off") end
  local all, mins = {}, 0
  for _, c in ipairs(classes) do all[#all + 1] = c.chars; mins = mins + c.min end
  all = table.concat(all)
  if want.length < 1 or want.length < mins then
    ctx:fail("InvalidPassword", "length %d is shorter than the minimums it must hold (%d)", want.length, mins)
  end
  local pick = picker()
  local chars = {}
  for _, c in ipairs(classes) do
    for _ = 1, c.min do
      local i = pick(#c.chars)
      chars[#chars + 1] = c.chars:sub(i, i)
    end
  end
  while #chars < want.length do
    local i = pick(#all)
    chars[#chars + 1] = all:sub(i, i)
  end
  for i = #chars, 2, -1 do
    local j = pick(i)
    chars[i], chars[j] = chars[j], chars[i]
  end
  return table.concat(chars)
end

return resource.define "random.password" {
  description = "a random password, stable once created",
  attributes = {
    length = { type = "integer", default = 24, force_new = true },
    upper = { type = "boolean", default = true, force_new = true },
    lower = { type = "boolean", default = true, force_new = true },
    numeric = { type = "boolean", default = true, force_new = true },
    special = { type = "boolean", default = true, force_new = true },
    override_special = { type = "string", force_new = true },
    min_upper = { type = "integer", default = 0, force_new = true },
    min_lower = { type = "integer", default = 0, force_new = true },
    min_numeric = { type = "integer", default = 0, force_new = true },
    min_special = { type = "integer", default = 0, force_new = true },
    keepers = { type = "map", of = "string", force_new = true },
  },
  outputs = { id = {}, result = { sensitive = true } },

  create = function(ctx, want)
    -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
    local crypto = require "wpo.core.crypto"
    return { id = crypto.hex(crypto.random(8)), result = generate(ctx, want) }
  end,

  read = function(_, id, prior)
    return { id = id, result = prior.outputs.result }
  end,

  delete = function() end,
}
