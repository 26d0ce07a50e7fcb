-- wpo history STACK: the rollouts recorded in a stack's state, oldest first:
-- when, what (apply or destroy), the result and counts, and the git ref and
-- commit the stack was evaluated at (run, rollout and apply record them).
local cjson = require "cjson"
local git = require "wpo.git"
local workflow = require "wpo.workflow"

local M = {
  summary = "show the rollouts recorded in a stack's state (git ref, commit, result)",
  args = { "STACK" },
  options = workflow.options({
    json = { type = "boolean", help = "print { stack, deployed, history } as JSON" },
  }, workflow.STACK_OPTIONS),
  help = "Reads the state without locking it. The last line names what is deployed now.",
}

local COLUMNS = { "TIME (UTC)", "OPERATION", "RESULT", "REF", "COMMIT", "USER", "CHANGES" }

local function commit_of(e)
  if not e.commit then return "-" end
  return (e.short or e.commit:sub(1, 7)) .. (e.dirty and " (dirty)" or "")
end

local function ref_of(e)
  if not e.ref or (e.commit and e.commit:sub(1, #e.ref) == e.ref) then return "-" end
  return e.ref
end

-- history.rows(entries) -> array of rows (strings, in COLUMNS order)
function M.rows(entries)
  local rows = {}
  for i, e in ipairs(entries) do
    rows[i] = {
      e.time and os.date("!%Y-%m-%d %H:%M:%S", math.tointeger(e.time) or 0) or "-",
      e.operation or "-", e.result or "-", ref_of(e), commit_of(e), e.user or "-",
      string.format("+%d ~%d -%d", e.added or 0, e.changed or 0, e.destroyed or 0),
    }
  end
  return rows
end

-- history.render(entries) -> the table as text
function M.render(entries)
  local lines = { COLUMNS }
  for _, row in ipairs(M.rows(entries)) do lines[#lines + 1] = row end
  local widths = {}
  for _, row in ipairs(lines) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, utf8.len(cell) or #cell) end
  end
  local out = {}
  for _, row in ipairs(lines) do
    local cells = {}
    for i, cell in ipairs(row) do
      cells[i] = i == #row and cell or cell .. string.rep(" ", widths[i] - (utf8.len(cell) or #cell))
    end
    out[#out + 1] = table.concat(cells, "  ")
  end
  return table.concat(out, "\n") .. "\n"
end

function M.run(opts, args)
  local stack = workflow.load(opts, args[1])
  local st <close> = workflow.open_state(stack, opts, "history", { lock = false })
  local history = st.history or {}
  if opts.json then
    -- (cjson writes an empty table as {}: the history is spliced in as an array)
    local doc = cjson.encode({ stack = stack.name, deployed = st.source or cjson.null, history = false })
    local list = #history > 0 and cjson.encode(history) or "[]"
    io.stdout:write((doc:gsub('"history":false', function() return '"history":' .. list end)), "\n")
    return 0
  end
  if #history == 0 then
    io.stdout:write(string.format("No rollouts recorded for stack %s (%s).\n", stack.name, st:describe()))
    return 0
  end
  io.stdout:write(M.render(history))
  local where
  if st.source then
    where = "is deployed at " .. git.describe(st.source)
  elseif #st:addresses() > 0 then
    where = "is deployed from files outside git (no commit recorded)"
  else
    where = "has nothing deployed (destroyed, or never applied)"
  end
  io.stdout:write(string.format("\n%s %s.\n", stack.name, where))
  return 0
end

return M
