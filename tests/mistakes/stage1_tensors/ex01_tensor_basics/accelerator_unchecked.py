"""Known mistake: pick_device returns torch.accelerator.current_accelerator() without checking.

Without ``check_available=True`` it names the accelerator the wheel was built for (cuda on
the usual Linux wheels) even on a machine with no GPU.

Expect: pick_device() with cuda absent and mps absent returned cuda, expected cpu
Expect: check_available=True
"""

from __future__ import annotations

import torch


def pick_device() -> torch.device:
    return torch.accelerator.current_accelerator() or torch.device("cpu")
