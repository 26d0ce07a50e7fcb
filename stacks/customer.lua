-- The per-customer layout: one small WordPress stack per customer, over the
-- shared module with the fleet's defaults. A customer file is a few lines:
--
--   return require("stacks.customer") { name = "acme", cidr = "10.21.0.0/16" }
--
-- Any wordpress.stack parameter may be given to override a default.
local wordpress = require "wpo.wordpress"

local DEFAULTS = {
  region   = "eu-west-1",
  azs      = { "eu-west-1a", "eu-west-1b" },
  nat      = "single",
  compute  = { instance_type = "t3.medium", min = 1, max = 4 },
  service  = { cpu = 256, memory = 512, desired = 1, min = 1, max = 6 },
  database = { engine = "mysql", instance_class = "db.t4g.small" },
  cache    = { node_type = "cache.t4g.micro", nodes = 2 },
  logs     = { retention_days = 30 },
  protect  = true,
}

local function merge(defaults, given)
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  for k, v in pairs(given) do
    if type(v) == "table" and type(out[k]) == "table" and #v == 0 and next(v) ~= nil then
      out[k] = merge(out[k], v)
    else
      out[k] = v
    end
  end
  return out
end

return function(spec)
  local p = merge(DEFAULTS, spec)
  p.site = p.site or { domain = spec.name .. ".sites.example.com" }
  p.tags = merge({ customer = spec.name }, spec.tags or {})
  return wordpress.stack(p)
end
