"""Build hostile .pt2 archives the way an attacker would: rewrite a real torch.export archive's JSON and members."""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

MODEL_JSON = "models/model.json"
CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
WEIGHTS_CONFIG = "data/weights/model_weights_config.json"


def export_plain(path: Path, module: nn.Module | None = None, width: int = 3) -> Path:
    """A genuine torch.export archive of a tiny model with a dynamic batch dimension."""
    torch.manual_seed(0)
    module = module if module is not None else nn.Sequential(nn.Linear(width, 2))
    program = torch.export.export(module.eval(), (torch.randn(8, width),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, path)
    return path


def payload_code(marker: Path) -> str:
    """Python that leaves a marker file if it ever runs."""
    return f"open({str(marker)!r}, 'w').write('ran')"


class RunsCode:
    """A pickle that runs `payload_code` when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (payload_code(self.marker),)


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(RunsCode(marker))


Members = dict[str, bytes]


def rewrite(base: Path, dst: Path, *, program: Callable[[dict], None] | None = None,
            members: Callable[[Members], None] | None = None,
            compression: int = zipfile.ZIP_STORED) -> Path:
    """Copy `base` to `dst`, editing the program JSON and/or the members (names relative to the archive root)."""
    with zipfile.ZipFile(base) as src:
        infos = src.infolist()
        root = infos[0].filename.split("/", 1)[0]
        content = {i.filename[len(root) + 1:]: src.read(i) for i in infos}
    if program is not None:
        model = json.loads(content[MODEL_JSON])
        program(model)
        content[MODEL_JSON] = json.dumps(model).encode()
    if members is not None:
        members(content)
    with zipfile.ZipFile(dst, "w", compression) as out:
        for name, data in content.items():
            out.writestr(f"{root}/{name}", data)
    return dst


def set_constants(content: Members, config: dict) -> None:
    content[CONSTANTS_CONFIG] = json.dumps({"config": config}).encode()


def pickled_entry(path_name: str) -> dict:
    return {"path_name": path_name, "is_param": False, "use_pickle": True, "tensor_meta": None}
