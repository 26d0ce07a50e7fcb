"""ElastiCache (query): cache subnet groups and Redis replication groups with
cluster mode disabled (one node group: a primary and its replicas), their
member cache clusters, and tags by ARN.

Behaviour kept from AWS: a replication group goes creating -> available,
modifying -> available, deleting -> gone over describes; a change needs an
available group (InvalidReplicationGroupState); automatic failover needs two
nodes or more and Multi-AZ needs automatic failover; an AUTH token needs
transit encryption and is 16 to 128 printable characters without '/', '"',
'@' or spaces; a subnet group in use cannot be deleted (CacheSubnetGroupInUse);
nodes are spread over the subnet group's zones, each with a network interface
in its zone's subnet (data_enis.py). The AUTH token is never
answered nor shown in the state dump (held as `_auth`, a list: ROTATE keeps the
old token valid beside the new one)."""
import re

from ..state import advance, new_name_id, public, start_lifecycle
from . import Service, data_enis

service = Service("elasticache")

_IDENT = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_SUBNET_GROUP = re.compile(r"^[a-z0-9][a-z0-9-]{0,254}$")
_NODE_TYPE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINT = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-"
                    r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$")
_REGION_SHORT = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c", "northeast": "ne",
                 "northwest": "nw", "southeast": "se", "southwest": "sw"}


def _invalid(message):
    return service.fault("InvalidParameterValueException", message)


def _combination(message):
    return service.fault("InvalidParameterCombinationException", message)


def _subnet_groups(ctx):
    return ctx.store.table("elasticache", "cache-subnet-group")


def _groups(ctx):
    return ctx.store.table("elasticache", "replication-group")


def _clusters(ctx):
    return ctx.store.table("elasticache", "cache-cluster")


def _tag_list(tags):
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags or []]


# -- subnet groups -----------------------------------------------------------------------

def _subnets(ctx, ids):
    ec2_subnets = ctx.store.table("ec2", "subnet")
    subnets = []
    for sid in dict.fromkeys(ids):
        subnet = ec2_subnets.get(sid)
        if subnet is None:
            raise service.fault("InvalidSubnet", f"The subnet ID {sid} does not exist")
        subnets.append(subnet)
    if len({s["VpcId"] for s in subnets}) > 1:
        raise service.fault("InvalidSubnet", "The subnets of a cache subnet group must be in one VPC")
    return subnets


def _subnet_entries(subnets):
    return [{"SubnetIdentifier": s["SubnetId"], "SubnetAvailabilityZone": {"Name": s["AvailabilityZone"]},
             "SupportedNetworkTypes": ["ipv4"]} for s in subnets]


def _subnet_group(ctx, name):
    group = _subnet_groups(ctx).get(name.lower())
    if group is None:
        raise service.fault("CacheSubnetGroupNotFoundFault", f"Cache subnet group {name} not found.")
    return group


@service.op("CreateCacheSubnetGroup")
def create_cache_subnet_group(ctx, p):
    name = p["CacheSubnetGroupName"].lower()
    if not _SUBNET_GROUP.match(name) or "--" in name or name.endswith("-") or name == "default":
        raise _invalid(f"Invalid cache subnet group name: {p['CacheSubnetGroupName']}")
    if name in _subnet_groups(ctx):
        raise service.fault("CacheSubnetGroupAlreadyExistsFault", f"Cache subnet group {name} already exists.")
    subnets = _subnets(ctx, p["SubnetIds"])
    group = {
        "CacheSubnetGroupName": name,
        "CacheSubnetGroupDescription": p["CacheSubnetGroupDescription"],
        "VpcId": subnets[0]["VpcId"],
        "Subnets": _subnet_entries(subnets),
        "ARN": ctx.arn("elasticache", f"subnetgroup:{name}"),
        "SupportedNetworkTypes": ["ipv4"],
        "_tags": _tag_list(p.get("Tags")),
    }
    _subnet_groups(ctx)[name] = group
    return {"CacheSubnetGroup": public(group)}


