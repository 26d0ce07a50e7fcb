"""Route 53: hosted zones (CreateHostedZone, GetHostedZone, DeleteHostedZone),
record sets (ChangeResourceRecordSets, ListResourceRecordSets) and changes
(GetChange: PENDING -> INSYNC over successive calls).

A new zone gets its SOA and NS records. A change batch is checked whole before
any of it applies (InvalidChangeBatch lists every problem): CREATE of an
existing set, DELETE of a missing or different one, names outside the zone,
CNAME beside other types. Names are kept lower-case with the final dot."""
import secrets

from ..state import advance, new_name_id, public, start_lifecycle
from . import Service

service = Service("route53", xml_namespace="https://route53.amazonaws.com/doc/2013-04-01/")

def _zones(ctx):
    return ctx.store.table("route53", "hosted-zone")


def _changes(ctx):
    return ctx.store.table("route53", "change")


def _fqdn(name):
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _zone(ctx, zone_id):
    zone_id = zone_id.rsplit("/", 1)[-1]
    zone = _zones(ctx).get(zone_id)
    if zone is None:
        raise service.fault("NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}")
    return zone


def _new_change(ctx, comment=None):
    change_id = "C" + new_name_id(20)
    change = {"Id": f"/change/{change_id}", "SubmittedAt": ctx.now().replace(microsecond=0)}
    if comment:
        change["Comment"] = comment
    start_lifecycle(change, "Status", "PENDING", "INSYNC", ctx.settle)
    _changes(ctx)[change_id] = change
    return change


def _zone_view(zone):
    return public(zone)


def _records(ctx, zone):
    """{(name, type, set id): record set} of one zone."""
    zid = zone["Id"]
    return {_record_key(r): r for r in ctx.store.table("route53", "record-set").values() if r["_zone"] == zid}


def _store_records(ctx, zone, records):
    table = ctx.store.table("route53", "record-set")
    zid = zone["Id"]
    for k in [k for k, r in table.items() if r["_zone"] == zid]:
        del table[k]
    for key, rrs in records.items():
        table[f"{zid.rsplit('/', 1)[-1]} {key[0]} {key[1]} {key[2]}".rstrip()] = dict(rrs, _zone=zid)
    zone["ResourceRecordSetCount"] = len(records)


