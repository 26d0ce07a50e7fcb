"""The json protocol (1.0 and 1.1): POST / with X-Amz-Target: Prefix.Operation,
a JSON body per the input shape; JSON answers, errors as {"__type", "message"}.
Also the JSON value codec used by rest-json bodies."""
import json

from ..wire import FakeBug, InputError, b64decode, b64encode, format_timestamp, parse_timestamp
from . import Response


def decode(shape, v, where):
    """A JSON value -> its Python value per `shape` (names, types, blobs, timestamps)."""
    if v is None:
        return None
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_document_type", False):
            return v
        if not isinstance(v, dict):
            raise InputError("invalid", f"Value at '{where or 'body'}' must be an object")
        return decode_members(shape, v, where)
    if t == "list":
        if not isinstance(v, list):
            raise InputError("invalid", f"Value at '{where}' must be a list")
        return [decode(shape.member, item, f"{where}.{i}") for i, item in enumerate(v, 1)]
    if t == "map":
        if not isinstance(v, dict):
            raise InputError("invalid", f"Value at '{where}' must be a map")
        return {k: decode(shape.value, item, f"{where}.{k}") for k, item in v.items()}
    if t in ("string", "character"):
        if not isinstance(v, str):
            raise InputError("invalid", f"Value at '{where}' must be a string")
        return v
    if t in ("integer", "long"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError("invalid", f"Value at '{where}' must be an integer")
        return v
    if t in ("float", "double"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError("invalid", f"Value at '{where}' must be a number")
        return v
    if t == "boolean":
        if not isinstance(v, bool):
            raise InputError("invalid", f"Value at '{where}' must be a boolean")
        return v
    if t == "timestamp":
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise InputError("invalid", f"Value at '{where}' must be a timestamp")
        try:
            return parse_timestamp(str(v))
        except ValueError:
            raise InputError("invalid", f"Value at '{where}' is not a valid timestamp") from None
    if t == "blob":
        if not isinstance(v, str):
            raise InputError("invalid", f"Value at '{where}' must be base64 text")
        return b64decode(v, where)
    raise InputError("invalid", f"Value at '{where}' has an unsupported type {t}")


def decode_members(shape, obj, where, skip_located=False):
    by_name = {}
    for mname, mshape in shape.members.items():
        if skip_located and "location" in mshape.serialization:
            continue
        by_name[mshape.serialization.get("name", mname)] = (mname, mshape)
    out = {}
    for key, val in obj.items():
        if key not in by_name:
            where_ = f"{where}.{key}" if where else key
            raise InputError("unknown", f"Unknown member '{where_}' (not in {shape.name})")
        mname, mshape = by_name[key]
        value = decode(mshape, val, f"{where}.{mname}" if where else mname)
        if value is not None:
            out[mname] = value
    return out


def encode(shape, v):
    """A handler's Python value -> JSON value per `shape` (strict: an unknown
    member or a wrong type is a fakeaws bug)."""
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_document_type", False):
            return v
        return encode_members(shape, v)
    if t == "list":
        if not isinstance(v, (list, tuple)):
            raise FakeBug(f"{shape.name}: expected a list, got {type(v).__name__}")
        return [encode(shape.member, item) for item in v]
    if t == "map":
        return {k: encode(shape.value, item) for k, item in v.items()}
    if t == "timestamp":
        return format_timestamp(v, shape.serialization.get("timestampFormat", "unixTimestamp"))
    if t == "blob":
        return b64encode(v)
    if t == "boolean":
        if not isinstance(v, bool):
            raise FakeBug(f"{shape.name}: expected a bool, got {v!r}")
        return v
    if t in ("integer", "long"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise FakeBug(f"{shape.name}: expected an int, got {v!r}")
        return v
    if t in ("float", "double"):
        return float(v)
    if not isinstance(v, str):
        raise FakeBug(f"{shape.name}: expected a str, got {v!r}")
    return v


def encode_members(shape, v, skip_located=False):
    if not isinstance(v, dict):
        raise FakeBug(f"{shape.name}: expected a dict, got {type(v).__name__}")
    unknown = set(v) - set(shape.members)
    if unknown:
        raise FakeBug(f"{shape.name} has no member {', '.join(sorted(unknown))}")
    out = {}
    for mname, mshape in shape.members.items():
        if v.get(mname) is None or (skip_located and "location" in mshape.serialization):
            continue
        out[mshape.serialization.get("name", mname)] = encode(mshape, v[mname])
    return out


def load_body(body):
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError("malformed", f"The request body is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InputError("malformed", "The request body must be a JSON object")
    return doc


def dump(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


class JSONProtocol:
    name = "json"

    def _content_type(self, svc):
        return f"application/x-amz-json-{svc.model.metadata.get('jsonVersion', '1.0')}"

    def operation(self, svc, req):
        target = req.headers.get("X-Amz-Target", "")
        prefix, _, opname = target.rpartition(".")
        if not target:
            raise svc.error("unknown_operation", "Missing X-Amz-Target header")
        if prefix != svc.model.metadata.get("targetPrefix") or opname not in svc.model.operation_names:
            raise svc.error("unknown_operation", f"Operation {target} is not known to {svc.name}")
        ctype = req.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != self._content_type(svc):
            raise svc.error("malformed", f"Content-Type must be {self._content_type(svc)}, not {ctype or '(none)'}")
        return svc.model.operation_model(opname)

    def parse(self, svc, op, req):
        doc = load_body(req.body)
        if op.input_shape is None:
            if doc:
                raise InputError("unknown", f"Unknown member '{sorted(doc)[0]}'")
            return {}
        return decode_members(op.input_shape, doc, "")

    def serialize(self, svc, op, result, req):
        body = encode_members(op.output_shape, result or {}) if op.output_shape is not None else {}
        return Response(200, {"Content-Type": self._content_type(svc), "x-amzn-RequestId": req.request_id},
                        dump(body))

    def error(self, svc, err, req, op=None):
        prefix = svc.json_error_prefix if svc else ""
        doc = {"__type": prefix + err.code, "message": err.message}
        doc.update(err.fields)
        headers = {"Content-Type": self._content_type(svc) if svc else "application/x-amz-json-1.1",
                   "x-amzn-RequestId": req.request_id}
        headers.update(err.headers)
        return Response(err.status, headers, dump(doc))
