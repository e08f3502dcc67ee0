"""The model card: validated config, the HTML opening with it, model-card.md holding every field given."""

from __future__ import annotations

import dataclasses
import html as html_lib
import json
import re

import pytest
from sample_scorecard import IMG, MARKDOWN_BREAKERS, SCRIPT

from audit.card import CARD_FIELDS, CARD_KEYS, card_of, parse_card, read_card_file
from audit.config import load_config
from audit.errors import AuditInputError
from audit.reports import render

HOSTILE = f" {SCRIPT} {IMG} {MARKDOWN_BREAKERS}"
FULL_CARD = {
    "model_name": "Income screener",
    "model_version": "2.3.1",
    "owner": "Credit Risk Analytics",
    "contact": "risk-models@example.org",
    "license": "apache-2.0",
    "intended_use": "Ranking loan applications for manual review.",
    "intended_users": "Credit officers in the retail bank.",
    "out_of_scope_uses": "Automated rejection without human review.\n\nEmployment decisions.",
    "training_data": "UCI Adult training split (32,561 rows, 1994 US census).",
    "evaluation_data": "UCI Adult test split.",
    "limitations": "Trained on 1994 data; incomes are not inflation-adjusted.",
    "ethical_considerations": "Sex and race are inputs; see the fairness pillar.",
}


def _with_card(scorecard, card):
    return dataclasses.replace(scorecard, config={**scorecard.config, "card": card})


def test_card_fields_are_the_mitchell_sections() -> None:
    assert set(FULL_CARD) == set(CARD_KEYS)
    sections = {f.section for f in CARD_FIELDS}
    assert {"Model details", "Intended use", "Data", "Ethical considerations",
            "Caveats and recommendations"} <= sections


def test_unknown_card_key_is_exit_2_with_did_you_mean() -> None:
    with pytest.raises(AuditInputError, match=r"unknown model-card field 'licence'; did you mean 'license'\?"):
        parse_card({"licence": "mit"}, "test")
    with pytest.raises(AuditInputError, match="must be a string"):
        parse_card({"model_version": 2}, "test")


def test_card_from_config_file_and_card_flag(tmp_path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text('[tool.audit.card]\nmodel_name = "From config"\nowner = "Team A"\n', encoding="utf-8")
    card_file = tmp_path / "card.toml"
    card_file.write_text('model_name = "From --card"\nlicense = "mit"\n', encoding="utf-8")
    cfg = load_config({"card": str(card_file)}, config, project_dir=tmp_path)
    assert dict(cfg.card) == {"model_name": "From --card", "owner": "Team A", "license": "mit"}  # flags win, merged
    plain = load_config({}, config, project_dir=tmp_path)
    assert plain.sha256() == cfg.sha256()  # the card describes the model; it does not change any figure
    bad = tmp_path / "bad.toml"
    bad.write_text('[card]\nmodel_nmae = "x"\n', encoding="utf-8")
    with pytest.raises(AuditInputError, match="did you mean 'model_name'"):
        load_config({"card": str(bad)}, None, project_dir=tmp_path)
    with pytest.raises(AuditInputError, match="does not exist"):
        read_card_file(tmp_path / "missing.toml", "--card")


def test_html_opens_with_the_card_and_lists_nothing_missing(scorecard) -> None:
    html = render(_with_card(scorecard, FULL_CARD), "html")
    assert "<h1>Audit report: Income screener" in html
    card_at = html.index('id="model-card"')
    assert card_at < html.index('id="checks"')
    for value in FULL_CARD.values():
        assert value.replace("\n\n", "\n") in html.replace("\n\n", "\n") or value in html
    assert "not stated by the model" not in html


def test_without_a_card_every_field_is_listed_as_missing(scorecard) -> None:
    html = render(scorecard, "html")
    assert "No model card was given" in html
    for f in CARD_FIELDS:
        assert f.label in html[html.index('id="model-card"'):html.index('id="checks"')]
    md = render(scorecard, "card")
    assert "## Missing card fields" in md and all(f.label in md for f in CARD_FIELDS)
    assert "_not stated by the owner (missing)_" in md


def _as_text(markdown: str) -> str:
    """What a reader sees: the Markdown rendered by a CommonMark parser, tags stripped, entities decoded."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(markdown)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", rendered))


def _front_matter(md: str) -> dict[str, str]:
    head = md.split("---\n")[1]
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w[\w-]*): (.+)$", head, re.M)}


def test_model_card_md_holds_every_field_in_hub_layout(scorecard) -> None:
    md = render(_with_card(scorecard, FULL_CARD), "card")
    assert md.startswith("---\nlicense: \"apache-2.0\"\ntags:\n")
    assert "model-index:\n  - name: \"Income screener\"" in md
    assert "          - type: \"fairness.dp_difference[sex]\"\n            value: 0.14" in md
    text = _as_text(md.split("\n---\n", 1)[1])
    for key, value in FULL_CARD.items():
        for paragraph in value.split("\n\n"):
            assert paragraph in text, key
    assert "## Missing card fields" not in md
    assert "## What the audit measured" in md and "bundled:adult" in md
    assert json.loads(_front_matter(md)["license"]) == "apache-2.0"


def test_hostile_card_text_is_inert(scorecard) -> None:
    card = {key: f"{value}{HOSTILE}" for key, value in FULL_CARD.items()}
    sc = _with_card(scorecard, card)
    html, md = render(sc, "html"), render(sc, "card")
    assert "<script>" not in html and "<img" not in html
    front, body = md.split("\n---\n", 1)
    assert "<" not in front and ">" not in front  # YAML reads \u003c back as "<"; no renderer sees markup
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").render(body)
    assert "<script" not in rendered and "<img" not in rendered and "<a " not in rendered
    assert all(line.startswith(("---", "  ", "license:", "tags:", "model-index:")) for line in front.splitlines())


def test_card_in_scorecard_ignores_values_that_are_not_strings(scorecard) -> None:
    sc = _with_card(scorecard, {"model_name": ["not", "a", "string"], "owner": "Team", "bogus": "x"})
    assert dict(card_of(sc).values) == {"owner": "Team"}


def test_run_card_flag_with_an_unknown_field_is_exit_2(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from audit.cli import app

    monkeypatch.chdir(tmp_path)
    card = tmp_path / "card.toml"
    card.write_text('owner = "Team"\nintended_usage = "x"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--card", str(card), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "did you mean 'intended_use'" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()  # refused before anything ran
