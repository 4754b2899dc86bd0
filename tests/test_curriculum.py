from __future__ import annotations

from pathlib import Path

import pytest

from pytorch_path.curriculum import (
    TIERS,
    ManifestError,
    Project,
    SelectionError,
    load_stage,
    select,
)

GOOD = """\
format_version: 1
stage: 1
title: Test stage
exercises:
  - id: "1.1"
    slug: first
    title: First
    tier: seedling
    points: 5
    implement: [f]
    hints: [one]
  - id: "1.2"
    slug: second
    title: Second
    tier: sprout
    points: 5
    time_limit_s: 3
    implement: [g]
    concepts: [x]
    hints: [one, two]
"""


def write_stage(tmp_path: Path, text: str, folder: str = "stage1_test") -> Path:
    manifest = tmp_path / "curriculum" / folder / "stage.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(text, encoding="utf-8")
    return manifest


def test_real_manifests_load(project: Project) -> None:
    stages = project.stages
    assert [s.number for s in stages] == sorted(s.number for s in stages)
    ids = [ex.id for ex in project.exercises]
    assert len(ids) == len(set(ids))
    assert all(ex.tier in TIERS for ex in project.exercises)
    assert len(project.stage(1).exercises) >= 8


def test_paths_follow_the_convention(project: Project) -> None:
    ex = project.exercise("1.1")
    assert ex.name == "ex01_tensor_basics"
    assert project.stub_path(ex) == project.root / "curriculum/stage1_tensors/ex01_tensor_basics.py"
    assert (
        project.solution_path(ex) == project.root / "solutions/stage1_tensors/ex01_tensor_basics.py"
    )
    assert project.grader_path(ex) == (
        project.root / "graders/stage1_tensors/test_ex01_tensor_basics.py"
    )
    assert project.mistakes_dir / "stage1_tensors" / "ex01_tensor_basics" in {
        p.parent for p in project.mistake_paths(ex)
    }


def test_good_manifest(tmp_path: Path) -> None:
    stage = load_stage(write_stage(tmp_path, GOOD))
    assert stage.number == 1
    assert [e.id for e in stage.exercises] == ["1.1", "1.2"]
    assert stage.exercises[0].time_limit_s == 30.0
    assert stage.exercises[1].hints == ("one", "two")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda t: t.replace("    hints: [one]\n", "    hints: [one]\n    colour: red\n"),
            "exercises[0].colour: unknown key",
        ),
        (
            lambda t: t.replace("tier: seedling", "tier: hard"),
            "exercises[0].tier: 'hard' is not a tier",
        ),
        (lambda t: t.replace('id: "1.2"', 'id: "1.1"'), "exercises[1].id: duplicate id '1.1'"),
        (lambda t: t.replace("slug: second", "slug: first"), "duplicate slug"),
        (lambda t: t.replace("format_version: 1", "format_version: 2"), "format_version"),
        (lambda t: t.replace("stage: 1", "stage: 2"), "stage: 2 does not match"),
        (lambda t: t.replace('id: "1.2"', 'id: "2.2"'), "does not belong to stage 1"),
        (
            lambda t: t.replace("points: 5\n    implement: [f]", "points: -1\n    implement: [f]"),
            "points: expected a positive number",
        ),
        (
            lambda t: t.replace("    implement: [f]\n", ""),
            "exercises[0].implement: required key is missing",
        ),
        (
            lambda t: t.replace("title: Test stage", "title: Test stage\nauthor: me"),
            "author: unknown key",
        ),
        (lambda t: t.replace("slug: first", "slug: First-One"), "not a snake_case name"),
        (lambda t: t.replace("hints: [one]", "hints: one"), "hints: expected a list"),
        (lambda t: t + "  - [broken\n", "not valid YAML"),
    ],
)
def test_bad_manifest_names_file_and_key(tmp_path: Path, change, fragment: str) -> None:
    manifest = write_stage(tmp_path, change(GOOD))
    with pytest.raises(ManifestError) as info:
        load_stage(manifest)
    assert str(manifest) in str(info.value)
    assert fragment in str(info.value)


