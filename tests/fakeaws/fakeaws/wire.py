"""Scalar conversions shared by every protocol: timestamps (iso8601, rfc822,
unix epoch), blobs (base64), booleans and numbers, from and to wire text.
Nothing here knows about a protocol's structure; protocols/ does."""
import base64
import binascii
import datetime
import email.utils

UTC = datetime.timezone.utc


class InputError(Exception):
    """A request that does not fit its input shape. kind: "missing" (a required
    member is absent), "unknown" (a member the shape does not have), "invalid"
    (a value of the wrong type, enum, length or range). Each service maps the
    kind to its own error code (see services.Service.validation_codes)."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


class FakeBug(Exception):
    """A handler returned something its output shape cannot hold: a bug in
    fakeaws itself, answered as a 500 naming the problem."""


def now():
    return datetime.datetime.now(UTC)


def to_datetime(value):
    """datetime, epoch number or ISO 8601 text -> aware UTC datetime."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise FakeBug(f"not a timestamp: {value!r}")


def parse_timestamp(text):
    """Any of AWS's three timestamp forms -> aware UTC datetime; ValueError if none fits."""
    text = text.strip()
    try:
        return datetime.datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        dt = datetime.datetime.fromisoformat(iso)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        dt = None
    if dt is None:
        raise ValueError(f"not a timestamp: {text!r}")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def format_timestamp(value, fmt):
    """fmt: "iso8601", "rfc822" or "unixTimestamp" (returned as a number)."""
    dt = to_datetime(value).astimezone(UTC)
    fmt = (fmt or "iso8601").lower()
    if fmt == "iso8601":
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    if fmt == "rfc822":
        return email.utils.format_datetime(dt, usegmt=True)
    if fmt == "unixtimestamp":
        return round(dt.timestamp(), 3)
    raise FakeBug(f"unknown timestamp format {fmt}")


def b64encode(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode("ascii")


def b64decode(text, where):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InputError("invalid", f"Value at '{where}' is not valid base64") from None


def scalar_from_text(shape, text, where, timestamp_format="iso8601"):
    """Wire text of a scalar member -> its Python value (str, int, float, bool,
    datetime, bytes). Raises InputError("invalid") when the text does not parse."""
    t = shape.type_name
    if t in ("string", "character"):
        return text
    if t in ("integer", "long"):
        try:
            return int(text.strip())
        except ValueError:
            raise InputError("invalid", f"Value '{text}' at '{where}' is not a valid integer") from None
    if t in ("float", "double"):
        try:
            return float(text.strip())
        except ValueError:
            raise InputError("invalid", f"Value '{text}' at '{where}' is not a valid number") from None
    if t == "boolean":
        low = text.strip().lower()
        if low not in ("true", "false"):
            raise InputError("invalid", f"Value '{text}' at '{where}' is not a valid boolean")
        return low == "true"
    if t == "timestamp":
        try:
            return parse_timestamp(text)
        except ValueError:
            raise InputError("invalid", f"Value '{text}' at '{where}' is not a valid timestamp") from None
    if t == "blob":
        return b64decode(text, where)
    raise InputError("invalid", f"'{where}' cannot be given as text")


def scalar_to_text(shape, value, timestamp_format="iso8601"):
    """A scalar's Python value -> wire text (XML, query strings, headers)."""
    t = shape.type_name
    if t == "boolean":
        if not isinstance(value, bool):
            raise FakeBug(f"{shape.name}: expected a bool, got {value!r}")
        return "true" if value else "false"
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", timestamp_format)
        return str(format_timestamp(value, fmt))
    if t == "blob":
        return b64encode(value)
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise FakeBug(f"{shape.name}: expected an int, got {value!r}")
        return str(value)
    if t in ("float", "double"):
        return repr(float(value)) if not float(value).is_integer() else str(value)
    if t in ("string", "character"):
        if not isinstance(value, str):
            raise FakeBug(f"{shape.name}: expected a str, got {value!r}")
        return value
    raise FakeBug(f"{shape.name}: {t} is not a scalar")
