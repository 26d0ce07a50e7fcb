"""Auto Scaling (query): groups that launch instances from EC2 launch templates.

CreateAutoScalingGroup, UpdateAutoScalingGroup, DescribeAutoScalingGroups,
DeleteAutoScalingGroup, SetInstanceProtection, CreateOrUpdateTags, DeleteTags.

Groups live in ("autoscaling", "group"), keyed by name. A group keeps its
desired capacity: it launches instances (LifecycleState Pending -> InService
over describes) spread over the AZs of its subnets, each mirrored as an EC2
instance in ("ec2", "instance") (State pending -> running, shutting-down ->
terminated) carrying the group's propagated tags, and — when the launch
template's user data sets ECS_CLUSTER=<name> in /etc/ecs/ecs.config and that
cluster exists — registered as an ECS container instance of that cluster
(services/ecs_clusters.py). New instances carry NewInstancesProtectedFromScaleIn;
scaling in terminates only unprotected instances, so a group whose instances
are protected stays above its desired capacity. DeleteAutoScalingGroup refuses
a group that still holds instances (ResourceInUse) unless ForceDelete, which
terminates them all, protected or not; the group then shows Status "Delete in
progress" until it is gone."""
import re

from ..errors import AWSError
from ..state import advance, matches, new_id, start_lifecycle
from . import Service
from . import ec2_interfaces as interfaces
from . import ec2_launch_templates as templates

service = Service("autoscaling")

_ECS_CLUSTER = re.compile(r"^ECS_CLUSTER=([A-Za-z0-9_-]+)\s*$", re.M)


def _groups(ctx):
    return ctx.store.table("autoscaling", "group")


def _instances(ctx):
    return ctx.store.table("ec2", "instance")


def _validation(message):
    return AWSError("ValidationError", message, 400)


