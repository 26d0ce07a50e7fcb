"""ACM: public certificates validated by DNS (RequestCertificate,
DescribeCertificate, ListCertificates, DeleteCertificate) and their tags
(AddTagsToCertificate, RemoveTagsFromCertificate, ListTagsForCertificate).

As ACM:
- a certificate lives in the region it was requested in (its ARN says which);
- RequestCertificate with an IdempotencyToken already used in that region
  within the hour answers the same certificate (whatever else it asks);
- each name of the certificate (DomainName, then SubjectAlternativeNames,
  without repeats) gets a DomainValidationOption whose ResourceRecord (a CNAME)
  is filled in late: a DescribeCertificate sees it only after `settle`
  describes of that certificate (ctx.settle, as other transitional states);
- the CNAME depends on the account and the name only ("*.example.com" shares
  example.com's), so two certificates for the same names, in any regions of
  one account, ask for the very same records;
- a PENDING_VALIDATION certificate is validated only by fakeaws's Route 53:
  once every record is held, with its value, by a public hosted zone, the
  certificate becomes ISSUED `settle` describes later; a CAA record set on a
  name (or its closest parent holding one) that names none of Amazon's CAs
  makes it FAILED (CAA_ERROR); 72 hours (the server's clock) without
  validation makes it VALIDATION_TIMED_OUT;
- ListCertificates lists RSA_1024 and RSA_2048 certificates unless
  Includes.keyTypes names others;
- DeleteCertificate of a certificate in use (InUseBy: the load balancers of
  the elbv2 listeners that hold it, and whatever another service declared with
  mark_use) is refused with ResourceInUseException.

Only DNS validation is served (EMAIL answers NotImplemented).

For other fakeaws services: mark_use(store, certificate_arn, user_arn) and
unmark_use(store, certificate_arn, user_arn) declare that user_arn (a
CloudFront distribution, say) uses a certificate; in_use_by(store, arn) ->
the sorted list ACM answers as InUseBy."""
import datetime
import hashlib
import re
import uuid

from ..errors import AWSError
from ..state import public
from . import Service

service = Service("acm")

_ARN = re.compile(r"^arn:aws[-a-z]*:acm:([a-z0-9-]+):(\d{12}):certificate/([0-9a-f-]{36})$")
_AMAZON_CAS = ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com")
_DEFAULT_KEY_TYPES = ("RSA_1024", "RSA_2048")
_TIMEOUT = datetime.timedelta(hours=72)
_TOKEN_LIFE = datetime.timedelta(hours=1)
_SUMMARY = service.model.shape_for("CertificateSummary").members
_DETAIL = service.model.shape_for("CertificateDetail").members


def _certs(ctx):
    return ctx.store.table("acm", "certificate")


def _uses(store):
    return store.scratch("acm", "uses")


def mark_use(store, arn, user):
    """user (an ARN) now uses the certificate arn (it shows in InUseBy)."""
    _uses(store).setdefault(arn, set()).add(user)


def unmark_use(store, arn, user):
    """user no longer uses the certificate arn."""
    users = _uses(store).get(arn)
    if users is not None:
        users.discard(user)


def in_use_by(store, arn):
    """What uses the certificate: load balancers whose listeners hold it, and
    the users marked with mark_use."""
    users = set(_uses(store).get(arn, ()))
    for li in store.table("elbv2", "listener").values():
        if any(c.get("CertificateArn") == arn for c in li.get("Certificates") or []):
            users.add(li["LoadBalancerArn"])
    return sorted(users)


def _invalid_arn(arn):
    return service.fault("InvalidArnException", f"String '{arn}' is not a valid ARN.")


def _cert(ctx, arn):
    m = _ARN.match(arn)
    if not m:
        raise _invalid_arn(arn)
    cert = _certs(ctx).get(arn)
    if cert is None or m.group(1) != ctx.region or m.group(2) != ctx.account:
        raise service.fault("ResourceNotFoundException",
                            f"Could not find certificate {arn} in account {ctx.account}.")
    return cert


def _base(name):
    name = name.lower().rstrip(".")
    return name[2:] if name.startswith("*.") else name


def validation_record(account, name):
    """The CNAME that proves control of `name` for the account: {Name, Type, Value}."""
    base = _base(name)
    digest = hashlib.sha256(f"{account}/{base}".encode()).hexdigest()
    return {"Name": f"_{digest[:32]}.{base}.", "Type": "CNAME",
            "Value": f"_{digest[32:64]}.{digest[:10]}.acm-validations.aws."}


