"""Wire test (run by test_wire.WireTest) of ACM: a botocore client performs
every operation acm.py serves, and the certificate is issued once fakeaws's
Route 53 holds its validation record."""


class AcmWire:
    def test_acm(self):
        acm = self.fake.client("acm", region="eu-west-1")
        r53 = self.fake.client("route53")
        zone = r53.create_hosted_zone(Name="wire-acm.example", CallerReference="wire-acm")["HostedZone"]["Id"]
        arn = acm.request_certificate(DomainName="wire-acm.example", ValidationMethod="DNS",
                                      SubjectAlternativeNames=["www.wire-acm.example"], IdempotencyToken="wire",
                                      Tags=[{"Key": "wpo:stack", "Value": "wire"}])["CertificateArn"]
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        self.assertEqual("PENDING_VALIDATION", cert["Status"])
        changes = [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": o["ResourceRecord"]["Name"], "Type": "CNAME", "TTL": 300,
            "ResourceRecords": [{"Value": o["ResourceRecord"]["Value"]}]}} for o in cert["DomainValidationOptions"]]
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
        self.assertEqual("ISSUED", acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"])
        listed = acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
        self.assertIn(arn, [c["CertificateArn"] for c in listed])
        acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "team", "Value": "web"}])
        acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "wpo:stack"}])
        self.assertEqual([{"Key": "team", "Value": "web"}],
                         acm.list_tags_for_certificate(CertificateArn=arn)["Tags"])
        acm.delete_certificate(CertificateArn=arn)
        self.assertNotIn(arn, [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]])
        self.assert_all_served_ops_succeeded("acm")
