-- wpo.typedoc: a resource type described from its definition — for
-- `wpo types`, `wpo help TYPE` and the reference in docs/types/.
--
--   typedoc.summary(t) -> one line: the type's description
--   typedoc.text(t) -> the help text of one type (attributes, outputs, import)
--   typedoc.markdown(t) -> the same as a Markdown page
--   typedoc.index(names) -> the Markdown index of docs/types/
local M = {}

local function type_of(spec)
  local t = spec.type
  if (t == "list" or t == "map") and spec.of then
    return t .. " of " .. (type(spec.of) == "table" and tostring(spec.of.type or "object") or tostring(spec.of))
  end
  return t
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = show(x) end
    if #parts == 0 and next(v) ~= nil then return "{...}" end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  return tostring(v)
end

-- One attribute's facts, in words: { type, change, notes }
local function facts(t, name)
  local spec = t.attributes[name]
  local notes = {}
  if spec.required then notes[#notes + 1] = "required" end
  if spec.default ~= nil then notes[#notes + 1] = "default " .. show(spec.default) end
  if spec.computed then notes[#notes + 1] = "computed when not set" end
  if spec.choices then notes[#notes + 1] = "one of " .. show(spec.choices) end
  if spec.sensitive then notes[#notes + 1] = "sensitive" end
  local change = (spec.force_new or not t.update) and "replaces" or "in place"
  return type_of(spec), change, notes, spec.description
end

function M.summary(t)
  return t.description or ""
end

local function import_line(t)
  if t.import then
    return "wpo import STACK ADDRESS ID takes an existing object; ID is the object's id (the id output)."
  end
  return "no import: wpo import refuses this type."
end

function M.text(t)
  local lines = { t.name .. ": " .. M.summary(t), "", "attributes:" }
  local w = 0
  for _, n in ipairs(t.attribute_names) do w = math.max(w, #n) end
  for _, n in ipairs(t.attribute_names) do
    local ty, change, notes, desc = facts(t, n)
    local line = string.format("  %-" .. w .. "s  %s; changing it %s", n, ty,
      change == "replaces" and "replaces the object" or "updates in place")
    if #notes > 0 then line = line .. "; " .. table.concat(notes, ", ") end
    if desc then line = line .. " — " .. desc end
    lines[#lines + 1] = line
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "outputs:"
  for _, n in ipairs(t.output_names) do
    local o = t.outputs[n]
    local line = "  " .. n
    if o.sensitive then line = line .. " (sensitive)" end
    if o.description then line = line .. " — " .. o.description end
    lines[#lines + 1] = line
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = import_line(t)
  return table.concat(lines, "\n") .. "\n"
end

local function cell(s)
  return (tostring(s):gsub("|", "\\|"):gsub("\n", " "))
end

function M.markdown(t)
  local lines = { "# " .. t.name, "", M.summary(t), "", "## Attributes", "",
    "| name | type | on change | notes |", "|---|---|---|---|" }
  for _, n in ipairs(t.attribute_names) do
    local ty, change, notes, desc = facts(t, n)
    local note = table.concat(notes, "; ")
    if desc then note = (note ~= "" and (note .. "; ") or "") .. desc end
    lines[#lines + 1] = string.format("| `%s` | %s | %s | %s |", n, cell(ty), change, cell(note))
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "## Outputs"
  lines[#lines + 1] = ""
  for _, n in ipairs(t.output_names) do
    local o = t.outputs[n]
    local line = "- `" .. n .. "`"
    if o.sensitive then line = line .. " (sensitive)" end
    if o.description then line = line .. ": " .. o.description end
    lines[#lines + 1] = line
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "## Import"
  lines[#lines + 1] = ""
  lines[#lines + 1] = import_line(t)
  return table.concat(lines, "\n") .. "\n"
end

function M.index(types)
  local lines = { "# Resource types", "",
    "Generated from the type definitions by `make docs` (`tools/typedocs.lua`); do not edit.",
    "`wpo types` lists them and `wpo help TYPE` shows one.", "" }
  for _, t in ipairs(types) do
    lines[#lines + 1] = string.format("- [`%s`](%s.md): %s", t.name, t.name, cell(M.summary(t)))
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
