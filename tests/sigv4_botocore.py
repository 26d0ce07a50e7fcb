"""Randomised SigV4 requests signed by botocore's own signer, for the
differential test in tests/sigv4_botocore_spec.lua (which signs the same
requests inside wpo and compares).

    /usr/bin/python3 tests/sigv4_botocore.py --seed N --count N --out FILE

Writes {"botocore": version, "cases": [...]}: each case holds the request as
wpo's sigv4.sign takes it (headers as [name, value] pairs, in order; body in
base64) and what botocore produced (Authorization, X-Amz-Date,
X-Amz-Content-SHA256, its canonical request). The same seed always gives the
same cases. Needs Debian's python3-botocore (run with /usr/bin/python3).

The urls are what goes on the wire: the S3 path and every query component
percent-encoded canonically (botocore signs those as they are); paths for
other services mix raw and encoded bytes, since both signers encode them
again. The rules where the two signers differ on purpose are kept out:
empty query pieces ("a=1&&b=2"), lower-case or '+' escapes in queries,
Connection/Upgrade headers (wpo never signs them), a Date header
(botocore then signs with Date instead of X-Amz-Date), two spellings of one
header name (a Lua table cannot order them).
"""
import argparse
import base64
import datetime
import json
import random
import sys
from unittest import mock
from urllib.parse import quote

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials


class FixedClock(datetime.datetime):
    """datetime.datetime whose utcnow() is whatever the current case says."""
    current = None

    @classmethod
    def utcnow(cls):
        return cls.current


SERVICES = ["ec2", "sts", "iam", "dynamodb", "ecs", "execute-api", "rds", "elasticfilesystem",
            "route53", "service", "monitoring", "logs"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "sa-east-1",
           "cn-north-1", "us-gov-west-1"]
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "get", "post"]
UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
RESERVED = "!$&'()*+,;=:@"
UNICODE = ["é", "ü", "✓", "日本", "Ω", "😀", "ß", "中"]
HEADER_NAMES = ["Content-Type", "X-Amz-Meta-Color", "X-Amz-Target", "Accept", "X-Custom",
                "X-Amz-Acl", "Cache-Control", "If-Match", "X-Amz-Tagging", "Content-Language",
                "X-Amz-Storage-Class", "X-Amz-Meta-Name", "Range", "X-Forwarded-For"]
NEVER_SIGNED = ["User-Agent", "Expect", "X-Amzn-Trace-Id"]
VALUE_CHARS = UNRESERVED + " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}" + "\t"


def random_text(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def random_component(rng):
    """A path segment or query key/value before encoding."""
    pieces = []
    for _ in range(rng.randint(0, 4)):
        kind = rng.random()
        if kind < 0.45:
            pieces.append(random_text(rng, UNRESERVED, 1, 8))
        elif kind < 0.6:
            pieces.append(" " * rng.randint(1, 3))
        elif kind < 0.75:
            pieces.append(rng.choice(UNICODE))
        elif kind < 0.9:
            pieces.append(random_text(rng, RESERVED, 1, 3))
        else:
            pieces.append(rng.choice(["%", "/", "?", "#", "&", "=", "+", "%41", "%zz"]))
    return "".join(pieces)


def random_path(rng, s3):
    segments = []
    for _ in range(rng.randint(0, 5)):
        r = rng.random()
        if not s3 and r < 0.1:
            segments.append(rng.choice([".", "..", ""]))
        else:
            segments.append(random_component(rng))
    trailing = "/" if rng.random() < 0.3 else ""
    if s3:
        # The wire form botocore signs as it is: canonical percent-encoding.
        return "/" + "/".join(quote(seg, safe="-_.~") for seg in segments) + trailing
    # Other services encode the wire path again: encode each segment for
    # the wire one way or another (raw unicode and spaces included).
    out = []
    for seg in segments:
        style = rng.random()
        if style < 0.4:
            out.append(quote(seg, safe="-_.~"))
        elif style < 0.7:
            out.append(quote(seg, safe="-_.~" + RESERVED))
        else:
            out.append("".join(c if c not in "/?#%" else quote(c) for c in seg))
    return "/" + "/".join(out) + trailing


def random_query(rng):
    params = []
    keys = [random_component(rng) or "k" for _ in range(rng.randint(1, 4))]
    for _ in range(rng.randint(0, 7)):
        key = rng.choice(keys + ["", "Action", "Version", "a"])
        r = rng.random()
        if r < 0.2:
            value = ""
        elif r < 0.7:
            value = random_text(rng, UNRESERVED, 1, 10)
        else:
            value = random_component(rng)
        has_equals = key == "" or rng.random() < 0.85
        params.append((key, value, has_equals))
    parts = []
    for key, value, has_equals in params:
        k = quote(key, safe="-_.~")
        parts.append(k + "=" + quote(value, safe="-_.~") if has_equals else k)
    return "&".join(parts), params


def random_headers(rng, s3):
    names = rng.sample(HEADER_NAMES, rng.randint(0, 5))
    headers = []
    for name in names:
        if rng.random() < 0.3:
            name = rng.choice([name.lower(), name.upper()])
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            value = random_text(rng, VALUE_CHARS, 0, 24)
            if rng.random() < 0.4:
                value = " " * rng.randint(1, 3) + value.replace(" ", "   ") + " \t" * rng.randint(0, 2)
            headers.append([name, value])
    for name in NEVER_SIGNED:
        if rng.random() < 0.1:
            headers.append([name, random_text(rng, UNRESERVED, 1, 10)])
    rng.shuffle(headers)
    # a repeated header keeps its values' relative order after the shuffle
    return headers


def random_body(rng):
    r = rng.random()
    if r < 0.3:
        return None
    if r < 0.4:
        return b""
    if r < 0.7:
        return ("Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1="
                + quote(random_component(rng), safe="")).encode()
    if r < 0.85:
        return "".join(rng.choice(UNRESERVED + " {}\":,é✓\n") for _ in range(rng.randint(1, 300))).encode()
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000)))


