"""ECS tasks: RunTask, DescribeTasks, StopTask, ListTasks (task definitions are
ecs.py's, clusters ecs_clusters.py's, services ecs_services.py's).

Nothing runs: a task only moves through its life over successive
DescribeTasks calls, each stage lasting `settle` describes (at least one):

  PROVISIONING -> PENDING -> RUNNING -> STOPPED

What happens to a task is decided when it is started, by the first rule set
with POST /_fake/ecs/task-results whose "match" is a substring of the task's
commands (each container's override command, else its definition's, joined
with spaces; containers separated by newlines):

  {"rules": [{"match": "customers/delta.lua", "exit_code": 1,
              "log": ["Error: CreateVpc failed", "..."],
              "start_failure": "CannotPullContainerError: ...",    (optional)
              "running_describes": 3}]}                             (optional)

Without a matching rule a task exits 0 and logs one line naming its command.
exit_code is the exit code of the task's first essential container (the
others exit 0); start_failure stops the task before it runs (stopCode
TaskFailedToStart, no exit code); running_describes is how many describes it
stays RUNNING. GET /_fake/ecs/task-results answers the rules in force;
/_fake/reset forgets them.

Logs: a container whose definition has an awslogs logConfiguration writes
its log lines, when it starts running, to the stream
<awslogs-stream-prefix>/<container name>/<task id> (the task id alone without
a prefix) of awslogs-group, through logs_streams.py (GetLogEvents reads them).
As on ECS, a missing log group stops the task before it runs
(ResourceInitializationError) unless awslogs-create-group is "true".

StopTask: the next describe shows the task STOPPED (stopCode UserInitiated,
the reason given); a container that was running exits 143 (SIGTERM).

Checked as ECS does: the task definition exists and is ACTIVE, count 1-10,
launchType and capacityProviderStrategy exclusive, FARGATE only for a
definition compatible with it, a network configuration exactly when the
definition's network mode is awsvpc (subnets and security groups must exist
in fakeaws's EC2, subnets in one VPC), overrides name the definition's
containers, startedBy at most 36 characters, DescribeTasks at most 100 tasks,
the cluster exists (ClusterNotFoundException; ACTIVE to start a task).
Container instances and capacity providers play no part: a task is placed
wherever it is asked to run."""
import json
import secrets

from .. import control
from ..errors import AWSError
from ..state import public
from . import ecs as ecs_defs
from . import ecs_clusters

# Not named `service`: services.load() would then name this module in ECS's
# "not implemented" answers, which belong to ecs.py.
ecs = ecs_defs.service

STAGES = ("PROVISIONING", "PENDING", "RUNNING", "STOPPED")
RULE_KEYS = ("match", "exit_code", "log", "start_failure", "running_describes")


def _invalid(message):
    return ecs.fault("InvalidParameterException", message)


def _client_error(message):
    return ecs.fault("ClientException", message)


def _tasks(ctx):
    return ctx.store.table("ecs", "task")


def _rules(store):
    return store.scratch("ecs", "task-results", list)


def _cluster(ctx, ref, active=False):
    """-> (name, arn) of the cluster a request names (default: "default");
    ClusterNotFoundException for one ecs_clusters.py does not know (or that
    is not ACTIVE, to start tasks on)."""
    cluster = ecs_clusters.find_cluster(ctx, ref, active=active)
    return cluster["clusterName"], cluster["clusterArn"]


def _find_task(ctx, cluster, ref):
    """The task a DescribeTasks/StopTask entry names (ARN or id) in cluster, or None."""
    tasks = _tasks(ctx)
    if ref.startswith("arn:"):
        task = tasks.get(ref)
    else:
        task = tasks.get(ctx.arn("ecs", f"task/{cluster}/{ref}"))
    if task is None or task["_cluster"] != cluster:
        return None
    return task


def _task_definition(ctx, ref):
    try:
        td = ecs_defs._find(ctx, ref)
    except AWSError:
        raise _client_error("TaskDefinition not found.") from None
    if td["status"] != "ACTIVE":
        raise _client_error("TaskDefinition is inactive")
    return td


