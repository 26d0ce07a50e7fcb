"""AWS WAF (wafv2, JSON 1.1): web ACLs (CreateWebACL, GetWebACL, UpdateWebACL,
DeleteWebACL, ListWebACLs), their associations with application load
balancers (AssociateWebACL, DisassociateWebACL, GetWebACLForResource) and tags
by ARN (TagResource, UntagResource, ListTagsForResource).

Table ("wafv2", "web-acl") by ARN; ("wafv2", "association") resource ARN ->
web ACL ARN. Kept from AWS: names are unique per scope and region
(WAFDuplicateItemException); CLOUDFRONT scope is served in us-east-1 only
(WAFInvalidParameterException elsewhere); every change answers a new lock
token and an update or delete with another one is WAFOptimisticLockException;
a web ACL associated with a resource cannot be deleted
(WAFAssociatedItemException); a rule's priority and name are unique in its
ACL; a managed rule group statement takes an OverrideAction and names one of
the AWS managed groups below, any other statement an Action; a rate-based
statement aggregates by IP or FORWARDED_IP; only REGIONAL ACLs associate, with
a load balancer that exists (WAFNonexistentItemException otherwise); deleting
a load balancer ends its association."""
import uuid

from . import Service

service = Service("wafv2")

SCOPES = ("REGIONAL", "CLOUDFRONT")
MANAGED_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                  "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesWordPressRuleSet", "AWSManagedRulesPHPRuleSet",
                  "AWSManagedRulesAmazonIpReputationList")
# the web ACL capacity units each group costs (AWS's published figures)
_CAPACITY = {"AWSManagedRulesCommonRuleSet": 700, "AWSManagedRulesKnownBadInputsRuleSet": 200,
             "AWSManagedRulesSQLiRuleSet": 200, "AWSManagedRulesWordPressRuleSet": 100,
             "AWSManagedRulesPHPRuleSet": 100, "AWSManagedRulesAmazonIpReputationList": 25}


def _acls(ctx):
    return ctx.store.table("wafv2", "web-acl")


def _associations(ctx):
    return ctx.store.table("wafv2", "association")


def _invalid(message, field=None):
    fields = {"Field": field} if field else {}
    return service.fault("WAFInvalidParameterException", message, **fields)


def _nonexistent(what="web ACL"):
    return service.fault("WAFNonexistentItemException", f"AWS WAF couldn't perform the operation because your "
                                                        f"{what} doesn't exist.")


def _check_scope(ctx, scope):
    if scope == "CLOUDFRONT" and ctx.region != "us-east-1":
        raise _invalid("Error reason: The scope is not valid., field: SCOPE_VALUE, parameter: CLOUDFRONT "
                       "(CLOUDFRONT scope is served in us-east-1 only)", "SCOPE_VALUE")


def _arn(ctx, scope, name, acl_id):
    if scope == "CLOUDFRONT":
        return ctx.arn("wafv2", f"global/webacl/{name}/{acl_id}", region="us-east-1")
    return ctx.arn("wafv2", f"regional/webacl/{name}/{acl_id}")


def _region_of(arn):
    return arn.split(":")[3]


def _find(ctx, name, scope, acl_id):
    for acl in _acls(ctx).values():
        if acl["Id"] == acl_id and acl["_scope"] == scope and acl["_region"] == _home(ctx, scope):
            if acl["Name"] != name:
                raise _nonexistent()
            return acl
    raise _nonexistent()


def _home(ctx, scope):
    return "us-east-1" if scope == "CLOUDFRONT" else ctx.region


def _one_action(action, names, what):
    given = [k for k in names if k in (action or {})]
    if len(given) != 1:
        raise _invalid(f"Error reason: {what} must have exactly one of {', '.join(names)}., field: {what.upper()}",
                       what.upper())
    return given[0]


