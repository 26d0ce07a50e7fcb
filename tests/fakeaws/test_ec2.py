"""EC2 behaviour: lifecycle over describes, filters, pagination, dependency and
not-found errors, CIDR rules, security group rules, gateways, tags, DryRun."""
import unittest

from fakeaws.testing import Fake
from test_auth import error_of


class EC2Test(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.ec2 = self.fake.client("ec2", region="us-west-2")

    def tearDown(self):
        self.fake.stop()

    def vpc(self, cidr="10.0.0.0/16", **tags):
        spec = [{"ResourceType": "vpc", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
        return self.ec2.create_vpc(CidrBlock=cidr, TagSpecifications=spec)["Vpc"]["VpcId"]

    def test_state_moves_from_pending_to_available_over_describes(self):
        created = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
        self.assertEqual("pending", created["State"])
        states = [self.ec2.describe_vpcs(VpcIds=[created["VpcId"]])["Vpcs"][0]["State"] for _ in range(3)]
        self.assertEqual(["pending", "available", "available"], states)
        subnet = self.ec2.create_subnet(VpcId=created["VpcId"], CidrBlock="10.0.0.0/24")["Subnet"]
        self.assertEqual("pending", subnet["State"])
        self.ec2.describe_subnets()
        self.assertEqual("available", self.ec2.describe_subnets()["Subnets"][0]["State"])

    def test_filters(self):
        a = self.vpc("10.1.0.0/16", **{"wpo:address": "net.vpc", "env": "prod"})
        b = self.vpc("10.2.0.0/16", **{"wpo:address": "other.vpc"})
        c = self.vpc("10.3.0.0/16")

        def ids(*filters):
            return {v["VpcId"] for v in self.ec2.describe_vpcs(Filters=list(filters))["Vpcs"]}
        self.assertEqual({a}, ids({"Name": "tag:wpo:address", "Values": ["net.vpc"]}))
        self.assertEqual({a, b}, ids({"Name": "tag:wpo:address", "Values": ["*.vpc"]}))
        self.assertEqual({a, b}, ids({"Name": "tag-key", "Values": ["wpo:address"]}))
        self.assertEqual({a}, ids({"Name": "tag-value", "Values": ["prod"]}))
        self.assertEqual({b, c}, ids({"Name": "vpc-id", "Values": [b, c]}))
        self.assertEqual({a}, ids({"Name": "tag-key", "Values": ["wpo:address"]},
                                  {"Name": "cidr", "Values": ["10.1.0.0/16", "10.3.0.0/16"]}))
        self.assertEqual(set(), ids({"Name": "tag:env", "Values": ["staging"]}))
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.describe_vpcs, Filters=[{"Name": "colour", "Values": ["red"]}]))
        subnet = self.ec2.create_subnet(VpcId=a, CidrBlock="10.1.1.0/24", AvailabilityZone="us-west-2c")
        found = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [a]},
                                                   {"Name": "availability-zone", "Values": ["us-west-2c"]}])
        self.assertEqual([subnet["Subnet"]["SubnetId"]], [s["SubnetId"] for s in found["Subnets"]])
        self.assertEqual([], self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [b]}])["Subnets"])

    def test_pagination_forces_small_pages(self):
        made = {self.vpc(f"10.{i}.0.0/16") for i in range(7)}
        first = self.ec2.describe_vpcs()
        self.assertEqual(5, len(first["Vpcs"]))
        self.assertIn("NextToken", first)
        second = self.ec2.describe_vpcs(NextToken=first["NextToken"])
        self.assertEqual(2, len(second["Vpcs"]))
        self.assertNotIn("NextToken", second)
        self.assertEqual(made, {v["VpcId"] for v in first["Vpcs"] + second["Vpcs"]})
        pages = list(self.ec2.get_paginator("describe_vpcs").paginate(PaginationConfig={"PageSize": 5}))
        self.assertEqual(made, {v["VpcId"] for p in pages for v in p["Vpcs"]})
        self.assertEqual(("InvalidNextToken", 400), error_of(self.ec2.describe_vpcs, NextToken="garbage"))
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.ec2.describe_vpcs, VpcIds=sorted(made)[:1], MaxResults=5))
        self.assertEqual(7, len(self.ec2.describe_vpcs(VpcIds=sorted(made))["Vpcs"]))

    def test_pages_stay_right_when_objects_come_and_go(self):
        made = sorted(self.vpc(f"10.{i}.0.0/16") for i in range(6))
        first = self.ec2.describe_vpcs(MaxResults=5)
        self.ec2.delete_vpc(VpcId=first["Vpcs"][0]["VpcId"])
        rest = self.ec2.describe_vpcs(NextToken=first["NextToken"])["Vpcs"]
        self.assertEqual(made, sorted([v["VpcId"] for v in first["Vpcs"]] + [v["VpcId"] for v in rest]))

    def test_deleting_a_vpc_in_use_is_a_dependency_violation(self):
        vpc = self.vpc()
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = self.ec2.create_security_group(VpcId=vpc, GroupName="app", Description="app")["GroupId"]
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        for undo in (lambda: self.ec2.delete_subnet(SubnetId=subnet),
                     lambda: self.ec2.delete_security_group(GroupId=sg),
                     lambda: self.ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)):
            self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_vpc, VpcId=vpc))
            undo()
        self.ec2.delete_vpc(VpcId=vpc)
        state = self.fake.state()
        self.assertNotIn("vpc", state.get("ec2", {}))
        self.assertNotIn("security-group", state["ec2"])  # the default group went with its VPC
        self.assertEqual(("InvalidVpcID.NotFound", 400), error_of(self.ec2.delete_vpc, VpcId=vpc))

    def test_not_found_and_malformed_ids(self):
        cases = [
            (self.ec2.describe_vpcs, {"VpcIds": ["vpc-0123456789abcdef0"]}, "InvalidVpcID.NotFound"),
            (self.ec2.describe_vpcs, {"VpcIds": ["vpc-nothex"]}, "InvalidVpcID.Malformed"),
            (self.ec2.describe_subnets, {"SubnetIds": ["subnet-12345678"]}, "InvalidSubnetID.NotFound"),
            (self.ec2.delete_security_group, {"GroupId": "sg-12345678"}, "InvalidGroup.NotFound"),
            (self.ec2.delete_security_group, {"GroupId": "default"}, "InvalidGroupId.Malformed"),
            (self.ec2.delete_internet_gateway, {"InternetGatewayId": "igw-12345678"},
             "InvalidInternetGatewayID.NotFound"),
            (self.ec2.create_tags, {"Resources": ["i-12345678"], "Tags": [{"Key": "a", "Value": "b"}]}, "InvalidID"),
            (self.ec2.create_subnet, {"VpcId": "vpc-12345678", "CidrBlock": "10.0.0.0/24"}, "InvalidVpcID.NotFound"),
        ]
        for call, kwargs, code in cases:
            with self.subTest(code=code):
                self.assertEqual((code, 400), error_of(call, **kwargs))

    def test_cidr_rules(self):
        self.assertEqual(("InvalidVpc.Range", 400), error_of(self.ec2.create_vpc, CidrBlock="10.0.0.0/8"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.ec2.create_vpc, CidrBlock="10.0.0.1/16"))
        vpc = self.vpc("10.0.0.0/16")
        self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")
        self.assertEqual(("InvalidSubnet.Conflict", 400),
                         error_of(self.ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.0.128/25"))
        self.assertEqual(("InvalidSubnet.Range", 400),
                         error_of(self.ec2.create_subnet, VpcId=vpc, CidrBlock="10.1.0.0/24"))
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.1.0/24",
                                  AvailabilityZone="us-east-1a"))

    def test_security_groups_and_rules(self):
        vpc = self.vpc()
        other = self.vpc("10.1.0.0/16")
        web = self.ec2.create_security_group(VpcId=vpc, GroupName="web", Description="web")["GroupId"]
        self.assertRegex(web, r"^sg-[0-9a-f]{17}$")
        self.assertEqual(("InvalidGroup.Duplicate", 400),
                         error_of(self.ec2.create_security_group, VpcId=vpc, GroupName="web", Description="x"))
        self.ec2.create_security_group(VpcId=other, GroupName="web", Description="same name, other VPC")
        db = self.ec2.create_security_group(VpcId=vpc, GroupName="db", Description="db")["GroupId"]
        perm = {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
                "UserIdGroupPairs": [{"GroupId": web, "Description": "from web"}]}
        self.ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[perm])
        self.assertEqual(("InvalidPermission.Duplicate", 400),
                         error_of(self.ec2.authorize_security_group_ingress, GroupId=db, IpPermissions=[perm]))
        got = self.ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0]
        self.assertEqual([{"GroupId": web, "UserId": "123456789012", "Description": "from web"}],
                         got["IpPermissions"][0]["UserIdGroupPairs"])
        self.assertEqual([{"CidrIp": "0.0.0.0/0"}], got["IpPermissionsEgress"][0]["IpRanges"])
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_security_group, GroupId=web))
        self.assertEqual(("InvalidPermission.NotFound", 400),
                         error_of(self.ec2.revoke_security_group_ingress, GroupId=db, IpPermissions=[
                             dict(perm, FromPort=22, ToPort=22)]))
        rule = self.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [db]}])
        ingress = [r for r in rule["SecurityGroupRules"] if not r["IsEgress"]]
        self.ec2.revoke_security_group_ingress(GroupId=db, SecurityGroupRuleIds=[ingress[0]["SecurityGroupRuleId"]])
        self.ec2.delete_security_group(GroupId=web)
        default = self.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                             {"Name": "group-name", "Values": ["default"]}])
        self.assertEqual(("CannotDelete", 400),
                         error_of(self.ec2.delete_security_group, GroupId=default["SecurityGroups"][0]["GroupId"]))
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.authorize_security_group_ingress, GroupId=db, IpPermissions=[
                             {"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]))

    def test_internet_gateways(self):
        vpc = self.vpc()
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        second = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.assertEqual(("Resource.AlreadyAssociated", 400),
                         error_of(self.ec2.attach_internet_gateway, InternetGatewayId=igw, VpcId=vpc))
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.attach_internet_gateway, InternetGatewayId=second, VpcId=vpc))
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_internet_gateway,
                                                                InternetGatewayId=igw))
        found = self.ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])
        self.assertEqual([igw], [i["InternetGatewayId"] for i in found["InternetGateways"]])
        self.assertEqual(("Gateway.NotAttached", 400),
                         error_of(self.ec2.detach_internet_gateway, InternetGatewayId=second, VpcId=vpc))

    def test_tags(self):
        vpc = self.vpc(Name="main")
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.create_tags, Resources=[vpc], Tags=[{"Key": "aws:owner", "Value": "x"}]))
        self.ec2.create_tags(Resources=[vpc], Tags=[{"Key": "env", "Value": "prod"}, {"Key": "Name", "Value": "x"}])
        got = self.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"]
        self.assertEqual({"Name": "x", "env": "prod"}, {t["Key"]: t["Value"] for t in got})
        self.ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "env", "Value": "staging"}])   # value differs: kept
        self.ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "Name"}])
        got = self.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"]
        self.assertEqual([{"Key": "env", "Value": "prod"}], got)
        self.ec2.delete_tags(Resources=[vpc])
        self.assertNotIn("Tags", self.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0])
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.create_vpc, CidrBlock="10.5.0.0/16", TagSpecifications=[
                             {"ResourceType": "subnet", "Tags": [{"Key": "a", "Value": "b"}]}]))
        self.assertEqual(("TagLimitExceeded", 400),
                         error_of(self.ec2.create_tags, Resources=[vpc],
                                  Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]))

    def test_describe_tags_pages(self):
        vpc = self.vpc()
        self.ec2.create_tags(Resources=[vpc], Tags=[{"Key": f"k{i}", "Value": str(i)} for i in range(8)])
        pages = list(self.ec2.get_paginator("describe_tags").paginate(
            Filters=[{"Name": "resource-id", "Values": [vpc]}]))
        self.assertEqual(2, len(pages))
        self.assertEqual({f"k{i}" for i in range(8)}, {t["Key"] for p in pages for t in p["Tags"]})
        self.assertEqual({"vpc"}, {t["ResourceType"] for p in pages for t in p["Tags"]})

    def test_dry_run(self):
        self.assertEqual(("DryRunOperation", 412), error_of(self.ec2.create_vpc, CidrBlock="10.0.0.0/16",
                                                            DryRun=True))
        self.assertEqual([], self.ec2.describe_vpcs()["Vpcs"])

    def test_vpc_attributes(self):
        vpc = self.vpc()
        self.assertIs(True, self.ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsSupport")
                      ["EnableDnsSupport"]["Value"])
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.ec2.modify_vpc_attribute, VpcId=vpc, EnableDnsSupport={"Value": True},
                                  EnableDnsHostnames={"Value": True}))
        self.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": False})
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.modify_vpc_attribute, VpcId=vpc, EnableDnsHostnames={"Value": True}))

    def public_subnet(self):
        vpc = self.vpc()
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        return vpc, subnet, igw

    def test_nat_gateways_and_elastic_ips(self):
        vpc, subnet, igw = self.public_subnet()
        eip = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        self.assertEqual(("Gateway.NotAttached", 400),
                         error_of(self.ec2.create_nat_gateway, SubnetId=subnet, AllocationId=eip))
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.assertEqual(("MissingParameter", 400), error_of(self.ec2.create_nat_gateway, SubnetId=subnet))
        nat = self.ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"]
        self.assertEqual(("Resource.AlreadyAssociated", 400),
                         error_of(self.ec2.create_nat_gateway, SubnetId=subnet, AllocationId=eip))
        states = [self.ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"] for _ in range(2)]
        self.assertEqual(["pending", "available"], states)
        self.assertEqual(("InvalidIPAddress.InUse", 400), error_of(self.ec2.release_address, AllocationId=eip))
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_subnet, SubnetId=subnet))
        self.assertEqual(("DependencyViolation", 400),
                         error_of(self.ec2.detach_internet_gateway, InternetGatewayId=igw, VpcId=vpc))
        self.ec2.delete_nat_gateway(NatGatewayId=nat)
        states = [self.ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"] for _ in range(2)]
        self.assertEqual(["deleting", "deleted"], states)
        self.ec2.release_address(AllocationId=eip)
        self.assertEqual(("InvalidAllocationID.NotFound", 400),
                         error_of(self.ec2.describe_addresses, AllocationIds=[eip]))
        self.ec2.delete_subnet(SubnetId=subnet)
        self.assertEqual(("NatGatewayNotFound", 400),
                         error_of(self.ec2.delete_nat_gateway, NatGatewayId="nat-0123456789abcdef0"))

    def test_client_token_replays_the_first_answer(self):
        vpc, subnet, igw = self.public_subnet()
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        eip = self.ec2.allocate_address()["AllocationId"]
        other = self.ec2.allocate_address()["AllocationId"]
        first = self.ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="wpo-nat-a")
        again = self.ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="wpo-nat-a")
        self.assertEqual(first["NatGateway"]["NatGatewayId"], again["NatGateway"]["NatGatewayId"])
        self.assertEqual("wpo-nat-a", again["ClientToken"])
        self.assertEqual(1, len(self.ec2.describe_nat_gateways()["NatGateways"]))
        self.assertEqual(("IdempotentParameterMismatch", 400),
                         error_of(self.ec2.create_nat_gateway, SubnetId=subnet, AllocationId=other,
                                  ClientToken="wpo-nat-a"))
        # a failed call keeps nothing: the same token works once the cause is fixed
        self.assertEqual(("InvalidAllocationID.NotFound", 400),
                         error_of(self.ec2.create_nat_gateway, SubnetId=subnet, AllocationId="eipalloc-12345678",
                                  ClientToken="wpo-nat-b"))
        self.ec2.create_nat_gateway(SubnetId=subnet, AllocationId=other, ClientToken="wpo-nat-b")
        self.assertEqual(2, len(self.ec2.describe_nat_gateways()["NatGateways"]))

    def test_availability_zones_follow_the_region(self):
        zones = self.ec2.describe_availability_zones()["AvailabilityZones"]
        self.assertEqual([("us-west-2a", "usw2-az1"), ("us-west-2b", "usw2-az2"), ("us-west-2c", "usw2-az3")],
                         [(z["ZoneName"], z["ZoneId"]) for z in zones])
        east = self.fake.client("ec2", region="us-east-1").describe_availability_zones(ZoneNames=["us-east-1f"])
        self.assertEqual(["use1-az6"], [z["ZoneId"] for z in east["AvailabilityZones"]])
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.ec2.describe_availability_zones, ZoneNames=["us-west-2z"]))


if __name__ == "__main__":
    unittest.main()
