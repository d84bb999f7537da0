#!/usr/bin/env python3
"""Run the README as a tutorial: every shell block, top to bottom, in one
bash session (variables carry from block to block), from the repository
root, against a running dev server; and check each documented answer.

Conventions of README.md (kept by this runner, so the README cannot go
stale without `make test` failing):

* A ```sh block runs, unless the line before it is
  `<!-- readme: not run: <why> -->` (it needs AWS, or is `make` itself).
* A command's documented answer is the comment line right after it:
  `# -> <status>`, optionally followed by a JSON value that the answer's
  body must contain (objects: those keys, recursively; arrays: each element
  matched by some element; the string "..." matches any value). Without
  one, the command's HTTP answers must be 2xx or 3xx.

Usage: readme_test.py README.md [more.md ...]   (the files run in order, in
one session; PORT, TABLE_NAME and QUEUE_PREFIX set by dev/readme.sh)
"""
import base64
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

NOT_RUN = re.compile(r"<!--\s*readme:\s*not run:(.*)-->")
EXPECT = re.compile(r"^#\s*->\s*(\d{3})\s*(.*)$")


def blocks(text):
    """(first line number, lines) of each ```sh block that runs."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            skipped = i > 0 and NOT_RUN.search(lines[i - 1])
            start = i + 1
            j = start
            while lines[j].strip() != "```":
                j += 1
            if not skipped:
                found.append((start + 1, lines[start:j]))
            i = j
        i += 1
    return found


OPENS = {"for", "while", "until", "if", "case"}
CLOSES = {"done", "fi", "esac"}


def complete(command):
    """Whether `command` is whole: quotes closed, no trailing backslash,
    every loop or condition closed (counted on the words, outside quotes
    and comments)."""
    try:
        words = [word.strip(";") for word in shlex.split(command, comments=True)]
    except ValueError:
        return False
    depth = sum(word in OPENS for word in words) - sum(word in CLOSES for word in words)
    return depth <= 0 and not command.rstrip().endswith("\\")


def commands(block):
    """(line offset, command text, expectation or None) of a block."""
    out = []
    i = 0
    while i < len(block):
        line = block[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        start = i
        text = line
        while not complete(text) and i + 1 < len(block):
            i += 1
            text += "\n" + block[i]
        expect = None
        if i + 1 < len(block):
            match = EXPECT.match(block[i + 1].strip())
            if match:
                expect = (int(match.group(1)), match.group(2).strip() or None)
        out.append((start, text, expect))
        i += 1
    return out


def contains(actual, expected):
    if expected == "...":
        return actual is not None
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and all(
            any(contains(item, wanted) for item in actual) for wanted in expected
        )
    return actual == expected


def body_json(raw):
    text = raw.decode("utf-8", "replace")
    if text.startswith("HTTP/"):
        text = re.split(r"\r?\n\r?\n", text, maxsplit=1)[-1]
    return json.loads(text)


PRELUDE = r"""
set -eo pipefail
# Each curl's status and body, in order, for the checks.
curl() {
  local file status
  file=$(mktemp)
  status=$(command curl -w '%{http_code}' -o "$file" "$@" || true)
  cat "$file"
  printf '%s %s\n' "$status" "$(base64 -w0 < "$file")" >> "$README_LOG"
  rm -f "$file"
}
"""


def main():
    plan = []  # (file:line, command, expectation)
    script = [PRELUDE]
    for document in sys.argv[1:]:
        with open(document, encoding="utf-8") as f:
            text = f.read()
        for first, block in blocks(text):
            for offset, command, expect in commands(block):
                # Which command the requests that follow belong to.
                script.append(f'echo "@@ {len(plan)}" >> "$README_LOG"')
                plan.append((f"{document}:{first + offset}", command, expect))
                script.append(command)
    log = tempfile.NamedTemporaryFile(delete=False)
    log.close()
    env = dict(os.environ, README_LOG=log.name)
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write("\n".join(script) + "\n")
        path = f.name
    run = subprocess.run(["bash", path], env=env, capture_output=True, text=True)
    answers = {}  # command index -> [(status, body)]
    current = None
    with open(log.name) as f:
        for entry in f.read().splitlines():
            if entry.startswith("@@ "):
                current = int(entry[3:])
                answers[current] = []
            else:
                answers[current].append(entry.split(" ", 1) + [""])
    os.unlink(log.name)
    os.unlink(path)
    failures = []
    requests = 0
    for index, (line, command, expect) in enumerate(plan):
        head = command.splitlines()[0][:100]
        if index not in answers:
            failures.append(f"{line}: never ran ({head})")
            continue
        mine = [(status, body) for status, body, *_ in answers[index]]
        requests += len(mine)
        if expect and not mine:
            failures.append(f"{line}: {head}\n    made no request, the README documents an answer")
            continue
        for i, (status, body) in enumerate(mine):
            raw = base64.b64decode(body or "")
            last = i == len(mine) - 1
            if expect and last:
                want, subset = expect
                if int(status) != want:
                    failures.append(f"{line}: {head}\n    answered {status}, the README says {want}: {raw[:400]!r}")
                    continue
                if subset:
                    try:
                        ok = contains(body_json(raw), json.loads(subset))
                    except ValueError as err:
                        ok = False
                    if not ok:
                        failures.append(f"{line}: {head}\n    the answer lacks {subset}: {raw[:600]!r}")
                        continue
            elif not (200 <= int(status) < 400):
                failures.append(f"{line}: {head}\n    answered {status} (the README documents no error here): {raw[:400]!r}")
                continue
            print(f"ok {line} {status} {head}")
    if run.returncode != 0:
        failures.append(f"the README's commands stopped (exit {run.returncode}):\n{run.stderr[-3000:]}")
    if failures:
        print("\nSteps that do not run as written:\n", file=sys.stderr)
        for failure in failures:
            print("  " + failure, file=sys.stderr)
        sys.exit(1)
    print(f"{', '.join(sys.argv[1:])}: {len(plan)} commands, {requests} requests, all as documented")


if __name__ == "__main__":
    main()
