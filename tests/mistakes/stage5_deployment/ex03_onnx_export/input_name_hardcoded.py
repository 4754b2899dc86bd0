"""Known mistake: run_session feeds the input under the name "input" instead of the session's own.

Expect: session.get_inputs()[0].name
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


def run_session(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run(None, {"input": x.astype(np.float32)})[0]
