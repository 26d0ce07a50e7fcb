"""RDS DB instances: Aurora cluster members (writer and readers) and plain
MySQL/MariaDB instances, and DB snapshots (the final snapshot of a plain
instance). Shares the `rds` service of rds.py.

Behaviour kept from AWS: creating -> available, modifying -> available,
deleting -> gone over describes; the first member of a cluster is its writer
and, when the writer goes, the reader with the lowest promotion tier takes
over; settings that belong to the cluster are refused on a member
(InvalidParameterCombination); a plain instance needs its master user,
password and storage, refuses deletion while protected, and takes the final
snapshot named by FinalDBSnapshotIdentifier unless SkipFinalSnapshot.
Each instance holds a network interface in its zone's subnet (data_enis.py),
carrying its security groups (a cluster member's follow the cluster's)."""
import re

from ..state import advance, new_name_id, public, start_lifecycle
from . import data_enis
from .rds import service
from .rds_clusters import (backup_window, check_identifier, check_password, check_windows, clusters, combination,
                           endpoint_suffix, invalid, kms_default, maintenance_window, make_snapshot,
                           security_groups, settled_cluster, subnet_group, tag_list)

_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")

PLAIN_ENGINES = {
    "mysql": {"port": 3306, "version": "8.0.35", "versions": ("5.7", "8.0")},
    "mariadb": {"port": 3306, "version": "10.11.6", "versions": ("10.4", "10.5", "10.6", "10.11")},
}

# members a cluster member takes from its cluster
_CLUSTER_LEVEL = ("MasterUsername", "MasterUserPassword", "AllocatedStorage", "StorageEncrypted", "KmsKeyId",
                  "BackupRetentionPeriod", "PreferredBackupWindow", "VpcSecurityGroupIds", "DeletionProtection",
                  "DBName", "Port", "StorageType", "Iops", "MultiAZ", "MaxAllocatedStorage")


def instances(ctx):
    return ctx.store.table("rds", "db-instance")


def db_snapshots(ctx):
    return ctx.store.table("rds", "db-snapshot")


def _not_found(ident):
    return service.fault("DBInstanceNotFoundFault", f"DBInstance {ident} not found.")


def _lookup(ctx, ident):
    key = ident.lower()
    if key.startswith("arn:"):
        key = key.rsplit(":", 1)[-1]
    inst = instances(ctx).get(key)
    if inst is None:
        raise _not_found(ident)
    return inst


def _member(ctx, inst):
    if not inst.get("DBClusterIdentifier"):
        return None, None
    cluster = clusters(ctx).get(inst["DBClusterIdentifier"])
    if cluster is None:
        return None, None
    for m in cluster["DBClusterMembers"]:
        if m["DBInstanceIdentifier"] == inst["DBInstanceIdentifier"]:
            return cluster, m
    return cluster, None


def _attach(ctx, inst, group):
    """The instance's network interface, in its zone's subnet of the group, with its security groups."""
    ec2_subnets = ctx.store.table("ec2", "subnet")
    for s in group["Subnets"]:
        subnet = ec2_subnets.get(s["SubnetIdentifier"])
        if subnet is not None and subnet["AvailabilityZone"] == inst["AvailabilityZone"]:
            groups = [g["VpcSecurityGroupId"] for g in inst["VpcSecurityGroups"]]
            inst["_eni"], _ = data_enis.add(ctx, subnet, groups, "RDSNetworkInterface", "amazon-rds")
            return


def set_groups(ctx, inst):
    data_enis.set_groups(ctx, inst.get("_eni"), [g["VpcSecurityGroupId"] for g in inst["VpcSecurityGroups"]])


def _gone(ctx, inst):
    ident = inst["DBInstanceIdentifier"]
    del instances(ctx)[ident]
    data_enis.release(ctx, inst.get("_eni"))
    cluster, member = _member(ctx, inst)
    if member is None:
        return
    cluster["DBClusterMembers"].remove(member)
    if member["IsClusterWriter"]:
        rest = sorted(cluster["DBClusterMembers"], key=lambda m: (m["PromotionTier"], m["DBInstanceIdentifier"]))
        rest = [m for m in rest if not m.get("_deleting")]
        if rest:
            rest[0]["IsClusterWriter"] = True


