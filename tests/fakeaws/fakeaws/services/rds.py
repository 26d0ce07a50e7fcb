"""RDS: DB subnet groups (CreateDBSubnetGroup, DescribeDBSubnetGroups,
DeleteDBSubnetGroup). Subnets must exist in fakeaws's EC2, share one VPC and
cover at least two availability zones; names are kept lower-case, as RDS does."""
import re

from ..errors import AWSError
from ..state import public
from . import Service

service = Service("rds", codes={"invalid": ("InvalidParameterValue", 400)})

_NAME = re.compile(r"^[a-zA-Z0-9 ._-]{1,255}$")


def _groups(ctx):
    return ctx.store.table("rds", "db-subnet-group")


def _not_found(name):
    return service.fault("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {name} not found.")


@service.op("CreateDBSubnetGroup")
def create_db_subnet_group(ctx, p):
    name = p["DBSubnetGroupName"].lower()
    if not _NAME.match(name) or name == "default":
        raise AWSError("InvalidParameterValue",
                       f"Invalid DBSubnetGroupName: {p['DBSubnetGroupName']}: only letters, digits, periods, "
                       "underscores, spaces and hyphens, and not 'default'")
    if name in _groups(ctx):
        raise service.fault("DBSubnetGroupAlreadyExistsFault", f"The DB subnet group '{name}' already exists.")
    ec2_subnets = ctx.store.table("ec2", "subnet")
    subnets = []
    for sid in dict.fromkeys(p["SubnetIds"]):
        subnet = ec2_subnets.get(sid)
        if subnet is None:
            raise service.fault("InvalidSubnet", f"The subnet '{sid}' does not exist")
        subnets.append(subnet)
    vpcs = {s["VpcId"] for s in subnets}
    if len(vpcs) > 1:
        raise service.fault("InvalidSubnet", "Some of the subnets to be used for the DB subnet group are "
                                             "in different VPCs: " + ", ".join(sorted(vpcs)))
    if len({s["AvailabilityZone"] for s in subnets}) < 2:
        raise service.fault("DBSubnetGroupDoesNotCoverEnoughAZs",
                            "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. "
                            "Current AZ coverage: " + ", ".join(sorted({s["AvailabilityZone"] for s in subnets}))
                            + ". Add subnets to cover at least 2 AZs.")
    group = {
        "DBSubnetGroupName": name,
        "DBSubnetGroupDescription": p["DBSubnetGroupDescription"],
        "VpcId": subnets[0]["VpcId"],
        "SubnetGroupStatus": "Complete",
        "Subnets": [{"SubnetIdentifier": s["SubnetId"],
                     "SubnetAvailabilityZone": {"Name": s["AvailabilityZone"]},
                     "SubnetOutpost": {},
                     "SubnetStatus": "Active"} for s in subnets],
        "DBSubnetGroupArn": ctx.arn("rds", f"subgrp:{name}"),
        "SupportedNetworkTypes": ["IPV4"],
        "_tags": [dict(t) for t in p.get("Tags") or []],
    }
    _groups(ctx)[name] = group
    return {"DBSubnetGroup": public(group)}


@service.op("DescribeDBSubnetGroups")
def describe_db_subnet_groups(ctx, p):
    if p.get("Filters"):
        raise AWSError("InvalidParameterValue", "Filters are not supported for DescribeDBSubnetGroups")
    groups = _groups(ctx)
    if p.get("DBSubnetGroupName"):
        name = p["DBSubnetGroupName"].lower()
        if name not in groups:
            raise _not_found(name)
        return {"DBSubnetGroups": [public(groups[name])]}
    page, marker = ctx.page(list(groups.values()), key=lambda g: g["DBSubnetGroupName"],
                            token=p.get("Marker"), limit=p.get("MaxRecords"),
                            token_error=("InvalidParameterValue", 400))
    out = {"DBSubnetGroups": [public(g) for g in page]}
    if marker:
        out["Marker"] = marker
    return out


@service.op("DeleteDBSubnetGroup")
def delete_db_subnet_group(ctx, p):
    name = p["DBSubnetGroupName"].lower()
    groups = _groups(ctx)
    if name not in groups:
        raise _not_found(name)
    users = [i for i in ctx.store.table("rds", "db-instance").values()
             if i.get("DBSubnetGroup", {}).get("DBSubnetGroupName") == name]
    users += [c for c in ctx.store.table("rds", "db-cluster").values() if c.get("DBSubnetGroup") == name]
    if users:
        raise service.fault("InvalidDBSubnetGroupStateFault", f"Cannot delete the subnet group '{name}' "
                                                              "because at least one database is still using it.")
    del groups[name]
    return {}
