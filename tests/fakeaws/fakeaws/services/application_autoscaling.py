"""Application Auto Scaling (json 1.1): scalable targets and target-tracking
policies. RegisterScalableTarget, DescribeScalableTargets,
DeregisterScalableTarget, PutScalingPolicy, DescribeScalingPolicies,
DeleteScalingPolicy.

Targets live in ("application-autoscaling", "scalable-target") keyed by
"namespace|resource id|dimension", policies in
("application-autoscaling", "scaling-policy") by ARN. Kept from AWS:
registering is an upsert (a new target needs MinCapacity and MaxCapacity);
resource ids and dimensions must fit the namespace (ecs service/<cluster>/<name>
with ecs:service:DesiredCount — the ECS service must be ACTIVE; rds
cluster:<id> with rds:cluster:ReadReplicaCount — an Aurora cluster must exist);
a policy needs its target (ObjectNotFoundException); ALBRequestCountPerTarget
needs a ResourceLabel app/<lb>/<id>/targetgroup/<tg>/<id> naming an existing
load balancer and target group; a target-tracking policy answers the two
CloudWatch alarms it manages; deregistering a target deletes its policies."""
import re
import uuid

from ..errors import AWSError
from . import Service

service = Service("application-autoscaling")

_RESOURCE = {
    ("ecs", "ecs:service:DesiredCount"): re.compile(r"^service/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)$"),
    ("rds", "rds:cluster:ReadReplicaCount"): re.compile(r"^cluster:([A-Za-z][A-Za-z0-9-]*)$"),
}
_METRICS = {
    "ecs:service:DesiredCount": {"ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization",
                                 "ALBRequestCountPerTarget"},
    "rds:cluster:ReadReplicaCount": {"RDSReaderAverageCPUUtilization", "RDSReaderAverageDatabaseConnections"},
}


def _targets(ctx):
    return ctx.store.table("application-autoscaling", "scalable-target")


def _policies(ctx):
    return ctx.store.table("application-autoscaling", "scaling-policy")


def _invalid(message):
    return service.fault("ValidationException", message)


def _key(p):
    return f"{p['ServiceNamespace']}|{p['ResourceId']}|{p['ScalableDimension']}"


def _check_resource(ctx, namespace, resource_id, dimension):
    pattern = _RESOURCE.get((namespace, dimension))
    if pattern is None:
        if dimension.split(":", 1)[0] != namespace:
            raise _invalid(f"Unsupported scalable dimension '{dimension}' for service namespace '{namespace}'")
        raise AWSError("NotImplemented", f"fakeaws serves ECS services and Aurora clusters only, not "
                                         f"{dimension} (services/application_autoscaling.py)", 501)
    m = pattern.match(resource_id)
    if not m:
        raise _invalid(f"Unsupported resource ID '{resource_id}' for scalable dimension '{dimension}'")
    if namespace == "ecs":
        from . import ecs_services
        if ecs_services.active_service(ctx, m.group(1), m.group(2)) is None:
            raise _invalid(f"ECS service doesn't exist: {resource_id}")
    elif namespace == "rds":
        found = any(obj.get("DBClusterIdentifier") == m.group(1)
                    for kind in ctx.store.objects.get("rds", {}).values() for obj in kind.values()
                    if isinstance(obj, dict))
        if not found:
            raise _invalid(f"DB cluster doesn't exist: {m.group(1)}")


def _target_of(ctx, p):
    target = _targets(ctx).get(_key(p))
    if target is None:
        raise service.fault("ObjectNotFoundException", f"No scalable target registered for service namespace: "
                                                       f"{p['ServiceNamespace']}, resource ID: {p['ResourceId']}, "
                                                       f"scalable dimension: {p['ScalableDimension']}")
    return target


@service.op("RegisterScalableTarget")
def register_scalable_target(ctx, p):
    _check_resource(ctx, p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])
    target = _targets(ctx).get(_key(p))
    if target is None:
        if p.get("MinCapacity") is None or p.get("MaxCapacity") is None:
            raise _invalid("MinCapacity and MaxCapacity are required for registering a new scalable target")
        target = {"ServiceNamespace": p["ServiceNamespace"], "ResourceId": p["ResourceId"],
                  "ScalableDimension": p["ScalableDimension"], "CreationTime": ctx.now(),
                  "RoleARN": ctx.arn("iam", "role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
                                            "AWSServiceRoleForApplicationAutoScaling_ECSService", region="")}
    lo = p["MinCapacity"] if p.get("MinCapacity") is not None else target["MinCapacity"]
    hi = p["MaxCapacity"] if p.get("MaxCapacity") is not None else target["MaxCapacity"]
    if lo < 0 or hi < lo:
        raise _invalid(f"Maximum capacity cannot be less than minimum capacity (min {lo}, max {hi})")
    target["MinCapacity"], target["MaxCapacity"] = lo, hi
    if p.get("SuspendedState") is not None:
        target["SuspendedState"] = p["SuspendedState"]
    _targets(ctx)[_key(p)] = target
    return {}


@service.op("DescribeScalableTargets")
def describe_scalable_targets(ctx, p):
    found = [t for t in _targets(ctx).values() if t["ServiceNamespace"] == p["ServiceNamespace"]]
    if p.get("ResourceIds"):
        found = [t for t in found if t["ResourceId"] in p["ResourceIds"]]
    if p.get("ScalableDimension"):
        found = [t for t in found if t["ScalableDimension"] == p["ScalableDimension"]]
    page, token = ctx.page(found, key=lambda t: [t["ResourceId"], t["ScalableDimension"]], token=p.get("NextToken"),
                           limit=p.get("MaxResults"), token_error=("InvalidNextTokenException", 400))
    out = {"ScalableTargets": [dict(t) for t in page]}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeregisterScalableTarget")
