-- wpo.aws.transport: one HTTP exchange for wpo.aws — wpo.core.http.start
-- awaited through wpo.task, so it yields inside a task and drives the loop
-- outside one. The client, the credential providers and the tests' fakes
-- all share this signature:
--   transport.send{ method, url, headers, body, timeout_ms, connect_timeout_ms }
--     -> { status, headers (lower-case names), body, timing } | nil, err, code
--   code: "timeout" | "connect" | "tls" | "cancelled" | "transport"
local http = require "wpo.core.http"
local task = require "wpo.task"

local M = {}

function M.send(req)
  local id = http.start(req)
  return task.await(id)
end

return M
