"""Tests for ``pytorch_path.data``: the shipped digits, their checksum, and the generators."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import pytest
import torch
from torch import nn

from pytorch_path import data
from pytorch_path.data import DataChecksumError, DataNotFoundError

ROOT = Path(__file__).resolve().parents[1]
REPO_DATA = ROOT / "data"


@pytest.fixture(autouse=True)
def _no_data_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the repo's own data/, whatever the caller's environment says."""
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of data/ that a test may damage."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("digits.npz", "checksums.json"):
        shutil.copy2(REPO_DATA / name, folder / name)
    return folder


def _corrupt(path: Path) -> None:
    """Flip one byte in the middle of the file: inside the image array, so it still parses."""
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> float:
    """Full-batch Adam on cross-entropy; the final training accuracy."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


# --------------------------------------------------------------------------- data folder, checksums


def test_data_dir_is_the_repo_data_folder() -> None:
    assert data.data_dir().resolve() == REPO_DATA.resolve()
    assert data.DATA_DIR.resolve() == REPO_DATA.resolve()


def test_data_dir_found_from_cwd(monkeypatch: pytest.MonkeyPatch, data_copy: Path) -> None:
    """The checkout around the working directory comes first, as for ``Project.locate``."""
    deeper = data_copy.parent / "a" / "b"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    assert data.data_dir() == data_copy.resolve()


def test_data_dir_falls_back_to_the_package_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No data/ around the working directory: the checkout this package lives in."""
    monkeypatch.chdir(tmp_path)
    assert data.data_dir().resolve() == REPO_DATA.resolve()


def test_data_dir_follows_the_project_search_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """data_dir takes the first of Project.search_roots whose data/ holds checksums.json."""
    from pytorch_path.curriculum import BUNDLE_DIR, Project

    monkeypatch.chdir(tmp_path)
    roots = list(Project.search_roots())
    assert roots[0] == tmp_path.resolve()
    assert roots[-1] == BUNDLE_DIR
    assert len(roots) == len(set(roots))
    first = next(r for r in roots if (r / "data" / "checksums.json").is_file())
    assert data.data_dir() == first / "data"