def _advance(ctx, inst):
    if advance(inst):
        _gone(ctx, inst)
        return False
    return True


def _check_class(value):
    if not _CLASS.match(value):
        raise invalid(f"Invalid DB Instance class: {value}")


def _pick_zone(group, taken):
    zones = sorted({s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]})
    counts = {z: taken.count(z) for z in zones}
    return min(zones, key=lambda z: (counts[z], z))


def _base(ctx, p, ident, engine, version, group, zone, port):
    suffix = endpoint_suffix(ctx)
    return {
        "DBInstanceIdentifier": ident,
        "DBInstanceClass": p["DBInstanceClass"],
        "Engine": engine,
        "DBInstanceStatus": "creating",
        "Endpoint": {"Address": f"{ident}.{suffix}", "Port": port, "HostedZoneId": "Z2R2ITUGPM61AM"},
        "InstanceCreateTime": ctx.now().replace(microsecond=0),
        "DBSecurityGroups": [],
        "DBParameterGroups": [{"DBParameterGroupName": p.get("DBParameterGroupName") or f"default.{engine}",
                               "ParameterApplyStatus": "in-sync"}],
        "AvailabilityZone": zone,
        "DBSubnetGroup": {k: v for k, v in public(group).items() if k != "DBSubnetGroupArn"},
        "PendingModifiedValues": {},
        "EngineVersion": version,
        "AutoMinorVersionUpgrade": p.get("AutoMinorVersionUpgrade", True),
        "ReadReplicaDBInstanceIdentifiers": [],
        "ReadReplicaDBClusterIdentifiers": [],
        "LicenseModel": "general-public-license",
        "OptionGroupMemberships": [{"OptionGroupName": f"default:{engine}", "Status": "in-sync"}],
        "PubliclyAccessible": bool(p.get("PubliclyAccessible", False)),
        "StatusInfos": [],
        "DbInstancePort": 0,
        "DbiResourceId": "db-" + new_name_id(26),
        "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "DomainMemberships": [],
        "MonitoringInterval": p.get("MonitoringInterval", 0),
        "PromotionTier": p.get("PromotionTier", 1),
        "DBInstanceArn": ctx.arn("rds", f"db:{ident}"),
        "IAMDatabaseAuthenticationEnabled": False,
        "PerformanceInsightsEnabled": bool(p.get("EnablePerformanceInsights", False)),
        "AssociatedRoles": [],
        "TagList": tag_list(p.get("Tags")),
        "CustomerOwnedIpEnabled": False,
        "NetworkType": "IPV4",
    }


@service.op("CreateDBInstance")
def create_db_instance(ctx, p):
    ident = check_identifier(p["DBInstanceIdentifier"], "DBInstanceIdentifier")
    if ident in instances(ctx):
        raise service.fault("DBInstanceAlreadyExistsFault", "DB instance already exists")
    _check_class(p["DBInstanceClass"])
    if p.get("PromotionTier") is not None and not 0 <= p["PromotionTier"] <= 15:
        raise invalid(f"PromotionTier must be between 0 and 15, got {p['PromotionTier']}")
    if p.get("DBClusterIdentifier"):
        return _create_member(ctx, p, ident)
    return _create_plain(ctx, p, ident)


