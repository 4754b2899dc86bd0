"""Known mistake: make_session asks onnxruntime for a provider list that is not the CPU alone.

Expect: pass providers=['CPUExecutionProvider']
"""

from __future__ import annotations

import os

import onnxruntime as ort


def make_session(path: str | os.PathLike[str]) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=ort.get_available_providers())
