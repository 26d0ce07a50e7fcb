"""A real SDK drives fakeaws: for every operation served, a botocore client
performs it and parses the answer. Each service's test ends by checking that
every handler of that service was called successfully, and one test checks
that every service has such a test — so a new handler without a wire test fails."""
import datetime
import unittest

from fakeaws import services
from fakeaws.testing import Fake
import test_ec2_network

TESTED = set()


def served(name):
    return set(services.load()[name].handlers)


class WireTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(settle=0)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def assert_all_served_ops_succeeded(self, service):
        TESTED.add(service)
        ok = {name.split(".", 1)[1] for name, d in self.fake.calls(detail=True).items()
              if name.startswith(service + ".") and d["ok"] > 0}
        self.assertEqual(set(), served(service) - ok, f"{service} operations never performed successfully")

    def test_ec2(self):
        ec2 = self.fake.client("ec2", region="eu-west-1")
        azs = ec2.describe_availability_zones()["AvailabilityZones"]
        self.assertEqual(["eu-west-1a", "eu-west-1b", "eu-west-1c"], [z["ZoneName"] for z in azs])
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "main"}]}])["Vpc"]
        self.assertRegex(vpc["VpcId"], r"^vpc-[0-9a-f]{17}$")
        self.assertEqual([{"Key": "Name", "Value": "main"}], vpc["Tags"])
        vpc_id = vpc["VpcId"]
        self.assertEqual("available", ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["State"])
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        got = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
        self.assertIs(True, got["EnableDnsHostnames"]["Value"])
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.1.0/24", AvailabilityZone="eu-west-1b")["Subnet"]
        self.assertEqual(251, subnet["AvailableIpAddressCount"])
        ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        got = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        self.assertEqual([(subnet["SubnetId"], True)], [(s["SubnetId"], s["MapPublicIpOnLaunch"]) for s in got])
        sg = ec2.create_security_group(VpcId=vpc_id, GroupName="web", Description="web tier")["GroupId"]
        rules = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        self.assertTrue(rules["Return"])
        self.assertEqual(443, rules["SecurityGroupRules"][0]["FromPort"])
        ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]}])
        groups = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"]
        self.assertEqual("web", groups[0]["GroupName"])
        self.assertEqual([443], [p["FromPort"] for p in groups[0]["IpPermissions"]])
        described = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])
        self.assertEqual(3, len(described["SecurityGroupRules"]))
        ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ec2.revoke_security_group_egress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]}])
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        got = ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"][0]
        self.assertEqual([{"State": "available", "VpcId": vpc_id}], got["Attachments"])
        eip = ec2.allocate_address(Domain="vpc")
        self.assertRegex(eip["AllocationId"], r"^eipalloc-[0-9a-f]{17}$")
        nat = ec2.create_nat_gateway(SubnetId=subnet["SubnetId"], AllocationId=eip["AllocationId"],
                                     ClientToken="nat-1")["NatGateway"]
        self.assertEqual([eip["PublicIp"]], [a["PublicIp"] for a in nat["NatGatewayAddresses"]])
        got = ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"][0]
        self.assertEqual("available", got["State"])
        held = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
        self.assertEqual(nat["NatGatewayAddresses"][0]["PrivateIp"], held["PrivateIpAddress"])
        ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
        got = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
        self.assertEqual(["deleted"], [n["State"] for n in got])
        ec2.release_address(AllocationId=eip["AllocationId"])
        ec2.create_tags(Resources=[subnet["SubnetId"], sg], Tags=[{"Key": "tier", "Value": "web"}])
        tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["tier"]}])["Tags"]
        self.assertEqual({subnet["SubnetId"], sg}, {t["ResourceId"] for t in tags})
        ec2.delete_tags(Resources=[sg], Tags=[{"Key": "tier"}])
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.delete_security_group(GroupId=sg)
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc_id)
        self.assertEqual([], ec2.describe_vpcs()["Vpcs"])
        test_ec2_network.perform_every_operation(ec2, "eu-west-1")
        self.assert_all_served_ops_succeeded("ec2")

    def test_sts(self):
        sts = self.fake.client("sts")
        me = sts.get_caller_identity()
        self.assertEqual("123456789012", me["Account"])
        creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/deployer", RoleSessionName="wpo",
                                DurationSeconds=900)["Credentials"]
        self.assertTrue(creds["AccessKeyId"].startswith("ASIA"))
        self.assertGreater(creds["Expiration"], datetime.datetime.now(datetime.timezone.utc))
        self.assert_all_served_ops_succeeded("sts")

    def test_rds(self):
        ec2 = self.fake.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
        a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
        b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]
        rds = self.fake.client("rds")
        group = rds.create_db_subnet_group(DBSubnetGroupName="WP-DB", DBSubnetGroupDescription="wordpress",
                                           SubnetIds=[a["SubnetId"], b["SubnetId"]],
                                           Tags=[{"Key": "wpo:stack", "Value": "prod"}])["DBSubnetGroup"]
        self.assertEqual("wp-db", group["DBSubnetGroupName"])
        self.assertEqual(vpc, group["VpcId"])
        self.assertEqual({"us-east-1a", "us-east-1b"},
                         {s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]})
        listed = rds.describe_db_subnet_groups(DBSubnetGroupName="wp-db")["DBSubnetGroups"]
        self.assertEqual(group["DBSubnetGroupArn"], listed[0]["DBSubnetGroupArn"])
        self.rds_clusters_and_instances(rds, vpc)
        rds.delete_db_subnet_group(DBSubnetGroupName="wp-db")
        self.assertEqual([], rds.describe_db_subnet_groups()["DBSubnetGroups"])
        self.assert_all_served_ops_succeeded("rds")

    def rds_clusters_and_instances(self, rds, vpc):
        # the rds_clusters, rds_instances and rds_tags modules
        group = rds.describe_db_subnet_groups(DBSubnetGroupName="wp-db")["DBSubnetGroups"][0]
        changed = rds.modify_db_subnet_group(DBSubnetGroupName="wp-db", DBSubnetGroupDescription="wordpress db",
                                             SubnetIds=[s["SubnetIdentifier"] for s in group["Subnets"]])
        self.assertEqual("wordpress db", changed["DBSubnetGroup"]["DBSubnetGroupDescription"])
        sg = self.fake.client("ec2").create_security_group(VpcId=vpc, GroupName="db", Description="db")["GroupId"]
        rds.create_db_cluster_parameter_group(DBClusterParameterGroupName="wp", Description="wordpress",
                                              DBParameterGroupFamily="aurora-mysql8.0")
        self.assertEqual(1, len(rds.describe_db_cluster_parameter_groups(DBClusterParameterGroupName="wp")
                                ["DBClusterParameterGroups"]))
        rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="wp", Parameters=[
            {"ParameterName": "character_set_server", "ParameterValue": "utf8mb4", "ApplyMethod": "immediate"},
            {"ParameterName": "time_zone", "ParameterValue": "Europe/Paris", "ApplyMethod": "immediate"}])
        rds.reset_db_cluster_parameter_group(DBClusterParameterGroupName="wp", Parameters=[
            {"ParameterName": "time_zone", "ApplyMethod": "immediate"}])
        user = rds.describe_db_cluster_parameters(DBClusterParameterGroupName="wp", Source="user")["Parameters"]
        self.assertEqual([("character_set_server", "utf8mb4")], [(x["ParameterName"], x["ParameterValue"]) for x in user])
        cluster = rds.create_db_cluster(DBClusterIdentifier="wp", Engine="aurora-mysql", MasterUsername="wordpress",
                                        MasterUserPassword="correct-horse-9", DBSubnetGroupName="wp-db",
                                        VpcSecurityGroupIds=[sg], DBClusterParameterGroupName="wp",
                                        StorageEncrypted=True, BackupRetentionPeriod=7, DatabaseName="wordpress",
                                        Tags=[{"Key": "wpo:stack", "Value": "prod"}])["DBCluster"]
        self.assertNotIn("MasterUserPassword", cluster)
        self.assertEqual("available", rds.describe_db_clusters(DBClusterIdentifier="wp")["DBClusters"][0]["Status"])
        rds.modify_db_cluster(DBClusterIdentifier="wp", BackupRetentionPeriod=14, ApplyImmediately=True)
        writer = rds.create_db_instance(DBInstanceIdentifier="wp-1", DBClusterIdentifier="wp", Engine="aurora-mysql",
                                        DBInstanceClass="db.r6g.large")["DBInstance"]
        self.assertEqual(cluster["Port"], writer["Endpoint"]["Port"])
        rds.describe_db_instances(DBInstanceIdentifier="wp-1")
        rds.modify_db_instance(DBInstanceIdentifier="wp-1", PromotionTier=0, ApplyImmediately=True)
        members = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["wp"]}])["DBInstances"]
        self.assertEqual(["wp-1"], [i["DBInstanceIdentifier"] for i in members])
        rds.add_tags_to_resource(ResourceName=cluster["DBClusterArn"], Tags=[{"Key": "tier", "Value": "db"}])
        rds.remove_tags_from_resource(ResourceName=cluster["DBClusterArn"], TagKeys=["wpo:stack"])
        self.assertEqual([{"Key": "tier", "Value": "db"}],
                         rds.list_tags_for_resource(ResourceName=cluster["DBClusterArn"])["TagList"])
        rds.describe_db_instances(DBInstanceIdentifier="wp-1")
        rds.describe_db_clusters(DBClusterIdentifier="wp")
        rds.delete_db_instance(DBInstanceIdentifier="wp-1")
        self.assertEqual([], rds.describe_db_instances()["DBInstances"])
        rds.delete_db_cluster(DBClusterIdentifier="wp", FinalDBSnapshotIdentifier="wp-final")
        self.assertEqual([], rds.describe_db_clusters()["DBClusters"])
        snap = rds.describe_db_cluster_snapshots(DBClusterIdentifier="wp")["DBClusterSnapshots"][0]
        self.assertEqual(("wp-final", "available"), (snap["DBClusterSnapshotIdentifier"], snap["Status"]))
        rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="wp-final")
        rds.delete_db_cluster_parameter_group(DBClusterParameterGroupName="wp")
        plain = rds.create_db_instance(DBInstanceIdentifier="small", Engine="mariadb", DBInstanceClass="db.t4g.micro",
                                       MasterUsername="wordpress", MasterUserPassword="correct-horse-9",
                                       AllocatedStorage=20, DBSubnetGroupName="wp-db", StorageEncrypted=True,
                                       VpcSecurityGroupIds=[sg])["DBInstance"]
        self.assertEqual("mariadb", plain["Engine"])
        rds.describe_db_instances(DBInstanceIdentifier="small")
        rds.delete_db_instance(DBInstanceIdentifier="small", FinalDBSnapshotIdentifier="small-final")
        self.assertEqual([], rds.describe_db_instances()["DBInstances"])
        snap = rds.describe_db_snapshots(DBInstanceIdentifier="small")["DBSnapshots"][0]
        self.assertEqual("small-final", snap["DBSnapshotIdentifier"])
        rds.delete_db_snapshot(DBSnapshotIdentifier="small-final")

    def test_elasticache(self):
        ec2 = self.fake.client("ec2", region="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
        a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.1.0/24", AvailabilityZone="eu-west-1a")["Subnet"]["SubnetId"]
        b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.2.0/24", AvailabilityZone="eu-west-1b")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(VpcId=vpc, GroupName="cache", Description="cache")["GroupId"]
        ec = self.fake.client("elasticache", region="eu-west-1")
        group = ec.create_cache_subnet_group(CacheSubnetGroupName="wp-cache", CacheSubnetGroupDescription="cache",
                                             SubnetIds=[a])["CacheSubnetGroup"]
        self.assertEqual(vpc, group["VpcId"])
        ec.modify_cache_subnet_group(CacheSubnetGroupName="wp-cache", SubnetIds=[a, b])
        got = ec.describe_cache_subnet_groups(CacheSubnetGroupName="wp-cache")["CacheSubnetGroups"][0]
        self.assertEqual({a, b}, {s["SubnetIdentifier"] for s in got["Subnets"]})
        rg = ec.create_replication_group(ReplicationGroupId="wp", ReplicationGroupDescription="sessions",
                                         CacheNodeType="cache.t4g.small", NumCacheClusters=2,
                                         AutomaticFailoverEnabled=True, MultiAZEnabled=True,
                                         CacheSubnetGroupName="wp-cache", SecurityGroupIds=[sg],
                                         TransitEncryptionEnabled=True, AtRestEncryptionEnabled=True,
                                         AuthToken="a-long-enough-token-1", Tags=[{"Key": "wpo:stack", "Value": "p"}])
        rg = rg["ReplicationGroup"]
        self.assertEqual(["wp-001", "wp-002"], rg["MemberClusters"])
        self.assertTrue(rg["AuthTokenEnabled"])
        got = ec.describe_replication_groups(ReplicationGroupId="wp")["ReplicationGroups"][0]
        self.assertEqual("available", got["Status"])
        self.assertEqual(6379, got["NodeGroups"][0]["PrimaryEndpoint"]["Port"])
        ec.modify_replication_group(ReplicationGroupId="wp", SnapshotRetentionLimit=3, ApplyImmediately=True,
                                    AuthToken="another-long-token-2", AuthTokenUpdateStrategy="ROTATE")
        ec.describe_replication_groups(ReplicationGroupId="wp")
        ec.increase_replica_count(ReplicationGroupId="wp", NewReplicaCount=2, ApplyImmediately=True)
        ec.describe_replication_groups(ReplicationGroupId="wp")
        ec.decrease_replica_count(ReplicationGroupId="wp", NewReplicaCount=1, ApplyImmediately=True)
        clusters = ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
        self.assertEqual({"eu-west-1a", "eu-west-1b"}, {c["PreferredAvailabilityZone"] for c in clusters})
        ec.add_tags_to_resource(ResourceName=rg["ARN"], Tags=[{"Key": "tier", "Value": "cache"}])
        ec.remove_tags_from_resource(ResourceName=rg["ARN"], TagKeys=["wpo:stack"])
        self.assertEqual([{"Key": "tier", "Value": "cache"}], ec.list_tags_for_resource(ResourceName=rg["ARN"])["TagList"])
        ec.describe_replication_groups(ReplicationGroupId="wp")
        ec.delete_replication_group(ReplicationGroupId="wp")
        self.assertEqual([], ec.describe_replication_groups()["ReplicationGroups"])
        ec.delete_cache_subnet_group(CacheSubnetGroupName="wp-cache")
        self.assert_all_served_ops_succeeded("elasticache")

    def test_secretsmanager(self):
        sm = self.fake.client("secretsmanager")
        made = sm.create_secret(Name="prod/db", SecretString="first-password",
                                ClientRequestToken="00000000-0000-4000-8000-000000000001")
        self.assertRegex(made["ARN"], r"^arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-[A-Za-z0-9]{6}$")
        self.assertEqual("00000000-0000-4000-8000-000000000001", made["VersionId"])
        put = sm.put_secret_value(SecretId=made["ARN"], SecretString="second-password")
        got = sm.get_secret_value(SecretId="prod/db")
        self.assertEqual(("second-password", put["VersionId"]), (got["SecretString"], got["VersionId"]))
        stages = sm.describe_secret(SecretId=made["ARN"])["VersionIdsToStages"]
        self.assertEqual({made["VersionId"]: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}, stages)
        sm.delete_secret(SecretId="prod/db", ForceDeleteWithoutRecovery=True)
        self.assert_all_served_ops_succeeded("secretsmanager")

    def test_ecs(self):
        ecs = self.fake.client("ecs", region="eu-west-1")
        td = ecs.register_task_definition(
            family="wordpress", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512",
            memory="1024", containerDefinitions=[{"name": "wp", "image": "wordpress:6", "essential": True,
                                                  "portMappings": [{"containerPort": 80}]}],
            tags=[{"key": "wpo:stack", "value": "prod"}])
        self.assertEqual("arn:aws:ecs:eu-west-1:123456789012:task-definition/wordpress:1",
                         td["taskDefinition"]["taskDefinitionArn"])
        self.assertEqual([{"key": "wpo:stack", "value": "prod"}], td["tags"])
        again = ecs.register_task_definition(family="wordpress", containerDefinitions=[
            {"name": "wp", "image": "wordpress:6.1", "memory": 512}])["taskDefinition"]
        self.assertEqual(2, again["revision"])
        got = ecs.describe_task_definition(taskDefinition="wordpress", include=["TAGS"])
        self.assertEqual("wordpress:6.1", got["taskDefinition"]["containerDefinitions"][0]["image"])
        self.assertEqual([], got["tags"])
        gone = ecs.deregister_task_definition(taskDefinition="wordpress:2")["taskDefinition"]
        self.assertEqual("INACTIVE", gone["status"])
        self.assertEqual(1, ecs.describe_task_definition(taskDefinition="wordpress")["taskDefinition"]["revision"])
        self.assert_all_served_ops_succeeded("ecs")

    def test_efs(self):
        efs = self.fake.client("efs")
        fs = efs.create_file_system(CreationToken="wp-content", Encrypted=True,
                                    Tags=[{"Key": "Name", "Value": "wp-content"}])
        self.assertEqual("creating", fs["LifeCycleState"])
        self.assertEqual("wp-content", fs["Name"])
        got = efs.describe_file_systems(FileSystemId=fs["FileSystemId"])["FileSystems"][0]
        self.assertEqual("available", got["LifeCycleState"])
        self.efs_mounts_and_access_points(efs, fs["FileSystemId"])
        efs.delete_file_system(FileSystemId=fs["FileSystemId"])
        self.assertEqual([], efs.describe_file_systems()["FileSystems"])
        self.assert_all_served_ops_succeeded("efs")

    def efs_mounts_and_access_points(self, efs, fs_id):
        # the efs_mounts and efs_access modules
        ec2 = self.fake.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.4.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
        sg = ec2.create_security_group(VpcId=vpc, GroupName="efs", Description="efs")["GroupId"]
        other = ec2.create_security_group(VpcId=vpc, GroupName="efs2", Description="efs2")["GroupId"]
        target = efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet["SubnetId"], SecurityGroups=[sg])
        self.assertEqual("10.4.1.4", target["IpAddress"])
        got = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
        self.assertEqual([("available", "us-east-1a")], [(t["LifeCycleState"], t["AvailabilityZoneName"]) for t in got])
        efs.modify_mount_target_security_groups(MountTargetId=target["MountTargetId"], SecurityGroups=[sg, other])
        self.assertEqual([sg, other], efs.describe_mount_target_security_groups(
            MountTargetId=target["MountTargetId"])["SecurityGroups"])
        ap = efs.create_access_point(ClientToken="wp-content", FileSystemId=fs_id, PosixUser={"Uid": 33, "Gid": 33},
                                     RootDirectory={"Path": "/wordpress", "CreationInfo": {
                                         "OwnerUid": 33, "OwnerGid": 33, "Permissions": "0755"}})
        got = efs.describe_access_points(AccessPointId=ap["AccessPointId"])["AccessPoints"][0]
        self.assertEqual(("available", "/wordpress"), (got["LifeCycleState"], got["RootDirectory"]["Path"]))
        self.assertEqual("ENABLING", efs.put_backup_policy(FileSystemId=fs_id, BackupPolicy={"Status": "ENABLED"})
                         ["BackupPolicy"]["Status"])
        self.assertEqual("ENABLED", efs.describe_backup_policy(FileSystemId=fs_id)["BackupPolicy"]["Status"])
        efs.put_lifecycle_configuration(FileSystemId=fs_id, LifecyclePolicies=[{"TransitionToIA": "AFTER_30_DAYS"}])
        self.assertEqual([{"TransitionToIA": "AFTER_30_DAYS"}],
                         efs.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"])
        efs.tag_resource(ResourceId=ap["AccessPointId"], Tags=[{"Key": "Name", "Value": "wp"}])
        efs.untag_resource(ResourceId=fs_id, TagKeys=["Name"])
        self.assertEqual([], efs.list_tags_for_resource(ResourceId=fs_id)["Tags"])
        self.assertEqual("elastic", efs.update_file_system(FileSystemId=fs_id, ThroughputMode="elastic")
                         ["ThroughputMode"])
        efs.delete_access_point(AccessPointId=ap["AccessPointId"])
        efs.delete_mount_target(MountTargetId=target["MountTargetId"])
        self.assertEqual([], efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"])
        ec2.delete_security_group(GroupId=sg)
        ec2.delete_security_group(GroupId=other)
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)

    def test_route53(self):
        r53 = self.fake.client("route53")
        zone = r53.create_hosted_zone(Name="example.org", CallerReference="ref-1",
                                      HostedZoneConfig={"Comment": "site"})
        self.assertEqual("example.org.", zone["HostedZone"]["Name"])
        self.assertEqual(4, len(zone["DelegationSet"]["NameServers"]))
        zone_id = zone["HostedZone"]["Id"]
        self.assertEqual("site", r53.get_hosted_zone(Id=zone_id)["HostedZone"]["Config"]["Comment"])
        change = r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {"Name": "www.example.org", "Type": "CNAME", "TTL": 300,
                                                       "ResourceRecords": [{"Value": "lb.example.net"}]}}]})
        self.assertEqual("INSYNC", r53.get_change(Id=change["ChangeInfo"]["Id"])["ChangeInfo"]["Status"])
        sets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        self.assertEqual([("example.org.", "NS"), ("example.org.", "SOA"), ("www.example.org.", "CNAME")],
                         [(s["Name"], s["Type"]) for s in sets])
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
            {"Action": "DELETE", "ResourceRecordSet": sets[2]}]})
        r53.delete_hosted_zone(Id=zone_id)
        self.assert_all_served_ops_succeeded("route53")

    def test_dynamodb(self):
        ddb = self.fake.client("dynamodb")
        table = ddb.create_table(TableName="wpo-locks", BillingMode="PAY_PER_REQUEST",
                                 KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])
        self.assertEqual("CREATING", table["TableDescription"]["TableStatus"])
        self.assertEqual("ACTIVE", ddb.describe_table(TableName="wpo-locks")["Table"]["TableStatus"])
        ddb.put_item(TableName="wpo-locks", Item={"LockID": {"S": "b/prod"}, "Info": {"S": "{}"},
                                                  "N": {"N": "1.50"}},
                     ConditionExpression="attribute_not_exists(LockID)")
        item = ddb.get_item(TableName="wpo-locks", Key={"LockID": {"S": "b/prod"}}, ConsistentRead=True)["Item"]
        self.assertEqual({"LockID": {"S": "b/prod"}, "Info": {"S": "{}"}, "N": {"N": "1.50"}}, item)
        old = ddb.delete_item(TableName="wpo-locks", Key={"LockID": {"S": "b/prod"}}, ReturnValues="ALL_OLD",
                              ConditionExpression="#n = :n", ExpressionAttributeNames={"#n": "N"},
                              ExpressionAttributeValues={":n": {"N": "1.5"}})
        self.assertEqual({"S": "{}"}, old["Attributes"]["Info"])
        ddb.delete_table(TableName="wpo-locks")
        self.assert_all_served_ops_succeeded("dynamodb")

    def test_s3(self):
        s3 = self.fake.client("s3", region="eu-west-1")
        s3.create_bucket(Bucket="wpo-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.head_bucket(Bucket="wpo-state")
        s3.put_bucket_versioning(Bucket="wpo-state", VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual("Enabled", s3.get_bucket_versioning(Bucket="wpo-state")["Status"])
        first = s3.put_object(Bucket="wpo-state", Key="stacks/prod state.json", Body=b'{"serial":1}',
                              ContentType="application/json", Metadata={"lineage": "abc"})
        second = s3.put_object(Bucket="wpo-state", Key="stacks/prod state.json", Body=b'{"serial":2}')
        self.assertNotEqual(first["VersionId"], second["VersionId"])
        got = s3.get_object(Bucket="wpo-state", Key="stacks/prod state.json")
        self.assertEqual(b'{"serial":2}', got["Body"].read())
        self.assertEqual(second["ETag"], got["ETag"])
        old = s3.get_object(Bucket="wpo-state", Key="stacks/prod state.json", VersionId=first["VersionId"])
        self.assertEqual(b'{"serial":1}', old["Body"].read())
        self.assertEqual({"lineage": "abc"}, old["Metadata"])
        self.assertEqual("application/json", old["ContentType"])
        head = s3.head_object(Bucket="wpo-state", Key="stacks/prod state.json")
        self.assertEqual(12, head["ContentLength"])
        listed = s3.list_objects_v2(Bucket="wpo-state", Prefix="stacks/")
        self.assertEqual(["stacks/prod state.json"], [o["Key"] for o in listed["Contents"]])
        versions = s3.list_object_versions(Bucket="wpo-state")["Versions"]
        self.assertEqual([second["VersionId"], first["VersionId"]], [v["VersionId"] for v in versions])
        deleted = s3.delete_object(Bucket="wpo-state", Key="stacks/prod state.json")
        self.assertTrue(deleted["DeleteMarker"])
        for v in s3.list_object_versions(Bucket="wpo-state")["Versions"]:
            s3.delete_object(Bucket="wpo-state", Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_object(Bucket="wpo-state", Key="stacks/prod state.json", VersionId=deleted["VersionId"])
        s3.delete_bucket(Bucket="wpo-state")
        self.assert_all_served_ops_succeeded("s3")

    def test_kms(self):
        kms = self.fake.client("kms")
        key = kms.create_key(Description="wpo state")["KeyMetadata"]
        self.assertEqual("Enabled", kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyState"])
        dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"stack": "prod"})
        self.assertEqual(32, len(dk["Plaintext"]))
        back = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"stack": "prod"})
        self.assertEqual(dk["Plaintext"], back["Plaintext"])
        self.assertEqual(key["Arn"], back["KeyId"])
        self.assert_all_served_ops_succeeded("kms")

    def test_zz_every_service_has_a_wire_test(self):
        # runs last in this class (unittest sorts by name)
        self.assertEqual(set(services.load()), TESTED)


if __name__ == "__main__":
    unittest.main()
