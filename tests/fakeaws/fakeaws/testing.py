"""Helpers for fakeaws's own tests (and any Python test that wants a fake AWS):

    fake = Fake(settle=0)                     # an in-process server on a free port
    ec2 = fake.client("ec2")                  # a real botocore client pointed at it
    status, headers, body = fake.raw(...)     # a hand-made request, signed by botocore
    fake.control("GET", "/_fake/state")
    fake.stop()
    error_code(ec2.describe_vpcs, VpcIds=["vpc-1"])   # "InvalidVpcID.NotFound", or None
"""
import atexit
import datetime
import http.client
import json
import os
import tempfile
import threading
import urllib.parse

import botocore.session
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from .httpd import FakeAWS

_session = None
_session_lock = threading.Lock()


def error_code(call, *args, **kwargs):
    """The AWS error code call(*args, **kwargs) raised, or None when it succeeded."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def session():
    """A botocore session that ignores the caller's AWS setup: its config and
    credentials files are a private one holding an empty [default] profile, and
    that profile is the one used whatever AWS_PROFILE says."""
    global _session
    with _session_lock:
        if _session is None:
            fd, path = tempfile.mkstemp(prefix="fakeaws-config-")
            with os.fdopen(fd, "w") as f:
                f.write("[default]\n")
            atexit.register(os.unlink, path)
            s = botocore.session.get_session()
            s.set_config_variable("config_file", path)
            s.set_config_variable("credentials_file", path)
            s.set_config_variable("profile", "default")
            _session = s
        return _session


class Fake:
    def __init__(self, **options):
        self.server = FakeAWS(**options).start()
        self.port = self.server.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.clients = []

    def stop(self):
        for c in self.clients:
            c.close()
        self.server.stop()

    def client(self, service, region="us-east-1", access_key="test", secret_key="test", token=None,
               validate=True, **config):
        """A botocore client for `service` that makes exactly one attempt per call."""
        cfg = Config(retries={"total_max_attempts": 1}, parameter_validation=validate,
                     connect_timeout=5, read_timeout=30, **config)
        client = session().create_client(service, region_name=region, endpoint_url=self.url,
                                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                        aws_session_token=token, config=cfg)
        self.clients.append(client)
        return client

    def raw(self, method, path, service, region="us-east-1", headers=None, body=b"", sign=True,
            access_key="test", secret_key="test", when=None, tamper=None, s3=False):
        """Send one request by hand; -> (status, headers as a lower-case dict, body).
        It is signed with botocore's SigV4 signer (as of `when`, default now) unless
        sign is False; tamper(headers, body) -> (headers, body) runs after signing."""
        url = self.url + path
        req = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
        if sign:
            signer = (S3SigV4Auth if s3 else SigV4Auth)(Credentials(access_key, secret_key), service, region)
            when = when or datetime.datetime.now(datetime.timezone.utc)
            req.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
            req.headers["Host"] = f"127.0.0.1:{self.port}"
            signer._modify_request_before_signing(req)
            canonical = signer.canonical_request(req)
            signature = signer.signature(signer.string_to_sign(req, canonical), req)
            signer._inject_signature_to_request(req, signature)
        out_headers = dict(req.headers.items())
        out_body = body
        if tamper:
            out_headers, out_body = tamper(out_headers, out_body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            split = urllib.parse.urlsplit(url)
            target = split.path + ("?" + split.query if split.query else "")
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            if not any(k.lower() == "host" for k in out_headers):
                conn.putheader("Host", f"127.0.0.1:{self.port}")
            for k, v in out_headers.items():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(out_body)))
            conn.endheaders(out_body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def query(self, service, params, region="us-east-1", **kw):
        """A form-encoded ec2/query request; -> (status, headers, body)."""
        body = urllib.parse.urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return self.raw("POST", "/", service, region, headers=headers, body=body, **kw)

    def json(self, service, target, doc, version="1.0", region="us-east-1", **kw):
        """A json-protocol request; -> (status, headers, parsed JSON body)."""
        headers = {"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"}
        status, h, body = self.raw("POST", "/", service, region, headers=headers,
                                   body=json.dumps(doc).encode(), **kw)
        return status, h, json.loads(body) if body else None

    def control(self, method, path, doc=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = json.dumps(doc).encode() if doc is not None else b""
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"null")
            if resp.status != 200:
                raise AssertionError(f"{method} {path}: {resp.status} {data}")
            return data
        finally:
            conn.close()

    def calls(self, detail=False):
        return self.control("GET", "/_fake/calls" + ("?detail=1" if detail else ""))

    def state(self):
        return self.control("GET", "/_fake/state")
