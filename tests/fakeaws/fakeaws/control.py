"""The control API under /_fake/ (JSON in, JSON out; never signed):

  GET  /_fake/state            every object held, by service and kind, with tags
  GET  /_fake/calls            {"ec2.CreateVpc": 2, ...} (every call that passed the signature
                               check and named an operation, whatever came of it)
  GET  /_fake/calls?detail=1   {"ec2.CreateVpc": {"count": 2, "ok": 1, "errors": {"Code": 1}}}
  POST /_fake/reset            forget everything: objects, calls, faults, temporary credentials
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
        detail = dict(req.query).get("detail") in ("1", "true")
        return 200, server.calls.detail() if detail else server.calls.counts()
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
                          "GET|POST /_fake/eventual"]
                      + [f"{m} {p}" for m, p in sorted(EXTRA)])
    return 404, {"error": f"no control endpoint {method} {path} (known: {known})"}


def response(status, doc):
    return Response(status, {"Content-Type": "application/json"},
                    json.dumps(doc, sort_keys=True).encode())

