"""Wire tests of how people sign in: the SSO portal and SSO OIDC, each driven
by a botocore client sending unsigned requests (as botocore's own SSO
credential and token providers do). Mixed into test_wire.WireTest."""
import botocore


class SigninWire:
    def test_sso(self):
        login = self.fake.control("POST", "/_fake/sso/login", {"user": "alice"})
        sso = self.fake.client("sso", signature_version=botocore.UNSIGNED)
        creds = sso.get_role_credentials(roleName="Admin", accountId="111122223333",
                                         accessToken=login["accessToken"])["roleCredentials"]
        self.assertTrue(creds["accessKeyId"].startswith("ASIA"))
        self.assertIsInstance(creds["expiration"], int)
        self.assert_all_served_ops_succeeded("sso")

    def test_sso_oidc(self):
        login = self.fake.control("POST", "/_fake/sso/login", {})
        oidc = self.fake.client("sso-oidc", signature_version=botocore.UNSIGNED)
        out = oidc.create_token(clientId=login["clientId"], clientSecret=login["clientSecret"],
                                grantType="refresh_token", refreshToken=login["refreshToken"])
        self.assertEqual(("Bearer", 3600), (out["tokenType"], out["expiresIn"]))
        self.assertNotEqual(login["refreshToken"], out["refreshToken"])
        self.assert_all_served_ops_succeeded("sso-oidc")
