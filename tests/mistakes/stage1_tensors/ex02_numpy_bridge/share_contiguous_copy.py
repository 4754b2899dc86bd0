"""Known mistake: share_from_numpy makes the array contiguous first, which copies a view.

``torch.from_numpy(np.ascontiguousarray(arr))`` shares memory with a plain array but not
with a transposed or strided view: that one is copied before it is wrapped.

Expect: does not share memory with arr
Expect: np.ascontiguousarray copy
"""

from __future__ import annotations

import numpy as np
import torch


def share_from_numpy(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr))


def copy_from_numpy(arr: np.ndarray) -> torch.Tensor:
    """Return a CPU tensor holding a copy of ``arr``'s values.

    Same shape, same values, matching dtype (float64 stays float64). The tensor owns its
    memory: writing to ``arr`` afterwards must not change it, and writing to it must not
    change ``arr``. ``arr`` may be a non-contiguous view such as ``big.T``.
    """
    return torch.tensor(arr)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Return a ``numpy.ndarray`` holding a copy of ``t``'s values.

    - works when ``t`` requires grad (the array carries no autograd graph) and when ``t``
      is on a GPU (the array is always in host memory);
    - the array is independent: writing to it must not change ``t``, and later writes to
      ``t`` must not change it;
    - same shape, same values, matching dtype (a float64 tensor gives a float64 array);
    - ``t`` itself is left as it was (same values, same ``requires_grad``, same device).
    """
    return t.detach().cpu().numpy().copy()


def numpy_view_of(t: torch.Tensor) -> np.ndarray:
    """Return a ``numpy.ndarray`` that shares memory with the CPU tensor ``t``.

    Writing to the array must show in ``t`` and writing to ``t`` must show in the array;
    same shape and matching dtype. It must also work when ``t`` requires grad (the view
    is outside autograd: use it for reading, since autograd cannot see writes made
    through it). ``t`` is always on the CPU: GPU memory cannot be shared with NumPy.
    """
    return t.detach().numpy()
