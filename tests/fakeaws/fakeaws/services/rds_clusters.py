"""RDS, Aurora side: DB cluster parameter groups (a small catalogue of real
parameters per family, static/dynamic apply types), DB clusters and their
snapshots. Shares the `rds` service of rds.py; instances are in rds_instances.py,
tags in rds_tags.py.

Behaviour kept from AWS: identifiers are checked and kept lower-case; a
cluster goes creating -> available over describes, modifying -> available
after a change, deleting -> gone; a change needs an available cluster
(InvalidDBClusterStateFault); DeleteDBCluster refuses while deletion
protection is on (InvalidParameterCombination) or while instances remain, and
takes the final snapshot named by FinalDBSnapshotIdentifier unless
SkipFinalSnapshot (a snapshot creating -> available, kept after the cluster is
gone); a parameter group in use cannot be deleted; a static parameter cannot be
applied "immediate". The master password is kept out of every answer and of
the state dump (held as `_password` for the Python tests)."""
import re
import secrets

from ..errors import AWSError
from ..state import advance, new_name_id, public, start_lifecycle
from .rds import service

# -- shared by rds_instances.py and rds_tags.py ---------------------------------------

_IDENT = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_BACKUP_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_MAINT_WINDOW = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)-"
                           r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)$")
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def invalid(message):
    return AWSError("InvalidParameterValue", message, 400)


def combination(message):
    return AWSError("InvalidParameterCombination", message, 400)


def check_identifier(value, what, max_len=63):
    """RDS identifiers: a letter first, letters, digits and single hyphens, no
    trailing hyphen, at most max_len; AWS keeps them lower-case."""
    ident = value.lower()
    if not (1 <= len(ident) <= max_len) or not _IDENT.match(ident):
        raise invalid(f"The parameter {what} is not a valid identifier. Identifiers must begin with a letter; "
                      "must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or "
                      f"contain two consecutive hyphens: {value}")
    return ident


def check_password(value, what="MasterUserPassword"):
    if not 8 <= len(value) <= 41:
        raise invalid(f"The parameter {what} is not a valid password because it is shorter than 8 characters "
                      "or longer than 41.")
    if any(c in value for c in '/"@ ') or any(not (32 < ord(c) < 127) for c in value):
        raise invalid(f"The parameter {what} is not a valid password. Only printable ASCII characters besides "
                      "'/', '@', '\"', ' ' may be used.")


def _minutes(day, hh, mm):
    return day * 1440 + int(hh) * 60 + int(mm)


def backup_window(value):
    """"hh24:mi-hh24:mi", at least 30 minutes -> (start, end) in minutes of the day."""
    m = _BACKUP_WINDOW.match(value)
    if not m:
        raise invalid(f"The backup window must be in the format hh24:mi-hh24:mi: {value}")
    start, end = _minutes(0, m[1], m[2]), _minutes(0, m[3], m[4])
    length = (end - start) % 1440
    if length < 30:
        raise invalid(f"The backup window must be at least 30 minutes: {value}")
    return start, start + length


def maintenance_window(value):
    """"ddd:hh24:mi-ddd:hh24:mi", at least 30 minutes -> (start, end) in minutes of the week."""
    m = _MAINT_WINDOW.match(value.lower())
    if not m:
        raise invalid(f"The maintenance window must be in the format ddd:hh24:mi-ddd:hh24:mi: {value}")
    start = _minutes(_DAYS.index(m[1]), m[2], m[3])
    end = _minutes(_DAYS.index(m[4]), m[5], m[6])
    length = (end - start) % (7 * 1440)
    if length < 30:
        raise invalid(f"The maintenance window must be at least 30 minutes: {value}")
    return start, start + length


def check_windows(backup, maintenance):
    """The backup window must not overlap the maintenance window (any day)."""
    if not backup or not maintenance:
        return
    b0, b1 = backup_window(backup)
    m0, m1 = maintenance_window(maintenance)
    for day in range(-1, 8):
        s, e = b0 + day * 1440, b1 + day * 1440
        if s < m1 and m0 < e:
            raise invalid(f"The backup window and maintenance window must not overlap: {backup} / {maintenance}")


def security_groups(ctx, ids, vpc_id):
    groups = ctx.store.table("ec2", "security-group")
    out = []
    for gid in dict.fromkeys(ids or []):
        group = groups.get(gid)
        if group is None:
            raise invalid(f"Invalid security group, groupId= {gid}, groupName=null.")
        if group["VpcId"] != vpc_id:
            raise invalid(f"The DB subnet group's VPC {vpc_id} does not hold the security group {gid} "
                          f"(it is in {group['VpcId']}).")
        out.append({"VpcSecurityGroupId": gid, "Status": "active"})
    return out


