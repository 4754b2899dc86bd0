"""`pytorch_path.plot` and `pytorch-path plot`: loss curves from the graders' ``loss_curve``."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pytorch_path.cli import main
from pytorch_path.curriculum import Project
from pytorch_path.plot import (
    BLOCKS,
    Curve,
    CurvePlot,
    Curves,
    NoCurveError,
    PlotError,
    curves,
    has_curve,
    plottable,
    sparkline,
    summary_lines,
    write_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (which always comes first)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def linreg_target(tmp_path: Path, project: Project, body: str | None = None) -> Path:
    """A target holding only 1.9's file: the reference solution, or ``body``."""
    ex = project.exercise("1.9")
    path = tmp_path / "target" / ex.relpath
    path.parent.mkdir(parents=True)
    path.write_text(body if body is not None else project.solution_path(ex).read_text())
    return tmp_path / "target"


def synthetic(project: Project, *, val: bool = False) -> Curves:
    """Curves made up here (no training), for the drawing tests."""
    loss = tuple(2.0 * 0.8**i for i in range(15))
    curve = Curve(
        loss=loss,
        label="train loss per epoch",
        val_loss=tuple(v * 1.1 for v in loss) if val else None,
        accuracy=tuple(0.5 + 0.03 * i for i in range(15)) if val else None,
    )
    return Curves(
        exercise=project.exercise("2.3"),
        seed=0,
        yours=curve,
        reference=curve,
        learner_file=Path("x.py"),
    )


# ----------------------------------------------------------------------------- sparkline


def test_sparkline_spans_the_blocks_lowest_to_highest() -> None:
    line = sparkline([0, 1, 2, 3, 4, 5, 6, 7], width=8)
    assert line == BLOCKS
    assert sparkline([7, 6, 5, 4, 3, 2, 1, 0], width=8) == BLOCKS[::-1]


@pytest.mark.parametrize("n", [1, 2, 3, 39, 40, 41, 200])
@pytest.mark.parametrize("width", [1, 10, 40])
def test_sparkline_is_always_width_long(n: int, width: int) -> None:
    line = sparkline([math.sin(i) for i in range(n)], width=width)
    assert len(line) == width
    assert set(line) <= set(BLOCKS)


def test_sparkline_stretches_a_short_series() -> None:
    line = sparkline([0.0, 1.0], width=9)
    assert line[0] == "▁" and line[-1] == "█"
    assert list(line) == sorted(line)  # interpolated: never falls
    assert len(set(line)) == 8


