"""STS: GetCallerIdentity, AssumeRole, AssumeRoleWithWebIdentity (served
unsigned, as AWS does). Credentials they hand out are accepted for signing
(with their session token) until they expire by the server's clock
(/_fake/clock).

Control endpoints (tests stand in for an identity provider and a vault):

  POST /_fake/sts/web-identity-token  {"subject": "repo:acme/infra:ref:refs/heads/main",
                                       "audience": "sts.amazonaws.com", "lifetime": 3600}
      -> {"token": "<a JWT-shaped OIDC ID token>", "expires": ISO 8601}: a token
         AssumeRoleWithWebIdentity accepts until it expires (any other token:
         InvalidIdentityToken; an expired one: ExpiredTokenException)
  POST /_fake/credentials             {"name": "vault-user", "lifetime": 3600, "permanent": false}
      -> {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Arn"}:
         credentials the server accepts, in credential_process's shape
         (permanent: an AKIA key without session token or expiry; a negative
         lifetime: already expired)
  GET /_fake/secrets
      -> {"secrets": [...]}: every secret handed out (secret keys, session and
         web identity tokens, SSO access and refresh tokens, client secrets),
         for tests asserting that none was printed"""
import base64
import datetime
import json
import re
import secrets

from .. import control
from ..errors import AWSError
from ..sigv4check import Identity
from ..state import new_name_id
from . import Service

service = Service("sts", unsigned=("AssumeRoleWithWebIdentity",))

_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")
_OIDC_ISSUER = "https://token.fakeaws.invalid"


@service.op("GetCallerIdentity")
def get_caller_identity(ctx, p):
    i = ctx.identity
    return {"UserId": i.user_id, "Account": i.account or ctx.account, "Arn": i.arn}


def _role(ctx, arn):
    """(account, role name) of a role that may be assumed, or raise."""
    m = _ROLE_ARN.match(arn)
    if not m:
        raise AWSError("ValidationError", f"{arn} is invalid", 400)
    account, role = m.groups()
    roles = ctx.store.table("iam", "role")      # keyed by lower-cased name (IAM names ignore case)
    # once a test has made IAM roles, only those can be assumed (none made: any)
    if "iam" in ctx.server.services and roles and role.lower() not in roles:
        who = ctx.identity.arn or "an anonymous caller"
        raise AWSError("AccessDenied", f"User: {who} is not authorized to perform: "
                                       f"sts:{ctx.operation} on resource: {arn}", 403)
    return account, role


def _issue(server, arn, user_id, account, expires, permanent=False):
    identity = Identity(
        access_key=("AKIA" if permanent else "ASIA") + new_name_id(16),
        secret_key=base64.b64encode(secrets.token_bytes(30)).decode(),
        token=None if permanent else base64.b64encode(secrets.token_bytes(120)).decode(),
        arn=arn, user_id=user_id, account=account, expires=None if permanent else expires)
    server.keyring.add(identity)
    return identity


def _assume(ctx, p, account, role):
    duration = p.get("DurationSeconds", 3600)
    expires = ctx.now().replace(microsecond=0) + datetime.timedelta(seconds=duration)
    session = p["RoleSessionName"]
    identity = _issue(ctx.server, f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
                      f"AROA{new_name_id(17)}:{session}", account, expires)
    return {
        "Credentials": {
            "AccessKeyId": identity.access_key,
            "SecretAccessKey": identity.secret_key,
            "SessionToken": identity.token,
            "Expiration": expires,
        },
        "AssumedRoleUser": {"AssumedRoleId": identity.user_id, "Arn": identity.arn},
    }


@service.op("AssumeRole")
def assume_role(ctx, p):
    account, role = _role(ctx, p["RoleArn"])
    return _assume(ctx, p, account, role)