def subnet_group(ctx, name):
    groups = ctx.store.table("rds", "db-subnet-group")
    group = groups.get(name.lower())
    if group is None:
        raise service.fault("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {name} not found.")
    return group


def tag_list(tags):
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags or []]


def endpoint_suffix(ctx):
    """The per-account random label in RDS host names (c9akciq32.rclb)."""
    label = ctx.store.scratch("rds", "dns-label", lambda: {"v": new_name_id(12, "abcdefghijklmnopqrstuvwxyz0123456789")})
    return f"{label['v']}.{ctx.region}.rds.amazonaws.com"


def kms_default(ctx):
    return ctx.arn("kms", "key/" + ctx.store.scratch("rds", "aws-rds-key", lambda: {"id": _uuid()})["id"])


def _uuid():
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


ENGINES = {
    "aurora-mysql": {"port": 3306, "version": "8.0.mysql_aurora.3.04.0", "families": {
        "5.7": "aurora-mysql5.7", "8.0": "aurora-mysql8.0"}},
    "aurora-postgresql": {"port": 5432, "version": "15.4", "families": {
        "13": "aurora-postgresql13", "14": "aurora-postgresql14", "15": "aurora-postgresql15"}},
}


def family_of(engine, version):
    info = ENGINES[engine]
    if engine == "aurora-mysql":
        major = "5.7" if version.startswith("5.7") else "8.0"
    else:
        major = version.split(".")[0]
    return info["families"].get(major)


# -- parameter groups ------------------------------------------------------------------

def _p(name, apply_type, data_type, allowed=None, default=None, modifiable=True):
    out = {"ParameterName": name, "Description": name.replace("_", " "), "Source": "engine-default",
           "ApplyType": apply_type, "DataType": data_type, "IsModifiable": modifiable,
           "ApplyMethod": "pending-reboot"}
    if allowed is not None:
        out["AllowedValues"] = allowed
    if default is not None:
        out["ParameterValue"] = default
    return out


_MYSQL_PARAMETERS = [
    _p("aurora_parallel_query", "dynamic", "boolean", "0,1", "0"),
    _p("binlog_format", "static", "string", "ROW,STATEMENT,MIXED,OFF", "OFF"),
    _p("character_set_client", "dynamic", "string", "big5,latin1,utf8,utf8mb4"),
    _p("character_set_connection", "dynamic", "string", "big5,latin1,utf8,utf8mb4"),
    _p("character_set_database", "dynamic", "string", "big5,latin1,utf8,utf8mb4"),
    _p("character_set_results", "dynamic", "string", "big5,latin1,utf8,utf8mb4"),
    _p("character_set_server", "dynamic", "string", "big5,latin1,utf8,utf8mb4"),
    _p("collation_connection", "dynamic", "string", None),
    _p("collation_server", "dynamic", "string", None),
    _p("innodb_file_per_table", "dynamic", "boolean", "0,1", "1"),
    _p("lower_case_table_names", "static", "integer", "0,1", "0"),
    _p("max_allowed_packet", "dynamic", "integer", "1024-1073741824"),
    _p("require_secure_transport", "dynamic", "boolean", "0,1,OFF,ON", "OFF"),
    _p("server_audit_logging", "dynamic", "boolean", "0,1", "0"),
    _p("slow_query_log", "dynamic", "boolean", "0,1"),
    _p("long_query_time", "dynamic", "float", "0-31536000"),
    _p("time_zone", "dynamic", "string", "UTC,Europe/Paris,US/Eastern,US/Pacific", "UTC"),
    _p("tls_version", "static", "string", "TLSv1.2,TLSv1.3,TLSv1.2,TLSv1.3"),
    _p("basedir", "static", "string", None, "/rdsdbbin/mysql", modifiable=False),
]

_POSTGRES_PARAMETERS = [
    _p("rds.force_ssl", "dynamic", "boolean", "0,1", "0"),
    _p("timezone", "dynamic", "string", None, "UTC"),
    _p("log_statement", "dynamic", "string", "none,ddl,mod,all", "none"),
    _p("shared_preload_libraries", "static", "list", "pg_stat_statements,pg_cron", "pg_stat_statements"),
]

FAMILIES = {f: (_MYSQL_PARAMETERS if f.startswith("aurora-mysql") else _POSTGRES_PARAMETERS)
            for info in ENGINES.values() for f in info["families"].values()}


def _pgroups(ctx):
    return ctx.store.table("rds", "db-cluster-parameter-group")


