"""Small synthetic data sets and models for tests and benchmarks (no bundled data needed).

`synthetic_tabular` mimics the reference sets' shape: numeric and one-hot categorical features,
sensitive attributes kept apart from (or also used as) model inputs, and a train/test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.data.types import Dataset, FeatureSpec, Split
from audit.models.architectures import TabularMLP
from audit.models.types import ModelSource, ModelUnderAudit, Recipe


def synthetic_tabular(n: int = 600, seed: int = 0, sex_in_features: bool = True, bias: float = 1.0) -> Dataset:
    """Binary task: income-like label from two numerics and a category, with a `sex`-linked bias."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], size=n, p=[0.4, 0.6])
    race = rng.choice(["A", "B", "C"], size=n, p=[0.6, 0.3, 0.1])
    hours = rng.normal(0, 1, n)
    edu = rng.normal(0, 1, n) + 0.3 * (race == "A")
    job = rng.choice(["clerk", "manager", "other"], size=n)
    logit = 1.2 * hours + 1.0 * edu + 0.8 * (job == "manager") + bias * (sex == "Male") - 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    cols = [hours, edu] + [(job == c).astype(float) for c in ("clerk", "manager", "other")]
    names = ["hours", "education", "job=clerk", "job=manager", "job=other"]
    specs = [
        FeatureSpec("hours", "numeric", (0,)),
        FeatureSpec("education", "numeric", (1,)),
        FeatureSpec("job", "categorical", (2, 3, 4), ("clerk", "manager", "other")),
    ]
    if sex_in_features:
        cols += [(sex == "Female").astype(float), (sex == "Male").astype(float)]
        names += ["sex=Female", "sex=Male"]
        specs.append(FeatureSpec("sex", "categorical", (5, 6), ("Female", "Male"), mutable=False, sensitive=True))
    x = torch.tensor(np.stack(cols, axis=1), dtype=torch.float32)
    sensitive = pd.DataFrame({"sex": sex, "race": race})
    cut = int(n * 0.6)
    train_idx, test_idx = torch.arange(cut), torch.arange(cut, n)
    whole = Split(x=x, y=torch.tensor(y), sensitive=sensitive)
    return Dataset(
        name="synthetic",
        task="binary",
        class_names=("<=50K", ">50K"),
        input_kind="tabular",
        feature_names=tuple(names),
        features=tuple(specs),
        sensitive_attributes=("sex", "race"),
        train=whole.subset(train_idx),
        test=whole.subset(test_idx),
        source="audit.testing.synthetic_tabular",
        sha256=f"synthetic-{n}-{seed}-{int(sex_in_features)}-{bias}",
    )


def train_classifier(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 60, lr: float = 0.05, seed: int = 0
) -> nn.Module:
    """Full-batch Adam training; deterministic for a given seed."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(module(x), y).backward()
        opt.step()
    return module.eval()


def export_tiny_classifier(path: Path, n_features: int = 2, n_classes: int = 2, seed: int = 0) -> Path:
    """A linear classifier exported as a clean `.pt2` file (dynamic batch), for end-to-end CLI tests."""
    torch.manual_seed(seed)
    module = nn.Sequential(nn.Linear(n_features, n_classes)).eval()
    example = torch.randn(4, n_features)
    program = torch.export.export(module, (example,), dynamic_shapes={"input": {0: torch.export.Dim("batch")}})
    torch.export.save(program, path)
    return path


def tabular_model(data: Dataset, seed: int = 0, epochs: int = 60, hidden: tuple[int, ...] = (16,)) -> ModelUnderAudit:
    """A small MLP trained on `data.train`, wrapped as a ModelUnderAudit."""
    assert data.train is not None
    torch.manual_seed(seed)
    module = TabularMLP(data.train.x.shape[1], data.n_classes, hidden)
    train_classifier(module, data.train.x, data.train.y, epochs=epochs, seed=seed)
    return wrap_module(module, data, name="synthetic-mlp", recipe=Recipe(
        name="synthetic-mlp", dataset=data.name, architecture="tabular-mlp",
        arch_kwargs={"in_features": int(data.train.x.shape[1]), "n_classes": data.n_classes, "hidden": list(hidden)},
        lr=0.05, epochs=epochs, batch_size=len(data.train), seed=seed,
    ))


def tabular_attack_view(n: int, seed: int) -> tuple[Dataset, object, nn.Module]:
    """A trained synthetic MLP seen from the robustness attack space (sex immutable): (data, space, logit view)."""
    from audit.suites.robustness.threat import LogitView, tabular_space

    data = synthetic_tabular(n=n, seed=seed)
    space = tabular_space(data, ("sex",))
    view = LogitView(tabular_model(data, seed=seed).module, space.scale, False).eval()
    return data, space, view


def view_accuracy(view: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows `view` classifies as `y`."""
    with torch.no_grad():
        return float((view(x).argmax(1) == y).float().mean())


def wrap_module(
    module: nn.Module, data: Dataset, name: str = "test-model", outputs: str = "logits",
    capabilities: frozenset[str] = frozenset({"gradients", "logits"}), recipe: Recipe | None = None,
) -> ModelUnderAudit:
    caps = set(capabilities) | ({"recipe"} if recipe is not None else set())
    if outputs != "logits":
        caps.discard("logits")
    return ModelUnderAudit(
        name=name, module=module.eval(), task=data.task, n_classes=data.n_classes, input_kind=data.input_kind,
        input_shape=data.input_shape, outputs=outputs, device="cpu", capabilities=frozenset(caps),
        source=ModelSource(kind="test", ref=name, sha256="0" * 64), recipe=recipe,
    )
