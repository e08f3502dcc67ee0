"""Start-up stays light: parsing a config, `audit --help` and `audit run --help` import no torch, pandas, scipy
or report renderers (each is seconds or tenths of seconds of CPU); they load when a model or a report needs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "pandas", "scipy", "scipy.stats", "numpy", "sklearn", "jinja2", "audit.suite",
         "audit.reports.html", "audit.reports.markdown")

_PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(body: str, cwd: Path) -> list[str]:
    code = _PROBE.format(body=body, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_config_validation_imports_nothing_heavy(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text('suite = "quick"\nrequire = ["accuracy"]\nallow_skipped = ["privacy"]\n'
                      '[suites.accuracy]\nbootstrap_resamples = 200\n[policy]\n"accuracy.accuracy" = { min = 0.7 }\n')
    body = (f"from pathlib import Path\n"
            f"from audit.config import load_config\n"
            f"cfg = load_config({{'model': 'adult-mlp', 'seed': 3}}, Path({str(config)!r}))\n"
            f"assert cfg.require == ('accuracy',) and cfg.seed == 3\n"
            f"from audit import registry\n"
            f"assert 'accuracy' in registry.names()\n")
    assert _loaded(body, tmp_path) == []


def test_unknown_suite_name_is_caught_without_loading_suites(tmp_path: Path) -> None:
    body = ("from audit.config import load_config\n"
            "from audit.errors import AuditInputError\n"
            "try:\n"
            "    load_config({'require': ('acuracy',)}, None)\n"
            "except AuditInputError as exc:\n"
            "    assert 'accuracy' in str(exc), exc\n"
            "else:\n"
            "    raise SystemExit('no error')\n")
    assert _loaded(body, tmp_path) == []


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["report", "--help"], ["compare", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    body = (f"sys.argv = ['audit', *{argv!r}]\n"
            "from audit.cli import app\n"  # what main() runs (main then ends the process at once)
            "try:\n"
            "    app(prog_name='audit')\n"
            "except SystemExit as exc:\n"
            "    assert exc.code in (0, None), exc.code\n")
    assert _loaded(body, tmp_path) == []


def test_registry_presets_match_the_suite_contract() -> None:
    from audit import registry
    from audit.suite import PRESETS

    assert registry.PRESETS == PRESETS


def test_wilson_z_is_scipy_normal_quantile() -> None:
    """wilson_interval takes z from scipy.special.ndtri (no scipy.stats import): the same float as norm.ppf."""
    import numpy as np
    from scipy.special import ndtri
    from scipy.stats import norm

    from audit.stats import wilson_interval

    for alpha in [*np.linspace(1e-6, 0.5, 2001), 0.05, 0.01, 0.1]:
        assert float(ndtri(1 - alpha / 2)) == float(norm.ppf(1 - alpha / 2))
    z = float(norm.ppf(0.975))
    k, n = 37, 120
    p, denom = k / n, 1 + z**2 / n
    centre, half = (p + z**2 / (2 * n)) / denom, z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    assert wilson_interval(k, n) == (float(centre - half), float(centre + half))
