"""Text shared by every renderer: number formats, verdict labels, thresholds, exit codes.

Formatting only: nothing here computes a figure. Escaping is left to each output format.
"""

from __future__ import annotations

import json
import math
from typing import Any

from audit.types import Check, Scorecard, Threshold, Verdict

EXIT_CODE_MEANING = {
    0: "every gated check passed",
    1: "at least one gated check failed",
    2: "usage or input error",
    3: "internal error",
}

VERDICT_LABEL = {
    Verdict.PASS: "PASS",
    Verdict.WARN: "WARN",
    Verdict.FAIL: "FAIL",
    Verdict.ERROR: "ERROR",
    Verdict.SKIPPED: "SKIPPED",
    Verdict.INSUFFICIENT_EVIDENCE: "INSUFFICIENT EVIDENCE",
    Verdict.UNRELIABLE: "UNRELIABLE EVALUATION",
    Verdict.INCOMPLETE: "INCOMPLETE",
    Verdict.WAIVED: "WAIVED",
}

# Plain-language meaning of each verdict, for the banner.
VERDICT_MEANING = {
    Verdict.PASS: "All gated checks passed.",
    Verdict.WARN: "No gate failed, but some checks raised warnings.",
    Verdict.FAIL: "At least one gated check failed.",
    Verdict.ERROR: "At least one suite failed to run; its figures are missing.",
    Verdict.SKIPPED: "The suites were skipped; nothing was measured.",
    Verdict.INSUFFICIENT_EVIDENCE: "The data were too few to support at least one gated figure.",
    Verdict.UNRELIABLE: "A self-check of the evaluation failed, so its figures cannot be trusted.",
    Verdict.INCOMPLETE: "A required pillar has no evidence (skipped or errored), so the run cannot pass.",
    Verdict.WAIVED: "Failures were waived by their owners until the waivers expire; this is not a pass.",
}


def verdict_label(verdict: Verdict | None, none_label: str = "NOT RUN") -> str:
    return none_label if verdict is None else VERDICT_LABEL[verdict]


def verdict_css(verdict: Verdict | None) -> str:
    """A CSS class suffix for a verdict ("not-run" when the pillar did not run)."""
    return "not-run" if verdict is None else verdict.value


def exit_code_meaning(code: int) -> str:
    return EXIT_CODE_MEANING.get(code, "unknown exit code")


def fmt_number(value: float | int | None) -> str:
    """Four significant digits for people: integers stay integers (thousands separated), tiny and huge values as
    `7 × 10⁻⁴`-style powers of ten rather than `7.000e-04`; NaN is "n/a" (callers say why where they know)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value.is_integer() and abs(value) < 1e12:  # counts stored as floats: 11,670, not 1.167e+04
        return fmt_number(int(value))
    if abs(value) >= 1e12 or abs(value) < 1e-6:
        return _power_of_ten(value)
    if abs(value) < 1e-3:  # fixed point with three significant digits: 0.000123
        decimals = -math.floor(math.log10(abs(value))) + 2
        return f"{value:.{decimals}f}".rstrip("0")
    if abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:,.0f}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def fmt_ci(ci: tuple[float, float] | None) -> str:
    if ci is None:
        return "–"
    return f"[{fmt_number(ci[0])}, {fmt_number(ci[1])}]"


def fmt_threshold(threshold: Threshold | None) -> str:
    """`≥ 0.8 and ≤ 0.95 on CI (fail)` — the bound, what it is applied to, and its severity."""
    if threshold is None:
        return "–"
    bounds = []
    if threshold.min is not None:
        bounds.append(f"≥ {fmt_number(threshold.min)}")
    if threshold.max is not None:
        bounds.append(f"≤ {fmt_number(threshold.max)}")
    on = "CI bound" if threshold.on == "ci" else "value"
    return f"{' and '.join(bounds) or 'no bound'} on {on} ({threshold.severity})"


def fmt_json_value(value: Any) -> str:
    """A config/params/table value as compact text: strings as-is, numbers formatted, lists joined, the rest as JSON.

    A missing value (None) reads "not set"; table cells use `fmt_cell`, which says "n/a".
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "not set"
    if isinstance(value, (bool, int, float)):
        return fmt_number(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                for v in value):
        return ", ".join(fmt_json_value(v) for v in value) if value else "none"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str, ensure_ascii=False)


