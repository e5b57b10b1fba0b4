"""Approval tokens: signed over everything they say, refused when forged, altered,
expired or unreadable, and used once."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime.bundle_format import canonical_bytes
from dualgate.runtime.gates.approvals import (
    ApprovalError,
    ApprovalRequest,
    ApprovalToken,
    ApprovalVerifier,
    Binding,
    Claim,
    MemoryUsedTokens,
    Refusal,
    load_private_key,
    sign_approval,
)
from tests.gates_support import NOON, Clock
from tests.profiles import examples

ALICE = Ed25519PrivateKey.generate()
BOB = Ed25519PrivateKey.generate()
REQUEST = ApprovalRequest("job-1", Binding("sha256:job", "f" * 64, "approve-payments",
                                           "payments.refund", "production"))


def verifier(clock: Clock | None = None) -> ApprovalVerifier:
    return ApprovalVerifier({"alice": ALICE.public_key(), "bob": [BOB.public_key()]},
                            clock=clock or Clock())


def token(**changes: object) -> ApprovalToken:
    signed = sign_approval(REQUEST, approver="alice", private_key=ALICE,
                           expires_at=NOON + 600, token_id="t-1")
    return dataclasses.replace(signed, **changes) if changes else signed


@settings(max_examples=examples(50), deadline=None)
@given(job_id=st.text(), fields=st.tuples(st.text(), st.text(), st.none() | st.text(),
                                           st.text(), st.text()))
def test_a_request_is_its_job_id_and_binding(job_id: str,
                                            fields: tuple[str, str, str | None, str, str],
                                            ) -> None:
    """A request is one flat tuple (a gate builds it in one step) that gives back the
    job id and binding it was made of, and survives a copy and a pickle as itself."""
    binding = Binding(*fields)
    request = ApprovalRequest(job_id, binding)
    assert (request.job_id, request.binding) == (job_id, binding)
    assert type(request.binding) is Binding
    assert request == ApprovalRequest(job_id, Binding(*fields)) == (job_id, *fields)
    assert request.to_json() == {"job_id": job_id, "binding": binding.to_json()}
    for again in (copy.copy(request), copy.deepcopy(request),
                  pickle.loads(pickle.dumps(request))):
        assert type(again) is ApprovalRequest and again == request
    assert repr(request) == f"ApprovalRequest(job_id={job_id!r}, binding={binding!r})"
    with pytest.raises(AttributeError):
        request.job_id = "other"  # type: ignore[misc]


def test_a_signed_token_verifies_and_survives_its_text_form() -> None:
    signed = token()
    decoded = ApprovalToken.decode(signed.encode())
    assert decoded == signed
    assert (decoded.job_id, decoded.binding, decoded.approver) == (
        "job-1", REQUEST.binding, "alice")
    assert decoded.expires == "2026-12-01T12:10:00Z"
    assert decoded.expires_at == NOON + 600
    assert verifier().verify(signed.encode()) == (decoded, None)
    assert verifier().verify(signed) == (signed, None)


def test_tokens_get_unique_ids_by_default() -> None:
    ids = {sign_approval(REQUEST, approver="alice", private_key=ALICE,
                         expires_at=NOON + 60).token_id for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize("field", ["token_id", "job_id", "approver", "expires"])
def test_changing_any_field_breaks_the_signature(field: str) -> None:
    value = {"token_id": "t-2", "job_id": "job-2", "approver": "bob",
             "expires": "2027-01-01T00:00:00Z"}[field]
    altered = token(**{field: value})
    _, refusal = verifier().verify(altered.encode())
    # bob's key did not sign it: the token names a key bob does not have.
    assert refusal is (Refusal.UNKNOWN_KEY if field == "approver" else Refusal.BAD_SIGNATURE)


@pytest.mark.parametrize("field", ["job_hash", "bundle", "rule", "topic", "env"])
def test_changing_the_binding_breaks_the_signature(field: str) -> None:
    binding = REQUEST.binding._replace(**{field: "other"})
    assert verifier().verify(token(binding=binding).encode())[1] is Refusal.BAD_SIGNATURE


def test_a_key_not_configured_for_the_approver_is_refused() -> None:
    mallory = Ed25519PrivateKey.generate()
    forged = sign_approval(REQUEST, approver="alice", private_key=mallory,
                           expires_at=NOON + 600)
    assert verifier().verify(forged)[1] is Refusal.UNKNOWN_KEY
    # bob's own key cannot sign for alice.
    as_alice = sign_approval(REQUEST, approver="alice", private_key=BOB,
                             expires_at=NOON + 600)
    assert verifier().verify(as_alice)[1] is Refusal.UNKNOWN_KEY
    # A real key id with a signature by another key: forged.
    swapped = dataclasses.replace(forged, key_id=token().key_id)
    assert verifier().verify(swapped)[1] is Refusal.BAD_SIGNATURE
    assert ApprovalVerifier({}).verify(token())[1] is Refusal.UNKNOWN_KEY


def test_a_signature_over_the_bare_payload_does_not_pass() -> None:
    """The signature covers a prefix naming its purpose: the payload alone signed (as
    another tool might) is not an approval."""
    plain = token()
    bare = ALICE.sign(canonical_bytes(plain.payload()))
    assert verifier().verify(dataclasses.replace(plain, signature=bare))[1] \
        is Refusal.BAD_SIGNATURE


def test_expiry_is_exclusive() -> None:
    clock = Clock(NOON + 599.999)
    assert verifier(clock).verify(token())[1] is None
    clock.now = NOON + 600
    assert verifier(clock).verify(token())[1] is Refusal.EXPIRED


def test_every_single_character_change_is_refused() -> None:
    text = token().encode()
    check = verifier()
    for index in range(len(text)):
        for replacement in {"A", "_", ".", "=", "\n"} - {text[index]}:
            changed = text[:index] + replacement + text[index + 1:]
            _, refusal = check.verify(changed)
            assert refusal is not None, (index, replacement)


@pytest.mark.parametrize("text", [
    "", ".", "abc", "a.b.c", "!!!.???", "e30.AAAA", 42, None, b"bytes", ["a"],
    "x" * 9000,
])
def test_unreadable_tokens_are_malformed(text: object) -> None:
    assert verifier().verify(text) == (None, Refusal.MALFORMED)  # type: ignore[arg-type]


def _encoded(payload: object, signature: bytes = b"s" * 64) -> str:
    from base64 import urlsafe_b64encode

    def b64(data: bytes) -> str:
        return urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(canonical_bytes(payload))}.{b64(signature)}"


@pytest.mark.parametrize("change", [
    {"v": 2}, {"token_id": ""}, {"job_id": 7}, {"expires": "tomorrow"},
    {"binding": {"job_hash": "h"}}, {"binding": [1]}, {"extra": 1},
    {"binding": {"job_hash": 1, "bundle": "b", "rule": None, "topic": "t", "env": "e"}},
])
def test_payloads_of_the_wrong_shape_are_malformed(change: dict[str, object]) -> None:
    payload = token().payload() | change
    assert verifier().verify(_encoded(payload)) == (None, Refusal.MALFORMED)
    with pytest.raises(ApprovalError):
        ApprovalToken.decode(_encoded(payload))


def test_a_binding_without_rule_is_a_binding() -> None:
    """A hold by the policy's default decision has no rule: the token binds None."""
    request = ApprovalRequest("job-1", REQUEST.binding._replace(rule=None))
    signed = sign_approval(request, approver="alice", private_key=ALICE,
                           expires_at=NOON + 60)
    assert verifier().verify(signed.encode()) == (signed, None)


