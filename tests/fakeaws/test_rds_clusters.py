"""RDS clusters, instances, cluster parameter groups, snapshots and tags
(rds_clusters.py, rds_instances.py, rds_tags.py): states over describes,
deletion protection, final snapshots, writer/reader roles, parameter rules,
the master password kept out of every answer."""
import unittest

from fakeaws.testing import Fake
from test_auth import error_of

PASSWORD = "correct-horse-9"


class RDSBase(unittest.TestCase):
    settle = 1

    def setUp(self):
        self.fake = Fake(settle=self.settle)
        ec2 = self.fake.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
                        ["Subnet"]["SubnetId"] for i, z in enumerate("abc", 1)]
        self.sg = ec2.create_security_group(VpcId=vpc, GroupName="db", Description="db")["GroupId"]
        self.foreign_sg = ec2.create_security_group(VpcId=other, GroupName="x", Description="x")["GroupId"]
        self.rds = self.fake.client("rds")
        self.rds.create_db_subnet_group(DBSubnetGroupName="db", DBSubnetGroupDescription="db", SubnetIds=self.subnets)

    def tearDown(self):
        self.fake.stop()

    def cluster(self, ident="wp", **kw):
        args = dict(DBClusterIdentifier=ident, Engine="aurora-mysql", MasterUsername="wordpress",
                    MasterUserPassword=PASSWORD, DBSubnetGroupName="db", VpcSecurityGroupIds=[self.sg],
                    StorageEncrypted=True)
        args.update(kw)
        return self.rds.create_db_cluster(**args)["DBCluster"]

    def status(self, ident="wp"):
        return self.rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]["Status"]

    def settle_cluster(self, ident="wp"):
        for _ in range(self.settle + 1):
            state = self.status(ident)
        return state

    def member(self, ident, cluster="wp", **kw):
        return self.rds.create_db_instance(DBInstanceIdentifier=ident, DBClusterIdentifier=cluster,
                                           Engine="aurora-mysql", DBInstanceClass="db.r6g.large", **kw)["DBInstance"]

    def instance_status(self, ident):
        return self.rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]["DBInstanceStatus"]


