"""The seven pillars of the scorecard and the regulation each one evidences, for the reviewer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audit.types import SuiteResult


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
        "MEASURE 2.3 (performance of the deployed configuration)",  # + 2.12 when energy was measured (below)
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
# Cited for efficiency only when an energy figure was read from a hardware meter (audit.energy), never for an estimate.
ENERGY_CITATION = "MEASURE 2.12 (environmental impact: energy per 1,000 predictions measured)"
ENERGY_FIGURE = "energy_per_1000_predictions_j["


def nist_citation(pillar: Pillar, results: Sequence[SuiteResult]) -> str:
    """The pillar's NIST AI RMF subcategories, with MEASURE 2.12 only when this run measured energy."""
    measured = pillar.name == "efficiency" and any(
        m.name.startswith(ENERGY_FIGURE) for r in results if r.pillar == pillar.name for m in r.measurements)
    return f"{pillar.nist_ai_rmf}; {ENERGY_CITATION}" if measured else pillar.nist_ai_rmf


def pillar(name: str) -> Pillar | None:
    return next((p for p in PILLARS if p.name == name), None)
