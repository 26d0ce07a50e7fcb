"""Wire tests (run by test_wire.WireTest) of the registry, identity and
operations services: ECR, IAM, CloudWatch Logs, CloudWatch, Secrets Manager
and SSM. A botocore client performs every operation each service serves."""
import base64
import json

TRUST_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                   "Action": "sts:AssumeRole"}]}


class RegistryWire:
    def test_ecr(self):
        ecr = self.fake.client("ecr", region="eu-west-1")
        repo = ecr.create_repository(repositoryName="prod/wordpress", imageTagMutability="IMMUTABLE",
                                     imageScanningConfiguration={"scanOnPush": True},
                                     encryptionConfiguration={"encryptionType": "AES256"},
                                     tags=[{"Key": "wpo:stack", "Value": "prod"}])["repository"]
        self.assertEqual("123456789012.dkr.ecr.eu-west-1.amazonaws.com/prod/wordpress", repo["repositoryUri"])
        arn = repo["repositoryArn"]
        ecr.put_image_scanning_configuration(repositoryName="prod/wordpress",
                                             imageScanningConfiguration={"scanOnPush": False})
        ecr.put_image_tag_mutability(repositoryName="prod/wordpress", imageTagMutability="MUTABLE")
        got = ecr.describe_repositories(repositoryNames=["prod/wordpress"])["repositories"][0]
        self.assertEqual((False, "MUTABLE"), (got["imageScanningConfiguration"]["scanOnPush"],
                                              got["imageTagMutability"]))
        ecr.tag_resource(resourceArn=arn, tags=[{"Key": "team", "Value": "web"}])
        ecr.untag_resource(resourceArn=arn, tagKeys=["wpo:stack"])
        self.assertEqual([{"Key": "team", "Value": "web"}], ecr.list_tags_for_resource(resourceArn=arn)["tags"])
        policy = json.dumps({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any",
                                        "countType": "imageCountMoreThan", "countNumber": 20},
                                        "action": {"type": "expire"}}]})
        ecr.put_lifecycle_policy(repositoryName="prod/wordpress", lifecyclePolicyText=policy)
        self.assertEqual(policy, ecr.get_lifecycle_policy(repositoryName="prod/wordpress")["lifecyclePolicyText"])
        ecr.delete_lifecycle_policy(repositoryName="prod/wordpress")
        pushed = ecr.put_image(repositoryName="prod/wordpress", imageManifest='{"schemaVersion": 2}',
                               imageTag="v1")["image"]["imageId"]
        self.assertRegex(pushed["imageDigest"], r"^sha256:[0-9a-f]{64}$")
        images = ecr.describe_images(repositoryName="prod/wordpress", imageIds=[{"imageTag": "v1"}])
        self.assertEqual(["v1"], images["imageDetails"][0]["imageTags"])
        self.assertEqual([{"imageDigest": pushed["imageDigest"], "imageTag": "v1"}],
                         ecr.list_images(repositoryName="prod/wordpress")["imageIds"])
        deleted = ecr.batch_delete_image(repositoryName="prod/wordpress", imageIds=[{"imageTag": "v1"}])
        self.assertEqual([], deleted["failures"])
        ecr.delete_repository(repositoryName="prod/wordpress")
        self.assertEqual([], ecr.describe_repositories()["repositories"])
        login = ecr.get_authorization_token()["authorizationData"][0]
        self.assertTrue(base64.b64decode(login["authorizationToken"]).startswith(b"AWS:"))
        self.assertEqual("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", login["proxyEndpoint"])
        self.assert_all_served_ops_succeeded("ecr")

    def test_iam(self):
        iam = self.fake.client("iam")
        trust = json.dumps(TRUST_DOC)
        role = iam.create_role(RoleName="ecs-instance", Path="/wpo/", AssumeRolePolicyDocument=trust,
                               Description="ECS hosts", Tags=[{"Key": "wpo:stack", "Value": "prod"}])["Role"]
        self.assertEqual("arn:aws:iam::123456789012:role/wpo/ecs-instance", role["Arn"])
        self.assertRegex(role["RoleId"], r"^AROA[A-Z0-9]{17}$")
        got = iam.get_role(RoleName="ECS-INSTANCE")["Role"]
        self.assertEqual(TRUST_DOC, got["AssumeRolePolicyDocument"])       # botocore decodes the URL-encoded JSON
        self.assertEqual([{"Key": "wpo:stack", "Value": "prod"}], got["Tags"])
        iam.update_role(RoleName="ecs-instance", Description="hosts", MaxSessionDuration=7200)
        iam.update_assume_role_policy(RoleName="ecs-instance", PolicyDocument=trust)
        iam.tag_role(RoleName="ecs-instance", Tags=[{"Key": "team", "Value": "web"}])
        iam.untag_role(RoleName="ecs-instance", TagKeys=["team"])
        got = iam.get_role(RoleName="ecs-instance")["Role"]
        self.assertEqual(("hosts", 7200, 1), (got["Description"], got["MaxSessionDuration"], len(got["Tags"])))
        inline = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents",
                                                          "Resource": "*"}]}
        iam.put_role_policy(RoleName="ecs-instance", PolicyName="logs", PolicyDocument=json.dumps(inline))
        self.assertEqual(inline, iam.get_role_policy(RoleName="ecs-instance", PolicyName="logs")["PolicyDocument"])
        self.assertEqual(["logs"], iam.list_role_policies(RoleName="ecs-instance")["PolicyNames"])
        managed = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
        iam.attach_role_policy(RoleName="ecs-instance", PolicyArn=managed)
        attached = iam.list_attached_role_policies(RoleName="ecs-instance")["AttachedPolicies"]
        self.assertEqual([{"PolicyName": "AmazonEC2ContainerServiceforEC2Role", "PolicyArn": managed}], attached)
        profile = iam.create_instance_profile(InstanceProfileName="ecs-instance",
                                              Tags=[{"Key": "wpo:stack", "Value": "prod"}])["InstanceProfile"]
        self.assertEqual([], profile["Roles"])
        iam.add_role_to_instance_profile(InstanceProfileName="ecs-instance", RoleName="ecs-instance")
        got = iam.get_instance_profile(InstanceProfileName="ecs-instance")["InstanceProfile"]
        self.assertEqual([role["Arn"]], [r["Arn"] for r in got["Roles"]])
        listed = iam.list_instance_profiles_for_role(RoleName="ecs-instance")["InstanceProfiles"]
        self.assertEqual([profile["Arn"]], [p["Arn"] for p in listed])
        iam.tag_instance_profile(InstanceProfileName="ecs-instance", Tags=[{"Key": "a", "Value": "b"}])
        iam.untag_instance_profile(InstanceProfileName="ecs-instance", TagKeys=["a"])
        iam.remove_role_from_instance_profile(InstanceProfileName="ecs-instance", RoleName="ecs-instance")
        iam.delete_instance_profile(InstanceProfileName="ecs-instance")
        iam.detach_role_policy(RoleName="ecs-instance", PolicyArn=managed)
        iam.delete_role_policy(RoleName="ecs-instance", PolicyName="logs")
        iam.delete_role(RoleName="ecs-instance")
        # users (iam_users.py): their keys sign; enforcement is tested in test_iam_enforce.py
        iam.create_user(UserName="deployer", Path="/ci/")
        self.assertEqual("arn:aws:iam::123456789012:user/ci/deployer",
                         iam.get_user(UserName="deployer")["User"]["Arn"])
        key = iam.create_access_key(UserName="deployer")["AccessKey"]
        self.assertEqual([key["AccessKeyId"]],
                         [k["AccessKeyId"] for k in iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"]])
        iam.put_user_policy(UserName="deployer", PolicyName="logs", PolicyDocument=json.dumps(inline))
        self.assertEqual(inline, iam.get_user_policy(UserName="deployer", PolicyName="logs")["PolicyDocument"])
        self.assertEqual(["logs"], iam.list_user_policies(UserName="deployer")["PolicyNames"])
        iam.delete_user_policy(UserName="deployer", PolicyName="logs")
        iam.delete_access_key(UserName="deployer", AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName="deployer")
        self.assert_all_served_ops_succeeded("iam")

    def test_logs(self):
        logs = self.fake.client("logs", region="eu-west-1")
        kms = self.fake.client("kms", region="eu-west-1")
        key = kms.create_key()["KeyMetadata"]["Arn"]
        logs.create_log_group(logGroupName="/wpo/prod/wordpress", tags={"wpo:stack": "prod"})
        logs.put_retention_policy(logGroupName="/wpo/prod/wordpress", retentionInDays=30)
        logs.associate_kms_key(logGroupName="/wpo/prod/wordpress", kmsKeyId=key)
        group = logs.describe_log_groups(logGroupNamePrefix="/wpo/")["logGroups"][0]
        self.assertEqual((30, key), (group["retentionInDays"], group["kmsKeyId"]))
        self.assertEqual("arn:aws:logs:eu-west-1:123456789012:log-group:/wpo/prod/wordpress:*", group["arn"])
        arn = group["arn"][:-2]
        logs.tag_resource(resourceArn=arn, tags={"team": "web"})
        logs.untag_resource(resourceArn=arn, tagKeys=["wpo:stack"])
        self.assertEqual({"team": "web"}, logs.list_tags_for_resource(resourceArn=arn)["tags"])
        logs.disassociate_kms_key(logGroupName="/wpo/prod/wordpress")
        logs.delete_retention_policy(logGroupName="/wpo/prod/wordpress")
        group = logs.describe_log_groups(logGroupNamePrefix="/wpo/")["logGroups"][0]
        self.assertNotIn("retentionInDays", group)
        self.assertNotIn("kmsKeyId", group)
        logs.delete_log_group(logGroupName="/wpo/prod/wordpress")
        self.assert_all_served_ops_succeeded("logs", "logs")   # streams: logs_streams.py, test_logs_streams

    def test_cloudwatch(self):
        cw = self.fake.client("cloudwatch", region="eu-west-1")
        cw.put_metric_alarm(AlarmName="prod-ecs-cpu", Namespace="AWS/ECS", MetricName="CPUUtilization",
                            Dimensions=[{"Name": "ClusterName", "Value": "prod"}], Statistic="Average", Period=300,
                            EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=80.0,
                            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                            Tags=[{"Key": "wpo:stack", "Value": "prod"}])
        alarm = cw.describe_alarms(AlarmNames=["prod-ecs-cpu"])["MetricAlarms"][0]
        self.assertEqual(("INSUFFICIENT_DATA", 80.0, 2), (alarm["StateValue"], alarm["Threshold"],
                                                          alarm["DatapointsToAlarm"]))
        arn = alarm["AlarmArn"]
        self.assertEqual("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-ecs-cpu", arn)
        cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "web"}])
        cw.untag_resource(ResourceARN=arn, TagKeys=["wpo:stack"])
        self.assertEqual([{"Key": "team", "Value": "web"}], cw.list_tags_for_resource(ResourceARN=arn)["Tags"])
        cw.delete_alarms(AlarmNames=["prod-ecs-cpu"])
        self.assertEqual([], cw.describe_alarms()["MetricAlarms"])
        self.assert_all_served_ops_succeeded("cloudwatch")

    def test_secrets_manager(self):     # sorts before a test_secretsmanager of WireTest itself
        sm = self.fake.client("secretsmanager", region="eu-west-1")
        created = sm.create_secret(Name="prod/db/master", Description="db", SecretString="first-value",
                                   Tags=[{"Key": "wpo:stack", "Value": "prod"}])
        self.assertRegex(created["ARN"], r"^arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
                                         r"prod/db/master-[A-Za-z0-9]{6}$")
        put = sm.put_secret_value(SecretId=created["ARN"], SecretString="second-value")
        self.assertEqual(["AWSCURRENT"], put["VersionStages"])
        self.assertEqual("second-value", sm.get_secret_value(SecretId="prod/db/master")["SecretString"])
        sm.update_secret(SecretId="prod/db/master", Description="database")
        sm.tag_resource(SecretId="prod/db/master", Tags=[{"Key": "team", "Value": "web"}])
        sm.untag_resource(SecretId="prod/db/master", TagKeys=["team"])
        got = sm.describe_secret(SecretId=created["ARN"])
        self.assertEqual(("database", [{"Key": "wpo:stack", "Value": "prod"}]), (got["Description"], got["Tags"]))
        stages = sorted(s for v in got["VersionIdsToStages"].values() for s in v)
        self.assertEqual(["AWSCURRENT", "AWSPREVIOUS"], stages)
        deleted = sm.delete_secret(SecretId="prod/db/master", RecoveryWindowInDays=7)
        self.assertIn("DeletedDate", sm.describe_secret(SecretId="prod/db/master"))
        self.assertEqual(created["ARN"], deleted["ARN"])
        sm.restore_secret(SecretId="prod/db/master")
        self.assertNotIn("DeletedDate", sm.describe_secret(SecretId="prod/db/master"))
        sm.delete_secret(SecretId="prod/db/master", ForceDeleteWithoutRecovery=True)
        self.assert_all_served_ops_succeeded("secretsmanager")

    def test_ssm(self):
        ssm = self.fake.client("ssm", region="eu-west-1")
        self.assertEqual(1, ssm.put_parameter(Name="/prod/site/url", Value="https://example.com", Type="String",
                                              Tags=[{"Key": "wpo:stack", "Value": "prod"}])["Version"])
        self.assertEqual(2, ssm.put_parameter(Name="/prod/site/url", Value="https://www.example.com",
                                              Overwrite=True)["Version"])
        got = ssm.get_parameter(Name="/prod/site/url")["Parameter"]
        self.assertEqual(("https://www.example.com", "String"), (got["Value"], got["Type"]))
        described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/prod/site/url"]}])
        self.assertEqual([2], [p["Version"] for p in described["Parameters"]])
        ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/prod/site/url",
                                 Tags=[{"Key": "team", "Value": "web"}])
        ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/prod/site/url", TagKeys=["wpo:stack"])
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/prod/site/url")["TagList"]
        self.assertEqual([{"Key": "team", "Value": "web"}], tags)
        ssm.delete_parameter(Name="/prod/site/url")
        self.assert_all_served_ops_succeeded("ssm")

    def test_sns(self):
        sns = self.fake.client("sns", region="eu-west-1")
        arn = sns.create_topic(Name="prod-alarms", Attributes={"DisplayName": "prod alarms"},
                               Tags=[{"Key": "wpo:stack", "Value": "prod"}])["TopicArn"]
        self.assertEqual("arn:aws:sns:eu-west-1:123456789012:prod-alarms", arn)
        sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="alarms")
        self.assertEqual("alarms", sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"])
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "web"}])
        sns.untag_resource(ResourceArn=arn, TagKeys=["wpo:stack"])
        self.assertEqual([{"Key": "team", "Value": "web"}], sns.list_tags_for_resource(ResourceArn=arn)["Tags"])
        pending = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com",
                                ReturnSubscriptionArn=True)["SubscriptionArn"]
        attrs = sns.get_subscription_attributes(SubscriptionArn=pending)["Attributes"]
        self.assertEqual(("true", "ops@example.com"), (attrs["PendingConfirmation"], attrs["Endpoint"]))
        queue = sns.subscribe(TopicArn=arn, Protocol="sqs",
                              Endpoint="arn:aws:sqs:eu-west-1:123456789012:q")["SubscriptionArn"]
        listed = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        self.assertEqual({"PendingConfirmation", queue}, {s["SubscriptionArn"] for s in listed})
        sns.unsubscribe(SubscriptionArn=queue)
        sns.delete_topic(TopicArn=arn)
        self.assertEqual({}, self.fake.state().get("sns", {}))
        self.assert_all_served_ops_succeeded("sns")
