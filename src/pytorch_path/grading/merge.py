"""``merge``: join the reports of several ``grade --shard I/N`` runs into one batch.

Each shard's ``--out`` folder holds one folder per submission with its ``report.json``.
Shards join only when they were graded alike: the same seed, the same selection, the same
graders and reference solutions (a fingerprint in every report). The joined gradebook is
then the one a single, unsharded run with that seed writes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from pytorch_path.report.files import SUBMISSION_FILES
from pytorch_path.results import Results


class MergeError(ValueError):
    """The shards cannot be joined; ``str()`` says why, in one sentence."""


def read_reports(folder: Path) -> list[Results]:
    """Every submission's results in one ``grade --out`` folder."""
    if not folder.is_dir():
        raise MergeError(f"{folder} is not a folder of grade reports")
    found = []
    for path in sorted(folder.glob(f"*/{SUBMISSION_FILES['json']}")):
        try:
            found.append(Results.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MergeError(f"{path} is not a pytorch-path report ({exc})") from None
    return found


def merge(folders: Sequence[Path], *, out: Path) -> list[Results]:
    """Check the shards agree, copy each submission's folder into ``out``, return all results.

    Raises :class:`MergeError` for shards graded with different seeds, selections or
    graders, or a submission that appears twice.
    """
    all_results: list[tuple[Path, Results]] = []
    for folder in folders:  # a shard may hold no submission at all
        all_results += [(folder, r) for r in read_reports(Path(folder))]
    if not all_results:
        raise MergeError(
            "the folders hold no */report.json; grade the shards with --format json (and others)"
        )
    first_folder, first = all_results[0]
    for folder, results in all_results:
        for what, mine, theirs in (
            ("seed", results.seed, first.seed),
            ("selection", results.selection, first.selection),
            ("graders", results.grading.graders if results.grading else "",
             first.grading.graders if first.grading else ""),
        ):  # fmt: skip
            if mine != theirs:
                raise MergeError(
                    f"{folder} was graded with {what} {mine!r} but {first_folder} with "
                    f"{theirs!r}; grade every shard with the same --seed, --stages and graders"
                )
    seen: dict[str, Path] = {}
    for folder, results in all_results:
        if results.name in seen:
            raise MergeError(f"{results.name} appears in both {seen[results.name]} and {folder}")
        seen[results.name] = folder
    out.mkdir(parents=True, exist_ok=True)
    for folder, results in all_results:
        source, dest = Path(folder) / results.name, out / results.name
        if source.resolve() != dest.resolve():
            shutil.copytree(source, dest, dirs_exist_ok=True)
    return sorted((r for _, r in all_results), key=lambda r: r.name)
