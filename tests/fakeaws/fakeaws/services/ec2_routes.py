"""EC2 routing: route tables (with each VPC's main table and its local routes),
routes, subnet associations, gateway and interface VPC endpoints, and the
AWS-managed prefix lists gateway endpoints route to.

Served: CreateRouteTable, DescribeRouteTables, DeleteRouteTable, CreateRoute,
ReplaceRoute, DeleteRoute, AssociateRouteTable, DisassociateRouteTable,
ReplaceRouteTableAssociation, CreateVpcEndpoint, DescribeVpcEndpoints,
ModifyVpcEndpoint, DeleteVpcEndpoints, DescribePrefixLists.

Behaviour kept from AWS: CreateVpc makes a main route table holding a local
route per VPC CIDR; it goes with its VPC, which any other route table or VPC
endpoint keeps from being deleted (DependencyViolation). A table with subnet
associations cannot be deleted; the main association cannot be removed (only
moved with ReplaceRouteTableAssociation); a subnet has at most one explicit
association, which goes when the subnet goes. A route's state is "blackhole"
while its target is gone (a detached internet gateway, a deleted NAT gateway).
A gateway endpoint (S3, DynamoDB) adds a route to its service's prefix list in
each of its route tables; an interface endpoint puts an interface in each of
its subnets (which then cannot be deleted while it is there). Endpoints go from
pending to available, and from deleting to gone, over describes."""
import hashlib
import json

from ..errors import AWSError
from ..state import new_id, start_lifecycle
from . import ec2
from .ec2_interfaces import add_interface, release_interface

ec2.register_kind("route-table", "rtb", "InvalidRouteTableID.NotFound", "InvalidRouteTableId.Malformed",
                  "route table", "RouteTableId")
ec2.register_kind("vpc-endpoint", "vpce", "InvalidVpcEndpointId.NotFound", "InvalidVpcEndpointId.Malformed",
                  "VPC endpoint", "VpcEndpointId")

TARGETS = ("GatewayId", "NatGatewayId", "NetworkInterfaceId", "VpcEndpointId", "EgressOnlyInternetGatewayId",
           "InstanceId", "TransitGatewayId", "LocalGatewayId", "CarrierGatewayId", "VpcPeeringConnectionId",
           "CoreNetworkArn")
