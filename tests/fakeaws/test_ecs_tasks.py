"""ECS tasks (services/ecs_tasks.py) driven by botocore: a task's life over
successive describes, its result set by /_fake/ecs/task-results, StopTask,
ListTasks, and the checks ECS makes before starting anything."""
import http.client
import json
import unittest

from botocore.exceptions import ClientError

from fakeaws.testing import Fake

COMMAND = ["wpo", "run", "--ref", "v1.0.0", "git+file:///srv/infra.git//stacks/customers/{}.lua", "--yes"]


def code_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None


def post(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


class EcsTasksTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=1)
        self.ecs = self.fake.client("ecs", region="eu-west-1")
        for name in ("fleet", "other"):
            self.ecs.create_cluster(clusterName=name)
        self.ecs.register_task_definition(family="wpo", containerDefinitions=[
            {"name": "wpo", "image": "wpo:latest", "memory": 256, "essential": True},
            {"name": "sidecar", "image": "busybox", "memory": 32, "essential": False, "command": ["sleep", "1"]}])

    def tearDown(self):
        self.fake.stop()

    def run_task(self, customer, **extra):
        params = dict(cluster="fleet", taskDefinition="wpo", startedBy="wpo-rollout", overrides={
            "containerOverrides": [{"name": "wpo", "command": [c.format(customer) for c in COMMAND]}]})
        params.update(extra)
        out = self.ecs.run_task(**params)
        self.assertEqual([], out["failures"])
        return out["tasks"][0]

    def describe(self, arn, cluster="fleet"):
        out = self.ecs.describe_tasks(cluster=cluster, tasks=[arn])
        self.assertEqual([], out["failures"])
        return out["tasks"][0]

    def until_stopped(self, arn):
        seen = []
        for _ in range(10):
            task = self.describe(arn)
            seen.append(task["lastStatus"])
            if task["lastStatus"] == "STOPPED":
                return task, seen
        self.fail(f"task never stopped: {seen}")

    def test_a_task_moves_through_its_life_over_describes_and_exits_0_by_default(self):
        task = self.run_task("acme")
        self.assertRegex(task["taskArn"], r"^arn:aws:ecs:eu-west-1:123456789012:task/fleet/[0-9a-f]{32}$")
        self.assertEqual("arn:aws:ecs:eu-west-1:123456789012:cluster/fleet", task["clusterArn"])
        self.assertEqual(("PROVISIONING", "RUNNING"), (task["lastStatus"], task["desiredStatus"]))
        self.assertEqual("wpo-rollout", task["startedBy"])
        self.assertEqual("family:wpo", task["group"])
        stopped, seen = self.until_stopped(task["taskArn"])
        self.assertEqual(["PENDING", "RUNNING", "STOPPED"], seen)
        self.assertEqual("EssentialContainerExited", stopped["stopCode"])
        self.assertEqual("Essential container in task exited", stopped["stoppedReason"])
        self.assertEqual({"wpo": 0, "sidecar": 0}, {c["name"]: c["exitCode"] for c in stopped["containers"]})
        self.assertEqual("STOPPED", stopped["desiredStatus"])
        self.assertIn("startedAt", stopped)
        self.assertIn("stoppedAt", stopped)

    def test_rules_set_the_exit_code_of_the_task_whose_command_matches(self):
        self.fake.control("POST", "/_fake/ecs/task-results", {"rules": [
            {"match": "customers/delta.lua", "exit_code": 3, "log": ["boom"]}]})
        failing = self.run_task("delta")
        fine = self.run_task("echo")
        self.assertEqual(3, self.until_stopped(failing["taskArn"])[0]["containers"][0]["exitCode"])
        self.assertEqual(0, self.until_stopped(fine["taskArn"])[0]["containers"][0]["exitCode"])
        # the rules apply to tasks started after they are set; reset forgets them
        self.assertEqual(1, len(self.fake.control("GET", "/_fake/ecs/task-results")["rules"]))
        self.fake.control("POST", "/_fake/reset")
        self.assertEqual({"rules": []}, self.fake.control("GET", "/_fake/ecs/task-results"))

    def test_a_start_failure_stops_the_task_before_it_runs_without_an_exit_code(self):
        self.fake.control("POST", "/_fake/ecs/task-results", {"rules": [
            {"match": "acme", "start_failure": "CannotPullContainerError: pull access denied for wpo"}]})
        stopped, seen = self.until_stopped(self.run_task("acme")["taskArn"])
        self.assertEqual(["PENDING", "STOPPED"], seen)
        self.assertEqual("TaskFailedToStart", stopped["stopCode"])
        self.assertEqual("CannotPullContainerError: pull access denied for wpo", stopped["stoppedReason"])
        self.assertNotIn("exitCode", stopped["containers"][0])
        self.assertEqual("CannotPullContainerError: pull access denied for wpo", stopped["containers"][0]["reason"])

    def test_stop_task_stops_a_running_task_with_its_reason(self):
        self.fake.control("POST", "/_fake/ecs/task-results", {"rules": [{"match": "acme", "running_describes": 50}]})
        arn = self.run_task("acme")["taskArn"]
        statuses = [self.describe(arn)["lastStatus"] for _ in range(4)]
        self.assertEqual(["PENDING", "RUNNING", "RUNNING", "RUNNING"], statuses)
        out = self.ecs.stop_task(cluster="fleet", task=arn, reason="wpo rollout: timed out")["task"]
        self.assertEqual(("RUNNING", "STOPPED"), (out["lastStatus"], out["desiredStatus"]))
        stopped = self.describe(arn)
        self.assertEqual(("STOPPED", "UserInitiated", "wpo rollout: timed out"),
                         (stopped["lastStatus"], stopped["stopCode"], stopped["stoppedReason"]))
        self.assertEqual(143, stopped["containers"][0]["exitCode"])
        # stopping a stopped task changes nothing
        again = self.ecs.stop_task(cluster="fleet", task=arn, reason="again")["task"]
        self.assertEqual("wpo rollout: timed out", again["stoppedReason"])

    def test_describe_names_missing_tasks_and_tasks_of_other_clusters_as_failures(self):
        arn = self.run_task("acme")["taskArn"]
        task_id = arn.rsplit("/", 1)[1]
        self.assertEqual(arn, self.describe(task_id)["taskArn"])   # an id works as well as the ARN
        out = self.ecs.describe_tasks(cluster="other", tasks=[arn])
        self.assertEqual([], out["tasks"])
        self.assertEqual([{"arn": arn, "reason": "MISSING"}], out["failures"])
        self.assertEqual("InvalidParameterException",
                         code_of(self.ecs.describe_tasks, cluster="fleet", tasks=["x"] * 101)[0])

    def test_list_tasks_filters_by_started_by_and_desired_status_and_pages(self):
        arns = [self.run_task(f"c{i}", startedBy=f"wpo-{i % 2}")["taskArn"] for i in range(7)]
        listed = []
        token = {}
        while True:
            page = self.ecs.list_tasks(cluster="fleet", startedBy="wpo-0", **token)
            listed += page["taskArns"]
            if "nextToken" not in page:
                break
            token = {"nextToken": page["nextToken"]}
        self.assertEqual(sorted(arns[0::2]), sorted(listed))
        self.until_stopped(arns[0])
        stopped = self.ecs.list_tasks(cluster="fleet", startedBy="wpo-0", desiredStatus="STOPPED")["taskArns"]
        self.assertEqual([arns[0]], stopped)
        running = self.ecs.list_tasks(cluster="fleet", startedBy="wpo-0")["taskArns"]
        self.assertNotIn(arns[0], running)
        self.assertEqual([], self.ecs.list_tasks(cluster="other")["taskArns"])
        self.assertEqual("ClusterNotFoundException", code_of(self.ecs.list_tasks, cluster="elsewhere")[0])
        self.assertEqual("ClusterNotFoundException", code_of(self.ecs.describe_tasks, cluster="elsewhere",
                                                             tasks=arns[:1])[0])

    def test_run_task_makes_the_checks_ecs_makes(self):
        cmd = {"containerOverrides": [{"name": "nope", "command": ["x"]}]}
        cases = [
            (dict(taskDefinition="wpo", cluster="nowhere"), "ClusterNotFoundException", "Cluster not found"),
            (dict(taskDefinition="missing"), "ClientException", "TaskDefinition not found"),
            (dict(taskDefinition="wpo", overrides=cmd), "InvalidParameterException", "container named nope"),
            (dict(taskDefinition="wpo", startedBy="x" * 37), "InvalidParameterException", "36"),
            (dict(taskDefinition="wpo", launchType="FARGATE"), "ClientException", "launch_type FARGATE"),
            (dict(taskDefinition="wpo", count=11), "InvalidParameterException", "count"),
            (dict(taskDefinition="wpo", networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}}),
             "InvalidParameterException", "networkMode"),
        ]
        for params, code, text in cases:
            got = code_of(self.ecs.run_task, **{"cluster": "fleet", **params})
            self.assertIsNotNone(got, params)
            self.assertEqual(code, got[0], params)
            self.assertIn(text, got[1], params)
        self.ecs.deregister_task_definition(taskDefinition="wpo:1")
        self.assertEqual(("ClientException", "TaskDefinition is inactive"),
                         code_of(self.ecs.run_task, cluster="fleet", taskDefinition="wpo:1"))
        self.assertEqual({}, self.fake.state().get("ecs", {}).get("task", {}))

    def test_awsvpc_tasks_need_existing_subnets_and_groups_of_one_vpc(self):
        ec2 = self.fake.client("ec2", region="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(VpcId=vpc, GroupName="wpo", Description="wpo tasks")["GroupId"]
        self.ecs.register_task_definition(family="wpo-fargate", networkMode="awsvpc", cpu="256", memory="512",
                                          requiresCompatibilities=["FARGATE"],
                                          containerDefinitions=[{"name": "wpo", "image": "wpo:latest"}])
        self.assertEqual("InvalidParameterException",
                         code_of(self.ecs.run_task, cluster="fleet", taskDefinition="wpo-fargate")[0])
        bad = code_of(self.ecs.run_task, cluster="fleet", taskDefinition="wpo-fargate", networkConfiguration={
            "awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"]}})
        self.assertIn("subnet-0123456789abcdef0", bad[1])
        bad = code_of(self.ecs.run_task, cluster="fleet", taskDefinition="wpo-fargate", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": ["sg-0123456789abcdef0"]}})
        self.assertIn("sg-0123456789abcdef0", bad[1])
        task = self.ecs.run_task(cluster="fleet", taskDefinition="wpo-fargate", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}})["tasks"][0]
        self.assertEqual("FARGATE", task["launchType"])
        self.assertEqual([{"name": "subnetId", "value": subnet}], task["attachments"][0]["details"])

    def test_the_control_endpoint_refuses_bad_rules(self):
        for body, text in [
            ({"rules": [{"match": "x", "exit": 1}]}, "unknown rule key 'exit'"),
            ({"rules": [{"exit_code": 1}]}, "match"),
            ({"rules": [{"match": "x", "exit_code": 256}]}, "exit_code"),
            ({"rules": [{"match": "x", "log": "one line"}]}, "log"),
            ({"rulez": []}, "rules"),
        ]:
            status, doc = post(self.fake.port, "/_fake/ecs/task-results", json.dumps(body))
            self.assertEqual(400, status, body)
            self.assertIn(text, doc["error"], body)
        self.assertEqual({"rules": []}, self.fake.control("GET", "/_fake/ecs/task-results"))
        status, doc = post(self.fake.port, "/_fake/nothing", "{}")
        self.assertEqual(404, status)
        self.assertIn("POST /_fake/ecs/task-results", doc["error"])


if __name__ == "__main__":
    unittest.main()
