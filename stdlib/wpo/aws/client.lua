-- wpo.aws.client: a client for one AWS service in one region.
--
--   local ec2 = client.new("ec2", { region = "eu-west-1" })
--   local out, meta = ec2:call("CreateVpc", { CidrBlock = "10.0.0.0/16" })
--   local out, err  = ec2:pcall("DeleteVpc", { VpcId = id })     -- err: wpo.errors
--   for page in ec2:paginate("DescribeVpcs", {}) do ... end
--   local all = ec2:collect("DescribeVpcs", {})                   -- pages merged
--
-- call validates params against the generated model (AWS's own operation
-- and member names), serialises with the service's protocol, signs (SigV4,
-- wpo.core.sigv4), sends through wpo.aws.transport (yields inside a task,
-- blocks outside one), decodes, and retries as the SDKs' standard mode
-- (wpo.aws.retry) — except that a write whose outcome is unknown (the
-- connection dropped, a timeout, a 5xx, an undecodable answer: AWS may have
-- done it) is not sent again when doing it twice would make two of
-- something (retry.resendable: CreateVpc, AllocateAddress,
-- RegisterTaskDefinition... without an idempotency token). An AWS failure
-- raises a wpo.errors error with { service, operation, code, message,
-- status, request_id, retryable, attempts, outcome = "unknown" for a write
-- that may have been done }; meta = { request_id, status, attempts, headers }. The retry
-- quota (client.quota) and the rate limiter are shared by every client of
-- the same service and region, so clients are cheap to make per resource.
--
-- Options (unknown keys are errors): region, endpoint (URL, or service ->
-- URL), credentials ({ access_key, secret_key, session_token }, or a
-- provider from wpo.aws.credentials: credentials.anonymous() sends every
-- request unsigned), profile,
-- assume_role ({ role_arn, external_id, session_name, duration }: the role's
-- credentials, assumed with those the client would use otherwise; wpo.aws.role),
-- read_only (see below), max_attempts (default 3, or AWS_MAX_ATTEMPTS), timeout_ms, connect_timeout_ms,
-- rate_limit (false, or { capacity, refill per second }), and for tests:
-- transport(req) -> resp | nil, err, code; random() -> [0,1); sleep(seconds);
-- now() -> ms (monotonic); clock() -> epoch seconds (signing time); getenv.
--
-- late = function(client, op, params) -> result, meta: what call and pcall
-- (and so paginate and collect) run instead of client:invoke — the resource
-- contexts' clients hand their calls to wpo.aws.typekit there, which sends
-- again, with backoff, a call AWS refuses for a condition it resolves late
-- (an object not visible yet, IAM not propagated yet). Without it a call is
-- one invoke.
--
-- read_only = true makes a read-only client: any operation that is not a
-- read raises ReadOnlyViolation before anything is sent. The capability
-- belongs to the client (the contexts a plan gives resource types make
-- only such clients), never to the process: a plan and an apply running
-- side by side (a rollout) do not share it.
--
-- A 200 answer may lack a member the caller needs (AWS's models mark almost
-- no output member required). client.required(result, key, ...) takes a
-- member, following keys into nested structures and lists, and raises
-- InvalidResponse naming the operation, the member and the request when it
-- is absent: "ec2 CreateVpc answered without Vpc.VpcId (request 5f1c...)".
-- Every result of call, pcall, paginate and collect knows where it came from.
local crypto = require "wpo.core.crypto"
local loop = require "wpo.core.loop"
local sigv4 = require "wpo.core.sigv4"
local errors = require "wpo.errors"
local log = require "wpo.log"
local task = require "wpo.task"
local text = require "wpo.text"
local common = require "wpo.aws.protocol.common"
local credentials = require "wpo.aws.credentials"
local role = require "wpo.aws.role"
local endpoints = require "wpo.aws.endpoints"
local retry = require "wpo.aws.retry"
local services = require "wpo.aws.services"
local transport = require "wpo.aws.transport"
local xml = require "wpo.core.xml"

local M = {}

local PROTOCOLS = {
  ["ec2"] = "wpo.aws.protocol.ec2",
  ["query"] = "wpo.aws.protocol.query",
  ["json"] = "wpo.aws.protocol.json",
  ["rest-json"] = "wpo.aws.protocol.rest_json",
  ["rest-xml"] = "wpo.aws.protocol.rest_xml",
}

-- Other names people use for a service -> the botocore name.
M.ALIASES = {
  elasticloadbalancingv2 = "elbv2",
  ["elastic-load-balancing-v2"] = "elbv2",
  application_autoscaling = "application-autoscaling",
  monitoring = "cloudwatch",
  elasticfilesystem = "efs",
}

