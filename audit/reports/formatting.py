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
}


def verdict_label(verdict: Verdict | None, none_label: str = "NOT RUN") -> str:
    return none_label if verdict is None else VERDICT_LABEL[verdict]


def verdict_css(verdict: Verdict | None) -> str:
    """A CSS class suffix for a verdict ("not-run" when the pillar did not run)."""
    return "not-run" if verdict is None else verdict.value


def exit_code_meaning(code: int) -> str:
    return EXIT_CODE_MEANING.get(code, "unknown exit code")


def fmt_number(value: float | int | None) -> str:
    """Four significant digits; integers stay integers; NaN and infinities spelled out."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value.is_integer() and abs(value) < 1e12:  # counts stored as floats: 11670, not 1.167e+04
        return str(int(value))
    if abs(value) >= 1e12 or abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


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
    """A config/params/table value as compact text: strings as-is, numbers formatted, the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return fmt_number(value) if value is not None else "null"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str, ensure_ascii=False)


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
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.UNRELIABLE,
    Verdict.INSUFFICIENT_EVIDENCE,
    Verdict.WARN,
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
