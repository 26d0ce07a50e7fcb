"""ECS clusters, capacity providers and container instances (an area of the ecs
service, beside services/ecs.py): CreateCluster, DescribeClusters,
UpdateClusterSettings, DeleteCluster, CreateCapacityProvider,
DescribeCapacityProviders, UpdateCapacityProvider, DeleteCapacityProvider,
PutClusterCapacityProviders, TagResource, UntagResource, ListTagsForResource.

Tables: ("ecs", "cluster") by name, ("ecs", "capacity-provider") by name,
("ecs", "container-instance") by ARN. Kept from AWS: CreateCluster on an
ACTIVE name answers that cluster; DeleteCluster refuses a cluster holding
services (ClusterContainsServicesException), registered container instances
(ClusterContainsContainerInstancesException) or tasks, and leaves it INACTIVE
(still described); a capacity provider needs an Auto Scaling group no other
provider uses, and managed termination protection needs the group's
NewInstancesProtectedFromScaleIn; managed scaling tags the group
AmazonECSManaged; a provider associated with a cluster cannot be deleted, and
PutClusterCapacityProviders cannot drop one a service's strategy uses; deleting
a provider goes DELETE_IN_PROGRESS -> DELETE_COMPLETE (status INACTIVE) over
describes; cluster attachments go UPDATE_IN_PROGRESS -> UPDATE_COMPLETE.
Instances of an Auto Scaling group join the cluster named in their user data
(register_instance, called by services/autoscaling.py; an instance that
booted before its cluster existed joins when the cluster is created)."""
import re

from ..errors import AWSError
from ..state import advance, new_id, start_lifecycle
from . import ecs as ecs_module

ecs = ecs_module.service

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


def op(name):
    return ecs.op(name)


def _clusters(ctx):
    return ctx.store.table("ecs", "cluster")


def _providers(ctx):
    return ctx.store.table("ecs", "capacity-provider")


def _container_instances(ctx):
    return ctx.store.table("ecs", "container-instance")


def _services(ctx):
    return ctx.store.table("ecs", "service")


def _invalid(message):
    return ecs.fault("InvalidParameterException", message)


def _client_error(message):
    return ecs.fault("ClientException", message)


def cluster_name(ref):
    """A cluster's name from its name or ARN."""
    if ref.startswith("arn:"):
        return ref.rsplit("/", 1)[-1]
    return ref


def find_cluster(ctx, ref, active=True):
    """The cluster named by name or ARN, or ClusterNotFoundException."""
    cluster = _clusters(ctx).get(cluster_name(ref or "default"))
    if cluster is None or (active and cluster["status"] != "ACTIVE"):
        raise ecs.fault("ClusterNotFoundException", "Cluster not found.")
    return cluster


def _tags_in(tags):
    for t in tags or []:
        if (t.get("key") or "").lower().startswith("aws:"):
            raise _invalid("Tag keys with the prefix 'aws:' are reserved.")
    return [{"key": t["key"], "value": t.get("value", "")} for t in tags or []]


# -- clusters ---------------------------------------------------------------------------

def _render_cluster(ctx, cluster, include=()):
    name = cluster["clusterName"]
    services = [s for s in _services(ctx).values()
                if s["_cluster"] == name and s["status"] in ("ACTIVE", "DRAINING")]
    instances = [ci for ci in _container_instances(ctx).values() if ci["_cluster"] == name]
    out = {
        "clusterArn": cluster["clusterArn"],
        "clusterName": name,
        "status": cluster["status"],
        "registeredContainerInstancesCount": len(instances),
        "runningTasksCount": sum(s["runningCount"] for s in services),
        "pendingTasksCount": sum(s["pendingCount"] for s in services),
        "activeServicesCount": sum(1 for s in services if s["status"] == "ACTIVE"),
        "statistics": [],
        "capacityProviders": list(cluster["capacityProviders"]),
        "defaultCapacityProviderStrategy": [dict(i) for i in cluster["defaultCapacityProviderStrategy"]],
    }
    if cluster.get("attachmentsStatus"):
        out["attachmentsStatus"] = cluster["attachmentsStatus"]
    if "SETTINGS" in include:
        out["settings"] = [dict(s) for s in cluster["settings"]]
    if "TAGS" in include:
        out["tags"] = [dict(t) for t in cluster["_tags"]]
    if "ATTACHMENTS" in include:
        out["attachments"] = [dict(a) for a in cluster["attachments"]]
    if "CONFIGURATIONS" in include and cluster.get("configuration"):
        out["configuration"] = cluster["configuration"]
    return out


