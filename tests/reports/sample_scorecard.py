"""A small but rich Scorecard for renderer tests: every chart kind, every verdict, every suite status.

`build_scorecard(inject)` puts `inject` into every string that comes from data, models or config, so the
XSS tests can check that each place is escaped.
"""

from __future__ import annotations

from audit.types import (
    SCHEMA_VERSION,
    Chart,
    Check,
    Heatmap,
    ImageGrid,
    Measurement,
    PillarSummary,
    Provenance,
    RunInfo,
    Scorecard,
    Series,
    SuiteResult,
    SuiteStatus,
    Table,
    Threshold,
    ValidityCheck,
    Verdict,
)

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
MARKDOWN_BREAKERS = "| x | y |\n# heading [link](javascript:alert(1)) `code` **b** _i_ \\ & ~s~"


def _images(cmap: str) -> ImageGrid:
    digit = tuple(tuple(float((r + c) % 4 == 0) for c in range(6)) for r in range(6))
    signed = tuple(tuple((c - 2.5) / 2.5 * (1 if r % 2 else -0.5) for c in range(6)) for r in range(6))
    picture = signed if cmap == "diverging" else digit
    return ImageGrid(row_labels=("seven", "one"), col_labels=("input", "attribution"),
                     images=((picture, picture), (picture, picture)), cmap=cmap)


def _charts(s: str) -> tuple[Chart, ...]:
    return (
        Chart(id="acc_vs_eps", title=f"Robust accuracy vs epsilon{s}", kind="line", x_label=f"epsilon{s}",
              y_label="accuracy", log_x=True, caption=f"Shaded band: 95% CI{s}",
              series=(Series(label=f"pgd{s}", x=(0.001, 0.01, 0.1), y=(0.9, 0.7, 0.2),
                             lo=(0.88, 0.66, 0.15), hi=(0.92, 0.74, 0.25)),
                      Series(label="fgsm", x=(0.001, 0.01, 0.1), y=(0.91, 0.75, 0.3)))),
        Chart(id="rates", title="Selection rate by group", kind="bar", y_label="selection rate",
              series=(Series(label=f"Female{s}", x=(0.0,), y=(0.21,), lo=(0.18,), hi=(0.24,)),
                      Series(label="Male", x=(0.0,), y=(0.35,), lo=(0.32,), hi=(0.38,)))),
        Chart(id="calib", title="Reliability", kind="scatter", x_label="confidence", y_label="accuracy",
              series=(Series(label="bins", x=(0.1, 0.5, 0.9), y=(0.12, 0.48, 0.8), lo=(0.05, 0.4, 0.75),
                             hi=(0.2, 0.55, 0.85)),)),
        Chart(id="confusion", title="Confusion matrix", kind="heatmap", x_label="predicted", y_label=f"true{s}",
              heatmap=Heatmap(row_labels=(f"true 0{s}", "true 1"), col_labels=(f"pred 0{s}", "pred 1"),
                              values=((50.0, 5.0), (7.0, None)))),
        Chart(id="digits", title="Inputs", kind="images", images=_images("gray")),
        Chart(id="saliency", title=f"Attributions{s}", kind="images", images=_images("diverging")),
    )


def _results(s: str) -> tuple[SuiteResult, ...]:
    accuracy = SuiteResult(
        suite="accuracy", pillar="accuracy", status=SuiteStatus.OK, duration_s=1.25,
        measurements=(
            Measurement("accuracy", 0.85, (0.82, 0.88), True, 600, f"Share of test rows classified correctly.{s}",
                        {"resamples": 1000, "seed": 0}),
            Measurement("ece", 0.04, (0.02, 0.06), False, 600, "Expected calibration error."),
        ),
        tables=(Table(id="per_group", title=f"Accuracy by group{s}", columns=("group", f"accuracy{s}", "n"),
                      rows=((f"Female{s}", 0.81, 240), ("Male", 0.87, 360)), caption=f"Test split.{s}"),),
        charts=_charts(s),
        validity=(ValidityCheck("finite_outputs", True, "All logits finite."),),
        params={"resamples": 1000, "bins": 10, "note": f"default{s}"},
        notes=(f"The model is better calibrated for Male rows.{s}", f"# not a heading{s}"),
    )
    robustness = SuiteResult(
        suite="robustness", pillar="robustness", status=SuiteStatus.OK, duration_s=12.5,
        measurements=(Measurement("robust_accuracy[linf,eps=0.03]", 0.41, (0.37, 0.45), True, 500,
                                  "Accuracy under a PGD attack of size 0.03.", {"eps": 0.03, "steps": 10}),),
        validity=(ValidityCheck("gradient_masking", False, f"Black-box attack beat white-box attack.{s}"),
                  ValidityCheck("loss_increases", True, "Attack loss increased.")),
        params={"eps": [0.01, 0.03], "steps": 10},
    )
    fairness = SuiteResult(
        suite="fairness", pillar="fairness", status=SuiteStatus.OK, duration_s=2.0,
        measurements=(Measurement("dp_difference[sex]", 0.14, (0.08, 0.2), False, 600, "Gap in selection rates."),
                      Measurement("eo_difference[race]", 0.3, None, False, 12, "Gap in true-positive rates.",
                                  insufficient_reason=f"Only 3 positives in group C.{s}")),
        params={"sensitive": ["sex", "race"]},
    )
    privacy = SuiteResult(suite="privacy", pillar="privacy", status=SuiteStatus.SKIPPED,
                          reason=f"needs capability 'training-data'{s}")
    explain = SuiteResult(suite="explainability", pillar="explainability", status=SuiteStatus.ERROR,
                          reason=f"RuntimeError: shape mismatch{s}", duration_s=0.5)
    return accuracy, robustness, fairness, privacy, explain


