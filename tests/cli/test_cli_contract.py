"""The CLI contract: fast, import-light help; every README command parses; CI runs the README."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from biofeedback.cli import COMMANDS, build_parser
from tests.conftest import REPO

HEAVY = ("neurokit2", "bleak", "dash", "plotly", "pandas", "scipy", "numpy", "dbus_fast")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_help_path_imports_no_heavy_dependency() -> None:
    assert _imported_after("from biofeedback.cli import build_parser; build_parser()") == []


def test_importing_dashboards_and_devices_is_light() -> None:
    assert _imported_after("import dashboards, devices.heart_rate, devices.capture") == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0


def _readme_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command() -> None:
    commands = [line.strip() for b in _readme_blocks() for line in b.splitlines()]
    test_cmds = [c for c in commands if "pytest" in c]
    assert test_cmds, "README shows no test command"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmds[0] in ci


def test_every_biofeedback_command_in_readme_parses() -> None:
    parser = build_parser()
    seen = 0
    for block in _readme_blocks():
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("#") or "biofeedback " not in line:
                continue
            for part in re.split(r"&&|\|", line):
                words = shlex.split(part.strip())
                if not words or not words[0].endswith("biofeedback"):
                    continue
                seen += 1
                try:
                    parser.parse_args(words[1:])
                except SystemExit as exc:  # argparse exits 2 on an unknown flag
                    assert exc.code == 0, f"README command does not parse: {part.strip()}"
    assert seen >= 1
