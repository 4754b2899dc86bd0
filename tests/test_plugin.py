from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from pytorch_path.plugin import Seed, derive_seed

ROOT = Path(__file__).resolve().parents[1]


def test_derived_seeds_are_stable_and_distinct() -> None:
    assert derive_seed(1, "1.1", "test_a") == derive_seed(1, "1.1", "test_a")
    assert derive_seed(1, "1.1", "test_a") != derive_seed(2, "1.1", "test_a")
    assert derive_seed(1, "1.1", "test_a") != derive_seed(1, "1.1", "test_b")
    assert 0 <= derive_seed(123, "x") < 2**31


def test_seed_draws_are_the_same_on_every_device() -> None:
    seed = Seed(42)
    a = seed.randn(3, 4)
    b = seed.randn(3, 4, device="meta")
    assert b.device.type == "meta" and b.shape == a.shape
    assert torch.equal(seed.randn(3, 4), a)
    assert not torch.equal(seed.randn(3, 4, offset=1), a)
    assert seed.randint(0, 5, (10,)).dtype == torch.int64
    assert seed.python_random().random() == Seed(42).python_random().random()


def test_plugin_runs_under_plain_pytest(mini_copy) -> None:
    """`pytest -p pytorch_path.plugin graders/... --pp-target DIR` grades without the CLI."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pytorch_path.plugin", "-p", "no:cacheprovider",
         "graders/stage1_mini/test_ex01_passes.py", "graders/stage1_mini/test_ex02_fails.py",
         "--pp-target", "learner", "--pp-seed", "3", "-q"],
        cwd=mini_copy.root, capture_output=True, text=True,
    )  # fmt: skip
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr


def test_reference_answers_are_cached_across_a_batch(tmp_path: Path) -> None:
    from pytorch_path.plugin import CachedTransport

    calls = []

    class Inner:
        def run(self, grader, name, fn, payload):
            calls.append(payload)
            return b"answer:" + payload

    solution = tmp_path / "ex01.py"
    solution.write_text("x = 1\n")
    grader = tmp_path / "test_ex01.py"
    grader.write_text("# grader\n")
    first = CachedTransport(Inner(), tmp_path / "cache", solution)
    second = CachedTransport(Inner(), tmp_path / "cache", solution)  # another judge, same batch
    assert first.run(grader, "s", None, b"p") == b"answer:p"
    assert second.run(grader, "s", None, b"p") == b"answer:p"
    assert calls == [b"p"]
    assert second.run(grader, "s", None, b"q") == b"answer:q"  # other inputs: computed
    solution.write_text("x = 2\n")  # another reference: computed again
    assert CachedTransport(Inner(), tmp_path / "cache", solution).run(grader, "s", None, b"p")
    assert calls == [b"p", b"q", b"p"]


def test_learner_errors_are_classified(mini: object) -> None:
    from pytorch_path.curriculum import Project
    from pytorch_path.plugin import GraderPlugin, RunConfig
    from pytorch_path.results import Status
    from pytorch_path.scenario import Frame, LearnerError

    project = mini if isinstance(mini, Project) else None
    assert project is not None
    ex = project.exercises[0]
    plugin = GraderPlugin(RunConfig(project=project, target=project.root / "learner",
                                    exercises=(ex,), seed=1))  # fmt: skip
    stub = LearnerError("NotImplementedError", f"{ex.id}: double",
                        frames=(Frame("double", 7),), innermost_in_learner=True)  # fmt: skip
    assert plugin.classify(ex, stub)[0] is Status.NOT_STARTED
    elsewhere = LearnerError("NotImplementedError", f"{ex.id}: double")
    assert plugin.classify(ex, elsewhere)[0] is Status.FAILED
    raised = LearnerError("ValueError", "bad", frames=(Frame("double", 9),))
    status, message = plugin.classify(ex, raised)
    assert (
        status is Status.FAILED and "ValueError: bad (in double" in message and "line 9" in message
    )
    missing = LearnerError("AttributeError", "double", kind="missing", extra={"name": "double"})
    assert "does not define 'double'" in plugin.classify(ex, missing)[1]
    crash = LearnerError(
        "WorkerExit", "the worker running your code exited with code 3", kind="crash"
    )
    assert plugin.classify(ex, crash)[0] is Status.ERROR
    load = LearnerError("LoadError", "x.py has a syntax error on line 2: oops", kind="load")
    assert plugin.classify(ex, load) == (Status.ERROR, "x.py has a syntax error on line 2: oops")


def test_the_first_optimizers_lazy_import_is_not_charged(mini_copy, tmp_path: Path) -> None:
    """torch._dynamo's first import (about a second) must not eat a 0.6 s budget."""
    learner = tmp_path / "learner" / "stage1_mini"
    learner.mkdir(parents=True)
    (learner / "ex01_passes.py").write_text(
        "import torch\n\n\ndef double(x):\n"
        "    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)\n"
        "    return 2 * x\n"
    )
    script = (
        "import sys; from pathlib import Path\n"
        "from pytorch_path.curriculum import Project\n"
        "from pytorch_path.runner import check\n"
        "assert 'torch._dynamo' not in sys.modules\n"
        f"r = check('1.1', project=Project(Path({str(mini_copy.root)!r})), "
        f"target=Path({str(tmp_path / 'learner')!r}), seed=1, device='cpu', time_limit_s=0.6)\n"
        "print(r.exercises[0].status.value, r.exercises[0].message)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.startswith("passed"), done.stdout + done.stderr