def _pg_not_found(name):
    return service.fault("DBClusterParameterGroupNotFoundFault",
                         f"DBClusterParameterGroup not found: {name}")


def parameter_group(ctx, name):
    group = _pgroups(ctx).get(name.lower())
    if group is None:
        raise _pg_not_found(name)
    return group


def _default_group(ctx, family):
    """default.<family>, made on first use as AWS has it in every account."""
    name = f"default.{family}"
    groups = _pgroups(ctx)
    if name not in groups:
        groups[name] = {"DBClusterParameterGroupName": name, "DBParameterGroupFamily": family,
                        "Description": f"Default cluster parameter group for {family}",
                        "DBClusterParameterGroupArn": ctx.arn("rds", f"cluster-pg:{name}"),
                        "_values": {}, "_tags": []}
    return groups[name]


@service.op("CreateDBClusterParameterGroup")
def create_db_cluster_parameter_group(ctx, p):
    name = check_identifier(p["DBClusterParameterGroupName"], "DBClusterParameterGroupName", 255)
    family = p["DBParameterGroupFamily"]
    if family not in FAMILIES:
        raise invalid(f"Invalid DB parameter group family: {family} (families: {', '.join(sorted(FAMILIES))})")
    if name in _pgroups(ctx):
        raise service.fault("DBParameterGroupAlreadyExistsFault",
                            f"Parameter group {name} already exists")
    group = {"DBClusterParameterGroupName": name, "DBParameterGroupFamily": family,
             "Description": p["Description"], "DBClusterParameterGroupArn": ctx.arn("rds", f"cluster-pg:{name}"),
             "_values": {}, "_tags": tag_list(p.get("Tags"))}
    _pgroups(ctx)[name] = group
    return {"DBClusterParameterGroup": public(group)}


@service.op("DescribeDBClusterParameterGroups")
def describe_db_cluster_parameter_groups(ctx, p):
    if p.get("Filters"):
        raise invalid("Filters are not supported for DescribeDBClusterParameterGroups")
    if p.get("DBClusterParameterGroupName"):
        return {"DBClusterParameterGroups": [public(parameter_group(ctx, p["DBClusterParameterGroupName"]))]}
    page, marker = ctx.page(list(_pgroups(ctx).values()), key=lambda g: g["DBClusterParameterGroupName"],
                            token=p.get("Marker"), limit=p.get("MaxRecords"),
                            token_error=("InvalidParameterValue", 400))
    out = {"DBClusterParameterGroups": [public(g) for g in page]}
    if marker:
        out["Marker"] = marker
    return out


def _catalogue(group):
    return {prm["ParameterName"]: prm for prm in FAMILIES[group["DBParameterGroupFamily"]]}


def _check_parameters(group, params):
    if not 1 <= len(params) <= 20:
        raise invalid("A request modifies or resets between 1 and 20 parameters, got %d" % len(params))
    known = _catalogue(group)
    for prm in params:
        name = prm.get("ParameterName")
        if not name or name not in known:
            raise invalid(f"Could not find parameter with name: {name}")
        spec = known[name]
        if not spec["IsModifiable"]:
            raise invalid(f"The parameter {name} cannot be modified.")
        method = prm.get("ApplyMethod")
        if method not in ("immediate", "pending-reboot"):
            raise invalid(f"The ApplyMethod of parameter {name} must be immediate or pending-reboot, got {method}")
        if method == "immediate" and spec["ApplyType"] == "static":
            raise combination(f"cannot use immediate apply method for static parameter {name}")
    return known


@service.op("ModifyDBClusterParameterGroup")
def modify_db_cluster_parameter_group(ctx, p):
    group = parameter_group(ctx, p["DBClusterParameterGroupName"])
    if group["DBClusterParameterGroupName"].startswith("default."):
        raise invalid("Default parameter groups cannot be modified")
    known = _check_parameters(group, p["Parameters"])
    for prm in p["Parameters"]:
        if "ParameterValue" not in prm:
            raise invalid(f"A value is required for parameter {prm['ParameterName']}")
        allowed = known[prm["ParameterName"]].get("AllowedValues")
        if allowed and "," in allowed and prm["ParameterValue"] not in allowed.split(","):
            raise invalid(f"Value: {prm['ParameterValue']} is not in the allowed values of "
                          f"{prm['ParameterName']}: {allowed}")
    for prm in p["Parameters"]:
        group["_values"][prm["ParameterName"]] = (prm["ParameterValue"], prm["ApplyMethod"])
    return {"DBClusterParameterGroupName": group["DBClusterParameterGroupName"]}