def test_env_var_overrides_data_dir(monkeypatch: pytest.MonkeyPatch, data_copy: Path) -> None:
    """$PYTORCH_PATH_DATA wins, even over the checkout around the working directory."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv(data.DATA_ENV_VAR, str(data_copy))
    assert data.data_dir() == data_copy
    images, _ = data.load_digits()
    assert images.shape == (1797, 1, 8, 8)


def test_env_var_pointing_nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(DataNotFoundError, match=data.DATA_ENV_VAR):
        data.data_dir()


def test_checksums_json_lists_the_shipped_file() -> None:
    listing = json.loads((REPO_DATA / "checksums.json").read_text(encoding="utf-8"))
    assert listing["format_version"] == 1
    entry = listing["files"]["digits.npz"]
    path = REPO_DATA / "digits.npz"
    assert entry["size"] == path.stat().st_size
    assert entry["sha256"] == data.sha256_file(path) == data.expected_sha256("digits.npz")
    assert data.verify_file("digits.npz") == REPO_DATA / "digits.npz"


def test_corrupted_file_raises_checksum_error_via_env(
    monkeypatch: pytest.MonkeyPatch, data_copy: Path
) -> None:
    target = data_copy / "digits.npz"
    _corrupt(target)
    monkeypatch.setenv(data.DATA_ENV_VAR, str(data_copy))
    with pytest.raises(DataChecksumError) as caught:
        data.load_digits()
    error = caught.value
    message = str(error)
    expected = data.expected_sha256("digits.npz", folder=data_copy)
    assert str(target) in message
    assert expected in message and data.sha256_file(target) in message
    assert "git checkout data/" in message
    assert (error.path, error.expected, error.actual) == (
        target,
        expected,
        data.sha256_file(target),
    )
    assert isinstance(error, RuntimeError)


def test_checksum_error_pickles(tmp_path: Path) -> None:
    error = DataChecksumError(tmp_path / "x.npz", "a" * 64, "b" * 64)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, DataChecksumError) and str(copy) == str(error)
    assert (copy.path, copy.expected, copy.actual) == (error.path, error.expected, error.actual)


def test_corrupted_file_raises_checksum_error_via_parameter(data_copy: Path) -> None:
    data.load_digits(folder=data_copy)  # intact: loads, and is cached
    _corrupt(data_copy / "digits.npz")
    os.utime(data_copy / "digits.npz", ns=(1, 1))  # a new version even on coarse clocks
    with pytest.raises(DataChecksumError, match=r"digits\.npz"):
        data.load_digits(folder=data_copy)


def test_edited_checksum_entry_is_caught(data_copy: Path) -> None:
    listing_path = data_copy / "checksums.json"
    listing = json.loads(listing_path.read_text(encoding="utf-8"))
    listing["files"]["digits.npz"]["sha256"] = "0" * 64
    listing_path.write_text(json.dumps(listing), encoding="utf-8")
    with pytest.raises(DataChecksumError, match="0" * 64):
        data.verify_file("digits.npz", folder=data_copy)


def test_missing_file_and_missing_entry(data_copy: Path) -> None:
    (data_copy / "digits.npz").unlink()
    with pytest.raises(DataNotFoundError, match=r"digits\.npz.*git checkout data/"):
        data.load_digits(folder=data_copy)
    with pytest.raises(DataNotFoundError, match=r"no sha256 for 'other\.bin'"):
        data.expected_sha256("other.bin", folder=data_copy)


def test_shipped_file_is_exactly_what_the_script_writes() -> None:
    """The script's writer is deterministic: re-serialising the arrays gives the same bytes."""
    spec = importlib.util.spec_from_file_location("make_digits", ROOT / "scripts/make_digits.py")
    assert spec is not None and spec.loader is not None
    script: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with np.load(REPO_DATA / "digits.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    assert sorted(arrays) == ["images", "labels"]
    assert script.npz_bytes(arrays) == (REPO_DATA / "digits.npz").read_bytes()


def test_importing_data_does_not_import_torchvision() -> None:
    code = "import sys, pytorch_path.data; print('torchvision' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- digits


def test_load_digits_shapes_dtypes_ranges() -> None:
    images, labels = data.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert images.min().item() == 0.0 and images.max().item() == 1.0
    assert labels.unique().tolist() == list(range(10))
    counts = torch.bincount(labels, minlength=10)
    assert counts.min().item() >= 170 and counts.sum().item() == 1797


def test_load_digits_raw_values() -> None:
    raw, labels = data.load_digits(normalize=False)
    scaled, labels2 = data.load_digits()
    assert raw.dtype == torch.float32
    assert torch.equal(raw, raw.round()) and raw.max().item() == 16.0
    assert torch.equal(raw / 16, scaled) and torch.equal(labels, labels2)


def test_load_digits_returns_fresh_tensors_and_caches_the_file() -> None:
    images, labels = data.load_digits()
    before = data._verified_digits.cache_info().hits
    images.fill_(-1.0)
    labels.fill_(-1)
    again, labels_again = data.load_digits()
    assert data._verified_digits.cache_info().hits == before + 1
    assert again.min().item() == 0.0 and labels_again.min().item() == 0


def test_load_digits_meta_device() -> None:
    images, labels = data.load_digits(device="meta")
    assert images.device.type == "meta" and labels.device.type == "meta"
    assert images.shape == (1797, 1, 8, 8)


def test_digits_split_sizes_and_determinism() -> None:
    split = data.digits_split(seed=3)
    assert set(split) == {"train", "val", "test"}
    sizes = {name: len(y) for name, (_, y) in split.items()}
    assert sizes == {"train": 1079, "val": 359, "test": 359}
    for x, y in split.values():
        assert x.shape[1:] == (1, 8, 8) and len(x) == len(y)
    again = data.digits_split(seed=3)
    other = data.digits_split(seed=4)
    assert torch.equal(split["val"][0], again["val"][0])
    assert not torch.equal(split["val"][0], other["val"][0])
    # A partition: together the parts hold every label exactly as often as the full set.
    _, labels = data.load_digits()
    merged = torch.cat([y for _, y in split.values()])
    assert torch.equal(torch.bincount(merged), torch.bincount(labels))
    with pytest.raises(ValueError, match="val_fraction"):
        data.digits_split(val_fraction=0.6, test_fraction=0.5)


# ------------------------------------------------------------------------ generators: determinism

GENERATORS: dict[str, Callable[..., Any]] = {
    "regression": lambda **kw: data.make_regression(64, 5, **kw),
    "classification": lambda **kw: data.make_classification(64, 4, 3, **kw),
    "spirals": lambda **kw: data.make_spirals(64, 3, **kw),
    "sequence_order": lambda **kw: data.make_sequence_task(32, task="order", **kw),
    "sequence_last": lambda **kw: data.make_sequence_task(32, task="last", **kw),
    "shapes": lambda **kw: data.make_shapes_images(32, **kw),
}


def _flatten(result: Any) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    return [t for part in result for t in _flatten(part)]


def _same(a: Any, b: Any) -> bool:
    left, right = _flatten(a), _flatten(b)
    return len(left) == len(right) and all(
        x.shape == y.shape and torch.equal(x, y) for x, y in zip(left, right, strict=True)
    )


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_is_deterministic(name: str) -> None:
    make = GENERATORS[name]
    assert _same(make(seed=7), make(seed=7))
    assert not _same(make(seed=7), make(seed=8))
    # A CPU torch.Generator works too, and matches the int seed it was seeded with.
    assert _same(make(seed=torch.Generator().manual_seed(7)), make(seed=7))
    # Drawing does not touch torch's global RNG.
    state = torch.get_rng_state()
    make(seed=1)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_places_on_device(name: str) -> None:
    on_meta = _flatten(GENERATORS[name](seed=0, device="meta"))
    on_cpu = _flatten(GENERATORS[name](seed=0))
    assert all(t.device.type == "meta" for t in on_meta)
    assert [t.shape for t in on_meta] == [t.shape for t in on_cpu]
    if torch.cuda.is_available():
        on_cuda = _flatten(GENERATORS[name](seed=0, device="cuda"))
        assert all(torch.equal(a.cpu(), b) for a, b in zip(on_cuda, on_cpu, strict=True))


def test_bad_seeds_are_refused() -> None:
    with pytest.raises(TypeError, match="seed"):
        data.make_regression(4, 2, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be at least 1"):
        data.make_classification(0, 2, 2)


# ------------------------------------------------------------------------ generators: content


def test_make_regression_relation() -> None:
    x, y, w, b = data.make_regression(500, 4, noise=0.1, seed=0)
    assert (x.shape, y.shape, w.shape, b.shape) == ((500, 4), (500,), (4,), ())
    assert all(t.dtype == torch.float32 for t in (x, y, w, b))
    residual = y - (x @ w + b)
    assert 0.07 < residual.std().item() < 0.13
    x, y, w, b = data.make_regression(50, 3, noise=0.0, seed=1, dtype=torch.float64)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, x @ w + b)


@pytest.mark.parametrize(("d", "num_classes"), [(2, 3), (2, 6), (10, 10), (1, 3)])
def test_make_classification_is_learnable(d: int, num_classes: int) -> None:
    x, y = data.make_classification(300, d, num_classes, seed=d + num_classes)
    assert x.shape == (300, d) and x.dtype == torch.float32 and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=num_classes)
    assert counts.max() - counts.min() <= 1
    torch.manual_seed(0)
    assert _train(nn.Linear(d, num_classes), x, y, steps=100, lr=0.1) > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_make_spirals_needs_a_non_linear_model(seed: int) -> None:
    x, y = data.make_spirals(300, 2, seed=seed)
    assert x.shape == (300, 2) and y.shape == (300,)
    assert x.abs().max().item() < 1.5
    torch.manual_seed(seed)
    linear = _train(nn.Linear(2, 2), x, y, steps=150, lr=0.1)
    mlp = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
    deep = _train(mlp, x, y, steps=150, lr=0.03)
    assert linear < 0.8, f"a linear model fits the spirals ({linear:.2f})"
    assert deep > 0.9, f"a small MLP fails to fit the spirals ({deep:.2f})"


