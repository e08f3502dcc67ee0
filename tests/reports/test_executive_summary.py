"""The executive summary and the report's reading order: findings in plain words, links that land, no raw values."""

from __future__ import annotations

import dataclasses
import re

from audit.reports import render
from audit.reports.formatting import fmt_number, human_header
from audit.reports.summary import build_summary, distance, verdict_sentence
from audit.types import Check, Threshold, Verdict


def test_blocking_findings_say_what_how_far_who_and_next(scorecard) -> None:
    summary = build_summary(scorecard)
    verdicts = [f.verdict for f in summary.blocking]
    assert verdicts == [Verdict.FAIL, Verdict.ERROR, Verdict.UNRELIABLE, Verdict.INSUFFICIENT_EVIDENCE]
    dp = summary.blocking[0]
    assert dp.title == "DP difference" and [g.group for g in dp.gaps] == ["sex"]
    assert dp.gaps[0].text == "value 0.14 (95% CI [0.08, 0.2]), 0.04 above the maximum 0.1"
    assert "groups by sex" in dp.measured and dp.impact and dp.next_step
    assert [f.title for f in summary.warnings] == ["ECE"]
    assert [r.suite for r in summary.not_applicable] == ["privacy"]
    assert [s.check.name for s in summary.self_checks] == ["finite_outputs", "gradient_masking", "loss_increases"]
    sentence = verdict_sentence(scorecard, summary)
    assert sentence.startswith("adult-mlp is not ready for release on adult: 1 failed gate, 1 suite error")


def test_distance_is_judged_where_the_policy_judges() -> None:
    on_ci = Check("robustness.robust_accuracy[x]", Verdict.FAIL, "", 0.55, (0.41, 0.6),
                  Threshold("robustness.robust_accuracy[*]", min=0.5, on="ci"))
    assert distance(on_ci) == "conservative CI bound 0.41 (95% CI [0.41, 0.6]), 0.09 below the minimum 0.5"


def test_every_internal_link_lands_on_an_element(scorecard) -> None:
    html = render(scorecard, "html")
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    targets = set(re.findall(r'href="#([^"]+)"', html))
    assert targets and targets <= ids, targets - ids
    assert len(re.findall(r'\bid="([^"]+)"', html)) == len(ids)  # ids are unique


def test_report_reading_order_and_collapsed_parts(scorecard) -> None:
    html = render(scorecard, "html")
    order = ['id="summary"', 'id="model-card"', 'id="checks"', 'id="accuracy-suite"', 'id="not-applicable"',
             'id="self-checks"', 'id="measurements"', 'id="configuration"', 'id="provenance"']
    positions = [html.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert 'id="privacy-suite"' not in html  # a suite that did not apply is one line, not a section
    assert html.count("needs capability &#39;training-data&#39;") == 1
    start = html.index('<table class="checks">')
    checks_table = html[start:html.index("</table>", start)]
    assert "validity" not in checks_table  # self-checks have their own section, listed once
    assert html.count("Black-box attack beat white-box attack.") == 1


def test_no_raw_machine_values_reach_the_reader(scorecard) -> None:
    sc = dataclasses.replace(scorecard, results=(dataclasses.replace(
        scorecard.results[0], measurements=scorecard.results[0].measurements + (
            dataclasses.replace(scorecard.results[0].measurements[0], name="tiny", value=7e-4, ci=(float("nan"), 1e-3)),
        ), tables=scorecard.results[0].tables + (
            dataclasses.replace(scorecard.results[0].tables[0], id="raw", columns=("selection_rate_ci", "n_eval"),
                                rows=((None, 12.0),)),)),) + scorecard.results[1:])
    html = render(sc, "html")
    visible = re.sub(r"<(style|svg)[\s\S]*?</\1>", "", html)
    visible = re.sub(r"<[^>]+>", " ", visible)
    for raw in ("NaN", "null", "7.000e-04", "selection_rate_ci", "None"):
        assert raw not in visible, raw
    assert "Selection rate CI" in visible and "0.0007" in visible and "n/a" in visible


def test_human_numbers_and_headers() -> None:
    assert [fmt_number(v) for v in (7e-4, 1.234e-5, 3e-9, 11670.0, 0.8569498, float("nan"), 2.5e13)] == [
        "0.0007", "0.0000123", "3 × 10⁻⁹", "11,670", "0.8569", "n/a", "2.5 × 10¹³"]
    assert human_header("latency_p50_ms") == "Latency p50 (ms)"
    assert human_header("eo_difference_after") == "EO difference after"
    assert human_header("true \\ predicted") == "True \\ predicted"


def test_a_failing_check_names_the_trained_remedy_and_its_cost(scorecard) -> None:
    from audit.types import SuiteResult, SuiteStatus, Table

    effect, accuracy = "0.0210 (-0.1500 [-0.1570, -0.1420], better)", "0.8400 (-0.0170 [-0.0220, -0.0120], worse)"
    table = Table("remedy_for_each_finding", "What fixing each audited finding costs",
                  ("finding", "audited value", "remedy", "effect", "accuracy"),
                  (("fairness.dp_difference[sex]", 0.14, "fairness_constrained", effect, accuracy),))
    remedies = SuiteResult("remedies", "remedies", SuiteStatus.OK, tables=(table,))
    with_remedy = dataclasses.replace(scorecard, results=scorecard.results + (remedies,))
    dp = build_summary(with_remedy).blocking[0]
    assert "fairness constrained" in dp.next_step and effect in dp.next_step and accuracy in dp.next_step
    assert dp.evidence[0].label == "remedies: what fixing it costs"
    html = render(with_remedy, "html")
    assert f'href="#{dp.evidence[0].anchor}"' in html and f'id="{dp.evidence[0].anchor}"' in html
    plain = build_summary(scorecard).blocking[0]
    assert "remedies suite" not in plain.next_step  # no remedy trained: no claim about one
