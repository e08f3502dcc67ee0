"""What each part of the data suite hands back, and the splits it reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from audit.data.types import Dataset, Split
from audit.suite import SuiteOutput
from audit.types import Measurement

NO_TRAINING = "the model's training rows are not known (pass --train-data PATH)"
TOKENISED_TEXT = ("the model reads token ids (a tokenised text classifier), and token positions are not features: "
                  "per-feature tests on them would say nothing about the data")


@dataclass(frozen=True)
class NamedSplit:
    """A split and the name it carries in measurement names ("train" or "audit")."""

    name: str
    split: Split


def named_splits(train: Split | None, test: Split) -> tuple[NamedSplit, ...]:
    present = [NamedSplit("train", train)] if train is not None and len(train) > 0 else []
    return (*present, NamedSplit("audit", test))


def is_tokenised_text(data: Dataset) -> bool:
    """A text classifier's rows held as token ids and attention mask (n, 2, length) rather than features."""
    return data.input_kind == "text" and data.test.x.dim() == 3


def skipped(names: Iterable[str], reason: str, part: str) -> SuiteOutput:
    """Figures a part could not measure: present, NaN and insufficient, so a gate on them never passes."""
    return SuiteOutput(
        measurements=tuple(Measurement(n, float("nan"), insufficient_reason=reason) for n in names),
        notes=(f"{part} skipped: {reason}.",),
    )




def rounded(value: float, digits: int = 4) -> float | None:
    return None if value != value else round(float(value), digits)  # NaN -> None (an empty cell)
