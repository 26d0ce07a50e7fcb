"""SSM Parameter Store: parameters (PutParameter, GetParameter,
DescribeParameters, DeleteParameter) and their tags (AddTagsToResource,
RemoveTagsFromResource, ListTagsForResource with ResourceType Parameter).

As Parameter Store: names are paths of at most 15 levels, never starting with
"aws" or "ssm"; a new parameter needs a Type; an existing one is only changed
with Overwrite=true, which cannot carry Tags; each change adds a Version;
KeyId is for SecureString only (default alias/aws/ssm). A SecureString value is
answered decrypted only WithDecryption=true (otherwise an opaque ciphertext).
Values are kept out of the /_fake/state dump."""
import base64
import hashlib
import re

from ..errors import AWSError
from ..state import public, tag_dict, tag_list
from . import Service

service = Service("ssm")

_NAME = re.compile(r"^/?[a-zA-Z0-9_.\-/]{1,2048}$")
_TIER_LIMIT = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}


def _params(ctx):
    return ctx.store.table("ssm", "parameter")


def _validation(message):
    return AWSError("ValidationException", message, 400)


def _not_found(name):
    return service.fault("ParameterNotFound", f"Parameter {name} not found.")


def _check_name(name):
    if not _NAME.match(name) or "//" in name or ("/" in name and not name.startswith("/")):
        raise _validation(f"Parameter name: can't be {name!r}: letters, digits and _.-/ only; a hierarchy "
                          "starts with '/'")
    first = name.lstrip("/").split("/")[0].lower()
    if first.startswith("aws") or first.startswith("ssm"):
        raise _validation('Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).')
    if name.count("/") > 15:
        raise service.fault("HierarchyLevelLimitExceededException",
                            "Parameter hierarchy can't exceed 15 levels.")


@service.op("PutParameter")
def put_parameter(ctx, p):
    name = p["Name"]
    _check_name(name)
    params = _params(ctx)
    old = params.get(name)
    if old is not None and not p.get("Overwrite"):
        raise service.fault("ParameterAlreadyExists", "The parameter already exists. To overwrite this request "
                                                      "value, set the overwrite option in the request to true.")
    if old is not None and p.get("Tags"):
        raise _validation("Invalid request: tags and overwrite can't be used together. To create a parameter "
                          "with tags, please remove overwrite flag. To update tags for an existing parameter, "
                          "please use AddTagsToResource or RemoveTagsFromResource.")
    ptype = p.get("Type") or (old and old["Type"])
    if not ptype:
        raise _validation("A parameter type is required when you create a parameter.")
    if p.get("KeyId") and ptype != "SecureString":
        raise _validation("KeyId is required for SecureString type parameter only.")
    tier = p.get("Tier") or (old and old["Tier"]) or "Standard"
    if len(p["Value"].encode()) > _TIER_LIMIT[tier]:
        raise _validation(f"Standard tier parameters support a maximum parameter value of {_TIER_LIMIT[tier]} "
                          "characters. To create a larger parameter value, upgrade the parameter to use the "
                          "advanced-parameter tier.")
    if p.get("AllowedPattern") and not re.fullmatch(p["AllowedPattern"], p["Value"]):
        raise service.fault("ParameterPatternMismatchException",
                            f"Parameter value, cannot be validated against allowedPattern: {p['AllowedPattern']}")
    version = (old["Version"] + 1) if old else 1
    if version > 100:
        raise service.fault("ParameterMaxVersionLimitExceeded", "Parameter can't have more than 100 versions")
    param = {"Name": name, "Type": ptype, "Version": version, "Tier": tier,
             "LastModifiedDate": ctx.now().replace(microsecond=0),
             "LastModifiedUser": f"arn:aws:iam::{ctx.account}:user/fakeaws",
             "DataType": p.get("DataType") or (old and old["DataType"]) or "text",
             "Policies": [],
             "Tags": [dict(t) for t in old["Tags"]] if old else [], "_value": p["Value"]}
    description = p.get("Description") if p.get("Description") is not None else (old or {}).get("Description")
    if description is not None:
        param["Description"] = description
    if p.get("AllowedPattern"):
        param["AllowedPattern"] = p["AllowedPattern"]
    if ptype == "SecureString":
        param["KeyId"] = p.get("KeyId") or (old or {}).get("KeyId") or "alias/aws/ssm"
    if p.get("Tags"):
        param["Tags"] = [dict(t) for t in p["Tags"]]
    params[name] = param
    return {"Version": version, "Tier": tier}


