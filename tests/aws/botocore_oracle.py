#!/usr/bin/python3
"""tests/aws/botocore_oracle.py — botocore as the reference for wpo.aws's
serialisers and decoders (used by tests/aws/protocol_diff_spec.lua).

  botocore_oracle.py requests  SEED PER_OP   -> JSON cases on stdout:
      [{service, operation, protocol, params, expected: {method, path, query,
        headers, body_kind, body}}]
      random parameters generated from botocore's own shapes, serialised by
      botocore.serialize.create_serializer(protocol)
  botocore_oracle.py responses SEED PER_OP   -> JSON cases on stdout:
      [{service, operation, protocol, response: {status, headers, body},
        expected: <botocore's parse, JSON-ready>}]
      random output values, written in the protocol's wire format by this
      script, parsed by botocore.parsers.create_parser(protocol)
  botocore_oracle.py compare-requests CASES ACTUAL
      ACTUAL: [{method, url_path, query, headers, body}] from wpo, in the
      order of CASES; prints one line per mismatch, then "compared N, M differ".

Canonical forms: form bodies and query strings as sorted (key, value) pairs;
JSON bodies parsed; XML bodies as (tag, attributes, text, children) trees.
Timestamps are ISO 8601 UTC ("2021-03-04T05:06:07.25Z", fraction trimmed),
blobs base64 — as wpo presents them.
"""
import base64
import datetime
import json
import random
import sys
import urllib.parse
import xml.etree.ElementTree as ET

import botocore.session
from botocore import parsers, serialize
from botocore.awsrequest import HeadersDict

# (service, operation) pairs covering the five protocols and their traits:
# nested lists/maps, flattened lists, xml attributes and namespaces, URI
# labels (greedy too), query strings, headers, header maps, payloads, blobs,
# timestamps, booleans, doubles.
REQUEST_OPS = [
    ("ec2", "CreateVpc"), ("ec2", "DescribeVpcs"), ("ec2", "RunInstances"),
    ("ec2", "AuthorizeSecurityGroupIngress"), ("ec2", "CreateLaunchTemplate"),
    ("ec2", "ModifyVpcAttribute"), ("ec2", "CreateTags"), ("ec2", "DescribeInstances"),
    ("rds", "CreateDBSubnetGroup"), ("rds", "CreateDBCluster"), ("rds", "ModifyDBInstance"),
    ("iam", "CreateRole"), ("iam", "PutRolePolicy"), ("sts", "AssumeRole"),
    ("elbv2", "CreateLoadBalancer"), ("elbv2", "CreateListener"), ("elbv2", "ModifyTargetGroupAttributes"),
    ("cloudwatch", "PutMetricAlarm"), ("cloudwatch", "PutMetricData"), ("cloudwatch", "GetMetricStatistics"),
    ("autoscaling", "CreateAutoScalingGroup"), ("elasticache", "CreateReplicationGroup"),
    ("ecs", "RegisterTaskDefinition"), ("ecs", "CreateService"), ("dynamodb", "PutItem"),
    ("dynamodb", "Query"), ("logs", "PutLogEvents"), ("logs", "CreateLogGroup"), ("ssm", "PutParameter"),
    ("secretsmanager", "CreateSecret"), ("kms", "Encrypt"), ("ecr", "PutLifecyclePolicy"),
    ("application-autoscaling", "RegisterScalableTarget"),
    ("efs", "CreateFileSystem"), ("efs", "CreateMountTarget"), ("efs", "DescribeFileSystems"),
    ("efs", "PutLifecycleConfiguration"), ("efs", "TagResource"), ("efs", "UntagResource"),
    ("route53", "ChangeResourceRecordSets"), ("route53", "CreateHostedZone"),
    ("route53", "ListResourceRecordSets"), ("route53", "ChangeTagsForResource"),
    ("s3", "PutObject"), ("s3", "PutBucketLifecycleConfiguration"), ("s3", "PutBucketTagging"),
    ("s3", "ListObjectsV2"), ("s3", "CreateBucket"), ("s3", "PutBucketPolicy"), ("s3", "GetObject"),
    ("s3", "DeleteObjects"), ("s3", "PutBucketAcl"), ("s3", "CopyObject"),
    ("backup", "CreateBackupPlan"), ("backup", "CreateBackupSelection"), ("backup", "ListTags"),
    ("backup", "ListRecoveryPointsByBackupVault"), ("backup", "DeleteRecoveryPoint"), ("backup", "TagResource"),
]

