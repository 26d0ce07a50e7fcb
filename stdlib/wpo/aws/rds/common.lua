-- wpo.aws.rds.common: what the aws.rds.* types share: describes that answer
-- nil when the object is gone, waits on cluster and instance states (delays
-- from botocore's DBClusterAvailable / DBInstanceAvailable waiters: 30 s), tags
-- by ARN, finding again the object that carries this resource's
-- wpo:address tag (RDS identifiers are names: a create after a crash or a
-- lost answer finds the object by its name), final snapshot names and the master password
-- read from Secrets Manager.
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"
local waiter = require "wpo.aws.waiter"

local M = {}

M.WAIT = { timeout = 3600, interval = 30 }
M.FAILED = { failed = true, ["inaccessible-encryption-credentials"] = true, ["incompatible-parameters"] = true,
             ["incompatible-restore"] = true, ["incompatible-network"] = true, ["storage-full"] = true }

-- RDS master passwords: 8 to 41 printable ASCII characters, not / " @ or space.
M.PASSWORD_RULES = { min = 8, max = 41, forbidden = '/"@', what = "the master password" }

function M.client(ctx) return ctx:aws("rds") end

function M.cluster(ctx, id)
  local out, err = M.client(ctx):pcall("DescribeDBClusters", { DBClusterIdentifier = id })
  if not out then
    if kit.is_code(err, "DBClusterNotFoundFault") then return nil end
    error(err, 0)
  end
  return out.DBClusters and out.DBClusters[1]
end

function M.instance(ctx, id)
  local out, err = M.client(ctx):pcall("DescribeDBInstances", { DBInstanceIdentifier = id })
  if not out then
    if kit.is_code(err, "DBInstanceNotFound") then return nil end
    error(err, 0)
  end
  return out.DBInstances and out.DBInstances[1]
end

-- Wait until describe(ctx, id) shows `status` ("available"); fails on a
-- failed state or when the object disappears.
function M.wait_status(ctx, noun, id, describe, field, status)
  return kit.wait(ctx, function()
    local obj = describe(ctx, id)
    if not obj then ctx:fail("NotFound", "%s %s disappeared while waiting for it to become %s", noun, id, status) end
    local s = obj[field]
    if s == status then return obj end
    if M.FAILED[s] then ctx:fail("InvalidState", "%s %s is %s", noun, id, s) end
    return nil, s
  end, { what = string.format("%s %s to become %s", noun, id, status), prefix = false, timeout = M.WAIT.timeout,
    interval = M.WAIT.interval })
end

-- Wait until the DB instance or cluster is gone: botocore's DBInstanceDeleted
-- / DBClusterDeleted waiter (a failure state — creating, modifying... — ends
-- the wait with the state seen), with this module's timeout.
local GONE = {
  ["DB instance"] = { waiter = "DBInstanceDeleted", key = "DBInstanceIdentifier" },
  ["DB cluster"] = { waiter = "DBClusterDeleted", key = "DBClusterIdentifier" },
}

function M.wait_gone(ctx, noun, id)
  local g = GONE[noun] or error("rds.wait_gone: no waiter for " .. tostring(noun), 2)
  waiter.wait(ctx, M.client(ctx), g.waiter, { [g.key] = id },
    { what = string.format("%s %s to be deleted", noun, id), timeout = M.WAIT.timeout })
end

function M.tags(ctx, arn)
  local out, err = M.client(ctx):pcall("ListTagsForResource", { ResourceName = arn })
  if not out then
    if err and err.status == 404 then return nil end
    error(err, 0)
  end
  return kit.tag_map(out.TagList)
end

function M.update_tags(ctx, arn, old, new)
  local set, remove = kit.tag_changes(old, new)
  local rds = M.client(ctx)
  if #remove > 0 then rds:call("RemoveTagsFromResource", { ResourceName = arn, TagKeys = remove }) end
  if next(set) then rds:call("AddTagsToResource", { ResourceName = arn, Tags = kit.tag_list(set) }) end
end

-- A type's find answer for an object found under the name this resource
-- wants: { { id = name, tags, object = obj } } when it carries this
-- resource's wpo:address tag (and no other stack's), {} when there is no
-- object, an error otherwise.
function M.named(ctx, noun, name, obj, tags)
  if not obj then return {} end
  if tags[resource.TAG_ADDRESS] == ctx.address and (tags[resource.TAG_STACK] or ctx.stack) == ctx.stack then
    return { { id = name, tags = tags, object = obj } }
  end
  ctx:fail("AlreadyExists", "a %s named %s already exists and is not this resource's (its %s tag is %s): import it "
    .. "with 'wpo import STACK %s %s', or choose another name", noun, name, resource.TAG_ADDRESS,
    tags[resource.TAG_ADDRESS] and ("'" .. tags[resource.TAG_ADDRESS] .. "'") or "absent", ctx.address, name)