def _arn(ctx, name):
    return ctx.arn("ssm", "parameter" + (name if name.startswith("/") else "/" + name))


@service.op("GetParameter")
def get_parameter(ctx, p):
    name = p["Name"]
    param = _params(ctx).get(name)
    if param is None:
        raise _not_found(name)
    value = param["_value"]
    if param["Type"] == "SecureString" and not p.get("WithDecryption"):
        value = base64.b64encode(hashlib.sha256(b"fakeaws" + value.encode()).digest()).decode()
    return {"Parameter": {"Name": name, "Type": param["Type"], "Value": value, "Version": param["Version"],
                          "LastModifiedDate": param["LastModifiedDate"], "ARN": _arn(ctx, name),
                          "DataType": param["DataType"]}}


def _filter(items, f):
    key, option, values = f["Key"], f.get("Option", "Equals"), f.get("Values") or []
    field = {"Name": "Name", "Type": "Type", "KeyId": "KeyId", "Tier": "Tier", "DataType": "DataType"}.get(key)
    if field is None and not key.startswith("tag:"):
        raise service.fault("InvalidFilterKey", f"The filter key {key} is not valid.")
    if option not in ("Equals", "BeginsWith", "Recursive", "OneLevel"):
        raise service.fault("InvalidFilterOption", f"The filter option {option} is not valid.")
    out = []
    for it in items:
        if key.startswith("tag:"):
            v = tag_dict(it["Tags"]).get(key[4:])
            if v is not None and (not values or v in values):
                out.append(it)
            continue
        v = it.get(field)
        if v is None:
            continue
        if option == "Equals" and v in values:
            out.append(it)
        elif option == "BeginsWith" and any(v.startswith(x) for x in values):
            out.append(it)
        elif option in ("Recursive", "OneLevel") and key == "Name":
            for x in values:
                prefix = x.rstrip("/") + "/"
                if v.startswith(prefix) and (option == "Recursive" or "/" not in v[len(prefix):]):
                    out.append(it)
                    break
    return out


def _view(param):
    out = public(param)
    del out["Tags"]       # kept for the state dump; answered by ListTagsForResource
    return out


@service.op("DescribeParameters")
def describe_parameters(ctx, p):
    items = list(_params(ctx).values())
    for f in p.get("Filters") or []:
        items = _filter(items, {"Key": f["Key"], "Option": "Equals", "Values": f["Values"]})
    for f in p.get("ParameterFilters") or []:
        items = _filter(items, f)
    page, token = ctx.page(items, key=lambda x: x["Name"], token=p.get("NextToken"), limit=p.get("MaxResults"),
                           token_error=("InvalidNextToken", 400))
    out = {"Parameters": [_view(x) for x in page]}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteParameter")
def delete_parameter(ctx, p):
    if _params(ctx).pop(p["Name"], None) is None:
        raise _not_found(p["Name"])
    return {}


def _tagged(ctx, p):
    if p["ResourceType"] != "Parameter":
        raise AWSError("NotImplemented", "fakeaws serves tags of SSM parameters only "
                                         "(tests/fakeaws/fakeaws/services/ssm.py)", 501)
    param = _params(ctx).get(p["ResourceId"])
    if param is None:
        raise service.fault("InvalidResourceId", "The resource ID is not valid. Verify that you entered the "
                                                 "correct ID and try again.")
    return param


@service.op("AddTagsToResource")
def add_tags_to_resource(ctx, p):
    param = _tagged(ctx, p)
    tags = tag_dict(param["Tags"])
    tags.update(tag_dict(p["Tags"]))
    param["Tags"] = tag_list(tags)
    if len(tags) > 50:
        raise service.fault("TooManyTagsError", "The Targets parameter includes too many tags.")
    return {}


@service.op("RemoveTagsFromResource")
def remove_tags_from_resource(ctx, p):
    param = _tagged(ctx, p)
    param["Tags"] = [t for t in param["Tags"] if t["Key"] not in p["TagKeys"]]
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    param = _tagged(ctx, p)
    return {"TagList": [dict(t) for t in param["Tags"]]}
