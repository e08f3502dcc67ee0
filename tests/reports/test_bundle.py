"""evidence.zip: every file with its SHA-256, verified; any altered byte is caught; unsafe archives refused."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.bundle import MANIFEST, make_bundle, verify_bundle
from audit.cli import app
from audit.errors import AuditInputError
from audit.reports import write_reports


@pytest.fixture()
def run_dir(tmp_path, scorecard) -> Path:
    out = tmp_path / "run"
    write_reports(scorecard, out)
    (out / "evidence").mkdir()
    (out / "evidence" / "accuracy.parquet").write_bytes(b"PAR1" + bytes(range(256)) + b"PAR1")
    (out / ".scorecard.json.123.tmp").write_text("half a write")  # never bundled
    return out


def _bundle(run_dir: Path) -> Path:
    return make_bundle(run_dir, pdf=False)[0]


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None], extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = change.get(info.filename, old.read(info))
            if data is not None:
                new.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            new.writestr(name, data)
    return dst


def test_bundle_holds_every_file_with_its_hash(run_dir) -> None:
    path = _bundle(run_dir)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read(MANIFEST))
        for entry in manifest["files"]:  # independent recomputation with hashlib
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    assert {"scorecard.json", "scorecard.md", "scorecard.html", "junit.xml", "model-card.md", "provenance.json",
            "evidence/accuracy.parquet", MANIFEST} <= names
    assert not any(name.endswith(".tmp") for name in names)
    assert {e["path"] for e in manifest["files"]} == names - {MANIFEST}
    assert manifest["pdf"] == "not included: not requested"
    result = verify_bundle(path)
    assert result.ok and result.files == len(names)
    assert _bundle(run_dir).read_bytes() == path.read_bytes()  # deterministic


def test_a_changed_member_is_named(run_dir, tmp_path) -> None:
    path = _bundle(run_dir)
    tampered = _rewrite(path, tmp_path / "t.zip", {"scorecard.json": b'{"verdict": "pass"}'})
    result = verify_bundle(tampered)
    assert not result.ok and result.problems[0].startswith("scorecard.json: altered")
    added = _rewrite(path, tmp_path / "a.zip", {}, {"waiver.txt": b"ok"})
    assert verify_bundle(added).problems == ("waiver.txt: in the archive but not in the manifest (added after "
                                             "bundling)",)
    removed = _rewrite(path, tmp_path / "r.zip", {"junit.xml": None})
    assert verify_bundle(removed).problems == ("junit.xml: listed in the manifest but missing from the archive",)


@pytest.mark.parametrize("where", [0.2, 0.5, 0.8, 0.97])
def test_any_changed_byte_fails_verification(run_dir, tmp_path, where) -> None:
    data = bytearray(_bundle(run_dir).read_bytes())
    data[int(len(data) * where)] ^= 0x01
    altered = tmp_path / "altered.zip"
    altered.write_bytes(bytes(data))
    runner = CliRunner()
    result = runner.invoke(app, ["verify", str(altered)])
    assert result.exit_code in (1, 2) and result.exit_code != 0, result.output


def test_rewritten_manifest_is_caught_with_the_printed_hash(run_dir, tmp_path) -> None:
    path, manifest_sha = make_bundle(run_dir, pdf=False)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read(MANIFEST))
    manifest["files"] = [e for e in manifest["files"] if e["path"] != "scorecard.json"]
    forged = _rewrite(path, tmp_path / "f.zip", {"scorecard.json": None,
                                                 MANIFEST: json.dumps(manifest).encode()})
    assert verify_bundle(forged).ok  # consistent with itself ...
    assert not verify_bundle(forged, manifest_sha).ok  # ... but not with the hash kept from `audit bundle`
    assert verify_bundle(path, manifest_sha).ok


def _zip_with(info: zipfile.ZipInfo, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(MANIFEST, json.dumps({"format": "audit-evidence-bundle", "files": []}))
        archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../evil.sh", "/etc/passwd", "a/../../b", "C:/x", "a\\..\\b"])
def test_zip_slip_is_refused(tmp_path, name) -> None:
    path = tmp_path / "slip.zip"
    path.write_bytes(_zip_with(zipfile.ZipInfo(name), b"x"))
    with pytest.raises(AuditInputError, match="unsafe path"):
        verify_bundle(path)


def test_links_bombs_and_non_zips_are_refused(tmp_path) -> None:
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    (tmp_path / "link.zip").write_bytes(_zip_with(link, b"/etc/passwd"))
    with pytest.raises(AuditInputError, match="not a regular file"):
        verify_bundle(tmp_path / "link.zip")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, "{}")
        archive.writestr("zeros", b"\0" * (8 << 20))  # 8 MiB of zeros: a ratio far above 1000
    with pytest.raises(AuditInputError, match="absurd size"):
        verify_bundle(bomb)
    (tmp_path / "not.zip").write_text("hello")
    runner = CliRunner()
    result = runner.invoke(app, ["verify", str(tmp_path / "not.zip")])
    assert result.exit_code == 2 and "not a zip archive" in " ".join(result.output.split())


def test_cli_bundle_then_verify(run_dir, monkeypatch) -> None:
    import audit.reports.pdf

    monkeypatch.setattr(audit.reports.pdf, "render_pdf", lambda scorecard: b"%PDF-1.7 stand-in")  # speed only
    runner = CliRunner()
    made = runner.invoke(app, ["bundle", str(run_dir)])
    assert made.exit_code == 0, made.output
    zip_path = run_dir / "evidence.zip"
    assert str(zip_path) in made.output.replace("\n", "") and "manifest sha256" in made.output
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.read("scorecard.pdf") == b"%PDF-1.7 stand-in"
    checked = runner.invoke(app, ["verify", str(zip_path)])
    assert checked.exit_code == 0 and checked.output.startswith("intact:")
    missing = runner.invoke(app, ["bundle", str(run_dir / "nope")])
    assert missing.exit_code == 2 and "has no scorecard.json" in " ".join(missing.output.split())