@service.op("AssumeRoleWithWebIdentity")
def assume_role_with_web_identity(ctx, p):
    tokens = ctx.store.scratch("sts", "web-identity-tokens")
    claims = tokens.get(p["WebIdentityToken"])
    if claims is None:
        raise service.fault("InvalidIdentityTokenException",
                            "The web identity token was not issued by a known identity provider")
    if ctx.now() >= claims["expires"]:
        raise service.fault("ExpiredTokenException",
                            "Token expired: current date/time must be before the expiration date/time")
    account, role = _role(ctx, p["RoleArn"])
    out = _assume(ctx, p, account, role)
    out.update({"SubjectFromWebIdentityToken": claims["sub"], "Audience": claims["aud"],
                "Provider": _OIDC_ISSUER.split("://", 1)[1]})
    return out


def _b64url(doc):
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _body(req, allowed):
    doc = json.loads(req.body or b"{}")
    if not isinstance(doc, dict) or set(doc) - set(allowed):
        raise ValueError(f"expected a JSON object with some of: {', '.join(sorted(allowed))}")
    return doc


def _lifetime(doc, default=3600):
    v = doc.get("lifetime", default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("lifetime must be a whole number of seconds")
    return v


def _control_token(server, req):
    try:
        doc = _body(req, ("subject", "audience", "lifetime"))
        lifetime = _lifetime(doc)
    except ValueError as e:
        return 400, {"error": str(e)}
    now = server.now().replace(microsecond=0)
    expires = now + datetime.timedelta(seconds=lifetime)
    claims = {"iss": _OIDC_ISSUER, "sub": doc.get("subject", "fakeaws-subject"),
              "aud": doc.get("audience", "sts.amazonaws.com"), "iat": int(now.timestamp()),
              "exp": int(expires.timestamp()), "jti": secrets.token_hex(8)}
    token = ".".join([_b64url({"alg": "RS256", "typ": "JWT", "kid": "fakeaws"}), _b64url(claims),
                      base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()])
    with server.store.lock:
        server.store.scratch("sts", "web-identity-tokens")[token] = dict(claims, expires=expires)
    return 200, {"token": token, "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _control_credentials(server, req):
    try:
        doc = _body(req, ("name", "lifetime", "permanent"))
        lifetime = _lifetime(doc)
        name = doc.get("name", "fakeaws-issued")
        if not isinstance(name, str) or not re.match(r"^[\w+=,.@-]{1,64}$", name):
            raise ValueError("name must be an IAM user name")
    except ValueError as e:
        return 400, {"error": str(e)}
    expires = server.now().replace(microsecond=0) + datetime.timedelta(seconds=lifetime)
    permanent = doc.get("permanent") is True
    identity = _issue(server, f"arn:aws:iam::{server.account}:user/{name}", "AIDA" + new_name_id(17),
                      server.account, expires, permanent=permanent)
    out = {"Version": 1, "AccessKeyId": identity.access_key, "SecretAccessKey": identity.secret_key,
           "Arn": identity.arn}
    if not permanent:
        out["SessionToken"] = identity.token
        out["Expiration"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return 200, out


def _control_secrets(server, req):
    """Every secret the server handed out: temporary credentials' secret keys and
    session tokens, web identity tokens, SSO access and refresh tokens, client
    secrets, ECR registry passwords — so a test can assert none of them was printed."""
    from .ecr import issued_passwords
    from .sso import clients, refresh_tokens, tokens
    out = []
    with server.keyring.lock:
        for identity in server.keyring.temporary.values():
            out += [identity.secret_key] + ([identity.token] if identity.token else [])
    with server.store.lock:
        out += list(server.store.scratch("sts", "web-identity-tokens"))
        out += list(tokens(server.store)) + list(refresh_tokens(server.store))
        out += [c["secret"] for c in clients(server.store).values()]
        out += list(issued_passwords(server.store))
    return 200, {"secrets": sorted(out)}


control.register("POST", "/_fake/sts/web-identity-token", _control_token)
control.register("GET", "/_fake/secrets", _control_secrets)
control.register("POST", "/_fake/credentials", _control_credentials)