end

-- A final snapshot name that is the same for this object on every try and
-- differs between successive objects at this address:
-- <identifier>-final-<8 hex of lineage, address and generation>.
function M.final_snapshot_name(ctx, identifier)
  local suffix = "-final-" .. ctx:client_token():sub(1, 8)
  local base = identifier:sub(1, 255 - #suffix):gsub("%-+$", "")
  return base .. suffix
end

function M.password(ctx, want)
  return kit.secret(ctx, want.master_password_secret_arn, want.master_password_secret_key, M.PASSWORD_RULES)
end

-- The observed value of master_password_secret_arn: the ARN while the password
-- set is the secret's current version; otherwise the ARN with a note, so the
-- plan shows a change and the update sets the password again.
function M.observed_secret(ctx, prior)
  local arn = prior and prior.inputs and prior.inputs.master_password_secret_arn
  if not arn then return nil end
  local applied = prior.outputs and prior.outputs.master_password_version
  local current = kit.secret_version(ctx, arn)
  if current == nil then return arn .. " (secret not found)" end
  if applied ~= nil and current ~= applied then
    return string.format("%s (password set from version %s; the secret is now at %s)", arn, applied, current)
  end
  return arn
end

-- The KMS key AWS reports is an ARN; a script may name the same key by id,
-- ARN or alias: keep the script's form when it names that key (an alias
-- cannot be resolved without KMS, so it is taken as naming it).
function M.kms_observed(actual, given)
  if actual == nil or given == nil then return actual end
  if actual == given or given:match("^alias/") or given:match("^arn:aws[%w-]*:kms:.*:alias/") then return given end
  if actual:sub(-#given - 1) == "/" .. given then return given end
  return actual
end

function M.ids(list, field)
  local out = {}
  for _, v in ipairs(list or {}) do out[#out + 1] = v[field] end
  return out
end

-- rds.refuse_protected(ctx, noun, id): a delete of an object with deletion
-- protection on fails, saying how to turn it off.
function M.refuse_protected(ctx, noun, id)
  ctx:fail("DeletionProtection", "%s %s has deletion protection on: set deletion_protection = false "
    .. "and run (an in-place change), then destroy", noun, id)
end

-- rds.delete(ctx, op, params, prior, codes): the delete call of a cluster or an
-- instance, taking its final snapshot (named at create, in prior.outputs)
-- unless skip_final_snapshot. codes = { not_found, snapshot_exists }: an
-- object already gone is fine; a snapshot name already taken is one clear line.
function M.delete(ctx, op, params, prior, codes)
  if prior and prior.inputs and prior.inputs.skip_final_snapshot then
    params.SkipFinalSnapshot = true
  else
    params.FinalDBSnapshotIdentifier = (prior and prior.outputs and prior.outputs.final_snapshot_identifier)
      or M.final_snapshot_name(ctx, params.DBClusterIdentifier or params.DBInstanceIdentifier)
    ctx:log("taking the final snapshot %s", params.FinalDBSnapshotIdentifier)
  end
  local done, err = M.client(ctx):pcall(op, params)
  if done or kit.is_code(err, codes.not_found) then return end
  if kit.is_code(err, codes.snapshot_exists) then
    ctx:fail("FinalSnapshotExists", "the final snapshot %s already exists: delete or rename it, or set "
      .. "skip_final_snapshot = true", params.FinalDBSnapshotIdentifier)
  end
  error(err, 0)
end

return M