@settings(max_examples=examples(300), deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(
    lambda b: _encoded({"v": 1, "junk": b.hex()}))))
def test_verify_never_raises(text: str) -> None:
    _, refusal = verifier().verify(text)
    assert refusal is not None


def test_private_keys_load_from_pem_and_files(tmp_path: Path) -> None:
    pem = ALICE.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path = tmp_path / "alice.pem"
    path.write_bytes(pem)
    for source in (pem, str(path), path, ALICE):
        signed = sign_approval(REQUEST, approver="alice", private_key=source,
                               expires_at=NOON + 60, token_id="same")
        assert verifier().verify(signed)[1] is None
    public_pem = ALICE.public_key().public_bytes(Encoding.PEM,
                                                 PublicFormat.SubjectPublicKeyInfo)
    assert ApprovalVerifier({"alice": public_pem}, clock=Clock()).verify(token())[1] is None


@pytest.mark.parametrize(("source", "message"), [
    ("missing.pem", "cannot read private key `missing.pem`: No such file or directory"),
    (b"not pem", "the private key is not an unencrypted PEM private key"),
    (3, "a private key is a key object, PEM bytes or a path to a PEM file"),
])
def test_unusable_private_keys_say_why(source: object, message: str) -> None:
    with pytest.raises(ApprovalError) as error:
        load_private_key(source)
    assert str(error.value) == message