@service.op("ResetDBClusterParameterGroup")
def reset_db_cluster_parameter_group(ctx, p):
    group = parameter_group(ctx, p["DBClusterParameterGroupName"])
    if p.get("ResetAllParameters") and p.get("Parameters"):
        raise combination("Give ResetAllParameters or Parameters, not both")
    if p.get("ResetAllParameters"):
        group["_values"].clear()
    else:
        if not p.get("Parameters"):
            raise combination("Give ResetAllParameters or a list of Parameters")
        _check_parameters(group, p["Parameters"])
        for prm in p["Parameters"]:
            group["_values"].pop(prm["ParameterName"], None)
    return {"DBClusterParameterGroupName": group["DBClusterParameterGroupName"]}


@service.op("DescribeDBClusterParameters")
def describe_db_cluster_parameters(ctx, p):
    group = parameter_group(ctx, p["DBClusterParameterGroupName"])
    if p.get("Filters"):
        raise invalid("Filters are not supported for DescribeDBClusterParameters")
    source = p.get("Source")
    if source not in (None, "user", "engine-default", "system"):
        raise invalid(f"Invalid source: {source} (user, engine-default, system)")
    rows = []
    for spec in FAMILIES[group["DBParameterGroupFamily"]]:
        row = dict(spec)
        if spec["ParameterName"] in group["_values"]:
            row["ParameterValue"], row["ApplyMethod"] = group["_values"][spec["ParameterName"]]
            row["Source"] = "user"
        elif not spec["IsModifiable"]:
            row["Source"] = "system"
        if source is None or row["Source"] == source:
            rows.append(row)
    page, marker = ctx.page(rows, key=lambda r: r["ParameterName"], token=p.get("Marker"),
                            limit=p.get("MaxRecords"), token_error=("InvalidParameterValue", 400))
    out = {"Parameters": page}
    if marker:
        out["Marker"] = marker
    return out


@service.op("DeleteDBClusterParameterGroup")
def delete_db_cluster_parameter_group(ctx, p):
    group = parameter_group(ctx, p["DBClusterParameterGroupName"])
    name = group["DBClusterParameterGroupName"]
    if name.startswith("default."):
        raise service.fault("InvalidDBParameterGroupStateFault", "Default parameter groups cannot be deleted")
    users = [c["DBClusterIdentifier"] for c in clusters(ctx).values() if c["DBClusterParameterGroup"] == name]
    if users:
        raise service.fault("InvalidDBParameterGroupStateFault",
                            f"One or more database instances are still members of this parameter group {name}, "
                            f"so the group cannot be deleted ({', '.join(users)})")
    del _pgroups(ctx)[name]
    return {}


# -- clusters --------------------------------------------------------------------------

def clusters(ctx):
    return ctx.store.table("rds", "db-cluster")


def snapshots(ctx):
    return ctx.store.table("rds", "db-cluster-snapshot")


def cluster_not_found(ident):
    return service.fault("DBClusterNotFoundFault", f"DBCluster {ident} not found.")


def settled_cluster(ctx, ident):
    """The cluster (moved on by one describe, as a describe would): NotFound when gone."""
    table = clusters(ctx)
    key = ident.lower()
    if key.startswith("arn:"):
        key = key.rsplit(":", 1)[-1]
    cluster = table.get(key)
    if cluster is None:
        raise cluster_not_found(ident)
    return cluster


def _advance_cluster(ctx, cluster):
    """-> False when the cluster is gone (and removes it)."""
    if advance(cluster):
        del clusters(ctx)[cluster["DBClusterIdentifier"]]
        return False
    return True


def _view_cluster(ctx, cluster):
    out = public(cluster)
    out["DBClusterMembers"] = [public(m) for m in cluster["DBClusterMembers"]]
    return out


def _check_retention(value, low=1):
    if value is not None and not low <= value <= 35:
        raise invalid(f"Invalid backup retention period: {value} (must be between {low} and 35 days)")


def _window_defaults(p, cluster=None):
    backup = p.get("PreferredBackupWindow") or (cluster or {}).get("PreferredBackupWindow") or "07:00-07:30"
    maint = p.get("PreferredMaintenanceWindow") or (cluster or {}).get("PreferredMaintenanceWindow") \
        or "sun:05:00-sun:05:30"
    backup_window(backup)
    maintenance_window(maint)
    check_windows(backup, maint)
    return backup, maint.lower()


_LOG_TYPES = {"aurora-mysql": {"audit", "error", "general", "slowquery"}, "aurora-postgresql": {"postgresql"}}


