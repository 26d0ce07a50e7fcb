"""Elastic Load Balancing v2 (query): application load balancers, target
groups, listeners, their attributes and tags.

CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer, SetSubnets,
SetSecurityGroups, ModifyLoadBalancerAttributes, DescribeLoadBalancerAttributes,
CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup,
ModifyTargetGroupAttributes, DescribeTargetGroupAttributes, DeleteTargetGroup,
CreateListener, DescribeListeners, ModifyListener, DeleteListener, CreateRule,
DescribeRules, ModifyRule, SetRulePriorities, DeleteRule, AddTags,
RemoveTags, DescribeTags.

Tables: ("elbv2", "load-balancer"), ("elbv2", "target-group"),
("elbv2", "listener"), ("elbv2", "rule"), each by ARN. Kept from AWS: an ALB needs subnets in two
AZs of one VPC and existing security groups; it goes provisioning -> active
over describes, with a network interface in each of its subnets
(services/ec2_interfaces.py; released, so lingering a little, when it goes or
leaves a subnet); deletion protection refuses DeleteLoadBalancer
(OperationNotPermitted); deleting a load balancer deletes its listeners; names
are unique (DuplicateLoadBalancerName, DuplicateTargetGroupName); a target
group used by a listener cannot be deleted (ResourceInUse) and belongs to one
load balancer (TargetGroupAssociationLimit); an HTTPS listener needs a
certificate; one listener per port (DuplicateListener); unknown attribute keys
are refused. Listener rules: priorities 1..50000 unique per listener
(PriorityInUse); conditions on host-header, path-pattern and http-header
(each in its *Config member; the legacy Values member is answered beside
them), at most 5 condition values in all; DescribeRules of a listener answers
its default rule too (Priority "default", IsDefault, which cannot be modified
or deleted: OperationNotPermitted); deleting a listener deletes its rules."""
import re

from ..errors import AWSError
from ..state import advance, new_id, start_lifecycle
from . import Service
from . import ec2_interfaces as interfaces

service = Service("elbv2")

_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$")
_ZONE_IDS = {"us-east-1": "Z35SXDOTRQ7X7K", "us-west-2": "Z1H1FL5HABSF5", "eu-west-1": "Z32O12XQLNTSW2",
             "eu-central-1": "Z215JYRZR1TBD5"}

LB_ATTRIBUTES = {
    "deletion_protection.enabled": "false",
    "idle_timeout.timeout_seconds": "60",
    "routing.http2.enabled": "true",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "routing.http.desync_mitigation_mode": "defensive",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    "routing.http.xff_header_processing.mode": "append",
    "routing.http.preserve_host_header.enabled": "false",
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
    "waf.fail_open.enabled": "false",
}
TG_ATTRIBUTES = {
    "deregistration_delay.timeout_seconds": "300",
    "stickiness.enabled": "false",
    "stickiness.type": "lb_cookie",
    "stickiness.lb_cookie.duration_seconds": "86400",
    "slow_start.duration_seconds": "0",
    "load_balancing.algorithm.type": "round_robin",
}


def _lbs(ctx):
    return ctx.store.table("elbv2", "load-balancer")


def _tgs(ctx):
    return ctx.store.table("elbv2", "target-group")


def _listeners(ctx):
    return ctx.store.table("elbv2", "listener")


def _rules(ctx):
    return ctx.store.table("elbv2", "rule")


def _validation(message):
    return AWSError("ValidationError", message, 400)


