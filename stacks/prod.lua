-- Production: three AZs, a NAT gateway per AZ, Aurora MySQL with a writer and
-- 1-4 autoscaled readers, Redis on two nodes, deletion protection on the data.
--
--   wpo plan stacks/prod.lua        (dry run; needs no AWS account with local state)
--   wpo run stacks/prod.lua
local wordpress = require "wpo.wordpress"

return wordpress.stack {
  name     = "prod",
  region   = "eu-west-1",
  azs      = { "eu-west-1a", "eu-west-1b", "eu-west-1c" },
  cidr     = "10.10.0.0/16",
  nat      = "per_az",
  site     = { domain = "www.example.com",
               certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" },
  compute  = { instance_type = "m6i.large", min = 2, max = 10 },
  service  = { cpu = 512, memory = 1024, desired = 2, min = 2, max = 20 },
  database = { engine = "aurora-mysql", instance_class = "db.r6g.large", readers = { min = 1, max = 4 },
               backup_retention_days = 14 },
  cache    = { node_type = "cache.r6g.large", nodes = 2 },
  logs     = { retention_days = 90 },
  protect  = true,
  tags     = { environment = "prod" },
  -- Teams share production state; keep it in S3, locked in DynamoDB:
  -- backend = { type = "s3", bucket = "acme-wpo-state", key = "prod", region = "eu-west-1",
  --             lock_table = "wpo-locks" },
}
