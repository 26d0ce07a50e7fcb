"""IAM (global, query protocol): roles (CreateRole, GetRole, DeleteRole,
UpdateRole, UpdateAssumeRolePolicy, TagRole, UntagRole), inline role policies
(PutRolePolicy, GetRolePolicy, DeleteRolePolicy, ListRolePolicies), managed
policy attachments (AttachRolePolicy, DetachRolePolicy,
ListAttachedRolePolicies) and instance profiles (CreateInstanceProfile,
GetInstanceProfile, DeleteInstanceProfile, AddRoleToInstanceProfile,
RemoveRoleFromInstanceProfile, TagInstanceProfile, UntagInstanceProfile,
ListInstanceProfilesForRole).

As IAM: names are unique without regard to case; policy documents must be
JSON with a Version and Statements (MalformedPolicyDocument otherwise) and are
answered URL-encoded; a role still holding inline policies, attached policies
or instance profiles cannot be deleted (DeleteConflict), nor an instance
profile holding a role; an instance profile holds at most one role. Managed
policies are AWS's own (arn:aws:iam::aws:policy/...), from a small catalogue
of the ones ECS stacks use: any other ARN is NoSuchEntity."""
import json
import re
import urllib.parse

from ..state import new_name_id, public, tag_dict, tag_list
from . import Service

service = Service("iam")

_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_PROFILE_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_PATH = re.compile(r"^/(?:[\x21-\x7e]+/)*$")

# AWS managed policies fakeaws knows: name -> path
MANAGED = {
    "AmazonEC2ContainerServiceforEC2Role": "/service-role/",
    "AmazonECSTaskExecutionRolePolicy": "/service-role/",
    "AmazonEC2ContainerServiceRole": "/service-role/",
    "AmazonEC2ContainerServiceAutoscaleRole": "/service-role/",
    "AWSBackupServiceRolePolicyForBackup": "/service-role/",
    "AWSBackupServiceRolePolicyForRestores": "/service-role/",
    "AmazonSSMManagedInstanceCore": "/",
    "CloudWatchAgentServerPolicy": "/",
    "AmazonElasticFileSystemClientReadWriteAccess": "/",
    "AmazonEC2ContainerRegistryReadOnly": "/",
    "ReadOnlyAccess": "/",
}


def _managed_arn(name):
    return f"arn:aws:iam::aws:policy{MANAGED[name]}{name}"


_MANAGED_ARNS = {_managed_arn(n): n for n in MANAGED}


def _roles(ctx):
    return ctx.store.table("iam", "role")


def _profiles(ctx):
    return ctx.store.table("iam", "instance-profile")


def _arn(ctx, kind, path, name):
    return f"arn:aws:iam::{ctx.account}:{kind}{path}{name}"


def _invalid(message):
    return service.fault("InvalidInputException", message)


def _no_such(message):
    return service.fault("NoSuchEntityException", message)


def _role(ctx, name):
    role = _roles(ctx).get(name.lower())
    if role is None:
        raise _no_such(f"The role with name {name} cannot be found.")
    return role


def _profile(ctx, name):
    profile = _profiles(ctx).get(name.lower())
    if profile is None:
        raise _no_such(f"Instance Profile {name} cannot be found.")
    return profile


def _check_document(text):
    """IAM's structural checks of a policy document."""
    def bad(why):
        return service.fault("MalformedPolicyDocumentException", why)
    try:
        doc = json.loads(text)
    except ValueError:
        raise bad("This policy contains invalid Json") from None
    if not isinstance(doc, dict):
        raise bad("This policy contains invalid Json")
    if doc.get("Version") not in ("2012-10-17", "2008-10-17"):
        raise bad("The policy must contain a valid version string")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise bad("Policy document must contain a Statement")
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise bad("Policy statement must contain a valid Effect (Allow or Deny)")
        if "Action" not in st and "NotAction" not in st:
            raise bad("Policy statement must contain actions.")
    return doc


