"""Label errors: likely mislabelled training rows by confident learning (cleanlab) on out-of-sample probabilities.

The probabilities come from cross-validation on the training rows: the model's own recipe retrained per fold
when it has one, otherwise a scaled logistic regression (on token counts, a bag of words, for a tokenised text
classifier, whose token positions are not features). Counts by group: noise that falls on one group is
itself a fairness finding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.data.types import Dataset, Split
from audit.models.types import ModelUnderAudit
from audit.stats import wilson_interval
from audit.suite import SuiteOutput
from audit.suites.data.params import DataParams
from audit.suites.data.proportions import group_labels, group_rates
from audit.suites.data.sections import NO_TRAINING, rounded, skipped
from audit.types import Measurement, Table, ValidityCheck

MAX_LISTED = 20
SHARE = "label_issue_share[train]"


class TooFewRows(Exception):
    """The training rows cannot support cross-validation."""


@dataclass(frozen=True)
class OutOfSample:
    rows: np.ndarray  # training row indices used
    proba: np.ndarray  # (rows, k) out-of-fold probabilities
    method: str
    folds: int


def sample_rows(y: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """All rows, or a class-stratified seeded sample of `max_rows` (sorted)."""
    if y.size <= max_rows:
        return np.arange(y.size)
    picked = [rng.permutation(np.flatnonzero(y == c))[: max(1, round(max_rows * np.mean(y == c)))]
              for c in np.unique(y)]
    return np.sort(np.concatenate(picked))


def out_of_sample(model: ModelUnderAudit, split: Split, n_classes: int, params: DataParams,
                  rng: np.random.Generator, seed: int) -> OutOfSample:
    from sklearn.model_selection import StratifiedKFold

    y_all = split.y.numpy()
    cap = params.label_error_max_images if split.x.dim() > 2 else params.label_error_max_rows
    rows = sample_rows(y_all, cap, rng)
    y = y_all[rows]
    folds = int(min(params.label_error_folds, np.bincount(y).min()))
    if folds < 2:
        raise TooFewRows("a class has fewer than two training rows, so there is nothing to cross-validate")
    proba = np.zeros((rows.size, n_classes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
    use_recipe = model.recipe is not None and "recipe" in model.capabilities
    tokens = model.input_kind == "text" and split.x.dim() == 3  # token ids + mask: positions are not features
    x = None if use_recipe else (token_counts(split.x) if tokens else split.x.reshape(len(split), -1).numpy())
    splits = list(splitter.split(np.zeros(rows.size), y))
    together = use_recipe and _vectorisable(model, split)
    if together:
        proba[:] = _recipe_folds_together(model, split, rows, splits, rng)
    for fit, held in splits if not together else ():
        if use_recipe:
            proba[held] = _recipe_fold(model, split, rows[fit], rows[held])
        else:
            proba[held] = _linear_fold(x, y_all, rows[fit], rows[held], n_classes, seed, scale=not tokens)
    method = (f"recipe '{model.recipe.name}' retrained per fold" if use_recipe else
              "logistic regression on token counts (bag of words)" if tokens else "logistic regression")
    if together:
        method += f" (the {folds} folds trained together in one vectorised pass on {_fit_rows(splits)} rows each)"
    return OutOfSample(rows, proba, method, folds)


def _vectorisable(model: ModelUnderAudit, split: Split) -> bool:
    """Tabular recipes train their folds as one vectorised pass (privacy's shadow-model trainer): on the CPU that
    costs about half of training them one by one. Convolutional recipes train one by one, which measured faster
    (a vmapped convolution is slower than a plain one there)."""
    from audit.suites.privacy.shadow import unsupported_reason

    assert model.recipe is not None
    return split.x.dim() == 2 and unsupported_reason(model.recipe) is None


def _fit_rows(splits: list[tuple[np.ndarray, np.ndarray]]) -> int:
    return min(fit.size for fit, _ in splits)


def _recipe_folds_together(model: ModelUnderAudit, split: Split, rows: np.ndarray,
                           splits: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> np.ndarray:
    """Out-of-fold probabilities with every fold's model trained at once (`train_vectorised`). Stratified folds
    differ in size by a row or so; each fold's model trains on a seeded sample of the smallest fold's size (all
    its rows but at most a few), as the stacked trainer needs equal-sized training sets."""
    from audit.suites.privacy.shadow import predict_stack, train_vectorised
    from audit.threads import torch_threads

    assert model.recipe is not None
    size = _fit_rows(splits)
    keep = np.zeros((len(splits), rows.size), bool)
    for f, (fit, _) in enumerate(splits):
        keep[f, fit if fit.size == size else rng.choice(fit, size, replace=False)] = True
    x, y = split.x[torch.as_tensor(rows)].cpu(), split.y[torch.as_tensor(rows)].cpu()
    # one thread: the same weights whatever the core count (torch.use_deterministic_algorithms, which only matters
    # on CUDA, would import torch._dynamo: about 1.5 s)
    with torch_threads(1):
        stack = train_vectorised(model.recipe, x, y, keep, model.recipe.epochs, model.recipe.seed)
        outputs = predict_stack(stack, x)  # (folds, rows, classes)
    proba = np.zeros((rows.size, outputs.shape[-1]))
    for f, (_, held) in enumerate(splits):
        proba[held] = torch.softmax(outputs[f, torch.as_tensor(held)].float(), dim=1).double().numpy()
    return proba


def _recipe_fold(model: ModelUnderAudit, split: Split, fit: np.ndarray, held: np.ndarray) -> np.ndarray:
    from audit.models.training import train_model

    assert model.recipe is not None
    module = train_model(model.recipe, split.subset(torch.as_tensor(fit)))
    with torch.no_grad():
        return torch.softmax(module(split.x[torch.as_tensor(held)]).float(), dim=1).double().numpy()


def token_counts(x: torch.Tensor):  # noqa: ANN201 - a scipy CSR matrix (rows, vocabulary)
    """Bag of words of tokenised rows (n, 2, length): how often each token id occurs among the unmasked tokens."""
    from scipy.sparse import csr_matrix

    ids, mask = x[:, 0].long().numpy(), x[:, 1].numpy() > 0
    rows = np.broadcast_to(np.arange(len(x))[:, None], ids.shape)
    return csr_matrix((np.ones(int(mask.sum())), (rows[mask], ids[mask])), shape=(len(x), int(ids.max()) + 1))


def _linear_fold(x, y: np.ndarray, fit: np.ndarray, held: np.ndarray, n_classes: int, seed: int,  # noqa: ANN001
                 scale: bool = True) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [StandardScaler()] if scale else []
    clf = make_pipeline(*steps, LogisticRegression(max_iter=500, random_state=seed % 2**32))
    clf.fit(x[fit], y[fit])
    out = np.zeros((held.size, n_classes))
    out[:, clf.classes_] = clf.predict_proba(x[held])
    return out


def label_errors(ctx_model: ModelUnderAudit, data: Dataset, params: DataParams, rng: np.random.Generator,
                 seed: int) -> SuiteOutput:
    if data.train is None or len(data.train) == 0:
        return skipped((SHARE,), NO_TRAINING, "Label errors")
    if not params.label_errors:
        return skipped((SHARE,), "switched off (label_errors = false)", "Label errors")
    try:
        oos, issues = find_issues(ctx_model, data.train, data.n_classes, params, rng, seed)
    except TooFewRows as exc:
        return skipped((SHARE,), str(exc), "Label errors")
    return _report(issues, data.train.y.numpy()[oos.rows], oos, data, params, seed)


def find_issues(model: ModelUnderAudit, split: Split, n_classes: int, params: DataParams,
                rng: np.random.Generator, seed: int) -> tuple[OutOfSample, np.ndarray]:
    """Out-of-sample probabilities and cleanlab's flags (bool per row of `OutOfSample.rows`)."""
    from cleanlab.filter import find_label_issues

    oos = out_of_sample(model, split, n_classes, params, rng, seed)
    return oos, find_label_issues(split.y.numpy()[oos.rows], oos.proba, n_jobs=1)


def _report(issues: np.ndarray, y: np.ndarray, oos: OutOfSample, data: Dataset, params: DataParams,
            seed: int) -> SuiteOutput:
    k, n = int(issues.sum()), issues.size
    accuracy = float((oos.proba.argmax(axis=1) == y).mean())
    majority = float(np.bincount(y).max() / n)
    details = {"rows_flagged": k, "rows_used": n, "n_train": len(data.train), "method": oos.method,
               "folds": oos.folds, "out_of_sample_accuracy": rounded(accuracy)}
    measurements = [Measurement(
        SHARE, k / n, wilson_interval(k, n), False, n,
        "Share of training rows confident learning flags as likely mislabelled (cleanlab, out-of-sample "
        "probabilities; 95% Wilson interval).", details,
    )]
    group_rows = []
    sensitive = data.train.sensitive.iloc[oos.rows].reset_index(drop=True)
    for i, attribute in enumerate(data.sensitive_attributes):
        rates = group_rates(issues, group_labels(sensitive[attribute]), params.min_group_size, params.resamples,
                            seed + i)
        flagged = {g: int(issues[group_labels(sensitive[attribute]) == g].sum()) for g in rates.labels}
        measurements.append(Measurement(
            f"label_issue_gap[train,{attribute}]", rates.gap, rates.ci, False, n,
            f"Widest gap between groups of {attribute} in the share of training rows flagged as mislabelled "
            "(bootstrap 95% CI).", {"rates": {g: rounded(r) for g, r in zip(rates.labels, rates.rates[:, 0],
                                                                             strict=True)}, "flagged": flagged},
            None if rates.eligible.sum() >= 2 else f"fewer than two groups of {attribute} are large enough",
        ))
        group_rows += [(attribute, g, int(c), flagged[g], rounded(r))
                       for g, c, r in zip(rates.labels, rates.counts, rates.rates[:, 0], strict=True)]
    validity = ValidityCheck(
        "label_error_model_informative", accuracy > majority,
        f"out-of-sample accuracy {accuracy:.3f} vs {majority:.3f} for always answering the commonest class; "
        "confident learning needs probabilities better than that",
    )
    return SuiteOutput(
        measurements=tuple(measurements), validity=(validity,),
        tables=(_flagged_table(issues, y, oos, data), Table(
            "label_issues_by_group", "Likely mislabelled training rows per group",
            ("attribute", "group", "rows", "flagged", "share flagged"), tuple(group_rows))),
        notes=(f"Confident learning flags {k} of {n} training rows ({oos.method}, {oos.folds} folds) as likely "
               "mislabelled.",),
    )


def _flagged_table(issues: np.ndarray, y: np.ndarray, oos: OutOfSample, data: Dataset) -> Table:
    flagged = np.flatnonzero(issues)
    given = oos.proba[flagged, y[flagged]]
    order = flagged[np.argsort(given, kind="stable")][:MAX_LISTED]
    names = data.class_names
    rows = tuple((int(oos.rows[i]), names[y[i]], names[int(oos.proba[i].argmax())], rounded(oos.proba[i, y[i]]))
                 for i in order)
    return Table("label_issues", "Training rows most likely mislabelled",
                 ("training row", "given label", "suggested label", "out-of-sample P(given label)"), rows,
                 caption=f"The {MAX_LISTED} flagged rows whose given label the out-of-sample model believes least.")