local OPTIONS = {
  region = "string", endpoint = { "string", "table" }, credentials = "table", profile = "string",
  max_attempts = "number", timeout_ms = "number", connect_timeout_ms = "number",
  rate_limit = { "table", "boolean" }, transport = "function", random = "function",
  sleep = "function", now = "function", clock = "function", getenv = "function",
  read_only = "boolean", assume_role = "table", late = "function", read_cache = "table",
}

local function option_names()
  local names = {}
  for k in pairs(OPTIONS) do names[#names + 1] = k end
  table.sort(names)
  return names
end

local function check_options(opts)
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then
      error(string.format("aws.client: unknown option '%s' (valid: %s)", tostring(k),
        table.concat(option_names(), ", ")), 3)
    end
    local ok = false
    for _, t in ipairs(type(want) == "table" and want or { want }) do
      if type(v) == t then ok = true end
    end
    if not ok then
      error(string.format("aws.client: option %s must be a %s, not a %s", k,
        type(want) == "table" and table.concat(want, " or ") or want, type(v)), 3)
    end
  end
end

--------------------------------------------------------------- required members

-- result table -> { service, operation, request_id }: what answered it
local answered = setmetatable({}, { __mode = "k" })

local function path_name(keys, n)
  local out = {}
  for i = 1, n do
    local k = keys[i]
    if math.type(k) == "integer" and #out > 0 then out[#out] = out[#out] .. "[" .. k .. "]"
    elseif math.type(k) == "integer" then out[1] = "[" .. k .. "]"
    else out[#out + 1] = tostring(k) end
  end
  return table.concat(out, ".")
end

-- client.required(result, key, ...) -> the member at that path (raises InvalidResponse)
function M.required(result, ...)
  local keys = table.pack(...)
  if keys.n == 0 then error("aws.required: name the member to take", 2) end
  local v = result
  for i = 1, keys.n do
    if type(v) == "table" then v = v[keys[i]] else v = nil end
    if v == nil then
      local from = type(result) == "table" and answered[result]
      local missing = path_name(keys, i)
      errors.raise { code = "InvalidResponse", retryable = false, response = from or nil,
        message = from and string.format("%s %s answered without %s%s", from.service, from.operation, missing,
          from.request_id and (" (request " .. tostring(from.request_id) .. ")") or "")
          or ("an AWS answer without " .. missing) }
    end
  end
  return v
end

--------------------------------------------------------------- read-only clients

-- Operations that read although their names do not say so.
M.READ_ALLOWLIST = {
  ["sts:AssumeRole"] = true, ["sts:GetCallerIdentity"] = true, ["sts:GetSessionToken"] = true,
  ["sts:DecodeAuthorizationMessage"] = true, ["sts:GetAccessKeyInfo"] = true,
  ["dynamodb:Query"] = true, ["dynamodb:Scan"] = true, ["dynamodb:BatchGetItem"] = true,
  ["dynamodb:TransactGetItems"] = true,
  ["ecr:BatchGetImage"] = true, ["ecr:BatchCheckLayerAvailability"] = true,
  ["kms:Decrypt"] = true,
  ["logs:FilterLogEvents"] = true,
}
M.READ_PREFIXES = { "Describe", "List", "Get", "Head" }

-- client.is_read(service, op) -> boolean
function M.is_read(service, op)
  local key = service .. ":" .. op
  local listed = M.READ_ALLOWLIST[key]
  if listed ~= nil then return listed end
  for _, prefix in ipairs(M.READ_PREFIXES) do
    if op:sub(1, #prefix) == prefix then return true end
  end
  return false
end


---------------------------------------------------------------------- models

local models = {}

-- client.model(service) -> the generated model of a service (loaded once)
function M.model(service)
  local m = models[service]
  if not m then
    -- lazy: a service's model (large) loads with its first client
    m = require("wpo.aws.models." .. services[service].model)
    models[service] = m
  end
  return m
end

-- client.service_name(name) -> botocore name | nil
function M.service_name(name)
  name = M.ALIASES[name] or name
  if services[name] then return name end
  return nil
end

function M.services()
  local names = {}
  for k in pairs(services) do names[#names + 1] = k end
  table.sort(names)
  return names
end

-------------------------------------------------------------------- redaction

local REDACTED = log.REDACTED
-- Members that hold secrets even where the models do not mark them sensitive
-- (Body: an S3 object may be a state file, which holds secrets).
M.SECRET_MEMBERS = {
  SecretAccessKey = true, SessionToken = true, Password = true, MasterUserPassword = true,
  AuthToken = true, SecretString = true, SecretBinary = true, Plaintext = true,
  NewPassword = true, OldPassword = true, PrivateKey = true, Token = true, Body = true,
  -- signing in (STS web identity, SSO, SSO OIDC), which older models do not mark
  WebIdentityToken = true, SAMLAssertion = true, accessToken = true, refreshToken = true, idToken = true,
  clientSecret = true, secretAccessKey = true, sessionToken = true,
  -- an ALB rule's header condition: its value may be a shared secret (the header only CloudFront sends)
  HttpHeaderConfig = true,
}

local function redact(model, ref, v, name)
  if v == nil then return nil end
  if ref == nil then return v end      -- an operation without an output shape (IAM DeleteRole...): {}
  local target, tr = common.ref(ref)
  if tr.s or (name and M.SECRET_MEMBERS[name]) then return REDACTED end
  local shape = model.shapes[target]
  if not shape or type(v) ~= "table" or shape.doc then return v end
  local out = {}
  if shape.T == "structure" then
    local idx = common.member_index(shape)
    for k, mv in pairs(v) do
      local i = idx[k]
      out[k] = i and redact(model, shape[i + 1], mv, k) or mv
    end
  elseif shape.T == "list" then
    for i = 1, #v do out[i] = redact(model, shape.m, v[i]) end
    setmetatable(out, getmetatable(v))
  else
    for k, mv in pairs(v) do out[k] = redact(model, shape.v, mv) end
  end
  return out
end
M.redact = redact

-- client.present(model, ref, value) -> a copy fit for printing as JSON:
-- blobs base64-encoded (as the AWS CLI shows them).
local function present(model, ref, v)
  if v == nil then return nil end
  local target = common.ref(ref)
  if target == "blob" and type(v) == "string" then return crypto.base64(v) end
  local shape = model.shapes[target]
  if not shape or type(v) ~= "table" or shape.doc then return v end
  local out = setmetatable({}, getmetatable(v))
  if shape.T == "structure" then
    local idx = common.member_index(shape)
    for k, mv in pairs(v) do
      local i = idx[k]
      out[k] = i and present(model, shape[i + 1], mv) or mv
    end
  elseif shape.T == "list" then
    for i = 1, #v do out[i] = present(model, shape.m, v[i]) end
  else
    for k, mv in pairs(v) do out[k] = present(model, shape.v, mv) end
  end
  return out
end
M.present = present

-- Header names (lower case) of sensitive members bound to headers.
local function sensitive_headers(model, op)
  if op._sh ~= nil then return op._sh or nil end
  local set = false
  local input = op.i and model.shapes[common.ref(op.i)]
  if input then
    for i = 1, #input, 2 do
      local _, tr = common.ref(input[i + 1])
      if tr.l == "header" and (tr.s or M.SECRET_MEMBERS[input[i]]) then
        set = set or {}
        set[(tr.n or input[i]):lower()] = true
      end
    end
  end
  op._sh = set
  return set or nil
end

local function log_json(v)
  local ok, s = pcall(common.to_json, v)
  if not ok then return "(unprintable)" end
  if #s > 4000 then s = s:sub(1, 4000) .. "...(" .. #s .. " bytes)" end
  return s
end

--------------------------------------------------------------------- helpers

local function default_sleep(seconds)
  if seconds > 0 then task.sleep(math.floor(seconds * 1000 + 0.5)) end
end

local user_agent
local function get_user_agent()
  if not user_agent then
    local ok, sys = pcall(require, "wpo.core.sys")
    user_agent = "wpo/" .. (ok and sys.VERSION or "dev")
  end
  return user_agent
end

local function dns_compatible_bucket(name)
  return type(name) == "string" and #name >= 3 and #name <= 63 and name:match("^[a-z0-9][a-z0-9%-]*[a-z0-9]$")
    and not name:match("%-%-") and true or false
end

-- Per-service request adjustments botocore makes in handlers.
local function customize_params(service, params)
  if service == "route53" then
    local copy
    for k, v in pairs(params) do
      if type(v) == "string" then
        local stripped = v:match("^/hostedzone/(.+)$") or v:match("^/change/(.+)$") or v:match("^/delegationset/(.+)$")
        if stripped and (k == "Id" or k == "HostedZoneId" or k == "DelegationSetId") then
          copy = copy or {}
          copy[k] = stripped
        end
      end
    end
    if copy then
      local p = {}
      for k, v in pairs(params) do p[k] = v end
      for k, v in pairs(copy) do p[k] = v end
      return p
    end
  end
  return params
end

-- Idempotency tokens (ClientToken...) the caller left out: one uuid per call,
-- generated before the first attempt so every retry sends the same one.
local function fill_idempotency(model, op, params)
  local names = op._it
  if names == nil then
    names = false
    local input = op.i and model.shapes[common.ref(op.i)]
    for i = 1, input and #input or 0, 2 do
      local _, tr = common.ref(input[i + 1])
      if tr.it then
        names = names or {}
        names[#names + 1] = input[i]
      end
    end
    op._it = names
  end
  if not names then return params end
  local copy
  for _, name in ipairs(names) do
    if params[name] == nil then
      if not copy then
        copy = {}
        for k, v in pairs(params) do copy[k] = v end
      end
      copy[name] = crypto.uuid()
    end
  end
  return copy or params
end

------------------------------------------------------------------ paginators

-- Evaluate a paginator token expression ("NextToken", "A.B",
-- "NextMarker || Contents[-1].Key") against a page.
local function eval_path(page, expr)
  for alt in (expr .. "||"):gmatch("%s*(.-)%s*||") do
    local v = page
    for seg in alt:gmatch("[^.]+") do
      if type(v) ~= "table" then v = nil break end
      local name, idx = seg:match("^([^%[]+)%[(%-?%d+)%]$")
      if name then
        v = v[name]
        if type(v) ~= "table" then v = nil break end
        idx = tonumber(idx)
        v = v[idx < 0 and (#v + idx + 1) or (idx + 1)]
      else
        v = v[seg]
      end
    end
    if v ~= nil and v ~= "" then return v end
  end
  return nil
end
M.eval_path = eval_path

local FALLBACK_TOKENS = { { "NextToken", "NextToken" }, { "Marker", "NextMarker" }, { "Marker", "Marker" },
  { "nextToken", "nextToken" }, { "NextPageToken", "NextPageToken" } }

local function paginator_for(model, op_name)
  local p = model.paginators[op_name]
  if p then return p end
  local op = model.ops[op_name]
  local input = op.i and model.shapes[common.ref(op.i)]
  local output = op.o and model.shapes[common.ref(op.o)]
  if input and output then
    for _, pair in ipairs(FALLBACK_TOKENS) do
      if common.member(input, pair[1]) and common.member(output, pair[2]) then
        return { i = { pair[1] }, o = { pair[2] } }
      end
    end
  end
  return nil
end

----------------------------------------------------------------------- client

local Client = {}
Client.__index = Client

-- client.new(service, opts) -> client
function M.new(service, opts)
  if type(service) ~= "string" then error("aws.client: service name (string) expected", 2) end
  opts = opts or {}
  if type(opts) ~= "table" then error("aws.client: options table expected", 2) end
  check_options(opts)
  local name = M.service_name(service)
  if not name then
    local near = text.closest(service, M.services())
    errors.raise { code = "UnknownService", message = string.format("unknown AWS service '%s'%s", service,
      near and (" (did you mean " .. near .. "?)") or (" (known: " .. table.concat(M.services(), ", ") .. ")")) }
  end
  local meta = services[name]
  local region, region_source = credentials.region(opts)
  if not region then
    errors.raise { code = "NoRegion", message = "no AWS region: set the stack's region, AWS_REGION, "
      .. "AWS_DEFAULT_REGION or region in the profile" }
  end
  local self = setmetatable({
    service = name,
    meta = meta,
    region = region,
    region_source = region_source,
    endpoint = endpoints.resolve(name, meta, region, { endpoint = opts.endpoint, getenv = opts.getenv }),
    -- the module is named at run time
    protocol = require(PROTOCOLS[meta.protocol]),
    transport = opts.transport or transport.send,
    random = opts.random or math.random,
    sleep = opts.sleep or default_sleep,
    now = opts.now or loop.now,
    clock = opts.clock or os.time,
    timeout_ms = opts.timeout_ms or 60000,
    connect_timeout_ms = opts.connect_timeout_ms or 10000,
    read_only = opts.read_only == true,
    late = opts.late,
    read_cache = opts.read_cache,
  }, Client)
  self.url_scheme, self.url_host, self.url_path = self.endpoint.url:match("^(https?://)([^/]+)(.*)$")
  self.quota = retry.shared_quota(name .. " " .. region .. " " .. self.endpoint.url)
  local getenv = opts.getenv or os.getenv
  self.max_attempts = opts.max_attempts or math.tointeger(tonumber(getenv("AWS_MAX_ATTEMPTS") or ""))
    or retry.DEFAULT_MAX_ATTEMPTS
  if math.type(self.max_attempts) ~= "integer" or self.max_attempts < 1 then
    error("aws.client: max_attempts must be a whole number >= 1", 2)
  end
  if opts.rate_limit ~= false then
    self.rate_limited = true
    self.rate_spec = opts.rate_limit ~= true and opts.rate_limit or nil
  end
  if opts.credentials and type(opts.credentials.get) == "function" then
    self.credentials = opts.credentials
  elseif opts.credentials then
    self.credentials = credentials.static(opts.credentials)
  else
    -- the calls credential sources make (STS, SSO), unsigned when given no credentials
    local copts = { profile = opts.profile, region = region, getenv = opts.getenv, send = opts.transport,
      endpoint = opts.endpoint,
      call = function(call_service, op, params, call_region, creds)
        local c = M.new(call_service, { region = call_region, credentials = creds or credentials.anonymous(),
          endpoint = opts.endpoint, transport = opts.transport, getenv = opts.getenv, random = opts.random,
          sleep = opts.sleep, now = opts.now, clock = opts.clock })
        return c:call(op, params)
      end }
    self.credentials = (opts.getenv or opts.transport) and credentials.provider(copts) or credentials.shared(copts)
  end
  if opts.assume_role then
    local err = role.check(opts.assume_role)
    if err then error("aws.client: " .. err, 2) end
    -- the role's credentials, from those the client would have used (STS in the client's region)
    self.credentials = role.provider(self.credentials, opts.assume_role, function(source, params)
      local sts = M.new("sts", { region = region, credentials = source, endpoint = opts.endpoint,
        transport = opts.transport, getenv = opts.getenv, random = opts.random, sleep = opts.sleep,
        now = opts.now, clock = opts.clock })
      return sts:call("AssumeRole", params)
    end)
  end
  return self
end

function Client:__tostring()
  return string.format("aws.client(%s, %s, %s)", self.service, self.region, self.endpoint.url)
end

function Client:model()
  return M.model(self.service)
end

function Client:operation(op_name)
  local model = M.model(self.service)
  local op = type(op_name) == "string" and model.ops[op_name]
  if not op then
    local names = {}
    for k in pairs(model.ops) do names[#names + 1] = k end
    local near = type(op_name) == "string" and text.closest(op_name, names)
    errors.raise { code = "UnknownOperation", service = self.service, operation = tostring(op_name),
      message = "no such operation" .. (near and (" (did you mean " .. near .. "?)") or "") }
  end
  if op._es == nil then
    -- event-stream outputs (S3 SelectObjectContent) need a framing decoder wpo lacks
    op._es = false
    local out = op.o and model.shapes[common.ref(op.o)]
    for i = 1, out and #out or 0, 2 do
      local _, tr = common.ref(out[i + 1])
      if tr.es then op._es = true end
    end
  end
  if op._es then
    errors.raise { code = "NotImplemented", service = self.service, operation = op_name,
      message = "operations answering with an event stream are not supported" }
  end
  return op, model
end

-- client:build(op, params) -> request { method, url, headers, body }, op, model
-- (serialised, not signed; exposed for tests and the benchmark)
function Client:build(op_name, params)
  local op, model = self:operation(op_name)
  params = params or {}
  if type(params) ~= "table" then
    errors.raise { code = "ParamValidationError", message = op_name .. ": parameters must be a table" }
  end
  local vok, verr = pcall(common.validate, model, op.i, params, op_name)
  if not vok then
    if errors.is(verr) then
      verr.service, verr.operation, verr.retryable = self.service, op_name, false
    end
    error(verr, 0)
  end
  params = customize_params(self.service, params)
  params = fill_idempotency(model, op, params)
  local ok, req = pcall(self.protocol.build, model, self.meta, op_name, op, params)
  if not ok then
    if errors.is(req) then error(req, 0) end
    errors.raise { code = "ParamValidationError", message = op_name .. ": " .. tostring(req) }
  end
  local scheme, host, basepath = self.url_scheme, self.url_host, self.url_path
  local path = req.path
  if self.service == "s3" and not self.endpoint.custom and dns_compatible_bucket(params.Bucket) then
    local rest = path:sub(#params.Bucket + 2)
    if path:sub(1, #params.Bucket + 1) == "/" .. params.Bucket and (rest == "" or rest:sub(1, 1) == "/") then
      host = params.Bucket .. "." .. host
      path = rest == "" and "/" or rest
    end
  end
  if req.host_prefix and not self.endpoint.custom then host = req.host_prefix .. host end
  req.url = scheme .. host .. basepath .. path .. (req.query ~= "" and ("?" .. req.query) or "")
  req.headers["User-Agent"] = get_user_agent()
  if op.cs and not req.headers["Content-MD5"] then
    req.headers["Content-MD5"] = crypto.base64(crypto.md5(req.body or ""))
  end
  return req, op, model, params
end

local function make_error(self, op_name, fields)
  fields.service = self.service
  fields.operation = op_name
  if not fields.message or fields.message == "" then
    fields.message = fields.status and ("HTTP " .. fields.status) or (fields.code or "request failed")
  end
  return errors.new(fields)
end

-- The decoded error of a non-2xx response.
local function response_error(self, op, model, resp)
  local ok, e = pcall(self.protocol.parse_error, model, op, resp)
  if not ok or type(e) ~= "table" then e = {} end
  return {
    code = e.code or tostring(resp.status),
    message = e.message,
    status = resp.status,
    request_id = e.request_id,
  }
end

local function customize_result(self, op_name, result, resp)
  if self.service == "s3" and op_name == "GetBucketLocation" and resp.body ~= "" then
    local root = xml.decode(resp.body)
    if root then result.LocationConstraint = (root.text ~= "" and root.text) or nil end
  end
  return result
end

-- client:pcall(op, params) -> result, meta | nil, err (a wpo.errors error)
function Client:pcall(op_name, params)
  local ok, result, meta = pcall(self.call, self, op_name, params)
  if ok then return result, meta end
  if errors.is(result) then return nil, result end
  error(result, 0)
end

-- client:call(op, params) -> result, meta (raises a wpo.errors error)
function Client:call(op_name, params)
  local rc = self.read_cache
  if rc then
    if not M.is_read(self.service, tostring(op_name)) then
      rc:invalidate(params)
    elseif self.read_only then
      local out, meta = self:send(op_name, params)
      rc:put(self.service, self.region, op_name, params, out, meta)
      return out, meta
    else
      local out, meta = rc:take(self.service, self.region, op_name, params)
      if out ~= nil then return out, meta end
    end
  end
  return self:send(op_name, params)
end

function Client:send(op_name, params)
  if self.late then return self.late(self, op_name, params) end
  return self:invoke(op_name, params)
end

-- ---- Client:invoke, in stages ----

-- A plan's client refuses any operation that is not a read, before sending it.
function Client:refuse_write(op_name)
  if self.read_only and not M.is_read(self.service, tostring(op_name)) then
    errors.raise { code = "ReadOnlyViolation", service = self.service, operation = tostring(op_name),
      message = string.format("%s %s would change something, and wpo is read-only (planning)",
        self.service, tostring(op_name)), retryable = false }
  end
end

-- The credentials an attempt signs with (nil: the operation is unsigned);
-- failing to get them fails the call, not retried.
function Client:attempt_credentials(op, op_name)
  if op.auth == "none" or self.credentials.anonymous then return nil end
  local ok, creds = pcall(self.credentials.get, self.credentials)
  if not ok then
    if errors.is(creds) and not creds.service then
      creds.service, creds.operation, creds.retryable = self.service, op_name, false
    end
    error(creds, 0)
  end
  if type(creds) ~= "table" then
    errors.raise { code = "CredentialsError", service = self.service, operation = op_name, retryable = false,
      message = "the credential provider gave no credentials" }
  end
  return creds
end

-- Wait for the rate limiter: one bucket per caller (access key: one
-- account) and endpoint, shared by every client of the process (all the
-- stacks of a rollout). -> the bucket, or nil without a limiter
function Client:take_token(op_name, creds, debug)
  if not self.rate_limited then return nil end
  local bucket = retry.bucket(self.service, self.region, self.rate_spec, op_name,
    (creds and creds.access_key or "anonymous") .. " " .. self.endpoint.url)
  local waited = bucket:take(self.now, self.sleep)
  if waited > 0 and debug then
    log.debug("aws %s %s rate limit: waited %.3fs (%s)", self.service, op_name, waited, bucket.key)
  end
  return bucket
end

-- The headers of one attempt: the request's, signed when creds are given
function Client:attempt_headers(req, creds)
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end
  if creds then
    local s3 = self.service == "s3"
    local signed = sigv4.sign {
      method = req.method, url = req.url, headers = headers, body = req.body or "",
      access_key = creds.access_key, secret_key = creds.secret_key, session_token = creds.session_token,
      region = self.endpoint.signing_region, service = self.endpoint.signing_name,
      time = self.clock(), normalize_path = not s3, content_sha256_header = s3,
    }
    for k, v in pairs(signed) do headers[k] = v end
  end
  return headers
end

-- One exchange -> the response, or nil and the failure (code, transport)
local function exchange(self, req, headers)
  local resp, terr, tcode = self.transport {
    method = req.method, url = req.url, headers = headers,
    body = req.method ~= "HEAD" and req.body or nil,        -- a HEAD carries none (http.start refuses one)
    timeout_ms = self.timeout_ms, connect_timeout_ms = self.connect_timeout_ms,
  }
  if resp then return resp end
  if tcode == "cancelled" then
    return nil, { code = "Cancelled", message = "the request was cancelled", transport = tcode }
  end
  return nil, { code = "RequestError", message = tostring(terr), transport = tcode or "transport" }
end

-- A response decoded -> result, info (a 2xx decoded), or nil, failure
function Client:decoded(call, resp, elapsed, debug)
  local op_name, op, model = call.op_name, call.op, call.model
  if resp.status < 200 or resp.status >= 300 then return nil, response_error(self, op, model, resp) end
  local pok, result, request_id = pcall(self.protocol.parse, model, op, resp)
  if not (pok and result) then
    return nil, { code = "InvalidResponse", status = resp.status,
      message = "cannot decode the response: " .. tostring(pok and request_id or result) }
  end
  self.quota:release(call.retry_cost or retry.NO_RETRY_INCREMENT)
  result = customize_result(self, op_name, result, resp)
  if debug then
    log.debug("aws %s %s -> %d in %.0fms (request %s, attempt %d, %d retries)", self.service, op_name,
      resp.status, elapsed, tostring(request_id or "-"), call.attempt, call.attempt - 1)
    log.debug("aws %s %s result %s", self.service, op_name, op.o and log_json(redact(model, op.o, result)) or "{}")
  end
  if type(result) == "table" then
    answered[result] = { service = self.service, operation = op_name, request_id = request_id }
  end
  return result, { request_id = request_id, status = resp.status, attempts = call.attempt, headers = resp.headers }
end

-- After a failed attempt: the retry quota a retry takes, or nil when the
-- call ends here (failure then holds the error to raise). A throttled
-- attempt does not count against max_attempts (up to THROTTLE_ATTEMPTS);
-- a write whose answer was lost is sent again only when that cannot make
-- two of something (wpo.resource then looks for what the first made).
function Client:retry_or_fail(call, failure, bucket, elapsed, debug)
  local op_name, attempt = call.op_name, call.attempt
  local kind = failure.code ~= "InvalidResponse" and retry.classify(failure) or nil
  local unknown = call.write and retry.outcome_unknown(failure)
  local held_back = unknown and not call.resendable and kind ~= nil
  if failure.code == "ExpiredToken" or failure.code == "ExpiredTokenException" then
    self.credentials:invalidate()
  end
  if debug then
    log.debug("aws %s %s -> %s %s in %.0fms (request %s, attempt %d/%d): %s", self.service, op_name,
      failure.status and tostring(failure.status) or ("transport " .. tostring(failure.transport)),
      tostring(failure.code), elapsed, tostring(failure.request_id or "-"), attempt, self.max_attempts,
      tostring(failure.message))
  end
  if kind == "throttling" then
    call.throttled = call.throttled + 1
    if bucket then bucket:throttled(self.now) end
  end
  local may_retry = kind == "throttling" and attempt < math.max(self.max_attempts, retry.THROTTLE_ATTEMPTS)
    or (kind ~= nil and attempt - call.throttled < self.max_attempts and attempt < retry.THROTTLE_ATTEMPTS)
  local cost
  if may_retry and not held_back then
    cost = self.quota:acquire(kind)
    if not cost and debug then
      log.debug("aws %s %s: retry quota exhausted (%d left), not retrying", self.service, op_name,
        self.quota.available)
    end
  end
  if cost then
    if debug then
      log.debug("aws %s %s: retrying after %s (%s), attempt %d/%d, quota %d", self.service, op_name,
        tostring(failure.code), kind, attempt + 1, self.max_attempts, self.quota.available)
    end
    return cost
  end
  failure.retryable = kind ~= nil
  failure.attempts = attempt
  failure.transport = nil
  if unknown then
    failure.outcome = "unknown"
    if held_back then
      failure.message = tostring(failure.message or failure.code)
        .. " (the answer was lost and AWS may have done it: not sent again)"
      if debug then log.debug("aws %s %s: outcome unknown, not sent again", self.service, op_name) end
    end
  end
  return nil
end

function Client:invoke(op_name, params)
  self:operation(op_name)
  self:refuse_write(op_name)
  local req, op, model, sent_params = self:build(op_name, params)
  local debug = log.enabled("debug")
  local extra_secret = debug and sensitive_headers(model, op)
  if debug then
    log.debug("aws %s %s params %s", self.service, op_name, log_json(redact(model, op.i, sent_params)))
  end
  local write = not M.is_read(self.service, op_name)
  local call = { op_name = op_name, op = op, model = model, attempt = 0, throttled = 0, write = write,
    resendable = not write or retry.resendable(self.service, op_name, retry.has_token(op._it, sent_params)) }
  while true do
    call.attempt = call.attempt + 1
    local creds = self:attempt_credentials(op, op_name)
    local bucket = self:take_token(op_name, creds, debug)
    local headers = self:attempt_headers(req, creds)
    if debug then
      log.debug("aws %s %s attempt %d/%d: %s %s [%s]", self.service, op_name, call.attempt, self.max_attempts,
        req.method, req.url, log.format_headers(log.redact_headers(headers, extra_secret)))
    end
    local started = self.now()
    local resp, failure = exchange(self, req, headers)
    local elapsed = self.now() - started
    if resp then
      local result, info = self:decoded(call, resp, elapsed, debug)
      if result ~= nil then return result, info end
      failure = info
    end
    local cost = self:retry_or_fail(call, failure, bucket, elapsed, debug)
    if not cost then error(make_error(self, op_name, failure), 0) end
    call.retry_cost = cost
    local delay = retry.delay(call.attempt, self.random)
    if debug then log.debug("aws %s %s: next attempt in %.3fs", self.service, op_name, delay) end
    self.sleep(delay)
  end
end

-- client:paginate(op, params) -> iterator over pages (each a call result).
-- Tokens come from the models' paginators (NextToken, Marker/NextMarker,
-- Route 53's record names...); a token that repeats ends with an error.
function Client:paginate(op_name, params)
  if params ~= nil and type(params) ~= "table" then
    errors.raise { code = "ParamValidationError", service = self.service, operation = tostring(op_name),
      message = "parameters must be a table" }
  end
  local _, model = self:operation(op_name)
  local p = paginator_for(model, op_name)
  local request = {}
  for k, v in pairs(params or {}) do request[k] = v end
  local done = false
  local seen = {}
  return function()
    if done then return nil end
    local page = self:call(op_name, request)
    if not p then done = true return page end
    local more = true
    if p.more then more = eval_path(page, p.more) and true or false end
    local any, key = false, {}
    local tokens = {}
    for i, expr in ipairs(p.o) do
      tokens[i] = eval_path(page, expr)
      if tokens[i] ~= nil then any = true end
      key[i] = tostring(tokens[i])
    end
    if not more or not any then
      done = true
      return page
    end
    local k = table.concat(key, "\0")
    if seen[k] then
      errors.raise { code = "PaginationError", service = self.service, operation = op_name,
        message = "the service returned the same pagination token twice: " .. k:gsub("%z", ", ") }
    end
    seen[k] = true
    for i, name in ipairs(p.i) do request[name] = tokens[i] end
    return page
  end
end

-- The table holding a (possibly dotted) result key, and the last segment.
local function parent_of(t, path)
  local segs = {}
  for seg in path:gmatch("[^.]+") do segs[#segs + 1] = seg end
  for i = 1, #segs - 1 do
    if type(t) ~= "table" then return nil end
    t = t[segs[i]]
  end
  if type(t) ~= "table" then return nil end
  return t, segs[#segs]
end

-- client:collect(op, params) -> one result with every page's result lists
-- concatenated (the paginator's result keys); other members come from the
-- last page.
function Client:collect(op_name, params)
  local _, model = self:operation(op_name)
  local p = paginator_for(model, op_name)
  local result_keys = p and p.result or {}
  local holds_results = {}
  for _, rk in ipairs(result_keys) do holds_results[rk:match("^[^.]+")] = true end
  local merged
  for page in self:paginate(op_name, params) do
    if not merged then
      merged = page
    else
      for _, rk in ipairs(result_keys) do
        local src, key = parent_of(page, rk)
        local items = src and src[key]
        if type(items) == "table" then
          local dst, dkey = parent_of(merged, rk)
          if dst then
            local into = dst[dkey]
            if type(into) ~= "table" then
              dst[dkey] = items
            else
              for _, item in ipairs(items) do into[#into + 1] = item end
            end
          end
        end
      end
      for k, v in pairs(page) do
        if not holds_results[k] then merged[k] = v end
      end
    end
  end
  return merged
end

return M
