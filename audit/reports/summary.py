"""The executive summary: each check that stops a release, in plain words, with the next step and its evidence.

Formatting only: every figure comes from the scorecard. What a metric means for people and what to do about it
is text keyed by the metric's name (`<suite>.<metric>[<group>]`); an unknown metric gets a generic sentence
built from its own description, so a third-party suite is still summarised.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from audit.reports.formatting import fmt_ci, fmt_number, human_header
from audit.types import Check, Scorecard, SuiteResult, SuiteStatus, ValidityCheck, Verdict

# Verdicts that stop a release or leave it unproven, most serious first; warnings are listed in one line each.
BLOCKING = (Verdict.FAIL, Verdict.ERROR, Verdict.INCOMPLETE, Verdict.UNRELIABLE, Verdict.INSUFFICIENT_EVIDENCE)


@dataclass(frozen=True)
class Evidence:
    anchor: str  # id of an element in scorecard.html
    label: str


@dataclass(frozen=True)
class Gap:
    check: Check
    group: str  # "sex", "" for an ungrouped metric
    text: str  # how far from the threshold


@dataclass(frozen=True)
class Finding:
    """One metric's checks with the same verdict (e.g. the disparate-impact ratio for sex, race and age)."""

    verdict: Verdict
    title: str  # "Disparate impact ratio"
    measured: str  # what was measured, on which groups
    gaps: tuple[Gap, ...]  # one per check, how far from its threshold
    impact: str  # what it means for the people affected
    next_step: str
    evidence: tuple[Evidence, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(g.check.key for g in self.gaps)


@dataclass(frozen=True)
class SelfCheck:
    suite: str
    check: ValidityCheck


@dataclass(frozen=True)
class ExecutiveSummary:
    blocking: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    self_checks: tuple[SelfCheck, ...]
    not_applicable: tuple[SuiteResult, ...]  # suites skipped as not applying to this model or data
    passed: int


@dataclass(frozen=True)
class _Guide:
    what: str  # "{group}" is replaced by the group in brackets
    impact: str
    next_step: str
    evidence: tuple[tuple[str, str, str], ...]  # (suite, "table"|"chart", id with {group}) tried in order


_FAIRNESS_EVIDENCE = (("fairness", "table", "mitigation"), ("fairness", "chart", "selection_rate[{group}]"),
                      ("fairness", "table", "groups"))
_RATE_EVIDENCE = (("fairness", "table", "mitigation"), ("fairness", "chart", "tpr_fpr[{group}]"),
                  ("fairness", "table", "groups"))
_INTERSECTION_EVIDENCE = (("fairness", "chart", "intersection[{group}]"), ("fairness", "table", "groups"))
_PRIVACY_EVIDENCE = (("privacy", "chart", "privacy-roc"), ("privacy", "table", "privacy-attacks"))
_MITIGATE = ("Check whether the gap comes from the labels (base rates in Outcomes by group) or from the model; "
             "the mitigation preview shows what group-specific thresholds would do to the gap and to accuracy.")

GUIDES: dict[str, _Guide] = {
    "fairness.disparate_impact_ratio": _Guide(
        "the ratio of favourable-decision rates between the least- and the most-favoured group by {group}",
        "people in the least-favoured group by {group} receive the favourable decision far less often than others",
        _MITIGATE, _FAIRNESS_EVIDENCE),
    "fairness.dp_difference": _Guide(
        "the difference in favourable-decision rates between groups by {group}",
        "the favourable decision is given at different rates to different groups by {group}",
        _MITIGATE, _FAIRNESS_EVIDENCE),
    "fairness.equalized_odds_difference": _Guide(
        "the largest gap in true- or false-positive rate between groups by {group}",
        "qualified people in some groups by {group} are turned down, or unqualified ones accepted, more often",
        _MITIGATE, _RATE_EVIDENCE),
    "fairness.equal_opportunity_difference": _Guide(
        "the gap in true-positive rate (qualified people who get the favourable decision) between groups by {group}",
        "qualified people in some groups by {group} are turned down more often than equally qualified others",
        _MITIGATE, _RATE_EVIDENCE),
    "fairness.intersectional_disparate_impact_ratio": _Guide(
        "the ratio of favourable-decision rates across combined groups ({group})",
        "people at the intersection of two groups can be disadvantaged more than either group shows alone",
        "Look at the heat map for the combinations with the lowest rates; small combinations need more data "
        "before a conclusion.", _INTERSECTION_EVIDENCE),
    "fairness.intersectional_equalized_odds_difference": _Guide(
        "the largest error-rate gap across combined groups ({group})",
        "people at the intersection of two groups can face more errors than either group shows alone",
        "Look at the heat map for the affected combinations; collect more rows for the small ones.",
        _INTERSECTION_EVIDENCE),
    "fairness.flip_rate": _Guide(
        "the share of decisions that change when only {group} is changed, everything else fixed",
        "for these people the decision depends directly on their {group}",
        "Remove the attribute from the model's inputs (and watch its proxies), then re-audit.",
        (("fairness", "table", "flip_test"), ("fairness", "table", "proxies"))),
    "robustness.robust_accuracy": _Guide(
        "accuracy when each input is perturbed by a small worst-case change ({group})",
        "someone who can nudge the inputs slightly can change decisions about people",
        "Consider adversarial training or input validation; the curve shows where accuracy gives way.",
        (("robustness", "chart", "robust_accuracy_curve_linf"), ("robustness", "table", "robust_accuracy"))),
    "robustness.accuracy_drop": _Guide(
        "the accuracy lost under natural input noise ({group})",
        "ordinary measurement noise in the inputs changes decisions about people",
        "Train with noise augmentation or clean the inputs upstream; see the natural-corruption curve.",
        (("robustness", "chart", "natural_corruptions"),)),
    "robustness.group_attack_success_gap": _Guide(
        "how much more often attacks succeed on one group than another (by {group})",
        "some groups by {group} are easier to manipulate than others",
        "Inspect the robust-accuracy results by group; adversarial training can narrow the gap.",
        (("robustness", "table", "robust_accuracy"),)),
    "privacy.membership_auc": _Guide(
        "how well an attacker tells training records from unseen ones ({group})",
        "someone with the model can tell whether a person's record was used to train it",
        "Reduce overfitting (regularisation, early stopping) or train with differential privacy (DP-SGD).",
        _PRIVACY_EVIDENCE),
    "privacy.membership_tpr": _Guide(
        "the share of training records an attacker identifies at a low false-positive rate ({group})",
        "a few people's membership in the training data can be identified with confidence",
        "Train with differential privacy (DP-SGD) or remove duplicated and outlying records.", _PRIVACY_EVIDENCE),
    "privacy.epsilon_lower_bound": _Guide(
        "a lower bound on the privacy loss ε implied by the best membership attack",
        "the model leaks more about individual training records than the bound allows",
        "Train with differential privacy at a stated ε, then re-audit.", _PRIVACY_EVIDENCE),
    "privacy.attribute_inference_auc_gain": _Guide(
        "how much the model helps infer a sensitive attribute ({group}) of people in its training data",
        "the model can reveal a sensitive attribute of people it was trained on",
        "Reduce the model's reliance on proxies of the attribute, or train with differential privacy.",
        (("privacy", "table", "privacy-attribute-inference"),)),
    "explainability.sensitive_reliance": _Guide(
        "the share of the model's attributions that falls on sensitive attributes ({group})",
        "decisions lean on a sensitive attribute of the person",
        "Remove the attribute from the inputs or constrain its effect, then re-audit fairness.",
        (("explainability", "chart", "global_importance"), ("explainability", "table", "global_importance"))),
    "explainability.proxy_reliance": _Guide(
        "the share of attributions on features that stand in for {group}",
        "decisions can track {group} through other features even when it is not an input",
        "Review the proxies table; drop or decorrelate the strongest proxies and re-audit.",
        (("fairness", "table", "proxies"), ("explainability", "chart", "global_importance"))),
    "efficiency.throughput_speedup": _Guide(
        "how much faster the deployable compressed variant runs than the original ({group})",
        "no direct effect on people; the compressed variant does not bring the speed it is deployed for",
        "Choose another variant from the variants table, or deploy the original.",
        (("efficiency", "table", "variants"), ("efficiency", "chart", "change_by_variant"))),
    "efficiency.accuracy_drop": _Guide(
        "the accuracy the deployable compressed variant loses against the original",
        "the deployed variant makes more wrong decisions about people than the audited one",
        "Choose a less aggressive variant from the variants table, or deploy the original.",
        (("efficiency", "chart", "change_by_variant"), ("efficiency", "table", "variants"))),
    "efficiency.fairness_regression": _Guide(
        "how much the deployable compressed variant widens the fairness gaps",
        "compression makes decisions less even across groups",
        "Choose another variant; its fairness by variant is tabulated.",
        (("efficiency", "table", "fairness_by_variant"),)),
    "accuracy.balanced_accuracy": _Guide(
        "accuracy averaged over the classes",
        "people in the rarer class get wrong decisions far more often",
        "Rebalance the training data or the decision threshold; see the confusion matrix.",
        (("accuracy", "chart", "confusion_heatmap"),)),
    "accuracy.ece": _Guide(
        "how far the model's stated confidence is from its actual accuracy",
        "scores shown to people or decision makers overstate or understate how sure the model is",
        "Recalibrate (temperature or isotonic scaling) on held-out data.", (("accuracy", "chart", "reliability"),)),
}


def anchor(suite: str, kind: str, item_id: str) -> str:
    """A stable HTML id for a suite's table, chart or section: lower-case letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{suite}-{kind}-{item_id}".lower()).strip("-")
    return slug or "item"


def suite_anchor(suite: str) -> str:
    return anchor(suite, "suite", "")


def split_key(key: str) -> tuple[str, str, str]:
    """"fairness.dp_difference[sex]" → ("fairness", "dp_difference", "sex")."""
    suite, _, rest = key.partition(".")
    metric, _, group = rest.partition("[")
    return suite, metric, group.rstrip("]")


def is_self_check(check: Check) -> bool:
    return ".validity." in check.key


def build_summary(scorecard: Scorecard) -> ExecutiveSummary:
    targets = _available_targets(scorecard)
    remedies = remedy_costs(scorecard)
    skipped_suites = {r.suite for r in scorecard.results if r.status is SuiteStatus.SKIPPED}
    gated = [c for c in scorecard.checks if not is_self_check(c) and c.key not in skipped_suites]
    failed_self = [c for c in scorecard.checks if is_self_check(c) and c.verdict is not Verdict.PASS]
    blocking = [c for verdict in BLOCKING for c in gated + failed_self if c.verdict is verdict]
    warnings = [c for c in gated if c.verdict is Verdict.WARN]
    self_checks = tuple(SelfCheck(r.suite, v) for r in scorecard.results
                        for v in sorted(r.validity, key=lambda v: v.passed))
    return ExecutiveSummary(
        blocking=_grouped(blocking, targets, remedies),
        warnings=_grouped(warnings, targets, remedies),
        self_checks=self_checks,
        not_applicable=tuple(r for r in scorecard.results if r.status is SuiteStatus.SKIPPED),
        passed=sum(c.verdict is Verdict.PASS for c in gated),
    )


def _available_targets(scorecard: Scorecard) -> set[str]:
    found = {"self-checks"}
    for result in scorecard.results:
        found.add(suite_anchor(result.suite))
        found.update(anchor(result.suite, "table", t.id) for t in result.tables)
        found.update(anchor(result.suite, "chart", c.id) for c in result.charts)
    return found


def _grouped(checks: list[Check], targets: set[str], remedies: Mapping[str, str]) -> tuple[Finding, ...]:
    """Checks of one metric and verdict become one finding, in the order they first appear."""
    buckets: dict[tuple[Verdict, str, str], list[Check]] = {}
    for check in checks:
        suite, metric, _ = split_key(check.key)
        buckets.setdefault((check.verdict, suite, metric), []).append(check)
    return tuple(_with_remedy(finding(group, targets), remedies, targets) for group in buckets.values())


REMEDY_TABLE = ("remedies", "remedy_for_each_finding")


def remedy_costs(scorecard: Scorecard) -> dict[str, str]:
    """Check key -> a sentence on the remedy the remedies suite trained for it and what it cost, as measured."""
    suite, table_id = REMEDY_TABLE
    out: dict[str, str] = {}
    for result in scorecard.results:
        for table in result.tables if result.suite == suite else ():
            if table.id == table_id and len(table.columns) >= 5:
                for key, _value, remedy, effect, accuracy, *_ in table.rows:
                    out[str(key)] = (f"The remedies suite trained {str(remedy).replace('_', ' ')} on this model: "
                                     f"this figure becomes {effect} and accuracy {accuracy}.")
    return out


def _with_remedy(found: Finding, remedies: Mapping[str, str], targets: set[str]) -> Finding:
    costs = [remedies[k] for k in found.keys if k in remedies]
    if not costs:
        return found
    target = anchor(REMEDY_TABLE[0], "table", REMEDY_TABLE[1])
    link = (Evidence(target, "remedies: what fixing it costs"),) if target in targets else ()
    return dataclasses.replace(found, next_step=f"{found.next_step} {costs[0]}", evidence=link + found.evidence)


def _join(words: list[str]) -> str:
    words = [w for w in words if w]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""


def finding(checks: list[Check], targets: set[str]) -> Finding:
    """The plain-words finding for checks that share a metric and a verdict."""
    first = checks[0]
    suite, metric, _ = split_key(first.key)
    groups = [split_key(c.key)[2] for c in checks]
    gaps = tuple(Gap(c, g, distance(c).rstrip(". ")) for c, g in zip(checks, groups, strict=True))
    if first.verdict is Verdict.ERROR:
        return Finding(first.verdict, f"{suite}: the suite did not run", f"the {suite} suite stopped with an error",
                       gaps, "this pillar has no evidence, so nothing can be said about the people it protects",
                       f"Fix the cause and re-run `audit run --suite {suite}`.",
                       _evidence(((suite, "suite", ""),), groups, targets))
    if is_self_check(first):
        return Finding(first.verdict, f"{suite}: its evaluation failed a self-check",
                       f"the {suite} suite tests its own evaluation, and "
                       f"{_join([c.key.rpartition('.')[2] for c in checks])} failed",
                       gaps, "the suite's figures cannot be trusted in either direction, so nobody can rely on them",
                       "Read the self-check's detail, fix the evaluation (a stronger attack, more steps, other data) "
                       "and re-audit.", (Evidence("self-checks", "self-checks"),))
    guide = GUIDES.get(f"{suite}.{metric}")
    joined = _join(groups)
    what = guide.what.format(group=joined or "all") if guide else (first.description or metric.replace("_", " "))
    what = what.rstrip(". ")
    impact = guide.impact.format(group=joined or "any") if guide else "see the suite's notes for what it means"
    step = guide.next_step if guide else f"Read the {suite} section's notes and figures, then re-audit."
    if first.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        impact = "the data cannot show whether these people are treated fairly; the gate does not pass on it"
        step = ("Collect more rows for the small groups named, or merge rare categories, then re-audit; "
                "do not lower the minimum group size to make the gate pass.")
    evidence = _evidence((guide.evidence if guide else ()) + ((suite, "suite", ""),), groups, targets)
    return Finding(first.verdict, _title(metric or suite, ""), what, gaps, impact, step, evidence)


def _title(metric: str, group: str) -> str:
    words = human_header(metric)
    return f"{words}, {group}" if group else words


def _evidence(candidates: tuple[tuple[str, str, str], ...], groups: list[str],
              targets: set[str]) -> tuple[Evidence, ...]:
    out: list[Evidence] = []
    for suite, kind, item in candidates:
        for group in (groups if "{group}" in item else groups[:1]) or [""]:
            name = item.format(group=group)
            target = suite_anchor(suite) if kind == "suite" else anchor(suite, kind, name)
            if target in targets and all(e.anchor != target for e in out):
                label = f"{suite} section" if kind == "suite" else f"{kind}: {name.replace('_', ' ')}"
                out.append(Evidence(target, label))
    return tuple(out[:5])


def distance(check: Check) -> str:
    """How far the judged figure is from its bound, in the threshold's own terms."""
    t = check.threshold
    if check.verdict is Verdict.INSUFFICIENT_EVIDENCE:  # the first clause; the checks table has every group
        return f"{fmt_number(check.value)} measured, but {check.reason.split(' (')[0]}"
    if check.verdict in (Verdict.ERROR, Verdict.UNRELIABLE) or is_self_check(check):
        return check.reason
    if t is None or check.value is None:
        return check.reason
    judged = check.value
    on = "value"
    if t.on == "ci" and check.ci is not None:
        judged = check.ci[0] if t.min is not None else check.ci[1]
        on = "conservative CI bound"
    ci = f" (95% CI {fmt_ci(check.ci)})" if check.ci else ""
    if t.min is not None and judged < t.min:
        return f"{on} {fmt_number(judged)}{ci}, {fmt_number(t.min - judged)} below the minimum {fmt_number(t.min)}"
    if t.max is not None and judged > t.max:
        return f"{on} {fmt_number(judged)}{ci}, {fmt_number(judged - t.max)} above the maximum {fmt_number(t.max)}"
    return f"{on} {fmt_number(judged)}{ci}: {check.reason}"


def verdict_sentence(scorecard: Scorecard, summary: ExecutiveSummary) -> str:
    """One sentence a reviewer can repeat: the verdict, and what caused it."""
    counts: dict[Verdict, int] = {}
    for f in summary.blocking:
        counts[f.verdict] = counts.get(f.verdict, 0) + len(f.gaps)
    parts = [f"{n} {_plural(n, _NOUN[v])}" for v, n in counts.items()]
    model = scorecard.run.model
    if not parts:
        warned = sum(len(f.gaps) for f in summary.warnings)
        tail = f" ({warned} {_plural(warned, 'warning')})" if warned else ""
        return f"{model} passed every gate on {scorecard.run.dataset}{tail}."
    pillars = sorted({split_key(k)[0] for f in summary.blocking for k in f.keys})
    return (f"{model} is not ready for release on {scorecard.run.dataset}: " + ", ".join(parts)
            + f" in {', '.join(pillars)}.")


_NOUN = {Verdict.FAIL: "failed gate", Verdict.ERROR: "suite error", Verdict.UNRELIABLE: "unreliable evaluation",
         Verdict.INCOMPLETE: "pillar without evidence",
         Verdict.INSUFFICIENT_EVIDENCE: "check without enough data"}


def _plural(n: int, noun: str) -> str:
    if n == 1:
        return noun
    if noun.startswith("check "):
        return "checks " + noun[6:]
    return noun + "s"
