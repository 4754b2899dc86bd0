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


def test_write_roadmap_says_whether_it_changed_anything(mini_copy: Project) -> None:
    from pytorch_path.roadmap import roadmap_is_current, write_roadmap

    mini_copy.readme.write_text(f"# mini\n{START}\nold\n{END}\n", encoding="utf-8")
    assert not roadmap_is_current(mini_copy)
    assert write_roadmap(mini_copy) is True
    assert roadmap_is_current(mini_copy)
    assert write_roadmap(mini_copy) is False
    mini_copy.readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no roadmap markers"):
        write_roadmap(mini_copy)
