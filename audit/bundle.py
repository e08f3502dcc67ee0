"""The reviewer's evidence pack: `audit bundle RUN_DIR` → evidence.zip, `audit verify evidence.zip`.

The bundle holds every plain file of the run folder (scorecard.json, per-row evidence, reports), the scorecard
re-rendered in every format (Markdown, HTML, JUnit, model card, PDF when WeasyPrint is installed), a
provenance.json, and manifest.json with the SHA-256 and size of every other file. Verification recomputes them:
exit 0 intact, 1 altered (naming each file), 2 not a bundle or an archive refused as unsafe (absolute or
`..` paths, links, encryption, absurd sizes or counts).

The manifest makes accidental or partial change evident; someone able to rewrite the manifest too can only be
caught by comparing its SHA-256 (printed by `audit bundle`) with a copy kept elsewhere: `--manifest-sha256`.
"""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from audit.errors import AuditInputError

MANIFEST = "manifest.json"
BUNDLE_NAME = "evidence.zip"
BUNDLE_FORMAT = "audit-evidence-bundle"
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB uncompressed per file
MAX_TOTAL_BYTES = 4 << 30
MAX_RATIO = 1_000  # uncompressed/compressed: beyond this a member is treated as a zip bomb
_FIXED_TIME = (2000, 1, 1, 0, 0, 0)  # deterministic archives: same files, same bytes


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    problems: tuple[str, ...]  # one line per altered, missing or unexpected file
    files: int
    manifest_sha256: str


