"""SigV4 verification: every request's signature is recomputed with botocore's
own signer (botocore.auth.SigV4Auth, S3SigV4Auth for s3) over what was received
— method, path, query, exactly the headers the client says it signed, and the
body — and compared in constant time. Also: unknown access keys, session tokens
of temporary credentials, request time within 15 minutes, S3's
x-amz-content-sha256. Failures raise AuthError(kind, message); each service
answers with its own code for that kind (protocols.AUTH_CODES)."""
import datetime
import hashlib
import hmac
import re
import threading
import urllib.parse

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

MAX_SKEW = datetime.timedelta(minutes=15)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$")


class AuthError(Exception):
    """kind: missing, malformed, unknown_key, token (a wrong or missing session
    token), expired_token (temporary credentials past their expiry), signature,
    expired (request time more than 15 minutes off), or payload
    (x-amz-content-sha256 does not match the body)."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


class Identity:
    """Who signed: the access key's secret, session token and caller identity;
    user: the name of the fakeaws IAM user the key belongs to (None for the
    command line's key and STS's temporary ones)."""

    def __init__(self, access_key, secret_key, token=None, arn=None, user_id=None, account=None,
                 expires=None, user=None):
        # access_key None: an unsigned request (an operation AWS serves without
        # a signature, such as STS AssumeRoleWithWebIdentity)
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token
        self.arn = arn
        self.user_id = user_id
        self.account = account
        self.expires = expires
        self.user = user


class Keyring:
    """The credentials the server accepts: the permanent pair given on the
    command line (never forgotten), temporary ones handed out by STS and the
    access keys of IAM users (services/iam_users.py)."""

    def __init__(self, identity):
        self.lock = threading.Lock()
        self.permanent = identity
        self.temporary = {}

    def add(self, identity):
        with self.lock:
            self.temporary[identity.access_key] = identity

    def get(self, access_key):
        with self.lock:
            if access_key == self.permanent.access_key:
                return self.permanent
            return self.temporary.get(access_key)

    def remove(self, access_key):
        with self.lock:
            self.temporary.pop(access_key, None)

    def reset(self):
        with self.lock:
            self.temporary.clear()


class _Verifier:
    """Mixin over botocore's signer: sign exactly the headers the client named."""

    def __init__(self, credentials, service, region, signed):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request):
        out = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                out[name] = value
        return out


class _SigV4(_Verifier, SigV4Auth):
    pass


class _S3SigV4(_Verifier, S3SigV4Auth):
    pass


def scope_of(headers):
    """(access_key, date, region, service) from the Authorization header, or None."""
    m = _AUTH_RE.match(headers.get("Authorization", "").strip())
    if not m:
        return None
    parts = m.group(1).split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return tuple(parts[:4])


def _request_time(headers):
    amz = headers.get("X-Amz-Date")
    if amz:
        try:
            return datetime.datetime.strptime(amz, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc), amz
        except ValueError:
            raise AuthError("malformed", f"X-Amz-Date {amz!r} is not in the form YYYYMMDDTHHMMSSZ") from None
    date = headers.get("Date")
    if date:
        import email.utils
        try:
            dt = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            raise AuthError("malformed", f"Date {date!r} cannot be parsed") from None
        return dt, dt.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    raise AuthError("malformed", "Authorization header requires existence of either a 'X-Amz-Date' "
                                 "or a 'Date' header.")


