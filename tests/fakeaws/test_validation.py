"""Every request is held to its operation's input shape: unknown members,
missing required members, wrong enums, wrong types, lengths and ranges,
unknown operations — each answered in the protocol's own error format with
the service's own code. botocore checks parameters itself, so these requests
are sent with its validation off, or by hand when botocore cannot express them."""
import json
import unittest

from botocore.exceptions import ClientError

from fakeaws.testing import Fake
from test_auth import code_of, error_of


def error(call, *args, **kwargs):
    """-> (code, status, message)"""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                e.response["Error"].get("Message", ""))
    raise AssertionError("the call did not fail")


EC2 = {"Version": "2016-11-15"}
STS = {"Version": "2011-06-15"}


class ValidationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(settle=0)
        cls.ec2 = cls.fake.client("ec2", validate=False)
        cls.sts = cls.fake.client("sts", validate=False)
        cls.ddb = cls.fake.client("dynamodb", validate=False)
        cls.efs = cls.fake.client("efs", validate=False)
        cls.r53 = cls.fake.client("route53", validate=False)
        cls.s3 = cls.fake.client("s3", validate=False)
        cls.ecs = cls.fake.client("ecs", validate=False)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    # -- unknown members ---------------------------------------------------
    def test_unknown_member_ec2(self):
        status, _, body = self.fake.query("ec2", dict(EC2, Action="DescribeVpcs", Bogus="1"))
        self.assertEqual((400, "UnknownParameter"), (status, code_of(body)))
        self.assertIn(b"Bogus", body)
        self.assertIn(b"<Response><Errors><Error>", body)

    def test_unknown_nested_member_ec2(self):
        status, _, body = self.fake.query("ec2", dict(EC2, Action="DescribeVpcs", **{"Filter.1.Name": "vpc-id",
                                                                                        "Filter.1.Nope": "x"}))
        self.assertEqual((400, "UnknownParameter"), (status, code_of(body)))
        self.assertIn(b"Filter.1.Nope", body)

    def test_unknown_member_query(self):
        status, _, body = self.fake.query("sts", dict(STS, Action="GetCallerIdentity", Extra="1"))
        self.assertEqual((400, "ValidationError"), (status, code_of(body)))
        self.assertIn(b"<ErrorResponse", body)

    def test_unknown_member_json(self):
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.DescribeTable",
                                        {"TableName": "tbl", "Consistent": True})
        self.assertEqual((400, "ValidationException"), (status, doc["__type"].rsplit("#", 1)[-1]))
        self.assertIn("Consistent", doc["message"])

    def test_unknown_member_rest_json(self):
        status, headers, body = self.fake.raw("POST", "/2015-02-01/file-systems", "elasticfilesystem",
                                              headers={"Content-Type": "application/json"},
                                              body=json.dumps({"CreationToken": "t", "Speed": "max"}).encode())
        self.assertEqual((400, "BadRequest"), (status, headers["x-amzn-errortype"]))
        self.assertIn("Speed", json.loads(body)["message"])

    def test_unknown_element_rest_xml(self):
        body = (b'<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
                b'<Name>a.example</Name><CallerReference>r</CallerReference><Colour>red</Colour>'
                b'</CreateHostedZoneRequest>')
        status, _, out = self.fake.raw("POST", "/2013-04-01/hostedzone", "route53", body=body)
        self.assertEqual((400, "InvalidInput"), (status, code_of(out)))
        self.assertIn(b"Colour", out)
        self.assertIn(b"<ErrorResponse", out)

    def test_unknown_element_s3(self):
        self.s3.create_bucket(Bucket="validation-bucket")
        body = b'<VersioningConfiguration><Status>Enabled</Status><Colour>red</Colour></VersioningConfiguration>'
        status, _, out = self.fake.raw("PUT", "/validation-bucket?versioning", "s3", body=body, s3=True)
        self.assertEqual((400, "MalformedXML"), (status, code_of(out)))
        self.assertTrue(out.split(b"\n", 1)[1].startswith(b"<Error>"))

    def test_unknown_query_parameter_rest(self):
        status, headers, _ = self.fake.raw("GET", "/2015-02-01/file-systems?Colour=red", "elasticfilesystem")
        self.assertEqual((400, "BadRequest"), (status, headers["x-amzn-errortype"]))

    def test_hostile_xml_is_refused(self):
        body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
                b'<CreateHostedZoneRequest><Name>&a;</Name></CreateHostedZoneRequest>')
        status, _, out = self.fake.raw("POST", "/2013-04-01/hostedzone", "route53", body=body)
        self.assertEqual((400, "InvalidInput"), (status, code_of(out)))

    # -- missing required members -------------------------------------------
    def test_missing_required_member(self):
        self.assertEqual(("MissingParameter", 400), error(self.ec2.create_subnet, CidrBlock="10.0.0.0/24")[:2])
        self.assertEqual(("MissingParameter", 400), error(self.sts.assume_role, RoleArn="arn:aws:iam::1:role/x")[:2])
        code, status, message = error(self.ddb.get_item, TableName="tbl")
        self.assertEqual(("ValidationException", 400), (code, status))
        self.assertIn("Key", message)
        self.assertEqual(("InvalidInput", 400), error(self.r53.create_hosted_zone, Name="a.example")[:2])
        self.assertEqual(("ValidationException", 400), error(self.ecs.register_task_definition, family="f")[:2])

    def test_missing_required_member_rest_json(self):
        status, headers, _ = self.fake.raw("POST", "/2015-02-01/file-systems", "elasticfilesystem",
                                           headers={"Content-Type": "application/json"}, body=b"{}")
        self.assertEqual((400, "BadRequest"), (status, headers["x-amzn-errortype"]))

    def test_missing_nested_required_member(self):
        code, status, message = error(self.r53.change_resource_record_sets, HostedZoneId="Z1",
                                      ChangeBatch={"Changes": [{"Action": "CREATE"}]})
        self.assertEqual(("InvalidInput", 400), (code, status))
        self.assertIn("ResourceRecordSet", message)

    # -- enums, types, lengths, ranges -----------------------------------------
    def test_wrong_enum(self):
        self.assertEqual(("InvalidParameterValue", 400),
                         error(self.ec2.describe_vpc_attribute, VpcId="vpc-12345678", Attribute="colour")[:2])
        code, status, message = error(self.ddb.create_table, TableName="tbl", BillingMode="FREE",
                                      KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                      AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
        self.assertEqual(("ValidationException", 400), (code, status))
        self.assertIn("PAY_PER_REQUEST", message)
        self.assertEqual(("BadRequest", 400),
                         error(self.efs.create_file_system, CreationToken="t", PerformanceMode="fast")[:2])
        self.assertEqual(("InvalidInput", 400), error(self.r53.change_resource_record_sets, HostedZoneId="Z1",
                                                      ChangeBatch={"Changes": [{"Action": "MAYBE",
                                                                                "ResourceRecordSet": {
                                                                                    "Name": "a", "Type": "A"}}]})[:2])

    def test_wrong_type(self):
        status, _, body = self.fake.query("ec2", dict(EC2, Action="DescribeVpcs", MaxResults="many"))
        self.assertEqual((400, "InvalidParameterValue"), (status, code_of(body)))
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": 42})
        self.assertEqual((400, "ValidationException"), (status, doc["__type"].rsplit("#", 1)[-1]))
        status, _, body = self.fake.query("ec2", dict(EC2, Action="CreateVpc", CidrBlock="10.0.0.0/16",
                                                      AmazonProvidedIpv6CidrBlock="yes"))
        self.assertEqual((400, "InvalidParameterValue"), (status, code_of(body)))

    def test_lengths_and_ranges(self):
        self.assertEqual(("InvalidParameterValue", 400), error(self.ec2.describe_vpcs, MaxResults=2)[:2])
        self.assertEqual(("ValidationError", 400),
                         error(self.sts.assume_role, RoleArn="arn:aws:iam::123456789012:role/r",
                               RoleSessionName="s", DurationSeconds=60)[:2])
        self.assertEqual(("ValidationException", 400), error(self.ddb.describe_table, TableName="ab")[:2])

    def test_query_protocols_take_parameters_in_the_url_too(self):
        status, _, body = self.fake.raw("GET", "/?Action=DescribeAvailabilityZones&Version=2016-11-15&"
                                               "ZoneName.1=us-east-1b", "ec2")
        self.assertEqual(200, status, body)
        self.assertIn(b"<zoneName>us-east-1b</zoneName>", body)
        self.assertNotIn(b"us-east-1a", body)

    # -- operations ------------------------------------------------------------
    def test_unknown_operation(self):
        status, _, body = self.fake.query("ec2", dict(EC2, Action="LaunchRocket"))
        self.assertEqual((400, "InvalidAction"), (status, code_of(body)))
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.LaunchRocket", {})
        self.assertEqual((400, "UnknownOperationException"), (status, doc["__type"].rsplit("#", 1)[-1]))
        status, headers, _ = self.fake.raw("GET", "/2015-02-01/rockets", "elasticfilesystem")
        self.assertEqual((404, "UnknownOperationException"), (status, headers["x-amzn-errortype"]))

    def test_wrong_json_target_prefix(self):
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20111205.DescribeTable", {"TableName": "tbl"})
        self.assertEqual((400, "UnknownOperationException"), (status, doc["__type"].rsplit("#", 1)[-1]))

    def test_wrong_api_version(self):
        status, _, body = self.fake.query("ec2", {"Action": "DescribeVpcs", "Version": "2014-09-01"})
        self.assertEqual((400, "InvalidParameterValue"), (status, code_of(body)))
        status, _, body = self.fake.query("ec2", {"Action": "DescribeVpcs"})
        self.assertEqual((400, "MissingParameter"), (status, code_of(body)))

    def test_an_operation_without_a_handler_fails_clearly(self):
        code, status, message = error(self.ec2.describe_reserved_instances_offerings)
        self.assertEqual(("NotImplemented", 501), (code, status))
        self.assertIn("DescribeReservedInstancesOfferings", message)
        self.assertIn("services/ec2.py", message)

    def test_s3_method_not_allowed(self):
        status, _, body = self.fake.raw("PATCH", "/some-bucket", "s3", s3=True)
        self.assertEqual((405, "MethodNotAllowed"), (status, code_of(body)))

    def test_validation_failures_are_counted_against_their_operation(self):
        error_of(self.ec2.describe_vpcs, MaxResults=1)
        detail = self.fake.calls(detail=True)["ec2.DescribeVpcs"]
        self.assertGreaterEqual(detail["errors"]["InvalidParameterValue"], 1)


if __name__ == "__main__":
    unittest.main()
