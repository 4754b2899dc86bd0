"""The curriculum: loading and validating ``stage.yaml`` manifests, and selections.

Every exercise is declared once, in its stage's ``stage.yaml``. Every file that
belongs to it (stub, solution, grader, known-wrong variants, lesson) is found
from that declaration by convention; nothing else lists exercises.

This module must stay cheap to import: it never imports torch.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

# BUNDLE_DIR (where an installed wheel keeps its copy of curriculum/, graders/, solutions/
# and data/) is re-exported: it belongs to the search order, which lives in locations.
from pytorch_path.locations import BUNDLE_DIR as BUNDLE_DIR
from pytorch_path.locations import candidate_roots

#: The difficulty tiers, in order, with the emoji that stands for each.
TIERS: dict[str, str] = {
    "seedling": "🌱",
    "sprout": "🌿",
    "breakthrough": "🔥",
    "mastery": "🌟",
    "guardian": "🛡",
}

#: Stages announced but not shipped yet (a stage with a manifest is no longer "planned");
#: every announced stage has shipped.
PLANNED_STAGES: dict[int, str] = {}

FORMAT_VERSION = 1
_STAGE_KEYS = {"format_version", "stage", "title", "exercises"}
_REQUIRED_STAGE_KEYS = _STAGE_KEYS
_EXERCISE_KEYS = {
    "id",
    "slug",
    "title",
    "tier",
    "points",
    "time_limit_s",
    "implement",
    "concepts",
    "hints",
}
_REQUIRED_EXERCISE_KEYS = {"id", "slug", "title", "tier", "points", "implement", "hints"}
_DEFAULT_TIME_LIMIT_S = 30.0
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ID = re.compile(r"^(\d+)\.(\d+)$")
_FOLDER = re.compile(r"^stage(\d+)_[a-z0-9_]+$")


class ManifestError(ValueError):
    """A ``stage.yaml`` is malformed; the message names the file and the key."""


class SelectionError(ValueError):
    """A selection such as ``9`` or ``1.99`` names nothing in the curriculum."""


class ProjectNotFoundError(RuntimeError):
    """No folder holding ``curriculum/stage*/stage.yaml`` could be found."""


@dataclass(frozen=True)
class Exercise:
    """One exercise, exactly as its stage's manifest declares it."""

    id: str
    """Dotted id, ``"<stage>.<number>"``, e.g. ``"2.3"``."""
    slug: str
    """Snake-case name used in file names, e.g. ``training_loop``."""
    title: str
    """Short English title shown in tables."""
    tier: str
    """Difficulty tier, one of :data:`TIERS`."""
    points: float
    """Points the exercise is worth when every test passes."""
    time_limit_s: float
    """Wall-clock budget for all of the exercise's tests together."""
    implement: tuple[str, ...]
    """Names the learner implements in the stub."""
    concepts: tuple[str, ...]
    """PyTorch concepts the exercise practises."""
    hints: tuple[str, ...]
    """Hints, from gentle to explicit."""
    stage: int
    """Stage number."""
    folder: str
    """Stage folder name, e.g. ``stage2_training``."""

    @property
    def number(self) -> int:
        """The exercise's number within its stage (``3`` for ``"2.3"``)."""
        return int(self.id.split(".")[1])

    @property
    def name(self) -> str:
        """File stem shared by stub, solution and mistakes, e.g. ``ex03_training_loop``."""
        return f"ex{self.number:02d}_{self.slug}"

    @property
    def filename(self) -> str:
        """The learner's file name, e.g. ``ex03_training_loop.py``."""
        return f"{self.name}.py"

    @property
    def relpath(self) -> str:
        """Path of the learner's file inside any target, e.g. ``stage2_training/ex03_….py``."""
        return f"{self.folder}/{self.filename}"

    @property
    def emoji(self) -> str:
        """The tier's emoji."""
        return TIERS[self.tier]

    @property
    def sort_key(self) -> tuple[int, int]:
        """Numeric ordering key: ``1.10`` sorts after ``1.9``."""
        return (self.stage, self.number)


@dataclass(frozen=True)
class Stage:
    """One stage folder and its manifest."""

    number: int
    """Stage number, 1 to 5."""
    title: str
    """English title of the stage."""
    folder: str
    """Folder name, e.g. ``stage1_tensors``."""
    manifest: Path
    """Path of the ``stage.yaml`` this stage was loaded from."""
    exercises: tuple[Exercise, ...] = field(default=())
    """The stage's exercises, in manifest order."""


