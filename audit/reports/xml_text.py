"""Text made safe for XML (JUnit, SVG, HTML): the one place that knows which characters XML cannot hold."""

from __future__ import annotations

import re

# XML 1.0 forbids C0 controls other than tab/newline/carriage return, lone surrogates, U+FFFE and U+FFFF (even
# escaped: a stray one makes the whole file unparseable); DEL and the C1 controls it discourages go too.
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: object) -> str:
    """`str(text)` without the characters an XML document may not (or should not) contain; escaping is separate."""
    return _NOT_XML_TEXT.sub("", str(text))
