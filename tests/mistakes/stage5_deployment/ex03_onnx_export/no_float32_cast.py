"""Known mistake: run_session feeds x as given, so a float64 array reaches a float input.

Expect: x.astype(np.float32)
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


def run_session(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]
