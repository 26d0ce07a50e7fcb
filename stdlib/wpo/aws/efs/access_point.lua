-- aws.efs.access_point: an entry into an EFS file system that enforces a
-- POSIX identity and a root directory (for WordPress: uid/gid 33, www-data in
-- the official image, rooted at /wordpress, created 0755 when missing).
--
--   file_system_id  required, replaces
--   posix_user      { uid, gid, secondary_gids = {...} } replaces
--   root_directory  { path = "/...", creation_info = { owner_uid, owner_gid,
--                   permissions = "0755" } } replaces
--   tags            in place (TagResource / UntagResource)
-- The ClientToken is derived from the state's lineage, the address and the
-- generation; a create first adopts an access point of the file system that
-- carries this resource's wpo:address tag.
-- Outputs: id (fsap-...), arn.
local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local efs = require "wpo.aws.efs.common"
local resource = require "wpo.resource"
local value = require "wpo.value"

local function live(ctx, id)
  local ap = efs.access_point(ctx, id)
  if ap and (ap.LifeCycleState == "deleting" or ap.LifeCycleState == "deleted") then return nil end
  return ap
end

local function posix_user(ap)
  local u = ap.PosixUser
  if not u then return nil end
  local out = { uid = u.Uid, gid = u.Gid }
  if u.SecondaryGids and #u.SecondaryGids > 0 then out.secondary_gids = u.SecondaryGids end
  return out
end

local function root_directory(ap)
  local r = ap.RootDirectory or {}
  local out = { path = r.Path or "/" }
  if r.CreationInfo then
    out.creation_info = { owner_uid = r.CreationInfo.OwnerUid, owner_gid = r.CreationInfo.OwnerGid,
      permissions = r.CreationInfo.Permissions }
  end
  return out
end

-- the script's form when it says the same thing (an empty secondary_gids,
-- a path given as "/")
local function same(observed, prior, normalize)
  if prior ~= nil and value.equal(normalize(prior), observed) then return prior end
  return observed
end

local function norm_user(u)
  if not u then return nil end
  local out = { uid = u.uid, gid = u.gid }
  if u.secondary_gids and #u.secondary_gids > 0 then out.secondary_gids = u.secondary_gids end
  return out
end

local function norm_root(r)
  local out = { path = (r and r.path) or "/" }
  if r and r.creation_info then out.creation_info = r.creation_info end
  return out
end

local function observed(ap, prior_inputs)
  prior_inputs = prior_inputs or {}
  return {
    id = ap.AccessPointId,
    arn = ap.AccessPointArn,
    file_system_id = ap.FileSystemId,
    posix_user = same(posix_user(ap), prior_inputs.posix_user, norm_user),
    root_directory = same(root_directory(ap), prior_inputs.root_directory, norm_root),
    tags = kit.tag_map(ap.Tags),
  }
end

return resource.define "aws.efs.access_point" {
  description = "EFS access point",
  attributes = {
    file_system_id = { type = "string", required = true, force_new = true },
    posix_user = { type = "object", force_new = true, fields = {
      uid = { type = "integer", required = true },
      gid = { type = "integer", required = true },
      secondary_gids = { type = "list", of = "integer" },
    } },
    root_directory = { type = "object", force_new = true, fields = {
      path = { type = "string" },
      creation_info = { type = "object", fields = {
        owner_uid = { type = "integer", required = true },
        owner_gid = { type = "integer", required = true },
        permissions = { type = "string", required = true },
      } },
    } },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn" },

  found_by = "its wpo:address tag (made with a client token)",
  find = function(ctx, want)
    local list = {}
    for page in efs.client(ctx):paginate("DescribeAccessPoints", { FileSystemId = want.file_system_id }) do
      for _, ap in ipairs(page.AccessPoints or {}) do
        local tags = kit.tag_map(ap.Tags)
        if tags[resource.TAG_ADDRESS] == ctx.address and ap.LifeCycleState ~= "deleting" then
          list[#list + 1] = { id = ap.AccessPointId, tags = tags }
        end
      end
    end
    return list
  end,

  create = function(ctx, want, found)
    local root = want.root_directory or {}
    if root.path and (root.path:sub(1, 1) ~= "/" or #root.path > 100) then
      ctx:fail("InvalidParameter", "root_directory.path '%s' must be absolute and at most 100 characters", root.path)
    end
    if root.creation_info and not root.creation_info.permissions:match("^[0-7][0-7][0-7][0-7]?$") then
      ctx:fail("InvalidParameter", "root_directory.creation_info.permissions '%s' is not an octal mode like \"0755\"",
        root.creation_info.permissions)
    end
    local client = efs.client(ctx)
    local id = found and found.id
    if not id then
      local params = { ClientToken = ctx:client_token(), FileSystemId = want.file_system_id,
        Tags = kit.tag_list(want.tags) }
      if want.posix_user then
        params.PosixUser = { Uid = want.posix_user.uid, Gid = want.posix_user.gid,
          SecondaryGids = want.posix_user.secondary_gids }
      end
      if want.root_directory then
        params.RootDirectory = { Path = root.path }
        local ci = root.creation_info
        if ci then
          params.RootDirectory.CreationInfo = { OwnerUid = ci.owner_uid, OwnerGid = ci.owner_gid,
            Permissions = ci.permissions }
        end
      end
      id = aws.required(client:call("CreateAccessPoint", params), "AccessPointId")
    end
    return observed(efs.available(ctx, "access point", id, live), want)
  end,

  read = function(ctx, id, prior)
    local now = efs.access_point(ctx, id)
    if now and now.LifeCycleState == "deleting" then return resource.deleting(id) end
    local ap = live(ctx, id)
    return ap and observed(ap, prior and prior.inputs)
  end,

  update = function(ctx, id, old, new)
    efs.update_tags(ctx, id, old.tags, new.tags)
    local ap = live(ctx, id)
    if not ap then ctx:fail("NotFound", "access point %s disappeared", id) end
    return observed(ap, new)
  end,

  delete = function(ctx, id)
    local ap = efs.access_point(ctx, id)
    if not ap then return end
    if ap.LifeCycleState ~= "deleting" then
      local done, err = efs.client(ctx):pcall("DeleteAccessPoint", { AccessPointId = id })
      if not done then
        if kit.is_code(err, "AccessPointNotFound") then return end
        error(err, 0)
      end
    end
    efs.gone(ctx, "access point", id, efs.access_point)
  end,

  import = function(ctx, id)
    local ap = live(ctx, id)
    return ap and observed(ap, nil)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticfilesystem:DescribeAccessPoints" },
    create = { "elasticfilesystem:CreateAccessPoint", "elasticfilesystem:TagResource" },
    update = { "elasticfilesystem:CreateAccessPoint", "elasticfilesystem:TagResource" },
    delete = { "elasticfilesystem:DeleteAccessPoint" },
  },
}