RESPONSE_OPS = [
    ("ec2", "DescribeVpcs"), ("ec2", "DescribeInstances"), ("ec2", "CreateVpc"),
    ("ec2", "DescribeSecurityGroups"), ("ec2", "DescribeLaunchTemplateVersions"),
    ("rds", "DescribeDBClusters"), ("rds", "CreateDBSubnetGroup"), ("iam", "GetRole"),
    ("iam", "ListRoles"), ("sts", "AssumeRole"), ("sts", "GetCallerIdentity"),
    ("elbv2", "DescribeLoadBalancers"), ("elbv2", "DescribeTargetHealth"),
    ("cloudwatch", "DescribeAlarms"), ("cloudwatch", "GetMetricStatistics"),
    ("autoscaling", "DescribeAutoScalingGroups"), ("elasticache", "DescribeReplicationGroups"),
    ("ecs", "DescribeServices"), ("ecs", "DescribeTaskDefinition"), ("dynamodb", "GetItem"),
    ("dynamodb", "DescribeTable"), ("logs", "DescribeLogGroups"), ("ssm", "GetParameter"),
    ("secretsmanager", "GetSecretValue"), ("kms", "Decrypt"), ("ecr", "DescribeImages"),
    ("application-autoscaling", "DescribeScalableTargets"),
    ("efs", "DescribeFileSystems"), ("efs", "CreateFileSystem"), ("efs", "DescribeMountTargets"),
    ("route53", "ListResourceRecordSets"), ("route53", "GetHostedZone"),
    ("route53", "ChangeResourceRecordSets"), ("s3", "ListObjectsV2"), ("s3", "HeadObject"),
    ("s3", "GetBucketLifecycleConfiguration"), ("s3", "GetBucketAcl"), ("s3", "GetBucketTagging"),
    ("backup", "GetBackupPlan"), ("backup", "DescribeBackupVault"), ("backup", "ListTags"),
    ("backup", "ListBackupSelections"),
]

# Members botocore adds from service-2.sdk-extras.json for its own handlers
# (RDS's SourceRegion becomes a presigned URL): not part of the wire API, not
# in wpo's models.
SDK_ONLY_MEMBERS = {"SourceRegion"}