def _check_trust(text):
    doc = _check_document(text)
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for st in statements:
        if "Principal" not in st and "NotPrincipal" not in st:
            raise service.fault("MalformedPolicyDocumentException",
                                "AssumeRolePolicy policy: Has prohibited field Resource or misses Principal")
        if "Resource" in st:
            raise service.fault("MalformedPolicyDocumentException",
                                "Has prohibited field Resource")


def _encode(text):
    return urllib.parse.quote(text, safe="")


def _apply_tags(obj, tags):
    current = tag_dict(obj["Tags"])
    for t in tags:
        if not t.get("Key"):
            raise _invalid("Tag keys must not be empty")
        current[t["Key"]] = t.get("Value", "")
    if len(current) > 50:
        raise service.fault("LimitExceededException", "Cannot exceed quota for TagsPerRole: 50")
    obj["Tags"] = tag_list(current)


def _untag(obj, keys):
    obj["Tags"] = [t for t in obj["Tags"] if t["Key"] not in keys]


def _role_view(role, with_tags=True):
    out = public(role)
    out["AssumeRolePolicyDocument"] = _encode(role["_trust"])
    if not (with_tags and out["Tags"]):
        del out["Tags"]
    return out


def _profile_view(ctx, profile):
    out = public(profile)
    out["Roles"] = [_role_view(_roles(ctx)[r], with_tags=False) for r in profile["_roles"]
                    if r in _roles(ctx)]
    if not out["Tags"]:
        del out["Tags"]
    return out


def _check_path(path):
    if not (1 <= len(path) <= 512) or not _PATH.match(path):
        raise service.error("invalid", f"The specified value for path is invalid: {path}")


# -- roles ---------------------------------------------------------------------------

@service.op("CreateRole")
def create_role(ctx, p):
    name = p["RoleName"]
    if not _NAME.match(name):
        raise service.error("invalid", f"The specified value for roleName is invalid: {name}")
    path = p.get("Path", "/")
    _check_path(path)
    if name.lower() in _roles(ctx):
        raise service.fault("EntityAlreadyExistsException", f"Role with name {name} already exists.")
    _check_trust(p["AssumeRolePolicyDocument"])
    duration = p.get("MaxSessionDuration", 3600)
    if not 3600 <= duration <= 43200:
        raise service.error("invalid", "The requested MaxSessionDuration must be between 3600 and 43200 seconds")
    role = {"Path": path, "RoleName": name, "RoleId": "AROA" + new_name_id(17),
            "Arn": _arn(ctx, "role", path, name), "CreateDate": ctx.now().replace(microsecond=0),
            "MaxSessionDuration": duration, "RoleLastUsed": {},
            "Tags": [], "_trust": p["AssumeRolePolicyDocument"], "_inline": {}, "_attached": []}
    if p.get("Description") is not None:
        role["Description"] = p["Description"]
    _apply_tags(role, p.get("Tags") or [])
    _roles(ctx)[name.lower()] = role
    return {"Role": _role_view(role)}


@service.op("GetRole")
def get_role(ctx, p):
    return {"Role": _role_view(_role(ctx, p["RoleName"]))}


@service.op("DeleteRole")
def delete_role(ctx, p):
    role = _role(ctx, p["RoleName"])
    if role["_inline"]:
        raise service.fault("DeleteConflictException", "Cannot delete entity, must delete policies first.")
    if role["_attached"]:
        raise service.fault("DeleteConflictException", "Cannot delete entity, must detach all policies first.")
    if any(role["RoleName"].lower() in ip["_roles"] for ip in _profiles(ctx).values()):
        raise service.fault("DeleteConflictException",
                            "Cannot delete entity, must remove roles from instance profile first.")
    del _roles(ctx)[role["RoleName"].lower()]
    return {}