# -- what Route 53 holds ---------------------------------------------------------------------

def _public_records(ctx):
    """{(name, type): [values]} of every public hosted zone's record sets."""
    zones = ctx.store.table("route53", "hosted-zone")
    public_zones = {z["Id"] for z in zones.values() if not z.get("_vpcs")}
    out = {}
    for rrs in ctx.store.table("route53", "record-set").values():
        if rrs.get("_zone") in public_zones and not rrs.get("AliasTarget"):
            key = (rrs["Name"].lower(), rrs["Type"])
            out.setdefault(key, []).extend(r["Value"] for r in rrs.get("ResourceRecords") or [])
    return out


def _caa_refuses(records, name):
    """The closest CAA record set at or above name names none of Amazon's CAs."""
    labels = _base(name).split(".")
    for i in range(len(labels)):
        values = records.get((".".join(labels[i:]) + ".", "CAA"))
        if values:
            return not any(any(ca in v for ca in _AMAZON_CAS) for v in values if " issue" in f" {v}")
    return False


def _refresh(ctx, cert, describe=True):
    """One look at cert: its records show after `settle` describes (a list
    does not count); DNS validation, CAA and the 72-hour limit move its
    status on."""
    if cert["_records_in"] > 0:
        if describe:
            cert["_records_in"] -= 1
        return
    for option in cert["DomainValidationOptions"]:
        option["ResourceRecord"] = validation_record(cert["_account"], option["DomainName"])
    if cert["Status"] != "PENDING_VALIDATION":
        return
    if ctx.now() - cert["CreatedAt"] > _TIMEOUT:
        cert["Status"] = "VALIDATION_TIMED_OUT"
        for option in cert["DomainValidationOptions"]:
            if option["ValidationStatus"] != "SUCCESS":
                option["ValidationStatus"] = "FAILED"
        return
    records = _public_records(ctx)
    for option in cert["DomainValidationOptions"]:
        if _caa_refuses(records, option["DomainName"]):
            option["ValidationStatus"] = "FAILED"
            cert["Status"], cert["FailureReason"] = "FAILED", "CAA_ERROR"
            return
        rr = option["ResourceRecord"]
        if rr["Value"] in records.get((rr["Name"], "CNAME"), []):
            option["ValidationStatus"] = "SUCCESS"
    if all(o["ValidationStatus"] == "SUCCESS" for o in cert["DomainValidationOptions"]):
        if cert.get("_issue_in") is None:
            cert["_issue_in"] = ctx.settle
        if cert["_issue_in"] > 0:
            cert["_issue_in"] -= 1
            return
        now = ctx.now().replace(microsecond=0)
        cert.update({"Status": "ISSUED", "IssuedAt": now, "NotBefore": now,
                     "NotAfter": now + datetime.timedelta(days=395), "Serial": ":".join(
                         cert["CertificateArn"][-32:].replace("-", "")[i:i + 2] for i in range(0, 32, 2)),
                     "Issuer": "Amazon", "SignatureAlgorithm": "SHA256WITHRSA", "RenewalEligibility": "ELIGIBLE"})


def _detail(ctx, cert):
    out = {k: v for k, v in public(cert).items() if k in _DETAIL}
    out["InUseBy"] = in_use_by(ctx.store, cert["CertificateArn"])
    return out


def _check_tags(tags):
    for t in tags:
        if t["Key"].lower().startswith("aws:"):
            raise service.fault("InvalidTagException", f"Tag key '{t['Key']}' uses the reserved prefix aws:.")


def _add_tags(cert, tags):
    _check_tags(tags)
    current = dict(cert["_tags"])
    for t in tags:
        current[t["Key"]] = t.get("Value", "")
    if len(current) > 50:
        raise service.fault("TooManyTagsException", "A certificate can carry at most 50 tags.")
    cert["_tags"] = current


