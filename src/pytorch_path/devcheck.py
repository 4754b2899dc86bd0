"""``pytorch-path dev-check``: the curriculum's consistency check, which CI runs.

It fails on a manifest problem, a missing piece (stub, solution, grader, two
known-wrong variants, lessons in English and Chinese), an empty hint list, a
stub without its ``TODO(id)`` marker or ``NotImplementedError``, a stub that is
not reported ``not_started``, a solution that does not pass, a known-wrong
variant that passes or fails without the message its ``Expect:`` line names, a
variant that is not a minimal override of the reference solution (see
:mod:`pytorch_path.variants`), a README roadmap out of date, and committed stage notebooks
(``notebooks/``) that differ from what the stubs and lessons generate.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pytorch_path.curriculum import Exercise, ManifestError, Project, select
from pytorch_path.results import ExerciseResult, Status
from pytorch_path.variants import compose_files, override_problems

_EXPECT = re.compile(r"^\s*Expect:\s*(.+?)\s*$", re.MULTILINE)
LESSON_LANGS = ("en", "zh")


@dataclass(frozen=True)
class Problem:
    """One thing dev-check found wrong."""

    where: str
    """The exercise id, stage or file concerned."""
    message: str
    """What is wrong, and what to do."""


@dataclass(frozen=True)
class Mistake:
    """A known-wrong variant of an exercise."""

    path: Path
    """The variant's file."""
    summary: str
    """First line of its docstring: the mistake in plain words."""
    expect: tuple[str, ...]
    """Phrases (case-insensitive) the failure messages must contain."""


def read_mistake(path: Path) -> Mistake:
    """Parse a known-wrong variant's docstring: a summary line and ``Expect:`` lines."""
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    return Mistake(path=path, summary=summary, expect=tuple(_EXPECT.findall(doc)))


def run_single(
    project: Project, ex: Exercise, source: Path, *, seed: int, time_limit_s: float | None = None
) -> ExerciseResult:
    """Grade one file as-is as the learner's version of ``ex`` (copied into a fresh target)."""
    return run_text(project, ex, source.read_bytes(), seed=seed, time_limit_s=time_limit_s)


def run_variant(
    project: Project, ex: Exercise, path: Path, *, seed: int, time_limit_s: float | None = None
) -> ExerciseResult:
    """Grade a known-wrong variant: its override composed with the reference solution of ``ex``.

    See :mod:`pytorch_path.variants`; a variant that does not parse raises
    :class:`~pytorch_path.variants.VariantError`.
    """
    text = compose_files(project.solution_path(ex), path)
    return run_text(project, ex, text.encode("utf-8"), seed=seed, time_limit_s=time_limit_s)


def run_text(
    project: Project, ex: Exercise, data: bytes, *, seed: int, time_limit_s: float | None = None
) -> ExerciseResult:
    """Grade the source ``data`` as the learner's file for ``ex``, in a fresh target.

    What :func:`run_single` and :func:`run_variant` do with their files, and what mutation
    testing does with each mutant.
    """
    from pytorch_path.runner import check

    with tempfile.TemporaryDirectory(prefix="pytorch-path-") as tmp:
        dest = Path(tmp) / ex.relpath
        dest.parent.mkdir(parents=True)
        dest.write_bytes(data)
        results = check(
            ex.id, project=project, target=Path(tmp), seed=seed, time_limit_s=time_limit_s
        )
    return results.exercises[0]


def mistake_problems(mistake: Mistake, result: ExerciseResult) -> list[str]:
    """Why a known-wrong variant's result is not the failure it should be."""
    name = mistake.path.name
    if result.status is not Status.FAILED:
        detail = f": {result.message}" if result.message else ""
        return [f"{name} should be 'failed' but was '{result.status.value}'{detail}"]
    problems = []
    if not mistake.summary:
        problems.append(f"{name} needs a docstring that names the mistake")
    if not mistake.expect:
        problems.append(f"{name} needs an 'Expect: <phrase>' line in its docstring")
    text = "\n".join(t.message for t in result.tests if t.status is Status.FAILED).lower()
    for phrase in mistake.expect:
        if phrase.lower() not in text:
            first = next((t.message for t in result.tests if t.status is Status.FAILED), "")
            problems.append(
                f"{name}: no failure message mentions {phrase!r}; the first says: {first}"
            )
    return problems


def static_problems(project: Project, selection: str = "all") -> list[Problem]:
    """Problems found without running any grader: manifests, files, hints, markers, lessons.

    Manifest problems are always reported; the others only for the selected exercises
    and their stages.
    """
    try:
        stages = project.stages
        chosen = {ex.id for ex in select(stages, selection)}
    except ManifestError as exc:
        return [Problem("manifest", str(exc))]
    problems: list[Problem] = []
    for stage in stages:
        exercises = [ex for ex in stage.exercises if ex.id in chosen]
        if not exercises:
            continue
        for lang in LESSON_LANGS:
            lesson = project.lesson_path(stage, lang)
            if not lesson.is_file() or not lesson.read_text(encoding="utf-8").strip():
                problems.append(Problem(f"stage {stage.number}", f"{lesson} is missing or empty"))
        for ex in exercises:
            problems.extend(Problem(ex.id, m) for m in _exercise_file_problems(project, ex))
    return problems


