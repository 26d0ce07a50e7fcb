"""AWS Backup: vaults (CreateBackupVault, DescribeBackupVault, ListBackupVaults,
DeleteBackupVault), their recovery points (ListRecoveryPointsByBackupVault,
DeleteRecoveryPoint; made by the control endpoint below, as fakeaws runs no
backup jobs), plans (CreateBackupPlan, GetBackupPlan, UpdateBackupPlan: a new
VersionId each time, ListBackupPlans, DeleteBackupPlan), selections
(CreateBackupSelection, GetBackupSelection, ListBackupSelections,
DeleteBackupSelection) and tags by ARN (TagResource, UntagResource, ListTags).

What AWS enforces and fakeaws does too: a vault holding recovery points and a
plan holding selections cannot be deleted (InvalidRequestException); a plan's
rules name vaults that exist; a selection's role exists in fakeaws IAM and
trusts backup.amazonaws.com ("IAM Role ... cannot be assumed by AWS Backup",
InvalidParameterValueException — also while IAM propagates a new role, see
eventual.py); a selection names resources or tags. CreatorRequestId: a create
repeated with the same one answers the object it made (plans: as the API
reference says; vaults and selections: "retried without the risk of running
the operation twice"); another object of that name is AlreadyExistsException.

Control: POST /_fake/backup/recovery-points {"vault": NAME, "count": N,
"resource_arn": ARN?, "region": R?} adds N completed recovery points to the vault
(of region R, us-east-1 unless given);
answers {"recovery_points": [ARN, ...]}."""
import json
import re
import uuid

from .. import control
from ..state import public
from . import Service
from .iam import _roles

service = Service("backup")

_VAULT_NAME = re.compile(r"^[a-zA-Z0-9\-_]{2,50}$")
_RULE_NAME = re.compile(r"^[a-zA-Z0-9\-_.]{1,50}$")
_REQUEST_ID = re.compile(r"^[a-zA-Z0-9\-_.]{1,50}$")
_CRON = re.compile(r"^cron\(\s*\S+(\s+\S+){5}\s*\)$")
_ARN = re.compile(r"^arn:aws[-a-z]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$")
_VAULT_ARN = re.compile(r"^arn:aws[-a-z]*:backup:[a-z0-9-]+:\d{12}:backup-vault:([a-zA-Z0-9\-_]{2,50})$")
_ROLE_ARN = re.compile(r"^arn:aws[-a-z]*:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$")


def _fault(shape, message, **fields):
    return service.fault(shape, message, Code=shape, Message=message, **fields)


def _invalid(message, context=None):
    fields = {"Context": context} if context else {}
    return _fault("InvalidParameterValueException", message, **fields)


def _vaults(ctx):
    return ctx.store.table("backup", "vault")


def _here(ctx, obj, arn_key):
    """Whether an object belongs to the request's region (its ARN says). Objects
    are kept by name or id across regions (a limitation of this fake: one vault
    name per account), but each region sees only its own."""
    return obj[arn_key].split(":")[3] == ctx.region


def _plans(ctx):
    return ctx.store.table("backup", "plan")


def _selections(ctx):
    return ctx.store.table("backup", "selection")


def _request_id(p):
    rid = p.get("CreatorRequestId")
    if rid is not None and not _REQUEST_ID.match(rid):
        raise _invalid("CreatorRequestId must be 1 to 50 alphanumeric or '-_.' characters")
    return rid


def _tags_by_arn(ctx):
    return ctx.store.scratch("backup", "tags")


def _default_key(ctx):
    """The account's AWS managed key aws/backup in this region (one per region)."""
    keys = ctx.store.scratch("backup", "managed-keys")
    if ctx.region not in keys:
        keys[ctx.region] = ctx.arn("kms", f"key/{uuid.uuid4()}")
    return keys[ctx.region]


# -- vaults -------------------------------------------------------------------------------

def _vault(ctx, name):
    vault = _vaults(ctx).get(name)
    if vault is None or not _here(ctx, vault, "BackupVaultArn"):
        raise _fault("ResourceNotFoundException", f"Backup vault {name} does not exist.", Context=name)
    return vault


def _vault_view(vault):
    out = public(vault)
    out["NumberOfRecoveryPoints"] = len(vault["_points"])
    return out