@service.op("UpdateRole")
def update_role(ctx, p):
    role = _role(ctx, p["RoleName"])
    if p.get("MaxSessionDuration") is not None:
        if not 3600 <= p["MaxSessionDuration"] <= 43200:
            raise service.error("invalid", "The requested MaxSessionDuration must be between 3600 and 43200 "
                                           "seconds")
        role["MaxSessionDuration"] = p["MaxSessionDuration"]
    if p.get("Description") is not None:
        role["Description"] = p["Description"]
    return {}


@service.op("UpdateAssumeRolePolicy")
def update_assume_role_policy(ctx, p):
    role = _role(ctx, p["RoleName"])
    _check_trust(p["PolicyDocument"])
    role["_trust"] = p["PolicyDocument"]
    return {}


@service.op("TagRole")
def tag_role(ctx, p):
    _apply_tags(_role(ctx, p["RoleName"]), p["Tags"])
    return {}


@service.op("UntagRole")
def untag_role(ctx, p):
    _untag(_role(ctx, p["RoleName"]), p["TagKeys"])
    return {}


# -- inline policies -------------------------------------------------------------------

@service.op("PutRolePolicy")
def put_role_policy(ctx, p):
    role = _role(ctx, p["RoleName"])
    if not _POLICY_NAME.match(p["PolicyName"]):
        raise service.error("invalid", f"The specified value for policyName is invalid: {p['PolicyName']}")
    _check_document(p["PolicyDocument"])
    if len(p["PolicyDocument"]) > 10240:
        raise service.fault("LimitExceededException", "Maximum policy size of 10240 bytes exceeded for role "
                                                       f"{role['RoleName']}")
    role["_inline"][p["PolicyName"]] = p["PolicyDocument"]
    return {}


@service.op("GetRolePolicy")
def get_role_policy(ctx, p):
    role = _role(ctx, p["RoleName"])
    doc = role["_inline"].get(p["PolicyName"])
    if doc is None:
        raise _no_such(f"The role policy with name {p['PolicyName']} cannot be found.")
    return {"RoleName": role["RoleName"], "PolicyName": p["PolicyName"], "PolicyDocument": _encode(doc)}


@service.op("DeleteRolePolicy")
def delete_role_policy(ctx, p):
    role = _role(ctx, p["RoleName"])
    if role["_inline"].pop(p["PolicyName"], None) is None:
        raise _no_such(f"The role policy with name {p['PolicyName']} cannot be found.")
    return {}


def _marker_page(ctx, items, key, p):
    page, marker = ctx.page(items, key=key, token=p.get("Marker"), limit=p.get("MaxItems"),
                            token_error=("InvalidInput", 400))
    return page, ({"IsTruncated": True, "Marker": marker} if marker else {"IsTruncated": False})


@service.op("ListRolePolicies")
def list_role_policies(ctx, p):
    role = _role(ctx, p["RoleName"])
    page, more = _marker_page(ctx, list(role["_inline"]), lambda n: n, p)
    return {"PolicyNames": page, **more}


# -- managed policy attachments ---------------------------------------------------------

@service.op("AttachRolePolicy")
def attach_role_policy(ctx, p):
    role = _role(ctx, p["RoleName"])
    arn = p["PolicyArn"]
    if not arn.startswith("arn:aws:iam::"):
        raise _invalid(f"ARN {arn} is not valid.")
    if arn not in _MANAGED_ARNS:
        raise _no_such(f"Policy {arn} does not exist or is not attachable.")
    if arn not in role["_attached"]:
        if len(role["_attached"]) >= 10:
            raise service.fault("LimitExceededException", "Cannot exceed quota for PoliciesPerRole: 10")
        role["_attached"].append(arn)
    return {}


@service.op("DetachRolePolicy")
def detach_role_policy(ctx, p):
    role = _role(ctx, p["RoleName"])
    if p["PolicyArn"] not in role["_attached"]:
        raise _no_such(f"Policy {p['PolicyArn']} was not found.")
    role["_attached"].remove(p["PolicyArn"])
    return {}


