"""STS: GetCallerIdentity, AssumeRole. Credentials handed out by AssumeRole are
accepted for signing (with their session token) until they expire."""
import base64
import datetime
import re
import secrets

from ..errors import AWSError
from ..sigv4check import Identity
from ..state import new_name_id
from . import Service

service = Service("sts")

_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")


@service.op("GetCallerIdentity")
def get_caller_identity(ctx, p):
    i = ctx.identity
    return {"UserId": i.user_id, "Account": i.account or ctx.account, "Arn": i.arn}


@service.op("AssumeRole")
def assume_role(ctx, p):
    m = _ROLE_ARN.match(p["RoleArn"])
    if not m:
        raise AWSError("ValidationError", f"{p['RoleArn']} is invalid", 400)
    account, role = m.groups()
    roles = ctx.store.table("iam", "role")      # keyed by lower-cased name (IAM names ignore case)
    # once a test has made IAM roles, only those can be assumed (none made: any)
    if "iam" in ctx.server.services and roles and role.lower() not in roles:
        raise AWSError("AccessDenied", f"User: {ctx.identity.arn} is not authorized to perform: "
                                       f"sts:AssumeRole on resource: {p['RoleArn']}", 403)
    duration = p.get("DurationSeconds", 3600)
    expires = ctx.now().replace(microsecond=0) + datetime.timedelta(seconds=duration)
    role_id = "AROA" + new_name_id(17)
    session = p["RoleSessionName"]
    identity = Identity(
        access_key="ASIA" + new_name_id(16),
        secret_key=base64.b64encode(secrets.token_bytes(30)).decode(),
        token=base64.b64encode(secrets.token_bytes(120)).decode(),
        arn=f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        user_id=f"{role_id}:{session}",
        account=account,
        expires=expires)
    ctx.server.keyring.add(identity)
    return {
        "Credentials": {
            "AccessKeyId": identity.access_key,
            "SecretAccessKey": identity.secret_key,
            "SessionToken": identity.token,
            "Expiration": expires,
        },
        "AssumedRoleUser": {"AssumedRoleId": identity.user_id, "Arn": identity.arn},
    }