@pytest.mark.parametrize("task", ["order", "last"])
def test_make_sequence_task_content(task: Literal["order", "last"]) -> None:
    seqs, labels = data.make_sequence_task(400, task=task, min_len=3, max_len=9, seed=5)
    assert len(seqs) == 400 and labels.shape == (400,) and labels.dtype == torch.int64
    assert abs(int(labels.sum()) - 200) <= 1
    lengths = {len(s) for s in seqs}
    assert min(lengths) == 3 and max(lengths) == 9
    for seq, label in zip(seqs, labels.tolist(), strict=True):
        assert seq.dtype == torch.int64 and seq.dim() == 1
        assert data.PAD_TOKEN not in seq.tolist() and int(seq.max()) < 12
        tokens = seq.tolist()
        if task == "order":
            assert tokens.count(1) == 1 and tokens.count(2) == 1
            assert label == int(tokens.index(1) < tokens.index(2))
        else:
            assert label == int(tokens[-1] == 1)


def test_make_shapes_images_mask_is_the_evidence() -> None:
    size = 16
    images, labels, mask = data.make_shapes_images(300, size=size, seed=0)
    assert images.shape == (300, 1, size, size) and images.dtype == torch.float32
    assert labels.shape == (300,) and mask.shape == (300, size, size) and mask.dtype == torch.bool
    assert images.min().item() >= 0.0 and images.max().item() <= 1.0
    assert torch.bincount(labels).tolist() == [100, 100, 100]
    k = 5
    expected_pixels = {0: 4 * k - 4, 1: 2 * k - 1, 2: k}  # square outline, cross, bar
    for image, label, m in zip(images, labels.tolist(), mask, strict=True):
        assert int(m.sum()) == expected_pixels[label]
        rows, cols = m.nonzero(as_tuple=True)
        assert int(rows.max() - rows.min()) < k and int(cols.max() - cols.min()) < k
        # The brightest pixels are the shape's.
        top = image[0].flatten().topk(expected_pixels[label]).indices
        assert m.flatten()[top].float().mean().item() >= 0.9
    assert images[:, 0][mask].mean().item() > 0.9
    assert images[:, 0][~mask].mean().item() < 0.1


