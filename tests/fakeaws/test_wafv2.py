"""AWS WAF (services/wafv2.py) driven by botocore: web ACLs, lock tokens,
associations with load balancers, tags, and the waf-entity delay."""
import unittest

from botocore.exceptions import ClientError

from fakeaws.testing import Fake

VISIBILITY = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "wp"}


def managed(name, priority, override="None"):
    return {"Name": name, "Priority": priority, "OverrideAction": {override: {}},
            "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
            "VisibilityConfig": dict(VISIBILITY, MetricName=name)}


def rate(limit, priority):
    return {"Name": "rate", "Priority": priority, "Action": {"Block": {}},
            "Statement": {"RateBasedStatement": {"Limit": limit, "AggregateKeyType": "IP"}},
            "VisibilityConfig": dict(VISIBILITY, MetricName="rate")}


class WafTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        self.waf = self.fake.client("wafv2", region="eu-west-1")

    def tearDown(self):
        self.fake.stop()

    def code(self, call, **kwargs):
        with self.assertRaises(ClientError) as cm:
            call(**kwargs)
        return cm.exception.response["Error"]["Code"]

    def create(self, name="wp", rules=None, scope="REGIONAL", client=None, **extra):
        return (client or self.waf).create_web_acl(Name=name, Scope=scope, DefaultAction={"Allow": {}},
                                                   VisibilityConfig=VISIBILITY, Rules=rules or [], **extra)["Summary"]

    def load_balancer(self):
        ec2 = self.fake.client("ec2", region="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                     AvailabilityZone="eu-west-1" + z)["Subnet"]["SubnetId"]
                   for i, z in enumerate("ab")]
        elb = self.fake.client("elbv2", region="eu-west-1")
        return elb, elb.create_load_balancer(Name="wp", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]

    def test_creates_reads_and_lists_a_web_acl_with_managed_groups_and_a_rate_rule(self):
        rules = [managed("AWSManagedRulesCommonRuleSet", 0), managed("AWSManagedRulesWordPressRuleSet", 1, "Count"),
                 rate(2000, 2)]
        s = self.create(rules=rules, Tags=[{"Key": "team", "Value": "web"}])
        self.assertRegex(s["ARN"], r"^arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/wp/[0-9a-f-]{36}$")
        got = self.waf.get_web_acl(Name="wp", Scope="REGIONAL", Id=s["Id"])
        self.assertEqual(rules, got["WebACL"]["Rules"])
        self.assertEqual(802, got["WebACL"]["Capacity"])
        self.assertEqual(s["LockToken"], got["LockToken"])
        self.assertEqual(["wp"], [a["Name"] for a in self.waf.list_web_acls(Scope="REGIONAL")["WebACLs"]])
        tags = self.waf.list_tags_for_resource(ResourceARN=s["ARN"])["TagInfoForResource"]["TagList"]
        self.assertEqual([{"Key": "team", "Value": "web"}], tags)

    def test_names_are_unique_per_scope_and_region(self):
        self.create()
        self.assertEqual("WAFDuplicateItemException", self.code(self.create))
        other = self.fake.client("wafv2", region="us-west-2")
        self.assertTrue(self.create(client=other)["ARN"].startswith("arn:aws:wafv2:us-west-2:"))

    def test_cloudfront_scope_only_in_us_east_1(self):
        self.assertEqual("WAFInvalidParameterException", self.code(self.create, scope="CLOUDFRONT"))
        east = self.fake.client("wafv2", region="us-east-1")
        s = self.create(scope="CLOUDFRONT", client=east)
        self.assertIn(":global/webacl/wp/", s["ARN"])
        self.assertEqual([], self.waf.list_web_acls(Scope="REGIONAL")["WebACLs"])

    def test_refuses_unknown_managed_groups_and_bad_rules(self):
        self.assertEqual("WAFNonexistentItemException",
                         self.code(self.create, rules=[managed("AWSManagedRulesMadeUp", 0)]))
        bad = managed("AWSManagedRulesSQLiRuleSet", 0)
        bad["Action"] = {"Block": {}}
        self.assertEqual("WAFInvalidParameterException", self.code(self.create, rules=[bad]))
        self.assertEqual("WAFInvalidParameterException",
                         self.code(self.create, rules=[managed("AWSManagedRulesSQLiRuleSet", 1),
                                                       managed("AWSManagedRulesPHPRuleSet", 1)]))

    def test_update_and_delete_need_the_current_lock_token(self):
        s = self.create()
        stale = s["LockToken"]
        nxt = self.waf.update_web_acl(Name="wp", Scope="REGIONAL", Id=s["Id"], DefaultAction={"Block": {}},
                                      VisibilityConfig=VISIBILITY, LockToken=stale)["NextLockToken"]
        self.assertNotEqual(stale, nxt)
        self.assertEqual("WAFOptimisticLockException",
                         self.code(self.waf.update_web_acl, Name="wp", Scope="REGIONAL", Id=s["Id"],
                                   DefaultAction={"Allow": {}}, VisibilityConfig=VISIBILITY, LockToken=stale))
        self.assertEqual("WAFOptimisticLockException",
                         self.code(self.waf.delete_web_acl, Name="wp", Scope="REGIONAL", Id=s["Id"], LockToken=stale))
        self.assertEqual({"Block": {}}, self.waf.get_web_acl(Name="wp", Scope="REGIONAL",
                                                             Id=s["Id"])["WebACL"]["DefaultAction"])
        self.waf.delete_web_acl(Name="wp", Scope="REGIONAL", Id=s["Id"], LockToken=nxt)
        self.assertEqual("WAFNonexistentItemException",
                         self.code(self.waf.get_web_acl, Name="wp", Scope="REGIONAL", Id=s["Id"]))

    def test_associates_with_a_load_balancer_and_refuses_deleting_an_associated_acl(self):
        elb, lb = self.load_balancer()
        s = self.create()
        self.assertNotIn("WebACL", self.waf.get_web_acl_for_resource(ResourceArn=lb))
        self.waf.associate_web_acl(WebACLArn=s["ARN"], ResourceArn=lb)
        self.assertEqual(s["ARN"], self.waf.get_web_acl_for_resource(ResourceArn=lb)["WebACL"]["ARN"])
        self.assertEqual("WAFAssociatedItemException",
                         self.code(self.waf.delete_web_acl, Name="wp", Scope="REGIONAL", Id=s["Id"],
                                   LockToken=s["LockToken"]))
        self.waf.disassociate_web_acl(ResourceArn=lb)
        self.assertNotIn("WebACL", self.waf.get_web_acl_for_resource(ResourceArn=lb))
        self.waf.associate_web_acl(WebACLArn=s["ARN"], ResourceArn=lb)
        elb.delete_load_balancer(LoadBalancerArn=lb)
        self.waf.delete_web_acl(Name="wp", Scope="REGIONAL", Id=s["Id"], LockToken=s["LockToken"])
        self.assertEqual("WAFNonexistentItemException",
                         self.code(self.waf.associate_web_acl, WebACLArn=s["ARN"], ResourceArn=lb))

    def test_tags_and_untags(self):
        s = self.create()
        self.waf.tag_resource(ResourceARN=s["ARN"], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        self.waf.untag_resource(ResourceARN=s["ARN"], TagKeys=["a"])
        tags = self.waf.list_tags_for_resource(ResourceARN=s["ARN"])["TagInfoForResource"]["TagList"]
        self.assertEqual([{"Key": "b", "Value": "2"}], tags)

    def test_a_new_load_balancer_is_unavailable_to_waf_while_its_delay_runs(self):
        self.fake.control("POST", "/_fake/eventual", {"seconds": 3600, "fixed": True, "behaviours": ["waf-entity"]})
        _, lb = self.load_balancer()
        s = self.create()
        self.assertEqual("WAFUnavailableEntityException",
                         self.code(self.waf.associate_web_acl, WebACLArn=s["ARN"], ResourceArn=lb))
        self.fake.control("POST", "/_fake/eventual", {"seconds": 0})
        self.waf.associate_web_acl(WebACLArn=s["ARN"], ResourceArn=lb)


if __name__ == "__main__":
    unittest.main()
