"""render_json builds scorecard.json from per-key and per-result dumps: the bytes must be one json.dumps of the
whole, for every prefix of the results the runner writes (and when a result's text is reused)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from audit.reports.json_io import load_scorecard, render_json
from audit.types import to_json_dict

GOLDEN = Path(__file__).parent / "golden" / "scorecard.json"


def _whole(scorecard) -> str:
    data = to_json_dict(dataclasses.replace(scorecard, results=()))
    data["results"] = [to_json_dict(r) for r in scorecard.results]
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def test_every_prefix_renders_as_one_dump() -> None:
    scorecard = load_scorecard(GOLDEN)
    assert scorecard.results
    for n in range(len(scorecard.results) + 1):
        prefix = dataclasses.replace(scorecard, results=scorecard.results[:n])
        assert render_json(prefix) == _whole(prefix)
        assert render_json(prefix) == _whole(prefix)  # second time from the kept result texts


def test_newlines_and_unicode_inside_strings() -> None:
    scorecard = load_scorecard(GOLDEN)
    first = scorecard.results[0]
    odd = dataclasses.replace(first, reason="line one\nline two — ü \u2028 \"quoted\"", notes=("a\nb", "\t"))
    changed = dataclasses.replace(scorecard, results=(odd, *scorecard.results[1:]))
    text = render_json(changed)
    assert text == _whole(changed)
    assert json.loads(text)["results"][0]["reason"] == odd.reason