@dataclass(frozen=True)
class Project:
    """A pytorch-path checkout: where the curriculum, solutions and graders live."""

    root: Path
    """The folder holding ``curriculum/``, ``solutions/`` and ``graders/``."""

    @property
    def curriculum_dir(self) -> Path:
        """Folder of stubs and lessons: the default target."""
        return self.root / "curriculum"

    @property
    def solutions_dir(self) -> Path:
        """Folder of reference solutions, shaped like ``curriculum/``."""
        return self.root / "solutions"

    @property
    def graders_dir(self) -> Path:
        """Folder of pytest graders, shaped like ``curriculum/``."""
        return self.root / "graders"

    @property
    def mistakes_dir(self) -> Path:
        """Folder of known-wrong variants: ``<stage folder>/<exercise name>/*.py``."""
        return self.root / "tests" / "mistakes"

    @property
    def readme(self) -> Path:
        """The project README, whose roadmap section is generated."""
        return self.root / "README.md"

    @staticmethod
    def search_roots(start: Path | None = None) -> Iterator[Path]:
        """The folders where the course is looked for, in the one search order.

        ``start`` (default: the working directory) and every folder above it; then
        every folder above this package (the checkout of an editable install); then
        :data:`BUNDLE_DIR` (an installed wheel). :meth:`locate` takes the first that
        is a project, :func:`pytorch_path.data.data_dir` the first with a data folder
        (see :func:`pytorch_path.locations.candidate_roots`, which both use).
        """
        return candidate_roots(start)

    @staticmethod
    def is_root(folder: Path) -> bool:
        """Whether ``folder`` holds ``curriculum/stage*_*/stage.yaml`` and ``graders/``."""
        return (
            any((folder / "curriculum").glob("stage*_*/stage.yaml"))
            and (folder / "graders").is_dir()
        )

    @classmethod
    def locate(cls, start: Path | None = None) -> Project:
        """The first project in :meth:`search_roots` order.

        So: the checkout around ``start`` (default: the working directory), else the
        checkout this package was installed from in editable mode, else the copy an
        installed wheel carries.
        """
        for folder in cls.search_roots(start):
            if cls.is_root(folder):
                return cls(folder)
        where = start if start is not None else "the working directory"
        raise ProjectNotFoundError(
            "could not find a pytorch-path checkout (a folder with curriculum/ and graders/) "
            f"in {where} or above, nor an installed copy; run the command from inside your clone"
        )

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """All stages, validated, in numeric order."""
        return load_stages(self.curriculum_dir, self)

    @property
    def exercises(self) -> tuple[Exercise, ...]:
        """Every exercise of every stage, in order."""
        return tuple(ex for stage in self.stages for ex in stage.exercises)

    def exercise(self, ex_id: str) -> Exercise:
        """The exercise with this id; :class:`SelectionError` if there is none."""
        found = select(self.stages, ex_id)
        if len(found) != 1:
            raise SelectionError(f"{ex_id!r} is not one exercise id such as 1.3")
        return found[0]

    def stage(self, number: int) -> Stage:
        """The stage with this number; :class:`SelectionError` if there is none."""
        for stage in self.stages:
            if stage.number == number:
                return stage
        raise SelectionError(_no_stage_message(str(number), self.stages))

    def stub_path(self, ex: Exercise) -> Path:
        """The shipped stub the learner edits."""
        return self.curriculum_dir / ex.relpath

    def solution_path(self, ex: Exercise) -> Path:
        """The reference solution."""
        return self.solutions_dir / ex.relpath

    def grader_path(self, ex: Exercise, graders_dir: Path | None = None) -> Path:
        """The pytest file that grades the exercise."""
        return (graders_dir or self.graders_dir) / ex.folder / f"test_{ex.filename}"

    def mistake_paths(self, ex: Exercise) -> list[Path]:
        """The known-wrong variants of the exercise, sorted by name."""
        return sorted((self.mistakes_dir / ex.folder / ex.name).glob("*.py"))

    def lesson_path(self, stage: Stage, lang: str = "en") -> Path:
        """The stage's lesson: ``README.md`` or ``README.<lang>.md``."""
        name = "README.md" if lang == "en" else f"README.{lang}.md"
        return self.curriculum_dir / stage.folder / name


def learner_path(target: Path, ex: Exercise) -> Path:
    """Where the learner's file for ``ex`` lives inside a target folder."""
    return target / ex.relpath


def _fail(manifest: Path, key: str, message: str) -> ManifestError:
    return ManifestError(f"{manifest}: {key}: {message}")