class ClusterTest(RDSBase):
    def test_states_move_over_describes_and_changes_need_an_available_cluster(self):
        made = self.cluster()
        self.assertEqual("creating", made["Status"])
        self.assertEqual(("InvalidDBClusterStateFault", 400),
                         error_of(self.rds.modify_db_cluster, DBClusterIdentifier="wp", BackupRetentionPeriod=7))
        self.assertEqual(["creating", "available", "available"], [self.status() for _ in range(3)])
        self.rds.modify_db_cluster(DBClusterIdentifier="wp", BackupRetentionPeriod=7, ApplyImmediately=True)
        self.assertEqual(["modifying", "available"], [self.status() for _ in range(2)])
        self.assertEqual(7, self.rds.describe_db_clusters()["DBClusters"][0]["BackupRetentionPeriod"])
        self.rds.delete_db_cluster(DBClusterIdentifier="wp", SkipFinalSnapshot=True)
        self.assertEqual("deleting", self.status())
        self.assertEqual(("DBClusterNotFoundFault", 404), error_of(self.status))
        self.assertEqual([], self.rds.describe_db_cluster_snapshots()["DBClusterSnapshots"])

    def test_the_password_is_checked_kept_and_never_answered(self):
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.cluster, MasterUserPassword="short"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.cluster, MasterUserPassword="has@sign123"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.rds.create_db_cluster, DBClusterIdentifier="wp", Engine="aurora-mysql", MasterUsername="wordpress",
            DBSubnetGroupName="db"))
        made = self.cluster()
        store = self.fake.server.store.table("rds", "db-cluster")
        self.assertEqual(PASSWORD, store["wp"]["_password"])
        self.settle_cluster()
        self.rds.modify_db_cluster(DBClusterIdentifier="wp", MasterUserPassword="battery-staple-7",
                                   ApplyImmediately=True)
        self.assertEqual(["resetting-master-credentials", "available"], [self.status() for _ in range(2)])
        self.assertEqual("battery-staple-7", store["wp"]["_password"])
        everything = repr(made) + repr(self.rds.describe_db_clusters()) + repr(self.fake.state())
        self.assertNotIn(PASSWORD, everything)
        self.assertNotIn("battery-staple-7", everything)

    def test_identifiers_windows_and_settings_are_checked(self):
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.cluster, "1-starts-with-digit"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.cluster, "two--hyphens"))
        self.assertEqual("upper", self.cluster("UPPER")["DBClusterIdentifier"])
        self.assertEqual(("DBClusterAlreadyExistsFault", 400), error_of(self.cluster, "upper"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.cluster, BackupRetentionPeriod=36))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.cluster, PreferredBackupWindow="03:00-03:10"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.cluster, PreferredBackupWindow="03:00-04:00", PreferredMaintenanceWindow="mon:03:30-mon:04:30"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.cluster, VpcSecurityGroupIds=[self.foreign_sg]))
        self.assertEqual(("DBSubnetGroupNotFoundFault", 404), error_of(self.cluster, DBSubnetGroupName="nope"))
        self.assertEqual(("InvalidParameterCombination", 400), error_of(self.cluster, StorageEncrypted=False,
                                                                        KmsKeyId="alias/mine"))
        made = self.cluster("ok", PreferredBackupWindow="03:00-04:00", PreferredMaintenanceWindow="Sun:04:30-Sun:05:30",
                            DatabaseName="wordpress")
        self.assertEqual(("03:00-04:00", "sun:04:30-sun:05:30"),
                         (made["PreferredBackupWindow"], made["PreferredMaintenanceWindow"]))
        self.assertTrue(made["KmsKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/"))
        self.assertRegex(made["Endpoint"], r"^ok\.cluster-[a-z0-9]{12}\.us-east-1\.rds\.amazonaws\.com$")
        self.assertRegex(made["ReaderEndpoint"], r"^ok\.cluster-ro-[a-z0-9]{12}\.us-east-1\.rds\.amazonaws\.com$")
        self.assertEqual(3306, made["Port"])

    def test_deletion_protection_members_and_the_final_snapshot(self):
        self.cluster(DeletionProtection=True, CopyTagsToSnapshot=True, Tags=[{"Key": "env", "Value": "prod"}])
        self.settle_cluster()
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.delete_db_cluster, DBClusterIdentifier="wp", SkipFinalSnapshot=True))
        self.rds.modify_db_cluster(DBClusterIdentifier="wp", DeletionProtection=False, ApplyImmediately=True)
        self.settle_cluster()
        self.member("wp-1")
        self.assertEqual(("InvalidDBClusterStateFault", 400),
                         error_of(self.rds.delete_db_cluster, DBClusterIdentifier="wp", SkipFinalSnapshot=True))
        self.instance_status("wp-1")
        self.instance_status("wp-1")
        self.rds.delete_db_instance(DBInstanceIdentifier="wp-1")
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.delete_db_cluster, DBClusterIdentifier="wp"))
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.delete_db_cluster, DBClusterIdentifier="wp", SkipFinalSnapshot=True,
                                  FinalDBSnapshotIdentifier="x"))
        self.rds.delete_db_cluster(DBClusterIdentifier="wp", FinalDBSnapshotIdentifier="wp-final-1")
        self.assertEqual(("InvalidDBClusterStateFault", 400),
                         error_of(self.rds.delete_db_cluster, DBClusterIdentifier="wp", SkipFinalSnapshot=True))
        snaps = [self.rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="wp-final-1")
                 ["DBClusterSnapshots"][0] for _ in range(2)]
        self.assertEqual(["creating", "available"], [s["Status"] for s in snaps])
        self.assertEqual(("wp", "manual", [{"Key": "env", "Value": "prod"}], True),
                         (snaps[1]["DBClusterIdentifier"], snaps[1]["SnapshotType"], snaps[1]["TagList"],
                          snaps[1]["StorageEncrypted"]))
        self.status()
        self.assertEqual([], self.rds.describe_db_clusters()["DBClusters"])
        self.assertEqual(["wp-final-1"], [s["DBClusterSnapshotIdentifier"]
                                          for s in self.rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]])
        # the same snapshot name again is refused
        self.cluster()
        self.settle_cluster()
        self.assertEqual(("DBClusterSnapshotAlreadyExistsFault", 400),
                         error_of(self.rds.delete_db_cluster, DBClusterIdentifier="wp",
                                  FinalDBSnapshotIdentifier="wp-final-1"))
        self.rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="wp-final-1")
        self.assertEqual(("DBClusterSnapshotNotFoundFault", 404),
                         error_of(self.rds.delete_db_cluster_snapshot, DBClusterSnapshotIdentifier="wp-final-1"))

    def test_a_subnet_group_in_use_stays(self):
        self.cluster()
        self.assertEqual(("InvalidDBSubnetGroupStateFault", 400),
                         error_of(self.rds.delete_db_subnet_group, DBSubnetGroupName="db"))

    def test_clusters_come_in_pages_and_filter_by_id(self):
        for i in range(6):
            self.cluster(f"c{i}")
        pages = list(self.rds.get_paginator("describe_db_clusters").paginate())
        self.assertEqual(2, len(pages))
        self.assertEqual([f"c{i}" for i in range(6)], [c["DBClusterIdentifier"] for p in pages for c in p["DBClusters"]])
        got = self.rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": ["c2", "c4"]}])
        self.assertEqual(["c2", "c4"], [c["DBClusterIdentifier"] for c in got["DBClusters"]])


