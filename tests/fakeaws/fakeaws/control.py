"""The control API under /_fake/ (JSON in, JSON out; never signed):

  GET  /_fake/state            every object held, by service and kind, with tags
  GET  /_fake/calls            {"ec2.CreateVpc": 2, ...} (every call that passed the signature
                               check and named an operation, whatever came of it)
  GET  /_fake/calls?detail=1   {"ec2.CreateVpc": {"count": 2, "ok": 1, "errors": {"Code": 1}}}
  GET  /_fake/calls?by=key     {"ASIA...": {"ec2.CreateVpc": 2}, "unsigned": {"sts.AssumeRoleWithWebIdentity": 1}}:
                               the same calls by the access key that signed them
  GET  /_fake/calls?by=arn     the same by the ARN of the signer's identity
                               ("arn:aws:sts::123456789012:assumed-role/deploy/wpo": {...})
  POST /_fake/reset            forget everything: objects, calls, faults, temporary credentials,
                               the clock's advance
  GET  /_fake/clock            {"now": ISO 8601, "offset": seconds ahead of real time}
  POST /_fake/clock            {"advance": seconds}: move the server's clock forward; temporary
                               credentials and tokens expire by it (signing times are still
                               checked against real time)
  GET  /_fake/faults           the fault settings in force
  POST /_fake/faults           replace them (see faults.py); answers the new settings
  GET  /_fake/eventual         the eventual-consistency settings, every delay drawn and every
                               answer a delay shaped (see eventual.py)
  POST /_fake/eventual         {"seconds", "seed", "fixed"}: replace the settings (forgets the delays)

A service module may add endpoints of its own under /_fake/<service>/ with
register() (e.g. ecs_tasks.py: /_fake/ecs/task-results); they are served the
same way and listed in the 404 answer."""
import json

from .protocols import Response

# (method, path) -> fn(server, req) -> (status, JSON document)
EXTRA = {}


def register(method, path, fn):
    """Serve `method path` with fn(server, req) -> (status, doc)."""
    if not path.startswith("/_fake/") or (method, path) in EXTRA:
        raise ValueError(f"cannot register {method} {path}")
    EXTRA[(method, path)] = fn


def handle(server, req):
    """-> (status, JSON document)."""
    path = req.path
    method = req.method
    if path == "/_fake/state" and method == "GET":
        return 200, server.store.dump()
    if path == "/_fake/calls" and method == "GET":
        query = dict(req.query)
        if query.get("by") in ("key", "arn"):
            return 200, server.calls.by_signer(query["by"])
        detail = query.get("detail") in ("1", "true")
        return 200, server.calls.detail() if detail else server.calls.counts()
    if path == "/_fake/clock":
        if method == "POST":
            try:
                doc = json.loads(req.body or b"{}")
                advance = doc.get("advance") if isinstance(doc, dict) else None
                if not isinstance(doc, dict) or set(doc) != {"advance"} or isinstance(advance, bool) \
                        or not isinstance(advance, (int, float)) or advance < 0:
                    raise ValueError("expected {\"advance\": seconds >= 0}")
            except ValueError as e:
                return 400, {"error": str(e)}
            server.clock_offset += advance
        elif method != "GET":
            return 405, {"error": "GET or POST /_fake/clock"}
        return 200, {"now": server.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "offset": server.clock_offset}
    if path == "/_fake/reset" and method == "POST":
        server.reset()
        return 200, {"reset": True}
    if path == "/_fake/faults":
        if method == "GET":
            return 200, server.faults.get()
        if method == "POST":
            try:
                cfg = json.loads(req.body or b"{}")
                server.faults.set(cfg)
            except ValueError as e:  # FaultConfigError is a ValueError, as is bad JSON
                return 400, {"error": str(e)}
            return 200, server.faults.get()
    if path == "/_fake/eventual":
        if method == "GET":
            return 200, server.eventual.get()
        if method == "POST":
            try:
                server.eventual.set(json.loads(req.body or b"{}"))
            except ValueError as e:
                return 400, {"error": str(e)}
            return 200, server.eventual.get()
    extra = EXTRA.get((method, path))
    if extra is not None:
        return extra(server, req)
    known = ", ".join(["GET /_fake/state", "GET /_fake/calls", "POST /_fake/reset", "GET|POST /_fake/faults",
                       "GET|POST /_fake/clock",
                       "GET|POST /_fake/eventual"]
                      + [f"{m} {p}" for m, p in sorted(EXTRA)])
    return 404, {"error": f"no control endpoint {method} {path} (known: {known})"}


def response(status, doc):
    return Response(status, {"Content-Type": "application/json"},
                    json.dumps(doc, sort_keys=True).encode())

