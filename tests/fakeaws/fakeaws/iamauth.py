"""IAM identity-policy enforcement for the access keys of fakeaws IAM users
(services/iam_users.py), when the server's enforce_iam is on.

Each request becomes one or more (action, resource) pairs: the operation's
action (the service's IAM prefix: elasticloadbalancing, elasticfilesystem,
cloudwatch...; S3's own action names) on the ARN of the object it names where
fakeaws knows it (IAM roles and instance profiles, log groups, SSM
parameters, secrets, S3 buckets and objects, DynamoDB tables, KMS keys), "*"
otherwise; plus iam:PassRole on every role a request hands to a service
(members named *RoleArn/*RoleARN, a launch template's instance profile, a
role added to an instance profile). Each is evaluated as IAM does for identity
policies: an explicit Deny wins, then an Allow, else the implicit deny;
Action/NotAction and Resource/NotResource with * and ? wildcards (actions
without regard to case). Conditions are not evaluated: a statement
with one never matches (an Allow with a condition allows nothing)."""
import fnmatch
import json
import re

PREFIX = {"elbv2": "elasticloadbalancing", "efs": "elasticfilesystem", "cloudwatch": "cloudwatch"}
S3_ACTION = {"HeadBucket": "ListBucket", "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket",
             "ListObjectVersions": "ListBucketVersions", "HeadObject": "GetObject",
             # the IAM actions of bucket configurations are not their operations' names (wpo.iam.S3_ACTION)
             "ListBuckets": "ListAllMyBuckets", "DeleteObjects": "DeleteObject",
             "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
             "DeleteBucketEncryption": "PutEncryptionConfiguration",
             "GetPublicAccessBlock": "GetBucketPublicAccessBlock", "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
             "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
             "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
             "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
             "DeleteBucketLifecycle": "PutLifecycleConfiguration", "DeleteBucketTagging": "PutBucketTagging",
             "DeleteBucketOwnershipControls": "PutBucketOwnershipControls"}
UNCHECKED = {"sts:GetCallerIdentity"}

_ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/")


def action(service, op):
    if service == "s3":
        return "s3:" + S3_ACTION.get(op, op)
    return PREFIX.get(service, service) + ":" + op


def _match(pattern, value, case=True):
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _list(v):
    return v if isinstance(v, list) else [v]


def _statement_matches(st, act, res):
    if "Condition" in st:
        return False
    if "Action" in st:
        if not any(_match(p, act, case=False) for p in _list(st["Action"])):
            return False
    elif "NotAction" in st:
        if any(_match(p, act, case=False) for p in _list(st["NotAction"])):
            return False
    else:
        return False
    if "Resource" in st:
        return any(_match(p, res) for p in _list(st["Resource"]))
    if "NotResource" in st:
        return not any(_match(p, res) for p in _list(st["NotResource"]))
    return False


def evaluate(documents, act, res):
    """-> "allow", "deny" (explicit) or "implicit"."""
    allowed = False
    for text in documents:
        doc = json.loads(text)
        for st in _list(doc.get("Statement", [])):
            if _statement_matches(st, act, res):
                if st.get("Effect") == "Deny":
                    return "deny"
                if st.get("Effect") == "Allow":
                    allowed = True
    return "allow" if allowed else "implicit"


def _role_arn(ctx, name):
    role = ctx.store.table("iam", "role").get((name or "").lower())
    return role["Arn"] if role else f"arn:aws:iam::{ctx.account}:role/{name}"


def _profile_role_arns(ctx, ref):
    """The role ARNs of an instance profile given by name or ARN."""
    name = (ref or "").rpartition("/")[2]
    profile = ctx.store.table("iam", "instance-profile").get(name.lower())
    if not profile:
        return []
    return [_role_arn(ctx, r) for r in profile.get("_roles", [])]