@service.op("CreateBackupVault")
def create_backup_vault(ctx, p):
    name = p["BackupVaultName"]
    if not _VAULT_NAME.match(name):
        raise _invalid(f"Backup vault name {name} is not valid: 2 to 50 alphanumeric, '-' or '_' characters")
    rid = _request_id(p)
    existing = _vaults(ctx).get(name)
    if existing is not None:
        if rid is not None and existing.get("CreatorRequestId") == rid:
            return {k: existing[k] for k in ("BackupVaultName", "BackupVaultArn", "CreationDate")}
        raise _fault("AlreadyExistsException", f"Backup vault with the same name {name} already exists",
                     Arn=existing["BackupVaultArn"], CreatorRequestId=existing.get("CreatorRequestId") or "")
    key = p.get("EncryptionKeyArn")
    if key is not None and not re.match(r"^arn:aws[-a-z]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$", key):
        raise _invalid(f"Invalid KMS key ARN: {key}")
    arn = ctx.arn("backup", f"backup-vault:{name}")
    vault = {
        "BackupVaultName": name,
        "BackupVaultArn": arn,
        "EncryptionKeyArn": key or _default_key(ctx),
        "CreationDate": ctx.now().replace(microsecond=0),
        "Locked": False,
        "_points": {},
    }
    if rid is not None:
        vault["CreatorRequestId"] = rid
    _vaults(ctx)[name] = vault
    _tags_by_arn(ctx)[arn] = dict(p.get("BackupVaultTags") or {})
    return {"BackupVaultName": name, "BackupVaultArn": arn, "CreationDate": vault["CreationDate"]}


@service.op("DescribeBackupVault")
def describe_backup_vault(ctx, p):
    return _vault_view(_vault(ctx, p["BackupVaultName"]))


@service.op("ListBackupVaults")
def list_backup_vaults(ctx, p):
    page, token = ctx.page([v for v in _vaults(ctx).values() if _here(ctx, v, "BackupVaultArn")],
                           key=lambda v: v["BackupVaultName"],
                           token=p.get("NextToken"), limit=p.get("MaxResults"),
                           token_error=("InvalidParameterValueException", 400))
    out = {"BackupVaultList": [_vault_view(v) for v in page]}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteBackupVault")
def delete_backup_vault(ctx, p):
    vault = _vault(ctx, p["BackupVaultName"])
    if vault["_points"]:
        raise _fault("InvalidRequestException", f"Backup vault cannot be deleted because it contains "
                     f"{len(vault['_points'])} recovery points", Context=vault["BackupVaultName"])
    del _vaults(ctx)[vault["BackupVaultName"]]
    _tags_by_arn(ctx).pop(vault["BackupVaultArn"], None)
    return {}


