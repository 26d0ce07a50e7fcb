"""CloudWatch (query protocol): metric alarms (PutMetricAlarm, DescribeAlarms,
DeleteAlarms) and their tags (TagResource, UntagResource, ListTagsForResource).

PutMetricAlarm creates or replaces an alarm whole, as CloudWatch does: tags
given with it apply only when it creates the alarm. Checked: exactly one of
Statistic, ExtendedStatistic and Metrics; a period of 10, 30 or a multiple of
60 seconds; DatapointsToAlarm no more than EvaluationPeriods; a Threshold for
the static comparison operators; alarm actions that are ARNs. A new alarm is
INSUFFICIENT_DATA. DeleteAlarms deletes nothing when one name is unknown
(ResourceNotFound)."""
import re

from ..errors import AWSError
from ..state import public, tag_dict, tag_list
from . import Service

service = Service("cloudwatch")

_ALARM_ARN = re.compile(r"^arn:aws[-a-z]*:cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.+)$")
_BAND = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold")


def _alarms(ctx):
    return ctx.store.table("cloudwatch", "alarm")


def _invalid(message):
    return service.fault("InvalidParameterValueException", message)


def _check(p):
    stats = [k for k in ("Statistic", "ExtendedStatistic", "Metrics") if p.get(k)]
    if len(stats) != 1:
        raise AWSError("ValidationError", "Exactly one of Statistic, ExtendedStatistic and Metrics must be "
                                          "specified", 400)
    if not p.get("Metrics"):
        for k in ("MetricName", "Namespace", "Period"):
            if p.get(k) is None:
                raise AWSError("ValidationError", f"{k} must be specified when the alarm watches one metric", 400)
        period = p["Period"]
        if period not in (10, 30) and (period < 60 or period % 60):
            raise AWSError("ValidationError", "Period must be 10, 30 or a multiple of 60", 400)
    if p["EvaluationPeriods"] < 1:
        raise AWSError("ValidationError", "EvaluationPeriods must be at least 1", 400)
    if p.get("DatapointsToAlarm") is not None and not 1 <= p["DatapointsToAlarm"] <= p["EvaluationPeriods"]:
        raise AWSError("ValidationError", "DatapointsToAlarm must be between 1 and EvaluationPeriods", 400)
    if p["ComparisonOperator"] in _BAND:
        if not p.get("ThresholdMetricId"):
            raise AWSError("ValidationError", "ThresholdMetricId is required for anomaly detection operators", 400)
    elif p.get("Threshold") is None:
        raise AWSError("ValidationError", "Threshold must be specified for a static threshold alarm", 400)
    if p.get("TreatMissingData") and p["TreatMissingData"] not in ("breaching", "notBreaching", "ignore",
                                                                   "missing"):
        raise AWSError("ValidationError", "TreatMissingData must be breaching, notBreaching, ignore or missing",
                       400)
    for k in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        for action in p.get(k) or []:
            if not action.startswith("arn:"):
                raise AWSError("ValidationError", f"Invalid arn syntax: {action}", 400)
    dims = p.get("Dimensions") or []
    if len({d["Name"] for d in dims}) != len(dims):
        raise _invalid("Dimension names must be unique")


_FIELDS = ("AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
           "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
           "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
           "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")


@service.op("PutMetricAlarm")
def put_metric_alarm(ctx, p):
    _check(p)
    name = p["AlarmName"]
    alarms = _alarms(ctx)
    now = ctx.now().replace(microsecond=0)
    old = alarms.get(name)
    if old is None and len(alarms) >= 5000:
        raise service.fault("LimitExceededFault", "The maximum number of alarms has been reached")
    alarm = {"AlarmName": name, "AlarmArn": ctx.arn("cloudwatch", f"alarm:{name}"),
             "AlarmConfigurationUpdatedTimestamp": now, "ActionsEnabled": True,
             "OKActions": [], "AlarmActions": [], "InsufficientDataActions": [], "Dimensions": []}
    for k in _FIELDS:
        if p.get(k) is not None:
            alarm[k] = p[k]
    if old is None:
        alarm.update({"StateValue": "INSUFFICIENT_DATA", "StateReason": "Unchecked: Initial alarm creation",
                      "StateUpdatedTimestamp": now, "Tags": [dict(t) for t in p.get("Tags") or []]})
    else:
        alarm.update({k: old[k] for k in ("StateValue", "StateReason", "StateUpdatedTimestamp", "Tags")})
    alarms[name] = alarm
    return {}


def _view(alarm):
    out = public(alarm)
    del out["Tags"]       # kept for the state dump; answered by ListTagsForResource
    return out


@service.op("DescribeAlarms")
def describe_alarms(ctx, p):
    if p.get("AlarmNames") and p.get("AlarmNamePrefix"):
        raise _invalid("AlarmNames and AlarmNamePrefix cannot be used together")
    types = p.get("AlarmTypes") or ["MetricAlarm"]
    items = list(_alarms(ctx).values())
    if p.get("AlarmNames"):
        wanted = set(p["AlarmNames"])
        items = [a for a in items if a["AlarmName"] in wanted]
    if p.get("AlarmNamePrefix"):
        items = [a for a in items if a["AlarmName"].startswith(p["AlarmNamePrefix"])]
    if p.get("StateValue"):
        items = [a for a in items if a["StateValue"] == p["StateValue"]]
    if p.get("ActionPrefix"):
        items = [a for a in items if any(x.startswith(p["ActionPrefix"]) for x in a["AlarmActions"])]
    if "MetricAlarm" not in types:
        items = []
    page, token = ctx.page(items, key=lambda a: a["AlarmName"], token=p.get("NextToken"),
                           limit=p.get("MaxRecords"), token_error=("InvalidNextToken", 400))
    out = {"MetricAlarms": [_view(a) for a in page]}
    if "CompositeAlarm" in types:
        out["CompositeAlarms"] = []
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteAlarms")
def delete_alarms(ctx, p):
    alarms = _alarms(ctx)
    missing = [n for n in p["AlarmNames"] if n not in alarms]
    if missing:
        raise service.fault("ResourceNotFound", f"{len(missing)}/{len(p['AlarmNames'])} alarms not found: "
                                                + ", ".join(missing))
    for n in p["AlarmNames"]:
        del alarms[n]
    return {}


def _by_arn(ctx, arn):
    m = _ALARM_ARN.match(arn)
    if not m:
        raise _invalid(f"Invalid ARN: {arn}")
    alarm = _alarms(ctx).get(m.group(3))
    if alarm is None or m.group(1) != ctx.region or m.group(2) != ctx.account:
        raise service.fault("ResourceNotFoundException", f"Alarm {m.group(3)} does not exist.")
    return alarm


@service.op("TagResource")
def tag_resource(ctx, p):
    alarm = _by_arn(ctx, p["ResourceARN"])
    tags = tag_dict(alarm["Tags"])
    tags.update(tag_dict(p["Tags"]))
    alarm["Tags"] = tag_list(tags)
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    alarm = _by_arn(ctx, p["ResourceARN"])
    alarm["Tags"] = [t for t in alarm["Tags"] if t["Key"] not in p["TagKeys"]]
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    alarm = _by_arn(ctx, p["ResourceARN"])
    return {"Tags": [dict(t) for t in alarm["Tags"]]}