def resource(ctx, service, op, p):
    """The ARN a request acts on, or "*"."""
    region, account = ctx.region, ctx.account
    if service == "iam":
        if p.get("InstanceProfileName"):
            prof = ctx.store.table("iam", "instance-profile").get(p["InstanceProfileName"].lower())
            path = prof["Path"] if prof else p.get("Path", "/")
            return f"arn:aws:iam::{account}:instance-profile{path}{p['InstanceProfileName']}"
        if p.get("RoleName"):
            role = ctx.store.table("iam", "role").get(p["RoleName"].lower())
            path = role["Path"] if role else p.get("Path", "/")
            return f"arn:aws:iam::{account}:role{path}{p['RoleName']}"
        if p.get("UserName"):
            return f"arn:aws:iam::{account}:user/{p['UserName']}"
        return "*"
    if service == "logs":
        name = p.get("logGroupName")
        if name:
            return f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
        arn = p.get("resourceArn")
        return arn if arn and ":log-group:" in arn else "*"
    if service == "ssm":
        name = p.get("Name") if op != "DescribeParameters" else None
        if op in ("AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"):
            name = p.get("ResourceId") if p.get("ResourceType") == "Parameter" else None
        if name:
            return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
        return "*"
    if service == "secretsmanager":
        ref = p.get("SecretId") or (p.get("Name") if op == "CreateSecret" else None)
        if not ref:
            return "*"
        if ref.startswith("arn:"):
            return ref
        for s in ctx.store.table("secretsmanager", "secret").values():
            if s.get("Name") == ref:
                return s["ARN"]
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{ref}-AbCdEf"
    if service == "s3":
        bucket = p.get("Bucket")
        if not bucket:
            return "*"
        return f"arn:aws:s3:::{bucket}/{p['Key']}" if p.get("Key") else f"arn:aws:s3:::{bucket}"
    if service == "dynamodb":
        table = p.get("TableName")
        return f"arn:aws:dynamodb:{region}:{account}:table/{table}" if table else "*"
    if service == "kms":
        key = p.get("KeyId")
        if not key:
            return "*"
        return key if key.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key}"
    return "*"


def _passed_roles(ctx, service, op, p):
    if service in ("iam", "sts"):
        if service == "iam" and op == "AddRoleToInstanceProfile":
            return [_role_arn(ctx, p["RoleName"])]
        return []
    out = []

    def walk(v, key=""):
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "IamInstanceProfile" and isinstance(x, dict):
                    out.extend(_profile_role_arns(ctx, x.get("Arn") or x.get("Name")))
                walk(x, k)
        elif isinstance(v, list):
            for x in v:
                walk(x, key)
        elif isinstance(v, str) and key.lower().endswith("rolearn") and _ROLE_ARN.match(v):
            out.append(v)
    walk(p)
    return sorted(set(out))


def checks(ctx, service, op, p):
    """The (action, resource) pairs a request needs allowed."""
    out = [(action(service, op), resource(ctx, service, op, p))]
    out += [("iam:PassRole", arn) for arn in _passed_roles(ctx, service, op, p)]
    return [(a, r) for a, r in out if a not in UNCHECKED]


# the code, status and message form of an access denial, by protocol
def denial(svc, identity, act, res, explicit):
    why = ("with an explicit deny in an identity-based policy" if explicit
           else f"because no identity-based policy allows the {act} action")
    msg = f"User: {identity.arn} is not authorized to perform: {act} on resource: {res} {why}"
    from .errors import AWSError
    proto = svc.model.metadata.get("protocol")
    if proto == "ec2":
        return AWSError("UnauthorizedOperation", f"You are not authorized to perform this operation. {msg}", 403)
    if proto in ("json", "rest-json"):
        return AWSError("AccessDeniedException", msg, 400 if proto == "json" else 403)
    return AWSError("AccessDenied", msg, 403)


def authorize(ctx, svc, op, p):
    """Raise the service's AccessDenied when the caller is a fakeaws IAM user
    whose policies do not allow every (action, resource) the request needs."""
    user_name = getattr(ctx.identity, "user", None)
    if not user_name or not ctx.server.enforce_iam:
        return
    user = ctx.store.table("iam", "user").get(user_name.lower())
    documents = list(user["_policies"].values()) if user else []
    for act, res in checks(ctx, svc.name, op, p):
        verdict = evaluate(documents, act, res)
        if verdict != "allow":
            raise denial(svc, ctx.identity, act, res, verdict == "deny")
