"""The export line shown in README.md and docs works as written, for any forward argument name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from audit.models.loaders import load_user_model
from audit.testing import synthetic_tabular

ROOT = Path(__file__).resolve().parents[2]
CALL = "torch.export.export("


def _balanced_call(text: str, start: int) -> str:
    depth = 0
    for end in range(start + len(CALL) - 1, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end + 1]
    raise AssertionError(f"unbalanced {CALL} call in the docs")


def _export_calls(path: Path) -> list[str]:
    text = path.read_text()
    return [_balanced_call(text, m.start()) for m in re.finditer(re.escape(CALL), text)]


class _NamedArgument(nn.Module):
    """forward's argument is not called x: a dict keyed "x" in dynamic_shapes would not fit it."""

    def __init__(self, width: int):
        super().__init__()
        self.fc = nn.Linear(width, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


def test_readme_and_docs_show_one_export_form():
    readme, docs = _export_calls(ROOT / "README.md"), _export_calls(ROOT / "docs" / "data-and-models.md")
    assert len(readme) == 1 and readme == docs[:1] and set(docs) == set(readme), (readme, docs)


@pytest.mark.parametrize("make", [lambda w: nn.Sequential(nn.Linear(w, 4), nn.ReLU(), nn.Linear(4, 2)), _NamedArgument])
def test_readme_export_line_runs_and_loads(tmp_path, make):
    (snippet,) = _export_calls(ROOT / "README.md")
    data = synthetic_tabular(n=80)
    model, x = make(data.test.x.shape[1]), data.test.x
    program = eval(snippet, {"torch": torch, "model": model, "x": x})  # our own README line, run as a user would
    torch.export.save(program, tmp_path / "model.pt2")
    loaded = load_user_model(tmp_path / "model.pt2", data=data, device="cpu")
    expected = model.eval()(x).softmax(dim=1).detach().numpy()
    assert loaded.predict_proba(x) == pytest.approx(expected, abs=1e-5)
