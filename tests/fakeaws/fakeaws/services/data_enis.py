"""The network interfaces the data services put in their subnets: one per EFS
mount target, RDS instance and ElastiCache node (requester-managed, in use).

Through ec2_interfaces.py when it is there (the interfaces then keep their
subnet and security groups from being deleted, and detach a moment after
their owner is gone, as in AWS); until then kept here in EC2's store
("ec2", "network-interface"), shaped like DescribeNetworkInterfaces.

    eni_id, ip = add(ctx, subnet, group_ids, "RDS instance wp-1", "amazon-rds", address=None)
    set_groups(ctx, eni_id, group_ids)
    release(ctx, eni_id)

Not a service: a helper of efs_mounts.py, rds_instances.py and elasticache.py."""
import ipaddress

from ..state import new_id

try:
    from .ec2_interfaces import add_interface, release_interface
except ImportError:
    add_interface = release_interface = None


def _table(ctx):
    return ctx.store.table("ec2", "network-interface")


def used_addresses(ctx, subnet_id):
    used = {e["PrivateIpAddress"] for e in _table(ctx).values() if e["SubnetId"] == subnet_id}
    for nat in ctx.store.table("ec2", "natgateway").values():
        if nat.get("SubnetId") == subnet_id:
            used |= {a.get("PrivateIp") for a in nat.get("NatGatewayAddresses", [])}
    return used


def free_address(ctx, subnet):
    """The next free address of the subnet (AWS keeps the first four and the last), or None."""
    net = ipaddress.ip_network(subnet["CidrBlock"])
    used = used_addresses(ctx, subnet["SubnetId"])
    return next((str(h) for h in list(net.hosts())[3:-1] if str(h) not in used), None)


def _groups(ctx, group_ids):
    table = ctx.store.table("ec2", "security-group")
    return [{"GroupId": g, "GroupName": table[g]["GroupName"] if g in table else ""} for g in group_ids]


def add(ctx, subnet, group_ids, description, requester, address=None):
    """-> (interface id, its address)"""
    address = address or free_address(ctx, subnet)
    if add_interface is not None:
        eni_id = add_interface(ctx, subnet["SubnetId"], list(group_ids), description, interface_type="interface",
                               requester=requester, private_ip=address)
        return eni_id, _table(ctx)[eni_id]["PrivateIpAddress"]
    eni_id = new_id("eni")
    _table(ctx)[eni_id] = {
        "AvailabilityZone": subnet["AvailabilityZone"], "Description": description,
        "Groups": _groups(ctx, group_ids), "InterfaceType": "interface", "Ipv6Addresses": [],
        "MacAddress": "02:" + ":".join(new_id("", 10)[i:i + 2] for i in range(0, 10, 2)),
        "NetworkInterfaceId": eni_id, "OwnerId": ctx.account, "PrivateIpAddress": address,
        "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": address}],
        "RequesterId": requester, "RequesterManaged": True, "SourceDestCheck": True,
        "Status": "in-use", "SubnetId": subnet["SubnetId"], "VpcId": subnet["VpcId"], "Tags": [],
    }
    return eni_id, address


def set_groups(ctx, eni_id, group_ids):
    eni = _table(ctx).get(eni_id)
    if eni is not None:
        eni["Groups"] = _groups(ctx, group_ids)


def release(ctx, eni_id):
    if not eni_id:
        return
    if release_interface is not None:
        release_interface(ctx, eni_id)
    else:
        _table(ctx).pop(eni_id, None)
