from __future__ import annotations

import torch

from pytorch_path import devices


def test_cpu_is_always_there() -> None:
    assert devices.available_devices()[0] == "cpu"
    assert devices.is_available("cpu") and devices.is_available("meta")
    assert not devices.is_available("tpu")


def test_preferred_device_order(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.preferred_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.preferred_device() == torch.device("cuda")


def test_descriptions() -> None:
    rows = dict(devices.describe_devices())
    assert "threads" in rows["cpu"]
    assert "CUDA" in devices.unavailable_reason("cuda")