def _get(ctx, name):
    group = _groups(ctx).get(name)
    if group is None:
        raise _validation(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    return group


def _arn(ctx, name):
    return ctx.arn("autoscaling", f"autoScalingGroup:{new_id('', 8)}-{new_id('', 4)}-{new_id('', 4)}-"
                                  f"{new_id('', 4)}-{new_id('', 12)}:autoScalingGroupName/{name}")


def _subnets(ctx, identifier):
    ids = [s.strip() for s in (identifier or "").split(",") if s.strip()]
    if not ids:
        raise _validation("The subnet ID '' does not exist (VPCZoneIdentifier is required for a VPC group in "
                          "fakeaws)")
    table = ctx.store.table("ec2", "subnet")
    subnets = []
    for sid in ids:
        subnet = table.get(sid)
        if subnet is None:
            raise _validation(f"The subnet ID '{sid}' does not exist")
        subnets.append(subnet)
    if len({s["VpcId"] for s in subnets}) > 1:
        raise _validation("The subnets of an Auto Scaling group must all be in the same VPC")
    return subnets


def _check_sizes(min_size, max_size, desired):
    if min_size > max_size:
        raise _validation(f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    if desired is not None and not min_size <= desired <= max_size:
        raise _validation(f"Desired capacity:{desired} must be between the specified min size:{min_size} and "
                          f"max size:{max_size}")


def _tags_of(name, given):
    out = {}
    for t in given or []:
        if t.get("ResourceId") not in (None, name) or t.get("ResourceType", "auto-scaling-group") != \
                "auto-scaling-group":
            raise _validation(f"Invalid tag resource {t.get('ResourceType')}/{t.get('ResourceId')}")
        if t["Key"].lower().startswith("aws:"):
            raise _validation("Tag keys starting with 'aws:' are reserved for internal use")
        out[t["Key"]] = {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": t["Key"],
                         "Value": t.get("Value", ""), "PropagateAtLaunch": bool(t.get("PropagateAtLaunch", False))}
    return out


# -- instances ------------------------------------------------------------------------

def _live(group):
    return [i for i in group["_instances"] if i["LifecycleState"] not in ("Terminating", "Terminated")]


def _launch(ctx, group, count):
    data = templates.resolve(ctx, group["LaunchTemplate"])
    subnets = _subnets(ctx, group["VPCZoneIdentifier"])
    cluster = None
    m = _ECS_CLUSTER.search(templates.user_data(data))
    if m:
        cluster = m.group(1)
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in group["_tags"].values() if t["PropagateAtLaunch"]]
    tags.append({"Key": "aws:autoscaling:groupName", "Value": group["AutoScalingGroupName"]})
    for _ in range(count):
        per_az = {}
        for s in subnets:
            per_az[s["SubnetId"]] = sum(1 for i in _live(group) if i["_subnet"] == s["SubnetId"])
        subnet = min(subnets, key=lambda s: (per_az[s["SubnetId"]], s["SubnetId"]))
        iid = new_id("i")
        try:
            eni = interfaces.add_interface(ctx, subnet["SubnetId"], data.get("SecurityGroupIds"),
                                           "Primary network interface", tags=[])
        except AWSError:
            continue   # the launch fails (a missing group...): the group stays below its desired capacity
        inst = {
            "InstanceId": iid,
            "InstanceType": data.get("InstanceType", "t3.micro"),
            "AvailabilityZone": subnet["AvailabilityZone"],
            "HealthStatus": "Healthy",
            "LaunchTemplate": dict(data["_template"]),
            "ProtectedFromScaleIn": bool(group["NewInstancesProtectedFromScaleIn"]),
            "_subnet": subnet["SubnetId"],
        }
        start_lifecycle(inst, "LifecycleState", "Pending", "InService", ctx.settle)
        group["_instances"].append(inst)
        ec2_inst = {
            "InstanceId": iid,
            "ImageId": data.get("ImageId"),
            "InstanceType": inst["InstanceType"],
            "SubnetId": subnet["SubnetId"],
            "VpcId": subnet["VpcId"],
            "Placement": {"AvailabilityZone": subnet["AvailabilityZone"]},
            "State": {"Code": 0, "Name": "pending"},
            "SecurityGroups": [{"GroupId": g} for g in data.get("SecurityGroupIds") or []],
            "MetadataOptions": {"HttpTokens": (data.get("MetadataOptions") or {}).get("HttpTokens", "optional")},
            "Tags": [dict(t) for t in tags],
            "_eni": eni,
        }
        if data.get("IamInstanceProfile"):
            ec2_inst["IamInstanceProfile"] = dict(data["IamInstanceProfile"])
        if cluster:
            ec2_inst["_ecs_cluster"] = cluster
        _instances(ctx)[iid] = ec2_inst
        if cluster:
            from . import ecs_clusters
            ecs_clusters.register_instance(ctx, cluster, ec2_inst)


def _terminate(ctx, inst):
    if inst["LifecycleState"] in ("Terminating", "Terminated"):
        return
    inst.pop("_life", None)
    start_lifecycle(inst, "LifecycleState", "Terminating", None, ctx.settle)
    ec2_inst = _instances(ctx).get(inst["InstanceId"])
    if ec2_inst is not None:
        ec2_inst["State"] = {"Code": 32, "Name": "shutting-down"}
        interfaces.release_interface(ctx, ec2_inst.get("_eni"))
        from . import ecs_clusters
        ecs_clusters.deregister_instance(ctx, inst["InstanceId"])


def _reconcile(ctx, group):
    """Launch or terminate so the live instances meet the desired capacity;
    scale-in skips instances protected from it."""
    live = _live(group)
    want = group["DesiredCapacity"]
    if len(live) < want:
        _launch(ctx, group, want - len(live))
    elif len(live) > want:
        surplus = len(live) - want
        for inst in reversed([i for i in live if not i["ProtectedFromScaleIn"]]):
            if surplus == 0:
                break
            _terminate(ctx, inst)
            surplus -= 1


def _advance_group(ctx, group):
    """Move the group's instances (and the group, when deleting) one describe on.
    -> True when the group is gone."""
    for inst in list(group["_instances"]):
        gone = advance(inst)
        ec2_inst = _instances(ctx).get(inst["InstanceId"])
        if gone:
            group["_instances"].remove(inst)
            if ec2_inst is not None:
                ec2_inst["State"] = {"Code": 48, "Name": "terminated"}
        elif ec2_inst is not None and inst["LifecycleState"] == "InService":
            ec2_inst["State"] = {"Code": 16, "Name": "running"}
    if group.get("Status") == "Delete in progress":
        if group["_instances"]:
            return False
        return advance(group)
    return False


def _render(group):
    out = {k: v for k, v in group.items() if not k.startswith("_")}
    out["Instances"] = [{k: v for k, v in i.items() if not k.startswith("_")} for i in group["_instances"]]
    out["Tags"] = [dict(t) for t in sorted(group["_tags"].values(), key=lambda t: t["Key"])]
    if not out.get("Status"):
        out.pop("Status", None)
    return out


# -- operations -------------------------------------------------------------------------

@service.op("CreateAutoScalingGroup")
def create_auto_scaling_group(ctx, p):
    name = p["AutoScalingGroupName"]
    if name in _groups(ctx):
        raise service.fault("AlreadyExistsFault", f"AutoScalingGroup by this name already exists - A group with "
                                                  f"the name {name} already exists")
    if not p.get("LaunchTemplate"):
        raise _validation("fakeaws serves launch-template groups only: LaunchTemplate is required "
                          "(services/autoscaling.py)")
    for unsupported in ("LaunchConfigurationName", "MixedInstancesPolicy", "InstanceId", "LifecycleHookSpecificationList",
                        "TrafficSources", "LoadBalancerNames"):
        if p.get(unsupported):
            raise AWSError("NotImplemented", f"fakeaws does not support {unsupported} yet "
                                             "(services/autoscaling.py)", 501)
    desired = p.get("DesiredCapacity", p["MinSize"])
    _check_sizes(p["MinSize"], p["MaxSize"], desired)
    subnets = _subnets(ctx, p.get("VPCZoneIdentifier"))
    templates.resolve(ctx, p["LaunchTemplate"])
    spec = {k: v for k, v in p["LaunchTemplate"].items() if v is not None}
    spec.setdefault("Version", "$Default")
    if "LaunchTemplateId" in spec and "LaunchTemplateName" not in spec:
        spec["LaunchTemplateName"] = ctx.store.table("ec2", "launch-template")[spec["LaunchTemplateId"]][
            "LaunchTemplateName"]
    group = {
        "AutoScalingGroupName": name,
        "AutoScalingGroupARN": _arn(ctx, name),
        "LaunchTemplate": spec,
        "MinSize": p["MinSize"],
        "MaxSize": p["MaxSize"],
        "DesiredCapacity": desired,
        "DefaultCooldown": p.get("DefaultCooldown", 300),
        "AvailabilityZones": sorted({s["AvailabilityZone"] for s in subnets}),
        "LoadBalancerNames": [],
        "TargetGroupARNs": list(p.get("TargetGroupARNs") or []),
        "HealthCheckType": p.get("HealthCheckType", "EC2"),
        "HealthCheckGracePeriod": p.get("HealthCheckGracePeriod", 0),
        "CreatedTime": ctx.now(),
        "SuspendedProcesses": [],
        "VPCZoneIdentifier": ",".join(s["SubnetId"] for s in subnets),
        "EnabledMetrics": [],
        "TerminationPolicies": list(p.get("TerminationPolicies") or ["Default"]),
        "NewInstancesProtectedFromScaleIn": bool(p.get("NewInstancesProtectedFromScaleIn", False)),
        "ServiceLinkedRoleARN": ctx.arn("iam", "role/aws-service-role/autoscaling.amazonaws.com/"
                                               "AWSServiceRoleForAutoScaling", region=""),
        "CapacityRebalance": bool(p.get("CapacityRebalance", False)),
        "_tags": _tags_of(name, p.get("Tags")),
        "_instances": [],
    }
    for k in ("MaxInstanceLifetime", "DefaultInstanceWarmup", "Context", "DesiredCapacityType", "PlacementGroup"):
        if p.get(k) is not None:
            group[k] = p[k]
    _groups(ctx)[name] = group
    _reconcile(ctx, group)
    return {}


@service.op("UpdateAutoScalingGroup")
def update_auto_scaling_group(ctx, p):
    group = _get(ctx, p["AutoScalingGroupName"])
    if group.get("Status") == "Delete in progress":
        raise service.fault("ScalingActivityInProgressFault", "The group is being deleted")
    for unsupported in ("LaunchConfigurationName", "MixedInstancesPolicy"):
        if p.get(unsupported):
            raise AWSError("NotImplemented", f"fakeaws does not support {unsupported} yet "
                                             "(services/autoscaling.py)", 501)
    min_size = p.get("MinSize", group["MinSize"])
    max_size = p.get("MaxSize", group["MaxSize"])
    desired = p.get("DesiredCapacity")
    if desired is None:
        desired = min(max(group["DesiredCapacity"], min_size), max_size)
    _check_sizes(min_size, max_size, desired)
    if p.get("LaunchTemplate"):
        templates.resolve(ctx, p["LaunchTemplate"])
        spec = {k: v for k, v in p["LaunchTemplate"].items() if v is not None}
        spec.setdefault("Version", "$Default")
        if "LaunchTemplateId" in spec and "LaunchTemplateName" not in spec:
            spec["LaunchTemplateName"] = ctx.store.table("ec2", "launch-template")[spec["LaunchTemplateId"]][
                "LaunchTemplateName"]
        group["LaunchTemplate"] = spec
    if p.get("VPCZoneIdentifier"):
        subnets = _subnets(ctx, p["VPCZoneIdentifier"])
        group["VPCZoneIdentifier"] = ",".join(s["SubnetId"] for s in subnets)
        group["AvailabilityZones"] = sorted({s["AvailabilityZone"] for s in subnets})
    for k in ("HealthCheckType", "HealthCheckGracePeriod", "DefaultCooldown", "TerminationPolicies",
              "NewInstancesProtectedFromScaleIn", "CapacityRebalance", "MaxInstanceLifetime",
              "DefaultInstanceWarmup", "DesiredCapacityType", "PlacementGroup", "Context"):
        if p.get(k) is not None:
            group[k] = p[k]
    group["MinSize"], group["MaxSize"], group["DesiredCapacity"] = min_size, max_size, desired
    _reconcile(ctx, group)
    return {}


_GROUP_FILTERS = {
    "auto-scaling-group": lambda g: g["AutoScalingGroupName"],
}


def _filter_groups(groups, filters):
    for f in filters or []:
        name, values = f.get("Name", ""), f.get("Values") or []
        if name.startswith("tag:"):
            key = name[4:]
            groups = [g for g in groups if key in g["_tags"] and matches(g["_tags"][key]["Value"], values)]
        elif name == "tag-key":
            groups = [g for g in groups if matches(list(g["_tags"]), values)]
        elif name == "tag-value":
            groups = [g for g in groups if matches([t["Value"] for t in g["_tags"].values()], values)]
        elif name in _GROUP_FILTERS:
            groups = [g for g in groups if matches(_GROUP_FILTERS[name](g), values)]
        else:
            raise _validation(f"The filter '{name}' is not valid")
    return groups


@service.op("DescribeAutoScalingGroups")
def describe_auto_scaling_groups(ctx, p):
    table = _groups(ctx)
    names = p.get("AutoScalingGroupNames")
    found = []
    for name in (names if names else list(table)):
        group = table.get(name)
        if group is None:
            continue
        if _advance_group(ctx, group):
            del table[name]
            continue
        found.append(group)
    found = _filter_groups(found, p.get("Filters"))
    page, token = ctx.page(found, key=lambda g: g["AutoScalingGroupName"], token=p.get("NextToken"),
                           limit=p.get("MaxRecords"))
    out = {"AutoScalingGroups": [_render(g) for g in page]}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteAutoScalingGroup")
def delete_auto_scaling_group(ctx, p):
    group = _get(ctx, p["AutoScalingGroupName"])
    if group.get("Status") == "Delete in progress":
        raise service.fault("ScalingActivityInProgressFault", "An Auto Scaling group deletion is already in "
                                                              "progress for this group")
    if group["_instances"] and not p.get("ForceDelete"):
        protected = [i["InstanceId"] for i in group["_instances"] if i["ProtectedFromScaleIn"]]
        why = f" ({len(protected)} protected from scale-in)" if protected else ""
        raise service.fault("ResourceInUseFault", "You cannot delete an AutoScalingGroup while there are instances "
                                                  f"or pending Spot instance request(s) still in the group{why}.")
    for inst in group["_instances"]:
        _terminate(ctx, inst)
    group["MinSize"] = group["MaxSize"] = group["DesiredCapacity"] = 0
    start_lifecycle(group, "Status", "Delete in progress", None, ctx.settle)
    return {}


@service.op("SetInstanceProtection")
def set_instance_protection(ctx, p):
    group = _get(ctx, p["AutoScalingGroupName"])
    if len(p["InstanceIds"]) > 50:
        raise service.fault("LimitExceededFault", "The number of instances exceeds the limit of 50.")
    by_id = {i["InstanceId"]: i for i in group["_instances"]}
    for iid in p["InstanceIds"]:
        inst = by_id.get(iid)
        if inst is None:
            raise _validation(f"The instance {iid} is not part of Auto Scaling group "
                              f"{group['AutoScalingGroupName']}.")
        if inst["LifecycleState"] in ("Terminating", "Terminated"):
            raise _validation(f"The instance {iid} is not in correct state.")
    for iid in p["InstanceIds"]:
        by_id[iid]["ProtectedFromScaleIn"] = bool(p["ProtectedFromScaleIn"])
    if group.get("Status") != "Delete in progress":
        _reconcile(ctx, group)
    return {}


def _tag_groups(ctx, tags):
    out = {}
    for t in tags:
        if t.get("ResourceType", "auto-scaling-group") != "auto-scaling-group" or not t.get("ResourceId"):
            raise _validation("Tags need ResourceType auto-scaling-group and a ResourceId")
        out.setdefault(t["ResourceId"], []).append(t)
    for name in out:
        _get(ctx, name)
    return out


@service.op("CreateOrUpdateTags")
def create_or_update_tags(ctx, p):
    for name, tags in _tag_groups(ctx, p["Tags"]).items():
        group = _groups(ctx)[name]
        group["_tags"].update(_tags_of(name, tags))
        if len(group["_tags"]) > 50:
            raise service.fault("LimitExceededFault", "The number of tags exceeds the limit of 50.")
    return {}


@service.op("DeleteTags")
def delete_tags(ctx, p):
    for name, tags in _tag_groups(ctx, p["Tags"]).items():
        group = _groups(ctx)[name]
        for t in tags:
            group["_tags"].pop(t["Key"], None)
    return {}


# -- used by ECS capacity providers (services/ecs_clusters.py) --------------------------

def group_by_arn(ctx, arn):
    for group in _groups(ctx).values():
        if group["AutoScalingGroupARN"] == arn or group["AutoScalingGroupName"] == arn:
            return group
    return None


def add_system_tag(group, key, value):
    """A tag a service puts on a group (ECS: AmazonECSManaged)."""
    group["_tags"][key] = {"ResourceId": group["AutoScalingGroupName"], "ResourceType": "auto-scaling-group",
                           "Key": key, "Value": value, "PropagateAtLaunch": True}
