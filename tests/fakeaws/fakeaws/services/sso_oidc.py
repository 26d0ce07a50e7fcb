"""IAM Identity Center's OIDC service (SSO OIDC, rest-json, served unsigned as
AWS does): CreateToken with grantType refresh_token — what the SDKs call to
renew an expired access token from the refresh token and client registration
`aws sso login` cached (see sso.py's /_fake/sso/login). The refresh token is
rotated: the answer carries a new one and the old one stops working.
Errors as the service answers them: InvalidClientException (unknown client,
wrong secret, expired registration), InvalidGrantException (unknown or used
refresh token), UnsupportedGrantTypeException (the device-code and
authorization-code grants need a browser; fakeaws does not serve them)."""
from . import Service
from .sso import clients, new_access_token, new_refresh_token, refresh_tokens

service = Service("sso-oidc")


def _fault(shape, error, description):
    return service.fault(shape, description, error=error, error_description=description)


@service.op("CreateToken")
def create_token(ctx, p):
    if p["grantType"] != "refresh_token":
        raise _fault("UnsupportedGrantTypeException", "unsupported_grant_type",
                     f"fakeaws serves only the refresh_token grant, not {p['grantType']}")
    now = ctx.now().replace(microsecond=0)
    client = clients(ctx.store).get(p["clientId"])
    if client is None or client["secret"] != p["clientSecret"]:
        raise _fault("InvalidClientException", "invalid_client", "Invalid client credentials")
    if now >= client["expires"]:
        raise _fault("InvalidClientException", "invalid_client", "The client registration has expired")
    grant = refresh_tokens(ctx.store).get(p.get("refreshToken") or "")
    if grant is None or grant["client"] != p["clientId"]:
        raise _fault("InvalidGrantException", "invalid_grant", "Invalid refresh token provided")
    del refresh_tokens(ctx.store)[p["refreshToken"]]
    lifetime = grant["lifetime"] if grant["lifetime"] > 0 else 3600    # a login made expired refreshes to 1 h
    return {
        "accessToken": new_access_token(ctx.store, now, grant["user"], lifetime, grant["role_lifetime"]),
        "tokenType": "Bearer",
        "expiresIn": lifetime,
        "refreshToken": new_refresh_token(ctx.store, p["clientId"], grant["user"], lifetime,
                                          grant["role_lifetime"]),
    }
