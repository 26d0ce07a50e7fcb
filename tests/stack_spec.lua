-- The stack loader: sandbox, declarations and their file:line, references,
-- variables, modules, and every load-time check (one line, file:line).
local errors = require "wpo.errors"
local stack = require "wpo.stack"
local value = require "wpo.value"

-- Load a script from memory: files maps absolute paths to their text.
local function load(files, opts)
  opts = opts or {}
  opts.reader = function(path)
    if files[path] then return files[path] end
    return nil, path .. ": No such file or directory", "ENOENT"
  end
  opts.root = opts.root or "/repo"
  return stack.load("/repo/stacks/s.lua", opts)
end

local function load_error(src, opts)
  local ok, err = pcall(load, { ["/repo/stacks/s.lua"] = src }, opts)
  assert.is_false(ok, "the load should fail")
  assert.is_true(errors.is(err), "a wpo error, got " .. tostring(err))
  local line = tostring(err)
  assert.is_nil(line:find("\n"), "one line")
  return line, err
end

describe("wpo.stack", function()
  it("records declarations in order, with file:line, addresses and dependencies", function()
    local s = load({ ["/repo/stacks/s.lua"] = [[
local s = wpo.stack { name = "demo", region = "eu-west-1" }
local a = s:add("wpo.null", "a", { value = 1 })
local b = s:add("wpo.null", "b", { value = a.id .. "-x", depends_on = { "wpo.null.c" } })
local c = s:add("wpo.null", "c", {})
return s
]] })
    assert.are.equal("demo", s.name)
    assert.are.same({ "wpo.null.a", "wpo.null.b", "wpo.null.c" },
      { s.resources[1].address, s.resources[2].address, s.resources[3].address })
    assert.matches("s%.lua:3$", s.by_address["wpo.null.b"].where)
    assert.are.same({ "wpo.null.a", "wpo.null.c" }, s.by_address["wpo.null.b"].deps)
    local order = {}
    for _, d in ipairs(s.order) do order[#order + 1] = d.address end
    assert.are.same({ "wpo.null.a", "wpo.null.c", "wpo.null.b" }, order)
    assert.is_true(value.is_lazy(s.by_address["wpo.null.b"].attrs.value))
  end)

  -- Only attributes that hold a lazy value are walked for references (and
  -- resolved again at plan time): one deep in a table, or in the tags the
  -- stack gives every resource, is found too.
  it("finds a reference deep in an attribute's table and in the stack's tags", function()
    local s = load({ ["/repo/stacks/s.lua"] = [[
local s = wpo.stack { name = "demo", tags = { owner = wpo.compute(string.upper, "ops") } }
local a = s:add("wpo.null", "a", { value = 1 })
local b = s:add("wpo.null", "b", { value = { deep = { list = { 1, a.id } } } })
local v = s:add("aws.ec2.vpc", "v", { cidr_block = "10.0.0.0/16" })
return s
]] })
    local b, v = s.by_address["wpo.null.b"], s.by_address["aws.ec2.vpc.v"]
    assert.are.same({ "wpo.null.a" }, b.deps)
    assert.are.same({ value = true }, b.lazy)
    assert.are.same({ tags = true }, v.lazy)
    assert.are.same({}, s.by_address["wpo.null.a"].lazy)
  end)

  it("raises on an unknown global, naming it with file:line", function()
    local line = load_error('local s = wpo.stack { name = "x" }\nlocal v = vpc_idd\nreturn s\n')
    assert.matches("s%.lua:2: unknown global 'vpc_idd'$", line)
    line = load_error('local s = wpo.stack { name = "x" }\ncounter = 1\nreturn s\n')
    assert.matches("s%.lua:2: assignment to undeclared global 'counter'", line)
  end)

  it("rejects an unknown attribute with the closest name and the valid ones", function()
    local line = load_error('local s = wpo.stack { name = "x" }\ns:add("wpo.null", "a", { valeu = 1 })\nreturn s\n')
    assert.matches("s%.lua:2: wpo%.null%.a: unknown attribute 'valeu' %(did you mean 'value'%?%) %(valid: .*triggers, value%)$", line)
  end)

  it("rejects a wrong type and a missing required attribute", function()
    local line = load_error('local s = wpo.stack { name = "x" }\ns:add("wpo.null", "a", { triggers = { x = 1 } })\nreturn s\n')
    assert.matches("s%.lua:2: wpo%.null%.a: attribute triggers: %[\"x\"%]: expected a string, got number 1", line)
    line = load_error('local s = wpo.stack { name = "x" }\ns:add("wpo.null", "a", { create_delay_ms = 1.5 })\nreturn s\n')
    assert.matches("expected an integer, got number 1.5", line)
  end)

  it("rejects a duplicate address, naming the first declaration", function()
    local line = load_error('local s = wpo.stack { name = "x" }\ns:add("wpo.null", "a")\ns:add("wpo.null", "a")\nreturn s\n')
    assert.matches("s%.lua:3: wpo%.null%.a: duplicate address %(first declared at .*s%.lua:2%)", line)
  end)

  it("rejects references to undeclared resources and to missing outputs", function()
    local line = load_error('local s = wpo.stack { name = "x" }\nlocal a = s:add("wpo.null", "a")\n'
      .. 's:add("wpo.null", "b", { value = s:ref("wpo.null.aa", "id") })\nreturn s\n')
    assert.matches("s%.lua:3: reference to undeclared resource wpo%.null%.aa %(did you mean wpo%.null%.a%?%)", line)
    line = load_error('local s = wpo.stack { name = "x" }\nlocal a = s:add("wpo.null", "a")\n'
      .. 's:add("wpo.null", "b", { value = a.arn })\nreturn s\n')
    assert.matches("s%.lua:3: wpo%.null%.a has no output or attribute 'arn'", line)
  end)

  it("names every resource of a cycle with its file:line", function()
    local line = load_error('local s = wpo.stack { name = "x" }\n'
      .. 'local a = s:add("wpo.null", "a", { depends_on = { "wpo.null.b" } })\n'
      .. 'local b = s:add("wpo.null", "b", { value = a.id })\nreturn s\n')
    assert.matches("dependency cycle: wpo%.null%.a %(.*s%.lua:2%) %-> wpo%.null%.b %(.*s%.lua:3%) %-> wpo%.null%.a", line)
  end)

  it("rejects an unknown resource type with a suggestion", function()
    local line = load_error('local s = wpo.stack { name = "x" }\ns:add("random.pasword", "a")\nreturn s\n')
    assert.matches("s%.lua:2: unknown resource type 'random%.pasword' %(did you mean random%.password%?%)", line)
  end)

  it("reports syntax and runtime errors of the script with their file:line", function()
    local line = load_error('local s = wpo.stack { name = "x" }\nlocal = 1\n')
    assert.matches("s%.lua:2: <name> expected", line)
    line = load_error('local s = wpo.stack { name = "x" }\nlocal t\nt.x = 1\n')
    assert.matches("s%.lua:3: attempt to index a nil value", line)
  end)

  it("takes variables from defaults, --var-file and --var, typed by their default", function()
    local files = {
      ["/repo/stacks/s.lua"] = 'local s = wpo.stack { name = "v", vars = { env = "dev", replicas = 2, '
        .. 'public = false, azs = { "a" } } }\ns:add("wpo.null", "a", { value = { s.vars.env, s.vars.replicas, '
        .. 's.vars.public, s.vars.azs } })\nreturn s\n',
      ["/repo/prod.lua"] = 'return { env = "prod", azs = { "x", "y" } }',
    }
    local s = load(files, { vars = { replicas = "5", public = "true" }, var_files = { "/repo/prod.lua" } })
    assert.are.same({ "prod", 5, true, { "x", "y" } }, s.by_address["wpo.null.a"].attrs.value)
    local ok, err = pcall(load, files, { vars = { replicaz = "1" } })
    assert.is_false(ok)
    assert.matches("%-%-var replicaz: the stack declares no variable 'replicaz' %(did you mean 'replicas'%?%)", tostring(err))
    ok, err = pcall(load, files, { vars = { replicas = "many" } })
    assert.is_false(ok)
    assert.matches("variable 'replicas' is a number, not 'many'", tostring(err))
  end)

  it("requires the user's modules from the repository root, and reports errors in them", function()
    local files = {
      ["/repo/stacks/s.lua"] = 'return require("stacks.customer") { name = "acme" }\n',
      ["/repo/stacks/customer.lua"] = 'return function(p)\n  local s = wpo.stack { name = p.name }\n'
        .. '  s:add("wpo.null", "web", { value = p.name })\n  return s\nend\n',
    }
    local s = load(files)
    assert.are.equal("acme", s.name)
    assert.matches("stacks/customer%.lua:3$", s.by_address["wpo.null.web"].where)
    assert.is_string(s.sources["/repo/stacks/customer.lua"])
    files["/repo/stacks/customer.lua"] = files["/repo/stacks/customer.lua"]:gsub("value = p.name", "valu = p.name")
    local ok, err = pcall(load, files)
    assert.is_false(ok)
    assert.matches("stacks/customer%.lua:3: wpo%.null%.web: unknown attribute 'valu'", tostring(err))
  end)

  it("keeps lifecycle settings and checks them", function()
    local s = load({ ["/repo/stacks/s.lua"] = 'local s = wpo.stack { name = "x" }\n'
      .. 's:add("wpo.null", "a", { lifecycle = { prevent_destroy = true, ignore_changes = { "value" } } })\nreturn s\n' })
    local d = s.by_address["wpo.null.a"]
    assert.is_true(d.lifecycle.prevent_destroy)
    assert.are.same({ "value" }, d.lifecycle.ignore_changes)
    local line = load_error('local s = wpo.stack { name = "x" }\n'
      .. 's:add("wpo.null", "a", { lifecycle = { prevent_destory = true } })\nreturn s\n')
    assert.matches("unknown key 'prevent_destory' %(did you mean 'prevent_destroy'%?%)", line)
  end)

  it("joins references into strings lazily and refuses to use them as plain values", function()
    local s = load({ ["/repo/stacks/s.lua"] = 'local s = wpo.stack { name = "x" }\nlocal a = s:add("wpo.null", "a")\n'
      .. 's:add("wpo.null", "b", { value = "arn:" .. a.id .. ":" .. 3 })\n'
      .. 's:add("wpo.null", "c", { value = wpo.format("%s/%d", a.id, 7) })\nreturn s\n' })
    local function resolve(address)
      return (value.resolve(s.by_address[address].attrs.value, function(_, name) return "ID-" .. name end))
    end
    assert.are.equal("arn:ID-id:3", resolve("wpo.null.b"))
    assert.are.equal("ID-id/7", resolve("wpo.null.c"))
    local line = load_error('local s = wpo.stack { name = "x" }\nlocal a = s:add("wpo.null", "a")\n'
      .. 'local n = #a.id\nreturn s\n')
    assert.matches("s%.lua:3: wpo%.null%.a%.id is known only after apply", line)
  end)
end)
