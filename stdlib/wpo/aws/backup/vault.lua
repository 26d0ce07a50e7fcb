-- aws.backup.vault: an AWS Backup vault, where recovery points are kept.
--
-- Attributes:
--   name           force_new (2 to 50 letters, digits, '-' or '_')
--   kms_key_arn    the KMS key encrypting its recovery points (optional,
--                  force_new); a vault is always encrypted: without a key,
--                  AWS uses the account's aws/backup key
--   force_destroy  default false: deleting a vault that holds recovery
--                  points fails, naming how many; true deletes them first
--                  (wpo's own setting: AWS does not hold it)
--   tags
-- Outputs: id (= name), arn, name, encryption_key_arn (the key in use).
--
-- Exactly once: the CreatorRequestId comes from the resource's client token;
-- a create whose answer was lost finds its vault by name (that request id,
-- or this resource's wpo:address tag). Update: tags (and force_destroy) in
-- place.
local kit = require "wpo.aws.typekit"
local backup = require "wpo.aws.backup.common"
local resource = require "wpo.resource"

local function describe(ctx, name)
  local out, err = backup.client(ctx):pcall("DescribeBackupVault", { BackupVaultName = name })
  if not out then
    if kit.is_code(err, "ResourceNotFoundException") then return nil end
    error(err, 0)
  end
  return out
end

-- the key the script gave, when AWS holds it (an alias ARN resolves to its key)
local function key_of(vault, given)
  if given == nil then return nil end
  if vault.EncryptionKeyArn == given or given:find(":alias/", 1, true) then return given end
  return vault.EncryptionKeyArn
end

local function observe(ctx, vault, prior_inputs)
  prior_inputs = prior_inputs or {}
  return {
    id = vault.BackupVaultName, name = vault.BackupVaultName, arn = vault.BackupVaultArn,
    encryption_key_arn = vault.EncryptionKeyArn,
    kms_key_arn = key_of(vault, prior_inputs.kms_key_arn),
    tags = backup.tags(ctx, vault.BackupVaultArn) or {},
  }
end

local function read(ctx, id, prior)
  local vault = describe(ctx, id)
  return vault and observe(ctx, vault, prior and prior.inputs)
end

-- every recovery point of the vault (those AWS is deleting included)
local function recovery_points(ctx, name)
  local out = {}
  for page in backup.client(ctx):paginate("ListRecoveryPointsByBackupVault", { BackupVaultName = name }) do
    for _, p in ipairs(page.RecoveryPoints or {}) do out[#out + 1] = p end
  end
  return out
end

local function empty(ctx, name)
  local client = backup.client(ctx)
  local points = recovery_points(ctx, name)
  ctx:log("force_destroy: deleting the %d recovery points of the backup vault %s", #points, name)
  for _, p in ipairs(points) do
    if p.Status ~= "DELETING" then
      local ok, err = client:pcall("DeleteRecoveryPoint", { BackupVaultName = name,
        RecoveryPointArn = p.RecoveryPointArn })
      if not ok and not kit.is_code(err, "ResourceNotFoundException", "InvalidResourceStateException") then
        error(err, 0)
      end
    end
  end
  -- AWS deletes recovery points in the background: the vault is empty once none is listed
  kit.wait(ctx, function()
    local left = #recovery_points(ctx, name)
    if left == 0 then return true end
    return nil, string.format("%d recovery points", left)
  end, { what = "the recovery points of the backup vault " .. name .. " to be deleted", timeout = 1800,
    interval = 10 })
end

return resource.define "aws.backup.vault" {
  description = "an AWS Backup vault (always encrypted)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    kms_key_arn = { type = "string", force_new = true },
    force_destroy = { type = "boolean", default = false,
      description = "delete the vault's recovery points with it (else its delete fails while it holds any)" },
    tags = { type = "tags" },
  },
  outputs = { "arn", "name", "encryption_key_arn" },

  check = function(ctx, after)
    local name = after.name
    if type(name) == "string" and not (name:match("^[%w_%-]+$") and #name >= 2 and #name <= 50) then
      ctx:fail("InvalidAttribute", "name %q: a backup vault's name is 2 to 50 letters, digits, '-' or '_'", name)
    end
  end,

  found_by = "its name (its CreatorRequestId, or tagged with its wpo:address)",
  find = function(ctx, want)
    local vault = describe(ctx, want.name)
    if not vault then return {} end
    if vault.CreatorRequestId == backup.request_id(ctx) then
      return { { id = vault.BackupVaultName, vault = vault } }
    end
    local found = kit.named(ctx, "a backup vault", want.name, backup.tags(ctx, vault.BackupVaultArn) or {}, vault)
    found[1].vault = vault
    return found
  end,

  create = function(ctx, want, found)
    local client = backup.client(ctx)
    if found then
      local current = observe(ctx, found.vault or describe(ctx, found.id), want)
      backup.update_tags(ctx, current.arn, current.tags, want.tags)
      return read(ctx, want.name, { inputs = want })
    end
    local rid = backup.request_id(ctx)
    local out, err = client:pcall("CreateBackupVault", { BackupVaultName = want.name,
      EncryptionKeyArn = want.kms_key_arn, BackupVaultTags = want.tags, CreatorRequestId = rid })
    if not out then
      if not kit.is_code(err, "AlreadyExistsException") then error(err, 0) end
      local vault = describe(ctx, want.name)
      if not vault or vault.CreatorRequestId ~= rid then
        ctx:fail("AlreadyExists", "a backup vault named %s already exists and was not made by this resource "
          .. "(import it with 'wpo import', or choose another name)", want.name)
      end
    end
    local current = read(ctx, want.name, { inputs = want })
    if not current then ctx:fail("NotFound", "the backup vault %s was created but cannot be read back", want.name) end
    return current
  end,

  read = read,

  update = function(ctx, id, old, new)
    local current = read(ctx, id, { inputs = old })
    if not current then ctx:fail("NotFound", "the backup vault %s no longer exists", id) end
    backup.update_tags(ctx, current.arn, current.tags, new.tags)
    return read(ctx, id, { inputs = new })
  end,

  delete = function(ctx, id, prior)
    local vault = describe(ctx, id)
    if not vault then return end
    local count = vault.NumberOfRecoveryPoints or 0
    if count > 0 then
      if not (prior and prior.inputs and prior.inputs.force_destroy) then
        ctx:fail("VaultNotEmpty", "the backup vault %s holds %d recovery point%s: delete them first, or set "
          .. "force_destroy = true (and apply) to delete them with it", id, count, count == 1 and "" or "s")
      end
      empty(ctx, id)
    end
    local ok, err = backup.client(ctx):pcall("DeleteBackupVault", { BackupVaultName = id })
    if ok or kit.is_code(err, "ResourceNotFoundException") then return end
    error(err, 0)
  end,

  import = function(ctx, id)
    local vault = describe(ctx, id)
    if not vault then return nil end
    local o = observe(ctx, vault)
    o.force_destroy = false
    return o
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`); a vault's
  -- create also needs Backup's storage and the key's grants
  iam = {
    read = { "backup:DescribeBackupVault", "backup:ListTags" },
    create = { "backup:CreateBackupVault", "backup-storage:MountCapsule", "kms:CreateGrant", "kms:DescribeKey",
      "kms:GenerateDataKey", "kms:Decrypt", "kms:RetireGrant", "backup:TagResource", "backup:UntagResource" },
    update = { "backup:TagResource", "backup:UntagResource" },
    delete = { "backup:DeleteBackupVault", "backup:DeleteRecoveryPoint", "backup:ListRecoveryPointsByBackupVault" },
  },
}
