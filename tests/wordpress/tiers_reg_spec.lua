-- The registry, secrets, identity, observability and dns tiers of
-- wpo.wordpress: what each declares from p and deps, the least-privilege
-- policies (resolved with the ARNs the resources would get), and what each
-- returns for the other tiers.
local value = require "wpo.value"
local wordpress = require "wpo.wordpress"

local registry = require "wpo.wordpress.registry"
local secrets = require "wpo.wordpress.secrets"
local identity = require "wpo.wordpress.identity"
local observability = require "wpo.wordpress.observability"
local dns = require "wpo.wordpress.dns"

local ACCOUNT = "123456789012"
local FAKE = {
  ["aws.ecr.repository.wordpress.arn"] = "arn:aws:ecr:eu-west-1:" .. ACCOUNT .. ":repository/acme/wordpress",
  ["aws.secretsmanager.secret.db-master-password.arn"] =
    "arn:aws:secretsmanager:eu-west-1:" .. ACCOUNT .. ":secret:acme/db/master-password-AbCdEf",
  ["aws.secretsmanager.secret.redis-auth-token.arn"] =
    "arn:aws:secretsmanager:eu-west-1:" .. ACCOUNT .. ":secret:acme/cache/auth-token-GhIjKl",
  ["aws.secretsmanager.secret.wordpress-keys.arn"] =
    "arn:aws:secretsmanager:eu-west-1:" .. ACCOUNT .. ":secret:acme/wordpress/keys-MnOpQr",
}
local SECRET_ARNS = { FAKE["aws.secretsmanager.secret.db-master-password.arn"],
  FAKE["aws.secretsmanager.secret.redis-auth-token.arn"], FAKE["aws.secretsmanager.secret.wordpress-keys.arn"] }

-- a value as apply would see it, with realistic ARNs for the references
local resolved
function resolved(v)
  return (value.resolve(v, function(decl, name)
    local key = decl.address .. "." .. name
    if FAKE[key] then return FAKE[key] end
    if decl.attrs and decl.attrs[name] ~= nil and decl.type.attributes[name] then return resolved(decl.attrs[name]) end
    return "<" .. key .. ">"
  end))
end

