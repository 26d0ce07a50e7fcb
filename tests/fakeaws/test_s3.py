"""S3 behaviour: conditional writes and reads, versions, listings with small
pages and delimiters, bucket rules, Content-MD5."""
import base64
import hashlib
import unittest

from fakeaws.testing import Fake
from test_auth import code_of, error_of


def with_headers(client, operation, headers):
    """Make `client` send extra headers on `operation` (added before signing).
    This botocore's model predates S3's conditional writes, so they go in raw."""
    def add(request, **_):
        for k, v in headers.items():
            request.headers[k] = v
    client.meta.events.register(f"before-sign.s3.{operation}", add)
    return add


class S3Test(unittest.TestCase):
    def setUp(self):
        self.fake = Fake()
        self.s3 = self.fake.client("s3")
        self.s3.create_bucket(Bucket="bucket")

    def tearDown(self):
        self.fake.stop()

    def conditional(self, headers):
        client = self.fake.client("s3")
        with_headers(client, "PutObject", headers)
        return client

    def test_if_none_match_star_writes_only_when_absent(self):
        s3 = self.conditional({"If-None-Match": "*"})
        s3.put_object(Bucket="bucket", Key="lock", Body=b"mine")
        self.assertEqual(("PreconditionFailed", 412), error_of(s3.put_object, Bucket="bucket", Key="lock",
                                                               Body=b"theirs"))
        self.assertEqual(b"mine", self.s3.get_object(Bucket="bucket", Key="lock")["Body"].read())
        self.s3.delete_object(Bucket="bucket", Key="lock")
        s3.put_object(Bucket="bucket", Key="lock", Body=b"again")

    def test_if_match_writes_only_over_the_expected_version(self):
        etag = self.s3.put_object(Bucket="bucket", Key="state", Body=b"v1")["ETag"]
        self.conditional({"If-Match": etag}).put_object(Bucket="bucket", Key="state", Body=b"v2")
        self.assertEqual(("PreconditionFailed", 412),
                         error_of(self.conditional({"If-Match": etag}).put_object, Bucket="bucket", Key="state",
                                  Body=b"v3"))
        self.assertEqual(("NoSuchKey", 404),
                         error_of(self.conditional({"If-Match": etag}).put_object, Bucket="bucket", Key="none",
                                  Body=b"v1"))
        self.assertEqual(b"v2", self.s3.get_object(Bucket="bucket", Key="state")["Body"].read())

    def test_conditional_reads(self):
        put = self.s3.put_object(Bucket="bucket", Key="k", Body=b"0123456789")
        self.assertEqual(("PreconditionFailed", 412),
                         error_of(self.s3.get_object, Bucket="bucket", Key="k", IfMatch='"nope"'))
        self.assertEqual(("304", 304), error_of(self.s3.get_object, Bucket="bucket", Key="k", IfNoneMatch=put["ETag"]))
        self.assertEqual(b"0123456789", self.s3.get_object(Bucket="bucket", Key="k", IfMatch=put["ETag"])["Body"].read())
        part = self.s3.get_object(Bucket="bucket", Key="k", Range="bytes=2-4")
        self.assertEqual((206, b"234", "bytes 2-4/10"),
                         (part["ResponseMetadata"]["HTTPStatusCode"], part["Body"].read(), part["ContentRange"]))
        self.assertEqual(b"789", self.s3.get_object(Bucket="bucket", Key="k", Range="bytes=-3")["Body"].read())
        self.assertEqual(("InvalidRange", 416), error_of(self.s3.get_object, Bucket="bucket", Key="k",
                                                         Range="bytes=20-30"))

    def test_missing_things(self):
        self.assertEqual(("NoSuchKey", 404), error_of(self.s3.get_object, Bucket="bucket", Key="nothing"))
        self.assertEqual(("404", 404), error_of(self.s3.head_object, Bucket="bucket", Key="nothing"))
        self.assertEqual(("NoSuchBucket", 404), error_of(self.s3.put_object, Bucket="nobucket", Key="k", Body=b""))
        self.assertEqual(("404", 404), error_of(self.s3.head_bucket, Bucket="nobucket"))

    def test_versions_and_delete_markers(self):
        self.s3.put_bucket_versioning(Bucket="bucket", VersioningConfiguration={"Status": "Enabled"})
        v1 = self.s3.put_object(Bucket="bucket", Key="k", Body=b"1")["VersionId"]
        v2 = self.s3.put_object(Bucket="bucket", Key="k", Body=b"2")["VersionId"]
        marker = self.s3.delete_object(Bucket="bucket", Key="k")
        self.assertTrue(marker["DeleteMarker"])
        self.assertEqual(("NoSuchKey", 404), error_of(self.s3.get_object, Bucket="bucket", Key="k"))
        self.assertEqual(b"1", self.s3.get_object(Bucket="bucket", Key="k", VersionId=v1)["Body"].read())
        self.assertEqual(("MethodNotAllowed", 405),
                         error_of(self.s3.get_object, Bucket="bucket", Key="k", VersionId=marker["VersionId"]))
        listed = self.s3.list_object_versions(Bucket="bucket")
        self.assertEqual([v2, v1], [v["VersionId"] for v in listed["Versions"]])
        self.assertEqual([(marker["VersionId"], True)],
                         [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]])
        self.assertNotIn("Contents", self.s3.list_objects_v2(Bucket="bucket"))
        self.s3.delete_object(Bucket="bucket", Key="k", VersionId=marker["VersionId"])
        self.assertEqual(b"2", self.s3.get_object(Bucket="bucket", Key="k")["Body"].read())
        self.s3.put_bucket_versioning(Bucket="bucket", VersioningConfiguration={"Status": "Suspended"})
        self.assertEqual("null", self.s3.put_object(Bucket="bucket", Key="k", Body=b"3")["VersionId"])
        self.assertEqual("null", self.s3.put_object(Bucket="bucket", Key="k", Body=b"4")["VersionId"])
        ids = [v["VersionId"] for v in self.s3.list_object_versions(Bucket="bucket")["Versions"]]
        self.assertEqual(["null", v2, v1], ids)

    def test_unversioned_buckets_keep_one_copy(self):
        put = self.s3.put_object(Bucket="bucket", Key="k", Body=b"1")
        self.assertNotIn("VersionId", put)
        self.s3.put_object(Bucket="bucket", Key="k", Body=b"2")
        self.assertEqual(["null"], [v["VersionId"] for v in self.s3.list_object_versions(Bucket="bucket")["Versions"]])
        self.s3.delete_object(Bucket="bucket", Key="k")
        self.assertNotIn("Versions", self.s3.list_object_versions(Bucket="bucket"))
        self.assertEqual(204, self.s3.delete_object(Bucket="bucket", Key="k")["ResponseMetadata"]["HTTPStatusCode"])

    def test_listing_pages_and_delimiters(self):
        keys = [f"site/{i}.txt" for i in range(7)] + ["site/uploads/a.jpg", "site/uploads/b.jpg", "top+level key"]
        for key in keys:
            self.s3.put_object(Bucket="bucket", Key=key, Body=key.encode())
        first = self.s3.list_objects_v2(Bucket="bucket")
        self.assertEqual((5, True), (first["KeyCount"], first["IsTruncated"]))
        pages = list(self.s3.get_paginator("list_objects_v2").paginate(Bucket="bucket"))
        self.assertEqual(sorted(keys), [o["Key"] for p in pages for o in p["Contents"]])
        shallow = list(self.s3.get_paginator("list_objects_v2").paginate(Bucket="bucket", Prefix="site/",
                                                                         Delimiter="/"))
        self.assertEqual(["site/uploads/"], [c["Prefix"] for p in shallow for c in p.get("CommonPrefixes", [])])
        self.assertEqual(7, sum(len(p.get("Contents", [])) for p in shallow))
        after = self.s3.list_objects_v2(Bucket="bucket", StartAfter="site/uploads/a.jpg")
        self.assertEqual(["site/uploads/b.jpg", "top+level key"], [o["Key"] for o in after["Contents"]])
        versions = list(self.s3.get_paginator("list_object_versions").paginate(Bucket="bucket"))
        self.assertEqual(sorted(keys), [v["Key"] for p in versions for v in p["Versions"]])

    def test_bucket_rules(self):
        west = self.fake.client("s3", region="eu-west-1")
        self.assertEqual(("IllegalLocationConstraintException", 400), error_of(west.create_bucket, Bucket="b-west"))
        west.create_bucket(Bucket="b-west", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual(("BucketAlreadyOwnedByYou", 409),
                         error_of(west.create_bucket, Bucket="b-west",
                                  CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}))
        self.assertEqual(("InvalidBucketName", 400), error_of(self.s3.create_bucket, Bucket="Bad_Name"))
        self.s3.put_object(Bucket="bucket", Key="k", Body=b"x")
        self.assertEqual(("BucketNotEmpty", 409), error_of(self.s3.delete_bucket, Bucket="bucket"))

    def test_content_md5_is_checked(self):
        good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
        bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        status, _, _ = self.fake.raw("PUT", "/bucket/k", "s3", headers={"Content-MD5": good}, body=b"data", s3=True)
        self.assertEqual(200, status)
        status, _, body = self.fake.raw("PUT", "/bucket/k", "s3", headers={"Content-MD5": bad}, body=b"data", s3=True)
        self.assertEqual((400, "BadDigest"), (status, code_of(body)))

    def test_a_trailing_slash_on_the_bucket_is_accepted(self):
        self.s3.put_object(Bucket="bucket", Key="k", Body=b"x")
        status, _, body = self.fake.raw("GET", "/bucket/?list-type=2", "s3", s3=True)
        self.assertEqual(200, status, body)
        self.assertIn(b"<Key>k</Key>", body)
        self.assertIn(b"<ListBucketResult", body)

    def test_state_shows_objects_without_their_bodies(self):
        self.s3.put_object(Bucket="bucket", Key="a/b", Body=b"secret-ish", Metadata={"m": "1"})
        obj = self.fake.state()["s3"]["object"]["bucket/a/b"]
        self.assertEqual(("bucket", "a/b", 10), (obj["Bucket"], obj["Key"], obj["Versions"][0]["Size"]))
        self.assertNotIn("_body", obj["Versions"][0])