def test_sparkline_averages_a_long_series() -> None:
    # 100 values into 10 buckets: each bucket is 10 equal values, so the averages climb.
    values = [float(i // 10) for i in range(100)]
    assert sparkline(values, width=10) == sparkline(list(range(10)), width=10)


def test_sparkline_shows_nan_as_question_marks() -> None:
    assert sparkline([1.0, math.nan, 3.0], width=3) == "▁?█"
    assert sparkline([math.nan, math.inf], width=2) == "??"
    # a bucket holding a NaN is unknown; the others are still drawn
    line = sparkline([1.0, 2.0, math.nan, 4.0], width=2)
    assert line[0] in BLOCKS and line[1] == "?"


def test_sparkline_of_a_constant_series_is_flat() -> None:
    line = sparkline([0.25] * 12, width=20)
    assert len(line) == 20 and len(set(line)) == 1 and line[0] in BLOCKS


def test_sparkline_shared_bounds_and_edge_cases() -> None:
    assert sparkline([0.0, 1.0], width=2, bounds=(0.0, 2.0)) == "▁▅"  # 1 is half way
    assert sparkline([], width=10) == ""
    with pytest.raises(ValueError, match="width"):
        sparkline([1.0], width=0)


# ----------------------------------------------------------------------------- finding curves


def test_plottable_comes_from_the_graders(project: Project, mini: Project) -> None:
    found = plottable(project)
    assert found, "no grader declares a loss_curve scenario"
    assert all(has_curve(project, ex) for ex in found)
    assert "1.9" in {ex.id for ex in found}
    assert plottable(mini) == []  # the fixture graders declare no curve


def test_has_curve_wants_the_scenario_decorator(tmp_path: Path, mini: Project) -> None:
    import shutil

    root = tmp_path / "mini"
    shutil.copytree(mini.root, root)
    copy = Project(root)
    ex = copy.exercises[0]
    grader = copy.grader_path(ex)
    text = grader.read_text()
    grader.write_text(text + "\n\ndef loss_curve(mod, *, seed=0):\n    return {}\n")
    assert not has_curve(copy, ex)
    grader.write_text(
        text + "\n\n@scenario\ndef loss_curve(mod, *, seed=0):\n    return {'loss': [1.0]}\n"
    )
    assert has_curve(copy, ex)


def test_an_exercise_without_a_curve_is_refused(project: Project) -> None:
    ex = next(e for e in project.exercises if not has_curve(project, e))
    with pytest.raises(NoCurveError, match=f"exercise {ex.id} has no loss curve") as caught:
        curves(project, ex, project.solutions_dir, seed=0)
    assert ", ".join(e.id for e in plottable(project)) in str(caught.value)


# ----------------------------------------------------------------------------- running


def test_curves_of_the_reference_equal_and_fall(project: Project) -> None:
    c = curves(project, project.exercise("1.9"), project.solutions_dir, seed=0)
    assert c.yours == c.reference
    loss = c.yours.loss
    assert len(loss) > 5 and all(math.isfinite(v) for v in loss)
    assert loss[-1] < 0.1 * loss[0]
    assert c.title.startswith("1.9 ")


def test_curves_depend_on_the_seed(project: Project) -> None:
    ex = project.exercise("1.9")
    a = curves(project, ex, project.solutions_dir, seed=1)
    b = curves(project, ex, project.solutions_dir, seed=1)
    c = curves(project, ex, project.solutions_dir, seed=2)
    assert a.yours == b.yours
    assert a.yours.loss != c.yours.loss


def test_the_untouched_stub_is_not_implemented(project: Project) -> None:
    ex = project.exercise("1.9")
    with pytest.raises(PlotError, match="not implemented") as caught:
        curves(project, ex, project.curriculum_dir, seed=0)
    message = str(caught.value)
    assert ex.filename in message and "line " in message
    assert "\n" not in message


def test_a_learner_error_names_the_file_and_line(tmp_path: Path, project: Project) -> None:
    body = (
        "def predict(X, w, b):\n"
        "    return X @ w + b\n"
        "\n"
        "\n"
        "def fit_linear_regression(X, y, *, lr, steps):\n"
        "    raise ValueError('the learning rate is a string')\n"
    )
    target = linreg_target(tmp_path, project, body)
    with pytest.raises(PlotError) as caught:
        curves(project, project.exercise("1.9"), target, seed=0)
    message = str(caught.value)
    assert "ValueError: the learning rate is a string" in message
    assert "ex09_linear_regression.py" in message and "line 6" in message
    assert "Traceback" not in message and "\n" not in message


def test_nan_losses_are_a_plot_error(tmp_path: Path, project: Project) -> None:
    body = (
        "import torch\n"
        "\n"
        "\n"
        "def predict(X, w, b):\n"
        "    return X @ w + b\n"
        "\n"
        "\n"
        "def fit_linear_regression(X, y, *, lr, steps):\n"
        "    w, b = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype)\n"
        "    return w, b, [1.0, 0.5] + [float('nan')] * (steps - 2)\n"
    )
    target = linreg_target(tmp_path, project, body)
    with pytest.raises(PlotError, match=r"loss of nan at step 3") as caught:
        curves(project, project.exercise("1.9"), target, seed=0)
    assert "ex09_linear_regression.py" in str(caught.value)


def test_a_missing_learner_file_is_a_plot_error(tmp_path: Path, project: Project) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlotError, match="does not exist"):
        curves(project, project.exercise("1.9"), tmp_path / "empty", seed=0)


# ----------------------------------------------------------------------------- drawing


@pytest.mark.parametrize(("width", "height"), [(800, 500), (333, 257)])
def test_write_png_makes_a_png_of_that_size(
    tmp_path: Path, project: Project, width: int, height: int
) -> None:
    out = write_png(
        synthetic(project, val=True), tmp_path / "a" / "b.png", width_px=width, height_px=height
    )
    assert out == tmp_path / "a" / "b.png"
    assert png_size(out.read_bytes()) == (width, height)


def test_write_png_defaults_to_800_by_500(tmp_path: Path, project: Project) -> None:
    out = write_png(synthetic(project), tmp_path / "c.png")
    assert png_size(out.read_bytes()) == (800, 500)


def test_the_notebook_object_shows_a_png_and_sparklines(project: Project) -> None:
    shown = CurvePlot(synthetic(project, val=True))
    assert png_size(shown._repr_png_()) == (800, 500)
    text = repr(shown)
    assert "yours" in text and "reference" in text and "accuracy" in text
    assert text.splitlines() == summary_lines(shown.curves)


def test_importing_plot_is_cheap() -> None:
    code = (
        "import sys, pytorch_path.plot, pytorch_path\n"
        "pytorch_path.plot.sparkline([1, 2])\n"
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------- the command


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plot_command_end_to_end(tmp_path: Path, project: Project, capsys) -> None:
    out_file = tmp_path / "curve.png"
    code, out, err = run(
        capsys, "plot", "1.9", "--target", str(project.solutions_dir), "--out", str(out_file)
    )
    assert code == 0, err
    assert png_size(out_file.read_bytes()) == (800, 500)
    lines = out.splitlines()
    spark = [line for line in lines if line.strip().startswith(("yours", "reference"))]
    assert len(spark) == 2
    for line in spark:
        assert any(ch in BLOCKS for ch in line) and "→" in line
    assert spark[0].split()[1:] == spark[1].split()[1:]  # a correct solution draws the same
    assert lines[0].startswith("1.9 ")
    last = " ".join(out.split("reference", 1)[1].split())  # a long path may wrap the line
    assert "wrote" in last and "curve.png" in last


def test_plot_command_writes_into_the_target_by_default(
    tmp_path: Path, project: Project, capsys
) -> None:
    target = linreg_target(tmp_path, project)
    code, _, err = run(capsys, "plot", "1.9", "--target", str(target), "--seed", "3")
    assert code == 0, err
    assert png_size((target / "plots" / "1.9.png").read_bytes()) == (800, 500)


def test_plot_command_on_the_stub_says_one_sentence(project: Project, capsys) -> None:
    code, out, err = run(capsys, "plot", "1.9", "--target", str(project.curriculum_dir))
    assert code == 1
    sentence = " ".join(err.split())  # the console wraps long lines
    assert sentence.startswith("error: fit_linear_regression is not implemented yet")
    assert sentence.count(". ") == 0 and "Traceback" not in err + out


def test_plot_command_without_a_curve_is_a_usage_error(project: Project, capsys) -> None:
    ex = next(e for e in project.exercises if not has_curve(project, e))
    code, _, err = run(capsys, "plot", ex.id, "--target", str(project.solutions_dir))
    assert code == 2
    sentence = " ".join(err.split())  # the console wraps long lines
    assert f"exercise {ex.id} has no loss curve" in sentence
    assert ", ".join(e.id for e in plottable(project)) in sentence
