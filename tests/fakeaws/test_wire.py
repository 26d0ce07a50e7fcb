"""A real SDK drives fakeaws: for every operation served, a botocore client
performs it and parses the answer. Each service's test ends by checking that
every handler of that service was called successfully, and one test checks
that every service has such a test — so a new handler without a wire test fails."""
import base64
import datetime
import importlib
import pathlib
import unittest

import botocore

from fakeaws import services
from fakeaws.testing import Fake
import test_ec2_network

TESTED = set()


def module_of(fn):
    """The services/ module that defines a handler ("ec2", "ec2_launch_templates")."""
    return fn.__module__.rsplit(".", 1)[-1]


def served(name, module=None):
    """The operations of a service; with module, only those whose handlers that
    module defines (an area module, services/<service>_<area>.py)."""
    handlers = services.load()[name].handlers
    return {op for op, fn in handlers.items() if module is None or module_of(fn) == module}


def _wire_mixins():
    """Wire tests of more services may live in wire_*.py beside this file, as
    mixin classes named *Wire (their test_* methods use self.fake and end with
    self.assert_all_served_ops_succeeded(service)): WireTest runs them too."""
    mixins = []
    for path in sorted(pathlib.Path(__file__).parent.glob("wire_*.py")):
        module = importlib.import_module(path.stem)
        mixins += [v for k, v in sorted(vars(module).items()) if k.endswith("Wire") and isinstance(v, type)]
    return mixins


