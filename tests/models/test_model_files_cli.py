"""Hostile model files through the `audit` command: exit 2, one message, no payload, no torch noise.

Two of the payloads that ran on the old loader; the other refusals are tested in-process (faster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pt2_crafting import evil_pickle, export_plain, payload_code, pickled_entry, rewrite, set_constants

WIDTH = 3


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli_models")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, WIDTH)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] > 0).astype(int)
    frame.to_csv(root / "d.csv", index=False)
    export_plain(root / "base.pt2", width=WIDTH)
    return root


def _guard_code(root: Path, marker: Path) -> Path:
    return rewrite(root / "base.pt2", root / "evil.pt2",
                   program=lambda p: p.__setitem__("guards_code", [payload_code(marker) + " > 0"]))


def _opaque_path_name(root: Path, marker: Path) -> Path:
    def members(content):
        content["data/constants/opaque_obj_0/x"] = evil_pickle(marker)
        set_constants(content, {"evil": pickled_entry("opaque_obj_0/x")})
    return rewrite(root / "base.pt2", root / "evil.pt2", members=members)


@pytest.mark.parametrize("make, message", [
    (_guard_code, "guard code"),
    (_opaque_path_name, "opaque_obj_0/x"),
])
def test_cli_refuses_model_file_with_exit_2(tmp_path, workspace, make, message):
    marker = tmp_path / "PAYLOAD_RAN"
    evil = make(workspace, marker)
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli", "run", "--model", str(evil), "--data", "d.csv", "--label", "y",
         "--suite", "accuracy", "--out", str(tmp_path / "out")],
        cwd=workspace, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not marker.exists(), "the payload ran"
    output = " ".join((proc.stdout + proc.stderr).split())  # the console wraps long lines
    assert message in output and output.count("error:") == 1
    assert "Traceback" not in output and "torch/" not in output  # neither our traceback nor torch's log lines
