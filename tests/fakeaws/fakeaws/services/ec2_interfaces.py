"""EC2 network interfaces (ENIs), and how they keep subnets and security groups
from being deleted.

Served: CreateNetworkInterface, DescribeNetworkInterfaces, DeleteNetworkInterface.
DescribeNetworkInterfaces also shows the interface of every NAT gateway not yet
deleted (interface type natGateway, managed by AWS), as AWS does.

While an interface exists in a subnet, DeleteSubnet answers DependencyViolation;
while one carries a security group, DeleteSecurityGroup does too. So a destroy
has to wait for interfaces that services remove on their own after their owner
is gone. For other services' handlers that put interfaces in subnets (EFS mount
targets, RDS instances, cache nodes, load balancers, EC2 instances...):

    from .ec2_interfaces import add_interface, release_interface
    eni = add_interface(ctx, subnet_id, group_ids, "EFS mount target for fs-1234",
                        interface_type="interface", requester="amazon-elasticfilesystem")
    release_interface(ctx, eni)   # the owner is gone: "detaching", then removed after
                                  # ctx.settle more looks

A look is a DescribeNetworkInterfaces, or a DeleteSubnet / DeleteSecurityGroup
checking what still uses its object (each attempt is a moment later for AWS)."""
import ipaddress

from ..errors import AWSError
from ..state import advance, new_id, public, start_lifecycle
from . import ec2

KIND = "network-interface"
ec2.register_kind(KIND, "eni", "InvalidNetworkInterfaceID.NotFound", "InvalidNetworkInterfaceID.Malformed",
                  "network interface", "NetworkInterfaceId")


def _table(ctx):
    return ctx.store.table("ec2", KIND)


def _look(ctx):
    """Every interface moves one look closer to its final state; detached ones go."""
    table = _table(ctx)
    for eni_id in list(table):
        if advance(table[eni_id]):
            del table[eni_id]


def _taken_ips(ctx):
    ips = {e["PrivateIpAddress"] for e in _table(ctx).values()}
    ips |= {a["PrivateIp"] for n in ctx.store.table("ec2", "natgateway").values() for a in n["NatGatewayAddresses"]}
    return ips


def _free_ip(ctx, subnet, wanted=None):
    """A free private address of the subnet. AWS keeps the network address, the
    next three and the broadcast address for itself."""
    net = ipaddress.ip_network(subnet["CidrBlock"])
    taken = _taken_ips(ctx)
    first = net.network_address + 4
    if wanted is not None:
        try:
            addr = ipaddress.ip_address(wanted)
        except ValueError:
            raise AWSError("InvalidParameterValue", f"Invalid value '{wanted}' for privateIpAddress") from None
        if addr not in net or addr < first or addr == net.broadcast_address:
            raise AWSError("InvalidParameterValue",
                           f"Address {wanted} does not fall within the subnet's address range")
        if wanted in taken:
            raise AWSError("InvalidIPAddress.InUse", f"The specified address is already in use: {wanted}")
        return wanted
    addr = first
    while addr < net.broadcast_address:
        if str(addr) not in taken:
            return str(addr)
        addr += 1
    raise AWSError("InsufficientFreeAddressesInSubnet",
                   f"There are not enough free addresses in subnet '{subnet['SubnetId']}' to satisfy the request.")


def _groups(ctx, subnet, group_ids):
    """[{GroupId, GroupName}] for the ids (default: the VPC's default group)."""
    table = ctx.store.table("ec2", "security-group")
    if not group_ids:
        group_ids = [g["GroupId"] for g in table.values()
                     if g["VpcId"] == subnet["VpcId"] and g["GroupName"] == "default"]
    out = []
    for gid in group_ids:
        group = ec2._get(ctx, "security-group", gid)
        if group["VpcId"] != subnet["VpcId"]:
            raise AWSError("InvalidParameterValue",
                           f"The security group '{gid}' and the subnet '{subnet['SubnetId']}' belong to "
                           "different networks.")
        out.append({"GroupId": gid, "GroupName": group["GroupName"]})
    return out


