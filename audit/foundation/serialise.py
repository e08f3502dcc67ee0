"""Adult rows to short English descriptions (the TabLLM approach, Hegselmann et al. 2023).

Each field renders to its own phrase so a field can be left out (occlusion for explainability) and
sensitive terms sit in fixed words ("man"/"woman", "husband"/"wife", race adjectives) that the
counterfactual checks substitute at text level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

# Fields an Adult description is built from, in the order their phrases appear.
FIELDS = (
    "age", "race", "sex", "marital-status", "education", "hours-per-week", "occupation", "workclass",
    "relationship", "capital", "native-country",
)

RACE_WORDS = {
    "White": "White", "Black": "Black", "Asian-Pac-Islander": "Asian", "Amer-Indian-Eskimo": "Native American",
}
SEX_NOUNS = {"Male": "man", "Female": "woman"}
MARITAL = {
    "Never-married": "never married", "Married-civ-spouse": "married", "Divorced": "divorced",
    "Separated": "separated", "Widowed": "widowed", "Married-spouse-absent": "married with an absent spouse",
    "Married-AF-spouse": "married to a military spouse",
}
EDUCATION = {
    "Bachelors": "a bachelor's degree", "Masters": "a master's degree", "Doctorate": "a doctorate",
    "Prof-school": "a professional degree", "Assoc-acdm": "an academic associate degree",
    "Assoc-voc": "a vocational associate degree", "Some-college": "some college", "HS-grad": "a high-school diploma",
    "12th": "schooling to 12th grade", "11th": "schooling to 11th grade", "10th": "schooling to 10th grade",
    "9th": "schooling to 9th grade", "7th-8th": "schooling to 8th grade", "5th-6th": "schooling to 6th grade",
    "1st-4th": "schooling to 4th grade", "Preschool": "only preschool",
}
OCCUPATION = {
    "Adm-clerical": "an administrative clerk", "Exec-managerial": "an executive or manager",
    "Handlers-cleaners": "a handler or cleaner", "Prof-specialty": "a professional specialist",
    "Other-service": "a service worker", "Sales": "a salesperson", "Craft-repair": "a craft or repair worker",
    "Transport-moving": "a transport worker", "Farming-fishing": "a farmer or fisher",
    "Machine-op-inspct": "a machine operator", "Tech-support": "a technical support worker",
    "Protective-serv": "a protective service worker", "Armed-Forces": "a member of the armed forces",
    "Priv-house-serv": "a private household worker",
}
WORKCLASS = {
    "Private": "in the private sector", "Self-emp-not-inc": "self-employed (unincorporated)",
    "Self-emp-inc": "self-employed (incorporated)", "Federal-gov": "for the federal government",
    "Local-gov": "for a local government", "State-gov": "for a state government", "Without-pay": "without pay",
    "Never-worked": "never having worked",
}
RELATIONSHIP = {
    "Husband": "husband", "Wife": "wife", "Own-child": "own child", "Not-in-family": "not in a family",
    "Unmarried": "unmarried", "Other-relative": "other relative",
}
COUNTRY_SPECIAL = {
    "United-States": "the United States", "Outlying-US(Guam-USVI-etc)": "an outlying US territory",
    "Holand-Netherlands": "the Netherlands", "Trinadad&Tobago": "Trinidad and Tobago", "Hong": "Hong Kong",
    "South": "South Korea", "Columbia": "Colombia", "Dominican-Republic": "the Dominican Republic",
    "Philippines": "the Philippines",
}


def _known(value: object) -> str | None:
    text = str(value).strip()
    return None if text in ("", "?", "unknown", "nan", "None") else text


def _article(phrase: str) -> str:
    vowel_sound = phrase[:1].lower() in "aeiou8" or phrase.startswith(("11-", "18-"))
    return ("An " if vowel_sound else "A ") + phrase


def _subject(row: Mapping[str, object], omit: frozenset[str]) -> str:
    words = []
    age = _known(row.get("age"))
    if "age" not in omit and age is not None:
        words.append(f"{int(float(age))}-year-old")
    race = RACE_WORDS.get(_known(row.get("race")) or "")
    if "race" not in omit and race:
        words.append(race)
    sex = _known(row.get("sex"))
    words.append(SEX_NOUNS.get(sex or "", "person") if "sex" not in omit else "person")
    return _article(" ".join(words))


def _money(amount: object) -> int:
    value = _known(amount)
    return 0 if value is None else int(float(value))


def _capital(row: Mapping[str, object]) -> str:
    gain, loss = _money(row.get("capital-gain")), _money(row.get("capital-loss"))
    if gain == 0 and loss == 0:
        return "No capital gains or losses."
    parts = [f"capital gains of ${gain:,}"] if gain else []
    parts += [f"capital losses of ${loss:,}"] if loss else []
    return " and ".join(parts).capitalize() + "."


def _work(row: Mapping[str, object], omit: frozenset[str]) -> str:
    hours = _known(row.get("hours-per-week"))
    occupation = OCCUPATION.get(_known(row.get("occupation")) or "")
    workclass = WORKCLASS.get(_known(row.get("workclass")) or "")
    parts = ["works"]
    if "hours-per-week" not in omit and hours is not None:
        parts.append(f"{int(float(hours))} hours a week")
    if "occupation" not in omit and occupation:
        parts.append(f"as {occupation}")
    if "workclass" not in omit and workclass:
        parts.append(workclass)
    return " ".join(parts) if len(parts) > 1 else ""


def serialise_row(row: Mapping[str, object], omit: Iterable[str] = ()) -> str:
    """One Adult row as a description; fields named in `omit` are left out (for occlusion)."""
    skip = frozenset(omit)
    clauses = [_subject(row, skip)]
    marital = MARITAL.get(_known(row.get("marital-status")) or "")
    if "marital-status" not in skip and marital:
        clauses.append(marital)
    education = EDUCATION.get(_known(row.get("education")) or "")
    if "education" not in skip and education:
        clauses.append(f"with {education}")
    work = _work(row, skip)
    if work:
        clauses.append(work)
    sentences = [", ".join(clauses) + "."]
    relationship = RELATIONSHIP.get(_known(row.get("relationship")) or "")
    if "relationship" not in skip and relationship:
        sentences.append(f"Household role: {relationship}.")
    if "capital" not in skip:
        sentences.append(_capital(row))
    country = _known(row.get("native-country"))
    if "native-country" not in skip and country:
        sentences.append(f"Born in {COUNTRY_SPECIAL.get(country, country.replace('-', ' '))}.")
    return " ".join(sentences)


def serialise_frame(frame: pd.DataFrame, omit: Iterable[str] = ()) -> list[str]:
    """Descriptions for every row of `frame` (columns named as in the Adult data set)."""
    skip = tuple(omit)
    return [serialise_row(row, skip) for row in frame.to_dict(orient="records")]
