-- Interrupting a real wpo process that applies (or destroys) against
-- tests/fakeaws: SIGTERM drains as the first SIGINT does (nothing new starts,
-- what runs finishes, the state is saved) and exits 143; SIGINT exits 130; a
-- second signal of either kind cancels what is in flight, and the first one
-- decides the status. Progress stays on stdout; the summary of the
-- interrupted run goes to stderr, one line per resource with its file:line.
--
-- Synchronisation is on what can be observed: a line on wpo's stdout, a call
-- recorded by fakeaws. fakeaws's latency fault keeps the running resource's
-- calls in flight (it slows the server, the test never sleeps).
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

local STACK = [[
local s = wpo.stack { name = "net", region = "eu-west-1" }
local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.50.0.0/16" })
s:add("aws.ec2.subnet", "a", { vpc_id = vpc.id, cidr_block = "10.50.1.0/24", availability_zone = "eu-west-1a" })
s:add("aws.ec2.internet_gateway", "main", { vpc_id = vpc.id })
return s
]]

describe("wpo interrupted by SIGINT and SIGTERM (against fakeaws)", function()
  local fakeaws = require "fakeaws"
  local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
  local f, dir

  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
    h.write(dir .. "/s.lua", STACK)
  end)
  after_each(function() h.rmrf(dir) end)

  local function command(args)
    local parts = { "cd " .. h.quote(dir) .. " && env", "WPO_WAIT_SCALE=0.001", "NO_COLOR=1", "WPO_LOG=" }
    for k, v in pairs(f.env) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
    parts[#parts + 1] = h.quote(WPO)
    for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
    return table.concat(parts, " ")
  end

  local function state()
    local text = fs.read(dir .. "/.wpo/net.state.json")
    return text and cjson.decode(text)
  end

  local function addresses()
    local out = {}
    for _, r in ipairs((state() or {}).resources or {}) do out[#out + 1] = r.address end
    table.sort(out)
    return out
  end

  local function count(kind)
    local n = 0
    for _ in pairs(((f:state().ec2 or {})[kind]) or {}) do n = n + 1 end
    return n
  end

  -- wpo in the background: its stdout line by line (a fifo), its pid (from
  -- the state lock, which it takes before printing anything), its status.
  local function background(args)
    os.execute("mkfifo " .. h.quote(dir .. "/out") .. " " .. h.quote(dir .. "/rc"))
    os.execute(string.format("( %s > %s 2> %s & wait $!; echo $? > %s ) &", command(args),
      h.quote(dir .. "/out"), h.quote(dir .. "/err"), h.quote(dir .. "/rc")))
    local out = io.open(dir .. "/out", "r")
    local seen = {}
    local proc = {}
    function proc.until_line(pattern)
      for line in out:lines() do
        seen[#seen + 1] = line
        if line:match(pattern) then return line end
      end
      error("the output ended before a line matching " .. pattern .. ":\n" .. table.concat(seen, "\n")
        .. "\n" .. h.slurp(dir .. "/err"))
    end
    function proc.pid() return fs.read(dir .. "/.wpo/net.lock"):match("pid=(%d+)") end
    function proc.signal(name) os.execute("kill -" .. name .. " " .. proc.pid()) end
    function proc.finish()
      for line in out:lines() do seen[#seen + 1] = line end
      out:close()
      local rc = io.open(dir .. "/rc", "r")
      local status = tonumber(rc:read("a"))
      rc:close()
      os.remove(dir .. "/out")
      os.remove(dir .. "/rc")
      return status, table.concat(seen, "\n") .. "\n", h.slurp(dir .. "/err")
    end
    return proc
  end

  -- until fakeaws has answered op at least n times (each look is a control call)
  local function until_call(op, n)
    local tries = 0
    while (f:calls()[op] or 0) < (n or 1) do
      tries = tries + 1
      assert(tries < 600, op .. " never reached fakeaws")
    end
  end

  it("on SIGTERM lets the running create finish, starts nothing new, saves the state and exits 143", function()
    -- once CreateVpc is answered, the VPC's create goes on with slow reads
    -- (its DNS attributes): the signal lands while it runs
    f:faults { latency_ms = 700, operations = { "ec2.DescribeVpcAttribute" } }
    local p = background({ "run", "s.lua", "--yes" })
    p.until_line("^aws%.ec2%.vpc%.main: creating")
    until_call("ec2.CreateVpc")
    p.signal("TERM")
    local status, out, err = p.finish()
    assert.are.equal(143, status, out .. err)
    -- stdout: progress, what the interrupt does, the create that finished
    assert.matches("\nInterrupt %(SIGTERM%): starting nothing new; waiting for running operations to finish", out)
    assert.matches("\naws%.ec2%.vpc%.main: created in [^\n]+ %[id=vpc%-%x+%]\n", out)
    assert.is_nil(out:find("not started", 1, true))
    assert.is_nil(out:find("Apply interrupted", 1, true))
    -- stderr: the summary, one line per resource not started, with its file:line
    assert.are.equal("\nApply interrupted (SIGTERM): 1 added, 0 changed, 0 destroyed; 0 failed, 0 skipped, "
      .. "2 not started.\n"
      .. "  s.lua:3: aws.ec2.subnet.a: not started (interrupted)\n"
      .. "  s.lua:4: aws.ec2.internet_gateway.main: not started (interrupted)\n", err)
    -- the state holds what was made, and nothing else was asked of AWS
    assert.are.same({ "aws.ec2.vpc.main" }, addresses())
    assert.are.equal(1, count("vpc"))
    assert.is_nil(f:calls()["ec2.CreateSubnet"])
    assert.is_nil(f:calls()["ec2.CreateInternetGateway"])
    local history = state().history
    assert.are.equal("interrupted", history[#history].result)

    -- the next run finishes the job
    f:faults {}
    local r = h.sh(command({ "run", "s.lua", "--yes" }))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("Apply complete: 2 added, 0 changed, 0 destroyed%.", r.stdout)
    assert.are.equal("", r.stderr)
  end)

  it("on SIGINT then SIGTERM cancels the running create, saves what finished and exits 130", function()
    -- the internet gateway's create hangs in fakeaws; the VPC and subnet finish
    f:faults { latency_ms = 600000, operations = { "ec2.CreateInternetGateway" } }
    local p = background({ "run", "s.lua", "--yes" })
    p.until_line("^aws%.ec2%.subnet%.a: created")
    p.signal("INT")
    p.until_line("^Interrupt %(SIGINT%): starting nothing new")
    p.signal("TERM")
    local status, out, err = p.finish()
    assert.are.equal(130, status, out .. err)
    assert.matches("\nInterrupt %(SIGTERM%): cancelling running operations\n", out)
    local lines = {}
    for line in err:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(3, #lines, err)
    assert.matches("^s%.lua:4: aws%.ec2%.internet_gateway%.main: create failed after [^:]+: ec2 CreateInternetGateway: "
      .. "Cancelled: the request was cancelled$", lines[1])
    assert.are.equal("Apply interrupted (SIGINT): 2 added, 0 changed, 0 destroyed; 1 failed, 0 skipped.", lines[2])
    assert.matches("^  s%.lua:4: aws%.ec2%.internet_gateway%.main: Cancelled: the request was cancelled$", lines[3])
    assert.are.same({ "aws.ec2.subnet.a", "aws.ec2.vpc.main" }, addresses())
  end)

  it("exits 130 from a destroy interrupted by SIGINT, with what was destroyed gone from the state", function()
    local r = h.sh(command({ "run", "s.lua", "--yes" }))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    -- the subnet's delete is slow; the internet gateway's goes at its own pace
    f:faults { latency_ms = 2000, operations = { "ec2.DeleteSubnet" } }
    local p = background({ "destroy", "s.lua", "--yes" })
    p.until_line("^aws%.ec2%.subnet%.a: destroying")
    p.signal("INT")
    local status, out, err = p.finish()
    assert.are.equal(130, status, out .. err)
    assert.matches("aws%.ec2%.subnet%.a: destroyed in", out)
    assert.matches("Apply interrupted %(SIGINT%): 0 added, 0 changed, 2 destroyed; 0 failed, 0 skipped, "
      .. "1 not started%.\n", err)
    assert.matches("\n  s%.lua:2: aws%.ec2%.vpc%.main: not started %(interrupted%)\n", err)
    assert.are.same({ "aws.ec2.vpc.main" }, addresses())
    assert.are.equal(1, count("vpc"))
    assert.are.equal(0, count("subnet"))
  end)
end)
