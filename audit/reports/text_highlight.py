"""Word attributions shown as highlighted text (HTML) and as annotated text (Markdown), from a suite's table.

The table (id `text_word_attribution_highlight`, written by the text explainability suite) has one row per word:
the text's number, the word, then one signed attribution per method (one column each). Each method gets a line
per text with every word's background coloured by the sign (orange towards the explained class, blue against)
and size (relative to the largest of that method over the texts shown, so a text whose words hardly matter stays
pale) of its attribution. Colour is not the only carrier: each word's title holds its value, a text's largest
words are underlined, and the table with the numbers follows.

Every word is data: control and invisible format characters (bidi overrides among them) are removed, so a word
cannot reorder the words after it, and the rest is escaped.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

from audit.reports.md_text import md_escape
from audit.reports.xml_text import xml_safe
from audit.types import Table

HIGHLIGHT_TABLE = "text_word_attribution_highlight"
_POSITIVE = (230, 120, 20)  # orange
_NEGATIVE = (30, 100, 200)  # blue
_TOP = 3  # words per line underlined (HTML) or bolded (Markdown) as the largest
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def is_highlight_table(table: Table) -> bool:
    return table.id == HIGHLIGHT_TABLE and len(table.columns) >= 3


def visible_text(value: object) -> str:
    """The printable characters of `value` only (control, format, private-use and unassigned ones removed)."""
    return "".join(ch for ch in str(value) if unicodedata.category(ch) not in _HIDDEN_CATEGORIES)


def _lines(table: Table) -> list[tuple[str, str, list[tuple[str, float | None]]]]:
    """(text label, method, [(word, value)]) per text and method, in the table's order."""
    texts: dict[str, list[Sequence[object]]] = {}
    for row in table.rows:
        texts.setdefault(str(row[0]), []).append(row)
    out = []
    for label, rows in texts.items():
        for k, method in enumerate(table.columns[2:], start=2):
            words = [(visible_text(r[1]), _number(r[k] if k < len(r) else None)) for r in rows]
            out.append((label, str(method), words))
    return out


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return None
    return float(value)


def _largest(words: list[tuple[str, float | None]], scale: float) -> set[int]:
    """The `_TOP` largest words of a line by size, among those of at least a tenth of `scale`."""
    sizes = sorted(((abs(v), i) for i, (_, v) in enumerate(words) if v and abs(v) >= 0.1 * scale), reverse=True)
    return {i for _, i in sizes[:_TOP]}


def _scales(lines: list[tuple[str, str, list[tuple[str, float | None]]]]) -> dict[str, float]:
    """Per method, the largest |attribution| over every text shown."""
    scales: dict[str, float] = {}
    for _, method, words in lines:
        scales[method] = max([scales.get(method, 0.0), *(abs(v) for _, v in words if v is not None)])
    return scales


def _span(word: str, value: float | None, scale: float, top: bool) -> str:
    if value is None:
        return f'<span class="hl-word" title="{escape(word)}: no value">{escape(word)}</span>'
    alpha = min(abs(value) / scale, 1.0) * 0.85 if scale > 0 else 0.0
    r, g, b = _POSITIVE if value > 0 else _NEGATIVE
    style = f"background-color: rgba({r}, {g}, {b}, {alpha:.2f});" + (" text-decoration: underline;" if top else "")
    return f'<span class="hl-word" style="{style}" title="{escape(word)}: {value:+.4g}">{escape(word)}</span>'


def highlight_html(table: Table) -> Markup | None:
    """The highlighted texts and a legend, or None when `table` is not a highlight table."""
    if not is_highlight_table(table):
        return None
    parts = ['<div class="text-highlight" role="group" aria-label="Word attributions as highlighted text">', _legend()]
    lines = _lines(table)
    scales = _scales(lines)
    for label, method, words in lines:
        scale = scales[method]
        top = _largest(words, scale)
        spans = " ".join(_span(w, v, scale, i in top) for i, (w, v) in enumerate(words))
        parts.append(f'<p class="hl-line"><strong>Text {escape(visible_text(label))}, {escape(visible_text(method))}:'
                     f"</strong> {spans}</p>")
    parts.append("</div>")
    return Markup(xml_safe("\n".join(parts)))


def _legend() -> str:
    def swatch(rgb: tuple[int, int, int], alpha: float) -> str:
        return (f'<span style="display:inline-block;width:1.4em;height:0.9em;vertical-align:middle;'
                f'background-color: rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha});"></span>')

    return ('<p class="hl-legend small muted">Legend: ' + swatch(_POSITIVE, 0.85) + swatch(_POSITIVE, 0.3)
            + " towards the explained class (strong, weak) · " + swatch(_NEGATIVE, 0.3) + swatch(_NEGATIVE, 0.85)
            + " away from it (weak, strong) · shade relative to the method's largest attribution over these texts; "
              f"a text's {_TOP} largest are underlined; hover a word for its value, or read the table below.</p>")


def highlight_markdown(table: Table) -> list[str]:
    """The texts as Markdown lines: each word followed by its signed value, the largest in bold; [] otherwise."""
    if not is_highlight_table(table):
        return []
    lines, shown_lines = [], _lines(table)
    scales = _scales(shown_lines)
    for label, method, words in shown_lines:
        top = _largest(words, scales[method])
        shown = []
        for i, (word, value) in enumerate(words):
            text = md_escape(word) + (f" ({value:+.3g})" if value is not None else "")
            shown.append(f"**{text}**" if i in top else text)
        lines += [f"- Text {md_escape(label)}, {md_escape(method)}: " + " ".join(shown)]
    return [*lines, ""] if lines else []
