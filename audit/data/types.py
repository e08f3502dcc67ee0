"""The one `Dataset` type every loader returns and every suite reads."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

TASKS = ("binary", "multiclass")
INPUT_KINDS = ("tabular", "image", "text")


@dataclass(frozen=True)
class FeatureSpec:
    """One original feature and the model-input columns that encode it.

    A numeric feature has one column; a one-hot categorical has one column per category, in the
    order of `categories`. Immutable features (sex, race, age by default) are never perturbed.
    """

    name: str
    kind: str  # "numeric" | "categorical"
    columns: tuple[int, ...]
    categories: tuple[str, ...] = ()
    mutable: bool = True
    sensitive: bool = False  # the feature is also a sensitive attribute used as a model input


@dataclass(frozen=True)
class Split:
    """Rows of one split. `sensitive` holds group labels as strings, row-aligned with `x` and `y`."""

    x: torch.Tensor  # model inputs, float32: (n, d) tabular, (n, c, h, w) image
    y: torch.Tensor  # int64 class indices, (n,)
    sensitive: pd.DataFrame  # one column per sensitive attribute (may have no columns)
    raw: pd.DataFrame | None = None  # the rows before encoding, where a consumer needs them (text)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: torch.Tensor) -> Split:
        idx = index.cpu().numpy()
        return Split(
            x=self.x[index],
            y=self.y[index],
            sensitive=self.sensitive.iloc[idx].reset_index(drop=True),
            raw=None if self.raw is None else self.raw.iloc[idx].reset_index(drop=True),
        )


@dataclass(frozen=True)
class Dataset:
    """Features, labels and sensitive attributes, split into the model's training rows and audit rows.

    `train` is the model's training data (members, for privacy) and is None when unknown;
    `test` is what the audit evaluates on.
    """

    name: str
    task: str
    class_names: tuple[str, ...]
    input_kind: str
    feature_names: tuple[str, ...]  # model-input column names (tabular); empty for images
    features: tuple[FeatureSpec, ...]  # original features (tabular); empty for images
    sensitive_attributes: tuple[str, ...]
    train: Split | None
    test: Split
    source: str
    sha256: str
    positive_class: int = 1  # for binary tasks: the favourable outcome index

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.test.x.shape[1:])

    def feature(self, name: str) -> FeatureSpec:
        for spec in self.features:
            if spec.name == name:
                return spec
        raise KeyError(name)
