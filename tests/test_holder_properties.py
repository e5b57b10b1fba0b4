"""A property over any sequence of reloads and rollbacks: the holder always serves a
valid bundle, refusals change nothing, a new valid bundle is activated, and rollback
walks the history back."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dualgate.runtime import load_bundle
from dualgate.runtime.gates import BundleHolder, ReloadOutcome
from tests.profiles import examples
from tests.test_holder import hash_of, infra_bytes, payments_bytes

_REVISIONS = range(4)
_VALID = {(revision, layout): (infra_bytes(revision) if layout == 0 else
                               json.dumps(json.loads(infra_bytes(revision)),
                                          indent=layout).encode())
          for revision in _REVISIONS for layout in (0, 1)}
_INVALID = {"corrupt": infra_bytes(0)[:-30], "other-policy": payments_bytes()}
_REFERENCE = {hash_of(data): load_bundle(data) for data in _VALID.values()}
_HISTORY_SIZE = 3

_OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("serve"), st.sampled_from(sorted(_VALID))),
    st.tuples(st.just("serve"), st.sampled_from(sorted(_INVALID))),
    st.tuples(st.just("rollback"), st.none()),
), max_size=25)


@settings(max_examples=examples(60), deadline=None)
@given(_OPERATIONS)
def test_reloads_and_rollbacks_keep_the_holder_consistent(
        operations: list[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "infra.bundle.json"
        source.write_bytes(_VALID[(0, 0)])
        holder = BundleHolder(source, history_size=_HISTORY_SIZE)
        seen = _VALID[(0, 0)]  # the bytes of the last reload that was not refused
        rolled_back: set[str] = set()  # since the source's last activation
        for kind, what in operations:
            before = holder.active
            history = [b.content_hash for b in holder.history()]
            assert before is not None
            if kind == "rollback":
                result = holder.rollback()
                if len(history) >= 2:
                    assert result.result is ReloadOutcome.ACTIVATED
                    assert [b.content_hash for b in holder.history()] == history[1:]
                    rolled_back.add(history[0])
                else:
                    assert result.result is ReloadOutcome.REFUSED
                    assert holder.active is before
            elif isinstance(what, str):
                source.write_bytes(_INVALID[what])
                assert holder.reload().result is ReloadOutcome.REFUSED
                assert holder.active is before
            else:
                assert isinstance(what, tuple)
                data = _VALID[what]
                source.write_bytes(data)
                result = holder.reload()
                served = hash_of(data)
                if result.result is ReloadOutcome.ACTIVATED:
                    assert served != before.content_hash
                    assert [b.content_hash for b in holder.history()][:2] == [
                        served, before.content_hash]
                    rolled_back.clear()
                else:
                    assert holder.active is before
                if result.result is ReloadOutcome.REFUSED:
                    assert served in rolled_back and "was rolled back" in result.reason
                elif data != seen and served != before.content_hash:
                    assert result.result is ReloadOutcome.ACTIVATED
                if result.result is not ReloadOutcome.REFUSED:
                    seen = data
            active = holder.active
            assert active is not None and active.content_hash in _REFERENCE
            hashes = [b.content_hash for b in holder.history()]
            assert hashes[0] == active.content_hash and len(hashes) <= _HISTORY_SIZE
            verdict, used = holder.decide("infra.vm.delete", "production", "10.0.0.1")
            assert used is active
            assert verdict == _REFERENCE[active.content_hash].decide(
                "infra.vm.delete", "production", "10.0.0.1")
