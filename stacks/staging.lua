-- Staging: two AZs, one shared NAT gateway, smaller sizes, no deletion protection.
local wordpress = require "wpo.wordpress"

return wordpress.stack {
  name     = "staging",
  region   = "eu-west-1",
  azs      = { "eu-west-1a", "eu-west-1b" },
  cidr     = "10.11.0.0/16",
  nat      = "single",
  site     = { domain = "staging.example.com" },
  compute  = { instance_type = "t3.medium", min = 1, max = 3 },
  service  = { cpu = 256, memory = 512, desired = 1, min = 1, max = 4 },
  database = { engine = "aurora-mysql", instance_class = "db.t4g.medium", readers = { min = 0, max = 1 },
               backup_retention_days = 1 },
  cache    = { node_type = "cache.t4g.small", nodes = 2 },
  logs     = { retention_days = 14 },
  protect  = false,
  tags     = { environment = "staging" },
}