def verify(req, keyring, s3=False, now=None, clock=None):
    """Check req's SigV4 signature; -> (Identity, region, service) or raise AuthError.
    now: the real time (the request time must be within 15 minutes of it);
    clock: the time temporary credentials expire against (the server's clock,
    which tests may move forward: /_fake/clock), default now."""
    headers = req.headers
    auth = headers.get("Authorization")
    if not auth:
        if any(k.lower() == "x-amz-signature" for k, _ in req.query):
            raise AuthError("malformed", "fakeaws does not accept presigned URLs yet")
        raise AuthError("missing", "Missing Authentication Token")
    m = _AUTH_RE.match(auth.strip())
    if not m:
        raise AuthError("malformed", "Authorization header is not a valid AWS4-HMAC-SHA256 header: "
                                     "Credential=, SignedHeaders=, Signature= expected")
    credential, signed_list, signature = m.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthError("malformed", f"Credential should be scoped to a valid region and service: {credential}")
    access_key, day, region, service = parts[:4]
    identity = keyring.get(access_key)
    if identity is None:
        raise AuthError("unknown_key", "The security token included in the request is invalid." if not s3 else
                        "The AWS Access Key Id you provided does not exist in our records.")
    when, amz_date = _request_time(headers)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(now - when) > MAX_SKEW:
        raise AuthError("expired", f"Signature expired: {amz_date} is now earlier than "
                                   f"{(now - MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} "
                                   f"({now.strftime('%Y%m%dT%H%M%SZ')} - 15 min.)")
    if identity.expires is not None and (clock or now) >= identity.expires:
        raise AuthError("expired_token", "The security token included in the request is expired")
    if day != amz_date[:8]:
        raise AuthError("signature", f"Credential date {day} does not match the request date {amz_date[:8]}")
    token = headers.get("X-Amz-Security-Token")
    if identity.token is not None and not hmac.compare_digest(token or "", identity.token):
        raise AuthError("token", "The security token included in the request is invalid.")
    if identity.token is None and token:
        raise AuthError("token", "The security token included in the request is invalid.")
    signed = signed_list.split(";")
    if signed != sorted(signed) or any(s != s.lower() for s in signed):
        raise AuthError("signature", "SignedHeaders must be lower-case and sorted")
    if "host" not in signed:
        raise AuthError("signature", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed:
        if headers.get(name) is None:
            raise AuthError("signature", f"Header {name} is signed but absent from the request")
    content_sha = headers.get("X-Amz-Content-SHA256")
    body_sha = hashlib.sha256(req.body).hexdigest()
    if s3:
        if content_sha is None:
            raise AuthError("malformed", "Missing required header for this request: x-amz-content-sha256")
        if content_sha.startswith("STREAMING-"):
            raise AuthError("malformed", f"fakeaws does not accept {content_sha} bodies yet")
        if content_sha != "UNSIGNED-PAYLOAD" and content_sha != body_sha:
            raise AuthError("payload", "The provided 'x-amz-content-sha256' header does not match what "
                                       "was computed.")
        unsigned = [k for k in headers.keys() if k.lower().startswith("x-amz-") and k.lower() not in signed
                    and k.lower() != "x-amz-content-sha256"]
        if unsigned:
            raise AuthError("signature", f"There were headers present in the request which were not "
                                         f"signed: {', '.join(sorted(k.lower() for k in unsigned))}")
    elif content_sha is not None and content_sha != body_sha:
        raise AuthError("signature", "x-amz-content-sha256 does not match the request body")

    request = AWSRequest(method=req.method, url=f"http://{headers.get('Host', '')}{req.path}",
                         headers={}, data=req.body)
    request.headers = HTTPHeaders()
    for name in signed:
        for value in headers.get_all(name):
            request.headers[name] = value
    if content_sha is not None and "x-amz-content-sha256" not in signed:
        request.headers["X-Amz-Content-SHA256"] = content_sha
    request.params = [(k, v) for k, v in req.query]
    request.context["timestamp"] = amz_date
    creds = Credentials(identity.access_key, identity.secret_key, identity.token)
    signer = (_S3SigV4 if s3 else _SigV4)(creds, service, region, signed)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected, signature):
        raise AuthError("signature", "The request signature we calculated does not match the signature "
                                     "you provided. Check your AWS Secret Access Key and signing method.")
    return identity, region, service


def parse_query(raw):
    """Raw query string -> decoded (name, value) pairs, in order ("a&b=" -> [("a", ""), ("b", "")])."""
    out = []
    for pair in raw.split("&"):
        if not pair:
            continue
        k, _, v = pair.partition("=")
        out.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    return out
