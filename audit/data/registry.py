"""Names and one-line descriptions of the bundled reference data sets (for `audit list`)."""

from __future__ import annotations

REFERENCE_DATASETS: dict[str, str] = {
    "adult": "UCI Adult census income (>50K), 48,842 rows; sensitive: sex, race, age group",
    "compas": "ProPublica COMPAS two-year recidivism, 6,172 rows; sensitive: race, sex, age category",
    "german": "Statlog German credit risk (good/bad), 1,000 rows; sensitive: sex, age group",
    "mnist": "MNIST handwritten digits, 5,000-image subset, 28x28 grey-scale; no sensitive attributes",
}

