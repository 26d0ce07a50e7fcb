"""fakeaws behaviour for compute, services and load balancing: EC2 launch
templates, Auto Scaling groups and their instances (scale-in protection,
ForceDelete), ECS clusters, capacity providers, cluster capacity providers
and services (deployments, draining, the refusals AWS gives), ELBv2 and
Application Auto Scaling."""
import base64
import unittest

from fakeaws.testing import Fake
from test_auth import error_of

AMI = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"


def user_data(cluster):
    script = f"#!/bin/bash\ncat >>/etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={cluster}\nEOF\n"
    return base64.b64encode(script.encode()).decode()


class ComputeTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        c = self.fake.client
        self.ec2, self.asg, self.ecs = c("ec2"), c("autoscaling"), c("ecs")
        self.elb, self.aas = c("elbv2"), c("application-autoscaling")
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24",
                                               AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"]
                        for i, az in enumerate("ab")]
        self.sg = self.ec2.create_security_group(VpcId=self.vpc, GroupName="alb", Description="alb")["GroupId"]

    def tearDown(self):
        self.fake.stop()

    def template(self, name="wp-ecs", cluster="wp"):
        return self.ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": AMI, "InstanceType": "t3.small", "UserData": user_data(cluster),
            "MetadataOptions": {"HttpTokens": "required"}})["LaunchTemplate"]["LaunchTemplateId"]

    def group(self, name="wp-ecs", lt=None, protect=True, desired=2, **kw):
        self.asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=desired,
                                           LaunchTemplate={"LaunchTemplateId": lt or self.template()},
                                           VPCZoneIdentifier=",".join(self.subnets),
                                           NewInstancesProtectedFromScaleIn=protect, **kw)
        return self.describe_group(name)

    def describe_group(self, name="wp-ecs"):
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        return groups[0] if groups else None

    def instances(self):
        return self.fake.control("GET", "/_fake/state").get("ec2", {}).get("instance", {})

    # -- launch templates --------------------------------------------------------------

    def test_launch_template_versions_default_and_latest(self):
        lt = self.template()
        self.assertEqual(("InvalidLaunchTemplateName.AlreadyExistsException", 400),
                         error_of(self.ec2.create_launch_template, LaunchTemplateName="wp-ecs",
                                  LaunchTemplateData={"ImageId": AMI}))
        self.ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1",
                                                LaunchTemplateData={"InstanceType": "t3.large"})
        latest = self.ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["$Latest"])
        data = latest["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        self.assertEqual(("t3.large", AMI), (data["InstanceType"], data["ImageId"]), "SourceVersion's data is kept")
        self.assertFalse(latest["LaunchTemplateVersions"][0]["DefaultVersion"])
        default = self.ec2.describe_launch_template_versions(LaunchTemplateName="wp-ecs", Versions=["$Default"])
        self.assertEqual(1, default["LaunchTemplateVersions"][0]["VersionNumber"])
        self.assertEqual(("InvalidLaunchTemplateId.VersionNotFound", 400),
                         error_of(self.ec2.modify_launch_template, LaunchTemplateId=lt, DefaultVersion="9"))
        self.assertEqual(2, len(self.ec2.describe_launch_template_versions(LaunchTemplateId=lt)
                                ["LaunchTemplateVersions"]))

    def test_launch_template_refusals_tags_and_not_found(self):
        self.assertEqual(("InvalidAMIID.Malformed", 400), error_of(
            self.ec2.create_launch_template, LaunchTemplateName="bad", LaunchTemplateData={"ImageId": "ubuntu"}))
        self.assertEqual(("InvalidUserData.Malformed", 400), error_of(
            self.ec2.create_launch_template, LaunchTemplateName="bad", LaunchTemplateData={"UserData": "%%%"}))
        lt = self.template()
        self.ec2.create_tags(Resources=[lt], Tags=[{"Key": "wpo:address", "Value": "x.lt"}])
        found = self.ec2.describe_launch_templates(Filters=[{"Name": "tag:wpo:address", "Values": ["x.lt"]}])
        self.assertEqual([lt], [t["LaunchTemplateId"] for t in found["LaunchTemplates"]])
        tags = self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lt]}])["Tags"]
        self.assertEqual([("wpo:address", "launch-template")], [(t["Key"], t["ResourceType"]) for t in tags])
        self.ec2.delete_launch_template(LaunchTemplateId=lt)
        self.assertEqual(("InvalidLaunchTemplateId.NotFound", 400),
                         error_of(self.ec2.describe_launch_templates, LaunchTemplateIds=[lt]))

    # -- Auto Scaling ----------------------------------------------------------------------

    def test_group_launches_instances_across_zones_over_describes(self):
        first = self.group(desired=2)
        self.assertEqual(["Pending", "Pending"], [i["LifecycleState"] for i in first["Instances"]])
        self.assertEqual({"us-east-1a", "us-east-1b"}, {i["AvailabilityZone"] for i in first["Instances"]})
        later = self.describe_group()
        self.assertEqual(["InService", "InService"], [i["LifecycleState"] for i in later["Instances"]])
        ec2 = self.instances()
        self.assertEqual({"running"}, {i["State"]["Name"] for i in ec2.values()})
        self.assertTrue(all(i["ImageId"].startswith("ami-") for i in ec2.values()), "resolve:ssm: resolved at launch")
        self.assertEqual({"required"}, {i["MetadataOptions"]["HttpTokens"] for i in ec2.values()})
        self.assertEqual(("AlreadyExists", 400), error_of(self.group, lt=first["LaunchTemplate"]["LaunchTemplateId"]))

    def test_scale_in_spares_protected_instances(self):
        self.group(desired=2, protect=True)
        self.asg.update_auto_scaling_group(AutoScalingGroupName="wp-ecs", MinSize=0, DesiredCapacity=0)
        self.assertEqual(2, len(self.describe_group()["Instances"]), "protected instances stay")
        ids = [i["InstanceId"] for i in self.describe_group()["Instances"]]
        self.asg.set_instance_protection(AutoScalingGroupName="wp-ecs", InstanceIds=ids[:1], ProtectedFromScaleIn=False)
        states = sorted(i["LifecycleState"] for i in self.describe_group()["Instances"])
        self.assertEqual(["InService", "Terminating"], states, "the unprotected one is scaled in")
        self.assertEqual(("ValidationError", 400), error_of(
            self.asg.set_instance_protection, AutoScalingGroupName="wp-ecs", InstanceIds=["i-0123456789abcdef0"],
            ProtectedFromScaleIn=False))
        self.assertEqual(("ValidationError", 400), error_of(
            self.asg.update_auto_scaling_group, AutoScalingGroupName="wp-ecs", MinSize=3, MaxSize=2))

    def test_delete_refused_while_instances_remain_unless_forced(self):
        self.group(desired=2, protect=True)
        code, status = error_of(self.asg.delete_auto_scaling_group, AutoScalingGroupName="wp-ecs")
        self.assertEqual(("ResourceInUse", 400), (code, status))
        self.asg.delete_auto_scaling_group(AutoScalingGroupName="wp-ecs", ForceDelete=True)
        self.assertEqual("Delete in progress", self.describe_group()["Status"])
        self.assertEqual(("ScalingActivityInProgress", 400),
                         error_of(self.asg.delete_auto_scaling_group, AutoScalingGroupName="wp-ecs", ForceDelete=True))
        for _ in range(3):
            self.describe_group()
        self.assertIsNone(self.describe_group())
        self.assertEqual({"terminated"}, {i["State"]["Name"] for i in self.instances().values()})
        self.assertEqual(("ValidationError", 400),
                         error_of(self.asg.update_auto_scaling_group, AutoScalingGroupName="wp-ecs", MaxSize=3))

    def test_group_tags_propagate_and_filter(self):
        self.group(desired=1, Tags=[{"Key": "wpo:address", "Value": "c.asg", "PropagateAtLaunch": True}])
        found = self.asg.describe_auto_scaling_groups(Filters=[{"Name": "tag:wpo:address", "Values": ["c.asg"]}])
        self.assertEqual(["wp-ecs"], [g["AutoScalingGroupName"] for g in found["AutoScalingGroups"]])
        tags = list(self.instances().values())[0]["Tags"]
        self.assertIn({"Key": "wpo:address", "Value": "c.asg"}, tags)
        self.assertIn({"Key": "aws:autoscaling:groupName", "Value": "wp-ecs"}, tags)

    # -- ECS clusters and capacity providers ---------------------------------------------------

    def test_instances_join_their_cluster_and_hold_its_deletion(self):
        self.group(desired=2)
        cluster = self.ecs.create_cluster(clusterName="wp")["cluster"]
        self.assertEqual(2, cluster["registeredContainerInstancesCount"], "instances booted first join now")
        self.assertEqual(cluster["clusterArn"], self.ecs.create_cluster(clusterName="wp")["cluster"]["clusterArn"])
        self.assertEqual(("ClusterContainsContainerInstancesException", 400),
                         error_of(self.ecs.delete_cluster, cluster="wp"))
        self.asg.delete_auto_scaling_group(AutoScalingGroupName="wp-ecs", ForceDelete=True)
        self.assertEqual("INACTIVE", self.ecs.delete_cluster(cluster="wp")["cluster"]["status"])
        self.assertEqual("INACTIVE", self.ecs.describe_clusters(clusters=["wp"])["clusters"][0]["status"])
        self.assertEqual(("ClusterNotFoundException", 400), error_of(self.ecs.delete_cluster, cluster="wp"))
        missing = self.ecs.describe_clusters(clusters=["nope"])
        self.assertEqual(([], "MISSING"), (missing["clusters"], missing["failures"][0]["reason"]))

    def test_capacity_provider_rules(self):
        unprotected = self.group(name="loose", protect=False, desired=0)
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecs.create_capacity_provider, name="cp-loose", autoScalingGroupProvider={
                "autoScalingGroupArn": unprotected["AutoScalingGroupARN"],
                "managedScaling": {"status": "ENABLED"}, "managedTerminationProtection": "ENABLED"}))
        self.assertEqual(("ClientException", 400), error_of(
            self.ecs.create_capacity_provider, name="ecs-bad", autoScalingGroupProvider={
                "autoScalingGroupArn": unprotected["AutoScalingGroupARN"]}))
        group = self.group(desired=1, lt=self.template(name="other-lt"))
        spec = {"autoScalingGroupArn": group["AutoScalingGroupARN"], "managedTerminationProtection": "ENABLED",
                "managedScaling": {"status": "ENABLED", "targetCapacity": 100}}
        self.ecs.create_capacity_provider(name="cp", autoScalingGroupProvider=spec)
        self.assertIn("AmazonECSManaged", [t["Key"] for t in self.describe_group()["Tags"]])
        self.assertEqual(("ClientException", 400), error_of(self.ecs.create_capacity_provider, name="cp2",
                                                            autoScalingGroupProvider=spec))
        self.ecs.create_cluster(clusterName="wp")
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecs.put_cluster_capacity_providers, cluster="wp", capacityProviders=["cp"],
            defaultCapacityProviderStrategy=[{"capacityProvider": "other", "weight": 1}]))
        self.ecs.put_cluster_capacity_providers(cluster="wp", capacityProviders=["cp"],
                                                defaultCapacityProviderStrategy=[{"capacityProvider": "cp",
                                                                                  "weight": 1}])
        self.assertEqual(("UpdateInProgressException", 400), error_of(
            self.ecs.put_cluster_capacity_providers, cluster="wp", capacityProviders=[],
            defaultCapacityProviderStrategy=[]))
        statuses = [self.ecs.describe_clusters(clusters=["wp"])["clusters"][0]["attachmentsStatus"] for _ in range(2)]
        self.assertEqual(["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"], statuses)
        self.assertEqual(("ClientException", 400), error_of(self.ecs.delete_capacity_provider, capacityProvider="cp"))
        self.ecs.put_cluster_capacity_providers(cluster="wp", capacityProviders=[], defaultCapacityProviderStrategy=[])
        gone = self.ecs.delete_capacity_provider(capacityProvider="cp")["capacityProvider"]
        self.assertEqual(("INACTIVE", "DELETE_IN_PROGRESS"), (gone["status"], gone["updateStatus"]))
        self.ecs.describe_capacity_providers(capacityProviders=["cp"])
        self.assertEqual("DELETE_COMPLETE", self.ecs.describe_capacity_providers(capacityProviders=["cp"])
                         ["capacityProviders"][0]["updateStatus"])

    # -- ECS services ----------------------------------------------------------------------------

    def web(self):
        lb = self.elb.create_load_balancer(Name="wp-alb", Subnets=self.subnets, SecurityGroups=[self.sg])
        lb = lb["LoadBalancers"][0]
        tg = self.elb.create_target_group(Name="wp-web", Protocol="HTTP", Port=80, VpcId=self.vpc)["TargetGroups"][0]
        return lb, tg

    def task_definition(self, image="wordpress:6"):
        return self.ecs.register_task_definition(family="wp", containerDefinitions=[
            {"name": "wordpress", "image": image, "memory": 512, "portMappings": [{"containerPort": 80}]}]
        )["taskDefinition"]["taskDefinitionArn"]

    def service(self, **kw):
        return self.ecs.describe_services(cluster="wp", services=["web"], **kw)["services"][0]

    def test_service_waits_for_capacity_then_rolls_out(self):
        self.ecs.create_cluster(clusterName="wp")
        td = self.task_definition()
        self.ecs.create_service(cluster="wp", serviceName="web", taskDefinition=td, desiredCount=2)
        for _ in range(3):
            svc = self.service()
        self.assertEqual((0, "IN_PROGRESS"), (svc["runningCount"], svc["deployments"][0]["rolloutState"]))
        self.assertIn("no container instance met all of its requirements", svc["events"][0]["message"])
        self.group(desired=1, lt=self.template(cluster="wp"))
        svc = self.service()
        self.assertEqual((2, "COMPLETED"), (svc["runningCount"], svc["deployments"][0]["rolloutState"]))
        td2 = self.task_definition("wordpress:6.5")
        self.ecs.update_service(cluster="wp", service="web", taskDefinition=td2)
        svc = self.service()
        self.assertEqual(["PRIMARY", "ACTIVE"], [d["status"] for d in svc["deployments"]])
        for _ in range(2):
            svc = self.service()
        self.assertEqual([td2], [d["taskDefinition"] for d in svc["deployments"]])
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.ecs.create_service, cluster="wp", serviceName="web", taskDefinition=td2))

    def test_service_deletion_drains_and_is_refused_while_scaled(self):
        self.ecs.create_cluster(clusterName="wp")
        self.ecs.create_service(cluster="wp", serviceName="web", taskDefinition=self.task_definition(),
                                desiredCount=1)
        self.assertEqual(("InvalidParameterException", 400),
                         error_of(self.ecs.delete_service, cluster="wp", service="web"))
        self.assertEqual(("ClusterContainsServicesException", 400), error_of(self.ecs.delete_cluster, cluster="wp"))
        self.ecs.update_service(cluster="wp", service="web", desiredCount=0)
        self.assertEqual("DRAINING", self.ecs.delete_service(cluster="wp", service="web")["service"]["status"])
        self.assertEqual(["DRAINING", "INACTIVE"], [self.service()["status"] for _ in range(2)])
        self.assertEqual(("ServiceNotActiveException", 400),
                         error_of(self.ecs.update_service, cluster="wp", service="web", desiredCount=1))
        self.assertEqual("INACTIVE", self.ecs.delete_cluster(cluster="wp")["cluster"]["status"])

    def test_service_load_balancer_and_strategy_rules(self):
        self.ecs.create_cluster(clusterName="wp")
        lb, tg = self.web()
        td = self.task_definition()
        target = [{"targetGroupArn": tg["TargetGroupArn"], "containerName": "wordpress", "containerPort": 80}]
        code, _ = error_of(self.ecs.create_service, cluster="wp", serviceName="web", taskDefinition=td,
                           loadBalancers=target)
        self.assertEqual("InvalidParameterException", code, "a target group with no load balancer")
        self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Port=80, Protocol="HTTP",
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        wrong_port = [dict(target[0], containerPort=8080)]
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecs.create_service, cluster="wp", serviceName="web", taskDefinition=td, loadBalancers=wrong_port))
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecs.create_service, cluster="wp", serviceName="web", taskDefinition=td,
            capacityProviderStrategy=[{"capacityProvider": "nope", "weight": 1}]))
        self.ecs.create_service(cluster="wp", serviceName="web", taskDefinition=td, loadBalancers=target)
        self.ecs.deregister_task_definition(taskDefinition=td)
        self.assertEqual(("InvalidParameterException", 400), error_of(
            self.ecs.update_service, cluster="wp", service="web", taskDefinition=td, forceNewDeployment=True))

    # -- ELBv2 ------------------------------------------------------------------------------------

    def test_load_balancer_rules(self):
        self.assertEqual(("ValidationError", 400), error_of(
            self.elb.create_load_balancer, Name="one-zone", Subnets=self.subnets[:1]))
        lb, tg = self.web()
        self.assertEqual("provisioning", lb["State"]["Code"])
        states = [self.elb.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"][0]
                  ["State"]["Code"] for _ in range(2)]
        self.assertEqual(["provisioning", "active"], states)
        self.assertEqual(("DuplicateLoadBalancerName", 400), error_of(
            self.elb.create_load_balancer, Name="wp-alb", Subnets=self.subnets))
        self.assertEqual(("InvalidConfigurationRequest", 400), error_of(
            self.elb.modify_load_balancer_attributes, LoadBalancerArn=lb["LoadBalancerArn"],
            Attributes=[{"Key": "no.such.attribute", "Value": "1"}]))
        forward = [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]
        self.assertEqual(("ValidationError", 400), error_of(
            self.elb.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Port=443, Protocol="HTTPS",
            DefaultActions=forward))
        self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Port=80, Protocol="HTTP",
                                 DefaultActions=forward)
        self.assertEqual(("DuplicateListener", 400), error_of(
            self.elb.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Port=80, Protocol="HTTP",
            DefaultActions=forward))
        other = self.elb.create_load_balancer(Name="other-alb", Subnets=self.subnets)["LoadBalancers"][0]
        self.assertEqual(("TargetGroupAssociationLimit", 400), error_of(
            self.elb.create_listener, LoadBalancerArn=other["LoadBalancerArn"], Port=80, Protocol="HTTP",
            DefaultActions=forward))
        self.assertEqual(("ResourceInUse", 400), error_of(self.elb.delete_target_group,
                                                          TargetGroupArn=tg["TargetGroupArn"]))
        self.elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
            {"Key": "deletion_protection.enabled", "Value": "true"}])
        self.assertEqual(("OperationNotPermitted", 400), error_of(self.elb.delete_load_balancer,
                                                                  LoadBalancerArn=lb["LoadBalancerArn"]))
        self.elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
            {"Key": "deletion_protection.enabled", "Value": "false"}])
        self.elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        self.assertEqual([], self.elb.describe_listeners(LoadBalancerArn=other["LoadBalancerArn"])["Listeners"])
        self.elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
        self.assertEqual(("TargetGroupNotFound", 400), error_of(self.elb.describe_target_groups,
                                                                TargetGroupArns=[tg["TargetGroupArn"]]))

    def test_listener_rules(self):
        lb, tg = self.web()
        fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}]
        li = self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Port=80, Protocol="HTTP",
                                      DefaultActions=fixed)["Listeners"][0]["ListenerArn"]
        forward = [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]
        header = [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Origin", "Values": ["s3cr3t"]}},
                  {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/wp-*"]}}]
        rule = self.elb.create_rule(ListenerArn=li, Priority=10, Conditions=header, Actions=forward,
                                    Tags=[{"Key": "k", "Value": "v"}])["Rules"][0]
        self.assertEqual("10", rule["Priority"])
        self.assertEqual(["/wp-*"], rule["Conditions"][1]["Values"])
        self.assertEqual(("PriorityInUse", 400), error_of(
            self.elb.create_rule, ListenerArn=li, Priority=10, Conditions=header, Actions=forward))
        self.assertEqual(("ValidationError", 400), error_of(
            self.elb.create_rule, ListenerArn=li, Priority=11, Conditions=[{"Field": "color", "Values": ["x"]}],
            Actions=forward))
        rules = self.elb.describe_rules(ListenerArn=li)["Rules"]
        self.assertEqual(["10", "default"], sorted(r["Priority"] for r in rules))
        default = [r for r in rules if r["IsDefault"]][0]
        self.assertEqual(("OperationNotPermitted", 400), error_of(self.elb.delete_rule, RuleArn=default["RuleArn"]))
        self.assertEqual([tg["TargetGroupArn"]], [t["TargetGroupArn"] for t in self.elb.describe_target_groups(
            LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]])
        self.assertEqual(("ResourceInUse", 400), error_of(self.elb.delete_target_group,
                                                          TargetGroupArn=tg["TargetGroupArn"]))
        self.elb.set_rule_priorities(RulePriorities=[{"RuleArn": rule["RuleArn"], "Priority": 20}])
        self.elb.modify_rule(RuleArn=rule["RuleArn"], Conditions=header[1:], Actions=fixed)
        got = self.elb.describe_rules(RuleArns=[rule["RuleArn"]])["Rules"][0]
        self.assertEqual(("20", "path-pattern", "fixed-response"),
                         (got["Priority"], got["Conditions"][0]["Field"], got["Actions"][0]["Type"]))
        self.assertEqual([{"Key": "k", "Value": "v"}], self.elb.describe_tags(
            ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0]["Tags"])
        self.elb.delete_listener(ListenerArn=li)
        self.assertEqual(("RuleNotFound", 400), error_of(self.elb.describe_rules, RuleArns=[rule["RuleArn"]]))

    def test_load_balancer_and_instances_hold_their_subnets_through_interfaces(self):
        lb, _ = self.web()
        self.group(desired=1)
        enis = self.ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [self.vpc]}])
        kinds = sorted(e["Description"].split(" ")[0] for e in enis["NetworkInterfaces"])
        self.assertEqual(["ELB", "ELB", "Primary"], kinds)
        self.elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        self.asg.delete_auto_scaling_group(AutoScalingGroupName="wp-ecs", ForceDelete=True)
        self.assertEqual(("DependencyViolation", 400), error_of(self.ec2.delete_security_group, GroupId=self.sg),
                         "an ELB interface still detaching")
        for _ in range(2):
            self.ec2.describe_network_interfaces()
        self.ec2.delete_security_group(GroupId=self.sg)
        for subnet in self.subnets:
            self.ec2.delete_subnet(SubnetId=subnet)

    # -- Application Auto Scaling ---------------------------------------------------------------

    def test_scalable_targets_and_policies(self):
        dim = {"ServiceNamespace": "ecs", "ResourceId": "service/wp/web",
               "ScalableDimension": "ecs:service:DesiredCount"}
        self.assertEqual(("ValidationException", 400), error_of(
            self.aas.register_scalable_target, MinCapacity=1, MaxCapacity=2, **dim))
        self.ecs.create_cluster(clusterName="wp")
        self.ecs.create_service(cluster="wp", serviceName="web", taskDefinition=self.task_definition())
        self.assertEqual(("ValidationException", 400), error_of(self.aas.register_scalable_target, **dim))
        cpu = {"TargetValue": 60.0, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}
        self.assertEqual(("ObjectNotFoundException", 400), error_of(
            self.aas.put_scaling_policy, PolicyName="cpu", PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=cpu, **dim))
        self.aas.register_scalable_target(MinCapacity=1, MaxCapacity=4, **dim)
        self.aas.register_scalable_target(MaxCapacity=6, **dim)
        target = self.aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]
        self.assertEqual((1, 6), (target["MinCapacity"], target["MaxCapacity"]))
        self.assertEqual(("ValidationException", 400), error_of(
            self.aas.put_scaling_policy, PolicyName="req", PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={"TargetValue": 100.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": "app/x/1/targetgroup/y/2"}},
            **dim))
        first = self.aas.put_scaling_policy(PolicyName="cpu", PolicyType="TargetTrackingScaling",
                                            TargetTrackingScalingPolicyConfiguration=cpu, **dim)
        again = self.aas.put_scaling_policy(PolicyName="cpu", PolicyType="TargetTrackingScaling",
                                            TargetTrackingScalingPolicyConfiguration=dict(cpu, TargetValue=50.0),
                                            **dim)
        self.assertEqual(first["PolicyARN"], again["PolicyARN"], "PutScalingPolicy is an upsert")
        self.assertTrue(first["PolicyARN"].endswith(":resource/ecs/service/wp/web:policyName/cpu"))
        self.aas.deregister_scalable_target(**dim)
        self.assertEqual([], self.aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"])
        self.assertEqual(("ObjectNotFoundException", 400), error_of(self.aas.deregister_scalable_target, **dim))


if __name__ == "__main__":
    unittest.main()
