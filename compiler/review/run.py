"""Running a review: discover the changed policy files, lint, diff, replay and judge them.

The per-file pipeline reuses the other commands' stages: the front end and the analysis of
``lint`` (``analysis.check_file``), the semantic diff (``compiler.diff``) and the reference
interpreter. A new file is diffed against "nothing deployed" (every request denied), and so
is a file whose base version does not load (said in a note). A file whose head has
front-end errors is not diffed: its errors block on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dualgate.compiler.analysis import AnalysisOptions, check_file
from dualgate.compiler.diff import PolicyRef, diff_policies, nothing_deployed
from dualgate.compiler.frontend.loader import load_policy_bytes
from dualgate.compiler.ir import Policy
from dualgate.compiler.review.config import ConfigError, ReviewConfig
from dualgate.compiler.review.git import (
    ChangedFile,
    GitError,
    changed_policy_files,
    open_repository,
)
from dualgate.compiler.review.replay import ReplayError, ReplayLog, read_log, replay
from dualgate.compiler.review.verdict import (
    FileReview,
    Finding,
    Review,
    change_findings,
    deletion_finding,
    lint_findings,
    unused_waivers,
)
from dualgate.compiler.review.waivers import Waiver, WaiverFile, WaiverFileError, load_waivers


class ReviewError(Exception):
    """A usage or I/O problem that stops the review (exit status 2)."""


@dataclass(frozen=True)
class ReviewOptions:
    """What a review runs with: the clock, the analysis settings, config, optional files."""

    analysis: AnalysisOptions
    config: ReviewConfig
    waivers: Path | None = None
    replay: Path | None = None

    @property
    def now(self) -> datetime:
        return self.analysis.now


def run_review(cwd: Path, revision: str, paths: list[Path], options: ReviewOptions) -> Review:
    """Review the policy files under ``paths`` changed since ``revision``; see the module
    docstring. Raises :class:`ReviewError` for usage and I/O problems only."""
    try:
        repo = open_repository(cwd, revision)
        changed = changed_policy_files(repo, paths, cwd)
        waiver_file = _waivers(cwd, options)
        log = read_log(options.replay, str(options.replay)) if options.replay else None
    except (GitError, ConfigError, WaiverFileError, ReplayError) as error:
        raise ReviewError(str(error)) from None
    waivers = waiver_file.waivers if waiver_file else ()
    files = tuple(_review_file(f, revision, options, waivers, log) for f in changed)
    findings = [finding for file in files for finding in file.findings]
    return Review(revision, repo.base, files, waiver_file,
                  tuple(unused_waivers(waivers, findings)), log, options.config.levels)


def _waivers(cwd: Path, options: ReviewOptions) -> WaiverFile | None:
    path = options.waivers or options.config.waivers
    if path is None:
        return None
    return load_waivers(cwd / path, str(path), now=options.now,
                        max_days=options.config.max_waiver_days)


def _review_file(
    changed: ChangedFile, revision: str, options: ReviewOptions, waivers: tuple[Waiver, ...],
    log: ReplayLog | None,
) -> FileReview:
    levels = options.config.levels
    path = changed.display
    base_policy, notes = None, []
    if changed.base is not None:
        base_policy = load_policy_bytes(changed.base, path).policy
        if base_policy is None and changed.head is not None:
            notes.append(f"the version at `{revision}` does not load; "
                         "reviewed as a new file against nothing deployed")
    if changed.head is None:
        name = base_policy.name if base_policy else None
        deleted = deletion_finding(name, path, levels, waivers)
        result = None
        if base_policy is not None and log is not None:
            result = replay(log, base_policy.name, base_policy,
                            nothing_deployed(base_policy.name), options.now)
        return FileReview(path, changed.status, name, (deleted,), replay=result,
                          notes=tuple(notes))

    loaded = load_policy_bytes(changed.head, path)
    report = check_file(loaded, options.analysis)
    findings: list[Finding] = lint_findings(report.diagnostics)
    head_policy = loaded.policy
    if head_policy is None:
        notes.append("not diffed: the policy has front-end errors")
        return FileReview(path, changed.status, None, tuple(findings), notes=tuple(notes))
    base: Policy = base_policy or nothing_deployed(head_policy.name)
    diff = diff_policies(base, head_policy, now=options.now)
    findings.extend(change_findings(diff, base, head_policy, configured=levels,
                                    waivers=waivers, path=path, now=options.now,
                                    new=base_policy is None))
    base_ref = PolicyRef.of(f"{revision}:{path}", base, changed.base or b"")
    head_ref = PolicyRef.of(path, head_policy, changed.head)
    result = (replay(log, head_policy.name, base, head_policy, options.now)
              if log is not None else None)
    return FileReview(path, changed.status, head_policy.name, tuple(findings), base_ref,
                      head_ref, diff, result, tuple(notes))
