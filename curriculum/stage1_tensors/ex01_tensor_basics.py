"""1.1 Creating, describing and moving tensors.

Implement the four functions below, then run ``make check ex=1.1``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from typing import Any

import torch


def arange_grid(
    rows: int, cols: int, *, dtype: torch.dtype, device: str | torch.device
) -> torch.Tensor:
    """Return a (rows, cols) tensor holding 0, 1, 2, … row by row, with this dtype and device.

    Example: ``arange_grid(2, 3, dtype=torch.float32, device="cpu")`` is
    ``tensor([[0., 1., 2.], [3., 4., 5.]])``.
    """
    # TODO(1.1): Build it with one torch call and one reshape.
    raise NotImplementedError("1.1: arange_grid")


def describe_tensor(t: torch.Tensor) -> dict[str, Any]:
    """Report a tensor's metadata as plain Python values.

    Returns a dict with exactly these keys:

    - ``"shape"``: a tuple of ints, e.g. ``(2, 3)``;
    - ``"dtype"``: the dtype's name without ``torch.``, e.g. ``"float32"``;
    - ``"device"``: ``str(t.device)``, e.g. ``"cpu"`` or ``"cuda:0"``;
    - ``"numel"``: the number of elements, an int;
    - ``"requires_grad"``: a bool.
    """
    # TODO(1.1): Return the five keys listed above as plain Python values.
    raise NotImplementedError("1.1: describe_tensor")


def pick_device() -> torch.device:
    """Return the best device here as a ``torch.device``: cuda if available, else mps, else cpu.

    Ask when called, through ``torch.cuda.is_available()`` and
    ``torch.backends.mps.is_available()``, or through ``torch.accelerator.is_available()``
    and ``torch.accelerator.current_accelerator()`` (which, without
    ``check_available=True``, names the accelerator torch was built for even where none is
    present). The grader fakes what these report; where both cuda and mps are reported
    present, cuda wins. The device's index does not matter (``cuda`` or ``cuda:0``).
    """
    # TODO(1.1): Prefer cuda, then mps, then cpu; return a torch.device.
    raise NotImplementedError("1.1: pick_device")


def move_to(obj: Any, device: str | torch.device) -> Any:
    """Move tensors and models to ``device``, keeping the structure around them.

    - a tensor: return it on ``device``;
    - an ``nn.Module``: move its parameters and buffers, return the module itself;
    - a dict, list or tuple: return a new container of the same kind with every value
      moved (recursively); the container passed in is left as it was;
    - anything else (ints, strings, None): return it unchanged.
    """
    # TODO(1.1): Handle tensors, modules, dicts, lists and tuples.
    raise NotImplementedError("1.1: move_to")
