"""EC2 security group rules changed in place: ModifySecurityGroupRules (a rule
keeps its id; its protocol, ports, peer and description are replaced, checked
as AuthorizeSecurityGroupIngress/Egress check them)."""
from ..errors import AWSError
from . import ec2


def _as_permission(req):
    """A SecurityGroupRuleRequest as the IpPermissions entry ec2._expand reads."""
    perm = {"IpProtocol": req.get("IpProtocol", ""), "FromPort": req.get("FromPort"), "ToPort": req.get("ToPort")}
    peers = [k for k in ("CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupId") if req.get(k)]
    if len(peers) != 1:
        raise AWSError("InvalidParameterCombination" if peers else "MissingParameter",
                       "A rule needs exactly one of CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupId")
    desc = {"Description": req["Description"]} if req.get("Description") is not None else {}
    peer = peers[0]
    if peer == "CidrIpv4":
        perm["IpRanges"] = [{"CidrIp": req[peer], **desc}]
    elif peer == "CidrIpv6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": req[peer], **desc}]
    elif peer == "PrefixListId":
        perm["PrefixListIds"] = [{"PrefixListId": req[peer], **desc}]
    else:
        perm["UserIdGroupPairs"] = [{"GroupId": req[peer], **desc}]
    return perm


@ec2.op("ModifySecurityGroupRules")
def modify_security_group_rules(ctx, p):
    group = ec2._get(ctx, "security-group", p["GroupId"])
    rules = ctx.store.table("ec2", "security-group-rule")
    changes = []
    for update in p["SecurityGroupRules"]:
        rid = update.get("SecurityGroupRuleId")
        rule = rules.get(rid or "")
        if rule is None or rule["GroupId"] != group["GroupId"]:
            raise AWSError("InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rid}' does not exist")
        if not update.get("SecurityGroupRule"):
            raise AWSError("MissingParameter", "The request must contain the parameter SecurityGroupRule")
        [(proto, lo, hi, source, desc)] = ec2._expand(ctx, {"IpPermissions": [_as_permission(update["SecurityGroupRule"])]})
        probe = {"IsEgress": rule["IsEgress"], "IpProtocol": proto, "FromPort": lo, "ToPort": hi, **source}
        key = ec2._rule_key(probe)
        for other_id, other in rules.items():
            if other_id != rid and other["GroupId"] == group["GroupId"] and ec2._rule_key(other) == key:
                raise AWSError("InvalidPermission.Duplicate",
                               f'the specified rule "{ec2._describe_rule(probe)}" already exists')
        changes.append((rule, proto, lo, hi, source, desc))
    for rule, proto, lo, hi, source, desc in changes:
        for k in ("CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupInfo", "Description"):
            rule.pop(k, None)
        rule.update({"IpProtocol": proto, "FromPort": lo, "ToPort": hi, **source})
        if desc is not None:
            rule["Description"] = desc
    return {"Return": True}
