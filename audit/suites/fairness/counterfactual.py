"""Counterfactual flip test: change a sensitive model input, hold everything else fixed, count changed decisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.data.types import FeatureSpec
from audit.models.types import ModelUnderAudit


@dataclass(frozen=True)
class FlipCell:
    """Rows whose feature value is `from_value`, set to `to_value`: how many decisions changed."""

    from_value: str
    to_value: str
    n: int
    flipped: int
    became_favourable: int  # flips into the favourable class


@dataclass(frozen=True)
class FlipResult:
    feature: str
    n: int
    flipped_any: int  # rows whose decision changes for at least one alternative value
    flipped_any_by_group: tuple[tuple[str, int, int], ...]  # (value, n, flipped)
    cells: tuple[FlipCell, ...]
    encoding_valid: bool  # every row encodes exactly one value of the feature


def flippable_values(spec: FeatureSpec, x: torch.Tensor, max_values: int,
                     max_categories: int) -> tuple[tuple[str, ...], str | None]:
    """The values a feature can be swapped between, or a reason it cannot be flip-tested."""
    if spec.kind == "categorical" and len(spec.categories) > max_categories:
        return (), (f"'{spec.name}' has {len(spec.categories)} categories (more than max_groups={max_categories}); "
                    "swapping every pair would cost their square in model calls.")
    if spec.kind == "categorical":
        return spec.categories, None
    distinct = torch.unique(x[:, spec.columns[0]])
    if distinct.numel() > max_values:
        return (), (
            f"'{spec.name}' is numeric with {distinct.numel()} distinct values (more than flip_max_values="
            f"{max_values}), so there is no small set of alternative values to swap in."
        )
    return tuple(_fmt(float(v)) for v in distinct), None


def _fmt(value: float) -> str:
    return f"{value:g}"


def _current_values(spec: FeatureSpec, x: torch.Tensor, values: tuple[str, ...]) -> tuple[np.ndarray, bool]:
    """Index into `values` of each row's current value, and whether every row encodes exactly one."""
    cols = x[:, list(spec.columns)]
    if spec.kind == "categorical":
        is_binary = bool(((cols == 0) | (cols == 1)).all())
        valid = is_binary and bool((cols.sum(dim=1) == 1).all())
        return cols.argmax(dim=1).numpy(), valid
    as_text = np.array([_fmt(float(v)) for v in cols[:, 0]])
    lookup = {v: i for i, v in enumerate(values)}
    return np.array([lookup[v] for v in as_text]), True


def _set_value(spec: FeatureSpec, x: torch.Tensor, values: tuple[str, ...], target: int) -> torch.Tensor:
    out = x.clone()
    if spec.kind == "categorical":
        out[:, list(spec.columns)] = 0.0
        out[:, spec.columns[target]] = 1.0
    else:
        out[:, spec.columns[0]] = float(values[target])
    return out


def flip_test(model: ModelUnderAudit, x: torch.Tensor, base: np.ndarray, spec: FeatureSpec,
              values: tuple[str, ...], positive_class: int) -> FlipResult:
    """Swap `spec` to every other value in `values` for every row and compare with the decisions `base`."""
    current, valid = _current_values(spec, x, values)
    flipped_any = np.zeros(len(base), dtype=bool)
    cells = []
    for target in range(len(values)):
        movable = current != target  # a row already at `target` is not a counterfactual
        counter = base.copy()
        if movable.any():
            counter[movable] = model.predict(_set_value(spec, x[torch.from_numpy(movable)], values, target))
        changed = counter != base
        flipped_any |= changed
        favourable = changed & (counter == positive_class)
        for source in range(len(values)):
            rows = current == source
            if source != target:
                cells.append(FlipCell(values[source], values[target], int(rows.sum()),
                                      int((changed & rows).sum()), int((favourable & rows).sum())))
    by_group = tuple(
        (values[v], int((current == v).sum()), int((flipped_any & (current == v)).sum())) for v in range(len(values))
    )
    return FlipResult(spec.name, len(base), int(flipped_any.sum()), by_group, tuple(cells), valid)
