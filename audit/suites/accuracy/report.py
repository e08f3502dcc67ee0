"""Tables and charts of the accuracy suite (data only; renderers draw them)."""

from __future__ import annotations

import numpy as np

from audit.suites.accuracy import metrics as mx
from audit.types import Chart, Heatmap, Series, Table


def reliability_chart(p: mx.Predictions, bins: int) -> Chart:
    count, acc, conf = (a[0] for a in mx.calibration_bins(p, np.ones((1, p.y.size)), bins))
    used = count > 0
    return Chart(
        id="reliability", title="Reliability diagram", kind="line",
        x_label="mean confidence in bin", y_label="observed accuracy in bin",
        series=(
            Series("perfect calibration", (0.0, 1.0), (0.0, 1.0)),
            Series("model", tuple(conf[used].round(6)), tuple(acc[used].round(6))),
        ),
        caption=f"Top-label confidence in {bins} equal-width bins; points below the diagonal are over-confident.",
    )


def class_tables(p: mx.Predictions, class_names: tuple[str, ...]) -> tuple[tuple[Table, ...], tuple[Chart, ...]]:
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (p.y, p.pred), 1)
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), np.nan)
        recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
    conf_table = Table(
        "confusion_matrix", "Confusion matrix (rows: true class, columns: predicted)",
        ("true \\ predicted", *class_names),
        tuple((name, *map(int, confusion[i])) for i, name in enumerate(class_names)),
    )
    per_class = Table(
        "per_class", "Per-class precision and recall", ("class", "support", "precision", "recall"),
        tuple((name, int(support[i]), _r(precision[i]), _r(recall[i])) for i, name in enumerate(class_names)),
    )
    charts = [Chart("confusion_heatmap", "Confusion matrix", "heatmap", "predicted", "true",
                    heatmap=Heatmap(class_names, class_names, tuple(tuple(float(v) for v in r) for r in confusion)))]
    if k > 2:
        charts.append(Chart("per_class_recall", "Accuracy per class (recall)", "bar", "class", "recall",
                            series=(Series("recall", tuple(range(k)), tuple(_r(v) for v in recall)),),
                            x_tick_labels=class_names))
    return (conf_table, per_class), tuple(charts)


def _r(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)