def add_interface(ctx, subnet_id, group_ids, description, interface_type="interface", requester=None,
                  private_ip=None, tags=None):
    """Put an interface in a subnet for another service's object; -> its id.
    With a requester it is managed by that service (in use, not deletable by users)."""
    subnet = ec2._get(ctx, "subnet", subnet_id)
    eni_id = new_id("eni")
    ip = _free_ip(ctx, subnet, private_ip)
    eni = {
        "AvailabilityZone": subnet["AvailabilityZone"],
        "Description": description or "",
        "Groups": _groups(ctx, subnet, group_ids),
        "InterfaceType": interface_type,
        "Ipv6Addresses": [],
        "MacAddress": "02:" + ":".join(new_id("", 10)[i:i + 2] for i in range(0, 10, 2)),
        "NetworkInterfaceId": eni_id,
        "OwnerId": ctx.account,
        "PrivateIpAddress": ip,
        "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": ip}],
        "RequesterManaged": requester is not None,
        "SourceDestCheck": True,
        "Status": "in-use" if requester else "available",
        "SubnetId": subnet["SubnetId"],
        "VpcId": subnet["VpcId"],
        "Tags": list(tags or []),
    }
    if requester:
        eni["RequesterId"] = requester
        eni["Attachment"] = {"AttachmentId": new_id("ela-attach"), "DeleteOnTermination": False,
                             "DeviceIndex": 1, "Status": "attached", "InstanceOwnerId": requester}
    _table(ctx)[eni_id] = eni
    return eni_id


def release_interface(ctx, eni_id):
    """The object holding the interface is gone: it detaches, and disappears after ctx.settle looks."""
    eni = _table(ctx).get(eni_id)
    if eni is None or eni.get("_life"):
        return
    eni["Status"] = "detaching"
    if "Attachment" in eni:
        eni["Attachment"]["Status"] = "detaching"
    start_lifecycle(eni, "Status", "detaching", None, ctx.settle)


def _render(eni):
    out = public(eni)
    out["TagSet"] = out.pop("Tags", [])
    return out


def _nat_interfaces(ctx):
    """The interfaces of NAT gateways not yet deleted, as DescribeNetworkInterfaces shows them."""
    out = []
    subnets = ctx.store.table("ec2", "subnet")
    for nat in ctx.store.table("ec2", "natgateway").values():
        if nat["State"] == "deleted":
            continue
        for a in nat["NatGatewayAddresses"]:
            subnet = subnets.get(nat["SubnetId"], {})
            eni = {"AvailabilityZone": subnet.get("AvailabilityZone", ""),
                   "Description": f"Interface for NAT Gateway {nat['NatGatewayId']}", "Groups": [],
                   "InterfaceType": "natGateway", "Ipv6Addresses": [], "NetworkInterfaceId": a["NetworkInterfaceId"],
                   "OwnerId": ctx.account, "PrivateIpAddress": a["PrivateIp"],
                   "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": a["PrivateIp"]}],
                   "RequesterId": "amazon-natgateway", "RequesterManaged": True, "SourceDestCheck": False,
                   "Status": "in-use", "SubnetId": nat["SubnetId"], "VpcId": nat["VpcId"], "TagSet": []}
            out.append(eni)
    return out


# -- in use: subnets and security groups ----------------------------------------------

def _in_subnet(ctx, subnet):
    _look(ctx)
    return [e["NetworkInterfaceId"] for e in _table(ctx).values() if e["SubnetId"] == subnet["SubnetId"]]


def _with_group(ctx, group):
    _look(ctx)
    return [e["NetworkInterfaceId"] for e in _table(ctx).values()
            if any(g["GroupId"] == group["GroupId"] for g in e["Groups"])]


ec2.DEPENDENTS["subnet"].append(_in_subnet)
ec2.DEPENDENTS["security-group"].append(_with_group)


# -- operations ---------------------------------------------------------------------------

