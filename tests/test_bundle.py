"""The bundle: schema, determinism, hashing, signatures, and refusal of anything unsound.

A bundle the runtime loads must be exactly what the compiler wrote (content hash), by a
key the gate trusts (signature, when a key is configured), of a format version the
runtime knows, and structurally sound; anything else is refused with ``BundleError``
and never with another exception.
"""

from __future__ import annotations

import copy
import json
import random
from array import array
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings

from dualgate.compiler import reference
from dualgate.compiler.backend import compile_loaded, compile_policy
from dualgate.compiler.backend.signing import generate_key_pair, sign_bundle
from dualgate.compiler.frontend.loader import load_policy, load_policy_text
from dualgate.runtime import BundleError, load_bundle
from dualgate.runtime.bundle_format import (
    CONTENT_KEY,
    content_hash,
    envelope,
    serialize,
    split_canonical,
)
from dualgate.runtime.verdict import (
    DEFAULT,
    EVALUATION_ERROR,
    INVALID_CIDR,
    INVALID_ENV,
    INVALID_TOPIC,
    RULE,
    UNKNOWN_ENV,
)
from dualgate.runtime.vocabulary import TierName
from dualgate.schemas import load_schema
from tests.profiles import examples
from tests.strategies import COLLIDING_NOW, colliding_policies

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "policies").glob("*.policy*"))
SCHEMA = jsonschema.Draft202012Validator(load_schema("bundle"))

SMALL = """\
policy small
envs production (protected), dev
tier high topics payments.** fail_mode closed
tier low topics **.read fail_mode open
override tier low fail_mode open until 2030-01-01T00:00:00Z reason "INC-1"

rule deny-public-payments
  when topic payments.** and cidr not in 10.0.0.0/8
  then deny
  reason "payments only from inside"

rule approve-prod-payments
  when topic payments.** and env production
  then require_human

rule allow-reads
  when topic **.read
  then allow
"""


def small_document() -> dict[str, Any]:
    result = load_policy_text(SMALL, "small.policy")
    compilation = compile_loaded(result)
    assert compilation.bundle is not None, compilation.report.diagnostics
    return compilation.bundle


