"""KMS: symmetric keys (CreateKey, DescribeKey) and data keys (GenerateDataKey,
Decrypt). A ciphertext blob names its key and is bound to its encryption
context: a different context, another key or a changed byte answers
InvalidCiphertextException / IncorrectKeyException, as KMS does. The
"encryption" is an HMAC-SHA256 keystream and tag: a test fixture, not a cipher
to rely on."""
import hashlib
import hmac
import json
import re
import secrets
import uuid

from ..errors import AWSError
from ..state import public
from . import Service

service = Service("kms")

_MAGIC = b"FAKEKMS1"
_KEY_ARN = re.compile(r"^arn:aws[-a-z]*:kms:[a-z0-9-]+:\d{12}:key/([0-9a-f-]{36})$")


def _keys(ctx):
    return ctx.store.table("kms", "key")


def _not_found(ref):
    return AWSError("NotFoundException", f"Key '{ref}' does not exist", 400)


def _key(ctx, ref):
    if ref.startswith("alias/") or ":alias/" in ref:
        raise AWSError("NotFoundException", f"Alias {ref} is not found.", 400)
    m = _KEY_ARN.match(ref)
    key_id = m.group(1) if m else ref
    if not re.fullmatch(r"[0-9a-f-]{36}", key_id):
        raise _not_found(ref)
    key = _keys(ctx).get(key_id)
    if key is None:
        raise _not_found(ref)
    return key


def _usable(key):
    if not key["KeyMetadata"]["Enabled"]:
        raise AWSError("DisabledException", f"{key['KeyMetadata']['Arn']} is disabled.", 400)


@service.op("CreateKey")
def create_key(ctx, p):
    spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    usage = p.get("KeyUsage", "ENCRYPT_DECRYPT")
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT" or p.get("Origin", "AWS_KMS") != "AWS_KMS" \
            or p.get("MultiRegion"):
        raise AWSError("NotImplemented", "fakeaws serves single-region SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys "
                                         "of origin AWS_KMS only (tests/fakeaws/fakeaws/services/kms.py)", 501)
    key_id = str(uuid.uuid4())
    meta = {
        "AWSAccountId": ctx.account,
        "KeyId": key_id,
        "Arn": ctx.arn("kms", f"key/{key_id}"),
        "CreationDate": ctx.now(),
        "Enabled": True,
        "Description": p.get("Description", ""),
        "KeyUsage": usage,
        "KeyState": "Enabled",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": spec,
        "KeySpec": spec,
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False,
    }
    _keys(ctx)[key_id] = {"KeyMetadata": meta, "Tags": [dict(t) for t in p.get("Tags") or []],
                          "_material": secrets.token_bytes(32)}
    return {"KeyMetadata": dict(meta)}


@service.op("DescribeKey")
def describe_key(ctx, p):
    return {"KeyMetadata": public(_key(ctx, p["KeyId"])["KeyMetadata"])}


def _context_bytes(context):
    return json.dumps(context or {}, sort_keys=True, separators=(",", ":")).encode()


def _stream(material, nonce, n):
    out = b""
    counter = 0
    while len(out) < n:
        out += hmac.new(material, b"stream" + nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1
    return out[:n]


def _seal(key, plaintext, context):
    nonce = secrets.token_bytes(16)
    body = bytes(a ^ b for a, b in zip(plaintext, _stream(key["_material"], nonce, len(plaintext))))
    head = _MAGIC + key["KeyMetadata"]["KeyId"].encode() + nonce
    tag = hmac.new(key["_material"], b"tag" + head + body + _context_bytes(context), hashlib.sha256).digest()
    return head + body + tag


@service.op("GenerateDataKey")
def generate_data_key(ctx, p):
    key = _key(ctx, p["KeyId"])
    _usable(key)
    if (p.get("KeySpec") is None) == (p.get("NumberOfBytes") is None):
        raise AWSError("ValidationException", "Please specify either number of bytes or key spec.", 400)
    n = p.get("NumberOfBytes") or {"AES_256": 32, "AES_128": 16}[p["KeySpec"]]
    plaintext = secrets.token_bytes(n)
    return {"CiphertextBlob": _seal(key, plaintext, p.get("EncryptionContext")), "Plaintext": plaintext,
            "KeyId": key["KeyMetadata"]["Arn"]}


@service.op("Decrypt")
def decrypt(ctx, p):
    blob = p["CiphertextBlob"]
    invalid = AWSError("InvalidCiphertextException", "", 400)
    if len(blob) < len(_MAGIC) + 36 + 16 + 32 or not blob.startswith(_MAGIC):
        raise invalid
    key_id = blob[len(_MAGIC):len(_MAGIC) + 36].decode("ascii", "replace")
    key = _keys(ctx).get(key_id)
    if key is None:
        raise invalid
    if p.get("KeyId") and _key(ctx, p["KeyId"]) is not key:
        raise AWSError("IncorrectKeyException", "The key ID in the request does not identify a CMK that can "
                                                "perform this operation.", 400)
    _usable(key)
    head_len = len(_MAGIC) + 36 + 16
    head, body, tag = blob[:head_len], blob[head_len:-32], blob[-32:]
    want = hmac.new(key["_material"], b"tag" + head + body + _context_bytes(p.get("EncryptionContext")),
                    hashlib.sha256).digest()
    if not hmac.compare_digest(tag, want):
        raise invalid
    nonce = head[-16:]
    plaintext = bytes(a ^ b for a, b in zip(body, _stream(key["_material"], nonce, len(body))))
    return {"KeyId": key["KeyMetadata"]["Arn"], "Plaintext": plaintext, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
