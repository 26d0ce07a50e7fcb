-- wpo.aws.route53.common: the names Route 53 types share.
--
--   common.fqdn(name) -> the name in lower case with its final dot, and a
--        "*" where Route 53 answers the escape "\052" ("*.Example.com" and
--        "\052.example.com." -> "*.example.com.")
--   common.zone_id(id) -> a hosted zone id without the "/hostedzone/"
--        prefix Route 53 answers some of them with
local M = {}

function M.fqdn(name)
  name = tostring(name):lower():gsub("\\052", "*")
  return name:sub(-1) == "." and name or name .. "."
end

function M.zone_id(id)
  return (tostring(id):gsub("^/hostedzone/", ""))
end

return M