def _public(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _get_lb(ctx, arn):
    lb = _lbs(ctx).get(arn)
    if lb is None:
        raise service.fault("LoadBalancerNotFoundException", f"Load balancer '{arn}' not found")
    return lb


def _get_tg(ctx, arn):
    tg = _tgs(ctx).get(arn)
    if tg is None:
        raise service.fault("TargetGroupNotFoundException", f"Target groups '{arn}' not found")
    return tg


def _get_listener(ctx, arn):
    li = _listeners(ctx).get(arn)
    if li is None:
        raise service.fault("ListenerNotFoundException", f"Listener '{arn}' not found")
    return li


def _tags(given):
    out = {}
    for t in given or []:
        if t["Key"] in out:
            raise service.fault("DuplicateTagKeysException", f"Tag key '{t['Key']}' specified more than once")
        if t["Key"].lower().startswith("aws:"):
            raise _validation("Tag keys starting with 'aws:' are reserved for internal use")
        out[t["Key"]] = t.get("Value", "")
    if len(out) > 50:
        raise service.fault("TooManyTagsException", "You can have at most 50 tags on a resource")
    return out


def _check_name(name, what):
    if not _NAME.match(name or ""):
        raise _validation(f"{what} name '{name}' can have a maximum of 32 characters, can contain only "
                          "alphanumeric characters or hyphens, and must not begin or end with a hyphen")


# -- load balancers ----------------------------------------------------------------

def _subnets(ctx, ids, lb_type):
    table = ctx.store.table("ec2", "subnet")
    subnets = []
    for sid in ids:
        if sid not in table:
            raise service.fault("SubnetNotFoundException", f"The subnet ID '{sid}' is not valid")
        subnets.append(table[sid])
    azs = [s["AvailabilityZone"] for s in subnets]
    if len(set(azs)) != len(azs):
        raise _validation("You cannot specify multiple subnets in the same Availability Zone")
    if lb_type == "application" and len(azs) < 2:
        raise _validation("At least two subnets in two different Availability Zones must be specified")
    if len({s["VpcId"] for s in subnets}) > 1:
        raise service.fault("InvalidSubnetException", "The subnets must all belong to the same VPC")
    return subnets


def _groups(ctx, ids, vpc_id):
    table = ctx.store.table("ec2", "security-group")
    for gid in ids:
        g = table.get(gid)
        if g is None or g["VpcId"] != vpc_id:
            raise service.fault("InvalidSecurityGroupException", f"One or more security groups are invalid: {gid}")
    return list(ids)


def _zones(subnets):
    return [{"ZoneName": s["AvailabilityZone"], "SubnetId": s["SubnetId"], "LoadBalancerAddresses": []}
            for s in subnets]


def _place(ctx, lb, subnets):
    """One interface per subnet (AZ) for the load balancer's nodes; those of
    subnets it leaves are released."""
    wanted = {s["SubnetId"] for s in subnets}
    for sid, eni in list(lb["_enis"].items()):
        if sid not in wanted:
            interfaces.release_interface(ctx, eni)
            del lb["_enis"][sid]
    suffix = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    for s in subnets:
        if s["SubnetId"] not in lb["_enis"]:
            lb["_enis"][s["SubnetId"]] = interfaces.add_interface(
                ctx, s["SubnetId"], lb["SecurityGroups"], f"ELB {suffix}", requester="amazon-elb")


@service.op("CreateLoadBalancer")
def create_load_balancer(ctx, p):
    name = p["Name"]
    _check_name(name, "Load balancer")
    if name.lower().startswith("internal-"):
        raise _validation("Load balancer names cannot begin with 'internal-'")
    if any(lb["LoadBalancerName"] == name for lb in _lbs(ctx).values()):
        raise service.fault("DuplicateLoadBalancerNameException", "A load balancer with the same name "
                                                                  f"'{name}' exists, but with different settings")
    lb_type = p.get("Type", "application")
    if lb_type != "application":
        raise AWSError("NotImplemented", "fakeaws serves application load balancers only (services/elbv2.py)", 501)
    if p.get("SubnetMappings"):
        raise AWSError("NotImplemented", "fakeaws does not support SubnetMappings yet (services/elbv2.py)", 501)
    subnets = _subnets(ctx, p.get("Subnets") or [], lb_type)
    vpc_id = subnets[0]["VpcId"]
    groups = p.get("SecurityGroups")
    if groups is None:
        default = [g["GroupId"] for g in ctx.store.table("ec2", "security-group").values()
                   if g["VpcId"] == vpc_id and g["GroupName"] == "default"]
        groups = default
    scheme = p.get("Scheme", "internet-facing")
    suffix = new_id("", 16)
    arn = ctx.arn("elasticloadbalancing", f"loadbalancer/app/{name}/{suffix}")
    dns = f"{'internal-' if scheme == 'internal' else ''}{name}-{int(suffix[:9], 16) % 10**10}" \
          f".{ctx.region}.elb.amazonaws.com"
    lb = {
        "LoadBalancerArn": arn,
        "DNSName": dns,
        "CanonicalHostedZoneId": _ZONE_IDS.get(ctx.region, "Z3DZXE0Q79N41H"),
        "CreatedTime": ctx.now(),
        "LoadBalancerName": name,
        "Scheme": scheme,
        "VpcId": vpc_id,
        "Type": lb_type,
        "AvailabilityZones": _zones(subnets),
        "SecurityGroups": _groups(ctx, groups, vpc_id),
        "IpAddressType": p.get("IpAddressType", "ipv4"),
        "_attributes": dict(LB_ATTRIBUTES),
        "_tags": _tags(p.get("Tags")),
    }
    lb["_enis"] = {}
    _place(ctx, lb, subnets)
    start_lifecycle(lb, "State", {"Code": "provisioning"}, {"Code": "active"}, ctx.settle)
    _lbs(ctx)[arn] = lb
    return {"LoadBalancers": [_public(lb)]}


@service.op("DescribeLoadBalancers")
def describe_load_balancers(ctx, p):
    arns, names = p.get("LoadBalancerArns") or [], p.get("Names") or []
    if arns and names:
        raise _validation("LoadBalancerArns and Names cannot be specified at the same time")
    if arns:
        found = [_get_lb(ctx, a) for a in arns]
    elif names:
        by_name = {lb["LoadBalancerName"]: lb for lb in _lbs(ctx).values()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise service.fault("LoadBalancerNotFoundException", f"Load balancers '[{', '.join(missing)}]' not found")
        found = [by_name[n] for n in names]
    else:
        found = list(_lbs(ctx).values())
    for lb in found:
        advance(lb)
    page, token = ctx.page(found, key=lambda lb: lb["LoadBalancerArn"], token=p.get("Marker"),
                           limit=p.get("PageSize"), token_error=("ValidationError", 400))
    out = {"LoadBalancers": [_public(lb) for lb in page]}
    if token:
        out["NextMarker"] = token
    return out


@service.op("DeleteLoadBalancer")
def delete_load_balancer(ctx, p):
    lb = _lbs(ctx).get(p["LoadBalancerArn"])
    if lb is None:
        return {}
    if lb["_attributes"]["deletion_protection.enabled"] == "true":
        raise service.fault("OperationNotPermittedException", f"Load balancer '{lb['LoadBalancerArn']}' cannot be "
                                                              "deleted because deletion protection is enabled")
    for arn in [a for a, li in _listeners(ctx).items() if li["LoadBalancerArn"] == lb["LoadBalancerArn"]]:
        _drop_listener(ctx, arn)
    for eni in lb["_enis"].values():
        interfaces.release_interface(ctx, eni)
    del _lbs(ctx)[lb["LoadBalancerArn"]]
    return {}


@service.op("SetSubnets")
def set_subnets(ctx, p):
    lb = _get_lb(ctx, p["LoadBalancerArn"])
    if p.get("SubnetMappings"):
        raise AWSError("NotImplemented", "fakeaws does not support SubnetMappings yet (services/elbv2.py)", 501)
    subnets = _subnets(ctx, p.get("Subnets") or [], lb["Type"])
    if subnets[0]["VpcId"] != lb["VpcId"]:
        raise service.fault("InvalidSubnetException", "The subnets must belong to the load balancer's VPC")
    lb["AvailabilityZones"] = _zones(subnets)
    _place(ctx, lb, subnets)
    if p.get("IpAddressType"):
        lb["IpAddressType"] = p["IpAddressType"]
    return {"AvailabilityZones": lb["AvailabilityZones"], "IpAddressType": lb["IpAddressType"]}


@service.op("SetSecurityGroups")
def set_security_groups(ctx, p):
    lb = _get_lb(ctx, p["LoadBalancerArn"])
    lb["SecurityGroups"] = _groups(ctx, p["SecurityGroups"], lb["VpcId"])
    subnets = ctx.store.table("ec2", "subnet")
    for sid, eni_id in lb["_enis"].items():
        eni = ctx.store.table("ec2", interfaces.KIND).get(eni_id)
        if eni is not None:
            eni["Groups"] = interfaces._groups(ctx, subnets[sid], lb["SecurityGroups"])
    return {"SecurityGroupIds": list(lb["SecurityGroups"])}


def _set_attributes(current, given, known, what):
    for a in given:
        if a.get("Key") not in known:
            raise service.fault("InvalidConfigurationRequestException",
                                f"{what} attribute key '{a.get('Key')}' is not recognized")
        value = a.get("Value", "")
        default = known[a["Key"]]
        if default in ("true", "false") and value not in ("true", "false"):
            raise service.fault("InvalidConfigurationRequestException",
                                f"{what} attribute '{a['Key']}' must be true or false")
        if default.isdigit() and not value.isdigit():
            raise service.fault("InvalidConfigurationRequestException",
                                f"{what} attribute '{a['Key']}' must be a number")
    for a in given:
        current[a["Key"]] = a.get("Value", "")
    return [{"Key": k, "Value": v} for k, v in sorted(current.items())]


@service.op("ModifyLoadBalancerAttributes")
def modify_load_balancer_attributes(ctx, p):
    lb = _get_lb(ctx, p["LoadBalancerArn"])
    return {"Attributes": _set_attributes(lb["_attributes"], p["Attributes"], LB_ATTRIBUTES, "Load balancer")}


@service.op("DescribeLoadBalancerAttributes")
def describe_load_balancer_attributes(ctx, p):
    lb = _get_lb(ctx, p["LoadBalancerArn"])
    return {"Attributes": [{"Key": k, "Value": v} for k, v in sorted(lb["_attributes"].items())]}


# -- target groups ------------------------------------------------------------------

def load_balancers_of(ctx, tg):
    """The load balancers whose listeners forward to target group tg."""
    arns = []
    for li in _listeners(ctx).values():
        actions = list(li["DefaultActions"])
        for rule in _rules(ctx).values():
            if rule["_listener"] == li["ListenerArn"]:
                actions += rule["Actions"]
        if tg["TargetGroupArn"] in _forwarded(actions) and li["LoadBalancerArn"] not in arns:
            arns.append(li["LoadBalancerArn"])
    return arns


def _forwarded(actions):
    out = []
    for a in actions:
        if a.get("TargetGroupArn"):
            out.append(a["TargetGroupArn"])
        for t in (a.get("ForwardConfig") or {}).get("TargetGroups") or []:
            out.append(t["TargetGroupArn"])
    return out


def _render_tg(ctx, tg):
    out = _public(tg)
    out["LoadBalancerArns"] = load_balancers_of(ctx, tg)
    return out


_HEALTH = ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckEnabled", "HealthCheckIntervalSeconds",
           "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "HealthCheckPath",
           "Matcher")


def _check_health(tg):
    if tg["HealthCheckTimeoutSeconds"] >= tg["HealthCheckIntervalSeconds"]:
        raise _validation("Health check timeout must be smaller than the interval")
    code = (tg.get("Matcher") or {}).get("HttpCode")
    if code is not None and not re.fullmatch(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*", code):
        raise _validation(f"Health check matcher HTTP code '{code}' must be a code, a list or a range of codes "
                          "between 200 and 499")
    if tg["HealthCheckPath"] and not tg["HealthCheckPath"].startswith("/"):
        raise _validation("Health check path must begin with a '/' character")


@service.op("CreateTargetGroup")
def create_target_group(ctx, p):
    name = p["Name"]
    _check_name(name, "Target group")
    target_type = p.get("TargetType", "instance")
    if target_type == "lambda":
        raise AWSError("NotImplemented", "fakeaws does not support lambda target groups yet "
                                         "(services/elbv2.py)", 501)
    for k in ("Protocol", "Port", "VpcId"):
        if p.get(k) is None:
            raise _validation(f"A {k.lower()} must be specified for target groups with a target type of "
                              f"'{target_type}'")
    if p["VpcId"] not in ctx.store.table("ec2", "vpc"):
        raise _validation(f"The VPC ID '{p['VpcId']}' is not found")
    existing = [tg for tg in _tgs(ctx).values() if tg["TargetGroupName"] == name]
    if existing:
        raise service.fault("DuplicateTargetGroupNameException", f"A target group with the same name '{name}' "
                                                                 "exists, but with different settings")
    protocol = p["Protocol"]
    arn = ctx.arn("elasticloadbalancing", f"targetgroup/{name}/{new_id('', 16)}")
    tg = {
        "TargetGroupArn": arn,
        "TargetGroupName": name,
        "Protocol": protocol,
        "Port": p["Port"],
        "VpcId": p["VpcId"],
        "HealthCheckProtocol": p.get("HealthCheckProtocol", "HTTP" if protocol in ("HTTP", "HTTPS") else protocol),
        "HealthCheckPort": p.get("HealthCheckPort", "traffic-port"),
        "HealthCheckEnabled": p.get("HealthCheckEnabled", True),
        "HealthCheckIntervalSeconds": p.get("HealthCheckIntervalSeconds", 30),
        "HealthCheckTimeoutSeconds": p.get("HealthCheckTimeoutSeconds", 5),
        "HealthyThresholdCount": p.get("HealthyThresholdCount", 5),
        "UnhealthyThresholdCount": p.get("UnhealthyThresholdCount", 2),
        "HealthCheckPath": p.get("HealthCheckPath", "/"),
        "Matcher": p.get("Matcher") or {"HttpCode": "200"},
        "TargetType": target_type,
        "ProtocolVersion": p.get("ProtocolVersion", "HTTP1"),
        "IpAddressType": p.get("IpAddressType", "ipv4"),
        "_attributes": dict(TG_ATTRIBUTES),
        "_tags": _tags(p.get("Tags")),
    }
    _check_health(tg)
    _tgs(ctx)[arn] = tg
    return {"TargetGroups": [_render_tg(ctx, tg)]}


@service.op("DescribeTargetGroups")
def describe_target_groups(ctx, p):
    arns, names = p.get("TargetGroupArns") or [], p.get("Names") or []
    if arns:
        found = [_get_tg(ctx, a) for a in arns]
    elif names:
        by_name = {tg["TargetGroupName"]: tg for tg in _tgs(ctx).values()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise service.fault("TargetGroupNotFoundException", f"One or more target groups not found")
        found = [by_name[n] for n in names]
    else:
        found = list(_tgs(ctx).values())
    if p.get("LoadBalancerArn"):
        _get_lb(ctx, p["LoadBalancerArn"])
        found = [tg for tg in found if p["LoadBalancerArn"] in load_balancers_of(ctx, tg)]
    page, token = ctx.page(found, key=lambda tg: tg["TargetGroupArn"], token=p.get("Marker"),
                           limit=p.get("PageSize"), token_error=("ValidationError", 400))
    out = {"TargetGroups": [_render_tg(ctx, tg) for tg in page]}
    if token:
        out["NextMarker"] = token
    return out


@service.op("ModifyTargetGroup")
def modify_target_group(ctx, p):
    tg = _get_tg(ctx, p["TargetGroupArn"])
    updated = dict(tg)
    for k in _HEALTH:
        if p.get(k) is not None:
            updated[k] = p[k]
    _check_health(updated)
    tg.update({k: updated[k] for k in _HEALTH})
    return {"TargetGroups": [_render_tg(ctx, tg)]}


@service.op("ModifyTargetGroupAttributes")
def modify_target_group_attributes(ctx, p):
    tg = _get_tg(ctx, p["TargetGroupArn"])
    return {"Attributes": _set_attributes(tg["_attributes"], p["Attributes"], TG_ATTRIBUTES, "Target group")}


@service.op("DescribeTargetGroupAttributes")
def describe_target_group_attributes(ctx, p):
    tg = _get_tg(ctx, p["TargetGroupArn"])
    return {"Attributes": [{"Key": k, "Value": v} for k, v in sorted(tg["_attributes"].items())]}


@service.op("DeleteTargetGroup")
def delete_target_group(ctx, p):
    tg = _tgs(ctx).get(p["TargetGroupArn"])
    if tg is None:
        return {}
    users = [li["ListenerArn"] for li in _listeners(ctx).values()
             if tg["TargetGroupArn"] in _forwarded(li["DefaultActions"])]
    users += [r["RuleArn"] for r in _rules(ctx).values() if tg["TargetGroupArn"] in _forwarded(r["Actions"])]
    if users:
        raise service.fault("ResourceInUseException", f"Target group '{tg['TargetGroupArn']}' is currently in use by "
                                                      "a listener or a rule")
    del _tgs(ctx)[tg["TargetGroupArn"]]
    return {}


# -- listeners ----------------------------------------------------------------------

def _check_actions(ctx, lb, actions):
    if not actions:
        raise _validation("A listener needs at least one default action")
    for a in actions:
        t = a.get("Type")
        if t == "forward":
            arns = _forwarded([a])
            if not arns:
                raise _validation("A forward action needs a target group")
            for arn in arns:
                tg = _get_tg(ctx, arn)
                others = [x for x in load_balancers_of(ctx, tg) if x != lb["LoadBalancerArn"]]
                if others:
                    raise service.fault("TargetGroupAssociationLimitException",
                                        f"The following target groups cannot be associated with more than one "
                                        f"load balancer: {arn}")
                if tg["VpcId"] != lb["VpcId"]:
                    raise _validation(f"Target group '{arn}' is in another VPC than the load balancer")
        elif t == "redirect":
            cfg = a.get("RedirectConfig")
            if not cfg or cfg.get("StatusCode") not in ("HTTP_301", "HTTP_302"):
                raise _validation("A redirect action needs a RedirectConfig with StatusCode HTTP_301 or HTTP_302")
        elif t == "fixed-response":
            cfg = a.get("FixedResponseConfig")
            if not cfg or not re.fullmatch(r"[245]\d\d", cfg.get("StatusCode") or ""):
                raise _validation("A fixed-response action needs a FixedResponseConfig with a 2XX, 4XX or 5XX "
                                  "StatusCode")
        else:
            raise AWSError("NotImplemented", f"fakeaws does not support {t} actions yet (services/elbv2.py)", 501)


def _check_listener(ctx, lb, protocol, port, certificates, ssl_policy, actions, skip=None):
    if protocol not in ("HTTP", "HTTPS"):
        raise service.fault("UnsupportedProtocolException", f"Protocol '{protocol}' is not supported by an "
                                                            "application load balancer")
    if not 1 <= port <= 65535:
        raise _validation("A listener port is between 1 and 65535")
    for li in _listeners(ctx).values():
        if li["LoadBalancerArn"] == lb["LoadBalancerArn"] and li["Port"] == port and li["ListenerArn"] != skip:
            raise service.fault("DuplicateListenerException", "A listener already exists on this port for this "
                                                              "load balancer")
    if protocol == "HTTPS":
        if not certificates:
            raise _validation("A certificate must be specified for HTTPS listeners")
        for c in certificates:
            if not re.match(r"^arn:aws[\w-]*:(acm|iam):", c.get("CertificateArn") or ""):
                raise service.fault("CertificateNotFoundException", f"Certificate '{c.get('CertificateArn')}' "
                                                                    "not found")
        if ssl_policy is not None and not ssl_policy.startswith("ELBSecurityPolicy-"):
            raise service.fault("SSLPolicyNotFoundException", f"SSL policy '{ssl_policy}' not found")
    elif certificates:
        raise _validation("Certificates are for HTTPS listeners only")
    _check_actions(ctx, lb, actions)


@service.op("CreateListener")
def create_listener(ctx, p):
    lb = _get_lb(ctx, p["LoadBalancerArn"])
    protocol = p.get("Protocol", "HTTP")
    port = p.get("Port", 443 if protocol == "HTTPS" else 80)
    _check_listener(ctx, lb, protocol, port, p.get("Certificates"), p.get("SslPolicy"), p["DefaultActions"])
    suffix = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    arn = ctx.arn("elasticloadbalancing", f"listener/{suffix}/{new_id('', 16)}")
    li = {
        "ListenerArn": arn,
        "LoadBalancerArn": lb["LoadBalancerArn"],
        "Port": port,
        "Protocol": protocol,
        "DefaultActions": [dict(a, Order=a.get("Order", i + 1)) for i, a in enumerate(p["DefaultActions"])],
        "_tags": _tags(p.get("Tags")),
    }
    if protocol == "HTTPS":
        li["Certificates"] = [{"CertificateArn": c["CertificateArn"]} for c in p["Certificates"]]
        li["SslPolicy"] = p.get("SslPolicy") or "ELBSecurityPolicy-2016-08"
    _listeners(ctx)[arn] = li
    return {"Listeners": [_public(li)]}


@service.op("DescribeListeners")
def describe_listeners(ctx, p):
    arns = p.get("ListenerArns") or []
    if not arns and not p.get("LoadBalancerArn"):
        raise _validation("You must specify either listener ARNs or a load balancer ARN")
    if arns:
        found = [_get_listener(ctx, a) for a in arns]
    else:
        lb = _get_lb(ctx, p["LoadBalancerArn"])
        found = [li for li in _listeners(ctx).values() if li["LoadBalancerArn"] == lb["LoadBalancerArn"]]
    page, token = ctx.page(found, key=lambda li: li["ListenerArn"], token=p.get("Marker"),
                           limit=p.get("PageSize"), token_error=("ValidationError", 400))
    out = {"Listeners": [_public(li) for li in page]}
    if token:
        out["NextMarker"] = token
    return out


@service.op("ModifyListener")
def modify_listener(ctx, p):
    li = _get_listener(ctx, p["ListenerArn"])
    lb = _get_lb(ctx, li["LoadBalancerArn"])
    protocol = p.get("Protocol") or li["Protocol"]
    port = p.get("Port") or li["Port"]
    certificates = p.get("Certificates") if p.get("Certificates") is not None else li.get("Certificates")
    if protocol == "HTTP":
        certificates = None if p.get("Certificates") is None else certificates
    actions = p.get("DefaultActions") or li["DefaultActions"]
    ssl_policy = p.get("SslPolicy") or (li.get("SslPolicy") if protocol == "HTTPS" else None)
    _check_listener(ctx, lb, protocol, port, certificates, ssl_policy, actions, skip=li["ListenerArn"])
    li.update({"Protocol": protocol, "Port": port,
               "DefaultActions": [dict(a, Order=a.get("Order", i + 1)) for i, a in enumerate(actions)]})
    if protocol == "HTTPS":
        li["Certificates"] = [{"CertificateArn": c["CertificateArn"]} for c in certificates]
        li["SslPolicy"] = ssl_policy or "ELBSecurityPolicy-2016-08"
    else:
        li.pop("Certificates", None)
        li.pop("SslPolicy", None)
    return {"Listeners": [_public(li)]}


@service.op("DeleteListener")
def delete_listener(ctx, p):
    _get_listener(ctx, p["ListenerArn"])
    _drop_listener(ctx, p["ListenerArn"])
    return {}


def _drop_listener(ctx, arn):
    for rule_arn in [a for a, r in _rules(ctx).items() if r["_listener"] == arn]:
        del _rules(ctx)[rule_arn]
    del _listeners(ctx)[arn]


# -- listener rules -------------------------------------------------------------------

_CONDITION_CONFIGS = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig",
                      "http-header": "HttpHeaderConfig"}


def _get_rule(ctx, arn):
    rule = _rules(ctx).get(arn)
    if rule is None:
        raise service.fault("RuleNotFoundException", f"One or more rules not found: '{arn}'")
    return rule


def _conditions(given):
    if not given:
        raise _validation("A rule needs at least one condition")
    out, count, fields = [], 0, set()
    for c in given:
        field = c.get("Field")
        config = _CONDITION_CONFIGS.get(field)
        if config is None:
            if field in ("query-string", "http-request-method", "source-ip"):
                raise AWSError("NotImplemented", f"fakeaws does not support {field} conditions yet "
                                                 "(services/elbv2.py)", 501)
            raise _validation(f"Condition field '{field}' must be one of [{', '.join(_CONDITION_CONFIGS)}]")
        if field != "http-header" and field in fields:
            raise _validation(f"A rule can only have one '{field}' condition")
        fields.add(field)
        cfg = c.get(config) or {}
        values = cfg.get("Values") if cfg.get("Values") is not None else c.get("Values")
        if not values:
            raise _validation(f"A '{field}' condition needs at least one value")
        count += len(values)
        if field == "http-header":
            name = cfg.get("HttpHeaderName") or ""
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}", name):
                raise _validation(f"HTTP header name '{name}' is not valid")
            out.append({"Field": field, "HttpHeaderConfig": {"HttpHeaderName": name, "Values": list(values)}})
        else:
            for v in values:
                if len(v) > 128:
                    raise _validation(f"A '{field}' value can have at most 128 characters")
            out.append({"Field": field, "Values": list(values), config: {"Values": list(values)}})
    if count > 5:
        raise service.fault("InvalidConfigurationRequestException",
                            "A rule can have at most 5 condition values")
    return out


def _check_priority(ctx, listener_arn, priority, skip=None):
    for r in _rules(ctx).values():
        if r["_listener"] == listener_arn and r["_priority"] == priority and r["RuleArn"] != skip:
            raise service.fault("PriorityInUseException", f"Priority '{priority}' is currently in use")


def _render_rule(rule):
    out = _public(rule)
    out["Priority"] = str(rule["_priority"])
    return out


def _default_rule(li):
    arn = li["ListenerArn"].replace(":listener/", ":listener-rule/", 1) + "/default"
    return {"RuleArn": arn, "Priority": "default", "Conditions": [], "Actions": li["DefaultActions"],
            "IsDefault": True}


@service.op("CreateRule")
def create_rule(ctx, p):
    li = _get_listener(ctx, p["ListenerArn"])
    lb = _get_lb(ctx, li["LoadBalancerArn"])
    conditions = _conditions(p["Conditions"])
    _check_priority(ctx, li["ListenerArn"], p["Priority"])
    _check_actions(ctx, lb, p["Actions"])
    if len([r for r in _rules(ctx).values() if r["_listener"] == li["ListenerArn"]]) >= 100:
        raise service.fault("TooManyRulesException", "A listener can have at most 100 rules")
    suffix = li["ListenerArn"].split(":listener/", 1)[1]
    arn = ctx.arn("elasticloadbalancing", f"listener-rule/{suffix}/{new_id('', 16)}")
    rule = {"RuleArn": arn, "Conditions": conditions,
            "Actions": [dict(a, Order=a.get("Order", i + 1)) for i, a in enumerate(p["Actions"])],
            "IsDefault": False, "_priority": p["Priority"], "_listener": li["ListenerArn"],
            "_tags": _tags(p.get("Tags"))}
    _rules(ctx)[arn] = rule
    return {"Rules": [_render_rule(rule)]}


@service.op("DescribeRules")
def describe_rules(ctx, p):
    arns = p.get("RuleArns") or []
    if not arns and not p.get("ListenerArn"):
        raise _validation("You must specify either listener ARNs or rule ARNs")
    if arns:
        found = [_render_rule(_get_rule(ctx, a)) for a in arns]
    else:
        li = _get_listener(ctx, p["ListenerArn"])
        found = [_render_rule(r) for r in _rules(ctx).values() if r["_listener"] == li["ListenerArn"]]
        found.append(_default_rule(li))
    page, token = ctx.page(found, key=lambda r: r["RuleArn"], token=p.get("Marker"),
                           limit=p.get("PageSize"), token_error=("ValidationError", 400))
    out = {"Rules": page}
    if token:
        out["NextMarker"] = token
    return out


def _not_default(arn):
    if arn.endswith("/default"):
        raise service.fault("OperationNotPermittedException", "The default rule of a listener cannot be modified "
                                                              "or deleted (modify the listener's default actions)")


@service.op("ModifyRule")
def modify_rule(ctx, p):
    _not_default(p["RuleArn"])
    rule = _get_rule(ctx, p["RuleArn"])
    li = _get_listener(ctx, rule["_listener"])
    conditions = _conditions(p["Conditions"]) if p.get("Conditions") else rule["Conditions"]
    actions = p.get("Actions") or rule["Actions"]
    _check_actions(ctx, _get_lb(ctx, li["LoadBalancerArn"]), actions)
    rule["Conditions"] = conditions
    rule["Actions"] = [dict(a, Order=a.get("Order", i + 1)) for i, a in enumerate(actions)]
    return {"Rules": [_render_rule(rule)]}


@service.op("SetRulePriorities")
def set_rule_priorities(ctx, p):
    pairs = p["RulePriorities"]
    rules = []
    for pair in pairs:
        _not_default(pair["RuleArn"])
        rules.append(_get_rule(ctx, pair["RuleArn"]))
    moving = {r["RuleArn"] for r in rules}
    seen = set()
    for rule, pair in zip(rules, pairs):
        key = (rule["_listener"], pair["Priority"])
        if key in seen:
            raise service.fault("PriorityInUseException", f"Priority '{pair['Priority']}' is given twice")
        seen.add(key)
        for other in _rules(ctx).values():
            if other["RuleArn"] not in moving and (other["_listener"], other["_priority"]) == key:
                raise service.fault("PriorityInUseException", f"Priority '{pair['Priority']}' is currently in use")
    for rule, pair in zip(rules, pairs):
        rule["_priority"] = pair["Priority"]
    return {"Rules": [_render_rule(r) for r in rules]}


@service.op("DeleteRule")
def delete_rule(ctx, p):
    _not_default(p["RuleArn"])
    _get_rule(ctx, p["RuleArn"])
    del _rules(ctx)[p["RuleArn"]]
    return {}


# -- tags ------------------------------------------------------------------------------

def _tagged(ctx, arn):
    for table in (_lbs(ctx), _tgs(ctx), _listeners(ctx), _rules(ctx)):
        if arn in table:
            return table[arn]
    if ":listener-rule/" in arn:
        raise service.fault("RuleNotFoundException", f"One or more rules not found: '{arn}'")
    if ":targetgroup/" in arn:
        raise service.fault("TargetGroupNotFoundException", f"Target groups '{arn}' not found")
    if ":listener/" in arn:
        raise service.fault("ListenerNotFoundException", f"Listener '{arn}' not found")
    raise service.fault("LoadBalancerNotFoundException", f"Load balancer '{arn}' not found")


@service.op("AddTags")
def add_tags(ctx, p):
    objs = [_tagged(ctx, arn) for arn in p["ResourceArns"]]
    new = _tags(p["Tags"])
    for obj in objs:
        merged = dict(obj["_tags"])
        merged.update(new)
        if len(merged) > 50:
            raise service.fault("TooManyTagsException", "You can have at most 50 tags on a resource")
    for obj in objs:
        obj["_tags"].update(new)
    return {}


@service.op("RemoveTags")
def remove_tags(ctx, p):
    for arn in p["ResourceArns"]:
        obj = _tagged(ctx, arn)
        for k in p["TagKeys"]:
            obj["_tags"].pop(k, None)
    return {}


@service.op("DescribeTags")
def describe_tags(ctx, p):
    if len(p["ResourceArns"]) > 20:
        raise _validation("DescribeTags takes at most 20 resource ARNs")
    out = []
    for arn in p["ResourceArns"]:
        obj = _tagged(ctx, arn)
        out.append({"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in sorted(obj["_tags"].items())]})
    return {"TagDescriptions": out}
