"""The semantic diff of two policies: every request whose outcome changes, with witnesses.

``diff_policies(base, head, now=...)`` returns a ``PolicyDiff`` whose ``changes`` follow
docs/design.md's "Changes, coverage and the gates"; ``PolicyDiff.to_json`` is issue #8's
normative JSON. Built on the region engine over the joint atoms of both policies
(``joint``), grouped in one sweep over their first-match cells (``changes``).
"""

from dualgate.compiler.diff.baseline import nothing_deployed
from dualgate.compiler.diff.changes import diff_policies
from dualgate.compiler.diff.model import (
    Change,
    ChangeKind,
    Direction,
    Outcome,
    PolicyDiff,
    PolicyRef,
    Reason,
)

__all__ = [
    "Change",
    "ChangeKind",
    "Direction",
    "Outcome",
    "PolicyDiff",
    "PolicyRef",
    "Reason",
    "diff_policies",
    "nothing_deployed",
]