def _check_rules(rules):
    priorities, names, capacity = set(), set(), 0
    for r in rules:
        if r["Priority"] in priorities:
            raise _invalid(f"Error reason: A duplicate value was supplied., field: RULE_PRIORITY, parameter: "
                           f"{r['Priority']}", "RULE_PRIORITY")
        if r["Name"] in names:
            raise service.fault("WAFDuplicateItemException", f"AWS WAF couldn't perform the operation because some "
                                                             f"resource in your request is a duplicate of an existing "
                                                             f"one: rule name {r['Name']}")
        priorities.add(r["Priority"])
        names.add(r["Name"])
        st = r["Statement"]
        kinds = [k for k in st if st[k] is not None]
        if len(kinds) != 1:
            raise _invalid("Error reason: A rule's statement must have exactly one statement type., field: "
                           "STATEMENT", "STATEMENT")
        kind = kinds[0]
        if kind == "ManagedRuleGroupStatement":
            g = st[kind]
            if g["VendorName"] != "AWS" or g["Name"] not in MANAGED_GROUPS:
                raise _nonexistent(f"managed rule group {g['VendorName']}/{g['Name']}")
            if r.get("Action"):
                raise _invalid("Error reason: A rule that references a rule group takes an OverrideAction, not "
                               "an Action., field: RULE_ACTION", "RULE_ACTION")
            _one_action(r.get("OverrideAction"), ("Count", "None"), "OverrideAction")
            capacity += _CAPACITY[g["Name"]]
        elif kind == "RateBasedStatement":
            rb = st[kind]
            if rb["AggregateKeyType"] not in ("IP", "FORWARDED_IP"):
                raise _invalid(f"Error reason: The aggregate key type is not valid., field: AGGREGATE_KEY_TYPE, "
                               f"parameter: {rb['AggregateKeyType']}", "AGGREGATE_KEY_TYPE")
            if rb["AggregateKeyType"] == "FORWARDED_IP" and not rb.get("ForwardedIPConfig"):
                raise _invalid("Error reason: FORWARDED_IP needs a ForwardedIPConfig., field: FORWARDED_IP_CONFIG",
                               "FORWARDED_IP_CONFIG")
            if rb.get("ScopeDownStatement"):
                raise service.fault("WAFInvalidOperationException", "fakeaws does not evaluate scope-down "
                                                                    "statements (services/wafv2.py)")
            if r.get("OverrideAction"):
                raise _invalid("Error reason: A rule with a statement of its own takes an Action, not an "
                               "OverrideAction., field: RULE_ACTION", "RULE_ACTION")
            _one_action(r.get("Action"), ("Block", "Allow", "Count", "Captcha", "Challenge"), "Action")
            capacity += 2
        else:
            raise service.fault("WAFInvalidOperationException", f"fakeaws serves managed rule group and rate-based "
                                                                f"statements only, not {kind} (services/wafv2.py)")
    if capacity > 1500:
        raise service.fault("WAFLimitsExceededException", f"AWS WAF couldn't perform the operation because you "
                                                          f"exceeded your resource limit: capacity {capacity} > 1500")
    return capacity


def _tags(given):
    out = {}
    for t in given or []:
        if t["Key"].lower().startswith("aws:"):
            raise _invalid("Error reason: Tag keys starting with 'aws:' are reserved., field: TAG_KEYS", "TAG_KEYS")
        out[t["Key"]] = t["Value"]
    if len(out) > 50:
        raise service.fault("WAFTagOperationException", "A resource can carry at most 50 tags")
    return out


def _view(acl):
    keys = ("Name", "Id", "ARN", "DefaultAction", "Description", "Rules", "VisibilityConfig", "Capacity",
            "ManagedByFirewallManager", "LabelNamespace")
    return {k: acl[k] for k in keys if k in acl}


def _summary(acl):
    out = {k: acl[k] for k in ("Name", "Id", "ARN", "LockToken") if k in acl}
    if acl.get("Description"):
        out["Description"] = acl["Description"]
    return out


def _settings(acl, p):
    _one_action(p["DefaultAction"], ("Allow", "Block"), "DefaultAction")
    rules = p.get("Rules") or []
    acl["Capacity"] = _check_rules(rules)
    acl["DefaultAction"] = p["DefaultAction"]
    acl["Rules"] = rules
    acl["VisibilityConfig"] = p["VisibilityConfig"]
    if p.get("Description"):
        acl["Description"] = p["Description"]
    else:
        acl.pop("Description", None)


@service.op("CreateWebACL")
def create_web_acl(ctx, p):
    scope = p["Scope"]
    _check_scope(ctx, scope)
    name = p["Name"]
    for acl in _acls(ctx).values():
        if acl["Name"] == name and acl["_scope"] == scope and acl["_region"] == _home(ctx, scope):
            raise service.fault("WAFDuplicateItemException", "AWS WAF couldn't perform the operation because some "
                                                              "resource in your request is a duplicate of an "
                                                              f"existing one: web ACL {name}")
    acl_id = str(uuid.uuid4())
    arn = _arn(ctx, scope, name, acl_id)
    acl = {"Name": name, "Id": acl_id, "ARN": arn, "ManagedByFirewallManager": False,
           "LabelNamespace": f"awswaf:{ctx.account}:webacl:{name}:", "LockToken": str(uuid.uuid4()),
           "_scope": scope, "_region": _home(ctx, scope), "_tags": _tags(p.get("Tags"))}
    _settings(acl, p)
    _acls(ctx)[arn] = acl
    return {"Summary": _summary(acl)}


@service.op("GetWebACL")
def get_web_acl(ctx, p):
    _check_scope(ctx, p["Scope"])
    acl = _find(ctx, p["Name"], p["Scope"], p["Id"])
    return {"WebACL": _view(acl), "LockToken": acl["LockToken"]}