@service.op("DescribeCacheSubnetGroups")
def describe_cache_subnet_groups(ctx, p):
    if p.get("CacheSubnetGroupName"):
        return {"CacheSubnetGroups": [public(_subnet_group(ctx, p["CacheSubnetGroupName"]))]}
    page, marker = ctx.page(list(_subnet_groups(ctx).values()), key=lambda g: g["CacheSubnetGroupName"],
                            token=p.get("Marker"), limit=p.get("MaxRecords"),
                            token_error=("InvalidParameterValue", 400))
    out = {"CacheSubnetGroups": [public(g) for g in page]}
    if marker:
        out["Marker"] = marker
    return out


@service.op("ModifyCacheSubnetGroup")
def modify_cache_subnet_group(ctx, p):
    group = _subnet_group(ctx, p["CacheSubnetGroupName"])
    if p.get("SubnetIds"):
        subnets = _subnets(ctx, p["SubnetIds"])
        if subnets[0]["VpcId"] != group["VpcId"]:
            raise service.fault("InvalidSubnet", f"The subnets are not in the group's VPC {group['VpcId']}")
        zones = {s["AvailabilityZone"] for s in subnets}
        used = [c for c in _clusters(ctx).values()
                if c["CacheSubnetGroupName"] == group["CacheSubnetGroupName"]
                and c["PreferredAvailabilityZone"] not in zones]
        if used:
            raise service.fault("SubnetInUse", "A subnet to be removed is in use by cache nodes: "
                                + ", ".join(sorted(c["CacheClusterId"] for c in used)))
        group["Subnets"] = _subnet_entries(subnets)
    if "CacheSubnetGroupDescription" in p:
        group["CacheSubnetGroupDescription"] = p["CacheSubnetGroupDescription"]
    return {"CacheSubnetGroup": public(group)}


@service.op("DeleteCacheSubnetGroup")
def delete_cache_subnet_group(ctx, p):
    group = _subnet_group(ctx, p["CacheSubnetGroupName"])
    name = group["CacheSubnetGroupName"]
    users = [g["ReplicationGroupId"] for g in _groups(ctx).values() if g["_subnet_group"] == name]
    if users:
        raise service.fault("CacheSubnetGroupInUse", f"Cache subnet group {name} is currently in use by a cache "
                                                     f"cluster ({', '.join(users)}).")
    del _subnet_groups(ctx)[name]
    return {}


# -- replication groups ------------------------------------------------------------------

def _not_found(ident):
    return service.fault("ReplicationGroupNotFoundFault", f"ReplicationGroup {ident} not found.")


def _lookup(ctx, ident):
    group = _groups(ctx).get(ident.lower())
    if group is None:
        raise _not_found(ident)
    return group


def _check_token(token):
    if not 16 <= len(token) <= 128 or any(c in token for c in '/"@ ') or \
            any(not (32 < ord(c) < 127) for c in token):
        raise _invalid("Invalid AuthToken provided: it must be 16 to 128 printable characters, without '/', '\"', "
                       "'@' or spaces.")


def _region_short(region):
    parts = region.split("-")
    if len(parts) == 3:
        return parts[0] + _REGION_SHORT.get(parts[1], parts[1][:1]) + parts[2]
    return region.replace("-", "")


def _security_groups(ctx, ids, vpc_id):
    groups = ctx.store.table("ec2", "security-group")
    out = []
    for gid in dict.fromkeys(ids or []):
        group = groups.get(gid)
        if group is None or group["VpcId"] != vpc_id:
            raise _invalid(f"Some security group Id not recognized by EC2 in the subnet group's VPC: {gid}")
        out.append({"SecurityGroupId": gid, "Status": "active"})
    return out


