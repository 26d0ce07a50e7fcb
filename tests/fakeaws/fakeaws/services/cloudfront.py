"""CloudFront (rest-xml, one global endpoint signed for us-east-1):
distributions (CreateDistributionWithTags, GetDistribution, GetDistributionConfig,
UpdateDistribution, DeleteDistribution, ListDistributions), their tags
(TagResource, UntagResource, ListTagsForResource), origin access controls and
cache policies (create, get, update, delete, list).

As CloudFront does:
- every object has an ETag that changes with each change; an update or a delete
  needs If-Match with the current one (InvalidIfMatchVersion without it,
  PreconditionFailed with a stale one);
- a distribution is InProgress after each change and Deployed after `settle`
  GetDistribution/ListDistributions calls; it can be deleted only once disabled
  and Deployed (DistributionNotDisabled);
- a CallerReference sent again with the same configuration answers the
  distribution it made; with another configuration, DistributionAlreadyExists
  (whose message names it);
- a viewer certificate from ACM must be in us-east-1 (InvalidViewerCertificate),
  and aliases need one;
- the managed cache policies are there in every account and cannot be deleted
  (IllegalDelete); a policy or an origin access control a distribution uses
  cannot be deleted (CachePolicyInUse, OriginAccessControlInUse)."""
import copy
import datetime
import json
import secrets
import uuid

from ..state import advance, new_name_id, public, start_lifecycle
from . import Service

service = Service("cloudfront", xml_namespace="http://cloudfront.amazonaws.com/doc/2020-05-31/")

# AWS's managed cache policies: name -> (id, min, default, max TTL, gzip/brotli)
MANAGED_CACHE_POLICIES = {
    "Managed-CachingOptimized": ("658327ea-f89d-4fab-a63d-7e88639e58f6", 1, 86400, 31536000, True),
    "Managed-CachingDisabled": ("4135ea2d-6df8-44a3-9df3-4b5a84be39ad", 0, 0, 0, False),
}


_MANAGED_SINCE = datetime.datetime(2020, 8, 28, tzinfo=datetime.timezone.utc)


def _managed_policies():
    out = {}
    for name, (pid, lo, default, hi, compress) in MANAGED_CACHE_POLICIES.items():
        out[pid] = {"Id": pid, "_managed": True, "_etag": "E" + pid[:12].upper().replace("-", "X"),
                    "CachePolicyConfig": {
                        "Name": name, "Comment": f"Policy {name} managed by AWS", "MinTTL": lo,
                        "DefaultTTL": default, "MaxTTL": hi,
                        "ParametersInCacheKeyAndForwardedToOrigin": {
                            "EnableAcceptEncodingGzip": compress, "EnableAcceptEncodingBrotli": compress,
                            "HeadersConfig": {"HeaderBehavior": "none"},
                            "CookiesConfig": {"CookieBehavior": "none"},
                            "QueryStringsConfig": {"QueryStringBehavior": "none"}}},
                    "LastModifiedTime": _MANAGED_SINCE}
    return out


def _distributions(ctx):
    return ctx.store.table("cloudfront", "distribution")


def _oacs(ctx):
    return ctx.store.table("cloudfront", "origin-access-control")


def _policies(ctx):
    table = ctx.store.table("cloudfront", "cache-policy")
    seeded = ctx.store.scratch("cloudfront", "managed-policies-seeded")
    if not seeded:
        table.update(_managed_policies())
        seeded["done"] = True
    return table


def _etag():
    return "E" + new_name_id(13)