def fmt_cell(value: Any) -> str:
    """A table cell: like `fmt_json_value`, but a missing value is "n/a" (the table's caption says why)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt_json_value(value)


# Abbreviations kept upper-case (or as written) when a snake_case name becomes a header.
_ABBREVIATIONS = {"ci": "CI", "tpr": "TPR", "fpr": "FPR", "fnr": "FNR", "tnr": "TNR", "dp": "DP", "eo": "EO",
                  "shap": "SHAP", "auc": "AUC", "auroc": "AUROC", "roc": "ROC", "ms": "ms", "n": "n", "id": "ID",
                  "fp32": "fp32", "int8": "int8", "bf16": "bf16", "p50": "p50", "p95": "p95", "eps": "ε",
                  "lira": "LiRA", "mia": "MIA", "ece": "ECE", "pgd": "PGD", "fgsm": "FGSM", "l2": "L2", "linf": "L∞"}
_UNITS = {"ms": "ms", "s": "s", "bytes": "bytes", "pct": "%"}


def human_header(name: str) -> str:
    """`latency_p50_ms` → "Latency p50 (ms)", `selection_rate_ci` → "Selection rate CI"; other text unchanged."""
    if "_" not in name and name.lower() == name and name not in _ABBREVIATIONS:
        return name[:1].upper() + name[1:]
    if "_" not in name:
        return _ABBREVIATIONS.get(name, name)
    words = [w for w in name.split("_") if w]
    unit = _UNITS.get(words[-1]) if len(words) > 1 else None
    if unit:
        words = words[:-1]
    text = " ".join(_ABBREVIATIONS.get(w.lower(), w) for w in words)
    text = text[:1].upper() + text[1:] if text[:1].islower() and words[0].lower() not in _ABBREVIATIONS else text
    return f"{text} ({unit})" if unit else text


def _suites_chosen(scorecard: Scorecard) -> bool:
    """Whether `--suite` named suites (`a,b` or one name) rather than a preset; they run at the full settings."""
    chosen = scorecard.config.get("suite")
    return isinstance(chosen, str) and ("," in chosen or chosen in scorecard.run.suites)


def preset_label(scorecard: Scorecard) -> str:
    """The preset's name, or what stood in its place: "Preset full" for `--suite a,b` misled readers."""
    if _suites_chosen(scorecard):
        return f"none (suites chosen with --suite, each at {scorecard.run.preset} settings)"
    return scorecard.run.preset


def run_scope(scorecard: Scorecard) -> str:
    """What ran, as a phrase: "quick preset", or the suites chosen one by one."""
    if _suites_chosen(scorecard):
        suites = ", ".join(scorecard.run.suites)
        return f"suites chosen with --suite ({suites}), each at {scorecard.run.preset} settings"
    return f"{scorecard.run.preset} preset"


def check_sentence(check: Check) -> str:
    """The plain sentence for a check: what it measures, then why it got its verdict."""
    parts = [p.strip() for p in (check.description, check.reason) if p and p.strip()]
    return " — ".join(parts)


def flatten_mapping(mapping: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested config/params mappings as sorted (dotted.key, leaf value) pairs for a two-column table."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(mapping, key=str):
        value = mapping[key]
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            rows.extend(flatten_mapping(value, path))
        else:
            rows.append((path, value))
    return rows


# Most serious first, so a truncated or skimmed report still shows what matters.
_SEVERITY_ORDER = (
    Verdict.INCOMPLETE,
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.UNRELIABLE,
    Verdict.INSUFFICIENT_EVIDENCE,
    Verdict.WARN,
    Verdict.WAIVED,
    Verdict.SKIPPED,
    Verdict.PASS,
)


def checks_by_severity(checks: tuple[Check, ...]) -> list[Check]:
    """Checks ordered most serious first; ties keep the scorecard's order."""
    return sorted(checks, key=lambda check: _SEVERITY_ORDER.index(check.verdict))


def provenance_rows(scorecard: Scorecard) -> list[tuple[str, str]]:
    """What produced the scorecard, as (label, value) rows; packages last, sorted by name."""
    p = scorecard.provenance
    rows = [
        ("audit version", p.audit_version), ("python", p.python), ("platform", p.platform), ("torch", p.torch),
        ("cuda", p.cuda or "none"), ("device", p.device_name), ("model source", p.model_source),
        ("model sha256", p.model_sha256), ("data source", p.data_source), ("data sha256", p.data_sha256),
        ("config sha256", p.config_sha256), ("git commit", p.git_commit or "unknown"),
    ]
    return rows + [(f"package {name}", str(version)) for name, version in sorted(p.packages.items())]


def missing_evidence(scorecard: Scorecard) -> list[Check]:
    """Checks for required pillars or suites without evidence, and those explicitly allowed to be skipped."""
    return [c for c in scorecard.checks if c.key.startswith("evidence.") and c.verdict in (Verdict.INCOMPLETE,
                                                                                           Verdict.SKIPPED)]
