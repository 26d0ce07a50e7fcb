"""EFS: file systems (CreateFileSystem, DescribeFileSystems, DeleteFileSystem).
CreationToken is EFS's idempotency key: a second create with the same token
answers FileSystemAlreadyExists (409) naming the existing file system.
LifeCycleState: creating -> available; deleting -> gone, over describes."""
import re

from ..state import advance, new_id, public, start_lifecycle
from . import Service
from .ec2 import zones

service = Service("efs", codes={"missing": ("BadRequest", 400), "unknown": ("BadRequest", 400),
                                "invalid": ("BadRequest", 400)}, own_idempotency={"CreateFileSystem"})

_ID = re.compile(r"^(arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-]+:\d{12}:file-system/fs-[0-9a-f]{8,40}|"
                 r"fs-[0-9a-f]{8,40})$")


def _fault(shape, message, **fields):
    code = shape
    return service.fault(shape, message, ErrorCode=code, **fields)


def _table(ctx):
    return ctx.store.table("efs", "file-system")


@service.op("CreateFileSystem")
def create_file_system(ctx, p):
    for fs in _table(ctx).values():
        if fs["CreationToken"] == p["CreationToken"]:
            raise _fault("FileSystemAlreadyExists", f"File system '{fs['FileSystemId']}' already exists "
                         f"with creation token '{p['CreationToken']}'", FileSystemId=fs["FileSystemId"])
    mode = p.get("ThroughputMode", "bursting")
    if mode == "provisioned" and not p.get("ProvisionedThroughputInMibps"):
        raise _fault("BadRequest", "ProvisionedThroughputInMibps is required when ThroughputMode is provisioned")
    if mode != "provisioned" and p.get("ProvisionedThroughputInMibps"):
        raise _fault("BadRequest", "ProvisionedThroughputInMibps is only valid when ThroughputMode is provisioned")
    fs_id = new_id("fs")
    tags = [dict(t) for t in p.get("Tags") or []]
    fs = {
        "OwnerId": ctx.account,
        "CreationToken": p["CreationToken"],
        "FileSystemId": fs_id,
        "FileSystemArn": ctx.arn("elasticfilesystem", f"file-system/{fs_id}"),
        "CreationTime": ctx.now().replace(microsecond=0),
        "NumberOfMountTargets": 0,
        "SizeInBytes": {"Value": 6144, "ValueInIA": 0, "ValueInStandard": 6144},
        "PerformanceMode": p.get("PerformanceMode", "generalPurpose"),
        "Encrypted": bool(p.get("Encrypted", False)),
        "ThroughputMode": mode,
        "Tags": tags,
    }
    name = {t["Key"]: t["Value"] for t in tags}.get("Name")
    if name is not None:
        fs["Name"] = name
    if fs["Encrypted"]:
        fs["KmsKeyId"] = p.get("KmsKeyId") or ctx.arn("kms", "alias/aws/elasticfilesystem")
    elif p.get("KmsKeyId"):
        raise _fault("BadRequest", "KmsKeyId can only be given for an encrypted file system")
    if mode == "provisioned":
        fs["ProvisionedThroughputInMibps"] = p["ProvisionedThroughputInMibps"]
    if p.get("AvailabilityZoneName"):
        found = [z for z in zones(ctx.region) if z[0] == p["AvailabilityZoneName"]]
        if not found:
            raise _fault("UnsupportedAvailabilityZone", f"Availability zone {p['AvailabilityZoneName']} "
                                                        "is not supported")
        fs["AvailabilityZoneName"], fs["AvailabilityZoneId"] = found[0]
    start_lifecycle(fs, "LifeCycleState", "creating", "available", ctx.settle)
    _table(ctx)[fs_id] = fs
    return public(fs)


def _forget(ctx, fs_id):
    """The file system is gone, and its access points with it (efs_access.py)."""
    del _table(ctx)[fs_id]
    points = ctx.store.table("efs", "access-point")
    for ap_id in [a for a, ap in points.items() if ap["FileSystemId"] == fs_id]:
        del points[ap_id]


def _lookup(ctx, ref):
    if not _ID.match(ref):
        raise _fault("BadRequest", f"Invalid file system id: {ref}")
    fs_id = ref.rsplit("/", 1)[-1]
    fs = _table(ctx).get(fs_id)
    if fs is None:
        raise _fault("FileSystemNotFound", f"File system '{fs_id}' does not exist.")
    return fs


@service.op("DescribeFileSystems")
def describe_file_systems(ctx, p):
    table = _table(ctx)
    if p.get("FileSystemId") and p.get("CreationToken"):
        raise _fault("BadRequest", "Give FileSystemId or CreationToken, not both")
    if p.get("FileSystemId"):
        fs = _lookup(ctx, p["FileSystemId"])
        if advance(fs):
            _forget(ctx, fs["FileSystemId"])
            raise _fault("FileSystemNotFound", f"File system '{fs['FileSystemId']}' does not exist.")
        return {"FileSystems": [public(fs)]}
    live = []
    for fs_id in list(table):
        if advance(table[fs_id]):
            _forget(ctx, fs_id)
        else:
            live.append(table[fs_id])
    if p.get("CreationToken"):
        live = [fs for fs in live if fs["CreationToken"] == p["CreationToken"]]
    page, marker = ctx.page(live, key=lambda f: f["FileSystemId"], token=p.get("Marker"),
                            limit=p.get("MaxItems"), token_error=("BadRequest", 400))
    out = {"FileSystems": [public(fs) for fs in page]}
    if p.get("Marker"):
        out["Marker"] = p["Marker"]
    if marker:
        out["NextMarker"] = marker
    return out


@service.op("DeleteFileSystem")
def delete_file_system(ctx, p):
    fs = _lookup(ctx, p["FileSystemId"])
    if fs["NumberOfMountTargets"]:
        raise _fault("FileSystemInUse", f"File system '{fs['FileSystemId']}' has mount targets "
                                        "and cannot be deleted.")
    if fs["LifeCycleState"] != "deleting":
        fs.pop("_life", None)
        start_lifecycle(fs, "LifeCycleState", "deleting", None, ctx.settle)
    return {}
