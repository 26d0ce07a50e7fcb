#!/usr/bin/python3
"""A bearer-token service for docker-registry's token auth, as Docker Hub's
auth.docker.io: the tests' registry trusts its certificate and sends clients
here with a WWW-Authenticate: Bearer challenge. Listens on 127.0.0.1 only.

    /usr/bin/python3 tests/servers/oci_token.py DIR USER PASSWORD

Makes an RSA key and a self-signed certificate (DIR/token.crt, the
registry's rootcertbundle), prints "PORT=<n> PID=<pid>" and serves until
killed:
  GET /token?service=S&scope=repository:NAME:pull,push...   with Basic USER:PASSWORD
      -> 200 {"token", "access_token", "expires_in"}: a JWT (RS256, kid as libtrust
      derives it from the key) granting what was asked; 401 for other credentials;
      no credentials get pull only (anonymous pulls, as Docker Hub)
  GET /count -> {"tokens": n, "scopes": [every scope string asked, in order]}
Needs python3-cryptography (Debian).
"""
import base64
import datetime
import hashlib
import json
import os
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "wpo-test-token"
SERVICE = "wpo-test-registry"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(public_key):
    """libtrust's key id: base32 of the first 240 bits of sha256(DER SPKI), in groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def main():
    directory, user, password = sys.argv[1:4]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(directory, "token.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    kid = key_id(key.public_key())
    issued = {"tokens": 0, "scopes": []}
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/count":
                return self.answer(200, issued)
            if url.path != "/token":
                return self.answer(404, {"error": "not found"})
            auth = self.headers.get("Authorization")
            if auth is not None and not secrets.compare_digest(auth, expected):
                return self.answer(401, {"details": "incorrect username or password"})
            q = parse_qs(url.query)
            access = []
            for scope in q.get("scope", []):
                issued["scopes"].append(scope)
                for one in scope.split(" "):
                    kind, _, rest = one.partition(":")
                    repo, _, actions = rest.rpartition(":")
                    granted = [a for a in actions.split(",") if a and (auth is not None or a == "pull")]
                    access.append({"type": kind, "name": repo, "actions": granted})
            t = int(time.time())
            header = {"typ": "JWT", "alg": "RS256", "kid": kid}
            claims = {"iss": ISSUER, "sub": user if auth else "", "aud": q.get("service", [SERVICE])[0],
                      "exp": t + 300, "nbf": t - 10, "iat": t, "jti": secrets.token_hex(8), "access": access}
            signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
            signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            token = signing_input + "." + b64url(signature)
            issued["tokens"] += 1
            self.answer(200, {"token": token, "access_token": token, "expires_in": 300})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT={server.server_address[1]} PID={os.getpid()}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
