"""Word-substitution attack, word occlusion and highlighted word attributions on tiny Hugging Face text classifiers.

The "gendered" tiny BERT decides by the pronoun (he/she), the "control" one by the good/bad word: the attack must
flip them by substituting exactly that word, and occlusion must rank that word first. Hostile texts reach the HTML
and Markdown reports inert."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audit import cli
from audit.models.hf_testing import text_rows, tiny_folders
from audit.reports.text_highlight import highlight_html, highlight_markdown
from audit.suites.text._words import rebuild, split_words, whole_word_vocabulary, with_core
from audit.types import Table

ROWS = 40
PRONOUNS = {"he", "she"}


@pytest.fixture(scope="module")
def folders() -> dict[str, Path]:
    return tiny_folders(Path(os.environ["AUDIT_HOME"]) / "tiny-hf")


def _context(folder: Path, csv: Path, tmp: Path):  # noqa: ANN202 - a SuiteContext
    from audit.data.text import TextColumns, load_text_data
    from audit.models import hf
    from audit.suite import SuiteContext

    loaded = hf.load_hf_folder(folder)
    encoder = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    data = load_text_data(csv, TextColumns("text", "label", ("gender",)), loaded.class_names, encoder)
    return SuiteContext(model=hf.hf_model(loaded, encoder, "tiny", str(folder), "cpu"), data=data, seed=0,
                        preset="quick", cache_dir=tmp)


@pytest.fixture(scope="module")
def contexts(folders, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("word_attacks")
    out = {}
    for rule in ("gendered", "control"):
        text_rows(ROWS, 31, rule).to_csv(root / f"{rule}.csv", index=False)
        out[rule] = _context(folders[rule], root / f"{rule}.csv", root)
    return out


def _robustness(ctx, **overrides):  # noqa: ANN001, ANN202
    from audit.suites.text.robustness import TextRobustnessSuite

    suite = TextRobustnessSuite()
    params = dataclasses.replace(suite.params_for("quick"), typo_rates=(), drop_rates=(), embedding_eps=(),
                                 resamples=50, **{"substitution_rows": ROWS, **overrides})
    return suite.run(ctx, params)


# The tiny models' input embeddings are barely trained, so word cosines say nothing there: every whole word of the
# 27-word vocabulary is allowed as a substitute, and the sentence bound (mean input embedding) is kept.
LOOSE = {"min_word_cosine": -1.0, "candidates_per_word": 30, "min_sentence_cosine": 0.8}


@pytest.mark.parametrize("rule, leaned_on", [("gendered", PRONOUNS), ("control", {"good", "bad"})])
def test_attack_flips_the_model_by_substituting_the_word_it_leans_on(contexts, rule, leaned_on):
    out = _robustness(contexts[rule], **LOOSE)
    by_name = {m.name: m for m in out.measurements}
    success = by_name["attack_success_rate[word-substitution]"]
    assert success.n >= ROWS * 0.9 and success.value >= 0.9
    assert success.ci[0] <= success.value <= success.ci[1]
    assert by_name["words_changed[word-substitution]"].value == 1.0  # one word: the budget at 20% of six words
    assert by_name["queries[word-substitution]"].value > 1 + 6  # the clean text, six occlusions, candidates
    assert "min_sentence_cosine" in success.details and "0.8" in success.details["constraint"]
    assert {"attack_success_rate[word-substitution,gender=male]",
            "attack_success_rate[word-substitution,gender=female]"} <= set(by_name)
    examples = next(t for t in out.tables if t.id == "text_word_substitution_examples")
    assert examples.rows and all(row[2].split(" → ")[0] in leaned_on for row in examples.rows)
    assert all(v.passed for v in out.validity), out.validity  # each flip re-checked by classifying the text afresh


def test_attack_is_deterministic(contexts):
    first, second = (_robustness(contexts["control"], substitution_rows=10, **LOOSE) for _ in range(2))
    figures = [[(m.name, m.value, m.ci) for m in out.measurements] for out in (first, second)]
    assert figures[0] == figures[1]
    assert first.tables == second.tables


def test_attack_under_a_strict_word_constraint_finds_no_substitute(contexts):
    out = _robustness(contexts["gendered"], min_word_cosine=0.999)
    by_name = {m.name: m for m in out.measurements}
    assert by_name["attack_success_rate[word-substitution]"].value == 0.0
    assert by_name["words_changed[word-substitution]"].insufficient_reason
    assert any("no word with a substitute" in note for note in out.notes)


def test_attack_on_the_sentence_encoder_reference_path(tmp_path):
    """The reference model's path (a sentence-transformers encoder and a head): substitutes from the encoder's word
    embeddings, similarity from its sentence embeddings; flips confirmed by encoding the attacked texts directly."""
    from audit.foundation.testing import tiny_text_reference
    from audit.suite import SuiteContext

    home = Path(os.environ["AUDIT_HOME"]) / "tiny-text"
    home.mkdir(parents=True, exist_ok=True)
    model, data = tiny_text_reference(home)
    ctx = SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=home)
    out = _robustness(ctx, substitution_rows=12, min_word_cosine=0.3)
    success = {m.name: m for m in out.measurements}["attack_success_rate[word-substitution]"]
    assert success.details["sentence_encoder"] == "the model's sentence encoder" and success.n > 0
    examples = next(t for t in out.tables if t.id == "text_word_substitution_examples")
    assert len(examples.rows) == min(5, round(success.value * success.n)) > 0
    before = model.predict(model.encoder.encode([r[0] for r in examples.rows], convert_to_tensor=True).float())
    after = model.predict(model.encoder.encode([r[1] for r in examples.rows], convert_to_tensor=True).float())
    assert (before != after).all()


def test_occlusion_ranks_the_leaned_on_word_first(contexts):
    from audit.suites.text._word_occlusion import occlude_words

    ctx = contexts["gendered"]
    texts = tuple(ctx.data.test.raw["text"])
    occlusions = occlude_words(ctx, texts, batch_size=64)
    moved = [o for o in occlusions if np.abs(o.effect(1)).max() > 0.5]
    assert len(moved) >= ROWS // 3  # a saturated model moves on masking one of the two pronouns only
    assert all(o.words[int(np.argmax(np.abs(o.effect(1))))].core in PRONOUNS for o in moved)


def test_occlusion_probabilities_match_transformers(folders, contexts):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from audit.suites.text._word_occlusion import occlude_words

    ctx = contexts["control"]
    texts = tuple(ctx.data.test.raw["text"])[:4]
    tokenizer = AutoTokenizer.from_pretrained(str(folders["control"]), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(folders["control"]), local_files_only=True).eval()
    for text, occlusion in zip(texts, occlude_words(ctx, texts, batch_size=64), strict=True):
        words = text.split(" ")
        masked = [" ".join(words[:j] + [tokenizer.mask_token] + words[j + 1:]) for j in range(len(words))]
        with torch.no_grad():
            expected = model(**tokenizer(masked, padding=True, return_tensors="pt")).logits.softmax(-1).numpy()
        np.testing.assert_allclose(occlusion.without, expected, atol=1e-5)


def test_explainability_compares_occlusion_with_integrated_gradients(contexts):
    from audit.suites.text.explainability import TextExplainabilitySuite

    suite = TextExplainabilitySuite()
    params = dataclasses.replace(suite.params_for("quick"), ig_rows=12, resamples=50, highlight_examples=3)
    out = suite.run(contexts["gendered"], params)
    by_name = {m.name: m for m in out.measurements}
    assert by_name["word_occlusion_share[gendered]"].value >= 0.4
    top = by_name["top_word_agreement[occlusion~integrated_gradients]"]
    assert top.n > 0 and top.value >= 0.9  # both methods put the pronoun first where occlusion registers at all
    assert "attribution_rank_agreement[occlusion~integrated_gradients]" in by_name
    highlight = next(t for t in out.tables if t.id == "text_word_attribution_highlight")
    assert {row[0] for row in highlight.rows} == {1, 2, 3} and len(highlight.columns) == 4
    per_text = next(t for t in out.tables if t.id == "text_word_attribution_agreement")
    assert [row[0] for row in per_text.rows] == [1, 2, 3]


def test_word_attributions_of_integrated_gradients_add_up_to_the_token_attributions(contexts):
    from audit.suites.text._token_attributions import ig_token_scores
    from audit.suites.text._word_attributions import ig_by_word
    from audit.suites.text._words import split_words

    ctx = contexts["control"]
    texts = tuple(ctx.data.test.raw["text"])[:4]
    ig = ig_token_scores(ctx, texts, steps=8)
    per_word = ig_by_word(ctx.model.encoder.tokenizer, ig, [split_words(t) for t in texts])
    special = {"[CLS]", "[SEP]", "[PAD]"}
    for i, tokens in enumerate(ig.tokens):
        words_only = sum(ig.scores[i, j] for j, tok in enumerate(tokens) if tok not in special)
        assert per_word[i].sum() == pytest.approx(words_only, abs=1e-6)


def test_spearman_agreement_matches_scipy_on_a_known_case(contexts):
    from scipy.stats import spearmanr

    from audit.suites.text._word_attributions import _agreement

    ig = [np.array([3.0, 1.0, 2.0, 0.5]), np.array([0.1, 0.2, 0.3])]
    occ = [np.array([0.9, 0.2, 0.1, 0.0]), np.array([0.0, 0.0, 0.0])]  # the second: occlusion does not vary
    rho, top = _agreement(contexts["gendered"], ig, occ, {}, resamples=20)
    assert rho.n == 1 and rho.value == pytest.approx(spearmanr(ig[0], occ[0]).statistic)
    assert top.n == 1 and top.value == 1.0


def test_words_keep_punctuation_case_and_spacing():
    text = "She said:  the Film, 'good'!\nend"
    words = split_words(text)
    assert [w.core for w in words] == ["She", "said", "the", "Film", "good", "end"]
    assert with_core(words[3], "book") == "Book,"
    assert rebuild(text, words, {4: with_core(words[4], "bad")}) == "She said:  the Film, 'bad'!\nend"
    assert rebuild(text, words, {2: ""}) == "She said:  Film, 'good'!\nend"


def test_whole_word_vocabulary_keeps_only_whole_words(folders):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folders["control"]), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(folders["control"]), local_files_only=True)
    vocab = whole_word_vocabulary(tokenizer, model.get_input_embeddings().weight)
    assert {"he", "she", "good", "film"} <= set(vocab.words)
    assert not {"[CLS]", "[MASK]", "a", "##s"} & set(vocab.words)  # specials, single letters, word pieces
    assert vocab.token_id("Good") == tokenizer.convert_tokens_to_ids("good")
    neighbours = vocab.neighbours("he", k=3, min_cosine=-1.0)
    assert len(neighbours) == 3 and "he" not in dict(neighbours)
    assert [c for _, c in neighbours] == sorted((c for _, c in neighbours), reverse=True)


HOSTILE = "<script>alert(1)</script>\x1b[31mred\u202eevil\u2066 &amp; \x07bell"


def _hostile_table() -> Table:
    words = [w.text for w in split_words(HOSTILE)]
    return Table(id="text_word_attribution_highlight", title="t", columns=("text", "word", "occlusion"),
                 rows=tuple((1, w, 0.5 - i * 0.3) for i, w in enumerate(words)))


def test_highlight_html_escapes_hostile_words():
    html = str(highlight_html(_hostile_table()))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert not any(ch in html for ch in "\x1b\x07\u202e\u2066")
    assert "&amp;amp;" in html  # an entity in the data is shown as text, not decoded
    assert 'title="' in html and "Legend" in html and "rgba(230, 120, 20" in html and "rgba(30, 100, 200" in html
    assert highlight_html(dataclasses.replace(_hostile_table(), id="other")) is None


def test_highlight_markdown_is_inert():
    lines = highlight_markdown(_hostile_table())
    text = "\n".join(lines)
    assert lines[0].startswith("- Text 1, occlusion: ") and "(+0.5)" in text
    assert "<script>" not in text and not any(ch in text for ch in "\x1b\x07\u202e\u2066")


def test_hostile_text_reaches_the_reports_inert(folders, tmp_path):
    rows = text_rows(8, 5, "gendered")
    rows.loc[0, "text"] = "he thinks <script>alert(1)</script> the \u202efilm\x1b[2J is good"
    rows.to_csv(tmp_path / "hostile.csv", index=False)
    (tmp_path / "audit.toml").write_text("[suites.text-explainability]\nig_rows = 8\nig_steps = 8\nresamples = 20\n")
    result = CliRunner().invoke(cli.app, [
        "run", "--model", str(folders["gendered"]), "--data", str(tmp_path / "hostile.csv"), "--text-column", "text",
        "--label", "label", "--suite", "text-explainability", "--config", str(tmp_path / "audit.toml"),
        "--device", "cpu", "--out", str(tmp_path / "out")])
    assert result.exit_code in (0, 1), result.output
    html = (tmp_path / "out" / "scorecard.html").read_text()
    block = html[html.index('<div class="text-highlight"'):]
    block = block[: block.index("</div>")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in block and "<script>alert" not in html
    assert "\u202e" not in block and "\x1b" not in html
    markdown = (tmp_path / "out" / "scorecard.md").read_text()
    assert "- Text 1, integrated gradients:" in markdown and "<script>" not in markdown
    card = json.loads((tmp_path / "out" / "scorecard.json").read_text())
    result = next(r for r in card["results"] if r["suite"] == "text-explainability")
    assert result["status"] == "ok"
