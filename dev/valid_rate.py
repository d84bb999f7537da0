"""Does the OpenAPI document state every rule the server enforces?

Reads schemathesis' NDJSON report and, for each operation, counts what the
server did with the cases generated as valid by the document (positive
cases): accepted (2xx), or refused as invalid (a 4xx other than 401, 403,
404, 409 and 429, which say nothing about the data). An operation fails
when it got at least MIN_DECIDED such answers over the whole run and
accepted fewer than MIN_ACCEPTED_SHARE of them: the document then promises
data the server refuses.

Why not schemathesis' own validation_mismatch warning: it judges each
scenario on its own and fires when every valid case of one scenario is
refused, however few (one or two when max-time cuts a phase short), so on a
slower machine it fails runs at random. Counted over the run, the rate is
the same from one machine to the next.

Usage: valid_rate.py REPORT.ndjson  (exit 1 on failure, and says why)
"""

import json
import sys
from collections import defaultdict

MIN_DECIDED = 20
MIN_ACCEPTED_SHARE = 0.2
NOT_ABOUT_THE_DATA = {401, 403, 404, 409, 429}


def outcomes(lines):
    """{operation: [accepted, refused, {status: count}]} over positive cases."""
    counts = defaultdict(lambda: [0, 0, defaultdict(int)])
    seen = set()
    for line in lines:
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        interactions = recorder.get("interactions", {})
        for case_id, case in recorder.get("cases", {}).items():
            generation = (case["value"].get("meta") or {}).get("generation") or {}
            if generation.get("mode") != "positive" or case_id in seen:
                continue
            response = (interactions.get(case_id) or {}).get("response")
            if response is None:
                continue
            seen.add(case_id)
            status = response["status_code"]
            entry = counts[recorder["label"]]
            if 200 <= status < 400:
                entry[0] += 1
            elif 400 <= status < 500 and status not in NOT_ABOUT_THE_DATA:
                entry[1] += 1
                entry[2][status] += 1
    return counts


def failures(counts):
    for label, (accepted, refused, statuses) in sorted(counts.items()):
        decided = accepted + refused
        if decided >= MIN_DECIDED and accepted < MIN_ACCEPTED_SHARE * decided:
            yield label, accepted, refused, dict(statuses)


def main(path):
    with open(path, encoding="utf-8") as report:
        counts = outcomes(report)
    failed = list(failures(counts))
    print(f"==> valid data accepted, per operation ({len(counts)} operations with valid cases)")
    for label, accepted, refused, statuses in failed:
        print(
            f"FAIL {label}: accepted {accepted} of {accepted + refused} valid cases "
            f"(refused: {statuses}); the document does not state a rule the server enforces"
        )
    if failed:
        return 1
    decided = [item for item in counts.items() if item[1][0] + item[1][1]]
    low = sorted(decided, key=lambda item: item[1][0] / (item[1][0] + item[1][1]))[:5]
    for label, (accepted, refused, _) in low:
        print(f"  lowest: {label}: {accepted} of {accepted + refused} accepted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
