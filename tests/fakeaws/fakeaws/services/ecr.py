"""ECR: repositories (CreateRepository, DescribeRepositories, DeleteRepository,
PutImageScanningConfiguration, PutImageTagMutability), their tags
(TagResource, UntagResource, ListTagsForResource), lifecycle policies
(PutLifecyclePolicy, GetLifecyclePolicy, DeleteLifecyclePolicy) and images
(PutImage, DescribeImages, ListImages, BatchDeleteImage), and registry logins
(GetAuthorizationToken: base64 "AWS:<password>", valid 12 hours).

A test that runs a real registry (Debian's docker-registry with basic auth)
in place of ECR's makes GetAuthorizationToken hand out that registry's
password and address with the control call
  POST /_fake/ecr/authorization {"password": "...", "proxy_endpoint": "http://127.0.0.1:PORT"}
({} goes back to a fresh random password per call and ECR's own endpoint);
  GET  /_fake/ecr/authorization -> {"proxy_endpoint", "password_set"} (never the password).
Every password handed out is listed by GET /_fake/secrets.

Repository names follow ECR's grammar (lower-case path segments); encryption
is chosen at creation and never changes; a KMS key given by id or ARN must
exist in fakeaws's KMS. A lifecycle policy is checked as ECR does: rules with
unique priorities, a tagged rule needs tagPrefixList, sinceImagePushed needs
countUnit days, and a rule for tagStatus "any" must come last. An image is a
manifest (its digest is the manifest's sha256); a tag moves between images of
a MUTABLE repository and may never move in an IMMUTABLE one. Deleting a
repository that holds images needs force=true (RepositoryNotEmptyException)."""
import base64
import datetime
import hashlib
import json
import re
import secrets

from .. import control
from ..errors import AWSError
from ..state import public, tag_dict, tag_list
from . import Service

service = Service("ecr")

_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_ARN = re.compile(r"^arn:aws[-a-z]*:ecr:([a-z0-9-]+):(\d{12}):repository/(.+)$")
_KMS_ID = re.compile(r"^(?:arn:aws[-a-z]*:kms:[a-z0-9-]+:\d{12}:key/)?([0-9a-f-]{36})$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$")


def _repos(ctx):
    return ctx.store.table("ecr", "repository")


def _invalid(message):
    return service.fault("InvalidParameterException", message)


def _not_found(ctx, name):
    return service.fault("RepositoryNotFoundException",
                         f"The repository with name '{name}' does not exist in the registry with id "
                         f"'{ctx.account}'")


def _repo(ctx, name, registry_id=None):
    if registry_id and registry_id != ctx.account:
        raise _not_found(ctx, name)
    repo = _repos(ctx).get(name)
    if repo is None:
        raise _not_found(ctx, name)
    return repo


def _by_arn(ctx, arn):
    m = _ARN.match(arn)
    if not m:
        raise _invalid(f"Invalid parameter at 'resourceArn' failed to satisfy constraint: "
                       f"'Invalid ARN {arn}'")
    if m.group(2) != ctx.account or m.group(1) != ctx.region:
        raise _not_found(ctx, m.group(3))
    return _repo(ctx, m.group(3))


def _check_tags(tags):
    keys = [t.get("Key") for t in tags]
    if any(not k for k in keys):
        raise service.fault("InvalidTagParameterException", "Tag keys must not be empty")
    if any(k.lower().startswith("aws:") for k in keys):
        raise service.fault("InvalidTagParameterException", "Tag keys may not start with 'aws:'")


def _set_tags(repo, tags):
    current = tag_dict(repo["Tags"])
    for t in tags:
        current[t["Key"]] = t.get("Value", "")
    if len(current) > 50:
        raise service.fault("TooManyTagsException", "A repository can carry at most 50 tags")
    repo["Tags"] = tag_list(current)


def _view(repo):
    out = public(repo)
    del out["Tags"]       # kept for the state dump; ECR answers tags through ListTagsForResource only
    return out


