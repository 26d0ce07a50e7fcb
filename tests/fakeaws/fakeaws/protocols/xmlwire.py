"""XML <-> plain dicts, driven by botocore shapes: locationName, flattened and
wrapped lists (item/member), maps (entry/key/value), xmlAttribute members.
Used for ec2/query/rest-xml responses and rest-xml request bodies."""
import xml.etree.ElementTree as ET

from ..wire import FakeBug, InputError, scalar_from_text, scalar_to_text

XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def local(tag):
    return tag.rsplit("}", 1)[-1]


def member_name(mshape, mname):
    """The element name a structure member takes (botocore's rule)."""
    if mshape.type_name == "list" and mshape.serialization.get("flattened"):
        inner = mshape.member.serialization.get("name")
        if inner:
            return inner
    return mshape.serialization.get("name", mname)


def tostring(root):
    return XML_DECL + ET.tostring(root, encoding="utf-8")


def encode(shape, value, name):
    """One value of `shape` as an element called `name`."""
    el = ET.Element(name)
    t = shape.type_name
    if t == "structure":
        encode_members(el, shape, value)
    elif t == "list":
        if not isinstance(value, (list, tuple)):
            raise FakeBug(f"{shape.name}: expected a list, got {type(value).__name__}")
        child = shape.member.serialization.get("name", "member")
        for item in value:
            el.append(encode(shape.member, item, child))
    elif t == "map":
        for k, v in value.items():
            _map_entry(ET.SubElement(el, "entry"), shape, k, v)
    else:
        el.text = scalar_to_text(shape, value)
    return el


def encode_members(el, shape, value, skip_located=False):
    """The members of structure `value` appended under `el`."""
    if not isinstance(value, dict):
        raise FakeBug(f"{shape.name}: expected a dict, got {type(value).__name__}")
    unknown = set(value) - set(shape.members)
    if unknown:
        raise FakeBug(f"{shape.name} has no member {', '.join(sorted(unknown))}")
    for mname, mshape in shape.members.items():
        v = value.get(mname)
        if v is None or (skip_located and "location" in mshape.serialization):
            continue
        if mshape.serialization.get("xmlAttribute"):
            el.set(mshape.serialization.get("name", mname), scalar_to_text(mshape, v))
            continue
        name = member_name(mshape, mname)
        flat = mshape.serialization.get("flattened")
        if mshape.type_name == "list" and flat:
            for item in v:
                el.append(encode(mshape.member, item, name))
        elif mshape.type_name == "map" and flat:
            for k, item in v.items():
                _map_entry(ET.SubElement(el, name), mshape, k, item)
        else:
            el.append(encode(mshape, v, name))


def _map_entry(entry, shape, k, v):
    entry.append(encode(shape.key, k, shape.key.serialization.get("name", "key")))
    entry.append(encode(shape.value, v, shape.value.serialization.get("name", "value")))


def parse_document(body, where="body"):
    """Request body -> root element; hostile or malformed XML is refused."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise InputError("malformed", "XML with a DTD or entity declarations is not accepted")
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise InputError("malformed", f"The XML you provided was not well-formed: {e}") from None


def decode(shape, el, where):
    t = shape.type_name
    if t == "structure":
        return decode_members(shape, el, where)
    if t == "list":
        child = shape.member.serialization.get("name", "member")
        out = []
        for i, c in enumerate(el, 1):
            if local(c.tag) != child:
                raise InputError("unknown", f"Unexpected element {local(c.tag)} in {where}")
            out.append(decode(shape.member, c, f"{where}.{i}"))
        return out
    if t == "map":
        out = {}
        for entry in el:
            if local(entry.tag) != "entry":
                raise InputError("unknown", f"Unexpected element {local(entry.tag)} in {where}")
            k, v = _decode_entry(shape, entry, where)
            out[k] = v
        return out
    return scalar_from_text(shape, el.text or "", where)


def _decode_entry(shape, entry, where):
    kname = shape.key.serialization.get("name", "key")
    vname = shape.value.serialization.get("name", "value")
    k = v = None
    for c in entry:
        if local(c.tag) == kname:
            k = decode(shape.key, c, f"{where}.key")
        elif local(c.tag) == vname:
            v = decode(shape.value, c, f"{where}.value")
        else:
            raise InputError("unknown", f"Unexpected element {local(c.tag)} in {where}")
    if k is None:
        raise InputError("invalid", f"A map entry in {where} has no key")
    return k, v


def decode_members(shape, el, where, skip_located=False):
    """The members of structure `shape` read from the children of `el`;
    a child the shape does not have is an "unknown" InputError."""
    out = {}
    by_name = {}
    for mname, mshape in shape.members.items():
        if skip_located and "location" in mshape.serialization:
            continue
        if mshape.serialization.get("xmlAttribute"):
            wanted = local(mshape.serialization.get("name", mname).split(":")[-1])
            for aname, aval in el.attrib.items():
                if local(aname) == wanted:
                    out[mname] = scalar_from_text(mshape, aval, f"{where}.{mname}")
            continue
        by_name[member_name(mshape, mname)] = (mname, mshape)
    for c in el:
        tag = local(c.tag)
        if tag not in by_name:
            raise InputError("unknown", f"Unexpected element {tag} in {where or 'the request'}")
        mname, mshape = by_name[tag]
        path = f"{where}.{mname}" if where else mname
        flat = mshape.serialization.get("flattened")
        if mshape.type_name == "list" and flat:
            items = out.setdefault(mname, [])
            items.append(decode(mshape.member, c, f"{path}.{len(items) + 1}"))
        elif mshape.type_name == "map" and flat:
            k, v = _decode_entry(mshape, c, path)
            out.setdefault(mname, {})[k] = v
        elif mname in out:
            raise InputError("invalid", f"Element {tag} appears twice in {where or 'the request'}")
        else:
            out[mname] = decode(mshape, c, path)
    return out
