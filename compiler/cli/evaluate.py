"""``dualgate eval``: ask a policy or a bundle for decisions, one request or a stream.

A source policy is compiled in memory and evaluated by the same runtime that loads
bundles, so ``eval`` on a policy and on its compiled bundle always agree.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from dualgate.compiler.cli.bundles import is_bundle, open_bundle, read_input
from dualgate.runtime import Bundle, BundleError, Decision, Verdict, load_bundle
from dualgate.runtime.fastjson import UNREAD, read_fast
from dualgate.runtime.telemetry.decision_log import DECISION_FIELDS, ENTRY_KEYS
from dualgate.runtime.verdict import MALFORMED_REQUEST

# The compiler (front end, analysis, backend, even its diagnostics' wording) and the
# readable renderings are imported where they are needed: evaluating a bundle, the replay
# of a decision log above all, should not start up the whole compiler first.

EXIT_OK, EXIT_REFUSED = 0, 1

#: The attributes a request line may carry; any other key makes the line malformed.
REQUEST_KEYS = frozenset({"topic", "env", "cidr"})
_KEYS_TEXT = "`topic`, `env` and `cidr`"
#: A line holding a ``decision_id`` is a gate's decision-log entry: it may carry every
#: key of an entry, and its request (``topic``, ``env``, ``cidr``) is decided again.
LOG_ENTRY_KEYS = frozenset((*ENTRY_KEYS, *DECISION_FIELDS))
_LOG_KEYS_TEXT = ", ".join(f"`{key}`" for key in dict.fromkeys((*ENTRY_KEYS, *DECISION_FIELDS)))
_LOG_MARK = "decision_id"
#: Malformed lines named one by one on standard error; the count covers the rest.
MALFORMED_SHOWN = 10
#: Readable lines written to standard output in one call.
_BATCH = 4096
#: Input read in pieces of this many bytes.
_CHUNK = 1 << 20
#: How many distinct request lines, of at most how many bytes, ``eval --input``
#: remembers parsed (about 50 MB at most), and how many distinct verdicts it keeps encoded
#: and decision-log entry tails it keeps checked (``_Requests.compact``).
_PARSED_LINES = 65536
_PARSED_LINE_BYTES = 512


def _compact_line() -> re.Pattern[bytes]:
    """A line laid out as the decision log's writer lays an entry out, or as compact JSON
    lays out a request: no whitespace, ASCII only, the keys in ``ENTRY_KEYS`` order.

    - An entry's head: the keys before ``topic`` (``timestamp``, ``decision_id``, ...),
      each with a value that ``json.loads`` reads (a string, valid escapes included,
      null, true, false, or an integer of at most 19 digits: a longer one may exceed the
      standard library's limit); it matches the empty group ``entry``. A request has none.
    - Then ``topic`` and ``env`` as strings without escapes, and optionally ``cidr`` as
      one or null: captured, since such a string reads as its ASCII bytes.
    - Then either the object's end (group ``end``, JSON whitespace allowed after it) or,
      after an entry's head, a comma and the tail, which ``_Requests.compact`` checks.
    """
    plain = rb"[\x20\x21\x23-\x5b\x5d-\x7f]"  # ASCII standing for itself in a string
    string = rb'"%s*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})%s*)*"' % (plain, plain)
    # A string without escapes is tried first: it matches without the loop over escapes.
    value = rb'(?:"%s*"|%s|null|true|false|-?(?:0|[1-9][0-9]{0,18}))' % (plain, string)
    text = rb'"(%s*)"' % plain
    first = ENTRY_KEYS.index("topic")
    if ENTRY_KEYS[first:first + 3] != ("topic", "env", "cidr"):
        raise AssertionError("the writer's layout changed: review _compact_line")
    head = b"".join(b'"%s":%s,' % (key.encode(), value) for key in ENTRY_KEYS[:first])
    return re.compile(rb'\{(?:%s(?P<entry>))?"topic":%s,"env":%s(?:,"cidr":(?:%s|null))?'
                      rb"(?:(?P<end>\}[ \t\n\r]*\Z)|(?(entry),|(?!)))"
                      % (head, text, text, text))


#: See ``_compact_line``.
_COMPACT_LINE = _compact_line()
#: The keys an entry's tail (after ``cidr``) may hold: a request key there would replace
#: the value read before.
_TAIL_KEYS = LOG_ENTRY_KEYS - REQUEST_KEYS


@click.command("eval", short_help="Decide requests with a policy or a bundle.")
@click.argument("source", metavar="POLICY_OR_BUNDLE",
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--topic", help="The job's topic.")
@click.option("--env", help="The job's env.")
@click.option("--cidr", help="The job's network (an address or a CIDR network).")
@click.option("--input", "input_file", type=click.File("rb"),
              help="Read one JSON request per line ({\"topic\": ..., \"env\": ..., "
              "\"cidr\": ...}, or a gate's decision-log entry) from FILE (`-`: standard "
              "input) and write one JSON verdict per line, in order; a line that is no "
              "request is denied as malformed-request.")
@click.option("--explain", "explained", is_flag=True,
              help="Say why: the deciding rule, the earlier rules and the condition each "
              "failed, the tier.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              help="Output format: text for a single request and JSON lines for --input "
              "by default; `--input ... --format text` prints one readable line each.")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False),
              help="For a bundle: require a valid signature by this Ed25519 public key.")
@click.option("--allow-unsafe", is_flag=True,
              help="Evaluate a policy source even when `dualgate compile` refuses it for its "
              "analysis errors (said on standard error and as `unsafe` in JSON).")
@click.option("--allow-malformed", is_flag=True,
              help="With --input: exit 0 even when some lines are no request (they are "
              "still denied and counted on standard error).")
@click.pass_context
def eval_command(
    ctx: click.Context, *, source: Path, topic: str | None, env: str | None, cidr: str | None,
    input_file: IO[bytes] | None, explained: bool, output_format: str | None,
    key: Path | None, allow_unsafe: bool, allow_malformed: bool,
) -> None:
    """Decide requests with POLICY_OR_BUNDLE: a bundle (from `dualgate compile`) or a
    policy source, which is compiled in memory first and, like `compile`, refused when it
    has errors (--allow-unsafe evaluates one whose errors are analysis findings).

    Give one request with --topic and --env (and --cidr), or many with --input. A
    request that is malformed is denied with a reason naming the fault.

    Exit status: 0 decided (whatever the decisions), 1 the policy or bundle was refused
    or --input held lines that are no request (unless --allow-malformed), 2 usage or I/O
    problem.
    """
    if input_file is None and (topic is None or env is None):
        raise click.UsageError("give --topic and --env, or --input FILE")
    if input_file is not None and (topic, env, cidr) != (None, None, None):
        raise click.UsageError("--input cannot be combined with --topic, --env or --cidr")
    bundle, unsafe = _load(ctx, source, key, allow_unsafe)
    extra: dict[str, Any] = {} if unsafe is None else {"unsafe": unsafe}
    if input_file is not None:
        if explained:
            raise click.UsageError("--explain takes one request (--topic and --env)")
        faults = (_write_batches(_readable(_answers(bundle, input_file)))
                  if output_format == "text" else _write_json_lines(bundle, input_file, extra))
        for number, fault in faults[:MALFORMED_SHOWN]:
            click.echo(f"line {number}: {fault}", err=True)
        if faults:
            more = len(faults) - MALFORMED_SHOWN
            named = f" ({more} more not shown)" if more > 0 else ""
            lines = "line" if len(faults) == 1 else "lines"
            failing = "" if allow_malformed else "; failing (--allow-malformed accepts them)"
            click.echo(f"{len(faults)} malformed {lines} denied as malformed-request{named}"
                       f"{failing}", err=True)
            if not allow_malformed:
                ctx.exit(EXIT_REFUSED)
        return
    from dualgate.compiler.reports.explanation import explanation_text, verdict_text

    if explained:
        from dualgate.runtime.explain import explain

        explanation = explain(bundle, topic, env, cidr)
        click.echo(json.dumps(explanation.to_json() | extra, indent=2)
                   if output_format == "json"
                   else explanation_text(bundle, explanation, (topic, env, cidr)))
        return
    verdict = bundle.decide(topic, env, cidr)
    click.echo(json.dumps(verdict.to_json() | extra, indent=2) if output_format == "json"
               else verdict_text(bundle, verdict, (topic, env, cidr)))


def _load(ctx: click.Context, source: Path, key: Path | None,
          allow_unsafe: bool) -> tuple[Bundle, str | None]:
    """The bundle to decide with, and why it is unsafe (None unless --allow-unsafe let
    through a policy that `compile` refuses)."""
    data = read_input(ctx, source)
    if is_bundle(data) or source.suffix.lower() == ".json":
        return open_bundle(ctx, source, key, data), None
    if key is not None:
        raise click.UsageError("--key checks a bundle's signature; POLICY is a source policy")
    from dualgate.compiler.backend import compile_loaded, compile_policy, recorded_source_path
    from dualgate.compiler.codes import Severity
    from dualgate.compiler.diagnostics import render_text
    from dualgate.compiler.frontend.loader import load_policy_bytes

    result = load_policy_bytes(data, str(source))
    # Recorded as `compile` records it, so that the verdicts name the same bundle hash.
    compilation = compile_loaded(result, source=data,
                                 recorded_path=recorded_source_path(source))
    if compilation.bundle is not None:
        return load_bundle(compilation.bundle), None
    reported = [d for d in compilation.report.diagnostics if d.severity is not Severity.INFO]
    sources = {result.path: result.source} if result.source else {}
    click.echo(render_text(reported, sources, files=1), err=True, color=ctx.color)
    errors = sum(d.is_error for d in reported)
    refused = f"`dualgate compile` refuses it: {errors} error{'s' * (errors != 1)}"
    if result.policy is None:
        click.echo(f"cannot evaluate `{source}`: {refused}", err=True)
        ctx.exit(EXIT_REFUSED)
    if not allow_unsafe:
        click.echo(f"cannot evaluate `{source}`: {refused} (--allow-unsafe evaluates it "
                   "anyway)", err=True)
        ctx.exit(EXIT_REFUSED)
    click.echo(f"warning: evaluating `{source}` although {refused} (--allow-unsafe)",
               err=True)
    try:
        bundle = load_bundle(compile_policy(result.policy, source=data,
                                            path=recorded_source_path(source)))
    except BundleError as error:
        click.echo(f"cannot evaluate `{source}` even so: the runtime refuses it: {error}",
                   err=True)
        ctx.exit(EXIT_REFUSED)
    return bundle, refused


#: A request as ``decide`` takes it: topic, env and cidr, as the line gave them.
_Request = tuple[object, object, object]
#: One input line's answer: its number, its request (None when malformed), the verdict
#: that decided it (None when malformed) and, for a malformed line, why it is no request.
_Answer = tuple[int, _Request | None, Verdict | None, str | None]
#: A line written to standard output, and (number, fault) when its input line was malformed.
_Line = tuple[bytes, tuple[int, str] | None]


def _chunks(file: IO[bytes]) -> Iterator[tuple[list[bytes], bool]]:
    """The lines of ``file`` (newlines removed), read in pieces of ``_CHUNK`` bytes:
    batches of lines, each with whether its lines ended with a newline (all do but the
    file's last line when the file does not end with one)."""
    rest = b""
    while chunk := file.read(_CHUNK):
        lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        rest = lines.pop()
        if lines:
            yield lines, True
    if rest:
        yield [rest], False


class _Requests:
    """The request on an input line, remembered by the line's bytes: a decision log
    repeats requests, and a line seen before skips decoding and JSON parsing. A line in
    the compact layout of the decision log's writer is read with one match
    (``compact``), and only any other line is parsed (``parse``). At most
    ``_PARSED_LINES`` lines of at most ``_PARSED_LINE_BYTES`` bytes are remembered (then
    the memory starts over), so the memory stays bounded whatever the input; malformed
    lines are never remembered. Only the parsing is remembered: every line is still
    decided, so an override that expires during the run changes the later verdicts."""

    def __init__(self, fast: bool = True) -> None:
        self.parsed: dict[bytes, _Request] = {}
        #: Tails of decision-log lines (what follows ``cidr``), each with whether it
        #: completes a head into an entry (``compact``).
        self.tails: dict[bytes, bool] = {}
        #: False: the reference reading, the standard library's alone (no orjson, no
        #: compact match), which the fast readings are tested against.
        self.fast = fast

    def request(self, raw: bytes, terminated: bool) -> _Request | str:
        """The request on ``raw`` (a line without its newline), or why it is none: from
        the memory, from the compact layout (``compact``) or parsed (``parse``). The
        replay loop of ``_write_json_lines`` does the same inline."""
        return self.parsed.get(raw) or self.compact(raw) or self.parse(raw, terminated)

    def compact(self, raw: bytes) -> _Request | None:
        """The request on a line in the compact layout of the decision log's writer
        (``_compact_line``), read without parsing the whole line: exactly the request
        ``parse`` gives, or None when the line is not in that layout (``parse`` reads
        it). Remembered as ``parse`` remembers it.

        A line matched to its end is a JSON object of request keys, or of entry keys
        with a ``decision_id``. After an entry's head, the tail (what follows the comma
        after ``cidr``) is read once by the standard library as the members of an
        object (``{`` + tail), and remembered: a gate's log repeats a few tails, one per
        verdict. Complete members, a comma, then a tail that is an object's members and
        its end make one JSON object holding both, whatever the tail's values (floats,
        escapes, UTF-8, an approval's object); its keys are entry keys when the tail's
        are, and none of them a request key, which would replace the value read first."""
        if not self.fast:
            return None
        line = _COMPACT_LINE.match(raw)
        if line is None:
            return None
        entry, topic, env, cidr, end = line.groups()
        if end is None:
            tail = raw[line.end():]
            known = self.tails.get(tail)
            if known is None:
                known = self._remember_tail(tail)
            if not known:
                return None
        request = (topic.decode(), env.decode(), None if cidr is None else cidr.decode())
        if entry is None and len(raw) <= _PARSED_LINE_BYTES:
            if len(self.parsed) >= _PARSED_LINES:
                self.parsed.clear()
            self.parsed[raw] = request
        return request

    def _remember_tail(self, tail: bytes) -> bool:
        """Whether ``tail`` completes an entry's head (``compact``), remembered when it
        is at most ``_PARSED_LINE_BYTES`` long (as lines are: the memory stays bounded in
        bytes too)."""
        try:
            value = json.loads("{" + tail.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            value = None
        known = type(value) is dict and bool(value) and value.keys() <= _TAIL_KEYS
        if len(tail) <= _PARSED_LINE_BYTES:
            if len(self.tails) >= _PARSED_LINES:
                self.tails.clear()
            self.tails[tail] = known
        return known

    def parse(self, raw: bytes, terminated: bool) -> _Request | str:
        """The request on ``raw`` (a line without its newline), or why it is none.

        orjson reads the line first when installed (``read_fast``: only where it reads
        what the standard library reads); any line it leaves, or that is no plain request,
        goes to ``_request``, whose standard-library reading decides the answer and names
        the fault, so the answers never depend on the parser."""
        value = read_fast(raw) if self.fast else UNREAD
        if value is UNREAD:
            try:
                value = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                value = None
        if type(value) is not dict or not (
                value.keys() <= REQUEST_KEYS
                or (_LOG_MARK in value and value.keys() <= LOG_ENTRY_KEYS)):
            # Named with the newline the line had: a fault's column is counted as before.
            found = _request(raw + b"\n" if terminated else raw)
            if isinstance(found, str):
                return found
            value = found
        request = (value.get("topic"), value.get("env"), value.get("cidr"))
        # A decision-log entry is never remembered: its decision id makes every line unique.
        if len(raw) <= _PARSED_LINE_BYTES and _LOG_MARK not in value:
            if len(self.parsed) >= _PARSED_LINES:
                self.parsed.clear()
            self.parsed[raw] = request
        return request


def _answers(bundle: Bundle, file: IO[bytes]) -> Iterator[_Answer]:
    """Every input line's answer, in order: a line that is no request is denied."""
    decide, requests = bundle.decide, _Requests()
    number = 0
    for lines, terminated in _chunks(file):
        for raw in lines:
            number += 1
            request = requests.request(raw, terminated)
            if isinstance(request, str):
                yield number, None, None, request
            else:
                yield number, request, decide(*request), None


def _write_batches(lines: Iterator[_Line]) -> list[tuple[int, str]]:
    """Write ``lines`` to standard output in batches; the (number, fault) of malformed ones."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    faults: list[tuple[int, str]] = []
    batch: list[bytes] = []
    for line, fault in lines:
        batch.append(line)
        if fault is not None:
            faults.append(fault)
        if len(batch) >= _BATCH:
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch))
    out.flush()
    return faults


def _write_json_lines(bundle: Bundle, file: IO[bytes], extra: dict[str, Any]) -> list[
        tuple[int, str]]:
    """Write one JSON verdict per input line to standard output, with the keys of ``eval
    --format json`` (a malformed line's adds its ``line`` number and ``error``); the
    (number, fault) of the malformed lines.

    The replay loop of a decision log, kept in one function because it runs per line:
    a line seen before, or one in the compact layout of the decision log's writer, skips
    parsing (``_Requests``: its memory, then ``compact``), and a verdict shared by many
    requests (the runtime returns the same object) is encoded once. Output is written
    once per input chunk.
    """
    sys.stdout.flush()
    out = sys.stdout.buffer
    decide, requests = bundle.decide, _Requests()
    parsed, compact, parse = requests.parsed, requests.compact, requests.parse
    # Keyed by identity (verdicts are shared), holding the verdict so that its id cannot
    # be reused by another object while the entry lives.
    encoded: dict[int, tuple[Verdict, bytes]] = {}
    faults: list[tuple[int, str]] = []
    number = 0
    for lines, terminated in _chunks(file):
        batch: list[bytes] = []
        append = batch.append
        for raw in lines:
            number += 1
            request = parsed.get(raw) or compact(raw)
            if request is None:
                found = parse(raw, terminated)
                if isinstance(found, str):
                    faults.append((number, found))
                    append(_encode(_malformed(number, found, bundle.content_hash) | extra))
                    continue
                request = found
            verdict = decide(*request)
            entry = encoded.get(id(verdict))
            if entry is None or entry[0] is not verdict:
                if len(encoded) >= _PARSED_LINES:
                    encoded.clear()
                entry = encoded[id(verdict)] = (verdict, _encode(verdict.to_json() | extra))
            append(entry[1])
        out.write(b"".join(batch))
    out.flush()
    return faults


def _readable(answers: Iterator[_Answer]) -> Iterator[_Line]:
    """``deny           rule deny-iam                    infra.iam.role.read env=dev``"""
    from dualgate.compiler.diagnostics import shown

    def _value(value: object) -> str:
        """A request value in a readable line: strings as written, others as JSON."""
        return shown(value if isinstance(value, str) else json.dumps(value))

    for number, request, verdict, fault in answers:
        if verdict is None or request is None:
            assert fault is not None
            text = f"{'deny':<14} {MALFORMED_REQUEST:<38} line {number}: {fault}"
            yield (text + "\n").encode(), (number, fault)
            continue
        topic, env, cidr = request
        why = f"rule {verdict.rule}" if verdict.rule else verdict.reason
        where = f"env={_value(env)}" + (f" cidr={_value(cidr)}" if cidr is not None else "")
        text = f"{verdict.decision:<14} {why:<38} {_value(topic)} {where}"
        yield (text + "\n").encode(), None


def _encode(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _malformed(number: int, fault: str, bundle_hash: str) -> dict[str, Any]:
    return {"decision": Decision.DENY.value, "rule": None, "reason": MALFORMED_REQUEST,
            "tier": None, "fail_mode": None, "bundle": bundle_hash, "line": number,
            "error": fault}


def _request(raw: bytes) -> dict[str, Any] | str:
    """The request on a line, or why it is none (one lowercase phrase)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at byte {error.start + 1})"
    if not text.strip():
        return "an empty line, not a JSON object"
    try:
        value = json.loads(text)
    except RecursionError:
        return "not a request: JSON nested too deeply"
    except json.JSONDecodeError as error:
        return f"not JSON: {error.msg[0].lower()}{error.msg[1:]} at column {error.colno}"
    except ValueError:  # an integer longer than Python converts (sys.set_int_max_str_digits)
        return (f"not a request: a number of more than {sys.get_int_max_str_digits()} "
                "digits")
    if not isinstance(value, dict):
        return f"a JSON {_JSON_KINDS[type(value)]}, not an object of {_KEYS_TEXT}"
    if _LOG_MARK in value:
        fault = _unknown_key(value, LOG_ENTRY_KEYS,
                             f"in a decision-log entry (the keys are {_LOG_KEYS_TEXT})")
    else:
        fault = _unknown_key(value, REQUEST_KEYS, f"(the keys are {_KEYS_TEXT}, or those of "
                             "a decision-log entry with a `decision_id`)")
    return value if fault is None else fault


def _unknown_key(value: dict[str, Any], known: frozenset[str], keys: str) -> str | None:
    """The fault of the first key of ``value`` not in ``known``, with the close match."""
    unknown = sorted(value.keys() - known)
    if not unknown:
        return None
    from dualgate.compiler.diagnostics import shown, suggest

    close = suggest(unknown[0], known)
    hint = f"; {close}" if close else ""
    return f"unknown key `{shown(unknown[0])}` {keys}{hint}"


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


