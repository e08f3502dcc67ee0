import pandas as pd

from audit.foundation.serialise import FIELDS, serialise_frame, serialise_row

ROW = {
    "age": 39, "workclass": "State-gov", "education": "Bachelors", "marital-status": "Never-married",
    "occupation": "Adm-clerical", "relationship": "Not-in-family", "race": "White", "sex": "Male",
    "capital-gain": 2174, "capital-loss": 0, "hours-per-week": 40, "native-country": "United-States",
}


def test_row_reads_as_an_english_description():
    text = serialise_row(ROW)
    assert text == (
        "A 39-year-old White man, never married, with a bachelor's degree, works 40 hours a week as an "
        "administrative clerk for a state government. Household role: not in a family. Capital gains of $2,174. "
        "Born in the United States."
    )


def test_article_follows_the_spoken_number():
    assert serialise_row({**ROW, "age": 18}).startswith("An 18-year-old")
    assert serialise_row({**ROW, "age": 80}).startswith("An 80-year-old")
    assert serialise_row({**ROW, "age": 28}).startswith("A 28-year-old")


def test_each_field_can_be_left_out():
    full = serialise_row(ROW)
    for field in FIELDS:
        assert serialise_row(ROW, omit=[field]) != full, field
    assert "man" not in serialise_row(ROW, omit=["sex"]).split()
    assert "person" in serialise_row(ROW, omit=["sex"])
    assert "39" not in serialise_row(ROW, omit=["age"])
    assert "$2,174" not in serialise_row(ROW, omit=["capital"])


def test_unknown_values_are_left_out_rather_than_invented():
    text = serialise_row({**ROW, "occupation": "unknown", "native-country": "?", "workclass": "unknown"})
    assert "unknown" not in text and "?" not in text and "Born" not in text
    assert "works 40 hours a week." in text


def test_frame_serialises_every_row_in_order():
    frame = pd.DataFrame([ROW, {**ROW, "sex": "Female", "relationship": "Wife", "race": "Black"}])
    texts = serialise_frame(frame)
    assert len(texts) == 2
    assert "Black woman" in texts[1] and "Household role: wife." in texts[1]
