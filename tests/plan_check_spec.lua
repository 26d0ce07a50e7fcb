-- Plan-time checks: a resource type's `check` (wpo.resource) runs while
-- planning each create, update and replace — not a no-op — with the
-- attributes resolved as far as known; what it raises refuses the plan with
-- the resource's address and file:line. aws.ecs.task_definition's check:
-- every ECR image (found in the containers, or named in ecr_images) must
-- exist — DescribeImages through a scripted transport here.
local et = require "enginetest"
local awstest = require "awstest"

describe("plan-time checks", function()
  local plan = require "wpo.plan"
  local resource = require "wpo.resource"
  local value = require "wpo.value"
  local errors = require "wpo.errors"

  local seen = {}
  resource.define "test.checked" {
    attributes = { value = { type = "any" }, other = { type = "any" } },
    check = function(ctx, after, action)
      seen[#seen + 1] = { address = ctx.address, value = after.value, other = after.other, action = action }
      if after.value == "bad" then ctx:fail("Refused", "value %s is not allowed", after.value) end
    end,
    create = function() return { id = "x" } end,
    read = function(_, id, prior) return { id = id, value = prior.inputs.value } end,
    update = function() return {} end,
    delete = function() end,
  }

  before_each(function() seen = {} end)

  local function record(inputs)
    return { type = "test.checked", id = "i", inputs = inputs, outputs = { id = "i" }, deps = {}, where = "s.lua:9" }
  end

  it("runs for create and update with what is known, not for a no-op", function()
    local s = et.stack('local s = wpo.stack { name = "t" }\n'
      .. 'local a = s:add("test.checked", "a", { value = "v" })\n'
      .. 's:add("test.checked", "b", { value = "w", other = a.id })\n'
      .. 's:add("test.checked", "same", { value = 1 })\n'
      .. 's:add("test.checked", "changed", { value = 2 })\nreturn s\n')
    local st = et.memstate({ ["test.checked.same"] = record({ value = 1 }),
      ["test.checked.changed"] = record({ value = 1 }) })
    local p = plan.make(s, st)
    table.sort(seen, function(x, y) return x.address < y.address end)
    assert.are.same({ "test.checked.a", "test.checked.b", "test.checked.changed" },
      { seen[1].address, seen[2].address, seen[3].address })
    assert.are.equal(3, #seen)
    assert.are.equal("create", seen[2].action)
    assert.are.equal(value.UNKNOWN, seen[2].other)
    assert.are.equal("update", seen[3].action)
    assert.are.equal("no-op", p.by_id["test.checked.same"].action)
  end)

  it("refuses the plan with the resource's address and the line that declares it", function()
    local s = et.stack('local s = wpo.stack { name = "t" }\n'
      .. 's:add("test.checked", "ok", { value = "v" })\n'
      .. 's:add("test.checked", "bad", { value = "bad" })\nreturn s\n')
    local ok, err = pcall(plan.make, s, et.memstate())
    assert.is_false(ok)
    assert.is_true(errors.is(err))
    assert.are.equal("Refused", err.code)
    assert.are.equal("test.checked.bad", err.address)
    assert.matches("s%.lua:3$", err.where)
    assert.matches("s.lua:3: test.checked.bad: Refused: value bad is not allowed", tostring(err), 1, true)
  end)

  describe("a type's derive", function()
    local derived = {}
    resource.define "test.derived" {
      attributes = { content = { type = "string" }, hash = { type = "string", computed = true } },
      derive = function(ctx, after)
        derived[#derived + 1] = { address = ctx.address, offline = ctx.offline, read_only = ctx.read_only }
        if after.content == "bad" then ctx:fail("Refused", "content %s refused", after.content) end
        after.hash = "h-" .. after.content
      end,
      create = function(_, want) return { id = "x", hash = "h-" .. want.content } end,
      read = function(_, id) return { id = id } end,
      update = function() return {} end,
      delete = function() end,
    }
    local function rec(content, hash)
      return { type = "test.derived", id = "i", inputs = { content = content, hash = hash }, outputs = { id = "i" },
        deps = {}, where = "s.lua:2" }
    end

    it("sets computed attributes before the comparison: what it derives decides the action", function()
      derived = {}
      local s = et.stack('local s = wpo.stack { name = "t" }\n'
        .. 's:add("test.derived", "same", { content = "a" })\n'
        .. 's:add("test.derived", "stale", { content = "b" })\n'
        .. 'return s\n')
      -- "stale": the script says the same, what it derives differs from the record
      local st = et.memstate({ ["test.derived.same"] = rec("a", "h-a"), ["test.derived.stale"] = rec("b", "h-old") })
      local p = plan.make(s, st)
      assert.are.equal("no-op", p.by_id["test.derived.same"].action)
      assert.are.equal("update", p.by_id["test.derived.stale"].action)
      assert.are.same({ "hash" }, p.by_id["test.derived.stale"].changed)
      assert.are.equal("h-b", p.by_id["test.derived.stale"].after.hash)
      assert.are.equal(2, #derived)
      assert.is_true(derived[1].read_only)
      assert.is_nil(derived[1].offline)
      plan.make(s, st, { checks = false })
      assert.is_true(derived[3].offline)
    end)

    it("refuses the plan naming the declaration", function()
      local s = et.stack('local s = wpo.stack { name = "t" }\n\ns:add("test.derived", "bad", { content = "bad" })\n'
        .. 'return s\n')
      local ok, err = pcall(plan.make, s, et.memstate())
      assert.is_false(ok)
      assert.matches("s.lua:3: test.derived.bad: Refused: content bad refused", tostring(err), 1, true)
    end)
  end)

  describe("aws.ecs.task_definition", function()
    local aws = require "wpo.aws"
    local td = assert(resource.get("aws.ecs.task_definition"))
    local IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/wordpress:v2"

    -- a context whose ECR client answers with responder(request body, n)
    local function ctx_with(responder)
      local send, calls = awstest.transport(function(req, n)
        return responder(require("cjson").decode(req.body), n)
      end)
      local clock = awstest.clock()
      local ctx = resource.context { address = "aws.ecs.task_definition.wordpress", type = td, stack = "acme",
        region = "eu-west-1", where = "stacks/acme.lua:7" }
      ctx.clients = { ecr = aws.client("ecr", { region = "eu-west-1", transport = send, rate_limit = false,
        credentials = { access_key = "AKID", secret_key = "secret" }, sleep = clock.sleep, now = clock.now,
        clock = clock.clock, getenv = awstest.env {}, max_attempts = 1 }) }
      return ctx, calls
    end

    local function json(status, doc)
      return awstest.response(status, require("cjson").encode(doc), { ["Content-Type"] = "application/x-amz-json-1.1" })
    end

    local function after(image, extra)
      local a = { family = "acme-wordpress", container_definitions = { { name = "wordpress", image = image } } }
      for k, v in pairs(extra or {}) do a[k] = v end
      return a
    end

    it("accepts an ECR image that exists, asking for exactly its repository and tag", function()
      local ctx, calls = ctx_with(function()
        return json(200, { imageDetails = { { imageTags = { "v2" }, imageDigest = "sha256:ab" } } })
      end)
      td.check(ctx, after(IMAGE), "create")
      assert.are.equal(1, #calls)
      local body = require("cjson").decode(calls[1].body)
      assert.are.same({ registryId = "123456789012", repositoryName = "acme/wordpress",
        imageIds = { { imageTag = "v2" } } }, body)
      assert.matches("DescribeImages", calls[1].headers["X-Amz-Target"] or calls[1].headers["x-amz-target"], 1, true)
    end)

    it("leaves out the images the stack builds itself (built_images), checking the others", function()
      local ctx, calls = ctx_with(function()
        return json(200, { imageDetails = { { imageTags = { "v2" }, imageDigest = "sha256:ab" } } })
      end)
      local built = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/wordpress@sha256:" .. string.rep("0", 64)
      local a = after(built, { built_images = { built } })
      table.insert(a.container_definitions, { name = "sidecar", image = IMAGE })
      td.check(ctx, a, "replace")
      assert.are.equal(1, #calls)
      assert.are.same({ { imageTag = "v2" } }, require("cjson").decode(calls[1].body).imageIds)
    end)

    it("refuses a tag that does not exist, naming the container, the image and the way out", function()
      local ctx = ctx_with(function()
        return json(400, { __type = "ImageNotFoundException", message = "The image with imageId {imageTag:'v2'} "
          .. "does not exist within the repository with name 'acme/wordpress'" })
      end)
      local ok, err = pcall(td.check, ctx, after(IMAGE), "create")
      assert.is_false(ok)
      assert.are.equal("ImageNotFound", err.code)
      assert.are.equal("aws.ecs.task_definition.wordpress", err.address)
      assert.matches("container wordpress: the image " .. IMAGE .. " does not exist", err.message, 1, true)
      assert.matches("push it first", err.message, 1, true)
    end)

    it("explains a repository that does not exist yet (one this run creates holds no image)", function()
      local ctx, calls = ctx_with(function()
        return json(400, { __type = "RepositoryNotFoundException", message = "The repository does not exist" })
      end)
      local ok, err = pcall(td.check, ctx, after(value.UNKNOWN, { ecr_images = {
        { container = "wordpress", repository = "acme/wordpress", tag = "v2" } } }), "create")
      assert.is_false(ok)
      assert.are.equal("ImageNotFound", err.code)
      assert.matches("no ECR repository acme/wordpress yet", err.message, 1, true)
      assert.matches("deploy the public image first", err.message, 1, true)
      local body = require("cjson").decode(calls[1].body)
      assert.is_nil(body.registryId, "the caller's own registry")
      assert.are.same({ { imageTag = "v2" } }, body.imageIds)
    end)

    it("calls nothing for public images or images not known yet, and checks a digest by digest", function()
      local ctx, calls = ctx_with(function() return json(200, { imageDetails = { {} } }) end)
      td.check(ctx, after("wordpress:6-apache"), "create")
      td.check(ctx, after(value.UNKNOWN), "create")
      td.check(ctx, { container_definitions = value.UNKNOWN }, "create")
      assert.are.equal(0, #calls)
      td.check(ctx, after("123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/wordpress@sha256:0f"), "replace")
      assert.are.same({ { imageDigest = "sha256:0f" } }, require("cjson").decode(calls[1].body).imageIds)
    end)
  end)
end)
