-- wpo.aws.tagset: tags between wpo's form (a map name -> value) and the
-- shapes AWS services use (lists of { Key, Value } under various member
-- names), and what changed between two maps. Pure functions, no AWS calls.
--
--   tagset.list(map, key_name?, value_name?) -> { { Key = k, Value = v }, ... }  (sorted by key)
--   tagset.map(list, key_name?, value_name?) -> { [k] = v }
--   tagset.changes(old, new) -> set, remove
--        set: map of the tags to add or change (nil when none)
--        remove: sorted list of the keys to remove (nil when none)
local M = {}

function M.list(map, key_name, value_name)
  key_name, value_name = key_name or "Key", value_name or "Value"
  local keys = {}
  for k in pairs(map or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = { [key_name] = k, [value_name] = map[k] } end
  return out
end

function M.map(list, key_name, value_name)
  key_name, value_name = key_name or "Key", value_name or "Value"
  local out = {}
  for _, t in ipairs(list or {}) do out[t[key_name]] = t[value_name] or "" end
  return out
end

function M.changes(old, new)
  old, new = old or {}, new or {}
  local set, remove
  for k, v in pairs(new) do
    if old[k] ~= v then
      set = set or {}
      set[k] = v
    end
  end
  for k in pairs(old) do
    if new[k] == nil then
      remove = remove or {}
      remove[#remove + 1] = k
    end
  end
  if remove then table.sort(remove) end
  return set, remove
end

return M