WORDS = ["a", "vpc", "Main net", "x&y", "<tag>", "quote\"d", "slash/path", "percent%20", "plus+sign",
         "équipe", "✓ ok", "tab\there", "q?uery=1", "  padded  ", "semi;colon", "a:b", "~tilde"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def string(self, shape, label=False):
        if shape.enum:
            return self.r.choice(shape.enum)
        lo = shape.metadata.get("min", 1 if label else 0)
        s = self.r.choice(WORDS)
        if self.r.random() < 0.3:
            s += str(self.r.randint(0, 999))
        while len(s) < lo:
            s += "x"
        return s

    def timestamp(self):
        t = self.r.randint(1_000_000_000, 1_900_000_000)
        k = self.r.randint(0, 3)
        if k == 0:
            return t
        d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
        if k == 1:
            return d.strftime("%Y-%m-%dT%H:%M:%SZ")
        if k == 2:
            return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % self.r.randint(1, 999)
        return d.strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"

    def value(self, shape, depth, label=False, location=None):
        t = shape.type_name
        r = self.r
        if t == "structure":
            if shape.is_document_type:
                return {"k": r.choice(WORDS), "n": r.randint(0, 9), "l": [1, "two"]}
            out = {}
            req = set(shape.required_members)
            names = list(shape.members)
            if shape.is_tagged_union:
                names = [r.choice(names)]
                req = set(names)
            for name in names:
                m = shape.members[name]
                if m.serialization.get("eventstream") or m.type_name == "structure" and m.serialization.get("event"):
                    continue
                if name in SDK_ONLY_MEMBERS:
                    continue
                if name in req or (depth < 4 and r.random() < 0.55):
                    loc = m.serialization.get("location")
                    out[name] = self.value(m, depth + 1, label=(loc == "uri"), location=loc)
            return out
        if t == "list":
            lo = shape.metadata.get("min", 0)
            n = r.randint(max(lo, 0), max(lo, 3 if depth < 4 else 1))
            return [self.value(shape.member, depth + 1, location=location) for _ in range(n)]
        if t == "map":
            n = r.randint(0, 3 if depth < 4 else 1)
            keys = sorted({self.string(shape.key, label=True).replace(" ", "-") + str(i) for i in range(n)})
            if location == "headers":
                keys = sorted({"k" + str(r.randint(0, 99)) for _ in range(n)})
                return {k: self.r.choice(["v1", "value two"]) for k in keys}
            return {k: self.value(shape.value, depth + 1) for k in keys}
        if t == "string":
            if shape.serialization.get("jsonvalue"):
                return {"a": r.randint(0, 9), "b": [True, "x"]}
            s = self.string(shape, label)
            if location in ("header", "headers"):
                s = "".join(c for c in s if 32 <= ord(c) < 127 and c not in "\t").strip() or "h"
            return s
        if t in ("integer", "long"):
            lo = int(shape.metadata.get("min", 0))
            hi = int(shape.metadata.get("max", lo + 5000))
            return r.randint(lo, max(lo, min(hi, lo + 5000)))
        if t in ("float", "double"):
            lo = shape.metadata.get("min", -1e9)
            return r.choice([x for x in [0.5, 1.25, 100.0, 12.75, 0.1, 3.0, 1024.5] if x >= lo])
        if t == "boolean":
            return r.random() < 0.5
        if t == "timestamp":
            return self.timestamp()
        if t == "blob":
            if shape.serialization.get("streaming"):
                return "stream body " + r.choice(WORDS)
            return "blob " + r.choice(WORDS)
        raise ValueError(t)


def session():
    return botocore.session.get_session()


def canon_query(pairs):
    return sorted([list(p) for p in pairs])


def split_path(url_path):
    path, _, q = url_path.partition("?")
    return path, urllib.parse.parse_qsl(q, keep_blank_values=True)


def canon_xml(text):
    if not text:
        return None
    root = ET.fromstring(text)

    def walk(e):
        return [e.tag, dict(sorted(e.attrib.items())), (e.text or "").strip() if len(e) else (e.text or ""),
                [walk(c) for c in e]]
    return walk(root)


def canon_body(protocol, body, headers):
    if isinstance(body, dict):  # query/ec2 form
        return "form", canon_query(urllib.parse.parse_qsl(urllib.parse.urlencode(body, doseq=True),
                                                          keep_blank_values=True))
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if protocol in ("json", "rest-json"):
        ct = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        if body and ("json" in ct or protocol == "json"):
            return "json", json.loads(body)
        return "raw", body
    if protocol == "rest-xml":
        if body and body.lstrip().startswith("<"):
            try:
                return "xml", canon_xml(body)
            except ET.ParseError:
                pass   # a string payload that only looks like XML
        return "raw", body
    return "raw", body


def cmd_requests(seed, per_op):
    s = session()
    g = Gen(seed)
    cases = []
    for service, op_name in REQUEST_OPS:
        model = s.get_service_model(service)
        op = model.operation_model(op_name)
        protocol = model.metadata["protocol"]
        ser = serialize.create_serializer(protocol, include_validation=True)
        for _ in range(per_op):
            params = g.value(op.input_shape, 0) if op.input_shape else {}
            req = ser.serialize_to_request(params, op)
            path, static_q = split_path(req["url_path"])
            q = list(static_q)
            for k, v in (req.get("query_string") or {}).items():
                if isinstance(v, list):
                    q.extend((k, str(x)) for x in v)
                else:
                    q.append((k, str(v)))
            kind, body = canon_body(protocol, req["body"], req["headers"])
            headers = {k.lower(): str(v) for k, v in req["headers"].items()}
            cases.append({
                "service": service, "operation": op_name, "protocol": protocol,
                "params": params,
                "expected": {"method": req["method"], "path": path, "query": canon_query(q),
                             "headers": headers, "body_kind": kind, "body": body},
            })
    json.dump(cases, sys.stdout, ensure_ascii=False, default=str)


def norm_header_value(v):
    # botocore 1.29 sends booleans in headers as str(bool) ("True"); wpo sends
    # "true" as the protocol specifies.
    return {"True": "true", "False": "false"}.get(v, v)


def values_equal(a, b):
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def cmd_compare_requests(cases_path, actual_path):
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    with open(actual_path, encoding="utf-8") as f:
        actual = json.load(f)
    bad = 0
    for case, got in zip(cases, actual):
        exp = case["expected"]
        name = f"{case['service']} {case['operation']} {json.dumps(case['params'], ensure_ascii=False)[:300]}"
        problems = []
        if got.get("error"):
            problems.append("wpo raised: " + got["error"])
        else:
            if got["method"] != exp["method"]:
                problems.append(f"method {got['method']} != {exp['method']}")
            if got["path"] != exp["path"]:
                problems.append(f"path {got['path']!r} != {exp['path']!r}")
            gq = canon_query(urllib.parse.parse_qsl(got["query"], keep_blank_values=True))
            if len(gq) != len(exp["query"]) or not all(
                    x[0] == y[0] and values_equal(x[1], y[1]) for x, y in zip(gq, exp["query"])):
                problems.append(f"query {gq} != {exp['query']}")
            gh = {k.lower(): v for k, v in got["headers"].items()}
            for k, v in exp["headers"].items():
                if norm_header_value(v) != gh.get(k):
                    problems.append(f"header {k}: {gh.get(k)!r} != {v!r}")
            for k in gh:
                if k not in exp["headers"] and k not in ("user-agent", "content-md5"):
                    problems.append(f"extra header {k}: {gh[k]!r}")
            kind, body = canon_body(case["protocol"], got["body"], got["headers"])
            if case["protocol"] in ("ec2", "query"):
                kind, body = "form", canon_query(urllib.parse.parse_qsl(got["body"], keep_blank_values=True))
            if kind != exp["body_kind"]:
                problems.append(f"body kind {kind} != {exp['body_kind']} ({got['body'][:200]!r})")
            elif kind == "form":
                if len(body) != len(exp["body"]) or not all(
                        x[0] == y[0] and values_equal(x[1], y[1]) for x, y in zip(body, exp["body"])):
                    problems.append(f"form {body} != {exp['body']}")
            elif not deep_equal(body, exp["body"]):
                problems.append(f"body {json.dumps(body, ensure_ascii=False)[:600]} != "
                                f"{json.dumps(exp['body'], ensure_ascii=False)[:600]}")
        if problems:
            bad += 1
            print(f"MISMATCH {name}:\n    " + "\n    ".join(problems))
    print(f"compared {len(cases)}, {bad} differ")
    return 1 if bad or len(cases) != len(actual) else 0


def deep_equal(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b) \
            and not isinstance(a, bool) and not isinstance(b, bool)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b))
    return a == b


