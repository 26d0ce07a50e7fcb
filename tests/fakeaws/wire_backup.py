"""Wire tests (run by test_wire.WireTest) of AWS Backup: a botocore client
performs every operation backup.py serves, in eu-west-1."""
import json

TRUST_BACKUP = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


class BackupWire:
    def test_backup(self):
        backup = self.fake.client("backup", region="eu-west-1")
        iam = self.fake.client("iam")
        vault = backup.create_backup_vault(BackupVaultName="wire", CreatorRequestId="wire-1",
                                           BackupVaultTags={"wpo:stack": "prod"})
        self.assertEqual("arn:aws:backup:eu-west-1:123456789012:backup-vault:wire", vault["BackupVaultArn"])
        self.assertEqual("wire-1", backup.describe_backup_vault(BackupVaultName="wire")["CreatorRequestId"])
        self.assertIn("wire", [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]])
        backup.tag_resource(ResourceArn=vault["BackupVaultArn"], Tags={"team": "web"})
        backup.untag_resource(ResourceArn=vault["BackupVaultArn"], TagKeyList=["wpo:stack"])
        self.assertEqual({"team": "web"}, backup.list_tags(ResourceArn=vault["BackupVaultArn"])["Tags"])
        point = self.fake.control("POST", "/_fake/backup/recovery-points", {"vault": "wire", "region": "eu-west-1"})
        listed = backup.list_recovery_points_by_backup_vault(BackupVaultName="wire")["RecoveryPoints"]
        self.assertEqual(point["recovery_points"], [p["RecoveryPointArn"] for p in listed])
        backup.delete_recovery_point(BackupVaultName="wire", RecoveryPointArn=point["recovery_points"][0])
        rule = {"RuleName": "daily", "TargetBackupVaultName": "wire", "ScheduleExpression": "cron(0 3 * * ? *)",
                "StartWindowMinutes": 60, "CompletionWindowMinutes": 180, "Lifecycle": {"DeleteAfterDays": 35}}
        plan = backup.create_backup_plan(BackupPlan={"BackupPlanName": "wire", "Rules": [rule]},
                                         CreatorRequestId="wire-plan")
        updated = backup.update_backup_plan(BackupPlanId=plan["BackupPlanId"], BackupPlan={
            "BackupPlanName": "wire", "Rules": [dict(rule, StartWindowMinutes=120, CompletionWindowMinutes=240)]})
        got = backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])
        self.assertEqual((updated["VersionId"], 120),
                         (got["VersionId"], got["BackupPlan"]["Rules"][0]["StartWindowMinutes"]))
        self.assertEqual([plan["BackupPlanId"]],
                         [p["BackupPlanId"] for p in backup.list_backup_plans()["BackupPlansList"]])
        role = iam.create_role(RoleName="wire-backup", AssumeRolePolicyDocument=json.dumps(TRUST_BACKUP))["Role"]["Arn"]
        sel = backup.create_backup_selection(BackupPlanId=plan["BackupPlanId"], BackupSelection={
            "SelectionName": "wire", "IamRoleArn": role,
            "Resources": ["arn:aws:rds:eu-west-1:123456789012:cluster:wp"]})
        self.assertEqual("wire", backup.get_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=sel[
            "SelectionId"])["BackupSelection"]["SelectionName"])
        self.assertEqual([sel["SelectionId"]], [s["SelectionId"] for s in backup.list_backup_selections(
            BackupPlanId=plan["BackupPlanId"])["BackupSelectionsList"]])
        backup.delete_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=sel["SelectionId"])
        backup.delete_backup_plan(BackupPlanId=plan["BackupPlanId"])
        backup.delete_backup_vault(BackupVaultName="wire")
        iam.delete_role(RoleName="wire-backup")
        self.assert_all_served_ops_succeeded("backup")
