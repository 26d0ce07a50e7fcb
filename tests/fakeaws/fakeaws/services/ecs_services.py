"""ECS services (an area of the ecs service, beside services/ecs.py and
services/ecs_clusters.py): CreateService, DescribeServices, UpdateService,
DeleteService.

Services live in ("ecs", "service") by ARN (the long format,
service/<cluster>/<name>). Kept from AWS: a deployment goes IN_PROGRESS ->
COMPLETED over describes once the cluster has container instances (without
any, tasks stay pending and an event says no container instance met the
requirements); a new task definition or forceNewDeployment starts a new
PRIMARY deployment and the old one drains; the capacity-provider strategy
(else the cluster's default strategy) may name only providers associated with
the cluster, and changing it needs forceNewDeployment; a load balancer's target
group must exist and be attached to a load balancer, and its container must be
in the task definition with that container port; an INACTIVE task definition
cannot be used; DeleteService refuses a service scaled above 0 unless forced,
then the service goes DRAINING -> INACTIVE over describes (still described);
clientToken makes CreateService idempotent."""
import re

from ..errors import AWSError
from ..state import new_id, start_lifecycle
from . import ecs as ecs_module
from . import ecs_clusters

ecs = ecs_module.service

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


def _services(ctx):
    return ctx.store.table("ecs", "service")


def _invalid(message):
    return ecs.fault("InvalidParameterException", message)


def _task_definition(ctx, ref):
    try:
        td = ecs_module._find(ctx, ref)
    except AWSError:
        raise _invalid("TaskDefinition not found.") from None
    if td["status"] != "ACTIVE":
        raise _invalid(f"TaskDefinition is inactive ({td['taskDefinitionArn']}).")
    return td


def _find(ctx, cluster_ref, service_ref, any_status=False):
    cluster = ecs_clusters.find_cluster(ctx, cluster_ref)
    name = service_ref.rsplit("/", 1)[-1] if service_ref.startswith("arn:") else service_ref
    svc = _services(ctx).get(ctx.arn("ecs", f"service/{cluster['clusterName']}/{name}"))
    if svc is None:
        raise ecs.fault("ServiceNotFoundException", "Service not found.")
    if not any_status and svc["status"] != "ACTIVE":
        raise ecs.fault("ServiceNotActiveException", "Service was not ACTIVE.")
    return svc


def _check_load_balancers(ctx, lbs, td):
    for lb in lbs or []:
        if lb.get("loadBalancerName"):
            raise _invalid("fakeaws serves target groups only (classic load balancers are not supported).")
        tg = ctx.store.table("elbv2", "target-group").get(lb.get("targetGroupArn") or "")
        if tg is None:
            raise _invalid(f"Unable to assume role and validate the specified targetGroupArn. The target group "
                           f"{lb.get('targetGroupArn')} does not exist.")
        from . import elbv2
        if not elbv2.load_balancers_of(ctx, tg):
            raise _invalid(f"The target group with targetGroupArn {tg['TargetGroupArn']} does not have an "
                           "associated load balancer.")
        names = {c["name"]: c for c in td["containerDefinitions"]}
        container = names.get(lb.get("containerName"))
        if container is None:
            raise _invalid(f"The container {lb.get('containerName')} does not exist in the task definition.")
        ports = {pm.get("containerPort") for pm in container.get("portMappings") or []}
        if lb.get("containerPort") not in ports:
            raise _invalid(f"The container {lb.get('containerName')} did not have a container port "
                           f"{lb.get('containerPort')} defined.")


def _strategy(ctx, cluster, given):
    if given is None:
        return None
    ecs_clusters._check_strategy(ctx, cluster["capacityProviders"], given, "capacity provider strategy")
    return [{"capacityProvider": i["capacityProvider"], "weight": i.get("weight", 0), "base": i.get("base", 0)}
            for i in given]