def _settings(given, current=None):
    settings = {s["name"]: s["value"] for s in current or [{"name": "containerInsights", "value": "disabled"}]}
    for s in given or []:
        if s.get("name") != "containerInsights" or s.get("value") not in ("enabled", "disabled"):
            raise _invalid("Cluster settings: containerInsights is enabled or disabled.")
        settings[s["name"]] = s["value"]
    return [{"name": k, "value": v} for k, v in settings.items()]


def _check_strategy(ctx, cluster_providers, strategy, what="default capacity provider strategy"):
    if not strategy:
        return
    names = [i["capacityProvider"] for i in strategy]
    if len(set(names)) != len(names):
        raise _invalid(f"The {what} contains a capacity provider more than once.")
    if sum(1 for i in strategy if i.get("base")) > 1:
        raise _invalid(f"The {what} can specify a base on one capacity provider only.")
    for i in strategy:
        if i["capacityProvider"] not in cluster_providers:
            raise _invalid(f"The specified capacity provider strategy cannot contain a capacity provider that is "
                           f"not associated with the cluster ({i['capacityProvider']}). Associate the capacity "
                           "provider with the cluster or specify a valid capacity provider and try again.")
        if not 0 <= i.get("weight", 0) <= 1000 or not 0 <= i.get("base", 0) <= 100000:
            raise _invalid("A capacity provider strategy weight is 0 to 1000, a base 0 to 100000.")
    if all(i.get("weight", 0) == 0 for i in strategy):
        raise _invalid(f"At least one capacity provider in the {what} must have a weight greater than zero.")


@op("CreateCluster")
def create_cluster(ctx, p):
    name = p.get("clusterName") or "default"
    if not _NAME.match(name):
        raise _invalid("Cluster names can be up to 255 letters, numbers, hyphens and underscores.")
    for unsupported in ("configuration", "serviceConnectDefaults"):
        if p.get(unsupported):
            raise AWSError("NotImplemented", f"fakeaws does not support {unsupported} yet "
                                             "(services/ecs_clusters.py)", 501)
    existing = _clusters(ctx).get(name)
    if existing is not None and existing["status"] == "ACTIVE":
        return {"cluster": _render_cluster(ctx, existing, ("SETTINGS", "TAGS"))}
    cluster = {
        "clusterArn": ctx.arn("ecs", f"cluster/{name}"),
        "clusterName": name,
        "status": "ACTIVE",
        "settings": _settings(p.get("settings")),
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
        "attachments": [],
        "_tags": _tags_in(p.get("tags")),
    }
    _clusters(ctx)[name] = cluster
    for inst in ctx.store.table("ec2", "instance").values():
        # an ECS agent keeps trying to join its cluster: instances that booted first join now
        if inst.get("_ecs_cluster") == name and inst["State"]["Name"] in ("pending", "running"):
            register_instance(ctx, name, inst)
    if p.get("capacityProviders") or p.get("defaultCapacityProviderStrategy"):
        _put_providers(ctx, cluster, p.get("capacityProviders") or [], p.get("defaultCapacityProviderStrategy") or [])
    return {"cluster": _render_cluster(ctx, cluster, ("SETTINGS", "TAGS"))}


def _advance_cluster(cluster):
    advance(cluster)


@op("DescribeClusters")
def describe_clusters(ctx, p):
    include = set(p.get("include") or [])
    out, failures = [], []
    for ref in p.get("clusters") or ["default"]:
        cluster = _clusters(ctx).get(cluster_name(ref))
        if cluster is None:
            failures.append({"arn": ref if ref.startswith("arn:") else ctx.arn("ecs", f"cluster/{ref}"),
                             "reason": "MISSING"})
            continue
        _advance_cluster(cluster)
        out.append(_render_cluster(ctx, cluster, include))
    return {"clusters": out, "failures": failures}


@op("UpdateClusterSettings")
def update_cluster_settings(ctx, p):
    cluster = find_cluster(ctx, p["cluster"])
    cluster["settings"] = _settings(p["settings"], cluster["settings"])
    return {"cluster": _render_cluster(ctx, cluster, ("SETTINGS",))}


