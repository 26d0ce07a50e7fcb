"""AWS Backup (backup.py): vaults and their recovery points (the control
endpoint adds them; a vault holding some cannot be deleted), plans with rules
checked and a new VersionId per update, selections (role checked, a plan with
selections cannot be deleted), CreatorRequestId answering what it made, tags
by ARN, and a new role not yet usable by AWS Backup while IAM propagates it."""
import unittest

from fakeaws.testing import Fake
from test_auth import error_of
from test_eventual import Clock

TRUST_BACKUP = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":' \
               '"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
TRUST_EC2 = TRUST_BACKUP.replace("backup.amazonaws.com", "ec2.amazonaws.com")
FS = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123abcd"


def rule(vault="main", **kw):
    out = {"RuleName": "daily", "TargetBackupVaultName": vault, "ScheduleExpression": "cron(0 3 * * ? *)",
           "StartWindowMinutes": 60, "CompletionWindowMinutes": 180, "Lifecycle": {"DeleteAfterDays": 30}}
    out.update(kw)
    return out


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        self.backup = self.fake.client("backup")
        self.iam = self.fake.client("iam")

    def tearDown(self):
        self.fake.stop()

    def role(self, name="backup", trust=TRUST_BACKUP):
        return self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]

    def plan(self, name="wp", **kw):
        return self.backup.create_backup_plan(BackupPlan={"BackupPlanName": name, "Rules": [rule(**kw)]})

    def test_each_region_sees_only_its_own_vaults_and_plans(self):
        self.backup.create_backup_vault(BackupVaultName="main")
        self.plan()
        there = self.fake.client("backup", region="eu-central-1")
        self.assertEqual([], there.list_backup_vaults()["BackupVaultList"])
        self.assertEqual([], there.list_backup_plans()["BackupPlansList"])
        with self.assertRaises(there.exceptions.ResourceNotFoundException):
            there.describe_backup_vault(BackupVaultName="main")
        self.assertEqual(["main"], [v["BackupVaultName"] for v in self.backup.list_backup_vaults()["BackupVaultList"]])

    def test_a_vault_is_encrypted_tagged_and_found_again_by_its_request_id(self):
        made = self.backup.create_backup_vault(BackupVaultName="main", CreatorRequestId="req-1",
                                               BackupVaultTags={"a": "1"})
        self.assertEqual("arn:aws:backup:us-east-1:123456789012:backup-vault:main", made["BackupVaultArn"])
        vault = self.backup.describe_backup_vault(BackupVaultName="main")
        self.assertRegex(vault["EncryptionKeyArn"], r"^arn:aws:kms:us-east-1:123456789012:key/")
        self.assertEqual(("req-1", 0), (vault["CreatorRequestId"], vault["NumberOfRecoveryPoints"]))
        self.assertEqual({"a": "1"}, self.backup.list_tags(ResourceArn=made["BackupVaultArn"])["Tags"])
        again = self.backup.create_backup_vault(BackupVaultName="main", CreatorRequestId="req-1")
        self.assertEqual(made["BackupVaultArn"], again["BackupVaultArn"])
        self.assertEqual(("AlreadyExistsException", 400), error_of(
            self.backup.create_backup_vault, BackupVaultName="main", CreatorRequestId="req-2"))
        key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        self.backup.create_backup_vault(BackupVaultName="keyed", EncryptionKeyArn=key)
        self.assertEqual(key, self.backup.describe_backup_vault(BackupVaultName="keyed")["EncryptionKeyArn"])
        self.assertEqual(["keyed", "main"], [v["BackupVaultName"] for v in
                                             self.backup.list_backup_vaults()["BackupVaultList"]])
        self.assertEqual(("InvalidParameterValueException", 400), error_of(
            self.backup.create_backup_vault, BackupVaultName="a b"))

    def test_a_vault_holding_recovery_points_is_not_deleted(self):
        self.backup.create_backup_vault(BackupVaultName="main")
        points = self.fake.control("POST", "/_fake/backup/recovery-points", {"vault": "main", "count": 2})
        self.assertEqual(2, len(points["recovery_points"]))
        self.assertEqual(2, self.backup.describe_backup_vault(BackupVaultName="main")["NumberOfRecoveryPoints"])
        self.assertEqual(("InvalidRequestException", 400), error_of(
            self.backup.delete_backup_vault, BackupVaultName="main"))
        listed = self.backup.list_recovery_points_by_backup_vault(BackupVaultName="main")["RecoveryPoints"]
        self.assertEqual(sorted(points["recovery_points"]), [p["RecoveryPointArn"] for p in listed])
        for arn in points["recovery_points"]:
            self.backup.delete_recovery_point(BackupVaultName="main", RecoveryPointArn=arn)
        self.assertEqual(("ResourceNotFoundException", 400), error_of(
            self.backup.delete_recovery_point, BackupVaultName="main", RecoveryPointArn=arn))
        self.backup.delete_backup_vault(BackupVaultName="main")
        self.assertEqual(("ResourceNotFoundException", 400), error_of(
            self.backup.describe_backup_vault, BackupVaultName="main"))
        with self.assertRaises(AssertionError):
            self.fake.control("POST", "/_fake/backup/recovery-points", {"vault": "main"})

    def test_plans_check_their_rules_and_get_a_new_version_per_update(self):
        self.assertEqual(("InvalidParameterValueException", 400), error_of(self.plan))   # no vault yet
        self.backup.create_backup_vault(BackupVaultName="main")
        self.assertEqual(("InvalidParameterValueException", 400), error_of(
            self.plan, ScheduleExpression="rate(1 day)"))
        self.assertEqual(("InvalidParameterValueException", 400), error_of(self.plan, StartWindowMinutes=30))
        self.assertEqual(("InvalidParameterValueException", 400), error_of(
            self.plan, CopyActions=[{"DestinationBackupVaultArn": "nope"}]))
        made = self.backup.create_backup_plan(BackupPlan={"BackupPlanName": "wp", "Rules": [rule()]},
                                              CreatorRequestId="p-1", BackupPlanTags={"t": "v"})
        got = self.backup.get_backup_plan(BackupPlanId=made["BackupPlanId"])
        self.assertEqual((made["VersionId"], "wp", "cron(0 3 * * ? *)", {"DeleteAfterDays": 30}),
                         (got["VersionId"], got["BackupPlan"]["BackupPlanName"],
                          got["BackupPlan"]["Rules"][0]["ScheduleExpression"],
                          got["BackupPlan"]["Rules"][0]["Lifecycle"]))
        again = self.backup.create_backup_plan(BackupPlan={"BackupPlanName": "wp", "Rules": [rule()]},
                                               CreatorRequestId="p-1")
        self.assertEqual(made["BackupPlanId"], again["BackupPlanId"])
        self.assertEqual(("AlreadyExistsException", 400), error_of(self.plan))
        dest = "arn:aws:backup:eu-west-1:123456789012:backup-vault:dr"
        updated = self.backup.update_backup_plan(BackupPlanId=made["BackupPlanId"], BackupPlan={
            "BackupPlanName": "wp", "Rules": [rule(CopyActions=[{"DestinationBackupVaultArn": dest,
                                                                 "Lifecycle": {"DeleteAfterDays": 7}}])]})
        self.assertNotEqual(made["VersionId"], updated["VersionId"])
        got = self.backup.get_backup_plan(BackupPlanId=made["BackupPlanId"])
        self.assertEqual(dest, got["BackupPlan"]["Rules"][0]["CopyActions"][0]["DestinationBackupVaultArn"])
        listed = self.backup.list_backup_plans()["BackupPlansList"]
        self.assertEqual([("wp", "p-1", updated["VersionId"])],
                         [(x["BackupPlanName"], x["CreatorRequestId"], x["VersionId"]) for x in listed])
        self.assertEqual({"t": "v"}, self.backup.list_tags(ResourceArn=made["BackupPlanArn"])["Tags"])
        self.backup.tag_resource(ResourceArn=made["BackupPlanArn"], Tags={"u": "w"})
        self.backup.untag_resource(ResourceArn=made["BackupPlanArn"], TagKeyList=["t"])
        self.assertEqual({"u": "w"}, self.backup.list_tags(ResourceArn=made["BackupPlanArn"])["Tags"])

    def test_selections_need_a_role_backup_can_assume_and_hold_their_plan(self):
        self.backup.create_backup_vault(BackupVaultName="main")
        plan_id = self.plan()["BackupPlanId"]
        ec2_role = self.role("ec2", TRUST_EC2)
        role = self.role()
        for policy in ("AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"):
            self.iam.attach_role_policy(RoleName="backup",
                                        PolicyArn=f"arn:aws:iam::aws:policy/service-role/{policy}")

        def select(arn, resources=(FS,), **kw):
            return self.backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
                "SelectionName": "wp", "IamRoleArn": arn, "Resources": list(resources)}, **kw)
        self.assertEqual(("InvalidParameterValueException", 400), error_of(select, ec2_role))
        self.assertEqual(("InvalidParameterValueException", 400), error_of(
            select, "arn:aws:iam::123456789012:role/none"))
        self.assertEqual(("InvalidParameterValueException", 400), error_of(select, role, resources=()))
        made = select(role, CreatorRequestId="s-1")
        self.assertEqual(made["SelectionId"], select(role, CreatorRequestId="s-1")["SelectionId"])
        self.assertEqual(("AlreadyExistsException", 400), error_of(select, role, CreatorRequestId="s-2"))
        got = self.backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=made["SelectionId"])
        self.assertEqual(([FS], role), (got["BackupSelection"]["Resources"], got["BackupSelection"]["IamRoleArn"]))
        listed = self.backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
        self.assertEqual([("wp", "s-1")], [(x["SelectionName"], x["CreatorRequestId"]) for x in listed])
        self.assertEqual(("InvalidRequestException", 400), error_of(self.backup.delete_backup_plan,
                                                                    BackupPlanId=plan_id))
        self.backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=made["SelectionId"])
        self.assertEqual(("ResourceNotFoundException", 400), error_of(
            self.backup.get_backup_selection, BackupPlanId=plan_id, SelectionId=made["SelectionId"]))
        self.backup.delete_backup_plan(BackupPlanId=plan_id)
        self.assertEqual(("ResourceNotFoundException", 400), error_of(self.backup.get_backup_plan,
                                                                      BackupPlanId=plan_id))

    def test_a_new_role_is_not_usable_by_backup_until_iam_has_propagated_it(self):
        clock = Clock()
        self.fake.server.eventual.clock = clock
        self.fake.control("POST", "/_fake/eventual", {"seconds": 5, "fixed": True})
        self.backup.create_backup_vault(BackupVaultName="main")
        plan_id = self.plan()["BackupPlanId"]
        role = self.role()

        def select():
            return self.backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
                "SelectionName": "wp", "IamRoleArn": role, "Resources": [FS]})
        self.assertEqual(("InvalidParameterValueException", 400), error_of(select))
        clock.advance(6)
        self.assertTrue(select()["SelectionId"])


if __name__ == "__main__":
    unittest.main()
