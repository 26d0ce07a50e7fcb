"""IAM users and enforcement of their identity policies (services/iam_users.py, iamauth.py)."""
import json
import unittest

import botocore.exceptions

from fakeaws.testing import Fake


def _policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class IamEnforceTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(enforce_iam=True)
        self.addCleanup(self.fake.stop)
        iam = self.fake.client("iam")
        iam.create_user(UserName="deployer")
        key = iam.create_access_key(UserName="deployer")["AccessKey"]
        self.iam = iam
        self.key = key

    def user_client(self, service):
        return self.fake.client(service, access_key=self.key["AccessKeyId"], secret_key=self.key["SecretAccessKey"])

    def denied(self, call, code, action, resource):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            call()
        err = cm.exception.response["Error"]
        self.assertEqual(code, err["Code"])
        self.assertIn(f"User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: {action} "
                      f"on resource: {resource}", err["Message"])

    def test_no_policy_denies_naming_the_action(self):
        ec2 = self.user_client("ec2")
        self.denied(lambda: ec2.create_vpc(CidrBlock="10.0.0.0/16"), "UnauthorizedOperation", "ec2:CreateVpc", "*")
        logs = self.user_client("logs")
        self.denied(lambda: logs.create_log_group(logGroupName="/a/b"), "AccessDeniedException",
                    "logs:CreateLogGroup", "arn:aws:logs:us-east-1:123456789012:log-group:/a/b:*")
        elb = self.user_client("elbv2")
        self.denied(lambda: elb.describe_load_balancers(), "AccessDenied",
                    "elasticloadbalancing:DescribeLoadBalancers", "*")

    def test_allow_wildcards_and_explicit_deny(self):
        self.iam.put_user_policy(UserName="deployer", PolicyName="p", PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["logs:*"], "Resource": "arn:aws:logs:*:*:log-group:/app/*"},
            {"Effect": "Deny", "Action": "logs:DeleteLogGroup", "Resource": "*"},
            {"Effect": "Allow", "NotAction": ["ec2:*", "logs:*", "iam:*"], "Resource": "*"}))
        ec2 = self.user_client("ec2")
        ec2.describe_vpcs()
        self.denied(lambda: ec2.create_vpc(CidrBlock="10.0.0.0/16"), "UnauthorizedOperation", "ec2:CreateVpc", "*")
        logs = self.user_client("logs")
        logs.create_log_group(logGroupName="/app/x")
        self.denied(lambda: logs.create_log_group(logGroupName="/other"), "AccessDeniedException",
                    "logs:CreateLogGroup", "arn:aws:logs:us-east-1:123456789012:log-group:/other:*")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            logs.delete_log_group(logGroupName="/app/x")
        self.assertIn("explicit deny", cm.exception.response["Error"]["Message"])
        self.user_client("sns").create_topic(Name="t")          # NotAction: allowed
        self.denied(lambda: self.user_client("iam").get_role(RoleName="r"), "AccessDenied", "iam:GetRole",
                    "arn:aws:iam::123456789012:role/r")

    def test_pass_role_is_checked_on_the_roles_handed_over(self):
        trust = _policy({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                         "Action": "sts:AssumeRole"})
        role = self.iam.create_role(RoleName="task", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        self.iam.put_user_policy(UserName="deployer", PolicyName="p", PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": "*"}))
        ecs = self.user_client("ecs")
        register = lambda: ecs.register_task_definition(  # noqa: E731
            family="f", taskRoleArn=role, containerDefinitions=[{"name": "c", "image": "i", "memory": 64}])
        self.denied(register, "AccessDeniedException", "iam:PassRole", role)
        self.iam.put_user_policy(UserName="deployer", PolicyName="pass", PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/task"}))
        register()

    def test_other_keys_stay_unrestricted_and_enforcement_is_opt_in(self):
        self.fake.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
        self.fake.server.enforce_iam = False
        self.user_client("ec2").create_vpc(CidrBlock="10.1.0.0/16")

    def test_user_lifecycle(self):
        self.iam.put_user_policy(UserName="deployer", PolicyName="p", PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}))
        me = self.user_client("sts").get_caller_identity()
        self.assertEqual("arn:aws:iam::123456789012:user/deployer", me["Arn"])
        self.assertEqual(["p"], self.iam.list_user_policies(UserName="deployer")["PolicyNames"])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.iam.delete_user(UserName="deployer")
        self.assertEqual("DeleteConflict", cm.exception.response["Error"]["Code"])
        self.iam.delete_access_key(UserName="deployer", AccessKeyId=self.key["AccessKeyId"])
        self.iam.delete_user_policy(UserName="deployer", PolicyName="p")
        self.iam.delete_user(UserName="deployer")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.user_client("sts").get_caller_identity()
        self.assertEqual("InvalidClientTokenId", cm.exception.response["Error"]["Code"])


if __name__ == "__main__":
    unittest.main()