def _failover(p, group, nodes):
    auto = p.get("AutomaticFailoverEnabled", group["AutomaticFailover"] == "enabled" if group else False)
    multi = p.get("MultiAZEnabled", group["MultiAZ"] == "enabled" if group else False)
    if auto and nodes < 2:
        raise _combination("Automatic failover requires at least two cache nodes (one replica) in the "
                           "replication group.")
    if multi and not auto:
        raise _combination("Multi-AZ requires automatic failover to be enabled.")
    return auto, multi


def _add_nodes(ctx, group, count, zones):
    """Member cache clusters <id>-001, -002, ... spread over zones."""
    taken = [c["PreferredAvailabilityZone"] for c in _clusters(ctx).values()
             if c["ReplicationGroupId"] == group["ReplicationGroupId"]]
    used_ids = {c for c in group["MemberClusters"]}
    n = 1
    for _ in range(count):
        while f"{group['ReplicationGroupId']}-{n:03d}" in used_ids:
            n += 1
        cid = f"{group['ReplicationGroupId']}-{n:03d}"
        used_ids.add(cid)
        zone = min(sorted(zones), key=lambda z: taken.count(z))
        taken.append(zone)
        primary = not group["MemberClusters"]
        group["MemberClusters"].append(cid)
        _clusters(ctx)[cid] = {
            "CacheClusterId": cid, "CacheNodeType": group["CacheNodeType"], "Engine": "redis",
            "EngineVersion": group["_engine_version"], "CacheClusterStatus": "available", "NumCacheNodes": 1,
            "PreferredAvailabilityZone": zone, "CacheClusterCreateTime": ctx.now().replace(microsecond=0),
            "PreferredMaintenanceWindow": group["_maintenance"], "PendingModifiedValues": {},
            "CacheSecurityGroups": [], "CacheParameterGroup": {"CacheParameterGroupName": group["_parameter_group"],
                                                                "ParameterApplyStatus": "in-sync"},
            "CacheSubnetGroupName": group["_subnet_group"], "AutoMinorVersionUpgrade": group["AutoMinorVersionUpgrade"],
            "SecurityGroups": [dict(s) for s in group["_security_groups"]],
            "ReplicationGroupId": group["ReplicationGroupId"],
            "SnapshotRetentionLimit": group["SnapshotRetentionLimit"], "SnapshotWindow": group["SnapshotWindow"],
            "AuthTokenEnabled": group["AuthTokenEnabled"], "TransitEncryptionEnabled": group["TransitEncryptionEnabled"],
            "AtRestEncryptionEnabled": group["AtRestEncryptionEnabled"],
            "ARN": ctx.arn("elasticache", f"cluster:{cid}"), "ReplicationGroupLogDeliveryEnabled": False,
            "NetworkType": "ipv4", "IpDiscovery": "ipv4", "_primary": primary,
        }
        _attach(ctx, _clusters(ctx)[cid], group)


def _attach(ctx, node, group):
    """The node's network interface, in its zone's subnet of the subnet group."""
    ec2_subnets = ctx.store.table("ec2", "subnet")
    for s in _subnet_groups(ctx)[group["_subnet_group"]]["Subnets"]:
        subnet = ec2_subnets.get(s["SubnetIdentifier"])
        if subnet is not None and subnet["AvailabilityZone"] == node["PreferredAvailabilityZone"]:
            groups = [g["SecurityGroupId"] for g in group["_security_groups"]]
            node["_eni"], _ = data_enis.add(ctx, subnet, groups, f"ElastiCache {node['CacheClusterId']}",
                                            "amazon-elasticache")
            return


def _drop_node(ctx, cid):
    node = _clusters(ctx).pop(cid, None)
    if node is not None:
        data_enis.release(ctx, node.get("_eni"))


