"""Markdown building blocks: inert escaping of untrusted text and GitHub tables with row limits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from audit.reports.formatting import fmt_json_value

# Characters with Markdown or HTML meaning. `&<>` become entities so no raw tag or entity survives;
# the rest are backslash-escaped (GitHub renders `\*` as `*`). `@` becomes an entity so a data value
# posted in a PR comment cannot notify (@mention) anyone. `#` and `:` are harmless mid-line.
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "@": "&#64;"}
_BACKSLASHED = set("\\`*_[]|~$")
_ESCAPES = str.maketrans({**_HTML_ENTITIES, **{c: "\\" + c for c in _BACKSLASHED}})
_LINE_BREAKS = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
# C0 and C1 control characters, DEL, and the marks that reorder text on screen (bidi overrides, "Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# GitHub turns a bare URL into a live link (GFM autolinks: `scheme:` and `www.`), so a group named
# "https://evil.example/x" would be a link in a pull-request comment. A zero-width joiner between the scheme and
# its colon (or after "www") leaves the text as it reads but gives the autolinker nothing to match.
_AUTOLINK = re.compile(r"(?i)(?=://)|(?:mailto|xmpp)(?=:)|www(?=\.)")
_ZWJ = "\u200d"


def md_escape(value: Any, line_start: bool = False) -> str:
    """Any data-derived value as inert inline Markdown text on one line.

    `line_start`: the text opens a line or list item, where `#`, `-`, `+`, `=` or `1.` would start a block.
    """
    text = value if isinstance(value, str) else fmt_json_value(value)
    text = _CONTROL.sub("", _LINE_BREAKS.sub(" ", text)).replace("\t", " ")
    escaped = _AUTOLINK.sub(lambda m: m.group(0) + _ZWJ, text.translate(_ESCAPES).strip())
    if not line_start:
        return escaped
    if escaped[:1] in ("#", "-", "+", "="):
        escaped = "\\" + escaped
    return re.sub(r"^(\d+)\.", r"\1\\.", escaped)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], max_rows: int | None = None) -> list[str]:
    """A GitHub table from already-escaped cells; rows beyond `max_rows` are cut with a visible note."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    shown = rows if max_rows is None else rows[:max_rows]
    padded = [list(row) + [""] * (len(header) - len(row)) for row in shown]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in padded]
    if len(shown) < len(rows):
        lines += ["", f"_{len(rows) - len(shown)} more rows not shown; see scorecard.html or scorecard.json._"]
    return lines
