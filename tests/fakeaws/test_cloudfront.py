"""CloudFront (services/cloudfront.py) driven by botocore: distributions with
their ETags, deployment and deletion rules, tags, origin access controls and
cache policies (managed ones included)."""
import unittest

from botocore.exceptions import ClientError

from fakeaws.testing import Fake, error_code

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def config(ref, enabled=True, cert=CERT, aliases=("www.example.com",), policy="658327ea-f89d-4fab-a63d-7e88639e58f6",
           oac=None):
    origin = {"Id": "site", "DomainName": "bucket.s3.us-east-1.amazonaws.com",
              "S3OriginConfig": {"OriginAccessIdentity": ""}}
    if oac:
        origin["OriginAccessControlId"] = oac
    out = {"CallerReference": ref, "Comment": "", "Enabled": enabled,
           "Aliases": {"Quantity": len(aliases), "Items": list(aliases)},
           "Origins": {"Quantity": 1, "Items": [origin]},
           "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https",
                                    "CachePolicyId": policy}}
    if cert:
        out["ViewerCertificate"] = {"ACMCertificateArn": cert, "SSLSupportMethod": "sni-only",
                                    "MinimumProtocolVersion": "TLSv1.2_2021"}
    return out


class CloudFrontTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.cf = self.fake.client("cloudfront", region="us-east-1")

    def tearDown(self):
        self.fake.stop()

    def create(self, ref="r1", **kw):
        return self.cf.create_distribution_with_tags(DistributionConfigWithTags={
            "DistributionConfig": config(ref, **kw), "Tags": {"Items": [{"Key": "wpo:address", "Value": "a"}]}})

    def test_create_deploys_after_settle_and_lists_with_tags(self):
        out = self.create()
        dist = out["Distribution"]
        self.assertEqual("InProgress", dist["Status"])
        self.assertTrue(dist["DomainName"].endswith(".cloudfront.net"))
        self.assertEqual("InProgress", self.cf.get_distribution(Id=dist["Id"])["Distribution"]["Status"])
        self.assertEqual("Deployed", self.cf.get_distribution(Id=dist["Id"])["Distribution"]["Status"])
        items = self.cf.list_distributions()["DistributionList"]["Items"]
        self.assertEqual([dist["Id"]], [d["Id"] for d in items])
        tags = self.cf.list_tags_for_resource(Resource=dist["ARN"])["Tags"]["Items"]
        self.assertEqual([{"Key": "wpo:address", "Value": "a"}], tags)

    def test_a_caller_reference_again_answers_the_same_distribution_or_refuses_another_config(self):
        first = self.create()["Distribution"]["Id"]
        self.assertEqual(first, self.create()["Distribution"]["Id"])
        with self.assertRaises(ClientError) as e:
            self.create(aliases=("other.example.com",))
        self.assertEqual("DistributionAlreadyExists", e.exception.response["Error"]["Code"])
        self.assertIn(first, e.exception.response["Error"]["Message"])

    def test_a_certificate_outside_us_east_1_is_refused(self):
        self.assertEqual("InvalidViewerCertificate", error_code(
            self.create, cert="arn:aws:acm:eu-west-1:123456789012:certificate/abc"))
        self.assertEqual("InvalidViewerCertificate", error_code(self.create, cert=None))

    def test_update_needs_the_current_etag_and_each_change_makes_a_new_one(self):
        out = self.create()
        dist_id, etag = out["Distribution"]["Id"], out["ETag"]
        got = self.cf.get_distribution_config(Id=dist_id)
        self.assertEqual(etag, got["ETag"])
        cfg = got["DistributionConfig"]
        cfg["Comment"] = "changed"
        self.assertEqual("InvalidIfMatchVersion", error_code(self.cf.update_distribution, Id=dist_id,
                                                             DistributionConfig=cfg))
        new = self.cf.update_distribution(Id=dist_id, DistributionConfig=cfg, IfMatch=etag)["ETag"]
        self.assertNotEqual(etag, new)
        self.assertEqual("PreconditionFailed", error_code(self.cf.update_distribution, Id=dist_id,
                                                          DistributionConfig=cfg, IfMatch=etag))
        self.assertEqual("changed", self.cf.get_distribution_config(Id=dist_id)["DistributionConfig"]["Comment"])

    def test_delete_needs_a_disabled_deployed_distribution(self):
        out = self.create()
        dist_id = out["Distribution"]["Id"]
        self.assertEqual("DistributionNotDisabled", error_code(self.cf.delete_distribution, Id=dist_id,
                                                               IfMatch=out["ETag"]))
        got = self.cf.get_distribution_config(Id=dist_id)
        cfg = got["DistributionConfig"]
        cfg["Enabled"] = False
        etag = self.cf.update_distribution(Id=dist_id, DistributionConfig=cfg, IfMatch=got["ETag"])["ETag"]
        self.assertEqual("DistributionNotDisabled", error_code(self.cf.delete_distribution, Id=dist_id,
                                                               IfMatch=etag))
        while self.cf.get_distribution(Id=dist_id)["Distribution"]["Status"] != "Deployed":
            pass
        self.cf.delete_distribution(Id=dist_id, IfMatch=etag)
        self.assertEqual("NoSuchDistribution", error_code(self.cf.get_distribution, Id=dist_id))

    def test_tags_are_added_and_removed(self):
        arn = self.create()["Distribution"]["ARN"]
        self.cf.tag_resource(Resource=arn, Tags={"Items": [{"Key": "team", "Value": "web"}]})
        self.cf.untag_resource(Resource=arn, TagKeys={"Items": ["wpo:address"]})
        self.assertEqual([{"Key": "team", "Value": "web"}],
                         self.cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"])
        self.assertEqual("NoSuchResource", error_code(self.cf.list_tags_for_resource,
                                                      Resource=arn[:-3] + "XYZ"))

    def test_origin_access_controls_and_their_use(self):
        cfg = {"Name": "site", "SigningProtocol": "sigv4", "SigningBehavior": "always",
               "OriginAccessControlOriginType": "s3"}
        out = self.cf.create_origin_access_control(OriginAccessControlConfig=cfg)
        oac_id = out["OriginAccessControl"]["Id"]
        self.assertEqual("OriginAccessControlAlreadyExists", error_code(
            self.cf.create_origin_access_control, OriginAccessControlConfig=cfg))
        self.assertEqual("NoSuchOriginAccessControl", error_code(self.create, oac="EXXXXXXXXXXXXX"))
        self.create(oac=oac_id)
        self.assertEqual("OriginAccessControlInUse", error_code(self.cf.delete_origin_access_control, Id=oac_id,
                                                                IfMatch=out["ETag"]))
        listed = self.cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]
        self.assertEqual(["site"], [o["Name"] for o in listed])
        cfg["Description"] = "new"
        etag = self.cf.update_origin_access_control(Id=oac_id, OriginAccessControlConfig=cfg,
                                                    IfMatch=out["ETag"])["ETag"]
        self.assertEqual("new", self.cf.get_origin_access_control(Id=oac_id)
                         ["OriginAccessControl"]["OriginAccessControlConfig"]["Description"])
        self.assertNotEqual(out["ETag"], etag)

    def test_cache_policies_managed_ones_present_and_not_deletable(self):
        managed = self.cf.list_cache_policies(Type="managed")["CachePolicyList"]["Items"]
        self.assertIn("4135ea2d-6df8-44a3-9df3-4b5a84be39ad", [x["CachePolicy"]["Id"] for x in managed])
        got = self.cf.get_cache_policy(Id="658327ea-f89d-4fab-a63d-7e88639e58f6")
        self.assertEqual("IllegalDelete", error_code(self.cf.delete_cache_policy,
                                                     Id="658327ea-f89d-4fab-a63d-7e88639e58f6", IfMatch=got["ETag"]))
        cfg = {"Name": "wp", "MinTTL": 0, "DefaultTTL": 60, "MaxTTL": 600,
               "ParametersInCacheKeyAndForwardedToOrigin": {
                   "EnableAcceptEncodingGzip": True, "EnableAcceptEncodingBrotli": True,
                   "HeadersConfig": {"HeaderBehavior": "none"},
                   "CookiesConfig": {"CookieBehavior": "whitelist",
                                     "Cookies": {"Quantity": 1, "Items": ["wordpress_logged_in"]}},
                   "QueryStringsConfig": {"QueryStringBehavior": "all"}}}
        out = self.cf.create_cache_policy(CachePolicyConfig=cfg)
        pid = out["CachePolicy"]["Id"]
        self.assertEqual("CachePolicyAlreadyExists", error_code(self.cf.create_cache_policy, CachePolicyConfig=cfg))
        custom = self.cf.list_cache_policies(Type="custom")["CachePolicyList"]["Items"]
        self.assertEqual([pid], [x["CachePolicy"]["Id"] for x in custom])
        self.create(policy=pid)
        self.assertEqual("CachePolicyInUse", error_code(self.cf.delete_cache_policy, Id=pid, IfMatch=out["ETag"]))
        self.assertEqual("NoSuchCachePolicy", error_code(self.create, ref="r2", aliases=(), policy="nope"))


if __name__ == "__main__":
    unittest.main()