def _create_member(ctx, p, ident):
    cluster = settled_cluster(ctx, p["DBClusterIdentifier"])
    if cluster["Status"] == "deleting":
        raise service.fault("InvalidDBClusterStateFault", f"DB cluster {cluster['DBClusterIdentifier']} is being "
                                                          "deleted.")
    if p["Engine"] != cluster["Engine"]:
        raise combination(f"The engine name requested for your DB instance ({p['Engine']}) doesn't match the "
                          f"engine name of your DB cluster ({cluster['Engine']}).")
    given = [k for k in _CLUSTER_LEVEL if k in p]
    if given:
        raise combination(f"The requested DB Instance will be a member of a DB Cluster. Set {given[0]} for the DB "
                          "Cluster.")
    group = subnet_group(ctx, cluster["DBSubnetGroup"])
    if p.get("DBSubnetGroupName") and p["DBSubnetGroupName"].lower() != group["DBSubnetGroupName"]:
        raise combination("The DB subnet group of a cluster member is the cluster's")
    zones = [s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]]
    if p.get("AvailabilityZone") and p["AvailabilityZone"] not in zones:
        raise invalid(f"The DB subnet group has no subnet in {p['AvailabilityZone']}")
    taken = [instances(ctx)[m["DBInstanceIdentifier"]]["AvailabilityZone"] for m in cluster["DBClusterMembers"]
             if m["DBInstanceIdentifier"] in instances(ctx)]
    zone = p.get("AvailabilityZone") or _pick_zone(group, taken)
    inst = _base(ctx, p, ident, cluster["Engine"], cluster["EngineVersion"], group, zone, cluster["Port"])
    inst.update({
        "MasterUsername": cluster["MasterUsername"],
        "AllocatedStorage": 1,
        "PreferredBackupWindow": cluster["PreferredBackupWindow"],
        "BackupRetentionPeriod": cluster["BackupRetentionPeriod"],
        "VpcSecurityGroups": [dict(g) for g in cluster["VpcSecurityGroups"]],
        "PreferredMaintenanceWindow": p.get("PreferredMaintenanceWindow", cluster["PreferredMaintenanceWindow"]),
        "MultiAZ": False,
        "StorageType": "aurora",
        "DBClusterIdentifier": cluster["DBClusterIdentifier"],
        "StorageEncrypted": cluster["StorageEncrypted"],
        "CopyTagsToSnapshot": cluster["CopyTagsToSnapshot"],
        "DeletionProtection": False,
    })
    if cluster.get("DatabaseName"):
        inst["DBName"] = cluster["DatabaseName"]
    if cluster.get("KmsKeyId"):
        inst["KmsKeyId"] = cluster["KmsKeyId"]
    writer = not any(m["IsClusterWriter"] for m in cluster["DBClusterMembers"])
    cluster["DBClusterMembers"].append({"DBInstanceIdentifier": ident, "IsClusterWriter": writer,
                                        "DBClusterParameterGroupStatus": "in-sync",
                                        "PromotionTier": inst["PromotionTier"]})
    start_lifecycle(inst, "DBInstanceStatus", "creating", "available", ctx.settle)
    instances(ctx)[ident] = inst
    _attach(ctx, inst, group)
    return {"DBInstance": public(inst)}


def _check_storage(engine, storage_type, size, iops=None):
    if storage_type not in ("gp2", "gp3", "io1", "standard"):
        raise invalid(f"Invalid storage type: {storage_type}")
    low = 5 if storage_type == "standard" else (100 if storage_type == "io1" else 20)
    if size is None or not low <= size <= 65536:
        raise invalid(f"Invalid storage size for engine name {engine} and storage type {storage_type}: {size}")
    if storage_type == "io1" and not iops:
        raise combination("Iops is required for storage type io1")


