"""The entry point (server.py: PORT= on the first line, 127.0.0.1 only) and the
control API (/_fake/state, /_fake/calls, /_fake/reset, /_fake/faults)."""
import http.client
import json
import os
import signal
import subprocess
import sys
import unittest

from fakeaws.testing import Fake

HERE = os.path.dirname(os.path.abspath(__file__))


def get(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


class EntryPointTest(unittest.TestCase):
    def test_server_py_prints_its_port_serves_and_stops(self):
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline().strip()
            self.assertRegex(first, r"^PORT=\d+$")
            port = int(first.split("=")[1])
            self.assertEqual(f"PID={proc.pid}", proc.stdout.readline().strip())
            self.assertEqual((200, {}), get(port, "GET", "/_fake/state"))
            status, faults = get(port, "POST", "/_fake/faults", json.dumps({"latency_ms": 5}))
            self.assertEqual((200, 5), (status, faults["latency_ms"]))
            self.assertEqual((200, {"reset": True}), get(port, "POST", "/_fake/reset"))
            self.assertEqual(0, get(port, "GET", "/_fake/faults")[1]["latency_ms"])
            # it listens on the loopback interface only
            with open("/proc/net/tcp") as f:
                listening = [line.split() for line in f if line.split()[3:4] == ["0A"]]
            mine = [entry[1] for entry in listening if int(entry[1].split(":")[1], 16) == port]
            self.assertEqual(["0100007F:%04X" % port], mine)
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(0, proc.wait(timeout=10))
            proc.stdout.close()
            proc.stderr.close()

    def test_bad_options_are_refused(self):
        out = subprocess.run([sys.executable, os.path.join(HERE, "server.py"), "--page-size", "0"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(2, out.returncode)
        self.assertIn("--page-size", out.stderr)


class ControlTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake()

    def tearDown(self):
        self.fake.stop()

    def test_state_shows_objects_by_service_and_kind_with_their_tags(self):
        ec2 = self.fake.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "wpo:address", "Value": "net.vpc"}]}])["Vpc"]["VpcId"]
        self.fake.client("s3").create_bucket(Bucket="state-bucket")
        state = self.fake.state()
        self.assertEqual({"ec2", "s3"}, set(state))
        self.assertEqual({"vpc", "security-group", "security-group-rule", "route-table"}, set(state["ec2"]))
        self.assertEqual([{"Key": "wpo:address", "Value": "net.vpc"}], state["ec2"]["vpc"][vpc]["Tags"])
        self.assertEqual("pending", state["ec2"]["vpc"][vpc]["State"])
        self.assertNotIn("_attributes", state["ec2"]["vpc"][vpc])
        self.assertEqual(["default"], [g["GroupName"] for g in state["ec2"]["security-group"].values()])
        self.assertEqual(["state-bucket"], list(state["s3"]["bucket"]))

    def test_calls_count_every_call_per_operation(self):
        ec2 = self.fake.client("ec2")
        ec2.describe_vpcs()
        ec2.describe_vpcs()
        try:
            ec2.delete_vpc(VpcId="vpc-12345678")
        except Exception:
            pass
        self.assertEqual({"ec2.DeleteVpc": 1, "ec2.DescribeVpcs": 2}, self.fake.calls())
        detail = self.fake.calls(detail=True)
        self.assertEqual({"count": 1, "ok": 0, "errors": {"InvalidVpcID.NotFound": 1}}, detail["ec2.DeleteVpc"])

    def test_reset_forgets_objects_and_calls(self):
        self.fake.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")
        self.fake.control("POST", "/_fake/reset")
        self.assertEqual({}, self.fake.state())
        self.assertEqual({}, self.fake.calls())
        self.assertEqual([], self.fake.client("ec2").describe_vpcs()["Vpcs"])

    def test_unknown_control_paths_are_404_naming_the_known_ones(self):
        status, doc = get(self.fake.port, "GET", "/_fake/nothing")
        self.assertEqual(404, status)
        self.assertIn("/_fake/state", doc["error"])
        status, doc = get(self.fake.port, "POST", "/_fake/state")
        self.assertEqual(404, status)

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=10)
        try:
            socks = set()
            for _ in range(5):
                conn.request("GET", "/_fake/calls")
                resp = conn.getresponse()
                self.assertEqual(200, resp.status)
                resp.read()
                socks.add(id(conn.sock))
            self.assertEqual(1, len(socks))
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