class WireTest(*_wire_mixins(), unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(settle=0)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def assert_all_served_ops_succeeded(self, service, module=None):
        """Every operation of the service (or of one of its modules) was performed."""
        if module is None:
            TESTED.update((service, module_of(fn)) for fn in services.load()[service].handlers.values())
        else:
            TESTED.add((service, module))
        ok = {name.split(".", 1)[1] for name, d in self.fake.calls(detail=True).items()
              if name.startswith(service + ".") and d["ok"] > 0}
        self.assertEqual(set(), served(service, module) - ok,
                         f"{service} operations ({module}.py) never performed successfully")

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
        token = self.fake.control("POST", "/_fake/sts/web-identity-token", {"subject": "ci"})["token"]
        anonymous = self.fake.client("sts", signature_version=botocore.UNSIGNED)
        web = anonymous.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/ci",
                                                      RoleSessionName="ci", WebIdentityToken=token)
        self.assertEqual(("ci", "arn:aws:sts::123456789012:assumed-role/ci/ci"),
                         (web["SubjectFromWebIdentityToken"], web["AssumedRoleUser"]["Arn"]))
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
        self._ecs_tasks(ecs)
        self.assert_all_served_ops_succeeded("ecs")

    def _ecs_tasks(self, ecs):
        # ecs_tasks.py: RunTask, DescribeTasks, ListTasks, StopTask
        ecs.register_task_definition(family="wpo", containerDefinitions=[
            {"name": "wpo", "image": "wpo:latest", "memory": 256}])
        ecs.create_cluster(clusterName="fleet")
        task = ecs.run_task(cluster="fleet", taskDefinition="wpo", startedBy="wire", overrides={
            "containerOverrides": [{"name": "wpo", "command": ["wpo", "version"]}]})["tasks"][0]
        self.assertEqual(["wpo", "version"], task["overrides"]["containerOverrides"][0]["command"])
        self.assertEqual([task["taskArn"]], ecs.list_tasks(cluster="fleet", startedBy="wire")["taskArns"])
        ecs.stop_task(cluster="fleet", task=task["taskArn"], reason="wire test")
        got = ecs.describe_tasks(cluster="fleet", tasks=[task["taskArn"]], include=["TAGS"])["tasks"][0]
        self.assertEqual(("STOPPED", "wire test"), (got["lastStatus"], got["stoppedReason"]))

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
        self._route53_zones(r53)
        self.assert_all_served_ops_succeeded("route53")

    def _route53_zones(self, r53):
        # route53_zones.py: tags, listing by name, VPCs of a private zone, comments
        ec2 = self.fake.client("ec2")
        vpcs = [ec2.create_vpc(CidrBlock=f"10.5{i}.0.0/16")["Vpc"]["VpcId"] for i in range(2)]
        zone = r53.create_hosted_zone(Name="wp.internal", CallerReference="ref-zones",
                                      VPC={"VPCRegion": "us-east-1", "VPCId": vpcs[0]})["HostedZone"]
        zone_id = zone["Id"].rsplit("/", 1)[-1]
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id,
                                     AddTags=[{"Key": "wpo:stack", "Value": "prod"}, {"Key": "x", "Value": "1"}])
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, RemoveTagKeys=["x"])
        tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"]
        self.assertEqual([{"Key": "wpo:stack", "Value": "prod"}], tags)
        found = r53.list_hosted_zones_by_name(DNSName="wp.internal", MaxItems="1")["HostedZones"]
        self.assertEqual([zone["Id"]], [z["Id"] for z in found])
        r53.associate_vpc_with_hosted_zone(HostedZoneId=zone_id, VPC={"VPCRegion": "us-east-1", "VPCId": vpcs[1]})
        self.assertEqual(set(vpcs), {v["VPCId"] for v in r53.get_hosted_zone(Id=zone_id)["VPCs"]})
        r53.disassociate_vpc_from_hosted_zone(HostedZoneId=zone_id, VPC={"VPCRegion": "us-east-1",
                                                                          "VPCId": vpcs[0]})
        self.assertEqual([vpcs[1]], [v["VPCId"] for v in r53.get_hosted_zone(Id=zone_id)["VPCs"]])
        got = r53.update_hosted_zone_comment(Id=zone_id, Comment="private names")["HostedZone"]
        self.assertEqual("private names", got["Config"]["Comment"])
        r53.delete_hosted_zone(Id=zone_id)

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
        arn = table["TableDescription"]["TableArn"]
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ops"}, {"Key": "x", "Value": "1"}])
        ddb.untag_resource(ResourceArn=arn, TagKeys=["x"])
        self.assertEqual([{"Key": "team", "Value": "ops"}], ddb.list_tags_of_resource(ResourceArn=arn)["Tags"])
        backups = ddb.update_continuous_backups(TableName="wpo-locks", PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})["ContinuousBackupsDescription"]
        self.assertEqual("ENABLED", backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"])
        self.assertEqual("ENABLED", ddb.describe_continuous_backups(TableName="wpo-locks")[
            "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"])
        updated = ddb.update_table(TableName="wpo-locks", BillingMode="PROVISIONED",
                                   ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 2})
        self.assertEqual("PROVISIONED", updated["TableDescription"]["BillingModeSummary"]["BillingMode"])
        self.assertEqual("ACTIVE", ddb.describe_table(TableName="wpo-locks")["Table"]["TableStatus"])
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
        self.s3_bucket_configurations(s3)
        self.assert_all_served_ops_succeeded("s3")

    def s3_bucket_configurations(self, s3):
        s3.create_bucket(Bucket="wpo-conf", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual(["wpo-conf"], [b["Name"] for b in s3.list_buckets()["Buckets"]])
        s3.put_bucket_tagging(Bucket="wpo-conf", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
        self.assertEqual([{"Key": "a", "Value": "1"}], s3.get_bucket_tagging(Bucket="wpo-conf")["TagSet"])
        s3.delete_bucket_tagging(Bucket="wpo-conf")
        default = s3.get_bucket_encryption(Bucket="wpo-conf")["ServerSideEncryptionConfiguration"]["Rules"][0]
        self.assertEqual("AES256", default["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])
        s3.put_bucket_encryption(Bucket="wpo-conf", ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/x"},
            "BucketKeyEnabled": True}]})
        rule = s3.get_bucket_encryption(Bucket="wpo-conf")["ServerSideEncryptionConfiguration"]["Rules"][0]
        self.assertEqual("alias/x", rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"])
        self.assertTrue(rule["BucketKeyEnabled"])
        s3.delete_bucket_encryption(Bucket="wpo-conf")
        self.assertTrue(all(s3.get_public_access_block(Bucket="wpo-conf")["PublicAccessBlockConfiguration"].values()))
        s3.delete_public_access_block(Bucket="wpo-conf")
        s3.put_public_access_block(Bucket="wpo-conf", PublicAccessBlockConfiguration={"BlockPublicAcls": True})
        self.assertFalse(s3.get_public_access_block(Bucket="wpo-conf")["PublicAccessBlockConfiguration"][
            "BlockPublicPolicy"])
        s3.put_bucket_ownership_controls(Bucket="wpo-conf", OwnershipControls={"Rules": [
            {"ObjectOwnership": "ObjectWriter"}]})
        self.assertEqual("ObjectWriter", s3.get_bucket_ownership_controls(Bucket="wpo-conf")["OwnershipControls"][
            "Rules"][0]["ObjectOwnership"])
        s3.delete_bucket_ownership_controls(Bucket="wpo-conf")
        s3.put_bucket_lifecycle_configuration(Bucket="wpo-conf", LifecycleConfiguration={"Rules": [
            {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]})
        rules = s3.get_bucket_lifecycle_configuration(Bucket="wpo-conf")["Rules"]
        self.assertEqual(90, rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"])
        s3.delete_bucket_lifecycle(Bucket="wpo-conf")
        policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",'
                  '"Resource":"arn:aws:s3:::wpo-conf/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}')
        s3.put_bucket_policy(Bucket="wpo-conf", Policy=policy)
        self.assertEqual(policy, s3.get_bucket_policy(Bucket="wpo-conf")["Policy"])
        s3.delete_bucket_policy(Bucket="wpo-conf")
        s3.put_object(Bucket="wpo-conf", Key="a", Body=b"1")
        out = s3.delete_objects(Bucket="wpo-conf", Delete={"Objects": [{"Key": "a"}]})
        self.assertEqual(["a"], [d["Key"] for d in out["Deleted"]])
        s3.delete_bucket(Bucket="wpo-conf")

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

    def test_logs_streams(self):
        # logs_streams.py: CreateLogStream, PutLogEvents, GetLogEvents (the group made by an ECS task's awslogs)
        ecs = self.fake.client("ecs", region="eu-west-1")
        ecs.register_task_definition(family="logged", containerDefinitions=[
            {"name": "app", "image": "app", "memory": 64, "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/wire/app", "awslogs-create-group": "true", "awslogs-stream-prefix": "app"}}}])
        ecs.create_cluster(clusterName="wire")
        arn = ecs.run_task(cluster="wire", taskDefinition="logged")["tasks"][0]["taskArn"]
        statuses = [ecs.describe_tasks(cluster="wire", tasks=[arn])["tasks"][0]["lastStatus"] for _ in range(2)]
        self.assertEqual(["PENDING", "RUNNING"], statuses)
        logs = self.fake.client("logs", region="eu-west-1")
        logs.create_log_stream(logGroupName="/wire/app", logStreamName="manual")
        logs.put_log_events(logGroupName="/wire/app", logStreamName="manual",
                            logEvents=[{"timestamp": 1, "message": "hello"}])
        got = logs.get_log_events(logGroupName="/wire/app", logStreamName="manual", startFromHead=True)
        self.assertEqual(["hello"], [e["message"] for e in got["events"]])
        task_stream = "app/app/" + arn.rsplit("/", 1)[1]
        self.assertEqual(1, len(logs.get_log_events(logGroupName="/wire/app", logStreamName=task_stream)["events"]))
        self.assert_all_served_ops_succeeded("logs", "logs_streams")

    def test_compute_service_and_load_balancer(self):
        """EC2 launch templates, Auto Scaling, ECS clusters/capacity providers/services, ELBv2 and
        Application Auto Scaling: the chain a WordPress service on ECS needs, then its teardown."""
        region = "eu-central-1"
        ec2, asg = self.fake.client("ec2", region=region), self.fake.client("autoscaling", region=region)
        ecs, elb = self.fake.client("ecs", region=region), self.fake.client("elbv2", region=region)
        aas = self.fake.client("application-autoscaling", region=region)
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{region}{az}")
                   ["Subnet"]["SubnetId"] for i, az in enumerate("ab")]
        sg = ec2.create_security_group(VpcId=vpc, GroupName="alb", Description="alb")["GroupId"]
        # launch templates
        user_data = base64.b64encode(b"#!/bin/bash\nECS_CLUSTER=wp\n").decode()
        lt = ec2.create_launch_template(LaunchTemplateName="wp-ecs", LaunchTemplateData={
            "ImageId": "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
            "InstanceType": "t3.small", "UserData": user_data, "MetadataOptions": {"HttpTokens": "required"}},
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "wpo:stack", "Value": "w"}]}],
        )["LaunchTemplate"]
        self.assertRegex(lt["LaunchTemplateId"], r"^lt-[0-9a-f]{17}$")
        v2 = ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], LaunchTemplateData={
            "ImageId": "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
            "InstanceType": "t3.medium", "UserData": user_data})["LaunchTemplateVersion"]
        self.assertEqual(2, v2["VersionNumber"])
        ec2.modify_launch_template(LaunchTemplateId=lt["LaunchTemplateId"], DefaultVersion="2")
        got = ec2.describe_launch_templates(LaunchTemplateIds=[lt["LaunchTemplateId"]])["LaunchTemplates"][0]
        self.assertEqual((2, 2), (got["DefaultVersionNumber"], got["LatestVersionNumber"]))
        default = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"],
                                                        Versions=["$Default"])["LaunchTemplateVersions"][0]
        self.assertEqual("t3.medium", default["LaunchTemplateData"]["InstanceType"])
        # Auto Scaling
        asg.create_auto_scaling_group(AutoScalingGroupName="wp-ecs", MinSize=1, MaxSize=3, DesiredCapacity=2,
                                      LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]},
                                      VPCZoneIdentifier=",".join(subnets), NewInstancesProtectedFromScaleIn=True,
                                      Tags=[{"Key": "env", "Value": "test", "PropagateAtLaunch": True}])
        asg.update_auto_scaling_group(AutoScalingGroupName="wp-ecs", HealthCheckGracePeriod=120)
        asg.create_or_update_tags(Tags=[{"ResourceId": "wp-ecs", "ResourceType": "auto-scaling-group",
                                         "Key": "team", "Value": "web", "PropagateAtLaunch": False}])
        asg.delete_tags(Tags=[{"ResourceId": "wp-ecs", "ResourceType": "auto-scaling-group", "Key": "team"}])
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["wp-ecs"])["AutoScalingGroups"][0]
        self.assertEqual(120, group["HealthCheckGracePeriod"])
        self.assertEqual([True, True], [i["ProtectedFromScaleIn"] for i in group["Instances"]])
        self.assertEqual(["env"], [t["Key"] for t in group["Tags"]])
        # ECS clusters and capacity providers
        ecs.create_cluster(clusterName="wp", settings=[{"name": "containerInsights", "value": "enabled"}])
        ecs.update_cluster_settings(cluster="wp", settings=[{"name": "containerInsights", "value": "disabled"}])
        cp = ecs.create_capacity_provider(name="wp-ecs", autoScalingGroupProvider={
            "autoScalingGroupArn": group["AutoScalingGroupARN"], "managedTerminationProtection": "ENABLED",
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100}})["capacityProvider"]
        self.assertEqual("ACTIVE", cp["status"])
        ecs.update_capacity_provider(name="wp-ecs", autoScalingGroupProvider={
            "managedScaling": {"status": "ENABLED", "targetCapacity": 90}})
        listed = ecs.describe_capacity_providers(capacityProviders=["wp-ecs"])["capacityProviders"][0]
        self.assertEqual(90, listed["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"])
        put = ecs.put_cluster_capacity_providers(cluster="wp", capacityProviders=["wp-ecs"],
                                                 defaultCapacityProviderStrategy=[{"capacityProvider": "wp-ecs",
                                                                                   "weight": 1}])["cluster"]
        self.assertEqual(["wp-ecs"], put["capacityProviders"])
        cluster = ecs.describe_clusters(clusters=["wp"], include=["SETTINGS"])["clusters"][0]
        self.assertEqual([{"name": "containerInsights", "value": "disabled"}], cluster["settings"])
        ecs.tag_resource(resourceArn=cluster["clusterArn"], tags=[{"key": "env", "value": "test"}])
        ecs.untag_resource(resourceArn=cluster["clusterArn"], tagKeys=["env"])
        self.assertEqual([], ecs.list_tags_for_resource(resourceArn=cluster["clusterArn"])["tags"])
        # ELBv2
        lb = elb.create_load_balancer(Name="wp-alb", Subnets=subnets, SecurityGroups=[sg])["LoadBalancers"][0]
        elb.set_subnets(LoadBalancerArn=lb["LoadBalancerArn"], Subnets=subnets)
        elb.set_security_groups(LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=[sg])
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
            {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}])
        attrs = elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
        self.assertIn({"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}, attrs)
        self.assertEqual("active", elb.describe_load_balancers(Names=["wp-alb"])["LoadBalancers"][0]["State"]["Code"])
        tg = elb.create_target_group(Name="wp-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
        elb.modify_target_group(TargetGroupArn=tg["TargetGroupArn"], Matcher={"HttpCode": "200-399"})
        elb.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"], Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
        tg_attrs = elb.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
        self.assertIn({"Key": "deregistration_delay.timeout_seconds", "Value": "30"}, tg_attrs)
        listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Port=80, Protocol="HTTP",
                                       DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        listener = listener["Listeners"][0]
        elb.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        self.assertEqual(80, elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"][0]["Port"])
        rule = elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=5, Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/wp-admin/*"]}}],
            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}])["Rules"][0]
        elb.modify_rule(RuleArn=rule["RuleArn"], Conditions=[
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Origin", "Values": ["v"]}}])
        elb.set_rule_priorities(RulePriorities=[{"RuleArn": rule["RuleArn"], "Priority": 6}])
        rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        self.assertEqual(["6", "default"], sorted(r["Priority"] for r in rules))
        elb.delete_rule(RuleArn=rule["RuleArn"])
        got_tg = elb.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])["TargetGroups"][0]
        self.assertEqual([lb["LoadBalancerArn"]], got_tg["LoadBalancerArns"])
        elb.add_tags(ResourceArns=[lb["LoadBalancerArn"]], Tags=[{"Key": "env", "Value": "test"}])
        elb.remove_tags(ResourceArns=[lb["LoadBalancerArn"]], TagKeys=["env"])
        self.assertEqual([], elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"])
        # ECS services
        td = ecs.register_task_definition(family="wp-web", containerDefinitions=[
            {"name": "wordpress", "image": "wordpress:6", "memory": 512, "portMappings": [{"containerPort": 80}]}])
        td_arn = td["taskDefinition"]["taskDefinitionArn"]
        svc = ecs.create_service(cluster="wp", serviceName="web", taskDefinition=td_arn, desiredCount=2,
                                 loadBalancers=[{"targetGroupArn": tg["TargetGroupArn"],
                                                 "containerName": "wordpress", "containerPort": 80}])["service"]
        self.assertEqual([{"capacityProvider": "wp-ecs", "weight": 1, "base": 0}], svc["capacityProviderStrategy"])
        running = ecs.describe_services(cluster="wp", services=["web"])["services"][0]
        self.assertEqual((2, "COMPLETED"), (running["runningCount"], running["deployments"][0]["rolloutState"]))
        ecs.update_service(cluster="wp", service="web", desiredCount=0)
        # Application Auto Scaling
        aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/wp/web",
                                     ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=4)
        target = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]
        self.assertEqual((1, 4), (target["MinCapacity"], target["MaxCapacity"]))
        label = lb["LoadBalancerArn"].split(":loadbalancer/")[1] + "/" + tg["TargetGroupArn"].split(":")[-1]
        policy = aas.put_scaling_policy(
            PolicyName="requests", ServiceNamespace="ecs", ResourceId="service/wp/web",
            ScalableDimension="ecs:service:DesiredCount", PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={"TargetValue": 500.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}})
        self.assertEqual(2, len(policy["Alarms"]))
        found = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId="service/wp/web")
        self.assertEqual([policy["PolicyARN"]], [p["PolicyARN"] for p in found["ScalingPolicies"]])
        aas.delete_scaling_policy(PolicyName="requests", ServiceNamespace="ecs", ResourceId="service/wp/web",
                                  ScalableDimension="ecs:service:DesiredCount")
        aas.deregister_scalable_target(ServiceNamespace="ecs", ResourceId="service/wp/web",
                                       ScalableDimension="ecs:service:DesiredCount")
        # teardown, in the order wpo's destroy takes
        self.assertEqual("DRAINING", ecs.delete_service(cluster="wp", service="web")["service"]["status"])
        self.assertEqual("INACTIVE", ecs.describe_services(cluster="wp", services=["web"])["services"][0]["status"])
        ecs.put_cluster_capacity_providers(cluster="wp", capacityProviders=[], defaultCapacityProviderStrategy=[])
        self.assertEqual("INACTIVE", ecs.delete_capacity_provider(capacityProvider="wp-ecs")
                         ["capacityProvider"]["status"])
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["wp-ecs"])["AutoScalingGroups"][0]
        asg.set_instance_protection(AutoScalingGroupName="wp-ecs", ProtectedFromScaleIn=False,
                                    InstanceIds=[i["InstanceId"] for i in group["Instances"]])
        asg.delete_auto_scaling_group(AutoScalingGroupName="wp-ecs", ForceDelete=True)
        for _ in range(2):
            asg.describe_auto_scaling_groups(AutoScalingGroupNames=["wp-ecs"])
        self.assertEqual([], asg.describe_auto_scaling_groups(AutoScalingGroupNames=["wp-ecs"])["AutoScalingGroups"])
        self.assertEqual("INACTIVE", ecs.delete_cluster(cluster="wp")["cluster"]["status"])
        elb.delete_listener(ListenerArn=listener["ListenerArn"])
        elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])
        ec2.delete_security_group(GroupId=sg)
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)
        for service, module in (("ec2", "ec2_launch_templates"), ("autoscaling", None), ("ecs", "ecs_clusters"),
                                ("ecs", "ecs_services"), ("elbv2", None), ("application-autoscaling", None)):
            self.assert_all_served_ops_succeeded(service, module)

    def test_wafv2(self):
        """AWS WAF: a web ACL of a managed rule group protecting a load balancer."""
        region = "eu-west-1"
        ec2, elb = self.fake.client("ec2", region=region), self.fake.client("elbv2", region=region)
        vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=region + z)
                   ["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
        lb = elb.create_load_balancer(Name="waf-alb", Subnets=subnets)["LoadBalancers"][0]
        waf = self.fake.client("wafv2", region=region)
        acl = waf.create_web_acl(Name="wp", Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig={
            "SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "wp"}, Rules=[{
                "Name": "common", "Priority": 0, "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS",
                                                            "Name": "AWSManagedRulesCommonRuleSet"}},
                "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                                     "MetricName": "common"}}])["Summary"]
        self.assertEqual(["wp"], [a["Name"] for a in waf.list_web_acls(Scope="REGIONAL")["WebACLs"]])
        got = waf.get_web_acl(Name="wp", Scope="REGIONAL", Id=acl["Id"])
        token = waf.update_web_acl(Name="wp", Scope="REGIONAL", Id=acl["Id"], LockToken=got["LockToken"],
                                   DefaultAction={"Block": {}}, VisibilityConfig=got["WebACL"]["VisibilityConfig"],
                                   Rules=got["WebACL"]["Rules"])["NextLockToken"]
        waf.tag_resource(ResourceARN=acl["ARN"], Tags=[{"Key": "env", "Value": "test"}])
        waf.untag_resource(ResourceARN=acl["ARN"], TagKeys=["env"])
        self.assertEqual([], waf.list_tags_for_resource(ResourceARN=acl["ARN"])["TagInfoForResource"]["TagList"])
        waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=lb["LoadBalancerArn"])
        self.assertEqual(acl["ARN"], waf.get_web_acl_for_resource(ResourceArn=lb["LoadBalancerArn"])["WebACL"]["ARN"])
        waf.disassociate_web_acl(ResourceArn=lb["LoadBalancerArn"])
        waf.delete_web_acl(Name="wp", Scope="REGIONAL", Id=acl["Id"], LockToken=token)
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        self.assert_all_served_ops_succeeded("wafv2")

    def test_zz_every_service_has_a_wire_test(self):
        # runs last in this class (unittest sorts by name)
        every = {(name, module_of(fn)) for name, svc in services.load().items() for fn in svc.handlers.values()}
        self.assertEqual(every, TESTED)


if __name__ == "__main__":
    unittest.main()