@op("DeleteCluster")
def delete_cluster(ctx, p):
    cluster = find_cluster(ctx, p["cluster"])
    name = cluster["clusterName"]
    if any(s["_cluster"] == name and s["status"] in ("ACTIVE", "DRAINING") for s in _services(ctx).values()):
        raise ecs.fault("ClusterContainsServicesException",
                        "The Cluster cannot be deleted while Services are active.")
    if any(ci["_cluster"] == name for ci in _container_instances(ctx).values()):
        raise ecs.fault("ClusterContainsContainerInstancesException",
                        "The Cluster cannot be deleted while Container Instances are active or draining.")
    cluster["status"] = "INACTIVE"
    cluster["capacityProviders"] = []
    cluster["defaultCapacityProviderStrategy"] = []
    cluster["attachments"] = []
    cluster.pop("attachmentsStatus", None)
    return {"cluster": _render_cluster(ctx, cluster, ("SETTINGS", "TAGS"))}


# -- capacity providers -------------------------------------------------------------------

def find_provider(ctx, ref):
    name = ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref
    return _providers(ctx).get(name)


def _render_provider(cp, include=()):
    out = {k: v for k, v in cp.items() if not k.startswith("_")}
    if "TAGS" in include:
        out["tags"] = [dict(t) for t in cp["_tags"]]
    return out


def _asg_provider(ctx, given, current=None):
    from . import autoscaling
    arn = given["autoScalingGroupArn"] if current is None else current["autoScalingGroupArn"]
    group = autoscaling.group_by_arn(ctx, arn)
    if group is None:
        raise _client_error(f"The specified Auto Scaling group ARN {arn} is not valid.")
    scaling = dict((current or {}).get("managedScaling") or {"status": "ENABLED", "targetCapacity": 100,
                                                            "minimumScalingStepSize": 1,
                                                            "maximumScalingStepSize": 10000,
                                                            "instanceWarmupPeriod": 300})
    scaling.update({k: v for k, v in (given.get("managedScaling") or {}).items() if v is not None})
    if not 1 <= scaling.get("targetCapacity", 100) <= 100:
        raise _invalid("The managed scaling target capacity must be between 1 and 100.")
    if scaling.get("minimumScalingStepSize", 1) > scaling.get("maximumScalingStepSize", 10000):
        raise _invalid("The minimum scaling step size cannot be greater than the maximum scaling step size.")
    protection = given.get("managedTerminationProtection") or (current or {}).get("managedTerminationProtection") \
        or "DISABLED"
    if protection == "ENABLED":
        if scaling.get("status") != "ENABLED":
            raise _invalid("Managed termination protection requires managed scaling to be enabled.")
        if not group["NewInstancesProtectedFromScaleIn"]:
            raise _invalid("The managed termination protection setting for the capacity provider is invalid. To "
                           "enable managed termination protection for a capacity provider, the Auto Scaling group "
                           "must have instance protection from scale in enabled.")
    if scaling.get("status") == "ENABLED":
        autoscaling.add_system_tag(group, "AmazonECSManaged", "")
    return {"autoScalingGroupArn": group["AutoScalingGroupARN"], "managedScaling": scaling,
            "managedTerminationProtection": protection}


@op("CreateCapacityProvider")
def create_capacity_provider(ctx, p):
    name = p["name"]
    if not _NAME.match(name) or name.lower().startswith(("aws", "ecs", "fargate")):
        raise _client_error("The specified capacity provider name is invalid: up to 255 letters, numbers, hyphens "
                            "and underscores, not beginning with aws, ecs or fargate.")
    if name in _providers(ctx) and _providers(ctx)[name]["status"] == "ACTIVE":
        raise _client_error("The specified capacity provider already exists. To change the configuration of an "
                            "existing capacity provider, update the capacity provider.")
    from . import autoscaling
    group = autoscaling.group_by_arn(ctx, p["autoScalingGroupProvider"]["autoScalingGroupArn"])
    if group is not None and any(cp["status"] == "ACTIVE" and cp["autoScalingGroupProvider"]["autoScalingGroupArn"]
                                 == group["AutoScalingGroupARN"] for cp in _providers(ctx).values()):
        raise _client_error("The specified Auto Scaling group ARN is already being used by another capacity "
                            "provider. Specify a unique Auto Scaling group ARN and try again.")
    cp = {
        "capacityProviderArn": ctx.arn("ecs", f"capacity-provider/{name}"),
        "name": name,
        "status": "ACTIVE",
        "autoScalingGroupProvider": _asg_provider(ctx, p["autoScalingGroupProvider"]),
        "_tags": _tags_in(p.get("tags")),
    }
    _providers(ctx)[name] = cp
    return {"capacityProvider": _render_provider(cp, ("TAGS",))}


