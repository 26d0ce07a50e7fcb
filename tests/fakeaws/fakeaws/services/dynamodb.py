"""DynamoDB: tables (CreateTable, DescribeTable, UpdateTable for the billing
mode, DeleteTable; point-in-time recovery with DescribeContinuousBackups /
UpdateContinuousBackups; tags with TagResource, UntagResource,
ListTagsOfResource) and items (PutItem,
GetItem, DeleteItem) with ConditionExpression (dynamodb_expressions.py),
ExpressionAttributeNames/Values, ReturnValues ALL_OLD and ProjectionExpression.
TableStatus: CREATING -> ACTIVE, DELETING -> gone, over describes; items can be
written only to an ACTIVE table. Items are kept as ("dynamodb", "item") objects
keyed "<table>|<key as JSON>" so /_fake/state shows them."""
import json
import re
import uuid
from decimal import Decimal, InvalidOperation

from ..errors import AWSError
from ..state import advance, public, start_lifecycle
from . import Service
from .dynamodb_expressions import ExpressionError, Expressions, project

service = Service("dynamodb", json_error_prefix="com.amazonaws.dynamodb.v20120810#")

_TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")


def _validation(message):
    return AWSError("ValidationException", message, 400)


def _tables(ctx):
    return ctx.store.table("dynamodb", "table")


def _items(ctx):
    return ctx.store.table("dynamodb", "item")


def _not_found(name):
    return AWSError("ResourceNotFoundException", f"Requested resource not found: Table: {name} not found", 400)


def _table(ctx, name, active=False):
    table = _tables(ctx).get(name)
    if table is None or (active and table["TableStatus"] != "ACTIVE"):
        raise _not_found(name)
    return table


# -- tables ---------------------------------------------------------------------

