-- wpo.apply with the C core faked: the loop's timers run on a virtual clock,
-- so long creates, progress lines and interrupts take no real time.
local et = require "enginetest"
local fakecore = require "fakecore"

local HEAD = 'local s = wpo.stack { name = "t" }\n'

describe("wpo.apply", function()
  local fake, plan, apply
  before_each(function()
    fake = fakecore.install({ seed = 5 })
    plan = require "wpo.plan"
    apply = require "wpo.apply"
  end)
  after_each(function() fakecore.restore() end)

  local function run(src, st, opts)
    local s = et.stack(src)
    st = st or et.memstate()
    local p = plan.make(s, st, { destroy = opts and opts.destroy })
    local r = et.recorder(fake)
    local o = { reporter = r, parallelism = 16 }
    for k, v in pairs(opts or {}) do o[k] = v end
    o.destroy = nil
    local result = apply.run(p, s, st, o)
    return result, r, st, s
  end

  it("prints progress every 10 s of a long create, on the loop's clock", function()
    local started = os.clock()
    local result, r = run(HEAD .. 's:add("wpo.null", "slow", { create_delay_ms = 75000 })\nreturn s\n')
    assert.is_true(result.ok)
    local still = r:all("still")
    assert.are.equal(7, #still)
    for i, e in ipairs(still) do assert.are.equal(i * 10000, e.ms) end
    assert.are.equal(75000, r:find("finish", "wpo.null.slow").ms)
    assert.is_true(os.clock() - started < 5)
    -- the human reporter's wording
    local lines = {}
    local human = apply.reporter("human", { write = function(_, ...) lines[#lines + 1] = table.concat({ ... }) end,
      flush = function() end })
    human:still({ id = "wpo.null.slow", action = "create" }, 70000)
    assert.are.equal("wpo.null.slow: still creating... (1m10s elapsed)\n", lines[1])
  end)

  it("prints each running resource's progress every 10 s of its own time", function()
    local result, r = run(HEAD .. 'local c = s:add("wpo.null", "c", { create_delay_ms = 5000 })\n'
      .. 's:add("wpo.null", "a", { create_delay_ms = 25000 })\n'
      .. 's:add("wpo.null", "b", { create_delay_ms = 21000, value = c.id })\nreturn s\n')
    assert.is_true(result.ok)
    local got = {}
    for _, e in ipairs(r:all("still")) do got[#got + 1] = string.format("%s@%d+%d", e.id, e.t, e.ms) end
    assert.are.same({ "wpo.null.a@10000+10000", "wpo.null.b@15000+10000", "wpo.null.a@20000+20000",
      "wpo.null.b@25000+20000" }, got)
  end)

  it("starts each resource the moment its own dependencies finish", function()
    local result, r = run(HEAD .. 'local slow = s:add("wpo.null", "slow", { create_delay_ms = 30000 })\n'
      .. 'local fast = s:add("wpo.null", "fast", { create_delay_ms = 1000 })\n'
      .. 's:add("wpo.null", "after_slow", { value = slow.id })\n'
      .. 's:add("wpo.null", "after_fast", { value = fast.id })\nreturn s\n')
    assert.is_true(result.ok)
    assert.are.equal(1000, r:find("start", "wpo.null.after_fast").t)
    assert.are.equal(30000, r:find("start", "wpo.null.after_slow").t)
  end)

  it("lends the slot of a resource waiting for AWS to propagate something to the next ready one", function()
    local resource = require "wpo.resource"
    resource.define "spec.propagating" {
      attributes = {},
      create = function(ctx)
        -- what wpo.aws.typekit's late waits do while AWS has not propagated yet
        ctx.idle(function() require("wpo.task").sleep(5000) end)
        return { id = "p" }
      end,
      read = function() return { id = "p" } end,
      delete = function() end,
    }
    local result, r = run(HEAD .. 's:add("spec.propagating", "p", {})\n'
      .. 's:add("wpo.null", "quick", { create_delay_ms = 1000 })\nreturn s\n', nil, { parallelism = 1 })
    assert.is_true(result.ok)
    assert.are.equal(0, r:find("start", "spec.propagating.p").t)
    assert.are.equal(0, r:find("start", "wpo.null.quick").t)
    assert.are.equal(1000, r:find("finish", "wpo.null.quick").t)
    assert.are.equal(5000, r:find("finish", "spec.propagating.p").t)
  end)

  it("runs at most --parallelism operations at a time", function()
    local src = { HEAD }
    for i = 1, 6 do src[#src + 1] = string.format('s:add("wpo.null", "n%d", { create_delay_ms = 1000 })\n', i) end
    src[#src + 1] = "return s\n"
    local result, r = run(table.concat(src), nil, { parallelism = 2 })
    assert.is_true(result.ok)
    local running, peak = 0, 0
    for _, e in ipairs(r.events) do
      if e.what == "start" then running = running + 1 end
      if e.what == "finish" then running = running - 1 end
      peak = math.max(peak, running)
    end
    assert.are.equal(2, peak)
    assert.are.equal(3000, fake.now)
  end)

  it("skips the dependents of a failure, finishes the rest, and saves after every resource", function()
    local result, r, st = run(HEAD .. 'local a = s:add("wpo.null", "a", { fail_on_create = "no capacity" })\n'
      .. 'local b = s:add("wpo.null", "b", { value = a.id })\ns:add("wpo.null", "c", { depends_on = { b } })\n'
      .. 'local x = s:add("wpo.null", "x")\ns:add("wpo.null", "y", { value = x.id })\nreturn s\n')
    assert.is_false(result.ok)
    assert.are.equal(1, #result.failures)
    assert.are.equal("wpo.null.a", result.failures[1].address)
    assert.matches("s%.lua:2$", result.failures[1].where)
    assert.are.equal("no capacity", result.failures[1].err.message)
    assert.are.equal(2, #result.skipped)
    for i, name in ipairs({ "b", "c" }) do
      assert.are.equal("wpo.null." .. name, result.skipped[i].address)
      assert.are.equal("skipped: upstream wpo.null.a failed", result.skipped[i].reason)
      assert.matches("s%.lua:" .. (i + 2) .. "$", result.skipped[i].where)
    end
    assert.are.same({ "wpo.null.x", "wpo.null.y" }, st:addresses())
    assert.are.equal(2, #st.saves)
    assert.is_not_nil(st.saves[1].resources["wpo.null.x"])
    assert.are.equal(st:get("wpo.null.x").id, st:get("wpo.null.y").inputs.value)
    assert.is_not_nil(r:find("skip", "wpo.null.c"))
  end)

  it("on the first interrupt starts nothing new, lets running work finish, and saves", function()
    fake.at(500, fake.interrupt)
    local result, r, st = run(HEAD .. 's:add("wpo.null", "a", { create_delay_ms = 1000 })\n'
      .. 's:add("wpo.null", "b", { create_delay_ms = 1000 })\nreturn s\n', nil, { parallelism = 1, interrupt = true })
    assert.is_true(result.interrupted)
    assert.is_false(result.ok)
    assert.are.same({ "wpo.null.b" }, result.not_started)
    assert.are.same({ "wpo.null.a" }, st:addresses())
    assert.are.equal(1, r:find("interrupt").count)
    assert.are.equal("SIGINT", result.signal)
    assert.are.equal(1000, fake.now)
  end)

  it("drains on SIGTERM as on the first SIGINT, and the run records the first signal", function()
    fake.at(500, function() fake.interrupt("SIGTERM") end)
    fake.at(700, function() fake.interrupt("SIGINT") end)
    local result, r, st = run(HEAD .. 's:add("wpo.null", "a", { create_delay_ms = 1000 })\n'
      .. 's:add("wpo.null", "b", { create_delay_ms = 1000 })\nreturn s\n', nil, { parallelism = 1, interrupt = true })
    assert.is_true(result.interrupted)
    assert.are.equal("SIGTERM", result.signal)
    local seen = r:all("interrupt")
    assert.are.same({ { 1, "SIGTERM" }, { 2, "SIGINT" } }, { { seen[1].count, seen[1].signal }, { seen[2].count, seen[2].signal } })
    -- the second signal cancelled the running create
    assert.are.equal("wpo.null.a", result.failures[1].address)
    assert.are.same({ "wpo.null.b" }, result.not_started)
    assert.are.same({}, st:addresses())
    assert.are.equal(700, fake.now)
  end)

  it("on the second interrupt cancels running work and still saves what finished", function()
    fake.at(500, function() fake.interrupt(); fake.interrupt() end)
    local result, _, st = run(HEAD .. 's:add("wpo.null", "slow", { create_delay_ms = 60000 })\n'
      .. 's:add("wpo.null", "quick", {})\nreturn s\n', nil, { interrupt = true })
    assert.is_true(result.interrupted)
    assert.are.equal("wpo.null.slow", result.failures[1].address)
    assert.matches("interrupted", result.failures[1].err.message)
    assert.are.same({ "wpo.null.quick" }, st:addresses())
    assert.is_true(fake.now < 60000)
  end)

  it("destroys dependents before what they depend on", function()
    local _, _, st = run(HEAD .. 'local vpc = s:add("wpo.null", "vpc")\n'
      .. 'local subnet = s:add("wpo.null", "subnet", { value = vpc.id })\n'
      .. 's:add("wpo.null", "nat", { value = subnet.id })\nreturn s\n')
    local result, r = run(HEAD .. 'return s\n', st, { destroy = true })
    assert.is_true(result.ok)
    local order = {}
    for _, e in ipairs(r:all("finish")) do order[#order + 1] = e.id end
    assert.are.same({ "wpo.null.nat", "wpo.null.subnet", "wpo.null.vpc" }, order)
    assert.are.same({}, st:addresses())
  end)

  it("replaces create_before_destroy: new object first, old one deleted after its dependents moved", function()
    local src = HEAD .. 'local a = s:add("wpo.null", "a", { triggers = { v = "%s" }, '
      .. 'lifecycle = { create_before_destroy = true } })\ns:add("wpo.null", "b", { value = a.id })\nreturn s\n'
    local _, _, st = run(src:format("1"))
    local old_id = st:get("wpo.null.a").id
    local result, r = run(src:format("2"), st)
    assert.is_true(result.ok)
    local order = {}
    for _, e in ipairs(r:all("finish")) do order[#order + 1] = e.id end
    assert.are.same({ "wpo.null.a", "wpo.null.b", "wpo.null.a (deposed)" }, order)
    assert.are_not.equal(old_id, st:get("wpo.null.a").id)
    assert.are.equal(st:get("wpo.null.a").id, st:get("wpo.null.b").inputs.value)
    assert.is_nil(st:get("wpo.null.a").deposed)
  end)

  it("replaces destroy before create: replaced dependents go first and come back after", function()
    local src = HEAD .. 'local vpc = s:add("wpo.null", "vpc", {})\n'
      .. 'local subnet = s:add("wpo.null", "subnet", { triggers = { cidr = "%s", vpc = vpc.id } })\n'
      .. 's:add("wpo.null", "nat", { triggers = { subnet = subnet.id } })\n'
      .. 's:add("wpo.null", "route", { value = subnet.id })\nreturn s\n'
    local _, _, st = run(src:format("10.0.1.0/24"))
    local old_subnet = st:get("wpo.null.subnet").id
    local result, r = run(src:format("10.0.9.0/24"), st)
    assert.is_true(result.ok)
    local order = {}
    for _, e in ipairs(r:all("finish")) do order[#order + 1] = e.id end
    assert.are.same({ "wpo.null.nat (destroy)", "wpo.null.subnet (destroy)", "wpo.null.subnet",
                      "wpo.null.nat", "wpo.null.route" }, order)
    assert.are.same({ added = 2, changed = 1, destroyed = 2, looked_up = 0, forgotten = 0 }, result.counts)
    local subnet = st:get("wpo.null.subnet").id
    assert.are_not.equal(old_subnet, subnet)
    assert.are.equal(subnet, st:get("wpo.null.nat").inputs.triggers.subnet)
    assert.are.equal(subnet, st:get("wpo.null.route").inputs.value)
  end)

  it("leaves no record of a replaced object once its delete ran and the create failed", function()
    local src = HEAD .. 's:add("wpo.null", "a", { triggers = { v = "%s" }%s })\nreturn s\n'
    local _, _, st = run(src:format("1", ""))
    local result = run(src:format("2", ', fail_on_create = "no"'), st)
    assert.is_false(result.ok)
    assert.is_nil(st:get("wpo.null.a"))
    assert.are.same({ added = 0, changed = 0, destroyed = 0, looked_up = 0, forgotten = 0 }, result.counts)
  end)

  it("records stack outputs, keeping secrets marked sensitive", function()
    local _, _, st = run(HEAD .. 'local pw = s:add("random.password", "pw", { length = 30 })\n'
      .. 's:output("password", pw.result)\ns:output("length", pw.length)\nreturn s\n')
    assert.are.equal(30, #st.outputs.password.value)
    assert.is_true(st.outputs.password.sensitive)
    assert.are.same({ value = 30 }, st.outputs.length)
  end)
end)
