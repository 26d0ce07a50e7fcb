"""EC2 launch templates (an area of the ec2 service, beside services/ec2.py):
CreateLaunchTemplate, CreateLaunchTemplateVersion, ModifyLaunchTemplate,
DescribeLaunchTemplates, DescribeLaunchTemplateVersions, DeleteLaunchTemplate.

Templates live in the ("ec2", "launch-template") table, their versions under
the template's "_versions". Kept from AWS: names unique per region
(InvalidLaunchTemplateName.AlreadyExistsException); ImageId either an AMI id or
`resolve:ssm:<parameter>` (kept as written, resolved only when an instance
launches: see resolve()); UserData must be base64
(InvalidUserData.Malformed); versions count up, $Latest and $Default name
them, the default version cannot be deleted; the lt- ids join ec2's tag
handlers (CreateTags/DeleteTags/DescribeTags) through ec2.KINDS."""
import base64
import binascii
import hashlib
import re

from ..errors import AWSError
from ..state import new_id
from . import ec2 as ec2_module

ec2 = ec2_module.service

# lt- ids are taggable with ec2's CreateTags/DeleteTags and listed by DescribeTags.
ec2_module.register_kind("launch-template", "lt", "InvalidLaunchTemplateId.NotFound",
                         "InvalidLaunchTemplateId.Malformed", "launch template ID", "LaunchTemplateId")

_NAME = re.compile(r"^[a-zA-Z0-9().\-/_]{3,128}$")
# public SSM parameters an image may be resolved through -> a stable fake AMI per region
_SSM_AMI = "/aws/service/ecs/optimized-ami/"


def op(name):
    """An ec2 handler of this module; DryRun answers DryRunOperation."""
    def register(fn):
        def handler(ctx, p):
            if p.get("DryRun"):
                raise AWSError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
            return fn(ctx, p)
        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return ec2.op(name)(handler)
    return register


def _templates(ctx):
    return ctx.store.table("ec2", "launch-template")


def _not_found(what):
    return AWSError("InvalidLaunchTemplateId.NotFound",
                    f"The specified launch template, with template ID {what}, does not exist.")


def _find(ctx, p):
    """The template named by LaunchTemplateId or LaunchTemplateName (exactly one)."""
    tid, name = p.get("LaunchTemplateId"), p.get("LaunchTemplateName")
    if bool(tid) == bool(name):
        raise AWSError("MissingParameter", "The request must contain the parameter launchTemplateName or "
                                           "launchTemplateId")
    if tid:
        if not re.fullmatch(r"lt-[0-9a-f]{17}", tid):
            raise AWSError("InvalidLaunchTemplateId.Malformed", f"The specified ID for the launch template "
                                                                f"({tid}) is not valid.")
        lt = _templates(ctx).get(tid)
        if lt is None:
            raise _not_found(tid)
        return lt
    for lt in _templates(ctx).values():
        if lt["LaunchTemplateName"] == name:
            return lt
    raise AWSError("InvalidLaunchTemplateName.NotFoundException",
                   f"The specified launch template, with template name {name}, does not exist.")


def _project(value, shape):
    """value (shaped like a request member) as the response shape has it: members
    the response does not carry are dropped, as AWS answers."""
    t = shape.type_name
    if t == "structure":
        return {k: _project(v, shape.members[k]) for k, v in value.items() if k in shape.members and v is not None}
    if t == "list":
        return [_project(v, shape.member) for v in value]
    return value


def _check_data(data):
    image = data.get("ImageId")
    if image is not None and not (re.fullmatch(r"ami-[0-9a-f]{8,17}", image) or image.startswith("resolve:ssm:")):
        raise AWSError("InvalidAMIID.Malformed", f"Invalid id: \"{image}\" (expecting \"ami-...\" or "
                                                 "\"resolve:ssm:parameter\")")
    if data.get("UserData") is not None:
        try:
            base64.b64decode(data["UserData"], validate=True)
        except (binascii.Error, ValueError):
            raise AWSError("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.") from None
    hop = (data.get("MetadataOptions") or {}).get("HttpPutResponseHopLimit")
    if hop is not None and not 1 <= hop <= 64:
        raise AWSError("InvalidParameterValue", f"The value {hop} for HttpPutResponseHopLimit is out of range "
                                                "(1 to 64).")
    for tag_spec in data.get("TagSpecifications") or []:
        if tag_spec.get("ResourceType") not in ("instance", "volume", "elastic-gpu", "network-interface",
                                                "spot-instances-request"):
            raise AWSError("InvalidParameterValue", f"'{tag_spec.get('ResourceType')}' is not a valid taggable "
                                                    "resource type for launch template data.")


