"""S3 (path-style addressing): buckets (CreateBucket, HeadBucket, DeleteBucket,
ListBuckets, PutBucketVersioning, GetBucketVersioning, and each bucket
configuration's Put/Get/Delete: tagging, encryption, public access block,
ownership controls, lifecycle, policy) and objects (PutObject, GetObject,
HeadObject, DeleteObject, DeleteObjects, ListObjectsV2, ListObjectVersions).

Buckets as S3 makes them today: SSE-S3 (AES256) encryption, all four public
access block flags on and BucketOwnerEnforced ownership from the start; a
bucket name is global, so another account's bucket answers CreateBucket
BucketAlreadyExists and every other call AccessDenied (POST
/_fake/s3/foreign-bucket {"name"} makes one).

Kept from S3: versions (Enabled: every write a new version, deletes leave
delete markers; Suspended and never-versioned buckets write the "null"
version), conditional writes (If-None-Match: * and If-Match: <etag> on
PutObject -> 412 PreconditionFailed; the headers are read raw because this
botocore's model predates them), conditional reads (If-Match 412,
If-None-Match 304, If-(Un)Modified-Since), Content-MD5 checks, byte ranges,
encoding-type=url, delimiters and common prefixes, small pages."""
import base64
import binascii
import datetime
import hashlib
import ipaddress
import re
import json
import urllib.parse

from .. import control
from ..errors import AWSError
from ..state import new_name_id
from . import Service

service = Service(
    "s3", s3_style=True, xml_namespace="http://s3.amazonaws.com/doc/2006-03-01/",
    xml_roots={"ListObjectsV2": "ListBucketResult", "ListObjectVersions": "ListVersionsResult",
               "GetBucketVersioning": "VersioningConfiguration", "GetBucketTagging": "Tagging",
               "GetBucketLifecycleConfiguration": "LifecycleConfiguration", "DeleteObjects": "DeleteResult"},
    ignored_query=("x-id",),
    codes={
        "missing": ("InvalidRequest", 400), "unknown": ("MalformedXML", 400), "invalid": ("InvalidArgument", 400),
        "malformed": ("MalformedXML", 400), "unknown_operation": ("NotImplemented", 501),
        "method_not_allowed": ("MethodNotAllowed", 405), "throttle": ("SlowDown", 503),
        "internal": ("InternalError", 500), "unavailable": ("ServiceUnavailable", 503),
        # SigV4 failures, in S3's own words
        "auth_missing": ("AccessDenied", 403), "auth_unknown_key": ("InvalidAccessKeyId", 403),
        "auth_token": ("InvalidToken", 400), "auth_signature": ("SignatureDoesNotMatch", 403),
        "auth_expired": ("RequestTimeTooSkewed", 403), "auth_malformed": ("AuthorizationHeaderMalformed", 400),
        "auth_payload": ("XAmzContentSHA256Mismatch", 400), "auth_expired_token": ("ExpiredToken", 400),
    })

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _buckets(ctx):
    return ctx.store.table("s3", "bucket")


def _objects(ctx):
    return ctx.store.table("s3", "object")


FOREIGN_ACCOUNT = "210987654321"     # the owner of the buckets /_fake/s3/foreign-bucket makes


def _bucket(ctx, name):
    bucket = _buckets(ctx).get(name)
    if bucket is None:
        raise AWSError("NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": name})
    if bucket.get("_owner", ctx.account) != ctx.account:
        raise AWSError("AccessDenied", "Access Denied", 403)
    return bucket


def _new_bucket(name, region, now, owner):
    return {"Name": name, "CreationDate": now.replace(microsecond=0), "Region": region, "Versioning": None,
            "_owner": owner,
            "Encryption": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                                      "BucketKeyEnabled": False}]},
            "PublicAccessBlock": {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                                  "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}


def _no_such_key(key):
    return AWSError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key})


# -- buckets ---------------------------------------------------------------------

