"""Known-wrong variants as overrides: ``compose`` and ``override_problems``, and every
variant under ``tests/mistakes`` composing with its reference solution.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pytorch_path.curriculum import Project
from pytorch_path.variants import VariantError, compose, compose_files, override_problems

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Project(ROOT)
VARIANTS = [(ex, path) for ex in PROJECT.exercises for path in PROJECT.mistake_paths(ex)]

REFERENCE = '''"""9.9 Something (reference solution)."""

from __future__ import annotations
from __future__ import generator_stop

import math

SCALE = 2


def helper(x: float) -> float:
    """Double it."""
    return x * SCALE  # the reference's comment


def area(r: float, scale: float = SCALE) -> float:
    return math.pi * r * r * scale
'''

OVERRIDE = '''"""Known mistake: helper triples.

Expect: triple
"""

from __future__ import annotations


def helper(x: float) -> float:
    return x * 3
'''


def _run(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(text, "<composed>", "exec"), namespace)
    return namespace


def test_docstring_first_then_futures_hoisted_and_deduplicated() -> None:
    composed = compose(REFERENCE, OVERRIDE)
    tree = ast.parse(composed)
    assert ast.get_docstring(tree) == "Known mistake: helper triples.\n\nExpect: triple"
    futures = [n for n in tree.body[1:3] if isinstance(n, ast.ImportFrom)]
    assert [n.module for n in futures] == ["__future__", "__future__"]
    assert [a.name for n in futures for a in n.names] == ["annotations", "generator_stop"]
    assert composed.count("from __future__ import annotations") == 1
    assert "reference solution" not in (ast.get_docstring(tree) or "")
    assert "(reference solution)" not in composed


def test_each_part_is_named_and_text_is_kept() -> None:
    composed = compose(REFERENCE, OVERRIDE, reference_name="ref.py", override_name="over.py")
    assert "# docstring: over.py" in composed
    assert "# future imports: ref.py, over.py" in composed
    assert composed.index("# reference solution: ref.py") < composed.index("# override: over.py")
    assert "return x * SCALE  # the reference's comment" in composed
    assert composed.endswith("    return x * 3\n")


def test_later_definition_wins() -> None:
    namespace = _run(compose(REFERENCE, OVERRIDE))
    helper = namespace["helper"]
    assert callable(helper)
    assert helper(2.0) == 6.0
    area = namespace["area"]
    assert callable(area)
    assert area(1.0) == pytest.approx(2 * 3.141592653589793)


def test_del_removes_a_reference_definition() -> None:
    namespace = _run(compose(REFERENCE, '"""Known mistake: no area."""\n\ndel area\n'))
    assert "area" not in namespace
    assert "helper" in namespace


def test_override_without_docstring_or_futures() -> None:
    composed = compose(REFERENCE, "SCALE = 5\n")
    tree = ast.parse(composed)
    assert ast.get_docstring(tree) is None
    assert isinstance(tree.body[0], ast.ImportFrom)
    assert _run(composed)["SCALE"] == 5


def test_future_import_sharing_a_line_is_removed_cleanly() -> None:
    override = '"""Doc."""\nfrom __future__ import annotations; import os\nX = os.sep\n'
    composed = compose(REFERENCE, override)
    assert _run(composed)["X"]
    assert ast.get_docstring(ast.parse(composed)) == "Doc."


def test_non_ascii_docstring_sharing_its_line_and_crlf() -> None:
    override = '"""Known mistake: … é."""; X = 1\r\nY = 2\r\n'
    composed = compose(REFERENCE, override)
    assert ast.get_docstring(ast.parse(composed)) == "Known mistake: … é."
    namespace = _run(composed)
    assert (namespace["X"], namespace["Y"]) == (1, 2)


def test_syntax_error_names_the_file_and_line() -> None:
    bad = '"""Known mistake."""\n\ndef helper(x):\n    return (x\n'
    with pytest.raises(VariantError, match=r"^bad\.py:4:\d+: ") as info:
        compose(REFERENCE, bad, override_name="bad.py")
    assert isinstance(info.value, ValueError)


def test_compose_files_names_the_paths(tmp_path: Path) -> None:
    ref, over = tmp_path / "ref.py", tmp_path / "over.py"
    ref.write_text(REFERENCE, encoding="utf-8")
    over.write_text(OVERRIDE, encoding="utf-8")
    composed = compose_files(ref, over)
    assert f"# override: {over}" in composed
    over.write_text("def f(:\n", encoding="utf-8")
    with pytest.raises(VariantError, match=rf"^{over}:1:"):
        compose_files(ref, over)


def test_a_changed_definition_is_no_problem() -> None:
    assert override_problems(REFERENCE, OVERRIDE) == []


def test_an_empty_override_is_a_problem() -> None:
    empty = '"""Known mistake: nothing.\n\nExpect: x\n"""\n\nfrom __future__ import annotations\n'
    problems = override_problems(REFERENCE, empty)
    assert len(problems) == 1
    assert "defines nothing" in problems[0]


def test_an_unchanged_definition_is_a_problem() -> None:
    override = OVERRIDE + (
        "\n\ndef area(r: float, scale: float = SCALE) -> float:\n"
        "    return math.pi * r * r * scale  # same code, other comment\n"
        "\n\nSCALE = 2\n"
    )
    problems = override_problems(REFERENCE, override)
    assert len(problems) == 2
    assert problems[0].startswith("def area (line 13) is the same as the reference")
    assert "drop it from the override" in problems[0]
    assert problems[1].startswith("the assignment to SCALE (line 17)")


def test_a_copy_needed_for_a_changed_default_is_no_problem() -> None:
    override = (
        '"""Known mistake: scale 3."""\n\nSCALE = 3\n\n\n'
        "def area(r: float, scale: float = SCALE) -> float:\n"
        "    return math.pi * r * r * scale\n"
    )
    assert override_problems(REFERENCE, override) == []


def test_a_syntax_error_is_a_problem() -> None:
    problems = override_problems(REFERENCE, "def f(:\n", override_name="v.py")
    assert len(problems) == 1
    assert problems[0].startswith("v.py:1:")


@pytest.mark.parametrize(
    ("ex", "path"), VARIANTS, ids=[f"{ex.id}-{path.stem}" for ex, path in VARIANTS]
)
def test_every_variant_composes_and_is_a_minimal_override(ex, path: Path) -> None:
    solution = PROJECT.solution_path(ex)
    composed = compose_files(solution, path)
    compile(composed, str(path), "exec")
    problems = override_problems(
        solution.read_text(encoding="utf-8"), path.read_text(encoding="utf-8")
    )
    assert not problems, "\n".join(problems)
