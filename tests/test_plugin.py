from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from pytorch_path.plugin import Seed, derive_seed

ROOT = Path(__file__).resolve().parents[1]


def test_derived_seeds_are_stable_and_distinct() -> None:
    assert derive_seed(1, "1.1", "test_a") == derive_seed(1, "1.1", "test_a")
    assert derive_seed(1, "1.1", "test_a") != derive_seed(2, "1.1", "test_a")
    assert derive_seed(1, "1.1", "test_a") != derive_seed(1, "1.1", "test_b")
    assert 0 <= derive_seed(123, "x") < 2**31


def test_seed_draws_are_the_same_on_every_device() -> None:
    seed = Seed(42)
    a = seed.randn(3, 4)
    b = seed.randn(3, 4, device="meta")
    assert b.device.type == "meta" and b.shape == a.shape
    assert torch.equal(seed.randn(3, 4), a)
    assert not torch.equal(seed.randn(3, 4, offset=1), a)
    assert seed.randint(0, 5, (10,)).dtype == torch.int64
    assert seed.python_random().random() == Seed(42).python_random().random()


def test_plugin_runs_under_plain_pytest(mini_copy) -> None:
    """`pytest -p pytorch_path.plugin graders/... --pp-target DIR` grades without the CLI."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pytorch_path.plugin", "-p", "no:cacheprovider",
         "graders/stage1_mini/test_ex01_passes.py", "graders/stage1_mini/test_ex02_fails.py",
         "--pp-target", "learner", "--pp-seed", "3", "-q"],
        cwd=mini_copy.root, capture_output=True, text=True,
    )  # fmt: skip
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
