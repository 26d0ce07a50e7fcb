-- wpo.text: small string helpers shared by the CLI and the stack loader.
local M = {}

local function distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local prev, cur = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, lb do
      local cost = (ca == b:byte(j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[lb]
end
M.distance = distance

-- text.closest(word, candidates) -> the candidate nearest to word, or nil
-- when none is near enough to be a plausible typo.
function M.closest(word, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(word:lower(), c:lower())
    if not best_d or d < best_d or (d == best_d and c < best) then best, best_d = c, d end
  end
  if best and best_d <= math.max(2, #word // 3) then return best end
  return nil
end

-- text.sorted_keys(t [, less]) -> array of t's keys, sorted as strings (or
-- by less(a, b) when given)
local function as_strings(a, b) return tostring(a) < tostring(b) end

function M.sorted_keys(t, less)
  local keys, strings = {}, true
  for k in pairs(t) do
    keys[#keys + 1] = k
    if type(k) ~= "string" then strings = false end
  end
  -- strings compare as they are: the sort's own comparison, no Lua call per pair
  table.sort(keys, less or (not strings and as_strings or nil))
  return keys
end

-- text.count(n, "resource") -> "1 resource", "3 resources" (plural: "s" added
-- unless given)
function M.count(n, singular, plural)
  return string.format("%d %s", n, n == 1 and singular or (plural or singular .. "s"))
end

-- text.duration(seconds) -> "850ms", "12s", "1m10s", "2h03m"
function M.duration(seconds)
  if seconds < 1 then return string.format("%dms", math.floor(seconds * 1000 + 0.5)) end
  if seconds < 60 then return string.format("%ds", math.floor(seconds + 0.5)) end
  local s = math.floor(seconds + 0.5)
  if s < 3600 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%dh%02dm", s // 3600, (s % 3600) // 60)
end

return M