-- the addresses a value refers to
local function refs_of(v)
  local out = {}
  value.refs(v, function(decl) out[#out + 1] = decl.address end)
  table.sort(out)
  return out
end

local function params(over)
  local spec = { name = "acme", region = "eu-west-1", cidr = "10.20.0.0/16", site = { domain = "www.acme.test" } }
  for k, v in pairs(over or {}) do spec[k] = v end
  return wordpress.params(spec)
end

local function new_stack(p)
  return require("wpo.stack").new { name = p.name, region = p.region }
end

local function attrs(s, address)
  local d = s.by_address[address]
  assert(d, "not declared: " .. address)
  return d.attrs, d
end

local function statements(doc)
  local out = {}
  for _, st in ipairs(doc.Statement) do out[st.Sid or (#out + 1)] = st end
  return out
end

local function as_list(v)
  return type(v) == "table" and v or { v }
end

describe("wpo.wordpress.registry", function()
  it("declares an immutable, scanned, encrypted repository and its lifecycle policy", function()
    local p = params { protect = true, registry = { keep_images = 30, untagged_days = 3 } }
    local s = new_stack(p)
    local r = registry.build(s, p, {})
    local repo = attrs(s, "aws.ecr.repository.wordpress")
    assert.are.same({ "acme/wordpress", true, "IMMUTABLE", "AES256", false },
      { repo.name, repo.scan_on_push, repo.image_tag_mutability, repo.encryption_type, repo.force_delete })
    local lp = attrs(s, "aws.ecr.lifecycle_policy.wordpress")
    assert.are.same({ 30, 3 }, { lp.keep_last, lp.untagged_expire_days })
    assert.are.same({ "aws.ecr.repository.wordpress" }, refs_of(lp.repository))
    assert.are.equal("acme/wordpress", resolved(lp.repository))
    assert.are.equal("acme/wordpress", r.repository_name)
    assert.are.equal(FAKE["aws.ecr.repository.wordpress.arn"], resolved(r.repository_arn))
    assert.are.equal("<aws.ecr.repository.wordpress.repository_url>", resolved(r.repository_url))
  end)

  it("lets a stack without protection delete its images with the repository", function()
    local p = params { protect = false }
    local s = new_stack(p)
    registry.build(s, p, {})
    assert.is_true(attrs(s, "aws.ecr.repository.wordpress").force_delete)
    assert.are.same({ 20, 7 }, { attrs(s, "aws.ecr.lifecycle_policy.wordpress").keep_last,
      attrs(s, "aws.ecr.lifecycle_policy.wordpress").untagged_expire_days })
  end)
end)

describe("wpo.wordpress.secrets", function()
  it("declares three generated secrets: no value in the script, sensitive value outputs", function()
    local p = params { protect = true }
    local s = new_stack(p)
    local sec = secrets.build(s, p, {})
    local db = attrs(s, "aws.secretsmanager.secret.db-master-password")
    local redis = attrs(s, "aws.secretsmanager.secret.redis-auth-token")
    assert.are.same({ "acme/db/master-password", 32, 30 }, { db.name, db.length, db.recovery_window_days })
    assert.are.same({ "acme/cache/auth-token", 64, 30 }, { redis.name, redis.length, redis.recovery_window_days })
    assert.is_nil(db.secret_string)
    assert.is_nil(redis.secret_string)
    for _, c in ipairs({ "/", "@", '"', " " }) do assert.is_truthy(db.exclude_characters:find(c, 1, true), c) end
    -- ElastiCache AUTH tokens: letters, digits and ! & # $ ^ < > - only
    for c = 33, 126 do
      local ch = string.char(c)
      local allowed = ch:match("%w") or ("!&#$^<>-"):find(ch, 1, true)
      assert.are.equal(not allowed, redis.exclude_characters:find(ch, 1, true) ~= nil, ch)
    end
    local t = require("wpo.resource").get("aws.secretsmanager.secret")
    assert.is_true(t.outputs.value.sensitive)
    local keys = attrs(s, "aws.secretsmanager.secret.wordpress-keys")
    assert.are.same({ "acme/wordpress/keys", 64 }, { keys.name, keys.length })
    assert.are.same({ "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT",
      "LOGGED_IN_SALT", "NONCE_SALT" }, keys.json_keys)
    assert.are.same(SECRET_ARNS, resolved(sec.arns))
    assert.are.equal(SECRET_ARNS[3], resolved(sec.wordpress_keys_arn))
    assert.are.equal(FAKE["aws.secretsmanager.secret.db-master-password.arn"], resolved(sec.db_password_arn))
    assert.are.equal("<aws.secretsmanager.secret.redis-auth-token.value>", resolved(sec.redis_auth.value))
  end)

  it("deletes at once without protection", function()
    local p = params { protect = false }
    local s = new_stack(p)
    secrets.build(s, p, {})
    assert.are.equal(0, attrs(s, "aws.secretsmanager.secret.db-master-password").recovery_window_days)
  end)
end)

describe("wpo.wordpress.identity", function()
  local function build(extra_deps)
    local p = params {}
    local s = new_stack(p)
    local deps = { registry = registry.build(s, p, {}), secrets = secrets.build(s, p, {}) }
    for k, v in pairs(extra_deps or {}) do deps[k] = v end
    return s, identity.build(s, p, deps), p
  end

  it("gives the ECS hosts the managed ECS policy through an instance profile", function()
    local s, id = build()
    local role = attrs(s, "aws.iam.role.ecs-instance")
    assert.are.equal("acme-eu-west-1-ecs-instance", role.name)
    assert.are.equal("ec2.amazonaws.com", role.assume_role_policy.Statement[1].Principal.Service)
    local att = attrs(s, "aws.iam.role_policy_attachment.ecs-instance")
    assert.are.equal("arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role", att.policy_arn)
    local profile, decl = attrs(s, "aws.iam.instance_profile.ecs-instance")
    assert.are.equal("acme-eu-west-1-ecs-instance", resolved(profile.role))
    local after = {}
    for _, dep in ipairs(decl.depends_on or decl.deps or {}) do after[#after + 1] = tostring(dep.address or dep) end
    assert.is_truthy(table.concat(after, " "):find("aws.iam.role_policy_attachment.ecs-instance", 1, true),
      "the profile waits for its role's policy")
    assert.are.equal("acme-eu-west-1-ecs-instance", id.instance_profile_name)
    assert.are.equal("<aws.iam.instance_profile.ecs-instance.arn>", resolved(id.instance_profile_arn))
  end)

  it("lets the execution role pull from the stack's repository, log to its group and read exactly its secrets", function()
    local s, id = build()
    local doc = resolved(attrs(s, "aws.iam.role_policy.task-execution").policy)
    assert.is_nil(require("wpo.aws.iam.policy").check(doc))
    local st = statements(doc)
    assert.are.same({ "ecr:GetAuthorizationToken" }, as_list(st.EcrLogin.Action))
    assert.are.equal("*", st.EcrLogin.Resource)          -- the one action IAM cannot scope
    assert.are.equal(FAKE["aws.ecr.repository.wordpress.arn"], st.EcrPull.Resource)
    assert.are.equal("arn:aws:logs:eu-west-1:123456789012:log-group:/wpo/acme/wordpress:*", st.Logs.Resource)
    assert.are.same(SECRET_ARNS, st.Secrets.Resource)
    assert.are.same({ "secretsmanager:GetSecretValue" }, as_list(st.Secrets.Action))
    for sid, statement in pairs(st) do
      for _, action in ipairs(as_list(statement.Action)) do
        assert.is_nil(action:find("*", 1, true), sid .. " grants a wildcard action " .. action)
      end
      if sid ~= "EcrLogin" then
        for _, r in ipairs(as_list(statement.Resource)) do assert.are_not.equal("*", r, sid) end
      end
    end
    local trust = resolved(attrs(s, "aws.iam.role.task-execution").assume_role_policy).Statement[1]
    assert.are.equal("ecs-tasks.amazonaws.com", trust.Principal.Service)
    assert.are.equal(ACCOUNT, trust.Condition.StringEquals["aws:SourceAccount"])
    assert.are.equal("arn:aws:ecs:eu-west-1:123456789012:*", trust.Condition.ArnLike["aws:SourceArn"])
    assert.are.equal("<aws.iam.role.task-execution.arn>", resolved(id.execution_role_arn))
    assert.are.equal("<aws.iam.role.task.arn>", resolved(id.task_role_arn))
    assert.are.equal(ACCOUNT, resolved(id.account_id))
  end)

  it("scopes the task role to the file system and access point when files are given", function()
    local fs_arn = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123"
    local ap_arn = "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123"
    local s = build { files = { file_system_arn = fs_arn, access_point_arn = ap_arn },
      logs = { log_group_arn = "arn:aws:logs:eu-west-1:123456789012:log-group:custom" } }
    local st = statements(resolved(attrs(s, "aws.iam.role_policy.task").policy))
    assert.are.equal(fs_arn, st.WpContent.Resource)
    assert.are.equal(ap_arn, st.WpContent.Condition.StringEquals["elasticfilesystem:AccessPointArn"])
    assert.are.same({ "elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite" }, st.WpContent.Action)
    local exec = statements(resolved(attrs(s, "aws.iam.role_policy.task-execution").policy))
    assert.are.equal("arn:aws:logs:eu-west-1:123456789012:log-group:custom:*", exec.Logs.Resource)
  end)

  it("without files, scopes the task role to the stack's tagged file systems through mount targets", function()
    local s = build()
    local st = statements(resolved(attrs(s, "aws.iam.role_policy.task").policy))
    assert.are.equal("arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/*", st.WpContent.Resource)
    assert.are.equal("acme", st.WpContent.Condition.StringEquals["aws:ResourceTag/wpo:stack"])
    assert.are.equal("true", st.WpContent.Condition.Bool["elasticfilesystem:AccessedViaMountTarget"])
  end)

  it("names the dependency it misses", function()
    local p = params {}
    local ok, err = pcall(identity.build, new_stack(p), p, { registry = {} })
    assert.is_false(ok)
    assert.matches("deps.registry.repository_arn is required", err)
  end)

  it("uses the partition of China and GovCloud regions", function()
    assert.are.same({ "aws", "aws-cn", "aws-us-gov" },
      { identity.partition("eu-west-1"), identity.partition("cn-north-1"), identity.partition("us-gov-west-1") })
  end)
end)

describe("wpo.wordpress.observability", function()
  local lb = { alb_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/acme/0123456789abcdef" }

  it("declares the log group and every alarm, dimensions from deps", function()
    local p = params { logs = { retention_days = 90 } }
    local s = new_stack(p)
    local ops = observability.build(s, p, { lb = lb, db = { cluster_id = "acme-db" },
      compute = { cluster_name = "acme" }, service = { service_name = "wordpress" } })
    local lg = attrs(s, "aws.logs.log_group.wordpress")
    assert.are.same({ "/wpo/acme/wordpress", 90 }, { lg.name, lg.retention_days })
    assert.are.equal("/wpo/acme/wordpress", ops.log_group_name)
    assert.are.equal("<aws.logs.log_group.wordpress.arn>", resolved(ops.log_group_arn))
    local names = {}
    for key, name in pairs(ops.alarm_names) do names[#names + 1] = key .. "=" .. name end
    table.sort(names)
    assert.are.same({ "alb_5xx=acme-alb-5xx", "db_cpu=acme-db-cpu", "db_free_storage=acme-db-free-storage",
      "ecs_cpu=acme-ecs-cpu", "response_time=acme-response-time", "target_5xx=acme-target-5xx" }, names)
    local alb5 = attrs(s, "aws.cloudwatch.metric_alarm.alb-5xx")
    assert.are.same({ LoadBalancer = "app/acme/0123456789abcdef" }, resolved(alb5.dimensions))
    assert.are.same({ "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count" }, { alb5.namespace, alb5.metric_name })
    local rt = attrs(s, "aws.cloudwatch.metric_alarm.response-time")
    assert.are.same({ "TargetResponseTime", "p95", 2 }, { rt.metric_name, rt.extended_statistic, rt.threshold })
    local cpu = attrs(s, "aws.cloudwatch.metric_alarm.db-cpu")
    assert.are.same({ DBClusterIdentifier = "acme-db" }, cpu.dimensions)
    assert.are.equal("FreeLocalStorage", attrs(s, "aws.cloudwatch.metric_alarm.db-free-storage").metric_name)
    assert.are.same({ ClusterName = "acme", ServiceName = "wordpress" },
      attrs(s, "aws.cloudwatch.metric_alarm.ecs-cpu").dimensions)
  end)

  it("watches a plain RDS instance's free space against its allocated storage", function()
    local p = params { database = { engine = "mysql", instance_class = "db.t4g.medium", allocated_storage = 100 } }
    local s = new_stack(p)
    observability.build(s, p, { db = { instance_id = "acme-db" } })
    local free = attrs(s, "aws.cloudwatch.metric_alarm.db-free-storage")
    assert.are.same({ "FreeStorageSpace", 10 * 1024 * 1024 * 1024 }, { free.metric_name, free.threshold })
    assert.are.same({ DBInstanceIdentifier = "acme-db" }, free.dimensions)
    assert.is_nil(s.by_address["aws.cloudwatch.metric_alarm.alb-5xx"])
  end)

  it("sends every alarm to an SNS topic that mails alarms.email", function()
    local p = params { alarms = { email = "ops@acme.test" } }
    local s = new_stack(p)
    local ops = observability.build(s, p, { compute = { cluster_name = "acme" } })
    local topic = attrs(s, "aws.sns.topic.alarms")
    assert.are.equal("acme-alarms", topic.name)
    assert.is_nil(topic.kms_master_key_id)
    local sub = attrs(s, "aws.sns.subscription.alarms-email")
    assert.are.same({ "email", "ops@acme.test", "<aws.sns.topic.alarms.arn>" },
      { sub.protocol, sub.endpoint, resolved(sub.topic_arn) })
    local cpu = attrs(s, "aws.cloudwatch.metric_alarm.ecs-cpu")
    assert.are.same({ "<aws.sns.topic.alarms.arn>" }, resolved(cpu.alarm_actions))
    assert.are.same({ "<aws.sns.topic.alarms.arn>" }, resolved(cpu.ok_actions))
    assert.are.equal("<aws.sns.topic.alarms.arn>", resolved(ops.topic_arn))
    local q = params {}
    local quiet = new_stack(q)
    assert.is_nil(observability.build(quiet, q, { compute = { cluster_name = "acme" } }).topic)
    assert.are.same({}, attrs(quiet, "aws.cloudwatch.metric_alarm.ecs-cpu").alarm_actions or {})
  end)
end)

describe("wpo.wordpress.dns", function()
  local deps = { net = { vpc_id = "vpc-0123" }, db = { endpoint = "acme.cluster-x.eu-west-1.rds.amazonaws.com",
    reader_endpoint = "acme.cluster-ro-x.eu-west-1.rds.amazonaws.com" },
    cache = { primary_endpoint = "master.acme.x.euw1.cache.amazonaws.com" }, files = { file_system_id = "fs-0123" },
    lb = { dns_name = "acme-1.eu-west-1.elb.amazonaws.com", zone_id = "Z32O12XQLNTSW2" } }

  it("declares the private zone with db, db-ro, cache and nfs names", function()
    local p = params { protect = true }
    local s = new_stack(p)
    local d = dns.build(s, p, deps)
    local zone = attrs(s, "aws.route53.zone.internal")
    assert.are.same({ "acme.internal", "vpc-0123", false }, { zone.name, zone.vpc_id, zone.force_destroy })
    local function record(key)
      local a = attrs(s, "aws.route53.record." .. key)
      return { a.name, a.type, a.ttl, a.records[1], resolved(a.zone_id) }
    end
    local zid = "<aws.route53.zone.internal.zone_id>"
    assert.are.same({ "db.acme.internal", "CNAME", 60, deps.db.endpoint, zid }, record("db"))
    assert.are.same({ "db-ro.acme.internal", "CNAME", 60, deps.db.reader_endpoint, zid }, record("db-ro"))
    assert.are.same({ "cache.acme.internal", "CNAME", 60, deps.cache.primary_endpoint, zid }, record("cache"))
    assert.are.same({ "nfs.acme.internal", "CNAME", 60, "fs-0123.efs.eu-west-1.amazonaws.com", zid }, record("nfs"))
    assert.is_nil(s.by_address["aws.route53.record.site"])
    assert.are.same({ cache = "cache.acme.internal", db = "db.acme.internal", db_ro = "db-ro.acme.internal",
      nfs = "nfs.acme.internal" }, d.names)
    assert.are.equal(zid, resolved(d.zone_id))
  end)

  it("leaves the public names to the edge tier", function()
    local p = params { site = { domain = "www.acme.test", zone_id = "ZPUBLIC123" }, protect = false }
    local s = new_stack(p)
    dns.build(s, p, deps)
    assert.is_nil(s.by_address["aws.route53.record.site"])
    assert.is_true(attrs(s, "aws.route53.zone.internal").force_destroy)
  end)
end)

describe("wpo.wordpress.edge", function()
  local edge = require "wpo.wordpress.edge"
  local lb = { alb_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/acme-alb/1",
    dns_name = "acme-1.eu-west-1.elb.amazonaws.com", zone_id = "Z32O12XQLNTSW2" }

  it("points the site's name at the ALB in a zone given by id, with a certificate validated there", function()
    local p = params { site = { domain = "www.acme.test", zone_id = "ZPUBLIC123" }, protect = false }
    local s = new_stack(p)
    local e = edge.prepare(s, p)
    edge.front(s, p, e, { lb = lb })
    local site = attrs(s, "aws.route53.record.site")
    assert.are.same({ "ZPUBLIC123", "www.acme.test", "A" }, { site.zone_id, site.name, site.type })
    assert.are.same({ name = lb.dns_name, zone_id = lb.zone_id, evaluate_target_health = true }, site.alias)
    -- the ALB of this layout has no IPv6: no AAAA record points at it
    assert.is_nil(s.by_address["aws.route53.record.site-aaaa"])
    assert.are.equal("ZPUBLIC123", attrs(s, "aws.acm.certificate_validation.site").zone_id)
    assert.are.same({ "aws.acm.certificate_validation.site" }, refs_of(e.certificate_arn))
    assert.is_nil(s.by_address["aws.route53.zone_lookup.public"])
  end)

  it("looks a zone given by name up, or makes it with create_zone", function()
    local p = params { site = { domain = "www.acme.test", zone = "acme.test" } }
    local s = new_stack(p)
    local e = edge.prepare(s, p)
    assert.are.equal("acme.test", attrs(s, "aws.route53.zone_lookup.public").name)
    assert.are.same({ "aws.route53.zone_lookup.public" }, refs_of(e.zone_id))
    p = params { site = { domain = "www.acme.test", zone = "acme.test", create_zone = true }, protect = false }
    s = new_stack(p)
    e = edge.prepare(s, p)
    assert.is_true(attrs(s, "aws.route53.zone.public").force_destroy)
    assert.is_nil(s.by_address["aws.route53.zone_lookup.public"])
    assert.are.same({ "aws.route53.zone.public" }, refs_of(e.zone_id))
  end)

  it("keeps a given certificate ARN: it wins over one the stack would make", function()
    local arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    local p = params { site = { domain = "www.acme.test", zone = "acme.test", certificate_arn = arn } }
    local s = new_stack(p)
    assert.are.equal(arn, edge.prepare(s, p).certificate_arn)
    assert.is_nil(s.by_address["aws.acm.certificate.site"])
  end)

  it("with the CDN: a us-east-1 certificate, the secret header, A and AAAA aliases to CloudFront for each name",
    function()
      local p = params { site = { domain = "www.acme.test", aliases = { "acme.test" }, zone = "acme.test", cdn = true,
        waf = true } }
      local s = new_stack(p)
      local e = edge.prepare(s, p)
      edge.front(s, p, e, { lb = lb })
      local cert, decl = attrs(s, "aws.acm.certificate.cdn")
      assert.are.same({ "www.acme.test", { "acme.test" } }, { cert.domain_name, cert.subject_alternative_names })
      assert.are.equal("us-east-1", s.providers[decl.provider].region)
      local dist = attrs(s, "aws.cloudfront.distribution.site")
      assert.are.same({ "www.acme.test", "acme.test" }, dist.aliases)
      assert.are.same({ "aws.acm.certificate_validation.cdn" }, refs_of(dist.certificate_arn))
      assert.are.same({ "aws.wafv2.web_acl.site" }, refs_of(dist.web_acl_id))
      assert.are.equal("CLOUDFRONT", attrs(s, "aws.wafv2.web_acl.site").scope)
      assert.are.same({ "random.password.origin-secret" }, refs_of(dist.origins[1].custom_headers[edge.ORIGIN_HEADER]))
      -- nothing but static files is cached
      assert.are.equal(require("wpo.aws.cloudfront.managed").cache.CachingDisabled, dist.default_behavior.cache_policy_id)
      for _, key in ipairs({ "site", "site-aaaa", "alias-1", "alias-1-aaaa" }) do
        local r = attrs(s, "aws.route53.record." .. key)
        assert.are.equal(edge.CLOUDFRONT_ZONE_ID, r.alias.zone_id)
        assert.are.same({ "aws.cloudfront.distribution.site" }, refs_of(r.alias.name))
      end
    end)

  it("puts the WAF on the ALB without the CDN", function()
    local p = params { site = { domain = "www.acme.test", waf = true } }
    local s = new_stack(p)
    local e = edge.prepare(s, p)
    edge.front(s, p, e, { lb = lb })
    assert.are.equal("REGIONAL", attrs(s, "aws.wafv2.web_acl.site").scope)
    assert.are.equal(lb.alb_arn, attrs(s, "aws.wafv2.web_acl_association.alb").resource_arn)
    assert.is_nil(s.by_address["aws.route53.record.site"])
  end)
end)
