"""CloudWatch Logs: log groups (CreateLogGroup, DescribeLogGroups,
DeleteLogGroup), retention (PutRetentionPolicy, DeleteRetentionPolicy), KMS
keys (AssociateKmsKey, DisassociateKmsKey) and tags by ARN (TagResource,
UntagResource, ListTagsForResource).

As CloudWatch Logs: names of 1-512 characters from [.-_/#A-Za-z0-9]; a KMS key
is given as a full key ARN and must exist in fakeaws's KMS; retention takes
only the periods the service offers; a log group's ARN in DescribeLogGroups
ends with ':*', the one tags take does not."""
import re

from ..errors import AWSError
from ..state import public, tag_dict, tag_list
from . import Service

service = Service("logs")

_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
_KEY_ARN = re.compile(r"^arn:aws[-a-z]*:kms:[a-z0-9-]+:\d{12}:key/([0-9a-f-]{36})$")
_GROUP_ARN = re.compile(r"^arn:aws[-a-z]*:logs:([a-z0-9-]+):(\d{12}):log-group:([.\-_/#A-Za-z0-9]{1,512})$")
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)


def _groups(ctx):
    return ctx.store.table("logs", "log-group")


def _invalid(message):
    return service.fault("InvalidParameterException", message)


def _not_found():
    return service.fault("ResourceNotFoundException", "The specified log group does not exist.")


def _view(group):
    out = public(group)
    del out["Tags"]       # kept for the state dump; answered by ListTagsForResource
    return out


def _group(ctx, name):
    group = _groups(ctx).get(name)
    if group is None:
        raise _not_found()
    return group


def _check_key(ctx, key):
    m = _KEY_ARN.match(key)
    if not m:
        raise _invalid(f"Specified KMS key {key} is not a valid key ARN.")
    if m.group(1) not in ctx.store.table("kms", "key"):
        raise AWSError("AccessDeniedException", f"The specified KMS key {key} does not exist or is not allowed "
                                                "to be used", 400)


def _check_tags(tags):
    for k in tags:
        if not k or k.lower().startswith("aws:"):
            raise _invalid(f"Invalid tag key: {k!r}")
    if len(tags) > 50:
        raise service.fault("TooManyTagsException", "A log group can carry at most 50 tags")


@service.op("CreateLogGroup")
def create_log_group(ctx, p):
    name = p["logGroupName"]
    if not _NAME.match(name):
        raise _invalid(f"1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy "
                       "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
    if name in _groups(ctx):
        raise service.fault("ResourceAlreadyExistsException", "The specified log group already exists")
    if p.get("kmsKeyId"):
        _check_key(ctx, p["kmsKeyId"])
    tags = dict(p.get("tags") or {})
    _check_tags(tags)
    group = {"logGroupName": name, "creationTime": int(ctx.now().timestamp() * 1000), "metricFilterCount": 0,
             "arn": ctx.arn("logs", f"log-group:{name}:*"), "storedBytes": 0, "Tags": tag_list(tags)}
    if p.get("kmsKeyId"):
        group["kmsKeyId"] = p["kmsKeyId"]
    _groups(ctx)[name] = group
    return {}


@service.op("DescribeLogGroups")
def describe_log_groups(ctx, p):
    if p.get("logGroupNamePrefix") and p.get("logGroupNamePattern"):
        raise _invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    groups = list(_groups(ctx).values())
    if p.get("logGroupNamePrefix"):
        groups = [g for g in groups if g["logGroupName"].startswith(p["logGroupNamePrefix"])]
    if p.get("logGroupNamePattern"):
        needle = p["logGroupNamePattern"].lower()
        groups = [g for g in groups if needle in g["logGroupName"].lower()]
    page, token = ctx.page(groups, key=lambda g: g["logGroupName"], token=p.get("nextToken"),
                           limit=p.get("limit"), token_error=("InvalidParameterException", 400))
    out = {"logGroups": [_view(g) for g in page]}
    if token:
        out["nextToken"] = token
    return out


@service.op("DeleteLogGroup")
def delete_log_group(ctx, p):
    _group(ctx, p["logGroupName"])
    del _groups(ctx)[p["logGroupName"]]
    return {}


@service.op("PutRetentionPolicy")
def put_retention_policy(ctx, p):
    group = _group(ctx, p["logGroupName"])
    if p["retentionInDays"] not in RETENTION_DAYS:
        raise _invalid(f"1 validation error detected: Value '{p['retentionInDays']}' at 'retentionInDays' failed "
                       "to satisfy constraint: Member must satisfy enum value set: "
                       f"[{', '.join(str(d) for d in RETENTION_DAYS)}]")
    group["retentionInDays"] = p["retentionInDays"]
    return {}


@service.op("DeleteRetentionPolicy")
def delete_retention_policy(ctx, p):
    _group(ctx, p["logGroupName"]).pop("retentionInDays", None)
    return {}


@service.op("AssociateKmsKey")
def associate_kms_key(ctx, p):
    group = _group(ctx, p["logGroupName"])
    _check_key(ctx, p["kmsKeyId"])
    group["kmsKeyId"] = p["kmsKeyId"]
    return {}


@service.op("DisassociateKmsKey")
def disassociate_kms_key(ctx, p):
    _group(ctx, p["logGroupName"]).pop("kmsKeyId", None)
    return {}


def _by_arn(ctx, arn):
    m = _GROUP_ARN.match(arn)
    if not m:
        raise _invalid(f"Invalid resource ARN: {arn} (a log group's ARN, without the trailing ':*')")
    if m.group(1) != ctx.region or m.group(2) != ctx.account:
        raise service.fault("ResourceNotFoundException", f"The specified resource {arn} does not exist.")
    group = _groups(ctx).get(m.group(3))
    if group is None:
        raise service.fault("ResourceNotFoundException", f"The specified resource {arn} does not exist.")
    return group


@service.op("TagResource")
def tag_resource(ctx, p):
    group = _by_arn(ctx, p["resourceArn"])
    tags = tag_dict(group["Tags"])
    tags.update(p["tags"])
    _check_tags(tags)
    group["Tags"] = tag_list(tags)
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    group = _by_arn(ctx, p["resourceArn"])
    group["Tags"] = [t for t in group["Tags"] if t["Key"] not in p["tagKeys"]]
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    return {"tags": tag_dict(_by_arn(ctx, p["resourceArn"])["Tags"])}
