"""Text CSVs for a text classifier: labels by class name or id, refusals that name the rows and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
import torch

from audit.data.text import RAW_TEXT, TextColumns, load_text_data
from audit.errors import AuditInputError

CLASSES = ("negative", "positive")


class WordCounts:
    """A stand-in tokenizer: x = (number of words, 1) per text, padded to `length`."""

    length = 4

    def texts_to_inputs(self, texts: Sequence[str]) -> torch.Tensor:
        x = torch.zeros(len(texts), 2, self.length)
        for i, text in enumerate(texts):
            x[i, 0, 0], x[i, 1, 0] = len(text.split()), 1
        return x

    def truncated(self, texts: Sequence[str]) -> int:
        return sum(len(t.split()) > self.length for t in texts)


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "d.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _load(path: Path, **kwargs):
    columns = TextColumns("review", "y", kwargs.pop("sensitive", ()))
    return load_text_data(path, columns, CLASSES, WordCounts(), **kwargs)


def test_labels_by_name_and_by_id_give_the_same_classes(tmp_path):
    names = pd.DataFrame({"review": ["a b", "c", "d e f"], "y": ["positive", "negative", "positive"],
                          "text": ["x", "y", "z"], "g": ["m", "f", "f"]})
    by_name = _load(_write(tmp_path, names, "names.csv"), sensitive=("g",))
    by_id = _load(_write(tmp_path, names.assign(y=[1, 0, 1]), "ids.csv"))
    assert by_name.test.y.tolist() == by_id.test.y.tolist() == [1, 0, 1]
    assert by_name.class_names == CLASSES and by_name.input_kind == "text"
    assert by_name.test.raw[RAW_TEXT].tolist() == ["a b", "c", "d e f"]
    assert by_name.test.raw["text (column)"].tolist() == ["x", "y", "z"]  # a clashing column is kept, renamed
    assert by_name.test.sensitive["g"].tolist() == ["m", "f", "f"]
    assert by_name.test.x[:, 0, 0].tolist() == [2.0, 1.0, 3.0]


def test_label_set_that_matches_neither_names_both(tmp_path):
    path = _write(tmp_path, pd.DataFrame({"review": ["a", "b"], "y": ["good", "bad"]}))
    with pytest.raises(AuditInputError) as err:
        _load(path)
    assert "['bad', 'good']" in str(err.value) and "['negative', 'positive']" in str(err.value)


def test_out_of_range_ids_refused(tmp_path):
    with pytest.raises(AuditInputError, match="match neither"):
        _load(_write(tmp_path, pd.DataFrame({"review": ["a", "b"], "y": [0, 2]})))


def test_empty_texts_reported_with_row_numbers(tmp_path):
    frame = pd.DataFrame({"review": ["fine", "", "ok", None, "  "], "y": [0, 1, 0, 1, 0]})
    with pytest.raises(AuditInputError) as err:
        _load(_write(tmp_path, frame))
    assert "3 row(s)" in str(err.value) and "data rows 2, 4, 5" in str(err.value)


def test_missing_text_column_named(tmp_path):
    with pytest.raises(AuditInputError, match="Text column 'review'"):
        _load(_write(tmp_path, pd.DataFrame({"body": ["a"], "y": [0]})))


def test_train_file_becomes_members_and_truncation_is_stated(tmp_path):
    test = _write(tmp_path, pd.DataFrame({"review": ["one two three four five", "a"], "y": [0, 1]}), "t.csv")
    train = _write(tmp_path, pd.DataFrame({"review": ["b c", "d"], "y": ["negative", "positive"]}), "tr.csv")
    data = _load(test, train_path=train)
    assert data.train is not None and len(data.train) == 2
    assert "1 text(s) longer than 4 tokens" in data.source
