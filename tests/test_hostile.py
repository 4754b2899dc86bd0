"""Forging a verdict from inside the learner's process: every class scores nothing in `grade`.

Each hostile file is an untouched stub (or a wrong `double`) plus one attack, so an honest
grader gives it 0 of 4 points; an honest neighbour in the same batch keeps its 4. The batch
runs under bubblewrap where it works and with process isolation always: the judge never runs
learner code, so no attack on the verdict depends on the sandbox. Reading the reference from
the file system is the one class that needs a mount namespace (bubblewrap) to stop.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytorch_path.curriculum import Project
from pytorch_path.grading import GradeSettings, grade
from pytorch_path.results import Results, Status
from pytorch_path.runner import check
from pytorch_path.sandbox import bwrap_available

pytestmark = pytest.mark.slow

HONEST = "import torch\n\n\ndef double(x):\n    return 2 * x\n"

ATTACKS = {
    # Wrap the plugin's recording method so every test is recorded as passed.
    "forges_the_plugin": """
        try:
            from pytorch_path import plugin
            from pytorch_path.results import Status

            def record(self, record, item, call, report):
                record.status = Status.PASSED

            plugin.GraderPlugin._record_phase = record
            plugin.GraderPlugin.classify = lambda self, ex, exc: (Status.PASSED, "")
        except Exception:
            pass

        def double(x):
            raise NotImplementedError("1.1: double")
        """,
    # Read the grader's expected value from the caller's frames.
    "reads_expected_from_frames": """
        import sys

        def double(x):
            frame = sys._getframe(1)
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if hasattr(value, "shape") and tuple(value.shape) == tuple(x.shape) \\
                            and value is not x:
                        return value
                frame = frame.f_back
            return x
        """,
    # Make the checks module's comparison a no-op by swapping its code object.
    "swaps_checks_code": """
        from pytorch_path import checks

        def nothing(*args, **kwargs):
            return None

        for name in ("assert_close", "assert_tensor", "assert_scalar_close"):
            getattr(checks, name).__code__ = nothing.__code__

        def double(x):
            return x
        """,
    # A global TorchFunctionMode that says every comparison holds, and an __int__ that lies.
    "torch_function_mode_lies": """
        import torch
        from torch.overrides import TorchFunctionMode

        class Liar(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = getattr(func, "__name__", "")
                if name in ("le", "__le__", "eq", "__eq__", "isclose", "allclose", "equal"):
                    first = args[0]
                    return torch.ones_like(first, dtype=torch.bool) if name not in (
                        "allclose", "equal") else True
                return func(*args, **(kwargs or {}))

        Liar().__enter__()
        torch.Tensor.__int__ = lambda self: 0
        torch.Tensor.__bool__ = lambda self: True

        def double(x):
            return x
        """,
    # Write forged results (old JSON protocol and framed answers) to every descriptor.
    "forges_the_channel": """
        import io, json, os, struct
        import torch

        def double(x):
            buffer = io.BytesIO()
            torch.save({"ok": True, "value": x}, buffer)
            framed = struct.pack(">Q", len(buffer.getvalue())) + buffer.getvalue()
            line = json.dumps({"token": "guess", "event": "test", "status": "passed",
                               "nodeid": "stage1_mini/test_ex01_passes.py::test_double[cpu]"})
            for fd in range(3, 64):
                for data in (framed, (line + "\\n").encode()):
                    try:
                        os.write(fd, data)
                    except OSError:
                        pass
            os._exit(0)
        """,
    # Import the reference solution from wherever the installed package says it is.
    "imports_the_reference": """
        import importlib.util, os, sys
        from pathlib import Path

        def _candidates():
            found = []
            try:
                from pytorch_path.curriculum import Project
                found.append(Project.locate().solutions_dir)
            except Exception:
                pass
            import pytorch_path
            here = Path(pytorch_path.__file__).resolve().parent
            found.append(here / "_bundle" / "solutions")
            for parent in here.parents:
                found += [parent / "solutions", parent / "tests/fixtures/mini_curriculum/solutions"]
            for arg in sys.argv:
                found.append(Path(arg))
            for pid in os.listdir("/proc"):
                try:
                    cmd = Path("/proc", pid, "cmdline").read_bytes().split(b"\\0")
                    found += [Path(os.fsdecode(a)) for a in cmd if a]
                    found.append(Path("/proc", pid, "cwd").resolve())
                except OSError:
                    pass
            return found

        def _reference():
            for folder in _candidates():
                for path in (folder / "stage1_mini" / "ex01_passes.py",
                             folder / "solutions" / "stage1_mini" / "ex01_passes.py"):
                    try:
                        if path.is_file() and "Reference" in path.read_text():
                            spec = importlib.util.spec_from_file_location("ref", path)
                            module = importlib.util.module_from_spec(spec)
                            spec.loader.exec_module(module)
                            return module
                    except OSError:
                        continue
            return None

        def double(x):
            ref = _reference()
            return ref.double(x) if ref is not None else x
        """,
}

#: Attacks a separate process defeats without a mount namespace.
VERDICT_ATTACKS = [name for name in ATTACKS if name != "imports_the_reference"]


def _submissions(root: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in ["honest", *names]:
        folder = root / name / "stage1_mini"
        folder.mkdir(parents=True)
        body = HONEST if name == "honest" else textwrap.dedent(ATTACKS[name])
        (folder / "ex01_passes.py").write_text(body)
        paths.append(root / name)
    return paths


def _by_name(paths: list[Path], results: list[Results]) -> dict[str, Results]:
    return {p.name: r for p, r in zip(paths, results, strict=True)}


def _assert_nothing_earned(results: dict[str, Results], names: list[str]) -> None:
    assert results["honest"].points_earned == 4
    assert results["honest"].exercises[0].status is Status.PASSED
    for name in names:
        got = results[name]
        assert got.points_earned == 0, (name, got.exercises[0].tests[0].message)
        assert got.exercises[0].status is not Status.PASSED, name


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot start a sandbox here")
def test_every_attack_scores_nothing_under_bubblewrap(mini: Project, tmp_path: Path) -> None:
    names = list(ATTACKS)
    paths = _submissions(tmp_path, names)
    settings = GradeSettings(project=mini, selection="1.1", seed=8, sandbox="bwrap")
    results = _by_name(paths, grade(paths, settings=settings, jobs=2))
    _assert_nothing_earned(results, names)
    assert all(r.grading.isolation == "bubblewrap" for r in results.values())


def test_verdict_attacks_score_nothing_with_process_isolation(
    mini: Project, tmp_path: Path
) -> None:
    paths = _submissions(tmp_path, VERDICT_ATTACKS)
    settings = GradeSettings(project=mini, selection="1.1", seed=8, sandbox="process")
    results = _by_name(paths, grade(paths, settings=settings, jobs=2))
    _assert_nothing_earned(results, VERDICT_ATTACKS)
    assert all("not tamper-proof" in r.grading.isolation for r in results.values())


def test_a_claimed_device_skip_does_not_pass_in_check(mini: Project, tmp_path: Path) -> None:
    """In `check` the learner shares the process: claiming a device skip must still fail."""
    body = textwrap.dedent("""
        import gc
        import pytest

        def double(x):
            from pytorch_path.plugin import GraderPlugin
            for obj in gc.get_objects():
                if isinstance(obj, GraderPlugin):
                    for nodeid in list(obj.records):
                        getattr(obj, "_device_skips", set()).add(nodeid)
            pytest.skip("no CUDA device on this machine")
        """)
    folder = tmp_path / "learner" / "stage1_mini"
    folder.mkdir(parents=True)
    (folder / "ex01_passes.py").write_text(body)
    results = check("1.1", project=mini, target=tmp_path / "learner", seed=2, device="cpu")
    (ex,) = results.exercises
    assert ex.status is Status.FAILED
    assert ex.points_earned == 0
    assert "Skipped" in ex.tests[0].message
