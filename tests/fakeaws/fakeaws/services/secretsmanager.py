"""Secrets Manager: secrets (CreateSecret, DescribeSecret, UpdateSecret,
DeleteSecret, RestoreSecret), their values (GetSecretValue, PutSecretValue)
and tags (TagResource, UntagResource).

As Secrets Manager: a secret's ARN ends with its name, a hyphen and six random
characters; SecretId is the name or the ARN. Each value is a version
(ClientRequestToken = VersionId, 32-64 characters) staged AWSCURRENT, the one
before it AWSPREVIOUS; repeating a token with the same value does nothing,
with another value is ResourceExistsException. DeleteSecret schedules the
deletion (7-30 days, default 30, DeletedDate set): the secret can then only be
described, restored or force-deleted, and its name cannot be reused until it
is gone; ForceDeleteWithoutRecovery removes it at once. Values are kept out
of the /_fake/state dump."""
import datetime
import re
import secrets
import string
import uuid

from ..state import public, tag_dict, tag_list
from . import Service

service = Service("secretsmanager", codes={"idempotency_mismatch": ("ResourceExistsException", 400)})

_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ARN = re.compile(r"^arn:aws[-a-z]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$")
_KMS_ID = re.compile(r"^(?:arn:aws[-a-z]*:kms:[a-z0-9-]+:\d{12}:key/)?([0-9a-f-]{36})$")


def _secrets(ctx):
    return ctx.store.table("secretsmanager", "secret")


def _invalid_param(message):
    return service.fault("InvalidParameterException", message)


def _invalid_request(message):
    return service.fault("InvalidRequestException", message)


def _not_found():
    return service.fault("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")


def _find(ctx, ref):
    """The secret a SecretId names (name, full ARN or ARN without its suffix), or None."""
    table = _secrets(ctx)
    m = _ARN.match(ref)
    if m:
        if m.group(1) != ctx.region or m.group(2) != ctx.account:
            return None
        if ref in table:
            return table[ref]
        ref = m.group(3)
    for s in table.values():
        if s["Name"] == ref:
            return s
    return None


def _secret(ctx, ref):
    s = _find(ctx, ref)
    if s is None:
        raise _not_found()
    return s


def _live(s, what="perform this operation on"):
    if s.get("DeletedDate"):
        raise _invalid_request(f"You can't {what} the secret because it was marked for deletion.")
    return s


def _check_key(ctx, key):
    if key.startswith("alias/") or ":alias/" in key:
        return key
    m = _KMS_ID.match(key)
    if not m or m.group(1) not in ctx.store.table("kms", "key"):
        raise service.fault("EncryptionFailure", f"The KMS key {key} does not exist or is not accessible")
    return ctx.store.table("kms", "key")[m.group(1)]["KeyMetadata"]["Arn"]


def _value_of(p):
    has_string, has_binary = p.get("SecretString") is not None, p.get("SecretBinary") is not None
    if has_string and has_binary:
        raise _invalid_param("You can't specify both a binary secret value and a string secret value in the same "
                             "secret.")
    if has_string:
        if len(p["SecretString"].encode()) > 65536:
            raise _invalid_param("The secret value exceeds 65536 bytes")
        return {"SecretString": p["SecretString"]}
    if has_binary:
        return {"SecretBinary": p["SecretBinary"]}
    return None


def _add_version(ctx, s, token, value, stages=None):
    token = token or str(uuid.uuid4())
    if not 32 <= len(token) <= 64:
        raise _invalid_param("ClientRequestToken must be 32-64 characters long")
    versions = s["_versions"]
    if token in versions:
        if versions[token]["value"] != value:
            raise service.fault("ResourceExistsException", "You can't modify an existing version, you can only "
                                                           "create new versions.")
        return token
    stages = list(stages or ["AWSCURRENT"])
    if "AWSCURRENT" in stages:
        for v in versions.values():
            if "AWSPREVIOUS" in v["stages"]:
                v["stages"].remove("AWSPREVIOUS")
        for v in versions.values():
            if "AWSCURRENT" in v["stages"]:
                v["stages"].remove("AWSCURRENT")
                v["stages"].append("AWSPREVIOUS")
    for v in versions.values():
        for st in stages:
            if st != "AWSCURRENT" and st in v["stages"]:
                v["stages"].remove(st)
    versions[token] = {"value": value, "stages": stages, "created": ctx.now().replace(microsecond=0)}
    for k in [k for k, v in versions.items() if not v["stages"]]:
        del versions[k]
    s["LastChangedDate"] = ctx.now().replace(microsecond=0)
    return token


def _set_tags(s, tags):
    current = tag_dict(s["Tags"])
    for t in tags:
        key = t.get("Key")
        if not key or key.lower().startswith("aws:"):
            raise _invalid_param(f"Invalid tag key: {key!r}")
        current[key] = t.get("Value", "")
    if len(current) > 50:
        raise _invalid_param("A secret can carry at most 50 tags")
    s["Tags"] = tag_list(current)