@ec2.op("CreateNetworkInterface")
def create_network_interface(ctx, p):
    for member in ("Ipv6AddressCount", "Ipv6Addresses", "Ipv4Prefixes", "Ipv4PrefixCount", "Ipv6Prefixes",
                   "Ipv6PrefixCount", "SecondaryPrivateIpAddressCount"):
        if p.get(member):
            raise ec2.unsupported(f"CreateNetworkInterface {member}")
    private_ip = p.get("PrivateIpAddress")
    for spec in p.get("PrivateIpAddresses") or []:
        if spec.get("Primary") or len(p["PrivateIpAddresses"]) == 1:
            private_ip = private_ip or spec.get("PrivateIpAddress")
        else:
            raise ec2.unsupported("secondary private addresses")
    tags = ec2._spec_tags(p, KIND)
    eni_id = add_interface(ctx, p["SubnetId"], p.get("Groups"), p.get("Description"),
                           interface_type=p.get("InterfaceType", "interface"), private_ip=private_ip, tags=tags)
    out = {"NetworkInterface": _render(_table(ctx)[eni_id])}
    if p.get("ClientToken"):
        out["ClientToken"] = p["ClientToken"]
    return out


_FILTERS = {
    "network-interface-id": lambda e: e["NetworkInterfaceId"],
    "subnet-id": lambda e: e["SubnetId"],
    "vpc-id": lambda e: e["VpcId"],
    "availability-zone": lambda e: e["AvailabilityZone"],
    "group-id": lambda e: [g["GroupId"] for g in e["Groups"]],
    "group-name": lambda e: [g["GroupName"] for g in e["Groups"]],
    "status": lambda e: e["Status"],
    "interface-type": lambda e: e["InterfaceType"],
    "requester-managed": lambda e: e["RequesterManaged"],
    "requester-id": lambda e: e.get("RequesterId"),
    "description": lambda e: e["Description"],
    "private-ip-address": lambda e: e["PrivateIpAddress"],
    "owner-id": lambda e: e["OwnerId"],
    "attachment.status": lambda e: e.get("Attachment", {}).get("Status"),
}


@ec2.op("DescribeNetworkInterfaces")
def describe_network_interfaces(ctx, p):
    _look(ctx)
    table = _table(ctx)
    nats = {e["NetworkInterfaceId"]: e for e in _nat_interfaces(ctx)}
    ids = p.get("NetworkInterfaceIds") or []
    if ids and p.get("MaxResults"):
        raise AWSError("InvalidParameterCombination",
                       "The parameter networkInterfaceIds cannot be used with the parameter maxResults")
    for eni_id in ids:
        ec2._check_id(KIND, eni_id)
    missing = [i for i in ids if i not in table and i not in nats]
    if missing:
        raise ec2._not_found(KIND, missing)
    objs = [_render(e) for e in table.values()] + list(nats.values())
    if ids:
        objs = [e for e in objs if e["NetworkInterfaceId"] in ids]
    for e in objs:
        e["Tags"] = e.get("TagSet", [])
    objs = ec2._filtered(objs, p.get("Filters"), _FILTERS)
    for e in objs:
        e.pop("Tags", None)
    token = None
    if not ids:
        objs, token = ctx.page(objs, key=lambda e: e["NetworkInterfaceId"], token=p.get("NextToken"),
                               limit=p.get("MaxResults"))
    out = {"NetworkInterfaces": objs}
    if token:
        out["NextToken"] = token
    return out


@ec2.op("DeleteNetworkInterface")
def delete_network_interface(ctx, p):
    eni_id = p["NetworkInterfaceId"]
    ec2._check_id(KIND, eni_id)
    if any(e["NetworkInterfaceId"] == eni_id for e in _nat_interfaces(ctx)):
        raise AWSError("OperationNotPermitted",
                       f"You are not allowed to manage '{eni_id}': it belongs to a NAT gateway.")
    eni = ec2._get(ctx, KIND, eni_id)
    if eni["RequesterManaged"]:
        raise AWSError("OperationNotPermitted",
                       f"You are not allowed to manage '{eni_id}': it is managed by {eni.get('RequesterId')}.")
    if eni["Status"] == "in-use":
        raise AWSError("InvalidNetworkInterface.InUse", f"Interface: [{eni_id}] in use.")
    del _table(ctx)[eni_id]
    return {}
