"""The in-memory store: every object by service and kind ({"ec2": {"vpc":
{"vpc-0a1b...": {...}}}}), AWS-like ids, EC2-style tag lists, NextToken
pagination and lifecycle states that move on over successive describes.

Objects are plain dicts shaped like the service's own describe output; keys
starting with "_" are bookkeeping, hidden from /_fake/state and from answers
(public()). Handlers run one at a time under Store.lock, so a handler may read,
check and write without races (conditional writes are atomic)."""
import base64
import copy
import datetime
import fnmatch
import json
import secrets
import threading

from .errors import AWSError

DEFAULT_ACCOUNT = "123456789012"


class Store:
    def __init__(self, account=DEFAULT_ACCOUNT):
        self.account = account
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.objects = {}
            self.extra = {}

    def table(self, service, kind):
        """The dict id -> object for one kind of object (created on demand)."""
        return self.objects.setdefault(service, {}).setdefault(kind, {})

    def scratch(self, service, name, factory=dict):
        """Per-service bookkeeping not shown in the state dump (counters, indexes)."""
        return self.extra.setdefault((service, name), factory())

    def idempotent(self, key, params, run, mismatch):
        """ClientToken semantics: the first call with a token runs and its answer is
        kept; a repeat with the same parameters gets that answer again (nothing new
        is made); a repeat with other parameters raises `mismatch`. A call that
        fails keeps nothing, so it may be retried with the same token."""
        records = self.scratch("*", "idempotency")
        fingerprint = json.dumps(params, sort_keys=True, default=_json_default)
        if key in records:
            seen, result = records[key]
            if seen != fingerprint:
                raise mismatch
            return copy.deepcopy(result)
        result = run()
        records[key] = (fingerprint, copy.deepcopy(result))
        return result

    def dump(self):
        with self.lock:
            out = {}
            for service, kinds in self.objects.items():
                for kind, objs in kinds.items():
                    if objs:
                        out.setdefault(service, {})[kind] = {k: public(v) for k, v in objs.items()}
            return json.loads(json.dumps(out, default=_json_default))


def _json_default(v):
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode()
    if isinstance(v, set):
        return sorted(v)
    raise TypeError(f"cannot dump {type(v).__name__}")


def public(obj):
    """A deep copy of obj without its "_" bookkeeping keys."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


def new_id(prefix, hexlen=17):
    """AWS-style id: vpc-0a1b2c3d4e5f60718 (prefix "" gives the bare hex)."""
    h = secrets.token_hex((hexlen + 1) // 2)[:hexlen]
    return f"{prefix}-{h}" if prefix else h


def new_name_id(length=13, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
    return "".join(secrets.choice(alphabet) for _ in range(length))


# -- lifecycle --------------------------------------------------------------

def start_lifecycle(obj, field, transitional, final, settle):
    """obj[field] = transitional now; the describe after `settle` describes
    have shown it shows `final` (None: the object is then removed)."""
    obj[field] = transitional
    obj.setdefault("_life", {})[field] = [settle, final]


def advance(obj):
    """Called by describe/list handlers before showing obj: moves each pending
    state one describe closer to its final value (so with settle=1 the first
    describe still shows the transitional state and the second the final one).
    Returns True when the final state is None: the object is gone ('deleting')."""
    gone = False
    for field, pending in list(obj.get("_life", {}).items()):
        if pending[0] > 0:
            pending[0] -= 1
            continue
        if pending[1] is None:
            gone = True
        else:
            obj[field] = pending[1]
        del obj["_life"][field]
    return gone


def settle_now(obj):
    """Has this object finished its transition (for checks like 'in use')?"""
    return not obj.get("_life")


# -- tags (EC2-style lists of {"Key", "Value"}) -----------------------------

def tag_dict(tags):
    return {t["Key"]: t.get("Value", "") for t in tags or []}


def tag_list(d):
    return [{"Key": k, "Value": v} for k, v in d.items()]


# -- filters ------------------------------------------------------------------

def matches(value, patterns):
    """EC2 filter values: any pattern matches (with * and ? wildcards)."""
    if isinstance(value, (list, tuple, set)):
        return any(matches(v, patterns) for v in value)
    if value is None:
        return False
    if isinstance(value, bool):
        value = "true" if value else "false"
    value = str(value)
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


# -- pagination ---------------------------------------------------------------

def _cmp(k):
    return tuple(k) if isinstance(k, (list, tuple)) else k


def paginate(items, key, token, limit, default_limit, token_error=("InvalidNextToken", 400)):
    """items sorted by key(); -> (page, next_token or None). The token names the
    last key returned, so pages stay right when objects come and go between calls.
    Every list is capped at default_limit (the server's small page size) so that
    clients have to paginate; `limit` (MaxResults...) can only make pages smaller."""
    items = sorted(items, key=lambda i: _cmp(key(i)))
    if token:
        try:
            after = json.loads(base64.urlsafe_b64decode(token.encode()).decode())["after"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise AWSError(token_error[0], f"The token '{token}' is invalid.", token_error[1]) from None
        items = [i for i in items if _cmp(key(i)) > _cmp(after)]
    size = default_limit if not limit else min(limit, default_limit)
    page = items[:size]
    if len(items) > size:
        last = key(page[-1])
        nxt = base64.urlsafe_b64encode(json.dumps({"after": last}).encode()).decode()
        return page, nxt
    return page, None