def _check_network(ctx, td, p):
    net = p.get("networkConfiguration")
    awsvpc = td.get("networkMode") == "awsvpc"
    if awsvpc and not net:
        raise _invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    if not awsvpc and net:
        raise _invalid("Network Configuration is not valid for the given networkMode of this task definition.")
    if not net:
        return None
    cfg = net.get("awsvpcConfiguration") or {}
    subnets = ctx.store.table("ec2", "subnet")
    groups = ctx.store.table("ec2", "security-group")
    if not cfg.get("subnets"):
        raise _invalid("subnets can not be empty.")
    vpcs = set()
    for sid in cfg["subnets"]:
        if sid not in subnets:
            raise _invalid(f"Error retrieving subnet information for [{sid}]: The subnet ID '{sid}' does not "
                           "exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)")
        vpcs.add(subnets[sid]["VpcId"])
    if len(vpcs) > 1:
        raise _invalid("The subnets must belong to the same VPC.")
    for gid in cfg.get("securityGroups") or []:
        if gid not in groups:
            raise _invalid(f"Error retrieving security group information for [{gid}]: The security group "
                           f"'{gid}' does not exist (Service: AmazonEC2; Status Code: 400; "
                           "Error Code: InvalidGroup.NotFound)")
        if groups[gid].get("VpcId") not in vpcs:
            raise _invalid(f"Security group {gid} does not belong to the VPC of the subnets.")
    return cfg


def _commands(td, overrides):
    """{container name: command list} as the task will run them."""
    by_name = {o["name"]: o for o in (overrides or {}).get("containerOverrides") or [] if o.get("name")}
    out = {}
    for c in td["containerDefinitions"]:
        o = by_name.get(c["name"], {})
        out[c["name"]] = list(o["command"]) if o.get("command") is not None else list(c.get("command") or [])
    return out


def _outcome(store, commands):
    subject = "\n".join(" ".join(cmd) for cmd in commands.values())
    with store.lock:
        for rule in _rules(store):
            if rule["match"] in subject:
                return dict(rule)
    first = next(iter(commands.values()), [])
    return {"match": None, "exit_code": 0, "log": [f"fakeaws: ran {' '.join(first)}"]}


def _awslogs(td, name):
    """(group, stream prefix, create group) of a container's awslogs configuration, or None."""
    for c in td["containerDefinitions"]:
        if c["name"] == name:
            cfg = c.get("logConfiguration") or {}
            if cfg.get("logDriver") != "awslogs":
                return None
            opts = cfg.get("options") or {}
            return opts.get("awslogs-group"), opts.get("awslogs-stream-prefix"), \
                opts.get("awslogs-create-group") == "true"
    return None


@ecs.op("RunTask")
def run_task(ctx, p):
    td = _task_definition(ctx, p["taskDefinition"])
    cluster, cluster_arn = _cluster(ctx, p.get("cluster"), active=True)
    count = p.get("count", 1)
    if not 1 <= count <= 10:
        raise _invalid("count must be between 1 and 10.")
    if p.get("launchType") and p.get("capacityProviderStrategy"):
        raise _invalid("Specifying both a launch type and capacity provider strategy is not supported. Remove "
                       "one and try again.")
    launch_type = p.get("launchType") or ("FARGATE" if "FARGATE" in (td.get("requiresCompatibilities") or [])
                                         else "EC2")
    if launch_type not in td["compatibilities"]:
        raise _client_error(f"Task definition does not support launch_type {launch_type}.")
    vpc_cfg = _check_network(ctx, td, p)
    names = [c["name"] for c in td["containerDefinitions"]]
    overrides = p.get("overrides") or {}
    for o in overrides.get("containerOverrides") or []:
        if o.get("name") not in names:
            raise _invalid(f"Override for container named {o.get('name')} is not a container in the "
                           "TaskDefinition.")
    if len(p.get("startedBy") or "") > 36:
        raise _invalid("startedBy must be at most 36 characters.")
    commands = _commands(td, overrides)
    essential = next((c["name"] for c in td["containerDefinitions"] if c.get("essential", True)), names[0])
    started = []
    for _ in range(count):
        task_id = secrets.token_hex(16)
        arn = ctx.arn("ecs", f"task/{cluster}/{task_id}")
        containers = [{
            "containerArn": ctx.arn("ecs", f"container/{cluster}/{task_id}/{secrets.token_hex(18)}"),
            "taskArn": arn, "name": c["name"], "image": c["image"], "lastStatus": "PENDING",
            "networkInterfaces": [], "cpu": str(c.get("cpu", 0)),
        } for c in td["containerDefinitions"]]
        task = {
            "taskArn": arn, "clusterArn": cluster_arn, "taskDefinitionArn": td["taskDefinitionArn"],
            "overrides": {"containerOverrides": list(overrides.get("containerOverrides") or []),
                          "inferenceAcceleratorOverrides": []},
            "lastStatus": "PROVISIONING", "desiredStatus": "RUNNING", "createdAt": ctx.now(),
            "group": p.get("group") or f"family:{td['family']}", "launchType": launch_type,
            "version": 1, "containers": containers, "attachments": [],
            "tags": [dict(t) for t in p.get("tags") or []],
            "_cluster": cluster, "_stage": 0, "_describes": 0, "_essential": essential,
            "_outcome": _outcome(ctx.store, commands), "_td": f"{td['family']}:{td['revision']}",
        }
        if td.get("cpu"):
            task["cpu"] = td["cpu"]
        if td.get("memory"):
            task["memory"] = td["memory"]
        if p.get("startedBy"):
            task["startedBy"] = p["startedBy"]
        if vpc_cfg:
            task["attachments"] = [{"id": secrets.token_hex(16), "type": "ElasticNetworkInterface",
                                    "status": "PRECREATED", "details": [
                                        {"name": "subnetId", "value": vpc_cfg["subnets"][0]}]}]
        _tasks(ctx)[arn] = task
        started.append(task)
    return {"tasks": [_view(t, False) for t in started], "failures": []}


