"""The ec2 and query protocols: form-encoded requests (Action=, Version=,
dotted member names: EC2's Name.N lists, query's Name.member.N and flattened
lists, Name.entry.N.key maps) and XML responses (EC2: <OpResponse> with
requestId; query: <OpResponse><OpResult> plus ResponseMetadata)."""
import urllib.parse
import xml.etree.ElementTree as ET

from ..wire import InputError, scalar_from_text
from . import Response, xmlwire


def _form(req):
    """Every parameter of the request (URL query and form body) as a flat dict."""
    if getattr(req, "form", None) is not None:
        return req.form
    pairs = list(req.query)
    ctype = req.headers.get("Content-Type", "")
    if req.body:
        if not ctype.lower().startswith("application/x-www-form-urlencoded"):
            raise InputError("malformed", f"Content-Type {ctype or '(none)'} is not form-urlencoded")
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("malformed", "The request body is not UTF-8") from None
        pairs += urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    form = {}
    for k, v in pairs:
        if k in form:
            raise InputError("malformed", f"Parameter {k} is given twice")
        form[k] = v
    req.form = form
    return form


def _tree(flat):
    """{"A.1.B": v} -> {"A": {"1": {"B": v}}}; a name that is both a value and
    a prefix is malformed."""
    root = {}
    for key, val in flat.items():
        parts = key.split(".")
        node = root
        for i, p in enumerate(parts[:-1]):
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise InputError("malformed", f"Parameter {'.'.join(parts[:i + 1])} is both a value and a prefix")
            node = nxt
        if parts[-1] in node:
            raise InputError("malformed", f"Parameter {key} is both a value and a prefix")
        node[parts[-1]] = val
    return root


