"""Faults: throttling with each service's real code and status, 5xx, dropped
connections, an operations filter, reproducible sequences with a seed, and
latency that overlaps across concurrent calls."""
import threading
import time
import unittest

from botocore.exceptions import ClientError
from botocore.retries.standard import ThrottledRetryableChecker

from fakeaws.testing import Fake
from test_auth import error_of

THROTTLING_CODES = ThrottledRetryableChecker._THROTTLED_ERROR_CODES


def outcome(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
    except Exception as e:  # a dropped connection surfaces as whatever the client makes of it
        return "dropped:" + type(e).__name__


class FaultsTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)

    def tearDown(self):
        self.fake.stop()

    def faults(self, **cfg):
        return self.fake.control("POST", "/_fake/faults", cfg)

    def test_throttle_rate_1_throttles_every_call_with_the_service_s_own_code(self):
        s3 = self.fake.client("s3")
        s3.create_bucket(Bucket="throttled")
        self.faults(throttle_rate=1.0)
        cases = [
            ("ec2", lambda c: c.describe_vpcs(), ("RequestLimitExceeded", 503)),
            ("sts", lambda c: c.get_caller_identity(), ("Throttling", 400)),
            ("rds", lambda c: c.describe_db_subnet_groups(), ("Throttling", 400)),
            ("dynamodb", lambda c: c.describe_table(TableName="tbl"), ("ThrottlingException", 400)),
            ("ecs", lambda c: c.describe_task_definition(taskDefinition="f"), ("ThrottlingException", 400)),
            ("efs", lambda c: c.describe_file_systems(), ("ThrottlingException", 429)),
            ("route53", lambda c: c.get_change(Id="C1"), ("Throttling", 400)),
            ("s3", lambda c: c.list_objects_v2(Bucket="throttled"), ("SlowDown", 503)),
        ]
        for service, call, want in cases:
            with self.subTest(service=service):
                client = self.fake.client(service)
                for _ in range(3):
                    got = error_of(call, client)
                    self.assertEqual(want, got)
                    self.assertIn(got[0], THROTTLING_CODES)
        self.assertEqual(24, sum(d["errors"].get(c, 0) for d in self.fake.calls(detail=True).values()
                                 for c in ("RequestLimitExceeded", "Throttling", "ThrottlingException", "SlowDown")))

    def test_error_rate_1_answers_500_or_503(self):
        self.faults(error_rate=1.0, seed=1)
        ec2 = self.fake.client("ec2")
        seen = {error_of(ec2.describe_vpcs) for _ in range(12)}
        self.assertEqual({("InternalError", 500), ("Unavailable", 503)}, seen)
        ddb = self.fake.client("dynamodb")
        seen = {error_of(ddb.describe_table, TableName="tbl") for _ in range(12)}
        self.assertEqual({("InternalFailure", 500), ("ServiceUnavailableException", 503)}, seen)

    def test_drop_closes_the_connection_mid_answer_after_the_operation_took_effect(self):
        ec2 = self.fake.client("ec2")
        self.faults(drop_rate=1.0)
        result = outcome(ec2.create_vpc, CidrBlock="10.0.0.0/16")
        self.assertTrue(result.startswith("dropped:"), result)
        self.faults()
        self.assertEqual(1, len(ec2.describe_vpcs()["Vpcs"]))

    def test_drop_as_error_or_garbled_loses_the_answer_after_the_operation_took_effect(self):
        ec2 = self.fake.client("ec2")
        self.faults(drop_rate=1.0, drop_as="error", operations=["ec2.CreateVpc"])
        self.assertEqual(("InternalError", 500), error_of(ec2.create_vpc, CidrBlock="10.0.0.0/16"))
        self.faults(drop_rate=1.0, drop_as="garbled", operations=["ec2.CreateVpc"])
        self.assertTrue(outcome(ec2.create_vpc, CidrBlock="10.1.0.0/16").startswith("dropped:"))
        ecs = self.fake.client("ecs")
        self.faults(drop_rate=1.0, drop_as="garbled", operations=["ecs.CreateCluster"])
        self.assertNotIn("cluster", ecs.create_cluster(clusterName="c"))   # botocore reads bad JSON as {}
        self.faults()
        self.assertEqual({"10.0.0.0/16", "10.1.0.0/16"}, {v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"]})
        self.assertEqual(["c"], [c["clusterName"] for c in ecs.describe_clusters(clusters=["c"])["clusters"]])
        self.assertEqual(2, self.fake.calls()["ec2.CreateVpc"])
        with self.assertRaisesRegex(AssertionError, "drop_as must be one of close, error, garbled"):
            self.faults(drop_rate=1.0, drop_as="sometimes")

    def test_the_operations_filter_limits_faults_to_the_named_operations(self):
        ec2 = self.fake.client("ec2")
        self.faults(throttle_rate=1.0, operations=["ec2.CreateVpc", "DeleteVpc"])
        self.assertEqual("ok", outcome(ec2.describe_vpcs))
        self.assertEqual("RequestLimitExceeded", outcome(ec2.create_vpc, CidrBlock="10.0.0.0/16"))
        self.assertEqual("RequestLimitExceeded", outcome(ec2.delete_vpc, VpcId="vpc-12345678"))
        self.assertEqual("ok", outcome(self.fake.client("sts").get_caller_identity))

    def test_body_contains_limits_faults_to_the_requests_carrying_a_substring(self):
        ec2 = self.fake.client("ec2")
        ddb = self.fake.client("dynamodb")
        self.faults(error_rate=1.0, operations=["ec2.CreateVpc", "dynamodb.DescribeTable"], body_contains="10.3.0.0/16")
        # form-encoded (the / is %2F on the wire) and JSON bodies alike
        self.assertEqual("ok", outcome(ec2.create_vpc, CidrBlock="10.2.0.0/16"))
        self.assertIn(outcome(ec2.create_vpc, CidrBlock="10.3.0.0/16"), ("InternalError", "Unavailable"))
        self.assertEqual("ok", outcome(ec2.create_vpc, CidrBlock="10.4.0.0/16"))
        self.faults(error_rate=1.0, body_contains="tbl-delta")
        self.assertEqual("ResourceNotFoundException", outcome(ddb.describe_table, TableName="tbl-echo"))
        self.assertIn(outcome(ddb.describe_table, TableName="tbl-delta"), ("InternalFailure", "ServiceUnavailableException"))
        self.assertEqual(2, len(self.fake.state()["ec2"]["vpc"]))
        with self.assertRaisesRegex(AssertionError, "body_contains must be a non-empty string"):
            self.faults(body_contains="")

    def test_a_seed_makes_the_sequence_reproducible(self):
        ec2 = self.fake.client("ec2")

        def run(seed):
            self.faults(seed=seed, throttle_rate=0.3, error_rate=0.3)
            return [outcome(ec2.describe_vpcs) for _ in range(30)]
        first = run(42)
        self.assertEqual(first, run(42))
        self.assertGreater(len(set(first)), 2, first)
        self.assertIn("ok", first)
        self.assertNotEqual(first, run(43))

    def test_faults_come_after_authentication(self):
        self.faults(throttle_rate=1.0)
        sts = self.fake.client("sts", secret_key="wrong")
        self.assertEqual(("SignatureDoesNotMatch", 403), error_of(sts.get_caller_identity))

    def test_latency_is_honoured_concurrently(self):
        ec2 = self.fake.client("ec2", max_pool_connections=10)
        ec2.describe_vpcs()
        self.faults(latency_ms=200)
        results = []

        def call():
            results.append(outcome(ec2.describe_vpcs))
        threads = [threading.Thread(target=call) for _ in range(10)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        self.assertEqual(["ok"] * 10, results)
        self.assertGreaterEqual(elapsed, 0.2)
        self.assertLess(elapsed, 1.0, "10 calls of 200 ms did not overlap")

    def test_jitter_adds_up_to_its_amount(self):
        sts = self.fake.client("sts")
        sts.get_caller_identity()
        self.faults(latency_ms=50, jitter_ms=100, seed=3)
        times = []
        for _ in range(4):
            start = time.monotonic()
            sts.get_caller_identity()
            times.append(time.monotonic() - start)
        self.assertTrue(all(0.05 <= t < 0.5 for t in times), times)

    def test_rate_per_s_throttles_calls_past_the_bucket_and_only_the_matching_ones(self):
        from fakeaws.faults import Faults
        f = Faults()
        f.set({"rate_per_s": 1, "burst": 2, "operations": ["route53.GetChange"]})
        actions = [f.decide("route53", "GetChange").action for _ in range(3)]
        self.assertEqual([None, None, "throttle"], actions)
        self.assertIsNone(f.decide("route53", "ListHostedZones").action)
        sts = self.fake.client("sts")
        self.faults(rate_per_s=1, burst=1, operations=["sts.GetCallerIdentity"])
        got = [outcome(sts.get_caller_identity) for _ in range(2)]
        self.assertEqual("ok", got[0])
        self.assertIn(got[1], THROTTLING_CODES)
        with self.assertRaisesRegex(AssertionError, "rate_per_s must be a number > 0"):
            self.faults(rate_per_s=0)
        with self.assertRaisesRegex(AssertionError, "burst needs rate_per_s"):
            self.faults(burst=3)

    def test_bad_fault_settings_are_refused_naming_the_key(self):
        with self.assertRaisesRegex(AssertionError, "unknown fault key 'latency'"):
            self.faults(latency=5)
        with self.assertRaisesRegex(AssertionError, "throttle_rate must be a number between 0 and 1"):
            self.faults(throttle_rate=2)
        self.assertEqual(0, self.fake.control("GET", "/_fake/faults")["throttle_rate"])

    def test_strip_members_answers_200_without_them_after_the_operation_took_effect(self):
        ec2 = self.fake.client("ec2")
        ecs = self.fake.client("ecs")
        self.faults(strip_members=["Vpc"], operations=["ec2.CreateVpc"])
        out = ec2.create_vpc(CidrBlock="10.0.0.0/16")
        self.assertEqual(200, out["ResponseMetadata"]["HTTPStatusCode"])
        self.assertNotIn("Vpc", out)
        self.assertEqual(1, len(ec2.describe_vpcs()["Vpcs"]))       # other operations answer in full
        # a dotted path reaches into a structure; JSON protocols alike
        self.faults(strip_members=["Vpc.VpcId", "cluster.clusterArn"])
        out = ec2.create_vpc(CidrBlock="10.1.0.0/16")
        self.assertNotIn("VpcId", out["Vpc"])
        self.assertEqual("10.1.0.0/16", out["Vpc"]["CidrBlock"])
        cluster = ecs.create_cluster(clusterName="c1")["cluster"]
        self.assertNotIn("clusterArn", cluster)
        self.assertEqual("c1", cluster["clusterName"])
        self.assertEqual(2, len(ec2.describe_vpcs()["Vpcs"]))
        self.assertEqual(2, self.fake.calls()["ec2.CreateVpc"])
        with self.assertRaisesRegex(AssertionError, "strip_members must be a list of member names"):
            self.faults(strip_members="Vpc")

    def test_reset_clears_faults(self):
        self.faults(throttle_rate=1.0)
        self.fake.control("POST", "/_fake/reset")
        self.assertEqual("ok", outcome(self.fake.client("sts").get_caller_identity))


if __name__ == "__main__":
    unittest.main()
