"""Leaderboard renderings (Markdown and HTML) of audit.leaderboard.Leaderboard; they compute nothing.

Every model name, metric name and path is escaped (md_escape / html.escape): a model can be named anything.
"""

from __future__ import annotations

import html

from audit.leaderboard import Cell, Leaderboard
from audit.pillars import pillar
from audit.reports.formatting import fmt_ci, fmt_number
from audit.reports.md_text import md_escape, md_table

_TITLE = "Audit leaderboard"
_NOTE = ("Each cell: the pillar's verdict, then its headline figure (the worst across attributes or ε) with its "
         "95% CI. A higher-is-better figure is marked ↑, a lower-is-better one ↓.")


def _pillar_title(name: str) -> str:
    found = pillar(name)
    return found.title if found else name


def _arrow(cell: Cell) -> str:
    return {True: " ↑", False: " ↓"}.get(cell.higher_is_better, "")  # type: ignore[arg-type]


def _cell_text(cell: Cell) -> tuple[str, str, str]:
    """(verdict, figure, CI) as plain text."""
    verdict = (cell.verdict or "not run").upper()
    if not cell.metric:
        return verdict, "", ""
    return verdict, f"{cell.metric} = {fmt_number(cell.value)}{_arrow(cell)}", fmt_ci(cell.ci) if cell.ci else ""


def render_markdown(board: Leaderboard) -> str:
    header = ["Model", "Verdict", *(md_escape(_pillar_title(p)) for p in board.pillars)]
    rows = []
    for entry in board.entries:
        cells = []
        for cell in entry.cells:
            verdict, figure, ci = _cell_text(cell)
            parts = [f"**{md_escape(verdict)}**", md_escape(figure), md_escape(ci)]
            cells.append("<br>".join(p for p in parts if p))
        status = entry.verdict.upper() + ("" if entry.complete else " (incomplete run)")
        rows.append([md_escape(entry.model), md_escape(status), *cells])
    runs = [f"- {md_escape(e.model)}: {md_escape(e.run_dir)} (exit code {e.exit_code})" for e in board.entries]
    return "\n".join([f"# {_TITLE}", "", md_escape(_NOTE, line_start=True), "", *md_table(header, rows), "",
                      "## Runs", "", *runs, ""])


def render_html(board: Leaderboard) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(_pillar_title(p))}</th>" for p in board.pillars)
    body = []
    for entry in board.entries:
        cells = []
        for cell in entry.cells:
            verdict, figure, ci = _cell_text(cell)
            css = esc((cell.verdict or "not-run").replace(" ", "-"))
            cells.append(f'<td class="v-{css}"><strong>{esc(verdict)}</strong>'
                         + (f"<br>{esc(figure)}" if figure else "") + (f"<br><small>{esc(ci)}</small>" if ci else "")
                         + "</td>")
        status = entry.verdict.upper() + ("" if entry.complete else " (incomplete run)")
        body.append(f"<tr><th scope=\"row\">{esc(entry.model)}<br><small>{esc(entry.run_dir)}</small></th>"
                    f"<td>{esc(status)} (exit {entry.exit_code})</td>{''.join(cells)}</tr>")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_TITLE}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_TITLE}</h1><p>{esc(_NOTE)}</p><table><thead><tr><th>Model</th><th>Verdict</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></body></html>\n"
    )


_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:.4rem .6rem;vertical-align:top;text-align:left}"
        ".v-pass{background:#e8f5e9}.v-fail{background:#ffebee}.v-warn{background:#fff8e1}"
        ".v-not-run{color:#777}")
