"""The rest-json and rest-xml protocols: the operation is found by matching the
request's method, path and query against every operation's http.requestUri
template ({Label}, greedy {Key+}, literal query keys such as ?versioning);
members come from URI labels, query parameters, headers (and header-prefix
maps) and the body (a payload member, or the remaining members as JSON/XML)."""
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET

from ..wire import FakeBug, InputError, b64decode, b64encode, scalar_from_text, scalar_to_text
from . import Response, jsonproto, xmlwire

_LABEL = re.compile(r"\{([^}]+)\}")


class Route:
    def __init__(self, op):
        self.op = op.name
        self.method = op.http.get("method", "POST").upper()
        path, _, query = op.http["requestUri"].partition("?")
        regex, pos, literal, greedy = "^", 0, 0, False
        self.labels = []
        for m in _LABEL.finditer(path):
            lit = path[pos:m.start()]
            regex += re.escape(lit)
            literal += len(lit)
            name = m.group(1)
            if name.endswith("+"):
                name, greedy = name[:-1], True
                regex += "(.+)"
            else:
                regex += "([^/]+)"
            self.labels.append(name)
            pos = m.end()
        lit = path[pos:]
        regex += re.escape(lit) + "$"
        literal += len(lit)
        self.regex = re.compile(regex)
        self.query = {}
        for part in filter(None, query.split("&")):
            k, eq, v = part.partition("=")
            self.query[k] = v if eq else None
        # Operations sharing a template (S3's PutObject, CopyObject, UploadPart)
        # differ by the query parameters and headers they require.
        self.required_query, self.required_headers = [], []
        shape = op.input_shape
        for name in (shape.required_members if shape is not None else []):
            ser = shape.members[name].serialization
            if ser.get("location") == "querystring":
                self.required_query.append(ser.get("name", name))
            elif ser.get("location") == "header":
                self.required_headers.append(ser.get("name", name))
        # ...and a deprecated operation sharing its template with its successor
        # (S3's GetBucketLifecycle and GetBucketLifecycleConfiguration) loses the tie
        self.score = (len(self.query) + len(self.required_query) + len(self.required_headers), literal,
                      not greedy, not op.deprecated)

    def match(self, path, query, headers):
        m = self.regex.match(path)
        if not m:
            return None
        have = dict(query)
        for k, v in self.query.items():
            if k not in have or (v is not None and have[k] != v):
                return None
        if any(k not in have for k in self.required_query) or \
                any(headers.get(h) is None for h in self.required_headers):
            return None
        return {name: urllib.parse.unquote(val) for name, val in zip(self.labels, m.groups())}


def _routes(svc):
    if svc.routes is None:
        svc.routes = [Route(svc.model.operation_model(n)) for n in svc.model.operation_names]
    return svc.routes


def _header_text(mshape, v):
    if mshape.type_name == "list":
        return ",".join(_header_text(mshape.member, item) for item in v)
    if mshape.serialization.get("jsonvalue"):
        return b64encode(json.dumps(v, separators=(",", ":")))
    return scalar_to_text(mshape, v, "rfc822")


def _header_value(mshape, text, where):
    if mshape.type_name == "list":
        return [_header_value(mshape.member, t.strip(), where) for t in text.split(",") if t.strip()]
    if mshape.serialization.get("jsonvalue"):
        try:
            return json.loads(b64decode(text, where))
        except ValueError:
            raise InputError("invalid", f"Header for '{where}' is not base64 JSON") from None
    return scalar_from_text(mshape, text, where, "rfc822")


