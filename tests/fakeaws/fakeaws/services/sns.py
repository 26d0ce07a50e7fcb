"""SNS (query protocol): topics (CreateTopic, GetTopicAttributes,
SetTopicAttributes, DeleteTopic), their tags (TagResource, UntagResource,
ListTagsForResource) and subscriptions (Subscribe, Unsubscribe,
GetSubscriptionAttributes, ListSubscriptionsByTopic).

As SNS: CreateTopic is idempotent by name (the same ARN again; other tags than
the topic's are refused); DeleteTopic of a topic that is not there succeeds
and takes the topic's subscriptions with it; Subscribe is idempotent per
topic, protocol and endpoint; e-mail and HTTP(S) subscriptions stay pending
until confirmed (their owner clicks a link: never here), and a pending one
cannot be unsubscribed (AWS drops it after three days, or with its topic);
answers name a pending subscription "pending confirmation" unless
ReturnSubscriptionArn."""
import re
import uuid

from ..state import tag_dict, tag_list
from . import Service

service = Service("sns")

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOPIC_ARN = re.compile(r"^arn:aws[-a-z]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")
_SUB_ARN = re.compile(r"^(arn:aws[-a-z]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}):[0-9a-f-]{36}$")
_TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "Policy", "DeliveryPolicy", "TracingConfig",
                     "SignatureVersion")
_PENDING = ("email", "email-json", "http", "https")
_PROTOCOLS = ("email", "email-json", "http", "https", "sqs", "lambda", "sms", "application", "firehose")


def _topics(ctx):
    return ctx.store.table("sns", "topic")


def _subscriptions(ctx):
    return ctx.store.table("sns", "subscription")


def _invalid(message):
    return service.fault("InvalidParameterException", f"Invalid parameter: {message}")


def _not_found(what="Topic does not exist"):
    return service.fault("NotFoundException", what)


def _topic(ctx, arn):
    m = _TOPIC_ARN.match(arn)
    if not m:
        raise _invalid(f"TopicArn Reason: {arn} is not a topic ARN")
    topic = _topics(ctx).get(arn)
    if topic is None:
        raise _not_found()
    return topic


def _check_attributes(attrs):
    for k in attrs:
        if k not in _TOPIC_ATTRIBUTES:
            raise _invalid(f"AttributeName Reason: {k} is not a topic attribute fakeaws serves "
                           f"({', '.join(_TOPIC_ATTRIBUTES)})")


@service.op("CreateTopic")
def create_topic(ctx, p):
    name = p["Name"]
    if not _NAME.match(name) or name.endswith(".fifo"):
        raise _invalid("Topic Name (letters, digits, hyphens and underscores, at most 256; FIFO topics are not "
                       "served)")
    attrs = dict(p.get("Attributes") or {})
    _check_attributes(attrs)
    arn = ctx.arn("sns", name)
    tags = [dict(t) for t in p.get("Tags") or []]
    existing = _topics(ctx).get(arn)
    if existing is not None:
        if tags and tag_dict(tags) != tag_dict(existing["Tags"]):
            raise _invalid("Tags Reason: Topic already exists with different tags")
        return {"TopicArn": arn}
    _topics(ctx)[arn] = {"TopicArn": arn, "Name": name, "Attributes": attrs, "Tags": tags}
    return {"TopicArn": arn}


@service.op("GetTopicAttributes")
def get_topic_attributes(ctx, p):
    topic = _topic(ctx, p["TopicArn"])
    subs = [s for s in _subscriptions(ctx).values() if s["TopicArn"] == topic["TopicArn"]]
    pending = sum(1 for s in subs if s["PendingConfirmation"])
    attrs = {"TopicArn": topic["TopicArn"], "Owner": ctx.account, "DisplayName": "",
             "SubscriptionsConfirmed": str(len(subs) - pending), "SubscriptionsPending": str(pending),
             "SubscriptionsDeleted": "0"}
    attrs.update(topic["Attributes"])
    return {"Attributes": attrs}


@service.op("SetTopicAttributes")
def set_topic_attributes(ctx, p):
    topic = _topic(ctx, p["TopicArn"])
    name = p["AttributeName"]
    _check_attributes({name: None})
    value = p.get("AttributeValue")
    if value in (None, ""):
        topic["Attributes"].pop(name, None)
    else:
        topic["Attributes"][name] = value
    return {}


@service.op("DeleteTopic")
def delete_topic(ctx, p):
    arn = p["TopicArn"]
    if not _TOPIC_ARN.match(arn):
        raise _invalid(f"TopicArn Reason: {arn} is not a topic ARN")
    if _topics(ctx).pop(arn, None) is not None:
        subs = _subscriptions(ctx)
        for k in [k for k, s in subs.items() if s["TopicArn"] == arn]:
            del subs[k]
    return {}


