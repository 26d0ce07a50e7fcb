"""Secrets Manager (json 1.1): secrets and their versions (CreateSecret,
DescribeSecret, GetSecretValue, PutSecretValue, DeleteSecret).

Behaviour kept from AWS: a secret's ARN ends in its name and six random
characters; SecretId is the name or the ARN; every value is a version (its
id: the ClientRequestToken, else a new uuid) and the staging labels move
AWSCURRENT to the new version and AWSPREVIOUS to the one before; a repeated
token with another value answers ResourceExistsException; DeleteSecret
schedules the deletion (7 to 30 days, default 30: the secret is then "marked
for deletion" and its value refused with InvalidRequestException) unless
ForceDeleteWithoutRecovery, which removes it at once. Values are never shown
in the state dump (kept under `_versions`)."""
import datetime
import re
import secrets
import uuid

from ..errors import AWSError
from ..state import public
from . import Service

service = Service("secretsmanager", codes={"idempotency_mismatch": ("ResourceExistsException", 400)})

_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _secrets(ctx):
    return ctx.store.table("secretsmanager", "secret")


def _not_found():
    return AWSError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.", 400)


def _find(ctx, ref, deleted_ok=False):
    table = _secrets(ctx)
    secret = table.get(ref)
    if secret is None:
        secret = next((s for s in table.values() if s["ARN"] == ref), None)
    if secret is None and ref.startswith("arn:"):
        # a partial ARN (without the random suffix) also names the secret
        secret = next((s for s in table.values() if s["ARN"].rsplit("-", 1)[0] == ref), None)
    if secret is None:
        raise _not_found()
    if secret.get("DeletedDate") and not deleted_ok:
        raise AWSError("InvalidRequestException", "You can't perform this operation on the secret because it was "
                                                  "marked for deletion.", 400)
    return secret


def _value_of(p):
    if ("SecretString" in p) == ("SecretBinary" in p):
        raise AWSError("InvalidParameterException", "You must provide either SecretString or SecretBinary, "
                                                    "but not both.", 400)
    return ("SecretString", p["SecretString"]) if "SecretString" in p else ("SecretBinary", p["SecretBinary"])


def _add_version(ctx, secret, version_id, value):
    for v in secret["_versions"].values():
        if "AWSPREVIOUS" in v["stages"]:
            v["stages"].remove("AWSPREVIOUS")
        if "AWSCURRENT" in v["stages"]:
            v["stages"].remove("AWSCURRENT")
            v["stages"].append("AWSPREVIOUS")
    secret["_versions"][version_id] = {"value": value, "stages": ["AWSCURRENT"],
                                       "created": ctx.now().replace(microsecond=0)}
    for vid in [k for k, v in secret["_versions"].items() if not v["stages"]]:
        del secret["_versions"][vid]
    secret["LastChangedDate"] = ctx.now().replace(microsecond=0)


@service.op("CreateSecret")
def create_secret(ctx, p):
    name = p["Name"]
    if not _NAME.match(name):
        raise AWSError("InvalidParameterException", f"Invalid name: {name}", 400)
    if name in _secrets(ctx):
        raise AWSError("ResourceExistsException", f"The operation failed because the secret {name} already "
                                                  "exists.", 400)
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    secret = {
        "ARN": ctx.arn("secretsmanager", f"secret:{name}-{suffix}"),
        "Name": name,
        "Tags": [dict(t) for t in p.get("Tags") or []],
        "CreatedDate": ctx.now().replace(microsecond=0),
        "LastChangedDate": ctx.now().replace(microsecond=0),
        "_versions": {},
    }
    if p.get("Description"):
        secret["Description"] = p["Description"]
    if p.get("KmsKeyId"):
        secret["KmsKeyId"] = p["KmsKeyId"]
    out = {"ARN": secret["ARN"], "Name": name}
    if "SecretString" in p or "SecretBinary" in p:
        version = p.get("ClientRequestToken") or str(uuid.uuid4())
        _add_version(ctx, secret, version, _value_of(p))
        out["VersionId"] = version
    _secrets(ctx)[name] = secret
    return out


@service.op("DescribeSecret")
def describe_secret(ctx, p):
    secret = _find(ctx, p["SecretId"], deleted_ok=True)
    out = public(secret)
    out["VersionIdsToStages"] = {vid: list(v["stages"]) for vid, v in secret["_versions"].items()}
    if not out["Tags"]:
        del out["Tags"]
    return out


@service.op("GetSecretValue")
def get_secret_value(ctx, p):
    secret = _find(ctx, p["SecretId"])
    versions = secret["_versions"]
    if p.get("VersionId"):
        vid = p["VersionId"]
        if vid not in versions:
            raise AWSError("ResourceNotFoundException", f"Secrets Manager can't find the specified secret value for "
                                                        f"VersionId: {vid}", 400)
        if p.get("VersionStage") and p["VersionStage"] not in versions[vid]["stages"]:
            raise AWSError("InvalidParameterException", "The VersionId and VersionStage name different versions.",
                           400)
    else:
        stage = p.get("VersionStage", "AWSCURRENT")
        vid = next((k for k, v in versions.items() if stage in v["stages"]), None)
        if vid is None:
            raise AWSError("ResourceNotFoundException", f"Secrets Manager can't find the specified secret value for "
                                                        f"staging label: {stage}", 400)
    v = versions[vid]
    kind, value = v["value"]
    return {"ARN": secret["ARN"], "Name": secret["Name"], "VersionId": vid, kind: value,
            "VersionStages": list(v["stages"]), "CreatedDate": v["created"]}


@service.op("PutSecretValue")
def put_secret_value(ctx, p):
    secret = _find(ctx, p["SecretId"])
    if p.get("VersionStages"):
        raise AWSError("InvalidParameterException", "fakeaws moves AWSCURRENT only: VersionStages is not served", 400)
    value = _value_of(p)
    version = p.get("ClientRequestToken") or str(uuid.uuid4())
    if version in secret["_versions"]:
        if secret["_versions"][version]["value"] != value:
            raise AWSError("ResourceExistsException", f"A version with VersionId {version} already exists with "
                                                      "another value.", 400)
    else:
        _add_version(ctx, secret, version, value)
    return {"ARN": secret["ARN"], "Name": secret["Name"], "VersionId": version,
            "VersionStages": list(secret["_versions"][version]["stages"])}


@service.op("DeleteSecret")
def delete_secret(ctx, p):
    secret = _find(ctx, p["SecretId"], deleted_ok=True)
    force = p.get("ForceDeleteWithoutRecovery", False)
    window = p.get("RecoveryWindowInDays")
    if force and window is not None:
        raise AWSError("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with "
                                                    "RecoveryWindowInDays.", 400)
    if window is not None and not 7 <= window <= 30:
        raise AWSError("InvalidParameterException", "The recovery window must be between 7 and 30 days.", 400)
    if force:
        del _secrets(ctx)[secret["Name"]]
        deleted = ctx.now().replace(microsecond=0)
    else:
        if secret.get("DeletedDate"):
            raise AWSError("InvalidRequestException", "You can't delete a secret that is already scheduled for "
                                                      "deletion.", 400)
        deleted = ctx.now().replace(microsecond=0) + datetime.timedelta(days=window or 30)
        secret["DeletedDate"] = ctx.now().replace(microsecond=0)
    return {"ARN": secret["ARN"], "Name": secret["Name"], "DeletionDate": deleted}
