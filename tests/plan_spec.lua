-- wpo.plan with the C core faked: diff, references, sensitivity, lifecycle,
-- targets, rendering, JSON, and a parallel refresh on a virtual clock.
local et = require "enginetest"
local fakecore = require "fakecore"
local value = require "wpo.value"

local HEAD = 'local s = wpo.stack { name = "t" }\n'

local function record(type, id, inputs, outputs, extra)
  local r = { type = type, id = id, inputs = inputs or {}, outputs = outputs or { id = id }, deps = {}, where = "s.lua:9" }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

describe("wpo.plan", function()
  local plan, resource
  setup(function()
    fakecore.install({ seed = 3 })
    plan = require "wpo.plan"
    resource = require "wpo.resource"
  end)
  teardown(function() fakecore.restore() end)

  local function action(p, id) return p.by_id[id].action end

  it("creates what is not in the state, with outputs known after apply", function()
    local s = et.stack(HEAD .. 'local a = s:add("wpo.null", "a", { value = "v" })\n'
      .. 's:add("wpo.null", "b", { value = a.id })\nreturn s\n')
    local p = plan.make(s, et.memstate())
    assert.are.equal("create", action(p, "wpo.null.a"))
    assert.are.equal(value.UNKNOWN, p.by_id["wpo.null.b"].after.value)
    assert.are.same({ "wpo.null.a" }, p.by_id["wpo.null.b"].waits_for)
    assert.are.same({ add = 2, change = 0, destroy = 0, read = 0, forget = 0 }, p.summary)
    local text = plan.render(p, { color = false })
    assert.matches("  %+ wpo%.null%.a  # .*s%.lua:2 will be created\n      value = \"v\"\n", text)
    assert.matches("  %+ wpo%.null%.b .*\n      value = %(known after apply%)\n      id    = %(known after apply%)", text)
    assert.matches("\nPlan: 2 to add, 0 to change, 0 to destroy%.\n$", text)
    assert.is_nil(text:find("\27", 1, true))
    assert.matches("\27%[32m  %+\27%[0m", plan.render(p, { color = true }))
  end)

  it("plans no-op, update in place (old -> new), replace (naming the attribute) and delete", function()
    local s = et.stack(HEAD .. 's:add("wpo.null", "same", { value = 1 })\n'
      .. 's:add("wpo.null", "upd", { value = "new" })\n'
      .. 's:add("wpo.null", "rep", { triggers = { v = "2" } })\nreturn s\n')
    local st = et.memstate({
      ["wpo.null.same"] = record("wpo.null", "i1", { value = 1 }),
      ["wpo.null.upd"] = record("wpo.null", "i2", { value = "old" }),
      ["wpo.null.rep"] = record("wpo.null", "i3", { triggers = { v = "1" } }),
      ["wpo.null.gone"] = record("wpo.null", "i4", {}),
    })
    local p = plan.make(s, st)
    assert.are.equal("no-op", action(p, "wpo.null.same"))
    assert.are.equal("update", action(p, "wpo.null.upd"))
    assert.are.same({ "value" }, p.by_id["wpo.null.upd"].changed)
    assert.are.equal("replace", action(p, "wpo.null.rep"))
    assert.are.same({ "triggers" }, p.by_id["wpo.null.rep"].forces)
    assert.are.equal("delete", action(p, "wpo.null.gone"))
    assert.are.same({ add = 1, change = 1, destroy = 2, read = 0, forget = 0 }, p.summary)
    local text = plan.render(p)
    assert.matches("  ~ wpo%.null%.upd .* will be updated in place\n      value = \"old\" %-> \"new\"\n", text)
    assert.matches("%-/%+ wpo%.null%.rep .* will be replaced %(triggers forces replacement%)\n"
      .. "      triggers%[\"v\"%] = \"1\" %-> \"2\"   # forces replacement\n", text)
    assert.matches("  %- wpo%.null%.gone  # s%.lua:9 will be destroyed %(no longer in the stack%)", text)
    assert.is_nil(text:find("wpo.null.same", 1, true))
  end)

  it("says that a lookup type's object is looked up and forgotten, not created and destroyed", function()
    local t = resource.define "test.lookup" {
      attributes = { name = { type = "string", required = true, force_new = true } },
      lookup = true,
      create = function() return { id = "x" } end, read = function() return nil end, delete = function() end,
    }
    assert.is_true(t.lookup)
    local s = et.stack(HEAD .. 's:add("test.lookup", "zone", { name = "example.com" })\nreturn s\n')
    local p = plan.make(s, et.memstate())
    local text = plan.render(p, { color = false })
    assert.matches("  %+ test%.lookup%.zone  # .*s%.lua:2 will be looked up %(made outside the stack: nothing is "
      .. "created%)\n", text)
    -- counted apart: nothing is added, and still the plan has a change (the state learns the object)
    assert.are.same({ add = 0, change = 0, destroy = 0, read = 1, forget = 0 }, p.summary)
    assert.is_true(plan.has_changes(p))
    assert.matches("\nPlan: 0 to add, 0 to change, 0 to destroy, 1 to look up%.\n$", text)
    local dp = plan.make(et.stack(HEAD .. "return s\n"), et.memstate({
      ["test.lookup.zone"] = record("test.lookup", "Z1", { name = "example.com" }) }))
    local gone = plan.render(dp, { color = false })
    assert.matches("  %- test%.lookup%.zone  # s%.lua:9 will be forgotten %(made outside the stack: it is not "
      .. "destroyed%) %(no longer in the stack%)", gone)
    assert.are.same({ add = 0, change = 0, destroy = 0, read = 0, forget = 1 }, dp.summary)
    assert.matches("\nPlan: 0 to add, 0 to change, 0 to destroy, 1 to forget%.\n$", gone)
    assert.has_error(function() resource.define "test.badlookup" { lookup = "yes", create = print, read = print,
      delete = print } end)
  end)

  it("resolves references to unchanged resources from the state", function()
    local s = et.stack(HEAD .. 'local a = s:add("wpo.null", "a", { value = 1 })\n'
      .. 's:add("wpo.null", "b", { value = "x-" .. a.id })\nreturn s\n')
    local st = et.memstate({ ["wpo.null.a"] = record("wpo.null", "ID-A", { value = 1 }),
                             ["wpo.null.b"] = record("wpo.null", "ID-B", { value = "x-ID-A" }) })
    local p = plan.make(s, st)
    assert.are.equal("no-op", action(p, "wpo.null.a"))
    assert.are.equal("no-op", action(p, "wpo.null.b"))
    assert.is_false(plan.has_changes(p))
    assert.matches("^No changes: stack t matches its script %(2 resources%)%.\nPlan: 0 to add", plan.render(p))
  end)

  it("never shows a secret, even one carried into another resource", function()
    local s = et.stack(HEAD .. 'local pw = s:add("random.password", "db", { length = 12 })\n'
      .. 's:add("wpo.null", "app", { value = { password = pw.result, user = "admin" } })\nreturn s\n')
    local st = et.memstate({ ["random.password.db"] = record("random.password", "P", { length = 12, upper = true,
      lower = true, numeric = true, special = true, min_upper = 0, min_lower = 0, min_numeric = 0, min_special = 0 },
      { id = "P", result = "hunter2-SECRET" }) })
    local p = plan.make(s, st)
    assert.are.equal("no-op", action(p, "random.password.db"))
    assert.is_true(p.by_id["wpo.null.app"].sensitive.value)
    local text = plan.render(p)
    assert.matches("value = %(sensitive%)", text)
    local json = require("cjson").encode(plan.json(p))
    assert.is_nil(text:find("SECRET", 1, true))
    assert.is_nil(json:find("SECRET", 1, true))
  end)

  it("ignores the changes lifecycle.ignore_changes names", function()
    local s = et.stack(HEAD .. 's:add("wpo.null", "a", { value = "script", lifecycle = { ignore_changes = { "value" } } })\n'
      .. 'return s\n')
    local p = plan.make(s, et.memstate({ ["wpo.null.a"] = record("wpo.null", "i", { value = "console" }) }))
    assert.are.equal("no-op", action(p, "wpo.null.a"))
  end)

  it("refuses to replace or destroy what prevent_destroy protects, from the script or the state", function()
    local s = et.stack(HEAD .. 's:add("wpo.null", "a", { triggers = { v = "2" }, lifecycle = { prevent_destroy = true } })\n'
      .. 'return s\n')
    local st = et.memstate({ ["wpo.null.a"] = record("wpo.null", "i", { triggers = { v = "1" } }) })
    local ok, err = pcall(plan.make, s, st)
    assert.is_false(ok)
    assert.matches("s%.lua:2: wpo%.null%.a: .*prevent_destroy forbids replacing it %(triggers forces replacement%)", tostring(err))
    s = et.stack(HEAD .. 'return s\n')
    st = et.memstate({ ["wpo.null.a"] = record("wpo.null", "i", {}, nil, { prevent_destroy = true, where = "old.lua:4" }) })
    ok, err = pcall(plan.make, s, st)
    assert.is_false(ok)
    assert.matches("^old%.lua:4: wpo%.null%.a: .*recorded in the state", tostring(err))
    ok = pcall(plan.make, s, st, { destroy = true })
    assert.is_false(ok)
  end)

  it("limits the plan to --target and what it depends on", function()
    local s = et.stack(HEAD .. 'local a = s:add("wpo.null", "a")\nlocal b = s:add("wpo.null", "b", { value = a.id })\n'
      .. 's:add("wpo.null", "c")\nreturn s\n')
    local p = plan.make(s, et.memstate(), { targets = { "wpo.null.b" } })
    assert.are.same({ "wpo.null.a", "wpo.null.b" }, { p.actions[1].id, p.actions[2].id })
    assert.are.equal(2, #p.actions)
    local ok, err = pcall(plan.make, s, et.memstate(), { targets = { "wpo.null.bb" } })
    assert.is_false(ok)
    assert.matches("%-%-target wpo%.null%.bb: no such resource .* %(did you mean wpo%.null%.b%?%)", tostring(err))
  end)

  it("orders destroy so that dependents go first", function()
    local s = et.stack(HEAD .. 'return s\n')
    local st = et.memstate({ ["wpo.null.vpc"] = record("wpo.null", "v"),
                             ["wpo.null.subnet"] = record("wpo.null", "s", {}, nil, { deps = { "wpo.null.vpc" } }) })
    local p = plan.make(s, st, { destroy = true })
    assert.are.same({ "wpo.null.subnet" }, p.by_id["wpo.null.vpc"].waits_for)
    assert.are.same({ add = 0, change = 0, destroy = 2, read = 0, forget = 0 }, p.summary)
  end)

  it("describes itself as JSON in the documented shape", function()
    local s = et.stack(HEAD .. 's:add("wpo.null", "a", { value = 2 })\nreturn s\n')
    local doc = plan.json(plan.make(s, et.memstate({ ["wpo.null.a"] = record("wpo.null", "i", { value = 1 }) })))
    assert.are.equal("1.2", doc.format_version)
    assert.are.equal("t", doc.stack)
    assert.are.same({ add = 0, change = 1, destroy = 0, read = 0, forget = 0 }, doc.summary)
    local c = doc.resource_changes[1]
    assert.are.equal("wpo.null.a", c.address)
    assert.are.equal("wpo.null", c.type)
    assert.are.equal("a", c.name)
    assert.are.same({ "update" }, c.change.actions)
    assert.matches("s%.lua:2$", c.where)
    assert.are.equal(1, c.change.before.value)
    assert.are.equal("i", c.change.before.id)
    assert.are.equal(2, c.change.after.value)
    assert.are.same({ { address = "wpo.null.a", mode = "managed", type = "wpo.null", name = "a",
      values = { id = "i", value = 1 }, sensitive_values = {} } }, doc.prior_state.values.root_module.resources)
  end)

  it("writes a list with unknown elements as Terraform does: null in after, a list in after_unknown", function()
    local json = require "wpo.json"
    local s = et.stack(HEAD .. 'local a = s:add("wpo.null", "a", {})\n'
      .. 's:add("wpo.null", "b", { value = { list = { "x", a.id, { id = a.id, k = 1 } } } })\nreturn s\n')
    local doc = plan.json(plan.make(s, et.memstate({})))
    local b
    for _, c in ipairs(doc.resource_changes) do if c.address == "wpo.null.b" then b = c end end
    local text = json.encode(b.change)
    assert.matches('"after":{"value":{"list":["x",null,{"k":1}]}}', text, 1, true)
    assert.matches('"after_unknown":{"id":true,"value":{"list":[false,true,{"id":true}]}}', text, 1, true)
  end)

  it("writes Terraform's plan shape: replace actions and paths, secrets left out, outputs, stable bytes", function()
    local json = require "wpo.json"
    local s = et.stack(HEAD .. 'local pw = s:add("random.password", "db", { length = 12 })\n'
      .. 's:add("wpo.null", "a", { value = "10.0.0.0/16", triggers = { v = "2" } })\n'
      .. 's:add("wpo.null", "c", { triggers = { v = "2" }, lifecycle = { create_before_destroy = true } })\n'
      .. 's:add("wpo.null", "app", { value = pw.result })\n'
      .. 's:output("pw", pw.result)\ns:output("cidr", "10.0.0.0/16")\nreturn s\n')
    local st = et.memstate({
      ["random.password.db"] = record("random.password", "P", { length = 12, upper = true,
        lower = true, numeric = true, special = true, min_upper = 0, min_lower = 0, min_numeric = 0, min_special = 0 },
        { id = "P", result = "hunter2-SECRET" }),
      ["wpo.null.a"] = record("wpo.null", "i", { value = "10.0.0.0/16", triggers = { v = "1" } }),
      ["wpo.null.c"] = record("wpo.null", "k", { triggers = { v = "1" } }),
      ["wpo.null.gone"] = record("wpo.null", "g", {}),
    })
    st.outputs = { cidr = { value = "10.0.0.0/8" } }
    local doc = plan.json(plan.make(s, st))
    local by = {}
    for _, c in ipairs(doc.resource_changes) do by[c.address] = c end
    assert.are.same({ "delete", "create" }, by["wpo.null.a"].change.actions)
    assert.are.same({ { "triggers" } }, by["wpo.null.a"].change.replace_paths)
    assert.are.equal("replace_because_cannot_update", by["wpo.null.a"].action_reason)
    assert.are.same({ "create", "delete" }, by["wpo.null.c"].change.actions)
    assert.are.same({ "delete" }, by["wpo.null.gone"].change.actions)
    assert.are.equal("delete_because_no_resource_config", by["wpo.null.gone"].action_reason)
    assert.are.same({ "create" }, by["wpo.null.app"].change.actions)
    -- a secret: left out, and said to be there
    assert.is_nil(by["wpo.null.app"].change.after.value)
    assert.are.same({ value = true }, by["wpo.null.app"].change.after_sensitive)
    assert.is_nil(by["random.password.db"].change.before.result)
    assert.is_true(by["random.password.db"].change.before_sensitive.result)
    assert.are.same({ "no-op" }, by["random.password.db"].change.actions)
    assert.are.same({ "update" }, doc.output_changes.cidr.actions)
    assert.are.equal("10.0.0.0/8", doc.output_changes.cidr.before)
    assert.are.equal("10.0.0.0/16", doc.output_changes.cidr.after)
    assert.are.same({ "create" }, doc.output_changes.pw.actions)
    assert.is_true(doc.output_changes.pw.after_sensitive)
    assert.are.equal(4, #doc.prior_state.values.root_module.resources)
    local text = json.encode(doc)
    assert.is_nil(text:find("SECRET", 1, true))
    assert.is_nil(text:find("\\/", 1, true))
    assert.is_truthy(text:find('"10.0.0.0/16"', 1, true))
    assert.matches('^{"format_version":"1.2","output_changes":', text)
    assert.are.equal(text, json.encode(plan.json(plan.make(s, st))))
  end)

  it("refreshes every resource in parallel and plans re-creating what is gone", function()
    local reads = {}
    resource.define "test.slowread" {
      attributes = { size = { type = "integer" } },
      create = function() return { id = "x" } end,
      read = function(_, id, prior)
        reads[#reads + 1] = id
        require("wpo.task").sleep(1000)
        if id == "gone" then return nil end
        if id == "drifted" then return { id = id, size = 99 } end
        return { id = id, size = prior.inputs.size }
      end,
      update = function() return {} end,
      delete = function() end,
    }
    local src = { HEAD }
    local resources = {}
    for i = 1, 80 do
      src[#src + 1] = string.format('s:add("test.slowread", "r%d", { size = 1 })\n', i)
      local id = (i == 1 and "gone") or (i == 2 and "drifted") or ("id" .. i)
      resources["test.slowread.r" .. i] = record("test.slowread", id, { size = 1 })
    end
    src[#src + 1] = "return s\n"
    local s = et.stack(table.concat(src))
    local st = et.memstate(resources)
    local loop = require "wpo.core.loop"
    local t0 = loop.now()
    local drift = plan.refresh(s, st, { parallelism = 10 })
    assert.are.equal(80, #reads)
    -- 80 reads of 1 s, 40 at a time: a refresh reads 4 objects per operation --parallelism allows
    assert.are.equal(4, plan.REFRESH_READS_PER_OPERATION)
    assert.are.equal(2000, loop.now() - t0)
    assert.are.same({ { address = "test.slowread.r1", gone = true },
                      { address = "test.slowread.r2", changed = { "size" } } }, drift)
    local p = plan.make(s, st, { drift = drift })
    assert.are.equal("create", action(p, "test.slowread.r1"))
    assert.are.equal("update", action(p, "test.slowread.r2"))
    assert.matches("Changed outside wpo since the last run:\n  test%.slowread%.r1 no longer exists\n"
      .. "  test%.slowread%.r2: size\n", plan.render(p))
  end)

  it("plans a replace as its old object's delete, after its replaced dependents' deletes, then its create", function()
    local s = et.stack(HEAD .. 'local subnet = s:add("wpo.null", "subnet", { triggers = { v = "2" } })\n'
      .. 's:add("wpo.null", "nat", { triggers = { subnet = subnet.id } })\n'
      .. 's:add("wpo.null", "route", { value = subnet.id })\nreturn s\n')
    local st = et.memstate({ ["wpo.null.subnet"] = record("wpo.null", "S1", { triggers = { v = "1" } }),
                             ["wpo.null.nat"] = record("wpo.null", "N", { triggers = { subnet = "S1" } }, nil,
                               { deps = { "wpo.null.subnet" } }),
                             ["wpo.null.route"] = record("wpo.null", "R", { value = "S1" }, nil,
                               { deps = { "wpo.null.subnet" } }) })
    local p = plan.make(s, st)
    assert.are.equal("replace", action(p, "wpo.null.subnet"))
    assert.are.equal("replace", action(p, "wpo.null.nat"))
    assert.are.equal("update", action(p, "wpo.null.route"))
    local old_subnet, old_nat = p.by_id["wpo.null.subnet (destroy)"], p.by_id["wpo.null.nat (destroy)"]
    assert.are.equal("delete", old_subnet.action)
    assert.are.same({ "wpo.null.nat (destroy)" }, old_subnet.waits_for)
    assert.are.same({}, old_nat.waits_for)
    assert.are.same({ "wpo.null.subnet (destroy)" }, p.by_id["wpo.null.subnet"].waits_for)
    assert.are.same({ "wpo.null.subnet", "wpo.null.nat (destroy)" }, p.by_id["wpo.null.nat"].waits_for)
    -- the replace stands for both in what is shown
    assert.are.same({ add = 2, change = 1, destroy = 2, read = 0, forget = 0 }, p.summary)
    assert.is_nil(plan.render(p):find("(destroy)", 1, true))
    assert.are.equal(3, #plan.json(p).resource_changes)
  end)

  it("plans create_before_destroy as a create, then the old object's delete after its dependents", function()
    local s = et.stack(HEAD .. 'local a = s:add("wpo.null", "a", { triggers = { v = "2" }, '
      .. 'lifecycle = { create_before_destroy = true } })\ns:add("wpo.null", "b", { value = a.id })\nreturn s\n')
    local st = et.memstate({ ["wpo.null.a"] = record("wpo.null", "A1", { triggers = { v = "1" } }),
                             ["wpo.null.b"] = record("wpo.null", "B", { value = "A1" }) })
    local p = plan.make(s, st)
    assert.are.equal("replace", action(p, "wpo.null.a"))
    local old = p.by_id["wpo.null.a (deposed)"]
    assert.are.equal("delete", old.action)
    assert.are.same({ "wpo.null.a", "wpo.null.b" }, old.waits_for)
    assert.are.same({ add = 1, change = 1, destroy = 1, read = 0, forget = 0 }, p.summary)
  end)
end)