def _render(ctx, group):
    out = public(group)
    members = []
    for cid in group["MemberClusters"]:
        c = _clusters(ctx).get(cid)
        if c is None:
            continue
        host = f"{cid}.{group['_dns']}"
        members.append({"CacheClusterId": cid, "CacheNodeId": "0001",
                        "ReadEndpoint": {"Address": host, "Port": group["_port"]},
                        "PreferredAvailabilityZone": c["PreferredAvailabilityZone"],
                        "CurrentRole": "primary" if c["_primary"] else "replica"})
    out["NodeGroups"] = [{
        "NodeGroupId": "0001", "Status": group["Status"],
        "PrimaryEndpoint": {"Address": f"master.{group['ReplicationGroupId']}.{group['_dns']}", "Port": group["_port"]},
        "ReaderEndpoint": {"Address": f"replica.{group['ReplicationGroupId']}.{group['_dns']}", "Port": group["_port"]},
        "NodeGroupMembers": members,
    }]
    return out


@service.op("CreateReplicationGroup")
def create_replication_group(ctx, p):
    ident = p["ReplicationGroupId"].lower()
    if not 1 <= len(ident) <= 40 or not _IDENT.match(ident):
        raise _invalid("Replication group id must begin with a letter, contain only ASCII letters, digits and "
                       f"single hyphens, not end with a hyphen, and be at most 40 characters: {p['ReplicationGroupId']}")
    if ident in _groups(ctx):
        raise service.fault("ReplicationGroupAlreadyExistsFault", f"Replication group {ident} already exists.")
    unserved = [k for k in ("GlobalReplicationGroupId", "PrimaryClusterId", "NumNodeGroups", "NodeGroupConfiguration",
                            "CacheSecurityGroupNames", "SnapshotArns", "SnapshotName", "UserGroupIds",
                            "LogDeliveryConfigurations", "DataTieringEnabled") if k in p]
    if unserved:
        raise _invalid(f"fakeaws does not serve these CreateReplicationGroup members: {', '.join(unserved)}")
    if p.get("Engine", "redis") != "redis":
        raise _invalid(f"fakeaws serves Redis replication groups only, not {p['Engine']}")
    node_type = p.get("CacheNodeType")
    if not node_type or not _NODE_TYPE.match(node_type):
        raise _invalid(f"Invalid CacheNodeType: {node_type}")
    if "ReplicasPerNodeGroup" in p and "NumCacheClusters" in p:
        raise _combination("Give NumCacheClusters or ReplicasPerNodeGroup, not both")
    nodes = p.get("NumCacheClusters", p.get("ReplicasPerNodeGroup", 0) + 1 if "ReplicasPerNodeGroup" in p else 1)
    if not 1 <= nodes <= 6:
        raise _invalid(f"NumCacheClusters must be between 1 and 6, got {nodes}")
    auto, multi = _failover(p, None, nodes)
    transit = bool(p.get("TransitEncryptionEnabled", False))
    at_rest = bool(p.get("AtRestEncryptionEnabled", False))
    if "AuthToken" in p:
        if not transit:
            raise _invalid("The AUTH token is only supported when encryption-in-transit is enabled")
        _check_token(p["AuthToken"])
    if p.get("KmsKeyId") and not at_rest:
        raise _combination("KmsKeyId requires AtRestEncryptionEnabled")
    if not p.get("CacheSubnetGroupName"):
        raise _invalid("fakeaws needs a CacheSubnetGroupName (there is no default VPC)")
    subnet_group = _subnet_group(ctx, p["CacheSubnetGroupName"])
    sgs = _security_groups(ctx, p.get("SecurityGroupIds"), subnet_group["VpcId"])
    zones = [s["SubnetAvailabilityZone"]["Name"] for s in subnet_group["Subnets"]]
    preferred = p.get("PreferredCacheClusterAZs") or []
    if [z for z in preferred if z not in zones]:
        raise _invalid(f"The subnet group has no subnet in {[z for z in preferred if z not in zones]}")
    if multi and len(set(zones)) < 2:
        raise _combination("Multi-AZ needs a subnet group that spans at least two availability zones")
    window = p.get("SnapshotWindow", "05:00-06:00")
    if not _WINDOW.match(window):
        raise _invalid(f"Invalid snapshot window: {window}")
    maint = p.get("PreferredMaintenanceWindow", "sun:23:00-mon:01:30").lower()
    if not _MAINT.match(maint):
        raise _invalid(f"Invalid maintenance window: {maint}")
    retention = p.get("SnapshotRetentionLimit", 0)
    if not 0 <= retention <= 35:
        raise _invalid(f"SnapshotRetentionLimit must be between 0 and 35, got {retention}")
    version = p.get("EngineVersion", "7.1")
    if not re.match(r"^(6\.[02x]|7\.[01]|7\.1\.\d+|6\.2\.\d+)$", version):
        raise _invalid(f"Cannot find version {version} for redis")
    label = ctx.store.scratch("elasticache", "dns-label", lambda: {"v": new_name_id(6, "abcdefghijklmnopqrstuvwxyz0123456789")})
    group = {
        "ReplicationGroupId": ident,
        "Description": p["ReplicationGroupDescription"],
        "Status": "creating",
        "PendingModifiedValues": {},
        "MemberClusters": [],
        "AutomaticFailover": "enabled" if auto else "disabled",
        "MultiAZ": "enabled" if multi else "disabled",
        "SnapshotRetentionLimit": retention,
        "SnapshotWindow": window,
        "ClusterEnabled": False,
        "CacheNodeType": node_type,
        "AuthTokenEnabled": "AuthToken" in p,
        "TransitEncryptionEnabled": transit,
        "AtRestEncryptionEnabled": at_rest,
        "ARN": ctx.arn("elasticache", f"replicationgroup:{ident}"),
        "ReplicationGroupCreateTime": ctx.now().replace(microsecond=0),
        "DataTiering": "disabled",
        "AutoMinorVersionUpgrade": p.get("AutoMinorVersionUpgrade", True),
        "NetworkType": "ipv4",
        "IpDiscovery": "ipv4",
        "_engine_version": version,
        "_maintenance": maint,
        "_parameter_group": p.get("CacheParameterGroupName") or f"default.redis{version.split('.')[0]}",
        "_subnet_group": subnet_group["CacheSubnetGroupName"],
        "_security_groups": sgs,
        "_port": p.get("Port", 6379),
        "_dns": f"{label['v']}.{_region_short(ctx.region)}.cache.amazonaws.com",
        "_auth": [p["AuthToken"]] if "AuthToken" in p else [],
        "_tags": _tag_list(p.get("Tags")),
    }
    if "AuthToken" in p:
        group["AuthTokenLastModifiedDate"] = ctx.now().replace(microsecond=0)
    if p.get("KmsKeyId"):
        group["KmsKeyId"] = p["KmsKeyId"]
    _add_nodes(ctx, group, nodes, preferred or zones)
    start_lifecycle(group, "Status", "creating", "available", ctx.settle)
    _groups(ctx)[ident] = group
    return {"ReplicationGroup": _render(ctx, group)}


