"""Behaviour of the smaller services: Route 53 change batches and changes, EFS
creation tokens and lifecycle, ECS revisions, RDS subnet groups, KMS
ciphertexts, STS role ARNs."""
import unittest

from botocore.exceptions import ClientError

from fakeaws.testing import Fake
from test_auth import error_of


class Route53Test(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.r53 = self.fake.client("route53")
        self.zone = self.r53.create_hosted_zone(Name="Example.COM", CallerReference="z1")["HostedZone"]["Id"]

    def tearDown(self):
        self.fake.stop()

    def change(self, *changes):
        return self.r53.change_resource_record_sets(HostedZoneId=self.zone, ChangeBatch={"Changes": list(changes)})

    def a(self, name, ip, action="CREATE", ttl=60):
        return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": ttl,
                                                        "ResourceRecords": [{"Value": ip}]}}

    def names(self):
        return [(s["Name"], s["Type"]) for s in self.r53.list_resource_record_sets(HostedZoneId=self.zone)
                ["ResourceRecordSets"]]

    def test_changes_go_pending_then_insync(self):
        change_id = self.change(self.a("www.example.com", "10.0.0.1"))["ChangeInfo"]["Id"]
        statuses = [self.r53.get_change(Id=change_id)["ChangeInfo"]["Status"] for _ in range(2)]
        self.assertEqual(["PENDING", "INSYNC"], statuses)
        self.assertEqual(("NoSuchChange", 404), error_of(self.r53.get_change, Id="CNOTHING"))

    def test_a_batch_applies_whole_or_not_at_all(self):
        self.change(self.a("www.example.com", "10.0.0.1"))
        with self.assertRaises(ClientError) as cm:
            self.change(self.a("api.example.com", "10.0.0.2"), self.a("www.example.com", "10.0.0.3"),
                        self.a("www.example.org", "10.0.0.4"))
        err = cm.exception.response["Error"]
        self.assertEqual("InvalidChangeBatch", err["Code"])
        self.assertIn("but it already exists", err["Message"])
        self.assertIn("not permitted in zone example.com.", err["Message"])
        self.assertNotIn(("api.example.com.", "A"), self.names())

    def test_delete_needs_the_exact_current_values(self):
        self.change(self.a("www.example.com", "10.0.0.1"))
        self.assertEqual(("InvalidChangeBatch", 400),
                         error_of(self.change, self.a("www.example.com", "10.0.0.1", "DELETE", ttl=300)))
        self.assertEqual(("InvalidChangeBatch", 400),
                         error_of(self.change, self.a("ftp.example.com", "10.0.0.1", "DELETE")))
        self.change(self.a("WWW.example.com.", "10.0.0.1", "DELETE"))
        self.assertNotIn(("www.example.com.", "A"), self.names())

    def test_upsert_and_cname_rules(self):
        self.change(self.a("www.example.com", "10.0.0.1", "UPSERT"))
        self.change(self.a("www.example.com", "10.0.0.9", "UPSERT"))
        sets = self.r53.list_resource_record_sets(HostedZoneId=self.zone, StartRecordName="www.example.com",
                                                  StartRecordType="A")["ResourceRecordSets"]
        self.assertEqual([{"Value": "10.0.0.9"}], sets[0]["ResourceRecords"])
        cname = {"Action": "CREATE", "ResourceRecordSet": {"Name": "www.example.com", "Type": "CNAME", "TTL": 60,
                                                           "ResourceRecords": [{"Value": "x.example.net"}]}}
        self.assertEqual(("InvalidChangeBatch", 400), error_of(self.change, cname))

    def test_zones(self):
        self.assertEqual(("HostedZoneAlreadyExists", 409),
                         error_of(self.r53.create_hosted_zone, Name="other.com", CallerReference="z1"))
        self.change(self.a("www.example.com", "10.0.0.1"))
        self.assertEqual(("HostedZoneNotEmpty", 400), error_of(self.r53.delete_hosted_zone, Id=self.zone))
        self.assertEqual(("NoSuchHostedZone", 404), error_of(self.r53.get_hosted_zone, Id="ZNOTHERE"))
        self.assertEqual("example.com.", self.r53.get_hosted_zone(Id=self.zone)["HostedZone"]["Name"])
        self.assertEqual(3, self.r53.get_hosted_zone(Id=self.zone)["HostedZone"]["ResourceRecordSetCount"])

    def test_record_sets_come_in_small_pages(self):
        self.change(*[self.a(f"h{i}.example.com", f"10.0.0.{i}") for i in range(6)])
        first = self.r53.list_resource_record_sets(HostedZoneId=self.zone)
        self.assertTrue(first["IsTruncated"])
        self.assertEqual(5, len(first["ResourceRecordSets"]))
        pages = list(self.r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.zone))
        self.assertEqual(8, sum(len(p["ResourceRecordSets"]) for p in pages))

    def test_private_zones_need_an_existing_vpc(self):
        self.assertEqual(("InvalidVPCId", 400),
                         error_of(self.r53.create_hosted_zone, Name="int.example", CallerReference="p1",
                                  VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"}))
        vpc = self.fake.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        zone = self.r53.create_hosted_zone(Name="int.example", CallerReference="p2",
                                           VPC={"VPCRegion": "us-east-1", "VPCId": vpc})
        self.assertTrue(zone["HostedZone"]["Config"]["PrivateZone"])
        self.assertEqual([vpc], [v["VPCId"] for v in self.r53.get_hosted_zone(Id=zone["HostedZone"]["Id"])["VPCs"]])


class EFSTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.efs = self.fake.client("efs")

    def tearDown(self):
        self.fake.stop()

    def test_creation_token_is_the_idempotency_key(self):
        fs = self.efs.create_file_system(CreationToken="wp")["FileSystemId"]
        with self.assertRaises(ClientError) as cm:
            self.efs.create_file_system(CreationToken="wp")
        self.assertEqual(("FileSystemAlreadyExists", 409),
                         (cm.exception.response["Error"]["Code"],
                          cm.exception.response["ResponseMetadata"]["HTTPStatusCode"]))
        self.assertEqual(fs, cm.exception.response["FileSystemId"])
        found = self.efs.describe_file_systems(CreationToken="wp")["FileSystems"]
        self.assertEqual([fs], [f["FileSystemId"] for f in found])

    def test_lifecycle_creating_available_deleting_gone(self):
        fs = self.efs.create_file_system(CreationToken="life")["FileSystemId"]
        states = [self.efs.describe_file_systems(FileSystemId=fs)["FileSystems"][0]["LifeCycleState"]
                  for _ in range(2)]
        self.assertEqual(["creating", "available"], states)
        self.efs.delete_file_system(FileSystemId=fs)
        self.assertEqual("deleting", self.efs.describe_file_systems()["FileSystems"][0]["LifeCycleState"])
        self.assertEqual([], self.efs.describe_file_systems()["FileSystems"])
        self.assertEqual(("FileSystemNotFound", 404), error_of(self.efs.delete_file_system, FileSystemId=fs))

    def test_throughput_rules(self):
        self.assertEqual(("BadRequest", 400), error_of(self.efs.create_file_system, CreationToken="t",
                                                       ThroughputMode="provisioned"))


class ECSTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake()
        self.ecs = self.fake.client("ecs")

    def tearDown(self):
        self.fake.stop()

    def test_task_definition_rules(self):
        self.assertEqual(("ClientException", 400), error_of(self.ecs.describe_task_definition, taskDefinition="nope"))
        self.assertEqual(("ClientException", 400), error_of(
            self.ecs.register_task_definition, family="f", requiresCompatibilities=["FARGATE"], cpu="256",
            memory="512", containerDefinitions=[{"name": "c", "image": "i"}]))
        self.assertEqual(("ClientException", 400), error_of(
            self.ecs.register_task_definition, family="f", containerDefinitions=[{"name": "c", "image": "i"}]))
        self.assertEqual(("ClientException", 400),
                         error_of(self.ecs.deregister_task_definition, taskDefinition="f"))
        arn = self.ecs.register_task_definition(family="f", containerDefinitions=[
            {"name": "c", "image": "i", "memoryReservation": 64}])["taskDefinition"]["taskDefinitionArn"]
        self.assertEqual(arn, self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
                         ["taskDefinitionArn"])
        self.ecs.deregister_task_definition(taskDefinition=arn)
        self.assertEqual(("ClientException", 400), error_of(self.ecs.describe_task_definition, taskDefinition="f"))
        self.assertEqual("INACTIVE", self.ecs.describe_task_definition(taskDefinition="f:1")["taskDefinition"]
                         ["status"])


class RDSTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        ec2 = self.fake.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        self.a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
        self.b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]
        self.a2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24", AvailabilityZone="us-east-1a")["Subnet"]
        self.x = ec2.create_subnet(VpcId=other, CidrBlock="10.1.1.0/24", AvailabilityZone="us-east-1c")["Subnet"]
        self.rds = self.fake.client("rds")

    def tearDown(self):
        self.fake.stop()

    def create(self, name, *subnets):
        return self.rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="d",
                                               SubnetIds=[s["SubnetId"] for s in subnets])

    def test_subnet_group_rules(self):
        self.assertEqual(("DBSubnetGroupDoesNotCoverEnoughAZs", 400),
                         error_of(self.create, "one-az", self.a, self.a2))
        self.assertEqual(("InvalidSubnet", 400), error_of(self.create, "two-vpcs", self.a, self.x))
        self.assertEqual(("InvalidSubnet", 400), error_of(
            self.rds.create_db_subnet_group, DBSubnetGroupName="ghost", DBSubnetGroupDescription="d",
            SubnetIds=["subnet-12345678", self.a["SubnetId"]]))
        self.create("db", self.a, self.b)
        self.assertEqual(("DBSubnetGroupAlreadyExists", 400), error_of(self.create, "DB", self.a, self.b))
        self.assertEqual(("DBSubnetGroupNotFoundFault", 404),
                         error_of(self.rds.delete_db_subnet_group, DBSubnetGroupName="nope"))

    def test_subnet_groups_come_in_pages(self):
        for i in range(6):
            self.create(f"g{i}", self.a, self.b)
        first = self.rds.describe_db_subnet_groups()
        self.assertEqual(5, len(first["DBSubnetGroups"]))
        pages = list(self.rds.get_paginator("describe_db_subnet_groups").paginate())
        self.assertEqual([f"g{i}" for i in range(6)],
                         [g["DBSubnetGroupName"] for p in pages for g in p["DBSubnetGroups"]])


class KMSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake()
        cls.kms = cls.fake.client("kms")
        cls.key = cls.kms.create_key()["KeyMetadata"]
        cls.other = cls.kms.create_key()["KeyMetadata"]

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def test_ciphertexts_are_bound_to_key_context_and_bytes(self):
        dk = self.kms.generate_data_key(KeyId=self.key["Arn"], NumberOfBytes=16, EncryptionContext={"a": "1"})
        self.assertEqual(16, len(dk["Plaintext"]))
        blob = dk["CiphertextBlob"]
        self.assertNotIn(dk["Plaintext"], blob)
        self.assertEqual(("InvalidCiphertextException", 400),
                         error_of(self.kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "2"}))
        tampered = blob[:-40] + bytes([blob[-40] ^ 1]) + blob[-39:]
        self.assertEqual(("InvalidCiphertextException", 400),
                         error_of(self.kms.decrypt, CiphertextBlob=tampered, EncryptionContext={"a": "1"}))
        self.assertEqual(("IncorrectKeyException", 400),
                         error_of(self.kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "1"},
                                  KeyId=self.other["KeyId"]))
        self.assertEqual(dk["Plaintext"], self.kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1"},
                                                           KeyId=self.key["KeyId"])["Plaintext"])

    def test_key_lookups(self):
        self.assertEqual(("NotFoundException", 400),
                         error_of(self.kms.describe_key, KeyId="00000000-0000-0000-0000-000000000000"))
        self.assertEqual(("NotFoundException", 400), error_of(self.kms.describe_key, KeyId="alias/wpo"))
        self.assertEqual(("ValidationException", 400),
                         error_of(self.kms.generate_data_key, KeyId=self.key["KeyId"]))


class STSTest(unittest.TestCase):
    def test_role_arns_are_checked(self):
        fake = Fake()
        try:
            sts = fake.client("sts")
            self.assertEqual(("ValidationError", 400),
                             error_of(sts.assume_role, RoleArn="arn:aws:iam::123:role/x", RoleSessionName="ab"))
            self.assertEqual(("ValidationError", 400),
                             error_of(sts.assume_role, RoleArn="arn:aws:iam::123456789012:user/x",
                                      RoleSessionName="ab"))
        finally:
            fake.stop()


if __name__ == "__main__":
    unittest.main()
