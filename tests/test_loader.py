from __future__ import annotations

from pathlib import Path

import pytest

from pytorch_path.loader import (
    LearnerFileMissingError,
    LearnerImportError,
    LearnerSyntaxError,
    load_module,
)


def write(tmp_path: Path, text: str, name: str = "ex01_x.py") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_a_fresh_module_each_time(tmp_path: Path) -> None:
    path = write(tmp_path, "VALUE = 1\n")
    first = load_module(path)
    path.write_text("VALUE = 2\n", encoding="utf-8")
    second = load_module(path)
    assert (first.VALUE, second.VALUE) == (1, 2)
    assert first.__name__ != second.__name__


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LearnerFileMissingError, match=r"ex09_gone\.py does not exist"):
        load_module(tmp_path / "ex09_gone.py", display="ex09_gone.py")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "import torch\n\n\ndef f(x):\n    return x +\n")
    with pytest.raises(LearnerSyntaxError) as info:
        load_module(path, display="stage1/ex01_x.py")
    assert str(info.value).startswith("stage1/ex01_x.py has a syntax error on line 5")
    assert info.value.line == 5


def test_indentation_error_is_a_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "def f(x):\nreturn x\n")
    with pytest.raises(LearnerSyntaxError, match="line 2"):
        load_module(path)


def test_exception_at_import_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "A = 1\nB = {}['missing']\n")
    with pytest.raises(LearnerImportError) as info:
        load_module(path, display="ex01_x.py")
    assert str(info.value).splitlines() == [
        "ex01_x.py failed while being imported on line 2: KeyError: 'missing'",
        "   2 | B = {}['missing']",
        "     |     ^^^^^^^^^^^^^",
    ]


def test_point_at_shows_the_line_and_a_caret() -> None:
    from pytorch_path.loader import point_at

    source = "a = 1\n    b = (2,\n"
    assert point_at(source, 2, 9) == "\n   2 |     b = (2,\n     |         ^"
    assert point_at(source, 2, 5, 6) == "\n   2 |     b = (2,\n     |     ^"
    assert point_at(source, 1) == "\n   1 | a = 1"
    assert point_at(source, 9) == "" and point_at(source, None) == ""


def test_missing_package_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "import not_a_real_package_xyz\n")
    with pytest.raises(LearnerImportError, match="imports 'not_a_real_package_xyz'"):
        load_module(path)


def test_exit_at_import_is_caught(tmp_path: Path) -> None:
    path = write(tmp_path, "import sys\nsys.exit(3)\n")
    with pytest.raises(LearnerImportError, match="called exit"):
        load_module(path)


def test_null_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ex01_x.py"
    path.write_bytes(b"x = 1\x00\n")
    with pytest.raises(LearnerSyntaxError):
        load_module(path)


def test_learner_file_cannot_shadow_torch(tmp_path: Path) -> None:
    (tmp_path / "torch.py").write_text("raise RuntimeError('fake torch')\n", encoding="utf-8")
    path = write(tmp_path, "import torch\nOK = hasattr(torch, 'tensor')\n")
    assert load_module(path).OK