def _advance(ctx, group):
    if advance(group):
        for cid in group["MemberClusters"]:
            _drop_node(ctx, cid)
        del _groups(ctx)[group["ReplicationGroupId"]]
        return False
    return True


@service.op("DescribeReplicationGroups")
def describe_replication_groups(ctx, p):
    if p.get("ReplicationGroupId"):
        group = _lookup(ctx, p["ReplicationGroupId"])
        if not _advance(ctx, group):
            raise _not_found(p["ReplicationGroupId"])
        return {"ReplicationGroups": [_render(ctx, group)]}
    live = [g for g in list(_groups(ctx).values()) if _advance(ctx, g)]
    page, marker = ctx.page(live, key=lambda g: g["ReplicationGroupId"], token=p.get("Marker"),
                            limit=p.get("MaxRecords"), token_error=("InvalidParameterValue", 400))
    out = {"ReplicationGroups": [_render(ctx, g) for g in page]}
    if marker:
        out["Marker"] = marker
    return out


def _require_available(group):
    if group["Status"] != "available":
        raise service.fault("InvalidReplicationGroupStateFault",
                            f"Replication group must be in available state to modify (it is {group['Status']}).")


@service.op("ModifyReplicationGroup")
def modify_replication_group(ctx, p):
    group = _lookup(ctx, p["ReplicationGroupId"])
    _require_available(group)
    unserved = [k for k in ("PrimaryClusterId", "SnapshottingClusterId", "NodeGroupId", "CacheSecurityGroupNames",
                            "NotificationTopicArn", "NotificationTopicStatus", "UserGroupIdsToAdd",
                            "UserGroupIdsToRemove", "RemoveUserGroups", "LogDeliveryConfigurations") if k in p]
    if unserved:
        raise _invalid(f"fakeaws does not serve these ModifyReplicationGroup members: {', '.join(unserved)}")
    auto, multi = _failover(p, group, len(group["MemberClusters"]))
    if "CacheNodeType" in p and not _NODE_TYPE.match(p["CacheNodeType"]):
        raise _invalid(f"Invalid CacheNodeType: {p['CacheNodeType']}")
    strategy = p.get("AuthTokenUpdateStrategy")
    if strategy and strategy not in ("SET", "ROTATE", "DELETE"):
        raise _invalid(f"Invalid AuthTokenUpdateStrategy: {strategy}")
    if "AuthToken" in p or strategy:
        if not group["TransitEncryptionEnabled"]:
            raise _invalid("The AUTH token is only supported when encryption-in-transit is enabled")
        if strategy == "DELETE":
            if "AuthToken" in p:
                raise _combination("AuthToken must not be given with the DELETE strategy")
        else:
            if "AuthToken" not in p:
                raise _combination("AuthToken is required with the SET and ROTATE strategies")
            _check_token(p["AuthToken"])
        if not p.get("ApplyImmediately"):
            raise _combination("Changing the AUTH token requires ApplyImmediately")
    if "SnapshotWindow" in p and not _WINDOW.match(p["SnapshotWindow"]):
        raise _invalid(f"Invalid snapshot window: {p['SnapshotWindow']}")
    if "PreferredMaintenanceWindow" in p and not _MAINT.match(p["PreferredMaintenanceWindow"].lower()):
        raise _invalid(f"Invalid maintenance window: {p['PreferredMaintenanceWindow']}")
    if "SnapshotRetentionLimit" in p and not 0 <= p["SnapshotRetentionLimit"] <= 35:
        raise _invalid(f"SnapshotRetentionLimit must be between 0 and 35, got {p['SnapshotRetentionLimit']}")
    sgs = None
    if "SecurityGroupIds" in p:
        sgs = _security_groups(ctx, p["SecurityGroupIds"], _subnet_group(ctx, group["_subnet_group"])["VpcId"])
    # every check passed: apply
    group["AutomaticFailover"] = "enabled" if auto else "disabled"
    group["MultiAZ"] = "enabled" if multi else "disabled"
    for member, field in (("ReplicationGroupDescription", "Description"), ("CacheNodeType", "CacheNodeType"),
                          ("SnapshotRetentionLimit", "SnapshotRetentionLimit"), ("SnapshotWindow", "SnapshotWindow"),
                          ("AutoMinorVersionUpgrade", "AutoMinorVersionUpgrade"), ("EngineVersion", "_engine_version"),
                          ("CacheParameterGroupName", "_parameter_group")):
        if member in p:
            group[field] = p[member]
    if "PreferredMaintenanceWindow" in p:
        group["_maintenance"] = p["PreferredMaintenanceWindow"].lower()
    if sgs is not None:
        group["_security_groups"] = sgs
    if "AuthToken" in p or strategy:
        strategy = strategy or "ROTATE"
        if strategy == "DELETE":
            group["_auth"] = []
        elif strategy == "SET":
            group["_auth"] = [p["AuthToken"]]
        else:
            group["_auth"] = (group["_auth"] + [p["AuthToken"]])[-2:]
        group["AuthTokenEnabled"] = bool(group["_auth"])
        group["AuthTokenLastModifiedDate"] = ctx.now().replace(microsecond=0)
    for cid in group["MemberClusters"]:
        c = _clusters(ctx)[cid]
        c["CacheNodeType"] = group["CacheNodeType"]
        c["SecurityGroups"] = [dict(s) for s in group["_security_groups"]]
        data_enis.set_groups(ctx, c.get("_eni"), [g["SecurityGroupId"] for g in group["_security_groups"]])
    start_lifecycle(group, "Status", "modifying", "available", ctx.settle)
    return {"ReplicationGroup": _render(ctx, group)}


