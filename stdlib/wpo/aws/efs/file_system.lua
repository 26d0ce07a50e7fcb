-- aws.efs.file_system: an EFS file system (WordPress's wp-content).
--
-- Replaces: encrypted, kms_key_id, performance_mode, availability_zone_name
-- (One Zone storage). In place: throughput_mode and
-- provisioned_throughput_in_mibps (UpdateFileSystem), transition_to_ia and
-- transition_to_primary_storage_class (PutLifecycleConfiguration; "NONE"
-- turns a rule off), tags. Production-safe defaults: encrypted, elastic
-- throughput (no burst credits to run out of), files not read for 30 days
-- move to Infrequent Access and come back on their first access.
--
-- The CreationToken (EFS's idempotency key) is derived from the state's
-- lineage, the address and the generation: a create retried after a crash
-- finds the file system it made instead of making a second one.
-- Outputs: id (fs-...), arn, dns_name.
local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local efs = require "wpo.aws.efs.common"
local resource = require "wpo.resource"

local function describe_token(ctx, token)
  local out = efs.client(ctx):call("DescribeFileSystems", { CreationToken = token })
  return out.FileSystems and out.FileSystems[1]
end

local function live(ctx, id)
  local fs = efs.file_system(ctx, id)
  if fs and (fs.LifeCycleState == "deleting" or fs.LifeCycleState == "deleted") then return nil end
  return fs
end

local function lifecycle(ctx, id)
  local out = efs.client(ctx):call("DescribeLifecycleConfiguration", { FileSystemId = id })
  local ia, back = "NONE", "NONE"
  for _, p in ipairs(out.LifecyclePolicies or {}) do
    if p.TransitionToIA then ia = p.TransitionToIA end
    if p.TransitionToPrimaryStorageClass then back = p.TransitionToPrimaryStorageClass end
  end
  return ia, back
end

local function policies(want)
  local out = {}
  if want.transition_to_ia ~= "NONE" then out[#out + 1] = { TransitionToIA = want.transition_to_ia } end
  if want.transition_to_primary_storage_class ~= "NONE" then
    out[#out + 1] = { TransitionToPrimaryStorageClass = want.transition_to_primary_storage_class }
  end
  return out
end

local function observed(ctx, fs, prior_inputs)
  prior_inputs = prior_inputs or {}
  local ia, back = lifecycle(ctx, fs.FileSystemId)
  local kms = fs.KmsKeyId
  local given = prior_inputs.kms_key_id
  if kms and given and (kms:sub(-#given) == given or given:match("alias/")) then kms = given end
  return {
    id = fs.FileSystemId,
    arn = fs.FileSystemArn,
    dns_name = string.format("%s.efs.%s.amazonaws.com", fs.FileSystemId, ctx.region),
    encrypted = fs.Encrypted,
    kms_key_id = prior_inputs.kms_key_id ~= nil and kms or nil,
    performance_mode = fs.PerformanceMode,
    throughput_mode = fs.ThroughputMode,
    provisioned_throughput_in_mibps = fs.ProvisionedThroughputInMibps,
    availability_zone_name = fs.AvailabilityZoneName,
    transition_to_ia = ia,
    transition_to_primary_storage_class = back,
    tags = kit.tag_map(fs.Tags),
  }
end

local function check(ctx, want)
  if want.kms_key_id and not want.encrypted then
    ctx:fail("InvalidParameter", "kms_key_id is given but encrypted is false")
  end
  if (want.throughput_mode == "provisioned") ~= (want.provisioned_throughput_in_mibps ~= nil) then
    ctx:fail("InvalidParameter", "provisioned_throughput_in_mibps goes with throughput_mode = \"provisioned\" (and "
      .. "only with it)")
  end
end

return resource.define "aws.efs.file_system" {
  description = "EFS file system",
  attributes = {
    encrypted = { type = "boolean", default = true, force_new = true },
    kms_key_id = { type = "string", force_new = true },
    performance_mode = { type = "string", default = "generalPurpose", force_new = true,
      choices = { "generalPurpose", "maxIO" } },
    throughput_mode = { type = "string", default = "elastic", choices = { "bursting", "provisioned", "elastic" } },
    provisioned_throughput_in_mibps = { type = "number" },
    availability_zone_name = { type = "string", force_new = true },
    transition_to_ia = { type = "string", default = "AFTER_30_DAYS",
      choices = { "NONE", "AFTER_1_DAY", "AFTER_7_DAYS", "AFTER_14_DAYS", "AFTER_30_DAYS", "AFTER_60_DAYS",
                  "AFTER_90_DAYS" } },
    transition_to_primary_storage_class = { type = "string", default = "AFTER_1_ACCESS",
      choices = { "NONE", "AFTER_1_ACCESS" } },
    tags = { type = "tags" },
  },
  outputs = { "id", "arn", "dns_name" },

  found_by = "its creation token",
  find = function(ctx)
    local fs = describe_token(ctx, ctx:client_token())
    if not fs then return {} end
    return { { id = fs.FileSystemId, tags = kit.tag_map(fs.Tags), fs = fs } }
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local token = ctx:client_token()
    local fs = found and found.fs
    if not fs then
      local out, err = efs.client(ctx):pcall("CreateFileSystem", {
        CreationToken = token, Encrypted = want.encrypted, KmsKeyId = want.kms_key_id,
        PerformanceMode = want.performance_mode, ThroughputMode = want.throughput_mode,
        ProvisionedThroughputInMibps = want.provisioned_throughput_in_mibps,
        AvailabilityZoneName = want.availability_zone_name, Tags = kit.tag_list(want.tags),
      })
      if not out then
        if not kit.is_code(err, "FileSystemAlreadyExists") then error(err, 0) end
        out = describe_token(ctx, token)   -- a retry whose first try went through
      else
        aws.required(out, "FileSystemId")
      end
      fs = out
    end
    fs = efs.available(ctx, "file system", fs.FileSystemId, live)
    local ia, back = lifecycle(ctx, fs.FileSystemId)
    if ia ~= want.transition_to_ia or back ~= want.transition_to_primary_storage_class then
      efs.client(ctx):call("PutLifecycleConfiguration", { FileSystemId = fs.FileSystemId,
        LifecyclePolicies = policies(want) })
    end
    return observed(ctx, fs, want)
  end,

  read = function(ctx, id, prior)
    local now = efs.file_system(ctx, id)
    if now and now.LifeCycleState == "deleting" then return resource.deleting(id) end
    local fs = live(ctx, id)
    return fs and observed(ctx, fs, prior and prior.inputs)
  end,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local set = {}
    for _, name in ipairs(changed) do set[name] = true end
    local client = efs.client(ctx)
    if set.throughput_mode or set.provisioned_throughput_in_mibps then
      efs.available(ctx, "file system", id, live)
      client:call("UpdateFileSystem", { FileSystemId = id, ThroughputMode = new.throughput_mode,
        ProvisionedThroughputInMibps = new.provisioned_throughput_in_mibps })
    end
    local fs = efs.available(ctx, "file system", id, live)
    if set.transition_to_ia or set.transition_to_primary_storage_class then
      client:call("PutLifecycleConfiguration", { FileSystemId = id, LifecyclePolicies = policies(new) })
    end
    if set.tags then
      efs.update_tags(ctx, id, old.tags, new.tags)
      fs = live(ctx, id) or fs
    end
    return observed(ctx, fs, new)
  end,

  delete = function(ctx, id)
    local fs = efs.file_system(ctx, id)
    if not fs then return end
    if fs.LifeCycleState ~= "deleting" then
      local done, err = efs.client(ctx):pcall("DeleteFileSystem", { FileSystemId = id })
      if not done then
        if kit.is_code(err, "FileSystemNotFound") then return end
        if kit.is_code(err, "FileSystemInUse") then
          ctx:fail("FileSystemInUse", "file system %s still has mount targets that wpo does not manage here: "
            .. "delete them first", id)
        end
        error(err, 0)
      end
    end
    efs.gone(ctx, "file system", id, efs.file_system)
  end,

  import = function(ctx, id)
    local fs = live(ctx, id)
    return fs and observed(ctx, fs, nil)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "elasticfilesystem:DescribeFileSystems", "elasticfilesystem:DescribeLifecycleConfiguration" },
    create = { "elasticfilesystem:CreateFileSystem", "elasticfilesystem:PutLifecycleConfiguration",
      "elasticfilesystem:TagResource", "elasticfilesystem:UpdateFileSystem" },
    update = { "elasticfilesystem:CreateFileSystem", "elasticfilesystem:PutLifecycleConfiguration",
      "elasticfilesystem:TagResource", "elasticfilesystem:UpdateFileSystem" },
    delete = { "elasticfilesystem:DeleteFileSystem" },
  },
}
