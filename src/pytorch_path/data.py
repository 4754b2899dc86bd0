"""Offline datasets: loaders for what ``data/`` ships, and deterministic synthetic generators.

Nothing here downloads anything.

**Shipped data.** ``data/`` holds small real data sets, each listed with its sha256
in ``data/checksums.json``; a loader verifies the file against that list before it
reads a byte of it (:func:`verify_file`) and raises :class:`DataChecksumError` on a
mismatch. The folder is found by :func:`data_dir`: ``$PYTORCH_PATH_DATA`` when set,
else the ``data/`` of the first folder, in the one search order that
:class:`~pytorch_path.curriculum.Project` uses too (the checkout around the working
directory, the checkout of an editable install, an installed wheel's bundle), whose
``data/`` holds ``checksums.json``.

**Synthetic data.** Every generator takes ``seed`` (an ``int``, or a CPU
``torch.Generator`` such as the grader's ``seed.generator()``), draws every number
on the CPU in float64, and only then casts to ``dtype`` and moves to ``device``, so
the same seed gives the same values on every device. Tensors are fresh on every
call; callers may mutate them.

=========================  ===================================================
:func:`load_digits`        the 8x8 handwritten digits (1797 images, 10 classes)
:func:`digits_split`       the digits, split into train / val / test
:func:`make_regression`    a noisy linear relation ``y = X @ w + b + noise``
:func:`make_classification`  Gaussian blobs, one per class, well separated
:func:`make_spirals`       interleaved 2-D spirals: an MLP learns them, a linear model cannot
:func:`make_sequence_task` variable-length token sequences with a content-dependent label
:func:`make_shapes_images` noisy images with one class-defining shape and its evidence mask
=========================  ===================================================
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
import torch

from pytorch_path.locations import candidate_roots

__all__ = [
    "BACKBONE_CLASSES",
    "BACKBONE_FILE",
    "BACKBONE_MEAN",
    "BACKBONE_SIZE",
    "BACKBONE_STD",
    "BACKBONE_WIDTHS",
    "DATA_DIR",
    "DATA_ENV_VAR",
    "PAD_TOKEN",
    "SHAPE_NAMES",
    "DataChecksumError",
    "DataNotFoundError",
    "backbone_images",
    "data_dir",
    "digits_split",
    "expected_sha256",
    "load_digits",
    "make_backbone",
    "make_classification",
    "make_regression",
    "make_sequence_task",
    "make_shapes_images",
    "make_spirals",
    "sha256_file",
    "verify_file",
]

#: Environment variable that points the loaders at another data folder.
DATA_ENV_VAR = "PYTORCH_PATH_DATA"

#: Name of the file in the data folder that lists each shipped file's sha256.
CHECKSUMS_FILE = "checksums.json"

#: File name of the digits inside the data folder.
DIGITS_FILE = "digits.npz"

#: File name of the small pretrained backbone (a state dict) inside the data folder.
BACKBONE_FILE = "backbone.pt"
#: Channel widths of the backbone's stem/layer1, layer2, layer3 and layer4.
BACKBONE_WIDTHS = (16, 32, 64, 128)
#: The digits the backbone was pretrained on (its ``fc`` has one output for each).
BACKBONE_CLASSES = (0, 1, 2, 3, 4)
#: The side, in pixels, of the RGB images the backbone was trained on.
BACKBONE_SIZE = 32
#: Per-channel mean and std the backbone's inputs were normalised with (the same for R, G, B).
BACKBONE_MEAN = (0.3, 0.3, 0.3)
BACKBONE_STD = (0.32, 0.32, 0.32)

#: Token id reserved for padding by :func:`make_sequence_task`; no sequence contains it.
PAD_TOKEN = 0

#: Class names of :func:`make_shapes_images`, indexed by label.
SHAPE_NAMES: tuple[str, ...] = ("square", "cross", "bar")

SeedLike: TypeAlias = int | torch.Generator
"""A seed: an ``int``, or a CPU ``torch.Generator`` (drawn from, so its state advances)."""

DeviceLike: TypeAlias = torch.device | str | None
"""Where returned tensors go; ``None`` means the CPU."""

_RESTORE_HINT = (
    "restore it with `git checkout data/` (or rerun the script in scripts/ that made it)"
)


class DataNotFoundError(FileNotFoundError):
    """The data folder, a data file, or its entry in ``checksums.json`` is missing."""


class DataChecksumError(RuntimeError):
    """A shipped data file does not match the sha256 recorded in ``data/checksums.json``."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path = path
        """The file that failed verification."""
        self.expected = expected
        """The sha256 recorded in ``checksums.json``."""
        self.actual = actual
        """The sha256 of the file as found."""
        super().__init__(
            f"data file {path} failed its checksum: expected sha256 {expected}, "
            f"got {actual}. The file is corrupted or was modified; {_RESTORE_HINT}."
        )

    def __reduce__(self) -> tuple[type[DataChecksumError], tuple[Path, str, str]]:
        """Pickle with the constructor's arguments (so it survives a subprocess boundary)."""
        return (type(self), (self.path, self.expected, self.actual))


