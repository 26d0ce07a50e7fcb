"""The HTTP side: a ThreadingHTTPServer on 127.0.0.1 speaking HTTP/1.1 with
keep-alive, and the pipeline every AWS request goes through:

  route to a service (SigV4 credential scope, X-Amz-Target; a request without
  a signature only to the operations served unsigned) -> verify the
  signature (sigv4check) -> find the operation (protocol) -> count the call
  (and which access key signed it) ->
  parse + validate the input -> faults (latency, drop, throttle, 5xx, stripped members) ->
  the handler, under the store lock, with the eventual-consistency model around it
  (eventual.py: refusals before, new objects and hidden ones after) -> serialise the
  answer (protocol).

Paths under /_fake/ are the control API (control.py), never signed."""
import datetime
import http.server
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

from . import control, iamauth, services, sigv4check, validate
from .eventual import Eventual
from .errors import AWSError, NotImplementedByFake
from .faults import Faults
from .protocols import Response, xmlwire
from .state import DEFAULT_ACCOUNT, Store, paginate
from .wire import FakeBug, InputError


class Request:
    """What was received: method, raw path (still percent-encoded, no query),
    query (decoded pairs in order), headers (case-insensitive), body bytes."""

    def __init__(self, method, target, headers, body):
        if target.startswith("/"):
            path, _, query = target.partition("?")
        else:  # absolute-form request target
            split = urllib.parse.urlsplit(target)
            path, query = split.path, split.query
        self.method = method
        self.path = path or "/"
        self.raw_query = query
        self.query = sigv4check.parse_query(query)
        self.headers = headers
        self.body = body
        self.request_id = str(uuid.uuid4())
        self.form = None
        self.route = None


class Context:
    """What a handler sees besides its input: ctx.store (under its lock),
    ctx.region, ctx.account, ctx.identity (the caller; its access_key is None
    for an unsigned request), ctx.headers (raw request headers, for the few
    things the model does not carry), ctx.settle (describes a transitional
    state lasts), ctx.now() (the server's clock, which /_fake/clock moves),
    ctx.page(...) and ctx.arn(...)."""

    def __init__(self, server, svc, op, req, identity, region):
        self.server = server
        self.store = server.store
        self.service = svc.name
        self.operation = op
        self.request = req
        self.headers = req.headers
        self.request_id = req.request_id
        self.identity = identity
        self.region = region
        self.account = identity.account or server.account
        self.settle = server.settle
        self.status = None          # a handler may set another success status (S3 ranges: 206)

    def arn(self, service, resource, region=None, account=None):
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    def now(self):
        return self.server.now()

    def page(self, items, key, token=None, limit=None, token_error=("InvalidNextToken", 400)):
        """-> (page, next_token): sorted by key, at most the server's page size."""
        return paginate(items, key, token, limit, self.server.page_size, token_error)


class Calls:
    """Per "service.Operation": how many calls, how many succeeded, errors by
    code; and per signer — the access key, or the ARN of its identity — that
    signed them ("unsigned" for none)."""

    UNSIGNED = "unsigned"

    def __init__(self):
        self.lock = threading.Lock()
        self.data = {}
        self.signers = {"key": {}, "arn": {}}

    def record(self, name, code=None, identity=None):
        with self.lock:
            signed = identity is not None and identity.access_key is not None
            for by, who in (("key", signed and identity.access_key), ("arn", signed and identity.arn)):
                calls = self.signers[by].setdefault(who or self.UNSIGNED, {})
                calls[name] = calls.get(name, 0) + 1
            d = self.data.setdefault(name, {"count": 0, "ok": 0, "errors": {}})
            d["count"] += 1
            if code is None:
                d["ok"] += 1
            else:
                d["errors"][code] = d["errors"].get(code, 0) + 1

    def counts(self):
        with self.lock:
            return {k: v["count"] for k, v in sorted(self.data.items())}

    def detail(self):
        with self.lock:
            return {k: {"count": v["count"], "ok": v["ok"], "errors": dict(v["errors"])}
                    for k, v in sorted(self.data.items())}

    def by_signer(self, by):
        """by "key" or "arn" -> {signer: {"service.Operation": count}}"""
        with self.lock:
            return {k: dict(sorted(v.items())) for k, v in sorted(self.signers[by].items())}

    def reset(self):
        with self.lock:
            self.data.clear()
            for d in self.signers.values():
                d.clear()


