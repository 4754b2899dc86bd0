"""Known mistake: PredictRequest.inputs has no min_length, so a request with no rows answers 200.

Expect: Field(min_length=1)
"""

from __future__ import annotations

from pydantic import BaseModel


class PredictRequest(BaseModel):
    inputs: list[list[float]]
