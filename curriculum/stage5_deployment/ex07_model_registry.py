"""5.7 A model registry on disk: versions, promote, rollback, metrics.

Write ModelRegistry, LatencyTracker and metrics_text below, then run ``make check ex=5.7``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import hashlib  # noqa: F401 (sha256)
import json  # noqa: F401 (the manifest, HISTORY)
import math  # noqa: F401 (isfinite, nan)
import os  # noqa: F401 (os.replace)
import re  # noqa: F401 (the safe version names)
import tempfile  # noqa: F401 (mkstemp(dir=root))
from collections import deque  # noqa: F401 (the window)
from datetime import datetime, timezone  # noqa: F401 (created)
from pathlib import Path
from typing import Any

import numpy as np  # noqa: F401 (np.quantile)
import torch


class ModelRegistry:
    """Versions of a model's weights in a folder, one of them *current*, with rollback.

    The layout under ``root`` (a ``str`` or ``Path``; created with its parents if missing)::

        root/
          versions/<version>/model.pt        torch.save(state_dict)
          versions/<version>/manifest.json   {"version", "sha256", "size", "created", "metrics"}
          CURRENT                            the current version's name, e.g. "v3\\n"
          HISTORY                            JSON list of the versions current before, oldest first

    Nothing else is written under ``root`` (no temporary file is left behind, even when a
    write fails). Every piece of state lives in these files, so a second
    ``ModelRegistry(root)`` sees what the first one did.

    A version name is a ``str`` made only of ``A-Z a-z 0-9 . _ -`` (at least one character),
    and neither ``"."`` nor ``".."``: ``"v1"``, ``"2026.03.01"``, ``"rc-1_b"`` are fine;
    ``""``, ``"."``, ``".."``, ``"a/b"``, ``"../x"``, ``"v 1"``, ``"v1\\n"``, ``"é"`` raise
    ``ValueError`` (a name is a folder name: it must never reach outside ``versions/``). A
    name that is not a ``str`` raises ``TypeError``.
    """

    def __init__(self, root: str | Path) -> None:
        """Open (or create) the registry in the folder ``root``."""
        # TODO(5.7): Keep the root as a Path and create root/versions.
        raise NotImplementedError("5.7: ModelRegistry")

    # ------------------------------------------------------------------ versions

    def register(
        self,
        state_dict: dict[str, torch.Tensor],
        version: str,
        *,
        metrics: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Store ``state_dict`` as a new ``version``; return its manifest (a dict).

        Writes ``versions/<version>/model.pt`` with ``torch.save(state_dict, path)``, then
        ``versions/<version>/manifest.json`` (``json.dump``) holding exactly:

        - ``"version"``: the name;
        - ``"sha256"``: ``hashlib.sha256`` of the bytes of ``model.pt``, as 64 lowercase hex
          digits (``.hexdigest()``);
        - ``"size"``: the size of ``model.pt`` in bytes (an int);
        - ``"created"``: when it was registered, ``datetime.now(timezone.utc).isoformat()``
          (e.g. ``"2026-03-01T12:00:00.123456+00:00"``);
        - ``"metrics"``: ``metrics`` as given (a dict of JSON numbers), ``{}`` when None.

        Refuses, with ``ValueError`` and without writing anything: a version that is already
        registered, and an unsafe name (see the class docstring; a non-str name is a
        ``TypeError``). Registering does not change the current version. The state dict is
        not modified.
        """
        # TODO(5.7): Check the name, refuse an existing folder, torch.save, hash, manifest.
        raise NotImplementedError("5.7: ModelRegistry.register")

    def versions(self) -> list[str]:
        """The registered versions, oldest first (by the manifests' ``created``); [] if none."""
        # TODO(5.7): Read every manifest and sort by 'created'.
        raise NotImplementedError("5.7: ModelRegistry.versions")

    def load(self, version: str | None = None) -> dict[str, torch.Tensor]:
        """The state dict of ``version`` (default: the current one), verified, on the CPU.

        First the bytes of ``model.pt`` are hashed and compared with the manifest's
        ``sha256``; a mismatch (a corrupted or replaced file) raises ``ValueError`` whose
        message names the version and both digests (the manifest's and the file's, 64 hex
        digits each). Only then are the bytes loaded, with ``torch.load(...,
        map_location="cpu", weights_only=True)``, so a file that holds pickled code is
        refused (``pickle.UnpicklingError``) instead of executed.

        ``ValueError`` for an unknown version, and for ``version=None`` when no version is
        current.
        """
        # TODO(5.7): Hash the bytes, compare with the manifest, then torch.load(weights_only=True).
        raise NotImplementedError("5.7: ModelRegistry.load")

    # ------------------------------------------------------------------ current, history

    def current(self) -> str | None:
        """The current version (CURRENT's content without surrounding whitespace), or None."""
        # TODO(5.7): Read CURRENT if it exists.
        raise NotImplementedError("5.7: ModelRegistry.current")

    def promote(self, version: str) -> None:
        """Make the registered ``version`` current.

        The version that was current before (if any, and if it is not ``version`` itself)
        is appended to HISTORY. Promoting the current version again changes nothing.
        ``ValueError`` for a version that is not registered (nothing changes).

        CURRENT (and HISTORY) are replaced atomically: write the new content to a temporary
        file in ``root`` itself (the same file system), then ``os.replace(tmp, root /
        "CURRENT")``: a reader sees the old content or the new one, never a half-written
        file. If anything fails, the temporary file is removed, the exception propagates
        and CURRENT keeps its old content.
        """
        # TODO(5.7): Push the old current onto HISTORY, then replace CURRENT atomically.
        raise NotImplementedError("5.7: ModelRegistry.promote")

    def rollback(self) -> str:
        """Make the previous current version current again, and return it.

        Takes the last entry off HISTORY (so rolling back twice goes two versions back).
        ``ValueError`` when HISTORY is empty (nothing was current before).
        """
        # TODO(5.7): Pop HISTORY and make that version current.
        raise NotImplementedError("5.7: ModelRegistry.rollback")


