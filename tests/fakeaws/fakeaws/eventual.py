"""Eventual consistency: AWS between a change and the moment every reader sees
it (server.py --eventual SECONDS, or POST /_fake/eventual). Off by default
(0 seconds: everything is seen at once).

Each object or change gets its own delay, drawn uniformly from 0..SECONDS by
one random.Random(seed) (every delay exactly SECONDS with "fixed", for tests;
"behaviours" turns on only those listed).
While it lasts, AWS answers with its own codes and messages — each behaviour
below cites the AWS documentation it reproduces (README.md lists them):

  ec2-visibility     a new EC2 object (whatever an EC2 call adds to the store:
                     VPC, subnet, security group and rule, route table, gateways,
                     elastic IP, NAT gateway, VPC endpoint, launch template,
                     interface) is left out of every Describe* list and answers
                     Invalid<Thing>ID.NotFound to a call naming its id
                     ("Eventual consistency in the Amazon EC2 API")
  iam-propagation    a new role or instance profile, a role added to a profile,
                     a policy attached to or put on a role are not usable by
                     Auto Scaling/EC2 (a launch template's instance profile:
                     "Invalid IAM Instance Profile name"), ECS (a service's role;
                     the service-linked role made with the account's first
                     cluster), Application Auto Scaling (RoleARN), RDS
                     (MonitoringRoleArn) and AWS Backup (a selection's IamRoleArn)
                     ("Troubleshoot IAM: changes that I make
                     are not always immediately visible")
  target-group       a target group a listener starts forwarding to has no
                     associated load balancer for ECS yet ("...does not have an
                     associated load balancer")
  launch-template    a new launch template version is not yet usable by Auto
                     Scaling ("You must use a valid fully-formed launch template")
  route53-change     a Route 53 change stays PENDING before INSYNC (GetChange)
  cloudfront-deploy  a distribution just created or updated stays InProgress
                     (GetDistribution, ListDistributions) before Deployed, and
                     cannot be deleted meanwhile (DistributionNotDisabled), as
                     CloudFront propagates each change to its edge locations
                     ("Values that CloudFront displays in the console": Status)
  s3-bucket          a new S3 bucket answers NoSuchBucket to every call but
                     CreateBucket for a while (S3 User Guide, "Amazon S3 data
                     consistency model": bucket configurations are eventually
                     consistent, and a bucket just made may not be listed yet)
  secret-purge       a secret deleted with ForceDeleteWithoutRecovery keeps its
                     name for a while ("...already scheduled for deletion"), as
                     the deletion is asynchronous (DeleteSecret)
  waf-entity         a new application load balancer is not yet known to AWS
                     WAF: AssociateWebACL and GetWebACLForResource naming it
                     answer WAFUnavailableEntityException (AssociateWebACL:
                     "retry the request ... the resource has just been created")
  acm-records        a new ACM certificate's DNS validation records
                     (DomainValidationOptions' ResourceRecord) are left out of
                     DescribeCertificate until its delay has run, as ACM fills
                     them in a few seconds after RequestCertificate (beside
                     acm.py's own `settle` describes)

Every answer a delay shaped (a refusal, a PENDING) is logged with the request
id and how long the delay still had to run (GET /_fake/eventual), so a test can
tell what AWS imposed from what a client added.

The server calls, under the store lock: call = eventual.begin(ctx, service,
operation, params) (None when off), call.check() before the handler (raises
the refusal), result = call.finish(result) after it."""
import random
import re
import threading
import time

from .errors import AWSError

BEHAVIOURS = ("ec2-visibility", "iam-propagation", "target-group", "launch-template", "route53-change",
              "secret-purge", "cloudfront-deploy", "waf-entity", "s3-bucket", "acm-records")

# EC2 ids: prefix, a hyphen, 8 or 17 hex digits
_EC2_ID = re.compile(r"([a-z]+)-(?:[0-9a-f]{8}|[0-9a-f]{17})")