def _check_logs(engine, logs):
    bad = [t for t in logs or [] if t not in _LOG_TYPES[engine]]
    if bad:
        raise invalid(f"You cannot use the log types {bad} with engine {engine}")


@service.op("CreateDBCluster")
def create_db_cluster(ctx, p):
    ident = check_identifier(p["DBClusterIdentifier"], "DBClusterIdentifier")
    engine = p["Engine"]
    if engine not in ENGINES:
        raise invalid(f"Invalid DB engine: {engine} (fakeaws serves Aurora clusters: {', '.join(ENGINES)})")
    if ident in clusters(ctx):
        raise service.fault("DBClusterAlreadyExistsFault", "DB Cluster already exists")
    if p.get("EngineMode", "provisioned") != "provisioned":
        raise invalid("fakeaws serves provisioned Aurora clusters only")
    version = p.get("EngineVersion") or ENGINES[engine]["version"]
    family = family_of(engine, version)
    if family is None:
        raise invalid(f"Cannot find version {version} for {engine}")
    if not p.get("MasterUsername"):
        raise invalid("The parameter MasterUsername must be provided and must not be blank.")
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9_]{0,15}$", p["MasterUsername"]):
        raise invalid("MasterUsername must be 1 to 16 letters, digits or underscores, starting with a letter.")
    if p["MasterUsername"].lower() in ("rdsadmin", "mysql", "postgres"):
        raise invalid(f"MasterUsername {p['MasterUsername']} cannot be used as it is a reserved word used by the "
                      "engine")
    if "MasterUserPassword" not in p:
        raise invalid("The parameter MasterUserPassword must be provided and must not be blank.")
    check_password(p["MasterUserPassword"])
    db_name = p.get("DatabaseName")
    if db_name is not None and not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", db_name):
        raise invalid(f"DatabaseName must begin with a letter and contain only letters, digits and underscores "
                      f"(at most 64): {db_name}")
    _check_retention(p.get("BackupRetentionPeriod"))
    backup, maint = _window_defaults(p)
    if not p.get("DBSubnetGroupName"):
        raise invalid("fakeaws needs a DBSubnetGroupName (there is no default VPC)")
    group = subnet_group(ctx, p["DBSubnetGroupName"])
    vpc_sgs = security_groups(ctx, p.get("VpcSecurityGroupIds"), group["VpcId"])
    if not vpc_sgs:
        default = [g for g in ctx.store.table("ec2", "security-group").values()
                   if g["VpcId"] == group["VpcId"] and g["GroupName"] == "default"]
        vpc_sgs = [{"VpcSecurityGroupId": g["GroupId"], "Status": "active"} for g in default]
    if p.get("DBClusterParameterGroupName"):
        pg = parameter_group(ctx, p["DBClusterParameterGroupName"])
        if pg["DBParameterGroupFamily"] != family:
            raise combination(f"The parameter group {pg['DBClusterParameterGroupName']} with DBParameterGroupFamily "
                              f"{pg['DBParameterGroupFamily']} cannot be used for this instance. Please use a "
                              f"Parameter Group with DBParameterGroupFamily {family}")
    else:
        pg = _default_group(ctx, family)
    encrypted = bool(p.get("StorageEncrypted", False))
    if p.get("KmsKeyId") and not encrypted:
        raise combination("KmsKeyId requires StorageEncrypted")
    _check_logs(engine, p.get("EnableCloudwatchLogsExports"))
    port = p.get("Port") or ENGINES[engine]["port"]
    if not 1150 <= port <= 65535:
        raise invalid(f"Invalid port {port}: must be between 1150 and 65535")
    azs = sorted({s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]})
    suffix = endpoint_suffix(ctx)
    cluster = {
        "AllocatedStorage": 1,
        "AvailabilityZones": azs[:3],
        "BackupRetentionPeriod": p.get("BackupRetentionPeriod", 1),
        "DBClusterIdentifier": ident,
        "DBClusterParameterGroup": pg["DBClusterParameterGroupName"],
        "DBSubnetGroup": group["DBSubnetGroupName"],
        "Status": "creating",
        "Endpoint": f"{ident}.cluster-{suffix}",
        "ReaderEndpoint": f"{ident}.cluster-ro-{suffix}",
        "MultiAZ": False,
        "Engine": engine,
        "EngineVersion": version,
        "Port": port,
        "MasterUsername": p["MasterUsername"],
        "PreferredBackupWindow": backup,
        "PreferredMaintenanceWindow": maint,
        "ReadReplicaIdentifiers": [],
        "DBClusterMembers": [],
        "VpcSecurityGroups": vpc_sgs,
        "HostedZoneId": "Z2R2ITUGPM61AM",
        "StorageEncrypted": encrypted,
        "DbClusterResourceId": "cluster-" + new_name_id(26),
        "DBClusterArn": ctx.arn("rds", f"cluster:{ident}"),
        "AssociatedRoles": [],
        "IAMDatabaseAuthenticationEnabled": bool(p.get("EnableIAMDatabaseAuthentication", False)),
        "ClusterCreateTime": ctx.now().replace(microsecond=0),
        "EngineMode": "provisioned",
        "DeletionProtection": bool(p.get("DeletionProtection", False)),
        "HttpEndpointEnabled": False,
        "CopyTagsToSnapshot": bool(p.get("CopyTagsToSnapshot", False)),
        "CrossAccountClone": False,
        "DomainMemberships": [],
        "TagList": tag_list(p.get("Tags")),
        "AutoMinorVersionUpgrade": True,
        "NetworkType": "IPV4",
        "_password": p["MasterUserPassword"],
    }
    if db_name is not None:
        cluster["DatabaseName"] = db_name
    if encrypted:
        cluster["KmsKeyId"] = p.get("KmsKeyId") or kms_default(ctx)
    if p.get("EnableCloudwatchLogsExports"):
        cluster["EnabledCloudwatchLogsExports"] = list(p["EnableCloudwatchLogsExports"])
    start_lifecycle(cluster, "Status", "creating", "available", ctx.settle)
    clusters(ctx)[ident] = cluster
    return {"DBCluster": _view_cluster(ctx, cluster)}


