"""EFS mount targets (CreateMountTarget, DescribeMountTargets,
DeleteMountTarget, DescribeMountTargetSecurityGroups,
ModifyMountTargetSecurityGroups). Shares the `efs` service of efs.py.

Behaviour kept from AWS: one mount target per file system and availability
zone, all of a file system's mount targets in one VPC (MountTargetConflict);
the file system must be available; security groups (at most 5, default: the
VPC's default group) must be in the subnet's VPC; an address in the subnet,
given or the next free one (IpAddressInUse); creating -> available and
deleting -> gone over describes; the file system counts its mount targets
until they are gone (so DeleteFileSystem answers FileSystemInUse meanwhile).
Each mount target holds a requester-managed network interface (data_enis.py)."""
import ipaddress

from ..state import advance, new_id, public, start_lifecycle
from . import data_enis
from .ec2 import zones
from .efs import _fault, _lookup, _table, service


def _targets(ctx):
    return ctx.store.table("efs", "mount-target")


def _groups(ctx, ids, vpc_id):
    if len(ids) > 5:
        raise _fault("SecurityGroupLimitExceeded", "A mount target has at most 5 security groups")
    table = ctx.store.table("ec2", "security-group")
    for gid in ids:
        group = table.get(gid)
        if group is None:
            raise _fault("SecurityGroupNotFound", f"Security group {gid} does not exist")
        if group["VpcId"] != vpc_id:
            raise _fault("SecurityGroupNotFound", f"Security group {gid} is not in the mount target's VPC {vpc_id}")
    return list(dict.fromkeys(ids))


def _addresses_in_use(ctx, subnet_id):
    used = {t["IpAddress"] for t in _targets(ctx).values() if t["SubnetId"] == subnet_id}
    return used | data_enis.used_addresses(ctx, subnet_id)


@service.op("CreateMountTarget")
def create_mount_target(ctx, p):
    fs = _lookup(ctx, p["FileSystemId"])
    fs_id = fs["FileSystemId"]
    if fs["LifeCycleState"] != "available":
        raise _fault("IncorrectFileSystemLifeCycleState", f"File system '{fs_id}' is not available "
                                                         f"({fs['LifeCycleState']}).")
    subnet = ctx.store.table("ec2", "subnet").get(p["SubnetId"])
    if subnet is None:
        raise _fault("SubnetNotFound", f"The subnet ID '{p['SubnetId']}' does not exist")
    mine = [t for t in _targets(ctx).values() if t["FileSystemId"] == fs_id]
    if any(t["VpcId"] != subnet["VpcId"] for t in mine):
        raise _fault("MountTargetConflict", f"All mount targets of '{fs_id}' must be in one VPC")
    if any(t["AvailabilityZoneName"] == subnet["AvailabilityZone"] for t in mine):
        raise _fault("MountTargetConflict", f"mount target already exists in this AZ ({subnet['AvailabilityZone']})")
    if fs.get("AvailabilityZoneName") and fs["AvailabilityZoneName"] != subnet["AvailabilityZone"]:
        raise _fault("AvailabilityZonesMismatch", f"The file system lives in {fs['AvailabilityZoneName']}, the "
                                                  f"subnet in {subnet['AvailabilityZone']}")
    groups = p.get("SecurityGroups")
    if groups:
        groups = _groups(ctx, groups, subnet["VpcId"])
    else:
        groups = [g["GroupId"] for g in ctx.store.table("ec2", "security-group").values()
                  if g["VpcId"] == subnet["VpcId"] and g["GroupName"] == "default"]
    net = ipaddress.ip_network(subnet["CidrBlock"])
    used = _addresses_in_use(ctx, subnet["SubnetId"])
    if p.get("IpAddress"):
        try:
            addr = ipaddress.ip_address(p["IpAddress"])
        except ValueError:
            raise _fault("BadRequest", f"Invalid IP address {p['IpAddress']}") from None
        hosts = list(net.hosts())
        if addr not in net or addr in hosts[:3] or addr == hosts[-1]:
            raise _fault("BadRequest", f"IP address {addr} is not usable in subnet {subnet['CidrBlock']}")
        if str(addr) in used:
            raise _fault("IpAddressInUse", f"IP address {addr} is already in use in the subnet")
        address = str(addr)
    else:
        address = next((str(h) for h in list(net.hosts())[3:-1] if str(h) not in used), None)
        if address is None:
            raise _fault("NoFreeAddressesInSubnet", f"The subnet {subnet['SubnetId']} has no free address")
    zone_id = dict(zones(ctx.region)).get(subnet["AvailabilityZone"], subnet.get("AvailabilityZoneId"))
    target_id = new_id("fsmt")
    eni_id, _ = data_enis.add(ctx, subnet, groups, f"EFS mount target for {fs_id} ({target_id})",
                              "amazon-elasticfilesystem", address)
    target = {
        "OwnerId": ctx.account,
        "MountTargetId": target_id,
        "FileSystemId": fs_id,
        "SubnetId": subnet["SubnetId"],
        "IpAddress": address,
        "NetworkInterfaceId": eni_id,
        "AvailabilityZoneId": zone_id,
        "AvailabilityZoneName": subnet["AvailabilityZone"],
        "VpcId": subnet["VpcId"],
        "_groups": groups,
    }
    fs["NumberOfMountTargets"] += 1
    start_lifecycle(target, "LifeCycleState", "creating", "available", ctx.settle)
    _targets(ctx)[target_id] = target
    return public(target)