def test_the_backbone_checkpoint_verifies_and_loads_strictly() -> None:
    import torch

    from pytorch_path import data

    path = data.verify_file(data.BACKBONE_FILE)
    state = torch.load(path, weights_only=True)
    model = data.make_backbone()
    model.load_state_dict(state, strict=True)
    names = [name for name, _ in model.named_children()]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3",
                     "layer4", "avgpool", "fc"]  # fmt: skip
    digits, labels = data.load_digits()
    keep = labels < 5
    model.eval()
    with torch.no_grad():
        predicted = model(data.backbone_images(digits[keep][:200])).argmax(1)
    assert (predicted == labels[keep][:200]).float().mean() > 0.95  # it learnt digits 0-4


def test_backbone_images_shape_and_refusal() -> None:
    import torch

    from pytorch_path import data

    out = data.backbone_images(torch.rand(2, 1, 8, 8))
    assert out.shape == (2, 3, data.BACKBONE_SIZE, data.BACKBONE_SIZE)
    assert torch.equal(out[:, 0], out[:, 2])
    with pytest.raises(ValueError, match=r"expected grey images \(N, 1, H, W\)"):
        data.backbone_images(torch.rand(2, 3, 8, 8))


@pytest.mark.slow
def test_the_pretraining_script_reproduces_the_checkpoint() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "pretrain_backbone.py"), "--check"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduced exactly" in done.stdout