@service.op("ListAttachedRolePolicies")
def list_attached_role_policies(ctx, p):
    role = _role(ctx, p["RoleName"])
    prefix = p.get("PathPrefix", "/")
    items = [{"PolicyName": _MANAGED_ARNS[a], "PolicyArn": a} for a in role["_attached"]
             if MANAGED[_MANAGED_ARNS[a]].startswith(prefix)]
    page, more = _marker_page(ctx, items, lambda i: i["PolicyArn"], p)
    return {"AttachedPolicies": page, **more}


# -- instance profiles ---------------------------------------------------------------------

@service.op("CreateInstanceProfile")
def create_instance_profile(ctx, p):
    name = p["InstanceProfileName"]
    if not _PROFILE_NAME.match(name):
        raise service.error("invalid", f"The specified value for instanceProfileName is invalid: {name}")
    path = p.get("Path", "/")
    _check_path(path)
    if name.lower() in _profiles(ctx):
        raise service.fault("EntityAlreadyExistsException", f"Instance Profile {name} already exists.")
    profile = {"Path": path, "InstanceProfileName": name, "InstanceProfileId": "AIPA" + new_name_id(17),
               "Arn": _arn(ctx, "instance-profile", path, name), "CreateDate": ctx.now().replace(microsecond=0),
               "Tags": [], "_roles": []}
    _apply_tags(profile, p.get("Tags") or [])
    _profiles(ctx)[name.lower()] = profile
    return {"InstanceProfile": _profile_view(ctx, profile)}


@service.op("GetInstanceProfile")
def get_instance_profile(ctx, p):
    return {"InstanceProfile": _profile_view(ctx, _profile(ctx, p["InstanceProfileName"]))}


@service.op("DeleteInstanceProfile")
def delete_instance_profile(ctx, p):
    profile = _profile(ctx, p["InstanceProfileName"])
    if profile["_roles"]:
        raise service.fault("DeleteConflictException",
                            "Cannot delete entity, must remove roles from instance profile first.")
    del _profiles(ctx)[profile["InstanceProfileName"].lower()]
    return {}


@service.op("AddRoleToInstanceProfile")
def add_role_to_instance_profile(ctx, p):
    profile = _profile(ctx, p["InstanceProfileName"])
    role = _role(ctx, p["RoleName"])
    if profile["_roles"]:
        raise service.fault("LimitExceededException",
                            "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
    profile["_roles"].append(role["RoleName"].lower())
    return {}


@service.op("RemoveRoleFromInstanceProfile")
def remove_role_from_instance_profile(ctx, p):
    profile = _profile(ctx, p["InstanceProfileName"])
    key = p["RoleName"].lower()
    if key not in profile["_roles"]:
        raise _no_such(f"The role with name {p['RoleName']} cannot be found in instance profile "
                       f"{profile['InstanceProfileName']}.")
    profile["_roles"].remove(key)
    return {}


@service.op("TagInstanceProfile")
def tag_instance_profile(ctx, p):
    _apply_tags(_profile(ctx, p["InstanceProfileName"]), p["Tags"])
    return {}


@service.op("UntagInstanceProfile")
def untag_instance_profile(ctx, p):
    _untag(_profile(ctx, p["InstanceProfileName"]), p["TagKeys"])
    return {}


@service.op("ListInstanceProfilesForRole")
def list_instance_profiles_for_role(ctx, p):
    role = _role(ctx, p["RoleName"])
    key = role["RoleName"].lower()
    items = [ip for ip in _profiles(ctx).values() if key in ip["_roles"]]
    page, more = _marker_page(ctx, items, lambda ip: ip["InstanceProfileName"].lower(), p)
    return {"InstanceProfiles": [_profile_view(ctx, ip) for ip in page], **more}
