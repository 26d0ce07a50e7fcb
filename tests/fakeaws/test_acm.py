"""ACM (services/acm.py) driven by botocore: DNS validation proven against
fakeaws's Route 53, records filled in late, idempotency tokens, tags, the
in-use refusal, CAA and the 72-hour limit."""
import unittest

from fakeaws.services import acm
from fakeaws.testing import Fake, error_code


class AcmTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.acm = self.fake.client("acm", region="eu-west-1")
        self.edge = self.fake.client("acm", region="us-east-1")
        self.r53 = self.fake.client("route53", region="us-east-1")
        self.zone = self.r53.create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"]

    def tearDown(self):
        self.fake.stop()

    def request(self, client=None, **kwargs):
        args = {"DomainName": "example.com", "ValidationMethod": "DNS",
                "SubjectAlternativeNames": ["*.example.com", "example.com"]}
        args.update(kwargs)
        if not args["SubjectAlternativeNames"]:
            del args["SubjectAlternativeNames"]
        return (client or self.acm).request_certificate(**args)["CertificateArn"]

    def describe(self, arn, client=None):
        return (client or self.acm).describe_certificate(CertificateArn=arn)["Certificate"]

    def upsert(self, record, value=None, zone=None):
        self.r53.change_resource_record_sets(HostedZoneId=zone or self.zone, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": record["Name"], "Type": record["Type"], "TTL": 60,
                                                      "ResourceRecords": [{"Value": value or record["Value"]}]}}]})

    def test_records_come_late_and_the_certificate_is_issued_only_once_route53_holds_them(self):
        arn = self.request()
        self.assertRegex(arn, r"^arn:aws:acm:eu-west-1:\d{12}:certificate/[0-9a-f-]{36}$")
        first = self.describe(arn)
        self.assertEqual("PENDING_VALIDATION", first["Status"])
        self.assertEqual(["example.com", "*.example.com"], first["SubjectAlternativeNames"])
        self.assertTrue(all("ResourceRecord" not in o for o in first["DomainValidationOptions"]))
        second = self.describe(arn)
        records = [o["ResourceRecord"] for o in second["DomainValidationOptions"]]
        self.assertEqual(2, len(records))
        self.assertEqual(records[0], records[1], "a wildcard shares its domain's record")
        self.assertEqual("CNAME", records[0]["Type"])
        self.assertTrue(records[0]["Name"].endswith(".example.com."))
        self.upsert(records[0], value="_wrong.acm-validations.aws.")
        self.assertEqual("PENDING_VALIDATION", self.describe(arn)["Status"])
        self.assertEqual("PENDING_VALIDATION", self.describe(arn)["Status"])
        self.upsert(records[0])
        self.assertEqual("PENDING_VALIDATION", self.describe(arn)["Status"], "settle: one describe later")
        issued = self.describe(arn)
        self.assertEqual("ISSUED", issued["Status"])
        self.assertEqual({"SUCCESS"}, {o["ValidationStatus"] for o in issued["DomainValidationOptions"]})

    def test_a_private_zone_validates_nothing(self):
        vpc = self.fake.client("ec2", region="eu-west-1").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        private = self.r53.create_hosted_zone(Name="example.com", CallerReference="p",
                                              VPC={"VPCRegion": "eu-west-1", "VPCId": vpc})["HostedZone"]["Id"]
        arn = self.request(SubjectAlternativeNames=[])
        self.describe(arn)
        record = self.describe(arn)["DomainValidationOptions"][0]["ResourceRecord"]
        self.upsert(record, zone=private)
        for _ in range(3):
            self.assertEqual("PENDING_VALIDATION", self.describe(arn)["Status"])

    def test_two_regions_ask_for_the_same_records(self):
        a, b = self.request(), self.request(self.edge)
        for _ in range(2):
            ra, rb = self.describe(a), self.describe(b, self.edge)
        self.assertEqual(ra["DomainValidationOptions"][0]["ResourceRecord"],
                         rb["DomainValidationOptions"][0]["ResourceRecord"])
        self.assertEqual("ResourceNotFoundException", error_code(self.acm.describe_certificate, CertificateArn=b))

    def test_an_idempotency_token_answers_the_same_certificate_within_the_hour(self):
        a = self.request(IdempotencyToken="tok1", Tags=[{"Key": "wpo:address", "Value": "x"}])
        self.assertEqual(a, self.request(IdempotencyToken="tok1"))
        self.assertNotEqual(a, self.request(IdempotencyToken="tok1", client=self.edge))
        self.fake.control("POST", "/_fake/clock", {"advance": 3700})
        self.assertNotEqual(a, self.request(IdempotencyToken="tok1"))

    def test_tags(self):
        arn = self.request(Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        self.acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "c", "Value": "3"}])
        self.acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "a"}, {"Key": "b", "Value": "9"}])
        got = self.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
        self.assertEqual([{"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}], got)
        self.assertEqual("InvalidTagException", error_code(self.acm.add_tags_to_certificate, CertificateArn=arn,
                                                            Tags=[{"Key": "aws:x", "Value": "1"}]))

    def test_list_filters_by_status_and_key_type_and_pages(self):
        arns = {self.request(DomainName=f"s{i}.example.com", SubjectAlternativeNames=[]) for i in range(7)}
        ec = self.request(KeyAlgorithm="EC_prime256v1", SubjectAlternativeNames=[])
        listed = set()
        for page in self.acm.get_paginator("list_certificates").paginate():
            listed |= {c["CertificateArn"] for c in page["CertificateSummaryList"]}
        self.assertEqual(arns, listed, "RSA_2048 by default")
        got = self.acm.list_certificates(Includes={"keyTypes": ["EC_prime256v1"]})["CertificateSummaryList"]
        self.assertEqual([ec], [c["CertificateArn"] for c in got])
        self.assertEqual([], self.acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"])

    def test_a_certificate_in_use_cannot_be_deleted(self):
        arn = self.request()
        acm.mark_use(self.fake.server.store, arn, "arn:aws:cloudfront::123456789012:distribution/E1")
        self.assertEqual(["arn:aws:cloudfront::123456789012:distribution/E1"], self.describe(arn)["InUseBy"])
        self.assertEqual("ResourceInUseException", error_code(self.acm.delete_certificate, CertificateArn=arn))
        acm.unmark_use(self.fake.server.store, arn, "arn:aws:cloudfront::123456789012:distribution/E1")
        self.acm.delete_certificate(CertificateArn=arn)
        self.assertEqual("ResourceNotFoundException", error_code(self.acm.delete_certificate, CertificateArn=arn))
        self.assertEqual("InvalidArnException", error_code(self.acm.delete_certificate, CertificateArn="arn:aws:acm:nowhere:certificate"))

    def test_a_listener_holding_the_certificate_is_in_use_by_its_load_balancer(self):
        arn = self.request()
        self.fake.server.store.table("elbv2", "listener")["l1"] = {
            "LoadBalancerArn": "arn:lb", "Certificates": [{"CertificateArn": arn}]}
        self.assertEqual(["arn:lb"], self.describe(arn)["InUseBy"])
        self.assertEqual("ResourceInUseException", error_code(self.acm.delete_certificate, CertificateArn=arn))

    def test_caa_without_amazon_fails_and_72_hours_time_out(self):
        self.r53.change_resource_record_sets(HostedZoneId=self.zone, ChangeBatch={"Changes": [{
            "Action": "CREATE", "ResourceRecordSet": {"Name": "example.com", "Type": "CAA", "TTL": 60,
                                                      "ResourceRecords": [{"Value": '0 issue "letsencrypt.org"'}]}}]})
        arn = self.request(DomainName="www.example.com", SubjectAlternativeNames=[])
        self.describe(arn)
        failed = self.describe(arn)
        self.assertEqual(("FAILED", "CAA_ERROR"), (failed["Status"], failed["FailureReason"]))
        late = self.request(client=self.edge, DomainName="www.example.com", SubjectAlternativeNames=[])
        self.fake.control("POST", "/_fake/clock", {"advance": 73 * 3600})
        self.describe(late, self.edge)
        self.assertEqual("VALIDATION_TIMED_OUT", self.describe(late, self.edge)["Status"])

    def test_only_dns_validation_is_served(self):
        self.assertEqual("NotImplemented", error_code(self.acm.request_certificate, DomainName="example.com",
                                                      ValidationMethod="EMAIL"))


if __name__ == "__main__":
    unittest.main()
