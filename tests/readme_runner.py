"""Run the README's shell blocks as written, and check what they answer against what the README says.

Every fenced ``bash`` block of the README runs, in order, in one bash session
(variables carry from block to block), except a block whose info string says
``bash no-run`` (installing, deploying: things a test machine must not do).
The one substitution: the API's documented address ``http://127.0.0.1:8000``
becomes the test stack's (its port is a free one); the CLI finds the stack as
a second shell would, through its stack file.

A command is checked by the ``# -> `` lines right after it::

    curl -s $API/v1/users/alice/wallet -H "Authorization: Bearer $KEY"
    # -> 200 {"available": 380, "held": 0, ...}
    # -> header Idempotent-Replayed: true

- a status (curl's, read with ``-w``; a CLI command's exit status as ``exit N``);
- a JSON shape: the keys shown must be there with those values; ``...`` in an
  object allows more keys, ``...`` as a value is anything, ``"ord_01..."`` is a
  string that starts with ``ord_01``; an expectation may go on over the next
  comment lines that start with ``#    ``;
- ``header Name: value`` (the command used ``curl -i``).

A curl answered 4xx or 5xx must say so in its ``# -> `` line: a step that
silently fails (a frozen buyer, an item never created) fails the test.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

DOCUMENTED_API = "http://127.0.0.1:8000"
STATUS_MARK = "\n__coinhall_status__="


@dataclass
class Step:
    number: int
    line: int  # of the README, where the command starts
    command: str
    expect: List[str] = field(default_factory=list)


def blocks(readme: str) -> List[Tuple[int, str]]:
    """(first line number, text) of every fenced bash block that runs."""
    found, lines = [], readme.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\S*)(.*)$", lines[i])
        if fence and fence.group(1):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) == "bash" and "no-run" not in fence.group(2):
                found.append((i + 2, "\n".join(lines[i + 1:end])))
            i = end + 1
            continue
        i += 1
    return found


def steps(readme: str) -> List[Step]:
    """The README's commands in order, each with the expectations written under it."""
    out: List[Step] = []
    for first, text in blocks(readme):
        current: Optional[Step] = None
        pending: List[str] = []
        for offset, raw in enumerate(text.splitlines()):
            stripped = raw.strip()
            if stripped.startswith("# -> "):
                assert current is not None, f"README line {first + offset}: an expectation with no command"
                current.expect.append(stripped[5:].strip())
                continue
            if stripped.startswith("#    ") and current is not None and current.expect:
                current.expect[-1] += " " + stripped[1:].strip()
                continue
            if not stripped or stripped.startswith("#"):
                continue
            pending.append(raw)
            if raw.rstrip().endswith("\\") or _open_quote("\n".join(pending)):
                continue
            current = Step(len(out) + 1, first + offset - len(pending) + 1, "\n".join(pending))
            out.append(current)
            pending = []
        assert not pending, f"README block at line {first}: a command does not end: {pending}"
    return out


def _open_quote(text: str) -> bool:
    """Whether a single-quoted string is still open (a JSON body over several lines)."""
    return text.count("'") % 2 == 1


def script(all_steps: List[Step], api_url: str, out_dir: Path) -> str:
    """One bash script: each step's stdout (and curl's status) into ``out_dir/<n>.out``."""
    lines = [
        "set -uo pipefail",
        # curl as documented; its status (and its own stderr) goes to the step's .status file,
        # so `X=$(curl ... | jq -r .id)` works as written.
        f"curl() {{ command curl -w '%{{stderr}}{STATUS_MARK.strip()}%{{http_code}}\\n' \"$@\" 2>>\"$__STATUS\"; }}",
    ]
    for step in all_steps:
        command = step.command.replace(DOCUMENTED_API, api_url)
        lines += [f"__STATUS={out_dir}/{step.number}.status; : > \"$__STATUS\"",
                  f"exec 3>&1 >{out_dir}/{step.number}.out",
                  command,
                  f"echo \"$?\" > {out_dir}/{step.number}.rc",
                  "exec 1>&3 3>&-",
                  f"if [ \"$(cat {out_dir}/{step.number}.rc)\" != 0 ] && "
                  f"! grep -q '^exit ' <<< {json.dumps(' '.join(step.expect))}; then exit 97; fi"]
    return "\n".join(lines) + "\n"


