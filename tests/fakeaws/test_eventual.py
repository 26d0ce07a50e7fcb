"""Eventual consistency (eventual.py): each behaviour answers AWS's own code and
message while its delay runs and stops once it has run; delays are seeded and
per object; off, nothing changes. The clock is the test's, never a sleep."""
import base64
import unittest

from fakeaws.eventual import Eventual
from fakeaws.testing import Fake
from test_auth import error_of

AMI = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
TRUST_EC2 = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},' \
            '"Action":"sts:AssumeRole"}]}'


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class EventualTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        self.clock = Clock()
        self.fake.server.eventual.clock = self.clock
        self.eventual(seconds=5, fixed=True)
        c = self.fake.client
        self.ec2, self.asg, self.ecs, self.iam = c("ec2"), c("autoscaling"), c("ecs"), c("iam")

    def tearDown(self):
        self.fake.stop()

    def eventual(self, **cfg):
        return self.fake.control("POST", "/_fake/eventual", cfg)

    def log(self):
        return self.fake.control("GET", "/_fake/eventual")["log"]

    def settled(self):
        self.clock.advance(5.01)

    # -- S3 --------------------------------------------------------------------------------

    def test_a_new_bucket_answers_no_such_bucket_until_its_delay_has_run(self):
        s3 = self.fake.client("s3")
        s3.create_bucket(Bucket="fresh")
        self.assertEqual("NoSuchBucket", error_of(s3.get_bucket_tagging, Bucket="fresh")[0])
        self.assertEqual("NoSuchBucket", error_of(s3.put_bucket_versioning, Bucket="fresh",
                                                  VersioningConfiguration={"Status": "Enabled"})[0])
        self.assertEqual(["s3-bucket"], [e["behaviour"] for e in self.log()][:1])
        self.settled()
        s3.put_bucket_versioning(Bucket="fresh", VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual("Enabled", s3.get_bucket_versioning(Bucket="fresh")["Status"])

    # -- EC2 -------------------------------------------------------------------------------

    def test_a_new_vpc_is_not_found_by_id_and_left_out_of_lists_until_its_delay_has_run(self):
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.assertEqual(("InvalidVpcID.NotFound", 400), error_of(self.ec2.describe_vpcs, VpcIds=[vpc]))
        self.assertEqual([], self.ec2.describe_vpcs()["Vpcs"])
        # calls that take its id fail the same way; filters just match nothing
        self.assertEqual(("InvalidVpcID.NotFound", 400),
                         error_of(self.ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.1.0/24"))
        self.assertEqual(("InvalidVpcID.NotFound", 400),
                         error_of(self.ec2.create_tags, Resources=[vpc], Tags=[{"Key": "a", "Value": "b"}]))
        self.assertEqual([], self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"])
        msg = None
        try:
            self.ec2.describe_vpcs(VpcIds=[vpc])
        except Exception as e:  # noqa: BLE001 - the message is what is checked
            msg = str(e)
        self.assertIn(f"The vpc ID '{vpc}' does not exist", msg)
        self.clock.advance(4.9)
        self.assertEqual(("InvalidVpcID.NotFound", 400), error_of(self.ec2.describe_vpcs, VpcIds=[vpc]))
        self.clock.advance(0.2)
        self.assertEqual([vpc], [v["VpcId"] for v in self.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]])
        self.assertEqual([vpc], [v["VpcId"] for v in self.ec2.describe_vpcs()["Vpcs"]])
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.assertEqual(("InvalidSubnetID.NotFound", 400), error_of(self.ec2.describe_subnets, SubnetIds=[subnet]))
        log = self.log()
        self.assertTrue(all(e["behaviour"] == "ec2-visibility" for e in log))
        self.assertEqual({"ec2.DescribeVpcs", "ec2.CreateSubnet", "ec2.CreateTags", "ec2.DescribeSubnets"},
                         {e["operation"] for e in log})
        self.assertEqual(5.0, log[0]["remaining"])
        self.assertTrue(all(e["request_id"] for e in log))

    def test_every_kind_of_ec2_object_answers_its_own_not_found_code(self):
        self.eventual()
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.eventual(seconds=5, fixed=True)
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = self.ec2.create_security_group(VpcId=vpc, GroupName="g", Description="g")["GroupId"]
        rtb = self.ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        eip = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        lt = self.ec2.create_launch_template(LaunchTemplateName="tpl", LaunchTemplateData={"ImageId": AMI})[
            "LaunchTemplate"]["LaunchTemplateId"]
        cases = [
            (self.ec2.describe_subnets, {"SubnetIds": [subnet]}, "InvalidSubnetID.NotFound"),
            (self.ec2.describe_security_groups, {"GroupIds": [sg]}, "InvalidGroup.NotFound"),
            (self.ec2.authorize_security_group_ingress,
             {"GroupId": sg, "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                                                "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}, "InvalidGroup.NotFound"),
            (self.ec2.describe_route_tables, {"RouteTableIds": [rtb]}, "InvalidRouteTableID.NotFound"),
            (self.ec2.associate_route_table, {"RouteTableId": rtb, "SubnetId": subnet}, "InvalidRouteTableID.NotFound"),
            (self.ec2.describe_internet_gateways, {"InternetGatewayIds": [igw]}, "InvalidInternetGatewayID.NotFound"),
            (self.ec2.attach_internet_gateway, {"InternetGatewayId": igw, "VpcId": vpc},
             "InvalidInternetGatewayID.NotFound"),
            (self.ec2.describe_addresses, {"AllocationIds": [eip]}, "InvalidAllocationID.NotFound"),
            (self.ec2.describe_launch_templates, {"LaunchTemplateIds": [lt]}, "InvalidLaunchTemplateId.NotFound"),
        ]
        for call, params, code in cases:
            with self.subTest(code=code, call=call.__name__):
                self.assertEqual((code, 400), error_of(call, **params))
        self.settled()
        for call, params, _ in cases:
            with self.subTest(call=call.__name__):
                call(**params)

    def test_nat_gateway_and_route_naming_it(self):
        self.eventual()
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        rtb = self.ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        eip = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.eventual(seconds=5, fixed=True)
        nat = self.ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"]
        self.assertEqual(("NatGatewayNotFound", 400), error_of(self.ec2.describe_nat_gateways, NatGatewayIds=[nat]))
        self.assertEqual(("NatGatewayNotFound", 400), error_of(self.ec2.create_route, RouteTableId=rtb,
                                                               DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat))
        self.settled()
        self.ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)

    # -- IAM -------------------------------------------------------------------------------

    def launch_template_with_profile(self, profile, name="wp-ecs", by_arn=False):
        ref = {"Arn": profile["Arn"]} if by_arn else {"Name": profile["InstanceProfileName"]}
        return self.ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": AMI, "IamInstanceProfile": ref})["LaunchTemplate"]["LaunchTemplateId"]

    def network(self):
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        return self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                                      AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]

    def test_a_new_instance_profile_is_invalid_for_auto_scaling_until_propagated(self):
        self.eventual()
        subnet = self.network()
        self.eventual(seconds=5, fixed=True)
        self.iam.create_role(RoleName="ecs-instance", AssumeRolePolicyDocument=TRUST_EC2)
        self.clock.advance(3)
        profile = self.iam.create_instance_profile(InstanceProfileName="wordpress-ecs")["InstanceProfile"]
        self.iam.add_role_to_instance_profile(InstanceProfileName="wordpress-ecs", RoleName="ecs-instance")
        lt = self.launch_template_with_profile(profile)
        self.clock.advance(5.01)   # the template is visible; the profile's role was added 5.01 s ago... and
        self.iam.attach_role_policy(RoleName="ecs-instance", PolicyArn="arn:aws:iam::aws:policy/service-role/"
                                                                       "AmazonEC2ContainerServiceforEC2Role")
        create = dict(AutoScalingGroupName="wp", MinSize=0, MaxSize=1, DesiredCapacity=0,
                      LaunchTemplate={"LaunchTemplateId": lt}, VPCZoneIdentifier=subnet)
        try:
            self.asg.create_auto_scaling_group(**create)
            self.fail("the group was created while its instance profile's role had a new policy attachment")
        except self.asg.exceptions.ClientError as e:
            self.assertEqual("ValidationError", e.response["Error"]["Code"])
            self.assertEqual("You must use a valid fully-formed launch template. Value (wordpress-ecs) for parameter "
                             "iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
                             e.response["Error"]["Message"])
        self.settled()
        self.asg.create_auto_scaling_group(**create)
        self.assertEqual({"iam-propagation"}, {e["behaviour"] for e in self.log()})
        self.assertEqual(["instance-profile/wordpress-ecs"], [e["subject"] for e in self.log()])

    def test_a_profile_named_by_arn_answers_the_arn_form(self):
        self.eventual()
        subnet = self.network()
        self.eventual(seconds=5, fixed=True)
        profile = self.iam.create_instance_profile(InstanceProfileName="p")["InstanceProfile"]
        lt = self.launch_template_with_profile(profile, by_arn=True)
        self.settled()
        # a role put in the profile later makes the profile new again
        self.iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST_EC2)
        self.iam.add_role_to_instance_profile(InstanceProfileName="p", RoleName="r")
        try:
            self.asg.create_auto_scaling_group(AutoScalingGroupName="wp", MinSize=0, MaxSize=1,
                                               LaunchTemplate={"LaunchTemplateId": lt}, VPCZoneIdentifier=subnet)
            self.fail("the group was created while its instance profile's role was new")
        except self.asg.exceptions.ClientError as e:
            self.assertEqual("You must use a valid fully-formed launch template. Value (" + profile["Arn"] + ") for "
                             "parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN",
                             e.response["Error"]["Message"])

    def test_ecs_service_linked_role_of_the_first_cluster(self):
        self.ecs.create_cluster(clusterName="wp")
        self.assertEqual(("ClientException", 400), error_of(
            self.ecs.create_capacity_provider, name="wp", autoScalingGroupProvider={
                "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x:"
                                       "autoScalingGroupName/none"}))
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecs.create_service, cluster="wp", serviceName="s", taskDefinition="none"))
        self.assertEqual(["service-linked-role/ecs.amazonaws.com"] * 2, [e["subject"] for e in self.log()])
        self.settled()
        # past the delay the handler answers for itself (here: no such task definition)
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecs.create_service, cluster="wp", serviceName="s", taskDefinition="none"))
        self.assertEqual(2, len(self.log()))
        self.ecs.create_cluster(clusterName="other")   # the role exists now: no new delay
        self.assertEqual(1, sum(1 for d in self.fake.control("GET", "/_fake/eventual")["delays"]
                                if d["subject"] == "service-linked-role/ecs.amazonaws.com"))

    def test_application_auto_scaling_and_rds_refuse_a_new_role(self):
        aas, rds = self.fake.client("application-autoscaling"), self.fake.client("rds")
        role = self.iam.create_role(RoleName="scaler", AssumeRolePolicyDocument=TRUST_EC2)["Role"]["Arn"]
        self.assertEqual(("ValidationException", 400), error_of(
            aas.register_scalable_target, ServiceNamespace="ecs", ResourceId="service/wp/s",
            ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=2, RoleARN=role))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            rds.create_db_instance, DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro", Engine="mysql",
            MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=20, MonitoringInterval=60,
            MonitoringRoleArn=role))
        self.assertEqual(["role/scaler", "role/scaler"], [e["subject"] for e in self.log()])

    # -- ordering AWS resolves late ---------------------------------------------------------

    def test_a_target_group_s_new_listener_is_late_for_ecs(self):
        self.eventual()
        elb = self.fake.client("elbv2")
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"]["SubnetId"] for i, z in enumerate("ab")]
        lb = elb.create_load_balancer(Name="wp", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(Name="wp", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
            "TargetGroups"][0]["TargetGroupArn"]
        self.ecs.create_cluster(clusterName="wp")
        td = self.ecs.register_task_definition(family="wp", networkMode="awsvpc", containerDefinitions=[
            {"name": "web", "image": "wordpress", "memory": 256, "portMappings": [{"containerPort": 80}]}])[
            "taskDefinition"]["taskDefinitionArn"]
        self.eventual(seconds=5, fixed=True)
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        service = dict(cluster="wp", serviceName="web", taskDefinition=td, desiredCount=0,
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 80}],
                       networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}})
        try:
            self.ecs.create_service(**service)
            self.fail("the service was created before its target group's association was seen")
        except self.ecs.exceptions.ClientError as e:
            self.assertEqual("InvalidParameterException", e.response["Error"]["Code"])
            self.assertEqual(f"The target group with targetGroupArn {tg} does not have an associated load "
                             "balancer.", e.response["Error"]["Message"])
        self.settled()
        self.ecs.create_service(**service)

    def test_a_new_launch_template_version_is_late_for_auto_scaling(self):
        self.eventual()
        subnet = self.network()
        lt = self.ec2.create_launch_template(LaunchTemplateName="wp-ecs", LaunchTemplateData={"ImageId": AMI})[
            "LaunchTemplate"]["LaunchTemplateId"]
        self.asg.create_auto_scaling_group(AutoScalingGroupName="wp", MinSize=0, MaxSize=1, DesiredCapacity=0,
                                           LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"},
                                           VPCZoneIdentifier=subnet)
        self.eventual(seconds=5, fixed=True)
        v2 = self.ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={
            "InstanceType": "t3.large"})["LaunchTemplateVersion"]["VersionNumber"]
        self.assertEqual(2, v2)
        update = dict(AutoScalingGroupName="wp", LaunchTemplate={"LaunchTemplateId": lt, "Version": "2"})
        try:
            self.asg.update_auto_scaling_group(**update)
            self.fail("the group took a launch template version Auto Scaling could not see yet")
        except self.asg.exceptions.ClientError as e:
            self.assertEqual("ValidationError", e.response["Error"]["Code"])
            self.assertEqual(f"You must use a valid fully-formed launch template. Could not find launch template "
                             f"version 2 for the launch template {lt}.", e.response["Error"]["Message"])
        self.assertEqual(("ValidationError", 400), error_of(
            self.asg.update_auto_scaling_group, AutoScalingGroupName="wp",
            LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"}))
        self.settled()
        self.asg.update_auto_scaling_group(**update)

    def test_route53_changes_stay_pending_until_their_delay_has_run(self):
        r53 = self.fake.client("route53")
        zone = r53.create_hosted_zone(Name="example.com", CallerReference="z")
        self.assertEqual("PENDING", zone["ChangeInfo"]["Status"])
        change = r53.change_resource_record_sets(HostedZoneId=zone["HostedZone"]["Id"], ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {"Name": "www.example.com", "Type": "A", "TTL": 60,
                                                       "ResourceRecords": [{"Value": "10.0.0.1"}]}}]})["ChangeInfo"]
        self.assertEqual("PENDING", change["Status"])
        for _ in range(3):
            self.assertEqual("PENDING", r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"])
        self.settled()
        self.assertEqual("INSYNC", r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"])
        changes = self.fake.control("GET", "/_fake/eventual")["changes"]
        self.assertTrue(changes[change["Id"].rsplit("/", 1)[-1]]["seen_insync"])
        self.assertFalse(changes[zone["ChangeInfo"]["Id"].rsplit("/", 1)[-1]]["seen_insync"])

    def test_a_cloudfront_distribution_stays_in_progress_and_undeletable_until_its_delay_has_run(self):
        cf = self.fake.client("cloudfront")
        config = {"CallerReference": "d", "Comment": "", "Enabled": False,
                  "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "origin.example.com",
                                                        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                                                               "OriginProtocolPolicy": "https-only"}}]},
                  "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "https-only",
                                           "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"}}
        out = cf.create_distribution_with_tags(DistributionConfigWithTags={"DistributionConfig": config,
                                                                           "Tags": {"Items": []}})
        dist_id = out["Distribution"]["Id"]
        for _ in range(3):
            self.assertEqual("InProgress", cf.get_distribution(Id=dist_id)["Distribution"]["Status"])
        self.assertEqual(["InProgress"], [d["Status"] for d in cf.list_distributions()["DistributionList"]["Items"]])
        self.assertEqual(("DistributionNotDisabled", 409), error_of(cf.delete_distribution, Id=dist_id,
                                                                    IfMatch=out["ETag"]))
        self.settled()
        self.assertEqual("Deployed", cf.get_distribution(Id=dist_id)["Distribution"]["Status"])
        cf.delete_distribution(Id=dist_id, IfMatch=out["ETag"])

    def test_a_new_certificate_shows_its_validation_records_once_its_delay_has_run(self):
        acm = self.fake.client("acm")
        arn = acm.request_certificate(DomainName="example.com", ValidationMethod="DNS")["CertificateArn"]
        for _ in range(3):
            options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
            self.assertNotIn("ResourceRecord", options[0])
        self.assertEqual("no ResourceRecord", self.log()[-1]["answer"])
        self.settled()
        options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
        self.assertEqual("CNAME", options[0]["ResourceRecord"]["Type"])

    # -- deletion windows -----------------------------------------------------------------

    def test_a_force_deleted_secret_keeps_its_name_while_the_deletion_runs(self):
        sm = self.fake.client("secretsmanager")
        sm.create_secret(Name="wp/db", SecretString="one")
        sm.delete_secret(SecretId="wp/db", ForceDeleteWithoutRecovery=True)
        self.assertEqual(("ResourceNotFoundException", 400), error_of(sm.describe_secret, SecretId="wp/db"))
        try:
            sm.create_secret(Name="wp/db", SecretString="two")
            self.fail("the name was free while its forced deletion ran")
        except sm.exceptions.ClientError as e:
            self.assertEqual("InvalidRequestException", e.response["Error"]["Code"])
            self.assertEqual("You can't create this secret because a secret with this name is already scheduled "
                             "for deletion.", e.response["Error"]["Message"])
        self.settled()
        sm.create_secret(Name="wp/db", SecretString="two")
        # a recovery window is not a delay of this model: the name stays taken, RestoreSecret brings it back
        sm.delete_secret(SecretId="wp/db", RecoveryWindowInDays=7)
        self.settled()
        self.assertEqual(("InvalidRequestException", 400), error_of(sm.create_secret, Name="wp/db", SecretString="x"))
        sm.restore_secret(SecretId="wp/db")
        self.assertEqual("two", sm.get_secret_value(SecretId="wp/db")["SecretString"])

    # -- the model itself -----------------------------------------------------------------

    def test_off_nothing_is_late(self):
        self.eventual()
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.ec2.describe_vpcs(VpcIds=[vpc])
        got = self.fake.control("GET", "/_fake/eventual")
        self.assertEqual({"seconds": 0.0, "seed": None, "fixed": False, "delays": [], "log": [], "changes": {}},
                         {k: v for k, v in got.items() if k != "behaviours"})

    def test_only_the_behaviours_listed_are_late(self):
        self.eventual(seconds=5, fixed=True, behaviours=["iam-propagation"])
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.ec2.describe_vpcs(VpcIds=[vpc])
        self.iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST_EC2)
        self.assertEqual(["role/r"], [d["subject"] for d in self.fake.control("GET", "/_fake/eventual")["delays"]])

    def test_delays_are_per_object_seeded_and_at_most_the_setting(self):
        def draw(seed):
            e = Eventual(3, seed, clock=lambda: 0.0)
            return [round(e._draw("ec2-visibility", str(i)), 6) for i in range(50)]
        one = draw(7)
        self.assertEqual(one, draw(7))
        self.assertNotEqual(one, draw(8))
        self.assertTrue(all(0 <= d <= 3 for d in one))
        self.assertGreater(len(set(one)), 40)

    def test_reset_forgets_the_delays_and_keeps_the_setting(self):
        self.ec2.create_vpc(CidrBlock="10.0.0.0/16")
        self.fake.control("POST", "/_fake/reset")
        got = self.fake.control("GET", "/_fake/eventual")
        self.assertEqual((5.0, True, [], []), (got["seconds"], got["fixed"], got["delays"], got["log"]))

    def test_bad_settings_are_refused(self):
        for cfg, why in (({"seconds": -1}, "from 0 to 3600"), ({"secs": 1}, "unknown eventual setting secs"),
                         ({"seconds": 1, "fixed": "yes"}, "true or false"),
                         ({"seconds": 1, "behaviours": ["iam"]}, "behaviours must be a list of")):
            with self.subTest(cfg=cfg):
                with self.assertRaisesRegex(AssertionError, why):
                    self.eventual(**cfg)


if __name__ == "__main__":
    unittest.main()