class RestProtocol:
    def __init__(self, json_body):
        self.json = json_body
        self.name = "rest-json" if json_body else "rest-xml"

    # -- request ----------------------------------------------------------
    def operation(self, svc, req):
        route = self._find(svc, req, req.path)
        if route is None and svc.s3_style and len(req.path) > 1 and req.path.endswith("/"):
            route = self._find(svc, req, req.path.rstrip("/"))   # S3 takes /bucket/ for /bucket
        if route is None:
            kind = "method_not_allowed" if self._path_known(svc, req.path) and svc.has_code("method_not_allowed") \
                else "unknown_operation"
            raise svc.error(kind, f"No {svc.name} operation matches {req.method} {req.path}")
        req.route = route
        return svc.model.operation_model(route[0].op)

    def _path_known(self, svc, path):
        return any(r.regex.match(path) for r in _routes(svc))

    def _find(self, svc, req, path):
        """-> (Route, labels) of the most specific operation matching, or None."""
        best = None
        for route in _routes(svc):
            if route.method != req.method:
                continue
            labels = route.match(path, req.query, req.headers)
            if labels is not None and (best is None or route.score > best[0].score):
                best = (route, labels)
        return best

    def parse(self, svc, op, req):
        shape = op.input_shape
        route, labels = req.route
        if shape is None:
            return {}
        out = {}
        by_label = {}
        by_query = {}
        query_map = None
        for mname, mshape in shape.members.items():
            loc = mshape.serialization.get("location")
            wire = mshape.serialization.get("name", mname)
            if loc == "uri":
                by_label[wire] = (mname, mshape)
            elif loc == "querystring":
                if mshape.type_name == "map":
                    query_map = (mname, mshape)
                else:
                    by_query[wire] = (mname, mshape)
            elif loc == "header":
                text = req.headers.get(wire)
                if text is not None:
                    out[mname] = _header_value(mshape, text, mname)
            elif loc == "headers":
                prefix = wire.lower()
                found = {k.lower()[len(prefix):]: v for k, v in req.headers.items()
                         if k.lower().startswith(prefix)}
                if found:
                    out[mname] = found
        for wire, value in labels.items():
            mname, mshape = by_label[wire]
            out[mname] = scalar_from_text(mshape, value, mname)
        leftovers = {}
        for k, v in req.query:
            if k in route.query:
                continue
            if k in by_query:
                mname, mshape = by_query[k]
                if mshape.type_name == "list":
                    out.setdefault(mname, []).append(scalar_from_text(mshape.member, v, mname))
                elif mname in out:
                    raise InputError("invalid", f"Query parameter {k} is given twice")
                else:
                    out[mname] = scalar_from_text(mshape, v, mname)
            elif k in svc.ignored_query:
                continue
            elif query_map is not None:
                leftovers[k] = v
            else:
                raise InputError("unknown", f"Unknown query parameter {k}")
        if leftovers:
            out[query_map[0]] = leftovers
        out.update(self._body(svc, shape, req))
        return out

    def _body(self, svc, shape, req):
        payload = shape.serialization.get("payload")
        if payload:
            mshape = shape.members[payload]
            if mshape.type_name == "blob":
                return {payload: req.body} if req.body else {}
            if mshape.type_name == "string":
                return {payload: req.body.decode("utf-8", "replace")} if req.body else {}
            if not req.body.strip():
                return {}
            if self.json:
                return {payload: jsonproto.decode(mshape, jsonproto.load_body(req.body), payload)}
            root = xmlwire.parse_document(req.body)
            wanted = mshape.serialization.get("name", payload)
            if xmlwire.local(root.tag) != wanted:
                raise InputError("malformed", f"The XML root element must be {wanted}, not {xmlwire.local(root.tag)}")
            return {payload: xmlwire.decode_members(mshape, root, payload)}
        if not req.body.strip():
            return {}
        if self.json:
            return jsonproto.decode_members(shape, jsonproto.load_body(req.body), "", skip_located=True)
        root = xmlwire.parse_document(req.body)
        wanted = shape.serialization.get("name")
        if wanted and xmlwire.local(root.tag) != wanted:
            raise InputError("malformed", f"The XML root element must be {wanted}, not {xmlwire.local(root.tag)}")
        return xmlwire.decode_members(shape, root, "", skip_located=True)

    # -- response ---------------------------------------------------------
    def _request_id_headers(self, svc, req):
        if svc is not None and svc.s3_style:
            return {"x-amz-request-id": req.request_id, "x-amz-id-2": req.request_id}
        return {"x-amzn-RequestId": req.request_id}

    def serialize(self, svc, op, result, req):
        result = result or {}
        status = op.http.get("responseCode", 200)
        headers = self._request_id_headers(svc, req)
        shape = op.output_shape
        if shape is None:
            if result:
                raise FakeBug(f"{op.name} has no output, the handler returned {sorted(result)}")
            return Response(status, headers, b"")
        unknown = set(result) - set(shape.members)
        if unknown:
            raise FakeBug(f"{shape.name} has no member {', '.join(sorted(unknown))}")
        for mname, mshape in shape.members.items():
            v = result.get(mname)
            loc = mshape.serialization.get("location")
            if v is None or loc is None:
                continue
            wire = mshape.serialization.get("name", mname)
            if loc == "statusCode":
                status = v
            elif loc == "header":
                headers[wire] = _header_text(mshape, v)
            elif loc == "headers":
                for k, item in v.items():
                    headers[wire + k] = item
        payload = shape.serialization.get("payload")
        if payload:
            mshape = shape.members[payload]
            v = result.get(payload)
            if mshape.type_name in ("blob", "string"):
                body = v.encode() if isinstance(v, str) else (v or b"")
                if not any(k.lower() == "content-type" for k in headers):
                    headers["Content-Type"] = "application/octet-stream"
                return Response(status, headers, body)
            if v is None:
                return Response(status, headers, b"")
            name = mshape.serialization.get("name", mshape.name)
            return Response(status, headers, self._encode_body(svc, mshape, v, name, headers))
        name = svc.xml_roots.get(op.name) or shape.serialization.get("name", shape.name)
        body = self._encode_body(svc, shape, result, name, headers, skip_located=True)
        if status == 204:
            body = b""
        return Response(status, headers, body)

    def _encode_body(self, svc, shape, value, name, headers, skip_located=False):
        if self.json:
            headers.setdefault("Content-Type", "application/json")
            return jsonproto.dump(jsonproto.encode_members(shape, value, skip_located))
        headers.setdefault("Content-Type", "application/xml")
        root = ET.Element(name, xmlns=svc.xml_namespace)
        xmlwire.encode_members(root, shape, value, skip_located)
        return xmlwire.tostring(root)

    def error(self, svc, err, req, op=None):
        headers = self._request_id_headers(svc, req)
        if self.json:
            headers["x-amzn-ErrorType"] = err.code
            headers["Content-Type"] = "application/json"
            doc = {"message": err.message}
            doc.update(err.fields)
            body = jsonproto.dump(doc)
        elif svc is not None and svc.s3_style:
            headers["Content-Type"] = "application/xml"
            root = ET.Element("Error")
            ET.SubElement(root, "Code").text = err.code
            ET.SubElement(root, "Message").text = err.message
            for k, v in err.fields.items():
                ET.SubElement(root, k).text = str(v)
            ET.SubElement(root, "RequestId").text = req.request_id
            ET.SubElement(root, "HostId").text = req.request_id
            body = xmlwire.tostring(root)
        else:
            headers["Content-Type"] = "text/xml"
            root = ET.Element("ErrorResponse", xmlns=svc.xml_namespace if svc else "")
            e = ET.SubElement(root, "Error")
            ET.SubElement(e, "Type").text = "Sender" if err.sender else "Receiver"
            ET.SubElement(e, "Code").text = err.code
            ET.SubElement(e, "Message").text = err.message
            for k, v in err.fields.items():
                ET.SubElement(e, k).text = str(v)
            ET.SubElement(root, "RequestId").text = req.request_id
            body = xmlwire.tostring(root)
        headers.update(err.headers)
        return Response(err.status, headers, body)