_CLUSTER_FILTERS = {
    "db-cluster-id": lambda c: [c["DBClusterIdentifier"], c["DBClusterArn"]],
    "db-cluster-resource-id": lambda c: [c["DbClusterResourceId"]],
    "engine": lambda c: [c["Engine"]],
}


def _filtered(items, filters, known):
    for f in filters or []:
        name = f["Name"]
        if name not in known:
            raise invalid(f"Unrecognized filter name: {name} (fakeaws knows {', '.join(sorted(known))})")
        wanted = set(f["Values"])
        items = [i for i in items if wanted & set(known[name](i))]
    return items


@service.op("DescribeDBClusters")
def describe_db_clusters(ctx, p):
    if p.get("DBClusterIdentifier"):
        cluster = settled_cluster(ctx, p["DBClusterIdentifier"])
        if not _advance_cluster(ctx, cluster):
            raise cluster_not_found(p["DBClusterIdentifier"])
        return {"DBClusters": [_view_cluster(ctx, cluster)]}
    live = [c for c in list(clusters(ctx).values()) if _advance_cluster(ctx, c)]
    live = _filtered(live, p.get("Filters"), _CLUSTER_FILTERS)
    page, marker = ctx.page(live, key=lambda c: c["DBClusterIdentifier"], token=p.get("Marker"),
                            limit=p.get("MaxRecords"), token_error=("InvalidParameterValue", 400))
    out = {"DBClusters": [_view_cluster(ctx, c) for c in page]}
    if marker:
        out["Marker"] = marker
    return out


def require_available(cluster):
    if cluster["Status"] != "available":
        raise service.fault("InvalidDBClusterStateFault",
                            f"DbCluster {cluster['DBClusterIdentifier']} is not in an available state "
                            f"(it is {cluster['Status']}).")


