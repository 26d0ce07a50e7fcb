local h = require "helpers"
local cjson = require "cjson"
local loop = require "wpo.core.loop"
local http = require "wpo.core.http"
local task = require "wpo.task"
local launch = dofile(h.REPO .. "/tests/servers/launch.lua")

describe("wpo.core.http", function()
  local server

  lazy_setup(function()
    server = launch.echo()
  end)

  lazy_teardown(function()
    if server then server:stop() end
  end)

  local function get(path, req)
    req = req or {}
    req.url = server.url .. path
    return task.await(http.start(req))
  end

  it("completes 100 concurrent requests, each with its own response", function()
    local tasks = {}
    for i = 1, 100 do
      tasks[i] = task.spawn(function()
        local method = ({ "GET", "POST", "PUT", "DELETE" })[i % 4 + 1]
        local body = method ~= "GET" and ("body of request " .. i) or nil
        local r, err = get("/echo/" .. i .. "?n=" .. i, { method = method, body = body,
          headers = { ["X-Request"] = tostring(i) } })
        assert(r, err)
        return r, method, body
      end)
    end
    local t0 = loop.now()
    task.run()
    local conns = {}
    for i, t in ipairs(tasks) do
      local ok, r, method, body = task.join(t)
      assert.is_true(ok, tostring(r))
      assert.are.equal(200, r.status)
      local echo = cjson.decode(r.body)
      assert.are.equal(method, echo.method)
      assert.are.equal("/echo/" .. i .. "?n=" .. i, echo.path)
      assert.are.equal(tostring(i), echo.headers["x-request"])
      assert.are.equal(body or "", echo.body)
      assert.are.equal(echo.conn, tonumber(r.headers["x-conn-id"]))
      conns[echo.conn] = true
    end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.is_true(n > 1, "the requests ran over a single connection: not concurrent")
    assert.is_true(loop.now() - t0 < 30000)
  end)

  it("keeps connections alive and reuses them", function()
    -- a server of its own, so that no idle connection from another test counts
    local own <close> = launch.echo()
    local function fetch(path)
      local r, err = task.await(http.start { url = own.url .. path })
      assert(r, err)
      return r
    end
    local function connections()
      return cjson.decode(fetch("/stats").body).connections
    end
    local first = fetch("/echo/a")
    local second, third = fetch("/echo/b"), fetch("/echo/c")
    assert.are.same({ "1", "1", "1" }, { first.headers["x-conn-id"], second.headers["x-conn-id"],
      third.headers["x-conn-id"] })
    assert.is_false(first.reused)
    assert.is_true(second.reused)
    assert.is_true(third.reused)
    assert.are.equal(0, third.timing.connect_ms)
    assert.are.equal(1, connections())

    -- A burst opens connections (as many as were busy at once: curl reuses
    -- one that became idle meanwhile); a burst no larger finds them idle.
    local function burst(n)
      local ts = {}
      for i = 1, n do ts[i] = task.spawn(fetch, "/echo/burst" .. i) end
      task.run()
      local res = {}
      for i, t in ipairs(ts) do
        local ok, r = task.join(t)
        assert.is_true(ok, tostring(r))
        res[i] = r
      end
      return res
    end
    burst(16)
    local opened = connections()
    assert.is_true(opened >= 1 and opened <= 16)
    for i, r in ipairs(burst(opened)) do
      assert.is_true(r.reused, string.format("request %d of the second burst opened connection %s",
        i, r.headers["x-conn-id"]))
    end
    assert.are.equal(opened, connections())
  end)

  it("returns a 3xx as a response and does not follow it", function()
    local r = assert(get("/status/302"))
    assert.are.equal(302, r.status)
    assert.are.equal("/echo", r.headers.location)
    assert.are.equal("", r.body)
    local r2 = assert(get("/status/301", { method = "POST", body = "x" }))
    assert.are.equal(301, r2.status)
  end)

  it("lower-cases header names and joins repeated headers with ', '", function()
    local r = assert(get("/dup"))
    assert.are.equal("a, b", r.headers["x-dup"])
    assert.are.equal("3", r.headers["content-length"])
    assert.is_nil(r.headers["Content-Length"])
  end)

  it("sends only the headers asked for, and an empty body with Content-Length 0 on PUT", function()
    local r = assert(get("/echo/put", { method = "PUT", headers = { ["X-Empty"] = "" } }))
    local echo = cjson.decode(r.body)
    assert.are.equal("PUT", echo.method)
    assert.are.equal("0", echo.headers["content-length"])
    assert.are.equal("", echo.headers["x-empty"])
    assert.is_nil(echo.headers["accept"])
    assert.is_nil(echo.headers["content-type"])
    assert.is_nil(echo.headers["expect"])
    local big = string.rep("x", 100000)
    r = assert(get("/echo/big", { method = "POST", body = big, headers = { ["Content-Type"] = "text/plain" } }))
    echo = cjson.decode(r.body)
    assert.are.equal(#big, #echo.body)
    assert.are.equal("text/plain", echo.headers["content-type"])
    assert.is_nil(echo.headers["expect"])
  end)

  it("answers HEAD without a body", function()
    local r = assert(get("/echo/head", { method = "HEAD" }))
    assert.are.equal(200, r.status)
    assert.are.equal("", r.body)
    assert.is_true(tonumber(r.headers["content-length"]) > 0)
  end)

  it("reports timing in milliseconds", function()
    local r = assert(get("/delay?ms=50"))
    local t = r.timing
    assert.is_true(t.total_ms >= 50)
    assert.is_true(t.first_byte_ms >= 50)
    assert.is_true(t.total_ms >= t.first_byte_ms)
    assert.are.equal(0, t.tls_ms)
  end)

  it("fails with code timeout when the server is too slow", function()
    local t0 = loop.now()
    local r, err, code = get("/delay?ms=20000", { timeout_ms = 200 })
    assert.is_nil(r)
    assert.are.equal("timeout", code)
    assert.matches("127.0.0.1:" .. server.port, err, 1, true)
    assert.is_true(loop.now() - t0 < 10000)
  end)

  it("cancels a request in flight: its task sees a cancellation error", function()
    local victim = task.spawn(function()
      return get("/delay?ms=30000&name=victim")
    end)
    local canceller = task.spawn(function()
      -- the server answers this once the victim's request has reached it
      assert(get("/started?name=victim"))
      assert.is_true(task.cancel(victim))
    end)
    local t0 = loop.now()
    task.run()
    assert.is_true(loop.now() - t0 < 10000)
    local ok, r, err, code = task.join(victim)
    assert.is_true(ok)
    assert.is_nil(r)
    assert.are.equal("cancelled", code)
    assert.is_string(err)
    assert.are.equal("done", canceller.status)
  end)

  it("cancels a request by id from outside any task", function()
    local id = http.start { url = server.url .. "/delay?ms=30000" }
    assert.is_true(loop.cancel(id))
    local r, _, code = task.await(id)
    assert.is_nil(r)
    assert.are.equal("cancelled", code)
    assert.is_true(get("/echo/after-cancel").status == 200)
  end)

  it("returns nil, err, 'connect' when the connection is refused", function()
    local port = launch.closed_port()
    local ok, r, err, code = pcall(task.await, http.start { url = "http://127.0.0.1:" .. port .. "/" })
    assert.is_true(ok)
    assert.is_nil(r)
    assert.are.equal("connect", code)
    assert.matches("127.0.0.1:" .. port, err, 1, true)
  end)

  it("returns code transport when the server drops the connection", function()
    local r, err, code = get("/close")
    assert.is_nil(r)
    assert.are.equal("transport", code)
    assert.matches("127.0.0.1", err)
  end)

  it("returns code transport when the connection closes inside the answer's headers (an answer lost, not a 200)",
    function()
      local r, err, code = get("/cut-headers")
      assert.is_nil(r)
      assert.are.equal("transport", code)
      assert.matches("closed inside the answer's headers", err, 1, true)
    end)

  it("raises on misuse", function()
    local url = server.url .. "/echo"
    local pending_before = loop.outstanding()
    assert.has_error(function() http.start() end)
    assert.has_error(function() http.start { method = "GET" } end)
    assert.has_error(function() http.start { url = url, method = "FETCH" } end)
    assert.has_error(function() http.start { url = url, method = "get" } end)
    assert.has_error(function() http.start { url = url, headers = { ["X-N"] = 1 } } end)
    assert.has_error(function() http.start { url = url, headers = { ["X-N"] = "a\r\nInjected: yes" } } end)
    assert.has_error(function() http.start { url = url, headers = { ["Bad Name"] = "v" } } end)
    assert.has_error(function() http.start { url = url, headers = "x" } end)
    assert.has_error(function() http.start { url = "ftp://127.0.0.1/x" } end)
    assert.has_error(function() http.start { url = "not a url" } end)
    assert.has_error(function() http.start { url = url, timeout_ms = -1 } end)
    assert.has_error(function() http.start { url = url, body = 12 } end)
    assert.has_error(function() http.start { url = url, method = "HEAD", body = "x" } end)
    local ok, err = pcall(http.start, { url = url, timeuot_ms = 5 })
    assert.is_false(ok)
    assert.matches("unknown request key 'timeuot_ms'", err)
    assert.matches("timeout_ms", err)
    assert.are.equal(pending_before, loop.outstanding())
  end)
end)

describe("wpo.core.http over TLS", function()
  local dir, cert, server

  lazy_setup(function()
    dir = h.tmpdir()
    local key
    cert, key = launch.self_signed(dir)
    server = launch.echo { tls = { cert, key } }
  end)

  lazy_teardown(function()
    if server then server:stop() end
    if dir then h.rmrf(dir) end
  end)

  it("refuses a server whose certificate it cannot verify, with code tls", function()
    local r, err, code = task.await(http.start { url = server.url .. "/echo" })
    assert.is_nil(r)
    assert.are.equal("tls", code)
    assert.matches("127.0.0.1:" .. server.port, err, 1, true)
  end)

  it("accepts it when its CA is given with ca_bundle", function()
    local r, err = task.await(http.start { url = server.url .. "/echo/tls", ca_bundle = cert })
    assert.is_table(r, err)
    assert.are.equal(200, r.status)
    assert.are.equal("/echo/tls", cjson.decode(r.body).path)
    assert.is_true(r.timing.tls_ms > 0)
  end)

  it("does not reuse a connection verified with another CA bundle", function()
    assert(task.await(http.start { url = server.url .. "/echo/a", ca_bundle = cert }))
    local r, _, code = task.await(http.start { url = server.url .. "/echo/b" })
    assert.is_nil(r)
    assert.are.equal("tls", code)
  end)

  it("takes the CA bundle from AWS_CA_BUNDLE", function()
    local script = dir .. "/get.lua"
    h.write(script, [[
      local http, task = require "wpo.core.http", require "wpo.task"
      local r, err, code = task.await(http.start { url = arg[1] })
      print(r and r.status or code)
    ]])
    local url = server.url .. "/echo/env"
    local with = h.wpo({ "lua", script, url }, { env = { AWS_CA_BUNDLE = cert } })
    assert.are.equal(0, with.status, with.stderr)
    assert.are.equal("200\n", with.stdout)
    local without = h.wpo({ "lua", script, url }, { env = { AWS_CA_BUNDLE = "" } })
    assert.are.equal("tls\n", without.stdout)
  end)
end)
