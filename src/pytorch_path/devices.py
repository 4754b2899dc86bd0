"""Which devices exist here, which one is preferred, and how to name them.

``cpu`` always exists; ``cuda`` and ``mps`` are added only where present. The
``meta`` device (shapes and dtypes, no data) lets placement logic be graded on a
CPU-only machine.
"""

from __future__ import annotations

import torch

#: Devices the grader knows, in order of preference.
KNOWN_DEVICES: tuple[str, ...] = ("cuda", "mps", "cpu")


def cuda_available() -> bool:
    """True when a CUDA device can be used."""
    return bool(torch.cuda.is_available())


def mps_available() -> bool:
    """True when Apple's Metal (MPS) device can be used."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def is_available(name: str) -> bool:
    """Whether the device type ``name`` (``cpu``, ``cuda``, ``mps``, ``meta``) exists here."""
    if name in ("cpu", "meta"):
        return True
    if name == "cuda":
        return cuda_available()
    if name == "mps":
        return mps_available()
    return False


def available_devices() -> list[str]:
    """Device types present on this machine, ``cpu`` first."""
    return ["cpu"] + [d for d in ("cuda", "mps") if is_available(d)]


def preferred_device() -> torch.device:
    """The fastest device here: cuda, then mps, then cpu."""
    for name in KNOWN_DEVICES:
        if is_available(name):
            return torch.device(name)
    return torch.device("cpu")  # pragma: no cover - cpu is always available


def describe_devices() -> list[tuple[str, str]]:
    """``(device, description)`` for each device present, for ``doctor``."""
    rows = [("cpu", f"{torch.get_num_threads()} threads")]
    if cuda_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            memory_gib = props.total_memory / 2**30
            rows.append((f"cuda:{index}", f"{props.name}, {memory_gib:.0f} GiB"))
    if mps_available():
        rows.append(("mps", "Apple Metal Performance Shaders"))
    return rows


def unavailable_reason(name: str) -> str:
    """Why tests on device ``name`` are skipped here."""
    if name == "cuda":
        return "no CUDA device on this machine (torch.cuda.is_available() is False)"
    if name == "mps":
        return "no Apple MPS device on this machine"
    return f"device {name!r} is not available here"
