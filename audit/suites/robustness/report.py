"""Turns attack outcomes into Measurements, Tables and Charts (all numbers computed here, none in renderers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from audit.stats import DEFAULT_ALPHA, clopper_pearson
from audit.suites.image_grids import image_cmap, input_pixels, shrunk_note
from audit.suites.robustness.sweep import Outcome
from audit.types import Chart, ImageGrid, JSONValue, Measurement, Series, Table


def eps_label(eps: float, is_image: bool) -> str:
    """ε as a reviewer writes it: 8/255 for small pixel budgets, plain decimals otherwise."""
    steps = eps * 255
    if is_image and 0 < eps < 0.1 and abs(steps - round(steps)) < 1e-6:
        return f"{round(steps)}/255"
    return f"{eps:g}"


def share_measurement(name: str, hits: np.ndarray, description: str, details: Mapping[str, JSONValue],
                      higher_is_better: bool = True, min_rows: int = 1, alpha: float = DEFAULT_ALPHA) -> Measurement:
    """A proportion with its exact (Clopper-Pearson) 95% interval (at `alpha` when a sequential look spends less)."""
    n, k = int(hits.size), int(np.sum(hits))
    insufficient = None if n >= min_rows and n > 0 else f"only {n} rows (need {min_rows})"
    return Measurement(
        name=name, value=k / n if n else float("nan"), ci=clopper_pearson(k, n, alpha),
        higher_is_better=higher_is_better, n=n, description=description, details=dict(details),
        insufficient_reason=insufficient,
    )


def robust_accuracy(o: Outcome, unit: str, is_image: bool, variant: str | None = None) -> Measurement:
    label = variant or f"{o.attack},{o.norm}"
    details = {"attack": o.attack, "norm": o.norm, "eps": o.eps, "eps_unit": unit, **o.details}
    return share_measurement(
        f"robust_accuracy[{label},eps={eps_label(o.eps, is_image)}]", o.correct,
        f"Share of audited rows still classified correctly under a {o.attack} attack of size "
        f"{eps_label(o.eps, is_image)} ({o.norm}, {unit}).", details, alpha=o.alpha,
    )


def success_rate(o: Outcome, clean: np.ndarray, unit: str, is_image: bool) -> Measurement:
    """Among rows the model got right, the share the attack turned into errors."""
    base = clean if o.rows is None else clean[o.rows]
    flipped = ~o.correct[base]
    m = share_measurement(
        f"attack_success_rate[{o.norm},eps={eps_label(o.eps, is_image)}]", flipped,
        f"Share of correctly classified rows that the strongest attack of size {eps_label(o.eps, is_image)} "
        f"({o.norm}, {unit}) made the model get wrong.", {"norm": o.norm, "eps": o.eps, "eps_unit": unit, **o.details},
        higher_is_better=False, alpha=o.alpha,
    )
    return m


def curve_chart(outcomes: Sequence[Outcome], norm: str, unit: str) -> Chart:
    """Robust accuracy against ε, one line per attack, with exact 95% bands."""
    series = []
    for attack in dict.fromkeys(o.attack for o in outcomes if o.norm == norm):
        points = sorted(((o.eps, o.correct, o.alpha) for o in outcomes if o.norm == norm and o.attack == attack),
                        key=lambda p: p[0])
        acc = [float(c.mean()) for _, c, _ in points]
        cis = [clopper_pearson(int(c.sum()), c.size, a) for _, c, a in points]
        series.append(Series(attack, tuple(e for e, _, _ in points), tuple(acc),
                             tuple(lo for lo, _ in cis), tuple(hi for _, hi in cis)))
    return Chart(
        id=f"robust_accuracy_curve_{norm}", title=f"Robust accuracy vs ε ({norm})", kind="line",
        x_label=f"ε ({unit})", y_label="robust accuracy", series=tuple(series),
        caption="Each line is one attack; the band is the exact 95% interval. 'worst-case' counts a row as "
                "robust only if it survived every attack.",
    )


def outcome_table(outcomes: Sequence[Outcome], is_image: bool) -> Table:
    rows = []
    for o in outcomes:
        lo, hi = clopper_pearson(int(o.correct.sum()), o.n, o.alpha)
        rows.append((o.attack, o.norm, eps_label(o.eps, is_image), round(float(o.correct.mean()), 4),
                     f"[{lo:.3f}, {hi:.3f}]", o.n))
    return Table("robust_accuracy", "Robust accuracy by attack and ε",
                 ("attack", "norm", "eps", "robust accuracy", "95% CI", "rows"), tuple(rows))


def image_grid(clean: torch.Tensor, adversarial: Mapping[float, torch.Tensor]) -> Chart:
    """Row per ε (first row: clean), one column per example image (colour or grey; large images shrunk)."""
    def pixels(batch: torch.Tensor) -> tuple:
        return tuple(input_pixels(img) for img in batch)

    labels = ["clean"] + [f"ε={eps_label(e, True)}" for e in adversarial]
    images = (pixels(clean),) + tuple(pixels(adv) for adv in adversarial.values())
    cols = tuple(f"example {i + 1}" for i in range(clean.shape[0]))
    return Chart(id="adversarial_examples", title="Clean and adversarial inputs (PGD, L∞)", kind="images",
                 images=ImageGrid(tuple(labels), cols, images, cmap=image_cmap(tuple(clean.shape[1:]))),
                 caption="The model's answer changes on these inputs although they look alike to a person."
                         + shrunk_note(tuple(clean.shape[1:])))


def shift_chart(shifts: Sequence[tuple[str, float]], eps: float) -> Chart:
    top = list(shifts)[:15]
    return Chart(
        id="features_moved", title=f"Features the attack moved most (PGD L∞, ε={eps:g} std)", kind="bar",
        x_label="feature", y_label="mean |change| (standard deviations)",
        series=tuple(Series(name, (0.0,), (value,)) for name, value in top),
        caption="Mean absolute change of each mutable numeric feature over the audited rows, in standard deviations.",
    )


def switch_table(group_names: Sequence[str], changed: torch.Tensor) -> Table:
    counts = changed.float().mean(dim=0) if changed.numel() else torch.zeros(len(group_names))
    shares = [(name, round(float(c), 4)) for name, c in zip(group_names, counts, strict=True)]
    rows = sorted(shares, key=lambda r: -r[1])
    return Table("categorical_switches", "Categorical features switched by the attack",
                 ("feature", "share of rows switched"), tuple(rows))