# --------------------------------------------------------------------------- data folder


def _holds_data(root: Path) -> bool:
    """Whether ``root/data`` is a data folder (it holds ``checksums.json``)."""
    return (root / "data" / CHECKSUMS_FILE).is_file()


def data_dir() -> Path:
    """Return the folder that holds the shipped data, resolved now.

    ``$PYTORCH_PATH_DATA`` when set (it must be an existing folder) wins. Otherwise
    ``data/`` of the first folder, in the search order of
    :func:`pytorch_path.locations.candidate_roots` (the one ``Project.locate`` uses),
    whose ``data/`` holds ``checksums.json``:

    1. the working directory and every folder above it (the checkout you work in);
    2. every folder above this package (the checkout of an editable install);
    3. the bundle an installed wheel carries (``pytorch_path/_bundle``).

    Raises:
        DataNotFoundError: ``$PYTORCH_PATH_DATA`` names no folder, or no data folder was found.

    """
    override = os.environ.get(DATA_ENV_VAR)
    if override:
        folder = Path(override).expanduser()
        if not folder.is_dir():
            raise DataNotFoundError(f"${DATA_ENV_VAR}={override!r} is not a folder")
        return folder
    for root in candidate_roots():
        if _holds_data(root):
            return root / "data"
    raise DataNotFoundError(
        f"could not find the data folder (a data/ folder holding {CHECKSUMS_FILE}) above "
        f"the working directory, above {Path(__file__).resolve().parent}, or in an installed "
        f"bundle; run from inside the pytorch-path checkout, or set ${DATA_ENV_VAR} to the folder"
    )


def _default_data_dir() -> Path:
    try:
        return data_dir()
    except DataNotFoundError:
        return Path(__file__).resolve().parents[2] / "data"


#: The data folder as resolved when this module was imported (see :func:`data_dir`,
#: which resolves it again on every call and honours later changes to
#: ``$PYTORCH_PATH_DATA``; the loaders use that).
DATA_DIR: Path = _default_data_dir()


def _resolve_dir(folder: str | os.PathLike[str] | None) -> Path:
    return data_dir() if folder is None else Path(folder)


