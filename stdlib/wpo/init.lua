-- wpo: what stack scripts see as the global `wpo` (and `require "wpo"`).
--
--   wpo.stack{ name, region, tags, backend, vars, description, azs } -> stack
--   wpo.var{ type, default, description, sensitive } -> a variable declaration
--   wpo.compute(fn, ...) -> a value computed at apply time from references
--   wpo.format(fmt, ...) -> string.format, deferred when an argument is a reference
--   wpo.address(resource) -> its address ("aws.ec2.vpc.main")
--   wpo.cidr -> the cidr helpers (also the global `cidr` in stack scripts)
local value = require "wpo.value"

local M = {}

-- wpo.stack requires this module (a cycle): looked up at the call
function M.stack(spec) return require("wpo.stack").new(spec) end
-- wpo.stack requires this module (a cycle): looked up at the call
function M.var(spec) return require("wpo.stack").var(spec) end
-- wpo.stack requires this module (a cycle): looked up at the call
function M.address(handle) return require("wpo.stack").address_of(handle) end
M.compute = value.compute
M.format = value.format
M.cidr = require "wpo.cidr"

return M