@service.op("RequestCertificate")
def request_certificate(ctx, p):
    method = p.get("ValidationMethod", "EMAIL")
    if method != "DNS":
        raise AWSError("NotImplemented", "fakeaws validates certificates by DNS only "
                                         "(tests/fakeaws/fakeaws/services/acm.py)", 501)
    if p.get("CertificateAuthorityArn"):
        raise AWSError("NotImplemented", "fakeaws issues public certificates only (no private CA)", 501)
    now = ctx.now()
    token = p.get("IdempotencyToken")
    tokens = ctx.store.scratch("acm", "tokens")
    key = (ctx.region, ctx.account, token)
    if token and key in tokens and now - tokens[key][1] < _TOKEN_LIFE and tokens[key][0] in _certs(ctx):
        return {"CertificateArn": tokens[key][0]}
    names = []
    for name in [p["DomainName"]] + list(p.get("SubjectAlternativeNames") or []):
        if name.lower() not in [n.lower() for n in names]:
            names.append(name)
    if len(names) > 10:
        raise service.fault("LimitExceededException", "A certificate holds at most 10 domain names by default.")
    if len(p["DomainName"]) > 64:
        raise service.fault("InvalidParameterException", "The first domain name can be at most 64 characters long.")
    arn = ctx.arn("acm", f"certificate/{uuid.uuid4()}")
    cert = {"CertificateArn": arn, "DomainName": p["DomainName"], "SubjectAlternativeNames": names,
            "DomainValidationOptions": [{"DomainName": n, "ValidationDomain": n,
                                         "ValidationStatus": "PENDING_VALIDATION", "ValidationMethod": "DNS"}
                                        for n in names],
            "Status": "PENDING_VALIDATION", "Type": "AMAZON_ISSUED",
            "KeyAlgorithm": p.get("KeyAlgorithm", "RSA_2048"), "CreatedAt": now.replace(microsecond=0),
            "RenewalEligibility": "INELIGIBLE", "Subject": f"CN={p['DomainName']}",
            "Options": dict(p.get("Options") or {"CertificateTransparencyLoggingPreference": "ENABLED"}),
            "_records_in": ctx.settle, "_account": ctx.account, "_tags": {}}
    _add_tags(cert, p.get("Tags") or [])
    _certs(ctx)[arn] = cert
    if token:
        tokens[key] = (arn, now)
    return {"CertificateArn": arn}


@service.op("DescribeCertificate")
def describe_certificate(ctx, p):
    cert = _cert(ctx, p["CertificateArn"])
    _refresh(ctx, cert)
    return {"Certificate": _detail(ctx, cert)}


@service.op("ListCertificates")
def list_certificates(ctx, p):
    statuses = set(p.get("CertificateStatuses") or [])
    key_types = set((p.get("Includes") or {}).get("keyTypes") or _DEFAULT_KEY_TYPES)
    found = []
    for arn, cert in _certs(ctx).items():
        m = _ARN.match(arn)
        if m.group(1) != ctx.region or m.group(2) != ctx.account:
            continue
        _refresh(ctx, cert, describe=False)
        if (statuses and cert["Status"] not in statuses) or cert["KeyAlgorithm"] not in key_types:
            continue
        found.append(cert)
    page, token = ctx.page(found, key=lambda c: c["CertificateArn"], token=p.get("NextToken"),
                           limit=p.get("MaxItems"), token_error=("InvalidArgsException", 400))
    out = {"CertificateSummaryList": [], }
    for cert in page:
        summary = {k: v for k, v in public(cert).items() if k in _SUMMARY}
        summary["SubjectAlternativeNameSummaries"] = list(cert["SubjectAlternativeNames"])
        summary["HasAdditionalSubjectAlternativeNames"] = False
        summary["InUse"] = bool(in_use_by(ctx.store, cert["CertificateArn"]))
        out["CertificateSummaryList"].append(summary)
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteCertificate")
def delete_certificate(ctx, p):
    cert = _cert(ctx, p["CertificateArn"])
    users = in_use_by(ctx.store, cert["CertificateArn"])
    if users:
        raise service.fault("ResourceInUseException", f"Certificate {cert['CertificateArn']} in account "
                                                      f"{ctx.account} is in use.")
    del _certs(ctx)[cert["CertificateArn"]]
    _uses(ctx.store).pop(cert["CertificateArn"], None)
    return {}


@service.op("AddTagsToCertificate")
def add_tags_to_certificate(ctx, p):
    cert = _cert(ctx, p["CertificateArn"])
    _add_tags(cert, p["Tags"])
    return {}


@service.op("RemoveTagsFromCertificate")
def remove_tags_from_certificate(ctx, p):
    cert = _cert(ctx, p["CertificateArn"])
    _check_tags(p["Tags"])
    for t in p["Tags"]:
        if t["Key"] in cert["_tags"] and ("Value" not in t or cert["_tags"][t["Key"]] == t["Value"]):
            del cert["_tags"][t["Key"]]
    return {}


@service.op("ListTagsForCertificate")
def list_tags_for_certificate(ctx, p):
    cert = _cert(ctx, p["CertificateArn"])
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(cert["_tags"].items())]}