def _replica_count(ctx, p, increase):
    group = _lookup(ctx, p["ReplicationGroupId"])
    _require_available(group)
    if not p["ApplyImmediately"]:
        raise _invalid("ApplyImmediately must be true to change the replica count")
    if p.get("ReplicaConfiguration") or p.get("ReplicasToRemove"):
        raise _invalid("fakeaws serves NewReplicaCount only (cluster mode disabled)")
    if "NewReplicaCount" not in p:
        raise _invalid("NewReplicaCount is required")
    now = len(group["MemberClusters"]) - 1
    new = p["NewReplicaCount"]
    if increase and not now < new <= 5:
        raise _invalid(f"NewReplicaCount must be greater than the current count ({now}) and at most 5")
    if not increase:
        if not 0 <= new < now:
            raise _invalid(f"NewReplicaCount must be smaller than the current count ({now})")
        if new < 1 and group["AutomaticFailover"] == "enabled":
            raise _combination("Cannot have fewer than 1 replica while automatic failover is enabled")
    if increase:
        zones = [s["SubnetAvailabilityZone"]["Name"] for s in _subnet_group(ctx, group["_subnet_group"])["Subnets"]]
        _add_nodes(ctx, group, new - now, zones)
    else:
        replicas = [cid for cid in group["MemberClusters"] if not _clusters(ctx)[cid]["_primary"]]
        for cid in replicas[new - now:]:
            group["MemberClusters"].remove(cid)
            _drop_node(ctx, cid)
    start_lifecycle(group, "Status", "modifying", "available", ctx.settle)
    return {"ReplicationGroup": _render(ctx, group)}