def _create_plain(ctx, p, ident):
    engine = p["Engine"]
    if engine not in PLAIN_ENGINES:
        raise invalid(f"Invalid DB engine: {engine} (fakeaws serves {', '.join(PLAIN_ENGINES)} instances, "
                      "and Aurora instances inside a cluster)")
    info = PLAIN_ENGINES[engine]
    version = p.get("EngineVersion") or info["version"]
    if not version.startswith(info["versions"]):
        raise invalid(f"Cannot find version {version} for {engine}")
    if not p.get("MasterUsername"):
        raise invalid("The parameter MasterUsername must be provided and must not be blank.")
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9_]{0,15}$", p["MasterUsername"]):
        raise invalid("MasterUsername must be 1 to 16 letters, digits or underscores, starting with a letter.")
    if "MasterUserPassword" not in p:
        raise invalid("The parameter MasterUserPassword must be provided and must not be blank.")
    check_password(p["MasterUserPassword"])
    storage_type = p.get("StorageType", "gp2")
    _check_storage(engine, storage_type, p.get("AllocatedStorage"), p.get("Iops"))
    if p.get("MaxAllocatedStorage") is not None and p["MaxAllocatedStorage"] <= p["AllocatedStorage"]:
        raise invalid("Max storage size must be greater than storage size")
    db_name = p.get("DBName")
    if db_name is not None and not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", db_name):
        raise invalid(f"Invalid database name: {db_name}")
    retention = p.get("BackupRetentionPeriod", 1)
    if not 0 <= retention <= 35:
        raise invalid(f"Invalid backup retention period: {retention} (must be between 0 and 35 days)")
    backup = p.get("PreferredBackupWindow") or "07:00-07:30"
    maint = (p.get("PreferredMaintenanceWindow") or "sun:05:00-sun:05:30").lower()
    backup_window(backup)
    maintenance_window(maint)
    check_windows(backup, maint)
    if not p.get("DBSubnetGroupName"):
        raise invalid("fakeaws needs a DBSubnetGroupName (there is no default VPC)")
    group = subnet_group(ctx, p["DBSubnetGroupName"])
    vpc_sgs = security_groups(ctx, p.get("VpcSecurityGroupIds"), group["VpcId"])
    if p.get("MultiAZ") and p.get("AvailabilityZone"):
        raise combination("Requesting a specific availability zone is not valid for Multi-AZ instances.")
    zone = p.get("AvailabilityZone") or _pick_zone(group, [])
    encrypted = bool(p.get("StorageEncrypted", False))
    if p.get("KmsKeyId") and not encrypted:
        raise combination("KmsKeyId requires StorageEncrypted")
    port = p.get("Port") or info["port"]
    inst = _base(ctx, p, ident, engine, version, group, zone, port)
    inst.update({
        "MasterUsername": p["MasterUsername"],
        "AllocatedStorage": p["AllocatedStorage"],
        "PreferredBackupWindow": backup,
        "BackupRetentionPeriod": retention,
        "VpcSecurityGroups": vpc_sgs,
        "PreferredMaintenanceWindow": maint,
        "MultiAZ": bool(p.get("MultiAZ", False)),
        "StorageType": storage_type,
        "StorageEncrypted": encrypted,
        "CopyTagsToSnapshot": bool(p.get("CopyTagsToSnapshot", False)),
        "DeletionProtection": bool(p.get("DeletionProtection", False)),
        "_password": p["MasterUserPassword"],
    })
    inst.pop("PromotionTier")
    if inst["MultiAZ"]:
        zones = sorted({s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]} - {zone})
        inst["SecondaryAvailabilityZone"] = zones[0]
    if db_name is not None:
        inst["DBName"] = db_name
    if encrypted:
        inst["KmsKeyId"] = p.get("KmsKeyId") or kms_default(ctx)
    if p.get("MaxAllocatedStorage") is not None:
        inst["MaxAllocatedStorage"] = p["MaxAllocatedStorage"]
    if p.get("Iops"):
        inst["Iops"] = p["Iops"]
    if p.get("EnableCloudwatchLogsExports"):
        inst["EnabledCloudwatchLogsExports"] = list(p["EnableCloudwatchLogsExports"])
    start_lifecycle(inst, "DBInstanceStatus", "creating", "available", ctx.settle)
    instances(ctx)[ident] = inst
    _attach(ctx, inst, group)
    return {"DBInstance": public(inst)}


_FILTERS = {
    "db-cluster-id": lambda i: [i.get("DBClusterIdentifier"), _cluster_arn(i)],
    "db-instance-id": lambda i: [i["DBInstanceIdentifier"], i["DBInstanceArn"]],
    "dbi-resource-id": lambda i: [i["DbiResourceId"]],
    "engine": lambda i: [i["Engine"]],
}


def _cluster_arn(inst):
    if not inst.get("DBClusterIdentifier"):
        return None
    return inst["DBInstanceArn"].rsplit(":", 2)[0] + ":cluster:" + inst["DBClusterIdentifier"]


