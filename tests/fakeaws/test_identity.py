"""IAM in fakeaws, driven by botocore: names without regard to case, policy
documents checked and answered URL-encoded, DeleteConflict while a role holds
policies or instance profiles, one role per instance profile, AWS managed
policies, paging with Marker; and STS assuming only roles that exist."""
import json
import unittest

from fakeaws.testing import Fake
from test_auth import error_of

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "arn:aws:secretsmanager:*"}]})
EXEC = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


class RoleTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1, page_size=2)
        self.iam = self.fake.client("iam")

    def tearDown(self):
        self.fake.stop()

    def test_names_ignore_case(self):
        self.iam.create_role(RoleName="TaskExec", AssumeRolePolicyDocument=TRUST)
        self.assertEqual(("EntityAlreadyExists", 409),
                         error_of(self.iam.create_role, RoleName="taskexec", AssumeRolePolicyDocument=TRUST))
        self.assertEqual("TaskExec", self.iam.get_role(RoleName="TASKEXEC")["Role"]["RoleName"])
        self.assertEqual(("NoSuchEntity", 404), error_of(self.iam.get_role, RoleName="other"))

    def test_documents_are_checked_and_answered_encoded(self):
        for doc in ("{", json.dumps({"Statement": []}),
                    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                                        "Action": "sts:AssumeRole"}]})):
            self.assertEqual(("MalformedPolicyDocument", 400),
                             error_of(self.iam.create_role, RoleName="r", AssumeRolePolicyDocument=doc))
        self.iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        self.assertEqual(("MalformedPolicyDocument", 400),
                         error_of(self.iam.put_role_policy, RoleName="r", PolicyName="p",
                                  PolicyDocument=json.dumps({"Version": "2012-10-17"})))
        # what travels on the wire is URL-encoded JSON (botocore decodes it)
        status, _, body = self.fake.query("iam", {"Action": "GetRole", "Version": "2010-05-08", "RoleName": "r"})
        self.assertEqual(200, status)
        self.assertIn(b"%7B%22Version%22%3A", body)

    def test_a_role_in_use_cannot_be_deleted(self):
        self.iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        self.iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=POLICY)
        self.assertEqual(("DeleteConflict", 409), error_of(self.iam.delete_role, RoleName="r"))
        self.iam.delete_role_policy(RoleName="r", PolicyName="p")
        self.iam.attach_role_policy(RoleName="r", PolicyArn=EXEC)
        self.assertEqual(("DeleteConflict", 409), error_of(self.iam.delete_role, RoleName="r"))
        self.iam.detach_role_policy(RoleName="r", PolicyArn=EXEC)
        self.iam.create_instance_profile(InstanceProfileName="ip")
        self.iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="r")
        self.assertEqual(("DeleteConflict", 409), error_of(self.iam.delete_role, RoleName="r"))
        self.assertEqual(("DeleteConflict", 409), error_of(self.iam.delete_instance_profile,
                                                           InstanceProfileName="ip"))
        self.iam.remove_role_from_instance_profile(InstanceProfileName="ip", RoleName="r")
        self.iam.delete_role(RoleName="r")
        self.assertEqual(("NoSuchEntity", 404), error_of(self.iam.delete_role, RoleName="r"))

    def test_managed_policies_attach_once_and_must_exist(self):
        self.iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        self.iam.attach_role_policy(RoleName="r", PolicyArn=EXEC)
        self.iam.attach_role_policy(RoleName="r", PolicyArn=EXEC)
        self.assertEqual([EXEC], [p["PolicyArn"] for p in
                                  self.iam.list_attached_role_policies(RoleName="r")["AttachedPolicies"]])
        self.assertEqual(("NoSuchEntity", 404), error_of(
            self.iam.attach_role_policy, RoleName="r", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy"))
        self.assertEqual(("NoSuchEntity", 404), error_of(
            self.iam.detach_role_policy, RoleName="r", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess"))

    def test_inline_policies_page_with_marker(self):
        self.iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        for name in ("a", "b", "c"):
            self.iam.put_role_policy(RoleName="r", PolicyName=name, PolicyDocument=POLICY)
        first = self.iam.list_role_policies(RoleName="r")
        self.assertEqual((["a", "b"], True), (first["PolicyNames"], first["IsTruncated"]))
        rest = self.iam.list_role_policies(RoleName="r", Marker=first["Marker"])
        self.assertEqual((["c"], False), (rest["PolicyNames"], rest["IsTruncated"]))
        self.assertEqual(("NoSuchEntity", 404),
                         error_of(self.iam.get_role_policy, RoleName="r", PolicyName="zz"))

    def test_an_instance_profile_holds_one_role(self):
        for name in ("a", "b"):
            self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
        self.iam.create_instance_profile(InstanceProfileName="ip", Path="/wpo/")
        self.iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="a")
        self.assertEqual(("LimitExceeded", 409), error_of(self.iam.add_role_to_instance_profile,
                                                          InstanceProfileName="ip", RoleName="b"))
        self.assertEqual(("NoSuchEntity", 404), error_of(self.iam.remove_role_from_instance_profile,
                                                         InstanceProfileName="ip", RoleName="b"))
        profile = self.iam.get_instance_profile(InstanceProfileName="IP")["InstanceProfile"]
        self.assertEqual("arn:aws:iam::123456789012:instance-profile/wpo/ip", profile["Arn"])
        self.assertEqual(["a"], [r["RoleName"] for r in profile["Roles"]])

    def test_sts_assumes_only_existing_roles_once_roles_exist(self):
        sts = self.fake.client("sts")
        arn = "arn:aws:iam::123456789012:role/deployer"
        sts.assume_role(RoleArn=arn, RoleSessionName="before")      # no IAM roles made: any role
        self.iam.create_role(RoleName="Deployer", AssumeRolePolicyDocument=TRUST)
        sts.assume_role(RoleArn=arn, RoleSessionName="exists")
        self.assertEqual(("AccessDenied", 403), error_of(
            sts.assume_role, RoleArn="arn:aws:iam::123456789012:role/other", RoleSessionName="missing"))


if __name__ == "__main__":
    unittest.main()
