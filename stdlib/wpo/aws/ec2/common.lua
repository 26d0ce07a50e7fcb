-- wpo.aws.ec2.common: what the EC2 resource types (aws.ec2.*) share — tags,
-- adopting an object left by a crash, waiting for states, deleting through
-- DependencyViolation. Not a resource type; tags, error codes and list
-- order are typekit's (wpo.aws.typekit).
--
--   common.client(ctx) -> the EC2 client for the resource's region
--   common.arn(ctx, owner, "vpc/vpc-0a1b") -> the object's ARN
--   common.tag_specs(resource_type, map) -> TagSpecifications (nil when no tags)
--   common.sync_tags(ctx, id, old_map, new_map)   DeleteTags / CreateTags the difference
--   common.find_tagged(ctx, op, list_key, extra_filters?, filters_member?)
--        -> the objects of a Describe* carrying this resource's wpo:address tag
--   common.tagged(op, list_key, observe, extra_filters?, filters_member?)
--        -> a type's find: those objects, each through observe(ctx, object)
--   common.call_unless(ctx, op, params, codes) -> result | nil, err for those codes
--   common.describe_one(ctx, op, ids_member, id, list_key, gone_codes) -> object | nil
--   common.wait(ctx, what, check, timing) -> typekit.wait with EC2's timings;
--        timing = { timeout, interval, backoff, max_interval } (seconds)
--   common.delete_retrying(ctx, what, fn, opts) -> calls fn() until it does not
--        raise one of opts.retry (default DependencyViolation); gone codes
--        (opts.gone) mean done; opts.blockers() -> text naming what still
--        holds the object (for progress and the timeout error); opts.timing
--   common.interfaces(ctx, "subnet-id" | "group-id", id) -> text naming the
--        network interfaces that still hold a subnet or a group | nil
--   common.TIMING: the waits each type uses (botocore's waiters and
--        Terraform's defaults as the reference)
local errors = require "wpo.errors"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local M = {}

-- seconds; interval grows by backoff up to max_interval (the botocore
-- waiter's delay): the second look typekit.FIRST_POLL after the first
M.TIMING = {
  available = { timeout = 600, interval = 1, backoff = 2, max_interval = 15 },   -- VpcAvailable: 15 s x 40
  nat = { timeout = 900, interval = 1, backoff = 2, max_interval = 15 },         -- NatGatewayAvailable/Deleted
  endpoint = { timeout = 600, interval = 1, backoff = 2, max_interval = 15 },
  dependency = { timeout = 1200, interval = 1, backoff = 2, max_interval = 30 }, -- subnet/SG delete: 20 min
  vpc_delete = { timeout = 600, interval = 1, backoff = 2, max_interval = 30 },
  address = { timeout = 600, interval = 1, backoff = 2, max_interval = 30 },   -- EIP release after its NAT
}

function M.client(ctx)
  return ctx:aws("ec2")
end

-- common.arn(ctx, owner, "vpc/vpc-0a1b") -> "arn:aws:ec2:<region>:<owner>:vpc/vpc-0a1b"
function M.arn(ctx, owner, resource_path)
  local region = M.client(ctx).region
  local partition = region:match("^cn%-") and "aws-cn" or region:match("^us%-gov%-") and "aws-us-gov" or "aws"
  return string.format("arn:%s:ec2:%s:%s:%s", partition, region, owner or "", resource_path)
end

-- ---- errors ----

-- common.call_unless(ctx, op, params, codes) -> result | nil, err when AWS
-- answered one of the codes (e.g. "already gone"); other errors are raised.
function M.call_unless(ctx, op, params, codes)
  local out, err = M.client(ctx):pcall(op, params)
  if out then return out end
  for _, c in ipairs(codes) do
    if kit.code(err) == c then return nil, err end
  end
  error(err, 0)
end

-- ---- tags ----

function M.tag_specs(resource_type, map)
  if not map or next(map) == nil then return nil end
  return { { ResourceType = resource_type, Tags = kit.tag_list(map) } }
end

function M.sync_tags(ctx, id, old, new)
  local set, remove = kit.tag_changes(old, new)
  local ec2 = M.client(ctx)
  if #remove > 0 then
    local gone = {}
    for i, k in ipairs(remove) do gone[i] = { Key = k } end
    ec2:call("DeleteTags", { Resources = { id }, Tags = gone })
  end
  if next(set) then
    ec2:call("CreateTags", { Resources = { id }, Tags = kit.tag_list(set) })
  end
end

function M.find_tagged(ctx, op, list_key, extra, filters_member)
  local filters = { { Name = "tag:" .. resource.TAG_ADDRESS, Values = { ctx.address } } }
  for _, f in ipairs(extra or {}) do filters[#filters + 1] = f end
  local out = {}
  for page in M.client(ctx):paginate(op, { [filters_member or "Filters"] = filters }) do
    for _, obj in ipairs(page[list_key] or {}) do out[#out + 1] = obj end
  end
  return out
end

function M.tagged(op, list_key, observe, extra, filters_member)
  return function(ctx)
    local out = {}
    for _, obj in ipairs(M.find_tagged(ctx, op, list_key, extra, filters_member)) do out[#out + 1] = observe(ctx, obj) end
    return out
  end
end

-- ---- reading one object ----

function M.describe_one(ctx, op, ids_member, id, list_key, gone_codes)
  local out, err = M.client(ctx):pcall(op, { [ids_member] = { id } })
  if not out then
    for _, code in ipairs(gone_codes) do
      if kit.code(err) == code then return nil end
    end
    error(err, 0)
  end
  return (out[list_key] or {})[1]
end

-- ---- waiting ----

local function noun(ctx)
  return ctx.address or "the resource"
end

function M.wait(ctx, what, check, timing)
  timing = timing or M.TIMING.available
  return kit.wait(ctx, check, { what = noun(ctx) .. " " .. what, prefix = false, timeout = timing.timeout,
    interval = timing.interval, first = math.min(kit.FIRST_POLL, timing.interval), backoff = timing.backoff,
    max_interval = timing.max_interval })
end

function M.delete_retrying(ctx, what, fn, opts)
  opts = opts or {}
  local retry = opts.retry or { "DependencyViolation" }
  local gone = opts.gone or {}
  local function listed(err, codes)
    for _, c in ipairs(codes) do if kit.code(err) == c then return true end end
    return false
  end
  local last_err
  local ok, werr = pcall(M.wait, ctx, what, function()
    local pok, err = pcall(fn)
    if pok or listed(err, gone) then return true end
    if not listed(err, retry) then error(err, 0) end
    last_err = err
    local held = opts.blockers and opts.blockers()
    return false, held or (kit.code(err) .. ": " .. tostring(err.message))
  end, opts.timing or M.TIMING.dependency)
  if ok then return end
  if errors.is(werr) and werr.code == "WaitTimeout" then
    errors.raise { code = "DeleteTimeout", address = ctx.address, where = ctx.where,
      message = werr.message .. (last_err and (" — AWS still answers " .. kit.code(last_err) .. ": "
        .. tostring(last_err.message)) or "") }
  end
  error(werr, 0)
end

-- common.interfaces(ctx, filter, id) -> "network interfaces still there: eni-1
-- (EFS mount target ...), ..." | nil: what still holds a subnet ("subnet-id")
-- or a security group ("group-id").
function M.interfaces(ctx, filter, id)
  local names = {}
  for page in M.client(ctx):paginate("DescribeNetworkInterfaces", { Filters = { { Name = filter, Values = { id } } } }) do
    for _, eni in ipairs(page.NetworkInterfaces or {}) do
      local d = eni.Description
      names[#names + 1] = eni.NetworkInterfaceId .. ((d and d ~= "") and (" (" .. d .. ")") or "")
    end
  end
  if #names == 0 then return nil end
  return "network interfaces still there: " .. table.concat(names, ", ")
end

return M
