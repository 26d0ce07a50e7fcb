-- wpo.aws.typekit: what the compute, service and load-balancer resource types
-- share — tag lists in each service's shape, comparing what AWS answers with
-- what the script asked for, waiting with the resource named, AWS error codes.
-- Not a resource type (no resource.define here).
--
--   typekit.ec2_tags(map) -> { { Key, Value } } (sorted)   typekit.from_ec2_tags(list) -> map
--   typekit.ecs_tags(map) -> { { key, value } } (sorted)   typekit.from_ecs_tags(list) -> map
--   typekit.user_tags(map, drop?) -> map without aws:* keys (and the keys in the set drop)
--   typekit.tag_changes(old, new) -> set (map of keys added or changed), removed (sorted keys)
--   typekit.try(client, op, params) -> result | nil, err   (client:pcall gives result, meta)
--   typekit.is_code(err, code...) -> boolean     an AWS error with one of these codes
--   typekit.wait(ctx, check, opts) -> aws.wait with the resource's address in
--        `what` and progress notes; polling intervals scaled by WPO_WAIT_SCALE
--        (tests against fakeaws) — by aws.wait itself when it has a time scale
--        (aws.wait_scale), else here (intervals only, never the timeout);
--        the second poll FIRST_POLL (0.25) s after the first, then doubling up
--        to the interval (typekit.schedule)
--   typekit.same_set(a, b) -> boolean              lists equal as sets
--   typekit.as_prior_order(observed, prior) -> prior when it holds the same set, else observed as AWS
--        ordered it
--   typekit.contains(want, have) -> boolean        every value of want is in have (recursively);
--        lists compare element by element; what AWS adds (defaults) is ignored
--   typekit.same_strategy(a, b) -> boolean        capacity-provider strategies equal, weight and
--        base 0 when left out
--   typekit.sorted(list) -> a sorted copy
--   typekit.chunks(list, n) -> iterator over slices of at most n
--   typekit.owns(ctx, tags) -> boolean: the tags carry this resource's address
--        (and no other stack's name)
--   typekit.named(ctx, noun, name, tags, object?) -> a type's find answer for an
--        object found under the name the resource wants: { { id = name, tags,
--        object } } when its tags carry this resource's address (and no other
--        stack's), else an AlreadyExists error ("import it, or choose another
--        name"); {} when tags is nil (no such object)
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

local M = {}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

function M.ec2_tags(map)
  local out = {}
  for _, k in ipairs(sorted_keys(map)) do out[#out + 1] = { Key = k, Value = map[k] } end
  return out
end

function M.from_ec2_tags(list)
  local out = {}
  for _, t in ipairs(list or {}) do out[t.Key] = t.Value or "" end
  return out
end

function M.ecs_tags(map)
  local out = {}
  for _, k in ipairs(sorted_keys(map)) do out[#out + 1] = { key = k, value = map[k] } end
  return out
end

function M.from_ecs_tags(list)
  local out = {}
  for _, t in ipairs(list or {}) do out[t.key] = t.value or "" end
  return out
end

function M.user_tags(map, drop)
  local out = {}
  for k, v in pairs(map or {}) do
    if not k:match("^aws:") and not (drop and drop[k]) then out[k] = v end
  end
  return out
end

function M.tag_changes(old, new)
  local set, removed = {}, {}
  for k, v in pairs(new or {}) do
    if (old or {})[k] ~= v then set[k] = v end
  end
  for _, k in ipairs(sorted_keys(old)) do
    if (new or {})[k] == nil then removed[#removed + 1] = k end
  end
  return set, removed
end

function M.try(client, op, params)
  local out, err = client:pcall(op, params)
  if out == nil then return nil, err end
  return out
end

function M.is_code(err, ...)
  if type(err) ~= "table" or not errors.is(err) then return false end
  for i = 1, select("#", ...) do
    if err.code == select(i, ...) then return true end
  end
  return false
end

-- The scale applied to polling intervals; read from WPO_WAIT_SCALE on first use.
M.wait_scale = nil

local function scale()
  if M.wait_scale == nil then
    local s = tonumber(os.getenv("WPO_WAIT_SCALE") or "")
    M.wait_scale = (s and s >= 0) and s or 1
  end
  return M.wait_scale
end

-- The poll schedule of every wait: the first poll at once, the second
-- FIRST_POLL seconds later (not the full interval: what AWS finishes quickly
-- is seen quickly), each next pause doubled up to the interval (a botocore
-- waiter's delay), unless the caller chose its own first pause or backoff.
-- 0.25 s: a wait of a 30 s waiter makes 5 more calls than botocore's in its
-- first 30 s, and a transition that is over by the second look costs 0.25 s
-- instead of 30 (bench/destroy_bench.lua).
M.FIRST_POLL = 0.25

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

-- typekit.wait(ctx, check, { what, timeout, first, interval, backoff, max_interval })
function M.wait(ctx, check, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  M.schedule(o)
  if not aws.wait_scale then
    local s = scale()
    o.interval = (o.interval or 5) * s
    if o.first then o.first = o.first * s end
    o.max_interval = (o.max_interval or 60) * s
  end
  o.what = (ctx.address and (ctx.address .. ": ") or "") .. (o.what or "the change to finish")
  o.progress = o.progress or function(info)
    if info.attempt == 1 or info.attempt % 6 == 0 then
      ctx:log("waiting for %s (%s)", opts.what or "the change", tostring(info.state))
    end
  end
  return aws.wait(check, o)
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

function M.as_prior_order(observed, prior)
  if prior and M.same_set(observed, prior) then return prior end
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
  rds_monitoring_role = {
    services = { rds = true },
    codes = { InvalidParameterValue = true },
    texts = { "IAM role ARN value is invalid or does not include the required permissions" },
    waits = "IAM to propagate %s",
    subject = function(_, params) return "the monitoring role " .. arn_name(params.MonitoringRoleArn) end,
    doc = "RDS: a new monitoring role not usable yet",
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
