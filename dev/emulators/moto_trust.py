"""moto server whose STS AssumeRole behaves like AWS about trust.

Plain moto lets anyone assume any role. AWS refuses unless the target role's
trust policy allows the caller: a matching Principal, the sts:AssumeRole
action, and every Condition satisfied (here: StringEquals / StringLike on
sts:ExternalId; any other condition key is treated as unsatisfied, as it
would be for a caller that cannot supply it). An explicit Deny wins. The
role must exist in the account its ARN names.

Faults for tests, per role, through role tags (so parallel tests do not
share state):
  emulator:throttle    "always", or N: the first N AssumeRole calls answer Throttling
  emulator:latency-ms  delay before AssumeRole answers
and for benchmarks, for every STS call: env MOTO_STS_LATENCY_MS.

Source identity, as AWS: an AssumeRole that sets SourceIdentity needs the
trust policy to allow sts:SetSourceIdentity as well (same principal and
conditions), and the value must be 2-64 characters of [\w+=,.@-].

IAM permissions of assumed-role sessions, as AWS, for the actions a role
is asked to read about itself (iam:GetRole, iam:SimulatePrincipalPolicy,
and its policies: iam:ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies):
allowed only by an Allow in the role's inline or attached policies whose
Action and Resource match, and no matching Deny. Other IAM calls are
answered as plain moto does. iam:SimulatePrincipalPolicy (which moto
lacks) evaluates a role's own policies the same way.

A trail, like CloudTrail in the customer's account: with env
TRUST_EMULATOR_TRAIL set, every AssumeRole and every enforced IAM call
appends one JSON line (eventName, roleArn, roleSessionName, sourceIdentity,
externalIdGiven, awsRegion, errorCode) to that file, so tests assert what the customer
would see.

IAM state that cannot be made through the API, for the IAM scanner's
tests, through user tags read when an access key is created:
  emulator:access-key-age-days        the key's CreateDate lies this many days back
  emulator:access-key-last-used-days  GetAccessKeyLastUsed reports a use this many days back

Usage: python moto_trust.py -H 127.0.0.1 -p PORT   (moto_server's arguments)
"""

import datetime
import json
import os
import re
import sys
import threading
import time
import urllib.parse

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iam import models as iam_models
from moto.iam.models import iam_backends
from moto.server import main as moto_main
from moto.iam import responses as iam_responses
from moto.sts import responses as sts_responses
from moto.sts.models import sts_backends


class AccessDenied(ServiceException):
    code = "AccessDenied"


class Throttling(ServiceException):
    code = "Throttling"


class ValidationError(ServiceException):
    code = "ValidationError"


GLOBAL_LATENCY = int(os.environ.get("MOTO_STS_LATENCY_MS", "0")) / 1000.0
ROLE_ARN = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):iam::(\d{12}):role/(?:.*/)?([^/]+)$")
SESSION_ARN = re.compile(r"^arn:[\w-]+:sts::(\d{12}):assumed-role/([^/]+)/")
SOURCE_IDENTITY = re.compile(r"^[\w+=,.@-]{2,64}$")
ENFORCED_IAM_ACTIONS = (
    "GetRole",
    "SimulatePrincipalPolicy",
    "ListRolePolicies",
    "GetRolePolicy",
    "ListAttachedRolePolicies",
)
TRAIL = os.environ.get("TRUST_EMULATOR_TRAIL")
_calls = {}
_lock = threading.Lock()


