"""Validation of a parsed request against its input shape: required members
present, enums, string/blob/list/map lengths and number ranges (the model's
"min"/"max"). Types and unknown members are already enforced while parsing
(protocols/); this walks the plain-dict result. Raises wire.InputError."""
from .wire import InputError


def _path(parent, name):
    return f"{parent}.{name}" if parent else name


def validate(shape, value, where=""):
    if shape is None or value is None:
        return
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_document_type", False):
            return
        for name in shape.required_members:
            if value.get(name) is None:
                raise InputError("missing", f"The request must contain the parameter {_path(where, name)}")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                validate(member, value[name], _path(where, name))
        return
    if t == "list":
        _bounds(shape, len(value), where, "have length")
        for i, item in enumerate(value, 1):
            validate(shape.member, item, f"{where}.{i}")
        return
    if t == "map":
        _bounds(shape, len(value), where, "have length")
        for k, v in value.items():
            validate(shape.key, k, f"{where}.key")
            validate(shape.value, v, f"{where}.{k}")
        return
    if t in ("string", "character"):
        enum = shape.enum
        if enum and value not in enum:
            raise InputError(
                "invalid",
                f"Value '{value}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]")
        _bounds(shape, len(value), where, "have length")
        return
    if t == "blob":
        _bounds(shape, len(value), where, "have length")
        return
    if t in ("integer", "long", "float", "double"):
        _bounds(shape, value, where, "have value")
        return


def _bounds(shape, n, where, what):
    lo = shape.metadata.get("min")
    hi = shape.metadata.get("max")
    if lo is not None and n < lo:
        raise InputError("invalid", f"Value at '{where}' failed to satisfy constraint: "
                                    f"Member must {what} greater than or equal to {lo}")
    if hi is not None and n > hi:
        raise InputError("invalid", f"Value at '{where}' failed to satisfy constraint: "
                                    f"Member must {what} less than or equal to {hi}")
