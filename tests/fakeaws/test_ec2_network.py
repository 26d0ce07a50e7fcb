"""EC2 routing, VPC endpoints, network interfaces and rule changes in fakeaws
(services/ec2_routes.py, ec2_interfaces.py, ec2_rules.py), driven by botocore:
main route tables, routes and their blackholes, associations, gateway and
interface endpoints, interfaces keeping subnets and groups in use, and
ModifySecurityGroupRules. perform_every_operation() is also run by test_wire."""
import json
import unittest

from fakeaws.testing import Fake
from test_auth import error_of


def perform_every_operation(ec2, region):
    """Each operation these modules serve, once, successfully (for test_wire)."""
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni)
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)["AssociationId"]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    assoc = ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=main["RouteTableId"])
    ec2.disassociate_route_table(AssociationId=assoc["NewAssociationId"])
    pl = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name",
                                             "Values": [f"com.amazonaws.{region}.s3"]}])["PrefixLists"][0]
    endpoint = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=pl["PrefixListName"])["VpcEndpoint"]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], AddRouteTableIds=[rtb])
    ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
    ec2.describe_vpc_endpoints()
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    ec2.delete_route_table(RouteTableId=rtb)
    sg = ec2.create_security_group(VpcId=vpc, GroupName="wire", Description="wire")["GroupId"]
    rule = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ec2.modify_security_group_rules(GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": rule["SecurityGroupRules"][0]["SecurityGroupRuleId"],
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 81, "ToPort": 81, "CidrIpv4": "10.0.0.0/8"}}])
    ec2.delete_security_group(GroupId=sg)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


class NetworkTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.ec2 = self.fake.client("ec2", region="eu-west-1")
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

    def tearDown(self):
        self.fake.stop()

    def subnet(self, cidr, az="eu-west-1a"):
        return self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]

    def table(self, rtb):
        return self.ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]

    def main_table(self, vpc=None):
        found = self.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc or self.vpc]},
                                                        {"Name": "association.main", "Values": ["true"]}])
        self.assertEqual(1, len(found["RouteTables"]))
        return found["RouteTables"][0]

    def routes(self, rtb):
        return {r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId"): r for r in self.table(rtb)["Routes"]}

    def igw(self, attach=True):
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        if attach:
            self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=self.vpc)
        return igw

    def test_each_vpc_has_a_main_route_table_with_a_local_route_that_goes_with_it(self):
        main = self.main_table()
        self.assertEqual([{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable",
                           "State": "active"}], main["Routes"])
        self.assertEqual(("DependencyViolation", 400),
                         error_of(self.ec2.delete_route_table, RouteTableId=main["RouteTableId"]))
        rtb = self.ec2.create_route_table(VpcId=self.vpc, TagSpecifications=[
            {"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "public"}]}])["RouteTable"]
        self.assertEqual([{"Key": "Name", "Value": "public"}], rtb["Tags"])
        self.assertEqual([], rtb["Associations"])
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_vpc, VpcId=self.vpc))
        self.ec2.delete_route_table(RouteTableId=rtb["RouteTableId"])
        self.ec2.delete_vpc(VpcId=self.vpc)
        self.assertEqual([], self.ec2.describe_route_tables()["RouteTables"])
        self.assertEqual(("InvalidRouteTableID.NotFound", 400),
                         error_of(self.ec2.describe_route_tables, RouteTableIds=[rtb["RouteTableId"]]))
        self.assertEqual(("InvalidRouteTableId.Malformed", 400),
                         error_of(self.ec2.delete_route_table, RouteTableId="rtb-nope"))

    def test_routes_to_gateways_and_their_blackholes(self):
        rtb = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        loose = self.igw(attach=False)
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=loose))
        igw = self.igw()
        self.assertTrue(self.ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                                              GatewayId=igw)["Return"])
        self.assertEqual(("RouteAlreadyExists", 400), error_of(
            self.ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw))
        self.assertEqual(("InvalidParameterCombination", 400), error_of(
            self.ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw,
            NatGatewayId="nat-0123456789abcdef0"))
        self.assertEqual(("MissingParameter", 400), error_of(
            self.ec2.create_route, RouteTableId=rtb, GatewayId=igw))
        route = self.routes(rtb)["0.0.0.0/0"]
        self.assertEqual((igw, "active", "CreateRoute"), (route["GatewayId"], route["State"], route["Origin"]))
        found = self.ec2.describe_route_tables(Filters=[{"Name": "route.gateway-id", "Values": [igw]}])
        self.assertEqual([rtb], [t["RouteTableId"] for t in found["RouteTables"]])

        public = self.subnet("10.0.0.0/24")
        eip = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = self.ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]
        private = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        self.ec2.create_route(RouteTableId=private, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        self.assertEqual((nat, "active"), (self.routes(private)["0.0.0.0/0"]["NatGatewayId"],
                                           self.routes(private)["0.0.0.0/0"]["State"]))
        self.ec2.delete_nat_gateway(NatGatewayId=nat)
        self.assertEqual("blackhole", self.routes(private)["0.0.0.0/0"]["State"])
        self.ec2.describe_nat_gateways(NatGatewayIds=[nat])
        self.ec2.describe_nat_gateways(NatGatewayIds=[nat])
        self.assertEqual(("InvalidNatGatewayID.NotFound", 400), error_of(
            self.ec2.replace_route, RouteTableId=private, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat))
        self.ec2.replace_route(RouteTableId=private, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        self.assertEqual((igw, "active"), (self.routes(private)["0.0.0.0/0"]["GatewayId"],
                                           self.routes(private)["0.0.0.0/0"]["State"]))
        self.assertNotIn("NatGatewayId", self.routes(private)["0.0.0.0/0"])

        self.ec2.delete_route(RouteTableId=private, DestinationCidrBlock="0.0.0.0/0")
        self.assertEqual(["10.0.0.0/16"], list(self.routes(private)))
        self.assertEqual(("InvalidRoute.NotFound", 400), error_of(
            self.ec2.delete_route, RouteTableId=private, DestinationCidrBlock="0.0.0.0/0"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.ec2.delete_route, RouteTableId=private, DestinationCidrBlock="10.0.0.0/16"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.1.0.0/33", GatewayId=igw))

        self.ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=self.vpc)
        self.assertEqual("blackhole", self.routes(rtb)["0.0.0.0/0"]["State"])

    def test_subnet_associations(self):
        a, b = self.subnet("10.0.1.0/24"), self.subnet("10.0.2.0/24", "eu-west-1b")
        rtb = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        other = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        got = self.ec2.associate_route_table(RouteTableId=rtb, SubnetId=a)
        self.assertRegex(got["AssociationId"], r"^rtbassoc-[0-9a-f]{17}$")
        self.assertEqual({"State": "associated"}, got["AssociationState"])
        self.assertEqual(("Resource.AlreadyAssociated", 400),
                         error_of(self.ec2.associate_route_table, RouteTableId=other, SubnetId=a))
        assoc_b = self.ec2.associate_route_table(RouteTableId=rtb, SubnetId=b)["AssociationId"]
        found = self.ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [a]}])
        self.assertEqual([rtb], [t["RouteTableId"] for t in found["RouteTables"]])
        self.assertEqual({a, b}, {x["SubnetId"] for x in self.table(rtb)["Associations"]})
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_route_table, RouteTableId=rtb))

        moved = self.ec2.replace_route_table_association(AssociationId=got["AssociationId"], RouteTableId=other)
        self.assertNotEqual(got["AssociationId"], moved["NewAssociationId"])
        self.assertEqual([a], [x["SubnetId"] for x in self.table(other)["Associations"]])
        self.assertEqual(("InvalidAssociationID.NotFound", 400),
                         error_of(self.ec2.disassociate_route_table, AssociationId=got["AssociationId"]))
        self.ec2.disassociate_route_table(AssociationId=moved["NewAssociationId"])
        self.assertEqual([], self.table(other)["Associations"])
        main = self.main_table()["Associations"][0]["RouteTableAssociationId"]
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.disassociate_route_table, AssociationId=main))

        self.ec2.delete_subnet(SubnetId=b)
        self.assertEqual([], self.table(rtb)["Associations"])
        self.assertEqual(("InvalidAssociationID.NotFound", 400),
                         error_of(self.ec2.disassociate_route_table, AssociationId=assoc_b))
        self.ec2.delete_route_table(RouteTableId=rtb)
        other_vpc = self.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        foreign = self.ec2.create_route_table(VpcId=other_vpc)["RouteTable"]["RouteTableId"]
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.associate_route_table, RouteTableId=foreign, SubnetId=a))

    def test_gateway_endpoint_routes_to_its_prefix_list(self):
        private = [self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"] for _ in range(3)]
        lists = self.ec2.describe_prefix_lists()["PrefixLists"]
        self.assertEqual({"com.amazonaws.eu-west-1.s3", "com.amazonaws.eu-west-1.dynamodb"},
                         {pl["PrefixListName"] for pl in lists})
        s3 = [pl for pl in lists if pl["PrefixListName"].endswith(".s3")][0]
        self.assertRegex(s3["PrefixListId"], r"^pl-[0-9a-f]{8}$")
        self.assertTrue(s3["Cidrs"])
        self.assertEqual(("InvalidServiceName", 400), error_of(
            self.ec2.create_vpc_endpoint, VpcId=self.vpc, ServiceName="com.amazonaws.us-east-1.s3"))
        self.assertEqual(("InvalidParameter", 400), error_of(
            self.ec2.create_vpc_endpoint, VpcId=self.vpc, ServiceName="com.amazonaws.eu-west-1.ecr.api"))
        endpoint = self.ec2.create_vpc_endpoint(
            VpcId=self.vpc, ServiceName="com.amazonaws.eu-west-1.s3", RouteTableIds=private[:2],
            ClientToken="tok-1", TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                     "Tags": [{"Key": "wpo:address", "Value": "x"}]}])["VpcEndpoint"]
        eid = endpoint["VpcEndpointId"]
        self.assertRegex(eid, r"^vpce-[0-9a-f]{17}$")
        self.assertEqual(("pending", "Gateway"), (endpoint["State"], endpoint["VpcEndpointType"]))
        self.assertEqual("*", json.loads(endpoint["PolicyDocument"])["Statement"][0]["Action"])
        for rtb in private[:2]:
            route = self.routes(rtb)[s3["PrefixListId"]]
            self.assertEqual((eid, "active"), (route["GatewayId"], route["State"]))
        self.assertNotIn(s3["PrefixListId"], self.routes(private[2]))
        states = [self.ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"]
                  for _ in range(2)]
        self.assertEqual(["pending", "available"], states)
        tagged = self.ec2.describe_vpc_endpoints(Filters=[{"Name": "tag:wpo:address", "Values": ["x"]}])
        self.assertEqual([eid], [e["VpcEndpointId"] for e in tagged["VpcEndpoints"]])

        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]})
        self.ec2.modify_vpc_endpoint(VpcEndpointId=eid, AddRouteTableIds=[private[2]],
                                     RemoveRouteTableIds=[private[0]], PolicyDocument=policy)
        got = self.ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
        self.assertEqual(sorted(private[1:]), sorted(got["RouteTableIds"]))
        self.assertEqual(policy, got["PolicyDocument"])
        self.assertNotIn(s3["PrefixListId"], self.routes(private[0]))
        self.assertIn(s3["PrefixListId"], self.routes(private[2]))
        self.assertEqual(("MalformedPolicy", 400), error_of(
            self.ec2.modify_vpc_endpoint, VpcEndpointId=eid, PolicyDocument="{not json"))
        self.assertEqual(("RouteAlreadyExists", 400), error_of(
            self.ec2.create_vpc_endpoint, VpcId=self.vpc, ServiceName="com.amazonaws.eu-west-1.s3",
            RouteTableIds=[private[1]]))

        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_vpc, VpcId=self.vpc))
        out = self.ec2.delete_vpc_endpoints(VpcEndpointIds=[eid, "vpce-0123456789abcdef0"])
        self.assertEqual([("vpce-0123456789abcdef0", "InvalidVpcEndpoint.NotFound")],
                         [(u["ResourceId"], u["Error"]["Code"]) for u in out["Unsuccessful"]])
        self.assertNotIn(s3["PrefixListId"], self.routes(private[1]))
        self.assertEqual("deleting", self.ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"])
        self.assertEqual([], self.ec2.describe_vpc_endpoints()["VpcEndpoints"])
        for rtb in private:
            self.ec2.delete_route_table(RouteTableId=rtb)
        self.ec2.delete_vpc(VpcId=self.vpc)

    def test_interface_endpoints_hold_interfaces_in_their_subnets(self):
        a, b = self.subnet("10.0.1.0/24"), self.subnet("10.0.2.0/24", "eu-west-1b")
        sg = self.ec2.create_security_group(VpcId=self.vpc, GroupName="vpce", Description="endpoints")["GroupId"]
        endpoint = self.ec2.create_vpc_endpoint(VpcId=self.vpc, VpcEndpointType="Interface", SubnetIds=[a, b],
                                                SecurityGroupIds=[sg],
                                                ServiceName="com.amazonaws.eu-west-1.ecr.api")["VpcEndpoint"]
        self.assertEqual(2, len(endpoint["NetworkInterfaceIds"]))
        self.assertEqual([sg], [g["GroupId"] for g in endpoint["Groups"]])
        enis = self.ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [self.vpc]}])
        self.assertEqual(set(endpoint["NetworkInterfaceIds"]),
                         {e["NetworkInterfaceId"] for e in enis["NetworkInterfaces"]})
        self.assertEqual({"vpc_endpoint"}, {e["InterfaceType"] for e in enis["NetworkInterfaces"]})
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_subnet, SubnetId=a))
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_security_group, GroupId=sg))
        self.assertEqual(("OperationNotPermitted", 400), error_of(
            self.ec2.delete_network_interface, NetworkInterfaceId=endpoint["NetworkInterfaceIds"][0]))
        self.ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
        # the interfaces detach, then go: with settle=1 the first look still finds them
        self.assertEqual({"detaching"}, {e["Status"] for e in self.ec2.describe_network_interfaces()["NetworkInterfaces"]})
        self.assertEqual([], self.ec2.describe_network_interfaces()["NetworkInterfaces"])
        self.ec2.delete_subnet(SubnetId=a)
        self.ec2.delete_security_group(GroupId=sg)

    def test_interfaces_keep_their_subnet_and_groups_in_use_until_they_go(self):
        a = self.subnet("10.0.1.0/28")
        sg = self.ec2.create_security_group(VpcId=self.vpc, GroupName="app", Description="app")["GroupId"]
        eni = self.ec2.create_network_interface(SubnetId=a, Groups=[sg], Description="app", TagSpecifications=[
            {"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "app"}]}])["NetworkInterface"]
        self.assertRegex(eni["NetworkInterfaceId"], r"^eni-[0-9a-f]{17}$")
        self.assertEqual(("10.0.1.4", "available", False), (eni["PrivateIpAddress"], eni["Status"],
                                                              eni["RequesterManaged"]))
        self.assertEqual([{"Key": "Name", "Value": "app"}], eni["TagSet"])
        plain = self.ec2.create_network_interface(SubnetId=a, PrivateIpAddress="10.0.1.9")["NetworkInterface"]
        self.assertEqual(["default"], [g["GroupName"] for g in plain["Groups"]])
        self.assertEqual(("InvalidIPAddress.InUse", 400), error_of(
            self.ec2.create_network_interface, SubnetId=a, PrivateIpAddress="10.0.1.9"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.ec2.create_network_interface, SubnetId=a, PrivateIpAddress="10.0.1.2"))
        by_group = self.ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [sg]}])
        self.assertEqual([eni["NetworkInterfaceId"]], [e["NetworkInterfaceId"] for e in by_group["NetworkInterfaces"]])
        by_tag = self.ec2.describe_network_interfaces(Filters=[{"Name": "tag:Name", "Values": ["app"]}])
        self.assertEqual([eni["NetworkInterfaceId"]], [e["NetworkInterfaceId"] for e in by_tag["NetworkInterfaces"]])
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_security_group, GroupId=sg))
        self.ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
        self.ec2.delete_security_group(GroupId=sg)
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_subnet, SubnetId=a))
        self.ec2.delete_network_interface(NetworkInterfaceId=plain["NetworkInterfaceId"])
        self.assertEqual(("InvalidNetworkInterfaceID.NotFound", 400), error_of(
            self.ec2.delete_network_interface, NetworkInterfaceId=plain["NetworkInterfaceId"]))
        self.ec2.delete_subnet(SubnetId=a)

    def test_interfaces_of_other_services_detach_over_looks(self):
        from fakeaws.services import ec2_interfaces
        a = self.subnet("10.0.1.0/24")
        server = self.fake.server

        class Ctx:
            store = server.store
            settle = 1
            account = "123456789012"
        with server.store.lock:
            eni = ec2_interfaces.add_interface(Ctx, a, [], "EFS mount target", requester="amazon-elasticfilesystem")
        got = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
        self.assertEqual(("in-use", True, "amazon-elasticfilesystem"),
                         (got["Status"], got["RequesterManaged"], got["RequesterId"]))
        self.assertEqual(("OperationNotPermitted", 400),
                         error_of(self.ec2.delete_network_interface, NetworkInterfaceId=eni))
        with server.store.lock:
            ec2_interfaces.release_interface(Ctx, eni)
        # the deletes are looks too: the first one still finds the interface detaching
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_subnet, SubnetId=a))
        self.ec2.delete_subnet(SubnetId=a)

    def test_nat_gateway_interfaces_are_shown_and_managed_by_aws(self):
        public = self.subnet("10.0.0.0/24")
        self.igw()
        eip = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = self.ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]
        eni = nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]
        got = self.ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [public]}])
        self.assertEqual([(eni, "natGateway", True)], [(e["NetworkInterfaceId"], e["InterfaceType"],
                                                        e["RequesterManaged"]) for e in got["NetworkInterfaces"]])
        self.assertEqual(("OperationNotPermitted", 400),
                         error_of(self.ec2.delete_network_interface, NetworkInterfaceId=eni))

    def test_modify_security_group_rules(self):
        sg = self.ec2.create_security_group(VpcId=self.vpc, GroupName="web", Description="web")["GroupId"]
        other = self.ec2.create_security_group(VpcId=self.vpc, GroupName="lb", Description="lb")["GroupId"]
        rules = self.ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
        )["SecurityGroupRules"]
        first, second = rules[0]["SecurityGroupRuleId"], rules[1]["SecurityGroupRuleId"]
        self.ec2.modify_security_group_rules(GroupId=sg, SecurityGroupRules=[{"SecurityGroupRuleId": first,
            "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081, "ReferencedGroupId": other,
                                  "Description": "from the load balancer"}}])
        got = self.ec2.describe_security_group_rules(SecurityGroupRuleIds=[first])["SecurityGroupRules"][0]
        self.assertEqual((8080, 8081, other, "from the load balancer"),
                         (got["FromPort"], got["ToPort"], got["ReferencedGroupInfo"]["GroupId"], got["Description"]))
        self.assertNotIn("CidrIpv4", got)
        self.assertEqual(("InvalidPermission.Duplicate", 400), error_of(
            self.ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[{"SecurityGroupRuleId": second,
                "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081,
                                      "ReferencedGroupId": other}}]))
        self.assertEqual(("InvalidSecurityGroupRuleId.NotFound", 400), error_of(
            self.ec2.modify_security_group_rules, GroupId=other, SecurityGroupRules=[{"SecurityGroupRuleId": second,
                "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIpv4": "10.0.0.0/8"}}]))
        self.assertEqual(("InvalidParameterCombination", 400), error_of(
            self.ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[{"SecurityGroupRuleId": second,
                "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIpv4": "10.0.0.0/8",
                                      "CidrIpv6": "::/0"}}]))

    def test_tags_on_route_tables_endpoints_and_interfaces(self):
        rtb = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        eni = self.ec2.create_network_interface(SubnetId=self.subnet("10.0.1.0/24"))["NetworkInterface"]
        endpoint = self.ec2.create_vpc_endpoint(VpcId=self.vpc, ServiceName="com.amazonaws.eu-west-1.s3")
        ids = [rtb, eni["NetworkInterfaceId"], endpoint["VpcEndpoint"]["VpcEndpointId"]]
        self.ec2.create_tags(Resources=ids, Tags=[{"Key": "env", "Value": "prod"}])
        tags = self.ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}])["Tags"]
        self.assertEqual({(rtb, "route-table"), (eni["NetworkInterfaceId"], "network-interface"),
                          (ids[2], "vpc-endpoint")}, {(t["ResourceId"], t["ResourceType"]) for t in tags})
        self.assertEqual([{"Key": "env", "Value": "prod"}], self.table(rtb)["Tags"])
        self.ec2.delete_tags(Resources=[rtb], Tags=[{"Key": "env"}])
        self.assertNotIn("Tags", self.table(rtb))


if __name__ == "__main__":
    unittest.main()
