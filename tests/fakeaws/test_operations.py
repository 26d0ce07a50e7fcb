"""CloudWatch Logs, CloudWatch alarms, SNS topics and subscriptions, Secrets
Manager and SSM parameters in fakeaws, driven by botocore; and the Route 53
additions for hosted zones (tags, finding zones by name, VPC associations)."""
import json
import unittest

from fakeaws.testing import Fake
from test_auth import error_of


class LogsTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1, page_size=2)
        self.logs = self.fake.client("logs", region="eu-west-1")

    def tearDown(self):
        self.fake.stop()

    def test_names_keys_and_retention(self):
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.logs.create_log_group, logGroupName="bad name"))
        self.logs.create_log_group(logGroupName="/wpo/a")
        self.assertEqual(("ResourceAlreadyExistsException", 400),
                         error_of(self.logs.create_log_group, logGroupName="/wpo/a"))
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.logs.create_log_group, logGroupName="/wpo/b", kmsKeyId="alias/mine"))
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.logs.put_retention_policy, logGroupName="/wpo/a", retentionInDays=42))
        self.assertEqual(("ResourceNotFoundException", 400),
                         error_of(self.logs.put_retention_policy, logGroupName="/wpo/zz", retentionInDays=7))
        self.assertEqual(("ResourceNotFoundException", 400),
                         error_of(self.logs.delete_log_group, logGroupName="/wpo/zz"))

    def test_describe_pages_by_prefix(self):
        for name in ("/wpo/a", "/wpo/b", "/wpo/c", "/other"):
            self.logs.create_log_group(logGroupName=name)
        first = self.logs.describe_log_groups(logGroupNamePrefix="/wpo/")
        self.assertEqual(["/wpo/a", "/wpo/b"], [g["logGroupName"] for g in first["logGroups"]])
        rest = self.logs.describe_log_groups(logGroupNamePrefix="/wpo/", nextToken=first["nextToken"])
        self.assertEqual(["/wpo/c"], [g["logGroupName"] for g in rest["logGroups"]])
        self.assertNotIn("nextToken", rest)

    def test_tags_take_the_arn_without_its_star(self):
        self.logs.create_log_group(logGroupName="/wpo/a", tags={"k": "v"})
        arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/wpo/a"
        self.assertEqual({"k": "v"}, self.logs.list_tags_for_resource(resourceArn=arn)["tags"])
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.logs.list_tags_for_resource, resourceArn=arn + ":*"))
        self.assertEqual(("ResourceNotFoundException", 400),
                         error_of(self.logs.list_tags_for_resource, resourceArn=arn + "x"))


class AlarmTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.cw = self.fake.client("cloudwatch")

    def tearDown(self):
        self.fake.stop()

    def alarm(self, name="a", **over):
        args = dict(AlarmName=name, Namespace="AWS/RDS", MetricName="CPUUtilization", Statistic="Average",
                    Period=60, EvaluationPeriods=2, Threshold=80.0, ComparisonOperator="GreaterThanThreshold",
                    Tags=[{"Key": "wpo:stack", "Value": "prod"}])
        args.update(over)
        return self.cw.put_metric_alarm(**{k: v for k, v in args.items() if v is not None})

    def test_checks(self):
        self.assertEqual(("ValidationError", 400), error_of(self.alarm, Period=45))
        self.assertEqual(("ValidationError", 400), error_of(self.alarm, Statistic=None))
        self.assertEqual(("ValidationError", 400), error_of(self.alarm, DatapointsToAlarm=3))
        self.assertEqual(("ValidationError", 400), error_of(self.alarm, Threshold=None))
        self.assertEqual(("ValidationError", 400), error_of(self.alarm, AlarmActions=["not-an-arn"]))

    def test_put_replaces_the_alarm_but_keeps_state_and_tags(self):
        self.alarm(AlarmDescription="first", Tags=[{"Key": "a", "Value": "1"}])
        self.alarm(Threshold=90.0, Tags=[{"Key": "b", "Value": "2"}])
        got = self.cw.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]
        self.assertEqual((90.0, "INSUFFICIENT_DATA"), (got["Threshold"], got["StateValue"]))
        self.assertNotIn("AlarmDescription", got)
        tags = self.cw.list_tags_for_resource(ResourceARN=got["AlarmArn"])["Tags"]
        self.assertEqual([{"Key": "a", "Value": "1"}], tags)

    def test_delete_is_all_or_nothing(self):
        self.alarm("a")
        self.assertEqual(("ResourceNotFound", 404), error_of(self.cw.delete_alarms, AlarmNames=["a", "b"]))
        self.assertEqual(["a"], [a["AlarmName"] for a in self.cw.describe_alarms()["MetricAlarms"]])
        self.cw.delete_alarms(AlarmNames=["a"])
        self.assertEqual([], self.cw.describe_alarms(AlarmNamePrefix="a")["MetricAlarms"])


class TopicTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.sns = self.fake.client("sns")

    def tearDown(self):
        self.fake.stop()

    def test_create_is_idempotent_by_name_and_refuses_other_tags(self):
        tags = [{"Key": "wpo:address", "Value": "a"}]
        arn = self.sns.create_topic(Name="alarms", Tags=tags)["TopicArn"]
        self.assertEqual(arn, self.sns.create_topic(Name="alarms", Tags=tags)["TopicArn"])
        self.assertEqual(("InvalidParameter", 400), error_of(
            self.sns.create_topic, Name="alarms", Tags=[{"Key": "wpo:address", "Value": "b"}]))
        self.assertEqual(("InvalidParameter", 400), error_of(self.sns.create_topic, Name="bad name"))
        self.assertEqual(1, len(self.fake.state()["sns"]["topic"]))

    def test_subscriptions(self):
        arn = self.sns.create_topic(Name="alarms")["TopicArn"]
        self.assertEqual("pending confirmation", self.sns.subscribe(
            TopicArn=arn, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"])
        sub = self.sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com",
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        self.assertEqual(1, len(self.fake.state()["sns"]["subscription"]))
        self.assertEqual(("InvalidParameter", 400), error_of(self.sns.unsubscribe, SubscriptionArn=sub))
        self.assertEqual(("InvalidParameter", 400), error_of(
            self.sns.subscribe, TopicArn=arn, Protocol="email", Endpoint="not-an-address"))
        self.assertEqual("1", self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SubscriptionsPending"])
        self.sns.delete_topic(TopicArn=arn)
        self.sns.delete_topic(TopicArn=arn)                      # idempotent
        self.assertEqual(("NotFound", 404), error_of(self.sns.get_subscription_attributes, SubscriptionArn=sub))
        self.assertEqual(("NotFound", 404), error_of(self.sns.get_topic_attributes, TopicArn=arn))


class SecretTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.sm = self.fake.client("secretsmanager")

    def tearDown(self):
        self.fake.stop()

    def test_versions_and_tokens(self):
        arn = self.sm.create_secret(Name="db", SecretString="one")["ARN"]
        token = "a" * 32
        self.sm.put_secret_value(SecretId=arn, SecretString="two", ClientRequestToken=token)
        self.sm.put_secret_value(SecretId=arn, SecretString="two", ClientRequestToken=token)
        self.assertEqual(("ResourceExistsException", 400), error_of(
            self.sm.put_secret_value, SecretId=arn, SecretString="three", ClientRequestToken=token))
        self.assertEqual("two", self.sm.get_secret_value(SecretId="db")["SecretString"])
        self.assertEqual("one", self.sm.get_secret_value(SecretId="db", VersionStage="AWSPREVIOUS")["SecretString"])
        self.assertEqual(2, len(self.sm.describe_secret(SecretId="db")["VersionIdsToStages"]))
        # the ARN without its random suffix names the secret too
        self.assertEqual(arn, self.sm.describe_secret(SecretId=arn[:-7])["ARN"])

    def test_scheduled_deletion_blocks_the_name_until_restored_or_forced(self):
        self.sm.create_secret(Name="db", SecretString="one")
        self.assertEqual(("ResourceExistsException", 400), error_of(self.sm.create_secret, Name="db"))
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.sm.delete_secret, SecretId="db", RecoveryWindowInDays=3))
        self.sm.delete_secret(SecretId="db")
        self.assertEqual(("InvalidRequestException", 400), error_of(self.sm.get_secret_value, SecretId="db"))
        self.assertEqual(("InvalidRequestException", 400), error_of(self.sm.create_secret, Name="db"))
        self.sm.restore_secret(SecretId="db")
        self.assertEqual("one", self.sm.get_secret_value(SecretId="db")["SecretString"])
        self.sm.delete_secret(SecretId="db", ForceDeleteWithoutRecovery=True)
        self.assertEqual(("ResourceNotFoundException", 400), error_of(self.sm.describe_secret, SecretId="db"))
        self.sm.create_secret(Name="db", SecretString="again")

    def test_values_stay_out_of_the_state_dump(self):
        self.sm.create_secret(Name="db", SecretString="do-not-show-me")
        self.assertNotIn("do-not-show-me", json.dumps(self.fake.state()))


class ParameterTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.ssm = self.fake.client("ssm")

    def tearDown(self):
        self.fake.stop()

    def test_create_overwrite_and_names(self):
        self.assertEqual(("ValidationException", 400), error_of(self.ssm.put_parameter, Name="/a", Value="v"))
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ssm.put_parameter, Name="/aws/x", Value="v", Type="String"))
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ssm.put_parameter, Name="a/b", Value="v", Type="String"))
        self.ssm.put_parameter(Name="/a", Value="v", Type="String")
        self.assertEqual(("ParameterAlreadyExists", 400),
                         error_of(self.ssm.put_parameter, Name="/a", Value="w", Type="String"))
        self.assertEqual(("ValidationException", 400), error_of(
            self.ssm.put_parameter, Name="/a", Value="w", Overwrite=True, Tags=[{"Key": "k", "Value": "v"}]))
        self.assertEqual(("ParameterNotFound", 400), error_of(self.ssm.get_parameter, Name="/zz"))
        self.assertEqual(("ParameterNotFound", 400), error_of(self.ssm.delete_parameter, Name="/zz"))

    def test_secure_strings_decrypt_on_request(self):
        self.ssm.put_parameter(Name="/db/password", Value="s3cret", Type="SecureString")
        hidden = self.ssm.get_parameter(Name="/db/password")["Parameter"]["Value"]
        self.assertNotEqual("s3cret", hidden)
        self.assertEqual("s3cret", self.ssm.get_parameter(Name="/db/password", WithDecryption=True)
                         ["Parameter"]["Value"])
        meta = self.ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/db/password"]}])
        self.assertEqual("alias/aws/ssm", meta["Parameters"][0]["KeyId"])
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ssm.put_parameter, Name="/plain", Value="v", Type="String", KeyId="k"))
        self.assertNotIn("s3cret", json.dumps(self.fake.state()))

    def test_tags_need_an_existing_parameter(self):
        self.assertEqual(("InvalidResourceId", 400), error_of(
            self.ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId="/zz"))


class HostedZoneTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.r53 = self.fake.client("route53")
        ec2 = self.fake.client("ec2")
        self.vpcs = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(2)]

    def tearDown(self):
        self.fake.stop()

    def zone(self, name, ref, vpc=None):
        args = {"Name": name, "CallerReference": ref}
        if vpc:
            args["VPC"] = {"VPCRegion": "us-east-1", "VPCId": vpc}
        return self.r53.create_hosted_zone(**args)["HostedZone"]["Id"].rsplit("/", 1)[-1]

    def test_list_by_name_orders_and_pages(self):
        ids = {n: self.zone(n, n) for n in ("b.example.com", "a.example.com", "example.org")}
        got = self.r53.list_hosted_zones_by_name(MaxItems="2")
        self.assertEqual(["a.example.com.", "b.example.com."], [z["Name"] for z in got["HostedZones"]])
        self.assertTrue(got["IsTruncated"])
        nxt = self.r53.list_hosted_zones_by_name(DNSName=got["NextDNSName"], HostedZoneId=got["NextHostedZoneId"])
        self.assertEqual(["/hostedzone/" + ids["example.org"]], [z["Id"] for z in nxt["HostedZones"]])

    def test_private_zone_vpcs(self):
        public_zone = self.zone("example.com", "p")
        self.assertEqual(("PublicZoneVPCAssociation", 400), error_of(
            self.r53.associate_vpc_with_hosted_zone, HostedZoneId=public_zone,
            VPC={"VPCRegion": "us-east-1", "VPCId": self.vpcs[0]}))
        private = self.zone("wp.internal", "q", self.vpcs[0])
        vpc = {"VPCRegion": "us-east-1", "VPCId": self.vpcs[0]}
        self.assertEqual(("LastVPCAssociation", 400),
                         error_of(self.r53.disassociate_vpc_from_hosted_zone, HostedZoneId=private, VPC=vpc))
        self.assertEqual(("ConflictingDomainExists", 400),
                         error_of(self.r53.associate_vpc_with_hosted_zone, HostedZoneId=private, VPC=vpc))
        self.assertEqual(("InvalidVPCId", 400), error_of(
            self.r53.associate_vpc_with_hosted_zone, HostedZoneId=private,
            VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-0000000000000000f"}))
        self.assertEqual(("VPCAssociationNotFound", 404), error_of(
            self.r53.disassociate_vpc_from_hosted_zone, HostedZoneId=private,
            VPC={"VPCRegion": "us-east-1", "VPCId": self.vpcs[1]}))

    def test_tags_of_a_missing_zone(self):
        self.assertEqual(("NoSuchHostedZone", 404), error_of(
            self.r53.list_tags_for_resource, ResourceType="hostedzone", ResourceId="ZNOTHERE"))


if __name__ == "__main__":
    unittest.main()
