"""Knowledge distillation (Hinton et al. 2015) into a student of half the width.

The student trains on the teacher's softened outputs: α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from audit.data.types import Split
from audit.models.training import train_model
from audit.models.types import Recipe
from audit.suites.remedies.reaudit import forward_rows
from audit.suites.remedies.variant import RemedySkipped, TrainedVariant, count_parameters, logits_of, timed


def _half(width: int) -> int:
    return max(1, int(width) // 2)


def student_recipe(recipe: Recipe) -> Recipe:
    """The recipe with every hidden layer (MLP) or channel count and hidden layer (CNN) halved."""
    kwargs: dict[str, Any] = dict(recipe.arch_kwargs)
    if recipe.architecture == "tabular-mlp":
        kwargs["hidden"] = [_half(h) for h in kwargs.get("hidden", (64, 32))]
    elif recipe.architecture == "mnist-cnn":
        kwargs["channels"] = [_half(c) for c in kwargs.get("channels", (16, 32))]
        kwargs["hidden"] = _half(kwargs.get("hidden", 64))
    else:
        raise RemedySkipped(f"no half-width student is defined for architecture {recipe.architecture!r}")
    return dataclasses.replace(recipe, name=f"{recipe.name}-student", arch_kwargs=kwargs)


def distillation_loss(teacher_logits: torch.Tensor, temperature: float, alpha: float):  # noqa: ANN201
    def loss(module: nn.Module, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        student = module(x)
        soft = nn.functional.kl_div(nn.functional.log_softmax(student / temperature, dim=1),
                                    nn.functional.log_softmax(teacher_logits[rows] / temperature, dim=1),
                                    reduction="batchmean", log_target=True)
        return alpha * temperature**2 * soft + (1 - alpha) * nn.functional.cross_entropy(student, y)

    return loss


def train_student(recipe: Recipe, split: Split, teacher: nn.Module, teacher_outputs: str, temperature: float,
                  alpha: float) -> TrainedVariant:
    student = student_recipe(recipe)
    with torch.no_grad():
        teacher.eval()
        device = next(iter(teacher.parameters()), torch.empty(0)).device
        step = forward_rows(split.x)
        targets = torch.cat([logits_of(teacher, split.x[i : i + step].to(device), teacher_outputs).float().cpu()
                             for i in range(0, len(split), step)])
    module, seconds = timed(lambda: train_model(student, split, batch_loss=distillation_loss(targets, temperature,
                                                                                              alpha)))
    how = (f"Knowledge distillation (Hinton et al. 2015) into {student.architecture} "
           f"{_shape(student.arch_kwargs)} (teacher {_shape(recipe.arch_kwargs)}): soft targets at T={temperature:g}, "
           f"weight α={alpha:g} on them and {1 - alpha:g} on the labels; the teacher's recipe otherwise")
    return TrainedVariant("distillation", module, how, seconds, count_parameters(module, True),
                          count_parameters(module),
                          details={"temperature": temperature, "alpha": alpha,
                                   "student_arch_kwargs": {k: v for k, v in student.arch_kwargs.items()}})


def _shape(kwargs: Any) -> str:
    parts = [f"{k}={list(v) if isinstance(v, (list, tuple)) else v}" for k, v in kwargs.items()
             if k in ("hidden", "channels")]
    return "(" + ", ".join(parts) + ")"
