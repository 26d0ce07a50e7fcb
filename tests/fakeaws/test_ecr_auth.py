"""ECR's GetAuthorizationToken as fakeaws serves it: base64 "AWS:<password>"
valid 12 hours at the account's registry endpoint, or, after
POST /_fake/ecr/authorization, the password and address of a test registry;
every password handed out is listed by /_fake/secrets."""
import base64
import unittest

from fakeaws.testing import Fake


class EcrAuthorizationTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        self.ecr = self.fake.client("ecr")

    def tearDown(self):
        self.fake.stop()

    def login(self, **kw):
        data = self.ecr.get_authorization_token(**kw)["authorizationData"]
        self.assertEqual(1, len(data))
        user, _, password = base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
        return user, password, data[0]

    def test_a_fresh_password_for_the_accounts_registry(self):
        user, first, data = self.login()
        self.assertEqual("AWS", user)
        self.assertGreaterEqual(len(first), 32)
        self.assertEqual(f"https://{self.fake.server.account}.dkr.ecr.us-east-1.amazonaws.com", data["proxyEndpoint"])
        _, second, _ = self.login()
        self.assertNotEqual(first, second)
        secrets = self.fake.control("GET", "/_fake/secrets")["secrets"]
        self.assertIn(first, secrets)
        self.assertIn(second, secrets)

    def test_the_control_call_hands_out_a_test_registrys_credentials(self):
        state = self.fake.control("POST", "/_fake/ecr/authorization",
                                  {"password": "reg-pw", "proxy_endpoint": "http://127.0.0.1:5000"})
        self.assertEqual({"proxy_endpoint": "http://127.0.0.1:5000", "password_set": True}, state)
        user, password, data = self.login()
        self.assertEqual(("AWS", "reg-pw", "http://127.0.0.1:5000"), (user, password, data["proxyEndpoint"]))
        self.assertNotIn("reg-pw", str(self.fake.control("GET", "/_fake/ecr/authorization")))
        self.fake.control("POST", "/_fake/ecr/authorization", {})
        _, password, _ = self.login()
        self.assertNotEqual("reg-pw", password)

    def test_a_bad_registry_id_is_refused(self):
        with self.assertRaises(self.ecr.exceptions.InvalidParameterException):
            self.ecr.get_authorization_token(registryIds=["12345"])


if __name__ == "__main__":
    unittest.main()