def trail(event):
    if not TRAIL:
        return
    event["eventTime"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    with _lock, open(TRAIL, "a", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")


def as_list(value):
    return value if isinstance(value, list) else [value]


def load_policy(document):
    if isinstance(document, dict):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return json.loads(urllib.parse.unquote(document))


def principal_matches(principal, caller_arn, caller_account):
    if principal == "*":
        return True
    if not isinstance(principal, dict) or "AWS" not in principal:
        return False
    for entry in as_list(principal["AWS"]):
        if entry in ("*", caller_account, caller_arn):
            return True
        if re.fullmatch(r"arn:[\w-]+:iam::%s:root" % caller_account, entry):
            return True
        role = ROLE_ARN.match(entry)
        session = SESSION_ARN.match(caller_arn)
        if role and session and role.group(2) == session.group(1) and role.group(3) == session.group(2):
            return True
    return False


def action_matches(action, wanted="sts:AssumeRole"):
    return any(string_like(wanted.lower(), a.lower()) for a in as_list(action))


def string_like(value, pattern):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def conditions_hold(condition, external_id):
    for operator, clauses in (condition or {}).items():
        for key, expected in clauses.items():
            if key.lower() != "sts:externalid" or external_id is None:
                return False
            values = [str(v) for v in as_list(expected)]
            if operator == "StringEquals":
                ok = external_id in values
            elif operator == "StringLike":
                ok = any(string_like(external_id, v) for v in values)
            else:
                return False
            if not ok:
                return False
    return True


def trust_allows(policy, caller_arn, caller_account, external_id, action="sts:AssumeRole"):
    allowed = False
    for statement in as_list(policy.get("Statement", [])):
        if not action_matches(statement.get("Action", []), action):
            continue
        if not principal_matches(statement.get("Principal"), caller_arn, caller_account):
            continue
        if not conditions_hold(statement.get("Condition"), external_id):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def role_tags(role):
    tags = getattr(role, "tags", {}) or {}
    if isinstance(tags, dict):
        return {k: (v.get("Value") if isinstance(v, dict) else v) for k, v in tags.items()}
    return {t["Key"]: t["Value"] for t in tags}


_original_assume_role = sts_responses.TokenResponse.assume_role
_original_caller_identity = sts_responses.TokenResponse.get_caller_identity


def assume_role(self):
    event = {
        "eventName": "AssumeRole",
        "roleArn": self._get_param("RoleArn") or "",
        "roleSessionName": self._get_param("RoleSessionName"),
        "sourceIdentity": self._get_param("SourceIdentity"),
        "externalIdGiven": self._get_param("ExternalId") is not None,
        "awsRegion": self.region,
        "errorCode": None,
    }
    try:
        return checked_assume_role(self)
    except ServiceException as err:
        event["errorCode"] = err.code
        raise
    finally:
        trail(event)


def checked_assume_role(self):
    if GLOBAL_LATENCY:
        time.sleep(GLOBAL_LATENCY)
    role_arn = self._get_param("RoleArn") or ""
    external_id = self._get_param("ExternalId")
    source_identity = self._get_param("SourceIdentity")
    if source_identity is not None and not SOURCE_IDENTITY.match(source_identity):
        raise ValidationError(
            "1 validation error detected: Value at 'sourceIdentity' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]* and length 2-64"
        )
    _, caller_arn, caller_account = self.backend.get_caller_identity(self.get_access_key(), self.region)
    denied = AccessDenied(
        f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )
    match = ROLE_ARN.match(role_arn)
    if not match:
        raise denied
    try:
        role = iam_backends[match.group(2)][match.group(1)].get_role_by_arn(role_arn)
    except Exception:
        raise denied
    tags = role_tags(role)
    if "emulator:latency-ms" in tags:
        time.sleep(int(tags["emulator:latency-ms"]) / 1000.0)
    throttle = tags.get("emulator:throttle")
    if throttle:
        with _lock:
            _calls[role_arn] = _calls.get(role_arn, 0) + 1
            count = _calls[role_arn]
        if throttle == "always" or count <= int(throttle):
            raise Throttling("Rate exceeded")
    policy = load_policy(role.assume_role_policy_document)
    if not trust_allows(policy, caller_arn, caller_account, external_id):
        raise denied
    if source_identity is not None and not trust_allows(
        policy, caller_arn, caller_account, external_id, "sts:SetSourceIdentity"
    ):
        raise AccessDenied(
            f"User: {caller_arn} is not authorized to perform: sts:SetSourceIdentity on resource: {role_arn}"
        )
    result = _original_assume_role(self)
    if source_identity is not None:
        result.result["Credentials"].source_identity = source_identity
        result.result["SourceIdentity"] = source_identity
    return result


def session_of(access_key_id):
    """The assumed-role session an access key belongs to, if any."""
    for regions in list(sts_backends.values()):
        for backend in list(regions.values()):
            session = backend.get_assumed_role_from_access_key(access_key_id)
            if session:
                return session
    return None


def identity_policies(role):
    documents = [load_policy(doc) for doc in (role.policies or {}).values()]
    for managed in (role.managed_policies or {}).values():
        for version in managed.versions:
            if version.is_default:
                documents.append(load_policy(version.document))
    return documents


def permission_allows(documents, action, resource):
    allowed = False
    for document in documents:
        for statement in as_list(document.get("Statement", [])):
            if not action_matches(statement.get("Action", []), action):
                continue
            if not any(string_like(resource, r) for r in as_list(statement.get("Resource", []))):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
    return allowed


def enforced(name, original):
    """An IAM call that an assumed-role session may make only if its role's
    policies allow it on the resource (a role, by name, in its account)."""

    def call(self):
        session = session_of(self.get_access_key())
        if session is None:
            return original(self)
        role_name = self._get_param("RoleName") or (self._get_param("PolicySourceArn") or "").rsplit("/", 1)[-1]
        resource = f"arn:{session.partition}:iam::{session.account_id}:role/{role_name}"
        event = {
            "eventName": name,
            "roleArn": session.role_arn,
            "roleSessionName": session.session_name,
            "sourceIdentity": getattr(session, "source_identity", None),
            "requestedRole": resource,
            "errorCode": None,
        }
        try:
            role = iam_backends[session.account_id][session.partition].get_role_by_arn(session.role_arn)
            if not permission_allows(identity_policies(role), "iam:" + name, resource):
                event["errorCode"] = "AccessDenied"
                raise AccessDenied(
                    f"User: {session.arn} is not authorized to perform: iam:{name} on resource: role {role_name} because no identity-based policy allows the iam:{name} action"
                )
            return original(self)
        finally:
            trail(event)

    return call


def get_caller_identity(self):
    if GLOBAL_LATENCY:
        time.sleep(GLOBAL_LATENCY)
    return _original_caller_identity(self)


_original_create_access_key = iam_models.User.create_access_key


def create_access_key(self, *args, **kwargs):
    key = _original_create_access_key(self, *args, **kwargs)
    tags = role_tags(self)
    now = datetime.datetime.now(datetime.timezone.utc)
    if "emulator:access-key-age-days" in tags:
        key.create_date = now - datetime.timedelta(days=int(tags["emulator:access-key-age-days"]))
    if "emulator:access-key-last-used-days" in tags:
        key.last_used = iam_models.AccessKeyLastUsed(
            timestamp=now - datetime.timedelta(days=int(tags["emulator:access-key-last-used-days"])),
            service="iam",
            region="us-east-1",
        )
    return key


def simulate_principal_policy(self):
    """IAM's policy simulator for a role: each action allowed by the role's
    identity policies (Action and Resource matched, a Deny winning), else
    implicitDeny. Conditions and boundaries are not simulated."""
    source = self._get_param("PolicySourceArn") or ""
    match = ROLE_ARN.match(source)
    if not match:
        raise AccessDenied(f"PolicySourceArn {source} is not a role")
    role = iam_backends[match.group(2)][match.group(1)].get_role_by_arn(source)
    documents = identity_policies(role)
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    results = []
    for action in actions:
        decision = "allowed" if all(permission_allows(documents, action, r) for r in resources) else "implicitDeny"
        results.append({"EvalActionName": action, "EvalResourceName": resources[0], "EvalDecision": decision})
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


_role_put_policy = iam_models.Role.put_policy


def role_put_policy(self, policy_name, policy_json):
    """A role made by CloudFormation gets its inline policies as parsed
    documents, where IAM keeps JSON text: moto's GetAccountAuthorizationDetails
    then fails on them (500). Keep them as text, as IAM does."""
    if not isinstance(policy_json, str):
        policy_json = json.dumps(policy_json)
    _role_put_policy(self, policy_name, policy_json)


iam_models.Role.put_policy = role_put_policy
iam_models.User.create_access_key = create_access_key
iam_responses.IamResponse.simulate_principal_policy = simulate_principal_policy
for _action in ENFORCED_IAM_ACTIONS:
    _method = re.sub(r"(?<!^)(?=[A-Z])", "_", _action).lower()
    setattr(
        iam_responses.IamResponse,
        _method,
        enforced(_action, getattr(iam_responses.IamResponse, _method)),
    )
sts_responses.TokenResponse.assume_role = assume_role
sts_responses.TokenResponse.get_caller_identity = get_caller_identity

if __name__ == "__main__":
    moto_main(sys.argv[1:])
