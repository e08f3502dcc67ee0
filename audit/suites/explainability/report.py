"""Tables and charts of the explainability suite (data only; renderers draw them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.suites.explainability.groups import FeatureGroup
from audit.suites.image_grids import image_cmap, input_pixels, map_array, map_pixels, shrunk_note
from audit.types import Chart, ImageGrid, Series, Table


@dataclass(frozen=True)
class LocalCase:
    """One explained row shown to the reviewer: its labels and signed per-group attributions."""

    row: int  # index in the test split
    true_label: str
    predicted: str
    p_predicted: float
    loss: float
    attributions: np.ndarray  # (G,) signed, per group
    shown_values: tuple[str, ...]  # (G,) the row's value of each group, readable


def _r(value: float) -> float:
    return round(float(value), 6)


def importance_table(groups: tuple[FeatureGroup, ...], importance: np.ndarray, shares: np.ndarray,
                     permutation: np.ndarray) -> Table:
    order = np.argsort(-importance, kind="stable")
    rows = tuple((int(rank + 1), groups[g].name, _r(importance[g]), _r(shares[g]), _r(permutation[g]),
                  bool(groups[g].sensitive)) for rank, g in enumerate(order))
    return Table("global_importance", "Global feature importance",
                 ("rank", "feature", "mean_abs_shap", "share", "permutation_importance", "sensitive"), rows,
                 caption="mean |SHAP| of the explained output over the explained rows (one-hot columns summed "
                         "to their feature); permutation importance is the drop in mean log-likelihood when the "
                         "feature is shuffled.")


def importance_bar(groups: tuple[FeatureGroup, ...], importance: np.ndarray, top: int) -> Chart:
    order = np.argsort(-importance, kind="stable")[:top]
    names = [groups[g].name for g in order]
    return Chart("global_importance", "Global importance (mean |SHAP|)", "bar", "feature (rank)", "mean |SHAP|",
                 series=(Series("mean |SHAP|", tuple(float(i + 1) for i in range(len(order))),
                                tuple(_r(importance[g]) for g in order)),),
                 caption="Bars are features in rank order: " + ", ".join(f"{i + 1}={n}" for i, n in enumerate(names)))


def beeswarm(groups: tuple[FeatureGroup, ...], signed: np.ndarray, importance: np.ndarray, top: int,
             rng: np.random.Generator) -> Chart:
    """One series per top feature: x = SHAP value per row, y = feature rank with a little jitter."""
    order = np.argsort(-importance, kind="stable")[:top]
    series = []
    for rank, g in enumerate(order):
        jitter = rng.uniform(-0.3, 0.3, size=len(signed))
        series.append(Series(groups[g].name, tuple(_r(v) for v in signed[:, g]),
                             tuple(_r(rank + 1 + j) for j in jitter)))
    return Chart("shap_beeswarm", "SHAP values per row (top features)", "scatter", "SHAP value",
                 "feature rank (jittered)", series=tuple(series),
                 caption="Each dot is one explained row; right of zero pushes towards the explained class.")


def local_table(cases: list[LocalCase], groups: tuple[FeatureGroup, ...], top: int) -> Table:
    rows = []
    for case in cases:
        for g in np.argsort(-np.abs(case.attributions), kind="stable")[:top]:
            rows.append((case.row, case.true_label, case.predicted, _r(case.p_predicted), _r(case.loss),
                         groups[g].name, case.shown_values[g], _r(case.attributions[g])))
    return Table("local_explanations", "Local explanations of the largest-loss errors",
                 ("test_row", "true", "predicted", "p_predicted", "loss", "feature", "value", "shap"), tuple(rows),
                 caption="For each misclassified row with the largest loss, its most influential features; "
                         "a positive SHAP value pushed the score of the explained class up.")


def _image(values: np.ndarray, shape: tuple[int, ...]) -> tuple[tuple[float, ...], ...]:
    """Flattened (c*h*w) values -> h x w pixels (channels summed; large images shrunk)."""
    return map_pixels(values.reshape(shape), digits=6)


def importance_map(abs_values: np.ndarray, shape: tuple[int, ...]) -> Chart:
    mean_map = map_array(abs_values.mean(axis=0).reshape(shape))  # channels (and shrunk areas) summed
    scaled = mean_map / mean_map.max() if mean_map.max() > 0 else mean_map
    pixels = tuple(tuple(_r(v) for v in row) for row in scaled)
    grid = ImageGrid(("mean |SHAP|",), ("all explained rows",), ((pixels,),), cmap="gray")
    return Chart("global_importance_map", "Global importance per pixel", "images", images=grid,
                 caption="Mean |SHAP| per pixel over the explained rows, scaled so the largest is white."
                         + shrunk_note(shape))


def attribution_maps(inputs: dict[str, np.ndarray], values: dict[str, np.ndarray], labels: dict[str, list[str]],
                     shape: tuple[int, ...]) -> tuple[Chart, Chart]:
    """Matching grids of inputs (grey) and signed attributions (diverging); rows are example kinds."""
    kinds = [k for k in inputs if len(inputs[k])]
    width = max(len(inputs[k]) for k in kinds)
    cols = tuple(f"#{i + 1}" for i in range(width))
    caption = "; ".join(f"{k}: " + ", ".join(f"#{i + 1} {lab}" for i, lab in enumerate(labels[k])) for k in kinds)
    inputs_grid = ImageGrid(tuple(kinds), cols, tuple(tuple(input_pixels(v.reshape(shape), digits=6)
                                                            for v in inputs[k]) for k in kinds), cmap=image_cmap(shape))
    maps_grid = ImageGrid(tuple(kinds), cols, tuple(tuple(_image(v, shape) for v in values[k]) for k in kinds),
                          cmap="diverging")
    note = shrunk_note(shape)
    return (Chart("attribution_inputs", "Explained images", "images", images=inputs_grid,
                  caption=caption + ("." + note if note else "")),
            Chart("attribution_maps", "SHAP attribution maps of the explained class", "images", images=maps_grid,
                  caption=caption + ". Red pixels raised the explained class's score, blue lowered it." + note))