def _check_lock(acl, token):
    if token != acl["LockToken"]:
        raise service.fault("WAFOptimisticLockException", "AWS WAF couldn't save your changes because someone "
                                                          "changed the resource after you started to edit it. "
                                                          "Reapply your changes.")


@service.op("UpdateWebACL")
def update_web_acl(ctx, p):
    _check_scope(ctx, p["Scope"])
    acl = _find(ctx, p["Name"], p["Scope"], p["Id"])
    _check_lock(acl, p["LockToken"])
    _settings(acl, p)
    acl["LockToken"] = str(uuid.uuid4())
    return {"NextLockToken": acl["LockToken"]}


def _live_associations(ctx):
    """Associations whose load balancer still exists (one deleted takes its association with it)."""
    lbs = ctx.store.table("elbv2", "load-balancer")
    table = _associations(ctx)
    for resource in [r for r in table if r not in lbs]:
        del table[resource]
    return table


@service.op("DeleteWebACL")
def delete_web_acl(ctx, p):
    _check_scope(ctx, p["Scope"])
    acl = _find(ctx, p["Name"], p["Scope"], p["Id"])
    _check_lock(acl, p["LockToken"])
    if acl["ARN"] in _live_associations(ctx).values():
        raise service.fault("WAFAssociatedItemException", "AWS WAF couldn't perform the operation because your "
                                                          "resource is being used by another resource or it's "
                                                          "associated with another resource.")
    del _acls(ctx)[acl["ARN"]]
    return {}


@service.op("ListWebACLs")
def list_web_acls(ctx, p):
    scope = p["Scope"]
    _check_scope(ctx, scope)
    found = [a for a in _acls(ctx).values() if a["_scope"] == scope and a["_region"] == _home(ctx, scope)]
    page, token = ctx.page(found, key=lambda a: a["Name"], token=p.get("NextMarker"), limit=p.get("Limit"),
                           token_error=("WAFInvalidParameterException", 400))
    out = {"WebACLs": [_summary(a) for a in page]}
    if token:
        out["NextMarker"] = token
    return out


def _acl_by_arn(ctx, arn):
    acl = _acls(ctx).get(arn)
    if acl is None or (acl["_scope"] == "REGIONAL" and acl["_region"] != ctx.region):
        raise _nonexistent()
    return acl


def _load_balancer(ctx, arn):
    if ":elasticloadbalancing:" not in arn or ":loadbalancer/app/" not in arn:
        raise service.fault("WAFInvalidOperationException", f"fakeaws associates web ACLs with application load "
                                                            f"balancers only, not {arn} (services/wafv2.py)")
    if arn not in ctx.store.table("elbv2", "load-balancer") or _region_of(arn) != ctx.region:
        raise _nonexistent("resource")


@service.op("AssociateWebACL")
def associate_web_acl(ctx, p):
    acl = _acl_by_arn(ctx, p["WebACLArn"])
    if acl["_scope"] != "REGIONAL":
        raise _invalid("Error reason: The ARN isn't valid. A valid ARN begins with arn: and includes other "
                       "information separated by colons or slashes., field: RESOURCE_ARN, parameter: "
                       f"{p['WebACLArn']} (a CLOUDFRONT web ACL goes in the distribution's WebACLId)",
                       "RESOURCE_ARN")
    _load_balancer(ctx, p["ResourceArn"])
    _live_associations(ctx)[p["ResourceArn"]] = acl["ARN"]
    return {}


@service.op("DisassociateWebACL")
def disassociate_web_acl(ctx, p):
    _load_balancer(ctx, p["ResourceArn"])
    _live_associations(ctx).pop(p["ResourceArn"], None)
    return {}


@service.op("GetWebACLForResource")
def get_web_acl_for_resource(ctx, p):
    _load_balancer(ctx, p["ResourceArn"])
    arn = _live_associations(ctx).get(p["ResourceArn"])
    if arn is None or arn not in _acls(ctx):
        return {}
    return {"WebACL": _view(_acls(ctx)[arn])}


def _tagged(ctx, arn):
    acl = _acls(ctx).get(arn)
    if acl is None:
        raise _nonexistent("resource")
    return acl


@service.op("TagResource")
def tag_resource(ctx, p):
    acl = _tagged(ctx, p["ResourceARN"])
    merged = dict(acl["_tags"])
    merged.update(_tags(p["Tags"]))
    if len(merged) > 50:
        raise service.fault("WAFTagOperationException", "A resource can carry at most 50 tags")
    acl["_tags"] = merged
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    acl = _tagged(ctx, p["ResourceARN"])
    for k in p["TagKeys"]:
        acl["_tags"].pop(k, None)
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    acl = _tagged(ctx, p["ResourceARN"])
    tags = [{"Key": k, "Value": v} for k, v in sorted(acl["_tags"].items())]
    return {"TagInfoForResource": {"ResourceARN": acl["ARN"], "TagList": tags}}