@service.op("CreateBucket")
def create_bucket(ctx, p):
    name = p["Bucket"]
    valid = _BUCKET.match(name) and ".." not in name and ".-" not in name and "-." not in name
    try:
        ipaddress.ip_address(name)
        valid = False
    except ValueError:
        pass
    if not valid:
        raise AWSError("InvalidBucketName", "The specified bucket is not valid.", 400, fields={"BucketName": name})
    wanted = (p.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
    if ctx.region == "us-east-1":
        if wanted not in (None, ""):
            raise AWSError("InvalidLocationConstraint", "The specified location-constraint is not valid", 400)
    elif wanted != ctx.region:
        raise AWSError("IllegalLocationConstraintException",
                       f"The {wanted or 'unspecified'} location constraint is incompatible for the region "
                       "specific endpoint this request was sent to.", 400)
    if p.get("ObjectLockEnabledForBucket"):
        raise AWSError("NotImplemented", "fakeaws does not support S3 Object Lock", 501)
    if name in _buckets(ctx):
        if _buckets(ctx)[name].get("_owner", ctx.account) != ctx.account:
            raise AWSError("BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace "
                                                  "is shared by all users of the system. Please select a different "
                                                  "name and try again.", 409, fields={"BucketName": name})
        if ctx.region == "us-east-1":
            return {"Location": f"/{name}"}
        raise AWSError("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded "
                                                  "and you already own it.", 409, fields={"BucketName": name})
    if p.get("ObjectOwnership"):
        _check_ownership(p["ObjectOwnership"])
    bucket = _new_bucket(name, ctx.region, ctx.now(), ctx.account)
    if p.get("ObjectOwnership"):
        bucket["OwnershipControls"] = {"Rules": [{"ObjectOwnership": p["ObjectOwnership"]}]}
    _buckets(ctx)[name] = bucket
    return {"Location": f"/{name}" if ctx.region == "us-east-1" else f"http://{name}.s3.amazonaws.com/"}


@service.op("HeadBucket")
def head_bucket(ctx, p):
    _bucket(ctx, p["Bucket"])
    return {}


@service.op("DeleteBucket")
def delete_bucket(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    if any(o["Bucket"] == bucket["Name"] for o in _objects(ctx).values()):
        raise AWSError("BucketNotEmpty", "The bucket you tried to delete is not empty", 409,
                       fields={"BucketName": bucket["Name"]})
    del _buckets(ctx)[bucket["Name"]]
    return {}


@service.op("PutBucketVersioning")
def put_bucket_versioning(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    conf = p["VersioningConfiguration"]
    if conf.get("MFADelete") == "Enabled" or p.get("MFA"):
        raise AWSError("NotImplemented", "fakeaws does not support MFA delete", 501)
    if conf.get("Status") not in ("Enabled", "Suspended"):
        raise AWSError("IllegalVersioningConfigurationException",
                       "The Versioning element must be specified", 400)
    _check_md5(ctx, required=True)
    bucket["Versioning"] = conf["Status"]
    return {}


@service.op("GetBucketVersioning")
def get_bucket_versioning(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    return {"Status": bucket["Versioning"]} if bucket["Versioning"] else {}


@service.op("ListBuckets")
def list_buckets(ctx, p):
    mine = sorted((b for b in _buckets(ctx).values() if b.get("_owner", ctx.account) == ctx.account),
                  key=lambda b: b["Name"])
    return {"Buckets": [{"Name": b["Name"], "CreationDate": b["CreationDate"]} for b in mine], "Owner": _owner(ctx)}


# -- bucket configurations: each held whole, as S3 does (a Put replaces it) ----------

def _config(ctx, p, name, code, message):
    bucket = _bucket(ctx, p["Bucket"])
    if bucket.get(name) is None:
        raise AWSError(code, message, 404, fields={"BucketName": bucket["Name"]})
    return bucket[name]


@service.op("PutBucketTagging")
def put_bucket_tagging(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    _check_md5(ctx, required=True)
    tags = p["Tagging"]["TagSet"]
    keys = [t["Key"] for t in tags]
    if len(set(keys)) != len(keys):
        raise AWSError("InvalidTag", "Cannot provide multiple Tags with the same key", 400)
    if len(tags) > 50:
        raise AWSError("BadRequest", "Object tags cannot be greater than 50", 400)
    for t in tags:
        if t["Key"].lower().startswith("aws:"):
            raise AWSError("InvalidTag", "System tags cannot be added/updated by requester", 400)
    bucket["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in tags]
    if not tags:
        bucket.pop("Tags")
    return {}


@service.op("GetBucketTagging")
def get_bucket_tagging(ctx, p):
    return {"TagSet": _config(ctx, p, "Tags", "NoSuchTagSet", "The TagSet does not exist")}


@service.op("DeleteBucketTagging")
def delete_bucket_tagging(ctx, p):
    _bucket(ctx, p["Bucket"]).pop("Tags", None)
    return {}


@service.op("PutBucketEncryption")
def put_bucket_encryption(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    _check_md5(ctx, required=True)
    rules = p["ServerSideEncryptionConfiguration"]["Rules"]
    if len(rules) != 1:
        raise AWSError("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                                       "published schema", 400)
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = default.get("SSEAlgorithm")
    if algorithm not in ("AES256", "aws:kms", "aws:kms:dsse"):
        raise AWSError("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                                       "published schema", 400)
    if default.get("KMSMasterKeyID") and algorithm == "AES256":
        raise AWSError("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                                          "aws:kms or aws:kms:dsse", 400)
    rule = {"ApplyServerSideEncryptionByDefault": {k: v for k, v in default.items() if v is not None},
            "BucketKeyEnabled": bool(rules[0].get("BucketKeyEnabled"))}
    bucket["Encryption"] = {"Rules": [rule]}
    return {}


@service.op("GetBucketEncryption")
def get_bucket_encryption(ctx, p):
    return {"ServerSideEncryptionConfiguration": _config(
        ctx, p, "Encryption", "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found")}


@service.op("DeleteBucketEncryption")
def delete_bucket_encryption(ctx, p):
    # every bucket is encrypted: deleting the configuration brings back SSE-S3
    bucket = _bucket(ctx, p["Bucket"])
    bucket["Encryption"] = _new_bucket(bucket["Name"], bucket["Region"], bucket["CreationDate"], None)["Encryption"]
    return {}


@service.op("PutPublicAccessBlock")
def put_public_access_block(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    _check_md5(ctx, required=True)
    conf = p["PublicAccessBlockConfiguration"]
    bucket["PublicAccessBlock"] = {k: bool(conf.get(k)) for k in
                                   ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                    "RestrictPublicBuckets")}
    return {}


@service.op("GetPublicAccessBlock")
def get_public_access_block(ctx, p):
    return {"PublicAccessBlockConfiguration": _config(
        ctx, p, "PublicAccessBlock", "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found")}


@service.op("DeletePublicAccessBlock")
def delete_public_access_block(ctx, p):
    _bucket(ctx, p["Bucket"]).pop("PublicAccessBlock", None)
    return {}


def _check_ownership(value):
    if value not in ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"):
        raise AWSError("InvalidArgument", f"Invalid x-amz-object-ownership header: {value}", 400)


@service.op("PutBucketOwnershipControls")
def put_bucket_ownership_controls(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    _check_md5(ctx, required=True)
    rules = p["OwnershipControls"]["Rules"]
    if len(rules) != 1:
        raise AWSError("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                                       "published schema", 400)
    _check_ownership(rules[0]["ObjectOwnership"])
    bucket["OwnershipControls"] = {"Rules": [{"ObjectOwnership": rules[0]["ObjectOwnership"]}]}
    return {}


@service.op("GetBucketOwnershipControls")
def get_bucket_ownership_controls(ctx, p):
    return {"OwnershipControls": _config(ctx, p, "OwnershipControls", "OwnershipControlsNotFoundError",
                                         "The bucket ownership controls were not found")}


@service.op("DeleteBucketOwnershipControls")
def delete_bucket_ownership_controls(ctx, p):
    _bucket(ctx, p["Bucket"]).pop("OwnershipControls", None)
    return {}


_LIFECYCLE_ACTIONS = ("Expiration", "Transitions", "NoncurrentVersionTransitions", "NoncurrentVersionExpiration",
                      "AbortIncompleteMultipartUpload")


@service.op("PutBucketLifecycleConfiguration")
def put_bucket_lifecycle_configuration(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    _check_md5(ctx, required=True)
    rules = (p.get("LifecycleConfiguration") or {}).get("Rules") or []
    if not rules:
        raise AWSError("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                                       "published schema", 400)
    ids = [r.get("ID") for r in rules if r.get("ID")]
    if len(set(ids)) != len(ids):
        raise AWSError("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule", 400)
    for r in rules:
        if r.get("Filter") is None and r.get("Prefix") is None:
            raise AWSError("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                                           "our published schema", 400)
        if not any(r.get(a) for a in _LIFECYCLE_ACTIONS):
            raise AWSError("InvalidRequest", "At least one action needs to be specified in a rule", 400)
        for member, field in (("NoncurrentVersionExpiration", "NoncurrentDays"),
                              ("AbortIncompleteMultipartUpload", "DaysAfterInitiation")):
            days = (r.get(member) or {}).get(field)
            if days is not None and days <= 0:
                raise AWSError("InvalidArgument", f"'{field}' in the {member} action for filter must be a positive "
                                                  "integer", 400)
    bucket["Lifecycle"] = [json.loads(json.dumps(r, default=str)) for r in rules]
    return {}


@service.op("GetBucketLifecycleConfiguration")
def get_bucket_lifecycle_configuration(ctx, p):
    return {"Rules": _config(ctx, p, "Lifecycle", "NoSuchLifecycleConfiguration",
                             "The lifecycle configuration does not exist")}


@service.op("DeleteBucketLifecycle")
def delete_bucket_lifecycle(ctx, p):
    _bucket(ctx, p["Bucket"]).pop("Lifecycle", None)
    return {}


def _malformed_policy(why):
    return AWSError("MalformedPolicy", why, 400)


@service.op("PutBucketPolicy")
def put_bucket_policy(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    _check_md5(ctx, required=True)
    text = p["Policy"]
    try:
        doc = json.loads(text)
    except ValueError:
        raise _malformed_policy("Policies must be valid JSON and the first byte must be '{'") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), (list, dict)):
        raise _malformed_policy("Missing required field Statement")
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise _malformed_policy("Invalid effect")
        if "Action" not in st and "NotAction" not in st:
            raise _malformed_policy("Missing required field Action")
        if "Principal" not in st and "NotPrincipal" not in st:
            raise _malformed_policy("Missing required field Principal")
        resources = st.get("Resource", st.get("NotResource"))
        resources = resources if isinstance(resources, list) else [resources]
        for r in resources:
            if not isinstance(r, str) or not (r == f"arn:aws:s3:::{bucket['Name']}" or
                                              r.startswith(f"arn:aws:s3:::{bucket['Name']}/")):
                raise _malformed_policy("Policy has invalid resource")
    if bucket.get("PublicAccessBlock", {}) and bucket["PublicAccessBlock"].get("BlockPublicPolicy") and \
            any(st.get("Effect") == "Allow" and st.get("Principal") in ("*", {"AWS": "*"}) and not st.get("Condition")
                for st in statements):
        raise AWSError("AccessDenied", "Access Denied", 403)
    # S3 keeps the document as given (its own whitespace and key order)
    bucket["Policy"] = text
    return {}


@service.op("GetBucketPolicy")
def get_bucket_policy(ctx, p):
    return {"Policy": _config(ctx, p, "Policy", "NoSuchBucketPolicy", "The bucket policy does not exist")}


@service.op("DeleteBucketPolicy")
def delete_bucket_policy(ctx, p):
    _bucket(ctx, p["Bucket"]).pop("Policy", None)
    return {}


def _control_foreign_bucket(server, req):
    """POST /_fake/s3/foreign-bucket {"name"}: a bucket of that name owned by another account."""
    try:
        doc = json.loads(req.body or b"{}")
        if not isinstance(doc, dict) or set(doc) != {"name"} or not isinstance(doc["name"], str):
            raise ValueError("expected {\"name\": bucket name}")
    except ValueError as e:
        return 400, {"error": str(e)}
    with server.store.lock:
        table = server.store.table("s3", "bucket")
        if doc["name"] in table:
            return 409, {"error": f"bucket {doc['name']} exists"}
        table[doc["name"]] = _new_bucket(doc["name"], "us-east-1", datetime.datetime(2020, 1, 1), FOREIGN_ACCOUNT)
    return 200, {"name": doc["name"], "owner": FOREIGN_ACCOUNT}


control.register("POST", "/_fake/s3/foreign-bucket", _control_foreign_bucket)


# -- objects -----------------------------------------------------------------------

def _check_md5(ctx, required=False):
    given = ctx.headers.get("Content-MD5")
    if given is None:
        if required:
            raise AWSError("InvalidRequest", "Missing required header for this request: Content-MD5", 400)
        return
    try:
        digest = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise AWSError("InvalidDigest", "The Content-MD5 you specified was invalid.", 400)
    if digest != hashlib.md5(ctx.request.body).digest():
        raise AWSError("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)


def _versions(ctx, bucket, key):
    obj = _objects(ctx).get(f"{bucket}/{key}")
    return obj["Versions"] if obj else []


def _latest(ctx, bucket, key):
    versions = _versions(ctx, bucket, key)
    return versions[-1] if versions else None


def _new_version_id(bucket):
    return new_name_id(32, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._") \
        if bucket["Versioning"] == "Enabled" else "null"


def _write_version(ctx, bucket, key, version):
    table = _objects(ctx)
    obj = table.setdefault(f"{bucket['Name']}/{key}", {"Bucket": bucket["Name"], "Key": key, "Versions": []})
    if version["VersionId"] == "null":
        obj["Versions"] = [v for v in obj["Versions"] if v["VersionId"] != "null"]
    obj["Versions"].append(version)


def _precondition(header):
    return AWSError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412,
                    fields={"Condition": header})


@service.op("PutObject")
def put_object(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    key = p["Key"]
    body = p.get("Body") or b""
    _check_md5(ctx)
    if p.get("SSECustomerKey") or p.get("ObjectLockMode"):
        raise AWSError("NotImplemented", "fakeaws does not support SSE-C or Object Lock", 501)
    current = _latest(ctx, bucket["Name"], key)
    live = current is not None and not current.get("IsDeleteMarker")
    if_none = ctx.headers.get("If-None-Match")
    if if_none is not None:
        if if_none.strip() != "*":
            raise AWSError("NotImplemented", "A header you provided implies functionality that is not "
                                             "implemented: If-None-Match accepts only *", 501)
        if live:
            raise _precondition("If-None-Match")
    if_match = ctx.headers.get("If-Match")
    if if_match is not None:
        if not live:
            raise _no_such_key(key)
        if if_match.strip() not in (current["ETag"], "*"):
            raise _precondition("If-Match")
    version = {
        "VersionId": _new_version_id(bucket),
        "ETag": '"' + hashlib.md5(body).hexdigest() + '"',
        "Size": len(body),
        "LastModified": ctx.now().replace(microsecond=0),
        "ContentType": p.get("ContentType") or "binary/octet-stream",
        "Metadata": dict(p.get("Metadata") or {}),
        "_body": bytes(body),
    }
    for name in ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                 "ServerSideEncryption", "SSEKMSKeyId", "StorageClass"):
        if p.get(name) is not None:
            version[name] = p[name]
    _write_version(ctx, bucket, key, version)
    out = {"ETag": version["ETag"]}
    if bucket["Versioning"]:
        out["VersionId"] = version["VersionId"]
    if version.get("ServerSideEncryption"):
        out["ServerSideEncryption"] = version["ServerSideEncryption"]
    return out


def _read(ctx, p, head):
    bucket = _bucket(ctx, p["Bucket"])
    key = p["Key"]
    if p.get("PartNumber") or p.get("SSECustomerKey"):
        raise AWSError("NotImplemented", "fakeaws does not support PartNumber or SSE-C reads", 501)
    versions = _versions(ctx, bucket["Name"], key)
    if p.get("VersionId"):
        found = [v for v in versions if v["VersionId"] == p["VersionId"]]
        if not found:
            if not versions:
                raise _no_such_key(key)
            raise AWSError("NoSuchVersion", "The specified version does not exist.", 404,
                           fields={"Key": key, "VersionId": p["VersionId"]})
        version = found[0]
        if version.get("IsDeleteMarker"):
            raise AWSError("MethodNotAllowed", "The specified method is not allowed against this resource.",
                           405, headers={"x-amz-delete-marker": "true", "x-amz-version-id": version["VersionId"]})
    else:
        version = versions[-1] if versions else None
        if version is None or version.get("IsDeleteMarker"):
            headers = {"x-amz-delete-marker": "true", "x-amz-version-id": version["VersionId"]} if version else {}
            raise AWSError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key},
                           headers=headers)
    etag, modified = version["ETag"], version["LastModified"]
    if p.get("IfMatch") is not None and p["IfMatch"].strip() not in (etag, "*"):
        raise _precondition("If-Match")
    if p.get("IfUnmodifiedSince") is not None and modified > p["IfUnmodifiedSince"]:
        raise _precondition("If-Unmodified-Since")
    if p.get("IfNoneMatch") is not None and p["IfNoneMatch"].strip() in (etag, "*"):
        raise AWSError("NotModified", "Not Modified", 304, headers={"ETag": etag})
    if p.get("IfModifiedSince") is not None and modified <= p["IfModifiedSince"]:
        raise AWSError("NotModified", "Not Modified", 304, headers={"ETag": etag})
    out = {"ETag": etag, "LastModified": modified, "ContentLength": version["Size"],
           "ContentType": version["ContentType"], "AcceptRanges": "bytes"}
    if version["Metadata"]:
        out["Metadata"] = dict(version["Metadata"])
    for name in ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                 "ServerSideEncryption", "SSEKMSKeyId"):
        if version.get(name) is not None:
            out[name] = version[name]
    if version.get("StorageClass") not in (None, "STANDARD"):
        out["StorageClass"] = version["StorageClass"]
    if bucket["Versioning"] or version["VersionId"] != "null":
        out["VersionId"] = version["VersionId"]
    body = version["_body"]
    if p.get("Range") and not head:
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", p["Range"].strip())
        if not m or (not m.group(1) and not m.group(2)):
            raise AWSError("InvalidRange", "The requested range is not satisfiable", 416)
        size = len(body)
        if m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        else:
            start, end = max(size - int(m.group(2)), 0), size - 1
        if start >= size or start > end:
            raise AWSError("InvalidRange", "The requested range is not satisfiable", 416,
                           fields={"ActualObjectSize": size})
        body = body[start:end + 1]
        out["ContentRange"] = f"bytes {start}-{end}/{size}"
        out["ContentLength"] = len(body)
        out["StatusCode"] = 206
    if not head:
        out["Body"] = body
    return out


@service.op("GetObject")
def get_object(ctx, p):
    out = _read(ctx, p, head=False)
    if out.pop("StatusCode", None):
        ctx.status = 206
    return out


@service.op("HeadObject")
def head_object(ctx, p):
    return _read(ctx, p, head=True)


@service.op("DeleteObject")
def delete_object(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    key = p["Key"]
    table = _objects(ctx)
    obj = table.get(f"{bucket['Name']}/{key}")
    if p.get("VersionId"):
        if obj is None:
            return {"VersionId": p["VersionId"]}
        gone = [v for v in obj["Versions"] if v["VersionId"] == p["VersionId"]]
        obj["Versions"] = [v for v in obj["Versions"] if v["VersionId"] != p["VersionId"]]
        if not obj["Versions"]:
            del table[f"{bucket['Name']}/{key}"]
        out = {"VersionId": p["VersionId"]}
        if gone and gone[0].get("IsDeleteMarker"):
            out["DeleteMarker"] = True
        return out
    if not bucket["Versioning"]:
        if obj is not None:
            del table[f"{bucket['Name']}/{key}"]
        return {}
    marker = {"VersionId": _new_version_id(bucket), "IsDeleteMarker": True,
              "LastModified": ctx.now().replace(microsecond=0)}
    _write_version(ctx, bucket, key, marker)
    return {"DeleteMarker": True, "VersionId": marker["VersionId"]}


@service.op("DeleteObjects")
def delete_objects(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    _check_md5(ctx, required=True)
    wanted = p["Delete"]["Objects"]
    if len(wanted) > 1000:
        raise AWSError("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                                       "published schema", 400)
    deleted = []
    for o in wanted:
        one = {"Bucket": bucket["Name"], "Key": o["Key"]}
        if o.get("VersionId"):
            one["VersionId"] = o["VersionId"]
        out = delete_object(ctx, one)
        entry = {"Key": o["Key"]}
        if o.get("VersionId"):
            entry["VersionId"] = o["VersionId"]
        if out.get("DeleteMarker"):
            entry["DeleteMarker"] = True
            if not o.get("VersionId"):
                entry["DeleteMarkerVersionId"] = out["VersionId"]
        deleted.append(entry)
    return {} if p["Delete"].get("Quiet") else {"Deleted": deleted}


def _url(text, encoding):
    return urllib.parse.quote(text, safe="/") if encoding == "url" and text is not None else text


def _owner(ctx):
    return {"DisplayName": "fakeaws", "ID": hashlib.sha256(ctx.account.encode()).hexdigest()}


def _entries(ctx, bucket, prefix, delimiter, after):
    """Sorted [(name, kind, obj)] under prefix after `after`: kind "key" or "prefix"."""
    out = {}
    for obj in _objects(ctx).values():
        key = obj["Key"]
        if obj["Bucket"] != bucket or not key.startswith(prefix) or (after is not None and key <= after):
            continue
        rest = key[len(prefix):]
        if delimiter and delimiter in rest:
            common = prefix + rest[:rest.index(delimiter) + len(delimiter)]
            if after is None or common > after:
                out.setdefault(common, ("prefix", None))
        else:
            out[key] = ("key", obj)
    return sorted((name, kind, obj) for name, (kind, obj) in out.items())


def _max_keys(ctx, p):
    wanted = p.get("MaxKeys", 1000)
    if wanted < 0:
        raise AWSError("InvalidArgument", "max-keys cannot be negative", 400)
    return wanted, min(wanted, ctx.server.page_size)


@service.op("ListObjectsV2")
def list_objects_v2(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    prefix, delimiter, enc = p.get("Prefix", ""), p.get("Delimiter"), p.get("EncodingType")
    wanted, size = _max_keys(ctx, p)
    after = p.get("StartAfter")
    if p.get("ContinuationToken"):
        try:
            after = base64.urlsafe_b64decode(p["ContinuationToken"].encode()).decode()
        except (binascii.Error, ValueError):
            raise AWSError("InvalidArgument", "The continuation token provided is incorrect", 400) from None
    entries = []
    for name, kind, obj in _entries(ctx, bucket["Name"], prefix, delimiter, after):
        if kind == "key" and obj["Versions"][-1].get("IsDeleteMarker"):
            continue
        entries.append((name, kind, obj))
    page = entries[:size]
    out = {"Name": bucket["Name"], "Prefix": _url(prefix, enc), "MaxKeys": wanted, "KeyCount": len(page),
           "IsTruncated": len(entries) > size}
    contents, commons = [], []
    for name, kind, obj in page:
        if kind == "prefix":
            commons.append({"Prefix": _url(name, enc)})
            continue
        v = obj["Versions"][-1]
        item = {"Key": _url(name, enc), "LastModified": v["LastModified"], "ETag": v["ETag"], "Size": v["Size"],
                "StorageClass": v.get("StorageClass", "STANDARD")}
        if p.get("FetchOwner"):
            item["Owner"] = _owner(ctx)
        contents.append(item)
    if contents:
        out["Contents"] = contents
    if commons:
        out["CommonPrefixes"] = commons
    if delimiter:
        out["Delimiter"] = _url(delimiter, enc)
    if enc:
        out["EncodingType"] = enc
    if p.get("ContinuationToken"):
        out["ContinuationToken"] = p["ContinuationToken"]
    if p.get("StartAfter"):
        out["StartAfter"] = _url(p["StartAfter"], enc)
    if len(entries) > size:
        out["NextContinuationToken"] = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
    return out


@service.op("ListObjectVersions")
def list_object_versions(ctx, p):
    bucket = _bucket(ctx, p["Bucket"])
    prefix, delimiter, enc = p.get("Prefix", ""), p.get("Delimiter"), p.get("EncodingType")
    wanted, size = _max_keys(ctx, p)
    key_marker, vid_marker = p.get("KeyMarker"), p.get("VersionIdMarker")
    if vid_marker and not key_marker:
        raise AWSError("InvalidArgument", "A version-id marker cannot be specified without a key marker.", 400)
    rows = []
    for name, kind, obj in _entries(ctx, bucket["Name"], prefix, delimiter, None):
        if kind == "prefix":
            rows.append((name, None, None, None))
            continue
        newest_first = list(reversed(obj["Versions"]))
        for i, v in enumerate(newest_first):
            rows.append((name, v["VersionId"], v, i == 0))
    if key_marker is not None:
        if vid_marker:
            idx = next((i for i, r in enumerate(rows) if r[0] == key_marker and r[1] == vid_marker), None)
            if idx is None:
                raise AWSError("InvalidArgument", "Invalid version id specified", 400)
            rows = rows[idx + 1:]
        else:
            rows = [r for r in rows if r[0] > key_marker]
    page = rows[:size]
    out = {"Name": bucket["Name"], "Prefix": _url(prefix, enc), "MaxKeys": wanted,
           "IsTruncated": len(rows) > size, "KeyMarker": _url(key_marker or "", enc),
           "VersionIdMarker": vid_marker or ""}
    versions, markers, commons = [], [], []
    for name, vid, v, latest in page:
        if v is None:
            commons.append({"Prefix": _url(name, enc)})
        elif v.get("IsDeleteMarker"):
            markers.append({"Owner": _owner(ctx), "Key": _url(name, enc), "VersionId": vid, "IsLatest": latest,
                            "LastModified": v["LastModified"]})
        else:
            versions.append({"ETag": v["ETag"], "Size": v["Size"], "StorageClass": v.get("StorageClass", "STANDARD"),
                             "Key": _url(name, enc), "VersionId": vid, "IsLatest": latest,
                             "LastModified": v["LastModified"], "Owner": _owner(ctx)})
    if versions:
        out["Versions"] = versions
    if markers:
        out["DeleteMarkers"] = markers
    if commons:
        out["CommonPrefixes"] = commons
    if delimiter:
        out["Delimiter"] = _url(delimiter, enc)
    if enc:
        out["EncodingType"] = enc
    if len(rows) > size:
        last = page[-1]
        out["NextKeyMarker"] = _url(last[0], enc)
        if last[1] is not None:
            out["NextVersionIdMarker"] = last[1]
    return out