def _gone(ctx, target):
    del _targets(ctx)[target["MountTargetId"]]
    data_enis.release(ctx, target["NetworkInterfaceId"])
    fs = _table(ctx).get(target["FileSystemId"])
    if fs is not None:
        fs["NumberOfMountTargets"] -= 1


def _advance(ctx, target):
    if advance(target):
        _gone(ctx, target)
        return False
    return True


def _target(ctx, target_id):
    target = _targets(ctx).get(target_id)
    if target is None or not _advance(ctx, target):
        raise _fault("MountTargetNotFound", f"Mount target '{target_id}' does not exist.")
    return target


@service.op("DescribeMountTargets")
def describe_mount_targets(ctx, p):
    given = [k for k in ("FileSystemId", "MountTargetId", "AccessPointId") if p.get(k)]
    if len(given) != 1:
        raise _fault("BadRequest", "Specify exactly one of FileSystemId, MountTargetId or AccessPointId")
    if p.get("MountTargetId"):
        return {"MountTargets": [public(_target(ctx, p["MountTargetId"]))]}
    if p.get("AccessPointId"):
        ap = ctx.store.table("efs", "access-point").get(p["AccessPointId"])
        if ap is None:
            raise _fault("AccessPointNotFound", f"Access point '{p['AccessPointId']}' does not exist.")
        fs_id = ap["FileSystemId"]
    else:
        fs_id = _lookup(ctx, p["FileSystemId"])["FileSystemId"]
    live = [t for t in list(_targets(ctx).values()) if t["FileSystemId"] == fs_id and _advance(ctx, t)]
    page, marker = ctx.page(live, key=lambda t: t["MountTargetId"], token=p.get("Marker"),
                            limit=p.get("MaxItems"), token_error=("BadRequest", 400))
    out = {"MountTargets": [public(t) for t in page]}
    if p.get("Marker"):
        out["Marker"] = p["Marker"]
    if marker:
        out["NextMarker"] = marker
    return out


@service.op("DeleteMountTarget")
def delete_mount_target(ctx, p):
    target = _targets(ctx).get(p["MountTargetId"])
    if target is None:
        raise _fault("MountTargetNotFound", f"Mount target '{p['MountTargetId']}' does not exist.")
    if target["LifeCycleState"] != "deleting":
        target.pop("_life", None)
        start_lifecycle(target, "LifeCycleState", "deleting", None, ctx.settle)
    return {}


@service.op("DescribeMountTargetSecurityGroups")
def describe_mount_target_security_groups(ctx, p):
    target = _target(ctx, p["MountTargetId"])
    return {"SecurityGroups": list(target["_groups"])}


@service.op("ModifyMountTargetSecurityGroups")
def modify_mount_target_security_groups(ctx, p):
    target = _target(ctx, p["MountTargetId"])
    if target["LifeCycleState"] != "available":
        raise _fault("IncorrectMountTargetState", f"Mount target '{target['MountTargetId']}' is not available "
                                                  f"({target['LifeCycleState']}).")
    groups = _groups(ctx, p.get("SecurityGroups") or [], target["VpcId"])
    if not groups:
        raise _fault("BadRequest", "A mount target needs at least one security group")
    target["_groups"] = groups
    data_enis.set_groups(ctx, target["NetworkInterfaceId"], groups)
    return {}
