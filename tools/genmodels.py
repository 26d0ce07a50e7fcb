#!/usr/bin/python3
"""tools/genmodels.py — generate wpo's compact AWS service models.

Reads the botocore service models shipped by Debian's python3-botocore and
writes, for each service wpo uses:

  stdlib/wpo/aws/models/<service>.lua   operations, shapes, paginators
  stdlib/wpo/aws/services.lua           every service's metadata (small)
  stdlib/wpo/aws/models/waiters/<service>.lua   its waiters (waiters-2.json),
                                        for the services that have some

keeping only what wpo's serialisers and decoders need. Run it with Debian's
Python (it must see botocore):

  /usr/bin/python3 tools/genmodels.py [--check] [--out stdlib/wpo/aws]

--check compares instead of writing and exits 1 when a file would change.

The model format (documented again at the top of each generated file):

  ops[Name] = { m = method, u = requestUri, i = input ref, o = output ref,
                rc = responseCode, hp = endpoint hostPrefix,
                cs = true (a Content-MD5 checksum is required),
                auth = "none" (unsigned) | "v4-unsigned-body" }
  shapes[Name] = { T = "structure", "Member1", ref1, "Member2", ref2, ...,
                   payload = member name, doc = true (document), union = true }
               | { T = "list", m = ref }
               | { T = "map", k = ref, v = ref }
  A ref is either a target name, or { target, traits... }. Targets are
  composite shape names or the scalar types string, integer, long, boolean,
  timestamp, blob, float, double. Scalar shapes do not appear: their own
  traits are merged into every ref that targets them (as botocore merges a
  shape's serialisation with its reference's). Traits:
    n  locationName          q  queryName (ec2)         l  location
    f  flattened             x  xmlAttribute            ns {uri, prefix} xmlNamespace
    tf timestampFormat       j  jsonvalue               it idempotencyToken
    hl hostLabel             s  sensitive               r  required
    st streaming             es eventstream             rw resultWrapper
  paginators[Op] = { i = input tokens, o = output token expressions,
                     more = more_results, limit = limit_key, result = result keys }

The waiter format (wpo.aws.waiter reads it):

  return { [WaiterName] = { operation = "DescribeX", delay = seconds,
             max_attempts = n, acceptors = { { state = "success" | "failure" |
             "retry", matcher = "path" | "pathAll" | "pathAny" | "status" |
             "error", argument = JMESPath expression (path matchers),
             expected = value }, ... } }, ... }
"""
import argparse
import json
import os
import sys

SERVICES = [
    # (botocore name, wpo module name)
    ("ec2", "ec2"), ("sts", "sts"), ("iam", "iam"), ("ecs", "ecs"), ("ecr", "ecr"),
    ("elbv2", "elbv2"), ("rds", "rds"), ("elasticache", "elasticache"), ("efs", "efs"),
    ("route53", "route53"), ("logs", "logs"), ("cloudwatch", "cloudwatch"),
    ("secretsmanager", "secretsmanager"), ("ssm", "ssm"), ("s3", "s3"),
    ("dynamodb", "dynamodb"), ("kms", "kms"), ("autoscaling", "autoscaling"),
    ("application-autoscaling", "application_autoscaling"), ("sns", "sns"),
    ("sso", "sso"), ("sso-oidc", "sso_oidc"),      # IAM Identity Center sign-in (credentials.lua)
    ("acm", "acm"), ("cloudfront", "cloudfront"), ("wafv2", "wafv2"),  # a site at its own name
    ("backup", "backup"),
]

SCALARS = {"string", "integer", "long", "boolean", "timestamp", "blob", "float",
           "double", "character"}

# botocore shape/ref keys -> short trait keys (serialisation + the metadata we use)
TRAITS = [
    ("locationName", "n"), ("queryName", "q"), ("location", "l"), ("flattened", "f"),
    ("xmlAttribute", "x"), ("xmlNamespace", "ns"), ("timestampFormat", "tf"),
    ("jsonvalue", "j"), ("idempotencyToken", "it"), ("hostLabel", "hl"),
    ("sensitive", "s"), ("streaming", "st"), ("eventstream", "es"),
    ("resultWrapper", "rw"),
]

BOTOCORE_DATA = None

# Members of AWS's current models that Debian's botocore predates, added when
# absent (a newer botocore that has them wins): S3's conditional writes
# (If-Match / If-None-Match on PutObject, 2024), which the S3 state backend
# relies on so two writers never silently overwrite each other.
NEWER_MEMBERS = {
    "s3": {
        "PutObjectRequest": {
            "IfMatch": {"shape": "IfMatch", "location": "header", "locationName": "If-Match"},
            "IfNoneMatch": {"shape": "IfNoneMatch", "location": "header", "locationName": "If-None-Match"},
        },
    },
}


def data_dir():
    import botocore
    return os.path.join(os.path.dirname(botocore.__file__), "data")


def latest_dir(name):
    base = os.path.join(data_dir(), name)
    versions = sorted(v for v in os.listdir(base)
                      if os.path.exists(os.path.join(base, v, "service-2.json")))
    return os.path.join(base, versions[-1])


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- Lua output

