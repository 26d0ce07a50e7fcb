#!/usr/bin/python3
"""tests/servers/credstub.py — a stand-in for the EC2 instance metadata
service (IMDSv2) and the ECS container credentials endpoint, on 127.0.0.1,
for tests/aws/credentials_spec.lua.

  credstub.py [--port 0] [--ecs-token TOKEN] [--lifetime SECONDS]

First stdout line: "PORT=<n> PID=<pid>". Routes:
  PUT /latest/api/token                       needs x-aws-ec2-metadata-token-ttl-seconds
  GET /latest/meta-data/iam/security-credentials/        role name (needs the token)
  GET /latest/meta-data/iam/security-credentials/<role>  credentials JSON (needs the token)
  GET /ecs/credentials                        credentials JSON (Authorization must be
                                              --ecs-token when given)
  GET /_stub/calls                            every request so far: [{method, path, headers}]
Credentials expire --lifetime seconds after they are served (default 6 h).
"""
import argparse
import datetime
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = "wpo-test-role"
TOKEN = "imds-session-token-0123456789"


def creds(prefix, lifetime):
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
    return {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": prefix + "AKID",
            "SecretAccessKey": prefix + "-secret", "Token": prefix + "-session-token",
            "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = []
    lock = threading.Lock()
    ecs_token = None
    lifetime = 6 * 3600

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if not self.path.startswith("/_stub/"):
            with self.lock:
                self.calls.append({"method": self.command, "path": self.path,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})

    def do_PUT(self):
        self.record()
        if self.path == "/latest/api/token":
            if not self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(400, "missing ttl")
            return self.reply(200, TOKEN)
        self.reply(404, "not found")

    def do_GET(self):
        self.record()
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == "/_stub/calls":
            with self.lock:
                return self.reply(200, json.dumps(self.calls), "application/json")
        if self.path.startswith(base):
            if self.headers.get("x-aws-ec2-metadata-token") != TOKEN:
                return self.reply(401, "")
            if self.path == base:
                return self.reply(200, ROLE)
            if self.path == base + ROLE:
                return self.reply(200, json.dumps(creds("IMDS", self.lifetime)), "application/json")
            return self.reply(404, "")
        if self.path == "/ecs/credentials":
            if self.ecs_token is not None and self.headers.get("Authorization") != self.ecs_token:
                return self.reply(401, '{"message":"unauthorized"}', "application/json")
            body = creds("ECS", self.lifetime)
            body.pop("Code")
            return self.reply(200, json.dumps(body), "application/json")
        self.reply(404, "not found")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ecs-token")
    ap.add_argument("--lifetime", type=int, default=6 * 3600)
    args = ap.parse_args()
    Handler.ecs_token = args.ecs_token
    Handler.lifetime = args.lifetime
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"PORT={server.server_address[1]} PID={os.getpid()}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
