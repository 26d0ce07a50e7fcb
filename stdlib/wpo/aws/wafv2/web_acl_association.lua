-- aws.wafv2.web_acl_association: a REGIONAL web ACL (aws.wafv2.web_acl)
-- protecting an application load balancer.
--
-- Attributes:
--   resource_arn   the load balancer's ARN; force_new
--   web_acl_arn    the web ACL's ARN; force_new
-- Outputs: id (= resource_arn: a resource has at most one web ACL; import
-- takes it).
--
-- A CloudFront distribution takes its web ACL in its own web_acl_id, not
-- through this type. Right after a load balancer is made, AWS WAF does not
-- know it yet (WAFUnavailableEntityException): the calls are sent again until
-- it does (typekit.LATE.waf_entity, up to 5 minutes). Create adopts an
-- association already in place with this web ACL; a resource held by another
-- web ACL is refused. Delete: a resource already without one, or gone, is
-- fine.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"

local function client(ctx) return ctx:aws("wafv2") end

-- the ARN of the web ACL associated with the resource; false when none; nil when the resource is gone
local function current(ctx, resource_arn)
  local out, err = kit.try(client(ctx), "GetWebACLForResource", { ResourceArn = resource_arn })
  if not out then
    if kit.is_code(err, "WAFNonexistentItemException") then return nil end
    error(err, 0)
  end
  return out.WebACL and out.WebACL.ARN or false
end

local function read(ctx, id)
  local acl = current(ctx, id)
  if not acl then return nil end
  return { id = id, resource_arn = id, web_acl_arn = acl }
end

return resource.define "aws.wafv2.web_acl_association" {
  description = "a REGIONAL AWS WAF web ACL protecting an application load balancer",
  attributes = {
    resource_arn = { type = "string", required = true, force_new = true },
    web_acl_arn = { type = "string", required = true, force_new = true },
  },
  outputs = { "id" },

  found_by = "the web ACL its load balancer already has",
  find = function(ctx, want)
    local acl = current(ctx, want.resource_arn)
    if acl == want.web_acl_arn then
      return { { id = want.resource_arn, resource_arn = want.resource_arn, web_acl_arn = acl } }
    end
    return {}
  end,

  create = function(ctx, want, found)
    if found then return read(ctx, want.resource_arn) end
    local acl = current(ctx, want.resource_arn)
    if acl == nil then
      kit.fail(ctx, "NotFound", "the load balancer %s does not exist", want.resource_arn)
    elseif acl and acl ~= want.web_acl_arn then
      kit.fail(ctx, "AlreadyExists", "the load balancer %s is already protected by the web ACL %s: remove that "
        .. "association first (or import it)", want.resource_arn, acl)
    end
    local _, err = kit.try(client(ctx), "AssociateWebACL", { WebACLArn = want.web_acl_arn,
      ResourceArn = want.resource_arn })
    if err then
      if kit.is_code(err, "WAFNonexistentItemException") then
        kit.fail(ctx, "NotFound", "the web ACL %s or the load balancer %s does not exist (a web ACL must be "
          .. "REGIONAL and in the load balancer's region)", want.web_acl_arn, want.resource_arn)
      end
      error(err, 0)
    end
    local observed = read(ctx, want.resource_arn)
    if not observed then
      kit.fail(ctx, "NotFound", "the association of %s cannot be read back", want.resource_arn)
    end
    return observed
  end,

  read = read,
  import = function(ctx, id) return read(ctx, id) end,

  delete = function(ctx, id, prior)
    local acl = current(ctx, id)
    if not acl then return end
    local want = prior and prior.inputs and prior.inputs.web_acl_arn
    if want and acl ~= want then return end   -- another web ACL's now: not this resource's to take away
    local _, err = kit.try(client(ctx), "DisassociateWebACL", { ResourceArn = id })
    if err and not kit.is_code(err, "WAFNonexistentItemException") then error(err, 0) end
  end,

  late = kit.late { "waf_entity", timeout = 300 },

  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`); associating
  -- with a load balancer also needs elasticloadbalancing:SetWebACL
  iam = {
    read = { "wafv2:GetWebACLForResource" },
    create = { "elasticloadbalancing:SetWebAcl", "wafv2:AssociateWebACL", "wafv2:GetWebACLForResource" },
    delete = { "elasticloadbalancing:SetWebAcl", "wafv2:DisassociateWebACL", "wafv2:GetWebACLForResource" },
  },
}
