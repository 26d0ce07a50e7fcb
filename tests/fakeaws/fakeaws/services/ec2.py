"""EC2: VPCs (and their attributes), subnets, security groups and their rules,
internet gateways, elastic IPs, NAT gateways, tags, availability zones.

Objects live in the store as ("ec2", resource type) tables — "vpc", "subnet",
"security-group", "security-group-rule", "internet-gateway", "elastic-ip", "natgateway" — shaped like their
Describe* output. Behaviour kept from AWS: pending -> available over successive
describes; the default security group made with each VPC; DependencyViolation
when deleting a VPC that still holds subnets, groups or an attached gateway, or
a group another group's rule refers to; *.NotFound and *.Malformed ids;
filters (ids, vpc-id, tag:Key, tag-key, tag-value, ...) with * and ? wildcards;
small pages with NextToken; DryRun; TagSpecifications on create; ClientToken
replay (generic, in httpd/state) for the operations that take one."""
import ipaddress
import re

from ..errors import AWSError
from ..state import (advance, matches, new_id, public, start_lifecycle, tag_dict, tag_list)
from . import Service

service = Service("ec2")

# -- ids ---------------------------------------------------------------------------

# resource type -> (id prefix, NotFound code, Malformed code, noun used in messages)
KINDS = {
    "vpc": ("vpc", "InvalidVpcID.NotFound", "InvalidVpcID.Malformed", "vpc ID"),
    "subnet": ("subnet", "InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed", "subnet ID"),
    "security-group": ("sg", "InvalidGroup.NotFound", "InvalidGroupId.Malformed", "security group"),
    "security-group-rule": ("sgr", "InvalidSecurityGroupRuleId.NotFound",
                            "InvalidSecurityGroupRuleId.Malformed", "security group rule"),
    "internet-gateway": ("igw", "InvalidInternetGatewayID.NotFound", "InvalidInternetGatewayId.Malformed",
                         "internetGateway ID"),
    "elastic-ip": ("eipalloc", "InvalidAllocationID.NotFound", "InvalidAllocationID.Malformed", "allocation ID"),
    "natgateway": ("nat", "NatGatewayNotFound", "InvalidParameterValue", "Nat Gateway"),
}
PREFIX_KIND = {v[0]: k for k, v in KINDS.items()}
ID_FIELD = {"vpc": "VpcId", "subnet": "SubnetId", "security-group": "GroupId",
            "security-group-rule": "SecurityGroupRuleId", "internet-gateway": "InternetGatewayId",
            "elastic-ip": "AllocationId", "natgateway": "NatGatewayId"}


def _table(ctx, kind):
    return ctx.store.table("ec2", kind)


def _check_id(kind, rid):
    prefix, _, malformed, _ = KINDS[kind]
    if not re.fullmatch(rf"{prefix}-([0-9a-f]{{8}}|[0-9a-f]{{17}})", rid or ""):
        raise AWSError(malformed, f'Invalid id: "{rid}"')


def _not_found(kind, ids):
    _, code, _, noun = KINDS[kind]
    ids = list(ids)
    if len(ids) == 1:
        return AWSError(code, f"The {noun} '{ids[0]}' does not exist")
    return AWSError(code, f"The {noun}s '{', '.join(ids)}' do not exist")


def _get(ctx, kind, rid):
    _check_id(kind, rid)
    obj = _table(ctx, kind).get(rid)
    if obj is None:
        raise _not_found(kind, [rid])
    return obj


def _view(obj):
    """An object as EC2 answers it: without bookkeeping, and without an empty tag set."""
    out = public(obj)
    if not out.get("Tags"):
        out.pop("Tags", None)
    return out


# -- extension points -------------------------------------------------------------
# Modules serving more of EC2 (ec2_routes.py, ec2_interfaces.py, ...) hook in here:
#   register_kind(kind, prefix, not_found, malformed, noun, id_field): a kind of object whose ids
#       CreateTags, DeleteTags and DescribeTags accept;
#   DEPENDENTS[kind].append(fn): fn(ctx, obj) -> ids of objects that keep obj (a "vpc", "subnet"
#       or "security-group") from being deleted: the delete answers DependencyViolation;
#   CREATED[kind] / DELETED[kind].append(fn): fn(ctx, obj) right after a "vpc" or "subnet" is
#       made or removed (its main route table, its route table associations...).
DEPENDENTS = {"vpc": [], "subnet": [], "security-group": []}
CREATED = {"vpc": [], "subnet": []}
DELETED = {"vpc": [], "subnet": []}


def register_kind(kind, prefix, not_found, malformed, noun, id_field):
    KINDS[kind] = (prefix, not_found, malformed, noun)
    PREFIX_KIND[prefix] = kind
    ID_FIELD[kind] = id_field


def _dependents(ctx, kind, obj):
    return [rid for fn in DEPENDENTS[kind] for rid in fn(ctx, obj)]


def _hooks(table, ctx, kind, obj):
    for fn in table[kind]:
        fn(ctx, obj)


def unsupported(what):
    return AWSError("NotImplemented", f"fakeaws does not support {what} yet "
                                      "(tests/fakeaws/fakeaws/services/ec2.py)", 501)


# -- regions and zones -----------------------------------------------------------

_DIRECTIONS = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
               "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}


def zones(region):
    """[(zone name, zone id)] for a region: a, b, c (us-east-1: a to f)."""
    parts = region.split("-")
    if len(parts) == 3:
        short = parts[0] + _DIRECTIONS.get(parts[1], parts[1][:1]) + parts[2]
    else:
        short = region.replace("-", "")
    letters = "abcdef" if region == "us-east-1" else "abc"
    return [(region + c, f"{short}-az{i}") for i, c in enumerate(letters, 1)]


# -- common helpers -----------------------------------------------------------

def op(name):
    """Register an EC2 handler; DryRun answers DryRunOperation (the caller would have been allowed)."""
    def register(fn):
        def handler(ctx, p):
            if p.get("DryRun"):
                raise AWSError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
            return fn(ctx, p)
        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return service.op(name)(handler)
    return register


