-- aws.ec2.vpc_endpoint: a VPC endpoint — a Gateway endpoint (S3, DynamoDB),
-- which adds a route to the service's prefix list in each of its route tables,
-- or an Interface endpoint, which puts an interface in each of its subnets.
--
--   vpc_id               required; replaces
--   service_name         required, e.g. "com.amazonaws.eu-west-1.s3"; replaces
--   vpc_endpoint_type    "Gateway" (default) or "Interface"; replaces
--   route_table_ids      list (Gateway); in place
--   subnet_ids           list, one per zone (Interface); in place
--   security_group_ids   list (Interface); in place
--   private_dns_enabled  boolean (Interface; AWS's default when absent); in place
--   policy               JSON text (AWS's default, full access, when absent); in place
--   tags
-- Outputs: id, arn, prefix_list_id (Gateway), network_interface_ids, dns_names.
-- Create uses a deterministic ClientToken and waits until it is available;
-- delete waits until it is gone (its routes and interfaces go with it).
local aws = require "wpo.aws"
local cjson = require "cjson.safe"
local common = require "wpo.aws.ec2.common"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"
local value = require "wpo.value"

local GONE = { "InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound" }
local DEAD = { deleting = true, deleted = true, failed = true, rejected = true, expired = true }

local function state_of(e)
  return e and e.State and e.State:lower() or nil
end

local function describe(ctx, id)
  return common.describe_one(ctx, "DescribeVpcEndpoints", "VpcEndpointIds", id, "VpcEndpoints", GONE)
end

local function prefix_list(ctx, service_name)
  local lists = common.client(ctx):call("DescribePrefixLists", { Filters = {
    { Name = "prefix-list-name", Values = { service_name } } } }).PrefixLists or {}
  return lists[1] and lists[1].PrefixListId
end

local function ids_of(list, field)
  local out = {}
  for i, x in ipairs(list or {}) do out[i] = field and x[field] or x end
  return out
end

local function observe(ctx, e, prior)
  prior = prior or {}
  local o = {
    id = e.VpcEndpointId, vpc_id = e.VpcId, service_name = e.ServiceName, vpc_endpoint_type = e.VpcEndpointType,
    route_table_ids = kit.as_set(ids_of(e.RouteTableIds), prior.route_table_ids),
    subnet_ids = kit.as_set(ids_of(e.SubnetIds), prior.subnet_ids),
    security_group_ids = kit.as_set(ids_of(e.Groups, "GroupId"), prior.security_group_ids),
    private_dns_enabled = e.PrivateDnsEnabled, policy = e.PolicyDocument, tags = kit.user_tags(kit.tag_map(e.Tags)),
    network_interface_ids = ids_of(e.NetworkInterfaceIds), dns_names = ids_of(e.DnsEntries, "DnsName"),
    arn = common.arn(ctx, e.OwnerId, "vpc-endpoint/" .. e.VpcEndpointId),
  }
  -- the same policy, as AWS formats it: keep the script's text
  if type(prior.policy) == "string" and o.policy then
    local a, b = cjson.decode(prior.policy), cjson.decode(o.policy)
    if a and b and value.equal(a, b) then o.policy = prior.policy end
  end
  if e.VpcEndpointType == "Gateway" then o.prefix_list_id = prefix_list(ctx, e.ServiceName) end
  return o
end

local function read(ctx, id, prior)
  local e = describe(ctx, id)
  if e and state_of(e) == "deleting" then return resource.deleting(id) end
  if not e or DEAD[state_of(e)] then return nil end
  return observe(ctx, e, prior and prior.inputs)
end

-- what is in `want` and not in `have`, and the reverse
local function difference(have, want)
  local in_have, in_want = {}, {}
  for _, x in ipairs(have or {}) do in_have[x] = true end
  for _, x in ipairs(want or {}) do in_want[x] = true end
  local add, remove = {}, {}
  for _, x in ipairs(want or {}) do if not in_have[x] then add[#add + 1] = x end end
  for _, x in ipairs(have or {}) do if not in_want[x] then remove[#remove + 1] = x end end
  return add, remove
end

local function nonempty(list)
  return (list and #list > 0) and list or nil
end

return resource.define "aws.ec2.vpc_endpoint" {
  description = "a VPC endpoint (Gateway: S3, DynamoDB; or Interface)",
  attributes = {
    vpc_id = { type = "string", required = true, force_new = true },
    service_name = { type = "string", required = true, force_new = true },
    vpc_endpoint_type = { type = "string", default = "Gateway", choices = { "Gateway", "Interface" }, force_new = true },
    route_table_ids = { type = "list", of = "string", computed = true },
    subnet_ids = { type = "list", of = "string", computed = true },
    security_group_ids = { type = "list", of = "string", computed = true },
    private_dns_enabled = { type = "boolean", computed = true },
    policy = { type = "string", computed = true },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "prefix_list_id", "network_interface_ids", "dns_names" },

  found_by = "its wpo:address tag",
  find = common.tagged("DescribeVpcEndpoints", "VpcEndpoints",
    function(_, e) return { id = e.VpcEndpointId, tags = kit.user_tags(kit.tag_map(e.Tags)) } end,
    { { Name = "vpc-endpoint-state", Values = { "pending", "available", "Pending", "Available" } } }),

  create = function(ctx, want, found)
    if want.policy and not cjson.decode(want.policy) then
      ctx:fail("MalformedPolicy", "policy is not valid JSON")
    end
    local id
    if found then
      id = found.id
      common.sync_tags(ctx, id, found.tags, want.tags)
    else
      id = aws.required(common.client(ctx):call("CreateVpcEndpoint", {
        VpcId = want.vpc_id, ServiceName = want.service_name, VpcEndpointType = want.vpc_endpoint_type,
        RouteTableIds = nonempty(want.route_table_ids), SubnetIds = nonempty(want.subnet_ids),
        SecurityGroupIds = nonempty(want.security_group_ids), PrivateDnsEnabled = want.private_dns_enabled,
        PolicyDocument = want.policy, ClientToken = ctx:client_token(),
        TagSpecifications = common.tag_specs("vpc-endpoint", want.tags),
      }), "VpcEndpoint", "VpcEndpointId")
    end
    common.wait(ctx, "to become available", function()
      local e = describe(ctx, id)
      local state = state_of(e) or "not visible yet"
      if DEAD[state] then
        ctx:fail("VpcEndpointFailed", "VPC endpoint %s is %s%s", id, state,
          e.LastError and (": " .. tostring(e.LastError.Message)) or "")
      end
      return state == "available", state
    end, common.TIMING.endpoint)
    return read(ctx, id, { inputs = want })
  end,

  read = function(ctx, id, prior) return read(ctx, id, prior) end,

  update = function(ctx, id, old, new)
    local e = describe(ctx, id)
    if not e then ctx:fail("InvalidVpcEndpointId.NotFound", "the VPC endpoint %s is gone", id) end
    local now = observe(ctx, e, old)
    local p = { VpcEndpointId = id }
    local any = false
    local function lists(attr, add_member, remove_member)
      if new[attr] == nil then return end
      local add, remove = difference(now[attr], new[attr])
      if #add > 0 then p[add_member] = add; any = true end
      if #remove > 0 then p[remove_member] = remove; any = true end
    end
    lists("route_table_ids", "AddRouteTableIds", "RemoveRouteTableIds")
    lists("subnet_ids", "AddSubnetIds", "RemoveSubnetIds")
    lists("security_group_ids", "AddSecurityGroupIds", "RemoveSecurityGroupIds")
    if new.policy ~= nil and new.policy ~= now.policy then
      if not cjson.decode(new.policy) then ctx:fail("MalformedPolicy", "policy is not valid JSON") end
      p.PolicyDocument = new.policy
      any = true
    end
    if new.private_dns_enabled ~= nil and new.private_dns_enabled ~= now.private_dns_enabled then
      p.PrivateDnsEnabled = new.private_dns_enabled
      any = true
    end
    if any then common.client(ctx):call("ModifyVpcEndpoint", p) end
    common.sync_tags(ctx, id, old.tags, new.tags)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id)
    local now = describe(ctx, id)
    local out
    if now and state_of(now) ~= "deleting" and state_of(now) ~= "deleted" then
      out = common.call_unless(ctx, "DeleteVpcEndpoints", { VpcEndpointIds = { id } }, GONE)
    end
    if out then
      for _, u in ipairs(out.Unsuccessful or {}) do
        local code = u.Error and u.Error.Code
        if code ~= "InvalidVpcEndpoint.NotFound" and code ~= "InvalidVpcEndpointId.NotFound" then
          ctx:fail(code or "DeleteFailed", "VPC endpoint %s was not deleted: %s", id,
            tostring(u.Error and u.Error.Message))
        end
      end
    end
    common.wait(ctx, "to be deleted", function()
      local e = describe(ctx, id)
      local state = state_of(e) or "deleted"
      return state == "deleted", state
    end, common.TIMING.endpoint)
  end,

  import = function(ctx, id) return read(ctx, id) end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribePrefixLists", "ec2:DescribeVpcEndpoints" },
    create = { "ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint" },
    update = { "ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint" },
    delete = { "ec2:DeleteVpcEndpoints" },
  },
}