def _checks(s: str) -> tuple[Check, ...]:
    return (
        Check("accuracy.accuracy", Verdict.PASS, "0.85 ≥ 0.8", 0.85, (0.82, 0.88),
              Threshold("accuracy.accuracy", min=0.8), f"Share of test rows classified correctly.{s}"),
        Check("accuracy.ece", Verdict.WARN, "0.04 > 0.03", 0.04, (0.02, 0.06),
              Threshold("accuracy.ece", max=0.03, severity="warn"), "Expected calibration error."),
        Check("robustness.validity.gradient_masking", Verdict.UNRELIABLE, f"Black-box attack beat white-box.{s}",
              description="A self-check of the evaluation; if it fails, the pillar's figures cannot be trusted."),
        Check("robustness.robust_accuracy[linf,eps=0.03]", Verdict.PASS, "0.37 ≥ 0.3", 0.41,
              (0.37, 0.45), Threshold("robustness.robust_accuracy[*]", min=0.3, on="ci"), "Accuracy under attack."),
        Check("fairness.dp_difference[sex]", Verdict.FAIL, "0.14 > 0.1", 0.14, (0.08, 0.2),
              Threshold("fairness.dp_difference[*]", max=0.1), "Gap in selection rates."),
        Check("fairness.eo_difference[race]", Verdict.INSUFFICIENT_EVIDENCE, f"Only 3 positives in group C.{s}",
              0.3, None, Threshold("fairness.eo_difference[*]", max=0.1), "Gap in true-positive rates."),
        Check("privacy", Verdict.SKIPPED, f"needs capability 'training-data'{s}"),
        Check("explainability", Verdict.ERROR, f"RuntimeError: shape mismatch{s}"),
    )


def _pillars(s: str) -> tuple[PillarSummary, ...]:
    art15, measure = "Art. 15 (accuracy, robustness, cybersecurity)", "MEASURE 2.5"
    return (
        PillarSummary("accuracy", Verdict.WARN, f"1 warning{s}", art15, measure),
        PillarSummary("robustness", Verdict.UNRELIABLE, "gradient masking suspected", art15, "MEASURE 2.7"),
        PillarSummary("fairness", Verdict.FAIL, "1 gate failed", "Art. 10(2)(f) (bias examination)", "MEASURE 2.11"),
        PillarSummary("privacy", Verdict.SKIPPED, "skipped: needs training data", "Art. 10(5)", "MEASURE 2.10"),
        PillarSummary("explainability", Verdict.ERROR, "suite failed", "Art. 13 (transparency)", "MEASURE 2.9"),
        PillarSummary("efficiency", None, "not run", "Art. 15", "MEASURE 2.12"),
    )


def build_scorecard(inject: str = "") -> Scorecard:
    """The sample scorecard; `inject` is appended to every data/model/config-derived string."""
    s = inject
    return Scorecard(
        schema_version=SCHEMA_VERSION,
        run=RunInfo(model=f"adult-mlp{s}", dataset=f"adult{s}", preset="quick",
                    suites=("accuracy", "robustness", "fairness", "privacy", "explainability"),
                    seed=0, device="cpu", started_at="2025-01-01T00:00:00Z", finished_at="2025-01-01T00:01:00Z",
                    placement=f"up to 2 at once in forked workers on this machine{s}"),
        provenance=Provenance(audit_version="0.1.0", python="3.11.9", platform=f"Linux-x86_64{s}",
                              packages={"numpy": "2.4.0", "torch": f"2.13.0{s}"}, torch="2.13.0", cuda=None,
                              device_name="cpu", model_sha256="ab" * 32, model_source=f"zoo:adult-mlp{s}",
                              data_sha256="cd" * 32, data_source=f"bundled:adult{s}", config_sha256="ef" * 32,
                              git_commit=None),
        config={"suite": "full", "policy": {"fairness.dp_difference[*]": {"max": 0.1, "note": f"team{s}"}},
                "suites": {"fairness": {"sensitive": ["sex", f"race{s}"]}}},
        results=_results(s),
        checks=_checks(s),
        pillars=_pillars(s),
        verdict=Verdict.FAIL,
        exit_code=1,
        complete=True,
    )
