"""4.8 Fine-tune from an ImageFolder tree, keep the best epoch.

Write organize_val_folder, make_loaders and fine_tune below, then run ``make check ex=4.8``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def organize_val_folder(
    val_dir: str | os.PathLike[str], annotations: str = "val_annotations.txt"
) -> int:
    """Move a flat validation folder's images into one sub-folder per class; return how many.

    A validation set often arrives flat, as Tiny-ImageNet's does::

        val_dir/
            val_annotations.txt      one line per image: "<file name>\\t<class>[\\t...]"
            images/val_0.png
            images/val_1.png ...

    ``torchvision.datasets.ImageFolder`` needs ``val_dir/<class>/<file name>`` instead.
    ``annotations`` is the annotation file's name inside ``val_dir``. Each line is split
    on tab characters; the first field is the image's file name inside ``images/``, the
    second its class; further fields (Tiny-ImageNet's bounding boxes) are ignored; fields
    are stripped of surrounding whitespace. Blank (or whitespace-only) lines are skipped.
    For every listed image, in the file's order:

    - ``images/<name>`` exists: it is moved to ``<class>/<name>`` (the class folder is
      created when needed; the file's bytes are unchanged) and counted;
    - otherwise ``<class>/<name>`` exists: it is already in place (from an earlier call)
      and is left alone, not counted;
    - neither exists: ``FileNotFoundError`` whose message contains the file name.

    Every line is checked before anything moves, so a call that raises has changed
    nothing. A non-blank line with fewer than two non-empty fields raises ``ValueError``
    whose message contains ``line N`` (N counts the file's lines from 1, blank ones
    included). An image in ``images/`` that is not listed stays where it is. When
    ``images/`` is empty at the end of the call it is removed (``ImageFolder`` would take
    it for a class without images); the annotation file stays. ``val_dir`` is a ``str``
    or a path.

    So the call is idempotent: a second call moves nothing, returns 0 and changes nothing.
    Returns the number of files moved by this call, an ``int``.
    """
    # TODO(4.8): check every annotation line first, then shutil.move; drop an empty images/.
    raise NotImplementedError("4.8: organize_val_folder")


def make_loaders(
    root: str | os.PathLike[str], *, batch_size: int = 32, seed: int = 0
) -> tuple[DataLoader, DataLoader, dict[str, int]]:
    """Loaders over ``root/train`` and ``root/val``, two ``ImageFolder`` trees of grey PNGs.

    Both sets are ``torchvision.datasets.ImageFolder(root / split, transform=t)`` with its
    default loader (PIL, which opens every image as RGB) and the same transform ``t``
    (no augmentation), which turns one image into exactly what
    ``pytorch_path.data.backbone_images`` makes of its pixels ``u`` (``uint8``):
    ``backbone_images(u / 255)``, a float32 ``(3, 32, 32)`` tensor, equal within 1e-5
    (absolute). The pipeline that does it::

        v2.Compose([
            v2.Grayscale(num_output_channels=1),    # on the PIL image: exact for grey pixels
            v2.ToImage(),                           # (1, 8, 8) uint8
            v2.ToDtype(torch.float32, scale=True),  # [0, 1]
            v2.Resize((32, 32), interpolation=v2.InterpolationMode.BILINEAR,
                      antialias=False),             # = F.interpolate(bilinear,
                                                    #   align_corners=False)
            v2.RGB(),                               # the grey channel repeated 3 times
            v2.Normalize(BACKBONE_MEAN, BACKBONE_STD),
        ])

    Mind the order of the first two: ``v2.Grayscale`` on a ``uint8`` tensor rounds
    ``0.2989 r + 0.587 g + 0.114 b`` down, one grey level too dark; on the PIL image it is
    exact.

    - The train loader: ``DataLoader(train_set, batch_size=batch_size, shuffle=True,
      generator=torch.Generator().manual_seed(seed))``: a new order every epoch, the same
      orders for the same ``seed``, whatever torch's global RNG holds.
    - The val loader: ``DataLoader(val_set, batch_size=batch_size, shuffle=False)``:
      always ImageFolder's order (classes sorted by name, files sorted by name).
    - Both keep the smaller last batch; images are float32 ``(B, 3, 32, 32)``, labels
      int64 ``(B,)``; ``num_workers=0``.
    - The class mapping is the train set's ``class_to_idx`` (folder names sorted as
      strings, each mapped to its index). When the val set's ``class_to_idx`` differs (a
      class missing or extra), ``ValueError``. ``batch_size < 1`` raises ``ValueError``
      (``DataLoader`` checks it); ``batch_size=1`` is fine.

    Returns ``(train_loader, val_loader, class_to_idx)``, the mapping a plain ``dict``.
    """
    # TODO(4.8): two ImageFolders, one v2.Compose; compare class_to_idx; seed the shuffle.
    raise NotImplementedError("4.8: make_loaders")


def fine_tune(
    model: nn.Module,
    train_loader: Batches,
    val_loader: Batches,
    *,
    epochs: int = 3,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """Fine-tune a classifier, validating after every epoch; keep the best epoch's weights.

    ``model`` maps a batch ``x`` to logits ``(B, classes)``; it is moved to ``device``
    first (``model.to(device)``). The loaders are iterables of ``(x, y)`` batches (a
    ``DataLoader`` or any iterable that can be iterated again), each iterated once per
    epoch; their batches may be on the CPU: move ``x`` and ``y`` to ``device``. Do not
    assume ``.dataset`` exists: count samples as you go. Each yields at least one batch.

    - The optimizer: ``torch.optim.Adam`` over the parameters that require grad (a frozen
      part stays frozen), with ``lr``; the loss: ``F.cross_entropy(logits, y)`` (a mean).
    - Each epoch has two phases, in this order, each a loop over its loader:

      * ``"train"``: ``model.train()``, under ``torch.set_grad_enabled(True)``; per batch
        one forward, the loss, ``zero_grad()``, ``backward()``, ``step()``;
      * ``"val"``: ``model.eval()`` (Dropout off, BatchNorm uses and does not update its
        running statistics), under ``torch.set_grad_enabled(False)``: no graph, no
        ``backward``, no step. The val phase changes nothing in the model.

    - ``history``: one dict per epoch, ``{"epoch": e, "train_loss": ..., "val_loss": ...,
      "val_acc": ...}`` with ``e`` an ``int`` counting from 1 and Python floats: the
      losses are per-sample means (each batch's ``loss.item()`` weighted by its size; for
      training, taken before that batch's update), ``val_acc`` the fraction (0 to 1) of
      val samples with ``logits.argmax(dim=1) == y``.
    - The best epoch is the one with the highest ``val_acc``; on a tie the earliest wins.
      When an epoch is the best so far, keep a copy of its weights,
      ``copy.deepcopy(model.state_dict())``: ``state_dict()`` alone holds references to
      the live tensors, which later epochs keep changing.
    - At the end the model loads the best epoch's weights (``load_state_dict``), so what
      is returned is what the model holds; it stays on ``device``, in eval mode.

    The history and the weights are compared with a correct run of exactly this loop (the
    same batches, torch's global RNG seeded the same way) within 1e-4 (relative): one
    forward per batch, no extra forward passes, Adam's defaults besides ``lr``, and no
    other draws from the global RNG (Dropout's masks come from it).

    Raises ``ValueError`` when ``epochs < 1``. Returns ``(best_state, history)``:
    ``best_state`` maps every key of ``model.state_dict()`` (parameters and buffers) to
    a CPU tensor that shares no memory with the model (``.cpu()`` of a CPU tensor is the
    same tensor: copy first).
    """
    # TODO(4.8): Adam; per epoch a train and a val phase; deepcopy the best; load it at the end.
    raise NotImplementedError("4.8: fine_tune")
