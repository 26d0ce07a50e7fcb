-- aws.secretsmanager.secret: a Secrets Manager secret holding one string.
--
-- Attributes:
--   name                  force_new
--   description
--   kms_key_id            KMS key (default: Secrets Manager's AWS-managed key)
--   secret_string         the string to hold (sensitive). Leave it out to have wpo
--                         generate one (wpo.core.crypto's random bytes) at create
--   length                length of a generated value (default 32)
--   exclude_characters    characters a generated value never holds (default
--                         `"@/\'` and space: what RDS master passwords and URLs refuse)
--   json_keys             a list of names: the generated value is then a JSON object
--                         holding one generated string per name (for ECS valueFrom
--                         "<arn>:<name>::", e.g. WordPress's AUTH_KEY, SECURE_AUTH_KEY...)
--   recovery_window_days  0 (the default): destroy deletes the secret at once
--                         (ForceDeleteWithoutRecovery), so that the stack can be
--                         created again under the same names; 7..30: destroy
--                         schedules its deletion, and it can be restored meanwhile
--   tags
-- Outputs: id (= arn), arn, name, version_id, value (sensitive: the string held,
-- given or generated). Others use the ARN (ECS `secrets`/`valueFrom`, IAM
-- policies); value is for the few that must receive it (a database's master
-- password) and is never printed.
--
-- Read does not fetch the value on every refresh: it compares the AWSCURRENT
-- version with the one wpo wrote, and fetches the value only when someone
-- changed it since (then the next plan puts a given secret_string back; a
-- generated value changed outside wpo, by a rotation, becomes the value its
-- users receive). Changing length or exclude_characters of a generated value
-- generates a new one.
-- Create adopts a secret of that name tagged with this resource's address,
-- restoring it when it is scheduled for deletion (a destroyed stack run
-- again). A name Secrets Manager is still purging after a forced deletion is
-- waited for (typekit.LATE.secret_name_purging). Delete force-deletes, or
-- schedules the deletion with the recovery window; a secret already gone or
-- already scheduled is fine.
local aws = require "wpo.aws"
local crypto = require "wpo.core.crypto"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local iam = require "wpo.iam"

-- An optional setting AWS no longer holds but the script gave reads as ""
-- (a nil in what read returns would mean "unchanged").
local function cleared(v, given)
  if v == nil and given ~= nil then return "" end
  return v
end

local GONE = { ResourceNotFoundException = true }
local DEFAULT_EXCLUDE = "\"@/\\' "

-- generate(length, exclude) -> a random string of printable ASCII (33..126)
-- without the excluded characters, holding a lower-case letter, an upper-case
-- letter and a digit (rejection sampling: uniform over the allowed set).
local function generate(ctx, length, exclude)
  local allowed = {}
  for c = 33, 126 do
    local ch = string.char(c)
    if not exclude:find(ch, 1, true) then allowed[#allowed + 1] = ch end
  end
  local n = #allowed
  if n < 10 then ctx:fail("InvalidAttribute", "exclude_characters leaves only %d characters to draw from", n) end
  if length < 8 or length > 4096 then
    ctx:fail("InvalidAttribute", "length must be 8..4096 (it is %d)", length)
  end
  local limit = 256 - 256 % n
  while true do
    local out, pool, at = {}, crypto.random(length * 2), 1
    while #out < length do
      if at > #pool then pool, at = crypto.random(length * 2), 1 end
      local b = pool:byte(at)
      at = at + 1
      if b < limit then out[#out + 1] = allowed[b % n + 1] end
    end
    local s = table.concat(out)
    local classes = 0
    for _, pattern in ipairs({ "%l", "%u", "%d" }) do
      if s:find(pattern) or not table.concat(allowed):find(pattern) then classes = classes + 1 end
    end
    if classes == 3 then return s end
  end
end

local function describe(ctx, id)
  local out, err = ctx:aws("secretsmanager"):pcall("DescribeSecret", { SecretId = id })
  if out then return out end
  if GONE[err.code] then return nil end
  error(err, 0)
end

local function current_version(d)
  for version, stages in pairs(d.VersionIdsToStages or {}) do
    for _, s in ipairs(stages) do
      if s == "AWSCURRENT" then return version end
    end
  end
  return nil
end

local function same_key(given, observed)
  if given == nil or observed == nil then return given == observed end
  return given == observed or observed:sub(-#given - 1) == "/" .. given
end

-- What AWS holds. The value is fetched only when the current version is not
-- the one wpo recorded (or none is recorded: an import).
local function observe(ctx, d, prior)
  local inputs, outputs = prior and prior.inputs or {}, prior and prior.outputs or {}
  local version = current_version(d)
  local value = outputs.value
  if version ~= outputs.version_id or value == nil then
    value = version and ctx:aws("secretsmanager"):call("GetSecretValue", { SecretId = d.ARN }).SecretString or nil
  end
  local key = d.KmsKeyId
  if same_key(inputs.kms_key_id, key) then key = inputs.kms_key_id end
  -- no description and an empty one are the same to AWS
  local description = d.Description ~= "" and d.Description or nil
  local observed = {
    id = d.ARN, arn = d.ARN, name = d.Name, description = cleared(description, inputs.description),
    kms_key_id = cleared(key, inputs.kms_key_id),
    version_id = version, value = value, tags = kit.tag_map(d.Tags),
  }
  -- a given string is also an attribute: a change made outside wpo shows as drift
  if inputs.secret_string ~= nil then observed.secret_string = value end
  return observed
end

local function set_tags(ctx, arn, old, new)
  local sm = ctx:aws("secretsmanager")
  local set, remove = kit.tag_changes(old, new)
  if #remove > 0 then sm:call("UntagResource", { SecretId = arn, TagKeys = remove }) end
  if next(set) then sm:call("TagResource", { SecretId = arn, Tags = kit.tag_list(set) }) end
end

local function check(ctx, want)
  local w = want.recovery_window_days
  if w ~= 0 and (w < 7 or w > 30) then
    ctx:fail("InvalidAttribute", "recovery_window_days must be 0 (delete at once) or 7..30 (it is %d)", w)
  end
end

local function put_value(ctx, arn, value)
  return aws.required(ctx:aws("secretsmanager"):call("PutSecretValue", { SecretId = arn, SecretString = value }),
    "VersionId")
end

-- The settings of a generated value, to know when they change.
local function generation(want)
  if want.secret_string ~= nil then return nil end
  return tostring(want.length) .. "\0" .. tostring(want.exclude_characters) .. "\0"
    .. table.concat(want.json_keys or {}, "\0")
end

-- A new value by the settings of `want`: one string, or a JSON object of strings.
local function generated(ctx, want)
  if not want.json_keys then return generate(ctx, want.length, want.exclude_characters) end
  if #want.json_keys == 0 then ctx:fail("InvalidAttribute", "json_keys is empty") end
  local doc = {}
  for _, key in ipairs(want.json_keys) do
    if doc[key] then ctx:fail("InvalidAttribute", "json_keys names %s twice", key) end
    doc[key] = generate(ctx, want.length, want.exclude_characters)
  end
  -- the protocol module is loaded on first use (it is not needed to plan)
  return require("wpo.aws.protocol.common").to_json(doc)
end

local t = resource.define "aws.secretsmanager.secret" {
  description = "a Secrets Manager secret holding a string, given or generated (never printed)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string" },
    kms_key_id = { type = "string" },
    secret_string = { type = "string", sensitive = true },
    length = { type = "integer", default = 32 },
    exclude_characters = { type = "string", default = DEFAULT_EXCLUDE },
    json_keys = { type = "list", of = "string" },
    recovery_window_days = { type = "integer", default = 0 },
    tags = { type = "tags" },
  },
  outputs = { arn = {}, name = {}, version_id = {}, value = { sensitive = true } },
  -- the name of a secret force-deleted a moment ago (a stack destroyed and
  -- created again) is free only once Secrets Manager has purged it
  late = kit.late { "secret_name_purging" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = describe(ctx, want.name)
    if not existing then return {} end
    local tags = kit.tag_map(existing.Tags)
    if not kit.owns(ctx, tags) then
      ctx:fail("AlreadyExists", "a secret named %s already exists%s and is not this resource's (no tag %s=%s): "
        .. "import it with 'wpo import', or choose another name", want.name,
        existing.DeletedDate and " (scheduled for deletion)" or "", resource.TAG_ADDRESS, ctx.address)
    end
    return { { id = existing.ARN, tags = tags, secret = existing } }
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local sm = ctx:aws("secretsmanager")
    local value = want.secret_string or generated(ctx, want)
    local existing = found and found.secret
    if existing then
      local tags = found.tags
      if existing.DeletedDate then
        ctx:log("restoring secret %s, scheduled for deletion", want.name)
        sm:call("RestoreSecret", { SecretId = existing.ARN })
      end
      sm:call("UpdateSecret", { SecretId = existing.ARN, KmsKeyId = want.kms_key_id,
        Description = want.description or ((existing.Description or "") ~= "" and "" or nil) })
      set_tags(ctx, existing.ARN, tags, want.tags)
      local version = put_value(ctx, existing.ARN, value)
      return { id = existing.ARN, arn = existing.ARN, name = want.name, version_id = version, value = value }
    end
    local out = sm:call("CreateSecret", { Name = want.name, Description = want.description,
      KmsKeyId = want.kms_key_id, SecretString = value, Tags = kit.tag_list(want.tags) })
    local arn = aws.required(out, "ARN")
    return { id = arn, arn = arn, name = out.Name, version_id = out.VersionId, value = value }
  end,

  read = function(ctx, id, prior)
    local d = describe(ctx, id)
    if not d or d.DeletedDate then return nil end
    return observe(ctx, d, prior)
  end,

  update = function(ctx, id, old, new)
    check(ctx, new)
    local d = describe(ctx, id)
    if not d or d.DeletedDate then ctx:fail("NotFound", "the secret %s no longer exists", id) end
    local sm = ctx:aws("secretsmanager")
    if (old.description or "") ~= (new.description or "") or not same_key(new.kms_key_id, d.KmsKeyId) then
      sm:call("UpdateSecret", { SecretId = id, Description = new.description or "", KmsKeyId = new.kms_key_id })
    end
    set_tags(ctx, id, kit.tag_map(d.Tags), new.tags)
    local observed = { id = id, arn = id, name = d.Name }
    local prior = ctx.prior or {}
    local value = (prior.outputs or {}).value
    local regenerate = new.secret_string == nil and generation(old) ~= generation(new)
    if new.secret_string ~= nil and new.secret_string ~= value then
      value = new.secret_string
      observed.version_id = put_value(ctx, id, value)
    elseif regenerate then
      value = generated(ctx, new)
      observed.version_id = put_value(ctx, id, value)
    else
      observed.version_id = current_version(d)
    end
    observed.value = value
    return observed
  end,

  delete = function(ctx, id, prior)
    -- a record from before the attribute existed keeps the window it was made with
    local w = prior.inputs and prior.inputs.recovery_window_days or 30
    local params = { SecretId = id }
    if w == 0 then params.ForceDeleteWithoutRecovery = true else params.RecoveryWindowInDays = w end
    local out, err = ctx:aws("secretsmanager"):pcall("DeleteSecret", params)
    if out or GONE[err.code] then return end
    if kit.is_code(err, "InvalidRequestException")
      and tostring(err.message):find("scheduled for deletion", 1, true) then
      return
    end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue" },
    create = { "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:RestoreSecret",
      "secretsmanager:TagResource", "secretsmanager:UntagResource", "secretsmanager:UpdateSecret" },
    update = { "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:RestoreSecret",
      "secretsmanager:TagResource", "secretsmanager:UntagResource", "secretsmanager:UpdateSecret" },
    delete = { "secretsmanager:DeleteSecret" },
    scoped = { "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:RestoreSecret",
      "secretsmanager:TagResource", "secretsmanager:UntagResource", "secretsmanager:UpdateSecret" },
    -- a secret's ARN ends in its name, a dash and six random characters
    resources = function(a, env)
      if iam.known(a.name) then
        return { string.format("arn:aws:secretsmanager:%s:*:secret:%s-??????", env.region, a.name) }
      end
    end,
  },
}

t.generate = generate
return t
