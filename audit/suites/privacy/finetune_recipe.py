"""The fine-tuning recipe a user gives for a Hugging Face classifier (`[suites.privacy] finetune_recipe`), checked
when the config is read; LiRA's shadow fine-tunes follow it (audit.suites.privacy.lira_finetune)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RECIPE_KEYS = {"epochs": int, "lr": float, "batch_size": int, "weight_decay": float, "start": str}


@dataclass(frozen=True)
class FineTuneRecipe:
    """How the audited classifier was fine-tuned: AdamW for `epochs` over the rows, `batch_size` rows a step."""

    epochs: int
    lr: float
    batch_size: int = 16
    weight_decay: float = 0.0
    start: str | None = None  # local pre-trained checkpoint folder; None: fresh weights from the model's config

    @property
    def description(self) -> str:
        origin = f"from {self.start}" if self.start else "from fresh weights of the model's config"
        return (f"AdamW, lr {self.lr:g}, weight decay {self.weight_decay:g}, {self.epochs} epoch(s) of batches of "
                f"{self.batch_size}, {origin}")


def recipe_problems(table: Mapping[str, Any]) -> list[str]:
    """What is wrong with a `finetune_recipe` table (empty: nothing given, or a usable recipe)."""
    if not table:
        return []
    unknown = sorted(set(table) - set(RECIPE_KEYS))
    if unknown:
        return [f"finetune_recipe has unknown key(s) {unknown}; known: {sorted(RECIPE_KEYS)}"]
    missing = [k for k in ("epochs", "lr") if k not in table]
    if missing:
        return [f"finetune_recipe needs {' and '.join(missing)} (e.g. {{ epochs = 3, lr = 2e-5, batch_size = 16 }})"]
    for key, value in table.items():
        problem = _value_problem(key, value)
        if problem:
            return [f"finetune_recipe.{key} = {value!r} {problem}"]
    return []


def _value_problem(key: str, value: Any) -> str | None:
    kind = RECIPE_KEYS[key]
    if kind is str:
        return None if isinstance(value, str) and value else "must be a folder path"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number ({kind.__name__})"
    if kind is int and (value != int(value) or value < 1):
        return "must be a whole number of at least 1"
    if value < 0 or (key == "lr" and value == 0):
        return "must be positive"
    return None


def parse_recipe(table: Mapping[str, Any]) -> FineTuneRecipe | None:
    if not table:
        return None
    return FineTuneRecipe(epochs=int(table["epochs"]), lr=float(table["lr"]),
                          batch_size=int(table.get("batch_size", 16)),
                          weight_decay=float(table.get("weight_decay", 0.0)), start=table.get("start"))