def make_case(rng, index):
    s3 = rng.random() < 0.3
    service = "s3" if s3 else rng.choice(SERVICES)
    region = rng.choice(REGIONS)
    scheme = rng.choice(["https", "https", "https", "http"])
    host = rng.choice([f"{service}.{region}.amazonaws.com", f"bucket-{index}.s3.amazonaws.com",
                       "127.0.0.1", "localhost", f"{service.upper()}.Example.COM"])
    port = rng.choice(["", "", "", ":443", ":80", ":8443", ":4566"])
    path = random_path(rng, s3)
    query, params = random_query(rng) if rng.random() < 0.7 else ("", [])
    url = f"{scheme}://{host}{port}{path}" + (f"?{query}" if rng.random() < 0.95 and query else "")
    headers = random_headers(rng, s3)
    if rng.random() < 0.1:
        headers.append([rng.choice(["Host", "host"]), host.lower() + rng.choice(["", ":9000"])])
    body = random_body(rng)
    token = None
    if rng.random() < 0.35:
        token = random_text(rng, UNRESERVED + "/+=", 20, 300)
    unsigned = rng.random() < 0.15
    when = datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=rng.randint(0, 37 * 365 * 86400))
    access_key = "AKIA" + random_text(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 16)
    secret_key = random_text(rng, UNRESERVED + "/+", 40, 40)
    method = rng.choice(METHODS)
    return {
        "index": index, "method": method, "url": url, "headers": headers,
        "body": None if body is None else base64.b64encode(body).decode(),
        "access_key": access_key, "secret_key": secret_key, "session_token": token,
        "region": region, "service": service, "time": int(when.replace(tzinfo=datetime.timezone.utc).timestamp()),
        "unsigned": unsigned, "s3": s3,
        "features": {
            "repeated_query_key": len({p[0] for p in params}) < len(params),
            "empty_query_value": any(p[1] == "" for p in params),
            "unicode_path": any(ord(c) > 127 for c in path) or "%C3" in path or "%E" in path,
            "space_in_path": " " in path or "%20" in path,
            "repeated_header": len({h[0] for h in headers}) < len(headers),
            "spaced_header_value": any("  " in h[1] or h[1][:1] == " " for h in headers),
            "body": bool(body),
        },
    }, when, body


def sign(case, when, body):
    FixedClock.current = when
    request = botocore.awsrequest.AWSRequest(method=case["method"], url=case["url"], data=body)
    for name, value in case["headers"]:
        request.headers[name] = value  # HTTPMessage appends: repeated headers stay repeated
    credentials = botocore.credentials.Credentials(case["access_key"], case["secret_key"],
                                                   case["session_token"])
    if case["s3"]:
        signer = botocore.auth.S3SigV4Auth(credentials, case["service"], case["region"])
        if case["unsigned"]:
            request.context["client_config"] = botocore.config.Config(
                s3={"payload_signing_enabled": False})
    else:
        signer = botocore.auth.SigV4Auth(credentials, case["service"], case["region"])
        if case["unsigned"]:
            request.context["payload_signing_enabled"] = False
    seen = []
    canonical_request = signer.canonical_request

    def recording(req):
        seen.append(canonical_request(req))
        return seen[-1]

    signer.canonical_request = recording
    signer.add_auth(request)
    canonical = seen[-1]
    return {
        "authorization": request.headers["Authorization"],
        "amz_date": request.headers["X-Amz-Date"],
        "content_sha256": request.headers.get("X-Amz-Content-SHA256"),
        "canonical_request": canonical,
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    cases = []
    for i in range(args.count):
        case, when, body = make_case(rng, i)
        with mock.patch.object(botocore.auth.datetime, "datetime", FixedClock):
            case["expect"] = sign(case, when, body)
        cases.append(case)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"botocore": botocore.__version__, "seed": args.seed, "cases": cases}, f,
                  ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
