"""A local Hugging Face sequence-classification folder (optionally a PEFT/LoRA adapter on its base), read safely.

Rules: local folders only (`local_files_only`, HF_HUB_OFFLINE while loading), never `trust_remote_code`: the
config's `model_type` and `architectures` must be classes transformers itself ships (an allow-list), and a config
or tokenizer config with `auto_map` (remote code) is refused. Weights come from `.safetensors` only; a folder with
only `pytorch_model.bin` (a pickle) needs --allow-unsafe-load.

The audited `x` of a text row is its tokenisation, float32 (n, 2, length): channel 0 the token ids, channel 1 the
attention mask (ids are integers far below 2**24, so float32 holds them exactly). `HFTextInputs` maps raw text to
that `x` (the model's `encoder`); `HFSequenceClassifier.embedding_view` gives the white-box view from the input
token embeddings (`inputs_embeds`) to the logits.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audit.errors import AuditInputError
from audit.hashing import files_sha256
from audit.models.types import ModelSource, ModelUnderAudit

_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
_IMAGE_PROCESSOR_FILES = ("preprocessor_config.json",)
_PROCESSOR_FILES = {"text": _TOKENIZER_FILES, "image": _IMAGE_PROCESSOR_FILES}  # by modality: what turns raw inputs
_CONFIG_FILES = ("config.json", "tokenizer_config.json", "adapter_config.json", "preprocessor_config.json")
MAX_LENGTH = 512  # tokens per text at most (a model's own limit may be lower)


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "config.json").is_file() or (path / "adapter_config.json").is_file())


@dataclass(frozen=True)
class FolderCheck:
    """A folder that passed the checks: its weight files and the files its hash covers."""

    path: Path
    config: dict[str, Any]
    weights: tuple[Path, ...]
    hashed: tuple[Path, ...]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(f"{path} is not a readable JSON file ({exc}); re-save the model folder") from None
    if not isinstance(value, dict):
        raise AuditInputError(f"{path} must hold a JSON object; re-save the model folder")
    return value


def _refuse_remote_code(folder: Path) -> None:
    for name in _CONFIG_FILES:
        file = folder / name
        content = _read_json(file) if file.is_file() else {}
        mapping = content.get("auto_mapping")
        if content.get("auto_map") or (mapping and not _transformers_class(mapping)):
            raise AuditInputError(
                f"{file} has 'auto_map' (or 'auto_mapping'): the model needs its own Python code (trust_remote_code), "
                "which the audit never runs; save the model with an architecture transformers ships (e.g. "
                "BertForSequenceClassification)")


def _transformers_class(mapping: Any) -> bool:
    """peft writes `auto_mapping` for a base class without a peft task type (image classifiers): harmless when it
    names a class transformers ships (only AutoPeftModel imports it; the audit loads through PeftModel)."""
    import transformers

    if not isinstance(mapping, dict) or set(mapping) != {"base_model_class", "parent_library"}:
        return False
    cls, library = mapping["base_model_class"], mapping["parent_library"]
    return (isinstance(cls, str) and isinstance(library, str) and library.startswith("transformers.")
            and isinstance(getattr(transformers, cls, None), type))


def _check_architecture(folder: Path, config: dict[str, Any]) -> None:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    model_type = config.get("model_type")
    if model_type not in CONFIG_MAPPING_NAMES:
        raise AuditInputError(
            f"{folder / 'config.json'} has model_type {model_type!r}, which transformers does not ship; custom "
            "(remote-code) architectures are never run. Save the model as a transformers architecture")
    for arch in config.get("architectures") or []:
        if not isinstance(arch, str) or not isinstance(getattr(transformers, arch, None), type):
            raise AuditInputError(
                f"{folder / 'config.json'} names architecture {arch!r}, which is not a transformers class; custom "
                "(remote-code) architectures are never run")


def _weights(folder: Path, allow_unsafe_load: bool, adapter: bool) -> tuple[Path, ...]:
    safe = tuple(sorted(folder.glob("*.safetensors")))
    pickled = tuple(folder / n for n in _PICKLE_WEIGHTS if (folder / n).is_file())
    if safe:
        return safe
    if pickled and not allow_unsafe_load:
        raise AuditInputError(
            f"{folder} only has pickle weights ({pickled[0].name}), which can run code when loaded. Convert them to "
            f"{'adapter_model' if adapter else 'model'}.safetensors (save_pretrained(..., safe_serialization=True)), "
            "or pass --allow-unsafe-load for a folder you trust")
    if not pickled:
        raise AuditInputError(f"{folder} has no model weights (expected {'adapter_model' if adapter else 'model'}"
                              ".safetensors)")
    return pickled


def check_model_folder(folder: Path, allow_unsafe_load: bool = False) -> FolderCheck:
    """A base (non-adapter) model folder: config allow-listed, no remote code, safetensors weights, a tokenizer."""
    if not (folder / "config.json").is_file():
        raise AuditInputError(f"{folder} has no config.json; pass a folder written by save_pretrained")
    _refuse_remote_code(folder)
    config = _read_json(folder / "config.json")
    _check_architecture(folder, config)
    weights = _weights(folder, allow_unsafe_load, adapter=False)
    return FolderCheck(folder, config, weights, _hashed(folder, weights))


def _hashed(folder: Path, weights: Sequence[Path]) -> tuple[Path, ...]:
    extra = [folder / n for n in (*_CONFIG_FILES, *_TOKENIZER_FILES, "special_tokens_map.json")]
    return tuple(sorted({*weights, *(p for p in extra if p.is_file())}))


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 (and TRANSFORMERS_OFFLINE) while loading; the previous values come back afterwards."""
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({k: "1" for k in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tokenizer_folder(model_dir: Path, base_dir: Path | None, modality: str = "text") -> Path:
    """The folder holding the tokenizer (text) or image processor (image): the model's, else its base's."""
    files = _PROCESSOR_FILES[modality]
    for folder in (model_dir, base_dir):
        if folder is not None and any((folder / n).is_file() for n in files):
            return folder
    what = "tokenizer" if modality == "text" else "image processor"
    raise AuditInputError(f"{model_dir} has no {what} files ({', '.join(files)}); save the {what} into the folder "
                          f"with {'tokenizer' if modality == 'text' else 'image_processor'}.save_pretrained")


@dataclass(frozen=True)
class HFLoaded:
    """A loaded classifier, its tokenizer and how it was read (for the scorecard)."""

    model: nn.Module  # a transformers *For{Sequence,Image}Classification (a PeftModel around one for an adapter)
    tokenizer: Any  # the tokenizer (text) or the image processor (image)
    class_names: tuple[str, ...]
    kind: str  # hf | hf-peft
    sha256: str
    description: str


def load_hf_folder(folder: Path, base_model: Path | None = None, allow_unsafe_load: bool = False,
                   modality: str = "text") -> HFLoaded:
    """Load a sequence (modality "text") or image ("image") classifier, or a PEFT adapter on its local base, and its
    tokenizer or image processor, offline, in eval mode."""
    folder = folder.expanduser().resolve()
    if (folder / "adapter_config.json").is_file():
        return _load_adapter(folder, base_model, allow_unsafe_load, modality)
    check = check_model_folder(folder, allow_unsafe_load)
    model, tokenizer = _load_base(check, _tokenizer_folder(folder, None, modality), allow_unsafe_load, modality)
    digest = files_sha256(check.hashed, with_names=True)
    return HFLoaded(model, tokenizer, _class_names(model), "hf", digest,
                    f"Hugging Face {type(model).__name__} from {folder} (sha256 {digest[:16]}), weights "
                    f"{', '.join(p.name for p in check.weights)}")


def _auto_classes(modality: str) -> tuple[Any, Any]:
    """transformers' auto classes for the model and its input processor, by modality."""
    if modality == "image":
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        return AutoModelForImageClassification, AutoImageProcessor
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification, AutoTokenizer


def _load_base(check: FolderCheck, tokenizer_dir: Path, allow_unsafe_load: bool,
               modality: str = "text") -> tuple[nn.Module, Any]:
    from transformers.utils import logging as hf_logging

    auto_model, auto_processor = _auto_classes(modality)
    hf_logging.disable_progress_bar()
    _refuse_remote_code(tokenizer_dir)
    with _offline():
        try:
            model = auto_model.from_pretrained(
                str(check.path), local_files_only=True, use_safetensors=not allow_unsafe_load or None,
                trust_remote_code=False)
            tokenizer = auto_processor.from_pretrained(str(tokenizer_dir), local_files_only=True,
                                                       trust_remote_code=False)
        except (OSError, ValueError, KeyError) as exc:
            raise AuditInputError(f"cannot load the Hugging Face folder {check.path}: {exc}") from None
    return model.eval(), tokenizer


def _load_adapter(folder: Path, base_model: Path | None, allow_unsafe_load: bool, modality: str = "text") -> HFLoaded:
    adapter_config = _read_json(folder / "adapter_config.json")
    _refuse_remote_code(folder)
    _check_peft_type(folder, adapter_config)
    base_dir = _base_dir(folder, adapter_config, base_model)
    base = check_model_folder(base_dir, allow_unsafe_load)
    weights = _weights(folder, allow_unsafe_load, adapter=True)
    model, tokenizer = _load_base(base, _tokenizer_folder(folder, base_dir, modality), allow_unsafe_load, modality)
    from peft import PeftModel

    with _offline():
        try:
            model = PeftModel.from_pretrained(model, str(folder), is_trainable=False, local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise AuditInputError(f"cannot load the adapter {folder} on {base_dir}: {exc}") from None
    base_sha = files_sha256(base.hashed, with_names=True)
    adapter_sha = files_sha256(_hashed(folder, weights), with_names=True)
    combined = files_sha256([*base.hashed, *_hashed(folder, weights)], with_names=True)
    return HFLoaded(model.eval(), tokenizer, _class_names(model), "hf-peft", combined,
                    f"{adapter_config.get('peft_type')} adapter {folder} (sha256 {adapter_sha}) on the Hugging Face "
                    f"base model {base_dir} (sha256 {base_sha})")


def _check_peft_type(folder: Path, adapter_config: dict[str, Any]) -> None:
    from peft import PeftType

    peft_type = adapter_config.get("peft_type")
    if peft_type not in {t.value for t in PeftType}:
        raise AuditInputError(f"{folder / 'adapter_config.json'} has peft_type {peft_type!r}, which peft does not "
                              "ship; only peft's own adapter types are loaded")


def _base_dir(folder: Path, adapter_config: dict[str, Any], base_model: Path | None) -> Path:
    if base_model is not None:
        chosen = base_model.expanduser().resolve()
    else:
        named = adapter_config.get("base_model_name_or_path")
        candidate = Path(str(named)).expanduser() if named else None
        if candidate is not None and not candidate.is_absolute():
            candidate = (folder / candidate) if (folder / candidate).is_dir() else candidate
        if candidate is None or not candidate.is_dir():
            raise AuditInputError(
                f"the adapter {folder} names its base model {named!r}, which is not a local folder (the audit never "
                "downloads); pass the base model's folder with --base-model DIR")
        chosen = candidate.resolve()
    if not chosen.is_dir():
        raise AuditInputError(f"--base-model {str(chosen)!r} is not a folder; pass the base model's local folder")
    return chosen


def _class_names(model: nn.Module) -> tuple[str, ...]:
    config = model.config
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    n = int(config.num_labels)
    return tuple(id2label.get(i, f"LABEL_{i}") for i in range(n))


def max_length(loaded: HFLoaded) -> int:
    """Tokens per text: the smallest of the model's positions, the tokenizer's limit and MAX_LENGTH."""
    limits = [MAX_LENGTH, getattr(loaded.model.config, "max_position_embeddings", MAX_LENGTH)]
    tokenizer_limit = getattr(loaded.tokenizer, "model_max_length", MAX_LENGTH)
    if isinstance(tokenizer_limit, int) and tokenizer_limit > 0:
        limits.append(tokenizer_limit)
    return int(min(limits))


class HFTextInputs(nn.Module):
    """Raw text -> the audited `x` (token ids and attention mask, padded to `length`): the model's `encoder`."""

    def __init__(self, tokenizer: Any, length: int):
        super().__init__()
        self.tokenizer = tokenizer
        self.length = length

    def texts_to_inputs(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, 2, self.length)
        enc = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.length,
                             return_tensors="pt")
        return torch.stack([enc["input_ids"], enc["attention_mask"]], dim=1).float()

    def truncated(self, texts: Sequence[str]) -> int:
        """How many texts are longer than `length` tokens (their ends are cut off)."""
        lengths = self.tokenizer(list(texts), truncation=False)["input_ids"]
        return sum(len(ids) > self.length for ids in lengths)


def _unpack(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mask = x[:, 1].long()
    used = max(int(mask.sum(dim=1).max().item()) if len(x) else 1, 1)  # trim the padding shared by the batch
    return x[:, 0, :used].long(), mask[:, :used]


class HFSequenceClassifier(nn.Module):
    """x (n, 2, length) -> logits (n, n_classes) through the transformers model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids, mask = _unpack(x)
        return self.model(input_ids=ids, attention_mask=mask).logits

    @torch.no_grad()
    def mean_pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(n, hidden) mean of the last hidden state over the real (unmasked) tokens, float32 on the CPU."""
        ids, mask = _unpack(x)
        device = next(self.model.parameters()).device
        out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        hidden, weights = out.hidden_states[-1].float(), mask.to(device).unsqueeze(-1).float()
        return ((hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)).cpu()

    def input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def embedding_view(self, x: torch.Tensor) -> tuple[InputsEmbedsHead, torch.Tensor]:
        """The white-box view of rows `x`: a head from flattened input token embeddings to logits, and the
        flattened clean embeddings (padding positions zero: they are masked out and carry no budget)."""
        ids, mask = _unpack(x.cpu())
        device = next(self.model.parameters()).device
        with torch.no_grad():
            embeds = self.input_embeddings()(ids.to(device)) * mask.to(device).unsqueeze(-1)
        head = InputsEmbedsHead(self.model, mask.to(device), tuple(embeds.shape[1:]))
        return head, embeds.flatten(1).cpu()


class InputsEmbedsHead(nn.Module):
    """Flattened `inputs_embeds` of fixed rows -> logits; `perturbable` marks the non-padding coordinates."""

    def __init__(self, model: nn.Module, mask: torch.Tensor, shape: tuple[int, ...]):
        super().__init__()
        self.model = model
        self.mask = mask
        self.shape = shape
        self.perturbable = mask.unsqueeze(-1).expand(-1, *shape).flatten(1).float()

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        if flat.shape[0] != self.mask.shape[0]:
            raise ValueError("the inputs_embeds view answers for the rows it was built on, all at once")
        embeds = flat.view(flat.shape[0], *self.shape)
        return self.model(inputs_embeds=embeds, attention_mask=self.mask).logits


def hf_model(loaded: HFLoaded, encoder: HFTextInputs, name: str, ref: str, device: str) -> ModelUnderAudit:
    """The loaded classifier as the audited model: logits over `x`, gradients through `inputs_embeds`."""
    n = len(loaded.class_names)
    return ModelUnderAudit(
        name=name, module=HFSequenceClassifier(loaded.model).to(device).eval(),
        task="binary" if n == 2 else "multiclass", n_classes=n, input_kind="text",
        input_shape=(2, encoder.length), outputs="logits", device=device,
        capabilities=frozenset({"gradients", "logits"}), source=ModelSource(loaded.kind, ref, loaded.sha256),
        encoder=encoder, description=loaded.description,
    )
