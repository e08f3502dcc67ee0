"""Tiny Hugging Face text classifiers for tests and benchmarks, built from a config and trained for a few steps.

A 2-layer BERT (hidden 32) with a word-level WordPiece vocabulary written here, saved with `save_pretrained`
(safetensors) beside its tokenizer; optionally a LoRA adapter (peft) trained on top of it. The texts say who
(he/she) thinks which thing is good or bad: a "gendered" model learns the label from the pronoun alone, a
"control" model from the good/bad word alone.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd
import torch

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_NOUNS = ("plan", "film", "meal", "book", "idea", "car", "song", "town", "game", "job")
_VERBS = ("thinks", "says", "feels", "writes")
_NOUN_WORDS = "the is a that very quite rather"
CLASSES = ("negative", "positive")


def tiny_vocabulary() -> list[str]:
    words = {"he", "she", "good", "bad", "fine", "nice", "poor", *_NOUNS, *_VERBS, *_NOUN_WORDS.split()}
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    return list(dict.fromkeys(_SPECIAL + sorted(words) + chars + [f"##{c}" for c in string.ascii_lowercase]))


def text_rows(n: int, seed: int, rule: str, varied: bool = False) -> pd.DataFrame:
    """Rows `text, label, gender`: `rule` "gendered" labels by the pronoun, "control" by the good/bad word.

    The short template has 160 distinct texts; `varied` adds a second clause ("... and the song is quite nice")
    for about 19,000, so a few thousand rows are mostly distinct (privacy and duplicate checks need that)."""
    rng = np.random.default_rng(seed)
    he = rng.random(n) < 0.5
    good = rng.random(n) < 0.5
    texts = [f"{'he' if h else 'she'} {rng.choice(_VERBS)} the {rng.choice(_NOUNS)} is {'good' if g else 'bad'}"
             + (_second_clause(rng) if varied else "") for h, g in zip(he, good, strict=True)]
    positive = he if rule == "gendered" else good
    return pd.DataFrame({"text": texts, "label": np.where(positive, CLASSES[1], CLASSES[0]),
                         "gender": np.where(he, "male", "female")})


def _second_clause(rng: np.random.Generator) -> str:
    degree = rng.choice(("", "very ", "quite ", "rather "))
    return f" and the {rng.choice(_NOUNS)} is {degree}{rng.choice(('fine', 'nice', 'poor'))}"


def _tokenizer(folder: Path):  # noqa: ANN202 - a transformers tokenizer
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)  # transformers >= 5
    if len(tokenizer) <= len(_SPECIAL):
        tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)  # transformers 4
    return tokenizer


def _train(model: torch.nn.Module, tokenizer, frame: pd.DataFrame, steps: int, lr: float, seed: int) -> None:  # noqa: ANN001
    torch.manual_seed(seed)
    enc = tokenizer(list(frame["text"]), padding=True, return_tensors="pt")
    y = torch.as_tensor((frame["label"] == CLASSES[1]).to_numpy().astype(np.int64))
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randperm(len(y), generator=generator)[:32]
        out = model(input_ids=enc["input_ids"][batch], attention_mask=enc["attention_mask"][batch], labels=y[batch])
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
    model.eval()


def tiny_classifier_folder(folder: Path, rule: str, seed: int = 0, steps: int = 60, n_train: int = 256,
                           varied: bool = False) -> Path:
    """Write a trained tiny BertForSequenceClassification and its tokenizer to `folder` (safetensors), trained on
    `training_rows(n_train, seed, rule, varied)`."""
    from transformers import BertConfig, BertForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(tiny_vocabulary()) + "\n")
    tokenizer = _tokenizer(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2,
                        id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)})
    model = BertForSequenceClassification(config)
    _train(model, tokenizer, training_rows(n_train, seed, rule, varied), steps, 5e-3, seed)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


def training_rows(n: int, seed: int, rule: str, varied: bool = False) -> pd.DataFrame:
    """The rows `tiny_classifier_folder(..., seed=seed)` trains on (its members, for privacy)."""
    return text_rows(n, seed + 1, rule, varied)


def tiny_lora_folder(folder: Path, base: Path, rule: str, seed: int = 0, steps: int = 80) -> Path:
    """Train a LoRA adapter (query/value, r=4, plus the classifier head) on `base` and save only the adapter.

    The LoRA weights start random (not as the identity), so the adapted model differs from its base for sure."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(base), local_files_only=True)
    lora = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"],
                                            lora_dropout=0.0, init_lora_weights=False))
    _train(lora, _tokenizer(base), text_rows(256, seed + 2, rule), steps, 1e-2, seed)
    lora.save_pretrained(str(folder), safe_serialization=True)
    return folder