# ------------------------------------------------------------------ responses

def iso(dt):
    dt = dt.astimezone(datetime.timezone.utc)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        s += ("." + "%06d" % dt.microsecond).rstrip("0")
    return s + "Z"


class Out:
    """Random output values (python: datetime, bytes) for an output shape."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def value(self, shape, depth):
        t = shape.type_name
        r = self.r
        if t == "structure":
            if shape.is_document_type:
                return {"k": "v"}
            out = {}
            names = list(shape.members)
            if shape.is_tagged_union:
                names = [r.choice(names)]
            for name in names:
                m = shape.members[name]
                if m.serialization.get("eventstream") or m.serialization.get("streaming"):
                    continue
                if m.serialization.get("location") == "statusCode":
                    continue
                if shape.is_tagged_union or (depth < 4 and r.random() < 0.6):
                    out[name] = self.value(m, depth + 1)
            return out
        if t == "list":
            return [self.value(shape.member, depth + 1) for _ in range(r.randint(0, 3 if depth < 4 else 1))]
        if t == "map":
            keys = sorted({"key" + str(r.randint(0, 50)) for _ in range(r.randint(0, 3))})
            return {k: self.value(shape.value, depth + 1) for k in keys}
        if t == "string":
            if shape.enum:
                return r.choice(shape.enum)
            s = r.choice(WORDS).replace("\t", " ")
            if shape.serialization.get("location") == "header":
                s = "".join(c for c in s if 32 < ord(c) < 127) or "h"
            return s
        if t in ("integer", "long"):
            return r.randint(-5, 10**6)
        if t in ("float", "double"):
            return r.choice([0.5, 1.25, 100.0, 12.75, 3.0, -2.5])
        if t == "boolean":
            return r.random() < 0.5
        if t == "timestamp":
            sec = r.randint(1_000_000_000, 1_900_000_000)
            ms = r.choice([0, 0, r.randint(1, 999)])
            return datetime.datetime.fromtimestamp(sec, datetime.timezone.utc) + datetime.timedelta(milliseconds=ms)
        if t == "blob":
            return bytes(r.randint(0, 255) for _ in range(r.randint(0, 12)))
        raise ValueError(t)


def ts_text(dt, fmt):
    if fmt == "unixtimestamp":
        return repr(dt.timestamp())
    if fmt == "rfc822":
        return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        s += ".%03d" % (dt.microsecond // 1000)
    return s + "Z"


def scalar_text(shape, v, default_ts):
    t = shape.type_name
    if t == "boolean":
        return "true" if v else "false"
    if t == "timestamp":
        return ts_text(v, shape.serialization.get("timestampFormat", default_ts))
    if t == "blob":
        return base64.b64encode(v).decode()
    if t in ("float", "double"):
        return repr(v)
    return str(v)


def xml_node(parent, name, shape, v, ec2):
    t = shape.type_name
    if t == "structure":
        e = ET.SubElement(parent, name)
        for mname, m in shape.members.items():
            if mname not in v or m.serialization.get("location"):
                continue
            if m.serialization.get("xmlAttribute"):
                aname = m.serialization["name"]
                ns = shape.serialization.get("xmlNamespace", {})
                if ":" in aname and ns.get("prefix") == aname.split(":")[0]:
                    aname = "{%s}%s" % (ns["uri"], aname.split(":")[1])
                e.set(aname, scalar_text(m, v[mname], "iso8601"))
                continue
            xml_member(e, mname, m, v[mname], ec2)
        return e
    if t == "list":
        e = ET.SubElement(parent, name)
        item = shape.member.serialization.get("name", "member")
        for x in v:
            xml_node(e, item, shape.member, x, ec2)
        return e
    if t == "map":
        e = ET.SubElement(parent, name)
        for k, x in v.items():
            entry = ET.SubElement(e, "entry")
            ET.SubElement(entry, shape.key.serialization.get("name", "key")).text = k
            xml_node(entry, shape.value.serialization.get("name", "value"), shape.value, x, ec2)
        return e
    e = ET.SubElement(parent, name)
    e.text = scalar_text(shape, v, "iso8601")
    return e


def xml_member(parent, mname, m, v, ec2):
    name = m.serialization.get("name", mname)
    if m.type_name == "list" and m.serialization.get("flattened"):
        item = m.member.serialization.get("name", name)
        for x in v:
            xml_node(parent, item, m.member, x, ec2)
    elif m.type_name == "map" and m.serialization.get("flattened"):
        for k, x in v.items():
            entry = ET.SubElement(parent, name)
            ET.SubElement(entry, m.key.serialization.get("name", "key")).text = k
            xml_node(entry, m.value.serialization.get("name", "value"), m.value, x, ec2)
    else:
        xml_node(parent, name, m, v, ec2)


def json_value(shape, v):
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return v
        return {shape.members[k].serialization.get("name", k): json_value(shape.members[k], x)
                for k, x in v.items() if not shape.members[k].serialization.get("location")}
    if t == "list":
        return [json_value(shape.member, x) for x in v]
    if t == "map":
        return {k: json_value(shape.value, x) for k, x in v.items()}
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixtimestamp")
        return v.timestamp() if fmt == "unixtimestamp" else ts_text(v, fmt)
    if t == "blob":
        return base64.b64encode(v).decode()
    return v


def wire_response(protocol, op, value):
    shape = op.output_shape
    headers = {"x-amzn-requestid": "req-1234"}
    if protocol in ("query", "ec2"):
        root = ET.Element(op.name + "Response")
        if protocol == "ec2":
            ET.SubElement(root, "requestId").text = "req-1234"
            for mname, m in shape.members.items():
                if mname in value:
                    xml_member(root, mname, m, value[mname], True)
        else:
            rw = shape.serialization.get("resultWrapper", op.name + "Result")
            res = ET.SubElement(root, rw)
            for mname, m in shape.members.items():
                if mname in value:
                    xml_member(res, mname, m, value[mname], False)
            md = ET.SubElement(root, "ResponseMetadata")
            ET.SubElement(md, "RequestId").text = "req-1234"
        return {"status": 200, "headers": headers, "body": ET.tostring(root, encoding="unicode")}
    body_value = {}
    for mname, m in shape.members.items():
        if mname not in value:
            continue
        loc = m.serialization.get("location")
        if loc == "header":
            hname = m.serialization.get("name", mname).lower()
            if m.type_name == "timestamp":
                headers[hname] = ts_text(value[mname], m.serialization.get("timestampFormat", "rfc822"))
            elif m.type_name == "list":
                headers[hname] = ",".join(scalar_text(m.member, x, "rfc822") for x in value[mname])
            elif m.serialization.get("jsonvalue"):
                headers[hname] = base64.b64encode(json.dumps(value[mname]).encode()).decode()
            else:
                headers[hname] = scalar_text(m, value[mname], "rfc822")
        elif loc == "headers":
            for k, x in value[mname].items():
                headers[(m.serialization.get("name", "") + k).lower()] = x
        else:
            body_value[mname] = value[mname]
    payload = shape.serialization.get("payload")
    if protocol in ("json", "rest-json"):
        if payload:
            pv = body_value.get(payload)
            body = json.dumps(json_value(shape.members[payload], pv)) if pv is not None else ""
        else:
            body = json.dumps(json_value(shape, body_value))
        return {"status": 200, "headers": headers, "body": body}
    # rest-xml
    if payload:
        pv = body_value.get(payload)
        if pv is None:
            return {"status": 200, "headers": headers, "body": ""}
        m = shape.members[payload]
        holder = ET.Element("holder")
        xml_node(holder, m.serialization.get("name", payload), m, pv, False)
        return {"status": 200, "headers": headers, "body": ET.tostring(holder[0], encoding="unicode")}
    root = ET.Element(op.name + "Response")
    for mname, m in shape.members.items():
        if mname in body_value:
            xml_member(root, mname, m, body_value[mname], False)
    return {"status": 200, "headers": headers, "body": ET.tostring(root, encoding="unicode")}


def jsonable(v):
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, datetime.datetime):
        return iso(v)
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode()
    return v


def cmd_responses(seed, per_op):
    s = session()
    g = Out(seed)
    cases = []
    for service, op_name in RESPONSE_OPS:
        model = s.get_service_model(service)
        op = model.operation_model(op_name)
        protocol = model.metadata["protocol"]
        parser = parsers.create_parser(protocol)
        for _ in range(per_op):
            value = g.value(op.output_shape, 0)
            resp = wire_response(protocol, op, value)
            parsed = parser.parse({"body": resp["body"].encode("utf-8"), "headers": HeadersDict(resp["headers"]),
                                   "status_code": resp["status"]}, op.output_shape)
            cases.append({"service": service, "operation": op_name, "protocol": protocol,
                          "response": resp, "expected": jsonable(parsed)})
    json.dump(cases, sys.stdout, ensure_ascii=False)


def cmd_compare_responses(cases_path, actual_path):
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    with open(actual_path, encoding="utf-8") as f:
        actual = json.load(f)
    bad = 0
    for case, got in zip(cases, actual):
        if not deep_equal(got, case["expected"]):
            bad += 1
            print(f"MISMATCH {case['service']} {case['operation']}:\n    wpo      "
                  f"{json.dumps(got, ensure_ascii=False, sort_keys=True)[:1500]}\n    botocore "
                  f"{json.dumps(case['expected'], ensure_ascii=False, sort_keys=True)[:1500]}\n    body "
                  f"{case['response']['body'][:1500]}")
    print(f"compared {len(cases)}, {bad} differ")
    return 1 if bad or len(cases) != len(actual) else 0


def main(argv):
    if argv[1] == "requests":
        cmd_requests(int(argv[2]), int(argv[3]))
    elif argv[1] == "responses":
        cmd_responses(int(argv[2]), int(argv[3]))
    elif argv[1] == "compare-requests":
        return cmd_compare_requests(argv[2], argv[3])
    elif argv[1] == "compare-responses":
        return cmd_compare_responses(argv[2], argv[3])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