@pytest.fixture(scope="module")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def rehashed(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its content hash recomputed (a forger's edit of an unsigned bundle)."""
    return envelope(document[CONTENT_KEY])


# -- schema and determinism ----------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_bundles_match_the_schema_and_load(path: Path) -> None:
    compilation = compile_loaded(load_policy(path))
    assert compilation.bundle is not None
    SCHEMA.validate(compilation.bundle)
    bundle = load_bundle(serialize(compilation.bundle))
    assert bundle.policy == compilation.bundle[CONTENT_KEY]["policy"]
    assert bundle.content_hash == content_hash(compilation.bundle[CONTENT_KEY])


def test_the_schema_itself_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema("bundle"))


def test_same_source_gives_byte_identical_bundles() -> None:
    first, second = serialize(small_document()), serialize(small_document())
    assert first == second
    assert first.startswith(b'{"content":{')


def test_the_canonical_layout_is_split_where_the_content_ends() -> None:
    data = serialize(small_document())
    parts = split_canonical(data)
    assert parts is not None
    content, rest = parts
    assert json.loads(bytes(content)) == json.loads(data)[CONTENT_KEY]
    assert json.loads(rest)[CONTENT_KEY] == 0
    assert split_canonical(b" " + data) is None


def test_a_reformatted_bundle_still_loads() -> None:
    """Pretty-printing changes no content: the canonical form of the content is compared."""
    document = small_document()
    pretty = json.dumps(document, indent=2).encode()
    assert load_bundle(pretty).content_hash == document["content_sha256"]


def test_a_loaded_document_shares_the_evaluators_planes_and_serializes_as_read() -> None:
    """Loaded from bytes, the document keeps the planes only as the evaluator's array
    (no second copy as a list); it still serializes to the bytes it was read from (what
    the holder writes as the last good bundle and the server serves), and it loads again
    as a parsed document to the same bundle."""
    data = serialize(small_document())
    bundle = load_bundle(data)
    planes = bundle.content["table"]["planes"]
    assert isinstance(planes, array) and planes is bundle.evaluator.planes
    assert serialize(bundle.document) == data
    again = load_bundle(bundle.document)
    assert again.content_hash == bundle.content_hash
    for request in (("payments.refund.create", "production", "8.8.8.8"),
                    ("docs.page.read", "dev", None), ("payments.x", "production", "10.1.2.3")):
        assert again.decide(*request) == bundle.decide(*request)


def test_a_callers_document_is_left_as_given() -> None:
    document = small_document()
    original = copy.deepcopy(document)
    load_bundle(document)
    assert document == original
    assert isinstance(document[CONTENT_KEY]["table"]["planes"], list)


def test_planes_of_another_array_type_are_refused() -> None:
    document = small_document()
    planes = document[CONTENT_KEY]["table"]["planes"]
    document[CONTENT_KEY]["table"]["planes"] = array("d", planes)
    with pytest.raises(BundleError, match=r"`table\.planes` is not a list"):
        load_bundle(rehashed(document))


@settings(max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(colliding_policies())
def test_every_compiled_bundle_matches_the_schema(policy: Any) -> None:
    """A policy the front end would refuse for opening the high tier compiles (the backend
    takes any IR) into a document that both the schema and the runtime refuse."""
    document = compile_policy(policy)
    if any(override.tier is TierName.HIGH for override in policy.overrides):
        with pytest.raises(jsonschema.ValidationError):
            SCHEMA.validate(document)
        with pytest.raises(BundleError, match="opens the high tier"):
            load_bundle(document)
    else:
        SCHEMA.validate(document)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(colliding_policies())
def test_the_tier_entries_are_a_hint_that_decides_nothing(policy: Any) -> None:
    """The verdicts `table.tier_entries` names are made at load, the others on first use:
    whether it names what the planes hold, nothing, or every rule in every tier, every
    request gets the same verdict, and the reference's decision and rule."""
    assume(all(o.tier is not TierName.HIGH for o in policy.overrides))  # refused at load
    document = compile_policy(policy)
    content = document[CONTENT_KEY]
    every = list(range(-1, len(content["rules"]["id"])))
    variants = []
    for entries in ([], every):
        variant = copy.deepcopy(content)
        variant["table"]["tier_entries"] = {tier.value: list(entries) for tier in TierName}
        variants.append(envelope(variant))
    bundles = [load_bundle(d, clock=COLLIDING_NOW.timestamp) for d in (document, *variants)]
    envs = [*policy.env_names, "undeclared"]
    for topic in ("a", "a.b", "b.c.d", "c", "x.y.z"):
        for env in envs:
            for cidr in (None, "10.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "bad"):
                got = {(v.decision, v.rule, v.reason, v.tier, v.fail_mode)
                       for v in (b.decide(topic, env, cidr) for b in bundles)}
                assert len(got) == 1, (topic, env, cidr, got)
                want = reference.evaluate(policy, reference.Request(topic, env, cidr),
                                          COLLIDING_NOW)
                assert {(d, r) for d, r, _, _, _ in got} == {(want.decision, want.rule)}


def test_the_verdicts_the_tier_entries_name_are_made_at_load(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh bundle decides every request of its policy without making a verdict (the
    compiler names every one its planes use); with the hint emptied, requests make them."""
    from dualgate.runtime import evaluator

    made: list[int] = []
    original = evaluator._View.rule_verdict

    def counting(view: Any, owner: Any, entry: int, tier: int) -> Any:
        made.append(entry)
        return original(view, owner, entry, tier)

    document = small_document()
    emptied = copy.deepcopy(document[CONTENT_KEY])
    emptied["table"]["tier_entries"] = {tier.value: [] for tier in TierName}
    hinted, unhinted = load_bundle(document), load_bundle(envelope(emptied))
    monkeypatch.setattr(evaluator._View, "rule_verdict", counting)
    requests = [(topic, env, cidr) for topic in ("payments.refund.create", "a.read", "x")
                for env in ("production", "dev") for cidr in (None, "10.0.0.1", "8.8.8.8")]
    for request in requests:
        hinted.decide(*request)
    assert made == []
    for request in requests:
        unhinted.decide(*request)
    assert made


# -- tampering -----------------------------------------------------------------------


def test_changing_any_byte_of_a_signed_bundle_is_refused(
    signing_key: Ed25519PrivateKey,
) -> None:
    """Every single-byte change of the document (all but the final newline) is refused,
    whether a key is configured or not."""
    signed = serialize(sign_bundle(small_document(), signing_key))
    public = signing_key.public_key()
    assert load_bundle(signed, public_key=public).verified_key is not None
    rng = random.Random(7)
    for position in range(len(signed) - 1):
        changed = bytearray(signed)
        changed[position] = (changed[position] + rng.randrange(1, 256)) % 256
        with pytest.raises(BundleError):
            load_bundle(bytes(changed), public_key=public)
    # Without a key, a change of the content or of its hash is still refused.
    for position in rng.sample(range(len(signed) - 200), 300):
        changed = bytearray(signed)
        changed[position] ^= 0x01
        with pytest.raises(BundleError):
            load_bundle(bytes(changed))


def test_a_signature_in_non_canonical_base64_is_refused(
    signing_key: Ed25519PrivateKey,
) -> None:
    """A 64-byte signature's last base64 character carries 4 unused bits: setting them
    decodes to the same signature, so only the canonical text is accepted (otherwise
    changing that byte of a signed bundle would still verify)."""
    document = sign_bundle(small_document(), signing_key)
    value = document["signature"]["value"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(value[-3])
    assert value.endswith("==") and last % 16 == 0
    document["signature"]["value"] = value[:-3] + alphabet[last + 1] + "=="
    for key in (signing_key.public_key(), None):
        with pytest.raises(BundleError, match="not canonical base64"):
            load_bundle(serialize(document), public_key=key)


def test_an_unsigned_bundle_is_refused_when_a_key_is_configured(
    signing_key: Ed25519PrivateKey,
) -> None:
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(serialize(small_document()), public_key=signing_key.public_key())


def test_a_signature_by_another_key_is_refused(signing_key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    signed = serialize(sign_bundle(small_document(), other))
    with pytest.raises(BundleError, match="signed by key"):
        load_bundle(signed, public_key=signing_key.public_key())


def test_a_signature_moved_to_other_content_is_refused(signing_key: Ed25519PrivateKey) -> None:
    """A forger who edits the content and recomputes the hash cannot keep the signature."""
    signed = sign_bundle(small_document(), signing_key)
    forged = rehashed(copy.deepcopy(signed))
    forged[CONTENT_KEY]["default_decision"] = "allow"
    forged = {**rehashed(forged), "signature": signed["signature"]}
    with pytest.raises(BundleError, match="does not verify"):
        load_bundle(serialize(forged), public_key=signing_key.public_key())


def test_a_forged_content_with_a_recomputed_hash_loads_only_without_a_key(
    signing_key: Ed25519PrivateKey,
) -> None:
    """What a content hash alone can and cannot promise: it catches corruption, not a
    forger; that is what the signature is for."""
    forged = copy.deepcopy(small_document())
    forged[CONTENT_KEY]["default_decision"] = "allow"
    forged = rehashed(forged)
    assert load_bundle(serialize(forged)).decide("x", "dev").decision == "allow"
    with pytest.raises(BundleError):
        load_bundle(serialize(forged), public_key=signing_key.public_key())


def test_keys_load_from_pem_files(tmp_path: Path) -> None:
    pair = generate_key_pair()
    (tmp_path / "k.pub").write_bytes(pair.public_pem)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    private = load_pem_private_key(pair.private_pem, password=None)
    signed = serialize(sign_bundle(small_document(), private))  # type: ignore[arg-type]
    for key in (tmp_path / "k.pub", str(tmp_path / "k.pub"), pair.public_pem):
        assert load_bundle(signed, public_key=key).verified_key == pair.key_id
    (tmp_path / "bad.pub").write_text("not a key")
    for bad, message in [(tmp_path / "bad.pub", "not a PEM public key"),
                         (tmp_path / "missing.pub", "cannot read public key"),
                         (pair.private_pem, "this is a private key: give the public key")]:
        with pytest.raises(BundleError, match=message):
            load_bundle(signed, public_key=bad)


# -- format versions and refusals ----------------------------------------------------


@pytest.mark.parametrize(("version", "message"), [
    (1, "bundle format version 1 is older than this runtime reads \\(version 4\\): compile "
        "the policy again"),
    (2, "bundle format version 2 is older than this runtime reads \\(version 4\\)"),
    (3, "bundle format version 3 is older than this runtime reads \\(version 4\\)"),
    (5, "unknown bundle format version 5; this runtime reads version 4"),
    (0, "unknown bundle format version 0; this runtime reads version 4"),
    (-3, "unknown bundle format version -3; this runtime reads version 4"),
])
def test_a_format_version_other_than_this_runtimes_is_refused(version: int,
                                                               message: str) -> None:
    document = copy.deepcopy(small_document())
    document[CONTENT_KEY]["format_version"] = version
    with pytest.raises(BundleError, match=message):
        load_bundle(rehashed(document))


def test_a_version_2_bundle_is_refused_before_its_layout_is_looked_at() -> None:
    """Version 2 wrote each state's map of literal edges in place (no `transitions`):
    such a bundle is refused for its version, not for the layout it has."""
    document = copy.deepcopy(small_document())
    content = document[CONTENT_KEY]
    topics = content["table"]["topics"]
    topics["next"] = [topics["transitions"][i] for i in topics["next"]]
    del topics["transitions"]
    content["format_version"] = 2
    with pytest.raises(BundleError, match="version 2 is older than this runtime reads"):
        load_bundle(rehashed(document))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["tiers"][0].update(fail_mode="open"), "high tier fails open"),
    (lambda c: c["overrides"].append({"tier": "high", "fail_mode": "open",
                                      "until": "2030-01-01T00:00:00Z", "reason": "x"}),
     "opens the high tier"),
    (lambda c: c["overrides"][0].update(until="2030-01-01"), "RFC 3339"),
    (lambda c: c["table"]["planes"].pop(), "run past the end of `table.planes`"),
    (lambda c: c["table"]["planes"].__setitem__(0, 99), "no rule index"),
    (lambda c: c["table"]["planes"].__setitem__(0, -2), "no rule index"),
    (lambda c: c["table"]["planes"].__setitem__(0, [0]), "no rule index"),
    (lambda c: c["table"]["planes"].clear(), "`table.planes` is empty"),
    (lambda c: c["table"]["classes"]["plane"].__setitem__(0, -1), "no index of `table.planes`"),
    (lambda c: c["table"]["classes"]["plane"].__setitem__(-1, len(c["table"]["planes"])),
     "run past the end"),
    (lambda c: c["table"]["classes"]["plane"].__setitem__(0, 1.0), "no index of `table.planes`"),
    (lambda c: c["table"]["classes"]["tier"].__setitem__(0, "urgent"), "not high, medium or low"),
    (lambda c: c["table"]["classes"]["tier"].pop(), "does not have one entry per class"),
    (lambda c: c["table"]["classes"].update(extra=[]), "unknown key `extra`"),
    (lambda c: c["table"]["topics"]["other"].__setitem__(0, 10**6), "does not exist"),
    (lambda c: c["table"]["topics"]["next"].__setitem__(0, 10**6),
     "no index of `table.topics.transitions`"),
    (lambda c: c["table"]["topics"]["next"].__setitem__(0, -1),
     "no index of `table.topics.transitions`"),
    (lambda c: c["table"]["topics"]["next"].__setitem__(0, True),
     "no index of `table.topics.transitions`"),
    (lambda c: c["table"]["topics"]["next"].pop(), "one `next`, `other` and `class` per state"),
    (lambda c: c["table"]["topics"]["transitions"].clear(), "`table.topics.transitions` is "
                                                            "empty"),
    (lambda c: c["table"]["topics"]["transitions"].append([]), "not an object"),
    (lambda c: c["table"]["topics"]["transitions"][0].update({"a b": 1}), "invalid segment"),
    (lambda c: c["table"]["topics"]["transitions"][0].update({"a": 10**6}),
     "`table.topics.transitions` leads to a state that does not exist"),
    (lambda c: c.update(format_version=2), "older than this runtime reads"),
    (lambda c: c["table"]["classes"]["layout"].__setitem__(0, 5), "layout that does not exist"),
    (lambda c: c["table"]["topics"]["exact"].update({"a..b": 0}), "something else than topics"),
    (lambda c: c["table"]["topics"]["exact"].update({"a.b": 99}), "something else than topics"),
    (lambda c: c["table"]["topics"]["exact"].update({".".join("a" * 65): 0}),
     "longer than a request's"),
    (lambda c: c["rules"]["id"].__setitem__(1, c["rules"]["id"][0]), "rule id twice"),
    (lambda c: c["rules"]["decision"].__setitem__(0, "maybe"), "no decision"),
    (lambda c: c["rules"]["conditions"].__setitem__(1, "topic a and env staging"),
     "not declared"),
    (lambda c: c["rules"]["conditions"].__setitem__(0, "cidr not in 10.0.0.1/8"),
     "no network"),
    (lambda c: c["rules"]["conditions"].__setitem__(0, "pattern payments.**"),
     "no list of conditions"),
    (lambda c: c["rules"]["conditions"].__setitem__(0, "topic a\nb"), "no condition has"),
    (lambda c: c["rules"]["conditions"].__setitem__(0, "topic a and "), "no list of conditions"),
    (lambda c: c["rules"]["conditions"].__setitem__(0, "env production, , staging"),
     "names env ``"),
    (lambda c: c["rules"]["conditions"].__setitem__(0, "env not production and cidr in "),
     "no list of conditions"),
    (lambda c: c["rules"]["conditions"].__setitem__(0, "cidr in 10.0.0.0/8, 10.0.0.1/8"),
     "no network"),
    (lambda c: c["rules"]["line"].__setitem__(0, 0), "`rules.line` holds an entry that is "
                                                     "neither a positive integer nor null"),
    (lambda c: c["rules"]["column"].__setitem__(0, -1), "`rules.column` holds an entry"),
    (lambda c: c["rules"]["line"].__setitem__(0, True), "`rules.line` holds an entry"),
    (lambda c: c["rules"]["line"].__setitem__(0, [1, 1]), "`rules.line` holds an entry"),
    (lambda c: c["rules"]["column"].__setitem__(0, 1.0), "`rules.column` holds an entry"),
    (lambda c: c["rules"]["line"].__setitem__(0, None),
     "`rules.line` and `rules.column` are not null for the same rules"),
    (lambda c: c["rules"]["column"].pop(), "`rules.column` does not have one entry per rule"),
    (lambda c: c["table"]["tier_entries"]["high"].append(10**6),
     "`table.tier_entries.high` holds an entry that is no rule index"),
    (lambda c: c["table"]["tier_entries"]["low"].__setitem__(slice(None), [1, 0]),
     "`table.tier_entries.low` holds an entry that is no rule index, or is not in ascending"),
    (lambda c: c["table"]["tier_entries"]["low"].__setitem__(slice(None), [0, "1"]),
     "`table.tier_entries.low` holds an entry"),
    (lambda c: c["table"]["tier_entries"].pop("medium"), "`table.tier_entries` has no `medium`"),
    (lambda c: c["table"].pop("tier_entries"), "`table` has no `tier_entries`"),
    (lambda c: c["rules"]["reason"].pop(), "one entry per rule"),
    (lambda c: c.update(extra=1), "unknown key `extra`"),
    (lambda c: c.pop("envs"), "has no `envs`"),
    (lambda c: c["table"]["networks"].append("not-a-network"), "no network"),
    (lambda c: c["table"]["networks"].append(c["table"]["networks"][0]), "network twice"),
    (lambda c: c["table"]["networks"].insert(0, "::/0"), "not in order"),
    (lambda c: c["table"]["layouts"][-1].append(99), "does not exist"),
    (lambda c: c["table"]["layouts"].__setitem__(-1, [0, 0]), "not ascending"),
    (lambda c: c.update(format="something-else"), "not a dualgate bundle"),
])
def test_unsound_content_is_refused_with_a_reason(edit: Any, message: str) -> None:
    document = copy.deepcopy(small_document())
    edit(document[CONTENT_KEY])
    with pytest.raises(BundleError, match=message):
        load_bundle(rehashed(document))


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "not an object"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"content": {}, "content_sha256": "00"}', "SHA-256"),
    (b'{"content": {"a": NaN}, "content_sha256": "' + b"0" * 64 + b'"}', "not JSON"),
])
def test_files_that_are_no_bundle_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        load_bundle(data)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read bundle"):
        load_bundle(tmp_path / "nope.bundle.json")
    with pytest.raises(BundleError, match="a bundle is a path"):
        load_bundle(42)  # type: ignore[arg-type]


def _mutations(document: Any, rng: random.Random) -> Any:
    """One random structural edit somewhere in ``document``."""
    path: list[Any] = []
    node = document
    while isinstance(node, dict | list) and node and rng.random() < 0.8:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append(key)
        node = node[key]
    if not path:
        return None
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    replacement = rng.choice([None, -1, 0, 1, 2**70, 1.5, True, "", "x", "deny", [], {},
                              [0], {"a": 1}, "10.0.0.0/8", "**"])
    if rng.random() < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return document


_FUZZ_REQUESTS = tuple(
    (topic, env, cidr)
    for topic in ("payments.card.charge", "a.read", "x", "", None)
    for env in ("production", "dev", "nope", None)
    for cidr in (None, "10.1.2.3", "8.8.8.8", "::1", "bad")
)
_REASONS = frozenset({RULE, DEFAULT, INVALID_TOPIC, INVALID_ENV, UNKNOWN_ENV, INVALID_CIDR})


def test_random_structural_edits_are_refused_cleanly_or_decide_without_raising() -> None:
    """Fuzz: a rehashed bundle with a random edit is either refused with BundleError or
    loads and then answers every request without raising; and whatever the schema
    refuses, the runtime refuses too."""
    rng = random.Random(11)
    base = small_document()
    policy = load_policy_text(SMALL, "small.policy").policy
    assert policy is not None
    unedited = load_bundle(base)
    for request in _FUZZ_REQUESTS:
        expected = reference.evaluate(policy, reference.Request(*request))
        verdict = unedited.decide(*request)
        assert (verdict.decision, verdict.rule, verdict.reason) == (
            expected.decision, expected.rule, expected.reason), request
    loaded = refused = 0
    for _ in range(1500):
        document = copy.deepcopy(base)
        if _mutations(document[CONTENT_KEY], rng) is None:
            continue
        document = rehashed(document)
        schema_ok = SCHEMA.is_valid(document)
        try:
            bundle = load_bundle(document)
        except BundleError:
            refused += 1
            continue
        loaded += 1
        assert schema_ok, "the runtime accepted what the schema refuses"
        for request in _FUZZ_REQUESTS:
            # Plain strings and None never make an evaluation error: a bundle that loads
            # must be sound enough to decide them (an edit may change the answer itself).
            verdict = bundle.decide(*request)
            assert verdict.reason != EVALUATION_ERROR, (request, verdict)
            assert verdict.reason in _REASONS, verdict
    assert refused > 500 and loaded > 20