DESTINATIONS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
GATEWAY_SERVICES = ("s3", "dynamodb")
DEFAULT_POLICY = json.dumps({"Version": "2008-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})


def _tables(ctx):
    return ctx.store.table("ec2", "route-table")


def _endpoints(ctx):
    return ctx.store.table("ec2", "vpc-endpoint")


# -- prefix lists (AWS-managed, one per gateway service and region) ----------------------

def _prefix_lists(ctx):
    out = []
    for i, svc in enumerate(GATEWAY_SERVICES):
        name = f"com.amazonaws.{ctx.region}.{svc}"
        digest = hashlib.sha256(name.encode()).hexdigest()
        out.append({"PrefixListId": "pl-" + digest[:8], "PrefixListName": name,
                    "Cidrs": [f"52.{216 + 2 * i}.0.0/15", f"3.{5 + i}.0.0/16"]})
    return out


def _prefix_list_for(ctx, service_name):
    for pl in _prefix_lists(ctx):
        if pl["PrefixListName"] == service_name:
            return pl
    return None


@ec2.op("DescribePrefixLists")
def describe_prefix_lists(ctx, p):
    lists = _prefix_lists(ctx)
    ids = p.get("PrefixListIds") or []
    known = {pl["PrefixListId"] for pl in lists}
    for pid in ids:
        if pid not in known:
            raise AWSError("InvalidPrefixListID.NotFound", f"The prefix list '{pid}' does not exist")
    if ids:
        lists = [pl for pl in lists if pl["PrefixListId"] in ids]
    lists = ec2._filtered(lists, p.get("Filters"), {
        "prefix-list-id": lambda pl: pl["PrefixListId"],
        "prefix-list-name": lambda pl: pl["PrefixListName"],
    })
    page, token = ctx.page(lists, key=lambda pl: pl["PrefixListId"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"))
    out = {"PrefixLists": page}
    if token:
        out["NextToken"] = token
    return out


# -- route tables --------------------------------------------------------------------------

def _new_table(ctx, vpc, tags, main=False):
    rtb_id = new_id("rtb")
    routes = [{"DestinationCidrBlock": a["CidrBlock"], "GatewayId": "local", "Origin": "CreateRouteTable"}
              for a in vpc["CidrBlockAssociationSet"]]
    for a in vpc.get("Ipv6CidrBlockAssociationSet") or []:
        routes.append({"DestinationIpv6CidrBlock": a["Ipv6CidrBlock"], "GatewayId": "local",
                       "Origin": "CreateRouteTable"})
    table = {"Associations": [], "PropagatingVgws": [], "RouteTableId": rtb_id, "Routes": routes, "Tags": tags,
             "VpcId": vpc["VpcId"], "OwnerId": ctx.account}
    if main:
        table["Associations"].append({"Main": True, "RouteTableAssociationId": new_id("rtbassoc"),
                                      "RouteTableId": rtb_id, "AssociationState": {"State": "associated"}})
    _tables(ctx)[rtb_id] = table
    return table


def _route_state(ctx, table, route):
    """active, or blackhole while the route's target is gone."""
    gw = route.get("GatewayId")
    if gw and gw.startswith("igw-"):
        igw = ctx.store.table("ec2", "internet-gateway").get(gw)
        if igw is None or not any(a["VpcId"] == table["VpcId"] for a in igw["Attachments"]):
            return "blackhole"
    if gw and gw.startswith("vpce-") and gw not in _endpoints(ctx):
        return "blackhole"
    nat_id = route.get("NatGatewayId")
    if nat_id:
        nat = ctx.store.table("ec2", "natgateway").get(nat_id)
        if nat is None or nat["State"] in ("deleting", "deleted", "failed"):
            return "blackhole"
    eni_id = route.get("NetworkInterfaceId")
    if eni_id and eni_id not in ctx.store.table("ec2", "network-interface"):
        return "blackhole"
    return "active"


def _render_table(ctx):
    def render(table):
        out = ec2._view(table)
        for route in out["Routes"]:
            route["State"] = _route_state(ctx, table, route)
        return out
    return render


@ec2.op("CreateRouteTable")
def create_route_table(ctx, p):
    vpc = ec2._get(ctx, "vpc", p["VpcId"])
    table = _new_table(ctx, vpc, ec2._spec_tags(p, "route-table"))
    return {"RouteTable": _render_table(ctx)(table)}


def _main_table_on_create(ctx, vpc):
    _new_table(ctx, vpc, [], main=True)


def _vpc_dependents(ctx, vpc):
    in_use = [t["RouteTableId"] for t in _tables(ctx).values()
              if t["VpcId"] == vpc["VpcId"] and not any(a.get("Main") for a in t["Associations"])]
    in_use += [e["VpcEndpointId"] for e in _endpoints(ctx).values() if e["VpcId"] == vpc["VpcId"]]
    return in_use


def _drop_main_table(ctx, vpc):
    tables = _tables(ctx)
    for rtb_id in [t["RouteTableId"] for t in tables.values() if t["VpcId"] == vpc["VpcId"]]:
        del tables[rtb_id]


def _drop_subnet_associations(ctx, subnet):
    for table in _tables(ctx).values():
        table["Associations"] = [a for a in table["Associations"] if a.get("SubnetId") != subnet["SubnetId"]]


ec2.CREATED["vpc"].append(_main_table_on_create)
ec2.DEPENDENTS["vpc"].append(_vpc_dependents)
ec2.DELETED["vpc"].append(_drop_main_table)
ec2.DELETED["subnet"].append(_drop_subnet_associations)


_TABLE_FILTERS = {
    "route-table-id": lambda t: t["RouteTableId"],
    "vpc-id": lambda t: t["VpcId"],
    "owner-id": lambda t: t["OwnerId"],
    "association.route-table-association-id": lambda t: [a["RouteTableAssociationId"] for a in t["Associations"]],
    "association.route-table-id": lambda t: [a["RouteTableId"] for a in t["Associations"]],
    "association.subnet-id": lambda t: [a["SubnetId"] for a in t["Associations"] if "SubnetId" in a],
    "association.gateway-id": lambda t: [a["GatewayId"] for a in t["Associations"] if "GatewayId" in a],
    "association.main": lambda t: any(a.get("Main") for a in t["Associations"]),
    "route.destination-cidr-block": lambda t: [r.get("DestinationCidrBlock") for r in t["Routes"]],
    "route.destination-ipv6-cidr-block": lambda t: [r.get("DestinationIpv6CidrBlock") for r in t["Routes"]],
    "route.destination-prefix-list-id": lambda t: [r.get("DestinationPrefixListId") for r in t["Routes"]],
    "route.gateway-id": lambda t: [r.get("GatewayId") for r in t["Routes"]],
    "route.nat-gateway-id": lambda t: [r.get("NatGatewayId") for r in t["Routes"]],
    "route.origin": lambda t: [r.get("Origin") for r in t["Routes"]],
}


@ec2.op("DescribeRouteTables")
def describe_route_tables(ctx, p):
    return ec2._describe(ctx, p, "route-table", "RouteTableIds", _TABLE_FILTERS, "RouteTables",
                         render=_render_table(ctx))


@ec2.op("DeleteRouteTable")
def delete_route_table(ctx, p):
    table = ec2._get(ctx, "route-table", p["RouteTableId"])
    if table["Associations"]:
        raise AWSError("DependencyViolation",
                       f"The routeTable '{table['RouteTableId']}' has dependencies and cannot be deleted.")
    for endpoint in _endpoints(ctx).values():
        if table["RouteTableId"] in endpoint.get("RouteTableIds", []):
            endpoint["RouteTableIds"].remove(table["RouteTableId"])
    del _tables(ctx)[table["RouteTableId"]]
    return {}


# -- routes ----------------------------------------------------------------------------------

def _one_of(p, names, what):
    given = [n for n in names if p.get(n)]
    if len(given) != 1:
        raise AWSError("InvalidParameterCombination" if given else "MissingParameter",
                       f"The request must contain exactly one {what} ({', '.join(names)})")
    return given[0]


def _destination(p):
    member = _one_of(p, DESTINATIONS, "destination")
    value = p[member]
    if member == "DestinationPrefixListId":
        raise ec2.unsupported("routes to customer-managed prefix lists")
    net = ec2._cidr(value, member[0].lower() + member[1:])
    if (member == "DestinationCidrBlock") != (net.version == 4):
        raise AWSError("InvalidParameterValue", f"Value ({value}) for parameter {member} is invalid.")
    return member, str(net)


def _target(ctx, table, p):
    member = _one_of(p, TARGETS, "target")
    value = p[member]
    if member == "GatewayId":
        if value.startswith("igw-"):
            igw = ec2._get(ctx, "internet-gateway", value)
            if not any(a["VpcId"] == table["VpcId"] for a in igw["Attachments"]):
                raise AWSError("InvalidParameterValue", f"route table {table['RouteTableId']} and network gateway "
                                                        f"{value} belong to different networks")
        elif value.startswith("vpce-"):
            raise AWSError("InvalidParameterValue",
                           "Routes to gateway VPC endpoints are made by the endpoint (ModifyVpcEndpoint)")
        elif value == "local":
            raise AWSError("InvalidParameterValue", "The local route is made with the route table")
        else:
            raise ec2.unsupported(f"routes to {value.split('-')[0]} gateways")
    elif member == "NatGatewayId":
        nat = ec2._get(ctx, "natgateway", value)
        if nat["State"] in ("deleting", "deleted", "failed"):
            raise AWSError("InvalidNatGatewayID.NotFound", f"The natGateway ID '{value}' does not exist")
        if nat["VpcId"] != table["VpcId"]:
            raise AWSError("InvalidParameterValue", f"route table {table['RouteTableId']} and NAT gateway {value} "
                                                    "belong to different networks")
    elif member == "NetworkInterfaceId":
        eni = ec2._get(ctx, "network-interface", value)
        if eni["VpcId"] != table["VpcId"]:
            raise AWSError("InvalidParameterValue", f"route table {table['RouteTableId']} and network interface "
                                                    f"{value} belong to different networks")
    else:
        raise ec2.unsupported(f"routes with {member}")
    return member, value


def _find_route(table, member, dest):
    for route in table["Routes"]:
        if route.get(member) == dest:
            return route
    return None


def _no_route(table, member, dest):
    noun = {"DestinationCidrBlock": "destination-cidr-block",
            "DestinationIpv6CidrBlock": "destination-ipv6-cidr-block"}[member]
    return AWSError("InvalidRoute.NotFound",
                    f"no route with {noun} {dest} in route table {table['RouteTableId']}")


@ec2.op("CreateRoute")
def create_route(ctx, p):
    table = ec2._get(ctx, "route-table", p["RouteTableId"])
    member, dest = _destination(p)
    target, value = _target(ctx, table, p)
    if _find_route(table, member, dest) is not None:
        raise AWSError("RouteAlreadyExists", f"The route identified by {dest} already exists.")
    table["Routes"].append({member: dest, target: value, "Origin": "CreateRoute"})
    return {"Return": True}


@ec2.op("ReplaceRoute")
def replace_route(ctx, p):
    table = ec2._get(ctx, "route-table", p["RouteTableId"])
    if p.get("LocalTarget"):
        raise ec2.unsupported("ReplaceRoute LocalTarget")
    member, dest = _destination(p)
    route = _find_route(table, member, dest)
    if route is None:
        raise _no_route(table, member, dest)
    if route.get("GatewayId") == "local" or route.get("DestinationPrefixListId"):
        raise AWSError("InvalidParameterValue", f"The route {dest} cannot be replaced: it is managed by AWS")
    target, value = _target(ctx, table, p)
    for t in TARGETS:
        route.pop(t, None)
    route[target] = value
    route["Origin"] = "CreateRoute"
    return {}


@ec2.op("DeleteRoute")
def delete_route(ctx, p):
    table = ec2._get(ctx, "route-table", p["RouteTableId"])
    member, dest = _destination(p)
    route = _find_route(table, member, dest)
    if route is None:
        raise _no_route(table, member, dest)
    if route.get("GatewayId") == "local":
        raise AWSError("InvalidParameterValue", f"cannot remove local route {dest} in route table "
                                                f"{table['RouteTableId']}")
    table["Routes"].remove(route)
    return {}


# -- associations -------------------------------------------------------------------------

def _association(ctx, association_id):
    for table in _tables(ctx).values():
        for a in table["Associations"]:
            if a["RouteTableAssociationId"] == association_id:
                return table, a
    if not association_id.startswith("rtbassoc-"):
        raise AWSError("InvalidAssociationID.Malformed", f'Invalid id: "{association_id}"')
    raise AWSError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")


@ec2.op("AssociateRouteTable")
def associate_route_table(ctx, p):
    table = ec2._get(ctx, "route-table", p["RouteTableId"])
    if p.get("GatewayId"):
        raise ec2.unsupported("gateway route table associations")
    if not p.get("SubnetId"):
        raise AWSError("MissingParameter", "The request must contain the parameter subnetId or gatewayId")
    subnet = ec2._get(ctx, "subnet", p["SubnetId"])
    if subnet["VpcId"] != table["VpcId"]:
        raise AWSError("InvalidParameterValue", f"Route table {table['RouteTableId']} and subnet "
                                                f"{subnet['SubnetId']} belong to different networks")
    for other in _tables(ctx).values():
        for a in other["Associations"]:
            if a.get("SubnetId") == subnet["SubnetId"]:
                raise AWSError("Resource.AlreadyAssociated",
                               f"the specified association for route table {table['RouteTableId']} conflicts "
                               f"with an existing association")
    association = {"Main": False, "RouteTableAssociationId": new_id("rtbassoc"),
                   "RouteTableId": table["RouteTableId"], "SubnetId": subnet["SubnetId"],
                   "AssociationState": {"State": "associated"}}
    table["Associations"].append(association)
    return {"AssociationId": association["RouteTableAssociationId"],
            "AssociationState": dict(association["AssociationState"])}


@ec2.op("DisassociateRouteTable")
def disassociate_route_table(ctx, p):
    table, association = _association(ctx, p["AssociationId"])
    if association.get("Main"):
        raise AWSError("InvalidParameterValue",
                       f"cannot disassociate the main route table association {p['AssociationId']}")
    table["Associations"].remove(association)
    return {}


@ec2.op("ReplaceRouteTableAssociation")
def replace_route_table_association(ctx, p):
    old_table, association = _association(ctx, p["AssociationId"])
    table = ec2._get(ctx, "route-table", p["RouteTableId"])
    if table["VpcId"] != old_table["VpcId"]:
        raise AWSError("InvalidParameterValue", f"Route table {table['RouteTableId']} belongs to another network "
                                                "than the association")
    old_table["Associations"].remove(association)
    moved = dict(association, RouteTableAssociationId=new_id("rtbassoc"), RouteTableId=table["RouteTableId"])
    table["Associations"].append(moved)
    return {"NewAssociationId": moved["RouteTableAssociationId"], "AssociationState": {"State": "associated"}}


# -- VPC endpoints -----------------------------------------------------------------------

def _service_of(ctx, name):
    prefix = f"com.amazonaws.{ctx.region}."
    if not name.startswith(prefix) or not name[len(prefix):].replace("-", "").replace(".", "").isalnum():
        raise AWSError("InvalidServiceName", f"The Vpc Endpoint Service '{name}' does not exist")
    return name[len(prefix):]


def _policy(text):
    try:
        doc = json.loads(text)
    except ValueError:
        raise AWSError("MalformedPolicy", "The policy document is not valid JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), (list, dict)):
        raise AWSError("MalformedPolicy", "The policy document needs a Statement")
    return text


def _table_in_vpc(ctx, endpoint_vpc, rtb_id):
    table = ec2._get(ctx, "route-table", rtb_id)
    if table["VpcId"] != endpoint_vpc:
        raise AWSError("InvalidParameter", f"Route table {rtb_id} is not in the endpoint's VPC {endpoint_vpc}")
    return table


def _add_endpoint_routes(ctx, endpoint, rtb_ids):
    pl = _prefix_list_for(ctx, endpoint["ServiceName"])
    tables = [_table_in_vpc(ctx, endpoint["VpcId"], rtb_id) for rtb_id in rtb_ids]
    for table in tables:
        if _find_route(table, "DestinationPrefixListId", pl["PrefixListId"]) is not None:
            raise AWSError("RouteAlreadyExists", f"route table {table['RouteTableId']} already has a route with "
                                                 f"destination-prefix-list-id {pl['PrefixListId']}")
    for table in tables:
        table["Routes"].append({"DestinationPrefixListId": pl["PrefixListId"],
                                "GatewayId": endpoint["VpcEndpointId"], "Origin": "CreateRoute"})
        endpoint["RouteTableIds"].append(table["RouteTableId"])


def _remove_endpoint_routes(ctx, endpoint, rtb_ids):
    for rtb_id in rtb_ids:
        table = _tables(ctx).get(rtb_id)
        if table is not None:
            table["Routes"] = [r for r in table["Routes"] if r.get("GatewayId") != endpoint["VpcEndpointId"]]
        if rtb_id in endpoint["RouteTableIds"]:
            endpoint["RouteTableIds"].remove(rtb_id)


def _add_endpoint_interfaces(ctx, endpoint, subnet_ids):
    for subnet_id in subnet_ids:
        subnet = ec2._get(ctx, "subnet", subnet_id)
        if subnet["VpcId"] != endpoint["VpcId"]:
            raise AWSError("InvalidParameter", f"Subnet {subnet_id} is not in the endpoint's VPC")
        if any(ctx.store.table("ec2", "subnet")[s]["AvailabilityZone"] == subnet["AvailabilityZone"]
               for s in endpoint["SubnetIds"]):
            raise AWSError("DuplicateSubnetsInSameZone", f"Found another subnet in {subnet['AvailabilityZone']}")
        eni = add_interface(ctx, subnet_id, [g["GroupId"] for g in endpoint["Groups"]],
                            f"VPC Endpoint Interface {endpoint['VpcEndpointId']}", interface_type="vpc_endpoint",
                            requester="amazon-vpce")
        endpoint["SubnetIds"].append(subnet_id)
        endpoint["NetworkInterfaceIds"].append(eni)


def _remove_endpoint_interfaces(ctx, endpoint, subnet_ids):
    enis = ctx.store.table("ec2", "network-interface")
    for subnet_id in subnet_ids:
        for eni_id in list(endpoint["NetworkInterfaceIds"]):
            if enis.get(eni_id, {}).get("SubnetId") == subnet_id:
                release_interface(ctx, eni_id)
                endpoint["NetworkInterfaceIds"].remove(eni_id)
        if subnet_id in endpoint["SubnetIds"]:
            endpoint["SubnetIds"].remove(subnet_id)


@ec2.op("CreateVpcEndpoint")
def create_vpc_endpoint(ctx, p):
    vpc = ec2._get(ctx, "vpc", p["VpcId"])
    kind = p.get("VpcEndpointType", "Gateway")
    service = _service_of(ctx, p["ServiceName"])
    if kind == "GatewayLoadBalancer":
        raise ec2.unsupported("Gateway Load Balancer endpoints")
    if kind == "Gateway":
        if service not in GATEWAY_SERVICES:
            raise AWSError("InvalidParameter", f"The service {p['ServiceName']} does not offer Gateway endpoints")
        if p.get("SubnetIds") or p.get("SecurityGroupIds") or p.get("PrivateDnsEnabled"):
            raise AWSError("InvalidParameter", "Subnets, security groups and private DNS are for Interface endpoints")
    elif p.get("RouteTableIds"):
        raise AWSError("InvalidParameter", "Route tables are for Gateway endpoints")
    tags = ec2._spec_tags(p, "vpc-endpoint")
    endpoint_id = new_id("vpce")
    endpoint = {
        "VpcEndpointId": endpoint_id, "VpcEndpointType": kind, "VpcId": vpc["VpcId"],
        "ServiceName": p["ServiceName"], "PolicyDocument": _policy(p.get("PolicyDocument") or DEFAULT_POLICY),
        "RouteTableIds": [], "SubnetIds": [], "Groups": [], "NetworkInterfaceIds": [], "DnsEntries": [],
        "PrivateDnsEnabled": bool(p.get("PrivateDnsEnabled", kind == "Interface")),
        "RequesterManaged": False, "CreationTimestamp": ctx.now(), "Tags": tags, "OwnerId": ctx.account,
        "IpAddressType": p.get("IpAddressType", "ipv4"),
    }
    if kind == "Interface":
        groups = p.get("SecurityGroupIds") or [g["GroupId"] for g in ctx.store.table("ec2", "security-group").values()
                                              if g["VpcId"] == vpc["VpcId"] and g["GroupName"] == "default"]
        for gid in groups:
            group = ec2._get(ctx, "security-group", gid)
            endpoint["Groups"].append({"GroupId": gid, "GroupName": group["GroupName"]})
        endpoint["DnsEntries"] = [{"DnsName": f"{endpoint_id}.{service}.{ctx.region}.vpce.amazonaws.com",
                                   "HostedZoneId": "Z7HUB22UULQXV"}]
        _add_endpoint_interfaces(ctx, endpoint, p.get("SubnetIds") or [])
    else:
        _add_endpoint_routes(ctx, endpoint, p.get("RouteTableIds") or [])
    start_lifecycle(endpoint, "State", "pending", "available", ctx.settle)
    _endpoints(ctx)[endpoint_id] = endpoint
    out = {"VpcEndpoint": ec2._view(endpoint)}
    if p.get("ClientToken"):
        out["ClientToken"] = p["ClientToken"]
    return out


_ENDPOINT_FILTERS = {
    "vpc-endpoint-id": lambda e: e["VpcEndpointId"],
    "vpc-id": lambda e: e["VpcId"],
    "service-name": lambda e: e["ServiceName"],
    "vpc-endpoint-state": lambda e: e["State"],
    "vpc-endpoint-type": lambda e: e["VpcEndpointType"],
}


@ec2.op("DescribeVpcEndpoints")
def describe_vpc_endpoints(ctx, p):
    return ec2._describe(ctx, p, "vpc-endpoint", "VpcEndpointIds", _ENDPOINT_FILTERS, "VpcEndpoints")


@ec2.op("ModifyVpcEndpoint")
def modify_vpc_endpoint(ctx, p):
    endpoint = ec2._get(ctx, "vpc-endpoint", p["VpcEndpointId"])
    if endpoint["State"] in ("deleting", "deleted"):
        raise AWSError("IncorrectState", f"The endpoint {endpoint['VpcEndpointId']} is being deleted")
    gateway = endpoint["VpcEndpointType"] == "Gateway"
    if gateway and (p.get("AddSubnetIds") or p.get("AddSecurityGroupIds") or p.get("PrivateDnsEnabled")):
        raise AWSError("InvalidParameter", "Subnets, security groups and private DNS are for Interface endpoints")
    if not gateway and p.get("AddRouteTableIds"):
        raise AWSError("InvalidParameter", "Route tables are for Gateway endpoints")
    if p.get("ResetPolicy") and p.get("PolicyDocument"):
        raise AWSError("InvalidParameterCombination", "Give PolicyDocument or ResetPolicy, not both")
    policy = _policy(p["PolicyDocument"]) if p.get("PolicyDocument") else None
    for rtb_id in p.get("RemoveRouteTableIds") or []:
        if rtb_id not in endpoint["RouteTableIds"]:
            raise AWSError("InvalidParameter", f"Route table {rtb_id} is not associated with the endpoint")
    _remove_endpoint_routes(ctx, endpoint, p.get("RemoveRouteTableIds") or [])
    _add_endpoint_routes(ctx, endpoint, p.get("AddRouteTableIds") or [])
    _remove_endpoint_interfaces(ctx, endpoint, p.get("RemoveSubnetIds") or [])
    _add_endpoint_interfaces(ctx, endpoint, p.get("AddSubnetIds") or [])
    for gid in p.get("AddSecurityGroupIds") or []:
        group = ec2._get(ctx, "security-group", gid)
        if all(g["GroupId"] != gid for g in endpoint["Groups"]):
            endpoint["Groups"].append({"GroupId": gid, "GroupName": group["GroupName"]})
    remove = set(p.get("RemoveSecurityGroupIds") or [])
    endpoint["Groups"] = [g for g in endpoint["Groups"] if g["GroupId"] not in remove]
    if policy is not None:
        endpoint["PolicyDocument"] = policy
    if p.get("ResetPolicy"):
        endpoint["PolicyDocument"] = DEFAULT_POLICY
    if p.get("PrivateDnsEnabled") is not None:
        endpoint["PrivateDnsEnabled"] = p["PrivateDnsEnabled"]
    return {"Return": True}


@ec2.op("DeleteVpcEndpoints")
def delete_vpc_endpoints(ctx, p):
    unsuccessful = []
    for endpoint_id in p["VpcEndpointIds"]:
        endpoint = _endpoints(ctx).get(endpoint_id)
        if endpoint is None:
            unsuccessful.append({"Error": {"Code": "InvalidVpcEndpoint.NotFound",
                                           "Message": f"The Vpc Endpoint Id '{endpoint_id}' does not exist"},
                                 "ResourceId": endpoint_id})
            continue
        if endpoint["State"] == "deleting":
            continue
        _remove_endpoint_routes(ctx, endpoint, list(endpoint["RouteTableIds"]))
        _remove_endpoint_interfaces(ctx, endpoint, list(endpoint["SubnetIds"]))
        endpoint.pop("_life", None)
        start_lifecycle(endpoint, "State", "deleting", None, ctx.settle)
    return {"Unsuccessful": unsuccessful}
