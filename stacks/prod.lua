-- Production: three AZs, a NAT gateway per AZ, Aurora MySQL with a writer and
-- 1-4 autoscaled readers, Redis on two nodes, deletion protection on the data;
-- CloudFront and a web application firewall in front, uploads on S3, daily
-- backups copied to a second region.
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
  -- example.com's public zone exists already: it is looked up, never destroyed.
  -- Certificates (eu-west-1 for the ALB, us-east-1 for CloudFront) are made and
  -- validated by DNS in it; www and the apex point at CloudFront.
  site     = { domain = "www.example.com", aliases = { "example.com" }, zone = "example.com",
               cdn = true, waf = true },
  media    = { bucket = true },
  backup   = { daily = "03:00", retention_days = 35, copy_to_region = "eu-central-1" },
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