def _version_data(data):
    md = data.get("MetadataOptions")
    out = dict(data)
    if md is not None:
        md = dict(md)
        md.setdefault("HttpTokens", "optional")
        md.setdefault("HttpPutResponseHopLimit", 1)
        md.setdefault("HttpEndpoint", "enabled")
        md["State"] = "applied"
        out["MetadataOptions"] = md
    return _project(out, ec2.model.shape_for("ResponseLaunchTemplateData"))


def _new_version(ctx, lt, data, description):
    _check_data(data)
    number = lt["LatestVersionNumber"] + 1
    version = {
        "LaunchTemplateId": lt["LaunchTemplateId"],
        "LaunchTemplateName": lt["LaunchTemplateName"],
        "VersionNumber": number,
        "CreateTime": ctx.now(),
        "CreatedBy": ctx.identity.arn,
        "LaunchTemplateData": _version_data(data),
    }
    if description:
        version["VersionDescription"] = description
    lt["_versions"][number] = version
    lt["LatestVersionNumber"] = number
    return version


def _render_version(lt, version):
    out = dict(version)
    out["DefaultVersion"] = version["VersionNumber"] == lt["DefaultVersionNumber"]
    return out


def _view(lt):
    out = {k: v for k, v in lt.items() if not k.startswith("_")}
    if not out.get("Tags"):
        out.pop("Tags", None)
    return out


@op("CreateLaunchTemplate")
def create_launch_template(ctx, p):
    name = p["LaunchTemplateName"]
    if not _NAME.match(name):
        raise AWSError("InvalidLaunchTemplateName.MalformedException",
                       "A launch template name must be between 3 and 128 characters, and may contain letters, "
                       "numbers, and the following characters: - ( ) . / _.'")
    if any(lt["LaunchTemplateName"] == name for lt in _templates(ctx).values()):
        raise AWSError("InvalidLaunchTemplateName.AlreadyExistsException",
                       "Launch template name already in use.")
    tags = ec2_module._spec_tags(p, "launch-template")
    lt = {
        "LaunchTemplateId": new_id("lt"),
        "LaunchTemplateName": name,
        "CreateTime": ctx.now(),
        "CreatedBy": ctx.identity.arn,
        "DefaultVersionNumber": 1,
        "LatestVersionNumber": 0,
        "Tags": tags,
        "_versions": {},
    }
    _new_version(ctx, lt, p["LaunchTemplateData"], p.get("VersionDescription"))
    _templates(ctx)[lt["LaunchTemplateId"]] = lt
    return {"LaunchTemplate": _view(lt)}


@op("CreateLaunchTemplateVersion")
def create_launch_template_version(ctx, p):
    lt = _find(ctx, p)
    data = p["LaunchTemplateData"]
    if p.get("SourceVersion"):
        source = _pick_versions(lt, [p["SourceVersion"]])[0]
        merged = dict(source["LaunchTemplateData"])
        merged.update(data)
        data = merged
    version = _new_version(ctx, lt, data, p.get("VersionDescription"))
    return {"LaunchTemplateVersion": _render_version(lt, version)}


def _pick_versions(lt, wanted):
    out = []
    for w in wanted:
        if w == "$Latest":
            n = lt["LatestVersionNumber"]
        elif w == "$Default":
            n = lt["DefaultVersionNumber"]
        elif str(w).isdigit():
            n = int(w)
        else:
            raise AWSError("InvalidLaunchTemplateId.VersionNotFound",
                           f"Could not find launch template version {w}")
        if n not in lt["_versions"]:
            raise AWSError("InvalidLaunchTemplateId.VersionNotFound",
                           f"Could not find launch template version {w} for the launch template "
                           f"{lt['LaunchTemplateId']}.")
        out.append(lt["_versions"][n])
    return out


@op("ModifyLaunchTemplate")
def modify_launch_template(ctx, p):
    lt = _find(ctx, p)
    if p.get("DefaultVersion") is not None:
        version = _pick_versions(lt, [p["DefaultVersion"]])[0]
        lt["DefaultVersionNumber"] = version["VersionNumber"]
    return {"LaunchTemplate": _view(lt)}


