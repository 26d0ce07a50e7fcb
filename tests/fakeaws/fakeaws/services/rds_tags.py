"""RDS tags by ARN (AddTagsToResource, RemoveTagsFromResource,
ListTagsForResource) over every kind fakeaws holds — clusters, instances,
subnet groups, cluster parameter groups, snapshots — and ModifyDBSubnetGroup.
Shares the `rds` service of rds.py. A missing resource answers its kind's
NotFound fault; an ARN of another account or region, or of a kind fakeaws does
not hold, InvalidParameterValue."""
from ..state import public
from .rds import service
from .rds_clusters import invalid, tag_list

# ARN resource type -> (table, key transform, tag field, NotFound fault shape)
_KINDS = {
    "cluster": ("db-cluster", "TagList", "DBClusterNotFoundFault"),
    "db": ("db-instance", "TagList", "DBInstanceNotFoundFault"),
    "subgrp": ("db-subnet-group", "_tags", "DBSubnetGroupNotFoundFault"),
    "cluster-pg": ("db-cluster-parameter-group", "_tags", "DBClusterParameterGroupNotFoundFault"),
    "cluster-snapshot": ("db-cluster-snapshot", "TagList", "DBClusterSnapshotNotFoundFault"),
    "snapshot": ("db-snapshot", "TagList", "DBSnapshotNotFoundFault"),
}


def _resource(ctx, arn):
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "rds":
        raise invalid(f"Invalid resource name: {arn}")
    if parts[3] != ctx.region or parts[4] != ctx.account:
        raise invalid(f"The ARN {arn} is not of this account and region ({ctx.account}, {ctx.region})")
    kind, name = parts[5], parts[6]
    if kind not in _KINDS:
        raise invalid(f"fakeaws does not tag RDS resources of type {kind}")
    table, field, fault = _KINDS[kind]
    obj = ctx.store.table("rds", table).get(name.lower())
    if obj is None:
        raise service.fault(fault, f"{kind} {name} not found.")
    obj.setdefault(field, [])
    return obj, field


@service.op("AddTagsToResource")
def add_tags_to_resource(ctx, p):
    obj, field = _resource(ctx, p["ResourceName"])
    tags = {t["Key"]: t.get("Value", "") for t in obj[field]}
    for t in p["Tags"]:
        if t.get("Key", "").startswith("aws:"):
            raise invalid("Tag keys starting with 'aws:' are reserved")
        tags[t["Key"]] = t.get("Value", "")
    if len(tags) > 50:
        raise invalid("A resource holds at most 50 tags")
    obj[field] = tag_list([{"Key": k, "Value": v} for k, v in tags.items()])
    return {}


@service.op("RemoveTagsFromResource")
def remove_tags_from_resource(ctx, p):
    obj, field = _resource(ctx, p["ResourceName"])
    drop = set(p["TagKeys"])
    obj[field] = [t for t in obj[field] if t["Key"] not in drop]
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    if p.get("Filters"):
        raise invalid("Filters are not supported for ListTagsForResource")
    obj, field = _resource(ctx, p["ResourceName"])
    return {"TagList": [dict(t) for t in obj[field]]}


@service.op("ModifyDBSubnetGroup")
def modify_db_subnet_group(ctx, p):
    groups = ctx.store.table("rds", "db-subnet-group")
    name = p["DBSubnetGroupName"].lower()
    group = groups.get(name)
    if group is None:
        raise service.fault("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {name} not found.")
    ec2_subnets = ctx.store.table("ec2", "subnet")
    subnets = []
    for sid in dict.fromkeys(p["SubnetIds"]):
        subnet = ec2_subnets.get(sid)
        if subnet is None:
            raise service.fault("InvalidSubnet", f"The subnet '{sid}' does not exist")
        subnets.append(subnet)
    if {s["VpcId"] for s in subnets} != {group["VpcId"]}:
        raise service.fault("InvalidSubnet", f"The new subnets are not in the subnet group's VPC {group['VpcId']}")
    if len({s["AvailabilityZone"] for s in subnets}) < 2:
        raise service.fault("DBSubnetGroupDoesNotCoverEnoughAZs",
                            "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. "
                            "Add subnets to cover at least 2 AZs.")
    zones = {s["AvailabilityZone"] for s in subnets}
    stranded = sorted(i["DBInstanceIdentifier"] for i in ctx.store.table("rds", "db-instance").values()
                      if i["DBSubnetGroup"]["DBSubnetGroupName"] == name and i["AvailabilityZone"] not in zones)
    if stranded:
        raise service.fault("SubnetAlreadyInUse", "Some of the subnets to be removed are in use by DB instances: "
                            + ", ".join(stranded))
    if "DBSubnetGroupDescription" in p:
        group["DBSubnetGroupDescription"] = p["DBSubnetGroupDescription"]
    group["Subnets"] = [{"SubnetIdentifier": s["SubnetId"], "SubnetAvailabilityZone": {"Name": s["AvailabilityZone"]},
                         "SubnetOutpost": {}, "SubnetStatus": "Active"} for s in subnets]
    return {"DBSubnetGroup": public(group)}