@service.op("CreateHostedZone")
def create_hosted_zone(ctx, p):
    name = _fqdn(p["Name"])
    labels = name[:-1].split(".")
    if len(name) > 255 or not all(0 < len(label) <= 63 for label in labels):
        raise service.fault("InvalidDomainName", f"{p['Name']} is not a valid domain name")
    for z in _zones(ctx).values():
        if z["CallerReference"] == p["CallerReference"]:
            raise service.fault("HostedZoneAlreadyExists",
                                "A hosted zone has already been created with the specified caller reference.")
    private = p.get("VPC") is not None
    config = dict(p.get("HostedZoneConfig") or {})
    if config.get("PrivateZone") and not private:
        raise service.fault("InvalidInput", "A private hosted zone needs a VPC")
    config["PrivateZone"] = private
    zone_id = "Z" + new_name_id(20)
    zone = {"Id": f"/hostedzone/{zone_id}", "Name": name, "CallerReference": p["CallerReference"],
            "Config": config, "ResourceRecordSetCount": 0}
    if private:
        vpc = p["VPC"]
        if vpc.get("VPCId") not in ctx.store.table("ec2", "vpc"):
            raise service.fault("InvalidVPCId", f"The VPC {vpc.get('VPCId')} does not exist")
        zone["_vpcs"] = [{"VPCRegion": vpc.get("VPCRegion", ctx.region), "VPCId": vpc["VPCId"]}]
    servers = [f"ns-{secrets.randbelow(2048)}.awsdns-{secrets.randbelow(64):02d}.{tld}"
               for tld in ("com.", "net.", "org.", "co.uk.")]
    zone["_delegation"] = {"NameServers": [s.rstrip(".") for s in servers]}
    _zones(ctx)[zone_id] = zone
    _store_records(ctx, zone, {
        (name, "SOA", ""): {"Name": name, "Type": "SOA", "TTL": 900, "ResourceRecords": [
            {"Value": f"{servers[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}]},
        (name, "NS", ""): {"Name": name, "Type": "NS", "TTL": 172800,
                           "ResourceRecords": [{"Value": s} for s in servers]},
    })
    out = {"HostedZone": _zone_view(zone), "ChangeInfo": public(_new_change(ctx)),
           "DelegationSet": dict(zone["_delegation"]),
           "Location": f"https://route53.amazonaws.com/2013-04-01/hostedzone/{zone_id}"}
    if private:
        out["VPC"] = dict(zone["_vpcs"][0])
    return out


@service.op("GetHostedZone")
def get_hosted_zone(ctx, p):
    zone = _zone(ctx, p["Id"])
    out = {"HostedZone": _zone_view(zone)}
    if zone.get("_vpcs"):
        out["VPCs"] = [dict(v) for v in zone["_vpcs"]]
    else:
        out["DelegationSet"] = dict(zone["_delegation"])
    return out


@service.op("DeleteHostedZone")
def delete_hosted_zone(ctx, p):
    zone = _zone(ctx, p["Id"])
    extra = [k for k in _records(ctx, zone) if not (k[0] == zone["Name"] and k[1] in ("SOA", "NS"))]
    if extra:
        raise service.fault("HostedZoneNotEmpty", "The specified hosted zone contains non-required resource "
                                                  "record sets and so cannot be deleted.")
    _store_records(ctx, zone, {})
    del _zones(ctx)[zone["Id"].rsplit("/", 1)[-1]]
    return {"ChangeInfo": public(_new_change(ctx))}


def _record_key(rrs):
    return (_fqdn(rrs["Name"]), rrs["Type"], rrs.get("SetIdentifier", ""))


def _describe(rrs):
    return f"[name='{_fqdn(rrs['Name'])}', type='{rrs['Type']}'" + \
        (f", set-identifier='{rrs['SetIdentifier']}']" if rrs.get("SetIdentifier") else "]")


def _normalized(rrs):
    out = dict(rrs)
    out["Name"] = _fqdn(rrs["Name"])
    if "AliasTarget" in out:
        alias = dict(out["AliasTarget"])
        alias["DNSName"] = _fqdn(alias["DNSName"])
        out["AliasTarget"] = alias
    return out


@service.op("ChangeResourceRecordSets")
def change_resource_record_sets(ctx, p):
    zone = _zone(ctx, p["HostedZoneId"])
    records = {k: public(r) for k, r in _records(ctx, zone).items()}
    problems = []
    batch = p["ChangeBatch"]
    if not batch["Changes"]:
        raise service.fault("InvalidInput", "The ChangeBatch needs at least one change")
    for change in batch["Changes"]:
        rrs = _normalized(change["ResourceRecordSet"])
        key = _record_key(rrs)
        action = change["Action"]
        name = key[0]
        if name != zone["Name"] and not name.endswith("." + zone["Name"]):
            problems.append(f"RRSet with DNS name {name} is not permitted in zone {zone['Name']}")
            continue
        has_alias = "AliasTarget" in rrs
        has_records = bool(rrs.get("ResourceRecords"))
        if action != "DELETE" and has_alias == has_records:
            raise service.fault("InvalidInput", f"Invalid request: Expected exactly one of [AliasTarget, all of "
                                                f"[TTL, and ResourceRecords]], but found "
                                                f"{'both' if has_alias else 'none'} in Change with "
                                                f"[Action={action}, Name={name}, Type={rrs['Type']}]")
        if has_records and "TTL" not in rrs and action != "DELETE":
            raise service.fault("InvalidInput", f"Invalid request: Missing field 'TTL' in Change with "
                                                f"[Action={action}, Name={name}, Type={rrs['Type']}]")
        if action == "CREATE":
            if key in records:
                problems.append(f"Tried to create resource record set {_describe(rrs)} but it already exists")
                continue
        elif action == "DELETE":
            if key not in records:
                problems.append(f"Tried to delete resource record set {_describe(rrs)} but it was not found")
                continue
            if records[key] != rrs:
                problems.append(f"Tried to delete resource record set {_describe(rrs)} but the values "
                                "provided do not match the current values")
                continue
            if name == zone["Name"] and rrs["Type"] in ("SOA", "NS"):
                problems.append(f"A HostedZone must contain at least one NS record for the zone itself "
                                f"and exactly one SOA record: cannot delete {_describe(rrs)}")
                continue
            del records[key]
            continue
        if rrs["Type"] == "CNAME" and name == zone["Name"]:
            problems.append(f"RRSet of type CNAME with DNS name {name} is not permitted at apex in zone "
                            f"{zone['Name']}")
            continue
        others = {k[1] for k in records if k[0] == name and k != key}
        if (rrs["Type"] == "CNAME" and others) or ("CNAME" in others and rrs["Type"] != "CNAME"):
            problems.append(f"RRSet of type {rrs['Type']} with DNS name {name} is not permitted because a "
                            "conflicting RRSet of type CNAME with the same DNS name already exists")
            continue
        records[key] = rrs
    if problems:
        raise service.fault("InvalidChangeBatch", "[" + ", ".join(problems) + "]")
    _store_records(ctx, zone, records)
    return {"ChangeInfo": public(_new_change(ctx, batch.get("Comment")))}


def _sort_key(rrs):
    """Route 53 lists by name with its labels reversed (com.example.www), then type."""
    labels = _fqdn(rrs["Name"])[:-1].split(".")
    return [".".join(reversed(labels)), rrs["Type"], rrs.get("SetIdentifier", "")]


@service.op("ListResourceRecordSets")
def list_resource_record_sets(ctx, p):
    zone = _zone(ctx, p["HostedZoneId"])
    items = sorted((public(r) for r in _records(ctx, zone).values()), key=_sort_key)
    if p.get("StartRecordType") and not p.get("StartRecordName"):
        raise service.fault("InvalidInput", "StartRecordType requires StartRecordName")
    if p.get("StartRecordName"):
        start = _sort_key({"Name": p["StartRecordName"], "Type": p.get("StartRecordType", ""),
                           "SetIdentifier": p.get("StartRecordIdentifier", "")})
        items = [r for r in items if _sort_key(r) >= start]
    try:
        wanted = int(p.get("MaxItems", "300"))
    except ValueError:
        raise service.fault("InvalidInput", f"MaxItems {p['MaxItems']} is not a number") from None
    if wanted < 1:
        raise service.fault("InvalidInput", "MaxItems must be at least 1")
    size = min(wanted, ctx.server.page_size)
    page = items[:size]
    out = {"ResourceRecordSets": [dict(r) for r in page], "IsTruncated": len(items) > size,
           "MaxItems": str(wanted)}
    if len(items) > size:
        nxt = items[size]
        out["NextRecordName"] = nxt["Name"]
        out["NextRecordType"] = nxt["Type"]
        if nxt.get("SetIdentifier"):
            out["NextRecordIdentifier"] = nxt["SetIdentifier"]
    return out


@service.op("GetChange")
def get_change(ctx, p):
    change_id = p["Id"].rsplit("/", 1)[-1]
    change = _changes(ctx).get(change_id)
    if change is None:
        raise service.fault("NoSuchChange", f"A change with the specified change ID does not exist: {change_id}")
    advance(change)
    return {"ChangeInfo": public(change)}