def _view(task, tags):
    out = public(task)
    if not tags:
        out.pop("tags", None)
    return out


def _stop(ctx, task, code, reason, exit_code):
    now = ctx.now()
    task["lastStatus"] = "STOPPED"
    task["desiredStatus"] = "STOPPED"
    task["stopCode"] = code
    task["stoppedReason"] = reason
    task["stoppingAt"] = task["stoppedAt"] = task["executionStoppedAt"] = now
    task["_stage"] = STAGES.index("STOPPED")
    for c in task["containers"]:
        was_running = c["lastStatus"] == "RUNNING"
        c["lastStatus"] = "STOPPED"
        if exit_code is not None and was_running:
            c["exitCode"] = exit_code if c["name"] == task["_essential"] else 0
        elif code == "TaskFailedToStart":
            c["reason"] = reason


def _start_running(ctx, task):
    """PENDING -> RUNNING: the containers start and write their log lines.
    -> False when the task cannot start (it is then STOPPED)."""
    outcome = task["_outcome"]
    if outcome.get("start_failure"):
        _stop(ctx, task, "TaskFailedToStart", outcome["start_failure"], None)
        return False
    td = ecs_defs._find(ctx, task["_td"])
    task_id = task["taskArn"].rsplit("/", 1)[1]
    for c in task["containers"]:
        logs = _awslogs(td, c["name"])
        if logs is None:
            continue
        group, prefix, create = logs
        from . import logs_streams
        stream = f"{prefix}/{c['name']}/{task_id}" if prefix else task_id
        lines = (outcome.get("log") or []) if c["name"] == task["_essential"] else []
        if not logs_streams.write(ctx, group, stream, lines, create_group=create):
            _stop(ctx, task, "TaskFailedToStart",
                  "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 "
                  "times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log "
                  f"group does not exist. : exit status 1 (log group {group})", None)
            return False
    now = ctx.now()
    task["pullStartedAt"] = task["pullStoppedAt"] = task["startedAt"] = now
    task["connectivity"], task["connectivityAt"] = "CONNECTED", now
    for c in task["containers"]:
        c["lastStatus"] = "RUNNING"
    for a in task["attachments"]:
        a["status"] = "ATTACHED"
    return True


def _advance(ctx, task):
    """One describe: the task moves one stage on once the current one has
    lasted its describes."""
    if task["lastStatus"] == "STOPPED":
        return
    if task.get("_stop_requested"):
        code, reason = task.pop("_stop_requested")
        running = task["lastStatus"] == "RUNNING"
        _stop(ctx, task, code, reason, 143 if running else None)
        return
    stage = STAGES[task["_stage"]]
    last = max(1, ctx.settle)
    if stage == "RUNNING":
        last = task["_outcome"].get("running_describes") or last
    task["_describes"] += 1
    if task["_describes"] < last:
        return
    task["_describes"] = 0
    nxt = STAGES[task["_stage"] + 1]
    task["version"] += 1
    if nxt == "PENDING":
        task["_stage"] += 1
        task["lastStatus"] = "PENDING"
    elif nxt == "RUNNING":
        if _start_running(ctx, task):
            task["_stage"] += 1
            task["lastStatus"] = "RUNNING"
    else:
        _stop(ctx, task, "EssentialContainerExited", "Essential container in task exited",
              task["_outcome"].get("exit_code", 0))