class FakeAWS(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port=0, access_key="test", secret_key="test", account=DEFAULT_ACCOUNT,
                 settle=1, page_size=5, verbose=False, enforce_iam=False, eventual=0.0, eventual_seed=None):
        self.account = account
        # hold what fakeaws IAM users' keys sign to their policies (iamauth.py)
        self.enforce_iam_default = self.enforce_iam = enforce_iam
        self.settle = settle
        self.page_size = page_size
        self.verbose = verbose
        self.store = Store(account)
        self.faults = Faults()
        self.eventual = Eventual(eventual, eventual_seed)
        self.calls = Calls()
        self.keyring = sigv4check.Keyring(sigv4check.Identity(
            access_key, secret_key, arn=f"arn:aws:iam::{account}:user/fakeaws",
            user_id="AIDA" + "".join(c for c in access_key.upper() if c.isalnum()).ljust(17, "X")[:17],
            account=account))
        self.clock_offset = 0.0     # seconds the server's clock is ahead of real time (/_fake/clock)
        self.services = services.load()
        self.by_signing = services.by_signing_name()
        self.unsigned_services = [svc for _, svc in sorted(self.services.items()) if svc.unsigned_ops]
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def port(self):
        return self.server_address[1]

    def handle_error(self, request, client_address):
        """A client that went away mid-answer is not worth a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def reset(self):
        self.store.reset()
        self.calls.reset()
        self.faults.set({})
        self.eventual.reset()
        self.keyring.reset()
        self.clock_offset = 0.0
        self.enforce_iam = self.enforce_iam_default

    def now(self):
        """The server's clock: real time plus what /_fake/clock advanced it by.
        Expiry of temporary credentials and tokens is judged by it; the
        15-minute window of a request's signing time by real time."""
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.clock_offset)

    def start(self):
        """Serve in a background thread (for in-process tests); -> self."""
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="fakeaws", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        with self.conns_lock:
            for c in list(self.conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def service_for(self, req):
        """The Service a request is for, or None."""
        scope = sigv4check.scope_of(req.headers)
        target = req.headers.get("X-Amz-Target", "")
        if scope is not None:
            candidates = self.by_signing.get(scope[3], [])
        else:
            candidates = [s for s in self.services.values() if target and
                          s.model.metadata.get("targetPrefix") == target.rpartition(".")[0]]
        if len(candidates) > 1 and target:
            prefix = target.rpartition(".")[0]
            candidates = [s for s in candidates if s.model.metadata.get("targetPrefix") == prefix] or candidates
        return candidates[0] if candidates else None

    def unsigned_route(self, req):
        """(Service, OperationModel) of a request without a signature, when it
        names an operation served unsigned; else (None, None)."""
        for svc in self.unsigned_services:
            try:
                op = svc.protocol.operation(svc, req)
            except (AWSError, InputError, ValueError):
                op = None
            if op is not None and op.name in svc.unsigned_ops:
                return svc, op
            req.form, req.route = None, None
        return None, None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeaws"
    sys_version = ""
    timeout = 120

    def setup(self):
        super().setup()
        # headers and body go out in separate writes: without this, Nagle and
        # delayed ACKs add ~40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(self.connection)

    def version_string(self):
        return "fakeaws"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fakeaws: %s\n" % (fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def dispatch(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_error(400, "unreadable body")
            return
        req = Request(self.command, self.path, self.headers, body)
        if req.path.startswith("/_fake/"):
            try:
                status, doc = control.handle(self.server, req)
            except Exception as e:  # a bug in fakeaws: say so, keep serving
                traceback.print_exc(file=sys.stderr)
                status, doc = 500, {"error": f"fakeaws bug: {type(e).__name__}: {e}"}
            self.write(control.response(status, doc), req)
            return
        resp, drop = self.run(req)
        if drop == "close":
            self.write_dropped(resp)
        else:
            self.write(resp, req)

    def run(self, req):
        """-> (Response, drop): drop is "close" when the connection is to close
        mid-answer; a drop as "error" or "garbled" is already in the Response."""
        server = self.server
        svc = server.service_for(req)
        unsigned_op = None
        if svc is None and not req.headers.get("Authorization"):
            svc, unsigned_op = server.unsigned_route(req)
        if svc is None:
            scope = sigv4check.scope_of(req.headers)
            if not req.headers.get("Authorization"):
                return _generic_error(req, "MissingAuthenticationToken", "Missing Authentication Token", 403), False
            if scope is None:
                return _generic_error(req, "IncompleteSignature", "Authorization header requires "
                                      "Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders and "
                                      "Signature", 400), False
            return _generic_error(req, "NotImplemented", f"fakeaws does not serve the service '{scope[3]}'",
                                  501), False
        proto = svc.protocol
        op = None
        name = None
        drop = False
        identity = None
        try:
            if unsigned_op is not None:
                identity = sigv4check.Identity(None, None, account=server.account)
                region = "us-east-1"
                op = unsigned_op
            else:
                try:
                    identity, region, _ = sigv4check.verify(req, server.keyring, s3=svc.s3_style,
                                                            clock=server.now())
                except sigv4check.AuthError as e:
                    kind = "auth_" + e.kind
                    if not svc.has_code(kind):
                        kind = "auth_signature"
                    raise svc.error(kind, e.message) from None
                op = proto.operation(svc, req)
            name = f"{svc.name}.{op.name}"
            params = proto.parse(svc, op, req)
            validate.validate(op.input_shape, params)
            if server.enforce_iam and identity.user:
                with server.store.lock:
                    iamauth.authorize(Context(server, svc, op.name, req, identity, region), svc, op.name, params)
            decision = server.faults.decide(svc.name, op.name, req.body, req.raw_query)
            if decision.delay:
                time.sleep(decision.delay)
            if decision.action == "throttle":
                raise svc.error("throttle", "Rate exceeded")
            if decision.action == "internal":
                raise svc.error("internal", "We encountered an internal error. Please try again.")
            if decision.action == "unavailable":
                raise svc.error("unavailable", "Service is unable to handle request.")
            drop = decision.drop_as if decision.action == "drop" else False
            handler = svc.handlers.get(op.name)
            if handler is None:
                raise NotImplementedByFake(svc.name, op.name, svc.module)
            ctx = Context(server, svc, op.name, req, identity, region)
            token_member = svc.idempotency_member(op)
            token = params.get(token_member) if token_member else None
            with server.store.lock:
                late = server.eventual.begin(ctx, svc.name, op.name, params)
                if late is not None:
                    late.check()
                if token:
                    key = (svc.name, op.name, region, ctx.account, token)
                    mismatch = svc.error("idempotency_mismatch", "The client token you provided is associated "
                                                                 "with a resource that is already deleted or "
                                                                 "with different parameters.")
                    result = server.store.idempotent(key, params, lambda: handler(ctx, params), mismatch)
                else:
                    result = handler(ctx, params)
                if late is not None:
                    result = late.finish(result)
            resp = proto.serialize(svc, op, decision.stripped(result), req)
            if ctx.status is not None:
                resp.status = ctx.status
            server.calls.record(name, identity=identity)
            return _lost(svc, op, req, resp, drop)
        except InputError as e:
            err = svc.error(e.kind, e.message)
        except AWSError as e:
            err = e
        except FakeBug as e:
            traceback.print_exc(file=sys.stderr)
            err = AWSError("InternalError", f"fakeaws bug: {e}", 500)
        except Exception as e:  # a bug in a handler: answer 500 and say so on stderr
            traceback.print_exc(file=sys.stderr)
            err = AWSError("InternalError", f"fakeaws bug: {type(e).__name__}: {e}", 500)
        if name is not None:
            server.calls.record(name, err.code, identity)
        return _lost(svc, op, req, proto.error(svc, err, req, op), drop)

    def write(self, resp, req):
        """The answer; HEAD, 204 and 304 carry no body (a HEAD keeps the
        Content-Length its GET would have)."""
        bodyless = req.method == "HEAD" or resp.status in (204, 304)
        body = b"" if resp.status in (204, 304) else resp.body
        self.send_response(resp.status)
        have_length = False
        for k, v in resp.headers.items():
            if k.lower() == "content-length":
                have_length = True
            self.send_header(k, str(v))
        if not have_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not bodyless and body:
            self.wfile.write(body)
        self.wfile.flush()

    def write_dropped(self, resp):
        """The first half of the answer's bytes, then the connection is closed."""
        head = [f"HTTP/1.1 {resp.status} OK\r\n"]
        for k, v in resp.headers.items():
            if k.lower() != "content-length":
                head.append(f"{k}: {v}\r\n")
        head.append(f"Content-Length: {len(resp.body)}\r\n\r\n")
        data = "".join(head).encode() + resp.body
        try:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True


def _lost(svc, op, req, resp, drop):
    """The answer to a call whose answer is lost after it took effect (drop as
    "error": a 500 instead; "garbled": its body cut in half) -> (Response, drop)."""
    if drop == "error":
        err = svc.error("internal", "We encountered an internal error. Please try again.")
        return svc.protocol.error(svc, err, req, op), False
    if drop == "garbled":
        resp.body = resp.body[:len(resp.body) // 2]
        resp.headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
        return resp, False
    return resp, drop


def _generic_error(req, code, message, status):
    """An error for a request no service claims (query-style ErrorResponse)."""
    root = ET.Element("ErrorResponse")
    e = ET.SubElement(root, "Error")
    ET.SubElement(e, "Type").text = "Sender"
    ET.SubElement(e, "Code").text = code
    ET.SubElement(e, "Message").text = message
    ET.SubElement(root, "RequestId").text = req.request_id
    return Response(status, {"Content-Type": "text/xml"}, xmlwire.tostring(root))
