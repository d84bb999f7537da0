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
from moto.iam import models as iam_models
from moto.iam.models import iam_backends
from moto.server import main as moto_main
from moto.sts import responses as sts_responses


class AccessDenied(ServiceException):
    code = "AccessDenied"


class Throttling(ServiceException):
    code = "Throttling"


GLOBAL_LATENCY = int(os.environ.get("MOTO_STS_LATENCY_MS", "0")) / 1000.0
ROLE_ARN = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):iam::(\d{12}):role/(?:.*/)?([^/]+)$")
SESSION_ARN = re.compile(r"^arn:[\w-]+:sts::(\d{12}):assumed-role/([^/]+)/")
_calls = {}
_lock = threading.Lock()


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


def action_matches(action):
    return any(a == "*" or a.lower() in ("sts:assumerole", "sts:*") for a in as_list(action))


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


def trust_allows(policy, caller_arn, caller_account, external_id):
    allowed = False
    for statement in as_list(policy.get("Statement", [])):
        if not action_matches(statement.get("Action", [])):
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
    if GLOBAL_LATENCY:
        time.sleep(GLOBAL_LATENCY)
    role_arn = self._get_param("RoleArn") or ""
    external_id = self._get_param("ExternalId")
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
    if not trust_allows(load_policy(role.assume_role_policy_document), caller_arn, caller_account, external_id):
        raise denied
    return _original_assume_role(self)


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


iam_models.User.create_access_key = create_access_key
sts_responses.TokenResponse.assume_role = assume_role
sts_responses.TokenResponse.get_caller_identity = get_caller_identity

if __name__ == "__main__":
    moto_main(sys.argv[1:])
