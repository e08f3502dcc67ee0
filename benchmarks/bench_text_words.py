"""Word-level text checks on the tiny 2-layer BERT of `audit.models.hf_testing`: the word-substitution attack of
the text robustness suite (full preset: 100 rows) and word occlusion beside integrated gradients (the text
explainability suite's 100 rows).

`extra_info` records wall and CPU time (user + system; the honest figure on a shared, loaded machine), queries
per attacked text and the success rate.

    pytest benchmarks/bench_text_words.py --benchmark-only
"""

from __future__ import annotations

import dataclasses
import resource
import time
from pathlib import Path

import pytest

pytest.importorskip("transformers")

ROWS = 100


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):  # noqa: ANN201 - a SuiteContext
    from audit.data.text import TextColumns, load_text_data
    from audit.models import hf
    from audit.models.hf_testing import text_rows, tiny_classifier_folder
    from audit.suite import SuiteContext

    root: Path = tmp_path_factory.mktemp("text_words_bench")
    folder = tiny_classifier_folder(root / "bert", "gendered")
    text_rows(ROWS, 7, "gendered").to_csv(root / "audit.csv", index=False)
    loaded = hf.load_hf_folder(folder)
    encoder = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    data = load_text_data(root / "audit.csv", TextColumns("text", "label", ("gender",)), loaded.class_names, encoder)
    return SuiteContext(model=hf.hf_model(loaded, encoder, "tiny", str(folder), "cpu"), data=data, seed=0,
                        preset="full", cache_dir=root)


def _timed(benchmark, run):  # noqa: ANN001, ANN202
    cpu, wall = _cpu_s(), time.perf_counter()
    out = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(wall_s=round(time.perf_counter() - wall, 2), cpu_s=round(_cpu_s() - cpu, 2))
    return out


def test_word_substitution_attack_full_preset(benchmark, ctx) -> None:
    from audit.suites.text.robustness import TextRobustnessSuite

    suite = TextRobustnessSuite()
    # The tiny model's input embeddings are barely trained: every whole word is allowed as a substitute.
    params = dataclasses.replace(suite.params_for("full"), typo_rates=(), drop_rates=(), embedding_eps=(),
                                 min_word_cosine=-1.0, candidates_per_word=30)
    out = _timed(benchmark, lambda: suite.run(ctx, params))
    by_name = {m.name: m for m in out.measurements}
    benchmark.extra_info.update(
        rows=ROWS, success_rate=by_name["attack_success_rate[word-substitution]"].value,
        queries_per_attacked_text=by_name["queries[word-substitution]"].value)


def test_word_occlusion_beside_integrated_gradients(benchmark, ctx) -> None:
    from audit.suites.text.explainability import TextExplainabilitySuite

    suite = TextExplainabilitySuite()
    params = dataclasses.replace(suite.params_for("full"), ig_rows=ROWS)
    out = _timed(benchmark, lambda: suite.run(ctx, params))
    by_name = {m.name: m for m in out.measurements}
    benchmark.extra_info.update(
        rows=ROWS, top_word_agreement=by_name["top_word_agreement[occlusion~integrated_gradients]"].value)