@service.op("CreateRepository")
def create_repository(ctx, p):
    name = p["repositoryName"]
    if p.get("registryId") and p["registryId"] != ctx.account:
        raise _invalid(f"Invalid registry id {p['registryId']}")
    if not (2 <= len(name) <= 256) or not _NAME.match(name):
        raise _invalid(f"Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy "
                       f"regular expression '{_NAME.pattern}''")
    if name in _repos(ctx):
        raise service.fault("RepositoryAlreadyExistsException",
                            f"The repository with name '{name}' already exists in the registry with id "
                            f"'{ctx.account}'")
    enc = dict(p.get("encryptionConfiguration") or {"encryptionType": "AES256"})
    if enc["encryptionType"] == "AES256" and enc.get("kmsKey"):
        raise _invalid("kmsKey can only be given with encryptionType KMS")
    if enc["encryptionType"] == "KMS":
        key = enc.get("kmsKey")
        if key:
            m = _KMS_ID.match(key)
            if not m or m.group(1) not in ctx.store.table("kms", "key"):
                raise service.fault("KmsException", f"The KMS key {key} does not exist or is not accessible")
            enc["kmsKey"] = ctx.store.table("kms", "key")[m.group(1)]["KeyMetadata"]["Arn"]
        else:
            enc["kmsKey"] = ctx.arn("kms", "alias/aws/ecr")
    tags = [dict(t) for t in p.get("tags") or []]
    _check_tags(tags)
    repo = {
        "repositoryArn": ctx.arn("ecr", f"repository/{name}"),
        "registryId": ctx.account,
        "repositoryName": name,
        "repositoryUri": f"{ctx.account}.dkr.ecr.{ctx.region}.amazonaws.com/{name}",
        "createdAt": ctx.now().replace(microsecond=0),
        "imageTagMutability": p.get("imageTagMutability", "MUTABLE"),
        "imageScanningConfiguration": dict(p.get("imageScanningConfiguration") or {"scanOnPush": False}),
        "encryptionConfiguration": enc,
        "Tags": [],
        "_policy": None,
        "_images": {},
    }
    _set_tags(repo, tags)
    _repos(ctx)[name] = repo
    return {"repository": _view(repo)}


@service.op("DescribeRepositories")
def describe_repositories(ctx, p):
    if p.get("repositoryNames"):
        if p.get("nextToken") or p.get("maxResults"):
            raise _invalid("nextToken and maxResults cannot be used with repositoryNames")
        return {"repositories": [_view(_repo(ctx, n, p.get("registryId"))) for n in p["repositoryNames"]]}
    if p.get("registryId") and p["registryId"] != ctx.account:
        return {"repositories": []}
    page, token = ctx.page(list(_repos(ctx).values()), key=lambda r: r["repositoryName"],
                           token=p.get("nextToken"), limit=p.get("maxResults"),
                           token_error=("InvalidParameterException", 400))
    out = {"repositories": [_view(r) for r in page]}
    if token:
        out["nextToken"] = token
    return out