def test_an_unusable_public_key_says_why() -> None:
    with pytest.raises(ApprovalError, match="the public key is not a PEM public key"):
        ApprovalVerifier({"alice": b"junk"})


def test_an_approval_names_its_approver() -> None:
    with pytest.raises(ApprovalError, match="names its approver"):
        sign_approval(REQUEST, approver="", private_key=ALICE, expires_at=NOON)


def test_a_token_is_claimed_once_per_job() -> None:
    used = MemoryUsedTokens(clock=Clock())
    assert used.claim("job-1", "t-1", NOON + 60) is Claim.CLAIMED
    assert used.claim("job-1", "t-1", NOON + 60) is Claim.REUSED
    assert used.claim("job-2", "t-1", NOON + 60) is Claim.CLAIMED
    assert len(used) == 2


def test_a_full_store_forgets_expired_tokens_only() -> None:
    clock = Clock()
    used = MemoryUsedTokens(capacity=2, clock=clock)
    assert used.claim("j", "a", NOON + 10) is Claim.CLAIMED
    assert used.claim("j", "b", NOON + 20) is Claim.CLAIMED
    # Full of unexpired tokens: refuses rather than forget one that could be replayed.
    assert used.claim("j", "c", NOON + 30) is Claim.FULL
    clock.now = NOON + 10  # "a" has expired: the verifier refuses it anyway
    assert used.claim("j", "c", NOON + 30) is Claim.CLAIMED
    assert used.claim("j", "b", NOON + 20) is Claim.REUSED
    assert len(used) == 2
    with pytest.raises(ValueError, match="at least 1"):
        MemoryUsedTokens(capacity=0)


def test_concurrent_claims_of_one_token_let_exactly_one_through() -> None:
    used = MemoryUsedTokens(clock=Clock())
    results: list[Claim] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        for index in range(200):
            results.append(used.claim("job", f"t-{index}", NOON + 60))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(Claim.CLAIMED) == 200
    assert results.count(Claim.REUSED) == 7 * 200


def test_a_token_has_one_text_form() -> None:
    """Another spelling of the same payload or signature (set unused base64 bits, JSON
    with spaces) is refused: the text of a token is unique."""
    text = token().encode()
    payload, signature = text.split(".")
    last = signature[-1]
    respelled = signature[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(last) | 1]
    assert verifier().verify(f"{payload}.{respelled}") == (None, Refusal.MALFORMED)
    import json
    from base64 import urlsafe_b64encode

    spaced = urlsafe_b64encode(json.dumps(token().payload()).encode()).rstrip(b"=").decode()
    assert verifier().verify(f"{spaced}.{signature}") == (None, Refusal.MALFORMED)
