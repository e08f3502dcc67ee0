"""The model card: what the owner says about the model (Mitchell et al. 2019), beside what the audit measured.

`[tool.audit.card]` (or `--card FILE`) holds the owner's statements, strings only. The report opens with them;
a field not given is listed as missing, never filled in. `render_model_card_md` writes model-card.md in the
layout the Hugging Face Hub shows (YAML front matter, then sections), so it can be committed beside a model.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.errors import AuditInputError, not_a_file
from audit.types import Scorecard, Verdict


@dataclass(frozen=True)
class CardField:
    key: str
    label: str
    section: str  # the Mitchell et al. section the statement belongs to


CARD_FIELDS: tuple[CardField, ...] = (
    CardField("model_name", "Model name", "Model details"),
    CardField("model_version", "Version", "Model details"),
    CardField("owner", "Owner", "Model details"),
    CardField("contact", "Contact", "Model details"),
    CardField("license", "License", "Model details"),
    CardField("intended_use", "Intended use", "Intended use"),
    CardField("intended_users", "Intended users", "Intended use"),
    CardField("out_of_scope_uses", "Out-of-scope uses", "Intended use"),
    CardField("training_data", "Training data", "Data"),
    CardField("evaluation_data", "Evaluation data", "Data"),
    CardField("limitations", "Known limitations", "Caveats and recommendations"),
    CardField("ethical_considerations", "Ethical considerations", "Ethical considerations"),
)
CARD_KEYS: tuple[str, ...] = tuple(f.key for f in CARD_FIELDS)
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(f.section for f in CARD_FIELDS))
_MAX_FIELD_CHARS = 20_000
_CARD_FILE_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class ModelCard:
    """The owner's statements by key; absent keys are missing (never invented)."""

    values: Mapping[str, str]

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    @property
    def missing(self) -> tuple[CardField, ...]:
        return tuple(f for f in CARD_FIELDS if f.key not in self.values)

    @property
    def given(self) -> tuple[CardField, ...]:
        return tuple(f for f in CARD_FIELDS if f.key in self.values)


