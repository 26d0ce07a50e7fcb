"""EFS access points (CreateAccessPoint, DescribeAccessPoints,
DeleteAccessPoint), backup policies (PutBackupPolicy, DescribeBackupPolicy),
lifecycle configuration (PutLifecycleConfiguration,
DescribeLifecycleConfiguration), tags (TagResource, UntagResource,
ListTagsForResource) and UpdateFileSystem. Shares the `efs` service of efs.py.

Behaviour kept from AWS: access points need an available file system, go
creating -> available and deleting -> gone over describes, and go with their
file system; their POSIX user and root directory are checked (an absolute
path of at most 100 characters; creation info with octal permissions);
ClientToken replay is the server's generic one. A backup policy moves ENABLING
-> ENABLED (DISABLING -> DISABLED); a file system has none set (DISABLED) until
one is put. A lifecycle configuration holds at most one TransitionToIA and one
TransitionToPrimaryStorageClass rule, each policy exactly one of them; an
empty list removes it."""
import re

from ..state import advance, new_id, public, start_lifecycle
from .efs import _fault, _lookup, _table, service

_PERMISSIONS = re.compile(r"^[0-7]{3,4}$")
_AP_ID = re.compile(r"^(arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-]+:\d{12}:access-point/fsap-[0-9a-f]{8,40}|"
                    r"fsap-[0-9a-f]{8,40})$")


def _points(ctx):
    return ctx.store.table("efs", "access-point")


def _available(fs):
    if fs["LifeCycleState"] != "available":
        raise _fault("IncorrectFileSystemLifeCycleState", f"File system '{fs['FileSystemId']}' is not available "
                                                         f"({fs['LifeCycleState']}).")


def _posix_id(value, what):
    if not 0 <= value <= 4294967295:
        raise _fault("BadRequest", f"{what} must be between 0 and 4294967295, got {value}")


@service.op("CreateAccessPoint")
def create_access_point(ctx, p):
    fs = _lookup(ctx, p["FileSystemId"])
    _available(fs)
    mine = [a for a in _points(ctx).values() if a["FileSystemId"] == fs["FileSystemId"]]
    if len(mine) >= 1000:
        raise _fault("AccessPointLimitExceeded", "A file system has at most 1000 access points")
    user = p.get("PosixUser")
    if user:
        _posix_id(user["Uid"], "Uid")
        _posix_id(user["Gid"], "Gid")
        if len(user.get("SecondaryGids") or []) > 16:
            raise _fault("BadRequest", "At most 16 secondary group ids")
        for gid in user.get("SecondaryGids") or []:
            _posix_id(gid, "SecondaryGids")
    root = dict(p.get("RootDirectory") or {})
    path = root.get("Path", "/")
    if not path.startswith("/") or len(path) > 100 or "//" in path or (path != "/" and path.endswith("/")):
        raise _fault("BadRequest", f"Invalid root directory path: {path}")
    root["Path"] = path
    info = root.get("CreationInfo")
    if info:
        _posix_id(info["OwnerUid"], "OwnerUid")
        _posix_id(info["OwnerGid"], "OwnerGid")
        if not _PERMISSIONS.match(info["Permissions"]):
            raise _fault("BadRequest", f"Permissions must be an octal mode like 0755, got {info['Permissions']}")
    ap_id = new_id("fsap")
    tags = [dict(t) for t in p.get("Tags") or []]
    ap = {
        "ClientToken": p["ClientToken"],
        "Tags": tags,
        "AccessPointId": ap_id,
        "AccessPointArn": ctx.arn("elasticfilesystem", f"access-point/{ap_id}"),
        "FileSystemId": fs["FileSystemId"],
        "RootDirectory": root,
        "OwnerId": ctx.account,
    }
    if user:
        ap["PosixUser"] = dict(user)
    name = {t["Key"]: t["Value"] for t in tags}.get("Name")
    if name is not None:
        ap["Name"] = name
    start_lifecycle(ap, "LifeCycleState", "creating", "available", ctx.settle)
    _points(ctx)[ap_id] = ap
    return public(ap)


def _advance(ctx, ap):
    """-> False when the access point is gone (deleted, or its file system is)."""
    if advance(ap) or ap["FileSystemId"] not in _table(ctx):
        del _points(ctx)[ap["AccessPointId"]]
        return False
    return True


def _point(ctx, ref):
    if not _AP_ID.match(ref):
        raise _fault("BadRequest", f"Invalid access point id: {ref}")
    ap = _points(ctx).get(ref.rsplit("/", 1)[-1])
    if ap is None or not _advance(ctx, ap):
        raise _fault("AccessPointNotFound", f"Access point '{ref}' does not exist.")
    return ap