def test_missing_solution_or_grader_is_reported(tmp_path: Path) -> None:
    manifest = write_stage(tmp_path, GOOD)
    project = Project(tmp_path)
    with pytest.raises(
        ManifestError, match=r"solution solutions/stage1_test/ex01_first\.py is missing"
    ):
        load_stage(manifest, project)


def test_folder_name_must_match(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="is not named like"):
        load_stage(write_stage(tmp_path, GOOD, folder="tensors"))


@pytest.mark.parametrize(
    ("selection", "ids"),
    [
        ("1.1", ["1.1"]),
        ("1.3", ["1.3"]),
        ("1", ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"]),
        ("all", ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"]),
        ("1-1", ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"]),
        ("1.3,1.1", ["1.1", "1.3"]),
        ("ALL", ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"]),
    ],
)
def test_select(mini: Project, selection: str, ids: list[str]) -> None:
    assert [e.id for e in select(mini.stages, selection)] == ids


@pytest.mark.parametrize(
    ("selection", "fragment"),
    [
        ("9", "there is no stage 9; the stages are 1 (A tiny stage for testing the engine)"),
        ("1.99", "there is no exercise 1.99 in stage 1; its exercises run from 1.1 to 1.7"),
        ("9.1", "there is no stage 9"),
        ("1-9", "there is no stage 9"),
        ("3-1", "runs backwards"),
        ("tensors", "'tensors' is not a selection"),
        ("", "is not a selection"),
        ("1,,2", "is not a selection"),
    ],
)
def test_bad_selection(mini: Project, selection: str, fragment: str) -> None:
    with pytest.raises(SelectionError) as info:
        select(mini.stages, selection)
    assert fragment in str(info.value)


def test_exercise_numbers_sort_numerically() -> None:
    from pytorch_path.curriculum import Exercise

    def ex(num: int) -> Exercise:
        return Exercise(
            id=f"1.{num}",
            slug="s",
            title="t",
            tier="seedling",
            points=1,
            time_limit_s=1,
            implement=("f",),
            concepts=(),
            hints=("h",),
            stage=1,
            folder="stage1_x",
        )

    assert sorted([ex(10), ex(9), ex(1)], key=lambda e: e.sort_key)[-1].id == "1.10"
    assert ex(10).filename == "ex10_s.py"


def test_locate_finds_the_checkout_from_a_subfolder(project: Project) -> None:
    found = Project.locate(project.root / "src" / "pytorch_path")
    assert found.root == project.root


MINI = Path(__file__).resolve().parent / "fixtures" / "mini_curriculum"


def test_search_roots_order(tmp_path: Path) -> None:
    """Around ``start`` first, then above the package (editable checkout), the bundle last."""
    from pytorch_path.curriculum import BUNDLE_DIR

    start = tmp_path / "a"
    start.mkdir()
    roots = list(Project.search_roots(start))
    package = Path(__file__).resolve().parents[1] / "src" / "pytorch_path"
    assert roots[:2] == [start.resolve(), tmp_path.resolve()]
    assert roots.index(package.parents[1]) > roots.index(Path(tmp_path.anchor))
    assert roots[-1] == BUNDLE_DIR
    assert len(roots) == len(set(roots))


def test_the_checkout_around_the_start_wins_over_the_package_checkout() -> None:
    """The fixture project sits inside this checkout: from inside it, it is found first."""
    assert Project.locate(MINI / "curriculum").root == MINI
    assert Project.is_root(MINI) and not Project.is_root(MINI / "curriculum")


def test_locate_falls_back_to_the_package_checkout(tmp_path: Path) -> None:
    assert Project.locate(tmp_path).root == Path(__file__).resolve().parents[1]


def test_search_roots_skip_a_removed_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    roots = list(Project.search_roots())
    assert roots and gone not in roots
