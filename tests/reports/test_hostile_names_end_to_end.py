"""Hostile group values and column names sent as a user would (a CSV), through `audit run`, into the reports.

A group value `https://evil.example/x` must not become a live link when scorecard.md is posted as a
pull-request comment (GitHub autolinks bare URLs and `www.`), and terminal escape sequences in group or
column names (`ESC[2J` clears the screen) must reach neither the Markdown nor the HTML.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audit.testing import train_classifier

URL_GROUP = "https://evil.example/x"
WWW_GROUP = "www.evil.example"
CLEAR_SCREEN = "\x1b[2J"
TITLE_COLUMN = "hours\x1b]0;pwned\x07\x9b31m"  # OSC window title, BEL, and a C1 control sequence introducer
# GFM autolinks (cmark-gfm's autolink extension): a scheme followed by "://", or "www." after a space or a delimiter.
_GFM_AUTOLINK = re.compile(r"(?i)(?:https?|ftp)://|(?:^|[\s*_~(|])www\.", re.MULTILINE)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    n = 360
    frame = pd.DataFrame({"a": rng.normal(size=n), TITLE_COLUMN: rng.normal(size=n)})
    frame["y"] = (frame["a"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame["group"] = np.array([URL_GROUP, CLEAR_SCREEN, WWW_GROUP])[np.arange(n) % 3]
    frame.to_csv(root / "data.csv", index=False)
    x = torch.tensor(frame[["a", TITLE_COLUMN]].to_numpy(), dtype=torch.float32)
    model = train_classifier(torch.nn.Sequential(torch.nn.Linear(2, 2)), x, torch.tensor(frame["y"].to_numpy()),
                             epochs=50)
    program = torch.export.export(model, (x[:8],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, root / "model.pt2")
    (root / "fast.toml").write_text("[suites.fairness]\nresamples = 50\nmitigation = false\n")
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli", "run", "--suite", "accuracy,fairness", "--model", str(root / "model.pt2"),
         "--data", str(root / "data.csv"), "--label", "y", "--sensitive", "group", "--config", str(root / "fast.toml"),
         "--out", str(root / "out")], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return root / "out"


def test_the_groups_were_audited(reports: Path) -> None:
    card = (reports / "scorecard.json").read_text()
    assert "evil.example" in card and "\\u001b[2J" in card  # the JSON keeps the data exactly (escaped)


def test_markdown_has_no_live_link_and_no_control_characters(reports: Path) -> None:
    md = (reports / "scorecard.md").read_text()
    assert "evil.example/x" in md and "evil.example" in md  # the group is still named, readably
    assert _GFM_AUTOLINK.findall(md) == []
    assert _CONTROLS.findall(md) == []
    assert "hours]0;pwned31m" in md.replace("\\", "")  # the column keeps its printable characters


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if name in ("href", "src", "xlink:href")]


def test_html_cells_have_no_control_characters_and_no_data_links(reports: Path) -> None:
    html = (reports / "scorecard.html").read_text()
    assert _CONTROLS.findall(html) == []
    assert "https://evil.example/x" in html  # shown as text ...
    parser = _Links()
    parser.feed(html)
    assert not [h for h in parser.hrefs if "evil" in h]  # ... never as a link
