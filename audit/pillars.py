"""The seven pillars of the scorecard and the regulation each one evidences, for the reviewer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pillar:
    name: str
    title: str
    eu_ai_act: str
    nist_ai_rmf: str


PILLARS: tuple[Pillar, ...] = (
    Pillar(
        "accuracy", "Accuracy and calibration",
        "Art. 15(1)-(3): appropriate, declared levels of accuracy",
        "MEASURE 2.3 (performance measured in deployment-like conditions); MEASURE 2.5 (validity and reliability)",
    ),
    Pillar(
        "robustness", "Adversarial and natural robustness",
        "Art. 15(4)-(5): robustness and resilience, including adversarial examples (model evasion)",
        "MEASURE 2.7 (security and resilience); MEASURE 2.5 (validity and reliability)",
    ),
    Pillar(
        "fairness", "Fairness and bias",
        "Art. 10(2)(f)-(g): examination of possible biases and measures to detect and mitigate them",
        "MEASURE 2.11 (fairness and bias evaluated)",
    ),
    Pillar(
        "privacy", "Privacy leakage",
        "Art. 15(5): resilience to confidentiality attacks; Art. 10(5): safeguards for personal data",
        "MEASURE 2.10 (privacy risk examined)",
    ),
    Pillar(
        "explainability", "Explainability",
        "Art. 13: transparency and information enabling deployers to interpret the output",
        "MEASURE 2.9 (model explained, validated and documented)",
    ),
    Pillar(
        "efficiency", "Compression and throughput",
        "Art. 15(1): consistent accuracy and robustness of the variant actually deployed",
        "MEASURE 2.3 (performance of the deployed configuration); MEASURE 2.12 (environmental impact)",
    ),
    Pillar(
        "data", "Data and generalisation",
        "Art. 10(2)-(4): training, validation and test data relevant, representative, as free of errors as "
        "possible and examined for biases",
        "MEASURE 2.1 (test sets documented); MEASURE 2.5 (validity and generalisation beyond the training "
        "conditions); MEASURE 2.11 (fairness and bias evaluated)",
    ),
)

PILLAR_NAMES = tuple(p.name for p in PILLARS)


def pillar(name: str) -> Pillar | None:
    return next((p for p in PILLARS if p.name == name), None)
