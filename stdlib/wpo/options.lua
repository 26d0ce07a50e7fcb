-- wpo.options: checking the options table a library function takes.
local M = {}

-- options.check(fname, opts, valid) -> opts (or {} for nil)
-- valid: a set of the accepted keys. An unknown key is a programming error:
-- it raises at the caller's caller, naming the key and the valid ones.
function M.check(fname, opts, valid)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fname .. ": options must be a table", 3) end
  for k in pairs(opts) do
    if not valid[k] then
      local names = {}
      for n in pairs(valid) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (valid: %s)", fname, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  return opts
end

return M