class MemberTest(RDSBase):
    settle = 0

    def test_the_first_member_writes_and_a_reader_takes_over(self):
        self.cluster()
        self.status()
        self.member("wp-1")
        self.member("wp-2", PromotionTier=2)
        self.member("wp-3", PromotionTier=1)
        zones = [self.rds.describe_db_instances(DBInstanceIdentifier=i)["DBInstances"][0]["AvailabilityZone"]
                 for i in ("wp-1", "wp-2", "wp-3")]
        self.assertEqual(3, len(set(zones)))
        roles = {m["DBInstanceIdentifier"]: m["IsClusterWriter"]
                 for m in self.rds.describe_db_clusters()["DBClusters"][0]["DBClusterMembers"]}
        self.assertEqual({"wp-1": True, "wp-2": False, "wp-3": False}, roles)
        self.rds.delete_db_instance(DBInstanceIdentifier="wp-1")
        self.assertEqual(("DBInstanceNotFound", 404), error_of(self.instance_status, "wp-1"))
        roles = {m["DBInstanceIdentifier"]: m["IsClusterWriter"]
                 for m in self.rds.describe_db_clusters()["DBClusters"][0]["DBClusterMembers"]}
        self.assertEqual({"wp-2": False, "wp-3": True}, roles)

    def test_each_instance_holds_a_network_interface_with_the_cluster_groups(self):
        ec2 = self.fake.client("ec2")
        sg2 = ec2.create_security_group(VpcId=ec2.describe_subnets(SubnetIds=[self.subnets[0]])["Subnets"][0]
                                        ["VpcId"], GroupName="db2", Description="db2")["GroupId"]
        self.cluster()
        self.status()
        self.member("wp-1")
        self.member("wp-2")
        self.status()

        def enis():
            table = self.fake.server.store.table("ec2", "network-interface")
            return {e["Description"] + ":" + e["SubnetId"]: sorted(g["GroupId"] for g in e["Groups"])
                    for e in table.values() if e["Status"] != "detaching"}
        self.assertEqual({f"RDSNetworkInterface:{self.subnets[0]}": [self.sg],
                          f"RDSNetworkInterface:{self.subnets[1]}": [self.sg]}, enis())
        self.rds.modify_db_cluster(DBClusterIdentifier="wp", VpcSecurityGroupIds=[sg2], ApplyImmediately=True)
        self.assertEqual({f"RDSNetworkInterface:{self.subnets[0]}": [sg2],
                          f"RDSNetworkInterface:{self.subnets[1]}": [sg2]}, enis())
        self.instance_status("wp-2")
        self.rds.delete_db_instance(DBInstanceIdentifier="wp-2")
        self.rds.describe_db_instances()
        self.assertEqual({f"RDSNetworkInterface:{self.subnets[0]}": [sg2]}, enis())

    def test_cluster_settings_are_refused_on_a_member(self):
        self.cluster()
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.member, "wp-1", MasterUserPassword=PASSWORD))
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.create_db_instance, DBInstanceIdentifier="pg", DBClusterIdentifier="wp",
                                  Engine="aurora-postgresql", DBInstanceClass="db.r6g.large"))
        self.assertEqual(("DBClusterNotFoundFault", 404), error_of(self.member, "wp-1", cluster="nope"))
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.rds.create_db_instance, DBInstanceIdentifier="x", DBClusterIdentifier="wp",
                                  Engine="aurora-mysql", DBInstanceClass="r6g.large"))
        self.member("wp-1")
        self.assertEqual(("DBInstanceAlreadyExists", 400), error_of(self.member, "wp-1"))
        self.instance_status("wp-1")
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.modify_db_instance, DBInstanceIdentifier="wp-1", BackupRetentionPeriod=3))
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.delete_db_instance, DBInstanceIdentifier="wp-1",
                                  FinalDBSnapshotIdentifier="x"))

    def test_a_plain_instance_keeps_its_final_snapshot_and_refuses_while_protected(self):
        def plain(**kw):
            args = dict(DBInstanceIdentifier="small", Engine="mysql", DBInstanceClass="db.t4g.micro",
                        MasterUsername="wordpress", MasterUserPassword=PASSWORD, AllocatedStorage=20,
                        DBSubnetGroupName="db", VpcSecurityGroupIds=[self.sg], StorageEncrypted=True,
                        MultiAZ=True, DeletionProtection=True, BackupRetentionPeriod=7, StorageType="gp3")
            args.update(kw)
            return self.rds.create_db_instance(**args)["DBInstance"]
        self.assertEqual(("InvalidParameterValue", 400), error_of(plain, AllocatedStorage=10))
        self.assertEqual(("InvalidParameterValue", 400), error_of(plain, Engine="oracle-ee"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(plain, MaxAllocatedStorage=20))
        made = plain(MaxAllocatedStorage=100)
        self.assertNotEqual(made["AvailabilityZone"], made["SecondaryAvailabilityZone"])
        self.assertEqual("available", self.instance_status("small"))
        self.assertEqual(("InvalidParameterValue", 400),
                         error_of(self.rds.modify_db_instance, DBInstanceIdentifier="small", AllocatedStorage=10))
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.delete_db_instance, DBInstanceIdentifier="small", SkipFinalSnapshot=True))
        self.rds.modify_db_instance(DBInstanceIdentifier="small", DeletionProtection=False, AllocatedStorage=30,
                                    ApplyImmediately=True)
        self.assertEqual("available", self.instance_status("small"))
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.rds.delete_db_instance, DBInstanceIdentifier="small"))
        self.rds.delete_db_instance(DBInstanceIdentifier="small", FinalDBSnapshotIdentifier="small-final")
        self.assertEqual(("DBInstanceNotFound", 404), error_of(self.instance_status, "small"))
        snap = self.rds.describe_db_snapshots(DBSnapshotIdentifier="small-final")["DBSnapshots"][0]
        self.assertEqual(("small", 30, "available", True), (snap["DBInstanceIdentifier"], snap["AllocatedStorage"],
                                                           snap["Status"], snap["Encrypted"]))


