"""ElastiCache (elasticache.py): replication group states over describes,
failover and Multi-AZ rules, AUTH token rules and rotation, replica counts,
subnet groups in use, tags."""
import unittest

from fakeaws.testing import Fake
from test_auth import error_of

TOKEN = "a-long-enough-token-1"


class ElastiCacheTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        ec2 = self.fake.client("ec2", region="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")
                        ["Subnet"]["SubnetId"] for i, z in enumerate("abc", 1)]
        self.foreign_subnet = ec2.create_subnet(VpcId=other, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
        self.sg = ec2.create_security_group(VpcId=vpc, GroupName="cache", Description="cache")["GroupId"]
        self.foreign_sg = ec2.create_security_group(VpcId=other, GroupName="x", Description="x")["GroupId"]
        self.ec = self.fake.client("elasticache", region="eu-west-1")
        self.ec.create_cache_subnet_group(CacheSubnetGroupName="cache", CacheSubnetGroupDescription="cache",
                                          SubnetIds=self.subnets)

    def tearDown(self):
        self.fake.stop()

    def group(self, ident="wp", **kw):
        args = dict(ReplicationGroupId=ident, ReplicationGroupDescription="sessions", CacheNodeType="cache.t4g.small",
                    NumCacheClusters=2, AutomaticFailoverEnabled=True, MultiAZEnabled=True,
                    CacheSubnetGroupName="cache", SecurityGroupIds=[self.sg], TransitEncryptionEnabled=True,
                    AtRestEncryptionEnabled=True, AuthToken=TOKEN)
        args.update(kw)
        return self.ec.create_replication_group(**args)["ReplicationGroup"]

    def describe(self, ident="wp"):
        return self.ec.describe_replication_groups(ReplicationGroupId=ident)["ReplicationGroups"][0]

    def settle(self, ident="wp"):
        self.describe(ident)
        return self.describe(ident)

    def test_states_move_over_describes_and_changes_need_an_available_group(self):
        made = self.group()
        self.assertEqual("creating", made["Status"])
        self.assertEqual(("InvalidReplicationGroupState", 400), error_of(
            self.ec.modify_replication_group, ReplicationGroupId="wp", SnapshotRetentionLimit=1, ApplyImmediately=True))
        self.assertEqual(["creating", "available"], [self.describe()["Status"] for _ in range(2)])
        self.ec.modify_replication_group(ReplicationGroupId="wp", CacheNodeType="cache.r6g.large",
                                         ApplyImmediately=True)
        self.assertEqual(["modifying", "available"], [self.describe()["Status"] for _ in range(2)])
        self.assertEqual("cache.r6g.large", self.describe()["CacheNodeType"])
        self.ec.delete_replication_group(ReplicationGroupId="wp")
        self.assertEqual(("InvalidReplicationGroupState", 400),
                         error_of(self.ec.delete_replication_group, ReplicationGroupId="wp"))
        self.assertEqual("deleting", self.describe()["Status"])
        self.assertEqual(("ReplicationGroupNotFoundFault", 404), error_of(self.describe))
        self.assertEqual([], self.ec.describe_cache_clusters()["CacheClusters"])

    def test_nodes_spread_over_zones_with_endpoints(self):
        made = self.group(NumCacheClusters=3)
        self.assertEqual(["wp-001", "wp-002", "wp-003"], made["MemberClusters"])
        members = made["NodeGroups"][0]["NodeGroupMembers"]
        self.assertEqual(["primary", "replica", "replica"], [m["CurrentRole"] for m in members])
        self.assertEqual({"eu-west-1a", "eu-west-1b", "eu-west-1c"}, {m["PreferredAvailabilityZone"] for m in members})
        self.assertRegex(made["NodeGroups"][0]["PrimaryEndpoint"]["Address"],
                         r"^master\.wp\.[a-z0-9]{6}\.euw1\.cache\.amazonaws\.com$")
        self.assertEqual(("enabled", "enabled", True, True, True),
                         (made["AutomaticFailover"], made["MultiAZ"], made["AuthTokenEnabled"],
                          made["TransitEncryptionEnabled"], made["AtRestEncryptionEnabled"]))

    def test_each_node_holds_a_network_interface(self):
        self.group(NumCacheClusters=3)
        table = self.fake.server.store.table("ec2", "network-interface")

        def live():
            return sorted((e["Description"], e["SubnetId"], tuple(g["GroupId"] for g in e["Groups"]))
                          for e in table.values() if e["Status"] != "detaching")
        self.assertEqual([(f"ElastiCache wp-00{i + 1}", self.subnets[i], (self.sg,)) for i in range(3)], live())
        self.settle()
        self.ec.decrease_replica_count(ReplicationGroupId="wp", NewReplicaCount=1, ApplyImmediately=True)
        self.assertEqual(2, len(live()))
        self.settle()
        self.ec.delete_replication_group(ReplicationGroupId="wp")
        self.describe()
        self.assertEqual(("ReplicationGroupNotFoundFault", 404), error_of(self.describe))
        self.assertEqual([], live())

    def test_failover_and_token_rules(self):
        self.assertEqual(("InvalidParameterCombination", 400), error_of(self.group, NumCacheClusters=1))
        self.assertEqual(("InvalidParameterCombination", 400),
                         error_of(self.group, AutomaticFailoverEnabled=False, MultiAZEnabled=True))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.group, TransitEncryptionEnabled=False))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.group, AuthToken="short"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.group, AuthToken="has/a/slash/in/it/ok"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.group, SecurityGroupIds=[self.foreign_sg]))
        self.assertEqual(("CacheSubnetGroupNotFoundFault", 400), error_of(self.group, CacheSubnetGroupName="nope"))
        self.assertEqual(("InvalidParameterValue", 400), error_of(self.group, "9lives"))
        self.group()
        self.assertEqual(("ReplicationGroupAlreadyExists", 400), error_of(self.group))
        store = self.fake.server.store.table("elasticache", "replication-group")["wp"]
        self.assertEqual([TOKEN], store["_auth"])
        self.settle()
        self.ec.modify_replication_group(ReplicationGroupId="wp", AuthToken="the-next-token-22",
                                         AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)
        self.assertEqual([TOKEN, "the-next-token-22"], store["_auth"])
        self.settle()
        self.ec.modify_replication_group(ReplicationGroupId="wp", AuthToken="the-next-token-22",
                                         AuthTokenUpdateStrategy="SET", ApplyImmediately=True)
        self.assertEqual(["the-next-token-22"], store["_auth"])
        self.settle()
        self.assertEqual(("InvalidParameterCombination", 400), error_of(
            self.ec.modify_replication_group, ReplicationGroupId="wp", AutomaticFailoverEnabled=False,
            ApplyImmediately=True))
        dump = repr(self.fake.state()) + repr(self.ec.describe_replication_groups())
        self.assertNotIn(TOKEN, dump)
        self.assertNotIn("the-next-token-22", dump)

    def test_replica_counts(self):
        self.group()
        self.settle()
        self.ec.increase_replica_count(ReplicationGroupId="wp", NewReplicaCount=3, ApplyImmediately=True)
        self.assertEqual(["wp-001", "wp-002", "wp-003", "wp-004"], self.settle()["MemberClusters"])
        self.assertEqual(("InvalidParameterValue", 400), error_of(
            self.ec.increase_replica_count, ReplicationGroupId="wp", NewReplicaCount=2, ApplyImmediately=True))
        self.ec.decrease_replica_count(ReplicationGroupId="wp", NewReplicaCount=1, ApplyImmediately=True)
        self.assertEqual(["wp-001", "wp-002"], self.settle()["MemberClusters"])
        self.assertEqual(("InvalidParameterCombination", 400), error_of(
            self.ec.decrease_replica_count, ReplicationGroupId="wp", NewReplicaCount=0, ApplyImmediately=True))

    def test_subnet_groups(self):
        self.assertEqual(("InvalidSubnet", 400), error_of(
            self.ec.create_cache_subnet_group, CacheSubnetGroupName="mixed", CacheSubnetGroupDescription="m",
            SubnetIds=[self.subnets[0], self.foreign_subnet]))
        self.assertEqual(("CacheSubnetGroupAlreadyExists", 400), error_of(
            self.ec.create_cache_subnet_group, CacheSubnetGroupName="Cache", CacheSubnetGroupDescription="c",
            SubnetIds=self.subnets))
        self.group(NumCacheClusters=3)
        self.assertEqual(("CacheSubnetGroupInUse", 400),
                         error_of(self.ec.delete_cache_subnet_group, CacheSubnetGroupName="cache"))
        self.assertEqual(("SubnetInUse", 400), error_of(
            self.ec.modify_cache_subnet_group, CacheSubnetGroupName="cache", SubnetIds=self.subnets[:2]))
        self.ec.modify_cache_subnet_group(CacheSubnetGroupName="cache", CacheSubnetGroupDescription="sessions")
        got = self.ec.describe_cache_subnet_groups(CacheSubnetGroupName="cache")["CacheSubnetGroups"][0]
        self.assertEqual("sessions", got["CacheSubnetGroupDescription"])

    def test_tags(self):
        arn = self.group()["ARN"]
        self.ec.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "a", "Value": "1"}])
        self.assertEqual(("TagNotFound", 404), error_of(self.ec.remove_tags_from_resource, ResourceName=arn,
                                                        TagKeys=["b"]))
        self.assertEqual([{"Key": "a", "Value": "1"}], self.ec.list_tags_for_resource(ResourceName=arn)["TagList"])
        self.assertEqual(("ReplicationGroupNotFoundFault", 404), error_of(
            self.ec.list_tags_for_resource, ResourceName=arn.replace(":wp", ":gone")))
        self.assertEqual(("InvalidARN", 400), error_of(self.ec.list_tags_for_resource, ResourceName="wp"))


if __name__ == "__main__":
    unittest.main()