def _check_tags(tags):
    if len(tags) > 50:
        raise AWSError("TagLimitExceeded", "The maximum number of tags on a resource (50) would be exceeded")
    for t in tags:
        key = t.get("Key")
        if key is None:
            raise AWSError("MissingParameter", "The request must contain the parameter Tag.Key")
        if key.lower().startswith("aws:"):
            raise AWSError("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
        if not 1 <= len(key) <= 128 or len(t.get("Value") or "") > 256:
            raise AWSError("InvalidParameterValue", f"Tag key or value too long: '{key}'")


def _spec_tags(p, resource_type):
    """Tags from TagSpecifications for this resource type, as an EC2 tag list."""
    tags = {}
    for spec in p.get("TagSpecifications") or []:
        rtype = spec.get("ResourceType")
        if rtype != resource_type:
            raise AWSError("InvalidParameterValue",
                           f"'{rtype}' is not a valid taggable resource type for this operation.")
        for t in spec.get("Tags") or []:
            tags[t["Key"]] = t.get("Value", "")
    out = tag_list(tags)
    _check_tags(out)
    return out


def _filtered(objs, filters, fields):
    """EC2 Filters over objects; fields: filter name -> fn(obj) -> value or list."""
    for f in filters or []:
        name = f.get("Name", "")
        values = f.get("Values") or []
        if name.startswith("tag:"):
            key = name[4:]
            get = (lambda o, k=key: tag_dict(o.get("Tags")).get(k))
        elif name == "tag-key":
            get = (lambda o: list(tag_dict(o.get("Tags"))))
        elif name == "tag-value":
            get = (lambda o: list(tag_dict(o.get("Tags")).values()))
        elif name in fields:
            get = fields[name]
        else:
            raise AWSError("InvalidParameterValue", f"The filter '{name}' is invalid")
        objs = [o for o in objs if matches(get(o), values)]
    return objs


def _describe(ctx, p, kind, ids_member, fields, out_member, render=_view, filters_member="Filters"):
    """The shape every Describe* shares: ids (all must exist), lifecycle, filters, pages."""
    table = _table(ctx, kind)
    ids = p.get(ids_member) or []
    if ids and p.get("MaxResults"):
        raise AWSError("InvalidParameterCombination",
                       f"The parameter {ids_member[0].lower() + ids_member[1:]} cannot be used with "
                       "the parameter maxResults")
    for rid in ids:
        _check_id(kind, rid)
    missing = [rid for rid in ids if rid not in table]
    if missing:
        raise _not_found(kind, missing)
    objs = []
    for rid in (ids or list(table)):
        obj = table[rid]
        if advance(obj):
            del table[rid]
        else:
            objs.append(obj)
    objs = _filtered(objs, p.get(filters_member), fields)
    token = None
    if not ids:
        objs, token = ctx.page(objs, key=lambda o: o[ID_FIELD[kind]], token=p.get("NextToken"),
                               limit=p.get("MaxResults"))
    out = {out_member: [render(o) for o in objs]}
    if token:
        out["NextToken"] = token
    return out


def _one_attribute(p, names):
    given = [n for n in names if p.get(n) is not None]
    if not given:
        raise AWSError("MissingParameter", "No attributes specified.")
    if len(given) > 1:
        raise AWSError("InvalidParameterCombination",
                       f"Fields for multiple attribute types specified: {', '.join(given)}")
    return given[0]


def _bool_attr(p, name):
    value = p[name].get("Value")
    if value is None:
        raise AWSError("MissingParameter", f"The request must contain the parameter {name}.Value")
    return value


def _cidr(text, member):
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise AWSError("InvalidParameterValue",
                       f"Value ({text}) for parameter {member} is invalid. This is not a valid CIDR block.") from None


# -- VPCs --------------------------------------------------------------------------

@op("CreateVpc")
def create_vpc(ctx, p):
    if p.get("Ipv4IpamPoolId") or p.get("Ipv6IpamPoolId") or p.get("Ipv6Pool") or p.get("Ipv6CidrBlock"):
        raise unsupported("IPAM pools and BYOIP IPv6 pools")
    if not p.get("CidrBlock"):
        raise AWSError("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
    net = _cidr(p["CidrBlock"], "cidrBlock")
    if net.version != 4 or not 16 <= net.prefixlen <= 28:
        raise AWSError("InvalidVpc.Range", f"The CIDR '{p['CidrBlock']}' is invalid.")
    tags = _spec_tags(p, "vpc")
    vpc_id = new_id("vpc")
    vpc = {
        "CidrBlock": str(net),
        "DhcpOptionsId": ctx.store.scratch("ec2", "dhcp", lambda: {"id": new_id("dopt")})["id"],
        "VpcId": vpc_id,
        "OwnerId": ctx.account,
        "InstanceTenancy": p.get("InstanceTenancy", "default"),
        "CidrBlockAssociationSet": [{
            "AssociationId": new_id("vpc-cidr-assoc"),
            "CidrBlock": str(net),
            "CidrBlockState": {"State": "associated"},
        }],
        "IsDefault": False,
        "Tags": tags,
        "_attributes": {"EnableDnsSupport": True, "EnableDnsHostnames": False,
                        "EnableNetworkAddressUsageMetrics": False},
    }
    if p.get("AmazonProvidedIpv6CidrBlock"):
        block = f"2600:1f18:{new_id('', 4)}:{new_id('', 2)}00::/56"
        vpc["Ipv6CidrBlockAssociationSet"] = [{
            "AssociationId": new_id("vpc-cidr-assoc"),
            "Ipv6CidrBlock": block,
            "Ipv6CidrBlockState": {"State": "associated"},
            "NetworkBorderGroup": ctx.region,
            "Ipv6Pool": "Amazon",
        }]
    start_lifecycle(vpc, "State", "pending", "available", ctx.settle)
    _table(ctx, "vpc")[vpc_id] = vpc
    _new_group(ctx, vpc_id, "default", "default VPC security group", [], default=True)
    _hooks(CREATED, ctx, "vpc", vpc)
    return {"Vpc": _view(vpc)}


_VPC_FILTERS = {
    "vpc-id": lambda v: v["VpcId"],
    "cidr": lambda v: v["CidrBlock"],
    "cidr-block-association.cidr-block": lambda v: [a["CidrBlock"] for a in v["CidrBlockAssociationSet"]],
    "cidr-block-association.state": lambda v: [a["CidrBlockState"]["State"]
                                               for a in v["CidrBlockAssociationSet"]],
    "dhcp-options-id": lambda v: v["DhcpOptionsId"],
    "is-default": lambda v: v["IsDefault"],
    "owner-id": lambda v: v["OwnerId"],
    "state": lambda v: v["State"],
}


@op("DescribeVpcs")
def describe_vpcs(ctx, p):
    return _describe(ctx, p, "vpc", "VpcIds", _VPC_FILTERS, "Vpcs")


@op("DeleteVpc")
def delete_vpc(ctx, p):
    vpc = _get(ctx, "vpc", p["VpcId"])
    vpc_id = vpc["VpcId"]
    in_use = [s["SubnetId"] for s in _table(ctx, "subnet").values() if s["VpcId"] == vpc_id]
    in_use += [g["GroupId"] for g in _table(ctx, "security-group").values()
               if g["VpcId"] == vpc_id and g["GroupName"] != "default"]
    in_use += [i["InternetGatewayId"] for i in _table(ctx, "internet-gateway").values()
               if any(a["VpcId"] == vpc_id for a in i["Attachments"])]
    in_use += _dependents(ctx, "vpc", vpc)
    if in_use:
        raise AWSError("DependencyViolation", f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
    for g in [g for g in _table(ctx, "security-group").values() if g["VpcId"] == vpc_id]:
        _drop_group(ctx, g["GroupId"])
    del _table(ctx, "vpc")[vpc_id]
    _hooks(DELETED, ctx, "vpc", vpc)
    return {}


_VPC_ATTRIBUTES = ("EnableDnsHostnames", "EnableDnsSupport", "EnableNetworkAddressUsageMetrics")


@op("ModifyVpcAttribute")
def modify_vpc_attribute(ctx, p):
    vpc = _get(ctx, "vpc", p["VpcId"])
    name = _one_attribute(p, _VPC_ATTRIBUTES)
    value = _bool_attr(p, name)
    attrs = vpc["_attributes"]
    if name == "EnableDnsHostnames" and value and not attrs["EnableDnsSupport"]:
        raise AWSError("InvalidParameterValue",
                       "Cannot enable DNS hostnames unless DNS support is enabled for the VPC")
    if name == "EnableDnsSupport" and not value and attrs["EnableDnsHostnames"]:
        raise AWSError("InvalidParameterValue", "Cannot disable DNS support while DNS hostnames are enabled")
    attrs[name] = value
    return {}


@op("DescribeVpcAttribute")
def describe_vpc_attribute(ctx, p):
    vpc = _get(ctx, "vpc", p["VpcId"])
    name = p["Attribute"][0].upper() + p["Attribute"][1:]
    return {"VpcId": vpc["VpcId"], name: {"Value": vpc["_attributes"][name]}}


# -- subnets -------------------------------------------------------------------

@op("CreateSubnet")
def create_subnet(ctx, p):
    vpc = _get(ctx, "vpc", p["VpcId"])
    if p.get("Ipv6Native") or p.get("Ipv6CidrBlock") or p.get("OutpostArn"):
        raise unsupported("IPv6-only subnets, subnet IPv6 blocks and Outposts")
    if not p.get("CidrBlock"):
        raise AWSError("MissingParameter", "The request must contain the parameter cidrBlock")
    net = _cidr(p["CidrBlock"], "cidrBlock")
    vpc_nets = [ipaddress.ip_network(a["CidrBlock"]) for a in vpc["CidrBlockAssociationSet"]]
    if net.version != 4 or not 16 <= net.prefixlen <= 28 or not any(net.subnet_of(v) for v in vpc_nets):
        raise AWSError("InvalidSubnet.Range", f"The CIDR '{p['CidrBlock']}' is invalid.")
    for other in _table(ctx, "subnet").values():
        if other["VpcId"] == vpc["VpcId"] and net.overlaps(ipaddress.ip_network(other["CidrBlock"])):
            raise AWSError("InvalidSubnet.Conflict", f"The CIDR '{p['CidrBlock']}' conflicts with another subnet")
    azs = zones(ctx.region)
    if p.get("AvailabilityZone"):
        found = [z for z in azs if z[0] == p["AvailabilityZone"]]
        member, value = "availabilityZone", p["AvailabilityZone"]
    elif p.get("AvailabilityZoneId"):
        found = [z for z in azs if z[1] == p["AvailabilityZoneId"]]
        member, value = "availabilityZoneId", p["AvailabilityZoneId"]
    else:
        found, member, value = azs[:1], "", ""
    if not found:
        raise AWSError("InvalidParameterValue",
                       f"Value ({value}) for parameter {member} is invalid. Subnets can currently only be "
                       f"created in the following availability zones: {', '.join(z[0] for z in azs)}.")
    zone, zone_id = found[0]
    subnet_id = new_id("subnet")
    subnet = {
        "AvailabilityZone": zone,
        "AvailabilityZoneId": zone_id,
        "AvailableIpAddressCount": net.num_addresses - 5,
        "CidrBlock": str(net),
        "DefaultForAz": False,
        "MapPublicIpOnLaunch": False,
        "MapCustomerOwnedIpOnLaunch": False,
        "SubnetId": subnet_id,
        "VpcId": vpc["VpcId"],
        "OwnerId": ctx.account,
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": _spec_tags(p, "subnet"),
        "SubnetArn": ctx.arn("ec2", f"subnet/{subnet_id}"),
        "EnableDns64": False,
        "Ipv6Native": False,
        "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                          "EnableResourceNameDnsAAAARecord": False},
    }
    start_lifecycle(subnet, "State", "pending", "available", ctx.settle)
    _table(ctx, "subnet")[subnet_id] = subnet
    _hooks(CREATED, ctx, "subnet", subnet)
    return {"Subnet": _view(subnet)}


_SUBNET_FILTERS = {
    "subnet-id": lambda s: s["SubnetId"],
    "vpc-id": lambda s: s["VpcId"],
    "availability-zone": lambda s: s["AvailabilityZone"],
    "availability-zone-id": lambda s: s["AvailabilityZoneId"],
    "availabilityZone": lambda s: s["AvailabilityZone"],
    "cidr-block": lambda s: s["CidrBlock"],
    "cidrBlock": lambda s: s["CidrBlock"],
    "cidr": lambda s: s["CidrBlock"],
    "default-for-az": lambda s: s["DefaultForAz"],
    "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"],
    "owner-id": lambda s: s["OwnerId"],
    "state": lambda s: s["State"],
    "subnet-arn": lambda s: s["SubnetArn"],
}


@op("DescribeSubnets")
def describe_subnets(ctx, p):
    return _describe(ctx, p, "subnet", "SubnetIds", _SUBNET_FILTERS, "Subnets")


@op("DeleteSubnet")
def delete_subnet(ctx, p):
    subnet = _get(ctx, "subnet", p["SubnetId"])
    if any(n["SubnetId"] == subnet["SubnetId"] and n["State"] != "deleted"
           for n in _table(ctx, "natgateway").values()) or _dependents(ctx, "subnet", subnet):
        raise AWSError("DependencyViolation",
                       f"The subnet '{subnet['SubnetId']}' has dependencies and cannot be deleted.")
    del _table(ctx, "subnet")[subnet["SubnetId"]]
    _hooks(DELETED, ctx, "subnet", subnet)
    return {}


_SUBNET_BOOL_ATTRIBUTES = ("MapPublicIpOnLaunch", "AssignIpv6AddressOnCreation", "EnableDns64")
_SUBNET_DNS_ATTRIBUTES = {"EnableResourceNameDnsARecordOnLaunch": "EnableResourceNameDnsARecord",
                          "EnableResourceNameDnsAAAARecordOnLaunch": "EnableResourceNameDnsAAAARecord"}


@op("ModifySubnetAttribute")
def modify_subnet_attribute(ctx, p):
    subnet = _get(ctx, "subnet", p["SubnetId"])
    names = [n for n in p if n not in ("SubnetId", "DryRun")]
    name = _one_attribute(p, names)
    if name in _SUBNET_BOOL_ATTRIBUTES:
        value = _bool_attr(p, name)
        if name == "AssignIpv6AddressOnCreation" and value and not subnet["Ipv6CidrBlockAssociationSet"]:
            raise AWSError("InvalidParameterValue",
                           "Invalid value 'true' for assignIpv6AddressOnCreation: the subnet has no IPv6 block")
        subnet[name] = value
    elif name in _SUBNET_DNS_ATTRIBUTES:
        subnet["PrivateDnsNameOptionsOnLaunch"][_SUBNET_DNS_ATTRIBUTES[name]] = _bool_attr(p, name)
    elif name == "PrivateDnsHostnameTypeOnLaunch":
        subnet["PrivateDnsNameOptionsOnLaunch"]["HostnameType"] = p[name]
    else:
        raise unsupported(f"ModifySubnetAttribute {name}")
    return {}


# -- security groups -----------------------------------------------------------------

_GROUP_NAME = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$")


def _new_group(ctx, vpc_id, name, description, tags, default=False):
    group_id = new_id("sg")
    _table(ctx, "security-group")[group_id] = {
        "Description": description,
        "GroupName": name,
        "OwnerId": ctx.account,
        "GroupId": group_id,
        "Tags": tags,
        "VpcId": vpc_id,
    }
    _add_rule(ctx, group_id, True, "-1", -1, -1, {"CidrIpv4": "0.0.0.0/0"}, None, [])
    if default:
        _add_rule(ctx, group_id, False, "-1", -1, -1,
                  {"ReferencedGroupInfo": {"GroupId": group_id, "UserId": ctx.account}}, None, [])
    return group_id


def _drop_group(ctx, group_id):
    rules = _table(ctx, "security-group-rule")
    for rid in [r for r, rule in rules.items() if rule["GroupId"] == group_id]:
        del rules[rid]
    del _table(ctx, "security-group")[group_id]


@op("CreateSecurityGroup")
def create_security_group(ctx, p):
    name, description = p["GroupName"], p["Description"]
    if not p.get("VpcId"):
        raise AWSError("VPCIdNotSpecified", "No default VPC for this user")
    vpc = _get(ctx, "vpc", p["VpcId"])
    if name == "default":
        raise AWSError("InvalidGroup.Reserved", "The security group 'default' is reserved")
    if name.lower().startswith("sg-"):
        raise AWSError("InvalidParameterValue", "Group names may not be in the format sg-*.")
    for value, member in ((name, "GroupName"), (description, "GroupDescription")):
        if not _GROUP_NAME.match(value):
            raise AWSError("InvalidParameterValue",
                           f"Value ({value}) for parameter {member} is invalid. Character sets beyond "
                           "ASCII are not supported.")
    for g in _table(ctx, "security-group").values():
        if g["VpcId"] == vpc["VpcId"] and g["GroupName"] == name:
            raise AWSError("InvalidGroup.Duplicate",
                           f"The security group '{name}' already exists for VPC '{vpc['VpcId']}'")
    tags = _spec_tags(p, "security-group")
    group_id = _new_group(ctx, vpc["VpcId"], name, description, tags)
    out = {"GroupId": group_id}
    if tags:
        out["Tags"] = tags
    return out


def _find_group(ctx, p, required=True):
    if p.get("GroupId"):
        return _get(ctx, "security-group", p["GroupId"])
    if p.get("GroupName"):
        found = [g for g in _table(ctx, "security-group").values() if g["GroupName"] == p["GroupName"]]
        if len(found) == 1:
            return found[0]
        if not found:
            raise AWSError("InvalidGroup.NotFound", f"The security group '{p['GroupName']}' does not exist")
        raise AWSError("InvalidParameterValue",
                       f"The security group name '{p['GroupName']}' is ambiguous: give GroupId")
    raise AWSError("MissingParameter", "The request must contain the parameter groupId")


_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1",
              "tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmpv6", "-1": "-1"}


def _rule_key(rule):
    src = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId") or \
        rule.get("ReferencedGroupInfo", {}).get("GroupId")
    return (rule["IsEgress"], rule["IpProtocol"], rule["FromPort"], rule["ToPort"], src)


def _add_rule(ctx, group_id, egress, proto, from_port, to_port, source, description, tags):
    rule_id = new_id("sgr")
    rule = {"SecurityGroupRuleId": rule_id, "GroupId": group_id, "GroupOwnerId": ctx.account,
            "IsEgress": egress, "IpProtocol": proto, "FromPort": from_port, "ToPort": to_port,
            "Tags": tags}
    rule.update(source)
    if description is not None:
        rule["Description"] = description
    _table(ctx, "security-group-rule")[rule_id] = rule
    return rule


def _expand(ctx, p):
    """IpPermissions (or the legacy top-level CidrIp/IpProtocol/FromPort/ToPort
    members) -> one (proto, from, to, source, description) per source."""
    perms = list(p.get("IpPermissions") or [])
    if p.get("CidrIp") or p.get("IpProtocol") or p.get("SourceSecurityGroupName"):
        if p.get("SourceSecurityGroupName"):
            raise unsupported("SourceSecurityGroupName (use IpPermissions with UserIdGroupPairs)")
        perms.append({"IpProtocol": p.get("IpProtocol", "-1"), "FromPort": p.get("FromPort"),
                      "ToPort": p.get("ToPort"), "IpRanges": [{"CidrIp": p["CidrIp"]}] if p.get("CidrIp") else []})
    if not perms:
        raise AWSError("MissingParameter", "The request must contain the parameter ipPermissions")
    out = []
    for perm in perms:
        raw = str(perm.get("IpProtocol", "")).lower()
        proto = _PROTOCOLS.get(raw)
        if proto is None:
            raise AWSError("InvalidParameterValue", f"Invalid value '{raw}' for IP protocol. Unknown protocol.")
        lo, hi = perm.get("FromPort"), perm.get("ToPort")
        if proto == "-1":
            lo = hi = -1
        elif proto in ("tcp", "udp"):
            if lo is None or hi is None:
                raise AWSError("InvalidParameterValue",
                               "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.")
            if not (0 <= lo <= 65535 and 0 <= hi <= 65535) or lo > hi:
                raise AWSError("InvalidParameterValue", f"Invalid port range {lo}-{hi}")
        else:
            lo = -1 if lo is None else lo
            hi = -1 if hi is None else hi
            if not (-1 <= lo <= 255 and -1 <= hi <= 255):
                raise AWSError("InvalidParameterValue", f"Invalid ICMP type/code {lo}/{hi}")
        sources = []
        for r in perm.get("IpRanges") or []:
            net = _cidr(r.get("CidrIp", ""), "cidrIp")
            sources.append(({"CidrIpv4": str(net)}, r.get("Description")))
        for r in perm.get("Ipv6Ranges") or []:
            net = _cidr(r.get("CidrIpv6", ""), "cidrIpv6")
            sources.append(({"CidrIpv6": str(net)}, r.get("Description")))
        for r in perm.get("PrefixListIds") or []:
            sources.append(({"PrefixListId": r["PrefixListId"]}, r.get("Description")))
        for r in perm.get("UserIdGroupPairs") or []:
            if not r.get("GroupId"):
                raise unsupported("UserIdGroupPairs without GroupId")
            _get(ctx, "security-group", r["GroupId"])
            sources.append(({"ReferencedGroupInfo": {"GroupId": r["GroupId"],
                                                     "UserId": r.get("UserId", ctx.account)}},
                            r.get("Description")))
        if not sources:
            raise AWSError("InvalidParameterValue", "Each permission needs a source: IpRanges, Ipv6Ranges, "
                                                    "PrefixListIds or UserIdGroupPairs")
        for source, desc in sources:
            out.append((proto, lo, hi, source, desc))
    return out


def _render_permissions(rules):
    """Rules -> IpPermissions grouped by protocol and ports, as DescribeSecurityGroups shows them."""
    perms = {}
    for r in rules:
        key = (r["IpProtocol"], r["FromPort"], r["ToPort"])
        perm = perms.get(key)
        if perm is None:
            perm = {"IpProtocol": r["IpProtocol"], "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                    "UserIdGroupPairs": []}
            if r["IpProtocol"] != "-1":
                perm["FromPort"], perm["ToPort"] = r["FromPort"], r["ToPort"]
            perms[key] = perm
        extra = {"Description": r["Description"]} if r.get("Description") is not None else {}
        if "CidrIpv4" in r:
            perm["IpRanges"].append({"CidrIp": r["CidrIpv4"], **extra})
        elif "CidrIpv6" in r:
            perm["Ipv6Ranges"].append({"CidrIpv6": r["CidrIpv6"], **extra})
        elif "PrefixListId" in r:
            perm["PrefixListIds"].append({"PrefixListId": r["PrefixListId"], **extra})
        else:
            perm["UserIdGroupPairs"].append({"GroupId": r["ReferencedGroupInfo"]["GroupId"],
                                             "UserId": r["ReferencedGroupInfo"]["UserId"], **extra})
    return list(perms.values())


def _describe_rule(rule):
    src = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId") or \
        rule["ReferencedGroupInfo"]["GroupId"]
    ports = "ALL" if rule["IpProtocol"] == "-1" else f"from port: {rule['FromPort']}, to port: {rule['ToPort']}"
    return f'peer: {src}, {rule["IpProtocol"].upper()}, {ports}, ALLOW'


def _authorize(ctx, p, egress):
    group = _find_group(ctx, p)
    wanted = _expand(ctx, p)
    rules = _table(ctx, "security-group-rule")
    existing = {_rule_key(r) for r in rules.values() if r["GroupId"] == group["GroupId"]}
    count = sum(1 for r in rules.values() if r["GroupId"] == group["GroupId"] and r["IsEgress"] == egress)
    if count + len(wanted) > 60:
        raise AWSError("RulesPerSecurityGroupLimitExceeded",
                       "The maximum number of rules per security group has been reached.")
    tags = _spec_tags(p, "security-group-rule")
    seen = set()
    for proto, lo, hi, source, desc in wanted:
        probe = {"IsEgress": egress, "IpProtocol": proto, "FromPort": lo, "ToPort": hi, **source}
        key = _rule_key(probe)
        if key in existing or key in seen:
            raise AWSError("InvalidPermission.Duplicate",
                           f'the specified rule "{_describe_rule(probe)}" already exists')
        seen.add(key)
    added = [_add_rule(ctx, group["GroupId"], egress, proto, lo, hi, source, desc, list(tags))
             for proto, lo, hi, source, desc in wanted]
    return {"Return": True, "SecurityGroupRules": [_view(r) for r in added]}


def _revoke(ctx, p, egress):
    group = _find_group(ctx, p)
    rules = _table(ctx, "security-group-rule")
    mine = {rid: r for rid, r in rules.items() if r["GroupId"] == group["GroupId"] and r["IsEgress"] == egress}
    doomed = []
    for rid in p.get("SecurityGroupRuleIds") or []:
        if rid not in mine:
            raise AWSError("InvalidSecurityGroupRuleId.NotFound",
                           f"The security group rule ID '{rid}' does not exist")
        doomed.append(rid)
    if p.get("IpPermissions") or p.get("CidrIp") or p.get("IpProtocol"):
        by_key = {_rule_key(r): rid for rid, r in mine.items()}
        for proto, lo, hi, source, _ in _expand(ctx, p):
            key = _rule_key({"IsEgress": egress, "IpProtocol": proto, "FromPort": lo, "ToPort": hi, **source})
            if key not in by_key:
                raise AWSError("InvalidPermission.NotFound",
                               "The specified rule does not exist in this security group.")
            doomed.append(by_key[key])
    if not doomed:
        raise AWSError("MissingParameter", "The request must contain the parameter ipPermissions "
                                           "or securityGroupRuleIds")
    for rid in set(doomed):
        del rules[rid]
    return {"Return": True}


@op("AuthorizeSecurityGroupIngress")
def authorize_security_group_ingress(ctx, p):
    return _authorize(ctx, p, egress=False)


@op("AuthorizeSecurityGroupEgress")
def authorize_security_group_egress(ctx, p):
    return _authorize(ctx, p, egress=True)


@op("RevokeSecurityGroupIngress")
def revoke_security_group_ingress(ctx, p):
    return _revoke(ctx, p, egress=False)


@op("RevokeSecurityGroupEgress")
def revoke_security_group_egress(ctx, p):
    return _revoke(ctx, p, egress=True)


def _render_group(ctx):
    rules = list(_table(ctx, "security-group-rule").values())

    def render(g):
        out = _view(g)
        mine = [r for r in rules if r["GroupId"] == g["GroupId"]]
        out["IpPermissions"] = _render_permissions([r for r in mine if not r["IsEgress"]])
        out["IpPermissionsEgress"] = _render_permissions([r for r in mine if r["IsEgress"]])
        return out
    return render


_GROUP_FILTERS = {
    "group-id": lambda g: g["GroupId"],
    "group-name": lambda g: g["GroupName"],
    "description": lambda g: g["Description"],
    "vpc-id": lambda g: g["VpcId"],
    "owner-id": lambda g: g["OwnerId"],
}


@op("DescribeSecurityGroups")
def describe_security_groups(ctx, p):
    if p.get("GroupNames"):
        names = set(p["GroupNames"])
        groups = [g for g in _table(ctx, "security-group").values() if g["GroupName"] in names]
        missing = names - {g["GroupName"] for g in groups}
        if missing:
            raise AWSError("InvalidGroup.NotFound", f"The security group '{sorted(missing)[0]}' does not exist")
        p = dict(p, GroupIds=sorted({g["GroupId"] for g in groups} | set(p.get("GroupIds") or [])))
    return _describe(ctx, p, "security-group", "GroupIds", _GROUP_FILTERS, "SecurityGroups",
                     render=_render_group(ctx))


@op("DeleteSecurityGroup")
def delete_security_group(ctx, p):
    group = _find_group(ctx, p)
    gid = group["GroupId"]
    if group["GroupName"] == "default":
        raise AWSError("CannotDelete", f'the specified group: "{gid}" name: "default" cannot be deleted by a user')
    for r in _table(ctx, "security-group-rule").values():
        if r["GroupId"] != gid and r.get("ReferencedGroupInfo", {}).get("GroupId") == gid:
            raise AWSError("DependencyViolation", f"resource {gid} has a dependent object")
    if _dependents(ctx, "security-group", group):
        raise AWSError("DependencyViolation", f"resource {gid} has a dependent object")
    _drop_group(ctx, gid)
    return {}


_RULE_FILTERS = {
    "group-id": lambda r: r["GroupId"],
    "security-group-rule-id": lambda r: r["SecurityGroupRuleId"],
}


@op("DescribeSecurityGroupRules")
def describe_security_group_rules(ctx, p):
    return _describe(ctx, p, "security-group-rule", "SecurityGroupRuleIds", _RULE_FILTERS,
                     "SecurityGroupRules")


# -- internet gateways -------------------------------------------------------------

@op("CreateInternetGateway")
def create_internet_gateway(ctx, p):
    igw_id = new_id("igw")
    igw = {"Attachments": [], "InternetGatewayId": igw_id, "OwnerId": ctx.account,
           "Tags": _spec_tags(p, "internet-gateway")}
    _table(ctx, "internet-gateway")[igw_id] = igw
    return {"InternetGateway": _view(igw)}


@op("AttachInternetGateway")
def attach_internet_gateway(ctx, p):
    igw = _get(ctx, "internet-gateway", p["InternetGatewayId"])
    vpc = _get(ctx, "vpc", p["VpcId"])
    if igw["Attachments"]:
        raise AWSError("Resource.AlreadyAssociated",
                       f"resource {igw['InternetGatewayId']} is already attached to network "
                       f"{igw['Attachments'][0]['VpcId']}")
    for other in _table(ctx, "internet-gateway").values():
        if any(a["VpcId"] == vpc["VpcId"] for a in other["Attachments"]):
            raise AWSError("InvalidParameterValue",
                           f"Network {vpc['VpcId']} already has an internet gateway attached")
    igw["Attachments"] = [{"State": "available", "VpcId": vpc["VpcId"]}]
    return {}


@op("DetachInternetGateway")
def detach_internet_gateway(ctx, p):
    igw = _get(ctx, "internet-gateway", p["InternetGatewayId"])
    _check_id("vpc", p["VpcId"])
    if not any(a["VpcId"] == p["VpcId"] for a in igw["Attachments"]):
        raise AWSError("Gateway.NotAttached",
                       f"resource {igw['InternetGatewayId']} is not attached to network {p['VpcId']}")
    if any(n["VpcId"] == p["VpcId"] and n["ConnectivityType"] == "public" and n["State"] != "deleted"
           for n in _table(ctx, "natgateway").values()):
        raise AWSError("DependencyViolation", f"Network {p['VpcId']} has some mapped public address(es). Please "
                                              "unmap those public address(es) before detaching the gateway.")
    igw["Attachments"] = []
    return {}


@op("DeleteInternetGateway")
def delete_internet_gateway(ctx, p):
    igw = _get(ctx, "internet-gateway", p["InternetGatewayId"])
    if igw["Attachments"]:
        raise AWSError("DependencyViolation",
                       f"The internetGateway '{igw['InternetGatewayId']}' has dependencies and cannot be deleted.")
    del _table(ctx, "internet-gateway")[igw["InternetGatewayId"]]
    return {}


_IGW_FILTERS = {
    "internet-gateway-id": lambda i: i["InternetGatewayId"],
    "attachment.vpc-id": lambda i: [a["VpcId"] for a in i["Attachments"]],
    "attachment.state": lambda i: [a["State"] for a in i["Attachments"]],
    "owner-id": lambda i: i["OwnerId"],
}


@op("DescribeInternetGateways")
def describe_internet_gateways(ctx, p):
    return _describe(ctx, p, "internet-gateway", "InternetGatewayIds", _IGW_FILTERS, "InternetGateways")


# -- elastic IPs -------------------------------------------------------------------------

def _new_public_ip(ctx):
    """A public address from the documentation ranges (never routable)."""
    used = {a["PublicIp"] for a in _table(ctx, "elastic-ip").values()}
    for net in ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"):
        for host in ipaddress.ip_network(net).hosts():
            if str(host) not in used:
                return str(host)
    raise AWSError("AddressLimitExceeded", "The maximum number of addresses has been reached.")


def _address_user(ctx, allocation_id):
    """The NAT gateway (not yet deleted) holding an allocation, or None."""
    for n in _table(ctx, "natgateway").values():
        if n["State"] != "deleted" and any(a.get("AllocationId") == allocation_id for a in n["NatGatewayAddresses"]):
            return n
    return None


def _render_address(ctx):
    def render(a):
        out = _view(a)
        nat = _address_user(ctx, a["AllocationId"])
        if nat is not None:
            addr = [x for x in nat["NatGatewayAddresses"] if x.get("AllocationId") == a["AllocationId"]][0]
            out.update({"AssociationId": a["_association"], "NetworkInterfaceId": addr["NetworkInterfaceId"],
                        "NetworkInterfaceOwnerId": ctx.account, "PrivateIpAddress": addr["PrivateIp"]})
        return out
    return render


@op("AllocateAddress")
def allocate_address(ctx, p):
    if p.get("Address") or p.get("PublicIpv4Pool") not in (None, "amazon") or p.get("CustomerOwnedIpv4Pool"):
        raise unsupported("BYOIP and customer-owned address pools")
    if p.get("Domain", "vpc") != "vpc":
        raise AWSError("InvalidParameterValue", "EC2-Classic addresses are no longer available")
    allocation_id = new_id("eipalloc")
    address = {"PublicIp": _new_public_ip(ctx), "AllocationId": allocation_id, "Domain": "vpc",
               "PublicIpv4Pool": "amazon", "NetworkBorderGroup": p.get("NetworkBorderGroup", ctx.region),
               "Tags": _spec_tags(p, "elastic-ip"), "_association": new_id("eipassoc")}
    _table(ctx, "elastic-ip")[allocation_id] = address
    out = {k: address[k] for k in ("PublicIp", "AllocationId", "Domain", "PublicIpv4Pool", "NetworkBorderGroup")}
    return out


_ADDRESS_FILTERS = {
    "allocation-id": lambda a: a["AllocationId"],
    "domain": lambda a: a["Domain"],
    "public-ip": lambda a: a["PublicIp"],
    "network-border-group": lambda a: a["NetworkBorderGroup"],
    "association-id": lambda a: a.get("AssociationId"),
    "network-interface-id": lambda a: a.get("NetworkInterfaceId"),
    "private-ip-address": lambda a: a.get("PrivateIpAddress"),
}


@op("DescribeAddresses")
def describe_addresses(ctx, p):
    table = _table(ctx, "elastic-ip")
    render = _render_address(ctx)
    for aid in p.get("AllocationIds") or []:
        _get(ctx, "elastic-ip", aid)
    by_ip = {a["PublicIp"]: a for a in table.values()}
    for ip in p.get("PublicIps") or []:
        if ip not in by_ip:
            raise AWSError("InvalidAddress.NotFound", f"Address '{ip}' not found.")
    found = [render(a) for a in table.values()
             if (not p.get("AllocationIds") or a["AllocationId"] in p["AllocationIds"])
             and (not p.get("PublicIps") or a["PublicIp"] in p["PublicIps"])]
    return {"Addresses": _filtered(found, p.get("Filters"), _ADDRESS_FILTERS)}


@op("ReleaseAddress")
def release_address(ctx, p):
    if p.get("PublicIp") and not p.get("AllocationId"):
        raise AWSError("InvalidParameterValue", "You must specify an allocation id when releasing a VPC "
                                                "elastic IP address")
    if not p.get("AllocationId"):
        raise AWSError("MissingParameter", "The request must contain the parameter AllocationId")
    address = _get(ctx, "elastic-ip", p["AllocationId"])
    if _address_user(ctx, address["AllocationId"]) is not None:
        raise AWSError("InvalidIPAddress.InUse", f"Address {address['PublicIp']} is in use.")
    del _table(ctx, "elastic-ip")[address["AllocationId"]]
    return {}


# -- NAT gateways --------------------------------------------------------------------------

@op("CreateNatGateway")
def create_nat_gateway(ctx, p):
    subnet = _get(ctx, "subnet", p["SubnetId"])
    kind = p.get("ConnectivityType", "public")
    net = ipaddress.ip_network(subnet["CidrBlock"])
    taken = {a["PrivateIp"] for n in _table(ctx, "natgateway").values() for a in n["NatGatewayAddresses"]}
    private_ip = p.get("PrivateIpAddress") or next(str(h) for h in list(net.hosts())[3:] if str(h) not in taken)
    address = {"NetworkInterfaceId": new_id("eni"), "PrivateIp": private_ip}
    if kind == "public":
        if not p.get("AllocationId"):
            raise AWSError("MissingParameter", "The request must contain the parameter AllocationId")
        eip = _get(ctx, "elastic-ip", p["AllocationId"])
        if _address_user(ctx, eip["AllocationId"]) is not None:
            raise AWSError("Resource.AlreadyAssociated",
                           f"Elastic IP address [{eip['AllocationId']}] is already associated")
        if not any(a["VpcId"] == subnet["VpcId"] for i in _table(ctx, "internet-gateway").values()
                   for a in i["Attachments"]):
            raise AWSError("Gateway.NotAttached", f"Network {subnet['VpcId']} has no Internet gateway attached")
        address.update({"AllocationId": eip["AllocationId"], "PublicIp": eip["PublicIp"]})
    elif p.get("AllocationId"):
        raise AWSError("InvalidParameterCombination", "A private NAT gateway cannot have an Elastic IP address")
    nat_id = new_id("nat")
    nat = {"CreateTime": ctx.now().replace(microsecond=0), "NatGatewayAddresses": [address],
           "NatGatewayId": nat_id, "SubnetId": subnet["SubnetId"], "VpcId": subnet["VpcId"],
           "Tags": _spec_tags(p, "natgateway"), "ConnectivityType": kind}
    start_lifecycle(nat, "State", "pending", "available", ctx.settle)
    _table(ctx, "natgateway")[nat_id] = nat
    out = {"NatGateway": _view(nat)}
    if p.get("ClientToken"):
        out["ClientToken"] = p["ClientToken"]
    return out


_NAT_FILTERS = {
    "nat-gateway-id": lambda n: n["NatGatewayId"],
    "state": lambda n: n["State"],
    "subnet-id": lambda n: n["SubnetId"],
    "vpc-id": lambda n: n["VpcId"],
}


@op("DescribeNatGateways")
def describe_nat_gateways(ctx, p):
    return _describe(ctx, p, "natgateway", "NatGatewayIds", _NAT_FILTERS, "NatGateways", filters_member="Filter")


@op("DeleteNatGateway")
def delete_nat_gateway(ctx, p):
    nat = _get(ctx, "natgateway", p["NatGatewayId"])
    if nat["State"] in ("deleting", "deleted"):
        return {"NatGatewayId": nat["NatGatewayId"]}
    nat.pop("_life", None)
    nat["DeleteTime"] = ctx.now().replace(microsecond=0)
    start_lifecycle(nat, "State", "deleting", "deleted", ctx.settle)
    return {"NatGatewayId": nat["NatGatewayId"]}


# -- tags ------------------------------------------------------------------------------

def _tagged(ctx, rid):
    kind = PREFIX_KIND.get(rid.split("-")[0]) if "-" in rid else None
    if kind is None:
        raise AWSError("InvalidID", f"The ID '{rid}' is not valid")
    return _get(ctx, kind, rid)


@op("CreateTags")
def create_tags(ctx, p):
    objs = [_tagged(ctx, rid) for rid in p["Resources"]]
    new = p["Tags"]
    _check_tags(new)
    for obj in objs:
        tags = tag_dict(obj.get("Tags"))
        tags.update({t["Key"]: t.get("Value", "") for t in new})
        _check_tags(tag_list(tags))
    for obj in objs:
        tags = tag_dict(obj.get("Tags"))
        tags.update({t["Key"]: t.get("Value", "") for t in new})
        obj["Tags"] = tag_list(tags)
    return {}


@op("DeleteTags")
def delete_tags(ctx, p):
    objs = [_tagged(ctx, rid) for rid in p["Resources"]]
    for obj in objs:
        tags = tag_dict(obj.get("Tags"))
        if p.get("Tags") is None:
            tags = {}
        for t in p.get("Tags") or []:
            if t["Key"] in tags and (t.get("Value") is None or tags[t["Key"]] == t["Value"]):
                del tags[t["Key"]]
        obj["Tags"] = tag_list(tags)
    return {}


_TAG_FILTERS = {
    "key": lambda t: t["Key"],
    "value": lambda t: t["Value"],
    "resource-id": lambda t: t["ResourceId"],
    "resource-type": lambda t: t["ResourceType"],
}


@op("DescribeTags")
def describe_tags(ctx, p):
    found = []
    for kind, field in ID_FIELD.items():
        for obj in _table(ctx, kind).values():
            for t in obj.get("Tags") or []:
                found.append({"Key": t["Key"], "Value": t.get("Value", ""), "ResourceId": obj[field],
                              "ResourceType": kind})
    for f in p.get("Filters") or []:
        if f.get("Name") not in _TAG_FILTERS:
            raise AWSError("InvalidParameterValue", f"The filter '{f.get('Name')}' is invalid")
    found = _filtered(found, p.get("Filters"), _TAG_FILTERS)
    page, token = ctx.page(found, key=lambda t: [t["ResourceId"], t["Key"]], token=p.get("NextToken"),
                           limit=p.get("MaxResults"))
    out = {"Tags": page}
    if token:
        out["NextToken"] = token
    return out


# -- availability zones --------------------------------------------------------------

_AZ_FILTERS = {
    "zone-name": lambda z: z["ZoneName"],
    "zone-id": lambda z: z["ZoneId"],
    "region-name": lambda z: z["RegionName"],
    "state": lambda z: z["State"],
    "zone-type": lambda z: z["ZoneType"],
    "opt-in-status": lambda z: z["OptInStatus"],
    "group-name": lambda z: z["GroupName"],
}


@op("DescribeAvailabilityZones")
def describe_availability_zones(ctx, p):
    azs = [{"State": "available", "OptInStatus": "opt-in-not-required", "Messages": [],
            "RegionName": ctx.region, "ZoneName": name, "ZoneId": zid, "GroupName": ctx.region,
            "NetworkBorderGroup": ctx.region, "ZoneType": "availability-zone"}
           for name, zid in zones(ctx.region)]
    for member, field in (("ZoneNames", "ZoneName"), ("ZoneIds", "ZoneId")):
        wanted = p.get(member) or []
        for w in wanted:
            if w not in {z[field] for z in azs}:
                raise AWSError("InvalidParameterValue", f"The zone '{w}' does not exist")
        if wanted:
            azs = [z for z in azs if z[field] in wanted]
    return {"AvailabilityZones": _filtered(azs, p.get("Filters"), _AZ_FILTERS)}