@service.op("CreateSecret")
def create_secret(ctx, p):
    name = p["Name"]
    if not _NAME.match(name):
        raise _invalid_param("Invalid name. Must be a valid name containing alphanumeric characters, or any of "
                             "the following: -/_+=.@!")
    existing = _find(ctx, name)
    if existing is not None:
        if existing.get("DeletedDate"):
            raise _invalid_request("You can't create this secret because a secret with this name is already "
                                   "scheduled for deletion.")
        raise service.fault("ResourceExistsException", f"The operation failed because the secret {name} "
                                                       "already exists.")
    value = _value_of(p)
    suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))
    arn = ctx.arn("secretsmanager", f"secret:{name}-{suffix}")
    now = ctx.now().replace(microsecond=0)
    s = {"ARN": arn, "Name": name, "CreatedDate": now, "LastChangedDate": now, "Tags": [], "_versions": {}}
    if p.get("Description") is not None:
        s["Description"] = p["Description"]
    if p.get("KmsKeyId"):
        s["KmsKeyId"] = _check_key(ctx, p["KmsKeyId"])
    _set_tags(s, p.get("Tags") or [])
    out = {"ARN": arn, "Name": name}
    if value is not None:
        out["VersionId"] = _add_version(ctx, s, p.get("ClientRequestToken"), value)
    _secrets(ctx)[arn] = s
    return out


def _describe(s):
    out = public(s)
    out["VersionIdsToStages"] = {k: list(v["stages"]) for k, v in s["_versions"].items()}
    if not out["Tags"]:
        del out["Tags"]
    out["RotationEnabled"] = False
    return out


@service.op("DescribeSecret")
def describe_secret(ctx, p):
    return _describe(_secret(ctx, p["SecretId"]))


@service.op("GetSecretValue")
def get_secret_value(ctx, p):
    s = _live(_secret(ctx, p["SecretId"]))
    versions = s["_versions"]
    if p.get("VersionId"):
        v = versions.get(p["VersionId"])
        if v is None or (p.get("VersionStage") and p["VersionStage"] not in v["stages"]):
            raise service.fault("ResourceNotFoundException", "Secrets Manager can't find the specified secret "
                                                             "value for VersionId: " + p["VersionId"])
        version_id = p["VersionId"]
    else:
        stage = p.get("VersionStage", "AWSCURRENT")
        found = [k for k, v in versions.items() if stage in v["stages"]]
        if not found:
            raise service.fault("ResourceNotFoundException", "Secrets Manager can't find the specified secret "
                                                             "value for staging label: " + stage)
        version_id = found[0]
    v = versions[version_id]
    return {"ARN": s["ARN"], "Name": s["Name"], "VersionId": version_id, "VersionStages": list(v["stages"]),
            "CreatedDate": v["created"], **v["value"]}


@service.op("PutSecretValue")
def put_secret_value(ctx, p):
    s = _live(_secret(ctx, p["SecretId"]))
    value = _value_of(p)
    if value is None:
        raise _invalid_param("You must provide either SecretString or SecretBinary.")
    token = _add_version(ctx, s, p.get("ClientRequestToken"), value, p.get("VersionStages"))
    return {"ARN": s["ARN"], "Name": s["Name"], "VersionId": token,
            "VersionStages": list(s["_versions"][token]["stages"])}


@service.op("UpdateSecret")
def update_secret(ctx, p):
    s = _live(_secret(ctx, p["SecretId"]))
    if p.get("Description") is not None:
        s["Description"] = p["Description"]
    if p.get("KmsKeyId") is not None:
        s["KmsKeyId"] = _check_key(ctx, p["KmsKeyId"])
    out = {"ARN": s["ARN"], "Name": s["Name"]}
    value = _value_of(p)
    if value is not None:
        out["VersionId"] = _add_version(ctx, s, p.get("ClientRequestToken"), value)
    s["LastChangedDate"] = ctx.now().replace(microsecond=0)
    return out


@service.op("DeleteSecret")
def delete_secret(ctx, p):
    s = _secret(ctx, p["SecretId"])
    force = p.get("ForceDeleteWithoutRecovery")
    window = p.get("RecoveryWindowInDays")
    if force and window is not None:
        raise _invalid_param("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
    if force:
        del _secrets(ctx)[s["ARN"]]
        return {"ARN": s["ARN"], "Name": s["Name"], "DeletionDate": ctx.now().replace(microsecond=0)}
    if s.get("DeletedDate"):
        raise _invalid_request("You can't perform this operation on the secret because it was already scheduled "
                               "for deletion.")
    window = 30 if window is None else window
    if not 7 <= window <= 30:
        raise _invalid_param("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
    s["DeletedDate"] = ctx.now().replace(microsecond=0)
    return {"ARN": s["ARN"], "Name": s["Name"], "DeletionDate": s["DeletedDate"] + datetime.timedelta(days=window)}


@service.op("RestoreSecret")
def restore_secret(ctx, p):
    s = _secret(ctx, p["SecretId"])
    s.pop("DeletedDate", None)
    return {"ARN": s["ARN"], "Name": s["Name"]}


@service.op("TagResource")
def tag_resource(ctx, p):
    _set_tags(_live(_secret(ctx, p["SecretId"])), p["Tags"])
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    s = _live(_secret(ctx, p["SecretId"]))
    s["Tags"] = [t for t in s["Tags"] if t["Key"] not in p["TagKeys"]]
    return {}
