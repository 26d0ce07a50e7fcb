-- aws.cloudfront.origin_access_control: a CloudFront origin access control
-- (OAC): CloudFront signs its requests to the origin (an S3 bucket whose
-- policy lets the distribution read) with SigV4.
--
-- Attributes:
--   name              force_new (CloudFront keeps it unique in the account)
--   description
--   origin_type       "s3" (default) | "mediastore" | "lambda" | "mediapackagev2"
--   signing_behavior  "always" (default) | "never" | "no-override"
--   signing_protocol  "sigv4" (default)
-- Outputs: id.
--
-- An OAC has no tags: create finds the one a lost answer made by its name,
-- holding the wanted settings (one of that name with other settings is
-- someone else's: AlreadyExists). Update and delete send the ETag of what
-- they read (If-Match); one changed meanwhile is read again once. Delete: one
-- already gone is fine; one a distribution still uses is an error saying so.
local resource = require "wpo.resource"
local common = require "wpo.aws.cloudfront.common"

local SETTINGS = { "description", "origin_type", "signing_behavior", "signing_protocol" }

local function config_of(want)
  return { Name = want.name, Description = want.description or "", SigningProtocol = want.signing_protocol,
    SigningBehavior = want.signing_behavior, OriginAccessControlOriginType = want.origin_type }
end

local function observe(id, c, prior)
  local inputs = prior and prior.inputs or {}
  local out = { id = id, name = c.Name, origin_type = c.OriginAccessControlOriginType,
    signing_behavior = c.SigningBehavior, signing_protocol = c.SigningProtocol }
  if c.Description ~= nil and c.Description ~= "" then out.description = c.Description
  elseif inputs.description ~= nil then out.description = "" end
  return out
end

local get = common.getter("GetOriginAccessControl", "NoSuchOriginAccessControl")

local function read(ctx, id, prior)
  local got = get(ctx, id)
  if not got then return nil end
  local oac = got.OriginAccessControl or {}
  return observe(oac.Id or id, oac.OriginAccessControlConfig or {}, prior)
end

return resource.define "aws.cloudfront.origin_access_control" {
  description = "a CloudFront origin access control (CloudFront signs its requests to an S3 origin)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string" },
    origin_type = { type = "string", default = "s3", choices = { "s3", "mediastore", "lambda", "mediapackagev2" } },
    signing_behavior = { type = "string", default = "always", choices = { "always", "never", "no-override" } },
    signing_protocol = { type = "string", default = "sigv4", choices = { "sigv4" } },
  },
  outputs = { "id" },

  found_by = "its name (holding the wanted settings)",
  find = function(ctx, want)
    for o in common.each(ctx, "ListOriginAccessControls", "OriginAccessControlList") do
      if o.Name == want.name then
        local current = observe(o.Id, o, { inputs = want })
        for _, k in ipairs(SETTINGS) do
          if (current[k] or "") ~= (want[k] or "") then
            ctx:fail("AlreadyExists", "an origin access control named %s already exists (%s) with other settings: "
              .. "import it with 'wpo import', or choose another name", want.name, o.Id)
          end
        end
        return { current }
      end
    end
    return {}
  end,

  create = function(ctx, want, found)
    if found then return read(ctx, found.id, { inputs = want }) end
    local out = common.client(ctx):call("CreateOriginAccessControl", { OriginAccessControlConfig = config_of(want) })
    local oac = out.OriginAccessControl or {}
    return observe(oac.Id, oac.OriginAccessControlConfig or {}, { inputs = want })
  end,

  read = read,

  update = function(ctx, id, _, new)
    local cf = common.client(ctx)
    common.with_etag(ctx, function()
      local got = get(ctx, id)
      if not got then ctx:fail("NotFound", "the origin access control %s (%s) no longer exists", new.name, id) end
      return got.ETag
    end, function(etag)
      return cf:call("UpdateOriginAccessControl", { Id = id, IfMatch = etag, OriginAccessControlConfig = config_of(new) })
    end)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id)
    common.delete(ctx, id, get, "DeleteOriginAccessControl", "NoSuchOriginAccessControl", "OriginAccessControlInUse",
      "the origin access control %s is still used by a distribution's origin: change or delete that distribution first")
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "cloudfront:GetOriginAccessControl", "cloudfront:ListOriginAccessControls" },
    create = { "cloudfront:CreateOriginAccessControl" },
    update = { "cloudfront:UpdateOriginAccessControl" },
    delete = { "cloudfront:DeleteOriginAccessControl" },
  },
}