@service.op("ModifyDBCluster")
def modify_db_cluster(ctx, p):
    cluster = settled_cluster(ctx, p["DBClusterIdentifier"])
    require_available(cluster)
    unsupported = [k for k in ("NewDBClusterIdentifier", "ScalingConfiguration", "ServerlessV2ScalingConfiguration",
                               "Domain", "DBClusterInstanceClass", "AllocatedStorage", "StorageType", "Iops",
                               "EnableGlobalWriteForwarding", "DBInstanceParameterGroupName", "NetworkType",
                               "OptionGroupName", "BacktrackWindow") if k in p]
    if unsupported:
        raise invalid(f"fakeaws does not serve these ModifyDBCluster members: {', '.join(unsupported)}")
    _check_retention(p.get("BackupRetentionPeriod"))
    backup, maint = _window_defaults(p, cluster)
    if "MasterUserPassword" in p:
        check_password(p["MasterUserPassword"])
    group = subnet_group(ctx, cluster["DBSubnetGroup"])
    vpc_sgs = security_groups(ctx, p["VpcSecurityGroupIds"], group["VpcId"]) if "VpcSecurityGroupIds" in p else None
    pg = None
    if p.get("DBClusterParameterGroupName"):
        pg = parameter_group(ctx, p["DBClusterParameterGroupName"])
        if pg["DBParameterGroupFamily"] != family_of(cluster["Engine"], cluster["EngineVersion"]):
            raise combination(f"The parameter group {pg['DBClusterParameterGroupName']} does not match the engine "
                              f"version {cluster['EngineVersion']}")
    if p.get("EngineVersion") and family_of(cluster["Engine"], p["EngineVersion"]) is None:
        raise invalid(f"Cannot find upgrade target version {p['EngineVersion']} for {cluster['Engine']}")
    if p.get("EngineVersion") and family_of(cluster["Engine"], p["EngineVersion"]) != \
            family_of(cluster["Engine"], cluster["EngineVersion"]) and not p.get("AllowMajorVersionUpgrade"):
        raise combination("The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.")
    logs = p.get("CloudwatchLogsExportConfiguration")
    if logs:
        _check_logs(cluster["Engine"], (logs.get("EnableLogTypes") or []) + (logs.get("DisableLogTypes") or []))
    # every check passed: apply
    if "BackupRetentionPeriod" in p:
        cluster["BackupRetentionPeriod"] = p["BackupRetentionPeriod"]
    cluster["PreferredBackupWindow"], cluster["PreferredMaintenanceWindow"] = backup, maint
    if "MasterUserPassword" in p:
        cluster["_password"] = p["MasterUserPassword"]
    if vpc_sgs is not None:
        cluster["VpcSecurityGroups"] = vpc_sgs
        from .rds_instances import instances, set_groups   # (a cycle at import time otherwise)
        for m in cluster["DBClusterMembers"]:
            inst = instances(ctx).get(m["DBInstanceIdentifier"])
            if inst is not None:
                inst["VpcSecurityGroups"] = [dict(g) for g in vpc_sgs]
                set_groups(ctx, inst)
    if pg is not None:
        cluster["DBClusterParameterGroup"] = pg["DBClusterParameterGroupName"]
    if p.get("EngineVersion"):
        cluster["EngineVersion"] = p["EngineVersion"]
    for member, field in (("DeletionProtection", "DeletionProtection"), ("CopyTagsToSnapshot", "CopyTagsToSnapshot"),
                          ("EnableIAMDatabaseAuthentication", "IAMDatabaseAuthenticationEnabled"),
                          ("AutoMinorVersionUpgrade", "AutoMinorVersionUpgrade"), ("Port", "Port")):
        if member in p:
            cluster[field] = p[member]
    if logs:
        current = set(cluster.get("EnabledCloudwatchLogsExports") or [])
        current |= set(logs.get("EnableLogTypes") or [])
        current -= set(logs.get("DisableLogTypes") or [])
        cluster["EnabledCloudwatchLogsExports"] = sorted(current)
        if not current:
            cluster.pop("EnabledCloudwatchLogsExports")
    slow = {"MasterUserPassword": "resetting-master-credentials", "EngineVersion": "upgrading"}
    transitional = next((slow[k] for k in slow if k in p), "modifying")
    start_lifecycle(cluster, "Status", transitional, "available", ctx.settle)
    return {"DBCluster": _view_cluster(ctx, cluster)}


def make_snapshot(ctx, table, kind, ident, fields):
    """A manual snapshot creating -> available, for final snapshots."""
    snap = dict(fields)
    snap["SnapshotCreateTime"] = ctx.now().replace(microsecond=0)
    snap["SnapshotType"] = "manual"
    snap["PercentProgress"] = 0
    start_lifecycle(snap, "Status", "creating", "available", ctx.settle)
    table[ident] = snap
    return snap