@op("DescribeCapacityProviders")
def describe_capacity_providers(ctx, p):
    include = set(p.get("include") or [])
    refs = p.get("capacityProviders")
    out, failures = [], []
    if refs:
        for ref in refs:
            if ref in ("FARGATE", "FARGATE_SPOT"):
                out.append({"capacityProviderArn": ctx.arn("ecs", f"capacity-provider/{ref}"), "name": ref,
                            "status": "ACTIVE", "tags": []})
                continue
            cp = find_provider(ctx, ref)
            if cp is None:
                failures.append({"arn": ref if ref.startswith("arn:") else ctx.arn("ecs", f"capacity-provider/{ref}"),
                                 "reason": "MISSING"})
                continue
            advance(cp)
            out.append(_render_provider(cp, include))
        return {"capacityProviders": out, "failures": failures}
    cps = list(_providers(ctx).values())
    for cp in cps:
        advance(cp)
    page, token = ctx.page(cps, key=lambda c: c["name"], token=p.get("nextToken"), limit=p.get("maxResults"),
                           token_error=("InvalidParameterException", 400))
    result = {"capacityProviders": [_render_provider(cp, include) for cp in page], "failures": []}
    if token:
        result["nextToken"] = token
    return result


@op("UpdateCapacityProvider")
def update_capacity_provider(ctx, p):
    cp = find_provider(ctx, p["name"])
    if cp is None or cp["status"] != "ACTIVE":
        raise _client_error("The specified capacity provider does not exist.")
    if cp.get("updateStatus") == "UPDATE_IN_PROGRESS" and cp.get("_life"):
        raise ecs.fault("UpdateInProgressException", "There is already a current update in progress.")
    given = p["autoScalingGroupProvider"]
    cp["autoScalingGroupProvider"] = _asg_provider(ctx, given, cp["autoScalingGroupProvider"])
    start_lifecycle(cp, "updateStatus", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE", ctx.settle)
    return {"capacityProvider": _render_provider(cp)}


@op("DeleteCapacityProvider")
def delete_capacity_provider(ctx, p):
    cp = find_provider(ctx, p["capacityProvider"])
    if cp is None or cp["status"] != "ACTIVE":
        raise _client_error("The specified capacity provider does not exist.")
    users = [c["clusterName"] for c in _clusters(ctx).values()
             if c["status"] == "ACTIVE" and cp["name"] in c["capacityProviders"]]
    if users:
        raise _client_error(f"The specified capacity provider is in use and cannot be removed (associated with the "
                            f"cluster {', '.join(users)}).")
    cp["status"] = "INACTIVE"
    start_lifecycle(cp, "updateStatus", "DELETE_IN_PROGRESS", "DELETE_COMPLETE", ctx.settle)
    return {"capacityProvider": _render_provider(cp)}


def _put_providers(ctx, cluster, names, strategy):
    resolved = []
    for ref in names:
        if ref in ("FARGATE", "FARGATE_SPOT"):
            resolved.append(ref)
            continue
        cp = find_provider(ctx, ref)
        if cp is None or cp["status"] != "ACTIVE":
            raise _invalid(f"The specified capacity provider '{ref}' is not in an ACTIVE state. Specify a valid "
                           "capacity provider and try again.")
        owner = [c["clusterName"] for c in _clusters(ctx).values()
                 if c is not cluster and c["status"] == "ACTIVE" and cp["name"] in c["capacityProviders"]]
        if owner:
            raise _invalid(f"The capacity provider {cp['name']} is already associated with the cluster "
                           f"{owner[0]}; an Auto Scaling group capacity provider belongs to one cluster.")
        resolved.append(cp["name"])
    if len(set(resolved)) != len(resolved):
        raise _invalid("The list of capacity providers contains a duplicate.")
    _check_strategy(ctx, resolved, strategy)
    dropped = set(cluster["capacityProviders"]) - set(resolved)
    for s in _services(ctx).values():
        if s["_cluster"] == cluster["clusterName"] and s["status"] in ("ACTIVE", "DRAINING"):
            used = {i["capacityProvider"] for i in s.get("capacityProviderStrategy") or []}
            if used & dropped:
                raise ecs.fault("ResourceInUseException", "The specified capacity provider is in use and cannot be "
                                                          f"removed (service {s['serviceName']}).")
    cluster["capacityProviders"] = resolved
    cluster["defaultCapacityProviderStrategy"] = [
        {"capacityProvider": i["capacityProvider"], "weight": i.get("weight", 0), "base": i.get("base", 0)}
        for i in strategy]
    cluster["attachments"] = [{"id": new_id("", 8) + "-" + new_id("", 4), "type": "as_policy", "status": "CREATED",
                               "details": [{"name": "capacityProviderName", "value": n}]}
                              for n in resolved if n not in ("FARGATE", "FARGATE_SPOT")]
    start_lifecycle(cluster, "attachmentsStatus", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE", ctx.settle)


@op("PutClusterCapacityProviders")
def put_cluster_capacity_providers(ctx, p):
    cluster = find_cluster(ctx, p["cluster"])
    if cluster.get("attachmentsStatus") == "UPDATE_IN_PROGRESS" and cluster.get("_life"):
        raise ecs.fault("UpdateInProgressException", "There is already a current update in progress for the "
                                                     "cluster's capacity providers.")
    _put_providers(ctx, cluster, p["capacityProviders"], p["defaultCapacityProviderStrategy"])
    return {"cluster": _render_cluster(ctx, cluster, ("ATTACHMENTS",))}


# -- container instances (the Auto Scaling group's instances joining a cluster) --------

def register_instance(ctx, cluster, ec2_instance):
    """An instance whose ECS agent joins `cluster` (when that cluster is ACTIVE)."""
    c = _clusters(ctx).get(cluster)
    if c is None or c["status"] != "ACTIVE":
        return None
    arn = ctx.arn("ecs", f"container-instance/{cluster}/{new_id('', 32)}")
    _container_instances(ctx)[arn] = {
        "containerInstanceArn": arn,
        "ec2InstanceId": ec2_instance["InstanceId"],
        "status": "ACTIVE",
        "agentConnected": True,
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
        "registeredAt": ctx.now(),
        "_cluster": cluster,
        "_az": ec2_instance["Placement"]["AvailabilityZone"],
    }
    return arn


def deregister_instance(ctx, instance_id):
    table = _container_instances(ctx)
    for arn in [a for a, ci in table.items() if ci["ec2InstanceId"] == instance_id]:
        del table[arn]


def cluster_capacity(ctx, cluster):
    """How many container instances the cluster has (for services placing tasks)."""
    return sum(1 for ci in _container_instances(ctx).values() if ci["_cluster"] == cluster)


# -- tags (every ECS resource that takes them) ----------------------------------------------

def _tagged(ctx, arn):
    m = re.match(r"^arn:aws[\w-]*:ecs:[\w-]+:\d{12}:([\w-]+)/(.+)$", arn or "")
    if not m:
        raise _invalid(f"The ARN {arn} is not valid.")
    kind, rest = m.groups()
    obj = None
    if kind == "cluster":
        obj = _clusters(ctx).get(rest)
        if obj is not None and obj["status"] != "ACTIVE":
            obj = None
    elif kind == "capacity-provider":
        obj = _providers(ctx).get(rest)
    elif kind == "service":
        obj = _services(ctx).get(arn)
    elif kind == "task-definition":
        family, _, rev = rest.rpartition(":")
        obj = ctx.store.table("ecs", "task-definition").get(f"{family}:{rev}")
    elif kind == "container-instance":
        obj = _container_instances(ctx).get(arn)
        if obj is not None:
            obj.setdefault("_tags", [])
    if obj is None:
        raise ecs.fault("ResourceNotFoundException", "The specified resource could not be found.")
    return obj


@op("TagResource")
def tag_resource(ctx, p):
    obj = _tagged(ctx, p["resourceArn"])
    tags = {t["key"]: t.get("value", "") for t in obj.get("_tags") or []}
    for t in _tags_in(p["tags"]):
        tags[t["key"]] = t["value"]
    if len(tags) > 50:
        raise _invalid("A resource can have at most 50 tags.")
    obj["_tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return {}


@op("UntagResource")
def untag_resource(ctx, p):
    obj = _tagged(ctx, p["resourceArn"])
    obj["_tags"] = [t for t in obj.get("_tags") or [] if t["key"] not in set(p["tagKeys"])]
    return {}


@op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    obj = _tagged(ctx, p["resourceArn"])
    return {"tags": [dict(t) for t in obj.get("_tags") or []]}
