"""Each remedy's training as a task of its own (SuiteContext.fan_out): in order in this process, or side by side
as Ray tasks under --executor ray (one CPU each; remedies train on the CPU).

A task reads only its `RemedyJob` (picklable: it goes into Ray's object store once) and the remedy's name. Every
trainer seeds itself from the job (the adversarial trainer from derive_seed(run seed, 81), the others from the
recipe's seed), so a remedy is the same model whichever executor trained it and in whatever order. A trained
remedy is stored under the cache folder by its key (`store`), and a later run with the same key loads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from audit.data.types import Dataset, Split
from audit.models.types import Recipe
from audit.suites.remedies.params import RemediesParams
from audit.suites.remedies.variant import RemedySkipped, TrainedVariant
from audit.suites.robustness.threat import ThreatSpace


@dataclass(frozen=True, eq=False)
class RemedyJob:
    """What every remedy's training reads."""

    data: Dataset  # the rows remedies train on (images: a seeded subset of the training split)
    all_train: Split  # every training row: the student learns the teacher's outputs on all of them
    audited: nn.Module  # the audited model: the teacher, and the start of an image fine-tune
    outputs: str  # what the audited model returns (logits or probabilities)
    original: Recipe  # the audited model's own recipe
    recipe: Recipe  # the recipe remedies train by (`params.epochs` applied)
    params: RemediesParams
    space: ThreatSpace | None  # the robustness threat space adversarial training attacks in
    attribute: str  # the sensitive attribute the fairness constraint holds on ("" when none)
    seed: int  # the run's seed
    adversarial_seed: int
    cache_dir: Path


@dataclass(frozen=True, eq=False)
class RemedyOutcome:
    """A trained remedy, or why it was not trained."""

    variant: TrainedVariant | None
    skipped: str = ""


def train_remedy(job: RemedyJob, name: str, seed: int) -> RemedyOutcome:
    """One task: train (or load the stored) remedy `name`. `seed` is the fan-out's; the trainers seed themselves."""
    try:
        return RemedyOutcome(_stored(job, name, _trainer(job, name)))
    except RemedySkipped as why:
        return RemedyOutcome(None, f"{name} was not trained: {why}")


def _scratch(job: RemedyJob) -> Recipe:
    """Images: from-scratch remedies (DP-SGD, the student) train longer than the fine-tune."""
    if job.data.input_kind != "image":
        return job.recipe
    return dataclasses.replace(job.recipe, epochs=job.params.image_scratch_epochs)


def _trainer(job: RemedyJob, name: str) -> Callable[[], TrainedVariant]:
    from audit.suites.remedies.adversarial import train_adversarial
    from audit.suites.remedies.distillation import train_student
    from audit.suites.remedies.dp_sgd import DpSettings, train_dp_sgd
    from audit.suites.remedies.fairness_constrained import train_constrained

    data, params, recipe, scratch = job.data, job.params, job.recipe, _scratch(job)
    assert data.train is not None
    start = job.audited if data.input_kind == "image" else None  # images fine-tune the audited weights
    dp = DpSettings(params.dp_epsilon, params.dp_delta, params.dp_max_grad_norm, params.dp_batch_size, params.dp_lr)
    train = data.train

    def fairness() -> TrainedVariant:
        if not job.attribute or data.task != "binary":
            raise RemedySkipped("the fairness constraint needs a binary task with a sensitive attribute")
        return train_constrained(recipe, train, job.attribute, params.fairness_constraint, params.fairness_weight,
                                 data.positive_class)

    trainers: dict[str, Callable[[], TrainedVariant]] = {
        "adversarial_training": lambda: train_adversarial(recipe, data, job.space, params.epsilon,
                                                          params.train_attack_steps, job.adversarial_seed, init=start),
        "dp_sgd": lambda: train_dp_sgd(scratch, train, dp, recipe.seed),
        # images: the student learns from every training row (a superset of the members scored)
        "distillation": lambda: train_student(scratch, job.all_train, job.audited, job.outputs,
                                              params.distill_temperature, params.distill_alpha),
        "fairness_constrained": fairness,
    }
    return trainers[name]


def _architecture(job: RemedyJob, name: str) -> Recipe | None:
    """The recipe whose architecture the trained remedy has (None: the remedy cannot apply)."""
    if name != "distillation":
        return _scratch(job) if name == "dp_sgd" else job.recipe
    from audit.suites.remedies.distillation import student_recipe

    try:
        return student_recipe(_scratch(job))
    except RemedySkipped:
        return None


def _stored(job: RemedyJob, name: str, train: Callable[[], TrainedVariant]) -> TrainedVariant:
    """`train`, run once: a later run with the same key (see `store`) loads the remedy it trained."""
    from audit.models.architectures import build
    from audit.models.recipes import recipe_to_json
    from audit.suites.remedies import store
    from audit.suites.remedies.fairness_constrained import group_codes

    architecture, data = _architecture(job, name), job.data
    if architecture is None or data.train is None:
        return train()  # the trainer says why it cannot apply
    tensors = [data.train.x, data.train.y, job.all_train.x, job.all_train.y]
    if name == "fairness_constrained" and job.attribute and job.attribute in data.train.sensitive.columns:
        tensors.append(group_codes(data.train.sensitive, job.attribute)[0])
    if name == "adversarial_training" and job.space is not None:
        space = job.space
        tensors += [space.scale, space.mask, space.u_lo, space.u_hi]
    settings = {"params": dataclasses.asdict(job.params), "architecture": recipe_to_json(architecture),
                "recipe": recipe_to_json(job.original), "seed": job.seed, "attribute": job.attribute,
                "positive": data.positive_class, "task": data.task, "input_kind": data.input_kind,
                "teacher_outputs": job.outputs,
                "space": repr((job.space.categorical, job.space.immutable_columns)) if job.space else None}
    key = store.remedy_key(name, settings, tensors, [job.audited], _code())
    variant = store.trained_or_stored(job.cache_dir, key, name,
                                      lambda: build(architecture.architecture, **architecture.arch_kwargs), train)
    if not variant.details.get("reused_training"):
        variant = dataclasses.replace(variant, details={**variant.details, "reused_training": False})
    return dataclasses.replace(variant, details={**variant.details, "training_key": key[:32]})


_CODE: list[str] = []


def _code() -> str:
    from audit.suites.remedies import store

    if not _CODE:
        _CODE.append(store.code_digest())
    return _CODE[0]
