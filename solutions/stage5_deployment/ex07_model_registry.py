"""5.7 A model registry on disk: versions, promote, rollback, metrics.

Write ModelRegistry, LatencyTracker and metrics_text below, then run ``make check ex=5.7``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

_SAFE_VERSION = re.compile(r"[A-Za-z0-9._-]+")


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
        self.root = Path(root)
        (self.root / "versions").mkdir(parents=True, exist_ok=True)

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
        folder = self._folder(version)
        try:
            folder.mkdir()
        except FileExistsError:
            raise ValueError(f"version {version!r} is already registered") from None
        weights = folder / "model.pt"
        torch.save(state_dict, weights)
        data = weights.read_bytes()
        manifest = {
            "version": version,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "created": datetime.now(timezone.utc).isoformat(),
            "metrics": dict(metrics) if metrics is not None else {},
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return manifest

    def versions(self) -> list[str]:
        """The registered versions, oldest first (by the manifests' ``created``); [] if none."""
        manifests = [self._manifest(p.name) for p in (self.root / "versions").iterdir()]
        return [m["version"] for m in sorted(manifests, key=lambda m: (m["created"], m["version"]))]

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
        if version is None:
            version = self.current()
            if version is None:
                raise ValueError("no version is current: promote one first")
        manifest = self._manifest(version)
        data = (self._folder(version) / "model.pt").read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != manifest["sha256"]:
            raise ValueError(
                f"version {version!r}: model.pt has sha256 {digest}, but its manifest says "
                f"{manifest['sha256']}; the file is corrupted or was replaced"
            )
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    # ------------------------------------------------------------------ current, history

    def current(self) -> str | None:
        """The current version (CURRENT's content without surrounding whitespace), or None."""
        path = self.root / "CURRENT"
        if not path.exists():
            return None
        return path.read_text(encoding="utf-8").strip() or None

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
        self._manifest(version)  # ValueError if unknown
        previous = self.current()
        if previous == version:
            return
        if previous is not None:
            self._write_atomic("HISTORY", json.dumps([*self._history(), previous]))
        self._write_atomic("CURRENT", version + "\n")

    def rollback(self) -> str:
        """Make the previous current version current again, and return it.

        Takes the last entry off HISTORY (so rolling back twice goes two versions back).
        ``ValueError`` when HISTORY is empty (nothing was current before).
        """
        history = self._history()
        if not history:
            raise ValueError("there is no previous version to roll back to")
        previous = history.pop()
        self._write_atomic("CURRENT", previous + "\n")
        self._write_atomic("HISTORY", json.dumps(history))
        return previous

    # ------------------------------------------------------------------ helpers

    def _folder(self, version: str) -> Path:
        if not isinstance(version, str):
            raise TypeError(f"a version is a str, got {type(version).__name__}")
        if not _SAFE_VERSION.fullmatch(version) or version in {".", ".."}:
            raise ValueError(
                f"unsafe version name {version!r}: use only letters, digits, '.', '_' and '-'"
            )
        return self.root / "versions" / version

    def _manifest(self, version: str) -> dict[str, Any]:
        path = self._folder(version) / "manifest.json"
        if not path.is_file():
            raise ValueError(f"version {version!r} is not registered")
        return json.loads(path.read_text(encoding="utf-8"))

    def _history(self) -> list[str]:
        path = self.root / "HISTORY"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []

    def _write_atomic(self, name: str, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            Path(tmp).replace(self.root / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class LatencyTracker:
    """Request latencies, and their quantiles over the last ``window`` observations.

    ``window`` is an int >= 1 (default 1000; 0 or less raises ``ValueError``). Only the last
    ``window`` observations count for the quantiles (a ``collections.deque(maxlen=window)``);
    ``count`` and ``sum`` cover every observation since the tracker was made, as a
    Prometheus summary's ``_count`` and ``_sum`` do.
    """

    def __init__(self, window: int = 1000) -> None:
        """An empty tracker keeping the last ``window`` latencies."""
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._window: deque[float] = deque(maxlen=window)
        self._count = 0
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        """Record one latency in seconds: a finite number >= 0, else ``ValueError``.

        A refused value is not recorded.
        """
        value = float(seconds)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"a latency is a finite number of seconds >= 0, got {seconds!r}")
        self._window.append(value)
        self._count += 1
        self._sum += value

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the last ``window`` latencies, a Python float.

        Linear interpolation between the closest ranks (NumPy's default,
        ``numpy.quantile(values, q, method="linear")``): with the values sorted,
        ``x[0] <= ... <= x[n-1]`` and ``h = (n - 1) * q``, the quantile is
        ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``; so ``q=0`` is the
        minimum and ``q=1`` the maximum. ``q`` outside ``[0, 1]`` raises ``ValueError``.
        Without observations the answer is ``math.nan`` (as a Prometheus summary reports).
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q}")
        if not self._window:
            return math.nan
        return float(np.quantile(np.fromiter(self._window, dtype=np.float64), q))

    @property
    def p50(self) -> float:
        """The median, ``quantile(0.5)``."""
        return self.quantile(0.5)

    @property
    def p95(self) -> float:
        """The 95th percentile, ``quantile(0.95)``."""
        return self.quantile(0.95)

    @property
    def count(self) -> int:
        """How many latencies were observed in all (not only in the window)."""
        return self._count

    @property
    def sum(self) -> float:
        """The sum of every latency observed, in seconds."""
        return self._sum


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


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
    lines = [
        "# HELP model_latency_seconds Prediction latency in seconds.",
        "# TYPE model_latency_seconds summary",
        f'model_latency_seconds{{quantile="0.5"}} {_number(tracker.p50)}',
        f'model_latency_seconds{{quantile="0.95"}} {_number(tracker.p95)}',
        f"model_latency_seconds_sum {_number(tracker.sum)}",
        f"model_latency_seconds_count {tracker.count}",
        "# HELP model_version_info The model version being served.",
        "# TYPE model_version_info gauge",
    ]
    current = registry.current()
    if current is not None:
        lines.append(f'model_version_info{{version="{current}"}} 1')
    return "\n".join(lines) + "\n"
