"""CloudWatch Logs streams and events: CreateLogStream, PutLogEvents,
GetLogEvents (log groups are logs.py's), and write() for other services whose
resources log (ecs_tasks.py: a container's awslogs lines).

A stream lives in its group (group["_streams"][name], its events in
stream["_events"]), so it goes with the group and stays out of /_fake/state.
As CloudWatch Logs: the group must exist (ResourceNotFoundException), a
stream name is unique in its group, at most 512 characters without ':' or
'*', the events of one PutLogEvents are in chronological order (at most
10,000). GetLogEvents without a token answers the last `limit` events (the
first ones with startFromHead), between startTime (inclusive) and endTime
(exclusive); its tokens ("f/<n>", "b/<n>") name a position, and the forward
token at the end is the one given (a reader stops when it repeats)."""
import re

from ..errors import AWSError
from ..state import public

# log groups are logs.py's; not named `service` here, so that logs.py stays
# the module named in the "not implemented" answers of CloudWatch Logs
from .logs import service as logs

_STREAM = re.compile(r"^[^:*]{1,512}$")
MAX_EVENTS = 10000


def _groups(ctx):
    return ctx.store.table("logs", "log-group")


def _invalid(message):
    return AWSError("InvalidParameterException", message, 400)


def _group(ctx, name):
    group = _groups(ctx).get(name)
    if group is None:
        raise AWSError("ResourceNotFoundException", "The specified log group does not exist.", 400)
    return group


def _stream(ctx, group_name, stream_name):
    stream = _group(ctx, group_name).setdefault("_streams", {}).get(stream_name)
    if stream is None:
        raise AWSError("ResourceNotFoundException", "The specified log stream does not exist.", 400)
    return stream


def _millis(ctx):
    return int(ctx.now().timestamp() * 1000)


def _new_stream(ctx, group, name):
    if not _STREAM.match(name):
        raise _invalid(f"1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy "
                       "constraint: Member must satisfy regular expression pattern: [^:*]*")
    streams = group.setdefault("_streams", {})
    if name in streams:
        raise AWSError("ResourceAlreadyExistsException", "The specified log stream already exists", 400)
    streams[name] = {
        "logStreamName": name, "creationTime": _millis(ctx), "storedBytes": 0,
        "arn": ctx.arn("logs", f"log-group:{group['logGroupName']}:log-stream:{name}"),
        "_events": [],
    }
    return streams[name]


def _append(ctx, group, stream, events):
    now = _millis(ctx)
    for e in events:
        stream["_events"].append({"timestamp": e["timestamp"], "message": e["message"], "ingestionTime": now})
        size = len(e["message"].encode()) + 26
        stream["storedBytes"] += size
        group["storedBytes"] = group.get("storedBytes", 0) + size
    if events:
        stream.setdefault("firstEventTimestamp", events[0]["timestamp"])
        stream["lastEventTimestamp"] = events[-1]["timestamp"]
        stream["lastIngestionTime"] = now


def write(ctx, group_name, stream_name, lines, create_group=False):
    """Append lines (one event each, timestamped now) to a stream, created
    when missing. -> False when the group does not exist (and create_group is
    false), as the awslogs driver fails then."""
    group = _groups(ctx).get(group_name)
    if group is None:
        if not create_group:
            return False
        # as logs.py's CreateLogGroup makes it (awslogs-create-group)
        group = {"logGroupName": group_name, "creationTime": _millis(ctx), "metricFilterCount": 0,
                 "arn": ctx.arn("logs", f"log-group:{group_name}:*"), "storedBytes": 0, "Tags": []}
        _groups(ctx)[group_name] = group
    stream = group.setdefault("_streams", {}).get(stream_name) or _new_stream(ctx, group, stream_name)
    now = _millis(ctx)
    _append(ctx, group, stream, [{"timestamp": now, "message": line} for line in lines])
    return True


@logs.op("CreateLogStream")
def create_log_stream(ctx, p):
    _new_stream(ctx, _group(ctx, p["logGroupName"]), p["logStreamName"])
    return {}


@logs.op("PutLogEvents")
def put_log_events(ctx, p):
    group = _group(ctx, p["logGroupName"])
    stream = _stream(ctx, p["logGroupName"], p["logStreamName"])
    events = p["logEvents"]
    if len(events) > MAX_EVENTS:
        raise _invalid(f"A batch of log events can hold at most {MAX_EVENTS} events.")
    if any(b["timestamp"] < a["timestamp"] for a, b in zip(events, events[1:])):
        raise _invalid("Log events in a single PutLogEvents request must be in chronological order.")
    _append(ctx, group, stream, events)
    stream["_sequence"] = stream.get("_sequence", 0) + 1
    return {"nextSequenceToken": "%056d" % stream["_sequence"]}


def _position(token, size):
    m = re.match(r"^([fb])/(\d+)$", token or "")
    if not m:
        raise _invalid("The specified nextToken is invalid.")
    return m.group(1), min(int(m.group(2)), size)


@logs.op("GetLogEvents")
def get_log_events(ctx, p):
    group_name = p.get("logGroupName") or p.get("logGroupIdentifier")
    if p.get("logGroupName") and p.get("logGroupIdentifier"):
        raise _invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if not group_name:
        raise _invalid("Either logGroupName or logGroupIdentifier is required.")
    if group_name.startswith("arn:"):
        group_name = group_name.split(":log-group:", 1)[-1].removesuffix(":*")
    stream = _stream(ctx, group_name, p["logStreamName"])
    events = stream["_events"]
    if p.get("startTime") is not None:
        events = [e for e in events if e["timestamp"] >= p["startTime"]]
    if p.get("endTime") is not None:
        events = [e for e in events if e["timestamp"] < p["endTime"]]
    limit = p.get("limit") or MAX_EVENTS
    if not 1 <= limit <= MAX_EVENTS:
        raise _invalid(f"limit must be between 1 and {MAX_EVENTS}")
    if p.get("nextToken"):
        direction, at = _position(p["nextToken"], len(events))
        start, end = (at, min(at + limit, len(events))) if direction == "f" else (max(0, at - limit), at)
    elif p.get("startFromHead"):
        start, end = 0, min(limit, len(events))
    else:
        start, end = max(0, len(events) - limit), len(events)
    return {"events": public(events[start:end]), "nextForwardToken": f"f/{end}", "nextBackwardToken": f"b/{start}"}