@service.op("ListRecoveryPointsByBackupVault")
def list_recovery_points(ctx, p):
    vault = _vault(ctx, p["BackupVaultName"])
    points = list(vault["_points"].values())
    if p.get("ByResourceArn"):
        points = [x for x in points if x["ResourceArn"] == p["ByResourceArn"]]
    page, token = ctx.page(points, key=lambda x: x["RecoveryPointArn"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"), token_error=("InvalidParameterValueException", 400))
    out = {"RecoveryPoints": [public(x) for x in page]}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteRecoveryPoint")
def delete_recovery_point(ctx, p):
    vault = _vault(ctx, p["BackupVaultName"])
    if vault["_points"].pop(p["RecoveryPointArn"], None) is None:
        raise _fault("ResourceNotFoundException", f"Recovery point {p['RecoveryPointArn']} does not exist.",
                     Context=p["RecoveryPointArn"])
    return {}


def add_recovery_points(store, region, account, vault_name, count, resource_arn=None):
    """Recovery points a backup job would have made: -> their ARNs."""
    vault = store.table("backup", "vault").get(vault_name)
    if vault is None:
        raise ValueError(f"no backup vault {vault_name}")
    made = []
    for _ in range(count):
        arn = f"arn:aws:backup:{region}:{account}:recovery-point:{uuid.uuid4()}"
        vault["_points"][arn] = {
            "RecoveryPointArn": arn, "BackupVaultName": vault_name, "BackupVaultArn": vault["BackupVaultArn"],
            "ResourceArn": resource_arn or f"arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-0123abcd",
            "ResourceType": "EFS", "Status": "COMPLETED", "EncryptionKeyArn": vault["EncryptionKeyArn"],
            "IsEncrypted": True,
        }
        made.append(arn)
    return made


def _control_points(server, req):
    try:
        doc = json.loads(req.body or b"{}")
        if not isinstance(doc, dict) or set(doc) - {"vault", "count", "resource_arn", "region"} \
                or not isinstance(doc.get("vault"), str):
            raise ValueError("expected {\"vault\": NAME, \"count\": N, \"resource_arn\": ARN?}")
        count = doc.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an integer >= 1")
        with server.store.lock:
            made = add_recovery_points(server.store, doc.get("region") or "us-east-1", server.store.account,
                                       doc["vault"], count, doc.get("resource_arn"))
    except ValueError as e:
        return 400, {"error": str(e)}
    return 200, {"recovery_points": made}


control.register("POST", "/_fake/backup/recovery-points", _control_points)


# -- plans --------------------------------------------------------------------------------

def _check_plan(ctx, plan):
    rules = plan.get("Rules") or []
    if not rules:
        raise _invalid("A backup plan needs at least one rule")
    names = set()
    out = []
    for rule in rules:
        name = rule["RuleName"]
        if not _RULE_NAME.match(name):
            raise _invalid(f"Rule name {name} is not valid")
        if name in names:
            raise _invalid(f"Rule names must be unique within a plan: {name}")
        names.add(name)
        if rule["TargetBackupVaultName"] not in _vaults(ctx):
            raise _invalid(f"Backup vault with name {rule['TargetBackupVaultName']} does not exist",
                           rule["TargetBackupVaultName"])
        cron = rule.get("ScheduleExpression")
        if cron is not None and not _CRON.match(cron):
            raise _invalid(f"Invalid schedule expression: {cron}")
        start = rule.get("StartWindowMinutes")
        if start is not None and start < 60:
            raise _invalid("StartWindowMinutes must be at least 60")
        done = rule.get("CompletionWindowMinutes")
        if done is not None and done < (start or 60) + 60:
            raise _invalid("CompletionWindowMinutes must be at least 60 minutes greater than StartWindowMinutes")
        for lifecycle in [rule.get("Lifecycle")] + [c.get("Lifecycle") for c in rule.get("CopyActions") or []]:
            if not lifecycle:
                continue
            delete, cold = lifecycle.get("DeleteAfterDays"), lifecycle.get("MoveToColdStorageAfterDays")
            if delete is not None and delete < 1:
                raise _invalid("DeleteAfterDays must be at least 1")
            if cold is not None and delete is not None and delete < cold + 90:
                raise _invalid("DeleteAfterDays must be at least 90 days after MoveToColdStorageAfterDays")
        for copy in rule.get("CopyActions") or []:
            if not _VAULT_ARN.match(copy["DestinationBackupVaultArn"]):
                raise _invalid(f"Invalid destination vault ARN {copy['DestinationBackupVaultArn']}")
        stored = dict(rule)
        stored["RuleId"] = str(uuid.uuid4())
        stored.setdefault("StartWindowMinutes", 480)
        stored.setdefault("CompletionWindowMinutes", 10080)
        stored.setdefault("ScheduleExpression", "cron(0 5 ? * * *)")
        out.append(stored)
    return {"BackupPlanName": plan["BackupPlanName"], "Rules": out}


def _plan(ctx, plan_id):
    plan = _plans(ctx).get(plan_id)
    if plan is None or not _here(ctx, plan, "BackupPlanArn"):
        raise _fault("ResourceNotFoundException", f"Backup plan {plan_id} does not exist.", Context=plan_id)
    return plan


def _version():
    return uuid.uuid4().hex[:16] + uuid.uuid4().hex[:16]


@service.op("CreateBackupPlan")
def create_backup_plan(ctx, p):
    rid = _request_id(p)
    name = p["BackupPlan"]["BackupPlanName"]
    for plan in _plans(ctx).values():
        if rid is not None and plan.get("CreatorRequestId") == rid:
            return {k: plan[k] for k in ("BackupPlanId", "BackupPlanArn", "CreationDate", "VersionId")}
        if plan["BackupPlan"]["BackupPlanName"] == name:
            raise _fault("AlreadyExistsException", f"Backup plan with the same plan document already exists",
                         Arn=plan["BackupPlanArn"], CreatorRequestId=plan.get("CreatorRequestId") or "")
    document = _check_plan(ctx, p["BackupPlan"])
    plan_id = str(uuid.uuid4())
    arn = ctx.arn("backup", f"backup-plan:{plan_id}")
    plan = {"BackupPlanId": plan_id, "BackupPlanArn": arn, "VersionId": _version(),
            "CreationDate": ctx.now().replace(microsecond=0), "BackupPlan": document}
    if rid is not None:
        plan["CreatorRequestId"] = rid
    _plans(ctx)[plan_id] = plan
    _tags_by_arn(ctx)[arn] = dict(p.get("BackupPlanTags") or {})
    return {k: plan[k] for k in ("BackupPlanId", "BackupPlanArn", "CreationDate", "VersionId")}


@service.op("GetBackupPlan")
def get_backup_plan(ctx, p):
    plan = _plan(ctx, p["BackupPlanId"])
    if p.get("VersionId") and p["VersionId"] != plan["VersionId"]:
        raise _fault("ResourceNotFoundException", f"Version {p['VersionId']} of backup plan {plan['BackupPlanId']} "
                     "does not exist.")
    return public(plan)


@service.op("UpdateBackupPlan")
def update_backup_plan(ctx, p):
    plan = _plan(ctx, p["BackupPlanId"])
    name = p["BackupPlan"]["BackupPlanName"]
    for other in _plans(ctx).values():
        if other is not plan and other["BackupPlan"]["BackupPlanName"] == name:
            raise _fault("AlreadyExistsException", f"Backup plan with name {name} already exists",
                         Arn=other["BackupPlanArn"])
    plan["BackupPlan"] = _check_plan(ctx, p["BackupPlan"])
    plan["VersionId"] = _version()
    return {k: plan[k] for k in ("BackupPlanId", "BackupPlanArn", "CreationDate", "VersionId")}


@service.op("ListBackupPlans")
def list_backup_plans(ctx, p):
    items = [{"BackupPlanArn": x["BackupPlanArn"], "BackupPlanId": x["BackupPlanId"],
              "CreationDate": x["CreationDate"], "VersionId": x["VersionId"],
              "BackupPlanName": x["BackupPlan"]["BackupPlanName"],
              **({"CreatorRequestId": x["CreatorRequestId"]} if "CreatorRequestId" in x else {})}
             for x in _plans(ctx).values() if _here(ctx, x, "BackupPlanArn")]
    page, token = ctx.page(items, key=lambda x: x["BackupPlanId"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"), token_error=("InvalidParameterValueException", 400))
    out = {"BackupPlansList": page}
    if token:
        out["NextToken"] = token
    return out


@service.op("DeleteBackupPlan")
def delete_backup_plan(ctx, p):
    plan = _plan(ctx, p["BackupPlanId"])
    held = [s for s in _selections(ctx).values() if s["BackupPlanId"] == plan["BackupPlanId"]]
    if held:
        raise _fault("InvalidRequestException", "Related backup plan selections must be deleted prior to backup "
                     f"plan deletion ({len(held)} remain)", Context=plan["BackupPlanId"])
    del _plans(ctx)[plan["BackupPlanId"]]
    _tags_by_arn(ctx).pop(plan["BackupPlanArn"], None)
    return {"BackupPlanId": plan["BackupPlanId"], "BackupPlanArn": plan["BackupPlanArn"],
            "DeletionDate": ctx.now().replace(microsecond=0), "VersionId": plan["VersionId"]}


# -- selections ---------------------------------------------------------------------------

def _check_role(ctx, arn):
    """The role must exist in this account and trust AWS Backup."""
    m = _ROLE_ARN.match(arn)
    role = None
    if m and m.group(1) == ctx.account:
        role = _roles(ctx).get(m.group(2).lower())
    if role is None or "backup.amazonaws.com" not in json.dumps(role.get("_trust")):
        raise _invalid(f"IAM Role {arn} cannot be assumed by AWS Backup", arn)


@service.op("CreateBackupSelection")
def create_backup_selection(ctx, p):
    plan = _plan(ctx, p["BackupPlanId"])
    rid = _request_id(p)
    sel = p["BackupSelection"]
    for other in _selections(ctx).values():
        if other["BackupPlanId"] != plan["BackupPlanId"]:
            continue
        if rid is not None and other.get("CreatorRequestId") == rid:
            return {k: other[k] for k in ("SelectionId", "BackupPlanId", "CreationDate")}
        if other["BackupSelection"]["SelectionName"] == sel["SelectionName"]:
            raise _fault("AlreadyExistsException", f"Backup selection with name {sel['SelectionName']} already "
                         "exists in this plan", CreatorRequestId=other.get("CreatorRequestId") or "")
    if not _RULE_NAME.match(sel["SelectionName"]):
        raise _invalid(f"Selection name {sel['SelectionName']} is not valid")
    if not sel.get("Resources") and not sel.get("ListOfTags"):
        raise _invalid("Invalid backup selection. Either 'ListOfTags' or 'Resources' section must be non-empty.")
    for arn in sel.get("Resources") or []:
        if arn != "*" and not _ARN.match(arn):
            raise _invalid(f"Invalid resource ARN: {arn}", arn)
    _check_role(ctx, sel["IamRoleArn"])
    selection_id = str(uuid.uuid4())
    record = {"SelectionId": selection_id, "BackupPlanId": plan["BackupPlanId"],
              "CreationDate": ctx.now().replace(microsecond=0), "BackupSelection": dict(sel)}
    if rid is not None:
        record["CreatorRequestId"] = rid
    _selections(ctx)[selection_id] = record
    return {k: record[k] for k in ("SelectionId", "BackupPlanId", "CreationDate")}


def _selection(ctx, plan_id, selection_id):
    record = _selections(ctx).get(selection_id)
    if record is None or record["BackupPlanId"] != plan_id:
        raise _fault("ResourceNotFoundException", f"Backup selection {selection_id} of plan {plan_id} does not "
                     "exist.", Context=selection_id)
    return record


@service.op("GetBackupSelection")
def get_backup_selection(ctx, p):
    _plan(ctx, p["BackupPlanId"])
    return public(_selection(ctx, p["BackupPlanId"], p["SelectionId"]))


@service.op("DeleteBackupSelection")
def delete_backup_selection(ctx, p):
    record = _selection(ctx, p["BackupPlanId"], p["SelectionId"])
    del _selections(ctx)[record["SelectionId"]]
    return {}


@service.op("ListBackupSelections")
def list_backup_selections(ctx, p):
    plan = _plan(ctx, p["BackupPlanId"])
    items = [{"SelectionId": s["SelectionId"], "SelectionName": s["BackupSelection"]["SelectionName"],
              "BackupPlanId": s["BackupPlanId"], "CreationDate": s["CreationDate"],
              "IamRoleArn": s["BackupSelection"]["IamRoleArn"],
              **({"CreatorRequestId": s["CreatorRequestId"]} if "CreatorRequestId" in s else {})}
             for s in _selections(ctx).values() if s["BackupPlanId"] == plan["BackupPlanId"]]
    page, token = ctx.page(items, key=lambda x: x["SelectionId"], token=p.get("NextToken"),
                           limit=p.get("MaxResults"), token_error=("InvalidParameterValueException", 400))
    out = {"BackupSelectionsList": page}
    if token:
        out["NextToken"] = token
    return out


# -- tags ---------------------------------------------------------------------------------

def _tagged(ctx, arn):
    tags = _tags_by_arn(ctx).get(arn)
    if tags is None:
        raise _fault("ResourceNotFoundException", f"Resource {arn} does not exist.", Context=arn)
    return tags


@service.op("TagResource")
def tag_resource(ctx, p):
    tags = _tagged(ctx, p["ResourceArn"])
    if len(set(tags) | set(p["Tags"])) > 50:
        raise _fault("LimitExceededException", "A resource may have at most 50 tags")
    tags.update(p["Tags"])
    return {}


@service.op("UntagResource")
def untag_resource(ctx, p):
    tags = _tagged(ctx, p["ResourceArn"])
    for key in p["TagKeyList"]:
        tags.pop(key, None)
    return {}


@service.op("ListTags")
def list_tags(ctx, p):
    return {"Tags": dict(_tagged(ctx, p["ResourceArn"]))}
