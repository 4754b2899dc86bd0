"""4.1 Load a pretrained backbone, offline and safely (reference solution)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from pytorch_path import data


def load_backbone(
    path: str | os.PathLike[str] | None = None, *, expected_sha256: str | None = None
) -> nn.Module:
    """Load the shipped pretrained backbone (or another checkpoint of its architecture), safely.

    In this order:

    1. ``path`` (a ``str`` or any path-like) defaults to
       ``pytorch_path.data.data_dir() / pytorch_path.data.BACKBONE_FILE``, resolved when the
       function is called (so a ``$PYTORCH_PATH_DATA`` set after import is honoured).
    2. A missing file raises ``FileNotFoundError`` whose message names the path.
    3. The file's sha256 (``hashlib.sha256``, fed the file in chunks, never read whole) is
       compared with ``expected_sha256`` or, when that is ``None``, with
       ``pytorch_path.data.expected_sha256(pytorch_path.data.BACKBONE_FILE)``: the digest
       ``data/checksums.json`` records for the shipped backbone, whatever ``path`` is.
       Hex digests compare case-insensitively. A mismatch raises ``ValueError`` whose
       message names the file and gives the expected and the actual digest (64 hex
       characters each), and it is raised before a byte of the file is unpickled.
    4. ``torch.load(path, map_location="cpu", weights_only=True)``: a checkpoint that holds
       anything but tensors and plain containers is refused (the ``UnpicklingError``
       propagates), never executed; a checkpoint written on a GPU loads on a CPU-only machine.
    5. ``pytorch_path.data.make_backbone()`` receives the state with
       ``load_state_dict(state, strict=True)``: a missing or unexpected key raises (torch's
       ``RuntimeError`` naming it propagates); nothing is silently ignored.

    Returns:
        The model (a ``torchvision.models.ResNet``) on the CPU, in eval mode: ``training`` is
        False for it and for every submodule.

    """
    file = Path(data.data_dir() / data.BACKBONE_FILE if path is None else path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint at {file}")
    want = (expected_sha256 or data.expected_sha256(data.BACKBONE_FILE)).lower()
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    got = digest.hexdigest()
    if got != want:
        raise ValueError(
            f"{file} failed its checksum: expected sha256 {want}, got {got}; the file is "
            "corrupted or is not the checkpoint you meant, so it was not loaded"
        )
    state = torch.load(file, map_location="cpu", weights_only=True)
    model = data.make_backbone()
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_torchvision_resnet18(hub_dir: str | os.PathLike[str] | None = None) -> nn.Module:
    """torchvision's ``resnet18`` with its ImageNet weights, only if they are already on disk.

    The weights file is ``resnet18-f37072fd.pth``, the last component of
    ``torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url`` and the name under which
    ``torch.hub`` caches it. It is looked for in ``Path(hub_dir) / "checkpoints"``, where
    ``hub_dir`` (a ``str`` or any path-like) defaults to ``torch.hub.get_dir()``, resolved
    when the function is called.

    - Present: build ``torchvision.models.resnet18(weights=None)`` and load the file with
      ``torch.load(file, map_location="cpu", weights_only=True)`` and
      ``load_state_dict(..., strict=True)`` (a file that pickles code is refused, never run;
      a missing or unexpected key raises). Return the model in eval mode.
    - Absent: raise ``FileNotFoundError`` with one sentence that names the file name
      (``resnet18-f37072fd.pth``) and the folder to place it in (the ``checkpoints``
      folder above, as a path).

    Never download. Do not pass ``weights=`` to ``resnet18`` and do not call
    ``torch.hub.load_state_dict_from_url`` or ``torch.hub.download_url_to_file``: the grader
    replaces them (and torchvision's references to them, and ``urlopen``) with functions
    that refuse, and any attempt fails the test with "no download is allowed". No checksum
    is checked here.

    Returns:
        The ``torchvision.models.ResNet`` (1000 classes) on the CPU, in eval mode.

    """
    folder = Path(torch.hub.get_dir() if hub_dir is None else hub_dir) / "checkpoints"
    name = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name
    file = folder / name
    if not file.is_file():
        raise FileNotFoundError(
            f"{name} is not in {folder}: download it once on a machine with internet "
            f"access and put it in that folder (nothing is downloaded here)"
        )
    model = torchvision.models.resnet18(weights=None)
    state = torch.load(file, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
