from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pytorch_path.curriculum import Project
from pytorch_path.results import Status
from pytorch_path.runner import check


@pytest.fixture(scope="module")
def mini_results(mini: Project):
    return check("all", project=mini, target=mini.root / "learner", seed=11)


def by_id(results, ex_id: str):
    return next(e for e in results.exercises if e.id == ex_id)


def test_every_status_of_the_fixture_curriculum(mini_results) -> None:
    statuses = {e.id: e.status for e in mini_results.exercises}
    assert statuses == {
        "1.1": Status.PASSED,
        "1.2": Status.FAILED,
        "1.3": Status.NOT_STARTED,
        "1.4": Status.ERROR,
        "1.5": Status.TIMEOUT,
        "1.6": Status.FAILED,
        "1.7": Status.ERROR,
    }


def test_points(mini_results) -> None:
    assert by_id(mini_results, "1.1").points_earned == 4
    assert by_id(mini_results, "1.2").points_earned == 0
    # 1.6: test_double (weight 1) passes, test_triple (points(3)) fails: 10 * 1/4 = 2.5.
    partial = by_id(mini_results, "1.6")
    assert partial.points_earned == 2.5
    assert partial.points_possible == 10
    assert mini_results.points_earned == 6.5
    assert mini_results.points_possible == 40


def test_device_skips_earn_and_cost_nothing(mini_results) -> None:
    from pytorch_path import devices

    absent = [d for d in devices.ACCELERATORS if not devices.is_available(d)]
    if not absent:
        pytest.skip("every accelerator is present here: nothing is skipped")
    passed = by_id(mini_results, "1.1")
    skipped = [t for t in passed.tests if t.device_skip]
    # Exactly one skip per absent device, and none for a device that is here.
    assert sorted(t.name for t in skipped) == sorted(f"test_double[{d}]" for d in absent)
    assert all(t.points_possible == 0 and t.status is Status.SKIPPED for t in skipped)
    for test in skipped:
        device = test.name[len("test_double[") : -1]
        assert test.message == devices.unavailable_reason(device)
    ran = [t for t in passed.tests if not t.device_skip]
    assert ran and all(t.status is Status.PASSED and t.points_possible > 0 for t in ran)
    assert sum(t.points_earned for t in ran) == passed.points_earned == 4


def test_messages_speak_to_the_learner(mini_results) -> None:
    failed = by_id(mini_results, "1.2").first_problem
    assert failed is not None
    assert failed.headline == "double(x) is 2 * x."
    assert failed.message.startswith(
        "called double(Tensor(3, 4) float32 on cpu); the result has wrong values"
    )
    assert "Traceback" not in failed.message
    assert "assert_close" in failed.traceback or "CheckFailure" in failed.traceback

    not_started = by_id(mini_results, "1.3")
    assert not_started.message == (
        "double is not implemented yet: replace the `raise NotImplementedError` in "
        f"{_shown('learner/stage1_mini/ex03_untouched.py')}, line 11"
    )
    syntax = by_id(mini_results, "1.4")
    assert "ex04_syntax.py has a syntax error on line 10" in syntax.message
    timeout = by_id(mini_results, "1.5")
    assert timeout.message.startswith("stopped after 1 s, the time limit of exercise 1.5")
    assert timeout.duration_s < 3
    crash = by_id(mini_results, "1.7")
    assert "failed while being imported on line 7: KeyError: 'three'" in crash.message


def _shown(rel: str) -> str:
    path = Path(__file__).parent / "fixtures" / "mini_curriculum" / rel
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def test_same_seed_same_results(mini: Project) -> None:
    a = check("1.2", project=mini, target=mini.root / "learner", seed=5)
    b = check("1.2", project=mini, target=mini.root / "learner", seed=5)
    c = check("1.2", project=mini, target=mini.root / "learner", seed=6)
    assert a.exercises[0].tests[0].message == b.exercises[0].tests[0].message
    assert a.exercises[0].tests[0].message != c.exercises[0].tests[0].message
    assert a.seed == 5


def test_random_seed_is_recorded(mini: Project) -> None:
    results = check("1.1", project=mini, target=mini.root / "learner")
    assert isinstance(results.seed, int)


def test_missing_learner_file_is_an_error(mini_copy: Project) -> None:
    (mini_copy.root / "learner" / "stage1_mini" / "ex01_passes.py").unlink()
    result = check("1.1", project=mini_copy, target=mini_copy.root / "learner", seed=1).exercises[0]
    assert result.status is Status.ERROR
    assert "ex01_passes.py does not exist" in result.message


