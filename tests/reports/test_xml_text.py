"""The one XML-safe text filter against expat, an independent XML parser: what it keeps parses, what expat
rejects it removes."""

from __future__ import annotations

import xml.parsers.expat

from audit.reports.xml_text import xml_safe

# Every code point of the first two planes' interesting ranges: controls, surrogates, the BMP's end, the astral start.
CODE_POINTS = [*range(0x00, 0x2000), *range(0xD700, 0xE100), *range(0xFFF0, 0x10000), *range(0x10000, 0x10100)]


def _expat_accepts(char: str) -> bool:
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(f"<a>{char}</a>".encode("utf-8", "surrogatepass"), True)
    except xml.parsers.expat.ExpatError:
        return False
    return True


def test_kept_characters_parse_and_rejected_ones_are_removed() -> None:
    for code in CODE_POINTS:
        char = chr(code)
        if char in "<&":
            continue  # markup, not text: escaping is the renderer's job
        kept = xml_safe(char) == char
        if kept:
            assert _expat_accepts(char), hex(code)
        else:
            assert xml_safe(char) == ""
        if not _expat_accepts(char):
            assert not kept, hex(code)


def test_controls_that_xml_discourages_go_and_ordinary_text_stays() -> None:
    assert xml_safe("a\x1b[2Jb\x85c\x9bd\x7f") == "a[2Jbcd"
    assert xml_safe("tab\tline\nret\r é 😀 ∞") == "tab\tline\nret\r é 😀 ∞"
    assert xml_safe(3.5) == "3.5"
