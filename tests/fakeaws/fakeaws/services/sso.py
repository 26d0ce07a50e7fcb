"""IAM Identity Center's portal (SSO, rest-json, served unsigned as AWS does):
GetRoleCredentials, which trades the access token `aws sso login` cached for a
role's credentials in an account. The token must be one this server issued
(below, or through SSO OIDC CreateToken) and not expired by the server's clock;
else UnauthorizedException (401), as the portal answers.

Control endpoint (a test stands in for `aws sso login`):

  POST /_fake/sso/login  {"start_url": "https://acme.awsapps.com/start", "region": "eu-west-1",
                          "user": "alice", "lifetime": 3600, "refresh": true,
                          "registration_lifetime": 7776000, "role_lifetime": 3600}
      -> the document the AWS CLI writes to ~/.aws/sso/cache/<sha1>.json:
         {"startUrl", "region", "accessToken", "expiresAt"} and, with refresh
         (the default), the client registration and refresh token SSO OIDC
         CreateToken takes: "clientId", "clientSecret", "registrationExpiresAt",
         "refreshToken". A negative lifetime gives an expired access token.
         role_lifetime: how long the role credentials GetRoleCredentials hands
         out for this login's tokens last (default 3600)."""
import base64
import datetime
import json
import secrets

from .. import control
from ..sigv4check import Identity
from ..state import new_name_id
from . import Service

service = Service("sso")

ISO = "%Y-%m-%dT%H:%M:%SZ"


def tokens(store):
    """accessToken -> {"user", "expires", "role_lifetime"} (shared with SSO OIDC)."""
    return store.scratch("sso", "access-tokens")


def refresh_tokens(store):
    """refreshToken -> {"client", "user", "lifetime", "role_lifetime"}"""
    return store.scratch("sso", "refresh-tokens")


def clients(store):
    """clientId -> {"secret", "expires"}"""
    return store.scratch("sso", "clients")


def new_access_token(store, now, user, lifetime, role_lifetime):
    token = "aoa" + secrets.token_urlsafe(48)
    tokens(store)[token] = {"user": user, "expires": now + datetime.timedelta(seconds=lifetime),
                            "role_lifetime": role_lifetime}
    return token


def new_refresh_token(store, client, user, lifetime, role_lifetime):
    token = "aor" + secrets.token_urlsafe(64)
    refresh_tokens(store)[token] = {"client": client, "user": user, "lifetime": lifetime,
                                    "role_lifetime": role_lifetime}
    return token


@service.op("GetRoleCredentials")
def get_role_credentials(ctx, p):
    t = tokens(ctx.store).get(p["accessToken"])
    if t is None or ctx.now() >= t["expires"]:
        raise service.fault("UnauthorizedException", "Session token not found or invalid")
    account, role = p["accountId"], p["roleName"]
    if not (len(account) == 12 and account.isdigit()):
        raise service.fault("InvalidRequestException", f"Invalid account id {account}")
    expires = ctx.now().replace(microsecond=0) + datetime.timedelta(seconds=t["role_lifetime"])
    identity = Identity(
        access_key="ASIA" + new_name_id(16),
        secret_key=base64.b64encode(secrets.token_bytes(30)).decode(),
        token=base64.b64encode(secrets.token_bytes(120)).decode(),
        arn=f"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_{role}_{secrets.token_hex(8)}/{t['user']}",
        user_id=f"AROA{new_name_id(17)}:{t['user']}",
        account=account,
        expires=expires)
    ctx.server.keyring.add(identity)
    return {"roleCredentials": {
        "accessKeyId": identity.access_key,
        "secretAccessKey": identity.secret_key,
        "sessionToken": identity.token,
        "expiration": int(expires.timestamp() * 1000),      # epoch milliseconds, as the portal answers
    }}


def _whole(doc, key, default):
    v = doc.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{key} must be a whole number of seconds")
    return v


def _control_login(server, req):
    allowed = {"start_url", "region", "user", "lifetime", "refresh", "registration_lifetime", "role_lifetime"}
    try:
        doc = json.loads(req.body or b"{}")
        if not isinstance(doc, dict) or set(doc) - allowed:
            raise ValueError(f"expected a JSON object with some of: {', '.join(sorted(allowed))}")
        lifetime = _whole(doc, "lifetime", 3600)
        registration = _whole(doc, "registration_lifetime", 90 * 86400)
        role_lifetime = _whole(doc, "role_lifetime", 3600)
    except ValueError as e:
        return 400, {"error": str(e)}
    now = server.now().replace(microsecond=0)
    user = doc.get("user", "fakeaws-user")
    out = {"startUrl": doc.get("start_url", "https://fakeaws.awsapps.com/start"),
           "region": doc.get("region", "us-east-1")}
    with server.store.lock:
        out["accessToken"] = new_access_token(server.store, now, user, lifetime, role_lifetime)
        out["expiresAt"] = (now + datetime.timedelta(seconds=lifetime)).strftime(ISO)
        if doc.get("refresh", True):
            client = new_name_id(22, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
            secret = secrets.token_urlsafe(96)
            expires = now + datetime.timedelta(seconds=registration)
            clients(server.store)[client] = {"secret": secret, "expires": expires}
            out.update({"clientId": client, "clientSecret": secret, "registrationExpiresAt": expires.strftime(ISO),
                        "refreshToken": new_refresh_token(server.store, client, user, lifetime, role_lifetime)})
    return 200, out


control.register("POST", "/_fake/sso/login", _control_login)