@service.op("DeleteRepository")
def delete_repository(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    if repo["_images"] and not p.get("force"):
        raise service.fault("RepositoryNotEmptyException",
                            f"The repository with name '{repo['repositoryName']}' in registry with id "
                            f"'{ctx.account}' cannot be deleted because it still contains images")
    del _repos(ctx)[repo["repositoryName"]]
    return {"repository": _view(repo)}


@service.op("PutImageScanningConfiguration")
def put_image_scanning_configuration(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    repo["imageScanningConfiguration"] = {"scanOnPush": bool(p["imageScanningConfiguration"].get("scanOnPush"))}
    return {"registryId": ctx.account, "repositoryName": repo["repositoryName"],
            "imageScanningConfiguration": dict(repo["imageScanningConfiguration"])}


@service.op("PutImageTagMutability")
def put_image_tag_mutability(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    repo["imageTagMutability"] = p["imageTagMutability"]
    return {"registryId": ctx.account, "repositoryName": repo["repositoryName"],
            "imageTagMutability": repo["imageTagMutability"]}


@service.op("TagResource")
def tag_resource(ctx, p):
    repo = _by_arn(ctx, p["resourceArn"])
    tags = [dict(t) for t in p["tags"]]
    _check_tags(tags)
    _set_tags(repo, tags)
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    repo = _by_arn(ctx, p["resourceArn"])
    repo["Tags"] = [t for t in repo["Tags"] if t["Key"] not in p["tagKeys"]]
    return {}


@service.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    repo = _by_arn(ctx, p["resourceArn"])
    return {"tags": [dict(t) for t in repo["Tags"]]}


# -- lifecycle policies --------------------------------------------------------

def _check_policy(text):
    """ECR's checks of a lifecycle policy document; raises InvalidParameterException."""
    def bad(why):
        return _invalid(f"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
                        f"'Lifecycle policy validation failure: {why}'")
    try:
        doc = json.loads(text)
    except ValueError:
        raise bad("the policy is not valid JSON") from None
    if not isinstance(doc, dict) or set(doc) - {"rules"} or not isinstance(doc.get("rules"), list) \
            or not doc["rules"]:
        raise bad("the policy must be an object with a non-empty 'rules' array")
    priorities = []
    any_priority = None
    for rule in doc["rules"]:
        if not isinstance(rule, dict) or set(rule) - {"rulePriority", "description", "selection", "action"}:
            raise bad("a rule has unknown fields")
        prio = rule.get("rulePriority")
        if not isinstance(prio, int) or isinstance(prio, bool) or prio < 1:
            raise bad("rulePriority must be a positive integer")
        if prio in priorities:
            raise bad(f"rulePriority {prio} is used by more than one rule")
        priorities.append(prio)
        sel = rule.get("selection")
        if not isinstance(sel, dict):
            raise bad("a rule needs a selection")
        status = sel.get("tagStatus")
        if status not in ("tagged", "untagged", "any"):
            raise bad("tagStatus must be tagged, untagged or any")
        if status == "tagged" and not sel.get("tagPrefixList"):
            raise bad("tagPrefixList is required when tagStatus is tagged")
        if status != "tagged" and "tagPrefixList" in sel:
            raise bad("tagPrefixList is only allowed when tagStatus is tagged")
        count_type = sel.get("countType")
        number = sel.get("countNumber")
        if count_type not in ("imageCountMoreThan", "sinceImagePushed"):
            raise bad("countType must be imageCountMoreThan or sinceImagePushed")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise bad("countNumber must be a positive integer")
        if count_type == "sinceImagePushed" and sel.get("countUnit") != "days":
            raise bad("countUnit days is required with sinceImagePushed")
        if count_type == "imageCountMoreThan" and "countUnit" in sel:
            raise bad("countUnit is not allowed with imageCountMoreThan")
        if rule.get("action") != {"type": "expire"}:
            raise bad("the only action is {\"type\": \"expire\"}")
        if status == "any":
            any_priority = prio
    if any_priority is not None and any_priority != max(priorities):
        raise bad("the rule with tagStatus 'any' must have the highest rulePriority")


@service.op("PutLifecyclePolicy")
def put_lifecycle_policy(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    _check_policy(p["lifecyclePolicyText"])
    repo["_policy"] = p["lifecyclePolicyText"]
    return {"registryId": ctx.account, "repositoryName": repo["repositoryName"],
            "lifecyclePolicyText": repo["_policy"]}


def _policy_of(ctx, repo):
    if repo["_policy"] is None:
        raise service.fault("LifecyclePolicyNotFoundException",
                            f"Lifecycle policy does not exist for the repository with name "
                            f"'{repo['repositoryName']}' in the registry with id '{ctx.account}'")
    return repo["_policy"]


@service.op("GetLifecyclePolicy")
def get_lifecycle_policy(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    return {"registryId": ctx.account, "repositoryName": repo["repositoryName"],
            "lifecyclePolicyText": _policy_of(ctx, repo)}


@service.op("DeleteLifecyclePolicy")
def delete_lifecycle_policy(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    text = _policy_of(ctx, repo)
    repo["_policy"] = None
    return {"registryId": ctx.account, "repositoryName": repo["repositoryName"], "lifecyclePolicyText": text}


# -- images ------------------------------------------------------------------------

@service.op("PutImage")
def put_image(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    manifest = p["imageManifest"]
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    if p.get("imageDigest") and p["imageDigest"] != digest:
        raise service.fault("ImageDigestDoesNotMatchException",
                            f"Provided digest {p['imageDigest']} does not match the manifest's digest {digest}")
    tag = p.get("imageTag")
    if tag is not None and not _TAG.match(tag):
        raise _invalid(f"Invalid parameter at 'imageTag' failed to satisfy constraint: '{tag}'")
    images = repo["_images"]
    image = images.get(digest)
    if image is not None and (tag is None or tag in image["imageTags"]):
        raise service.fault("ImageAlreadyExistsException",
                            f"Image with digest '{digest}' and tag '{tag}' already exists in the repository "
                            f"with name '{repo['repositoryName']}' in registry with id '{ctx.account}'")
    if tag is not None:
        holder = next((i for i in images.values() if tag in i["imageTags"]), None)
        if holder is not None:
            if repo["imageTagMutability"] == "IMMUTABLE":
                raise service.fault("ImageTagAlreadyExistsException",
                                    f"The image tag '{tag}' already exists in the '{repo['repositoryName']}' "
                                    "repository and cannot be overwritten because the repository is immutable.")
            holder["imageTags"].remove(tag)
    if image is None:
        image = {"registryId": ctx.account, "repositoryName": repo["repositoryName"], "imageDigest": digest,
                 "imageTags": [], "imageSizeInBytes": len(manifest.encode()),
                 "imagePushedAt": ctx.now().replace(microsecond=0),
                 "imageManifestMediaType": p.get("imageManifestMediaType",
                                                 "application/vnd.docker.distribution.manifest.v2+json"),
                 "_manifest": manifest}
        if repo["imageScanningConfiguration"].get("scanOnPush"):
            image["imageScanStatus"] = {"status": "COMPLETE", "description": "The scan was completed successfully."}
        images[digest] = image
    if tag is not None:
        image["imageTags"].append(tag)
    image_id = {"imageDigest": digest}
    if tag is not None:
        image_id["imageTag"] = tag
    return {"image": {"registryId": ctx.account, "repositoryName": repo["repositoryName"], "imageId": image_id,
                      "imageManifest": manifest, "imageManifestMediaType": image["imageManifestMediaType"]}}


def _find_image(repo, image_id):
    """-> the image an imageId names, or None."""
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    if digest:
        image = repo["_images"].get(digest)
        if image is None or (tag is not None and tag not in image["imageTags"]):
            return None
        return image
    if tag:
        return next((i for i in repo["_images"].values() if tag in i["imageTags"]), None)
    return None


def _status_filter(images, p):
    status = (p.get("filter") or {}).get("tagStatus", "ANY")
    if status == "TAGGED":
        return [i for i in images if i["imageTags"]]
    if status == "UNTAGGED":
        return [i for i in images if not i["imageTags"]]
    return list(images)


@service.op("DescribeImages")
def describe_images(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    if p.get("imageIds"):
        if p.get("nextToken") or p.get("maxResults") or p.get("filter"):
            raise _invalid("imageIds cannot be used with nextToken, maxResults or filter")
        out = []
        for image_id in p["imageIds"]:
            image = _find_image(repo, image_id)
            if image is None:
                shown = "'" + "', '".join(f"{k}={v}" for k, v in image_id.items()) + "'"
                raise service.fault("ImageNotFoundException",
                                    f"The image with imageId {{{shown}}} does not exist within the repository "
                                    f"with name '{repo['repositoryName']}' in the registry with id "
                                    f"'{ctx.account}'")
            out.append(public(image))
        return {"imageDetails": out}
    page, token = ctx.page(_status_filter(repo["_images"].values(), p), key=lambda i: i["imageDigest"],
                           token=p.get("nextToken"), limit=p.get("maxResults"),
                           token_error=("InvalidParameterException", 400))
    out = {"imageDetails": [public(i) for i in page]}
    if token:
        out["nextToken"] = token
    return out


@service.op("ListImages")
def list_images(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    ids = []
    for image in _status_filter(repo["_images"].values(), p):
        if image["imageTags"]:
            ids.extend({"imageDigest": image["imageDigest"], "imageTag": t} for t in image["imageTags"])
        else:
            ids.append({"imageDigest": image["imageDigest"]})
    page, token = ctx.page(ids, key=lambda i: (i["imageDigest"], i.get("imageTag", "")),
                           token=p.get("nextToken"), limit=p.get("maxResults"),
                           token_error=("InvalidParameterException", 400))
    out = {"imageIds": page}
    if token:
        out["nextToken"] = token
    return out


@service.op("BatchDeleteImage")
def batch_delete_image(ctx, p):
    repo = _repo(ctx, p["repositoryName"], p.get("registryId"))
    deleted, failures = [], []
    for image_id in p["imageIds"]:
        if not image_id.get("imageDigest") and not image_id.get("imageTag"):
            failures.append({"imageId": dict(image_id), "failureCode": "MissingDigestAndTag",
                             "failureReason": "Invalid request parameters: both tag and digest cannot be null"})
            continue
        image = _find_image(repo, image_id)
        if image is None:
            failures.append({"imageId": dict(image_id), "failureCode": "ImageNotFound",
                             "failureReason": "Requested image not found"})
            continue
        if image_id.get("imageTag") and not image_id.get("imageDigest") and len(image["imageTags"]) > 1:
            image["imageTags"].remove(image_id["imageTag"])
        else:
            del repo["_images"][image["imageDigest"]]
        deleted.append({"imageDigest": image["imageDigest"], **({"imageTag": image_id["imageTag"]}
                                                                  if image_id.get("imageTag") else {})})
    return {"imageIds": deleted, "failures": failures}


def _authorization(store):
    return store.scratch("ecr", "authorization")


def issued_passwords(store):
    """Every registry password GetAuthorizationToken handed out (for /_fake/secrets)."""
    return store.scratch("ecr", "issued-passwords", list)


@service.op("GetAuthorizationToken")
def get_authorization_token(ctx, p):
    conf = _authorization(ctx.store)
    out = []
    for registry_id in p.get("registryIds") or [ctx.account]:
        if not re.match(r"^\d{12}$", registry_id):
            raise _invalid(f"Invalid parameter at 'registryIds' failed to satisfy constraint: '{registry_id}'")
        password = conf.get("password") or secrets.token_urlsafe(32)
        if password not in issued_passwords(ctx.store):
            issued_passwords(ctx.store).append(password)
        endpoint = conf.get("proxy_endpoint") or f"https://{registry_id}.dkr.ecr.{ctx.region}.amazonaws.com"
        out.append({"authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
                    "expiresAt": ctx.now().replace(microsecond=0) + datetime.timedelta(hours=12),
                    "proxyEndpoint": endpoint})
    return {"authorizationData": out}


def _control_authorization(server, req):
    with server.store.lock:
        conf = _authorization(server.store)
        if req.method == "POST":
            try:
                doc = json.loads(req.body or b"{}")
                if not isinstance(doc, dict) or set(doc) - {"password", "proxy_endpoint"} or \
                        not all(isinstance(v, str) and v for v in doc.values()):
                    raise ValueError
            except ValueError:
                return 400, {"error": 'expected {"password": "...", "proxy_endpoint": "https://..."} (both optional)'}
            conf.clear()
            conf.update(doc)
        return 200, {"proxy_endpoint": conf.get("proxy_endpoint"), "password_set": "password" in conf}


control.register("GET", "/_fake/ecr/authorization", _control_authorization)
control.register("POST", "/_fake/ecr/authorization", _control_authorization)
