"""Hooks for dev/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document states every constraint JSON Schema can express
(functions/api/src/constraints.rs). A few rules relate a value to another
value or to the clock, which JSON Schema cannot say; each is stated in its
field's description and refused with a 400 naming the field. Positive cases
are made to follow them here, as a client that reads the descriptions would,
so that a refusal of a positive case means a constraint the document lacks.
Negative cases are left as generated.

- Idempotency-Key: one per logical request (e.g. a UUID). Generated keys
  repeat across different requests, which the server answers with 422.
- until, expires_at: in the future (a suppression's `until` within 366
  days).
- role_arn: a role in the account it is registered for (the path's or the
  body's account id, an organization's management account).
- cursor: a value this API issued (next_cursor of a previous page); an
  invented one is refused as it should be. Positive cases leave it out.
- schedule.jitter_seconds: at most half the schedule's interval.
- If-Match, If-None-Match: an ETag this API issued; an invented one is
  refused with 412, as it should be. Positive cases leave them out.
- rotate: one rotation is pending at a time; after the first, a valid
  request says replace=true (the document's 409 says so).

For a dialect (DIALECT=<product>), its vendor's document states less than
the server enforces, and it is not ours to amend; positive cases follow
the rules a client of that product meets here:
- Panther's `{id}`: the integrationId of the account the run registered
  (DIALECT_ACCOUNT_ID); an invented one finds nothing (404).
- Panther's `awsScanConfig.auditRole`: an IAM role ARN in the account
  registered (any role name), as the role this service assumes must be.
- Cloudability's `{account_id}`: the account registered; `externalId`
  left out (the server's own, never chosen); `type` aws_role (IAM user
  keys are refused); `vendorAccountId` the path's on update, another
  account on create; a known `region`.
- RISKEN's `project_id` (query, body, `aws.project_id`,
  `attach_data_source.project_id`): the tenant's project
  (DIALECT_PROJECT_ID); another project is a 404, as it should be. Its
  attach's `external_id` is empty: the server's own, never chosen.
- Cloudcraft's `{id}`: the account's Cloudcraft id (DIALECT_ACCOUNT_ID);
  `roleArn`: a role ARN (its account is the one registered); `region`: an
  AWS region id.
- Carbon Black's `{org_key}`: the key's tenant; `{account_id}` the account
  registered; on create another account each time, its role in it, no
  `credential.external_id` (the server's own); `validate_role` entries
  either saved credentials alone or a role ARN with an external ID.

And one of schemathesis's own: its coverage phase sends an optional header
with an empty value as a valid case, although the document gives
If-Match and If-None-Match a minLength of 1; such a header is left out.
"""

import datetime
import os
import re
import uuid

import schemathesis
from schemathesis.generation.modes import GenerationMode

ROLE_ARN = re.compile(r"^(arn:[a-z-]+:iam::)[0-9]{12}(:role/.*)$", re.S)


def _in_thirty_days():
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _panther(case):
    parameters = case.path_parameters or {}
    if "id" in parameters and os.environ.get("DIALECT_ACCOUNT_ID"):
        parameters["id"] = os.environ["DIALECT_ACCOUNT_ID"]
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("awsScanConfig"), dict):
        return
    account = body.get("awsAccountId")
    if not (isinstance(account, str) and re.fullmatch(r"[0-9]{12}", account)):
        account = "123456789012"
    if "auditRole" in body["awsScanConfig"]:
        body["awsScanConfig"]["auditRole"] = f"arn:aws:iam::{account}:role/PantherAudit"


def _cloudcraft(case):
    parameters = case.path_parameters or {}
    if "id" in parameters and os.environ.get("DIALECT_ACCOUNT_ID"):
        parameters["id"] = os.environ["DIALECT_ACCOUNT_ID"]
    body = case.body
    if not isinstance(body, dict):
        return
    if "roleArn" in body:
        # Another account each time: a create is then not a repeat (409).
        body["roleArn"] = f"arn:aws:iam::{uuid.uuid4().int % 10**12:012d}:role/cloudcraft"
    if "region" in body:
        body["region"] = "us-east-1"