# Describe* operations: the list they answer and each item's own id
_EC2_LISTS = {
    "DescribeVpcs": ("Vpcs", "VpcId"),
    "DescribeSubnets": ("Subnets", "SubnetId"),
    "DescribeSecurityGroups": ("SecurityGroups", "GroupId"),
    "DescribeSecurityGroupRules": ("SecurityGroupRules", "SecurityGroupRuleId"),
    "DescribeInternetGateways": ("InternetGateways", "InternetGatewayId"),
    "DescribeAddresses": ("Addresses", "AllocationId"),
    "DescribeNatGateways": ("NatGateways", "NatGatewayId"),
    "DescribeRouteTables": ("RouteTables", "RouteTableId"),
    "DescribeVpcEndpoints": ("VpcEndpoints", "VpcEndpointId"),
    "DescribeLaunchTemplates": ("LaunchTemplates", "LaunchTemplateId"),
    "DescribeLaunchTemplateVersions": ("LaunchTemplateVersions", "LaunchTemplateId"),
    "DescribeNetworkInterfaces": ("NetworkInterfaces", "NetworkInterfaceId"),
    "DescribeTags": ("Tags", "ResourceId"),
}

# Members whose values never name an object that must exist (filters match nothing instead)
_NOT_REFERENCES = {"Filters", "Filter", "NextToken", "DryRun", "TagSpecifications", "Tags", "Description",
                   "ClientToken"}

_ASG_WRITES = ("CreateAutoScalingGroup", "UpdateAutoScalingGroup")
_LISTENER_WRITES = ("CreateListener", "ModifyListener", "CreateRule", "ModifyRule")
_RDS_ROLE_WRITES = ("CreateDBInstance", "CreateDBCluster", "ModifyDBInstance", "ModifyDBCluster")


class Eventual:
    def __init__(self, seconds=0.0, seed=None, fixed=False, clock=time.monotonic):
        self.lock = threading.Lock()
        self.clock = clock      # seconds, monotonic (tests give a clock of their own)
        self.configure(seconds, seed, fixed)

    # -- settings -------------------------------------------------------------------

    def configure(self, seconds=0.0, seed=None, fixed=False, behaviours=None):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
            raise ValueError("eventual seconds must be a number from 0 to 3600")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str))):
            raise ValueError("eventual seed must be an integer or a string")
        if not isinstance(fixed, bool):
            raise ValueError("eventual fixed must be true or false")
        if behaviours is not None and (not isinstance(behaviours, list) or
                                       any(b not in BEHAVIOURS for b in behaviours)):
            raise ValueError(f"eventual behaviours must be a list of: {', '.join(BEHAVIOURS)}")
        with self.lock:
            self.seconds = float(seconds)
            self.seed = seed
            self.fixed = fixed
            self.behaviours = list(BEHAVIOURS) if behaviours is None else list(behaviours)
            self.rng = random.Random(seed)
            self._clear()

    def set(self, cfg):
        """POST /_fake/eventual: {"seconds", "seed", "fixed", "behaviours"} (unknown keys are errors)."""
        if not isinstance(cfg, dict):
            raise ValueError("eventual settings must be a JSON object")
        unknown = sorted(set(cfg) - {"seconds", "seed", "fixed", "behaviours"})
        if unknown:
            raise ValueError(f"unknown eventual setting {unknown[0]} (known: behaviours, fixed, seconds, seed)")
        self.configure(cfg.get("seconds", 0), cfg.get("seed"), cfg.get("fixed", False), cfg.get("behaviours"))

    def reset(self):
        """Forget every delay and the log (the settings stay: they are the server's mode)."""
        with self.lock:
            self.rng = random.Random(self.seed)
            self._clear()

    def _clear(self):
        self.hidden = {}        # EC2 id -> (kind, visible_at)
        self.iam = {}           # ("role"|"profile"|"slr", lower-case name) -> usable_at
        self.associations = {}  # target group ARN -> visible_at
        self.versions = {}      # (launch template id, version number) -> usable_at
        self.changes = {}       # Route 53 change id (bare) -> {"insync_at", "seen_insync"}
        self.purging = {}       # (region, account, secret name) -> gone_at
        self.deploying = {}     # CloudFront distribution id -> deployed_at
        self.waf_entities = {}  # load balancer ARN -> known to WAF at
        self.buckets = {}       # S3 bucket name -> visible_at
        self.acm_records = {}   # certificate ARN -> when its validation records show
        self.delays = []        # every delay drawn: {"behaviour", "subject", "delay"}
        self.log = []           # every answer a delay shaped

    def get(self):
        """GET /_fake/eventual: settings, the delays drawn, the answers they shaped."""
        with self.lock:
            return {"seconds": self.seconds, "seed": self.seed, "fixed": self.fixed, "behaviours": list(self.behaviours),
                    "delays": [dict(d) for d in self.delays], "log": [dict(e) for e in self.log],
                    "changes": {k: {"seen_insync": v["seen_insync"]} for k, v in self.changes.items()}}

    @property
    def on(self):
        return self.seconds > 0

    def _draw(self, behaviour, subject):
        if behaviour not in self.behaviours:
            return self.clock()      # that behaviour is off: seen at once
        with self.lock:
            delay = self.seconds if self.fixed else self.rng.uniform(0, self.seconds)
            self.delays.append({"behaviour": behaviour, "subject": subject, "delay": round(delay, 3)})
        return self.clock() + delay

    def _shaped(self, ctx, behaviour, subject, until, answer):
        with self.lock:
            self.log.append({"request_id": ctx.request_id, "operation": f"{ctx.service}.{ctx.operation}",
                             "behaviour": behaviour, "subject": subject, "answer": answer,
                             "remaining": round(max(0.0, until - self.clock()), 3)})

    def pending(self, until):
        return until is not None and self.clock() < until

    # -- the pipeline's hooks ------------------------------------------------------------

    def begin(self, ctx, service, operation, params):
        if not self.on:
            return None
        return _Call(self, ctx, service, operation, params)


