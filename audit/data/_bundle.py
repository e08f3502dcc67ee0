"""Maintainer tool: rebuild audit/data/bundled/ from the original public files.

    python -m audit.data._bundle SOURCE_DIR

SOURCE_DIR holds adult/, compas/, german/ and mnist5k/ as described in audit/data/NOTICE.md. This runs
once when the bundle is refreshed, never at audit time. Output bytes are reproducible (gzip mtime=0).
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

BUNDLED = Path(__file__).parent / "bundled"

ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
)
# fnlwgt is a census sampling weight, education-num duplicates education: both dropped.
ADULT_KEEP = tuple(c for c in ADULT_COLUMNS if c not in ("fnlwgt", "education-num"))

COMPAS_KEEP = (
    "sex", "age", "age_cat", "race", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count",
    "c_charge_degree", "length_of_stay_days", "two_year_recid",
)

# A prediction file of the COMPAS tool itself (audit --predictions): the same rows, with its risk scores.
COMPAS_SCORES_KEEP = (*COMPAS_KEEP, "decile_score", "score_text")

GERMAN_COLUMNS = (
    "checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings", "employment",
    "installment_rate", "personal_status", "other_debtors", "residence_since", "property", "age",
    "other_installment_plans", "housing", "existing_credits", "job", "people_liable", "telephone",
    "foreign_worker", "credit_risk",
)

# Code book from the data set's documentation (german.doc), so reports show meanings, not codes.
GERMAN_CODES = {
    "checking_status": {"A11": "<0 DM", "A12": "0-200 DM", "A13": ">=200 DM", "A14": "no checking account"},
    "credit_history": {
        "A30": "no credits/all paid duly", "A31": "all paid duly at this bank", "A32": "existing paid duly",
        "A33": "past delays", "A34": "critical account",
    },
    "purpose": {
        "A40": "car (new)", "A41": "car (used)", "A42": "furniture/equipment", "A43": "radio/television",
        "A44": "domestic appliances", "A45": "repairs", "A46": "education", "A47": "vacation",
        "A48": "retraining", "A49": "business", "A410": "other",
    },
    "savings": {"A61": "<100 DM", "A62": "100-500 DM", "A63": "500-1000 DM", "A64": ">=1000 DM", "A65": "unknown/none"},
    "employment": {"A71": "unemployed", "A72": "<1 year", "A73": "1-4 years", "A74": "4-7 years", "A75": ">=7 years"},
    "personal_status": {
        "A91": "male: divorced/separated", "A92": "female: divorced/separated/married", "A93": "male: single",
        "A94": "male: married/widowed", "A95": "female: single",
    },
    "other_debtors": {"A101": "none", "A102": "co-applicant", "A103": "guarantor"},
    "property": {"A121": "real estate", "A122": "savings/life insurance", "A123": "car or other", "A124": "none"},
    "other_installment_plans": {"A141": "bank", "A142": "stores", "A143": "none"},
    "housing": {"A151": "rent", "A152": "own", "A153": "for free"},
    "job": {
        "A171": "unemployed/unskilled non-resident", "A172": "unskilled resident", "A173": "skilled",
        "A174": "management/highly qualified",
    },
    "telephone": {"A191": "none", "A192": "yes"},
    "foreign_worker": {"A201": "yes", "A202": "no"},
}


def _write_csv_gz(frame: pd.DataFrame, path: Path) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(frame.to_csv(index=False).encode("utf-8"))
    path.write_bytes(buffer.getvalue())


def _adult_part(path: Path, split: str) -> pd.DataFrame:
    frame = pd.read_csv(
        path, header=None, names=list(ADULT_COLUMNS), skipinitialspace=True, comment="|", dtype=str
    )
    frame = frame.dropna(how="all")
    frame["income"] = frame["income"].str.rstrip(".")  # adult.test labels end in '.'
    frame = frame.replace("?", "unknown")[list(ADULT_KEEP)]
    frame.insert(0, "split", split)
    return frame


def bundle_adult(source: Path) -> pd.DataFrame:
    train = _adult_part(source / "adult" / "adult.data.gz", "train")
    test = _adult_part(source / "adult" / "adult.test.gz", "test")
    return pd.concat([train, test], ignore_index=True)


def bundle_compas(source: Path, keep: tuple[str, ...] = COMPAS_KEEP) -> pd.DataFrame:
    frame = pd.read_csv(source / "compas" / "compas-two-years.csv.gz")
    # ProPublica's own filter: screening within 30 days of arrest, known recidivism, ordinary charges.
    rows = (
        frame["days_b_screening_arrest"].between(-30, 30)
        & (frame["is_recid"] != -1)
        & (frame["c_charge_degree"] != "O")
        & frame["score_text"].notna()
    )
    return frame.loc[rows, list(keep)].reset_index(drop=True)


def bundle_german(source: Path) -> pd.DataFrame:
    frame = pd.read_csv(source / "german" / "german.data.gz", sep=" ", header=None, names=list(GERMAN_COLUMNS))
    return frame.replace(GERMAN_CODES)  # readable category labels for reports and explanations


def bundle_mnist(source: Path, target: Path) -> None:
    frame = pd.read_csv(source / "mnist5k" / "mnist_5k.csv.gz", header=None)
    pixels = frame.iloc[:, :784].to_numpy(dtype=np.uint8).reshape(-1, 28, 28)
    labels = frame.iloc[:, 784].to_numpy(dtype=np.uint8)
    np.savez_compressed(target, pixels=pixels, labels=labels)


def main(source: Path) -> None:
    BUNDLED.mkdir(exist_ok=True)
    _write_csv_gz(bundle_adult(source), BUNDLED / "adult.csv.gz")
    _write_csv_gz(bundle_compas(source), BUNDLED / "compas.csv.gz")
    _write_csv_gz(bundle_compas(source, COMPAS_SCORES_KEEP), BUNDLED / "compas-scores.csv.gz")
    _write_csv_gz(bundle_german(source), BUNDLED / "german.csv.gz")
    bundle_mnist(source, BUNDLED / "mnist.npz")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