def deregister_scalable_target(ctx, p):
    _target_of(ctx, p)
    for arn in [a for a, pol in _policies(ctx).items() if _key(pol) == _key(p)]:
        del _policies(ctx)[arn]
    del _targets(ctx)[_key(p)]
    return {}


def _check_label(ctx, label):
    m = re.fullmatch(r"(app/[\w-]+/[0-9a-f]+)/(targetgroup/[\w-]+/[0-9a-f]+)", label or "")
    if not m:
        raise _invalid(f"Invalid resource label '{label}': expected app/<load-balancer-name>/<id>/targetgroup/"
                       "<target-group-name>/<id>")
    lbs = [a for a in ctx.store.table("elbv2", "load-balancer") if a.endswith(":loadbalancer/" + m.group(1))]
    tgs = [a for a in ctx.store.table("elbv2", "target-group") if a.endswith(":" + m.group(2))]
    if not lbs or not tgs:
        raise _invalid(f"The resource label '{label}' names no existing load balancer and target group")


@service.op("PutScalingPolicy")
def put_scaling_policy(ctx, p):
    target = _target_of(ctx, p)
    policy_type = p.get("PolicyType", "StepScaling")
    if policy_type != "TargetTrackingScaling":
        raise AWSError("NotImplemented", "fakeaws serves target-tracking policies only "
                                         "(services/application_autoscaling.py)", 501)
    cfg = p.get("TargetTrackingScalingPolicyConfiguration")
    if not cfg:
        raise _invalid("TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy")
    spec = cfg.get("PredefinedMetricSpecification")
    if cfg.get("CustomizedMetricSpecification"):
        raise AWSError("NotImplemented", "fakeaws does not support customized metrics yet "
                                         "(services/application_autoscaling.py)", 501)
    if not spec:
        raise _invalid("A predefined or customized metric specification is required")
    metric = spec["PredefinedMetricType"]
    if metric not in _METRICS.get(target["ScalableDimension"], ()):
        raise _invalid(f"Predefined metric type {metric} is not valid for scalable dimension "
                       f"{target['ScalableDimension']}")
    if metric == "ALBRequestCountPerTarget":
        _check_label(ctx, spec.get("ResourceLabel"))
    elif spec.get("ResourceLabel"):
        raise _invalid(f"A resource label is valid only with ALBRequestCountPerTarget, not {metric}")
    if not 8.515920e-109 <= cfg["TargetValue"] <= 6.8056473e+38:
        raise _invalid("The target value is out of range")
    existing = [pol for pol in _policies(ctx).values()
                if pol["PolicyName"] == p["PolicyName"] and _key(pol) == _key(p)]
    if existing:
        policy = existing[0]
    else:
        pid = str(uuid.uuid4())
        arn = ctx.arn("autoscaling", f"scalingPolicy:{pid}:resource/{p['ServiceNamespace']}/{p['ResourceId']}:"
                                     f"policyName/{p['PolicyName']}")
        name = f"TargetTracking-{p['ResourceId']}"
        policy = {"PolicyARN": arn, "PolicyName": p["PolicyName"], "ServiceNamespace": p["ServiceNamespace"],
                  "ResourceId": p["ResourceId"], "ScalableDimension": p["ScalableDimension"],
                  "CreationTime": ctx.now(),
                  "Alarms": [{"AlarmName": f"{name}-{kind}-{pid}",
                              "AlarmARN": ctx.arn("cloudwatch", f"alarm:{name}-{kind}-{pid}")}
                             for kind in ("AlarmHigh", "AlarmLow")]}
        _policies(ctx)[arn] = policy
    policy["PolicyType"] = policy_type
    policy["TargetTrackingScalingPolicyConfiguration"] = dict(cfg)
    return {"PolicyARN": policy["PolicyARN"], "Alarms": [dict(a) for a in policy["Alarms"]]}


@service.op("DescribeScalingPolicies")
def describe_scaling_policies(ctx, p):
    found = [pol for pol in _policies(ctx).values() if pol["ServiceNamespace"] == p["ServiceNamespace"]]
    for member in ("ResourceId", "ScalableDimension"):
        if p.get(member):
            found = [pol for pol in found if pol[member] == p[member]]
    if p.get("PolicyNames"):
        found = [pol for pol in found if pol["PolicyName"] in p["PolicyNames"]]
    page, token = ctx.page(found, key=lambda pol: pol["PolicyARN"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"), token_error=("InvalidNextTokenException", 400))
    out = {"ScalingPolicies": [dict(pol) for pol in page]}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteScalingPolicy")
def delete_scaling_policy(ctx, p):
    for arn, pol in list(_policies(ctx).items()):
        if pol["PolicyName"] == p["PolicyName"] and _key(pol) == _key(p):
            del _policies(ctx)[arn]
            return {}
    raise service.fault("ObjectNotFoundException", f"No scaling policy found for service namespace: "
                                                   f"{p['ServiceNamespace']}, resource ID: {p['ResourceId']}, "
                                                   f"scalable dimension: {p['ScalableDimension']}, policy name: "
                                                   f"{p['PolicyName']}")