def _str_list(value: Any, manifest: Path, key: str, *, ident: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(manifest, key, "expected a list of non-empty strings")
    if ident:
        for v in value:
            if not _IDENT.match(v):
                raise _fail(manifest, key, f"{v!r} is not a Python name")
    return tuple(value)


def _number(value: Any, manifest: Path, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(manifest, key, f"expected a positive number, got {value!r}")
    return float(value)


def _parse_exercise(raw: Any, index: int, manifest: Path, stage_no: int, folder: str) -> Exercise:
    where = f"exercises[{index}]"
    if not isinstance(raw, Mapping):
        raise _fail(manifest, where, "expected a mapping of exercise keys")
    unknown = sorted(set(raw) - _EXERCISE_KEYS)
    if unknown:
        raise _fail(
            manifest,
            f"{where}.{unknown[0]}",
            f"unknown key; known keys are {', '.join(sorted(_EXERCISE_KEYS))}",
        )
    missing = sorted(_REQUIRED_EXERCISE_KEYS - set(raw))
    if missing:
        raise _fail(manifest, f"{where}.{missing[0]}", "required key is missing")
    ex_id = str(raw["id"])
    match = _ID.match(ex_id)
    if not match:
        raise _fail(manifest, f"{where}.id", f"{ex_id!r} is not of the form '<stage>.<number>'")
    if int(match.group(1)) != stage_no:
        raise _fail(manifest, f"{where}.id", f"{ex_id!r} does not belong to stage {stage_no}")
    slug = raw["slug"]
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise _fail(manifest, f"{where}.slug", f"{slug!r} is not a snake_case name")
    title = raw["title"]
    if not isinstance(title, str) or not title.strip():
        raise _fail(manifest, f"{where}.title", "expected a non-empty string")
    tier = raw["tier"]
    if tier not in TIERS:
        raise _fail(
            manifest, f"{where}.tier", f"{tier!r} is not a tier; expected one of {', '.join(TIERS)}"
        )
    return Exercise(
        id=ex_id,
        slug=slug,
        title=title.strip(),
        tier=tier,
        points=_number(raw["points"], manifest, f"{where}.points"),
        time_limit_s=_number(
            raw.get("time_limit_s", _DEFAULT_TIME_LIMIT_S), manifest, f"{where}.time_limit_s"
        ),
        implement=_str_list(raw["implement"], manifest, f"{where}.implement", ident=True),
        concepts=_str_list(raw.get("concepts", []), manifest, f"{where}.concepts"),
        hints=_str_list(raw["hints"], manifest, f"{where}.hints"),
        stage=stage_no,
        folder=folder,
    )


def load_stage(manifest: Path, project: Project | None = None) -> Stage:
    """Load and validate one ``stage.yaml``.

    Raises :class:`ManifestError` naming the file and key for unknown keys, a wrong
    format version, a tier outside the five, duplicate ids or slugs, or (when
    ``project`` is given) a missing solution or grader.
    """
    folder = manifest.parent.name
    folder_match = _FOLDER.match(folder)
    if not folder_match:
        raise _fail(manifest, "folder", f"{folder!r} is not named like 'stage2_training'")
    try:
        raw = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _fail(manifest, "yaml", f"not valid YAML ({exc})") from None
    if not isinstance(raw, Mapping):
        raise _fail(manifest, "top level", "expected a mapping")
    unknown = sorted(set(raw) - _STAGE_KEYS)
    if unknown:
        raise _fail(
            manifest, unknown[0], f"unknown key; known keys are {', '.join(sorted(_STAGE_KEYS))}"
        )
    missing = sorted(_REQUIRED_STAGE_KEYS - set(raw))
    if missing:
        raise _fail(manifest, missing[0], "required key is missing")
    if raw["format_version"] != FORMAT_VERSION:
        raise _fail(
            manifest,
            "format_version",
            f"{raw['format_version']!r} is not supported; this pytorch-path reads {FORMAT_VERSION}",
        )
    stage_no = raw["stage"]
    if not isinstance(stage_no, int) or stage_no != int(folder_match.group(1)):
        raise _fail(manifest, "stage", f"{stage_no!r} does not match the folder {folder!r}")
    if not isinstance(raw["title"], str) or not raw["title"].strip():
        raise _fail(manifest, "title", "expected a non-empty string")
    if not isinstance(raw["exercises"], list) or not raw["exercises"]:
        raise _fail(manifest, "exercises", "expected a non-empty list")
    exercises: list[Exercise] = []
    seen_ids: set[str] = set()
    seen_slugs: set[str] = set()
    for index, item in enumerate(raw["exercises"]):
        ex = _parse_exercise(item, index, manifest, stage_no, folder)
        if ex.id in seen_ids or any(e.number == ex.number for e in exercises):
            raise _fail(manifest, f"exercises[{index}].id", f"duplicate id {ex.id!r}")
        if ex.slug in seen_slugs:
            raise _fail(manifest, f"exercises[{index}].slug", f"duplicate slug {ex.slug!r}")
        seen_ids.add(ex.id)
        seen_slugs.add(ex.slug)
        exercises.append(ex)
    if project is not None:
        for index, ex in enumerate(exercises):
            for kind, path in (
                ("solution", project.solution_path(ex)),
                ("grader", project.grader_path(ex)),
            ):
                if not path.is_file():
                    raise _fail(
                        manifest,
                        f"exercises[{index}] ({ex.id})",
                        f"its {kind} {path.relative_to(project.root)} is missing",
                    )
    return Stage(
        number=stage_no,
        title=raw["title"].strip(),
        folder=folder,
        manifest=manifest,
        exercises=tuple(exercises),
    )


def load_stages(curriculum_dir: Path, project: Project | None = None) -> tuple[Stage, ...]:
    """Load every ``stage*/stage.yaml`` under ``curriculum_dir``, in stage order."""
    stages = [load_stage(m, project) for m in curriculum_dir.glob("stage*_*/stage.yaml")]
    stages.sort(key=lambda s: s.number)
    for a, b in itertools.pairwise(stages):
        if a.number == b.number:
            raise _fail(b.manifest, "stage", f"stage {b.number} is also declared by {a.manifest}")
    return tuple(stages)


def _no_stage_message(token: str, stages: Iterable[Stage]) -> str:
    stages = tuple(stages)
    listing = ", ".join(f"{s.number} ({s.title})" for s in stages)
    shipped = {s.number for s in stages}
    if token.isdigit() and int(token) in PLANNED_STAGES and int(token) not in shipped:
        title = PLANNED_STAGES[int(token)]
        return (
            f"stage {token} ({title}) is planned but not written yet; the stages you can "
            f"work on now are {listing}"
        )
    return f"there is no stage {token}; the stages are {listing}"


def select(stages: Iterable[Stage], selection: str) -> list[Exercise]:
    """Resolve a selection to exercises, in curriculum order.

    ``selection`` is ``all``, a stage (``2``), an exercise (``2.3``), a range of
    stages (``1-3``), or several of these joined by commas (``1.2,2``).
    """
    stages = tuple(stages)
    chosen: dict[str, Exercise] = {}
    tokens = [t.strip() for t in selection.split(",")]
    if not selection.strip() or not all(tokens):
        raise SelectionError(
            f"{selection!r} is not a selection; use a stage (2), an exercise (2.3), "
            "a range (1-3) or 'all'"
        )
    for token in tokens:
        for ex in _select_one(stages, token):
            chosen[ex.id] = ex
    return sorted(chosen.values(), key=lambda e: e.sort_key)


def _select_one(stages: tuple[Stage, ...], token: str) -> list[Exercise]:
    by_number = {s.number: s for s in stages}
    if token.lower() == "all":
        return [ex for s in stages for ex in s.exercises]
    if re.fullmatch(r"\d+", token):
        stage = by_number.get(int(token))
        if stage is None:
            raise SelectionError(_no_stage_message(token, stages))
        return list(stage.exercises)
    range_match = re.fullmatch(r"(\d+)-(\d+)", token)
    if range_match:
        lo, hi = int(range_match.group(1)), int(range_match.group(2))
        if lo > hi:
            raise SelectionError(f"the range {token!r} runs backwards; write {hi}-{lo}")
        for n in (lo, hi):
            if n not in by_number:
                raise SelectionError(_no_stage_message(str(n), stages))
        return [ex for s in stages if lo <= s.number <= hi for ex in s.exercises]
    id_match = _ID.fullmatch(token)
    if id_match:
        stage = by_number.get(int(id_match.group(1)))
        if stage is None:
            raise SelectionError(_no_stage_message(id_match.group(1), stages))
        for ex in stage.exercises:
            if ex.number == int(id_match.group(2)):
                return [ex]
        first, last = stage.exercises[0].id, stage.exercises[-1].id
        raise SelectionError(
            f"there is no exercise {token} in stage {stage.number}; "
            f"its exercises run from {first} to {last} (see 'pytorch-path list {stage.number}')"
        )
    raise SelectionError(
        f"{token!r} is not a selection; use a stage (2), an exercise (2.3), a range (1-3) or 'all'"
    )
