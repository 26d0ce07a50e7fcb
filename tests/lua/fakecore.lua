-- A fake of the C core for specs of the pure-Lua engine (plan, apply, task):
-- wpo.core.loop with a virtual clock (a blocking wait jumps to the next timer,
-- so "still creating... (1m10s)" takes no real time) and wpo.core.crypto from a
-- seeded generator (its other functions, hashing and ciphers, are the real
-- ones). Installed through package.preload; restore() puts back the real
-- modules.
--
--   local fake = fakecore.install{ seed = 1 }
--   fake.now                  virtual milliseconds
--   fake.at(ms, fn)           call fn when the virtual clock reaches ms
--   fake.interrupt(signal?)   deliver a SIGINT (or the signal named) record at the next wait
--   fakecore.restore()
local M = {}

-- Modules that capture the core at require time: reloaded against the fake.
local DEPENDENTS = { "wpo.task", "wpo.apply", "wpo.plan", "wpo.null", "wpo.random.password", "wpo.workflow" }
local FAKED = { "wpo.core.loop", "wpo.core.crypto" }

local saved

local function reset_dependents()
  for _, m in ipairs(DEPENDENTS) do package.loaded[m] = nil end
end

function M.install(opts)
  opts = opts or {}
  M.restore()
  saved = { preload = {}, loaded = {} }
  for _, m in ipairs(FAKED) do
    saved.preload[m] = package.preload[m]
    saved.loaded[m] = package.loaded[m]
  end
  local fake = { now = 0, sigints = 0, catching = false }
  local next_id, pending, count = 0, {}, 0
  local cancelled, interrupts, hooks = {}, {}, {}

  local function due_timers()
    local list = {}
    for _, op in pairs(pending) do
      if not op.cancelled and op.due <= fake.now then list[#list + 1] = op end
    end
    table.sort(list, function(a, b) if a.due ~= b.due then return a.due < b.due end return a.id < b.id end)
    return list
  end

  local function earliest()
    local e
    for _, op in pairs(pending) do
      if not op.cancelled and (not e or op.due < e) then e = op.due end
    end
    for _, h in ipairs(hooks) do if not e or h.at < e then e = h.at end end
    return e
  end

  local function run_hooks()
    local i = 1
    while i <= #hooks do
      if hooks[i].at <= fake.now then
        local h = table.remove(hooks, i)
        h.fn()
      else
        i = i + 1
      end
    end
  end

  local function collect()
    run_hooks()
    local out = {}
    for _, i in ipairs(interrupts) do
      out[#out + 1] = { id = 0, ok = false, code = "interrupt", err = "interrupted (" .. i.signal .. ")",
        signal = i.signal, count = i.count }
    end
    interrupts = {}
    for _, id in ipairs(cancelled) do
      out[#out + 1] = { id = id, ok = false, err = "operation cancelled", code = "cancelled" }
    end
    cancelled = {}
    for _, op in ipairs(due_timers()) do
      pending[op.id] = nil
      count = count - 1
      out[#out + 1] = { id = op.id, ok = true, value = true }
    end
    return out
  end

  local loop = {}
  function loop.timer(ms)
    assert(type(ms) == "number" and ms >= 0, "loop.timer: expected ms >= 0")
    next_id = next_id + 1
    pending[next_id] = { id = next_id, due = fake.now + ms }
    count = count + 1
    return next_id
  end
  function loop.cancel(id)
    local op = pending[id]
    if not op or op.cancelled then return false end
    op.cancelled = true
    pending[id] = nil
    count = count - 1
    cancelled[#cancelled + 1] = id
    return true
  end
  function loop.outstanding(id)
    if id == nil then return count + #cancelled end
    if pending[id] then return true end
    for _, c in ipairs(cancelled) do if c == id then return true end end
    return false
  end
  function loop.now() return fake.now end
  function loop.wait(timeout)
    local out = collect()
    if #out > 0 or timeout == 0 then return out end
    local e = earliest()
    if not e then return out end
    if timeout and timeout > 0 and e > fake.now + timeout then
      fake.now = fake.now + timeout
      return collect()
    end
    fake.now = math.max(fake.now, e)
    return collect()
  end
  function loop.catch_interrupts(on)
    local was = fake.catching
    fake.catching = on
    if on and not was then fake.sigints = 0 end
    return was
  end
  function loop.interrupts() return fake.catching and fake.sigints or 0 end

  function fake.at(ms, fn) hooks[#hooks + 1] = { at = ms, fn = fn } end
  function fake.interrupt(signal)
    fake.sigints = fake.sigints + 1
    if fake.catching then interrupts[#interrupts + 1] = { count = fake.sigints, signal = signal or "SIGINT" } end
  end

  -- only randomness is faked: hashing, encryption and encodings are the real ones
  local real_crypto = require "wpo.core.crypto"
  local rng = opts.seed or 1
  local function byte()
    rng = (rng * 1103515245 + 12345) % 2147483648
    return (rng >> 16) & 0xff
  end
  local crypto = setmetatable({}, { __index = real_crypto })
  function crypto.random(n)
    local t = {}
    for i = 1, n do t[i] = string.char(byte()) end
    return table.concat(t)
  end
  function crypto.hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
  function crypto.uuid()
    local h = crypto.hex(crypto.random(16))
    return string.format("%s-%s-4%s-a%s-%s", h:sub(1, 8), h:sub(9, 12), h:sub(14, 16), h:sub(18, 20), h:sub(21, 32))
  end

  package.preload["wpo.core.loop"] = function() return loop end
  package.preload["wpo.core.crypto"] = function() return crypto end
  package.loaded["wpo.core.loop"], package.loaded["wpo.core.crypto"] = nil, nil
  reset_dependents()
  fake.loop, fake.crypto = loop, crypto
  return fake
end

function M.restore()
  if not saved then return end
  for _, m in ipairs(FAKED) do
    package.preload[m] = saved.preload[m]
    package.loaded[m] = saved.loaded[m]
  end
  saved = nil
  reset_dependents()
end

return M