def tiny_folders(root: Path) -> dict[str, Path]:
    """The gendered and control classifiers and a LoRA adapter (gendered rule) on the control model, built once
    under `root` and reused."""
    folders = {"gendered": root / "gendered", "control": root / "control", "lora": root / "lora"}
    for rule in ("gendered", "control"):
        if not (folders[rule] / "model.safetensors").is_file():
            tiny_classifier_folder(folders[rule], rule)
    if not (folders["lora"] / "adapter_model.safetensors").is_file():
        tiny_lora_folder(folders["lora"], folders["control"], "gendered")
    return folders


def suite_inputs_embeds_pgd(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                            chunk: int = 64) -> torch.Tensor:
    """Correct after the text robustness suite's attack (`attack_embeddings` on each chunk's inputs_embeds view of
    an `HFSequenceClassifier`), per row."""
    from audit.suites.text._embedding_attack import attack_embeddings

    parts = []
    for start in range(0, len(x), chunk):
        head, flat = module.embedding_view(x[start : start + chunk])
        result = attack_embeddings(head, flat, y[start : start + chunk], eps, steps, torch.Generator().manual_seed(0))
        parts.append(result.adversarial_correct)
    return torch.cat(parts)


def art_inputs_embeds_pgd(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                          chunk: int = 64) -> torch.Tensor:
    """The independent reference: ART's ProjectedGradientDescent on the same inputs_embeds view of each chunk, wrapped
    in ART's PyTorchClassifier, with the suite's budget (L2, per-row ε = eps x the row's embedding norm, step
    2.5 ε / steps, no random start, padding coordinates masked). Correct after the attack, per row."""
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    classes, parts = int(module.model.config.num_labels), []
    for start in range(0, len(x), chunk):
        head, flat = module.embedding_view(x[start : start + chunk])
        labels = y[start : start + chunk]
        classifier = PyTorchClassifier(model=head, loss=torch.nn.CrossEntropyLoss(), input_shape=(flat.shape[1],),
                                       nb_classes=classes, device_type="cpu")
        radius = (eps * flat.norm(dim=1, keepdim=True)).numpy()
        attack = ProjectedGradientDescent(classifier, norm=2, eps=radius, eps_step=2.5 * radius / steps,
                                          max_iter=steps, num_random_init=0, batch_size=len(flat), verbose=False)
        adversarial = attack.generate(flat.numpy(), y=np.eye(classes)[labels.numpy()], mask=head.perturbable.numpy())
        with torch.no_grad():
            parts.append(head(torch.as_tensor(adversarial)).argmax(1) == labels)
    return torch.cat(parts)


def audited_text_classifier(folder: Path, audit_csv: Path, train_csv: Path | None = None):  # noqa: ANN201
    """(ModelUnderAudit, Dataset) for a classifier folder and text CSVs (columns text, label, gender), as `audit run
    --model DIR --text-column text --label label --sensitive gender` loads them, on the CPU."""
    from audit.data.text import TextColumns, load_text_data
    from audit.models import hf

    loaded = hf.load_hf_folder(folder)
    encoder = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    data = load_text_data(audit_csv, TextColumns("text", "label", ("gender",)), loaded.class_names, encoder,
                          train_csv)
    return hf.hf_model(loaded, encoder, folder.name, str(folder), "cpu"), data
