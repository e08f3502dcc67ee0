"""Allow-list for torch.export archives (.pt2): read the zip and its JSON ourselves before torch sees the file.

torch.export.load will, when a file asks it to: unpickle `use_pickle` payloads and opaque/custom objects
(chosen by the `path_name` in the payload configs, not by member names), fall back to an unrestricted
torch.load for sample inputs, eval shape expressions through sympy, import modules named in pytree enum
contexts, resolve graph targets by attribute path from `torch`, and exec `guards_code`. A plain exported
nn.Module needs none of that, so only what such an export contains is accepted; everything else is
refused with AuditInputError before torch reads a byte.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from audit.errors import AuditInputError
from audit.models import pt2_graph
from audit.models.file_kinds import describe, sniff, zip_layout
from audit.models.quiet import quiet_torch
from audit.models.zip_limits import check_zip_directory

CLEAN_EXPORT = (
    "Export the plain nn.Module instead: program = torch.export.export(model.eval(), (x[:8],), "
    'dynamic_shapes=({0: torch.export.Dim("batch")},)); torch.export.save(program, "model.pt2") '
    "(tensor inputs and outputs; no custom objects, custom ops or non-tensor constants)."
)
OTHER_FORMAT_HINT = {
    "torchscript": " TorchScript runs code when loaded: name it .pt and pass --allow-unsafe-load only if you trust it.",
    "torch-save": " A state dict loads from a .pt file with --arch naming the model class.",
}
MODEL_JSON = "models/model.json"
WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
SAMPLE_INPUTS = "data/sample_inputs/model.pt"
FIXED_MEMBERS = {
    "archive_format": b"pt2",
    "archive_version": b"0",
    "byteorder": None,
    ".data/version": None,
    ".data/serialization_id": None,
}
REQUIRED = (MODEL_JSON, WEIGHTS_CONFIG, CONSTANTS_CONFIG, SAMPLE_INPUTS, "archive_format", "archive_version")
PAYLOAD_MEMBER = {"data/weights/": re.compile(r"weight_\d+\Z"), "data/constants/": re.compile(r"tensor_\d+\Z")}
PAYLOAD_CONFIGS = {"data/weights/": WEIGHTS_CONFIG, "data/constants/": CONSTANTS_CONFIG}
PAYLOAD_KEYS = {"path_name", "is_param", "use_pickle", "tensor_meta"}
DEVICES = {"cpu", "cuda"}
EOCD = b"PK\x05\x06"  # end of central directory; torch.export.save writes no comment, so it ends the file
EOCD_BYTES = 22


def refuse(path: Path, found: str) -> AuditInputError:
    return AuditInputError(f"{path.name!r} is refused: it {found}. {CLEAN_EXPORT}")


def _members(archive: zipfile.ZipFile, path: Path) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """The archive's single top folder and its members by name relative to it."""
    infos = archive.infolist()
    roots = {info.filename.split("/", 1)[0] for info in infos}
    if len(roots) != 1 or any("/" not in info.filename for info in infos):
        raise refuse(path, f"is not laid out as torch.export.save writes archives (top folders: {sorted(roots)[:3]})")
    root = roots.pop()
    return root, {info.filename[len(root) + 1:]: info for info in infos}


def _is_payload_member(name: str) -> bool:
    folder, _, base = name.rpartition("/")
    pattern = PAYLOAD_MEMBER.get(folder + "/")
    return pattern is not None and pattern.match(base) is not None


def _is_allowed_member(name: str) -> bool:
    return name in FIXED_MEMBERS or name in (MODEL_JSON, *PAYLOAD_CONFIGS.values(), SAMPLE_INPUTS) \
        or _is_payload_member(name)


def _check_member_names(path: Path, members: dict[str, zipfile.ZipInfo]) -> None:
    unknown = sorted(name for name in members if not _is_allowed_member(name))
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        raise refuse(path, f"contains members a plain torch.export.save does not write ({shown})")
    missing = [name for name in REQUIRED if name not in members]
    if missing:
        raise refuse(path, f"lacks {missing[0]!r}, which torch.export.save always writes")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError, zlib.error) as error:
        raise refuse(path, f"has a member {info.filename!r} that cannot be read ({str(error)[:80]})") from error


def _read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> Any:
    try:
        return json.loads(_read_member(archive, info, path).decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise refuse(path, f"holds {info.filename!r}, which is not valid JSON ({str(error)[:80]})") from error


def _check_encoding(archive: zipfile.ZipFile, path: Path) -> None:
    """torch's zip reader knows stored and deflated members only; encrypted ones it cannot read at all."""
    for info in archive.infolist():
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
            raise refuse(path, f"stores {info.filename!r} encrypted or with compression method {info.compress_type}")


def _check_fixed(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], path: Path) -> None:
    for name, expected in FIXED_MEMBERS.items():
        info = members.get(name)
        if info is not None and (info.file_size > 64 or (expected and _read_member(archive, info, path).strip()
                                                         != expected)):
            raise refuse(path, f"has an unexpected {name!r} (this loader reads torch.export archive format 'pt2' v0)")


