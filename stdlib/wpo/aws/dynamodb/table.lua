-- aws.dynamodb.table: a DynamoDB table keyed by one partition (hash) key —
-- what wpo's S3 state backend locks with (hash key LockID, type "S").
--
-- Attributes:
--   name                     the table's name (force_new)
--   hash_key                 the partition key's attribute name (force_new)
--   attributes               the key's definition: a list of { name, type = "S" |
--                            "N" | "B" } naming the hash key (force_new; DynamoDB
--                            takes definitions of key attributes only, and this
--                            type makes no sort key or index)
--   billing_mode             "PAY_PER_REQUEST" (default: on demand) or
--                            "PROVISIONED" (with read_capacity and write_capacity)
--   read_capacity, write_capacity   capacity units, with PROVISIONED only
--   point_in_time_recovery   continuous backups, restorable to any second of
--                            the last 35 days (default true)
--   deletion_protection      must stay false for now: DeletionProtectionEnabled
--                            is newer than the DynamoDB model this wpo is built
--                            with (botocore 1.29.27), so true is refused while
--                            planning rather than silently ignored
--   tags
-- Outputs: id (= name), arn.
--
-- Encryption at rest is always on: DynamoDB encrypts every table, by default
-- with a key AWS owns (no KMS charges, nothing to manage); wpo keeps that
-- default. Create waits until the table is ACTIVE, delete until it is gone.
-- Create adopts a table of that name tagged with this resource's address
-- (CreateTable carries the tags, so a create whose answer was lost is found
-- again); one not managed by this stack is an error saying so.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local value = require "wpo.value"

local GONE = { ResourceNotFoundException = true }
local KEY_TYPES = { "S", "N", "B" }

local function ddb(ctx) return ctx:aws("dynamodb") end

local function validate(ctx, want)
  if want.deletion_protection == true then
    kit.fail(ctx, "Unsupported", "deletion_protection = true needs DynamoDB's DeletionProtectionEnabled, which the "
      .. "DynamoDB model of this wpo (botocore 1.29.27) does not have yet; leave it false (protect the table with "
      .. "lifecycle.prevent_destroy instead)")
  end
  local attrs = want.attributes
  if type(attrs) == "table" and not value.is_lazy(attrs) and type(want.hash_key) == "string" then
    local found = false
    for _, a in ipairs(attrs) do
      if a.name == want.hash_key then found = true
      elseif type(a.name) == "string" then
        kit.fail(ctx, "InvalidAttribute", "attributes: %s is not the hash key (%s); DynamoDB takes definitions of "
          .. "key attributes only, and aws.dynamodb.table makes no sort key or index", a.name, want.hash_key)
      end
    end
    if not found then
      kit.fail(ctx, "InvalidAttribute", "attributes must define the hash key %s (e.g. { name = %q, type = \"S\" })",
        want.hash_key, want.hash_key)
    end
  end
  local provisioned = want.billing_mode == "PROVISIONED"
  for _, k in ipairs({ "read_capacity", "write_capacity" }) do
    if provisioned and want[k] == nil then
      kit.fail(ctx, "InvalidAttribute", "billing_mode = \"PROVISIONED\" needs %s", k)
    elseif not provisioned and want[k] ~= nil then
      kit.fail(ctx, "InvalidAttribute", "%s is for billing_mode = \"PROVISIONED\"", k)
    end
    if math.type(want[k]) == "integer" and want[k] < 1 then
      kit.fail(ctx, "InvalidAttribute", "%s must be at least 1 (got %d)", k, want[k])
    end
  end
end

local function describe(ctx, name)
  local out, err = ddb(ctx):pcall("DescribeTable", { TableName = name })
  if out then return out.Table end
  if GONE[err.code] then return nil end
  error(err, 0)
end

local function tags_of(ctx, arn)
  local out, err = ddb(ctx):pcall("ListTagsOfResource", { ResourceArn = arn })
  if out then return kit.tag_map(out.Tags) end
  if GONE[err.code] then return {} end
  error(err, 0)
end

