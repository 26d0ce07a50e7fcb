"""CloudWatch Logs streams (services/logs_streams.py, in the groups of
services/logs.py) driven by botocore, and the log lines of ECS tasks
(ecs_tasks.py) written to them through the containers' awslogs configuration."""
import unittest

from fakeaws.testing import Fake, error_code


class LogsStreamsTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake(settle=0)
        self.ecs = self.fake.client("ecs", region="eu-west-1")
        self.logs = self.fake.client("logs", region="eu-west-1")
        self.ecs.create_cluster(clusterName="fleet")

    def tearDown(self):
        self.fake.stop()

    def task_definition(self, family, group, create=False, prefix="wpo"):
        options = {"awslogs-group": group, "awslogs-region": "eu-west-1"}
        if prefix:
            options["awslogs-stream-prefix"] = prefix
        if create:
            options["awslogs-create-group"] = "true"
        self.ecs.register_task_definition(family=family, containerDefinitions=[
            {"name": "wpo", "image": "wpo:latest", "memory": 256,
             "logConfiguration": {"logDriver": "awslogs", "options": options}}])

    def run_to_the_end(self, family, command):
        task = self.ecs.run_task(cluster="fleet", taskDefinition=family, overrides={
            "containerOverrides": [{"name": "wpo", "command": command}]})["tasks"][0]
        for _ in range(10):
            task = self.ecs.describe_tasks(cluster="fleet", tasks=[task["taskArn"]])["tasks"][0]
            if task["lastStatus"] == "STOPPED":
                return task
        self.fail("the task never stopped")

    def test_a_task_writes_its_log_lines_to_its_awslogs_stream(self):
        self.task_definition("wpo", "/wpo/rollout", create=True)
        self.fake.control("POST", "/_fake/ecs/task-results", {"rules": [
            {"match": "delta.lua", "exit_code": 1, "log": ["planning delta", "Error: CreateVpc: InternalError"]}]})
        task = self.run_to_the_end("wpo", ["wpo", "run", "stacks/customers/delta.lua"])
        self.assertEqual(1, task["containers"][0]["exitCode"])
        stream = "wpo/wpo/" + task["taskArn"].rsplit("/", 1)[1]
        got = self.logs.get_log_events(logGroupName="/wpo/rollout", logStreamName=stream, limit=1,
                                       startFromHead=False)
        self.assertEqual(["Error: CreateVpc: InternalError"], [e["message"] for e in got["events"]])
        older = self.logs.get_log_events(logGroupName="/wpo/rollout", logStreamName=stream,
                                         nextToken=got["nextBackwardToken"])
        self.assertEqual(["planning delta"], [e["message"] for e in older["events"]])
        # without a rule, the one line names the command
        task = self.run_to_the_end("wpo", ["wpo", "run", "stacks/customers/echo.lua"])
        stream = "wpo/wpo/" + task["taskArn"].rsplit("/", 1)[1]
        got = self.logs.get_log_events(logGroupName="/wpo/rollout", logStreamName=stream)
        self.assertEqual(["fakeaws: ran wpo run stacks/customers/echo.lua"], [e["message"] for e in got["events"]])

    def test_a_group_made_with_create_log_group_takes_the_lines_and_takes_its_streams_when_deleted(self):
        self.logs.create_log_group(logGroupName="/wpo/made")
        self.task_definition("made", "/wpo/made")
        task = self.run_to_the_end("made", ["wpo", "version"])
        self.assertEqual(0, task["containers"][0]["exitCode"])
        stream = "wpo/wpo/" + task["taskArn"].rsplit("/", 1)[1]
        self.assertEqual(1, len(self.logs.get_log_events(logGroupName="/wpo/made", logStreamName=stream)["events"]))
        group = self.logs.describe_log_groups(logGroupNamePrefix="/wpo/made")["logGroups"][0]
        self.assertGreater(group["storedBytes"], 0)
        self.logs.delete_log_group(logGroupName="/wpo/made")
        self.assertEqual("ResourceNotFoundException",
                         error_code(self.logs.get_log_events, logGroupName="/wpo/made", logStreamName=stream))

    def test_a_missing_log_group_stops_the_task_before_it_runs(self):
        self.task_definition("nolog", "/wpo/missing")
        task = self.run_to_the_end("nolog", ["wpo", "version"])
        self.assertEqual("TaskFailedToStart", task["stopCode"])
        self.assertIn("ResourceInitializationError", task["stoppedReason"])
        self.assertIn("log group does not exist", task["stoppedReason"])
        self.assertNotIn("exitCode", task["containers"][0])

    def test_streams_events_and_tokens(self):
        self.task_definition("wpo", "/wpo/app", create=True)
        self.run_to_the_end("wpo", ["true"])   # makes the group
        logs = self.logs
        self.assertEqual("ResourceNotFoundException",
                         error_code(logs.create_log_stream, logGroupName="/nope", logStreamName="s"))
        logs.create_log_stream(logGroupName="/wpo/app", logStreamName="app/1")
        self.assertEqual("ResourceAlreadyExistsException",
                         error_code(logs.create_log_stream, logGroupName="/wpo/app", logStreamName="app/1"))
        self.assertEqual("InvalidParameterException",
                         error_code(logs.create_log_stream, logGroupName="/wpo/app", logStreamName="a:b"))
        events = [{"timestamp": 1000 + i, "message": f"line {i}"} for i in range(7)]
        out = logs.put_log_events(logGroupName="/wpo/app", logStreamName="app/1", logEvents=events)
        self.assertIn("nextSequenceToken", out)
        self.assertEqual("InvalidParameterException", error_code(
            logs.put_log_events, logGroupName="/wpo/app", logStreamName="app/1",
            logEvents=[{"timestamp": 5, "message": "b"}, {"timestamp": 4, "message": "a"}]))
        self.assertEqual("ResourceNotFoundException", error_code(
            logs.put_log_events, logGroupName="/wpo/app", logStreamName="app/2", logEvents=events))
        # forward from the head, page by page, until the token repeats
        seen, token = [], None
        while True:
            kw = {"nextToken": token} if token else {"startFromHead": True}
            page = logs.get_log_events(logGroupName="/wpo/app", logStreamName="app/1", limit=3, **kw)
            seen += [e["message"] for e in page["events"]]
            if page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
        self.assertEqual([f"line {i}" for i in range(7)], seen)
        # the tail, a time window
        tail = logs.get_log_events(logGroupName="/wpo/app", logStreamName="app/1", limit=2)["events"]
        self.assertEqual(["line 5", "line 6"], [e["message"] for e in tail])
        window = logs.get_log_events(logGroupName="/wpo/app", logStreamName="app/1", startTime=1002, endTime=1004)
        self.assertEqual(["line 2", "line 3"], [e["message"] for e in window["events"]])
        self.assertEqual("ResourceNotFoundException",
                         error_code(logs.get_log_events, logGroupName="/wpo/app", logStreamName="app/9"))


if __name__ == "__main__":
    unittest.main()
