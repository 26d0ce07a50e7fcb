-- wpo.resource: type definitions, schema checks, tags, the adopt helper and
-- client tokens; and the two local types, wpo.null and random.password.
local errors = require "wpo.errors"
local resource = require "wpo.resource"
local value = require "wpo.value"

local function noop() end

describe("wpo.resource", function()
  it("defines a type with normalised outputs (id always among them)", function()
    local t = resource.define "test.widget" {
      attributes = { size = { type = "integer", default = 3, force_new = true }, tags = { type = "tags" } },
      outputs = { "arn", secret = { sensitive = true } },
      create = noop, read = noop, delete = noop,
    }
    assert.are.same({ "arn", "id", "secret" }, t.output_names)
    assert.is_true(t.outputs.secret.sensitive)
    assert.is_true(t.taggable)
    assert.are.equal(t, resource.get("test.widget"))
  end)

  it("refuses malformed definitions, naming the key", function()
    assert.has_error(function() resource.define "test.bad" { create = noop, read = noop, delete = noop, updat = noop } end,
      "resource.define test.bad: unknown key 'updat' (did you mean 'update'?) (valid: attributes, check, create, delete, "
        .. "derive, description, find, found_by, iam, import, late, lookup, outputs, read, unique_name, update)")
    assert.has_error(function() resource.define "test.bad" { attributes = { x = { type = "strnig" } },
      create = noop, read = noop, delete = noop } end)
    assert.has_error(function() resource.define "test.bad" { read = noop, delete = noop } end,
      "resource.define test.bad: create must be a function")
    assert.has_error(function() resource.define "Bad Name" end)
  end)

  -- The copy of the library built into the binary does not check its own
  -- types again at each start: this is where each of them is checked, from
  -- the Lua files the binary is built from.
  it("checks every type of the library, defined from its Lua files", function()
    assert.is_nil(package.wpo_types, "the specs run the library's Lua files (WPO_STDLIB)")
    local defined = 0
    for _, name in ipairs(resource.known_types()) do
      if package.searchpath(resource.module_name(name), package.path) then
        local t = assert(resource.get(name))
        assert.are.equal(name, t.name)
        defined = defined + 1
      end
    end
    assert.is_true(defined >= 58, "types defined: " .. defined)
  end)

  it("loads types lazily by name and suggests the closest unknown one", function()
    assert.are.equal("wpo.aws.ec2.vpc", resource.module_name("aws.ec2.vpc"))
    assert.are.equal("wpo.null", resource.module_name("wpo.null"))
    assert.are.equal("random.password", resource.get("random.password").name)
    local t, err = resource.get("random.passwd")
    assert.is_nil(t)
    assert.are.equal("unknown resource type 'random.passwd' (did you mean random.password?)", err)
    local names = resource.known_types()
    assert.is_truthy(table.concat(names, " "):find("wpo.null", 1, true))
  end)

  it("checks values against every schema type", function()
    local check = resource.check
    assert.is_nil(check({ type = "string" }, "x"))
    assert.matches("expected a string, got number 1", check({ type = "string" }, 1))
    assert.is_nil(check({ type = "integer" }, 3.0))
    assert.matches("expected an integer", check({ type = "integer" }, 3.5))
    assert.matches("expected true or false", check({ type = "boolean" }, "yes"))
    assert.is_nil(check({ type = "cidr" }, "10.0.0.0/16"))
    assert.matches("10%.0%.0%.1/16 has host bits set %(did you mean 10%.0%.0%.0/16%?%)", check({ type = "cidr" }, "10.0.0.1/16"))
    assert.matches("expected a list", check({ type = "list" }, { a = 1 }))
    assert.matches("%[2%]: expected a string", check({ type = "list", of = { type = "string" } }, { "a", 2 }))
    assert.matches('%["k"%]: tag values are strings', check({ type = "tags" }, { k = 1 }))
    assert.matches("unknown field 'prot' %(did you mean 'port'%?%)",
      check({ type = "object", fields = { port = { type = "integer" } } }, { prot = 1 }))
    assert.matches("expected one of \"tcp\", \"udp\"", check({ type = "string", choices = { "tcp", "udp" } }, "icmp"))
    assert.is_nil(check({ type = "integer" }, value.UNKNOWN))
  end)

  it("applies defaults and reports unknown and missing attributes", function()
    local t = resource.define "test.req" {
      attributes = { name = { type = "string", required = true }, size = { type = "integer", default = 2 } },
      create = noop, read = noop, delete = noop,
    }
    assert.are.same({ name = "n", size = 2 }, resource.desired(t, { name = "n" }))
    local _, attr, err = resource.desired(t, {})
    assert.are.equal("name", attr)
    assert.are.equal("missing required attribute 'name'", err)
    _, attr, err = resource.desired(t, { name = "n", sise = 1 })
    assert.are.equal("sise", attr)
    assert.are.equal("unknown attribute 'sise' (did you mean 'size'?) (valid: name, size)", err)
  end)

  it("names, of several wrong attributes, the first by name, whatever order pairs meets them in", function()
    local attributes = { a_name = { type = "string", required = true }, d_count = { type = "integer", default = 2 } }
    for i = 1, 20 do attributes[string.format("n%02d", i)] = { type = "integer" } end
    local t = resource.define "test.many" { attributes = attributes, create = noop, read = noop, delete = noop }
    -- attrs (names prefixed) that pairs does not begin with their smallest name,
    -- so naming the first met would name another
    local function shuffled(prefix, v)
      local attrs = {}
      for i = 1, 20 do attrs[string.format("%s%02d", prefix, i)] = v end
      local smallest = prefix .. "01"
      while next(attrs) == smallest do
        attrs[smallest] = nil
        smallest = string.format("%s%02d", prefix, tonumber(smallest:sub(-2)) + 1)
      end
      return attrs, smallest
    end
    local attrs, smallest = shuffled("n", "big")
    attrs.a_name = "x"
    local _, attr, err = resource.desired(t, attrs)
    assert.are.equal(smallest, attr)
    assert.are.equal("attribute " .. smallest .. ": expected an integer, got string \"big\"", err)
    attrs.a_name = nil                     -- a missing required attribute comes first by name
    _, attr, err = resource.desired(t, attrs)
    assert.are.equal("a_name", attr)
    assert.are.equal("missing required attribute 'a_name'", err)
    attrs, smallest = shuffled("z", 1)     -- unknown ones: the first by name, before any other problem
    _, attr, err = resource.desired(t, attrs)
    assert.are.equal(smallest, attr)
    assert.matches("^unknown attribute '" .. smallest .. "'", err)
    assert.are.same({ a_name = "x", d_count = 2 }, resource.desired(t, { a_name = "x" }))
  end)

  it("refuses a type whose default does not fit its attribute, at the definition", function()
    local ok, err = pcall(resource.define "test.bad_default", {
      attributes = { count = { type = "integer", default = "many" } }, create = noop, read = noop, delete = noop,
    })
    assert.is_false(ok)
    assert.matches("resource%.define test%.bad_default: attribute count: default: expected an integer", err)
  end)

  it("tags every taggable resource with its stack and address, over the stack's and the user's tags", function()
    local tags = resource.tags("prod", "aws.ec2.vpc.main", { team = "web", env = "x" }, { env = "prod" })
    assert.are.same({ team = "web", env = "prod", ["wpo:stack"] = "prod", ["wpo:address"] = "aws.ec2.vpc.main" }, tags)
  end)

  describe("ctx:adopt", function()
    local function ctx()
      return resource.context { address = "aws.ec2.vpc.main", stack = "prod", type = resource.get("wpo.null") }
    end

    it("returns the object already tagged with the resource's address", function()
      local asked
      local found = ctx():adopt(function(k, v)
        asked = k .. "=" .. v
        return { { id = "vpc-1", tags = { ["wpo:stack"] = "prod", ["wpo:address"] = "aws.ec2.vpc.main" } } }
      end)
      assert.are.equal("wpo:address=aws.ec2.vpc.main", asked)
      assert.are.equal("vpc-1", found.id)
    end)

    it("returns nil when there is none, and ignores another stack's object", function()
      assert.is_nil(ctx():adopt(function() return {} end))
      assert.is_nil(ctx():adopt(function() return { { id = "vpc-9", tags = { ["wpo:stack"] = "staging" } } } end))
    end)

    it("refuses to choose between several, naming them", function()
      local ok, err = pcall(ctx().adopt, ctx(), function() return { { id = "vpc-1" }, { id = "vpc-2" } } end)
      assert.is_false(ok)
      assert.is_true(errors.is(err))
      assert.are.equal("AdoptConflict", err.code)
      assert.matches("2 objects carry the tag wpo:address=aws%.ec2%.vpc%.main %(vpc%-1, vpc%-2%)", err.message)
    end)
  end)

  it("has every AWS type declare how its object is found again", function()
    local checked = 0
    for _, name in ipairs(resource.known_types()) do
      -- the stdlib's own types (specs register test types too)
      if name:match("^aws%.") and package.searchpath(resource.module_name(name), package.path) then
        local t = assert(resource.get(name))
        if t.lookup then      -- it makes nothing: there is nothing to find again
          assert.is_nil(t.find, name)
        else
          assert.are.equal("function", type(t.find), name)
          assert.are.equal("string", type(t.found_by), name)
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked >= 48, "AWS types checked: " .. checked)
  end)

  it("refuses find without found_by, and the reverse", function()
    assert.has_error(function() resource.define "test.half" { create = noop, read = noop, delete = noop,
      find = noop } end)
    assert.has_error(function() resource.define "test.half" { create = noop, read = noop, delete = noop,
      found_by = "its name" } end)
  end)

  describe("exactly once (resource.create, resource.update)", function()
    local lost = errors.new { code = "InternalError", message = "We encountered an internal error.", service = "ec2",
      operation = "CreateVpc", status = 500, outcome = "unknown" }
    local refused = errors.new { code = "InvalidParameterValue", message = "no", service = "ec2",
      operation = "ModifyVpcAttribute", status = 400 }
    local saved_pause = resource.pause
    local pauses
    before_each(function()
      pauses = {}
      resource.pause = function(s) pauses[#pauses + 1] = s end
    end)
    after_each(function() resource.pause = saved_pause end)

    -- a type over a fake AWS: objects (a list), the outcomes of its creates in turn
    -- ("ok", "lost": made then the answer lost, "failed": not made and the
    -- outcome unknown, "refused-after": made then a later step refused)
    local function widget(objects, outcomes, finds)
      local n = 0
      return resource.define "test.exactly" {
        attributes = { size = { type = "integer" } },
        found_by = "its wpo:address tag",
        find = function(ctx)
          finds[#finds + 1] = true
          local out = {}
          for _, o in ipairs(objects) do
            if o.tags["wpo:address"] == ctx.address then out[#out + 1] = o end
          end
          return out
        end,
        create = function(ctx, want, found)
          n = n + 1
          local outcome = outcomes[n] or "ok"
          if found then return { id = found.id, size = want.size } end
          if outcome == "failed" then error(lost, 0) end
          local o = { id = "w-" .. (#objects + 1), tags = { ["wpo:address"] = ctx.address, ["wpo:stack"] = ctx.stack } }
          objects[#objects + 1] = o
          if outcome == "lost" then error(lost, 0) end
          if outcome == "refused-after" then error(refused, 0) end
          return { id = o.id, size = want.size }
        end,
        read = noop, delete = noop,
      }
    end

    local function ctx(t, logs, prior)
      return resource.context { address = "test.exactly.a", stack = "s", type = t, prior = prior,
        logger = function(_, msg) logs[#logs + 1] = msg end }
    end

    it("looks first and adopts what a crashed run made, without creating", function()
      local objects, finds, logs = { { id = "w-1", tags = { ["wpo:address"] = "test.exactly.a", ["wpo:stack"] = "s" } } },
        {}, {}
      local t = widget(objects, {}, finds)
      local o = resource.create(t, ctx(t, logs), { size = 1 })
      assert.are.equal("w-1", o.id)
      assert.are.equal(1, #objects)
      assert.are.same({ "adopting w-1, found by its wpo:address tag" }, logs)
    end)

    it("after a lost answer, finds the object the create made and adopts it: one object", function()
      local objects, finds, logs = {}, {}, {}
      local t = widget(objects, { "lost" }, finds)
      local o = resource.create(t, ctx(t, logs), { size = 2 })
      assert.are.equal("w-1", o.id)
      assert.are.equal(2, o.size)
      assert.are.equal(1, #objects)
      assert.are.equal(2, #finds)              -- before the create, after the lost answer
      assert.are.same({}, pauses)
      assert.matches("the answer to ec2 CreateVpc: InternalError was lost", logs[1], 1, true)
      assert.matches("by its wpo:address tag", logs[1], 1, true)
      assert.are.equal("adopting w-1, found by its wpo:address tag", logs[2])
    end)

    it("looks again after pauses when nothing is there, then creates again", function()
      local objects, finds, logs = {}, {}, {}
      local t = widget(objects, { "failed" }, finds)
      local o = resource.create(t, ctx(t, logs), { size = 3 })
      assert.are.equal("w-1", o.id)
      assert.are.equal(1, #objects)
      assert.are.same(resource.LOOK_AGAIN, pauses)
      assert.are.equal(2 + #resource.LOOK_AGAIN, #finds)
      assert.matches("not found: it was not made; creating it %(attempt 2 of 3%)", logs[#logs])
    end)

    it("gives up after ATTEMPTS unknown outcomes, and never makes a second object", function()
      local objects, finds = {}, {}
      local t = widget(objects, { "failed", "failed", "failed", "failed" }, finds)
      local ok, err = pcall(resource.create, t, ctx(t, {}), { size = 1 })
      assert.is_false(ok)
      assert.are.equal(lost, err)
      assert.is_nil(err.left)
      assert.are.equal(0, #objects)
    end)

    it("does not go on after a lost answer in a task being cancelled", function()
      local task = require "wpo.task"
      local calls = 0
      local t = resource.define "test.cancelled" {
        attributes = {}, found_by = "its wpo:address tag", find = function() return {} end,
        create = function()
          calls = calls + 1
          task.cancel(task.current())          -- a second interrupt while the request was out
          error(lost, 0)
        end,
        read = noop, delete = noop,
      }
      local running = task.spawn(function() return pcall(resource.create, t, ctx(t, {}), {}) end)
      local joined, ok, err = task.join(running)
      assert.is_true(joined)
      assert.is_false(ok)
      assert.are.equal(lost, err)
      assert.are.equal(1, calls)
      assert.are.same({}, pauses)
    end)

    it("names the object a failed create left behind (err.left), for the state to taint", function()
      local objects, finds = {}, {}
      local t = widget(objects, { "refused-after" }, finds)
      local ok, err = pcall(resource.create, t, ctx(t, {}), { size = 1 })
      assert.is_false(ok)
      assert.are.equal("InvalidParameterValue", err.code)
      assert.are.equal("w-1", err.left.id)
      assert.are.equal(1, #objects)
      refused.left = nil
    end)

    it("does not adopt the object a create_before_destroy replaces, nor a deposed one", function()
      local objects, finds, logs = {
        { id = "w-1", tags = { ["wpo:address"] = "test.exactly.a", ["wpo:stack"] = "s" } },
        { id = "w-0", tags = { ["wpo:address"] = "test.exactly.a", ["wpo:stack"] = "s" } } }, {}, {}
      local t = widget(objects, {}, finds)
      local o = resource.create(t, ctx(t, logs, { id = "w-1", deposed = { { id = "w-0" } } }), { size = 1 })
      assert.are.equal("w-3", o.id)
      assert.are.same({}, logs)
    end)

    it("runs an update again while its outcome is unknown, not after a refusal", function()
      local runs = 0
      local t = resource.define "test.updating" {
        attributes = { size = { type = "integer" } },
        create = noop, read = noop, delete = noop,
        update = function(_, id, _, new)
          runs = runs + 1
          if runs == 1 then error(lost, 0) end
          if new.size < 0 then error(refused, 0) end
          return { id = id, size = new.size }
        end,
      }
      local logs = {}
      assert.are.equal(4, resource.update(t, ctx(t, logs), "u-1", { size = 1 }, { size = 4 }, { "size" }).size)
      assert.are.equal(2, runs)
      assert.matches("running the update again %(attempt 2 of 3%)", logs[1])
      runs = 1
      local ok, err = pcall(resource.update, t, ctx(t, {}), "u-1", { size = 1 }, { size = -1 }, { "size" })
      assert.is_false(ok)
      assert.are.equal(refused, err)
      assert.are.equal(2, runs)
    end)
  end)

  it("gives a client token stable for one create and new for the next", function()
    local function token(gen)
      return resource.context { address = "a.b.c", lineage = "L", generation = gen }:client_token()
    end
    assert.are.equal(token(1), token(1))
    assert.are_not.equal(token(1), token(2))
    assert.matches("^%x+$", token(1))
    assert.is_true(#token(1) <= 64)
  end)

  it("gives two new stacks declaring the same address different client tokens", function()
    -- A state gets its lineage at its first save: before it, only the stack tells them apart.
    local function token(stack_name)
      return resource.context { address = "aws.efs.file_system.content", stack = stack_name, region = "eu-west-1",
        generation = 1 }:client_token()
    end
    assert.are.equal(token("prod"), token("prod"))
    assert.are_not.equal(token("prod"), token("staging"))
  end)
end)

describe("random.password", function()
  local t = resource.get("random.password")
  local function want(over)
    local w = resource.desired(t, over or {})
    return w
  end
  local ctx = resource.context { address = "random.password.p", type = t }

  it("draws a password of the asked length from the enabled classes", function()
    local r = t.create(ctx, want({ length = 64, special = false, upper = false }))
    assert.are.equal(64, #r.result)
    assert.matches("^[a-z0-9]+$", r.result)
    assert.are_not.equal(r.result, t.create(ctx, want({ length = 64, special = false, upper = false })).result)
  end)

  it("honours the minimums and override_special", function()
    for _ = 1, 20 do
      local r = t.create(ctx, want({ length = 8, min_numeric = 3, min_special = 2, override_special = "#" }))
      assert.is_true(select(2, r.result:gsub("%d", "")) >= 3)
      assert.is_true(select(2, r.result:gsub("#", "")) >= 2)
      assert.is_nil(r.result:find("[^%w#]"))
    end
  end)

  it("refuses impossible settings", function()
    assert.has_error(function() t.create(ctx, want({ upper = false, lower = false, numeric = false, special = false })) end)
    assert.has_error(function() t.create(ctx, want({ length = 2, min_upper = 2, min_lower = 1 })) end)
  end)

  it("is sensitive, stable on read, and replaced by any change", function()
    assert.is_true(t.outputs.result.sensitive)
    local prior = { inputs = want(), outputs = { id = "x", result = "kept" } }
    assert.are.equal("kept", t.read(ctx, "x", prior).result)
    assert.is_nil(t.update)
  end)
end)
