"""CI runs exactly what README's "Set up" tells a developer to run: the same install, lint and test commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_setup_commands() -> list[str]:
    section = ROOT.joinpath("README.md").read_text().split("## Set up", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's Set up section has no bash block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_readmes_commands_in_order() -> None:
    commands = _readme_setup_commands()
    assert any(c.startswith("ruff check") for c in commands) and any("pytest" in c and "-rs" in c for c in commands)
    ci = [line.strip() for line in ROOT.joinpath(".ci/run").read_text().splitlines()]
    positions = [ci.index(c) for c in commands]  # ValueError names a README command CI does not run
    assert positions == sorted(positions)