class QueryProtocol:
    def __init__(self, ec2):
        self.ec2 = ec2
        self.name = "ec2" if ec2 else "query"

    # -- request ----------------------------------------------------------
    def operation(self, svc, req):
        form = _form(req)
        action = form.get("Action")
        if not action:
            raise svc.error("missing", "The request must contain the parameter Action")
        version = form.get("Version")
        if not version:
            raise svc.error("missing", "The request must contain the parameter Version")
        if version != svc.model.api_version:
            raise svc.error("invalid", f"Version {version} is not served (fakeaws knows "
                                       f"{svc.name} {svc.model.api_version} only)")
        if action not in svc.model.operation_names:
            raise svc.error("unknown_operation", f"The action {action} is not valid for this web service.")
        return svc.model.operation_model(action)

    def parse(self, svc, op, req):
        form = dict(_form(req))
        form.pop("Action", None)
        form.pop("Version", None)
        tree = _tree(form)
        shape = op.input_shape
        if shape is None:
            if tree:
                raise InputError("unknown", f"The parameter {sorted(tree)[0]} is not recognized")
            return {}
        return self._struct(shape, tree, "")

    def _wire_name(self, mshape, mname):
        s = mshape.serialization
        if self.ec2:
            if "queryName" in s:
                return s["queryName"]
            if "name" in s:
                return s["name"][0].upper() + s["name"][1:]
            return mname
        if mshape.type_name == "list" and s.get("flattened"):
            inner = mshape.member.serialization.get("name")
            if inner:
                return inner
        return s.get("name", mname)

    def _struct(self, shape, node, where):
        if node == "":
            return {}
        if not isinstance(node, dict):
            raise InputError("invalid", f"The parameter {where} must be a structure")
        out = {}
        seen = set()
        for mname, mshape in shape.members.items():
            wire = self._wire_name(mshape, mname)
            if wire in node:
                seen.add(wire)
                path = f"{where}.{wire}" if where else wire
                out[mname] = self._value(mshape, node[wire], path)
        for key in node:
            if key not in seen:
                path = f"{where}.{key}" if where else key
                raise InputError("unknown", f"The parameter {path} is not recognized")
        return out

    def _indexed(self, node, where):
        if not isinstance(node, dict) or not all(k.isdigit() and int(k) > 0 for k in node):
            raise InputError("invalid", f"The parameter {where} must be a list (Name.1, Name.2, ...)")
        return [(f"{where}.{k}", node[k]) for k in sorted(node, key=int)]

    def _value(self, shape, node, where):
        t = shape.type_name
        if t == "structure":
            return self._struct(shape, node, where)
        if t == "list":
            if node == "":
                return []
            if not self.ec2 and not shape.serialization.get("flattened"):
                inner = shape.member.serialization.get("name", "member")
                if not isinstance(node, dict) or set(node) != {inner}:
                    raise InputError("invalid", f"The parameter {where} must be a list ({where}.{inner}.N)")
                where, node = f"{where}.{inner}", node[inner]
            return [self._value(shape.member, v, p) for p, v in self._indexed(node, where)]
        if t == "map":
            if node == "":
                return {}
            if not shape.serialization.get("flattened"):
                if not isinstance(node, dict) or set(node) != {"entry"}:
                    raise InputError("invalid", f"The parameter {where} must be a map ({where}.entry.N)")
                where, node = f"{where}.entry", node["entry"]
            kname = shape.key.serialization.get("name", "key")
            vname = shape.value.serialization.get("name", "value")
            out = {}
            for p, entry in self._indexed(node, where):
                if not isinstance(entry, dict) or kname not in entry or set(entry) - {kname, vname}:
                    raise InputError("invalid", f"The parameter {p} must have {kname} and {vname}")
                k = self._value(shape.key, entry[kname], f"{p}.{kname}")
                out[k] = self._value(shape.value, entry.get(vname, ""), f"{p}.{vname}")
            return out
        if not isinstance(node, str):
            raise InputError("unknown", f"The parameter {where}.{sorted(node)[0]} is not recognized")
        return scalar_from_text(shape, node, where)

    # -- response ---------------------------------------------------------
    def _namespace(self, svc):
        md = svc.model.metadata
        if self.ec2:
            return f"http://ec2.amazonaws.com/doc/{md['apiVersion']}/"
        return md.get("xmlNamespace") or \
            f"https://{md.get('endpointPrefix', svc.name)}.amazonaws.com/doc/{md['apiVersion']}/"

    def serialize(self, svc, op, result, req):
        root = ET.Element(f"{op.name}Response", xmlns=self._namespace(svc))
        shape = op.output_shape
        if self.ec2:
            ET.SubElement(root, "requestId").text = req.request_id
            if shape is None:
                ET.SubElement(root, "return").text = "true"
            else:
                xmlwire.encode_members(root, shape, result or {})
        else:
            if shape is not None:
                wrapper = shape.serialization.get("resultWrapper")
                target = ET.SubElement(root, wrapper) if wrapper else root
                xmlwire.encode_members(target, shape, result or {})
            meta = ET.SubElement(root, "ResponseMetadata")
            ET.SubElement(meta, "RequestId").text = req.request_id
        return Response(200, {"Content-Type": "text/xml;charset=UTF-8"}, xmlwire.tostring(root))

    def error(self, svc, err, req, op=None):
        if self.ec2:
            root = ET.Element("Response")
            e = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
            ET.SubElement(e, "Code").text = err.code
            ET.SubElement(e, "Message").text = err.message
            for k, v in err.fields.items():
                ET.SubElement(e, k).text = str(v)
            ET.SubElement(root, "RequestID").text = req.request_id
        else:
            root = ET.Element("ErrorResponse", xmlns=self._namespace(svc) if svc else "")
            e = ET.SubElement(root, "Error")
            ET.SubElement(e, "Type").text = "Sender" if err.sender else "Receiver"
            ET.SubElement(e, "Code").text = err.code
            ET.SubElement(e, "Message").text = err.message
            for k, v in err.fields.items():
                ET.SubElement(e, k).text = str(v)
            ET.SubElement(root, "RequestId").text = req.request_id
        headers = {"Content-Type": "text/xml;charset=UTF-8"}
        headers.update(err.headers)
        return Response(err.status, headers, xmlwire.tostring(root))
