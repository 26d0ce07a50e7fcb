"""Fault injection, set with POST /_fake/faults:

  {"latency_ms": 200, "jitter_ms": 50, "throttle_rate": 0.1, "error_rate": 0.05,
   "drop_rate": 0.01, "drop_as": "close", "seed": 42, "operations": ["ec2.CreateVpc", "DescribeVpcs"],
   "body_contains": "10.3.0.0"}

Every call that matches `operations` (all calls when absent; "Service.Op" or a
bare "Op") and `body_contains` (a substring of the request's body or query
string, raw or percent-decoded: a CIDR, a name, a tag value; any request when
absent) waits latency_ms + uniform(0, jitter_ms) — concurrently, outside any
lock — then is dropped (the operation takes effect, the connection is closed
mid-answer), throttled (the service's own throttling error), or fails with 500
InternalError / 503 ServiceUnavailable, each with its rate, in that order.
A dropped call's answer is lost after the operation took effect, as drop_as
says: "close" (default: half the answer, then the connection closes), "error"
(a 500 InternalError in the protocol's words instead of the answer) or
"garbled" (a complete HTTP answer whose body is cut in half).
  {"rate_per_s": 20, "burst": 5, "operations": ["route53.ListHostedZones"]}

rate_per_s: the matching calls share one token bucket (burst tokens, default
rate_per_s, refilled rate_per_s a second, by the server's monotonic clock), as
AWS's own per-account limits: a call that finds no token is throttled (before
the random draws, which it does not make).
Each matching call draws the same five numbers from one random.Random(seed),
so with a seed the sequence of outcomes is reproducible call by call.

  {"strip_members": ["Vpc"], "operations": ["ec2.CreateVpc"]}

strip_members: a matching call that succeeds (the operation takes effect) is
answered 200 without those members of its result — a name, or a dotted path
into nested structures ("Vpc.VpcId") — as an answer AWS cut short would be.
It draws no random numbers, so it leaves a seeded sequence as it was."""
import random
import threading
import time
import urllib.parse

KEYS = ("latency_ms", "jitter_ms", "throttle_rate", "error_rate", "drop_rate", "drop_as", "seed", "operations",
        "body_contains", "strip_members", "rate_per_s", "burst")
DROP_AS = ("close", "error", "garbled")


class FaultConfigError(ValueError):
    pass


class Decision:
    def __init__(self, delay=0.0, action=None, strip=None, drop_as="close"):
        self.delay = delay          # seconds to wait first
        self.action = action        # None, "drop", "throttle", "internal", "unavailable"
        self.strip = strip or []    # member paths to leave out of a successful answer
        self.drop_as = drop_as      # how a dropped answer is lost: "close", "error", "garbled"

    def stripped(self, result):
        """result without the members named by strip (a copy where anything is removed)."""
        for path in self.strip:
            result = _without(result, path.split("."))
        return result


def _without(value, keys):
    if not isinstance(value, dict) or keys[0] not in value:
        return value
    out = dict(value)
    if len(keys) == 1:
        del out[keys[0]]
    else:
        out[keys[0]] = _without(out[keys[0]], keys[1:])
    return out


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.set({})

    def set(self, cfg):
        """Replace the fault settings; unknown keys and bad values raise FaultConfigError."""
        if not isinstance(cfg, dict):
            raise FaultConfigError("faults must be a JSON object")
        unknown = sorted(set(cfg) - set(KEYS))
        if unknown:
            raise FaultConfigError(f"unknown fault key '{unknown[0]}' (valid: {', '.join(KEYS)})")
        clean = {}
        for key in ("latency_ms", "jitter_ms"):
            v = cfg.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise FaultConfigError(f"{key} must be a number >= 0")
            clean[key] = v
        for key in ("throttle_rate", "error_rate", "drop_rate"):
            v = cfg.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise FaultConfigError(f"{key} must be a number between 0 and 1")
            clean[key] = v
        drop_as = cfg.get("drop_as", "close")
        if drop_as not in DROP_AS:
            raise FaultConfigError(f"drop_as must be one of {', '.join(DROP_AS)}")
        clean["drop_as"] = drop_as
        seed = cfg.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str))):
            raise FaultConfigError("seed must be an integer or a string")
        clean["seed"] = seed
        ops = cfg.get("operations")
        if ops is not None and (not isinstance(ops, list) or not all(isinstance(o, str) for o in ops)):
            raise FaultConfigError("operations must be a list of names (\"ec2.CreateVpc\" or \"CreateVpc\")")
        clean["operations"] = ops
        needle = cfg.get("body_contains")
        if needle is not None and (not isinstance(needle, str) or not needle):
            raise FaultConfigError("body_contains must be a non-empty string")
        clean["body_contains"] = needle
        strip = cfg.get("strip_members")
        if strip is not None and (not isinstance(strip, list) or not all(isinstance(m, str) and m for m in strip)):
            raise FaultConfigError("strip_members must be a list of member names (\"Vpc\" or \"Vpc.VpcId\")")
        clean["strip_members"] = strip
        rate = cfg.get("rate_per_s")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
            raise FaultConfigError("rate_per_s must be a number > 0")
        burst = cfg.get("burst", rate)
        if rate is None and "burst" in cfg:
            raise FaultConfigError("burst needs rate_per_s")
        if burst is not None and (isinstance(burst, bool) or not isinstance(burst, (int, float)) or burst < 1):
            raise FaultConfigError("burst must be a number >= 1")
        clean["rate_per_s"], clean["burst"] = rate, burst
        with self.lock:
            self.cfg = clean
            self.rng = random.Random(seed)
            self.tokens, self.tokens_at = burst, time.monotonic()

    def _over_rate(self):
        """Take a token from the rate_per_s bucket; True when there was none (lock held)."""
        rate = self.cfg["rate_per_s"]
        if rate is None:
            return False
        now = time.monotonic()
        self.tokens = min(self.cfg["burst"], self.tokens + (now - self.tokens_at) * rate)
        self.tokens_at = now
        if self.tokens < 1:
            return True
        self.tokens -= 1
        return False

    def get(self):
        with self.lock:
            return dict(self.cfg)

    def _applies(self, service, operation, body, query):
        ops = self.cfg["operations"]
        if ops is not None and operation not in ops and f"{service}.{operation}" not in ops:
            return False
        needle = self.cfg["body_contains"]
        if needle is None:
            return True
        text = body.decode("utf-8", "replace") + "\n" + (query or "")
        return needle in text or needle in urllib.parse.unquote_plus(text)

    def decide(self, service, operation, body=b"", query=""):
        with self.lock:
            c = self.cfg
            if not self._applies(service, operation, body, query):
                return Decision()
            if self._over_rate():
                return Decision(c["latency_ms"] / 1000.0, "throttle")
            jitter, drop, throttle, error, which = (self.rng.random() for _ in range(5))
        delay = (c["latency_ms"] + jitter * c["jitter_ms"]) / 1000.0
        strip = c["strip_members"]
        if drop < c["drop_rate"]:
            return Decision(delay, "drop", strip, c["drop_as"])
        if throttle < c["throttle_rate"]:
            return Decision(delay, "throttle")
        if error < c["error_rate"]:
            return Decision(delay, "internal" if which < 0.5 else "unavailable")
        return Decision(delay, None, strip)