def _check_tensor_meta(meta: Any, where: str, path: Path) -> None:
    if not isinstance(meta, dict):
        raise refuse(path, f"describes {where} without tensor metadata")
    sizes, strides = meta.get("sizes"), meta.get("strides")
    dims = [*sizes, *strides, meta.get("storage_offset")] if isinstance(sizes, list) and isinstance(strides, list) \
        else [None]
    if not all(isinstance(d, dict) and set(d) == {"as_int"} and type(d["as_int"]) is int and d["as_int"] >= 0
               for d in dims):
        raise refuse(path, f"describes {where} with sizes that are not plain non-negative integers")
    device = meta.get("device")
    if not (isinstance(device, dict) and isinstance(device.get("type"), str) and device["type"] in DEVICES):
        raise refuse(path, f"places {where} on an unsupported device {device!r}")


def _check_payload_config(config: Any, folder: str, members: dict[str, zipfile.ZipInfo], path: Path) -> None:
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict) or set(config) != {"config"}:
        raise refuse(path, f"has a malformed {folder} config")
    for fqn, entry in entries.items():
        where = f"{folder} entry {fqn!r}"
        if not (isinstance(entry, dict) and set(entry) <= PAYLOAD_KEYS):
            raise refuse(path, f"has a malformed {where}")
        if not pt2_graph.is_fqn(fqn):
            raise refuse(path, f"names a {folder} entry {fqn!r} that is not a module attribute path")
        if entry.get("use_pickle") is not False:
            raise refuse(path, f"asks torch to unpickle {where} (use_pickle: {entry.get('use_pickle')!r}), "
                               "which would run code from the file")
        name = entry.get("path_name")
        if not (isinstance(name, str) and PAYLOAD_MEMBER[folder].match(name) and folder + name in members):
            raise refuse(path, f"points {where} at {name!r}, which is not a tensor file of this archive "
                               "(pickled objects and custom objects are not accepted)")
        _check_tensor_meta(entry.get("tensor_meta"), where, path)


def _check_sample_inputs(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """torch retries an unrestricted torch.load when weights_only fails: make sure weights_only succeeds."""
    import torch

    blob = _read_member(archive, info, path)
    if not blob:
        return
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as nested:
            check_zip_directory(nested, len(blob), f"{path.name!r} (its sample inputs)")
        with quiet_torch():
            sample = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except AuditInputError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure means torch would fall back to a full unpickle
        raise refuse(path, f"holds sample inputs that only an unrestricted unpickle could read ({type(error).__name__})"
                     ) from error
    if not isinstance(sample, (tuple, dict)):
        raise refuse(path, f"holds sample inputs of type {type(sample).__name__}, not a tuple of tensors")


def _check_single_reading(archive: zipfile.ZipFile, path: Path) -> None:
    """Python's zipfile (which we check) and torch's reader (which loads) must see the same members."""
    with path.open("rb") as handle:
        handle.seek(-EOCD_BYTES, io.SEEK_END)
        tail = handle.read(EOCD_BYTES)
    first = min((info.header_offset for info in archive.infolist()), default=0)
    if archive.comment or not tail.startswith(EOCD) or first != 0:
        raise refuse(path, "has bytes before or after its zip contents (a comment, or data prepended or appended), "
                           "so different zip readers could see different members")


def _open_refusing_other_formats(path: Path) -> zipfile.ZipFile:
    kind = sniff(path)
    if kind != "zip":
        raise AuditInputError(f"{path.name!r} is {describe(path)}, not a torch.export archive. {CLEAN_EXPORT}")
    archive = zipfile.ZipFile(path)
    layout = zip_layout(archive.namelist())
    if layout != "export":
        archive.close()
        raise AuditInputError(
            f"{path.name!r} is {describe(path)}, not a torch.export archive.{OTHER_FORMAT_HINT.get(layout, '')} "
            f"{CLEAN_EXPORT}"
        )
    return archive


def _structurally_sound_members(archive: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """The zip-level checks both entry points share (size limits, one reading, encoding): the members by name."""
    check_zip_directory(archive, path.stat().st_size, repr(path.name))
    _check_single_reading(archive, path)
    _check_encoding(archive, path)
    _, members = _members(archive, path)
    return members


def check_guard_free(path: Path) -> None:
    """Refuse guard code and zip bombs: the checks that hold even with --allow-unsafe-load."""
    with _open_refusing_other_formats(path) as archive:
        members = _structurally_sound_members(archive, path)
        if MODEL_JSON not in members:
            raise refuse(path, f"lacks {MODEL_JSON!r}, which torch.export.save always writes")
        pt2_graph.check_no_guard_code(_read_json(archive, members[MODEL_JSON], path), lambda found: refuse(path, found))


def check_export_archive(path: Path) -> None:
    """Raise AuditInputError unless `path` holds only what torch.export.save writes for a plain nn.Module."""
    with _open_refusing_other_formats(path) as archive:
        members = _structurally_sound_members(archive, path)
        _check_member_names(path, members)
        _check_fixed(archive, members, path)
        configs = {folder: _read_json(archive, members[name], path) for folder, name in PAYLOAD_CONFIGS.items()}
        for folder, config in configs.items():
            _check_payload_config(config, folder, members, path)
        referenced = {folder + entry["path_name"] for folder, config in configs.items()
                      for entry in config["config"].values()}
        stray = sorted(n for n in members if _is_payload_member(n) and n not in referenced)
        if stray:
            raise refuse(path, f"contains tensor files no config refers to ({stray[0]!r})")
        pt2_graph.check_program(_read_json(archive, members[MODEL_JSON], path), lambda found: refuse(path, found))
        _check_sample_inputs(archive, members[SAMPLE_INPUTS], path)