def _tagged(ctx, arn):
    topic = _topics(ctx).get(arn)
    if topic is None:
        raise service.fault("ResourceNotFoundException", "Resource does not exist")
    return topic


@service.op("TagResource")
def tag_resource(ctx, p):
    topic = _tagged(ctx, p["ResourceArn"])
    tags = tag_dict(topic["Tags"])
    tags.update(tag_dict(p["Tags"]))
    if len(tags) > 50:
        raise service.fault("TagLimitExceededException", "Could not complete request: tag quota of per resource "
                                                         "exceeded")
    topic["Tags"] = tag_list(tags)
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    topic = _tagged(ctx, p["ResourceArn"])
    topic["Tags"] = [t for t in topic["Tags"] if t["Key"] not in p["TagKeys"]]
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    return {"Tags": [dict(t) for t in _tagged(ctx, p["ResourceArn"])["Tags"]]}


@service.op("Subscribe")
def subscribe(ctx, p):
    topic = _topic(ctx, p["TopicArn"])
    protocol, endpoint = p["Protocol"], p.get("Endpoint") or ""
    if protocol not in _PROTOCOLS:
        raise _invalid(f"Protocol Reason: {protocol} is not a protocol SNS knows")
    if protocol.startswith("email") and not re.match(r"^[^@\s]+@[^@\s]+\.[A-Za-z]+$", endpoint):
        raise _invalid("Email address")
    if protocol in ("http", "https") and not endpoint.startswith(protocol + "://"):
        raise _invalid(f"Endpoint Reason: an {protocol} endpoint starts with {protocol}://")
    subs = _subscriptions(ctx)
    found = next((s for s in subs.values() if s["TopicArn"] == topic["TopicArn"] and s["Protocol"] == protocol
                  and s["Endpoint"] == endpoint), None)
    if found is None:
        arn = f"{topic['TopicArn']}:{uuid.uuid4()}"
        found = {"SubscriptionArn": arn, "Owner": ctx.account, "Protocol": protocol, "Endpoint": endpoint,
                 "TopicArn": topic["TopicArn"], "PendingConfirmation": protocol in _PENDING}
        subs[arn] = found
    if found["PendingConfirmation"] and not p.get("ReturnSubscriptionArn"):
        return {"SubscriptionArn": "pending confirmation"}
    return {"SubscriptionArn": found["SubscriptionArn"]}


def _subscription(ctx, arn):
    if not _SUB_ARN.match(arn):
        raise _invalid(f"SubscriptionArn Reason: {arn} is not a subscription ARN")
    sub = _subscriptions(ctx).get(arn)
    if sub is None:
        raise _not_found("Subscription does not exist")
    return sub


@service.op("GetSubscriptionAttributes")
def get_subscription_attributes(ctx, p):
    sub = _subscription(ctx, p["SubscriptionArn"])
    return {"Attributes": {"SubscriptionArn": sub["SubscriptionArn"], "TopicArn": sub["TopicArn"],
                           "Owner": sub["Owner"], "Protocol": sub["Protocol"], "Endpoint": sub["Endpoint"],
                           "PendingConfirmation": "true" if sub["PendingConfirmation"] else "false",
                           "ConfirmationWasAuthenticated": "false" if sub["PendingConfirmation"] else "true",
                           "RawMessageDelivery": "false"}}


@service.op("Unsubscribe")
def unsubscribe(ctx, p):
    sub = _subscription(ctx, p["SubscriptionArn"])
    if sub["PendingConfirmation"]:
        raise _invalid("SubscriptionArn Reason: a subscription pending confirmation cannot be unsubscribed")
    del _subscriptions(ctx)[sub["SubscriptionArn"]]
    return {}


@service.op("ListSubscriptionsByTopic")
def list_subscriptions_by_topic(ctx, p):
    topic = _topic(ctx, p["TopicArn"])
    items = [s for s in _subscriptions(ctx).values() if s["TopicArn"] == topic["TopicArn"]]
    page, token = ctx.page(items, key=lambda s: s["SubscriptionArn"], token=p.get("NextToken"),
                           token_error=("InvalidParameter", 400))
    out = {"Subscriptions": [{"SubscriptionArn": "PendingConfirmation" if s["PendingConfirmation"]
                              else s["SubscriptionArn"], "Owner": s["Owner"], "Protocol": s["Protocol"],
                              "Endpoint": s["Endpoint"], "TopicArn": s["TopicArn"]} for s in page]}
    if token:
        out["NextToken"] = token
    return out
