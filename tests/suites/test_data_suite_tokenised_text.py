"""The data suite on a tokenised text classifier (x = token ids + mask): no per-feature rows for token positions,
the shift part skipped with its reason, duplicates found on the raw text, label errors from a bag of words."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.models.hf_testing import audited_text_classifier, text_rows, tiny_folders, training_rows
from audit.suite import SuiteContext
from audit.suites.data.suite import DataSuite


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("data_tokenised")
    train = training_rows(120, 7, "control", varied=True)
    audit = text_rows(80, 8, "control", varied=True)
    audit.loc[0] = train.loc[0]  # an exact copy of a training row
    audit.loc[1] = train.loc[1].copy()
    audit.loc[1, "text"] = train.loc[1, "text"].upper() + " !"  # the same text once normalised
    train.to_csv(root / "train.csv", index=False)
    audit.to_csv(root / "audit.csv", index=False)
    return {"root": root, "train": train, "audit": audit}


@pytest.fixture(scope="module")
def output(frames):
    folder = tiny_folders(Path(os.environ["AUDIT_HOME"]) / "tiny-hf")["control"]
    model, data = audited_text_classifier(folder, frames["root"] / "audit.csv", frames["root"] / "train.csv")
    ctx = SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=frames["root"] / "cache")
    suite = DataSuite()
    return suite.run(ctx, dataclasses.replace(suite.params_for("quick"), resamples=100))


def test_no_feature_level_rows_for_token_positions(output):
    names = {m.name for m in output.measurements}
    assert not any(n.startswith("psi[") for n in names)
    shift = next(m for m in output.measurements if m.name == "shift_auc")
    assert np.isnan(shift.value) and "token ids" in shift.insufficient_reason
    assert any("Shift between training and audit data skipped" in n for n in output.notes)
    assert "generalisation_gap" in names  # training vs audit accuracy still makes sense


def test_duplicates_are_found_on_the_raw_text(output, frames):
    by_name = {m.name: m for m in output.measurements}
    train, audit = frames["train"]["text"], frames["audit"]["text"]
    expected_exact = audit.isin(train).mean()  # pandas on the raw strings, the independent count

    def normal(s: pd.Series) -> pd.Series:
        return s.str.lower().str.replace(r"[\W_]+", " ", regex=True).str.strip()

    assert by_name["leakage_exact_share"].value == pytest.approx(expected_exact) and expected_exact > 0
    assert by_name["near_duplicate_share"].value == pytest.approx(normal(audit).isin(normal(train)).mean())
    assert by_name["near_duplicate_share"].value > by_name["leakage_exact_share"].value
    assert by_name["near_duplicate_share"].details["compared"] == "raw text"


def test_label_errors_from_a_bag_of_words(output):
    share = next(m for m in output.measurements if m.name == "label_issue_share[train]")
    assert share.details["method"] == "logistic regression on token counts (bag of words)"
    assert share.details["out_of_sample_accuracy"] > 0.8  # the label is one word: counts of words carry it
