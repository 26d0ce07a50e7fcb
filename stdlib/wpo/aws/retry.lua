-- wpo.aws.retry: when and how wpo.aws retries, as the AWS SDKs' "standard"
-- mode (botocore retries/standard.py and quota.py), and the client-side rate
-- limiter.
--
--   retry.classify(err) -> "throttling" | "transient" | "timeout" | nil
--     err = { code, status, transport = transport failure code }
--   retry.outcome_unknown(err) -> boolean: may AWS have done what a failed
--     request asked? A connection that never opened, a throttling answer and
--     any other 4xx say no; a dropped connection, a timeout, a 5xx and an
--     answer that cannot be decoded leave it unknown.
--   retry.has_token(marked, params) -> boolean: the request carries an idempotency token
--   retry.resendable(service, operation, has_token) -> boolean: is a write
--     safe to send again when its outcome is unknown? Not when carrying it
--     out twice makes two of something (Create*, Allocate*, Register*,
--     Run*, Associate*, Authorize*...) — unless it carries an idempotency
--     token (AWS then does it once) or is an upsert (see RESENDABLE).
--   retry.delay(attempt, random, base) -> seconds: random() * min(base * 2^(attempt-1), 20)
--     (full jitter; base 1 s; attempt is the attempt that just failed, 1-based)
--   retry.quota(capacity) -> q: q:acquire(kind) -> cost | nil; q:release(cost)
--     500 tokens; a retry costs 5, a retry after a timeout 10; a success
--     gives back what its last retry took, or 1 when it needed none.
--   retry.shared_quota(key) -> the quota of every client of a service,
--     region and endpoint
--   retry.bucket(service, region, spec, operation, identity) -> b
--     b:take(now_ms, sleep) -> waited seconds; b:throttled(now_ms); b:rate_at(now_ms)
--     an adaptive token bucket shared by every client of one identity (the
--     credentials' access key: one account), service and region — so every
--     stack of a rollout in one account and region shares it, and stacks in
--     other accounts or regions do not: capacity tokens, refill per second
--     (Route 53 50/10). EC2 throttles each API action on its own, so there
--     each operation has its own bucket: non-mutating (Describe*, Get*,
--     List*) 100/20, mutating 50/5.
--     Adaptive as the SDKs' "adaptive" retry mode: a throttling answer cuts
--     the refill rate (x ADAPT_BETA, and empties the burst), which then
--     recovers along a cubic curve back to, never above, the configured rate.
local M = {}

M.DEFAULT_MAX_ATTEMPTS = 3
-- A throttling answer says AWS did nothing: such a call is tried up to this
-- many times (or max_attempts, if more), and its throttled attempts do not
-- count against the max_attempts of other failures. Under heavy throttling
-- a wide apply then slows down instead of failing.
M.THROTTLE_ATTEMPTS = 10
M.MAX_BACKOFF = 20
M.QUOTA_CAPACITY = 500
M.RETRY_COST = 5
M.TIMEOUT_RETRY_COST = 10
M.NO_RETRY_INCREMENT = 1

M.THROTTLING_CODES = {}
for _, c in ipairs({ "Throttling", "ThrottlingException", "ThrottledException",
  "RequestThrottledException", "TooManyRequestsException", "ProvisionedThroughputExceededException",
  "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
  "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
  "EC2ThrottledException" }) do M.THROTTLING_CODES[c] = true end

M.TRANSIENT_CODES = { RequestTimeout = true, RequestTimeoutException = true, PriorRequestNotComplete = true }
M.TRANSIENT_STATUS = { [500] = true, [502] = true, [503] = true, [504] = true }
-- Transport failures (wpo.core.http codes) worth another attempt; "tls" and
-- "cancelled" are not.
M.TRANSIENT_TRANSPORT = { connect = true, transport = true, timeout = true }

function M.classify(err)
  if err.transport then
    if err.transport == "timeout" then return "timeout" end
    return M.TRANSIENT_TRANSPORT[err.transport] and "transient" or nil
  end
  if err.code and M.THROTTLING_CODES[err.code] then return "throttling" end
  if err.code and M.TRANSIENT_CODES[err.code] then return "transient" end
  if err.status and M.TRANSIENT_STATUS[err.status] then return "transient" end
  return nil
end

function M.outcome_unknown(err)
  if err.transport then
    return err.transport ~= "connect" and err.transport ~= "tls"
  end
  if err.code == "InvalidResponse" then return true end
  if err.code and M.THROTTLING_CODES[err.code] then return false end
  return err.status ~= nil and err.status >= 500
end

-- Verbs of writes that make something new each time AWS carries them out.
M.MAKING_VERBS = { "Create", "Allocate", "Register", "Run", "Request", "Import", "Copy", "Clone", "Restore",
  "Associate", "Attach", "Authorize", "Add", "Subscribe", "Publish", "Send", "Start", "Purchase", "Issue",
  "Change", "Increase" }
-- Writes named like those that are upserts (carried out twice, the second
-- changes nothing), and others that make something although named otherwise.
M.RESENDABLE = {
  ["application-autoscaling:RegisterScalableTarget"] = true,
  ["autoscaling:CreateOrUpdateTags"] = true,
  ["iam:AttachRolePolicy"] = true, ["iam:AttachUserPolicy"] = true, ["iam:AttachGroupPolicy"] = true,
  ["route53:ChangeTagsForResource"] = true,
  ["sns:CreateTopic"] = true, ["sns:Subscribe"] = true,      -- idempotent by name, by topic and endpoint
  ["ssm:PutParameter"] = false,
}

-- Members that carry an idempotency token where the models do not mark one
-- (ECS CreateService's clientToken, ...).
M.TOKEN_MEMBERS = { "ClientToken", "clientToken", "ClientRequestToken", "clientRequestToken", "CreationToken",
  "IdempotencyToken", "idempotencyToken" }

-- retry.has_token(marked, params) -> boolean: does the request carry an
-- idempotency token (a member the model marks, or one named like one)?
function M.has_token(marked, params)
  for _, name in ipairs(marked or {}) do
    if params[name] ~= nil then return true end
  end
  for _, name in ipairs(M.TOKEN_MEMBERS) do
    if params[name] ~= nil then return true end
  end
  return false
end

function M.resendable(service, operation, has_token)
  if has_token then return true end
  local listed = M.RESENDABLE[service .. ":" .. operation]
  if listed ~= nil then return listed end
  if operation:find("Tags", 1, true) then return true end      -- AddTags, AddTagsToResource...: upserts
  for _, verb in ipairs(M.MAKING_VERBS) do
    if operation:sub(1, #verb) == verb and not operation:sub(#verb + 1, #verb + 1):match("%l") then
      return false
    end
  end
  return true
end

-- retry.delay(attempt, random, base) -> seconds to wait after the attempt-th attempt failed
function M.delay(attempt, random, base)
  return random() * math.min((base or 1) * 2 ^ (attempt - 1), M.MAX_BACKOFF)
end

local Quota = {}
Quota.__index = Quota

function M.quota(capacity)
  capacity = capacity or M.QUOTA_CAPACITY
  return setmetatable({ max = capacity, available = capacity }, Quota)
end

-- q:acquire(kind) -> the cost taken, or nil when the quota is exhausted
function Quota:acquire(kind)
  local cost = kind == "timeout" and M.TIMEOUT_RETRY_COST or M.RETRY_COST
  if cost > self.available then return nil end
  self.available = self.available - cost
  return cost
end

-- q:release(amount): give capacity back (never above the maximum)
function Quota:release(amount)
  self.available = math.min(self.max, self.available + amount)
end

-- Client-side rate limits: { capacity, refill per second }.
M.RATE_LIMITS = {
  ec2 = { 100, 20 },
  route53 = { 50, 10 },
  iam = { 20, 10 },
}
M.DEFAULT_RATE_LIMIT = { 50, 20 }

-- Services that throttle each API action on its own bucket, by kind of action
-- (EC2: "Request throttling for the Amazon EC2 API").
M.PER_OPERATION_LIMITS = {
  ec2 = { read = { 100, 20 }, write = { 50, 5 } },
}

local function is_read(operation)
  return (operation:match("^Describe") or operation:match("^Get") or operation:match("^List")) ~= nil
end

local Bucket = {}
Bucket.__index = Bucket

local buckets = {}

-- The adaptive rate (CUBIC, as in the SDKs' adaptive mode): on a throttle the
-- rate r becomes r * ADAPT_BETA and r is remembered as w_max; t seconds after
-- that cut the rate is ADAPT_C * (t - k)^3 + w_max, k = cbrt(w_max * (1 -
-- ADAPT_BETA) / ADAPT_C): back at w_max after k seconds, then growing, capped
-- at the configured rate. Never below ADAPT_MIN_RATE calls a second.
M.ADAPT_BETA = 0.7
M.ADAPT_C = 0.4
M.ADAPT_MIN_RATE = 0.5
-- false: a throttle leaves the bucket as it was (the fixed limiter; tests
-- compare the two)
M.ADAPTIVE = true

-- retry.bucket(service, region, spec, operation, identity) -> the shared
-- bucket for identity+service+region, or identity+service+region+operation
-- where the service throttles per action (and no spec overrides it). spec:
-- { capacity, refill } overriding the default (first caller wins). identity:
-- who is calling (the access key id); nil for one bucket whoever calls.
function M.bucket(service, region, spec, operation, identity)
  local key = service .. "/" .. region
  if identity then key = identity .. "/" .. key end
  local per_op = not spec and operation and M.PER_OPERATION_LIMITS[service]
  if per_op then
    key = key .. "/" .. operation
    spec = is_read(operation) and per_op.read or per_op.write
  end
  local b = buckets[key]
  if not b then
    spec = spec or M.RATE_LIMITS[service] or M.DEFAULT_RATE_LIMIT
    b = setmetatable({ capacity = spec[1], max_rate = spec[2], rate = spec[2], tokens = spec[1], at = nil,
      key = key, cut_at = nil, w_max = spec[2], throttles = 0 }, Bucket)
    buckets[key] = b
  end
  return b
end

-- b:rate_at(now) -> the refill rate (calls a second) at now (ms); it only
-- changes after a cut, as it recovers
function Bucket:rate_at(now)
  if not self.cut_at then return self.rate end
  local t = (now - self.cut_at) / 1000
  local k = ((self.w_max * (1 - M.ADAPT_BETA)) / M.ADAPT_C) ^ (1 / 3)
  local r = M.ADAPT_C * (t - k) ^ 3 + self.w_max
  if r >= self.max_rate then return self.max_rate end
  return math.max(M.ADAPT_MIN_RATE, r)
end

-- settle the tokens earned since the last look, at the rate in force (the
-- rate at the end of the span: it only grows between cuts)
function Bucket:refill(now)
  local rate = self:rate_at(now)
  if self.at and now > self.at then
    self.tokens = math.min(self.capacity, self.tokens + (now - self.at) / 1000 * rate)
  end
  if self.at == nil or now > self.at then self.at = now end
  self.rate = rate
  if self.cut_at and rate >= self.max_rate then self.cut_at = nil end
  return rate
end

-- b:throttled(now_ms): AWS answered a call with throttling: cut the rate and
-- drop the burst, so that the calls queued behind it slow down at once.
function Bucket:throttled(now_ms)
  self.throttles = self.throttles + 1
  if not M.ADAPTIVE then return end
  local now = now_ms()
  local rate = self:refill(now)
  self.w_max = rate
  self.rate = math.max(M.ADAPT_MIN_RATE, rate * M.ADAPT_BETA)
  self.cut_at = now
  if self.tokens > 0 then self.tokens = 0 end
end

local quotas = {}

-- retry.shared_quota(key) -> the retry quota shared by every client with
-- this key (service, region and endpoint): "client-wide" even when each
-- resource makes its own client.
function M.shared_quota(key)
  local q = quotas[key]
  if not q then
    q = M.quota()
    quotas[key] = q
  end
  return q
end

-- retry.reset(): forget every bucket and shared quota (tests)
function M.reset()
  buckets = {}
  quotas = {}
end

-- b:take(now_ms, sleep) -> seconds waited. Each caller reserves its token
-- (the count may go negative) and sleeps until it is due, so concurrent
-- callers queue in order instead of waking together.
function Bucket:take(now_ms, sleep)
  local now = now_ms()
  local rate = self:refill(now)
  self.tokens = self.tokens - 1
  if self.tokens >= 0 then return 0 end
  local wait = -self.tokens / rate
  sleep(wait)
  return wait
end

return M
