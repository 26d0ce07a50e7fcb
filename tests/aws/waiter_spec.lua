-- wpo.aws.waiter: botocore's waiters as generated (models/waiters/*.lua),
-- the JMESPath they use, each matcher kind (path, pathAll, pathAny, status,
-- error) and the states (success, failure, retry), the poll schedule and
-- the one-line failure. A fake clock: no real sleeps.

describe("wpo.aws.waiter", function()
  local aws = require "wpo.aws"
  local errors = require "wpo.errors"
  local waiter = require "wpo.aws.waiter"

  local function list(t) return setmetatable(t, aws.LIST_MT) end
  local function aws_error(code, status)
    return errors.new { code = code, message = code .. " happened", status = status or 400 }
  end

  describe("definitions", function()
    it("loads botocore's waiters with their operation, delay and attempts", function()
      local d = waiter.get("rds", "DBInstanceDeleted")
      assert.are.equal("DescribeDBInstances", d.operation)
      assert.are.equal(30, d.delay)
      assert.are.equal(60, d.max_attempts)
      assert.are.equal("path", d.acceptors[1].matcher)
      assert.are.equal("length(DBInstances) == `0`", d.acceptors[1].argument)
      assert.are.equal(15, waiter.get("ecs", "ServicesInactive").delay)
      assert.are.equal("DescribeNatGateways", waiter.get("ec2", "NatGatewayDeleted").operation)
    end)

    it("refuses a waiter botocore does not define", function()
      assert.has_error(function() waiter.get("rds", "DBClusterGone") end,
        "waiter.get: botocore defines no waiter DBClusterGone for rds")
      local ok, err = pcall(waiter.get, "efs", "FileSystemAvailable")
      assert.is_false(ok)
      assert.matches("no waiter FileSystemAvailable for efs", err)
    end)
  end)

  describe("search", function()
    it("projects, flattens, filters and counts", function()
      local data = { Reservations = list { { Instances = list { { State = { Name = "running" } },
        { State = { Name = "stopped" } } } }, { Instances = list { { State = { Name = "running" } } } } } }
      assert.are.same({ "running", "stopped", "running" },
        waiter.search("Reservations[].Instances[].State.Name", data))
      assert.are.equal(3, waiter.search("length(Reservations[].Instances[])", data))
      assert.is_true(waiter.search("length(Reservations[]) > `0`", data))
      assert.is_nil(waiter.search("Nothing.Here", data))
    end)

    it("evaluates ServicesStable's filter with ! && and comparisons", function()
      local expr = waiter.get("ecs", "ServicesStable").acceptors[4].argument
      local stable = { services = list { { deployments = list { {} }, runningCount = 2, desiredCount = 2 } } }
      local rolling = { services = list { { deployments = list { {}, {} }, runningCount = 2, desiredCount = 2 } } }
      local short = { services = list { { deployments = list { {} }, runningCount = 1, desiredCount = 2 } } }
      assert.is_true(waiter.search(expr, stable))
      assert.is_false(waiter.search(expr, rolling))
      assert.is_false(waiter.search(expr, short))
    end)

    it("raises on JMESPath it does not implement", function()
      assert.has_error(function() waiter.search("sort_by(a, &b)", {}) end)
      assert.has_error(function() waiter.search("a | b", {}) end)
    end)
  end)

  describe("match", function()
    it("path: success when the expression equals the expected value", function()
      local d = waiter.get("rds", "DBInstanceDeleted")
      local state, acceptor = waiter.match(d, { DBInstances = list {} })
      assert.are.equal("success", state)
      assert.are.equal("path", acceptor.matcher)
      assert.are.equal("success", waiter.match(waiter.get("route53", "ResourceRecordSetsChanged"),
        { ChangeInfo = { Status = "INSYNC" } }))
      assert.are.equal("retry", waiter.match(waiter.get("route53", "ResourceRecordSetsChanged"),
        { ChangeInfo = { Status = "PENDING" } }))
    end)

    it("pathAll: success only when every value (at least one) is the expected one", function()
      local d = waiter.get("ec2", "NatGatewayDeleted")
      local gone = { NatGateways = list { { State = "deleted" }, { State = "deleted" } } }
      assert.are.equal("success", waiter.match(d, gone))
      local state, _, seen = waiter.match(d, { NatGateways = list { { State = "deleted" }, { State = "deleting" } } })
      assert.are.equal("retry", state)
      assert.are.equal("deleted, deleting", seen)
      assert.are.equal("retry", waiter.match(d, { NatGateways = list {} }))
    end)

    it("pathAny: failure when any value is a failed state", function()
      local d = waiter.get("rds", "DBClusterDeleted")
      local state, acceptor, seen = waiter.match(d, { DBClusters = list { { Status = "modifying" } } })
      assert.are.equal("failure", state)
      assert.are.equal("pathAny", acceptor.matcher)
      assert.are.equal("modifying", seen)
      assert.are.equal("retry", waiter.match(d, { DBClusters = list { { Status = "deleting" } } }))
      local inactive = waiter.get("ecs", "ServicesInactive")
      assert.are.equal("success", waiter.match(inactive, { services = list { { status = "INACTIVE" } },
        failures = list {} }))
      assert.are.equal("failure", waiter.match(inactive, { services = list {},
        failures = list { { reason = "MISSING" } } }))
      assert.are.equal("retry", waiter.match(inactive, { services = list { { status = "DRAINING" } },
        failures = list {} }))
    end)

    it("error: success, retry or failure by the error's code; an error no acceptor names is an error", function()
      assert.are.equal("success", waiter.match(waiter.get("rds", "DBInstanceDeleted"), nil,
        aws_error("DBInstanceNotFound", 404)))
      assert.are.equal("success", waiter.match(waiter.get("elasticache", "ReplicationGroupDeleted"), nil,
        aws_error("ReplicationGroupNotFoundFault", 404)))
      assert.are.equal("retry", waiter.match(waiter.get("ec2", "NatGatewayAvailable"), nil,
        aws_error("NatGatewayNotFound")))
      local state, acceptor, seen = waiter.match(waiter.get("rds", "DBInstanceDeleted"), nil,
        aws_error("AccessDenied", 403))
      assert.are.equal("error", state)
      assert.is_nil(acceptor)
      assert.are.equal("AccessDenied", seen)
    end)

    it("status: by the HTTP status of the answer", function()
      local d = waiter.get("elbv2", "LoadBalancerExists")
      local found
      for _, a in ipairs(d.acceptors) do if a.matcher == "status" then found = a end end
      assert.are.equal(200, found.expected)
      assert.are.equal("success", waiter.match(d, { LoadBalancers = list {} }))
      local ec2 = waiter.get("ec2", "InstanceExists")
      assert.are.equal("success", waiter.match(ec2, { Reservations = list { { Instances = list { {} } } } }))
      assert.are.equal("retry", waiter.match(ec2, nil, aws_error("InvalidInstanceID.NotFound")))
    end)
  end)

  describe("wait", function()
    local saved
    before_each(function()
      saved = aws.wait_scale()
      aws.set_wait_scale(1)
    end)
    after_each(function() aws.set_wait_scale(saved) end)

    -- a client answering from a script; the fake clock through aws.wait's
    -- default sleep is not reachable, so the schedule is read back from
    -- typekit.wait's options
    local function fake_client(service, answers)
      local c = { service = service, calls = {} }
      function c:pcall(op, params)
        self.calls[#self.calls + 1] = { op = op, params = params }
        local a = table.remove(answers, 1)
        if a[1] ~= nil then return a[1], { request_id = "r" .. #self.calls } end   -- as client:pcall: result, meta
        return a[1], a[2]
      end
      return c
    end

    local function with_wait(fn)
      local kit = require "wpo.aws.typekit"
      local real = aws.wait
      local seen = {}
      aws.wait = function(check, o)
        seen.opts = o
        local t = 0
        o.sleep = function(s) seen[#seen + 1] = s; t = t + s end
        o.now = function() return t end
        o.progress = nil
        return real(check, o)
      end
      local ok, err = pcall(fn, kit)
      aws.wait = real
      if not ok then error(err, 0) end
      return seen
    end

    local ctx = { address = "aws.rds.cluster_instance.db-2", log = function() end }

    it("polls at once, after typekit.FIRST_POLL, then doubling up to the waiter's delay; returns on success",
      function()
      local c = fake_client("rds", {
        { { DBInstances = list { { DBInstanceStatus = "deleting" } } } },
        { { DBInstances = list { { DBInstanceStatus = "deleting" } } } },
        { { DBInstances = list { { DBInstanceStatus = "deleting" } } } },
        { { DBInstances = list { { DBInstanceStatus = "deleting" } } } },
        { { DBInstances = list { { DBInstanceStatus = "deleting" } } } },
        { { DBInstances = list { { DBInstanceStatus = "deleting" } } } },
        { nil, aws_error("DBInstanceNotFound", 404) },
      })
      local sleeps = with_wait(function()
        assert.is_nil(waiter.wait(ctx, c, "DBInstanceDeleted", { DBInstanceIdentifier = "t-db-2" }))
      end)
      local kit = require "wpo.aws.typekit"
      local f = kit.FIRST_POLL
      assert.are.same({ f, 2 * f, 4 * f, 8 * f, 16 * f, math.min(32 * f, 30) }, { table.unpack(sleeps) })
      assert.are.equal(1800, sleeps.opts.timeout)
      assert.are.equal(7, #c.calls)
      assert.are.same({ op = "DescribeDBInstances", params = { DBInstanceIdentifier = "t-db-2" } }, c.calls[1])
    end)

    it("ends with a one-line error naming the resource and the state seen on a failure acceptor", function()
      local c = fake_client("rds", { { { DBInstances = list { { DBInstanceStatus = "modifying" } } } } })
      local ok, err
      with_wait(function()
        ok, err = pcall(waiter.wait, ctx, c, "DBInstanceDeleted", { DBInstanceIdentifier = "t-db-2" })
      end)
      assert.is_false(ok)
      assert.are.equal("WaiterFailed", err.code)
      assert.are.equal("aws.rds.cluster_instance.db-2: WaiterFailed: DescribeDBInstances answered modifying, "
        .. "a failure state for botocore's DBInstanceDeleted waiter", tostring(err))
      assert.is_nil(tostring(err):find("\n"))
    end)

    it("tries the type's own acceptors (also) after botocore's", function()
      local c = fake_client("ec2", { { { NatGateways = list { { State = "deleting" } } } },
        { nil, aws_error("InvalidNatGatewayID.NotFound") } })
      with_wait(function()
        assert.is_nil(waiter.wait(ctx, c, "NatGatewayDeleted", { NatGatewayIds = { "nat-1" } },
          { also = { { matcher = "error", expected = "InvalidNatGatewayID.NotFound", state = "success" } } }))
      end)
      assert.are.equal(2, #c.calls)
      assert.are.equal(2, #waiter.get("ec2", "NatGatewayDeleted").acceptors)   -- botocore's own list untouched
      assert.has_error(function() waiter.wait(ctx, c, "NatGatewayDeleted", {}, { gone = true }) end,
        "waiter.wait: unknown option 'gone' (valid: also, first, timeout, what)")
    end)

    it("raises an error no acceptor names as it is, and times out after delay x attempts", function()
      local c = fake_client("rds", { { nil, aws_error("AccessDenied", 403) } })
      local ok, err
      with_wait(function()
        ok, err = pcall(waiter.wait, ctx, c, "DBInstanceDeleted", { DBInstanceIdentifier = "t-db-2" })
      end)
      assert.is_false(ok)
      assert.are.equal("AccessDenied", err.code)
      local answers = {}
      for i = 1, 100 do answers[i] = { { ChangeInfo = { Status = "PENDING" } } } end
      c = fake_client("route53", answers)
      with_wait(function()
        ok, err = pcall(waiter.wait, ctx, c, "ResourceRecordSetsChanged", { Id = "C1" }, { timeout = 100 })
      end)
      assert.is_false(ok)
      assert.are.equal("WaitTimeout", err.code)
      assert.matches("PENDING", err.message)
    end)
  end)
end)