local function pitr_of(ctx, name)
  local out, err = ddb(ctx):pcall("DescribeContinuousBackups", { TableName = name })
  if not out then
    if kit.is_code(err, "TableNotFoundException", "ResourceNotFoundException") then return nil end
    error(err, 0)
  end
  local d = out.ContinuousBackupsDescription or {}
  return (d.PointInTimeRecoveryDescription or {}).PointInTimeRecoveryStatus == "ENABLED"
end

local function observe(ctx, t)
  local hash
  for _, k in ipairs(t.KeySchema or {}) do
    if k.KeyType == "HASH" then hash = k.AttributeName end
  end
  local attrs = {}
  for _, d in ipairs(t.AttributeDefinitions or {}) do
    attrs[#attrs + 1] = { name = d.AttributeName, type = d.AttributeType }
  end
  table.sort(attrs, function(a, b) return a.name < b.name end)
  local mode = (t.BillingModeSummary or {}).BillingMode or "PROVISIONED"
  local pt = t.ProvisionedThroughput or {}
  return {
    id = t.TableName, name = t.TableName, arn = t.TableArn, hash_key = hash, attributes = attrs,
    billing_mode = mode,
    read_capacity = mode == "PROVISIONED" and pt.ReadCapacityUnits or nil,
    write_capacity = mode == "PROVISIONED" and pt.WriteCapacityUnits or nil,
    point_in_time_recovery = pitr_of(ctx, t.TableName),
    tags = kit.user_tags(tags_of(ctx, t.TableArn)),
  }
end

local function wait_active(ctx, name, what)
  return kit.wait(ctx, function()
    local t = describe(ctx, name)
    if not t then kit.fail(ctx, "NotFound", "the DynamoDB table %s disappeared while %s", name, what) end
    return t.TableStatus == "ACTIVE" and t, t.TableStatus
  end, { what = "the table to become ACTIVE", timeout = 600, interval = 5 })
end

local function set_pitr(ctx, name, on)
  -- right after a create, DynamoDB may still be turning continuous backups on
  kit.wait(ctx, function()
    local _, err = kit.try(ddb(ctx), "UpdateContinuousBackups", { TableName = name,
      PointInTimeRecoverySpecification = { PointInTimeRecoveryEnabled = on } })
    if not err then return true end
    if kit.is_code(err, "ContinuousBackupsUnavailableException") then return false, err.code end
    error(err, 0)
  end, { what = "continuous backups to be available", timeout = 300, interval = 5 })
end

local function converge(ctx, current, want)
  local client = ddb(ctx)
  local mode_changed = current.billing_mode ~= want.billing_mode
  local capacity_changed = want.billing_mode == "PROVISIONED"
    and (current.read_capacity ~= want.read_capacity or current.write_capacity ~= want.write_capacity)
  if mode_changed or capacity_changed then
    client:call("UpdateTable", { TableName = current.name,
      BillingMode = mode_changed and want.billing_mode or nil,
      ProvisionedThroughput = want.billing_mode == "PROVISIONED"
        and { ReadCapacityUnits = want.read_capacity, WriteCapacityUnits = want.write_capacity } or nil })
    wait_active(ctx, current.name, "its billing mode changed")
  end
  if current.point_in_time_recovery ~= want.point_in_time_recovery then
    set_pitr(ctx, current.name, want.point_in_time_recovery)
  end
  local set, remove = kit.tag_changes(current.tags, kit.user_tags(want.tags))
  if #remove > 0 then client:call("UntagResource", { ResourceArn = current.arn, TagKeys = remove }) end
  if next(set) then client:call("TagResource", { ResourceArn = current.arn, Tags = kit.tag_list(set) }) end
end

local function read(ctx, id)
  local t = describe(ctx, id)
  if not t then return nil end
  if t.TableStatus == "DELETING" then return resource.deleting(id) end
  return observe(ctx, t)
end

return resource.define "aws.dynamodb.table" {
  description = "a DynamoDB table with one partition key (on demand, point-in-time recovery, encrypted at rest)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    hash_key = { type = "string", required = true, force_new = true },
    attributes = { type = "list", required = true, force_new = true, of = { type = "object", fields = {
      name = { type = "string", required = true },
      type = { type = "string", required = true, choices = KEY_TYPES },
    } } },
    billing_mode = { type = "string", default = "PAY_PER_REQUEST", choices = { "PAY_PER_REQUEST", "PROVISIONED" } },
    read_capacity = { type = "integer" },
    write_capacity = { type = "integer" },
    point_in_time_recovery = { type = "boolean", default = true },
    deletion_protection = { type = "boolean", default = false },
    tags = { type = "tags" },
  },
  outputs = { "arn" },

  check = function(ctx, after) validate(ctx, after) end,

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    validate(ctx, want)
    local t = describe(ctx, want.name)
    if not t or t.TableStatus == "DELETING" then return {} end
    local tags = tags_of(ctx, t.TableArn)
    if not kit.owns(ctx, tags) then
      kit.fail(ctx, "AlreadyExists", "a DynamoDB table named %s already exists and is not this resource's (no tag "
        .. "%s=%s): import it with 'wpo import', or choose another name", want.name, resource.TAG_ADDRESS,
        ctx.address)
    end
    return { observe(ctx, t) }
  end,

  create = function(ctx, want, found)
    validate(ctx, want)
    if found then
      if found.hash_key ~= want.hash_key then
        kit.fail(ctx, "AlreadyExists", "the DynamoDB table %s already exists with the hash key %s (not %s): the key "
          .. "is fixed at creation", want.name, tostring(found.hash_key), want.hash_key)
      end
      wait_active(ctx, want.name, "being made")
      converge(ctx, found, want)
      return read(ctx, want.name)
    end
    local defs = {}
    for _, a in ipairs(want.attributes) do defs[#defs + 1] = { AttributeName = a.name, AttributeType = a.type } end
    ddb(ctx):call("CreateTable", {
      TableName = want.name,
      KeySchema = { { AttributeName = want.hash_key, KeyType = "HASH" } },
      AttributeDefinitions = defs,
      BillingMode = want.billing_mode,
      ProvisionedThroughput = want.billing_mode == "PROVISIONED"
        and { ReadCapacityUnits = want.read_capacity, WriteCapacityUnits = want.write_capacity } or nil,
      Tags = kit.tag_list(want.tags),
    })
    wait_active(ctx, want.name, "being made")
    if want.point_in_time_recovery then set_pitr(ctx, want.name, true) end
    return read(ctx, want.name)
  end,

  read = read,

  update = function(ctx, id, _, new)
    validate(ctx, new)
    local current = read(ctx, id)
    if not current or current.deleting then kit.fail(ctx, "NotFound", "the DynamoDB table %s no longer exists", id) end
    converge(ctx, current, new)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    local client = ddb(ctx)
    kit.wait(ctx, function()
      local _, err = kit.try(client, "DeleteTable", { TableName = id })
      if not err or GONE[err.code] then return true end
      -- still being made or updated (or already being deleted: the describe below waits)
      if kit.is_code(err, "ResourceInUseException") then
        local t = describe(ctx, id)
        if not t or t.TableStatus == "DELETING" then return true end
        return false, t.TableStatus
      end
      error(err, 0)
    end, { what = "the table to accept its deletion", timeout = 600, interval = 5 })
    kit.wait(ctx, function()
      local t = describe(ctx, id)
      return t == nil, t and t.TableStatus
    end, { what = "the table to be deleted", timeout = 600, interval = 5 })
  end,

  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "dynamodb:DescribeContinuousBackups" },
    create = { "dynamodb:CreateTable", "dynamodb:TagResource", "dynamodb:UntagResource",
      "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTable" },
    update = { "dynamodb:TagResource", "dynamodb:UntagResource", "dynamodb:UpdateContinuousBackups",
      "dynamodb:UpdateTable" },
    delete = { "dynamodb:DeleteTable" },
    scoped = { "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeContinuousBackups",
      "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "dynamodb:TagResource", "dynamodb:UntagResource",
      "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTable" },
    resources = function(a, env)
      if require("wpo.iam").known(a.name) then
        return { string.format("arn:aws:dynamodb:%s:*:table/%s", env.region, a.name) }
      end
    end,
  },
}