_LT_FILTERS = {
    "launch-template-name": lambda lt: lt["LaunchTemplateName"],
    "create-time": lambda lt: lt["CreateTime"].isoformat(),
}


@op("DescribeLaunchTemplates")
def describe_launch_templates(ctx, p):
    table = _templates(ctx)
    ids, names = p.get("LaunchTemplateIds") or [], p.get("LaunchTemplateNames") or []
    if (ids or names) and p.get("MaxResults"):
        raise AWSError("InvalidParameterCombination", "The parameter launchTemplateIds or launchTemplateNames "
                                                      "cannot be used with the parameter maxResults")
    found = []
    for tid in ids:
        found.append(_find(ctx, {"LaunchTemplateId": tid}))
    for name in names:
        found.append(_find(ctx, {"LaunchTemplateName": name}))
    if not ids and not names:
        found = list(table.values())
    found = ec2_module._filtered(found, p.get("Filters"), _LT_FILTERS)
    token = None
    if not ids and not names:
        found, token = ctx.page(found, key=lambda lt: lt["LaunchTemplateId"], token=p.get("NextToken"),
                                limit=p.get("MaxResults"))
    out = {"LaunchTemplates": [_view(lt) for lt in found]}
    if token:
        out["NextToken"] = token
    return out


@op("DescribeLaunchTemplateVersions")
def describe_launch_template_versions(ctx, p):
    lt = _find(ctx, p)
    if p.get("Versions"):
        versions = _pick_versions(lt, p["Versions"])
    else:
        versions = [lt["_versions"][n] for n in sorted(lt["_versions"])]
        lo, hi = p.get("MinVersion"), p.get("MaxVersion")
        if lo is not None:
            versions = [v for v in versions if v["VersionNumber"] >= int(lo)]
        if hi is not None:
            versions = [v for v in versions if v["VersionNumber"] <= int(hi)]
    for f in p.get("Filters") or []:
        raise AWSError("InvalidParameterValue", f"fakeaws does not filter launch template versions by "
                                                f"'{f.get('Name')}' (services/ec2_launch_templates.py)")
    page, token = ctx.page(versions, key=lambda v: v["VersionNumber"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"))
    out = {"LaunchTemplateVersions": [_render_version(lt, v) for v in page]}
    if token:
        out["NextToken"] = token
    return out


@op("DeleteLaunchTemplate")
def delete_launch_template(ctx, p):
    lt = _find(ctx, p)
    del _templates(ctx)[lt["LaunchTemplateId"]]
    return {"LaunchTemplate": _view(lt)}


# -- used by the Auto Scaling groups (services/autoscaling.py) -------------------

def resolve(ctx, spec):
    """The launch data an instance gets from a LaunchTemplateSpecification
    ({LaunchTemplateId | LaunchTemplateName, Version}), its resolve:ssm: image
    replaced by an AMI id. Raises ValidationError as Auto Scaling does."""
    try:
        key = "LaunchTemplateId" if spec.get("LaunchTemplateId") else "LaunchTemplateName"
        lt = _find(ctx, {key: spec.get(key)})
        version = _pick_versions(lt, [spec.get("Version") or "$Default"])[0]
    except AWSError as e:
        raise AWSError("ValidationError", f"You must use a valid fully-formed launch template. {e.message}") \
            from None
    data = dict(version["LaunchTemplateData"])
    image = data.get("ImageId") or ""
    if image.startswith("resolve:ssm:"):
        parameter = image[len("resolve:ssm:"):]
        if not parameter.startswith(_SSM_AMI):
            raise AWSError("ValidationError", f"You must use a valid fully-formed launch template. The SSM "
                                              f"parameter {parameter} does not exist (fakeaws resolves only "
                                              f"{_SSM_AMI}...).")
        data["ImageId"] = "ami-" + hashlib.sha256(f"{ctx.region}{parameter}".encode()).hexdigest()[:17]
    data["_template"] = {"LaunchTemplateId": lt["LaunchTemplateId"], "LaunchTemplateName": lt["LaunchTemplateName"],
                         "Version": str(version["VersionNumber"])}
    return data


def user_data(data):
    """The decoded user data script of launch data ('' when none)."""
    raw = data.get("UserData")
    if not raw:
        return ""
    return base64.b64decode(raw).decode("utf-8", "replace")