@service.op("CreateTable")
def create_table(ctx, p):
    name = p["TableName"]
    if not _TABLE_NAME.match(name):
        raise _validation(f"TableName must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ (got {name})")
    if p.get("GlobalSecondaryIndexes") or p.get("LocalSecondaryIndexes") or p.get("StreamSpecification"):
        raise AWSError("NotImplemented", "fakeaws does not support secondary indexes or streams yet "
                                         "(tests/fakeaws/fakeaws/services/dynamodb.py)", 501)
    if name in _tables(ctx):
        raise AWSError("ResourceInUseException", f"Table already exists: {name}", 400)
    keys = p["KeySchema"]
    kinds = [k["KeyType"] for k in keys]
    if kinds not in (["HASH"], ["HASH", "RANGE"]):
        raise _validation("1 validation error detected: KeySchema must be one HASH key, optionally followed "
                          "by one RANGE key")
    defs = {d["AttributeName"]: d["AttributeType"] for d in p["AttributeDefinitions"]}
    if set(defs) != {k["AttributeName"] for k in keys} or len(defs) != len(p["AttributeDefinitions"]):
        raise _validation("One or more parameter values were invalid: Number of attributes in KeySchema does "
                          "not exactly match number of attributes defined in AttributeDefinitions")
    mode = p.get("BillingMode", "PROVISIONED")
    throughput = p.get("ProvisionedThroughput")
    if mode == "PROVISIONED" and not throughput:
        raise _validation("One or more parameter values were invalid: ReadCapacityUnits and "
                          "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
    if mode == "PAY_PER_REQUEST" and throughput:
        raise _validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                          "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
    table = {
        "AttributeDefinitions": [dict(d) for d in p["AttributeDefinitions"]],
        "TableName": name,
        "KeySchema": [dict(k) for k in keys],
        "CreationDateTime": ctx.now(),
        "ProvisionedThroughput": {"NumberOfDecreasesToday": 0,
                                  "ReadCapacityUnits": (throughput or {}).get("ReadCapacityUnits", 0),
                                  "WriteCapacityUnits": (throughput or {}).get("WriteCapacityUnits", 0)},
        "TableSizeBytes": 0,
        "ItemCount": 0,
        "TableArn": ctx.arn("dynamodb", f"table/{name}"),
        "TableId": str(uuid.uuid4()),
        "BillingModeSummary": {"BillingMode": mode},
        "_tags": [dict(t) for t in p.get("Tags") or []],
        "_pitr": False,
    }
    if p.get("SSESpecification", {}).get("Enabled"):
        table["SSEDescription"] = {"Status": "ENABLED", "SSEType": "KMS",
                                   "KMSMasterKeyArn": p["SSESpecification"].get("KMSMasterKeyId") or
                                   ctx.arn("kms", "alias/aws/dynamodb")}
    start_lifecycle(table, "TableStatus", "CREATING", "ACTIVE", ctx.settle)
    _tables(ctx)[name] = table
    return {"TableDescription": _describe(ctx, table)}


def _describe(ctx, table):
    out = public(table)
    items = [i for i in _items(ctx).values() if i["TableName"] == table["TableName"]]
    out["ItemCount"] = len(items)
    out["TableSizeBytes"] = sum(len(json.dumps(i["Item"])) for i in items)
    return out


@service.op("DescribeTable")
def describe_table(ctx, p):
    table = _table(ctx, p["TableName"])
    if advance(table):
        del _tables(ctx)[p["TableName"]]
        raise _not_found(p["TableName"])
    return {"Table": _describe(ctx, table)}


@service.op("DeleteTable")
def delete_table(ctx, p):
    table = _table(ctx, p["TableName"])
    if table["TableStatus"] != "ACTIVE":
        raise AWSError("ResourceInUseException", f"Attempt to change a resource which is still in use: "
                                                 f"Table is being {table['TableStatus'].lower()}: "
                                                 f"{table['TableName']}", 400)
    items = _items(ctx)
    for k in [k for k, i in items.items() if i["TableName"] == table["TableName"]]:
        del items[k]
    start_lifecycle(table, "TableStatus", "DELETING", None, ctx.settle)
    return {"TableDescription": _describe(ctx, table)}


@service.op("UpdateTable")
def update_table(ctx, p):
    table = _table(ctx, p["TableName"])
    unsupported = [k for k in ("GlobalSecondaryIndexUpdates", "StreamSpecification", "ReplicaUpdates", "TableClass",
                               "SSESpecification") if p.get(k) is not None]
    if unsupported:
        raise AWSError("NotImplemented", f"fakeaws does not support UpdateTable's {unsupported[0]} yet "
                                         "(tests/fakeaws/fakeaws/services/dynamodb.py)", 501)
    if table["TableStatus"] != "ACTIVE":
        raise AWSError("ResourceInUseException", f"Attempt to change a resource which is still in use: Table is "
                                                 f"being {table['TableStatus'].lower()}: {table['TableName']}", 400)
    mode = p.get("BillingMode", table["BillingModeSummary"]["BillingMode"])
    throughput = p.get("ProvisionedThroughput")
    if mode == "PROVISIONED" and not throughput and table["BillingModeSummary"]["BillingMode"] != "PROVISIONED":
        raise _validation("One or more parameter values were invalid: ProvisionedThroughput must be specified when "
                          "BillingMode is PROVISIONED")
    if mode == "PAY_PER_REQUEST" and throughput:
        raise _validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                          "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
    if p.get("BillingMode") is None and throughput is None:
        raise _validation("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                          "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
    table["BillingModeSummary"] = {"BillingMode": mode}
    pt = table["ProvisionedThroughput"]
    if mode == "PAY_PER_REQUEST":
        pt["ReadCapacityUnits"], pt["WriteCapacityUnits"] = 0, 0
    elif throughput:
        pt["ReadCapacityUnits"] = throughput["ReadCapacityUnits"]
        pt["WriteCapacityUnits"] = throughput["WriteCapacityUnits"]
    start_lifecycle(table, "TableStatus", "UPDATING", "ACTIVE", ctx.settle)
    return {"TableDescription": _describe(ctx, table)}


def _backups(table):
    status = "ENABLED" if table.get("_pitr") else "DISABLED"
    return {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": {
        "PointInTimeRecoveryStatus": status}}


@service.op("DescribeContinuousBackups")
def describe_continuous_backups(ctx, p):
    table = _tables(ctx).get(p["TableName"])
    if table is None:
        raise AWSError("TableNotFoundException", f"Table not found: {p['TableName']}", 400)
    return {"ContinuousBackupsDescription": _backups(table)}


@service.op("UpdateContinuousBackups")
def update_continuous_backups(ctx, p):
    table = _tables(ctx).get(p["TableName"])
    if table is None:
        raise AWSError("TableNotFoundException", f"Table not found: {p['TableName']}", 400)
    if table["TableStatus"] == "CREATING":
        raise AWSError("ContinuousBackupsUnavailableException", "Backups are being enabled for the table: "
                                                                f"{p['TableName']}. Please retry later", 400)
    table["_pitr"] = bool(p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
    return {"ContinuousBackupsDescription": _backups(table)}


def _table_by_arn(ctx, arn):
    for table in _tables(ctx).values():
        if table["TableArn"] == arn:
            return table
    raise AWSError("ResourceNotFoundException", f"Requested resource not found: ResourcArn: {arn} not found", 400)


@service.op("TagResource")
def tag_resource(ctx, p):
    table = _table_by_arn(ctx, p["ResourceArn"])
    tags = {t["Key"]: t["Value"] for t in table["_tags"]}
    for t in p["Tags"]:
        if t["Key"].startswith("aws:"):
            raise _validation("One or more parameter values were invalid: Tag keys starting with 'aws:' are reserved "
                              "for system use")
        tags[t["Key"]] = t["Value"]
    if len(tags) > 50:
        raise _validation("One or more parameter values were invalid: too many tags (at most 50)")
    table["_tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    table = _table_by_arn(ctx, p["ResourceArn"])
    gone = set(p["TagKeys"])
    table["_tags"] = [t for t in table["_tags"] if t["Key"] not in gone]
    return {}


@service.op("ListTagsOfResource")
def list_tags_of_resource(ctx, p):
    table = _table_by_arn(ctx, p["ResourceArn"])
    return {"Tags": [dict(t) for t in table["_tags"]]}


# -- items ------------------------------------------------------------------------

_SCALARS = {"S", "N", "B", "BOOL", "NULL"}
_ALL_TYPES = _SCALARS | {"SS", "NS", "BS", "L", "M"}


def _check_value(av, where):
    if not isinstance(av, dict) or len([k for k, v in av.items() if v is not None]) != 1:
        raise _validation(f"Supplied AttributeValue has more than one datatypes set, must contain exactly one "
                          f"of the supported datatypes ({where})")
    t, v = next((k, v) for k, v in av.items() if v is not None)
    if t not in _ALL_TYPES:
        raise _validation(f"Supplied AttributeValue has an unsupported datatype {t} ({where})")
    if t == "N" or t == "NS":
        for n in (v if t == "NS" else [v]):
            try:
                Decimal(n)
            except InvalidOperation:
                raise _validation(f"The parameter cannot be converted to a numeric value: {n}") from None
    if t in ("SS", "NS", "BS"):
        if not v:
            raise _validation(f"One or more parameter values were invalid: An string set may not be empty ({where})")
        if len(set(v)) != len(v):
            raise _validation(f"One or more parameter values were invalid: Input collection contains "
                              f"duplicates ({where})")
    if t == "L":
        for i, e in enumerate(v):
            _check_value(e, f"{where}[{i}]")
    if t == "M":
        for k, e in v.items():
            _check_value(e, f"{where}.{k}")


def _clean(av):
    """Drop the None members botocore's parser leaves out anyway."""
    t, v = next((k, v) for k, v in av.items() if v is not None)
    if t == "L":
        v = [_clean(e) for e in v]
    elif t == "M":
        v = {k: _clean(e) for k, e in v.items()}
    elif t == "B":
        v = bytes(v)
    return {t: v}


def _key_of(table, item, what):
    """The item's primary key as {name: AttributeValue}, checked against the schema."""
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    key = {}
    for k in table["KeySchema"]:
        name = k["AttributeName"]
        av = item.get(name)
        if av is None:
            raise _validation(f"One or more parameter values were invalid: Missing the key {name} in the {what}")
        t = next(iter(av))
        if t != types[name]:
            raise _validation(f"One or more parameter values were invalid: Type mismatch for key {name} "
                              f"expected: {types[name]} actual: {t}")
        if t in ("S", "B") and not av[t]:
            raise _validation(f"One or more parameter values are not valid. The AttributeValue for a key "
                              f"attribute cannot contain an empty string value. Key: {name}")
        key[name] = av
    return key


def _item_id(table, key):
    def enc(av):
        t, v = next(iter(av.items()))
        if t == "B":
            v = v.hex()
        if t == "N":
            v = str(Decimal(v).normalize())
        return [t, v]
    return table["TableName"] + "|" + json.dumps({k: enc(v) for k, v in sorted(key.items())}, sort_keys=True)


def _expressions(p, used):
    """Parse ConditionExpression/ProjectionExpression; -> (condition fn or None, projection or None)."""
    if (p.get("ExpressionAttributeNames") or p.get("ExpressionAttributeValues")) and not used:
        raise _validation("ExpressionAttributeNames and ExpressionAttributeValues can only be specified "
                          "when using expressions")
    for k, av in (p.get("ExpressionAttributeValues") or {}).items():
        _check_value(av, k)
    ex = Expressions(p.get("ExpressionAttributeNames"),
                     {k: _clean(v) for k, v in (p.get("ExpressionAttributeValues") or {}).items()})
    try:
        cond = ex.condition(p["ConditionExpression"]) if p.get("ConditionExpression") is not None else None
        proj = ex.projection(p["ProjectionExpression"]) if p.get("ProjectionExpression") is not None else None
        ex.finish()
    except ExpressionError as e:
        raise _validation(str(e)) from None
    if proj and any(len(path) > 1 for path in proj):
        raise AWSError("NotImplemented", "fakeaws does not support nested ProjectionExpression paths yet", 501)
    return cond, proj


def _legacy(p):
    for name in ("Expected", "ConditionalOperator", "AttributesToGet"):
        if p.get(name) is not None:
            raise AWSError("NotImplemented", f"fakeaws does not support the legacy parameter {name}; "
                                             "use expressions", 501)


def _conditional_failed():
    return AWSError("ConditionalCheckFailedException", "The conditional request failed", 400)


@service.op("PutItem")
def put_item(ctx, p):
    _legacy(p)
    table = _table(ctx, p["TableName"], active=True)
    rv = p.get("ReturnValues", "NONE")
    if rv not in ("NONE", "ALL_OLD"):
        raise _validation("ReturnValues can only be ALL_OLD or NONE")
    for name, av in p["Item"].items():
        _check_value(av, name)
    item = {k: _clean(v) for k, v in p["Item"].items()}
    if len(json.dumps(item, default=lambda b: b.hex())) > 400 * 1024:
        raise _validation("Item size has exceeded the maximum allowed size")
    key = _key_of(table, item, "item")
    cond, _ = _expressions(p, p.get("ConditionExpression") is not None)
    item_id = _item_id(table, key)
    items = _items(ctx)
    old = items[item_id]["Item"] if item_id in items else None
    if cond is not None and not cond(old or {}):
        raise _conditional_failed()
    items[item_id] = {"TableName": table["TableName"], "Item": item}
    return {"Attributes": old} if rv == "ALL_OLD" and old is not None else {}


@service.op("GetItem")
def get_item(ctx, p):
    _legacy(p)
    table = _table(ctx, p["TableName"], active=True)
    for name, av in p["Key"].items():
        _check_value(av, name)
    given = {k: _clean(v) for k, v in p["Key"].items()}
    key = _key_of(table, given, "key")
    if len(given) != len(key):
        raise _validation("The provided key element does not match the schema")
    _, proj = _expressions(p, p.get("ProjectionExpression") is not None)
    found = _items(ctx).get(_item_id(table, key))
    if found is None:
        return {}
    item = found["Item"]
    return {"Item": project(item, proj) if proj else item}


@service.op("DeleteItem")
def delete_item(ctx, p):
    _legacy(p)
    table = _table(ctx, p["TableName"], active=True)
    rv = p.get("ReturnValues", "NONE")
    if rv not in ("NONE", "ALL_OLD"):
        raise _validation("ReturnValues can only be ALL_OLD or NONE")
    for name, av in p["Key"].items():
        _check_value(av, name)
    given = {k: _clean(v) for k, v in p["Key"].items()}
    key = _key_of(table, given, "key")
    if len(given) != len(key):
        raise _validation("The provided key element does not match the schema")
    cond, _ = _expressions(p, p.get("ConditionExpression") is not None)
    item_id = _item_id(table, key)
    items = _items(ctx)
    old = items[item_id]["Item"] if item_id in items else None
    if cond is not None and not cond(old or {}):
        raise _conditional_failed()
    items.pop(item_id, None)
    return {"Attributes": old} if rv == "ALL_OLD" and old is not None else {}
