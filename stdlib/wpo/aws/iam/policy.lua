-- wpo.aws.iam.policy: IAM policy documents as Lua tables.
--
--   policy.document{ statement, ... } -> { Version = "2012-10-17", Statement = { ... } }
--   policy.assume_role("ecs-tasks.amazonaws.com", ...) -> a trust policy letting
--        those services assume a role
--   policy.encode(doc) -> JSON text (doc: a table, or JSON text kept as it is)
--   policy.decode(text) -> table | nil, err   (JSON, or the URL-encoded JSON IAM answers)
--   policy.same(a, b) -> boolean   the same document (tables or texts; whitespace
--        and key order do not matter)
--   policy.check(doc) -> nil | message   IAM's structural rules, checked before sending
--
-- Statements are tables as IAM spells them: { Effect = "Allow", Action = {...},
-- Resource = {...}, Condition = {...} }. Values may be references to other
-- resources' outputs (resolved before the document is sent).
local cjson = require "cjson.safe"
local value = require "wpo.value"

local M = {}

M.VERSION = "2012-10-17"

function M.document(statements)
  return { Version = M.VERSION, Statement = statements }
end

function M.assume_role(...)
  local services = { ... }
  assert(#services > 0, "policy.assume_role: name at least one service principal")
  return M.document {
    { Effect = "Allow", Principal = { Service = #services == 1 and services[1] or services },
      Action = "sts:AssumeRole" },
  }
end

function M.encode(doc)
  if type(doc) == "string" then return doc end
  -- required here: a module of the stack API loads without the AWS protocols
  return require("wpo.aws.protocol.common").to_json(doc)
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function M.decode(text)
  if type(text) == "table" then return text end
  if type(text) ~= "string" then return nil, "a policy document is a table or JSON text" end
  local s = text
  if s:match("^%s*%%7[Bb]") then s = unescape(s) end
  local doc, err = cjson.decode(s)
  if type(doc) ~= "table" then return nil, "not JSON: " .. tostring(err) end
  return doc
end

function M.same(a, b)
  local da, db = M.decode(a), M.decode(b)
  if da == nil or db == nil then return a == b end
  return value.equal(value.normalize_numbers(da), value.normalize_numbers(db))
end

function M.check(doc)
  local d, err = M.decode(doc)
  if not d then return err end
  if d.Version ~= "2012-10-17" and d.Version ~= "2008-10-17" then
    return "the document needs Version = \"2012-10-17\""
  end
  local statements = d.Statement
  if type(statements) ~= "table" then return "the document needs a Statement list" end
  if statements.Effect ~= nil then statements = { statements } end
  if #statements == 0 then return "the document needs at least one statement" end
  for i, st in ipairs(statements) do
    if type(st) ~= "table" or (st.Effect ~= "Allow" and st.Effect ~= "Deny") then
      return string.format("statement %d needs Effect = \"Allow\" or \"Deny\"", i)
    end
    if st.Action == nil and st.NotAction == nil then
      return string.format("statement %d needs an Action", i)
    end
  end
  return nil
end

return M