@service.op("DescribeDBInstances")
def describe_db_instances(ctx, p):
    if p.get("DBInstanceIdentifier"):
        inst = _lookup(ctx, p["DBInstanceIdentifier"])
        if not _advance(ctx, inst):
            raise _not_found(p["DBInstanceIdentifier"])
        return {"DBInstances": [public(inst)]}
    live = [i for i in list(instances(ctx).values()) if _advance(ctx, i)]
    for f in p.get("Filters") or []:
        if f["Name"] not in _FILTERS:
            raise invalid(f"Unrecognized filter name: {f['Name']} (fakeaws knows {', '.join(sorted(_FILTERS))})")
        wanted = set(f["Values"])
        live = [i for i in live if wanted & set(_FILTERS[f["Name"]](i))]
    page, marker = ctx.page(live, key=lambda i: i["DBInstanceIdentifier"], token=p.get("Marker"),
                            limit=p.get("MaxRecords"), token_error=("InvalidParameterValue", 400))
    out = {"DBInstances": [public(i) for i in page]}
    if marker:
        out["Marker"] = marker
    return out


_UNSERVED = ("NewDBInstanceIdentifier", "DBSecurityGroups", "TdeCredentialArn", "TdeCredentialPassword", "Domain",
             "DomainIAMRoleName", "ProcessorFeatures", "UseDefaultProcessorFeatures", "ReplicaMode",
             "AwsBackupRecoveryPointArn", "AutomationMode", "ResumeFullAutomationModeMinutes", "NetworkType",
             "LicenseModel", "OptionGroupName", "CACertificateIdentifier")


