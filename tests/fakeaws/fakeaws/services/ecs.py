"""ECS: task definitions (RegisterTaskDefinition, DescribeTaskDefinition,
DeregisterTaskDefinition). Revisions count up per family; a family alone names
its latest ACTIVE revision; deregistered revisions stay, INACTIVE."""
import re

from ..errors import AWSError
from ..state import public
from . import Service

service = Service("ecs")

_FAMILY = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


def _client_error(message):
    return AWSError("ClientException", message, 400)


def _defs(ctx):
    return ctx.store.table("ecs", "task-definition")


def _check(p):
    if not _FAMILY.match(p["family"]):
        raise _client_error("Family contains invalid characters; up to 255 letters (uppercase and lowercase), "
                            "numbers, hyphens, and underscores are allowed.")
    if not p["containerDefinitions"]:
        raise _client_error("Container list cannot be empty.")
    names = set()
    for c in p["containerDefinitions"]:
        if not c.get("name"):
            raise _client_error("Container.name should not be null or empty.")
        if not c.get("image"):
            raise _client_error("Container.image should not be null or empty.")
        if c["name"] in names:
            raise _client_error(f"Duplicate container name: {c['name']}")
        names.add(c["name"])
        if not p.get("memory") and c.get("memory") is None and c.get("memoryReservation") is None:
            raise _client_error(f"Invalid setting for container '{c['name']}'. At least one of 'memory' or "
                                "'memoryReservation' must be specified.")
    if "FARGATE" in (p.get("requiresCompatibilities") or []):
        if p.get("networkMode") != "awsvpc":
            raise _client_error("Fargate only supports network mode 'awsvpc'.")
        if not p.get("cpu"):
            raise _client_error("Fargate requires that 'cpu' be defined at the task level.")
        if not p.get("memory"):
            raise _client_error("Fargate requires that 'memory' be defined at the task level.")


@service.op("RegisterTaskDefinition")
def register_task_definition(ctx, p):
    _check(p)
    family = p["family"]
    revision = 1 + max((d["revision"] for d in _defs(ctx).values() if d["family"] == family), default=0)
    arn = ctx.arn("ecs", f"task-definition/{family}:{revision}")
    compat = ["EC2"]
    if p.get("networkMode") == "awsvpc" and p.get("cpu") and p.get("memory"):
        compat.append("FARGATE")
    td = {k: v for k, v in p.items() if k != "tags"}
    td.update({
        "taskDefinitionArn": arn,
        "revision": revision,
        "status": "ACTIVE",
        "compatibilities": compat,
        "registeredAt": ctx.now(),
        "registeredBy": ctx.identity.arn,
        "_tags": [dict(t) for t in p.get("tags") or []],
    })
    td.setdefault("networkMode", "bridge")
    td.setdefault("volumes", [])
    td.setdefault("placementConstraints", [])
    _defs(ctx)[f"{family}:{revision}"] = td
    out = {"taskDefinition": public(td)}
    if td["_tags"]:
        out["tags"] = td["_tags"]
    return out


def _find(ctx, ref, family_ok=True):
    defs = _defs(ctx)
    name = ref.split("task-definition/", 1)[1] if ref.startswith("arn:") and "task-definition/" in ref else ref
    if ":" in name:
        family, _, rev = name.rpartition(":")
        if not rev.isdigit():
            raise _client_error(f"Invalid revision number. Number: {rev}")
        td = defs.get(f"{family}:{int(rev)}")
    elif family_ok:
        active = [d for d in defs.values() if d["family"] == name and d["status"] == "ACTIVE"]
        td = max(active, key=lambda d: d["revision"]) if active else None
    else:
        raise _client_error("Invalid revision number. Number: " + name)
    if td is None:
        raise _client_error("Unable to describe task definition.")
    return td


@service.op("DescribeTaskDefinition")
def describe_task_definition(ctx, p):
    td = _find(ctx, p["taskDefinition"])
    out = {"taskDefinition": public(td)}
    if "TAGS" in (p.get("include") or []):
        out["tags"] = list(td["_tags"])
    return out


@service.op("DeregisterTaskDefinition")
def deregister_task_definition(ctx, p):
    td = _find(ctx, p["taskDefinition"], family_ok=False)
    if td["status"] == "ACTIVE":
        td["status"] = "INACTIVE"
        td["deregisteredAt"] = ctx.now()
    return {"taskDefinition": public(td)}
