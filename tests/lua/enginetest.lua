-- Shared by the engine specs: stacks from memory, an in-memory state, a
-- recording reporter.
local M = {}

-- Load a stack script given as text (its file is /repo/s.lua).
function M.stack(src, opts)
  opts = opts or {}
  opts.reader = function(path)
    if path == "/repo/s.lua" then return src end
    return nil, path .. ": No such file or directory", "ENOENT"
  end
  opts.root = "/repo"
  return require("wpo.stack").load("/repo/s.lua", opts)
end

-- A state double with the interface of wpo.state's State; every save is
-- encoded (as the real one would) and kept.
function M.memstate(resources)
  local cjson = require "cjson"
  local st = { resources = resources or {}, outputs = {}, generations = {}, serial = 0, lineage = "L-1",
               exists = true, saves = {} }
  function st:get(a) return self.resources[a] end
  function st:set(a, r) self.resources[a] = r end
  function st:remove(a) self.resources[a] = nil end
  function st:addresses()
    local l = {}
    for a in pairs(self.resources) do l[#l + 1] = a end
    table.sort(l)
    return l
  end
  function st:save()
    self.serial = self.serial + 1
    self.saves[#self.saves + 1] = cjson.decode(cjson.encode({ resources = self.resources, outputs = self.outputs }))
  end
  function st:commit() self:save() end
  return st
end

-- A reporter that records { t = virtual ms, what, id, ... }.
function M.recorder(fake)
  local r = { events = {} }
  local function rec(what, a, extra)
    local e = { t = fake and fake.now, what = what, id = type(a) == "table" and a.id or a }
    for k, v in pairs(extra or {}) do e[k] = v end
    r.events[#r.events + 1] = e
  end
  function r:start(a) rec("start", a) end
  function r:still(a, ms) rec("still", a, { ms = ms }) end
  function r:finish(a, ms) rec("finish", a, { ms = ms }) end
  function r:fail(a, ms, err) rec("fail", a, { ms = ms, err = err }) end
  function r:skip(address, reason) rec("skip", address, { reason = reason }) end
  function r:note(a, msg) rec("note", a, { msg = msg }) end
  function r:interrupt(n, signal) rec("interrupt", nil, { count = n, signal = signal }) end
  function r:summary(res) rec("summary", nil, { result = res }) end
  function r:find(what, id)
    for _, e in ipairs(self.events) do if e.what == what and (id == nil or e.id == id) then return e end end
  end
  function r:all(what)
    local out = {}
    for _, e in ipairs(self.events) do if e.what == what then out[#out + 1] = e end end
    return out
  end
  return r
end

return M
