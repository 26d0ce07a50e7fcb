"""EFS mount targets, access points, backup policy, lifecycle configuration,
tags (efs_mounts.py, efs_access.py): one mount target per zone in one VPC,
the file system in use until they are gone, network interfaces, addresses;
access points' checks and their going with the file system; backup policy
transitions; lifecycle rules."""
import unittest

from fakeaws.testing import Fake
from test_auth import error_of


class EFSBase(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.ec2 = self.fake.client("ec2")
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        other = self.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        self.a = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
        self.a2 = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1a")["Subnet"]
        self.b = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24", AvailabilityZone="us-east-1b")["Subnet"]
        self.x = self.ec2.create_subnet(VpcId=other, CidrBlock="10.1.1.0/24", AvailabilityZone="us-east-1c")["Subnet"]
        self.sg = self.ec2.create_security_group(VpcId=vpc, GroupName="efs", Description="efs")["GroupId"]
        self.foreign_sg = self.ec2.create_security_group(VpcId=other, GroupName="x", Description="x")["GroupId"]
        self.efs = self.fake.client("efs")
        self.fs = self.efs.create_file_system(CreationToken="wp", Encrypted=True)["FileSystemId"]

    def tearDown(self):
        self.fake.stop()

    def fs_state(self):
        return self.efs.describe_file_systems(FileSystemId=self.fs)["FileSystems"][0]

    def ready(self):
        self.fs_state()
        return self.fs_state()

    def target(self, subnet, **kw):
        return self.efs.create_mount_target(FileSystemId=self.fs, SubnetId=subnet["SubnetId"],
                                            SecurityGroups=kw.pop("groups", [self.sg]), **kw)

    def targets(self):
        return self.efs.describe_mount_targets(FileSystemId=self.fs)["MountTargets"]


class MountTargetTest(EFSBase):
    def test_a_mount_target_needs_an_available_file_system_and_one_per_zone(self):
        self.assertEqual(("IncorrectFileSystemLifeCycleState", 409), error_of(self.target, self.a))
        self.ready()
        made = self.target(self.a)
        self.assertEqual(("creating", "us-east-1a", "10.0.1.4"),
                         (made["LifeCycleState"], made["AvailabilityZoneName"], made["IpAddress"]))
        self.assertEqual(("MountTargetConflict", 409), error_of(self.target, self.a2))
        self.assertEqual(("MountTargetConflict", 409), error_of(self.target, self.x, groups=[self.foreign_sg]))
        self.assertEqual(("SecurityGroupNotFound", 400), error_of(self.target, self.b, groups=[self.foreign_sg]))
        self.assertEqual(("SubnetNotFound", 400), error_of(
            self.efs.create_mount_target, FileSystemId=self.fs, SubnetId="subnet-12345678"))
        other = self.target(self.b, IpAddress="10.0.3.10")
        self.assertEqual("10.0.3.10", other["IpAddress"])
        self.assertEqual(["creating", "creating"], [t["LifeCycleState"] for t in self.targets()])
        self.assertEqual(["available", "available"], [t["LifeCycleState"] for t in self.targets()])
        self.assertEqual(2, self.fs_state()["NumberOfMountTargets"])

    def test_addresses_in_the_subnet_are_checked(self):
        self.ready()
        self.target(self.a, IpAddress="10.0.1.20")
        other = self.efs.create_file_system(CreationToken="other")["FileSystemId"]
        self.efs.describe_file_systems(FileSystemId=other)
        self.efs.describe_file_systems(FileSystemId=other)
        self.assertEqual(("IpAddressInUse", 409), error_of(
            self.efs.create_mount_target, FileSystemId=other, SubnetId=self.a["SubnetId"], IpAddress="10.0.1.20"))
        self.assertEqual("10.0.1.4", self.efs.create_mount_target(FileSystemId=other, SubnetId=self.a["SubnetId"])
                         ["IpAddress"])
        self.efs.delete_mount_target(MountTargetId=self.targets()[0]["MountTargetId"])
        self.assertEqual(("BadRequest", 400), error_of(self.target, self.b, IpAddress="10.0.1.20"))
        self.assertEqual(("BadRequest", 400), error_of(self.target, self.b, IpAddress="10.0.3.1"))
        self.assertEqual(("BadRequest", 400), error_of(self.target, self.b, IpAddress="not-an-ip"))

    def test_the_file_system_is_in_use_until_its_mount_targets_are_gone(self):
        self.ready()
        target = self.target(self.a)["MountTargetId"]
        enis = self.fake.state()["ec2"]["network-interface"]
        self.assertEqual(1, len(enis))
        eni = next(iter(enis.values()))
        self.assertEqual((self.a["SubnetId"], "interface", True, [self.sg]),
                         (eni["SubnetId"], eni["InterfaceType"], eni["RequesterManaged"],
                          [g["GroupId"] for g in eni["Groups"]]))
        self.efs.delete_mount_target(MountTargetId=target)
        self.assertEqual(("FileSystemInUse", 409), error_of(self.efs.delete_file_system, FileSystemId=self.fs))
        self.assertEqual(["deleting"], [t["LifeCycleState"] for t in self.targets()])
        self.assertEqual([], self.targets())
        # the interface goes with the mount target (or detaches, then goes, where EC2 keeps interfaces)
        left = self.fake.state().get("ec2", {}).get("network-interface", {})
        self.assertEqual([], [e["NetworkInterfaceId"] for e in left.values() if e["Status"] != "detaching"])
        self.assertEqual(("MountTargetNotFound", 404), error_of(self.efs.delete_mount_target, MountTargetId=target))
        self.efs.delete_file_system(FileSystemId=self.fs)

    def test_security_groups_of_a_mount_target(self):
        self.ready()
        target = self.target(self.a)["MountTargetId"]
        self.assertEqual(("IncorrectMountTargetState", 409), error_of(
            self.efs.modify_mount_target_security_groups, MountTargetId=target, SecurityGroups=[self.sg]))
        self.targets()
        self.targets()
        default = [g["GroupId"] for g in self.ec2.describe_security_groups()["SecurityGroups"]
                   if g["GroupName"] == "default" and g["VpcId"] == self.a["VpcId"]]
        self.efs.modify_mount_target_security_groups(MountTargetId=target, SecurityGroups=default + [self.sg])
        self.assertEqual(default + [self.sg], self.efs.describe_mount_target_security_groups(
            MountTargetId=target)["SecurityGroups"])
        self.assertEqual(("SecurityGroupLimitExceeded", 400), error_of(
            self.efs.modify_mount_target_security_groups, MountTargetId=target, SecurityGroups=[self.sg] * 6))
        self.assertEqual(("SecurityGroupNotFound", 400), error_of(
            self.efs.modify_mount_target_security_groups, MountTargetId=target, SecurityGroups=[self.foreign_sg]))

    def test_describe_needs_exactly_one_selector(self):
        self.assertEqual(("BadRequest", 400), error_of(self.efs.describe_mount_targets))
        self.assertEqual(("FileSystemNotFound", 404),
                         error_of(self.efs.describe_mount_targets, FileSystemId="fs-0123456789abcdef0"))


class AccessPointTest(EFSBase):
    def point(self, **kw):
        args = dict(ClientToken="wp-content", FileSystemId=self.fs, PosixUser={"Uid": 33, "Gid": 33},
                    RootDirectory={"Path": "/wordpress", "CreationInfo": {"OwnerUid": 33, "OwnerGid": 33,
                                                                          "Permissions": "0755"}},
                    Tags=[{"Key": "Name", "Value": "wp"}])
        args.update(kw)
        return self.efs.create_access_point(**args)

    def test_access_points_are_checked_and_go_with_their_file_system(self):
        self.assertEqual(("IncorrectFileSystemLifeCycleState", 409), error_of(self.point))
        self.ready()
        self.assertEqual(("BadRequest", 400), error_of(self.point, ClientToken="a", RootDirectory={"Path": "wordpress"}))
        self.assertEqual(("BadRequest", 400), error_of(self.point, ClientToken="b", RootDirectory={
            "Path": "/wp", "CreationInfo": {"OwnerUid": 33, "OwnerGid": 33, "Permissions": "rwx"}}))
        made = self.point()
        self.assertEqual(made["AccessPointId"], self.point()["AccessPointId"])      # the same token: the same point
        self.assertEqual(("creating", "wp"), (made["LifeCycleState"], made["Name"]))
        self.assertRegex(made["AccessPointArn"], r"^arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/"
                                                 r"fsap-[0-9a-f]{17}$")
        states = [self.efs.describe_access_points(FileSystemId=self.fs)["AccessPoints"][0]["LifeCycleState"]
                  for _ in range(2)]
        self.assertEqual(["creating", "available"], states)
        self.efs.delete_file_system(FileSystemId=self.fs)
        self.fs_state()
        self.assertEqual(("FileSystemNotFound", 404), error_of(self.fs_state))
        self.assertEqual([], self.efs.describe_access_points()["AccessPoints"])
        self.assertNotIn("efs", self.fake.state())

    def test_deleting_an_access_point(self):
        self.ready()
        ap = self.point()["AccessPointId"]
        self.efs.delete_access_point(AccessPointId=ap)
        self.assertEqual("deleting", self.efs.describe_access_points(AccessPointId=ap)["AccessPoints"][0]
                         ["LifeCycleState"])
        self.assertEqual(("AccessPointNotFound", 404), error_of(self.efs.describe_access_points, AccessPointId=ap))
        self.assertEqual(("BadRequest", 400), error_of(self.efs.describe_access_points, AccessPointId="nope"))


class PolicyTest(EFSBase):
    def test_backup_policy_moves_through_enabling(self):
        self.assertEqual("DISABLED", self.efs.describe_backup_policy(FileSystemId=self.fs)["BackupPolicy"]["Status"])
        self.assertEqual(("IncorrectFileSystemLifeCycleState", 409), error_of(
            self.efs.put_backup_policy, FileSystemId=self.fs, BackupPolicy={"Status": "ENABLED"}))
        self.ready()
        self.assertEqual("ENABLING", self.efs.put_backup_policy(FileSystemId=self.fs, BackupPolicy={
            "Status": "ENABLED"})["BackupPolicy"]["Status"])
        self.assertEqual(("IncorrectFileSystemLifeCycleState", 409), error_of(
            self.efs.put_backup_policy, FileSystemId=self.fs, BackupPolicy={"Status": "DISABLED"}))
        states = [self.efs.describe_backup_policy(FileSystemId=self.fs)["BackupPolicy"]["Status"] for _ in range(3)]
        self.assertEqual(["ENABLING", "ENABLED", "ENABLED"], states)
        self.assertEqual(("ValidationException", 400), error_of(
            self.efs.put_backup_policy, FileSystemId=self.fs, BackupPolicy={"Status": "ENABLING"}))

    def test_lifecycle_configuration_rules(self):
        self.ready()
        self.assertEqual(("BadRequest", 400), error_of(
            self.efs.put_lifecycle_configuration, FileSystemId=self.fs,
            LifecyclePolicies=[{"TransitionToIA": "AFTER_7_DAYS", "TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]))
        self.assertEqual(("BadRequest", 400), error_of(
            self.efs.put_lifecycle_configuration, FileSystemId=self.fs,
            LifecyclePolicies=[{"TransitionToIA": "AFTER_7_DAYS"}, {"TransitionToIA": "AFTER_30_DAYS"}]))
        self.efs.put_lifecycle_configuration(FileSystemId=self.fs, LifecyclePolicies=[
            {"TransitionToIA": "AFTER_30_DAYS"}, {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}])
        self.assertEqual(2, len(self.efs.describe_lifecycle_configuration(FileSystemId=self.fs)["LifecyclePolicies"]))
        self.efs.put_lifecycle_configuration(FileSystemId=self.fs, LifecyclePolicies=[])
        self.assertEqual([], self.efs.describe_lifecycle_configuration(FileSystemId=self.fs)["LifecyclePolicies"])

    def test_tags_keep_the_name_in_step(self):
        self.efs.tag_resource(ResourceId=self.fs, Tags=[{"Key": "Name", "Value": "content"},
                                                         {"Key": "wpo:stack", "Value": "prod"}])
        self.assertEqual("content", self.fs_state()["Name"])
        self.efs.untag_resource(ResourceId=self.fs, TagKeys=["Name"])
        self.assertNotIn("Name", self.fs_state())
        self.assertEqual([{"Key": "wpo:stack", "Value": "prod"}],
                         self.efs.list_tags_for_resource(ResourceId=self.fs)["Tags"])
        self.assertEqual(("BadRequest", 400), error_of(self.efs.tag_resource, ResourceId=self.fs,
                                                       Tags=[{"Key": "aws:x", "Value": "1"}]))

    def test_throughput_mode_changes(self):
        self.ready()
        self.assertEqual(("BadRequest", 400), error_of(self.efs.update_file_system, FileSystemId=self.fs,
                                                       ThroughputMode="provisioned"))
        self.efs.update_file_system(FileSystemId=self.fs, ThroughputMode="provisioned",
                                    ProvisionedThroughputInMibps=64.0)
        self.assertEqual(("updating", "provisioned"), (self.fs_state()["LifeCycleState"],
                                                       self.fs_state()["ThroughputMode"]))


if __name__ == "__main__":
    unittest.main()
