"""Secrets Manager (secretsmanager.py): versions and staging labels, lookups by
name, ARN and partial ARN, tokens, scheduled and forced deletion, values kept
out of the state dump."""
import unittest

from fakeaws.testing import Fake
from test_auth import error_of

TOKEN_A = "aaaaaaaa-0000-4000-8000-000000000001"
TOKEN_B = "bbbbbbbb-0000-4000-8000-000000000002"


class SecretsManagerTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake()
        self.sm = self.fake.client("secretsmanager", region="eu-west-1")

    def tearDown(self):
        self.fake.stop()

    def test_versions_move_the_current_label(self):
        arn = self.sm.create_secret(Name="db", SecretString="one-value", ClientRequestToken=TOKEN_A)["ARN"]
        self.sm.put_secret_value(SecretId=arn, SecretString="two-value", ClientRequestToken=TOKEN_B)
        self.sm.put_secret_value(SecretId=arn, SecretString="two-value", ClientRequestToken=TOKEN_B)  # a repeat
        self.assertEqual(("ResourceExistsException", 400), error_of(
            self.sm.put_secret_value, SecretId=arn, SecretString="other", ClientRequestToken=TOKEN_B))
        self.assertEqual({TOKEN_A: ["AWSPREVIOUS"], TOKEN_B: ["AWSCURRENT"]},
                         self.sm.describe_secret(SecretId="db")["VersionIdsToStages"])
        self.assertEqual("one-value", self.sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])
        self.assertEqual("one-value", self.sm.get_secret_value(SecretId=arn, VersionId=TOKEN_A)["SecretString"])
        third = self.sm.put_secret_value(SecretId=arn, SecretString="three-value")["VersionId"]
        self.assertEqual({TOKEN_B: ["AWSPREVIOUS"], third: ["AWSCURRENT"]},
                         self.sm.describe_secret(SecretId=arn)["VersionIdsToStages"])
        self.assertNotIn("value", repr(self.fake.state()))

    def test_lookups_and_errors(self):
        arn = self.sm.create_secret(Name="app/redis", SecretString="x" * 20)["ARN"]
        self.assertEqual(arn, self.sm.describe_secret(SecretId=arn[:-7])["ARN"])          # partial ARN
        self.assertEqual(("ResourceNotFoundException", 400), error_of(self.sm.get_secret_value, SecretId="nope"))
        self.assertEqual(("ResourceExistsException", 400), error_of(self.sm.create_secret, Name="app/redis",
                                                                    SecretString="y"))
        self.assertEqual(("InvalidParameterException", 400), error_of(self.sm.put_secret_value, SecretId=arn))
        empty = self.sm.create_secret(Name="empty")
        self.assertNotIn("VersionId", empty)
        self.assertEqual(("ResourceNotFoundException", 400), error_of(self.sm.get_secret_value, SecretId="empty"))

    def test_deletion_is_scheduled_unless_forced(self):
        self.sm.create_secret(Name="db", SecretString="value-one")
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.sm.delete_secret, SecretId="db", RecoveryWindowInDays=3))
        self.sm.delete_secret(SecretId="db", RecoveryWindowInDays=7)
        self.assertEqual(("InvalidRequestException", 400), error_of(self.sm.get_secret_value, SecretId="db"))
        self.assertIn("DeletedDate", self.sm.describe_secret(SecretId="db"))
        self.sm.delete_secret(SecretId="db", ForceDeleteWithoutRecovery=True)
        self.assertEqual(("ResourceNotFoundException", 400), error_of(self.sm.describe_secret, SecretId="db"))
        self.assertEqual({}, self.fake.state())


if __name__ == "__main__":
    unittest.main()