class ParameterGroupTest(RDSBase):
    settle = 0

    def group(self, name="wp", family="aurora-mysql8.0"):
        return self.rds.create_db_cluster_parameter_group(DBClusterParameterGroupName=name, Description="d",
                                                          DBParameterGroupFamily=family)

    def modify(self, *params):
        return self.rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="wp", Parameters=list(params))

    def test_parameters_are_checked_against_the_family(self):
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.group, family="aurora-mysql9.9"))
        self.group()
        self.assertEqual(("DBParameterGroupAlreadyExists", 400), error_of(self.group, "WP"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.modify, {"ParameterName": "no_such_thing", "ParameterValue": "1", "ApplyMethod": "immediate"}))
        self.assertEqual(("InvalidParameterCombination", 400), error_of(
            self.modify, {"ParameterName": "binlog_format", "ParameterValue": "ROW", "ApplyMethod": "immediate"}))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.modify, {"ParameterName": "character_set_server", "ParameterValue": "klingon",
                          "ApplyMethod": "immediate"}))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.modify, *[{"ParameterName": "time_zone", "ParameterValue": "UTC", "ApplyMethod": "immediate"}] * 21))
        self.modify({"ParameterName": "binlog_format", "ParameterValue": "ROW", "ApplyMethod": "pending-reboot"},
                    {"ParameterName": "character_set_server", "ParameterValue": "utf8mb4", "ApplyMethod": "immediate"})
        user = self.rds.describe_db_cluster_parameters(DBClusterParameterGroupName="wp", Source="user")["Parameters"]
        self.assertEqual({"binlog_format": ("ROW", "static", "pending-reboot"),
                          "character_set_server": ("utf8mb4", "dynamic", "immediate")},
                         {x["ParameterName"]: (x["ParameterValue"], x["ApplyType"], x["ApplyMethod"]) for x in user})
        every = [x for p in self.rds.get_paginator("describe_db_cluster_parameters").paginate(
            DBClusterParameterGroupName="wp") for x in p["Parameters"]]
        self.assertGreater(len(every), 5)
        self.rds.reset_db_cluster_parameter_group(DBClusterParameterGroupName="wp", ResetAllParameters=True)
        self.assertEqual([], self.rds.describe_db_cluster_parameters(DBClusterParameterGroupName="wp",
                                                                     Source="user")["Parameters"])

    def test_a_group_in_use_cannot_be_deleted_and_must_match_the_engine(self):
        self.group()
        self.group("pg", "aurora-postgresql15")
        self.assertEqual(("InvalidParameterCombination", 400), error_of(self.cluster, DBClusterParameterGroupName="pg"))
        self.cluster(DBClusterParameterGroupName="wp")
        self.assertEqual(("InvalidDBParameterGroupState", 400),
                         error_of(self.rds.delete_db_cluster_parameter_group, DBClusterParameterGroupName="wp"))
        self.rds.delete_db_cluster_parameter_group(DBClusterParameterGroupName="pg")
        self.assertEqual(("DBClusterParameterGroupNotFound", 404),
                         error_of(self.rds.describe_db_cluster_parameter_groups, DBClusterParameterGroupName="pg"))