def lua_str(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 32 or o == 127:
            out.append("\\%03d" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def lua_key(k):
    if isinstance(k, str) and k.isidentifier() and k not in LUA_KEYWORDS:
        return k
    return "[" + lua_str(k) + "]"


LUA_KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for",
                "function", "goto", "if", "in", "local", "nil", "not", "or",
                "repeat", "return", "then", "true", "until", "while"}


def lua_val(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return lua_str(v)
    if isinstance(v, list):
        return "{" + ",".join(lua_val(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ",".join(lua_key(k) + "=" + lua_val(v[k]) for k in sorted(v)) + "}"
    raise TypeError(repr(v))


# ------------------------------------------------------------------- models

class Model:
    def __init__(self, name, raw):
        self.name = name
        self.raw = raw
        self.shapes = raw["shapes"]
        for sname, members in NEWER_MEMBERS.get(name, {}).items():
            have = self.shapes[sname].setdefault("members", {})
            for mname, ref in members.items():
                have.setdefault(mname, ref)
        for sname, shape in self.shapes.items():
            if shape["type"] not in SCALARS and sname in SCALARS:
                raise SystemExit(f"{name}: shape {sname} collides with a scalar type name")

    def traits_of(self, d):
        t = {}
        for long, short in TRAITS:
            if long in d:
                v = d[long]
                if long == "xmlNamespace":
                    v = {"uri": v["uri"], **({"prefix": v["prefix"]} if v.get("prefix") else {})}
                elif v is True:
                    v = True
                t[short] = v
        return t

    def ref(self, ref, required=False):
        """A ref: target name, or [target, traits] with the target shape's own
        traits merged under the reference's (botocore's resolve_shape_ref)."""
        target_name = ref["shape"]
        target = self.shapes[target_name]
        traits = self.traits_of(target)
        traits.update(self.traits_of(ref))
        if target["type"] == "structure" and target.get("exception"):
            pass
        if required:
            traits["r"] = True
        if target["type"] in SCALARS:
            tname = "string" if target["type"] == "character" else target["type"]
        else:
            tname = target_name
        if not traits:
            return tname
        return (tname, traits)

    def reachable(self, roots):
        seen = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            s = self.shapes[n]
            refs = []
            if s["type"] == "structure":
                refs = [m["shape"] for m in s.get("members", {}).values()]
            elif s["type"] == "list":
                refs = [s["member"]["shape"]]
            elif s["type"] == "map":
                refs = [s["key"]["shape"], s["value"]["shape"]]
            stack.extend(r for r in refs if r not in seen)
        return seen

    def shape_entry(self, sname):
        s = self.shapes[sname]
        t = s["type"]
        if t == "structure":
            req = set(s.get("required", []))
            members = []
            for mname, mref in s.get("members", {}).items():
                members.append((mname, self.ref(mref, mname in req)))
            extra = {}
            if "payload" in s:
                extra["payload"] = s["payload"]
            if s.get("document"):
                extra["doc"] = True
            if s.get("union"):
                extra["union"] = True
            if s.get("event"):
                extra["event"] = True
            return ("structure", members, extra)
        if t == "list":
            return ("list", self.ref(s["member"]), {})
        if t == "map":
            return ("map", (self.ref(s["key"]), self.ref(s["value"])), {})
        raise ValueError(t)


def fmt_ref(r):
    if isinstance(r, str):
        return lua_str(r)
    target, traits = r
    return "{" + lua_str(target) + "," + ",".join(
        lua_key(k) + "=" + lua_val(traits[k]) for k in sorted(traits)) + "}"


def op_entry(model, name, op):
    http = op.get("http", {})
    e = {"m": http.get("method", "POST"), "u": http.get("requestUri", "/")}
    parts = [f"m={lua_str(e['m'])}", f"u={lua_str(e['u'])}"]
    if "input" in op:
        parts.append("i=" + fmt_ref(model.ref(op["input"])))
    if "output" in op:
        parts.append("o=" + fmt_ref(model.ref(op["output"])))
    if "responseCode" in http:
        parts.append(f"rc={http['responseCode']}")
    if "endpoint" in op and "hostPrefix" in op["endpoint"]:
        parts.append("hp=" + lua_str(op["endpoint"]["hostPrefix"]))
    hc = op.get("httpChecksum", {})
    if op.get("httpChecksumRequired") or hc.get("requestChecksumRequired"):
        parts.append("cs=true")
    if op.get("authtype") in ("none", "v4-unsigned-body"):
        parts.append("auth=" + lua_str(op["authtype"]))
    return "{" + ",".join(parts) + "}"


HEADER = """\
-- Generated by tools/genmodels.py from botocore {version} ({source}).
-- Do not edit: regenerate with /usr/bin/python3 tools/genmodels.py
-- Format: see the docstring of tools/genmodels.py.
"""


def gen_model(name, modname, version):
    d = latest_dir(name)
    raw = load(os.path.join(d, "service-2.json"))
    model = Model(name, raw)
    ops = raw["operations"]
    roots = []
    for op in ops.values():
        for k in ("input", "output"):
            if k in op:
                roots.append(op[k]["shape"])
    keep = sorted(n for n in model.reachable(roots) if model.shapes[n]["type"] not in SCALARS)
    out = [HEADER.format(version=version, source=f"data/{name}/{os.path.basename(d)}")]
    out.append("local ops, shapes, paginators = {}, {}, {}\n")
    for oname in sorted(ops):
        out.append(f"ops.{oname}={op_entry(model, oname, ops[oname])}\n"
                   if oname.isidentifier() else
                   f"ops[{lua_str(oname)}]={op_entry(model, oname, ops[oname])}\n")
    for sname in keep:
        kind, body, extra = model.shape_entry(sname)
        fields = [f"T={lua_str(kind)}"]
        if kind == "structure":
            for mname, r in body:
                fields.append(lua_str(mname))
                fields.append(fmt_ref(r))
        elif kind == "list":
            fields.append("m=" + fmt_ref(body))
        else:
            fields.append("k=" + fmt_ref(body[0]))
            fields.append("v=" + fmt_ref(body[1]))
        for k in sorted(extra):
            fields.append(f"{k}={lua_val(extra[k])}")
        out.append(f"shapes[{lua_str(sname)}]={{{','.join(fields)}}}\n")
    ppath = os.path.join(d, "paginators-1.json")
    if os.path.exists(ppath):
        pag = load(ppath)["pagination"]
        for oname in sorted(pag):
            p = pag[oname]
            aslist = lambda v: v if isinstance(v, list) else [v]
            e = {"i": aslist(p["input_token"]), "o": aslist(p["output_token"])}
            if "more_results" in p:
                e["more"] = p["more_results"]
            if "limit_key" in p:
                e["limit"] = p["limit_key"]
            if "result_key" in p:
                e["result"] = aslist(p["result_key"])
            out.append(f"paginators.{oname}={lua_val(e)}\n")
    out.append("return { ops = ops, shapes = shapes, paginators = paginators }\n")
    meta = raw["metadata"]
    m = {
        "model": modname,
        "api_version": meta["apiVersion"],
        "protocol": meta["protocol"],
        "endpoint_prefix": meta["endpointPrefix"],
        "signing_name": meta.get("signingName", meta["endpointPrefix"]),
        "service_id": meta["serviceId"],
        "signature_version": meta.get("signatureVersion", "v4"),
    }
    for k, short in (("jsonVersion", "json_version"), ("targetPrefix", "target_prefix"),
                     ("globalEndpoint", "global_endpoint"), ("xmlNamespace", "xml_namespace")):
        if k in meta:
            m[short] = meta[k] if not isinstance(meta[k], dict) else meta[k]["uri"]
    return "".join(out), m


def gen_waiters(name, version):
    """Lua source of a service's waiters, or None when botocore has none."""
    d = latest_dir(name)
    path = os.path.join(d, "waiters-2.json")
    if not os.path.exists(path):
        return None
    waiters = load(path)["waiters"]
    out = [HEADER.format(version=version, source=f"data/{name}/{os.path.basename(d)}/waiters-2.json")]
    out.append("return {\n")
    for wname in sorted(waiters):
        w = waiters[wname]
        acceptors = []
        for a in w["acceptors"]:
            e = {"state": a["state"], "matcher": a["matcher"], "expected": a["expected"]}
            if "argument" in a:
                e["argument"] = a["argument"]
            acceptors.append(e)
        entry = {"operation": w["operation"], "delay": w["delay"], "max_attempts": w["maxAttempts"],
                 "acceptors": acceptors}
        out.append(f"  {lua_key(wname)} = {lua_val(entry)},\n")
    out.append("}\n")
    return "".join(out)


def generate():
    import botocore
    version = botocore.__version__
    files = {}
    services = {}
    for name, modname in SERVICES:
        text, meta = gen_model(name, modname, version)
        files[f"models/{modname}.lua"] = text
        services[name] = meta
        waiters = gen_waiters(name, version)
        if waiters is not None:
            files[f"models/waiters/{modname}.lua"] = waiters
    out = [HEADER.format(version=version, source="data/*/service-2.json metadata")]
    out.append("-- services[botocore name] = metadata; the model is wpo.aws.models.<model>.\n")
    out.append("return {\n")
    for name in sorted(services):
        out.append(f"  [{lua_str(name)}] = {lua_val(services[name])},\n")
    out.append("}\n")
    files["services.lua"] = "".join(out)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "stdlib", "wpo", "aws"))
    ap.add_argument("--check", action="store_true",
                    help="compare with the files in --out; exit 1 if any differs")
    args = ap.parse_args()
    files = generate()
    differ = []
    for rel, text in sorted(files.items()):
        path = os.path.join(args.out, rel)
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old == text:
            continue
        differ.append(rel)
        if not args.check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if args.check:
        for rel in differ:
            print(f"differs: {rel}")
        print(f"{len(files) - len(differ)} of {len(files)} files up to date")
        return 1 if differ else 0
    print(f"wrote {len(differ)} of {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
