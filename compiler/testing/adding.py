"""``dualgate test add``: one logged (or written-out) request into a permanent test case.

Only topic, env and cidr are taken from the request (at the top level of a JSON object
or under its ``input``); nothing else from a log is copied. The case is appended to the
test file as text, after its last case, so every byte already there (comments, layout,
quoting) stays as it was; the result is loaded again and must hold the old cases plus
the new one, or nothing is written. A missing test file is created only when the
policy it tests is given.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from dualgate.compiler.diagnostics import Diagnostic
from dualgate.compiler.frontend.source import SourceFile
from dualgate.compiler.frontend.yaml_front import JsonPath, read_yaml_data
from dualgate.compiler.testing.loading import TESTS_FORM, LoadedTests, load_test_bytes
from dualgate.compiler.testing.model import Case, CaseFile, CaseRequest
from dualgate.compiler.testing.report import outcome_text
from dualgate.compiler.testing.runner import CaseResult, Runner, run_case
from dualgate.runtime.telemetry.decision_log import MALFORMED_ENTRY, malformed_entry
from dualgate.schemas import load_schema

_BOM = b"\xef\xbb\xbf"


class AddError(Exception):
    """Nothing was added: a one-line reason, and the diagnostics behind it if any."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None,
                 sources: Mapping[str, SourceFile] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []
        self.sources = dict(sources or {})


@dataclass(frozen=True)
class Added:
    """The case appended to ``path`` and how the current policy answers it."""

    path: str
    case: Case
    result: CaseResult
    created: bool = field(default=False)

    @property
    def passed(self) -> bool:
        return self.result.passed

    def message(self) -> str:
        verb = "created" if self.created else "added a case to"
        actual = outcome_text(self.result.actual.to_json())
        head = f"{verb} `{self.path}`: case `{self.case.name}` at line {self.case.span.line}"
        if self.passed:
            return f"{head}\nthe current policy passes it ({actual})"
        return (f"{head}\nthe current policy fails it: expected "
                f"{outcome_text(self.case.expect)}, got {actual}\n"
                "the case passes once the policy is fixed; `dualgate test` fails until then")


# --- the request -----------------------------------------------------------------------


def read_request(text: str) -> CaseRequest:
    """The request in ``--request`` text: a JSON object with topic, env and cidr."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise AddError(f"--request is not JSON: {_json_problem(error)}") from None
    return _request_of(value, "--request")


def read_logged_request(path: Path, *, line: int | None = None,
                        decision_id: str | None = None) -> CaseRequest:
    """The request on one line of the log at ``path``: line ``line``, the entry with
    ``decision_id``, or the only entry of the log."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as error:
        raise AddError(f"cannot read `{path}`: {(error.strerror or str(error)).lower()}") \
            from None
    if lines and lines[-1] == b"":
        lines.pop()
    if line is not None:
        if line > len(lines):
            raise AddError(f"`{path}` has {len(lines)} lines, so no line {line}")
        return _request_of(_parse_line(lines[line - 1], path, line), f"line {line} of `{path}`")
    if decision_id is not None:
        return _by_decision_id(lines, path, decision_id)
    filled = [n for n, raw in enumerate(lines, start=1) if raw.strip()]
    if not filled:
        raise AddError(f"`{path}` holds no request")
    if len(filled) > 1:
        raise AddError(f"`{path}` holds {len(filled)} lines; pick one with --line N or "
                       "--decision-id ID")
    number = filled[0]
    return _request_of(_parse_line(lines[number - 1], path, number),
                       f"line {number} of `{path}`")


def _by_decision_id(lines: list[bytes], path: Path, decision_id: str) -> CaseRequest:
    found: list[tuple[int, Any]] = []
    unreadable = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            unreadable += 1
            continue
        if isinstance(value, dict) and value.get("decision_id") == decision_id:
            found.append((number, value))
    if not found:
        skipped = f" ({unreadable} lines that are not JSON were skipped)" if unreadable else ""
        raise AddError(f"no line of `{path}` has `decision_id` `{decision_id}`{skipped}")
    if len(found) > 1:
        numbers = ", ".join(str(n) for n, _ in found)
        raise AddError(f"`decision_id` `{decision_id}` is on lines {numbers} of `{path}`; "
                       "pick one with --line N")
    number, value = found[0]
    return _request_of(value, f"line {number} of `{path}`")