class LatencyTracker:
    """Request latencies, and their quantiles over the last ``window`` observations.

    ``window`` is an int >= 1 (default 1000; 0 or less raises ``ValueError``). Only the last
    ``window`` observations count for the quantiles (a ``collections.deque(maxlen=window)``);
    ``count`` and ``sum`` cover every observation since the tracker was made, as a
    Prometheus summary's ``_count`` and ``_sum`` do.
    """

    def __init__(self, window: int = 1000) -> None:
        """An empty tracker keeping the last ``window`` latencies."""
        # TODO(5.7): A deque(maxlen=window), a count and a sum.
        raise NotImplementedError("5.7: LatencyTracker")

    def observe(self, seconds: float) -> None:
        """Record one latency in seconds: a finite number >= 0, else ``ValueError``.

        A refused value is not recorded.
        """
        # TODO(5.7): Validate, then record.
        raise NotImplementedError("5.7: LatencyTracker.observe")

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the last ``window`` latencies, a Python float.

        Linear interpolation between the closest ranks (NumPy's default,
        ``numpy.quantile(values, q, method="linear")``): with the values sorted,
        ``x[0] <= ... <= x[n-1]`` and ``h = (n - 1) * q``, the quantile is
        ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``; so ``q=0`` is the
        minimum and ``q=1`` the maximum. ``q`` outside ``[0, 1]`` raises ``ValueError``.
        Without observations the answer is ``math.nan`` (as a Prometheus summary reports).
        """
        # TODO(5.7): Linear interpolation over the window (NaN when empty).
        raise NotImplementedError("5.7: LatencyTracker.quantile")

    @property
    def p50(self) -> float:
        """The median, ``quantile(0.5)``."""
        # TODO(5.7): quantile(0.5).
        raise NotImplementedError("5.7: LatencyTracker.p50")

    @property
    def p95(self) -> float:
        """The 95th percentile, ``quantile(0.95)``."""
        # TODO(5.7): quantile(0.95).
        raise NotImplementedError("5.7: LatencyTracker.p95")

    @property
    def count(self) -> int:
        """How many latencies were observed in all (not only in the window)."""
        # TODO(5.7): Every observation so far.
        raise NotImplementedError("5.7: LatencyTracker.count")

    @property
    def sum(self) -> float:
        """The sum of every latency observed, in seconds."""
        # TODO(5.7): The sum of every observation.
        raise NotImplementedError("5.7: LatencyTracker.sum")


def metrics_text(tracker: LatencyTracker, registry: ModelRegistry) -> str:
    """The metrics in the Prometheus text exposition format (version 0.0.4), as a str.

    Exactly these lines, in this order, each ending with ``"\\n"``::

        # HELP model_latency_seconds Prediction latency in seconds.
        # TYPE model_latency_seconds summary
        model_latency_seconds{quantile="0.5"} <tracker.p50>
        model_latency_seconds{quantile="0.95"} <tracker.p95>
        model_latency_seconds_sum <tracker.sum>
        model_latency_seconds_count <tracker.count>
        # HELP model_version_info The model version being served.
        # TYPE model_version_info gauge
        model_version_info{version="<registry.current()>"} 1

    (the HELP texts may be worded otherwise). Floats are written with ``repr(float)``, which
    keeps every digit (``0.0123456789``), NaN as ``NaN``; the count as an int. When no
    version is current, the ``model_version_info`` sample line is left out (its HELP and
    TYPE lines stay).
    """
    # TODO(5.7): HELP and TYPE lines, then one sample per line.
    raise NotImplementedError("5.7: metrics_text")