def _cloudability(case):
    parameters = case.path_parameters or {}
    if "account_id" in parameters and os.environ.get("DIALECT_ACCOUNT_ID"):
        parameters["account_id"] = os.environ["DIALECT_ACCOUNT_ID"]
    body = case.body
    if not isinstance(body, dict):
        return
    for field in ("externalId", "externalID", "parentAccountId"):
        body.pop(field, None)
    if "type" in body:
        body["type"] = "aws_role"
    if "region" in body:
        body["region"] = "us-west-2"
    if "vendorAccountId" in body:
        body["vendorAccountId"] = parameters.get("account_id") or f"{uuid.uuid4().int % 10**12:012d}"
    if "roleName" in body:
        body["roleName"] = "CloudabilityRole"


def _risken(case):
    project = os.environ.get("DIALECT_PROJECT_ID")
    if not project:
        return
    if isinstance(case.query, dict) and "project_id" in case.query:
        case.query["project_id"] = project
    body = case.body
    if isinstance(body, dict):
        if "project_id" in body:
            body["project_id"] = int(project)
        for inner in ("aws", "attach_data_source"):
            if isinstance(body.get(inner), dict) and "project_id" in body[inner]:
                body[inner]["project_id"] = int(project)
        # The external ID is the server's: an empty one asks for it.
        if isinstance(body.get("attach_data_source"), dict):
            body["attach_data_source"]["external_id"] = ""


def _carbonblack(case):
    parameters = case.path_parameters or {}
    if "org_key" in parameters:
        parameters["org_key"] = os.environ.get("DIALECT_ORG_KEY", "default")
    if "account_id" in parameters and os.environ.get("DIALECT_ACCOUNT_ID"):
        parameters["account_id"] = os.environ["DIALECT_ACCOUNT_ID"]
    body = case.body
    entries = body if isinstance(body, list) else []
    if isinstance(body, dict) and "credential" in body:
        # Create: another account each time (a repeat is a 409); update:
        # the path's account.
        account = parameters.get("account_id") or f"{uuid.uuid4().int % 10**12:012d}"
        body["cloud_provider_account_id"] = account
        if isinstance(body["credential"], dict):
            body["credential"].pop("external_id", None)
            if "role_arn" in body["credential"]:
                body["credential"]["role_arn"] = f"arn:aws:iam::{account}:role/CarbonBlack"
    for entry in entries:
        if not isinstance(entry, dict) or "saved_credentials" not in entry:
            continue
        if entry["saved_credentials"] is True:
            entry.pop("role_arn", None)
            entry.pop("external_id", None)
        else:
            entry["role_arn"] = f"arn:aws:iam::{entry.get('cloud_provider_account_id', '123456789012')}:role/CarbonBlack"
            entry["external_id"] = entry.get("external_id") or "an-external-id"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if case.path.startswith("/cloud-accounts/"):
        _panther(case)
        return
    if case.path.startswith("/aws/account"):
        _cloudcraft(case)
        return
    if case.path.startswith("/v3/vendors/"):
        _cloudability(case)
        return
    if case.path.startswith("/api/v1/"):
        _risken(case)
        return
    if case.path.startswith("/public-cloud/"):
        _carbonblack(case)
        return
    headers = case.headers or {}
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    for name in ("If-Match", "If-None-Match"):
        headers.pop(name, None)
    if case.path.endswith("/external-id/rotate") and isinstance(case.query, dict):
        case.query["replace"] = "true"
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    body = case.body
    if not isinstance(body, dict):
        return
    body.pop("cursor", None)
    schedule = body.get("schedule")
    if isinstance(schedule, dict) and isinstance(schedule.get("jitter_seconds"), int):
        every = schedule.get("every_seconds")
        half = every // 2 if isinstance(every, int) else 0
        schedule["jitter_seconds"] = max(0, min(schedule["jitter_seconds"], half))
    for field in ("until", "expires_at"):
        if isinstance(body.get(field), str):
            body[field] = _in_thirty_days()
    account = (case.path_parameters or {}).get("account_id")
    for field in ("account_id", "management_account_id"):
        if isinstance(body.get(field), str):
            account = body[field]
    role = body.get("role_arn")
    if isinstance(account, str) and re.fullmatch(r"[0-9]{12}", account) and isinstance(role, str):
        body["role_arn"] = ROLE_ARN.sub(lambda m: m.group(1) + account + m.group(2), role)