def parse_card(table: Any, origin: str) -> ModelCard:
    """Validate a card table: known keys only (did-you-mean), non-empty strings, bounded length."""
    if not isinstance(table, Mapping):
        raise AuditInputError(f"{origin}: the card must be a table of strings ([tool.audit.card]), "
                              f"got {type(table).__name__}")
    values: dict[str, str] = {}
    for key, value in table.items():
        if key not in CARD_KEYS:
            close = difflib.get_close_matches(str(key), CARD_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AuditInputError(f"{origin}: unknown model-card field {key!r}{hint} Known: {', '.join(CARD_KEYS)}")
        if not isinstance(value, str):
            raise AuditInputError(f"{origin}: model-card field {key!r} must be a string, got {type(value).__name__}")
        if len(value) > _MAX_FIELD_CHARS:
            raise AuditInputError(f"{origin}: model-card field {key!r} is longer than {_MAX_FIELD_CHARS} characters; "
                                  "shorten it or link to a longer document")
        if value.strip():
            values[key] = value.strip()
    return ModelCard(values)


def read_card_file(path: Path, origin: str) -> dict[str, Any]:
    """A card TOML file: the fields at top level, or under [card] or [tool.audit.card]."""
    path = Path(path)
    if not path.is_file():
        raise AuditInputError(f"{origin}: card file {path} {not_a_file(path)}; pass a TOML file with the model-card "
                              "fields")
    if path.stat().st_size > _CARD_FILE_MAX_BYTES:
        raise AuditInputError(f"{origin}: card file {path} is larger than 1 MiB; a model card is a page of text")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AuditInputError(f"card file {path} is not valid TOML: {exc}") from None
    if isinstance(data.get("tool"), Mapping):
        data = data["tool"].get("audit", {}).get("card", {})
    elif isinstance(data.get("card"), Mapping):
        data = data["card"]
    parse_card(data, f"card file {path}")
    return dict(data)


def card_of(scorecard: Scorecard) -> ModelCard:
    """The card recorded in a scorecard's config; values that are not strings are ignored, never shown raw."""
    table = scorecard.config.get("card") if isinstance(scorecard.config, Mapping) else None
    if not isinstance(table, Mapping):
        return ModelCard({})
    return ModelCard({k: v.strip() for k, v in table.items() if k in CARD_KEYS and isinstance(v, str) and v.strip()})


# ---- model-card.md -----------------------------------------------------------------------------------


def render_model_card_md(scorecard: Scorecard) -> str:
    """model-card.md: YAML front matter (license, tags, model-index) then the card and the audit's figures."""
    from audit.reports.md_text import md_escape

    card = card_of(scorecard)
    name = card.get("model_name") or scorecard.run.model
    lines = _front_matter(scorecard, card, name)
    lines += [f"# Model card: {md_escape(name)}", ""]
    for section in SECTIONS:
        lines += [f"## {section}", ""]
        for f in (f for f in CARD_FIELDS if f.section == section):
            text = card.get(f.key)
            lines += _field_md(f.label, text)
    lines += _measured_md(scorecard)
    missing = card.missing
    if missing:
        lines += ["## Missing card fields", "",
                  "The model's owner has not stated these; the audit does not fill them in: "
                  + ", ".join(f.label for f in missing) + ".", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _field_md(label: str, text: str | None) -> list[str]:
    from audit.reports.md_text import md_escape

    if text is None:
        return [f"**{label}:** _not stated by the owner (missing)_", ""]
    raw = [p for p in text.split("\n\n") if p.strip()]
    if len(raw) == 1 and len(raw[0]) < 100:  # inline after the label, so no block syntax to neutralise
        return [f"**{label}:** {md_escape(raw[0])}", ""]
    return [f"**{label}:**", ""] + [line for p in raw for line in (md_escape(p, line_start=True), "")]


def _yaml(value: str) -> str:
    """A fully quoted YAML scalar (JSON strings are valid YAML); <, > and & as \\u escapes so no renderer
    of the front matter ever sees markup, while a YAML reader gets the text back unchanged."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_HUB_LICENSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$")


def _front_matter(scorecard: Scorecard, card: ModelCard, name: str) -> list[str]:
    lines = ["---"]
    if card.get("license"):  # a Hub license id ("apache-2.0"); free text goes to the body, "other" here
        license_id = card.get("license") or ""
        lines.append(f"license: {_yaml(license_id if _HUB_LICENSE.match(license_id) else 'other')}")
    lines += ["tags:", "  - audit", "  - responsible-ai"] + [f"  - {_yaml(s)}" for s in scorecard.run.suites[:20]]
    lines += ["model-index:", f"  - name: {_yaml(name)}", "    results:", "      - task:",
              "          type: classification", "        dataset:", f"          name: {_yaml(scorecard.run.dataset)}",
              f"          type: {_yaml(scorecard.provenance.data_source)}", "        metrics:"]
    for check in _headline_checks(scorecard):
        lines += [f"          - type: {_yaml(check.key)}", f"            value: {_yaml_number(check.value)}",
                  f"            name: {_yaml(check.key + ' (' + check.verdict.value + ')')}"]
    return lines + ["---", ""]


def _yaml_number(value: float | None) -> str:
    if value is None or value != value:
        return "null"
    return json.dumps(round(float(value), 6))


def _headline_checks(scorecard: Scorecard) -> list[Any]:
    """Gated checks with a value, validity self-checks left out (they are about the evaluation, not the model)."""
    return [c for c in scorecard.checks if c.value is not None and ".validity." not in c.key
            and c.verdict is not Verdict.SKIPPED][:60]


def _measured_md(scorecard: Scorecard) -> list[str]:
    from audit.reports.formatting import fmt_ci, fmt_number, fmt_threshold, verdict_label
    from audit.reports.md_text import md_escape, md_table

    p = scorecard.provenance
    lines = ["## What the audit measured", "",
             f"Overall verdict: **{verdict_label(scorecard.verdict)}** (exit code {scorecard.exit_code}). "
             f"Evaluation data: {md_escape(scorecard.run.dataset)} from {md_escape(p.data_source)} "
             f"(sha256 `{md_escape(p.data_sha256[:16])}…`); model {md_escape(p.model_source)} "
             f"(sha256 `{md_escape(p.model_sha256[:16])}…`); audit {md_escape(p.audit_version)}, "
             f"seed {scorecard.run.seed}.", ""]
    rows = [[md_escape(c.key), verdict_label(c.verdict), fmt_number(c.value), fmt_ci(c.ci), fmt_threshold(c.threshold)]
            for c in _headline_checks(scorecard)]
    if rows:
        lines += md_table(["Check", "Verdict", "Value", "95% CI", "Threshold"], rows) + [""]
    return lines
