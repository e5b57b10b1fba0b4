"""The command table of ``compiler/cli/main.py``: every command resolves, the help lines
stored for ``dualgate --help`` are the commands' own, and start-up imports only what a
command needs (checked in fresh interpreters)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dualgate.compiler import cli as cli_package
from dualgate.compiler.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
#: What a command should import only when it needs it (the front end's source spans,
#: which diagnostics use, are light and not listed).
HEAVY = ("lark", "pydantic", "jsonschema", "yaml", "cryptography",
         "dualgate.compiler.frontend.parser", "dualgate.compiler.frontend.loader",
         "dualgate.compiler.frontend.lowering", "dualgate.compiler.frontend.yaml_front",
         "dualgate.compiler.ir", "dualgate.compiler.analysis", "dualgate.compiler.backend")


def all_commands() -> dict[str, click.Command]:
    """Every top-level command defined in ``compiler/cli/`` (not a group's subcommand)."""
    found: dict[int, click.Command] = {}
    for module_info in pkgutil.iter_modules(cli_package.__path__):
        module = importlib.import_module(f"dualgate.compiler.cli.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, click.Command) and value is not cli_main.cli:
                found[id(value)] = value
    nested = {id(sub) for command in found.values() if isinstance(command, click.Group)
              for sub in command.commands.values()}
    return {command.name or "": command for key, command in found.items()
            if key not in nested}


def test_the_table_names_every_command_and_each_resolves() -> None:
    commands = all_commands()
    assert set(cli_main.COMMANDS) == set(commands)
    ctx = click.Context(cli_main.cli)
    assert cli_main.cli.list_commands(ctx) == sorted(commands)
    for name, command in commands.items():
        assert cli_main.cli.get_command(ctx, name) is command
        assert name in cli_main.cli.commands
    assert cli_main.cli.get_command(ctx, "no-such-command") is None
    assert "no-such-command" not in cli_main.cli.commands


@pytest.mark.parametrize("name", sorted(cli_main.COMMANDS))
def test_the_stored_help_line_is_the_commands_own(name: str) -> None:
    """At every width click may lay ``--help`` out in, the stored line gives what the
    command itself gives: changing a command's help without the table fails here."""
    real = all_commands()[name]
    entry = cli_main.COMMANDS[name]
    stored = (click.Command(name, help=entry.short_help) if entry.shortened
              else click.Command(name, short_help=entry.short_help))
    assert entry.shortened == (real.short_help is None)
    for limit in range(4, 160):
        assert stored.get_short_help_str(limit) == real.get_short_help_str(limit), limit


HELP_SCRIPT = """
import json, sys
from dualgate.compiler.cli.main import cli
from click.testing import CliRunner
pages = {w: CliRunner().invoke(cli, ["--help"], terminal_width=w).output for w in (40, 80, 200)}
print(json.dumps({"pages": pages, "modules": sorted(sys.modules)}))
"""


def test_help_lists_every_command_without_importing_them() -> None:
    done = subprocess.run([sys.executable, "-c", HELP_SCRIPT], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    result = json.loads(done.stdout)
    loaded = [m for m in result["modules"]
              if m.startswith("dualgate.compiler.cli.") and m != "dualgate.compiler.cli.main"]
    assert loaded == []
    # The same pages once every command is imported (the real commands give the lines).
    all_commands()
    runner = CliRunner()
    for width, page in result["pages"].items():
        assert runner.invoke(cli_main.cli, ["--help"], terminal_width=int(width)).output \
            == page
        for name in cli_main.COMMANDS:
            assert f"\n  {name} " in page


def modules_after(*argv: str) -> list[str]:
    """The modules a fresh ``dualgate ARGV`` has imported when it exits."""
    script = (
        "import sys\n"
        "from dualgate.compiler.cli.main import main\n"
        f"sys.argv = ['dualgate', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(chr(10).join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True, cwd=ROOT)
    return done.stderr.splitlines()


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_version_imports_no_front_end_pydantic_lark_or_command() -> None:
    modules = modules_after("--version")
    assert "click" in modules
    assert heavy(modules) == []
    assert [m for m in modules if m.startswith("dualgate.compiler.cli.")] == [
        "dualgate.compiler.cli.main"]


def test_eval_of_a_bundle_imports_no_compiler(tmp_path: Path) -> None:
    bundle = tmp_path / "infra.bundle.json"
    compiled = subprocess.run(
        [sys.executable, "-c", "from dualgate.compiler.cli.main import main; main()",
         "compile", str(ROOT / "policies" / "infra.policy"), "-o", str(bundle)],
        check=False, capture_output=True, cwd=ROOT)
    assert compiled.returncode == 0
    modules = modules_after("eval", str(bundle), "--topic", "infra.vm.read", "--env", "dev")
    assert "dualgate.runtime" in modules
    assert heavy(modules) == []
    # A replay of well-formed lines needs no wording of faults either.
    log = tmp_path / "decisions.jsonl"
    log.write_text('{"topic":"infra.vm.read","env":"dev"}\n')
    modules = modules_after("eval", str(bundle), "--input", str(log))
    assert "dualgate.runtime" in modules
    assert heavy(modules) == []
    assert "dualgate.compiler.diagnostics" not in modules


def test_lint_of_a_dsl_file_imports_no_yaml_front_end() -> None:
    """A `.policy` file never needs PyYAML or a schema validator (a pre-commit hook's
    `lint` starts faster without them); a YAML policy loads them on demand."""
    yaml_side = ("yaml", "jsonschema", "fastjsonschema", "dualgate.compiler.frontend.yaml_front")
    modules = modules_after("lint", str(ROOT / "policies" / "infra.policy"))
    assert "dualgate.compiler.frontend.loader" in modules
    assert [m for m in modules if m.split(".")[0] in yaml_side or m in yaml_side] == []
    yaml_policy = next(ROOT.glob("policies/*.policy.yaml"))
    assert "dualgate.compiler.frontend.yaml_front" in modules_after("lint", str(yaml_policy))


def test_lint_of_a_valid_dsl_file_imports_no_lark_until_a_syntax_error() -> None:
    """The direct reader reads a valid policy; Lark is imported only to word an error."""
    modules = modules_after("lint", str(ROOT / "policies" / "infra.policy"))
    assert "dualgate.compiler.frontend.parser" in modules
    assert [m for m in modules if m.split(".")[0] == "lark"] == []
    script = ("import sys\nfrom dualgate.compiler import load_policy_text\n"
              "result = load_policy_text('policy p\\nrule r deny when', 'p.policy')\n"
              "print(bool(result.diagnostics), 'lark' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                          text=True, cwd=ROOT)
    assert done.stdout.split() == ["True", "True"]


def test_lint_imports_no_pydantic_until_something_validates() -> None:
    """Lint builds the IR trusted (lowering made every check), so it never loads pydantic,
    its largest import; validating a node loads it on demand."""
    for path in ("policies/infra.policy", "policies/payments.policy.yaml"):
        modules = modules_after("lint", str(ROOT / path))
        assert "dualgate.compiler.ir" in modules
        assert [m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core")] == []
    script = ("import sys\nfrom dualgate.compiler import ir\n"
              "ir.EnvDecl(name='dev')\nprint('pydantic' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                          text=True, cwd=ROOT)
    assert done.stdout.strip() == "True"
