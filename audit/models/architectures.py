"""Architectures the zoo's recipes name. Plain modules: no code runs from weight files."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from audit.errors import AuditInputError
from audit.models.pooling import MaxPool2d


class TabularMLP(nn.Module):
    """A small MLP over preprocessed tabular features; outputs logits."""

    def __init__(self, in_features: int, n_classes: int = 2, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MnistCNN(nn.Module):
    """A compact CNN for 1x28x28 inputs in [0, 1]; outputs logits over 10 digits."""

    def __init__(self, n_classes: int = 10, channels: tuple[int, int] = (16, 32), hidden: int = 64):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "tabular-mlp": TabularMLP,
    "mnist-cnn": MnistCNN,
}


@dataclass(frozen=True)
class Kwarg:
    """One constructor argument of a built-in architecture: what --arch-kwargs may set it to."""

    kind: str  # "int" | "ints" | "probability"
    required: bool = False
    minimum: int = 1
    maximum: int = 1 << 20  # a typo of a few digits should not try to allocate terabytes
    length: int | None = None  # for "ints": exact number of entries, None for any number >= 1

    def describe(self) -> str:
        if self.kind == "probability":
            return "a number in [0, 1)"
        whole = f"an integer in [{self.minimum}, {self.maximum}]"
        if self.kind == "int":
            return whole
        count = f"{self.length}" if self.length else "one or more"
        return f"a list of {count} integers in [{self.minimum}, {self.maximum}]"


KWARGS: dict[str, dict[str, Kwarg]] = {
    "tabular-mlp": {"in_features": Kwarg("int", required=True), "n_classes": Kwarg("int", minimum=2),
                    "hidden": Kwarg("ints"), "dropout": Kwarg("probability")},
    "mnist-cnn": {"n_classes": Kwarg("int", minimum=2), "channels": Kwarg("ints", length=2), "hidden": Kwarg("int")},
}


def _is_int(value: object, spec: Kwarg) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and spec.minimum <= value <= spec.maximum


def _shown(value: object) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deep>"
    return text if len(text) <= 80 else text[:77] + "..."


def _coerce(value: object, spec: Kwarg) -> object | None:
    """The value in the type the constructor wants, or None when it does not fit the spec."""
    if spec.kind == "int":
        return int(value) if _is_int(value, spec) else None  # type: ignore[call-overload]
    if spec.kind == "probability":
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= float(value) < 1
        return float(value) if ok else None  # type: ignore[arg-type]
    if not isinstance(value, (list, tuple)) or not value or (spec.length and len(value) != spec.length):
        return None
    return tuple(int(v) for v in value) if all(_is_int(v, spec) for v in value) else None


def validate_kwargs(architecture: str, kwargs: Mapping[str, object]) -> dict[str, object]:
    """Check --arch-kwargs for a built-in architecture; AuditInputError names the argument and what is allowed."""
    specs = KWARGS[architecture]
    allowed = ", ".join(f"{name} ({spec.describe()}{', required' if spec.required else ''})"
                        for name, spec in specs.items())
    unknown = sorted(set(kwargs) - set(specs))
    if unknown:
        raise AuditInputError(f"--arch {architecture} takes no {unknown[0]!r}. Allowed --arch-kwargs: {allowed}.")
    missing = [name for name, spec in specs.items() if spec.required and name not in kwargs]
    if missing:
        raise AuditInputError(f"--arch {architecture} needs {missing[0]!r} in --arch-kwargs. Allowed: {allowed}.")
    checked: dict[str, object] = {}
    for name, value in kwargs.items():
        checked[name] = _coerce(value, specs[name])
        if checked[name] is None:
            raise AuditInputError(
                f"--arch-kwargs {name}={_shown(value)} is not allowed for --arch {architecture}: "
                f"{name} must be {specs[name].describe()}."
            )
    return checked


def build(architecture: str, **kwargs: object) -> nn.Module:
    """Instantiate a named architecture (used by the zoo and for retraining shadow models)."""
    if architecture not in ARCHITECTURES:
        raise AuditInputError(f"Unknown architecture {architecture!r}; built-in ones: {', '.join(ARCHITECTURES)}.")
    return ARCHITECTURES[architecture](**validate_kwargs(architecture, kwargs))