@service.op("IncreaseReplicaCount")
def increase_replica_count(ctx, p):
    return _replica_count(ctx, p, True)


@service.op("DecreaseReplicaCount")
def decrease_replica_count(ctx, p):
    return _replica_count(ctx, p, False)


@service.op("DeleteReplicationGroup")
def delete_replication_group(ctx, p):
    group = _lookup(ctx, p["ReplicationGroupId"])
    if group["Status"] not in ("available", "create-failed", "snapshotting"):
        raise service.fault("InvalidReplicationGroupStateFault",
                            f"Replication group {group['ReplicationGroupId']} is not in a state that allows "
                            f"deletion ({group['Status']}).")
    if p.get("RetainPrimaryCluster"):
        raise _invalid("fakeaws does not serve RetainPrimaryCluster")
    if p.get("FinalSnapshotIdentifier"):
        snaps = ctx.store.table("elasticache", "snapshot")
        name = p["FinalSnapshotIdentifier"]
        if name in snaps:
            raise service.fault("SnapshotAlreadyExistsFault", f"Snapshot {name} already exists.")
        snaps[name] = {"SnapshotName": name, "ReplicationGroupId": group["ReplicationGroupId"],
                       "SnapshotStatus": "available", "SnapshotSource": "manual",
                       "CacheNodeType": group["CacheNodeType"], "Engine": "redis",
                       "ARN": ctx.arn("elasticache", f"snapshot:{name}")}
    group.pop("_life", None)
    start_lifecycle(group, "Status", "deleting", None, ctx.settle)
    return {"ReplicationGroup": _render(ctx, group)}


