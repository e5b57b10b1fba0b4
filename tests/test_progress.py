"""The analysis progress bar: drawn on a terminal after a delay, never when piped."""

from __future__ import annotations

import io

from click.testing import CliRunner

from dualgate.compiler.cli.main import cli
from dualgate.compiler.cli.progress import DelayedProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_draws_on_a_terminal_once_the_delay_has_passed_and_erases_itself() -> None:
    stream = _Terminal()
    progress = DelayedProgress("analyzing big.policy", stream, delay=0.0)
    progress("regions", 5, 10)
    progress.close()
    text = stream.getvalue()
    assert "analyzing big.policy: regions [############------------]  50% (5/10)" in text
    assert text.endswith("\r\x1b[K")


def test_stays_quiet_before_the_delay() -> None:
    stream = _Terminal()
    progress = DelayedProgress("analyzing", stream, delay=3600.0)
    progress("regions", 1, 2)
    progress.close()
    assert stream.getvalue() == ""


def test_never_draws_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = DelayedProgress("analyzing", stream, delay=0.0)
    progress("rules", 1, 2)
    progress.close()
    assert stream.getvalue() == ""


def test_lint_output_has_no_progress_noise_when_piped(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["--no-color", "lint", "policies/"])
    assert "\r" not in result.output
    assert result.exit_code == 0


def test_timings_go_to_stderr() -> None:
    result = CliRunner().invoke(cli, ["lint", "--timings", "policies/infra.policy"])
    assert "CheckShadowedRules" in result.stderr
    assert "CheckShadowedRules" not in result.stdout