def run(all_steps: List[Step], api_url: str, out_dir: Path, env: Dict[str, str], cwd: Path) -> List[str]:
    """Run the steps; the problems found, one line each (empty: the README does what it says)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "readme.sh"
    path.write_text(script(all_steps, api_url, out_dir))
    done = subprocess.run(["bash", str(path)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    problems: List[str] = []
    for step in all_steps:
        out_file, rc_file = out_dir / f"{step.number}.out", out_dir / f"{step.number}.rc"
        if not rc_file.exists():
            problems.append(f"README line {step.line}: never ran (a step before it stopped the script)")
            break
        status_file = out_dir / f"{step.number}.status"
        output = out_file.read_text() + "\n" + (status_file.read_text() if status_file.exists() else "")
        shown = Step(step.number, step.line, step.command, [e.replace(DOCUMENTED_API, api_url) for e in step.expect])
        problems += [f"README line {step.line}: {p}\n    {step.command}" for p in
                     check(shown, output, int(rc_file.read_text().strip() or 0))]
    if done.returncode not in (0, 97) and not problems:
        problems.append(f"the script failed ({done.returncode}): {done.stderr[-2000:]}")
    return problems


# -- checking one step ------------------------------------------------------------------


def check(step: Step, output: str, rc: int) -> List[str]:
    """``output``: the step's stdout, then curl's status lines (``STATUS_MARK<code>``) and stderr."""
    problems: List[str] = []
    statuses: List[int] = []
    bodies = output
    if STATUS_MARK in "\n" + output:
        chunks = ("\n" + output).split(STATUS_MARK)
        bodies = chunks[0].lstrip("\n")
        for chunk in chunks[1:]:
            code, _, rest = chunk.partition("\n")
            statuses.append(int(code))
            bodies += rest
    said_status = [e for e in step.expect if re.match(r"^\d{3}\b", e)]
    said_exit = [e for e in step.expect if e.startswith("exit ")]
    if rc != 0 and not said_exit:
        problems.append(f"exited {rc}: {bodies.strip()[-500:]}")
    for e in said_exit:
        if rc != int(e.split()[1]):
            problems.append(f"exit status {rc}, the README says {e}")
    if statuses and not said_status and any(s >= 400 for s in statuses):
        problems.append(f"answered {statuses} and the README does not say so: {bodies.strip()[-500:]}")
    for e in said_status:
        code, _, shape = e.partition(" ")
        if int(code) not in statuses:
            problems.append(f"answered {statuses}, the README says {code}: {bodies.strip()[-500:]}")
            continue
        if shape.strip():
            problems += _check_shape(shape.strip(), _body_of(bodies))
    for e in step.expect:
        if e.startswith("header "):
            name, _, value = e[7:].partition(":")
            got = re.search(rf"(?im)^{re.escape(name.strip())}:\s*(.*?)\s*$", bodies)
            if got is None or got.group(1) != value.strip():
                problems.append(f"header {name.strip()} is {got.group(1) if got else None!r}, "
                                f"the README says {value.strip()!r}")
        elif not re.match(r"^(\d{3}\b|exit |header )", e):
            if e.startswith("{") or re.match(r"^\[\s*[\[{\"\d\]-]", e):  # "[Pay now](...)" is text
                problems += _check_shape(e, _body_of(bodies))
            elif e not in bodies:  # plain text: it appears in what the command printed
                problems.append(f"printed {bodies.strip()[-300:]!r}, the README says {e!r}")
    return problems


def _body_of(output: str) -> Any:
    text = output.strip()
    if text.startswith("HTTP/"):  # curl -i: headers, a blank line, the body
        text = re.split(r"\r?\n\r?\n", text, maxsplit=1)[-1].strip()
    try:
        return json.loads(text)
    except ValueError:
        return _NotJson(text)


class _NotJson(str):
    pass


_ANY = {"$any": True}


def parse_shape(text: str) -> Any:
    """The README's JSON with ``...`` placeholders, as a pattern (see the module's doc)."""
    s = re.sub(r'"([^"\\]*)\.\.\."', lambda m: json.dumps({"$prefix": m.group(1)}), text)
    s = re.sub(r"\{\s*\.\.\.\s*\}", json.dumps(_ANY), s)
    s = re.sub(r",\s*\.\.\.\s*(?=[}\]])", ', "$more": true', s)
    s = re.sub(r"(?<=[{\[])\s*\.\.\.\s*,?", '"$more": true, ', s)
    s = re.sub(r":\s*\.\.\.", ": " + json.dumps(_ANY), s)
    s = re.sub(r",\s*(?=[}\]])", "", s)
    s = s.replace('[, "$more": true', '["$more"').replace(', "$more": true]', ', "$more"]')
    try:
        return json.loads(s)
    except ValueError as exc:
        raise AssertionError(f"the README's expectation is not JSON with '...': {text!r} ({exc})") from None


def _check_shape(expected_text: str, actual: Any) -> List[str]:
    if isinstance(actual, _NotJson):
        return [f"the answer is not JSON: {str(actual)[:300]}"]
    problems: List[str] = []
    _match(parse_shape(expected_text), actual, "$", problems)
    return problems


def _match(expected: Any, actual: Any, where: str, problems: List[str]) -> None:
    if expected == _ANY:
        return
    if isinstance(expected, dict) and set(expected) == {"$prefix"}:
        if not (isinstance(actual, str) and actual.startswith(expected["$prefix"])):
            problems.append(f"{where} is {actual!r}, the README shows {expected['$prefix']}...")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            problems.append(f"{where} is {actual!r}, the README shows an object")
            return
        more = expected.pop("$more", False)
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key} is missing")
            else:
                _match(value, actual[key], f"{where}.{key}", problems)
        if not more and set(actual) - set(expected):
            problems.append(f"{where} has keys the README does not show (write ', ...'): "
                            f"{sorted(set(actual) - set(expected))}")
        return
    if isinstance(expected, list):
        more = bool(expected) and expected[-1] == "$more"
        items = expected[:-1] if more else expected
        if not isinstance(actual, list) or len(actual) < len(items) or (not more and len(actual) != len(items)):
            problems.append(f"{where} is {actual!r}, the README shows {len(items)} item(s)")
            return
        for i, value in enumerate(items):
            _match(value, actual[i], f"{where}[{i}]", problems)
        return
    if expected != actual:
        problems.append(f"{where} is {actual!r}, the README says {expected!r}")