def _parse_line(raw: bytes, path: Path, number: int) -> Any:
    if not raw.strip():
        raise AddError(f"line {number} of `{path}` is empty")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise AddError(f"line {number} of `{path}` is not JSON: {_json_problem(error)}") \
            from None


def _json_problem(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg.lower()} at column {error.colno}"
    return "it is nested too deeply" if isinstance(error, RecursionError) else "invalid text"


def _request_of(value: Any, where: str) -> CaseRequest:
    """Topic, env and cidr of a JSON object, at its top level or under ``input``."""
    if not isinstance(value, dict):
        raise AddError(f"{where} is not a JSON object")
    if malformed_entry(value):
        raise AddError(f"{where} is {MALFORMED_ENTRY}")
    fields = value["input"] if isinstance(value.get("input"), dict) else value
    topic, env, cidr = fields.get("topic"), fields.get("env"), fields.get("cidr")
    for key, found in (("topic", topic), ("env", env)):
        if not isinstance(found, str):
            problem = "has no" if found is None else "has a non-string"
            raise AddError(f"{where} {problem} `{key}` (at the top level or under `input`)")
    if cidr is not None and not isinstance(cidr, str):
        raise AddError(f"{where} has a `cidr` that is not a string")
    assert isinstance(topic, str) and isinstance(env, str)
    return CaseRequest(topic, env, cidr)


# --- the test file ---------------------------------------------------------------------


def add_case(test_file: Path, request: CaseRequest, decision: str, *, name: str | None = None,
             source: str | None = None, policy: Path | None = None) -> Added:
    """Append a case expecting ``decision`` for ``request`` to ``test_file`` (created when
    missing and ``policy`` is given), and run it against the current policy."""
    display = str(test_file)
    if test_file.exists():
        data = _read(test_file)
        before = load_test_bytes(data, display)
        if before.file is None:
            raise AddError(f"`{display}` has errors; fix them first", before.diagnostics,
                           _sources(before))
        if policy is not None and not _same_file(policy, Path(before.file.policy_path)):
            raise AddError(f"`{display}` tests `{before.file.policy_path}`, not `{policy}`")
        names = {case.name for case in before.file.cases}
        if name is not None and name in names:
            raise AddError(f"`{display}` already has a case named `{name}`")
        entry = _entry(name or _unique(_default_name(request, source), names), request,
                       decision, source)
        updated = _appended(data, display, entry)
        created = False
    else:
        if policy is None:
            raise AddError(f"`{display}` does not exist; give --policy POLICY to create it")
        entry = _entry(name or _default_name(request, source), request, decision, source)
        relative = os.path.relpath(str(policy), str(test_file.parent))
        updated = (f"policy: {_quoted(Path(relative).as_posix())}\ncases:\n"
                   + "\n".join(_block_item(entry, 2)) + "\n").encode("utf-8")
        before, created = None, True
    after = load_test_bytes(updated, display)
    _check_appended(before, after, display)
    assert after.file is not None
    file = after.file
    result = _run_last(file)
    _write(test_file, updated)
    return Added(display, file.cases[-1], result, created)


def _run_last(file: CaseFile) -> CaseResult:
    prepared = Runner().policy_for(file, file.now or datetime.now(UTC))
    if prepared.bundle is None:
        sources = ({prepared.loaded.path: prepared.loaded.source}
                   if prepared.loaded.source else {})
        raise AddError(f"the policy `{file.policy_path}` cannot be run; nothing was added",
                       prepared.diagnostics, sources)
    return run_case(prepared.bundle, file.cases[-1])


def _check_appended(before: LoadedTests | None, after: LoadedTests, display: str) -> None:
    """The new text must load and hold exactly the old cases plus one."""
    old = [] if before is None or before.file is None else list(before.file.cases)
    if after.file is None or [_meaning(c) for c in after.file.cases[:-1]] != [
        _meaning(c) for c in old
    ] or len(after.file.cases) != len(old) + 1:
        raise AddError(f"cannot append to `{display}` without rewriting it (its `cases` "
                       "list is laid out in a way the appender does not handle); add the "
                       "case by hand", after.diagnostics, _sources(after))


def _meaning(case: Case) -> tuple[Any, ...]:
    return case.name, case.request, case.expect, case.source