@service.op("DescribeAccessPoints")
def describe_access_points(ctx, p):
    if p.get("AccessPointId") and p.get("FileSystemId"):
        raise _fault("BadRequest", "Give AccessPointId or FileSystemId, not both")
    if p.get("AccessPointId"):
        return {"AccessPoints": [public(_point(ctx, p["AccessPointId"]))]}
    live = [a for a in list(_points(ctx).values()) if _advance(ctx, a)]
    if p.get("FileSystemId"):
        fs_id = _lookup(ctx, p["FileSystemId"])["FileSystemId"]
        live = [a for a in live if a["FileSystemId"] == fs_id]
    page, token = ctx.page(live, key=lambda a: a["AccessPointId"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"), token_error=("BadRequest", 400))
    out = {"AccessPoints": [public(a) for a in page]}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteAccessPoint")
def delete_access_point(ctx, p):
    ap = _point(ctx, p["AccessPointId"])
    if ap["LifeCycleState"] != "deleting":
        ap.pop("_life", None)
        start_lifecycle(ap, "LifeCycleState", "deleting", None, ctx.settle)
    return {}


# -- backup policy ------------------------------------------------------------------------

def _live_fs(ctx, ref):
    """The file system (not moved on: only describes move states on)."""
    return _lookup(ctx, ref)


@service.op("PutBackupPolicy")
def put_backup_policy(ctx, p):
    fs = _live_fs(ctx, p["FileSystemId"])
    _available(fs)
    status = p["BackupPolicy"]["Status"]
    if status not in ("ENABLED", "DISABLED"):
        raise _fault("ValidationException", f"The backup policy status is ENABLED or DISABLED, not {status}")
    policy = fs.setdefault("_backup", {"Status": "DISABLED"})
    if policy["Status"] in ("ENABLING", "DISABLING"):
        raise _fault("IncorrectFileSystemLifeCycleState", f"The backup policy of '{fs['FileSystemId']}' is "
                                                         f"{policy['Status']}; try again once it settles.")
    if policy["Status"] != status:
        policy.pop("_life", None)
        start_lifecycle(policy, "Status", "ENABLING" if status == "ENABLED" else "DISABLING", status, ctx.settle)
    return {"BackupPolicy": public(policy)}


@service.op("DescribeBackupPolicy")
def describe_backup_policy(ctx, p):
    fs = _live_fs(ctx, p["FileSystemId"])
    policy = fs.setdefault("_backup", {"Status": "DISABLED"})
    advance(policy)
    return {"BackupPolicy": public(policy)}


# -- lifecycle configuration -----------------------------------------------------------

@service.op("PutLifecycleConfiguration")
def put_lifecycle_configuration(ctx, p):
    fs = _live_fs(ctx, p["FileSystemId"])
    _available(fs)
    seen = set()
    for policy in p["LifecyclePolicies"]:
        keys = [k for k in ("TransitionToIA", "TransitionToPrimaryStorageClass") if policy.get(k)]
        if len(keys) != 1:
            raise _fault("BadRequest", "Each lifecycle policy holds exactly one of TransitionToIA and "
                                       "TransitionToPrimaryStorageClass")
        if keys[0] in seen:
            raise _fault("BadRequest", f"At most one {keys[0]} policy")
        seen.add(keys[0])
    fs["_lifecycle"] = [dict(x) for x in p["LifecyclePolicies"]]
    return {"LifecyclePolicies": [dict(x) for x in fs["_lifecycle"]]}


@service.op("DescribeLifecycleConfiguration")
def describe_lifecycle_configuration(ctx, p):
    fs = _live_fs(ctx, p["FileSystemId"])
    return {"LifecyclePolicies": [dict(x) for x in fs.get("_lifecycle", [])]}


# -- tags ---------------------------------------------------------------------------------

def _tagged(ctx, ref):
    if ref.rsplit("/", 1)[-1].startswith("fsap-"):
        return _point(ctx, ref)
    return _live_fs(ctx, ref)


def _set_name(obj):
    name = {t["Key"]: t["Value"] for t in obj["Tags"]}.get("Name")
    if name is None:
        obj.pop("Name", None)
    else:
        obj["Name"] = name


@service.op("TagResource")
def tag_resource(ctx, p):
    obj = _tagged(ctx, p["ResourceId"])
    tags = {t["Key"]: t["Value"] for t in obj["Tags"]}
    for t in p["Tags"]:
        if t["Key"].startswith("aws:"):
            raise _fault("BadRequest", "Tag keys starting with 'aws:' are reserved")
        tags[t["Key"]] = t["Value"]
    if len(tags) > 50:
        raise _fault("BadRequest", "A resource holds at most 50 tags")
    obj["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    _set_name(obj)
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    obj = _tagged(ctx, p["ResourceId"])
    drop = set(p["TagKeys"])
    obj["Tags"] = [t for t in obj["Tags"] if t["Key"] not in drop]
    _set_name(obj)
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    obj = _tagged(ctx, p["ResourceId"])
    page, token = ctx.page(obj["Tags"], key=lambda t: t["Key"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"), token_error=("BadRequest", 400))
    out = {"Tags": [dict(t) for t in page]}
    if token:
        out["NextToken"] = token
    return out


# -- throughput ---------------------------------------------------------------------------

@service.op("UpdateFileSystem")
def update_file_system(ctx, p):
    fs = _live_fs(ctx, p["FileSystemId"])
    _available(fs)
    mode = p.get("ThroughputMode", fs["ThroughputMode"])
    mibps = p.get("ProvisionedThroughputInMibps")
    if mode == "provisioned" and not (mibps or fs.get("ProvisionedThroughputInMibps")):
        raise _fault("BadRequest", "ProvisionedThroughputInMibps is required when ThroughputMode is provisioned")
    if mode != "provisioned" and mibps:
        raise _fault("BadRequest", "ProvisionedThroughputInMibps is only valid when ThroughputMode is provisioned")
    fs["ThroughputMode"] = mode
    if mode == "provisioned":
        fs["ProvisionedThroughputInMibps"] = mibps or fs["ProvisionedThroughputInMibps"]
    else:
        fs.pop("ProvisionedThroughputInMibps", None)
    start_lifecycle(fs, "LifeCycleState", "updating", "available", ctx.settle)
    return public(fs)