class TagTest(RDSBase):
    settle = 0

    def test_tags_by_arn(self):
        arn = self.cluster()["DBClusterArn"]
        self.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        self.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "a", "Value": "3"}])
        self.rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["b"])
        self.assertEqual([{"Key": "a", "Value": "3"}], self.rds.list_tags_for_resource(ResourceName=arn)["TagList"])
        group_arn = self.rds.describe_db_subnet_groups(DBSubnetGroupName="db")["DBSubnetGroups"][0]["DBSubnetGroupArn"]
        self.rds.add_tags_to_resource(ResourceName=group_arn, Tags=[{"Key": "wpo:address", "Value": "x"}])
        self.assertEqual([{"Key": "wpo:address", "Value": "x"}],
                         self.rds.list_tags_for_resource(ResourceName=group_arn)["TagList"])
        self.assertEqual(("DBClusterNotFoundFault", 404), error_of(
            self.rds.list_tags_for_resource, ResourceName=arn.replace(":wp", ":gone")))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.rds.list_tags_for_resource, ResourceName=arn.replace("us-east-1", "eu-west-1")))
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.rds.add_tags_to_resource, ResourceName=arn, Tags=[{"Key": "aws:x", "Value": "1"}]))


if __name__ == "__main__":
    unittest.main()