# --------------------------------------------------------------------------- checksums


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_sha256(name: str, *, folder: str | os.PathLike[str] | None = None) -> str:
    """Return the sha256 that ``checksums.json`` records for the data file ``name``.

    Args:
        name: the file's path inside the data folder, with ``/`` separators
            (``"digits.npz"``).
        folder: the data folder; :func:`data_dir` when ``None``.

    Raises:
        DataNotFoundError: ``checksums.json`` is missing or has no entry for ``name``.

    """
    root = _resolve_dir(folder)
    listing = root / CHECKSUMS_FILE
    try:
        parsed = json.loads(listing.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataNotFoundError(f"{listing} is missing; {_RESTORE_HINT}") from None
    except json.JSONDecodeError as exc:
        raise DataNotFoundError(f"{listing} is not valid JSON ({exc}); {_RESTORE_HINT}") from None
    files = parsed.get("files") if isinstance(parsed, dict) else None
    entry = files.get(name) if isinstance(files, dict) else None
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(digest, str):
        raise DataNotFoundError(f"{listing} has no sha256 for {name!r}; {_RESTORE_HINT}")
    return digest


def verify_file(name: str, *, folder: str | os.PathLike[str] | None = None) -> Path:
    """Check the data file ``name`` against ``checksums.json`` and return its path.

    Args:
        name: the file's path inside the data folder (``"digits.npz"``).
        folder: the data folder; :func:`data_dir` when ``None``.

    Raises:
        DataNotFoundError: the file, or its checksum entry, is missing.
        DataChecksumError: the file's sha256 differs from the recorded one.

    """
    root = _resolve_dir(folder)
    path = root / name
    if not path.is_file():
        raise DataNotFoundError(f"data file {path} is missing; {_RESTORE_HINT}")
    expected = expected_sha256(name, folder=root)
    actual = sha256_file(path)
    if actual != expected.lower():
        raise DataChecksumError(path, expected, actual)
    return path


# --------------------------------------------------------------------------- digits


@functools.lru_cache(maxsize=8)
def _verified_digits(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Verify and read the digits once per (file, version); the arrays are read-only."""
    folder = Path(path).parent
    verified = verify_file(Path(path).name, folder=folder)
    with np.load(verified, allow_pickle=False) as archive:
        images = np.array(archive["images"], dtype=np.uint8)
        labels = np.array(archive["labels"], dtype=np.int64)
    if images.ndim != 3 or images.shape[1:] != (8, 8) or labels.shape != images.shape[:1]:
        raise ValueError(f"{verified}: expected images (N, 8, 8) and labels (N,)")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits(
    *,
    normalize: bool = True,
    device: DeviceLike = None,
    folder: str | os.PathLike[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the 8x8 handwritten digits that scikit-learn bundles (from the UCI ML repository).

    The file is checked against ``checksums.json`` the first time it is read in a
    process (and again whenever it changes on disk); later calls reuse the
    verified arrays but return fresh tensors.

    Args:
        normalize: scale pixels from 0..16 to [0, 1] (divide by 16); otherwise keep
            the raw 0..16 values (still float32).
        device: where the tensors go; the CPU when ``None``.
        folder: the data folder; :func:`data_dir` when ``None``.

    Returns:
        ``(images, labels)``: images float32 of shape ``(1797, 1, 8, 8)`` and labels
        int64 of shape ``(1797,)`` with values 0..9.

    Raises:
        DataNotFoundError: the data folder or ``digits.npz`` is missing.
        DataChecksumError: ``digits.npz`` does not match its recorded sha256.

    """
    path = _resolve_dir(folder) / DIGITS_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataNotFoundError(f"data file {path} is missing; {_RESTORE_HINT}") from None
    images_np, labels_np = _verified_digits(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    images = torch.tensor(images_np, dtype=torch.float32).unsqueeze(1)
    if normalize:
        images = images / 16.0
    labels = torch.tensor(labels_np, dtype=torch.int64)
    return images.to(device), labels.to(device)


def digits_split(
    *,
    seed: SeedLike = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    normalize: bool = True,
    device: DeviceLike = None,
    folder: str | os.PathLike[str] | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Load the digits, shuffled under ``seed`` and split into train, val and test.

    The split is a random permutation drawn from a CPU ``torch.Generator``, so it
    is the same on every machine for the same seed. Split sizes are
    ``round(N * fraction)`` for val and test; train gets the rest.

    Args:
        seed: an ``int`` or a CPU ``torch.Generator``.
        val_fraction: share of the images for validation, in [0, 1).
        test_fraction: share of the images for testing, in [0, 1).
        normalize: as in :func:`load_digits`.
        device: where the tensors go; the CPU when ``None``.
        folder: the data folder; :func:`data_dir` when ``None``.

    Returns:
        ``{"train": (images, labels), "val": (...), "test": (...)}``.

    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must each be in "
            "[0, 1) and leave some data for training"
        )
    images, labels = load_digits(normalize=normalize, folder=folder)
    n = len(labels)
    order = torch.randperm(n, generator=_generator(seed))
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    parts = {
        "train": order[n_val + n_test :],
        "val": order[n_test : n_test + n_val],
        "test": order[:n_test],
    }
    return {name: (images[idx].to(device), labels[idx].to(device)) for name, idx in parts.items()}


# --------------------------------------------------------------------------- synthetic data


def _generator(seed: SeedLike) -> torch.Generator:
    """Return a CPU generator: ``seed`` itself when it is one, else one seeded with it."""
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ValueError(
                f"seed must be an int or a CPU torch.Generator, got a generator on {seed.device}; "
                "the generators draw on the CPU so values match across devices"
            )
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def _balanced_labels(n: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Return ``n`` shuffled labels, as equal per class as possible."""
    labels = torch.arange(n, dtype=torch.int64) % num_classes
    return labels[torch.randperm(n, generator=gen)]


def make_regression(
    n: int,
    d: int,
    *,
    noise: float = 0.1,
    seed: SeedLike = 0,
    device: DeviceLike = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Make a noisy linear relation ``y = X @ true_w + true_b + noise * eps``.

    ``X``, ``true_w``, ``true_b`` and ``eps`` are standard normal draws.

    Args:
        n: number of samples.
        d: number of features.
        noise: standard deviation of the additive Gaussian noise (0 for exact data).
        seed: an ``int`` or a CPU ``torch.Generator``.
        device: where the tensors go; the CPU when ``None``.
        dtype: floating dtype of every returned tensor.

    Returns:
        ``(X, y, true_w, true_b)`` with shapes ``(n, d)``, ``(n,)``, ``(d,)`` and ``()``.

    """
    _check_positive(n=n, d=d)
    gen = _generator(seed)
    f64 = torch.float64
    true_w = torch.randn(d, generator=gen, dtype=f64)
    true_b = torch.randn((), generator=gen, dtype=f64)
    x = torch.randn(n, d, generator=gen, dtype=f64)
    y = x @ true_w + true_b + noise * torch.randn(n, generator=gen, dtype=f64)
    return (
        x.to(device=device, dtype=dtype),
        y.to(device=device, dtype=dtype),
        true_w.to(device=device, dtype=dtype),
        true_b.to(device=device, dtype=dtype),
    )


def _class_centres(num_classes: int, d: int, spacing: float, gen: torch.Generator) -> torch.Tensor:
    """Place ``num_classes`` centres in ``d`` dimensions, every pair ``spacing`` or more apart."""
    f64 = torch.float64
    if d == 1:
        centres = (torch.arange(num_classes, dtype=f64) - (num_classes - 1) / 2) * spacing
        return centres[torch.randperm(num_classes, generator=gen)].unsqueeze(1)
    # A random orthonormal basis (QR of a Gaussian matrix, signs fixed for uniqueness).
    q, r = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=f64))
    q = q * torch.sign(torch.diagonal(r))
    if num_classes <= d:
        # Corners of a simplex: pairwise distance is exactly `spacing`.
        corners: torch.Tensor = q.T[:num_classes] * (spacing / math.sqrt(2))
        return corners
    # More classes than dimensions: evenly spaced on a circle in a random plane.
    radius = spacing / (2 * math.sin(math.pi / num_classes))
    angles = 2 * math.pi * torch.arange(num_classes, dtype=f64) / num_classes
    angles = angles + 2 * math.pi * torch.rand((), generator=gen, dtype=f64)
    circle = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1) * radius
    placed: torch.Tensor = circle @ q.T[:2]
    return placed


def make_classification(
    n: int,
    d: int,
    num_classes: int,
    *,
    separation: float = 5.0,
    seed: SeedLike = 0,
    device: DeviceLike = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Make Gaussian blobs: one unit-variance blob per class, centres well apart.

    Every pair of class centres is at least ``separation`` standard deviations
    apart (corners of a simplex when ``num_classes <= d``, else evenly spaced on a
    circle in a random plane), so with the default the classes overlap only in
    their far tails: a logistic regression or a small MLP reaches well over 90%
    accuracy within ~100 steps. Classes are balanced (sizes differ by at most one)
    and shuffled.

    Args:
        n: number of samples.
        d: number of features.
        num_classes: number of classes (labels ``0 .. num_classes - 1``).
        separation: least distance between two class centres, in noise standard
            deviations; lower it to make the task harder.
        seed: an ``int`` or a CPU ``torch.Generator``.
        device: where the tensors go; the CPU when ``None``.
        dtype: floating dtype of ``X``.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, d)`` and int64 labels ``y`` of shape ``(n,)``.

    """
    _check_positive(n=n, d=d, num_classes=num_classes)
    gen = _generator(seed)
    centres = _class_centres(num_classes, d, separation, gen)
    y = _balanced_labels(n, num_classes, gen)
    x = centres[y] + torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x.to(device=device, dtype=dtype), y.to(device)


def make_spirals(
    n: int,
    num_classes: int = 2,
    *,
    turns: float = 1.0,
    noise: float = 0.05,
    seed: SeedLike = 0,
    device: DeviceLike = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Make interleaved 2-D spiral arms, one per class: no linear model separates them.

    Arm ``k`` starts near the origin and winds outwards ``turns`` times to radius 1,
    rotated by ``2 * pi * k / num_classes`` from arm 0. A small MLP (two hidden
    layers of 32 or so) learns it to over 90% accuracy in a few hundred Adam
    steps; a linear classifier cannot do much better than guessing the majority
    of a half-plane.

    Args:
        n: number of points.
        num_classes: number of arms (and classes).
        turns: how many times each arm winds around the origin.
        noise: standard deviation of Gaussian jitter added to each coordinate.
        seed: an ``int`` or a CPU ``torch.Generator``.
        device: where the tensors go; the CPU when ``None``.
        dtype: floating dtype of ``X``.

    Returns:
        ``(X, y)``: points ``X`` of shape ``(n, 2)`` and int64 labels ``y`` of shape ``(n,)``.

    """
    _check_positive(n=n, num_classes=num_classes)
    gen = _generator(seed)
    f64 = torch.float64
    y = _balanced_labels(n, num_classes, gen)
    # Radius uniform in [0.1, 1]: points spread along the whole arm.
    radius = 0.1 + 0.9 * torch.rand(n, generator=gen, dtype=f64)
    angle = 2 * math.pi * (turns * radius + y.to(f64) / num_classes)
    x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    x = x + noise * torch.randn(n, 2, generator=gen, dtype=f64)
    return x.to(device=device, dtype=dtype), y.to(device)


def make_sequence_task(
    n: int,
    *,
    task: Literal["order", "last"] = "order",
    vocab_size: int = 12,
    min_len: int = 4,
    max_len: int = 16,
    seed: SeedLike = 0,
    device: DeviceLike = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Make variable-length token sequences with a binary label that depends on their content.

    Tokens are ``1 .. vocab_size - 1``; ``0`` (:data:`PAD_TOKEN`) never occurs, so it
    is free for padding. Token ``1`` is "A", token ``2`` is "B", the rest are filler.
    Labels are balanced (counts differ by at most one). Tasks:

    * ``"order"``: every sequence holds exactly one A and one B elsewhere among
      filler; the label is 1 when A comes before B. A bag of words cannot solve
      it; an LSTM or attention model can.
    * ``"last"``: A occurs anywhere; the label is 1 when the *last real token* is A.
      A model that reads the state at a padded position instead of each sequence's
      true end (forgetting ``pack_padded_sequence`` or the lengths) fails it.

    Args:
        n: number of sequences.
        task: ``"order"`` or ``"last"``.
        vocab_size: number of token ids including the padding id 0 (at least 4).
        min_len: shortest sequence (at least 2).
        max_len: longest sequence.
        seed: an ``int`` or a CPU ``torch.Generator``.
        device: where the tensors go; the CPU when ``None``.

    Returns:
        ``(sequences, labels)``: a list of ``n`` 1-D int64 tensors of lengths in
        ``[min_len, max_len]``, and int64 labels of shape ``(n,)`` with values 0 or 1.

    """
    _check_positive(n=n)
    if task not in ("order", "last"):
        raise ValueError(f"task must be 'order' or 'last', got {task!r}")
    if vocab_size < 4:
        raise ValueError(f"vocab_size must be at least 4 (pad, A, B, a filler), got {vocab_size}")
    if not 2 <= min_len <= max_len:
        raise ValueError(f"need 2 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    gen = _generator(seed)
    token_a, token_b, first_filler = 1, 2, 3
    labels = _balanced_labels(n, 2, gen)
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=gen)
    sequences: list[torch.Tensor] = []
    for label, length in zip(labels.tolist(), lengths.tolist(), strict=True):
        if task == "order":
            seq = torch.randint(first_filler, vocab_size, (length,), generator=gen)
            first, second = torch.randperm(length, generator=gen)[:2].sort().values.tolist()
            seq[first], seq[second] = (token_a, token_b) if label == 1 else (token_b, token_a)
        else:
            # Any non-pad token, A included, may appear before the end.
            seq = torch.randint(token_a, vocab_size, (length,), generator=gen)
            if label == 1:
                seq[-1] = token_a
            else:
                seq[-1] = torch.randint(token_b, vocab_size, (), generator=gen)
        sequences.append(seq.to(device))
    return sequences, labels.to(device)


def _shape_mask(label: int, k: int, vertical: bool) -> torch.Tensor:
    """Draw the ``k x k`` boolean stencil of shape ``SHAPE_NAMES[label]``."""
    mask = torch.zeros(k, k, dtype=torch.bool)
    mid = k // 2
    if label == 0:  # square outline
        mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True
    elif label == 1:  # cross (plus sign)
        mask[mid, :] = mask[:, mid] = True
    elif vertical:  # bar, either orientation
        mask[:, mid] = True
    else:
        mask[mid, :] = True
    return mask


def make_shapes_images(
    n: int,
    *,
    size: int = 16,
    noise: float = 0.1,
    seed: SeedLike = 0,
    device: DeviceLike = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Make small noisy images, each showing one class-defining shape at a random place.

    Classes (:data:`SHAPE_NAMES`): 0 a square outline, 1 a cross (plus sign),
    2 a straight bar, horizontal or vertical at random. Each shape spans a
    ``k x k`` box with ``k = max(3, size // 3) | 1`` (odd, so the cross has a
    centre), placed uniformly at random inside the image. Shape pixels are 1 and
    the background 0, plus Gaussian noise of std ``noise``, clipped to [0, 1].
    The returned mask marks exactly the shape's pixels: the evidence that an
    attribution method such as Grad-CAM should highlight. Labels are balanced.

    Args:
        n: number of images.
        size: height and width in pixels (at least 5).
        noise: standard deviation of the pixel noise.
        seed: an ``int`` or a CPU ``torch.Generator``.
        device: where the tensors go; the CPU when ``None``.
        dtype: floating dtype of the images.

    Returns:
        ``(images, labels, mask)``: images of shape ``(n, 1, size, size)`` in [0, 1],
        int64 labels of shape ``(n,)``, and a bool mask of shape ``(n, size, size)``.

    """
    _check_positive(n=n)
    if size < 5:
        raise ValueError(f"size must be at least 5, got {size}")
    gen = _generator(seed)
    k = max(3, size // 3) | 1
    labels = _balanced_labels(n, len(SHAPE_NAMES), gen)
    rows = torch.randint(0, size - k + 1, (n,), generator=gen)
    cols = torch.randint(0, size - k + 1, (n,), generator=gen)
    vertical = torch.rand(n, generator=gen) < 0.5
    stencils = [_shape_mask(label, k, False) for label in range(len(SHAPE_NAMES))]
    vertical_bar = _shape_mask(2, k, True)
    mask = torch.zeros(n, size, size, dtype=torch.bool)
    for i, (label, r, c, vert) in enumerate(
        zip(labels.tolist(), rows.tolist(), cols.tolist(), vertical.tolist(), strict=True)
    ):
        stencil = vertical_bar if (label == 2 and vert) else stencils[label]
        mask[i, r : r + k, c : c + k] = stencil
    pixels = mask.to(torch.float64) + noise * torch.randn(
        n, size, size, generator=gen, dtype=torch.float64
    )
    images = pixels.clamp(0.0, 1.0).unsqueeze(1)
    return images.to(device=device, dtype=dtype), labels.to(device), mask.to(device)


# --------------------------------------------------------------------------- backbone


def make_backbone(num_classes: int = len(BACKBONE_CLASSES)) -> torch.nn.Module:
    """The architecture of the shipped backbone, randomly initialised: a narrow ResNet.

    A ``torchvision.models.ResNet`` of :class:`~torchvision.models.resnet.BasicBlock`
    with one block per stage and the widths :data:`BACKBONE_WIDTHS`, so its children
    have ``resnet18``'s names (``conv1``, ``bn1``, ``relu``, ``maxpool``, ``layer1`` …
    ``layer4``, ``avgpool``, ``fc``) and the surgery code written for it is the code
    one writes for ``resnet18``. Its weights are in ``data/backbone.pt``
    (:data:`BACKBONE_FILE`): load them with ``torch.load(..., weights_only=True)`` and
    ``load_state_dict(..., strict=True)``. Nothing is downloaded.
    """
    from torchvision.models.resnet import BasicBlock, ResNet

    # ResNet() first builds resnet18's full widths (5M parameters, 0.2 s of initialisation);
    # on the meta device they cost nothing, and every layer with weights is replaced below.
    with torch.device("meta"):
        model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
    w1, w2, w3, w4 = BACKBONE_WIDTHS
    model.inplanes = w1
    model.conv1 = torch.nn.Conv2d(3, w1, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = torch.nn.BatchNorm2d(w1)
    model.layer1 = model._make_layer(BasicBlock, w1, 1)
    model.layer2 = model._make_layer(BasicBlock, w2, 1, stride=2)
    model.layer3 = model._make_layer(BasicBlock, w3, 1, stride=2)
    model.layer4 = model._make_layer(BasicBlock, w4, 1, stride=2)
    model.fc = torch.nn.Linear(w4, num_classes)
    for module in model.modules():  # torchvision's own initialisation, for the new layers
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)
    backbone: torch.nn.Module = model
    return backbone


def backbone_images(images: torch.Tensor) -> torch.Tensor:
    """Digits ``(N, 1, 8, 8)`` in [0, 1] as the backbone's inputs: ``(N, 3, 32, 32)``, normalised.

    Bilinear upsampling to :data:`BACKBONE_SIZE`, the grey channel repeated as R, G
    and B, then ``(x - BACKBONE_MEAN) / BACKBONE_STD`` per channel.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected grey images (N, 1, H, W), got shape {tuple(images.shape)}")
    big = torch.nn.functional.interpolate(
        images.float(), size=(BACKBONE_SIZE, BACKBONE_SIZE), mode="bilinear", align_corners=False
    )
    rgb = big.repeat(1, 3, 1, 1)
    mean = torch.tensor(BACKBONE_MEAN, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(BACKBONE_STD, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std