# ---- writing ---------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run_files(run_dir: Path, exclude: Path) -> Iterator[tuple[str, bytes]]:
    """Every regular file under the run folder (links are not followed), as (posix relative path, bytes)."""
    for path in sorted(run_dir.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.resolve() == exclude.resolve():
            continue
        rel = path.relative_to(run_dir).as_posix()
        if path.name.startswith(".") and path.name.endswith(".tmp"):  # a write in progress
            continue
        yield rel, path.read_bytes()


def _rendered(scorecard_path: Path, pdf: bool) -> dict[str, bytes]:
    """The scorecard in every format, rendered from scorecard.json (a PDF only where WeasyPrint loads)."""
    from audit.reports import FILE_NAMES, FORMATS, load_scorecard, render
    from audit.types import to_json_dict

    scorecard = load_scorecard(scorecard_path)
    out = {FILE_NAMES[fmt]: render(scorecard, fmt).encode("utf-8") for fmt in FORMATS if fmt != "json"}
    if pdf:
        try:
            from audit.reports.pdf import render_pdf

            out["scorecard.pdf"] = render_pdf(scorecard)
        except AuditInputError:
            pass  # the manifest says the PDF is absent and why
    provenance = {"run": to_json_dict(scorecard.run), "provenance": to_json_dict(scorecard.provenance),
                  "config": to_json_dict(scorecard.config)}
    out["provenance.json"] = (json.dumps(provenance, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return out


def make_bundle(run_dir: Path, out: Path | None = None, pdf: bool = True) -> tuple[Path, str]:
    """Write evidence.zip for a run folder; returns its path and the SHA-256 of its manifest.

    `pdf=False` leaves the PDF out (it is the slow part); the manifest records that it is absent.
    """
    from audit import __version__
    from audit.reports.json_io import atomic_write_bytes

    run_dir = Path(run_dir)
    scorecard_path = run_dir / "scorecard.json"
    if not scorecard_path.is_file():
        raise AuditInputError(f"{run_dir} has no scorecard.json; pass the folder an `audit run` wrote")
    target = Path(out) if out else run_dir / BUNDLE_NAME
    files = dict(_run_files(run_dir, target))
    files.update(_rendered(scorecard_path, pdf))  # freshly rendered reports replace older copies of the same name
    files.pop(MANIFEST, None)
    manifest = {
        "format": BUNDLE_FORMAT, "version": 1, "audit_version": __version__,
        "pdf": "included" if "scorecard.pdf" in files else
               "not included: not requested" if not pdf else "not included: WeasyPrint cannot be loaded",
        "files": [{"path": name, "sha256": _sha256(data), "bytes": len(data)} for name, data in sorted(files.items())],
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    atomic_write_bytes(target, _zip_bytes({**files, MANIFEST: manifest_bytes}))
    return target, _sha256(manifest_bytes)


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


# ---- verifying -------------------------------------------------------------------------------------


def _safe_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name.split("/")[0]:
        return False
    parts = PurePosixPath(name).parts
    return all(part not in ("", ".", "..") for part in parts) and not name.endswith("/")


def _check_members(archive: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    """Refuse (exit 2) what no bundle of ours contains: unsafe names, links, encryption, bombs, duplicates."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise AuditInputError(f"{path} has {len(members)} entries (more than {MAX_MEMBERS}); refusing it")
    seen: set[str] = set()
    total = 0
    for info in members:
        if not _safe_name(info.filename):
            raise AuditInputError(f"{path} holds an unsafe path {info.filename!r} (absolute, '..' or a drive); "
                                  "refusing it")
        mode = info.external_attr >> 16
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits (many zip tools): a plain file
            raise AuditInputError(f"{path} holds {info.filename!r}, which is not a regular file (a link?); refusing it")
        if info.flag_bits & 0x1:
            raise AuditInputError(f"{path} holds the encrypted entry {info.filename!r}; bundles are never encrypted")
        if info.filename in seen:
            raise AuditInputError(f"{path} holds {info.filename!r} twice; refusing an ambiguous archive")
        seen.add(info.filename)
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        bomb = info.file_size > 1 << 20 and ratio > MAX_RATIO
        if info.file_size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES or bomb:
            raise AuditInputError(f"{path}: {info.filename!r} would unpack to an absurd size "
                                  f"({info.file_size} bytes from {info.compress_size}); refusing it")
    return members


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than it declares (a lying header cannot unpack a bomb)."""
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise zipfile.BadZipFile(f"{info.filename} is longer than its header says")
    return data


def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise AuditInputError(f"{path} does not exist or is not a file; pass the evidence.zip `audit bundle` wrote")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        with open(path, "rb") as handle:
            if handle.read(2) != b"PK":
                raise AuditInputError(f"{path} is not a zip archive ({exc}); pass an evidence.zip") from None
        raise _Damaged(f"the archive's structure is damaged ({exc})") from None


class _Damaged(Exception):
    """The zip cannot be read as a whole: altered (exit 1), not bad input."""


def verify_bundle(path: Path, expected_manifest_sha256: str | None = None) -> VerifyResult:
    """Recompute every file's SHA-256 against manifest.json; raise AuditInputError for a refused archive."""
    path = Path(path)
    try:
        archive = _open_archive(path)
    except _Damaged as exc:
        return VerifyResult(False, (str(exc),), 0, "")
    with archive:
        members = {info.filename: info for info in _check_members(archive, path)}
        if MANIFEST not in members:
            raise AuditInputError(f"{path} has no {MANIFEST}: it is not an evidence bundle written by `audit bundle`")
        problems: list[str] = []
        contents: dict[str, bytes] = {}
        for name, info in members.items():
            try:
                contents[name] = _read_capped(archive, info)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                problems.append(f"{name}: altered or damaged (cannot be read back: {exc})")
    manifest_bytes = contents.get(MANIFEST)
    if manifest_bytes is None:
        return VerifyResult(False, tuple(problems), len(members), "")
    manifest_sha = _sha256(manifest_bytes)
    if expected_manifest_sha256 and manifest_sha != expected_manifest_sha256.strip().lower():
        problems.append(f"{MANIFEST}: its SHA-256 {manifest_sha} is not the expected {expected_manifest_sha256}")
    problems += _compare(_manifest_entries(manifest_bytes, problems), contents, members)
    return VerifyResult(not problems, tuple(problems), len(members), manifest_sha)


def _manifest_entries(manifest_bytes: bytes, problems: list[str]) -> dict[str, dict]:
    try:
        manifest = json.loads(manifest_bytes)
        entries = {e["path"]: e for e in manifest["files"]}
        hashes_ok = all(isinstance(e.get("sha256"), str) for e in entries.values())
        if manifest.get("format") != BUNDLE_FORMAT or not hashes_ok:
            raise ValueError("not an evidence manifest")
        return entries
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(f"{MANIFEST}: altered or malformed ({exc})")
        return {}


def _compare(entries: dict[str, dict], contents: dict[str, bytes], members: dict[str, zipfile.ZipInfo]) -> list[str]:
    problems = []
    for name, entry in sorted(entries.items()):
        if name not in members:
            problems.append(f"{name}: listed in the manifest but missing from the archive")
        elif name in contents and _sha256(contents[name]) != entry["sha256"]:
            problems.append(f"{name}: altered (SHA-256 {_sha256(contents[name])[:16]}… differs from the manifest's "
                            f"{str(entry['sha256'])[:16]}…)")
    extra = sorted(set(members) - set(entries) - {MANIFEST})
    problems += [f"{name}: in the archive but not in the manifest (added after bundling)" for name in extra]
    return problems
