from __future__ import annotations

import pytest

from pytorch_path.curriculum import Project
from pytorch_path.roadmap import END, START, readme_section, roadmap_markdown, with_roadmap


def test_readme_roadmap_is_in_sync(project: Project) -> None:
    section = readme_section(project.readme.read_text(encoding="utf-8"))
    assert section is not None, "README.md has no roadmap markers"
    assert section == roadmap_markdown(project), (
        "README.md's roadmap is out of date: run `pytorch-path roadmap --write`"
    )


def test_every_exercise_is_in_the_roadmap(project: Project) -> None:
    text = roadmap_markdown(project)
    for ex in project.exercises:
        assert f"| {ex.id} | " in text


def test_with_roadmap_replaces_only_the_section() -> None:
    readme = f"intro\n{START}\nold\n{END}\noutro\n"
    assert with_roadmap(readme, "new\n") == f"intro\n{START}\nnew\n{END}\noutro\n"
    with pytest.raises(ValueError):
        with_roadmap("no markers", "x")