if __name__ == "__main__":
    unittest.main()


class S3BucketConfigurationTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake()
        self.s3 = self.fake.client("s3", region="eu-west-1")
        self.s3.create_bucket(Bucket="conf", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    def tearDown(self):
        self.fake.stop()

    def test_another_accounts_bucket_is_taken_and_closed(self):
        self.fake.control("POST", "/_fake/s3/foreign-bucket", {"name": "theirs"})
        self.assertEqual(("BucketAlreadyExists", 409), error_of(
            self.s3.create_bucket, Bucket="theirs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}))
        self.assertEqual(("AccessDenied", 403), error_of(self.s3.get_bucket_tagging, Bucket="theirs"))
        self.assertEqual(["conf"], [b["Name"] for b in self.s3.list_buckets()["Buckets"]])

    def test_own_bucket_again_and_a_mismatched_location(self):
        self.assertEqual(("BucketAlreadyOwnedByYou", 409), error_of(
            self.s3.create_bucket, Bucket="conf", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}))
        self.assertEqual(("IllegalLocationConstraintException", 400), error_of(
            self.s3.create_bucket, Bucket="other", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}))

    def test_new_buckets_are_private_and_encrypted_and_absent_configurations_say_so(self):
        self.assertTrue(all(self.s3.get_public_access_block(Bucket="conf")["PublicAccessBlockConfiguration"].values()))
        self.assertEqual("BucketOwnerEnforced", self.s3.get_bucket_ownership_controls(Bucket="conf")[
            "OwnershipControls"]["Rules"][0]["ObjectOwnership"])
        for op, code in ((self.s3.get_bucket_tagging, "NoSuchTagSet"),
                         (self.s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
                         (self.s3.get_bucket_policy, "NoSuchBucketPolicy")):
            self.assertEqual((code, 404), error_of(op, Bucket="conf"))

    def test_lifecycle_rules_and_policies_are_checked(self):
        self.assertEqual("InvalidArgument", error_of(
            self.s3.put_bucket_lifecycle_configuration, Bucket="conf", LifecycleConfiguration={"Rules": [
                {"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""},
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 0}}]})[0])
        self.assertEqual("InvalidRequest", error_of(
            self.s3.put_bucket_lifecycle_configuration, Bucket="conf", LifecycleConfiguration={"Rules": [
                {"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}}]})[0])
        self.assertEqual("MalformedPolicy", error_of(self.s3.put_bucket_policy, Bucket="conf", Policy="not json")[0])
        self.assertEqual("MalformedPolicy", error_of(
            self.s3.put_bucket_policy, Bucket="conf",
            Policy='{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::x"}]}')[0])
        # a public Allow while the public access block is on
        self.assertEqual("AccessDenied", error_of(
            self.s3.put_bucket_policy, Bucket="conf",
            Policy='{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",'
                   '"Resource":"arn:aws:s3:::conf/*"}]}')[0])

    def test_delete_objects_removes_versions_and_markers(self):
        self.s3.put_bucket_versioning(Bucket="conf", VersioningConfiguration={"Status": "Enabled"})
        v1 = self.s3.put_object(Bucket="conf", Key="a", Body=b"1")["VersionId"]
        marker = self.s3.delete_object(Bucket="conf", Key="a")["VersionId"]
        out = self.s3.delete_objects(Bucket="conf", Delete={"Objects": [{"Key": "a", "VersionId": v1},
                                                                        {"Key": "a", "VersionId": marker}]})
        self.assertEqual({v1, marker}, {d["VersionId"] for d in out["Deleted"]})
        self.assertNotIn("Versions", self.s3.list_object_versions(Bucket="conf"))
        self.s3.delete_bucket(Bucket="conf")
