"""Text perturbations the text suites measure against: counterfactual term swaps, typos, word drops.

All functions are pure given their inputs (randomness comes from the caller's seeded generator).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

import numpy as np

# Gendered terms swapped both ways. "her" is ambiguous (his/him) and maps to "his" only from "his".
_GENDER_PAIRS = (
    ("man", "woman"), ("men", "women"), ("he", "she"), ("his", "her"), ("him", "her"), ("himself", "herself"),
    ("husband", "wife"), ("husbands", "wives"), ("male", "female"), ("boy", "girl"), ("father", "mother"),
    ("son", "daughter"), ("brother", "sister"), ("uncle", "aunt"), ("gentleman", "lady"), ("mr", "mrs"),
    ("boyfriend", "girlfriend"), ("king", "queen"),
)
GENDER_SWAP: Mapping[str, str] = {
    **{f: m for m, f in _GENDER_PAIRS if f != "her"}, "her": "his",
    **{m: f for m, f in _GENDER_PAIRS},
}
# Race terms as the Adult serialisation writes them; each is substituted by every other.
RACE_TERMS = ("White", "Black", "Asian", "Native American")
_RACE_PATTERN = re.compile(r"\b(" + "|".join(sorted(RACE_TERMS, key=len, reverse=True)) + r")\b")
_WORD = re.compile(r"\b[A-Za-z]+\b")


def _match_case(source: str, target: str) -> str:
    if source.isupper() and len(source) > 1:
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


GENDER_PAIRS = _GENDER_PAIRS  # (masculine, feminine) pairs: the text-fairness suite's per-pair flip rates
match_case = _match_case


def swap_gender(text: str) -> str:
    """Swap every gendered term for its counterpart, keeping capitalisation (simultaneous, not chained)."""
    return _WORD.sub(lambda m: _match_case(m.group(0), GENDER_SWAP.get(m.group(0).lower(), m.group(0))), text)


def race_term(text: str) -> str | None:
    """The first race term in `text`, or None."""
    found = _RACE_PATTERN.search(text)
    return None if found is None else found.group(1)


def substitute_race(text: str, target: str) -> str:
    """Replace every race term in `text` with `target`."""
    return _RACE_PATTERN.sub(target, text)


def _typo(word: str, rng: np.random.Generator) -> str:
    """One character edit: swap two neighbours, delete, insert or substitute a letter."""
    i = int(rng.integers(0, len(word)))
    letter = string.ascii_lowercase[int(rng.integers(0, 26))]
    kind = int(rng.integers(0, 4))
    if kind == 0 and len(word) > 1:
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1 and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + letter + word[i:]
    return word[:i] + letter + word[i + 1 :]


def add_typos(text: str, rate: float, rng: np.random.Generator) -> str:
    """Each word of two or more letters gets one character edit with probability `rate`."""
    def edit(match: re.Match[str]) -> str:
        word = match.group(0)
        return _typo(word, rng) if len(word) > 1 and rng.random() < rate else word

    return _WORD.sub(edit, text)


def drop_words(text: str, rate: float, rng: np.random.Generator) -> str:
    """Drop each whitespace-separated token with probability `rate` (at least one token is kept)."""
    tokens = text.split()
    keep = rng.random(len(tokens)) >= rate
    if tokens and not keep.any():
        keep[int(rng.integers(0, len(tokens)))] = True
    return " ".join(t for t, k in zip(tokens, keep, strict=False) if k)
