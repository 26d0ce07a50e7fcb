"""Wire test of CloudFront (rest-xml with payload members, ETag and If-Match
headers): every operation fakeaws serves, driven by botocore. Mixed into
test_wire.WireTest."""


class CloudFrontWire:
    def test_cloudfront(self):
        cf = self.fake.client("cloudfront", region="us-east-1")
        oac = cf.create_origin_access_control(OriginAccessControlConfig={
            "Name": "wire", "SigningProtocol": "sigv4", "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3"})
        oac_id = oac["OriginAccessControl"]["Id"]
        self.assertEqual("wire", cf.get_origin_access_control(Id=oac_id)
                         ["OriginAccessControl"]["OriginAccessControlConfig"]["Name"])
        oac_etag = cf.update_origin_access_control(Id=oac_id, IfMatch=oac["ETag"], OriginAccessControlConfig={
            "Name": "wire", "Description": "d", "SigningProtocol": "sigv4", "SigningBehavior": "always",
            "OriginAccessControlOriginType": "s3"})["ETag"]
        self.assertEqual([oac_id], [o["Id"] for o in
                                    cf.list_origin_access_controls()["OriginAccessControlList"]["Items"]])
        params = {"EnableAcceptEncodingGzip": True, "HeadersConfig": {"HeaderBehavior": "none"},
                  "CookiesConfig": {"CookieBehavior": "none"}, "QueryStringsConfig": {"QueryStringBehavior": "none"}}
        policy = cf.create_cache_policy(CachePolicyConfig={"Name": "wire", "MinTTL": 0,
                                                           "ParametersInCacheKeyAndForwardedToOrigin": params})
        pid = policy["CachePolicy"]["Id"]
        policy_etag = cf.update_cache_policy(Id=pid, IfMatch=policy["ETag"], CachePolicyConfig={
            "Name": "wire", "MinTTL": 1, "ParametersInCacheKeyAndForwardedToOrigin": params})["ETag"]
        self.assertEqual(1, cf.get_cache_policy(Id=pid)["CachePolicy"]["CachePolicyConfig"]["MinTTL"])
        self.assertIn(pid, [x["CachePolicy"]["Id"] for x in cf.list_cache_policies()["CachePolicyList"]["Items"]])
        config = {"CallerReference": "wire", "Comment": "", "Enabled": True,
                  "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": "b.s3.amazonaws.com",
                                                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                                                        "OriginAccessControlId": oac_id}]},
                  "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "https-only",
                                           "CachePolicyId": pid}}
        dist = cf.create_distribution_with_tags(DistributionConfigWithTags={
            "DistributionConfig": config, "Tags": {"Items": [{"Key": "k", "Value": "v"}]}})
        dist_id, arn = dist["Distribution"]["Id"], dist["Distribution"]["ARN"]
        self.assertEqual("Deployed", cf.get_distribution(Id=dist_id)["Distribution"]["Status"])
        got = cf.get_distribution_config(Id=dist_id)
        got["DistributionConfig"]["Enabled"] = False
        etag = cf.update_distribution(Id=dist_id, IfMatch=got["ETag"],
                                      DistributionConfig=got["DistributionConfig"])["ETag"]
        cf.tag_resource(Resource=arn, Tags={"Items": [{"Key": "x", "Value": "y"}]})
        cf.untag_resource(Resource=arn, TagKeys={"Items": ["k"]})
        self.assertEqual([{"Key": "x", "Value": "y"}], cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"])
        self.assertEqual([dist_id], [d["Id"] for d in cf.list_distributions()["DistributionList"]["Items"]])
        cf.delete_distribution(Id=dist_id, IfMatch=etag)
        cf.delete_cache_policy(Id=pid, IfMatch=policy_etag)
        cf.delete_origin_access_control(Id=oac_id, IfMatch=oac_etag)
        self.assert_all_served_ops_succeeded("cloudfront")
