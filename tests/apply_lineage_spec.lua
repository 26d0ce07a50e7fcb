-- A new state is saved before the first create, so its lineage (which seeds
-- every client token) is the same when a first run killed mid-create is run again.
local h = require "helpers"
local cjson = require "cjson"

-- the binary by an absolute path: the command below changes directory
local WPO = h.WPO:sub(1, 1) == "/" and h.WPO or (h.sh("pwd").stdout:gsub("%s+$", "") .. "/" .. h.WPO)

describe("wpo run on a new stack", function()
  it("has saved the state's lineage before its first create, and keeps it on the next run", function()
    local dir = h.tmpdir()
    h.write(dir .. "/s.lua", 'local s = wpo.stack { name = "t", vars = { delay = 0 } }\n'
      .. 'local delay = s.vars.delay\n'
      .. 's:add("wpo.null", "only", { create_delay_ms = delay })\nreturn s\n')
    -- Start a run whose create takes a minute; kill -9 it once the create has begun.
    local killed = h.sh(string.format(
      "cd %s && { WPO_VAR_delay=60000 %s run s.lua --yes > out 2>&1 & echo $! > pid; } && "
      .. "for i in $(seq 1 400); do grep -q 'creating' out && break; sleep 0.05; done && "
      .. "grep -q 'creating' out && kill -9 $(cat pid)", h.quote(dir), h.quote(WPO)))
    local after_kill = h.slurp(dir .. "/.wpo/t.state.json")
    local second = h.wpo({ "run", dir .. "/s.lua", "--yes" }, { env = { WPO_VAR_delay = "0" } })
    local after_rerun = h.slurp(dir .. "/.wpo/t.state.json")
    h.rmrf(dir)
    assert.are.equal(0, killed.status, "the run was killed while creating")
    assert.is_true(#after_kill > 0, "a state file exists after the kill")
    local a = cjson.decode(after_kill)
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", a.lineage)
    assert.are.equal(0, #a.resources)
    assert.are.equal(0, second.status, second.stdout .. second.stderr)
    local b = cjson.decode(after_rerun)
    assert.are.equal(a.lineage, b.lineage)
    assert.are.equal(1, #b.resources)
  end)
end)