def _exercise_file_problems(project: Project, ex: Exercise) -> list[str]:
    problems = []
    if not ex.hints:
        problems.append("the hint list is empty")
    stub = project.stub_path(ex)
    if not stub.is_file():
        problems.append(f"the stub {stub} is missing")
    else:
        text = stub.read_text(encoding="utf-8")
        if f"TODO({ex.id})" not in text:
            problems.append(f"the stub has no 'TODO({ex.id})' marker")
        if f'NotImplementedError("{ex.id}: ' not in text:
            problems.append(f'the stub has no raise NotImplementedError("{ex.id}: …")')
        for name in ex.implement:
            if not re.search(rf"^(def|class)\s+{name}\b", text, re.MULTILINE):
                problems.append(f"the stub does not define {name}, which the manifest lists")
    for piece in (project.solution_path(ex), project.grader_path(ex)):
        if not piece.is_file():
            problems.append(f"{piece} is missing")
    mistakes = project.mistake_paths(ex)
    if len(mistakes) < 2:
        problems.append(
            f"{project.mistakes_dir / ex.folder / ex.name} has {len(mistakes)} known-wrong "
            "variants; at least 2 are needed"
        )
    problems.extend(_variant_problems(project.solution_path(ex), mistakes))
    return problems


def _variant_problems(solution: Path, mistakes: list[Path]) -> list[str]:
    """Each variant must be a minimal override of the reference solution."""
    if not solution.is_file():
        return []
    reference = solution.read_text(encoding="utf-8")
    return [
        f"{path.name}: {message}"
        for path in mistakes
        for message in override_problems(
            reference,
            path.read_text(encoding="utf-8"),
            reference_name=str(solution),
            override_name=str(path),
        )
    ]


def behaviour_problems(
    project: Project,
    exercises: Iterable[Exercise],
    *,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Problem]:
    """Run the graders: stubs must be not_started, solutions pass, mistakes fail as declared."""
    from pytorch_path.runner import check

    exercises = list(exercises)
    problems: list[Problem] = []
    if not exercises:
        return problems
    selection = ",".join(ex.id for ex in exercises)
    say = progress or (lambda _msg: None)
    say("stubs")
    stub_results = check(selection, project=project, target=project.curriculum_dir, seed=seed)
    for result in stub_results.exercises:
        if result.status is not Status.NOT_STARTED:
            problems.append(
                Problem(
                    result.id,
                    f"the untouched stub is '{result.status.value}', not "
                    f"'not_started': {result.message or _first_message(result)}",
                )
            )
    say("solutions")
    solution_results = check(selection, project=project, target=project.solutions_dir, seed=seed)
    for result in solution_results.exercises:
        if result.status is not Status.PASSED:
            problems.append(
                Problem(
                    result.id,
                    f"the reference solution is '{result.status.value}': "
                    f"{result.message or _first_message(result)}",
                )
            )
    for ex in exercises:
        for path in project.mistake_paths(ex):
            say(f"{ex.id} {path.name}")
            mistake = read_mistake(path)
            result = run_variant(project, ex, path, seed=seed)
            problems.extend(Problem(ex.id, m) for m in mistake_problems(mistake, result))
    return problems


def _first_message(result: ExerciseResult) -> str:
    problem = result.first_problem
    return f"{problem.name}: {problem.message}" if problem else ""


def roadmap_problems(project: Project) -> list[Problem]:
    """The README's roadmap section must equal what the manifests generate."""
    from pytorch_path.roadmap import roadmap_is_current

    if roadmap_is_current(project):
        return []
    return [
        Problem(
            "README.md", "the roadmap section is out of date; run `pytorch-path roadmap --write`"
        )
    ]


def notebook_problems(project: Project) -> list[Problem]:
    """The committed ``notebooks/`` (where a checkout has one) must equal what the stubs give."""
    from pytorch_path.notebooks import FOLDER, stale_notebooks

    folder = project.root / FOLDER
    if not folder.is_dir():
        return []
    stale = stale_notebooks(project, folder)
    if not stale:
        return []
    return [
        Problem(
            f"{FOLDER}/",
            f"{', '.join(stale)} out of date with the stubs and lessons; run "
            f"`pytorch-path notebooks {FOLDER}`",
        )
    ]


def dev_check(
    project: Project,
    selection: str = "all",
    *,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Problem]:
    """Every dev-check step, in order: static problems, then the roadmap, then the graders.

    The graders run only when nothing static is wrong and ``quick`` is False. Raises
    :class:`~pytorch_path.curriculum.SelectionError` for a selection that names nothing.
    """
    problems = static_problems(project, selection)
    if problems:
        return problems
    problems += roadmap_problems(project)
    problems += notebook_problems(project)
    if not quick:
        problems += behaviour_problems(
            project, select(project.stages, selection), seed=seed, progress=progress
        )
    return problems
