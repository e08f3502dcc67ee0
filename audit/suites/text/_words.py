"""Words of a text as the word-level text checks see them: whitespace-separated, each with its character span.

A word's "core" is the word without leading and trailing punctuation ("film," -> "film"); substitutions replace
the core and keep the punctuation and the capitalisation of the first letter. Texts are rebuilt from the spans, so
everything outside the edited words (spacing, line breaks) stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = "\"'()[]{}<>.,;:!?`*_-"


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int

    @property
    def core(self) -> str:
        return self.text.strip(_EDGE_PUNCTUATION)


def split_words(text: str) -> tuple[Word, ...]:
    return tuple(Word(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text))


def with_core(word: Word, new_core: str) -> str:
    """`word` with its core replaced by `new_core` (first letter upper-cased when the original's was)."""
    core = word.core
    if not core:
        return new_core
    if core[0].isupper():
        new_core = new_core[:1].upper() + new_core[1:]
    at = word.text.index(core)
    return word.text[:at] + new_core + word.text[at + len(core):]


def rebuild(text: str, words: Sequence[Word], edits: Mapping[int, str]) -> str:
    """`text` with word i replaced by `edits[i]` ("" drops it, with one neighbouring space)."""
    out, cursor = [], 0
    for i in sorted(edits):
        word = words[i]
        start, end = word.start, word.end
        if not edits[i]:  # a dropped word takes one adjacent space with it
            if end < len(text) and text[end] == " ":
                end += 1
            elif start > 0 and text[start - 1] == " ":
                start -= 1
        out += [text[cursor:max(start, cursor)], edits[i]]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


@dataclass(frozen=True)
class WholeWordVocabulary:
    """The model's vocabulary entries that are one whole alphabetic word (2+ letters): word -> token id, and the
    unit-length input embeddings of those entries, for nearest-neighbour substitutes."""

    ids: Mapping[str, int]
    words: tuple[str, ...]
    unit_embeddings: torch.Tensor  # (len(words), d), rows in the order of `words`
    lowercase: bool
    rows: Mapping[str, int]  # word -> row of `unit_embeddings`
    _found: dict[tuple[str, int, float], tuple[tuple[str, float], ...]] = field(default_factory=dict, compare=False,
                                                                               repr=False)

    def token_id(self, core: str) -> int | None:
        key = core.lower() if self.lowercase else core
        return self.ids.get(key, self.ids.get(core.lower()))

    def neighbours(self, core: str, k: int, min_cosine: float) -> tuple[tuple[str, float], ...]:
        """Up to `k` other whole words whose input embedding has cosine >= `min_cosine` with `core`'s, best first."""
        key = core.lower() if self.lowercase else core
        row = self.rows.get(key, self.rows.get(core.lower()))
        if row is None:
            return ()
        cache_key = (self.words[row], k, min_cosine)
        if cache_key not in self._found:  # the same word recurs across texts
            cos = (self.unit_embeddings @ self.unit_embeddings[row]).numpy()
            cos[row] = -np.inf
            order = np.argsort(-cos, kind="stable")[:k]
            self._found[cache_key] = tuple((self.words[i], float(cos[i])) for i in order if cos[i] >= min_cosine)
        return self._found[cache_key]


def whole_word_vocabulary(tokenizer, embedding_matrix: torch.Tensor) -> WholeWordVocabulary:  # noqa: ANN001
    """Entries that decode to one alphabetic word of 2+ letters and that the tokenizer maps back to that single
    entry (alone or after a space: WordPiece, byte-level BPE and SentencePiece mark word starts differently)."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    candidates: dict[str, int] = {}
    for token, token_id in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1]):
        if token_id in special or token_id >= embedding_matrix.shape[0]:
            continue
        word = tokenizer.convert_tokens_to_string([token]).strip()
        if len(word) >= 2 and word.isalpha() and word not in candidates:
            candidates[word] = token_id
    words = list(candidates)
    plain = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
    spaced = tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"] if words else []
    kept = {w: candidates[w] for w, a, b in zip(words, plain, spaced, strict=True)
            if list(a) == [candidates[w]] or list(b) == [candidates[w]]}
    ordered = tuple(kept)
    rows = embedding_matrix.detach().float().cpu()[[kept[w] for w in ordered]] if ordered else torch.zeros(0, 1)
    unit = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    init = getattr(tokenizer, "init_kwargs", None) or {}
    lowercase = bool(getattr(tokenizer, "do_lower_case", False) or init.get("do_lower_case", False))
    return WholeWordVocabulary(kept, ordered, unit, lowercase, {w: i for i, w in enumerate(ordered)})
