-- Runs the busted specs inside the wpo binary, so they see the C modules:
--   wpo lua tests/busted.lua [busted options] [FILES or DIRS]
-- With no FILES, every tests/**/*_spec.lua. Ends with "N passed, N failed, N skipped".
package.path = "tests/lua/?.lua;" .. package.path
local given = {}
for i = 1, #arg do given[#given + 1] = arg[i] end
local has_root = false
for _, a in ipairs(given) do if a:sub(1, 1) ~= "-" then has_root = true end end
-- (--ignore-lua: already inside wpo, where .busted would send plain busted)
local argv = { [0] = "busted", "--ignore-lua", "--output=tests/lua/summary_output.lua", "--pattern=_spec%.lua$" }
for _, a in ipairs(given) do argv[#argv + 1] = a end
if not has_root then argv[#argv + 1] = "tests" end
_G.arg = argv
require "busted.runner" ({ standalone = false, output = "tests/lua/summary_output.lua" })