@service.op("ModifyDBInstance")
def modify_db_instance(ctx, p):
    inst = _lookup(ctx, p["DBInstanceIdentifier"])
    if inst["DBInstanceStatus"] != "available":
        raise service.fault("InvalidDBInstanceStateFault", f"Database instance is not in available state "
                                                           f"({inst['DBInstanceStatus']}).")
    unserved = [k for k in _UNSERVED if k in p]
    if unserved:
        raise invalid(f"fakeaws does not serve these ModifyDBInstance members: {', '.join(unserved)}")
    member = bool(inst.get("DBClusterIdentifier"))
    if member:
        given = [k for k in _CLUSTER_LEVEL + ("DBSubnetGroupName", "EngineVersion") if k in p]
        if given:
            raise combination(f"The specified DB Instance is a member of a cluster. Modify {given[0]} for the DB "
                              "Cluster using the ModifyDbCluster API")
    if p.get("DBInstanceClass"):
        _check_class(p["DBInstanceClass"])
    if p.get("PromotionTier") is not None and not 0 <= p["PromotionTier"] <= 15:
        raise invalid(f"PromotionTier must be between 0 and 15, got {p['PromotionTier']}")
    if "MasterUserPassword" in p:
        check_password(p["MasterUserPassword"])
    if "AllocatedStorage" in p:
        if p["AllocatedStorage"] < inst["AllocatedStorage"]:
            raise invalid(f"Invalid storage size for engine name {inst['Engine']}: you cannot reduce the allocated "
                          f"storage ({inst['AllocatedStorage']} -> {p['AllocatedStorage']})")
        _check_storage(inst["Engine"], p.get("StorageType", inst["StorageType"]), p["AllocatedStorage"])
    elif "StorageType" in p:
        _check_storage(inst["Engine"], p["StorageType"], inst["AllocatedStorage"])
    if "BackupRetentionPeriod" in p and not 0 <= p["BackupRetentionPeriod"] <= 35:
        raise invalid(f"Invalid backup retention period: {p['BackupRetentionPeriod']}")
    backup = p.get("PreferredBackupWindow") or inst["PreferredBackupWindow"]
    maint = (p.get("PreferredMaintenanceWindow") or inst["PreferredMaintenanceWindow"]).lower()
    backup_window(backup)
    maintenance_window(maint)
    check_windows(backup, maint)
    group = subnet_group(ctx, inst["DBSubnetGroup"]["DBSubnetGroupName"])
    vpc_sgs = security_groups(ctx, p["VpcSecurityGroupIds"], group["VpcId"]) if "VpcSecurityGroupIds" in p else None
    if p.get("EngineVersion") and not p["EngineVersion"].startswith(PLAIN_ENGINES[inst["Engine"]]["versions"]):
        raise invalid(f"Cannot find upgrade target version {p['EngineVersion']} for {inst['Engine']}")
    if "MaxAllocatedStorage" in p and p["MaxAllocatedStorage"] <= p.get("AllocatedStorage", inst["AllocatedStorage"]):
        raise invalid("Max storage size must be greater than storage size")
    # every check passed: apply
    simple = {"DBInstanceClass": "DBInstanceClass", "PromotionTier": "PromotionTier",
              "AllocatedStorage": "AllocatedStorage", "StorageType": "StorageType",
              "BackupRetentionPeriod": "BackupRetentionPeriod", "MultiAZ": "MultiAZ", "EngineVersion": "EngineVersion",
              "AutoMinorVersionUpgrade": "AutoMinorVersionUpgrade", "CopyTagsToSnapshot": "CopyTagsToSnapshot",
              "PubliclyAccessible": "PubliclyAccessible", "DeletionProtection": "DeletionProtection",
              "MonitoringInterval": "MonitoringInterval", "EnablePerformanceInsights": "PerformanceInsightsEnabled",
              "MaxAllocatedStorage": "MaxAllocatedStorage", "Iops": "Iops"}
    for member_name, field in simple.items():
        if member_name in p:
            inst[field] = p[member_name]
    if member and "PromotionTier" in p:
        _, m = _member(ctx, inst)
        if m is not None:
            m["PromotionTier"] = p["PromotionTier"]
    if "DBParameterGroupName" in p:
        inst["DBParameterGroups"] = [{"DBParameterGroupName": p["DBParameterGroupName"],
                                      "ParameterApplyStatus": "pending-reboot"}]
    inst["PreferredBackupWindow"], inst["PreferredMaintenanceWindow"] = backup, maint
    if vpc_sgs is not None:
        inst["VpcSecurityGroups"] = vpc_sgs
        set_groups(ctx, inst)
    if "MasterUserPassword" in p:
        inst["_password"] = p["MasterUserPassword"]
    if "DBPortNumber" in p:
        inst["Endpoint"]["Port"] = p["DBPortNumber"]
    if inst.get("MultiAZ") and not inst.get("SecondaryAvailabilityZone"):
        zones = sorted({s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]} - {inst["AvailabilityZone"]})
        inst["SecondaryAvailabilityZone"] = zones[0]
    elif not inst.get("MultiAZ"):
        inst.pop("SecondaryAvailabilityZone", None)
    transitional = "resetting-master-credentials" if "MasterUserPassword" in p else "modifying"
    start_lifecycle(inst, "DBInstanceStatus", transitional, "available", ctx.settle)
    return {"DBInstance": public(inst)}


