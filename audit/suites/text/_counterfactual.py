"""Counterfactual substitution of gendered and racial terms: prediction flip rates per group."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from audit.errors import AuditInputError
from audit.foundation.text_checks import GENDER_PAIRS, RACE_TERMS, race_term, substitute_race, swap_gender
from audit.foundation.text_checks import match_case as _match_case
from audit.stats import bootstrap_mean_ci, clopper_pearson
from audit.suite import SuiteContext
from audit.suites.text._common import TextSample, predict_texts
from audit.types import Heatmap, Measurement

MIN_ROWS = 30  # below this a group's flip rate is reported as insufficient
# All texts, whatever the data's sensitive columns (named after the words swapped, not after a column).
GENDERED_FLIP_RATE = "counterfactual_flip_rate[gendered terms]"


@dataclass(frozen=True)
class FlipResult:
    measurements: tuple[Measurement, ...]
    changed_fraction: float  # rows whose text the substitution changed
    heatmap: Heatmap | None = None


def _insufficient(n: int, what: str) -> str | None:
    return f"only {n} rows mention {what} (need {MIN_ROWS})" if n < MIN_ROWS else None


def _flip_measurement(name: str, flips: np.ndarray, description: str, details: dict, what: str) -> Measurement:
    k, n = int(flips.sum()), int(flips.size)
    return Measurement(
        name=name, value=k / n if n else float("nan"), ci=clopper_pearson(k, n), higher_is_better=False, n=n,
        description=description, details={**details, "flips": k, "interval": "clopper-pearson"},
        insufficient_reason=_insufficient(n, what),
    )


def _positive(ctx: SuiteContext) -> str:
    return str(ctx.data.class_names[ctx.data.positive_class])


def gender_flips(ctx: SuiteContext, rows: TextSample, clean_pred: np.ndarray, clean_p: np.ndarray,
                 resamples: int, batch_size: int) -> FlipResult:
    """Swap he/she, man/woman, husband/wife, ... in every text and compare predictions, overall and per group of
    each sensitive column ("sex" keeps the reference's names `[sex=group]`)."""
    swapped = [swap_gender(t) for t in rows.texts]
    changed = np.array([s != t for s, t in zip(swapped, rows.texts, strict=False)], dtype=bool)
    if not changed.any():
        return FlipResult((), 0.0)
    pred, p_pos = predict_texts(ctx, [s for s, c in zip(swapped, changed, strict=False) if c], batch_size)
    flips = pred != clean_pred[changed]
    shift = p_pos - clean_p[changed]
    details = {"substitution": "gendered terms swapped (he/she, man/woman, husband/wife, ...)",
               "rows": int(changed.sum())}
    out = [_flip_measurement(
        GENDERED_FLIP_RATE, flips,
        "Share of texts whose predicted class changes when only their gendered words are swapped.",
        details, "gendered terms")]
    for column in rows.groups.columns:
        groups = rows.groups[column].to_numpy()[changed]
        tag = f"{column}=" if column == "sex" else f"gender_swap,{column}="
        for group in sorted(set(groups)):
            mask = groups == group
            out.append(_flip_measurement(
                f"counterfactual_flip_rate[{tag}{group}]", flips[mask],
                f"Share of texts of the {column} group {group} whose predicted class changes when their gendered "
                "words are swapped.", details, f"gendered terms for {column} group {group}"))
            out.append(Measurement(
                name=f"counterfactual_score_shift[{tag}{group}]",
                value=float(shift[mask].mean()) if mask.any() else 0.0,
                ci=bootstrap_mean_ci(shift[mask], resamples, ctx.seed), n=int(mask.sum()),
                description=f"Average change in the predicted chance of {_positive(ctx)} for texts of the {column} "
                            f"group {group} when their gendered words are swapped (positive: the swap raises it).",
                details={**details, "resamples": resamples},
                insufficient_reason=_insufficient(int(mask.sum()), f"{column} group {group}")))
    return FlipResult(tuple(out), float(changed.mean()))


def swap_pair(text: str, first: str, second: str) -> str:
    """Swap the words `first` and `second` (whole words, any case; capitalisation kept), simultaneously."""
    pattern = re.compile(r"\b(" + re.escape(first) + "|" + re.escape(second) + r")\b", re.IGNORECASE)
    lower = (first.lower(), second.lower())
    return pattern.sub(lambda m: _match_case(m.group(0), lower[1] if m.group(0).lower() == lower[0] else lower[0]),
                       text)


def term_pairs(extra: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The built-in gendered pairs and the user's "word/word" pairs (text-fairness.term_pairs in config)."""
    pairs = list(GENDER_PAIRS)
    for entry in extra:
        parts = tuple(p.strip() for p in str(entry).split("/"))
        words = len(parts) == 2 and all(re.fullmatch(r"[\w' -]+", p) for p in parts)
        if not words or parts[0].lower() == parts[1].lower():
            raise AuditInputError(f"text-fairness.term_pairs entry {entry!r} is not two different words written "
                                  "\"word/word\" (e.g. \"christian/muslim\")")
        pairs.append((parts[0], parts[1]))
    return tuple(dict.fromkeys(pairs))


def pair_flips(ctx: SuiteContext, rows: TextSample, clean_pred: np.ndarray, pairs: tuple[tuple[str, str], ...],
               batch_size: int) -> tuple[Measurement, ...]:
    """Per term pair: among texts holding either word, the share whose prediction changes when only that pair
    is swapped. Pairs no sampled text mentions are left out."""
    out = []
    for first, second in pairs:
        swapped = [swap_pair(t, first, second) for t in rows.texts]
        changed = np.array([s != t for s, t in zip(swapped, rows.texts, strict=True)], dtype=bool)
        if not changed.any():
            continue
        pred, _ = predict_texts(ctx, [s for s, c in zip(swapped, changed, strict=True) if c], batch_size)
        out.append(_flip_measurement(
            f"counterfactual_flip_rate[pair={first}/{second}]", pred != clean_pred[changed],
            f"Share of texts mentioning '{first}' or '{second}' whose predicted class changes when only those two "
            "words are swapped.", {"substitution": f"{first} <-> {second}", "rows": int(changed.sum())},
            f"'{first}' or '{second}'"))
    return tuple(out)


def race_flips(ctx: SuiteContext, rows: TextSample, clean_pred: np.ndarray, resamples: int,
               batch_size: int) -> FlipResult:
    """Replace each row's race term by every other one; per-row flip share, averaged per original term."""
    terms = [race_term(t) for t in rows.texts]
    idx = [i for i, term in enumerate(terms) if term is not None]
    if not idx:  # no sampled text mentions a race word: nothing to measure (the suite's notes say so)
        return FlipResult((), 0.0)
    variants = [(i, other) for i in idx for other in RACE_TERMS if other != terms[i]]
    pred, _ = predict_texts(ctx, [substitute_race(rows.texts[i], other) for i, other in variants], batch_size)
    flipped = pred != clean_pred[[i for i, _ in variants]]
    per_row: dict[int, list[bool]] = {}
    pair: dict[tuple[str, str], list[bool]] = {}
    for (i, other), flip in zip(variants, flipped, strict=False):
        per_row.setdefault(i, []).append(bool(flip))
        pair.setdefault((str(terms[i]), other), []).append(bool(flip))
    row_share = np.array([np.mean(per_row[i]) for i in idx]) if idx else np.zeros(0)
    row_terms = np.array([terms[i] for i in idx])
    details = {"substitution": "race term replaced by each of " + ", ".join(RACE_TERMS), "rows": len(idx),
               "resamples": resamples, "interval": "bootstrap over rows"}

    def share(name: str, mask: np.ndarray, desc: str, what: str) -> Measurement:
        values = row_share[mask]
        return Measurement(name=name, value=float(values.mean()) if values.size else float("nan"),
                           ci=bootstrap_mean_ci(values, resamples, ctx.seed), higher_is_better=False,
                           n=int(values.size), description=desc, details=details,
                           insufficient_reason=_insufficient(int(values.size), what))

    out = [share("counterfactual_flip_rate[race]", np.ones(len(idx), bool),
                 "Share of predictions that change when only the race word in a description is replaced by another.",
                 "a race term")]
    for term in RACE_TERMS:
        out.append(share(f"counterfactual_flip_rate[race={term}]", row_terms == term,
                         f"Share of predictions for people described as {term} that change when the race word is "
                         "replaced by another.", f"the term {term!r}"))
    heat = Heatmap(row_labels=RACE_TERMS, col_labels=RACE_TERMS, values=tuple(
        tuple(float(np.mean(pair[(a, b)])) if (a, b) in pair else None for b in RACE_TERMS) for a in RACE_TERMS))
    return FlipResult(tuple(out), len(idx) / max(len(rows), 1), heat)
