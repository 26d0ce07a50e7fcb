-- aws.efs.mount_target: where an EFS file system is reachable in one subnet
-- (one mount target per availability zone).
--
-- Replaces: file_system_id, subnet_id, ip_address (chosen by EFS when unset).
-- In place: security_groups (ModifyMountTargetSecurityGroups; the VPC's
-- default group when unset). Mount targets carry no tags: a create first looks
-- for the file system's mount target in this subnet (there can be only one
-- per zone) and adopts it.
-- Delete waits until the mount target is gone, so the file system, subnet and
-- security groups after it can go.
-- Outputs: id (fsmt-...), ip_address, network_interface_id, availability_zone_name,
-- dns_name (the zone's own name of the file system).
local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local efs = require "wpo.aws.efs.common"
local resource = require "wpo.resource"
local value = require "wpo.value"

local function live(ctx, id)
  local mt = efs.mount_target(ctx, id)
  if mt and (mt.LifeCycleState == "deleting" or mt.LifeCycleState == "deleted") then return nil end
  return mt
end

local function groups(ctx, id)
  return efs.client(ctx):call("DescribeMountTargetSecurityGroups", { MountTargetId = id }).SecurityGroups or {}
end

local ATTRIBUTES = {
  file_system_id = { type = "string", required = true, force_new = true },
  subnet_id = { type = "string", required = true, force_new = true },
  security_groups = { type = "list", of = "string", computed = true },
  ip_address = { type = "string", computed = true, force_new = true },
}

local function observed(ctx, mt, prior_inputs)
  return {
    id = mt.MountTargetId,
    ip_address = mt.IpAddress,
    network_interface_id = mt.NetworkInterfaceId,
    availability_zone_name = mt.AvailabilityZoneName,
    dns_name = string.format("%s.%s.efs.%s.amazonaws.com", mt.AvailabilityZoneName, mt.FileSystemId, ctx.region),
    file_system_id = mt.FileSystemId,
    subnet_id = mt.SubnetId,
    security_groups = kit.as_prior_order(groups(ctx, mt.MountTargetId),
      prior_inputs and prior_inputs.security_groups),
  }
end

return resource.define "aws.efs.mount_target" {
  description = "EFS mount target",
  attributes = ATTRIBUTES,
  outputs = { "id", "ip_address", "network_interface_id", "availability_zone_name", "dns_name" },

  -- a file system has one mount target per zone: the one in this subnet
  found_by = "its file system and subnet",
  find = function(ctx, want)
    for page in efs.client(ctx):paginate("DescribeMountTargets", { FileSystemId = want.file_system_id }) do
      for _, mt in ipairs(page.MountTargets or {}) do
        if mt.SubnetId == want.subnet_id and mt.LifeCycleState ~= "deleting" then
          return { { id = mt.MountTargetId, mount_target = mt } }
        end
      end
    end
    return {}
  end,

  create = function(ctx, want, found)
    local client = efs.client(ctx)
    found = found and found.mount_target
    if not found then
      local out = client:call("CreateMountTarget", { FileSystemId = want.file_system_id, SubnetId = want.subnet_id,
        SecurityGroups = want.security_groups, IpAddress = want.ip_address })
      found = { MountTargetId = aws.required(out, "MountTargetId") }
    end
    local mt = efs.available(ctx, "mount target", found.MountTargetId, live)
    local o = observed(ctx, mt, want)
    if want.security_groups and not value.equal(o.security_groups, want.security_groups) then
      client:call("ModifyMountTargetSecurityGroups", { MountTargetId = mt.MountTargetId,
        SecurityGroups = want.security_groups })
      o.security_groups = want.security_groups
    end
    return o
  end,

  read = function(ctx, id, prior)
    local now = efs.mount_target(ctx, id)
    if now and now.LifeCycleState == "deleting" then return resource.deleting(id) end
    local mt = live(ctx, id)
    return mt and kit.unset_computed(ATTRIBUTES, observed(ctx, mt, prior and prior.inputs), prior)
  end,

  update = function(ctx, id, _, new, changed)
    for _, name in ipairs(changed) do
      if name == "security_groups" and new.security_groups then
        efs.available(ctx, "mount target", id, live)
        efs.client(ctx):call("ModifyMountTargetSecurityGroups", { MountTargetId = id,
          SecurityGroups = new.security_groups })
      end
    end
    local mt = efs.available(ctx, "mount target", id, live)
    return observed(ctx, mt, new)
  end,

  delete = function(ctx, id)
    local mt = efs.mount_target(ctx, id)
    if not mt then return end
    if mt.LifeCycleState ~= "deleting" then
      local done, err = efs.client(ctx):pcall("DeleteMountTarget", { MountTargetId = id })
      if not done then
        if kit.is_code(err, "MountTargetNotFound") then return end
        error(err, 0)
      end
    end
    efs.gone(ctx, "mount target", id, efs.mount_target)
  end,

  import = function(ctx, id)
    local mt = live(ctx, id)
    return mt and observed(ctx, mt, nil)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticfilesystem:DescribeMountTargetSecurityGroups", "elasticfilesystem:DescribeMountTargets" },
    create = { "elasticfilesystem:CreateMountTarget", "elasticfilesystem:ModifyMountTargetSecurityGroups",
      "elasticfilesystem:TagResource" },
    update = { "elasticfilesystem:CreateMountTarget", "elasticfilesystem:ModifyMountTargetSecurityGroups",
      "elasticfilesystem:TagResource" },
    delete = { "elasticfilesystem:DeleteMountTarget" },
  },
}