@service.op("DeleteDBCluster")
def delete_db_cluster(ctx, p):
    cluster = settled_cluster(ctx, p["DBClusterIdentifier"])
    ident = cluster["DBClusterIdentifier"]
    if cluster["Status"] == "deleting":
        raise service.fault("InvalidDBClusterStateFault", f"Cluster {ident} is already being deleted.")
    if cluster["DeletionProtection"]:
        raise combination("Cannot delete protected Cluster, please disable deletion protection and try again.")
    live = [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"] if not m.get("_deleting")]
    if live:
        raise service.fault("InvalidDBClusterStateFault",
                            "Cluster cannot be deleted, it still contains DB instances in non-deleting state.")
    if cluster["Status"] not in ("available", "failed", "inaccessible-encryption-credentials",
                                 "incompatible-parameters"):
        raise service.fault("InvalidDBClusterStateFault",
                            f"DbCluster {ident} is not in a state that allows deletion ({cluster['Status']}).")
    skip = p.get("SkipFinalSnapshot", False)
    final = p.get("FinalDBSnapshotIdentifier")
    if skip and final:
        raise combination("FinalDBSnapshotIdentifier can not be specified when SkipFinalSnapshot is enabled")
    if not skip and not final:
        raise combination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
    if final:
        final = check_identifier(final, "FinalDBSnapshotIdentifier", 255)
        if final in snapshots(ctx):
            raise service.fault("DBClusterSnapshotAlreadyExistsFault",
                                f"Cannot create the cluster snapshot because one with the identifier {final} "
                                "already exists.")
        group = subnet_group(ctx, cluster["DBSubnetGroup"])
        make_snapshot(ctx, snapshots(ctx), "cluster", final, {
            "AvailabilityZones": list(cluster["AvailabilityZones"]),
            "DBClusterSnapshotIdentifier": final,
            "DBClusterIdentifier": ident,
            "Engine": cluster["Engine"],
            "EngineMode": "provisioned",
            "AllocatedStorage": cluster["AllocatedStorage"],
            "Port": cluster["Port"],
            "VpcId": group["VpcId"],
            "ClusterCreateTime": cluster["ClusterCreateTime"],
            "MasterUsername": cluster["MasterUsername"],
            "EngineVersion": cluster["EngineVersion"],
            "LicenseModel": cluster["Engine"],
            "StorageEncrypted": cluster["StorageEncrypted"],
            "KmsKeyId": cluster.get("KmsKeyId"),
            "DBClusterSnapshotArn": ctx.arn("rds", f"cluster-snapshot:{final}"),
            "IAMDatabaseAuthenticationEnabled": cluster["IAMDatabaseAuthenticationEnabled"],
            "TagList": [dict(t) for t in cluster["TagList"]] if cluster["CopyTagsToSnapshot"] else [],
        })
        if cluster.get("KmsKeyId") is None:
            snapshots(ctx)[final].pop("KmsKeyId")
    cluster.pop("_life", None)
    start_lifecycle(cluster, "Status", "deleting", None, ctx.settle)
    return {"DBCluster": _view_cluster(ctx, cluster)}


def _advance_snapshot(table, key_field, snap):
    if advance(snap):
        del table[snap[key_field]]
        return False
    if snap["Status"] == "available":
        snap["PercentProgress"] = 100
    return True


@service.op("DescribeDBClusterSnapshots")
def describe_db_cluster_snapshots(ctx, p):
    table = snapshots(ctx)
    if p.get("Filters"):
        raise invalid("Filters are not supported for DescribeDBClusterSnapshots")
    if p.get("DBClusterSnapshotIdentifier"):
        snap = table.get(p["DBClusterSnapshotIdentifier"].lower())
        if snap is None or not _advance_snapshot(table, "DBClusterSnapshotIdentifier", snap):
            raise service.fault("DBClusterSnapshotNotFoundFault",
                                f"DBClusterSnapshot {p['DBClusterSnapshotIdentifier']} not found.")
        return {"DBClusterSnapshots": [public(snap)]}
    live = [s for s in list(table.values()) if _advance_snapshot(table, "DBClusterSnapshotIdentifier", s)]
    if p.get("DBClusterIdentifier"):
        live = [s for s in live if s["DBClusterIdentifier"] == p["DBClusterIdentifier"].lower()]
    if p.get("SnapshotType"):
        live = [s for s in live if s["SnapshotType"] == p["SnapshotType"]]
    page, marker = ctx.page(live, key=lambda s: s["DBClusterSnapshotIdentifier"], token=p.get("Marker"),
                            limit=p.get("MaxRecords"), token_error=("InvalidParameterValue", 400))
    out = {"DBClusterSnapshots": [public(s) for s in page]}
    if marker:
        out["Marker"] = marker
    return out


@service.op("DeleteDBClusterSnapshot")
def delete_db_cluster_snapshot(ctx, p):
    table = snapshots(ctx)
    snap = table.get(p["DBClusterSnapshotIdentifier"].lower())
    if snap is None:
        raise service.fault("DBClusterSnapshotNotFoundFault",
                            f"DBClusterSnapshot {p['DBClusterSnapshotIdentifier']} not found.")
    if snap["Status"] != "available":
        raise service.fault("InvalidDBClusterSnapshotStateFault",
                            f"Cannot delete the snapshot because it is not in available state ({snap['Status']}).")
    del table[snap["DBClusterSnapshotIdentifier"]]
    out = public(snap)
    out["Status"] = "deleted"
    return {"DBClusterSnapshot": out}
