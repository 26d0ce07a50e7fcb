"""SigV4: every request's signature is recomputed with botocore's signer. A
wrong secret, a tampered body, a stale date, a missing or unknown key, a
missing or expired session token: each rejected with the service's own code."""
import datetime
import hashlib
import json
import unittest

from botocore.exceptions import ClientError

from fakeaws.sigv4check import Identity
from fakeaws.testing import Fake

NOW = datetime.datetime.now(datetime.timezone.utc)


def error_of(call, *args, **kwargs):
    """-> (code, HTTP status) of the ClientError `call` raises."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__} did not fail")


def code_of(body):
    """The error code in an XML or JSON error body."""
    text = body.decode()
    if text.startswith("{"):
        return json.loads(text)["__type"].rsplit("#", 1)[-1]
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0]


STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


class SignatureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(settle=0)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def test_a_correct_signature_is_accepted_on_a_hand_made_request(self):
        status, _, body = self.fake.raw("POST", "/", "sts", headers=FORM, body=STS_BODY)
        self.assertEqual(200, status, body)
        self.assertIn(b"<Account>123456789012</Account>", body)

    def test_wrong_secret_is_rejected_by_every_protocol_with_its_own_code(self):
        cases = [
            ("ec2", lambda c: c.describe_vpcs(), ("SignatureDoesNotMatch", 403)),
            ("sts", lambda c: c.get_caller_identity(), ("SignatureDoesNotMatch", 403)),
            ("dynamodb", lambda c: c.describe_table(TableName="tbl"), ("InvalidSignatureException", 403)),
            ("kms", lambda c: c.describe_key(KeyId="k"), ("InvalidSignatureException", 403)),
            ("efs", lambda c: c.describe_file_systems(), ("InvalidSignatureException", 403)),
            ("route53", lambda c: c.get_change(Id="C1"), ("SignatureDoesNotMatch", 403)),
            ("s3", lambda c: c.head_bucket(Bucket="bucket"), ("403", 403)),
            ("s3", lambda c: c.list_objects_v2(Bucket="bucket"), ("SignatureDoesNotMatch", 403)),
        ]
        for service, call, want in cases:
            with self.subTest(service=service):
                client = self.fake.client(service, secret_key="not-the-secret")
                self.assertEqual(want, error_of(call, client))

    def test_unknown_access_key_is_rejected(self):
        cases = [
            ("ec2", lambda c: c.describe_vpcs(), ("AuthFailure", 401)),
            ("sts", lambda c: c.get_caller_identity(), ("InvalidClientTokenId", 403)),
            ("dynamodb", lambda c: c.describe_table(TableName="tbl"), ("UnrecognizedClientException", 400)),
            ("s3", lambda c: c.list_objects_v2(Bucket="bucket"), ("InvalidAccessKeyId", 403)),
        ]
        for service, call, want in cases:
            with self.subTest(service=service):
                client = self.fake.client(service, access_key="AKIANOBODY")
                self.assertEqual(want, error_of(call, client))

    def test_tampered_body_is_rejected(self):
        def tamper(headers, body):
            return headers, body.replace(b"GetCallerIdentity", b"GetCallerIdentitx")
        status, _, body = self.fake.raw("POST", "/", "sts", headers=FORM, body=STS_BODY, tamper=tamper)
        self.assertEqual((403, "SignatureDoesNotMatch"), (status, code_of(body)))

        def tamper_json(headers, body):
            return headers, body.replace(b"t1", b"t2")
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": "t1"},
                                        tamper=tamper_json)
        self.assertEqual((403, "InvalidSignatureException"), (status, doc["__type"].rsplit("#", 1)[-1]))

    def test_tampered_signed_header_is_rejected(self):
        def tamper(headers, body):
            return dict(headers, **{"X-Amz-Target": "DynamoDB_20120810.DeleteTable"}), body
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": "t1"},
                                        tamper=tamper)
        self.assertEqual(403, status)

    def test_tampered_s3_body_fails_its_content_hash(self):
        s3 = self.fake.client("s3")
        s3.create_bucket(Bucket="tamper-bucket")

        def tamper(headers, body):
            return headers, b"evil" + body[4:]
        status, _, body = self.fake.raw("PUT", "/tamper-bucket/k", "s3", body=b"good data", s3=True, tamper=tamper)
        self.assertEqual((400, "XAmzContentSHA256Mismatch"), (status, code_of(body)))

    def test_unsigned_payload_is_accepted_by_s3_only(self):
        s3 = self.fake.client("s3")
        s3.create_bucket(Bucket="unsigned-bucket")
        headers = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
        status, _, body = self.fake.raw("PUT", "/unsigned-bucket/k", "s3", headers=headers, body=b"data", s3=True)
        self.assertEqual(200, status, body)
        status, _, body = self.fake.raw("POST", "/", "sts", headers=dict(FORM, **headers), body=STS_BODY)
        self.assertEqual((403, "SignatureDoesNotMatch"), (status, code_of(body)))

    def test_s3_refuses_unsigned_amz_headers(self):
        s3 = self.fake.client("s3")
        s3.create_bucket(Bucket="unsigned-hdr")

        def tamper(headers, body):
            return dict(headers, **{"x-amz-acl": "public-read"}), body
        status, _, body = self.fake.raw("PUT", "/unsigned-hdr/k", "s3", body=b"x", s3=True, tamper=tamper)
        self.assertEqual((403, "SignatureDoesNotMatch"), (status, code_of(body)))

    def test_stale_and_future_dates_are_rejected(self):
        for when in (NOW - datetime.timedelta(minutes=20), NOW + datetime.timedelta(minutes=20)):
            with self.subTest(when=when):
                status, _, body = self.fake.raw("POST", "/", "sts", headers=FORM, body=STS_BODY, when=when)
                self.assertEqual((403, "SignatureDoesNotMatch"), (status, code_of(body)))
                self.assertIn(b"Signature expired", body)
                status, _, body = self.fake.query("ec2", {"Action": "DescribeVpcs", "Version": "2016-11-15"},
                                                  when=when)
                self.assertEqual((400, "RequestExpired"), (status, code_of(body)))
                status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.DescribeTable",
                                                {"TableName": "t1"}, when=when)
                self.assertEqual((403, "InvalidSignatureException"), (status, doc["__type"].rsplit("#", 1)[-1]))
                status, _, body = self.fake.raw("GET", "/bucket?list-type=2", "s3", s3=True, when=when)
                self.assertEqual((403, "RequestTimeTooSkewed"), (status, code_of(body)))

    def test_fourteen_minutes_of_skew_is_still_accepted(self):
        status, _, body = self.fake.raw("POST", "/", "sts", headers=FORM, body=STS_BODY,
                                        when=NOW - datetime.timedelta(minutes=14))
        self.assertEqual(200, status, body)

    def test_missing_authentication_is_rejected(self):
        status, _, body = self.fake.raw("POST", "/", "sts", headers=FORM, body=STS_BODY, sign=False)
        self.assertEqual((403, "MissingAuthenticationToken"), (status, code_of(body)))
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": "t1"},
                                        sign=False)
        self.assertEqual((403, "MissingAuthenticationTokenException"), (status, doc["__type"].rsplit("#", 1)[-1]))

    def test_malformed_authorization_is_rejected(self):
        def tamper(headers, body):
            return dict(headers, Authorization="AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/sts"), body
        status, _, body = self.fake.raw("POST", "/", "sts", headers=FORM, body=STS_BODY, tamper=tamper)
        self.assertEqual((400, "IncompleteSignature"), (status, code_of(body)))
        status, _, doc = self.fake.json("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": "t1"},
                                        tamper=tamper)
        self.assertEqual((400, "IncompleteSignatureException"), (status, doc["__type"].rsplit("#", 1)[-1]))

    def test_a_service_fakeaws_does_not_serve_is_named(self):
        status, _, body = self.fake.raw("POST", "/", "glacier", body=b"{}")
        self.assertEqual((501, "NotImplemented"), (status, code_of(body)))
        self.assertIn(b"glacier", body)

    def test_credential_scope_for_the_wrong_service_is_rejected(self):
        # signed for sts, sent with an EC2 action: the scope routes it to sts, which has no such action
        status, _, body = self.fake.query("sts", {"Action": "DescribeVpcs", "Version": "2011-06-15"})
        self.assertEqual((400, "InvalidAction"), (status, code_of(body)))


class TemporaryCredentialsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(settle=0)
        sts = cls.fake.client("sts")
        cls.creds = sts.assume_role(RoleArn="arn:aws:iam::210987654321:role/ops/deployer",
                                    RoleSessionName="ci")["Credentials"]

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def test_assumed_credentials_sign_requests_as_the_role(self):
        c = self.creds
        sts = self.fake.client("sts", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                               token=c["SessionToken"])
        me = sts.get_caller_identity()
        self.assertEqual("arn:aws:sts::210987654321:assumed-role/deployer/ci", me["Arn"])
        self.assertEqual("210987654321", me["Account"])
        ec2 = self.fake.client("ec2", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                               token=c["SessionToken"])
        self.assertEqual("210987654321", ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["OwnerId"])

    def test_assumed_credentials_without_their_token_are_rejected(self):
        c = self.creds
        sts = self.fake.client("sts", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"])
        self.assertEqual(("InvalidClientTokenId", 403), error_of(sts.get_caller_identity))
        sts = self.fake.client("sts", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                               token=c["SessionToken"][:-4] + "AAAA")
        self.assertEqual(("InvalidClientTokenId", 403), error_of(sts.get_caller_identity))

    def test_a_session_token_with_permanent_credentials_is_rejected(self):
        sts = self.fake.client("sts", token="made-up")
        self.assertEqual(("InvalidClientTokenId", 403), error_of(sts.get_caller_identity))

    def test_expired_credentials_are_rejected(self):
        self.fake.server.keyring.add(Identity("ASIAEXPIRED", "secret", token="tok", arn="arn:aws:sts::1:x",
                                              account="123456789012",
                                              expires=NOW - datetime.timedelta(seconds=1)))
        kw = dict(access_key="ASIAEXPIRED", secret_key="secret", token="tok")
        self.assertEqual(("ExpiredToken", 403), error_of(self.fake.client("sts", **kw).get_caller_identity))
        self.assertEqual(("RequestExpired", 400), error_of(self.fake.client("ec2", **kw).describe_vpcs))
        self.assertEqual(("ExpiredTokenException", 400),
                         error_of(self.fake.client("dynamodb", **kw).describe_table, TableName="tbl"))

    def test_reset_forgets_temporary_credentials(self):
        fake = Fake()
        try:
            c = fake.client("sts").assume_role(RoleArn="arn:aws:iam::123456789012:role/r",
                                               RoleSessionName="sess")["Credentials"]
            sts = fake.client("sts", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                              token=c["SessionToken"])
            sts.get_caller_identity()
            fake.control("POST", "/_fake/reset")
            self.assertEqual(("InvalidClientTokenId", 403), error_of(sts.get_caller_identity))
        finally:
            fake.stop()


class PayloadHashTest(unittest.TestCase):
    def test_content_sha256_header_must_match_the_body_outside_s3_too(self):
        fake = Fake()
        try:
            wrong = hashlib.sha256(b"other").hexdigest()
            status, _, body = fake.raw("POST", "/", "sts", headers=dict(FORM, **{"X-Amz-Content-SHA256": wrong}),
                                       body=STS_BODY)
            self.assertEqual((403, "SignatureDoesNotMatch"), (status, code_of(body)))
        finally:
            fake.stop()


if __name__ == "__main__":
    unittest.main()