def _check_if_match(p, obj):
    given = p.get("IfMatch")
    if not given:
        raise service.fault("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
    if given != obj["_etag"]:
        raise service.fault("PreconditionFailed", "The precondition given in one or more of the request-header "
                                                  "fields evaluated to false.")


def _check_quantities(value, where="DistributionConfig"):
    """Every {Quantity, Items} pair must agree, as CloudFront checks."""
    if isinstance(value, dict):
        if "Quantity" in value:
            items = value.get("Items") or []
            if value["Quantity"] != len(items):
                raise service.fault("InvalidArgument", f"{where}: Quantity {value['Quantity']} does not match "
                                                       f"the {len(items)} items given")
        for k, v in value.items():
            _check_quantities(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_quantities(v, f"{where}[{i}]")


def _behaviors(config):
    out = [config["DefaultCacheBehavior"]]
    out.extend((config.get("CacheBehaviors") or {}).get("Items") or [])
    return out


def _check_config(ctx, config, own_id=None):
    _check_quantities(config)
    cert = config.get("ViewerCertificate") or {}
    arn = cert.get("ACMCertificateArn")
    if arn:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "acm" or parts[3] != "us-east-1":
            raise service.fault("InvalidViewerCertificate", "The specified SSL certificate doesn't exist, isn't in "
                                                            "us-east-1 region, isn't valid, or doesn't include a "
                                                            "valid certificate chain.")
    aliases = (config.get("Aliases") or {}).get("Items") or []
    if aliases and not (arn or cert.get("IAMCertificateId")):
        raise service.fault("InvalidViewerCertificate", "To add an alternate domain name (CNAME) to a CloudFront "
                                                        "distribution, you must attach a trusted certificate that "
                                                        "validates your authorization to use the domain name.")
    for other_id, other in _distributions(ctx).items():
        if other_id == own_id:
            continue
        taken = set(aliases) & set((other["DistributionConfig"].get("Aliases") or {}).get("Items") or [])
        if taken:
            raise service.fault("CNAMEAlreadyExists", f"One or more of the CNAMEs you provided are already "
                                                      f"associated with a different resource: {sorted(taken)[0]}")
    origins = config["Origins"]["Items"]
    ids = [o["Id"] for o in origins]
    if len(set(ids)) != len(ids):
        raise service.fault("InvalidArgument", "The parameter Origin Id must be unique.")
    for o in origins:
        oac = o.get("OriginAccessControlId")
        if oac and oac not in _oacs(ctx):
            raise service.fault("NoSuchOriginAccessControl", f"The origin access control {oac} does not exist.")
        if o.get("S3OriginConfig") is not None and o.get("CustomOriginConfig") is not None:
            raise service.fault("InvalidArgument", f"Origin {o['Id']}: give S3OriginConfig or CustomOriginConfig, "
                                                   "not both.")
    policies = _policies(ctx)
    for b in _behaviors(config):
        if b["TargetOriginId"] not in ids:
            raise service.fault("NoSuchOrigin", f"One or more of your origins or origin groups do not exist: "
                                                f"{b['TargetOriginId']}")
        if b.get("CachePolicyId") is None and b.get("ForwardedValues") is None:
            raise service.fault("InvalidArgument", "The parameter ForwardedValues is required when a cache "
                                                   "policy is not attached to the cache behavior.")
        if b.get("CachePolicyId") and b["CachePolicyId"] not in policies:
            raise service.fault("NoSuchCachePolicy", f"The cache policy {b['CachePolicyId']} does not exist.")
    acl = config.get("WebACLId")
    if acl and not acl.startswith("arn:aws:wafv2:us-east-1:"):
        raise service.fault("InvalidWebACLId", f"Web ACL is not accessible by the requester: {acl}")


def _canonical(config):
    return json.dumps(config, sort_keys=True, default=str)


def _distribution(ctx, dist_id):
    dist = _distributions(ctx).get(dist_id)
    if dist is None:
        raise service.fault("NoSuchDistribution", "The specified distribution does not exist.")
    return dist


def _view(dist):
    return public(dist)


def _changed(ctx, dist):
    dist["_etag"] = _etag()
    dist["LastModifiedTime"] = ctx.now().replace(microsecond=0)
    start_lifecycle(dist, "Status", "InProgress", "Deployed", ctx.settle)


@service.op("CreateDistributionWithTags")
def create_distribution_with_tags(ctx, p):
    body = p["DistributionConfigWithTags"]
    config = body["DistributionConfig"]
    for dist in _distributions(ctx).values():
        if dist["DistributionConfig"]["CallerReference"] == config["CallerReference"]:
            if dist["_request"] == _canonical(body):
                return {"Distribution": _view(dist), "ETag": dist["_etag"],
                        "Location": f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{dist['Id']}"}
            raise service.fault("DistributionAlreadyExists", "The caller reference that you are using to create a "
                                                             "distribution is associated with another distribution. "
                                                             f"Already exists: {dist['Id']}")
    _check_config(ctx, config)
    dist_id = "E" + new_name_id(13)
    dist = {"Id": dist_id, "ARN": f"arn:aws:cloudfront::{ctx.account}:distribution/{dist_id}",
            "InProgressInvalidationBatches": 0, "DomainName": f"d{secrets.token_hex(7)}.cloudfront.net",
            "DistributionConfig": copy.deepcopy(config), "_request": _canonical(body),
            "_tags": {t["Key"]: t.get("Value", "") for t in (body["Tags"].get("Items") or [])}}
    _changed(ctx, dist)
    _distributions(ctx)[dist_id] = dist
    return {"Distribution": _view(dist), "ETag": dist["_etag"],
            "Location": f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{dist_id}"}


@service.op("GetDistribution")
def get_distribution(ctx, p):
    dist = _distribution(ctx, p["Id"])
    advance(dist)
    return {"Distribution": _view(dist), "ETag": dist["_etag"]}


@service.op("GetDistributionConfig")
def get_distribution_config(ctx, p):
    dist = _distribution(ctx, p["Id"])
    return {"DistributionConfig": public(dist["DistributionConfig"]), "ETag": dist["_etag"]}


@service.op("UpdateDistribution")
def update_distribution(ctx, p):
    dist = _distribution(ctx, p["Id"])
    _check_if_match(p, dist)
    config = p["DistributionConfig"]
    if config["CallerReference"] != dist["DistributionConfig"]["CallerReference"]:
        raise service.fault("IllegalUpdate", "The update contains modifications that are not allowed: "
                                             "CallerReference cannot be changed.")
    _check_config(ctx, config, own_id=dist["Id"])
    dist["DistributionConfig"] = copy.deepcopy(config)
    _changed(ctx, dist)
    return {"Distribution": _view(dist), "ETag": dist["_etag"]}


@service.op("DeleteDistribution")
def delete_distribution(ctx, p):
    dist = _distribution(ctx, p["Id"])
    _check_if_match(p, dist)
    if dist["DistributionConfig"]["Enabled"] or dist["Status"] != "Deployed":
        raise service.fault("DistributionNotDisabled", "The distribution you are trying to delete has not been "
                                                       "disabled.")
    del _distributions(ctx)[dist["Id"]]
    return {}


def _summary(dist):
    config = public(dist["DistributionConfig"])
    out = {k: dist[k] for k in ("Id", "ARN", "Status", "LastModifiedTime", "DomainName")}
    out.update({
        "Aliases": config.get("Aliases") or {"Quantity": 0}, "Origins": config["Origins"],
        "DefaultCacheBehavior": config["DefaultCacheBehavior"],
        "CacheBehaviors": config.get("CacheBehaviors") or {"Quantity": 0},
        "CustomErrorResponses": config.get("CustomErrorResponses") or {"Quantity": 0},
        "Comment": config["Comment"], "PriceClass": config.get("PriceClass", "PriceClass_All"),
        "Enabled": config["Enabled"],
        "ViewerCertificate": config.get("ViewerCertificate") or {"CloudFrontDefaultCertificate": True},
        "Restrictions": config.get("Restrictions") or {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        "WebACLId": config.get("WebACLId", ""), "HttpVersion": config.get("HttpVersion", "http2"),
        "IsIPV6Enabled": config.get("IsIPV6Enabled", True), "Staging": config.get("Staging", False)})
    return out


def _max_items(p):
    try:
        wanted = int(p.get("MaxItems") or "100")
    except ValueError:
        raise service.fault("InvalidArgument", f"MaxItems {p['MaxItems']} is not a number") from None
    if wanted < 1:
        raise service.fault("InvalidArgument", "MaxItems must be at least 1")
    return wanted


def _list(ctx, p, items, key):
    """-> (page, next marker or None): CloudFront's Marker is the last key of the page."""
    wanted = _max_items(p)
    items = sorted(items, key=key)
    marker = p.get("Marker")
    if marker:
        items = [i for i in items if key(i) > marker]
    size = min(wanted, ctx.server.page_size)
    page = items[:size]
    return page, (key(page[-1]) if len(items) > size else None), wanted


def _list_out(ctx, p, items, key, view):
    """-> a list with Marker, MaxItems, IsTruncated, Quantity, Items (view of each) and NextMarker."""
    page, nxt, wanted = _list(ctx, p, items, key)
    out = {"Marker": p.get("Marker") or "", "MaxItems": wanted, "IsTruncated": nxt is not None,
           "Quantity": len(page), "Items": [view(i) for i in page]}
    if nxt:
        out["NextMarker"] = nxt
    return out


@service.op("ListDistributions")
def list_distributions(ctx, p):
    dists = list(_distributions(ctx).values())
    for d in dists:
        advance(d)
    return {"DistributionList": _list_out(ctx, p, dists, lambda d: d["Id"], _summary)}


# -- tags --------------------------------------------------------------------

def _tagged(ctx, arn):
    dist_id = arn.rsplit("/", 1)[-1]
    dist = _distributions(ctx).get(dist_id)
    if dist is None or dist["ARN"] != arn:
        raise service.fault("NoSuchResource", f"The specified resource does not exist: {arn}")
    return dist


@service.op("TagResource")
def tag_resource(ctx, p):
    dist = _tagged(ctx, p["Resource"])
    for t in p["Tags"].get("Items") or []:
        dist["_tags"][t["Key"]] = t.get("Value", "")
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    dist = _tagged(ctx, p["Resource"])
    for k in p["TagKeys"].get("Items") or []:
        dist["_tags"].pop(k, None)
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    dist = _tagged(ctx, p["Resource"])
    return {"Tags": {"Items": [{"Key": k, "Value": v} for k, v in sorted(dist["_tags"].items())]}}


# -- origin access controls ---------------------------------------------------

def _oac(ctx, oac_id):
    oac = _oacs(ctx).get(oac_id)
    if oac is None:
        raise service.fault("NoSuchOriginAccessControl", "The specified origin access control does not exist.")
    return oac


def _oac_view(oac):
    return {"Id": oac["Id"], "OriginAccessControlConfig": public(oac["OriginAccessControlConfig"])}


def _check_oac_name(ctx, config, own_id=None):
    for other in _oacs(ctx).values():
        if other["Id"] != own_id and other["OriginAccessControlConfig"]["Name"] == config["Name"]:
            raise service.fault("OriginAccessControlAlreadyExists", f"An origin access control with name "
                                                                    f"{config['Name']} already exists: {other['Id']}")


@service.op("CreateOriginAccessControl")
def create_origin_access_control(ctx, p):
    config = p["OriginAccessControlConfig"]
    _check_oac_name(ctx, config)
    oac_id = "E" + new_name_id(13)
    oac = {"Id": oac_id, "OriginAccessControlConfig": copy.deepcopy(config), "_etag": _etag()}
    _oacs(ctx)[oac_id] = oac
    return {"OriginAccessControl": _oac_view(oac), "ETag": oac["_etag"],
            "Location": f"https://cloudfront.amazonaws.com/2020-05-31/origin-access-control/{oac_id}"}


@service.op("GetOriginAccessControl")
def get_origin_access_control(ctx, p):
    oac = _oac(ctx, p["Id"])
    return {"OriginAccessControl": _oac_view(oac), "ETag": oac["_etag"]}


@service.op("UpdateOriginAccessControl")
def update_origin_access_control(ctx, p):
    oac = _oac(ctx, p["Id"])
    _check_if_match(p, oac)
    _check_oac_name(ctx, p["OriginAccessControlConfig"], own_id=oac["Id"])
    oac["OriginAccessControlConfig"] = copy.deepcopy(p["OriginAccessControlConfig"])
    oac["_etag"] = _etag()
    return {"OriginAccessControl": _oac_view(oac), "ETag": oac["_etag"]}


@service.op("DeleteOriginAccessControl")
def delete_origin_access_control(ctx, p):
    oac = _oac(ctx, p["Id"])
    _check_if_match(p, oac)
    for dist in _distributions(ctx).values():
        if any(o.get("OriginAccessControlId") == oac["Id"] for o in dist["DistributionConfig"]["Origins"]["Items"]):
            raise service.fault("OriginAccessControlInUse", f"The origin access control is in use by {dist['Id']}.")
    del _oacs(ctx)[oac["Id"]]
    return {}


@service.op("ListOriginAccessControls")
def list_origin_access_controls(ctx, p):
    def summary(oac):
        c = oac["OriginAccessControlConfig"]
        return {"Id": oac["Id"], "Name": c["Name"], "Description": c.get("Description", ""),
                "SigningProtocol": c["SigningProtocol"], "SigningBehavior": c["SigningBehavior"],
                "OriginAccessControlOriginType": c["OriginAccessControlOriginType"]}
    return {"OriginAccessControlList": _list_out(ctx, p, list(_oacs(ctx).values()), lambda o: o["Id"], summary)}


# -- cache policies -------------------------------------------------------------

def _policy(ctx, pid):
    policy = _policies(ctx).get(pid)
    if policy is None:
        raise service.fault("NoSuchCachePolicy", "The cache policy does not exist.")
    return policy


def _policy_view(policy):
    return {"Id": policy["Id"], "LastModifiedTime": policy["LastModifiedTime"],
            "CachePolicyConfig": public(policy["CachePolicyConfig"])}


def _check_policy(ctx, config, own_id=None):
    _check_quantities(config, "CachePolicyConfig")
    lo, default, hi = config["MinTTL"], config.get("DefaultTTL", 86400), config.get("MaxTTL", 31536000)
    if not lo <= default <= hi:
        raise service.fault("InvalidArgument", "The TTLs must satisfy MinTTL <= DefaultTTL <= MaxTTL.")
    for other in _policies(ctx).values():
        if other["Id"] != own_id and other["CachePolicyConfig"]["Name"] == config["Name"]:
            raise service.fault("CachePolicyAlreadyExists", f"A cache policy with this name already exists: "
                                                            f"{other['Id']}")


@service.op("CreateCachePolicy")
def create_cache_policy(ctx, p):
    config = p["CachePolicyConfig"]
    _check_policy(ctx, config)
    pid = str(uuid.uuid4())
    policy = {"Id": pid, "CachePolicyConfig": copy.deepcopy(config), "_etag": _etag(),
              "LastModifiedTime": ctx.now().replace(microsecond=0)}
    _policies(ctx)[pid] = policy
    return {"CachePolicy": _policy_view(policy), "ETag": policy["_etag"],
            "Location": f"https://cloudfront.amazonaws.com/2020-05-31/cache-policy/{pid}"}


@service.op("GetCachePolicy")
def get_cache_policy(ctx, p):
    policy = _policy(ctx, p["Id"])
    return {"CachePolicy": _policy_view(policy), "ETag": policy["_etag"]}


@service.op("UpdateCachePolicy")
def update_cache_policy(ctx, p):
    policy = _policy(ctx, p["Id"])
    if policy.get("_managed"):
        raise service.fault("IllegalUpdate", "A managed cache policy cannot be updated.")
    _check_if_match(p, policy)
    _check_policy(ctx, p["CachePolicyConfig"], own_id=policy["Id"])
    policy["CachePolicyConfig"] = copy.deepcopy(p["CachePolicyConfig"])
    policy["_etag"] = _etag()
    policy["LastModifiedTime"] = ctx.now().replace(microsecond=0)
    return {"CachePolicy": _policy_view(policy), "ETag": policy["_etag"]}


@service.op("DeleteCachePolicy")
def delete_cache_policy(ctx, p):
    policy = _policy(ctx, p["Id"])
    if policy.get("_managed"):
        raise service.fault("IllegalDelete", "You cannot delete a managed policy.")
    _check_if_match(p, policy)
    for dist in _distributions(ctx).values():
        if any(b.get("CachePolicyId") == policy["Id"] for b in _behaviors(dist["DistributionConfig"])):
            raise service.fault("CachePolicyInUse", f"Cannot delete the cache policy because it is attached to "
                                                    f"one or more cache behaviors: {dist['Id']}")
    del _policies(ctx)[policy["Id"]]
    return {}


@service.op("ListCachePolicies")
def list_cache_policies(ctx, p):
    kind = p.get("Type")
    if kind not in (None, "managed", "custom"):
        raise service.fault("InvalidArgument", f"Type must be managed or custom, not {kind}")
    items = [x for x in _policies(ctx).values()
             if kind is None or (kind == "managed") == bool(x.get("_managed"))]
    page, nxt, wanted = _list(ctx, p, items, lambda x: x["Id"])
    out = {"MaxItems": wanted, "Quantity": len(page),
           "Items": [{"Type": "managed" if x.get("_managed") else "custom", "CachePolicy": _policy_view(x)}
                     for x in page]}
    if nxt:
        out["NextMarker"] = nxt
    return {"CachePolicyList": out}
