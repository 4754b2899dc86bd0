"""Pretrain the small backbone that stage 4 fine-tunes, and write ``data/backbone.pt``.

Run by a maintainer, from the checkout, with the project's environment::

    .venv/bin/python scripts/pretrain_backbone.py          # (re)write data/backbone.pt
    .venv/bin/python scripts/pretrain_backbone.py --check  # retrain, compare, write nothing

The backbone is :func:`pytorch_path.data.make_backbone` (a narrow torchvision ResNet with
``resnet18``'s child names) trained on the shipped 8x8 digits of classes 0-4 only, upsampled
to 32x32 RGB by :func:`pytorch_path.data.backbone_images`. Digits 5-9 are what stage 4's
learners transfer it to. Training is single-threaded, seeded and deterministic, and
``torch.save`` writes the same bytes for the same tensors, so the script reproduces the
shipped file's sha256 exactly (with the same torch version on the same kind of CPU). It
records the sha256 and size in ``data/checksums.json``, keeping the other entries, and
prints the held-out accuracy. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import torch

from pytorch_path.data import (
    BACKBONE_CLASSES,
    BACKBONE_FILE,
    CHECKSUMS_FILE,
    backbone_images,
    load_digits,
    make_backbone,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
EPOCHS = 12
BATCH = 64
LR = 3e-3


def train() -> tuple[dict[str, torch.Tensor], float]:
    """Train the backbone; return its state dict and the accuracy on held-out digits 0-4."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    images, labels = load_digits(folder=ROOT / "data")
    keep = torch.isin(labels, torch.tensor(BACKBONE_CLASSES))
    x, y = backbone_images(images[keep]), labels[keep]
    gen = torch.Generator().manual_seed(SEED)
    order = torch.randperm(len(y), generator=gen)
    cut = int(0.8 * len(y))
    train_idx, test_idx = order[:cut], order[cut:]
    model = make_backbone()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        model.train()
        for batch in train_idx[torch.randperm(len(train_idx), generator=gen)].split(BATCH):
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x[test_idx]).argmax(1) == y[test_idx]).float().mean().item()
    state = {
        name: tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()
    }
    return state, accuracy


def state_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """The checkpoint's bytes, as ``torch.save`` writes them."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Train, then write (or with ``--check`` compare) the checkpoint and its checksum."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with data/, write nothing")
    args = parser.parse_args(argv)
    state, accuracy = train()
    data = state_bytes(state)
    entry = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    checksums_path = ROOT / "data" / CHECKSUMS_FILE
    checksums = json.loads(checksums_path.read_text(encoding="utf-8"))
    print(f"held-out accuracy on digits 0-4: {accuracy:.3f}; sha256 {entry['sha256']}")
    if args.check:
        recorded = checksums["files"].get(BACKBONE_FILE)
        if recorded != entry:
            print(f"{checksums_path} records {recorded}, retrained {entry}", file=sys.stderr)
            return 1
        print("the shipped backbone is reproduced exactly")
        return 0
    (ROOT / "data" / BACKBONE_FILE).write_bytes(data)
    checksums["files"][BACKBONE_FILE] = entry
    checksums_path.write_text(json.dumps(checksums, indent=2) + "\n", encoding="utf-8")
    print(f"wrote data/{BACKBONE_FILE} ({len(data)} bytes) and updated {CHECKSUMS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
