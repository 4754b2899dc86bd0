"""``grade``: the judge side of batch grading.

- :mod:`~pytorch_path.grading.settings`: what a batch shares (:class:`GradeSettings`);
- :mod:`~pytorch_path.grading.batch`: copying submissions, one judge per submission,
  fail-closed results;
- :mod:`~pytorch_path.grading.judge`: the trusted judge process (tests, reference, checks);
- :mod:`~pytorch_path.grading.workers`: starting sandboxed workers and the wire to them.
"""

from __future__ import annotations

from pytorch_path.grading.batch import grade, unique_names
from pytorch_path.grading.settings import GradeSettings

__all__ = ["GradeSettings", "grade", "unique_names"]
