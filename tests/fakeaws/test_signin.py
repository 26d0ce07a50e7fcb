"""How people and CI sign in, as fakeaws serves it: STS AssumeRoleWithWebIdentity
and the SSO portal and OIDC services answer unsigned requests (and only those
operations do); the server's clock, moved by /_fake/clock, expires tokens and
credentials without sleeping; /_fake/calls?by=key tells which access key
signed each call."""
import datetime
import unittest

import botocore

from fakeaws.testing import Fake
from test_auth import error_of

ROLE = "arn:aws:iam::123456789012:role/ci"
TRUST = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
         '{"Federated": "token.fakeaws.invalid"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}')


class SigninTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        self.anonymous = self.fake.client("sts", signature_version=botocore.UNSIGNED)

    def tearDown(self):
        self.fake.stop()

    def token(self, **doc):
        return self.fake.control("POST", "/_fake/sts/web-identity-token", doc)["token"]

    def advance(self, seconds):
        return self.fake.control("POST", "/_fake/clock", {"advance": seconds})

    def web(self, token, role=ROLE, **kw):
        return self.anonymous.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ci",
                                                            WebIdentityToken=token, **kw)

    def test_web_identity_credentials_sign_as_the_role(self):
        out = self.web(self.token(subject="repo:acme/infra:ref:refs/heads/main"))
        self.assertEqual("repo:acme/infra:ref:refs/heads/main", out["SubjectFromWebIdentityToken"])
        c = out["Credentials"]
        sts = self.fake.client("sts", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                               token=c["SessionToken"])
        self.assertEqual("arn:aws:sts::123456789012:assumed-role/ci/ci", sts.get_caller_identity()["Arn"])
        by_key = self.fake.control("GET", "/_fake/calls?by=key")
        self.assertEqual({"unsigned": {"sts.AssumeRoleWithWebIdentity": 1},
                          c["AccessKeyId"]: {"sts.GetCallerIdentity": 1}}, by_key)
        by_arn = self.fake.control("GET", "/_fake/calls?by=arn")
        self.assertEqual({"unsigned": {"sts.AssumeRoleWithWebIdentity": 1},
                          "arn:aws:sts::123456789012:assumed-role/ci/ci": {"sts.GetCallerIdentity": 1}}, by_arn)

    def test_web_identity_refuses_unknown_and_expired_tokens(self):
        self.assertEqual(("InvalidIdentityToken", 400), error_of(self.web, "eyJhbGciOi.not.issued"))
        token = self.token(lifetime=600)
        self.web(token)
        self.advance(601)
        self.assertEqual(("ExpiredTokenException", 400), error_of(self.web, token))

    def test_a_role_that_does_not_exist_cannot_be_assumed_once_roles_exist(self):
        iam = self.fake.client("iam")
        iam.create_role(RoleName="ci", AssumeRolePolicyDocument=TRUST)
        self.web(self.token())
        self.assertEqual(("AccessDenied", 403),
                         error_of(self.web, self.token(), role="arn:aws:iam::123456789012:role/other"))

    def test_operations_that_need_a_signature_still_do(self):
        self.assertEqual(("MissingAuthenticationToken", 403), error_of(self.anonymous.get_caller_identity))
        self.assertEqual(("MissingAuthenticationToken", 403),
                         error_of(self.anonymous.assume_role, RoleArn=ROLE, RoleSessionName="xy"))

    def test_the_clock_expires_temporary_credentials(self):
        c = self.web(self.token(), DurationSeconds=900)["Credentials"]
        sts = self.fake.client("sts", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                               token=c["SessionToken"])
        sts.get_caller_identity()
        # the fake clock is the real one plus the offset: 10 s short of the
        # expiry leaves room for a slow machine between the calls
        clock = self.advance(890)
        self.assertEqual(890, clock["offset"])
        sts.get_caller_identity()
        self.advance(10)
        self.assertEqual(("ExpiredToken", 403), error_of(sts.get_caller_identity))
        self.fake.control("POST", "/_fake/reset")
        self.assertEqual(0, self.fake.control("GET", "/_fake/clock")["offset"])

    def test_every_secret_handed_out_is_listed(self):
        token = self.token()
        c = self.web(token)["Credentials"]
        login = self.fake.control("POST", "/_fake/sso/login", {})
        secrets = set(self.fake.control("GET", "/_fake/secrets")["secrets"])
        for s in (token, c["SecretAccessKey"], c["SessionToken"], login["accessToken"], login["refreshToken"],
                  login["clientSecret"]):
            self.assertIn(s, secrets)
        self.assertNotIn("test", secrets)

    def test_the_clock_only_moves_forward(self):
        for doc in ({"advance": -1}, {"advance": "1"}, {}, {"advance": 1, "x": 2}):
            with self.assertRaises(AssertionError):
                self.fake.control("POST", "/_fake/clock", doc)

    def test_issued_credentials_for_credential_process(self):
        out = self.fake.control("POST", "/_fake/credentials", {"name": "vault-user", "lifetime": 1200})
        self.assertEqual(1, out["Version"])
        expires = datetime.datetime.strptime(out["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        self.assertLess(abs((expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() - 1200), 5)
        sts = self.fake.client("sts", access_key=out["AccessKeyId"], secret_key=out["SecretAccessKey"],
                               token=out["SessionToken"])
        self.assertEqual("arn:aws:iam::123456789012:user/vault-user", sts.get_caller_identity()["Arn"])
        permanent = self.fake.control("POST", "/_fake/credentials", {"name": "p", "permanent": True})
        self.assertTrue(permanent["AccessKeyId"].startswith("AKIA"))
        self.assertNotIn("SessionToken", permanent)
        sts = self.fake.client("sts", access_key=permanent["AccessKeyId"], secret_key=permanent["SecretAccessKey"])
        self.assertEqual("arn:aws:iam::123456789012:user/p", sts.get_caller_identity()["Arn"])
        expired = self.fake.control("POST", "/_fake/credentials", {"lifetime": -60})
        sts = self.fake.client("sts", access_key=expired["AccessKeyId"], secret_key=expired["SecretAccessKey"],
                               token=expired["SessionToken"])
        self.assertEqual(("ExpiredToken", 403), error_of(sts.get_caller_identity))


class SSOTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        self.sso = self.fake.client("sso", region="eu-west-1", signature_version=botocore.UNSIGNED)
        self.oidc = self.fake.client("sso-oidc", region="eu-west-1", signature_version=botocore.UNSIGNED)

    def tearDown(self):
        self.fake.stop()

    def login(self, **doc):
        return self.fake.control("POST", "/_fake/sso/login", doc)

    def role(self, token, account="111122223333"):
        return self.sso.get_role_credentials(roleName="Admin", accountId=account,
                                             accessToken=token)["roleCredentials"]

    def refresh(self, login, **override):
        args = dict(clientId=login["clientId"], clientSecret=login["clientSecret"],
                    grantType="refresh_token", refreshToken=login["refreshToken"])
        args.update(override)
        return self.oidc.create_token(**args)

    def test_login_writes_what_the_cli_caches(self):
        doc = self.login(start_url="https://acme.awsapps.com/start", region="eu-west-1")
        self.assertEqual({"startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret",
                          "registrationExpiresAt", "refreshToken"}, set(doc))
        self.assertEqual(("https://acme.awsapps.com/start", "eu-west-1"), (doc["startUrl"], doc["region"]))
        self.assertRegex(doc["expiresAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual({"startUrl", "region", "accessToken", "expiresAt"}, set(self.login(refresh=False)))

    def test_role_credentials_sign_as_the_sso_role(self):
        c = self.role(self.login(user="alice", role_lifetime=1800)["accessToken"])
        now_ms = datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000
        self.assertLess(abs(c["expiration"] - now_ms - 1800 * 1000), 5000)
        sts = self.fake.client("sts", access_key=c["accessKeyId"], secret_key=c["secretAccessKey"],
                               token=c["sessionToken"])
        me = sts.get_caller_identity()
        self.assertEqual("111122223333", me["Account"])
        self.assertRegex(me["Arn"], r"^arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_[0-9a-f]{16}/alice$")
        self.assertEqual({"sso.GetRoleCredentials": 1}, self.fake.control("GET", "/_fake/calls?by=key")["unsigned"])

    def test_unknown_or_expired_access_tokens_are_unauthorized(self):
        self.assertEqual(("UnauthorizedException", 401), error_of(self.role, "aoa-not-issued"))
        self.assertEqual(("UnauthorizedException", 401), error_of(self.role, self.login(lifetime=-1)["accessToken"]))
        token = self.login(lifetime=600)["accessToken"]
        self.role(token)
        self.fake.control("POST", "/_fake/clock", {"advance": 600})
        self.assertEqual(("UnauthorizedException", 401), error_of(self.role, token))

    def test_create_token_refreshes_and_rotates_the_refresh_token(self):
        login = self.login(lifetime=-5)
        out = self.refresh(login)
        self.assertEqual(3600, out["expiresIn"])
        self.role(out["accessToken"])
        self.assertEqual(("InvalidGrantException", 400), error_of(self.refresh, login))
        again = self.refresh(login, refreshToken=out["refreshToken"])
        self.role(again["accessToken"])

    def test_create_token_refuses_bad_clients_and_grants(self):
        login = self.login()
        self.assertEqual(("InvalidClientException", 401), error_of(self.refresh, login, clientSecret="wrong"))
        self.assertEqual(("InvalidGrantException", 400), error_of(self.refresh, login, refreshToken="aor-nope"))
        self.assertEqual(("UnsupportedGrantTypeException", 400),
                         error_of(self.refresh, login, grantType="urn:ietf:params:oauth:grant-type:device_code"))
        old = self.login(registration_lifetime=60)
        self.fake.control("POST", "/_fake/clock", {"advance": 61})
        self.assertEqual(("InvalidClientException", 401), error_of(self.refresh, old))

    def test_only_the_unsigned_operations_are_served_unsigned(self):
        status, _, body = self.fake.raw("GET", "/nowhere", "sso", sign=False)
        self.assertEqual(403, status)
        self.assertIn(b"MissingAuthenticationToken", body)


if __name__ == "__main__":
    unittest.main()