@service.op("DescribeCacheClusters")
def describe_cache_clusters(ctx, p):
    for g in list(_groups(ctx).values()):
        _advance(ctx, g)
    clusters = list(_clusters(ctx).values())
    if p.get("CacheClusterId"):
        clusters = [c for c in clusters if c["CacheClusterId"] == p["CacheClusterId"].lower()]
        if not clusters:
            raise service.fault("CacheClusterNotFoundFault", f"CacheCluster not found: {p['CacheClusterId']}")
    if p.get("ShowCacheClustersNotInReplicationGroups"):
        clusters = []
    page, marker = ctx.page(clusters, key=lambda c: c["CacheClusterId"], token=p.get("Marker"),
                            limit=p.get("MaxRecords"), token_error=("InvalidParameterValue", 400))
    rows = []
    for c in page:
        row = public(c)
        if p.get("ShowCacheNodeInfo"):
            group = _groups(ctx)[c["ReplicationGroupId"]]
            row["CacheNodes"] = [{"CacheNodeId": "0001", "CacheNodeStatus": "available",
                                  "CacheNodeCreateTime": c["CacheClusterCreateTime"],
                                  "Endpoint": {"Address": f"{c['CacheClusterId']}.{group['_dns']}",
                                               "Port": group["_port"]},
                                  "ParameterGroupStatus": "in-sync",
                                  "CustomerAvailabilityZone": c["PreferredAvailabilityZone"]}]
        rows.append(row)
    out = {"CacheClusters": rows}
    if marker:
        out["Marker"] = marker
    return out


# -- tags ------------------------------------------------------------------------------

def _tagged(ctx, arn):
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "elasticache":
        raise service.fault("InvalidARNFault", f"Invalid ARN: {arn}")
    kind, name = parts[5], parts[6]
    if kind == "replicationgroup":
        return _lookup(ctx, name)
    if kind == "subnetgroup":
        return _subnet_group(ctx, name)
    if kind == "cluster":
        c = _clusters(ctx).get(name)
        if c is None:
            raise service.fault("CacheClusterNotFoundFault", f"CacheCluster not found: {name}")
        return c
    raise service.fault("InvalidARNFault", f"fakeaws does not tag ElastiCache resources of type {kind}")


@service.op("AddTagsToResource")
def add_tags_to_resource(ctx, p):
    obj = _tagged(ctx, p["ResourceName"])
    tags = {t["Key"]: t["Value"] for t in obj.setdefault("_tags", [])}
    for t in p["Tags"]:
        if t.get("Key", "").startswith("aws:"):
            raise service.fault("InvalidParameterValueException", "Tag keys starting with 'aws:' are reserved")
        tags[t["Key"]] = t.get("Value", "")
    if len(tags) > 50:
        raise service.fault("TagQuotaPerResourceExceeded", "A resource holds at most 50 tags")
    obj["_tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return {"TagList": [dict(t) for t in obj["_tags"]]}


@service.op("RemoveTagsFromResource")
def remove_tags_from_resource(ctx, p):
    obj = _tagged(ctx, p["ResourceName"])
    tags = obj.setdefault("_tags", [])
    missing = [k for k in p["TagKeys"] if k not in {t["Key"] for t in tags}]
    if missing:
        raise service.fault("TagNotFoundFault", f"Tag not found: {missing[0]}")
    obj["_tags"] = [t for t in tags if t["Key"] not in set(p["TagKeys"])]
    return {"TagList": [dict(t) for t in obj["_tags"]]}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    obj = _tagged(ctx, p["ResourceName"])
    return {"TagList": [dict(t) for t in obj.get("_tags", [])]}
