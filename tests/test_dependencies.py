"""pyproject.toml declares what the code imports, and nothing it does not: every third-party import in audit/,
tests/ and benchmarks/ is a declared dependency (core or an extra); every core dependency is imported by audit/."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project's own top-level names: its packages, and test helper modules imported from their own folder.
LOCAL = {"audit", "tests", "benchmarks"} | {p.stem for d in ("tests", "benchmarks") for p in (ROOT / d).rglob("*.py")}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    return _normalise(re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0])


@cache
def _declared() -> tuple[frozenset[str], frozenset[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = frozenset(_requirement_name(s) for s in project["dependencies"])
    extras = frozenset(_requirement_name(s) for specs in project["optional-dependencies"].values() for s in specs)
    return core, extras - {"audit"}


@cache
def _imported_modules(folder: str) -> dict[str, str]:
    """Top-level third-party module -> one file importing it (imports inside functions included)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL and not top.startswith("_"):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


@cache
def _module_owners() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    return {_normalise(d) for d in _module_owners().get(module, [module])}


def test_every_third_party_import_is_declared() -> None:
    core, extras = _declared()
    missing = []
    for folder in ("audit", "tests", "benchmarks"):
        for module, where in _imported_modules(folder).items():
            if not _distributions(module) & (core | extras):
                missing.append(f"{module} (imported in {where})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_every_core_dependency_is_imported() -> None:
    core, _ = _declared()
    used = set().union(*(_distributions(m) for m in _imported_modules("audit")))
    assert not core - used, f"declared in [project] dependencies but never imported by audit/: {sorted(core - used)}"