def test_missing_function_is_a_clear_failure(mini_copy: Project) -> None:
    path = mini_copy.root / "learner" / "stage1_mini" / "ex01_passes.py"
    path.write_text(path.read_text().replace("def double(", "def doubled("))
    result = check("1.1", project=mini_copy, target=mini_copy.root / "learner", seed=1).exercises[0]
    assert result.status is Status.FAILED
    assert "does not define 'double'; exercise 1.1 asks for double" in result.first_problem.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("return (2 * x).numpy()", "should be a torch.Tensor, got numpy.ndarray(3, 4) float32"),
        ("return (2 * x).tolist()", "should be a torch.Tensor, got a list of 3 items"),
        ("return x / 0 * 0", "contains NaN"),
        ("return x / 0", "contains infinity"),
        ("return (2 * x).double()", "has dtype torch.float64, expected torch.float32"),
        ("return (2 * x).to('meta')", "is on meta, expected cpu"),
        ("return (2 * x).T", "has shape (4, 3), expected (3, 4)"),
        ("raise ValueError('oops')", "your code raised ValueError: oops (in double"),
        ("import sys; sys.exit(0)", "your code raised SystemExit"),
    ],
)
def test_bad_outputs_get_one_clear_sentence(mini_copy: Project, body: str, fragment: str) -> None:
    path = mini_copy.root / "learner" / "stage1_mini" / "ex01_passes.py"
    path.write_text(path.read_text().replace("return 2 * x", body))
    result = check("1.1", project=mini_copy, target=mini_copy.root / "learner", seed=1).exercises[0]
    assert result.status is Status.FAILED
    assert fragment in result.first_problem.message


def test_tampering_is_detected_and_undone(mini_copy: Project) -> None:
    import torch

    path = mini_copy.root / "learner" / "stage1_mini" / "ex01_passes.py"
    path.write_text(
        path.read_text().replace(
            "return 2 * x",
            "torch.Tensor.__le__ = lambda a, b: torch.ones_like(a, dtype=torch.bool)\n    return x",
        )
    )
    original = torch.Tensor.__le__
    result = check("1.1", project=mini_copy, target=mini_copy.root / "learner", seed=1).exercises[0]
    assert result.status is Status.TAMPERED
    assert result.points_earned == 0
    assert "Tensor.__le__" in result.message
    assert torch.Tensor.__le__ is original


def test_global_torch_state_is_restored(mini_copy: Project) -> None:
    import torch

    path = mini_copy.root / "learner" / "stage1_mini" / "ex01_passes.py"
    path.write_text(
        path.read_text().replace(
            "return 2 * x",
            "torch.set_grad_enabled(False)\n"
            "    torch.set_default_dtype(torch.float64)\n"
            "    return 2 * x",
        )
    )
    check("1.1", project=mini_copy, target=mini_copy.root / "learner", seed=1)
    assert torch.is_grad_enabled()
    assert torch.get_default_dtype() == torch.float32


def test_private_graders_dir(mini_copy: Project, tmp_path: Path) -> None:
    private = tmp_path / "private_graders"
    shutil.copytree(mini_copy.graders_dir, private)
    grader = private / "stage1_mini" / "test_ex01_passes.py"
    grader.write_text(
        grader.read_text()
        + '\n\ndef test_hidden(learner):\n    """hidden test"""\n'
        + '    raise AssertionError("hidden check failed")\n'
    )
    result = check("1.1", project=mini_copy, target=mini_copy.root / "learner", seed=1,
                   graders_dir=private).exercises[0]  # fmt: skip
    assert result.status is Status.FAILED
    assert result.first_problem.message == "hidden check failed"


def test_missing_private_grader_is_reported(mini_copy: Project, tmp_path: Path) -> None:
    private = tmp_path / "private_graders"
    shutil.copytree(mini_copy.graders_dir, private)
    (private / "stage1_mini" / "test_ex02_fails.py").unlink()
    results = check("1.1,1.2", project=mini_copy, target=mini_copy.root / "learner", seed=1,
                    graders_dir=private)  # fmt: skip
    assert results.exercises[0].status is Status.PASSED
    assert results.exercises[1].status is Status.ERROR
    assert "no grader" in results.exercises[1].message


def test_missing_shipped_grader_is_a_manifest_error(mini_copy: Project) -> None:
    from pytorch_path.curriculum import ManifestError

    (mini_copy.graders_dir / "stage1_mini" / "test_ex02_fails.py").unlink()
    with pytest.raises(
        ManifestError, match=r"its grader graders/stage1_mini/test_ex02_fails\.py is missing"
    ):
        check("1.1", project=Project(mini_copy.root), target=mini_copy.root / "learner", seed=1)


def test_broken_grader_is_an_error_not_a_pass(mini_copy: Project) -> None:
    (mini_copy.graders_dir / "stage1_mini" / "test_ex02_fails.py").write_text(
        "import nope_missing\n"
    )
    results = check("1.2", project=mini_copy, target=mini_copy.root / "learner", seed=1)
    assert results.exercises[0].status is Status.ERROR
    assert "could not be loaded" in results.exercises[0].message


def test_callers_pytest_addopts_do_not_leak(mini: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "--collect-only")
    results = check("1.1", project=mini, target=mini.root / "learner", seed=1)
    assert results.exercises[0].status is Status.PASSED
    assert os.environ["PYTEST_ADDOPTS"] == "--collect-only"


def test_one_broken_grader_does_not_stop_the_others(mini_copy: Project) -> None:
    (mini_copy.graders_dir / "stage1_mini" / "test_ex02_fails.py").write_text(
        "import nope_missing\n"
    )
    results = check("1.1,1.2,1.3", project=mini_copy, target=mini_copy.root / "learner", seed=1)
    assert [e.status for e in results.exercises] == [
        Status.PASSED,
        Status.ERROR,
        Status.NOT_STARTED,
    ]
