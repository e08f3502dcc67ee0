"""A tiny Hugging Face image classifier for tests, built from a config and trained for a few steps.

A 2-layer ViT (hidden 32, 8x8 patches of 32x32 images) learns the colour of a bright square placed anywhere on a
dark, noisy picture (red, green or blue: the class is visible); it is saved with `save_pretrained` (safetensors)
beside a ViTImageProcessor (resize to 32x32, rescale, normalise by mean/std 0.5). The images are written as 40x40
PNG files (so the processor really resizes) with a CSV naming them, their class and a "site" column (site "b"
pictures have a brighter background) for the fairness suites. Training runs on one torch thread (a 2-core machine
shared by many processes is far slower with more).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

CLASSES = ("red", "green", "blue")
SIDE = 40  # pixels of the written PNG files
MODEL_SIDE = 32  # pixels the processor resizes to


def square_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, SIDE, SIDE, 3) uint8 pictures, their class indices and sites ("a"/"b")."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    sites = np.where(rng.random(n) < 0.5, "a", "b")
    images = rng.uniform(0, 70, size=(n, SIDE, SIDE, 3)) + np.where(sites == "b", 40.0, 0.0)[:, None, None, None]
    square = 14
    for i, label in enumerate(labels):
        top, left = rng.integers(0, SIDE - square, 2)
        images[i, top : top + square, left : left + square, label] += rng.uniform(140, 185)
    return np.clip(images, 0, 255).astype(np.uint8), labels, sites


def write_image_csv(folder: Path, n: int, seed: int, name: str = "images.csv") -> Path:
    """PNG files under folder/png-<seed>/ and folder/<name> with columns path, label (class names), site."""
    from PIL import Image

    images, labels, sites = square_images(n, seed)
    sub = folder / f"png-{seed}"
    sub.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(sub / f"{i:04d}.png")
        paths.append(f"{sub.name}/{i:04d}.png")
    frame = pd.DataFrame({"path": paths, "label": [CLASSES[k] for k in labels], "site": sites})
    frame.to_csv(folder / name, index=False)
    return folder / name


def write_image_folder(folder: Path, n: int, seed: int) -> Path:
    """An ImageFolder layout: folder/<class name>/<index>.png."""
    from PIL import Image

    images, labels, _ = square_images(n, seed)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / CLASSES[label] / f"{i:04d}.png")
    return folder


def _processor():  # noqa: ANN202 - a transformers image processor
    from transformers import ViTImageProcessor

    return ViTImageProcessor(do_resize=True, size={"height": MODEL_SIDE, "width": MODEL_SIDE},
                             image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def tiny_vit_folder(folder: Path, seed: int = 0, steps: int = 35, n_train: int = 256) -> Path:
    """Write a trained tiny ViTForImageClassification and its ViTImageProcessor to `folder` (safetensors)."""
    from transformers import ViTConfig, ViTForImageClassification

    folder.mkdir(parents=True, exist_ok=True)
    processor = _processor()
    torch.manual_seed(seed)
    config = ViTConfig(image_size=MODEL_SIDE, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, num_labels=len(CLASSES),
                       id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)})
    model = ViTForImageClassification(config)
    images, labels, _ = square_images(n_train, seed + 1)
    pixels = processor(images=list(images), return_tensors="pt")["pixel_values"]
    _train(model, pixels, torch.as_tensor(labels), steps, seed)
    model.save_pretrained(str(folder), safe_serialization=True)
    processor.save_pretrained(str(folder))
    return folder


def _train(model: torch.nn.Module, pixels: torch.Tensor, y: torch.Tensor, steps: int, seed: int) -> None:
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    generator = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model.train()
    try:
        for _ in range(steps):
            batch = torch.randperm(len(y), generator=generator)[:32]
            loss = model(pixel_values=pixels[batch], labels=y[batch]).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
        model.eval()


def tiny_vit_lora_folder(folder: Path, base: Path, seed: int = 0, steps: int = 20) -> Path:
    """A LoRA adapter (query and value projections, r=4, plus the classifier head) trained on `base`; only the
    adapter is saved."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(str(base), local_files_only=True)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                                            modules_to_save=["classifier"], init_lora_weights=False))
    images, labels, _ = square_images(128, seed + 2)
    pixels = _processor()(images=list(images), return_tensors="pt")["pixel_values"]
    torch.manual_seed(seed)
    _train(lora, pixels, torch.as_tensor(labels), steps, seed)
    lora.save_pretrained(str(folder), safe_serialization=True)
    return folder