def _role_name(arn_or_name):
    return (arn_or_name or "").rsplit("/", 1)[-1].lower()


def _walk_strings(value, skip=_NOT_REFERENCES):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in skip:
                yield from _walk_strings(v, skip)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk_strings(v, skip)


class _Call:
    """One request seen by the eventual model."""

    def __init__(self, model, ctx, service, operation, params):
        self.m = model
        self.ctx = ctx
        self.service = service
        self.op = operation
        self.p = params
        self.before = None
        self.new_targets = []
        if service == "ec2" and not operation.startswith("Describe"):
            self.before = {kind: set(objs) for kind, objs in ctx.store.objects.get("ec2", {}).items()}
        if service == "elbv2" and operation in _LISTENER_WRITES:
            from .services import elbv2
            tgs = ctx.store.table("elbv2", "target-group")
            for arn in elbv2._forwarded(params.get("DefaultActions") or params.get("Actions") or []):
                tg = tgs.get(arn)
                if tg is not None and not elbv2.load_balancers_of(ctx, tg) and arn not in self.new_targets:
                    self.new_targets.append(arn)

    # -- before the handler ----------------------------------------------------------------

    def check(self):
        fn = getattr(self, "_check_" + self.service.replace("-", "_"), None)
        if fn is not None:
            fn()

    def _refuse(self, behaviour, subject, until, err):
        self.m._shaped(self.ctx, behaviour, subject, until, err.code)
        raise err

    def _check_ec2(self):
        from .services import ec2
        for s in _walk_strings(self.p):
            m = _EC2_ID.fullmatch(s)
            if not m:
                continue
            entry = self.m.hidden.get(s)
            if entry and self.m.pending(entry[1]):
                kind = entry[0] if entry[0] in ec2.KINDS else ec2.PREFIX_KIND.get(m.group(1))
                if kind in ec2.KINDS:
                    self._refuse("ec2-visibility", s, entry[1], ec2._not_found(kind, [s]))

    def _check_autoscaling(self):
        if self.op not in _ASG_WRITES or not self.p.get("LaunchTemplate"):
            return
        spec = self.p["LaunchTemplate"]
        from .services import ec2_launch_templates as templates
        try:
            key = "LaunchTemplateId" if spec.get("LaunchTemplateId") else "LaunchTemplateName"
            lt = templates._find(self.ctx, {key: spec.get(key)})
            version = templates._pick_versions(lt, [spec.get("Version") or "$Default"])[0]
        except AWSError:
            return   # the handler answers what is wrong with it
        lt_id, number = lt["LaunchTemplateId"], version["VersionNumber"]
        until = self.m.versions.get((lt_id, number))
        if self.m.pending(until):
            if number == 1:
                detail = f"The specified launch template, with template ID {lt_id}, does not exist."
            else:
                detail = f"Could not find launch template version {number} for the launch template {lt_id}."
            self._refuse("launch-template", f"{lt_id} version {number}", until,
                         AWSError("ValidationError", f"You must use a valid fully-formed launch template. {detail}"))
        profile = version["LaunchTemplateData"].get("IamInstanceProfile") or {}
        ref = profile.get("Name") or profile.get("Arn")
        if not ref:
            return
        until = self._profile_usable_at(_role_name(ref))
        if self.m.pending(until):
            which = "name" if profile.get("Name") else "arn"
            self._refuse("iam-propagation", f"instance-profile/{_role_name(ref)}", until, AWSError(
                "ValidationError", f"You must use a valid fully-formed launch template. Value ({ref}) for parameter "
                                   f"iamInstanceProfile.{which} is invalid. Invalid IAM Instance Profile "
                                   f"{'name' if which == 'name' else 'ARN'}"))

    def _profile_usable_at(self, name):
        """When the instance profile and the role it holds are both usable (None: known long ago)."""
        times = [self.m.iam.get(("profile", name))]
        profile = self.ctx.store.table("iam", "instance-profile").get(name)
        for role in (profile or {}).get("_roles", []):
            times.append(self.m.iam.get(("role", role)))
        times = [t for t in times if t is not None]
        return max(times) if times else None

    def _check_ecs(self):
        if self.op in ("CreateService", "CreateCapacityProvider"):
            until = self.m.iam.get(("slr", "ecs.amazonaws.com"))
            if self.m.pending(until):
                if self.op == "CreateCapacityProvider":
                    err = AWSError("ClientException", "ECS Service Linked Role does not exist. Please create a "
                                                      "Service linked role for ECS and try again.")
                else:
                    err = AWSError("InvalidParameterException", "Unable to assume the service linked role. Please "
                                                                "verify that the ECS service linked role exists.")
                self._refuse("iam-propagation", "service-linked-role/ecs.amazonaws.com", until, err)
        if self.op == "CreateService" and self.p.get("role"):
            until = self.m.iam.get(("role", _role_name(self.p["role"])))
            if self.m.pending(until):
                self._refuse("iam-propagation", "role/" + _role_name(self.p["role"]), until, AWSError(
                    "InvalidParameterException", "Unable to assume role and validate the specified targetGroupArn. "
                                                 "Please verify that the ECS service role being passed has the "
                                                 "proper permissions."))
        if self.op in ("CreateService", "UpdateService"):
            for lb in self.p.get("loadBalancers") or []:
                arn = lb.get("targetGroupArn")
                until = self.m.associations.get(arn)
                if self.m.pending(until):
                    self._refuse("target-group", arn, until, AWSError(
                        "InvalidParameterException", f"The target group with targetGroupArn {arn} does not have an "
                                                     "associated load balancer."))

    def _check_application_autoscaling(self):
        if self.op == "RegisterScalableTarget" and self.p.get("RoleARN"):
            until = self.m.iam.get(("role", _role_name(self.p["RoleARN"])))
            if self.m.pending(until):
                self._refuse("iam-propagation", "role/" + _role_name(self.p["RoleARN"]), until, AWSError(
                    "ValidationException", f"Unable to assume IAM role: {self.p['RoleARN']}"))

    def _check_backup(self):
        arn = (self.p.get("BackupSelection") or {}).get("IamRoleArn")
        if self.op == "CreateBackupSelection" and arn:
            until = self.m.iam.get(("role", _role_name(arn)))
            if self.m.pending(until):
                self._refuse("iam-propagation", "role/" + _role_name(arn), until, AWSError(
                    "InvalidParameterValueException", f"IAM Role {arn} cannot be assumed by AWS Backup"))

    def _check_rds(self):
        if self.op in _RDS_ROLE_WRITES and self.p.get("MonitoringRoleArn"):
            until = self.m.iam.get(("role", _role_name(self.p["MonitoringRoleArn"])))
            if self.m.pending(until):
                self._refuse("iam-propagation", "role/" + _role_name(self.p["MonitoringRoleArn"]), until, AWSError(
                    "InvalidParameterValue", "IAM role ARN value is invalid or does not include the required "
                                             "permissions for: ENHANCED_MONITORING"))

    def _check_wafv2(self):
        if self.op in ("AssociateWebACL", "GetWebACLForResource"):
            arn = self.p.get("ResourceArn")
            until = self.m.waf_entities.get(arn)
            if self.m.pending(until):
                self._refuse("waf-entity", arn, until, AWSError(
                    "WAFUnavailableEntityException", "AWS WAF couldn't retrieve the resource that you requested. "
                                                     "Retry your request."))

    def _check_secretsmanager(self):
        if self.op == "CreateSecret":
            key = (self.ctx.region, self.ctx.account, self.p["Name"])
            until = self.m.purging.get(key)
            if self.m.pending(until):
                self._refuse("secret-purge", self.p["Name"], until, AWSError(
                    "InvalidRequestException", "You can't create this secret because a secret with this name is "
                                               "already scheduled for deletion."))

    def _check_s3(self):
        name = self.p.get("Bucket")
        until = self.m.buckets.get(name)
        if self.op != "CreateBucket" and self.m.pending(until):
            self._refuse("s3-bucket", name, until, AWSError(
                "NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": name}))

    # -- after the handler -----------------------------------------------------------------

    def _finish_s3(self, result):
        name = self.p.get("Bucket")
        if self.op == "CreateBucket" and name not in self.m.buckets:
            self.m.buckets[name] = self.m._draw("s3-bucket", name)
        elif self.op == "DeleteBucket":
            self.m.buckets.pop(name, None)
        return result

    def finish(self, result):
        fn = getattr(self, "_finish_" + self.service.replace("-", "_"), None)
        return fn(result) if fn is not None else result

    def _finish_ec2(self, result):
        m = self.m
        if self.op.startswith("Describe"):
            listed = _EC2_LISTS.get(self.op)
            if listed and isinstance(result.get(listed[0]), list):
                key, id_field = listed
                result[key] = [item for item in result[key]
                               if not self._hidden_item(item, id_field)]
            return result
        for kind, objs in self.ctx.store.objects.get("ec2", {}).items():
            old = self.before.get(kind, set())
            for oid in objs:
                if oid not in old and oid not in m.hidden and _EC2_ID.fullmatch(oid):
                    m.hidden[oid] = (kind, m._draw("ec2-visibility", oid))
        if self.op == "CreateLaunchTemplate":
            lt = result.get("LaunchTemplate") or {}
            key = (lt.get("LaunchTemplateId"), 1)
            if key[0] and key not in m.versions:
                m.versions[key] = m._draw("launch-template", f"{key[0]} version 1")
        if self.op == "CreateLaunchTemplateVersion":
            v = result.get("LaunchTemplateVersion") or {}
            key = (v.get("LaunchTemplateId"), v.get("VersionNumber"))
            if key[0] and key[1] and key not in m.versions:
                m.versions[key] = m._draw("launch-template", f"{key[0]} version {key[1]}")
        return result

    def _hidden_item(self, item, id_field):
        if not isinstance(item, dict):
            return False
        entry = self.m.hidden.get(item.get(id_field))
        return bool(entry) and self.m.pending(entry[1])

    def _finish_iam(self, result):
        m = self.m
        if self.op == "CreateRole":
            name = self.p["RoleName"].lower()
            m.iam[("role", name)] = m._draw("iam-propagation", "role/" + name)
        elif self.op in ("AttachRolePolicy", "PutRolePolicy"):
            name = self.p["RoleName"].lower()
            until = m._draw("iam-propagation", f"role/{name} {self.op}")
            m.iam[("role", name)] = max(until, m.iam.get(("role", name)) or 0)
        elif self.op == "CreateInstanceProfile":
            name = self.p["InstanceProfileName"].lower()
            m.iam[("profile", name)] = m._draw("iam-propagation", "instance-profile/" + name)
        elif self.op == "AddRoleToInstanceProfile":
            name = self.p["InstanceProfileName"].lower()
            until = m._draw("iam-propagation", f"instance-profile/{name} AddRoleToInstanceProfile")
            m.iam[("profile", name)] = max(until, m.iam.get(("profile", name)) or 0)
        return result

    def _finish_ecs(self, result):
        key = ("slr", "ecs.amazonaws.com")
        if self.op == "CreateCluster" and key not in self.m.iam:
            # ECS makes its service-linked role with the account's first cluster
            self.m.iam[key] = self.m._draw("iam-propagation", "service-linked-role/ecs.amazonaws.com")
        return result

    def _finish_elbv2(self, result):
        if self.op == "CreateLoadBalancer":
            for lb in result.get("LoadBalancers") or []:
                arn = lb.get("LoadBalancerArn")
                if arn and arn not in self.m.waf_entities:
                    self.m.waf_entities[arn] = self.m._draw("waf-entity", arn)
        for arn in self.new_targets:
            if arn not in self.m.associations or not self.m.pending(self.m.associations[arn]):
                self.m.associations[arn] = self.m._draw("target-group", arn)
        return result

    def _finish_route53(self, result):
        m = self.m
        info = result.get("ChangeInfo")
        if not isinstance(info, dict) or not info.get("Id"):
            return result
        bare = info["Id"].rsplit("/", 1)[-1]
        if self.op == "GetChange":
            change = m.changes.get(bare)
            if change is None:
                return result
            if self.m.pending(change["insync_at"]):
                info["Status"] = "PENDING"
                m._shaped(self.ctx, "route53-change", bare, change["insync_at"], "PENDING")
            elif info.get("Status") == "INSYNC":
                change["seen_insync"] = True
            return result
        m.changes[bare] = {"insync_at": m._draw("route53-change", bare), "seen_insync": False}
        info["Status"] = "PENDING"
        return result

    def _check_cloudfront(self):
        if self.op == "DeleteDistribution":
            until = self.m.deploying.get(self.p.get("Id"))
            if self.m.pending(until):
                self._refuse("cloudfront-deploy", self.p["Id"], until, AWSError(
                    "DistributionNotDisabled", "The distribution you are trying to delete has not been disabled.",
                    409))

    def _finish_cloudfront(self, result):
        m = self.m
        if self.op in ("CreateDistributionWithTags", "UpdateDistribution"):
            dist = result.get("Distribution") or {}
            if dist.get("Id"):
                m.deploying[dist["Id"]] = m._draw("cloudfront-deploy", dist["Id"])
                dist["Status"] = "InProgress"
        elif self.op == "GetDistribution":
            self._in_progress(result.get("Distribution") or {})
        elif self.op == "ListDistributions":
            for item in (result.get("DistributionList") or {}).get("Items") or []:
                self._in_progress(item)
        return result

    def _in_progress(self, dist):
        until = self.m.deploying.get(dist.get("Id"))
        if self.m.pending(until):
            dist["Status"] = "InProgress"
            self.m._shaped(self.ctx, "cloudfront-deploy", dist["Id"], until, "InProgress")

    def _finish_secretsmanager(self, result):
        if self.op == "DeleteSecret" and self.p.get("ForceDeleteWithoutRecovery") and result.get("Name"):
            key = (self.ctx.region, self.ctx.account, result["Name"])
            self.m.purging[key] = self.m._draw("secret-purge", result["Name"])
        return result

    def _finish_acm(self, result):
        m = self.m
        if self.op == "RequestCertificate":
            arn = result.get("CertificateArn")
            if arn and arn not in m.acm_records:
                m.acm_records[arn] = m._draw("acm-records", arn)
        elif self.op == "DescribeCertificate":
            cert = result.get("Certificate") or {}
            until = m.acm_records.get(cert.get("CertificateArn"))
            if m.pending(until):
                for option in cert.get("DomainValidationOptions") or []:
                    option.pop("ResourceRecord", None)
                m._shaped(self.ctx, "acm-records", cert["CertificateArn"], until, "no ResourceRecord")
        return result
