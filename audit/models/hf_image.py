"""A local Hugging Face image classifier folder (config.json + *.safetensors + preprocessor_config.json), read safely.

Loading goes through `audit.models.hf` (offline, safetensors only unless --allow-unsafe-load, architectures allow-
listed, `auto_map` refused, PEFT adapters on a local base). The image processor must be one transformers ships whose
pipeline the audit reproduces: resize, rescale by 1/255, normalise by (mean, std).

Input domain: the audited `x` of an image is its pixels after the processor's resize and rescale, float32
(n, c, h, w) in [0, 1]. The processor's normalisation runs inside the audited module, so the robustness ε, the
corruptions and the attribution maps are in [0, 1] pixel units of the resized image (8/255 = one 8-level step of an
8-bit image), and gradients reach those pixels through `pixel_values = (x - mean) / std`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audit.errors import AuditInputError
from audit.models.hf import HFLoaded, load_hf_folder
from audit.models.types import ModelSource, ModelUnderAudit

_NEEDED = ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")
_CHANNEL_MODES = {1: "L", 3: "RGB"}


def load_hf_image_folder(folder: Path, base_model: Path | None = None, allow_unsafe_load: bool = False) -> HFLoaded:
    """An image classifier (or a PEFT adapter on its local base) and its image processor, offline, in eval mode.

    transformers' notices while loading (e.g. that it falls back to the Pillow processor without torchvision) stay
    off the terminal; failures still raise."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return load_hf_folder(folder, base_model, allow_unsafe_load, modality="image")
    finally:
        hf_logging.set_verbosity(verbosity)


@dataclass(frozen=True)
class Normalisation:
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _processor_checked(processor: Any, where: Path) -> Normalisation:
    """Refuse an image processor whose pipeline the audit cannot reproduce with pixels in [0, 1] outside the model."""
    name = type(processor).__name__
    if not type(processor).__module__.startswith("transformers.") or any(not hasattr(processor, a) for a in _NEEDED):
        raise AuditInputError(f"the image processor {name} of {where} is not a transformers image processor with "
                              "resize, rescale and normalise steps; save the model with e.g. ViTImageProcessor")
    if not processor.do_rescale or not math.isclose(float(processor.rescale_factor), 1 / 255, rel_tol=1e-6):
        raise AuditInputError(f"the image processor of {where} does not rescale 8-bit pixels by 1/255 (do_rescale "
                              f"{processor.do_rescale}, rescale_factor {processor.rescale_factor}); the audit needs "
                              "pixels in [0, 1] before normalisation")
    if not processor.do_normalize:
        return Normalisation((0.0,), (1.0,))
    mean, std = _floats(processor.image_mean), _floats(processor.image_std)
    if not mean or len(mean) != len(std) or min(std) <= 0:
        raise AuditInputError(f"the image processor of {where} has image_mean {mean} and image_std {std}; need one "
                              "mean and a positive std per channel")
    return Normalisation(mean, std)


def _floats(values: Any) -> tuple[float, ...]:
    values = values if isinstance(values, (list, tuple)) else [values]
    return tuple(float(v) for v in values)


class HFImagePixels:
    """Decoded images -> the audited `x`: the processor's resize and rescale, no normalisation, in [0, 1]."""

    def __init__(self, processor: Any, channels: int, where: Path):
        if channels not in _CHANNEL_MODES:
            raise AuditInputError(f"{where} has num_channels {channels}; the audit reads 1 (grey) or 3 (RGB) channels")
        self.processor = processor
        self.mode = _CHANNEL_MODES[channels]  # PIL mode every image is converted to before the processor
        self.normalisation = _processor_checked(processor, where)
        if len(self.normalisation.mean) not in (1, channels):
            raise AuditInputError(f"the image processor of {where} normalises {len(self.normalisation.mean)} "
                                  f"channels but the model reads {channels}; fix image_mean/image_std")
        self.channels = channels

    def images_to_inputs(self, images: Sequence[Any]) -> torch.Tensor:
        if not images:
            return torch.zeros(0, self.channels, 1, 1)
        extra = {"input_data_format": "channels_last"} if self.mode == "L" else {}
        arrays = [_array(image, self.mode) for image in images]
        out = self.processor(images=arrays, do_normalize=False, return_tensors="pt", **extra)["pixel_values"]
        return out.float().clamp(0.0, 1.0)  # resampling filters overshoot by a rounding error at most


def _array(image: Any, mode: str) -> Any:
    import numpy as np

    array = np.asarray(image.convert(mode))
    return array[..., None] if array.ndim == 2 else array


class HFImageClassifier(nn.Module):
    """x (n, c, h, w) pixels in [0, 1] -> logits, normalising as the image processor does first."""

    def __init__(self, model: nn.Module, normalisation: Normalisation, channels: int):
        super().__init__()
        self.model = model
        shape = (1, -1, 1, 1)
        self.register_buffer("mean", torch.tensor(normalisation.mean).expand(channels).reshape(shape).clone())
        self.register_buffer("std", torch.tensor(normalisation.std).expand(channels).reshape(shape).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixel_values = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return self.model(pixel_values=pixel_values).logits


def image_channels(loaded: HFLoaded) -> int:
    return int(getattr(loaded.model.config, "num_channels", 3))


def hf_image_model(loaded: HFLoaded, pixels: HFImagePixels, input_shape: tuple[int, ...], name: str, ref: str,
                   device: str) -> ModelUnderAudit:
    """The loaded image classifier as the audited model: logits over [0, 1] pixels, gradients w.r.t. those pixels."""
    n = len(loaded.class_names)
    norm = pixels.normalisation
    return ModelUnderAudit(
        name=name, module=HFImageClassifier(loaded.model, norm, pixels.channels).to(device).eval(),
        task="binary" if n == 2 else "multiclass", n_classes=n, input_kind="image", input_shape=tuple(input_shape),
        outputs="logits", device=device, capabilities=frozenset({"gradients", "logits"}),
        source=ModelSource(loaded.kind, ref, loaded.sha256),
        description=(f"{loaded.description}; inputs: pixels in [0, 1] after {type(pixels.processor).__name__}'s "
                     f"resize to {input_shape[1]}x{input_shape[2]} and rescale; its normalisation (mean "
                     f"{list(norm.mean)}, std {list(norm.std)}) runs inside the audited model, so ε and "
                     "attributions are in [0, 1] pixel units"),
    )