@ecs.op("DescribeTasks")
def describe_tasks(ctx, p):
    if len(p["tasks"]) > 100:
        raise _invalid("Tasks cannot be longer than 100.")
    if not p["tasks"]:
        raise _invalid("Tasks cannot be empty.")
    cluster, _ = _cluster(ctx, p.get("cluster"))
    tags = "TAGS" in (p.get("include") or [])
    found, failures = [], []
    for ref in p["tasks"]:
        task = _find_task(ctx, cluster, ref)
        if task is None:
            failures.append({"arn": ref if ref.startswith("arn:") else ctx.arn("ecs", f"task/{cluster}/{ref}"),
                             "reason": "MISSING"})
            continue
        _advance(ctx, task)
        found.append(_view(task, tags))
    return {"tasks": found, "failures": failures}


@ecs.op("StopTask")
def stop_task(ctx, p):
    cluster, _ = _cluster(ctx, p.get("cluster"))
    task = _find_task(ctx, cluster, p["task"])
    if task is None:
        raise _invalid("The referenced task was not found.")
    if task["lastStatus"] != "STOPPED" and task["desiredStatus"] != "STOPPED":
        task["desiredStatus"] = "STOPPED"
        task["_stop_requested"] = ("UserInitiated", p.get("reason") or "Task stopped by user")
    return {"task": _view(task, False)}


@ecs.op("ListTasks")
def list_tasks(ctx, p):
    cluster, _ = _cluster(ctx, p.get("cluster"))
    if p.get("containerInstance"):
        raise _invalid("fakeaws has no container instances: ListTasks cannot filter by containerInstance")
    desired = p.get("desiredStatus") or "RUNNING"
    tasks = [t for t in _tasks(ctx).values() if t["_cluster"] == cluster and t["desiredStatus"] == desired]
    if p.get("family"):
        tasks = [t for t in tasks if t["_td"].rsplit(":", 1)[0] == p["family"]]
    if p.get("startedBy"):
        tasks = [t for t in tasks if t.get("startedBy") == p["startedBy"]]
    if p.get("serviceName"):
        tasks = [t for t in tasks if t["group"] == f"service:{p['serviceName']}"]
    if p.get("launchType"):
        tasks = [t for t in tasks if t["launchType"] == p["launchType"]]
    page, token = ctx.page(tasks, key=lambda t: t["taskArn"], token=p.get("nextToken"),
                           limit=p.get("maxResults"), token_error=("InvalidParameterException", 400))
    out = {"taskArns": [t["taskArn"] for t in page]}
    if token:
        out["nextToken"] = token
    return out


# -- the control endpoint ----------------------------------------------------

def _check_rule(rule):
    if not isinstance(rule, dict):
        raise ValueError("each rule must be a JSON object")
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        raise ValueError(f"unknown rule key '{unknown[0]}' (valid: {', '.join(RULE_KEYS)})")
    if not isinstance(rule.get("match"), str) or not rule["match"]:
        raise ValueError("a rule needs \"match\": a non-empty string")
    code = rule.get("exit_code", 0)
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
        raise ValueError("exit_code must be an integer from 0 to 255")
    log = rule.get("log", [])
    if not isinstance(log, list) or not all(isinstance(line, str) for line in log):
        raise ValueError("log must be a list of strings")
    if "start_failure" in rule and (not isinstance(rule["start_failure"], str) or not rule["start_failure"]):
        raise ValueError("start_failure must be a non-empty string")
    runs = rule.get("running_describes", 1)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError("running_describes must be an integer >= 1")
    return {"exit_code": code, "log": list(log), **{k: v for k, v in rule.items() if k not in ("exit_code", "log")}}


def _control_get(server, req):
    with server.store.lock:
        return 200, {"rules": list(_rules(server.store))}


def _control_post(server, req):
    try:
        doc = json.loads(req.body or b"{}")
        if not isinstance(doc, dict) or set(doc) - {"rules"} or not isinstance(doc.get("rules", []), list):
            raise ValueError("expected {\"rules\": [{\"match\": ..., \"exit_code\": ..., \"log\": [...]}, ...]}")
        rules = [_check_rule(r) for r in doc.get("rules", [])]
    except ValueError as e:
        return 400, {"error": str(e)}
    with server.store.lock:
        current = _rules(server.store)
        current[:] = rules
        return 200, {"rules": list(current)}


control.register("GET", "/_fake/ecs/task-results", _control_get)
control.register("POST", "/_fake/ecs/task-results", _control_post)
