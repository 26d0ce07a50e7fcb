"""Route 53, more of hosted zones (beside route53.py, on the same service):
tags (ChangeTagsForResource, ListTagsForResource), finding zones
(ListHostedZonesByName), the VPCs of a private zone
(AssociateVPCWithHostedZone, DisassociateVPCFromHostedZone) and comments
(UpdateHostedZoneComment).

As Route 53: tags are for hosted zones and health checks (only zones here);
zones list by name with the labels reversed (com.example.www), then id; a
private zone must keep at least one VPC (LastVPCAssociation) and a VPC cannot
be attached twice to zones of the same name (ConflictingDomainExists)."""
from ..errors import AWSError
from ..state import public
from .route53 import _fqdn, _new_change, _zone, _zones
from .route53 import service as route53

_REGION = "us-east-1"


def _tags(zone):
    return zone.setdefault("_tags", {})


def _tagged(ctx, p):
    if p["ResourceType"] != "hostedzone":
        raise AWSError("NotImplemented", "fakeaws serves tags of hosted zones only "
                                         "(tests/fakeaws/fakeaws/services/route53_zones.py)", 501)
    return _zone(ctx, p["ResourceId"])


@route53.op("ChangeTagsForResource")
def change_tags_for_resource(ctx, p):
    zone = _tagged(ctx, p)
    tags = dict(_tags(zone))
    for k in p.get("RemoveTagKeys") or []:
        tags.pop(k, None)
    for t in p.get("AddTags") or []:
        if not t.get("Key"):
            raise route53.fault("InvalidInput", "Tag keys must not be empty")
        tags[t["Key"]] = t.get("Value", "")
    if len(tags) > 50:
        raise route53.fault("InvalidInput", "A hosted zone can carry at most 50 tags")
    zone["_tags"] = tags
    return {}


@route53.op("ListTagsForResource")
def list_tags_for_resource(ctx, p):
    zone = _tagged(ctx, p)
    return {"ResourceTagSet": {"ResourceType": "hostedzone", "ResourceId": zone["Id"].rsplit("/", 1)[-1],
                               "Tags": [{"Key": k, "Value": v} for k, v in _tags(zone).items()]}}


def _order(name, zone_id):
    labels = _fqdn(name)[:-1].split(".")
    return (".".join(reversed(labels)), zone_id)


@route53.op("ListHostedZonesByName")
def list_hosted_zones_by_name(ctx, p):
    if p.get("HostedZoneId") and not p.get("DNSName"):
        raise route53.fault("InvalidInput", "HostedZoneId requires DNSName")
    try:
        wanted = int(p.get("MaxItems", "100"))
    except ValueError:
        raise route53.fault("InvalidInput", f"MaxItems {p['MaxItems']} is not a number") from None
    if wanted < 1:
        raise route53.fault("InvalidInput", "MaxItems must be at least 1")
    zones = sorted(_zones(ctx).values(), key=lambda z: _order(z["Name"], z["Id"]))
    if p.get("DNSName"):
        start = _order(p["DNSName"], p.get("HostedZoneId") and "/hostedzone/" +
                       p["HostedZoneId"].rsplit("/", 1)[-1] or "")
        zones = [z for z in zones if _order(z["Name"], z["Id"]) >= start]
    size = min(wanted, ctx.server.page_size)
    out = {"HostedZones": [public(z) for z in zones[:size]], "IsTruncated": len(zones) > size,
           "MaxItems": str(wanted)}
    if p.get("DNSName"):
        out["DNSName"] = p["DNSName"]
    if p.get("HostedZoneId"):
        out["HostedZoneId"] = p["HostedZoneId"]
    if len(zones) > size:
        out["NextDNSName"] = zones[size]["Name"]
        out["NextHostedZoneId"] = zones[size]["Id"].rsplit("/", 1)[-1]
    return out


def _vpc(ctx, p):
    vpc = p["VPC"]
    if not vpc.get("VPCId"):
        raise route53.fault("InvalidInput", "VPCId is required")
    return {"VPCRegion": vpc.get("VPCRegion", _REGION), "VPCId": vpc["VPCId"]}


@route53.op("AssociateVPCWithHostedZone")
def associate_vpc_with_hosted_zone(ctx, p):
    zone = _zone(ctx, p["HostedZoneId"])
    if not zone.get("_vpcs"):
        raise route53.fault("PublicZoneVPCAssociation", "Public hosted zones cannot be associated with a VPC")
    vpc = _vpc(ctx, p)
    if vpc["VPCId"] not in ctx.store.table("ec2", "vpc"):
        raise route53.fault("InvalidVPCId", f"The VPC {vpc['VPCId']} does not exist")
    if any(v["VPCId"] == vpc["VPCId"] for v in zone["_vpcs"]):
        raise route53.fault("ConflictingDomainExists", f"The VPC {vpc['VPCId']} is already associated with "
                                                       f"the hosted zone {zone['Name']}")
    for other in _zones(ctx).values():
        if other is not zone and other["Name"] == zone["Name"] and \
                any(v["VPCId"] == vpc["VPCId"] for v in other.get("_vpcs") or []):
            raise route53.fault("ConflictingDomainExists", f"A hosted zone named {zone['Name']} is already "
                                                           f"associated with the VPC {vpc['VPCId']}")
    zone["_vpcs"].append(vpc)
    return {"ChangeInfo": public(_new_change(ctx, p.get("Comment")))}


@route53.op("DisassociateVPCFromHostedZone")
def disassociate_vpc_from_hosted_zone(ctx, p):
    zone = _zone(ctx, p["HostedZoneId"])
    vpc = _vpc(ctx, p)
    kept = [v for v in zone.get("_vpcs") or [] if v["VPCId"] != vpc["VPCId"]]
    if len(kept) == len(zone.get("_vpcs") or []):
        raise route53.fault("VPCAssociationNotFound", f"The VPC {vpc['VPCId']} is not associated with the "
                                                      f"hosted zone {zone['Name']}")
    if not kept:
        raise route53.fault("LastVPCAssociation", "The VPC that you're trying to disassociate from the private "
                                                  "hosted zone is the last VPC that is associated with the "
                                                  "hosted zone.")
    zone["_vpcs"] = kept
    return {"ChangeInfo": public(_new_change(ctx, p.get("Comment")))}


@route53.op("UpdateHostedZoneComment")
def update_hosted_zone_comment(ctx, p):
    zone = _zone(ctx, p["Id"])
    config = zone.setdefault("Config", {})
    if p.get("Comment"):
        config["Comment"] = p["Comment"]
    else:
        config.pop("Comment", None)
    return {"HostedZone": public(zone)}
