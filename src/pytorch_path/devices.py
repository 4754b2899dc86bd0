"""Which devices exist here, which one is preferred, and how to name them.

``cpu`` always exists; ``cuda`` and ``mps`` are added only where present. The
``meta`` device (shapes and dtypes, no data) lets placement logic be graded on a
CPU-only machine. :data:`KNOWN_DEVICES` is the one list of device types the
graders know; everything else (the CLI's ``--device`` choices, the ``device``
fixture's parameters, ``doctor``) reads it. Importing this module does not import
torch: the CLI builds its parser from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: Device types the graders know, in order of preference (fastest first).
KNOWN_DEVICES: tuple[str, ...] = ("cuda", "mps", "cpu")
#: The accelerators among them: the device types that may be absent.
ACCELERATORS: tuple[str, ...] = tuple(d for d in KNOWN_DEVICES if d != "cpu")
#: The order tests are offered in: ``cpu`` first, then the accelerators.
TEST_ORDER: tuple[str, ...] = ("cpu", *ACCELERATORS)


class DeviceUnavailableError(ValueError):
    """A device type was asked for that this machine does not have (or that is unknown)."""


def cuda_available() -> bool:
    """True when a CUDA device can be used."""
    import torch

    return bool(torch.cuda.is_available())


def mps_available() -> bool:
    """True when Apple's Metal (MPS) device can be used."""
    import torch

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
    return [d for d in TEST_ORDER if is_available(d)]


def require(name: str) -> str:
    """Return ``name`` when tests can run on it here, else raise :class:`DeviceUnavailableError`.

    The sentence names the device, why it is absent and what is available, the same
    for the API (``check(device=...)``) and the CLI (``--device``).
    """
    if name not in KNOWN_DEVICES:
        raise DeviceUnavailableError(f"--device {name}: use one of {', '.join(TEST_ORDER)}")
    if not is_available(name):
        raise DeviceUnavailableError(
            f"--device {name}: {unavailable_reason(name)}; "
            f"available here: {', '.join(available_devices())}"
        )
    return name


def preferred_device() -> torch.device:
    """The fastest device here: cuda, then mps, then cpu."""
    import torch

    for name in KNOWN_DEVICES:
        if is_available(name):
            return torch.device(name)
    return torch.device("cpu")  # pragma: no cover - cpu is always available


def describe_devices() -> list[tuple[str, str]]:
    """``(device, description)`` for every known device type, present or not, for ``doctor``.

    A present accelerator gets one row per device (``cuda:0``, ``cuda:1``); an absent
    one a row starting ``absent:`` with the reason.
    """
    import torch

    rows = [("cpu", f"{torch.get_num_threads()} threads")]
    for name in ACCELERATORS:
        if not is_available(name):
            rows.append((name, f"absent: {unavailable_reason(name)}"))
        elif name == "cuda":
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                memory_gib = props.total_memory / 2**30
                rows.append((f"cuda:{index}", f"{props.name}, {memory_gib:.0f} GiB"))
        else:
            rows.append((name, "Apple Metal Performance Shaders"))
    return rows


def unavailable_reason(name: str) -> str:
    """Why tests on device ``name`` are skipped here."""
    if name == "cuda":
        return "no CUDA device on this machine (torch.cuda.is_available() is False)"
    if name == "mps":
        return "no Apple MPS device on this machine"
    return f"device {name!r} is not available here"
