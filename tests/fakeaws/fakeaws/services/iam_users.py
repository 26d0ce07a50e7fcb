"""IAM users (an area of iam.py): CreateUser, GetUser, DeleteUser,
CreateAccessKey, ListAccessKeys, DeleteAccessKey, PutUserPolicy,
GetUserPolicy, ListUserPolicies, DeleteUserPolicy.

A user's access keys sign requests (the keyring accepts them until they are
deleted); when IAM enforcement is on (server.py --enforce-iam, or POST
/_fake/iam/enforce {"enabled": true}), what they sign is held to the user's
inline policies (fakeaws/iamauth.py). As IAM: a user holding keys or
policies cannot be deleted (DeleteConflict)."""
import base64
import secrets

from .. import control
from ..sigv4check import Identity
from ..state import new_name_id, public
from .iam import _arn, _check_document, _check_path, _NAME, _POLICY_NAME, _encode, _no_such, service


def _users(ctx):
    return ctx.store.table("iam", "user")


def _user(ctx, name):
    user = _users(ctx).get((name or "").lower())
    if user is None:
        raise _no_such(f"The user with name {name} cannot be found.")
    return user


def _caller_user(ctx, p):
    """UserName, or the calling user's own name (as IAM does when it is left out)."""
    name = p.get("UserName") or getattr(ctx.identity, "user", None)
    if not name:
        raise service.error("invalid", "Must specify userName when calling with non-User credentials")
    return _user(ctx, name)


@service.op("CreateUser")
def create_user(ctx, p):
    name = p["UserName"]
    if not _NAME.match(name):
        raise service.error("invalid", f"The specified value for userName is invalid: {name}")
    path = p.get("Path", "/")
    _check_path(path)
    if name.lower() in _users(ctx):
        raise service.fault("EntityAlreadyExistsException", f"User with name {name} already exists.")
    user = {"Path": path, "UserName": name, "UserId": "AIDA" + new_name_id(17),
            "Arn": _arn(ctx, "user", path, name), "CreateDate": ctx.now().replace(microsecond=0),
            "Tags": list(p.get("Tags") or []), "_policies": {}, "_keys": {}}
    _users(ctx)[name.lower()] = user
    return {"User": _view(user)}


def _view(user):
    out = public(user)
    if not out["Tags"]:
        del out["Tags"]
    return out


@service.op("GetUser")
def get_user(ctx, p):
    return {"User": _view(_caller_user(ctx, p))}


@service.op("DeleteUser")
def delete_user(ctx, p):
    user = _user(ctx, p["UserName"])
    if user["_keys"] or user["_policies"]:
        raise service.fault("DeleteConflictException", "Cannot delete entity, must delete access keys and "
                                                       "policies first.")
    del _users(ctx)[user["UserName"].lower()]
    return {}


@service.op("CreateAccessKey")
def create_access_key(ctx, p):
    user = _caller_user(ctx, p)
    if len(user["_keys"]) >= 2:
        raise service.fault("LimitExceededException", "Cannot exceed quota for AccessKeysPerUser: 2")
    key_id = "AKIA" + new_name_id(16)
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    created = ctx.now().replace(microsecond=0)
    user["_keys"][key_id] = {"UserName": user["UserName"], "AccessKeyId": key_id, "Status": "Active",
                             "CreateDate": created}
    ctx.server.keyring.add(Identity(key_id, secret, arn=user["Arn"], user_id=user["UserId"], account=ctx.account,
                                    user=user["UserName"]))
    return {"AccessKey": {"UserName": user["UserName"], "AccessKeyId": key_id, "Status": "Active",
                          "SecretAccessKey": secret, "CreateDate": created}}


@service.op("ListAccessKeys")
def list_access_keys(ctx, p):
    user = _caller_user(ctx, p)
    return {"AccessKeyMetadata": [dict(k) for _, k in sorted(user["_keys"].items())], "IsTruncated": False}


@service.op("DeleteAccessKey")
def delete_access_key(ctx, p):
    user = _caller_user(ctx, p)
    key_id = p["AccessKeyId"]
    if key_id not in user["_keys"]:
        raise _no_such(f"The Access Key with id {key_id} cannot be found.")
    del user["_keys"][key_id]
    ctx.server.keyring.remove(key_id)
    return {}


@service.op("PutUserPolicy")
def put_user_policy(ctx, p):
    user = _user(ctx, p["UserName"])
    if not _POLICY_NAME.match(p["PolicyName"]):
        raise service.error("invalid", f"The specified value for policyName is invalid: {p['PolicyName']}")
    _check_document(p["PolicyDocument"])
    user["_policies"][p["PolicyName"]] = p["PolicyDocument"]
    return {}


@service.op("GetUserPolicy")
def get_user_policy(ctx, p):
    user = _user(ctx, p["UserName"])
    doc = user["_policies"].get(p["PolicyName"])
    if doc is None:
        raise _no_such(f"The user policy with name {p['PolicyName']} cannot be found.")
    return {"UserName": user["UserName"], "PolicyName": p["PolicyName"], "PolicyDocument": _encode(doc)}


@service.op("ListUserPolicies")
def list_user_policies(ctx, p):
    return {"PolicyNames": sorted(_user(ctx, p["UserName"])["_policies"]), "IsTruncated": False}


@service.op("DeleteUserPolicy")
def delete_user_policy(ctx, p):
    user = _user(ctx, p["UserName"])
    if p["PolicyName"] not in user["_policies"]:
        raise _no_such(f"The user policy with name {p['PolicyName']} cannot be found.")
    del user["_policies"][p["PolicyName"]]
    return {}


def _enforce(server, req):
    import json
    if req.method == "GET":
        return 200, {"enabled": server.enforce_iam}
    try:
        doc = json.loads(req.body or b"{}")
    except ValueError:
        return 400, {"error": "a JSON body {\"enabled\": true|false} expected"}
    if not isinstance(doc, dict) or not isinstance(doc.get("enabled"), bool):
        return 400, {"error": "a JSON body {\"enabled\": true|false} expected"}
    server.enforce_iam = doc["enabled"]
    return 200, {"enabled": server.enforce_iam}


control.register("GET", "/_fake/iam/enforce", _enforce)
control.register("POST", "/_fake/iam/enforce", _enforce)