@service.op("DeleteDBInstance")
def delete_db_instance(ctx, p):
    inst = _lookup(ctx, p["DBInstanceIdentifier"])
    ident = inst["DBInstanceIdentifier"]
    if inst["DBInstanceStatus"] == "deleting":
        raise service.fault("InvalidDBInstanceStateFault", f"Instance {ident} is already being deleted.")
    if inst["DBInstanceStatus"] not in ("available", "failed", "storage-full", "incompatible-parameters",
                                        "stopped"):
        raise service.fault("InvalidDBInstanceStateFault",
                            f"Instance {ident} is not in a state that allows deletion ({inst['DBInstanceStatus']}).")
    skip = p.get("SkipFinalSnapshot", False)
    final = p.get("FinalDBSnapshotIdentifier")
    cluster, member = _member(ctx, inst)
    if inst.get("DBClusterIdentifier"):
        if final:
            raise combination("FinalDBSnapshotIdentifier can not be specified when deleting a cluster instance")
    else:
        if inst["DeletionProtection"]:
            raise combination("Cannot delete protected DB Instance, please disable deletion protection and try "
                              "again.")
        if skip and final:
            raise combination("FinalDBSnapshotIdentifier can not be specified when SkipFinalSnapshot is enabled")
        if not skip and not final:
            raise combination("FinalDBSnapshotIdentifier is required when a final snapshot is required")
        if final:
            final = check_identifier(final, "FinalDBSnapshotIdentifier", 255)
            if final in db_snapshots(ctx):
                raise service.fault("DBSnapshotAlreadyExistsFault",
                                    f"Cannot create the snapshot because a snapshot with the identifier {final} "
                                    "already exists.")
            group = subnet_group(ctx, inst["DBSubnetGroup"]["DBSubnetGroupName"])
            snap = make_snapshot(ctx, db_snapshots(ctx), "db", final, {
                "DBSnapshotIdentifier": final,
                "DBInstanceIdentifier": ident,
                "Engine": inst["Engine"],
                "AllocatedStorage": inst["AllocatedStorage"],
                "Port": inst["Endpoint"]["Port"],
                "AvailabilityZone": inst["AvailabilityZone"],
                "VpcId": group["VpcId"],
                "InstanceCreateTime": inst["InstanceCreateTime"],
                "MasterUsername": inst["MasterUsername"],
                "EngineVersion": inst["EngineVersion"],
                "LicenseModel": inst["LicenseModel"],
                "StorageType": inst["StorageType"],
                "Encrypted": inst["StorageEncrypted"],
                "DBSnapshotArn": ctx.arn("rds", f"snapshot:{final}"),
                "DbiResourceId": inst["DbiResourceId"],
                "TagList": [dict(t) for t in inst["TagList"]] if inst["CopyTagsToSnapshot"] else [],
            })
            if inst.get("KmsKeyId"):
                snap["KmsKeyId"] = inst["KmsKeyId"]
    if member is not None:
        member["_deleting"] = True
    inst.pop("_life", None)
    start_lifecycle(inst, "DBInstanceStatus", "deleting", None, ctx.settle)
    return {"DBInstance": public(inst)}


def _advance_snapshot(ctx, snap):
    if advance(snap):
        del db_snapshots(ctx)[snap["DBSnapshotIdentifier"]]
        return False
    if snap["Status"] == "available":
        snap["PercentProgress"] = 100
    return True


@service.op("DescribeDBSnapshots")
def describe_db_snapshots(ctx, p):
    if p.get("Filters"):
        raise invalid("Filters are not supported for DescribeDBSnapshots")
    table = db_snapshots(ctx)
    if p.get("DBSnapshotIdentifier"):
        snap = table.get(p["DBSnapshotIdentifier"].lower())
        if snap is None or not _advance_snapshot(ctx, snap):
            raise service.fault("DBSnapshotNotFoundFault", f"DBSnapshot {p['DBSnapshotIdentifier']} not found.")
        return {"DBSnapshots": [public(snap)]}
    live = [s for s in list(table.values()) if _advance_snapshot(ctx, s)]
    if p.get("DBInstanceIdentifier"):
        live = [s for s in live if s["DBInstanceIdentifier"] == p["DBInstanceIdentifier"].lower()]
    if p.get("SnapshotType"):
        live = [s for s in live if s["SnapshotType"] == p["SnapshotType"]]
    page, marker = ctx.page(live, key=lambda s: s["DBSnapshotIdentifier"], token=p.get("Marker"),
                            limit=p.get("MaxRecords"), token_error=("InvalidParameterValue", 400))
    out = {"DBSnapshots": [public(s) for s in page]}
    if marker:
        out["Marker"] = marker
    return out


@service.op("DeleteDBSnapshot")
def delete_db_snapshot(ctx, p):
    table = db_snapshots(ctx)
    snap = table.get(p["DBSnapshotIdentifier"].lower())
    if snap is None:
        raise service.fault("DBSnapshotNotFoundFault", f"DBSnapshot {p['DBSnapshotIdentifier']} not found.")
    if snap["Status"] != "available":
        raise service.fault("InvalidDBSnapshotStateFault",
                            f"Cannot delete the snapshot because it is not in available state ({snap['Status']}).")
    del table[snap["DBSnapshotIdentifier"]]
    out = public(snap)
    out["Status"] = "deleted"
    return {"DBSnapshot": out}
