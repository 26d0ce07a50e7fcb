-- wpo.aws.typekit: the one kit of the AWS resource types (aws.<service>.*):
-- tags in every service's shape, AWS error codes, lists AWS holds as sets,
-- comparing what AWS answers with what the script asked for, secrets,
-- waiting with the resource named, and AWS's late conditions. Not a
-- resource type (no resource.define here). A service's common.lua
-- (ec2/, rds/, efs/, elasticache/) keeps only what is that service's own:
-- its client, its describes, its tag calls, its waits.
--
-- Adding a type: one file stdlib/wpo/aws/<service>/<noun>.lua per AWS object,
-- written with this kit only (a service's common.lua for that service's
-- own calls). The skeleton (aws.logs.log_group is a complete short one):
--
--   local resource = require "wpo.resource"
--   local kit = require "wpo.aws.typekit"
--
--   local function read(ctx, id, prior)        -- AWS's answer -> attributes; nil when gone
--     local out, err = ctx:aws("<service>"):pcall("Describe<Noun>", { Name = id })
--     if not out then
--       if kit.is_code(err, "<Noun>NotFound") then return nil end
--       error(err, 0)
--     end
--     return { id = id, name = out.Name, arn = out.Arn,
--       subnet_ids = kit.as_prior_order(out.SubnetIds, prior and prior.inputs.subnet_ids),
--       tags = kit.user_tags(kit.tag_map(out.Tags)) }
--   end
--
--   return resource.define "aws.<service>.<noun>" {
--     description = "...",
--     attributes = { name = { type = "string", required = true, force_new = true },
--                    subnet_ids = { type = "list" }, tags = { type = "tags" } },
--     outputs = { "arn" },
--     found_by = "its name (tagged with its wpo:address)",
--     find = function(ctx, want) ... kit.owns(ctx, tags) / kit.named(...) end,
--     create = function(ctx, want, found)      -- Tags = kit.tag_list(want.tags)
--     read = read,
--     update = function(ctx, id, old, new)     -- local set, remove = kit.tag_changes(old.tags, new.tags):
--                                              -- untag `remove` when #remove > 0, then tag
--                                              -- kit.tag_list(set) when next(set)
--     delete = function(ctx, id)               -- kit.is_code(err, gone codes...) is done
--     iam = { read = {...}, create = {...}, update = {...}, delete = {...} },
--     late = kit.late { ... },                 -- only the late conditions its calls meet
--   }
--
-- Its spec, tests/aws/<service>_spec.lua, drives it through
-- tests/lua/typeflow.lua against fakeaws (create, read for drift, update,
-- import, delete); tests/iam_declared_spec.lua checks its iam lists.
--
-- Tags: a map name -> value in the stack; a sorted list of pairs on the wire.
--   typekit.tag_list(map, key_name?, value_name?) -> { { Key, Value } } (sorted by key;
--        ECS: typekit.tag_list(map, "key", "value"))
--   typekit.tag_map(list, key_name?, value_name?) -> map
--   typekit.user_tags(map, drop?) -> map without aws:* keys (and the keys in the set drop)
--   typekit.tag_changes(old, new) -> set (map of tags added or changed, {} when none),
--        remove (sorted keys gone, {} when none)
-- Errors:
--   typekit.try(client, op, params) -> result | nil, err   (client:pcall gives result, meta)
--   typekit.is_code(err, code...) -> boolean     a wpo error with one of these codes
--   typekit.code(err) -> the code of an error AWS answered | nil
--   typekit.fail(ctx, code, fmt, ...)             ctx:fail, for a context built by a test too
-- Waits:
--   typekit.wait(ctx, check, opts) -> the one wait of every type: aws.wait with
--        the resource's address in `what`, state changes as progress notes, a
--        timeout raised about the resource; every duration scaled by
--        WPO_WAIT_SCALE (tests against fakeaws); the second poll FIRST_POLL
--        (0.1) s after the first, then doubling up to the interval
--        (typekit.schedule). botocore's waiters: wpo.aws.waiter.
-- Lists AWS holds as sets, and diffs:
--   typekit.same_set(a, b) -> boolean              lists equal as sets
--   typekit.as_prior_order(observed, prior) -> prior when it holds the same set, else observed as AWS
--        ordered it
--   typekit.as_set(observed, prior) -> a copy of prior when it holds the same set, else observed sorted
--   typekit.sorted(list) -> a sorted copy
--   typekit.contains(want, have) -> boolean        every value of want is in have (recursively);
--        lists compare element by element; what AWS adds (defaults) is ignored
--   typekit.unset_computed(attributes, observed, prior) -> observed without the computed
--        attributes the script left unset (AWS's choice is not drift)
--   typekit.same_strategy(a, b) -> boolean        capacity-provider strategies equal, weight and
--        base 0 when left out
--   typekit.chunks(list, n) -> iterator over slices of at most n
--   typekit.owns(ctx, tags) -> boolean: the tags carry this resource's address
--        (and no other stack's name)
--   typekit.named(ctx, noun, name, tags, object?) -> a type's find answer for an
--        object found under the name the resource wants: { { id = name, tags,
--        object } } when its tags carry this resource's address (and no other
--        stack's), else an AlreadyExists error ("import it, or choose another
--        name"); {} when tags is nil (no such object)
-- Secrets (only ever passed to the AWS call that sets them):
--   typekit.secret(ctx, arn, key?, rules) -> value, version_id
--   typekit.secret_version(ctx, arn) -> the AWSCURRENT version id | nil
--
-- AWS's late conditions (DESIGN.md, guarantee 3), below "late" — the one list:
--   typekit.LATE[name] -> a condition AWS resolves late: the services and
--        error codes (and words of the message) it answers while it lasts,
--        what wpo waits for
--   typekit.late { names..., timeout = seconds } -> a type's declaration:
--        resource.define "..." { late = typekit.late { "iam_instance_profile" } }
--   typekit.late_call(ctx) -> the `late` function of a resource context's AWS
--        clients (wpo.aws.client option): sends a refused call again with backoff
local aws = require "wpo.aws"
local errors = require "wpo.errors"
local resource = require "wpo.resource"
local task = require "wpo.task"
local text = require "wpo.text"
local cjson = require "cjson"

local M = {}

-- ---- tags ----
-- In a stack, tags are a map name -> value; on the wire a list of pairs whose
-- member names the service chooses: { Key, Value } (EC2, ELB, Auto Scaling,
-- IAM, RDS, ElastiCache, EFS, SSM, Secrets Manager, CloudWatch, Route 53),
-- { key, value } (ECS), { Key, Value } under TagList / Tags members.

-- typekit.tag_list(map, key_name?, value_name?) -> { { Key = k, Value = v }... }
-- sorted by key (member names "Key"/"Value" unless given: ECS takes "key", "value")
function M.tag_list(map, key_name, value_name)
  key_name, value_name = key_name or "Key", value_name or "Value"
  local out = {}
  for _, k in ipairs(text.sorted_keys(map or {})) do out[#out + 1] = { [key_name] = k, [value_name] = map[k] } end
  return out
end

-- typekit.tag_map(list, key_name?, value_name?) -> { [k] = v } (a missing value reads "")
function M.tag_map(list, key_name, value_name)
  key_name, value_name = key_name or "Key", value_name or "Value"
  local out = {}
  for _, t in ipairs(list or {}) do out[t[key_name]] = t[value_name] or "" end
  return out
end

-- typekit.user_tags(map, drop?) -> map without AWS's own aws:* keys (and the keys in the set drop)
function M.user_tags(map, drop)
  local out = {}
  for k, v in pairs(map or {}) do
    if not k:match("^aws:") and not (drop and drop[k]) then out[k] = v end
  end
  return out
end

-- typekit.tag_changes(old, new) -> set, remove: the one shape of a tag diff.
-- set: map of the tags added or changed ({} when none); remove: sorted list
-- of the keys gone ({} when none). A type sends `remove` first (an untag
-- call), then typekit.tag_list(set) when next(set).
function M.tag_changes(old, new)
  local set, removed = {}, {}
  for k, v in pairs(new or {}) do
    if (old or {})[k] ~= v then set[k] = v end
  end
  for _, k in ipairs(text.sorted_keys(old or {})) do
    if (new or {})[k] == nil then removed[#removed + 1] = k end
  end
  return set, removed
end

-- ---- errors ----

function M.try(client, op, params)
  local out, err = client:pcall(op, params)
  if out == nil then return nil, err end
  return out
end

-- typekit.is_code(err, code...) -> true when err is a wpo error (an AWS
-- answer, or a ctx:fail) whose code is one of these: "already gone",
-- "not found" and the like, read where a call is made with client:pcall
function M.is_code(err, ...)
  if type(err) ~= "table" or not errors.is(err) then return false end
  for i = 1, select("#", ...) do
    if err.code == select(i, ...) then return true end
  end
  return false
end

-- typekit.code(err) -> the AWS error code of an error AWS answered, nil for
-- any other error (a ctx:fail, a Lua error)
function M.code(err)
  if errors.is(err) and err.service then return err.code end
  return nil
end

-- The poll schedule of every wait: the first poll at once, the second
-- FIRST_POLL seconds later (not the full interval: what AWS finishes quickly
-- is seen quickly), each next pause doubled up to the interval (a botocore
-- waiter's delay), unless the caller chose its own first pause or backoff.
-- 0.1 s: a wait of a 30 s waiter polls at 0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3,
-- 12.7 and 25.5 s, 7 more calls than botocore's 2 in its first 30 s (2 more
-- than with 0.25), and a transition that is over by the second look costs
-- 0.1 s instead of 30. Every wait on a destroy's critical path pays that
-- first pause once at least: bench/destroy_bench.lua measured prod's destroy
-- at 5.77 s with 0.25, 4.57 s with 0.1 (bound 3.00 s).
M.FIRST_POLL = 0.1

-- typekit.schedule(opts) -> opts with first, backoff and max_interval filled in
function M.schedule(o)
  local interval = o.interval or 5
  if o.first == nil and (o.backoff == nil or o.backoff == 1) then
    o.first = math.min(M.FIRST_POLL, interval)
    o.backoff = 2
    o.max_interval = math.min(o.max_interval or interval, interval)
  end
  return o
end

-- typekit.wait(ctx, check, opts) -> what check returned: the one wait of the
-- resource types, over aws.wait (WPO_WAIT_SCALE scales every duration there).
--   opts: what (said after "<address>: ", or alone with prefix = false when
--   it names the object already), timeout (s, aws.wait's 600 by default),
--   interval, backoff, max_interval, first (the schedule: typekit.schedule).
-- Each new state check reports is a progress note; a timeout is a
-- WaitTimeout about the resource (its address and file:line).
function M.wait(ctx, check, opts)
  opts = opts or {}
  local o = M.schedule { timeout = opts.timeout, interval = opts.interval, backoff = opts.backoff,
    max_interval = opts.max_interval, first = opts.first }
  local what = opts.what or "the change to finish"
  o.what = (opts.prefix ~= false and ctx.address) and (ctx.address .. ": " .. what) or what
  local last
  o.progress = function(info)
    if info.state ~= nil and info.state ~= last then
      last = info.state
      ctx:log("waiting for %s (now: %s)", what, tostring(info.state))
    end
  end
  local ok, a, b = pcall(aws.wait, check, o)
  if ok then return a, b end
  if errors.is(a) and a.code == "WaitTimeout" and a.address == nil then
    a.address, a.where = ctx.address, ctx.where
  end
  error(a, 0)
end

function M.same_set(a, b)
  a, b = a or {}, b or {}
  if #a ~= #b then return false end
  local count = {}
  for _, x in ipairs(a) do count[x] = (count[x] or 0) + 1 end
  for _, x in ipairs(b) do
    if not count[x] or count[x] == 0 then return false end
    count[x] = count[x] - 1
  end
  return true
end

function M.same_strategy(a, b)
  local function norm(list)
    local out = {}
    for i, x in ipairs(list or {}) do
      out[i] = { capacity_provider = x.capacity_provider, weight = x.weight or 0, base = x.base or 0 }
    end
    return out
  end
  local na, nb = norm(a), norm(b)
  if #na ~= #nb then return false end
  for i = 1, #na do
    for _, k in ipairs({ "capacity_provider", "weight", "base" }) do
      if na[i][k] ~= nb[i][k] then return false end
    end
  end
  return true
end

function M.sorted(list)
  local out = {}
  for i, x in ipairs(list or {}) do out[i] = x end
  table.sort(out, function(x, y) return tostring(x) < tostring(y) end)
  return out
end

-- ---- lists AWS holds as sets (ordering) ----

-- typekit.as_prior_order(observed, prior) -> prior when it holds the same
-- members (so a list read back in another order is no drift), else observed
-- in the order AWS answered it
function M.as_prior_order(observed, prior)
  if prior and M.same_set(observed, prior) then return prior end
  return observed
end

-- typekit.as_set(observed, prior) -> a copy of prior when it holds the same
-- members, else observed sorted (for the lists whose AWS order means nothing:
-- a drifted set then reads the same on every refresh)
function M.as_set(observed, prior)
  if type(observed) ~= "table" then return observed end
  local copy = {}
  if type(prior) == "table" and M.same_set(observed, prior) then
    for i, v in ipairs(prior) do copy[i] = v end
    return copy
  end
  for i, v in ipairs(observed) do copy[i] = v end
  table.sort(copy, function(a, b) return tostring(a) < tostring(b) end)
  return copy
end

-- ---- diffs: what AWS answers against what the script asked for ----

-- typekit.unset_computed(attributes, observed, prior) -> observed without the
-- computed attributes the script left unset (AWS's choice is not drift); an
-- import (no prior inputs) reports everything
function M.unset_computed(attributes, observed, prior)
  if not prior or not prior.inputs then return observed end
  for name, spec in pairs(attributes) do
    if spec.computed and prior.inputs[name] == nil then observed[name] = nil end
  end
  return observed
end

local function contains(want, have)
  if type(want) ~= "table" then return want == have end
  if next(want) == nil then return have == nil or (type(have) == "table" and next(have) == nil) end
  if type(have) ~= "table" then return false end
  if #want > 0 then
    if #want ~= #have then return false end
    for i = 1, #want do
      if not contains(want[i], have[i]) then return false end
    end
    return true
  end
  for k, v in pairs(want) do
    if not contains(v, have[k]) then return false end
  end
  return true
end
M.contains = contains

function M.chunks(list, n)
  local i = 0
  return function()
    if i >= #list then return nil end
    local out = {}
    for j = i + 1, math.min(i + n, #list) do out[#out + 1] = list[j] end
    i = i + n
    return out
  end
end

function M.owns(ctx, tags)
  return tags ~= nil and tags[resource.TAG_ADDRESS] == ctx.address
    and (tags[resource.TAG_STACK] or ctx.stack) == ctx.stack
end

function M.named(ctx, noun, name, tags, object)
  if tags == nil then return {} end
  if not M.owns(ctx, tags) then
    M.fail(ctx, "AlreadyExists", "%s named %s already exists and was not made by this resource (import it with "
      .. "'wpo import', or choose another name)", noun, name)
  end
  return { { id = name, tags = tags, object = object } }
end

-- typekit.fail(ctx, code, fmt, ...) : ctx:fail, for a context built by a test too
function M.fail(ctx, code, fmt, ...)
  errors.raise { code = code, message = string.format(fmt, ...), address = ctx.address, where = ctx.where }
end

local function decode_json(s)
  local ok, doc = pcall(cjson.decode, s)
  if ok and type(doc) == "table" then return doc end
  return nil
end

-- ---- secrets ----
-- Passwords and tokens read here are only ever passed to the AWS call that
-- sets them (members the models mark sensitive, redacted from debug logs);
-- types keep the secret's ARN and version id, never the value.

-- typekit.secret(ctx, arn, key?, rules) -> value, version_id: GetSecretValue;
-- the SecretString itself, or its JSON member `key`; rules = { min, max,
-- forbidden = "chars", what = "the master password" } are checked without
-- ever showing the value
function M.secret(ctx, arn, key, rules)
  rules = rules or {}
  local what = rules.what or "the secret"
  local sm = ctx:aws("secretsmanager")
  local out, err = sm:pcall("GetSecretValue", { SecretId = arn })
  if not out then
    if M.is_code(err, "ResourceNotFoundException") then
      ctx:fail("SecretNotFound", "%s comes from the secret %s, which does not exist (or has no current value)",
        what, arn)
    end
    error(err, 0)
  end
  local value = out.SecretString
  if value == nil then ctx:fail("InvalidSecret", "the secret %s holds binary data, not %s", arn, what) end
  if key then
    local doc = decode_json(value)
    if not doc then ctx:fail("InvalidSecret", "the secret %s is not a JSON object, so it has no key '%s'", arn, key) end
    value = doc[key]
    if type(value) ~= "string" then
      ctx:fail("InvalidSecret", "the secret %s has no string member '%s' for %s", arn, key, what)
    end
  end
  if rules.min and #value < rules.min or rules.max and #value > rules.max then
    ctx:fail("InvalidSecret", "%s from %s must be %d to %d characters long (it is %d)", what, arn,
      rules.min or 0, rules.max or math.huge, #value)
  end
  for i = 1, #value do
    local c = value:sub(i, i)
    local b = c:byte()
    if b <= 32 or b >= 127 or (rules.forbidden and rules.forbidden:find(c, 1, true)) then
      ctx:fail("InvalidSecret", "%s from %s may hold printable ASCII characters only%s; character %d is not allowed",
        what, arn, rules.forbidden and (", without spaces or any of " .. rules.forbidden) or "", i)
    end
  end
  return value, out.VersionId
end

-- typekit.secret_version(ctx, arn) -> the AWSCURRENT version id | nil (secret gone)
function M.secret_version(ctx, arn)
  local out, err = ctx:aws("secretsmanager"):pcall("DescribeSecret", { SecretId = arn })
  if not out then
    if M.is_code(err, "ResourceNotFoundException") then return nil end
    error(err, 0)
  end
  for version, stages in pairs(out.VersionIdsToStages or {}) do
    for _, stage in ipairs(stages) do
      if stage == "AWSCURRENT" then return version end
    end
  end
  return nil
end

-- ---- late: what AWS resolves late (DESIGN.md, guarantee 3) ----
--
-- AWS is eventually consistent: for a while after a change, other calls
-- answer errors that only mean "not yet". Every such condition wpo knows is
-- in LATE below, and nowhere else. A resource type declares the ones its
-- calls meet — resource.define "..." { late = typekit.late { "iam_instance_profile",
-- timeout = 300 } } — and every call it makes through ctx:aws() that AWS
-- refuses for one of them is sent again with backoff (typekit.BACKOFF: a
-- pause of 15% of the time waited so far, at least 0.1 s and at most 4 s,
-- so that what wpo adds past the moment AWS is ready stays a small part of
-- what AWS imposed; real seconds, never WPO_WAIT_SCALE'd, as AWS's delays
-- are real) until it succeeds, is refused for anything else (raised at once:
-- other errors are not retried), or the type's timeout (typekit.LATE_TIMEOUT,
-- 120 s, from the first refusal) has passed. A progress line names what it
-- waits for: "waiting for IAM to propagate the instance profile wordpress-ecs (8s)".
-- While it sleeps, an apply lends the resource's --parallelism slot to the
-- next ready resource (ctx.idle).
--
-- One condition is every type's, undeclared: not_visible_yet. An EC2 call
-- answering <Thing>NotFound for an object this process made (a Create*,
-- Allocate*, Associate*... answered its id), or for the resource's own object
-- when its state record says it was made (record.created) — unless the call
-- takes the object away (Delete*, Disassociate*...: another deletion may have
-- taken it first) — less than resource.VISIBLE_AFTER_CREATE seconds ago and
-- not deleted since, is sent again until that window has passed: such an
-- object is not visible yet, never gone ("Eventual consistency in the Amazon
-- EC2 API").

M.LATE_TIMEOUT = 120
M.BACKOFF = { first = 0.1, fraction = 0.15, max = 4 }

-- the pause before the next try, `waited` seconds into a wait
function M.backoff(waited)
  return math.min(math.max(M.BACKOFF.first, waited * M.BACKOFF.fraction), M.BACKOFF.max)
end
M.NOTE_EVERY = 5            -- seconds between two progress lines of one wait

-- the nouns of EC2 ids, by prefix
local EC2_NOUNS = { vpc = "VPC", subnet = "subnet", sg = "security group", sgr = "security group rule",
  rtb = "route table", rtbassoc = "route table association", igw = "internet gateway", nat = "NAT gateway",
  eipalloc = "elastic IP", lt = "launch template", vpce = "VPC endpoint", eni = "network interface",
  i = "instance", ami = "image" }

local function ec2_id(s)
  if type(s) ~= "string" then return nil end
  local prefix = s:match("^(%l+)%-%x+$")
  if prefix and EC2_NOUNS[prefix] and #s - #prefix - 1 >= 8 then return prefix end
  return nil
end

local function arn_name(arn)
  return tostring(arn or ""):match("([^/:]+)/?%x*$") or tostring(arn)
end

local function in_message(err, ...)
  local msg = tostring(err.message or "")
  for i = 1, select("#", ...) do
    if msg:find((select(i, ...)), 1, true) then return true end
  end
  return false
end

-- name -> { services, codes, operations?, texts?, waits (format of the
-- progress line: "%s" is the subject), subject(err, params) -> phrase,
-- still?(ctx, client, params, err) -> false when waiting cannot help }
M.LATE = {
  not_visible_yet = {
    services = { ec2 = true },
    waits = "EC2 to show %s",
    doc = "EC2: a new object not found yet (Invalid<Thing>ID.NotFound, NatGatewayNotFound)",
  },
  iam_instance_profile = {
    services = { autoscaling = true, ec2 = true },
    codes = { ValidationError = true, InvalidParameterValue = true },
    texts = { "Invalid IAM Instance Profile" },
    waits = "IAM to propagate %s",
    subject = function(err)
      local name = tostring(err.message):match("Value %((.-)%) for parameter iamInstanceProfile")
      return "the instance profile " .. (name and arn_name(name) or "of the launch template")
    end,
    doc = "Auto Scaling/EC2: a new instance profile, or its role, not usable yet",
  },
  launch_template_version = {
    services = { autoscaling = true },
    codes = { ValidationError = true },
    texts = { "Could not find launch template version", "The specified launch template, with template ID" },
    waits = "EC2 to show %s to Auto Scaling",
    subject = function(err, params)
      local msg = tostring(err.message)
      local version, id = msg:match("version (%S+) for the launch template (lt%-%x+)")
      id = id or msg:match("template ID (lt%-%x+)") or ((params.LaunchTemplate or {}).LaunchTemplateId)
      return "the launch template " .. tostring(id) .. (version and (" version " .. version) or "")
    end,
    doc = "Auto Scaling: a new launch template or version not usable yet",
  },
  ecs_service_linked_role = {
    services = { ecs = true },
    codes = { InvalidParameterException = true, ClientException = true },
    texts = { "Unable to assume the service linked role", "ECS Service Linked Role does not exist" },
    waits = "IAM to propagate %s",
    subject = function() return "ECS's service-linked role" end,
    doc = "ECS: its service-linked role, made with the account's first cluster, not usable yet",
  },
  ecs_service_role = {
    services = { ecs = true },
    codes = { InvalidParameterException = true },
    texts = { "Unable to assume role and validate the specified targetGroupArn" },
    waits = "IAM to propagate %s",
    subject = function(_, params) return "the role " .. arn_name(params.role) end,
    doc = "ECS: a new service role not usable yet",
  },
  target_group_association = {
    services = { ecs = true },
    operations = { CreateService = true, UpdateService = true },
    codes = { InvalidParameterException = true },
    texts = { "does not have an associated load balancer" },
    waits = "Elastic Load Balancing to associate %s with its load balancer",
    subject = function(err)
      local arn = tostring(err.message):match("targetGroupArn (%S+)")
      return "the target group " .. ((arn and arn:match("targetgroup/([^/]+)")) or tostring(arn))
    end,
    doc = "ECS: a target group's new listener not seen yet",
  },
  application_autoscaling_role = {
    services = { ["application-autoscaling"] = true },
    codes = { ValidationException = true },
    texts = { "Unable to assume IAM role" },
    waits = "IAM to propagate %s",
    subject = function(_, params) return "the role " .. arn_name(params.RoleARN) end,
    doc = "Application Auto Scaling: a new role not usable yet",
  },
  backup_iam_role = {
    services = { backup = true },
    operations = { CreateBackupSelection = true },
    codes = { InvalidParameterValueException = true },
    texts = { "cannot be assumed by AWS Backup", "is not authorized to call" },
    waits = "IAM to propagate %s",
    subject = function(_, params)
      return "the role " .. arn_name(((params or {}).BackupSelection or {}).IamRoleArn)
    end,
    doc = "AWS Backup: a selection's new role (or its policies) not usable yet",
  },
  rds_monitoring_role = {
    services = { rds = true },
    codes = { InvalidParameterValue = true },
    texts = { "IAM role ARN value is invalid or does not include the required permissions" },
    waits = "IAM to propagate %s",
    subject = function(_, params) return "the monitoring role " .. arn_name(params.MonitoringRoleArn) end,
    doc = "RDS: a new monitoring role not usable yet",
  },
  waf_entity = {
    services = { wafv2 = true },
    operations = { AssociateWebACL = true, GetWebACLForResource = true },
    codes = { WAFUnavailableEntityException = true },
    waits = "AWS WAF to know %s",
    subject = function(_, params)
      local arn = tostring(params.ResourceArn)
      return "the load balancer " .. (arn:match("loadbalancer/app/([^/]+)") or arn)
    end,
    doc = "AWS WAF: a new load balancer not known to it yet",
  },
  s3_new_bucket = {
    services = { s3 = true },
    codes = { NoSuchBucket = true },
    waits = "S3 to show %s",
    subject = function(_, params) return "the new bucket " .. tostring(params.Bucket) end,
    -- only a bucket this process made a moment ago (CreateBucket answered,
    -- no DeleteBucket since): any other NoSuchBucket means it is gone
    still = function(_, _, params)
      local at = M.made["s3:" .. tostring(params.Bucket)]
      return at ~= nil and resource.clock.epoch() - at < resource.VISIBLE_AFTER_CREATE
    end,
    doc = "S3: a bucket just made answers NoSuchBucket to its configuration calls for a moment",
  },
  secret_name_purging = {
    services = { secretsmanager = true },
    operations = { CreateSecret = true },
    codes = { InvalidRequestException = true },
    texts = { "already scheduled for deletion" },
    waits = "Secrets Manager to finish deleting %s",
    subject = function(_, params) return "the secret " .. tostring(params.Name) end,
    -- a secret in its recovery window holds the name (DescribeSecret sees it):
    -- waiting cannot help; one force-deleted is gone but still purging
    still = function(_, client, params)
      local out, err = client:pcall("DescribeSecret", { SecretId = params.Name })
      return out == nil and err.code == "ResourceNotFoundException"
    end,
    doc = "Secrets Manager: the name of a force-deleted secret, still being purged",
  },
}

local function late_names()
  local names = {}
  for name in pairs(M.LATE) do if name ~= "not_visible_yet" then names[#names + 1] = name end end
  table.sort(names)
  return names
end

-- typekit.late { names..., timeout = seconds } -> the declaration a type puts in `late`
function M.late(spec)
  if type(spec) ~= "table" then error("typekit.late: expected a list of condition names", 2) end
  local decl = { names = {}, timeout = M.LATE_TIMEOUT }
  for k, v in pairs(spec) do
    if k == "timeout" then
      if type(v) ~= "number" or v <= 0 then error("typekit.late: timeout must be a number of seconds > 0", 2) end
      decl.timeout = v
    elseif math.type(k) ~= "integer" then
      error(string.format("typekit.late: unknown key '%s' (valid: the condition names, timeout)", tostring(k)), 2)
    end
  end
  for _, name in ipairs(spec) do
    if not M.LATE[name] or name == "not_visible_yet" then
      error(string.format("typekit.late: unknown condition '%s' (known: %s)", tostring(name),
        table.concat(late_names(), ", ")), 2)
    end
    decl.names[#decl.names + 1] = name
  end
  return decl
end

-- What this process made and deleted (EC2 ids -> epoch seconds made; set of deleted)
M.made, M.deleted = {}, {}
local MAKING = { "Create", "Allocate", "Run", "Copy", "Import", "Request", "Associate", "Authorize", "Register" }
local DELETING = { "Delete", "Release", "Terminate", "Deregister" }

local function starts(op, verbs)
  for _, v in ipairs(verbs) do
    if op:sub(1, #v) == v and not op:sub(#v + 1, #v + 1):match("%l") then return true end
  end
  return false
end

local function each_string(v, fn, depth)
  depth = depth or 0
  if depth > 8 then return end
  if type(v) == "string" then fn(v)
  elseif type(v) == "table" then
    for _, x in pairs(v) do each_string(x, fn, depth + 1) end
  end
end

local function remember(service, op, params, result)
  if service == "s3" and (op == "CreateBucket" or op == "DeleteBucket") then
    local key = "s3:" .. tostring(params.Bucket)
    M.made[key] = op == "CreateBucket" and resource.clock.epoch() or nil
    return
  end
  if service ~= "ec2" then return end
  if starts(op, MAKING) then
    local now = resource.clock.epoch()
    each_string(result, function(s)
      if ec2_id(s) and not M.made[s] then M.made[s] = now end
    end)
  elseif starts(op, DELETING) and not op:find("Tags", 1, true) then
    each_string(params, function(s)
      if ec2_id(s) then M.made[s], M.deleted[s] = nil, true end
    end)
  end
end

-- Calls that take an object away (or undo its link): NotFound for them may
-- mean that something else took it already (its subnet deleted first, say)
local UNDOING = { "Delete", "Release", "Terminate", "Deregister", "Disassociate", "Detach", "Revoke", "Remove" }

-- When the object named s was made, if it is still in its visibility window:
-- one this process made (whatever the call), or the resource's own per its
-- state record (for any call but one that takes it away: a record says
-- nothing of what happened to it since)
local function made_at(ctx, s, op)
  if M.deleted[s] then return nil end
  local at = M.made[s]
  local prior = ctx.prior
  if not at and prior and prior.id == s and not starts(op, UNDOING) then at = tonumber(prior.created) end
  if at and resource.clock.epoch() - at < resource.VISIBLE_AFTER_CREATE then return at end
  return nil
end

local function matches(c, service, op, err)
  if not c.services[service] or not c.codes or not c.codes[err.code] then return false end
  if c.operations and not c.operations[op] then return false end
  return not c.texts or in_message(err, table.unpack(c.texts))
end

-- -> name, phrase, deadline (monotonic seconds, for not_visible_yet), or nil
-- when err is not one of the late conditions the type declares
local function classify(ctx, decl, client, op, params, err, now)
  local service = client.service
  if M.LATE.not_visible_yet.services[service] and tostring(err.code):find("NotFound", 1, true) then
    local id, at
    each_string(params, function(s)
      if not id and ec2_id(s) then
        at = made_at(ctx, s, op)
        if at then id = s end
      end
    end)
    if not id then return nil end
    return "not_visible_yet", string.format("the %s %s", EC2_NOUNS[ec2_id(id)], id),
      now + (resource.VISIBLE_AFTER_CREATE - (resource.clock.epoch() - at))
  end
  for _, name in ipairs(decl and decl.names or {}) do
    local c = M.LATE[name]
    if matches(c, service, op, err) then
      if c.still and not c.still(ctx, client, params, err) then return nil end
      return name, c.subject(err, params), nil
    end
  end
  return nil
end

-- typekit.on_late(event): called when a wait for a late condition ends, with
-- { address, condition, subject, request_id (of the first refusal), refused
-- (calls refused), waited (seconds), ok }; the benchmarks read it
M.on_late = nil

local function ended(ctx, episode, ok)
  if M.on_late then
    M.on_late { address = ctx.address, condition = episode.name, subject = episode.subject,
      request_id = episode.request_id, refused = episode.refused, waited = resource.clock.now() - episode.since,
      ok = ok }
  end
end

-- typekit.late_call(ctx) -> function(client, op, params) -> result, meta
function M.late_call(ctx)
  local decl = ctx.type and ctx.type.late
  local clock = resource.clock
  return function(client, op, params)
    local episode
    while true do
      local ok, result, meta = pcall(client.invoke, client, op, params)
      if ok then
        remember(client.service, op, params, result)
        if episode then ended(ctx, episode, true) end
        return result, meta
      end
      local err = result
      if not errors.is(err) then error(err, 0) end
      -- the bucket is this account's already: made by this create a moment
      -- ago, its answer lost (or long ago, when no NoSuchBucket can follow)
      if client.service == "s3" and op == "CreateBucket" and err.code == "BucketAlreadyOwnedByYou" then
        remember("s3", op, params, {})
      end
      local now = clock.now()
      local name, subject, deadline = classify(ctx, decl, client, op, params or {}, err, now)
      if not name then
        if episode then
          ended(ctx, episode, false)
          err.message = string.format("%s (still so after waiting %ds for %s)", tostring(err.message),
            math.floor(now - episode.since + 0.5), string.format(M.LATE[episode.name].waits, episode.subject))
        end
        error(err, 0)
      end
      if not episode or episode.name ~= name or episode.subject ~= subject then
        if episode then ended(ctx, episode, false) end
        episode = { name = name, subject = subject, since = now, request_id = err.request_id, refused = 0,
          deadline = deadline or now + (decl and decl.timeout or M.LATE_TIMEOUT) }
      end
      episode.refused = episode.refused + 1
      local waits = string.format(M.LATE[name].waits, subject)
      if now >= episode.deadline or task.cancelled() then
        ended(ctx, episode, false)
        err.message = string.format("%s (still so after waiting %ds for %s)", tostring(err.message),
          math.floor(now - episode.since + 0.5), waits)
        error(err, 0)
      end
      if not episode.noted or now - episode.noted >= M.NOTE_EVERY then
        episode.noted = now
        ctx:log("waiting for %s (%ds)", waits, math.floor(now - episode.since + 0.5))
      end
      local pause = math.min(M.backoff(now - episode.since), episode.deadline - now)
      if ctx.idle then ctx.idle(function() clock.sleep(pause) end) else clock.sleep(pause) end
      aws.late_spent(pause)
    end
  end
end

-- typekit.forget(): what this process made and deleted is forgotten (tests)
function M.forget()
  M.made, M.deleted = {}, {}
end

return M