def _sources(loaded: LoadedTests) -> dict[str, SourceFile]:
    return {loaded.path: loaded.source} if loaded.source else {}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _default_name(request: CaseRequest, source: str | None) -> str:
    cidr = f" from {request.cidr}" if request.cidr is not None else ""
    head = f"{source}: " if source else ""
    return f"{head}{request.topic} in {request.env}{cidr}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, counter = name, 1
    while candidate in taken:
        counter += 1
        candidate = f"{name} ({counter})"
    return candidate


def _entry(name: str, request: CaseRequest, decision: str,
           source: str | None) -> dict[str, Any]:
    fields = {"topic": request.topic, "env": request.env}
    if request.cidr is not None:
        fields["cidr"] = request.cidr
    entry: dict[str, Any] = {"name": name, "request": fields, "expect": {"decision": decision}}
    if source is not None:
        entry["source"] = source
    return entry


def _quoted(text: str) -> str:
    """``text`` as one double-quoted YAML scalar (escapes for whatever YAML cannot hold)."""
    return yaml.safe_dump(text, default_style='"', allow_unicode=True,
                          width=1 << 30).rstrip("\n")


def _flow(entry: dict[str, Any]) -> str:
    """A mapping (of strings and mappings) in YAML flow style on one line."""
    items = (f"{key}: {_flow(value) if isinstance(value, dict) else _quoted(value)}"
             for key, value in entry.items())
    return "{" + ", ".join(items) + "}"


def _block_item(entry: dict[str, Any], dash: int) -> list[str]:
    """The lines of one block-sequence item whose `-` stands at column ``dash`` (0-based)."""
    pad = " " * dash
    lines = []
    for index, (key, value) in enumerate(entry.items()):
        text = _flow(value) if isinstance(value, dict) else _quoted(value)
        lines.append(f"{pad}{'- ' if index == 0 else '  '}{key}: {text}")
    return lines


def _appended(data: bytes, display: str, entry: dict[str, Any]) -> bytes:
    """``data`` with ``entry`` inserted after the last case, every other byte unchanged."""
    bom = _BOM if data.startswith(_BOM) else b""
    text = data[len(bom):].decode("utf-8")
    source = SourceFile(display, text)
    values, spans, _ = read_yaml_data(source, load_schema("policy-tests"), form=TESTS_FORM)
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)

    def index(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    cases = spans[("cases",)]
    count = sum(1 for path in spans if len(path) == 2 and path[0] == "cases")
    last: JsonPath = ("cases", count - 1)
    newline = "\r\n" if "\r\n" in text else "\n"
    end = index(cases.end_line, cases.end_column)
    if text[index(cases.line, cases.column)] == "[":
        close = text.rindex("]", 0, end)
        before = text[:close].rstrip()
        insert = f"{'' if before.endswith(',') else ','} {_flow(entry)}"
        return bom + (text[:close] + insert + text[close:]).encode("utf-8")
    # A block collection's end lies past any comments after it; scalars and flow
    # collections end where their text does.
    item_end = max(
        index(s.end_line, s.end_column) for path, s in spans.items()
        if path[:2] == last and (text[index(s.line, s.column)] in "{["
                                 or not isinstance(_value(values, path), dict | list))
    )
    item = spans[last]
    line_text = text[starts[item.line - 1]:index(item.line, item.column)]
    dash = line_text.rfind("-")
    if dash < 0:
        dash = max(item.column - 3, 0)
    if item_end > 0 and text[item_end - 1] == "\n":
        at = item_end - 1
    else:
        found = text.find("\n", item_end)
        at = len(text) if found < 0 else found
    if at > 0 and text[at - 1] == "\r" and at < len(text):
        at -= 1
    insert = newline + newline.join(_block_item(entry, dash))
    return bom + (text[:at] + insert + text[at:]).encode("utf-8")


def _value(values: Any, path: JsonPath) -> Any:
    """The value at ``path``, or None for a key's path (keys are scalars)."""
    for part in path:
        if part == "<key>":
            return None
        values = values[part]
    return values


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise AddError(f"cannot read `{path}`: {(error.strerror or str(error)).lower()}") \
            from None


def _write(path: Path, data: bytes) -> None:
    """Replace ``path``'s content atomically, keeping its permissions."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except OSError as error:
        raise AddError(f"cannot write `{path}`: {(error.strerror or str(error)).lower()}") \
            from None


__all__ = ["AddError", "Added", "add_case", "read_logged_request", "read_request"]