def _deployment_config(given, current=None):
    cfg = dict(current or {"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                           "maximumPercent": 200, "minimumHealthyPercent": 100})
    for k, v in (given or {}).items():
        if v is not None:
            cfg[k] = v
    return cfg


def _new_deployment(ctx, svc, reason):
    now = ctx.now()
    for d in svc["deployments"]:
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
    d = {
        "id": f"ecs-svc/{new_id('', 19).translate(str.maketrans('abcdef', '123456'))}",
        "status": "PRIMARY",
        "taskDefinition": svc["taskDefinition"],
        "desiredCount": svc["desiredCount"],
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {reason} in progress.",
        "_settle": ctx.settle,
    }
    if svc.get("capacityProviderStrategy"):
        d["capacityProviderStrategy"] = [dict(i) for i in svc["capacityProviderStrategy"]]
    else:
        d["launchType"] = svc.get("launchType", "EC2")
    svc["deployments"].insert(0, d)
    _event(ctx, svc, f"(service {svc['serviceName']}) has started a deployment ({reason}).")


def _event(ctx, svc, message):
    svc["events"].insert(0, {"id": new_id("", 8) + "-" + new_id("", 4), "createdAt": ctx.now(), "message": message})
    del svc["events"][100:]


def _advance(ctx, svc):
    """One describe on: deployments roll out when the cluster has capacity; a
    deleted service drains."""
    if svc.get("_life"):
        from ..state import advance
        advance(svc)
        if svc["status"] == "INACTIVE":
            svc["runningCount"] = svc["pendingCount"] = 0
            svc["deployments"] = []
        return
    capacity = ecs_clusters.cluster_capacity(ctx, svc["_cluster"])
    primary = svc["deployments"][0] if svc["deployments"] else None
    if primary is None or primary["rolloutState"] != "IN_PROGRESS":
        return
    if primary["_settle"] > 0:
        primary["_settle"] -= 1
        primary["pendingCount"] = primary["desiredCount"]
        svc["pendingCount"] = primary["desiredCount"]
        return
    if primary["desiredCount"] > 0 and capacity == 0:
        _event(ctx, svc, f"(service {svc['serviceName']}) was unable to place a task because no container "
                         "instance met all of its requirements.")
        return
    primary["runningCount"] = primary["desiredCount"]
    primary["pendingCount"] = 0
    primary["rolloutState"] = "COMPLETED"
    primary["rolloutStateReason"] = "ECS deployment completed."
    primary["updatedAt"] = ctx.now()
    svc["deployments"] = [primary]
    svc["runningCount"] = primary["desiredCount"]
    svc["pendingCount"] = 0
    _event(ctx, svc, f"(service {svc['serviceName']}) has reached a steady state.")


def _render(svc, include=()):
    out = {k: v for k, v in svc.items() if not k.startswith("_")}
    out["deployments"] = [{k: v for k, v in d.items() if not k.startswith("_")} for d in svc["deployments"]]
    out["events"] = [dict(e) for e in svc["events"][:10]]
    if "TAGS" in include:
        out["tags"] = [dict(t) for t in svc["_tags"]]
    return out


@ecs.op("CreateService")
def create_service(ctx, p):
    cluster = ecs_clusters.find_cluster(ctx, p.get("cluster"))
    name = p["serviceName"]
    if not _NAME.match(name):
        raise _invalid("Service names can be up to 255 letters, numbers, hyphens and underscores.")
    arn = ctx.arn("ecs", f"service/{cluster['clusterName']}/{name}")
    existing = _services(ctx).get(arn)
    if existing is not None and existing["status"] != "INACTIVE":
        raise _invalid("Creation of service was not idempotent.")
    for unsupported in ("serviceRegistries", "serviceConnectConfiguration", "taskSets"):
        if p.get(unsupported):
            raise AWSError("NotImplemented", f"fakeaws does not support {unsupported} yet "
                                             "(services/ecs_services.py)", 501)
    if (p.get("deploymentController") or {}).get("type", "ECS") != "ECS":
        raise AWSError("NotImplemented", "fakeaws serves the ECS deployment controller only "
                                         "(services/ecs_services.py)", 501)
    scheduling = p.get("schedulingStrategy", "REPLICA")
    if not p.get("taskDefinition"):
        raise _invalid("TaskDefinition is required.")
    td = _task_definition(ctx, p["taskDefinition"])
    if p.get("launchType") and p.get("capacityProviderStrategy"):
        raise _invalid("Specifying both a launch type and capacity provider strategy is not supported. Remove one "
                       "and try again.")
    strategy = _strategy(ctx, cluster, p.get("capacityProviderStrategy"))
    if strategy is None and not p.get("launchType") and cluster["defaultCapacityProviderStrategy"]:
        strategy = [dict(i) for i in cluster["defaultCapacityProviderStrategy"]]
    if td.get("networkMode") == "awsvpc" and not (p.get("networkConfiguration") or {}).get("awsvpcConfiguration"):
        raise _invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    if td.get("networkMode") != "awsvpc" and p.get("networkConfiguration"):
        raise _invalid("Network Configuration is not valid for the given networkMode of this task definition.")
    _check_load_balancers(ctx, p.get("loadBalancers"), td)
    if p.get("healthCheckGracePeriodSeconds") is not None and not p.get("loadBalancers"):
        raise _invalid("Health check grace period is only valid for services configured to use load balancers")
    desired = p.get("desiredCount", 0 if scheduling == "REPLICA" else None)
    svc = {
        "serviceArn": arn,
        "serviceName": name,
        "clusterArn": cluster["clusterArn"],
        "loadBalancers": [dict(lb) for lb in p.get("loadBalancers") or []],
        "serviceRegistries": [],
        "status": "ACTIVE",
        "desiredCount": desired or 0,
        "runningCount": 0,
        "pendingCount": 0,
        "taskDefinition": td["taskDefinitionArn"],
        "deploymentConfiguration": _deployment_config(p.get("deploymentConfiguration")),
        "deployments": [],
        "events": [],
        "createdAt": ctx.now(),
        "placementConstraints": [dict(c) for c in p.get("placementConstraints") or []],
        "placementStrategy": [dict(s) for s in p.get("placementStrategy") or []],
        "schedulingStrategy": scheduling,
        "deploymentController": {"type": "ECS"},
        "createdBy": ctx.identity.arn,
        "enableECSManagedTags": bool(p.get("enableECSManagedTags", False)),
        "propagateTags": p.get("propagateTags", "NONE"),
        "enableExecuteCommand": bool(p.get("enableExecuteCommand", False)),
        "_cluster": cluster["clusterName"],
        "_tags": ecs_clusters._tags_in(p.get("tags")),
    }
    if strategy:
        svc["capacityProviderStrategy"] = strategy
    else:
        svc["launchType"] = p.get("launchType", "EC2")
    for k in ("healthCheckGracePeriodSeconds", "networkConfiguration", "role", "platformVersion"):
        if p.get(k) is not None:
            svc["roleArn" if k == "role" else k] = p[k]
    _new_deployment(ctx, svc, "creation")
    _services(ctx)[arn] = svc
    return {"service": _render(svc, ("TAGS",))}


@ecs.op("DescribeServices")
def describe_services(ctx, p):
    cluster = ecs_clusters.find_cluster(ctx, p.get("cluster"))
    if len(p["services"]) > 10:
        raise _invalid("DescribeServices takes at most 10 services.")
    include = set(p.get("include") or [])
    out, failures = [], []
    for ref in p["services"]:
        name = ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref
        arn = ctx.arn("ecs", f"service/{cluster['clusterName']}/{name}")
        svc = _services(ctx).get(arn)
        if svc is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        _advance(ctx, svc)
        out.append(_render(svc, include))
    return {"services": out, "failures": failures}


@ecs.op("UpdateService")
def update_service(ctx, p):
    svc = _find(ctx, p.get("cluster"), p["service"])
    cluster = ecs_clusters.find_cluster(ctx, svc["_cluster"])
    for unsupported in ("serviceRegistries", "serviceConnectConfiguration"):
        if p.get(unsupported):
            raise AWSError("NotImplemented", f"fakeaws does not support {unsupported} yet "
                                             "(services/ecs_services.py)", 501)
    redeploy = bool(p.get("forceNewDeployment"))
    td = _task_definition(ctx, p["taskDefinition"] if p.get("taskDefinition") else svc["taskDefinition"])
    if p.get("taskDefinition") and td["taskDefinitionArn"] != svc["taskDefinition"]:
        redeploy = True
    strategy = _strategy(ctx, cluster, p.get("capacityProviderStrategy"))
    if strategy is not None and strategy != svc.get("capacityProviderStrategy"):
        if not p.get("forceNewDeployment"):
            raise _invalid("When switching the capacity provider strategy of a service, forceNewDeployment must be "
                           "specified.")
    if p.get("loadBalancers") is not None:
        _check_load_balancers(ctx, p["loadBalancers"], td)
        if p["loadBalancers"] != svc["loadBalancers"]:
            redeploy = True
    if p.get("networkConfiguration") is not None and td.get("networkMode") != "awsvpc":
        raise _invalid("Network Configuration is not valid for the given networkMode of this task definition.")
    svc["taskDefinition"] = td["taskDefinitionArn"]
    if strategy is not None:
        svc["capacityProviderStrategy"] = strategy
        svc.pop("launchType", None)
    if p.get("deploymentConfiguration") is not None:
        svc["deploymentConfiguration"] = _deployment_config(p["deploymentConfiguration"],
                                                            svc["deploymentConfiguration"])
    for k in ("placementConstraints", "placementStrategy", "loadBalancers", "networkConfiguration",
              "healthCheckGracePeriodSeconds", "enableExecuteCommand", "enableECSManagedTags", "propagateTags",
              "platformVersion"):
        if p.get(k) is not None:
            svc[k] = p[k]
    if p.get("desiredCount") is not None:
        svc["desiredCount"] = p["desiredCount"]
        primary = svc["deployments"][0] if svc["deployments"] else None
        if not redeploy and primary is not None:
            if primary["desiredCount"] != svc["desiredCount"]:
                primary["desiredCount"] = svc["desiredCount"]
                primary["rolloutState"] = "IN_PROGRESS" if primary["rolloutState"] == "COMPLETED" \
                    else primary["rolloutState"]
                primary["_settle"] = ctx.settle
                if svc["desiredCount"] == 0:
                    primary["runningCount"] = svc["runningCount"] = 0
                    primary["pendingCount"] = svc["pendingCount"] = 0
                    primary["rolloutState"] = "COMPLETED"
    if redeploy:
        _new_deployment(ctx, svc, "update")
    return {"service": _render(svc)}


@ecs.op("DeleteService")
def delete_service(ctx, p):
    svc = _find(ctx, p.get("cluster"), p["service"], any_status=True)
    if svc["status"] != "ACTIVE":
        raise ecs.fault("ServiceNotActiveException", "Service was not ACTIVE.")
    if svc["desiredCount"] > 0 and not p.get("force"):
        raise _invalid("The service cannot be stopped while it is scaled above 0.")
    svc["desiredCount"] = 0
    for d in svc["deployments"]:
        d["desiredCount"] = 0
    start_lifecycle(svc, "status", "DRAINING", "INACTIVE", ctx.settle)
    return {"service": _render(svc)}


def active_service(ctx, cluster, name):
    """The ACTIVE service `name` of `cluster` (for Application Auto Scaling), or None."""
    svc = _services(ctx).get(ctx.arn("ecs", f"service/{cluster}/{name}"))
    if svc is None or svc["status"] != "ACTIVE":
        return None
    return svc
