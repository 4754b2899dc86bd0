from __future__ import annotations

import pytest
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


def test_absent_accelerators_are_described_with_the_reason(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    rows = dict(devices.describe_devices())
    assert set(rows) == set(devices.KNOWN_DEVICES)
    assert rows["cuda"] == "absent: " + devices.unavailable_reason("cuda")


def test_require_names_the_device_and_what_is_here(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.require("cpu") == "cpu"
    with pytest.raises(
        devices.DeviceUnavailableError, match=r"--device cuda: no CUDA .* here: cpu"
    ):
        devices.require("cuda")
    with pytest.raises(devices.DeviceUnavailableError, match="use one of cpu, cuda, mps"):
        devices.require("tpu")


def test_one_list_of_devices_everywhere() -> None:
    from pytorch_path.cli import build_parser
    from pytorch_path.plugin import RunConfig

    check = build_parser()._subparsers._group_actions[0].choices["check"]  # type: ignore[union-attr]
    device = next(a for a in check._actions if a.dest == "device")
    assert tuple(device.choices) == devices.TEST_ORDER
    assert RunConfig.__dataclass_fields__["devices"].default == devices.TEST_ORDER
    assert set(devices.TEST_ORDER) == set(devices.KNOWN_DEVICES)


def test_the_api_refuses_an_absent_device_like_the_cli(mini, monkeypatch) -> None:
    from pytorch_path.runner import check

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(devices.DeviceUnavailableError, match="--device cuda: no CUDA"):
        check("1.1", project=mini, target=mini.root / "learner", device="cuda")
