-- wpo.aws.endpoints: where a service's requests go and how they are signed.
--
-- endpoints.resolve(service, meta, region, opts) -> {
--   url            base URL, no trailing slash ("https://ec2.eu-west-1.amazonaws.com")
--   signing_region the region in the credential scope
--   signing_name   the service name in the credential scope
--   custom         true when the URL came from an override
--   source         where it came from, for logs ("AWS_ENDPOINT_URL_EC2", "default"...)
-- }
-- Precedence, as the AWS SDKs: opts.endpoint (a URL, or a table of
-- service -> URL: the stack's override), AWS_ENDPOINT_URL_<SERVICE_ID>
-- (upper-cased, spaces to underscores), AWS_ENDPOINT_URL, then the regional
-- endpoint. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true ignores the two
-- environment variables. IAM, Route 53 and CloudFront are global: one endpoint per
-- partition, signed for its home region (us-east-1 in the aws partition).
local errors = require "wpo.errors"

local M = {}

local function partition(region)
  if region:match("^cn%-") then return "aws-cn", "amazonaws.com.cn" end
  if region:match("^us%-gov%-") then return "aws-us-gov", "amazonaws.com" end
  return "aws", "amazonaws.com"
end

-- Global services: partition -> { host, signing region }
local GLOBAL = {
  iam = {
    ["aws"] = { "iam.amazonaws.com", "us-east-1" },
    ["aws-cn"] = { "iam.cn-north-1.amazonaws.com.cn", "cn-north-1" },
    ["aws-us-gov"] = { "iam.us-gov.amazonaws.com", "us-gov-west-1" },
  },
  route53 = {
    ["aws"] = { "route53.amazonaws.com", "us-east-1" },
    ["aws-cn"] = { "route53.amazonaws.com.cn", "cn-northwest-1" },
    ["aws-us-gov"] = { "route53.us-gov.amazonaws.com", "us-gov-west-1" },
  },
  cloudfront = {
    ["aws"] = { "cloudfront.amazonaws.com", "us-east-1" },
    ["aws-cn"] = { "cloudfront.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1" },
  },
}
M.GLOBAL = GLOBAL

-- endpoints.env_name(service_id) -> "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"
function M.env_name(service_id)
  return "AWS_ENDPOINT_URL_" .. service_id:upper():gsub("[ %-]", "_")
end

local function check_url(url, source)
  local scheme, rest = url:match("^(https?)://([^/?#]+)")
  if not scheme or rest == "" then
    errors.raise { code = "InvalidEndpoint",
      message = string.format("%s: '%s' is not an http(s) URL", source, url) }
  end
  return (url:gsub("/+$", ""))
end

function M.resolve(service, meta, region, opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local signing_name = meta.signing_name or meta.endpoint_prefix
  local part, suffix = partition(region)
  local global = GLOBAL[service] and GLOBAL[service][part]
  local signing_region = global and global[2] or region
  local override = opts.endpoint
  if type(override) == "table" then override = override[service] end
  if override ~= nil then
    if type(override) ~= "string" then
      errors.raise { code = "InvalidEndpoint", message = "endpoint for " .. service .. " must be a URL string" }
    end
    return { url = check_url(override, "endpoint"), signing_region = signing_region,
      signing_name = signing_name, custom = true, source = "stack endpoint override" }
  end
  if (getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or ""):lower() ~= "true" then
    local name = M.env_name(meta.service_id)
    for _, var in ipairs({ name, "AWS_ENDPOINT_URL" }) do
      local v = getenv(var)
      if v and v ~= "" then
        return { url = check_url(v, var), signing_region = signing_region,
          signing_name = signing_name, custom = true, source = var }
      end
    end
  end
  if (getenv("AWS_USE_FIPS_ENDPOINT") or ""):lower() == "true"
      or (getenv("AWS_USE_DUALSTACK_ENDPOINT") or ""):lower() == "true" then
    errors.raise { code = "NotImplemented",
      message = "FIPS and dual-stack endpoints are not supported; set AWS_ENDPOINT_URL_"
        .. meta.service_id:upper():gsub("[ %-]", "_") .. " to the endpoint instead" }
  end
  local host
  if global then
    host = global[1]
  else
    host = meta.endpoint_prefix .. "." .. region .. "." .. suffix
  end
  return { url = "https://" .. host, signing_region = signing_region, signing_name = signing_name,
    custom = false, source = "default" }
end

return M
