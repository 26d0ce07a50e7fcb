"""ECR in fakeaws, driven by botocore: repository names and encryption,
lifecycle-policy checks, image tags under MUTABLE and IMMUTABLE, deleting a
repository that holds images, tags by ARN."""
import json
import unittest

from fakeaws.testing import Fake
from test_auth import error_of


def rule(priority, status, count_type, number, **extra):
    selection = {"tagStatus": status, "countType": count_type, "countNumber": number, **extra}
    return {"rulePriority": priority, "selection": selection, "action": {"type": "expire"}}


class RepositoryTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1, page_size=2)
        self.ecr = self.fake.client("ecr", region="eu-west-1")

    def tearDown(self):
        self.fake.stop()

    def test_names_follow_ecr_grammar_and_are_unique(self):
        for bad in ("Upper", "trailing/", "double//slash", "-lead"):
            self.assertEqual(("InvalidParameterException", 400),
                             error_of(self.ecr.create_repository, repositoryName=bad), bad)
        self.ecr.create_repository(repositoryName="acme/wordpress")
        self.assertEqual(("RepositoryAlreadyExistsException", 400),
                         error_of(self.ecr.create_repository, repositoryName="acme/wordpress"))
        self.assertEqual(("RepositoryNotFoundException", 400),
                         error_of(self.ecr.describe_repositories, repositoryNames=["acme/other"]))

    def test_defaults_and_encryption(self):
        repo = self.ecr.create_repository(repositoryName="plain")["repository"]
        self.assertEqual(("MUTABLE", False, "AES256"), (repo["imageTagMutability"],
                         repo["imageScanningConfiguration"]["scanOnPush"],
                         repo["encryptionConfiguration"]["encryptionType"]))
        kms = self.fake.client("kms", region="eu-west-1")
        key = kms.create_key()["KeyMetadata"]
        enc = self.ecr.create_repository(repositoryName="sealed", encryptionConfiguration={
            "encryptionType": "KMS", "kmsKey": key["KeyId"]})["repository"]["encryptionConfiguration"]
        self.assertEqual({"encryptionType": "KMS", "kmsKey": key["Arn"]}, enc)
        managed = self.ecr.create_repository(repositoryName="managed", encryptionConfiguration={
            "encryptionType": "KMS"})["repository"]["encryptionConfiguration"]
        self.assertEqual("arn:aws:kms:eu-west-1:123456789012:alias/aws/ecr", managed["kmsKey"])
        self.assertEqual(("KmsException", 400), error_of(
            self.ecr.create_repository, repositoryName="nokey", encryptionConfiguration={
                "encryptionType": "KMS", "kmsKey": "11111111-2222-3333-4444-555555555555"}))
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecr.create_repository, repositoryName="mixed", encryptionConfiguration={
                "encryptionType": "AES256", "kmsKey": key["Arn"]}))

    def test_describe_pages(self):
        for i in range(5):
            self.ecr.create_repository(repositoryName=f"r{i}")
        names, token, pages = [], None, 0
        while True:
            page = self.ecr.describe_repositories(**({"nextToken": token} if token else {}))
            pages += 1
            names += [r["repositoryName"] for r in page["repositories"]]
            token = page.get("nextToken")
            if not token:
                break
        self.assertEqual([f"r{i}" for i in range(5)], names)
        self.assertEqual(3, pages)

    def test_tags_by_arn(self):
        repo = self.ecr.create_repository(repositoryName="tg", tags=[{"Key": "a", "Value": "1"}])["repository"]
        self.ecr.tag_resource(resourceArn=repo["repositoryArn"], tags=[{"Key": "a", "Value": "2"},
                                                                       {"Key": "b", "Value": "3"}])
        tags = self.ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        self.assertEqual({"a": "2", "b": "3"}, {t["Key"]: t["Value"] for t in tags})
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.ecr.list_tags_for_resource, resourceArn="not-an-arn"))
        gone = repo["repositoryArn"].replace("repository/tg", "repository/gone")
        self.assertEqual(("RepositoryNotFoundException", 400),
                         error_of(self.ecr.list_tags_for_resource, resourceArn=gone))
        self.assertEqual(("InvalidTagParameterException", 400),
                         error_of(self.ecr.tag_resource, resourceArn=repo["repositoryArn"],
                                  tags=[{"Key": "aws:x", "Value": "1"}]))
        self.assertIn("Tags", self.fake.state()["ecr"]["repository"]["tg"])

    def test_lifecycle_policy_checks(self):
        self.ecr.create_repository(repositoryName="wp")
        put = self.ecr.put_lifecycle_policy
        self.assertEqual(("LifecyclePolicyNotFoundException", 400),
                         error_of(self.ecr.get_lifecycle_policy, repositoryName="wp"))
        good = {"rules": [rule(1, "untagged", "sinceImagePushed", 7, countUnit="days"),
                          rule(2, "any", "imageCountMoreThan", 20)]}
        put(repositoryName="wp", lifecyclePolicyText=json.dumps(good))
        bad = [
            "not json " * 20,
            {"rules": []},
            {"rules": [rule(1, "any", "imageCountMoreThan", 20), rule(2, "untagged", "imageCountMoreThan", 3)]},
            {"rules": [rule(1, "tagged", "imageCountMoreThan", 5)]},
            {"rules": [rule(1, "untagged", "sinceImagePushed", 7)]},
            {"rules": [rule(1, "untagged", "imageCountMoreThan", 0)]},
            {"rules": [rule(1, "untagged", "imageCountMoreThan", 5), rule(1, "any", "imageCountMoreThan", 9)]},
        ]
        for doc in bad:
            text = doc if isinstance(doc, str) else json.dumps(doc) + " " * 100   # ECR's minimum length
            self.assertEqual(("InvalidParameterException", 400),
                             error_of(put, repositoryName="wp", lifecyclePolicyText=text), text)
        self.assertEqual(json.dumps(good), self.ecr.get_lifecycle_policy(repositoryName="wp")["lifecyclePolicyText"])
        self.ecr.delete_lifecycle_policy(repositoryName="wp")
        self.assertEqual(("LifecyclePolicyNotFoundException", 400),
                         error_of(self.ecr.delete_lifecycle_policy, repositoryName="wp"))
        self.assertEqual(("RepositoryNotFoundException", 400),
                         error_of(put, repositoryName="nope", lifecyclePolicyText=json.dumps(good)))


class ImageTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.ecr = self.fake.client("ecr")

    def tearDown(self):
        self.fake.stop()

    def push(self, repo, manifest, tag):
        return self.ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag=tag)["image"]["imageId"]

    def test_a_tag_moves_only_in_a_mutable_repository(self):
        self.ecr.create_repository(repositoryName="mu")
        self.ecr.create_repository(repositoryName="im", imageTagMutability="IMMUTABLE")
        first = self.push("mu", '{"v": 1}', "latest")
        second = self.push("mu", '{"v": 2}', "latest")
        self.assertNotEqual(first["imageDigest"], second["imageDigest"])
        images = self.ecr.describe_images(repositoryName="mu")["imageDetails"]
        self.assertEqual({first["imageDigest"]: [], second["imageDigest"]: ["latest"]},
                         {i["imageDigest"]: i["imageTags"] for i in images})
        self.push("im", '{"v": 1}', "v1")
        self.assertEqual(("ImageTagAlreadyExistsException", 400), error_of(self.push, "im", '{"v": 2}', "v1"))
        self.assertEqual(("ImageAlreadyExistsException", 400), error_of(self.push, "im", '{"v": 1}', "v1"))

    def test_describe_images_names_a_missing_tag(self):
        self.ecr.create_repository(repositoryName="wp")
        self.push("wp", '{"v": 1}', "6.4")
        found = self.ecr.describe_images(repositoryName="wp", imageIds=[{"imageTag": "6.4"}])["imageDetails"]
        self.assertEqual(["6.4"], found[0]["imageTags"])
        self.assertEqual(("ImageNotFoundException", 400),
                         error_of(self.ecr.describe_images, repositoryName="wp", imageIds=[{"imageTag": "6.5"}]))
        untagged = self.ecr.describe_images(repositoryName="wp", filter={"tagStatus": "UNTAGGED"})
        self.assertEqual([], untagged["imageDetails"])

    def test_a_repository_with_images_needs_force_to_go(self):
        self.ecr.create_repository(repositoryName="wp")
        self.push("wp", '{"v": 1}', "a")
        self.assertEqual(("RepositoryNotEmptyException", 400),
                         error_of(self.ecr.delete_repository, repositoryName="wp"))
        self.ecr.delete_repository(repositoryName="wp", force=True)
        self.assertNotIn("ecr", self.fake.state())

    def test_batch_delete_reports_failures(self):
        self.ecr.create_repository(repositoryName="wp")
        self.push("wp", '{"v": 1}', "a")
        out = self.ecr.batch_delete_image(repositoryName="wp", imageIds=[{"imageTag": "a"}, {"imageTag": "zz"}])
        self.assertEqual(["a"], [i["imageTag"] for i in out["imageIds"]])
        self.assertEqual(["ImageNotFound"], [f["failureCode"] for f in out["failures"]])
        self.assertEqual([], self.ecr.list_images(repositoryName="wp")["imageIds"])


if __name__ == "__main__":
    unittest.main()
