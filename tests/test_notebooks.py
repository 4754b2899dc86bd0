"""Notebooks: generated per stage, read back from cells, graded like files (`notebooks.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

import pytorch_path
from pytorch_path.cli import main
from pytorch_path.curriculum import Project
from pytorch_path.devcheck import notebook_problems
from pytorch_path.grading.batch import unique_names
from pytorch_path.learn import init_workspace
from pytorch_path.notebooks import (
    FOLDER,
    INSTALL_SPEC,
    TAG_PREFIX,
    Cell,
    NotebookError,
    assemble,
    extract_notebooks,
    history_cells,
    notebook_files,
    notebook_name,
    notebook_text,
    parse_notebook,
    python_source,
    setup_source,
    stage_notebook,
    stale_notebooks,
    stub_names,
    write_notebooks,
)
from pytorch_path.report.html import render_html
from pytorch_path.report.terminal import header_line, points_text, summary_line
from pytorch_path.results import Status

ROOT = Path(__file__).resolve().parents[1]


def _role(cell) -> tuple[str | None, str | None]:
    meta = cell.metadata.get("pytorch_path", {})
    return meta.get("exercise"), meta.get("role")


def _filled(project: Project, stage_index: int, sources: dict[str, str]):
    """The stage's notebook with ``sources[id]`` in the exercise cells it names."""
    nb = stage_notebook(project, project.stages[stage_index])
    for cell in nb.cells:
        ex_id, role = _role(cell)
        if role == "exercise" and ex_id in sources:
            cell.source = sources[ex_id]
    return nb


# --------------------------------------------------------------------------- generation


def test_one_notebook_per_stage_with_tagged_stub_and_check_cells(
    project: Project, tmp_path: Path
) -> None:
    written = write_notebooks(project, tmp_path)
    assert [p.name for p in written] == [notebook_name(s) for s in project.stages]
    assert len(written) == 5
    for stage, path in zip(project.stages, written, strict=True):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert _role(code[0]) == (None, "setup")
        assert "notebook_setup()" in code[0].source and INSTALL_SPEC in code[0].source
        assert "%pip install" in code[0].source
        for ex in stage.exercises:
            index = next(i for i, c in enumerate(nb.cells) if _role(c) == (ex.id, "exercise"))
            cell = nb.cells[index]
            assert f"{TAG_PREFIX}{ex.id}" in cell.metadata["tags"]
            stub = project.stub_path(ex).read_text(encoding="utf-8")
            assert cell.source == stub.rstrip("\n")
            assert f"TODO({ex.id})" in cell.source
            check = nb.cells[index + 1]
            assert _role(check) == (ex.id, "check")
            assert check.source.startswith(f'check("{ex.id}")')
            lesson = nb.cells[index - 1]
            assert lesson.cell_type == "markdown" and _role(lesson) == (ex.id, "lesson")
            assert lesson.source.startswith(f"## {ex.id} ")
        ids = [c.id for c in nb.cells]
        assert len(ids) == len(set(ids))


def test_the_setup_cell_installs_the_package_where_it_is_missing(tmp_path: Path) -> None:
    """As in Colab: `import pytorch_path` fails, so the cell runs `%pip install` and retries."""
    code = python_source(setup_source()).split("from pytorch_path import")[0]
    script = (
        textwrap.dedent(f"""
        import builtins, sys
        calls = []

        class Shell:
            def run_line_magic(self, name, line):
                calls.append((name, line))
                sys.path.insert(0, {str(ROOT / "src")!r})  # what the install makes importable

        builtins.get_ipython = lambda: Shell()
    """)
        + code
        + "\nprint(calls, pytorch_path.__name__)\n"
    )
    # -S: no site-packages, so no installed pytorch_path either.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    calls, _, name = done.stdout.strip().rpartition(" ")
    assert name == "pytorch_path" and calls.startswith("[('pip', 'install --quiet "), done.stdout
    assert INSTALL_SPEC in calls and calls.count("('pip'") == 1


def test_generation_is_deterministic_and_follows_the_language(project: Project) -> None:
    stage = project.stages[0]
    first = notebook_text(project, stage)
    assert first == notebook_text(project, stage)
    chinese = notebook_text(project, stage, "zh")
    assert "第一阶段" in chinese and "第一阶段" not in first
    assert json.loads(chinese)["metadata"]["pytorch_path"]["lang"] == "zh"
    with pytest.raises(ValueError, match="no notebook language 'fr'"):
        notebook_text(project, stage, "fr")


def test_the_committed_notebooks_are_what_the_stubs_generate(project: Project) -> None:
    stale = stale_notebooks(project, ROOT / FOLDER)
    assert stale == [], f"{stale} are stale: run `pytorch-path notebooks {FOLDER}`"
    assert notebook_problems(project) == []


def test_dev_check_names_a_stale_notebook(mini_copy: Project) -> None:
    assert notebook_problems(mini_copy) == []  # no notebooks/ folder: nothing to compare
    (path,) = write_notebooks(mini_copy, mini_copy.root / FOLDER)
    assert notebook_problems(mini_copy) == []
    stub = mini_copy.stub_path(mini_copy.exercise("1.1"))
    stub.write_text(stub.read_text() + "\n# a change\n")
    (problem,) = notebook_problems(mini_copy)
    assert path.name in problem.message and "pytorch-path notebooks" in problem.message


def test_init_and_the_cli_write_notebooks(project: Project, tmp_path: Path, capsys) -> None:
    ws = tmp_path / "ws"
    written = init_workspace(project, ws)
    nb = ws / FOLDER / notebook_name(project.stages[0])
    assert nb in written and nb.read_text() == notebook_text(project, project.stages[0])
    assert main(["notebooks", str(tmp_path / "zh"), "--lang", "zh", "--stages", "2"]) == 0
    assert [p.name for p in (tmp_path / "zh").iterdir()] == ["stage2_training.ipynb"]
    assert "第二阶段" in (tmp_path / "zh" / "stage2_training.ipynb").read_text()
    assert "wrote" in capsys.readouterr().out
    assert main(["notebooks", str(tmp_path / "x"), "--stages", "9"]) == 2


# --------------------------------------------------------------------------- reading back


def test_tagged_cells_are_the_exercise(project: Project) -> None:
    ex = project.exercise("1.3")
    solution = project.solution_path(ex).read_text()
    text = nbformat.writes(_filled(project, 0, {"1.3": solution}))
    cells = parse_notebook(text, "s1.ipynb")
    built = assemble(ex, project.stub_path(ex).read_text(), cells)
    assert built.missing == () and set(built.found) == set(ex.implement)
    assert len(built.cells) == 1 and built.cells[0].endswith("of s1.ipynb")
    compile(built.source, "assembled", "exec")
    assert "torch.manual_seed(seed)" in built.source and "NotImplementedError" not in built.source


def test_every_notebook_filled_with_the_solutions_extracts_to_the_solutions(
    project: Project, tmp_path: Path
) -> None:
    """What `grade` writes for each exercise is the solution's text itself: graded alike."""
    for index, stage in enumerate(project.stages):
        solutions = {ex.id: project.solution_path(ex).read_text() for ex in stage.exercises}
        path = tmp_path / notebook_name(stage)
        nbformat.write(_filled(project, index, solutions), path)
        extracted = extract_notebooks([path], stage.exercises, project, tmp_path / "out")
        for ex in stage.exercises:
            built = extracted.built[ex.id]
            assert len(built.cells) == 1 and built.missing == (), (ex.id, built.cells)
            lines = built.source.splitlines()
            body = lines[lines.index(f"# --- {built.cells[0]} ---") + 1 :]
            expected = [
                "" if line == "from __future__ import annotations" else line
                for line in solutions[ex.id].splitlines()
            ]
            assert body == expected, ex.id
            written = (tmp_path / "out" / ex.relpath).read_text()
            assert written == built.source


def test_untagged_and_renamed_cells_are_found_by_the_names_they_define(project: Project) -> None:
    ex = project.exercise("1.3")
    stub = project.stub_path(ex).read_text()
    solution = project.solution_path(ex).read_text()
    nb = stage_notebook(project, project.stages[0])
    for cell in nb.cells:  # every tag removed: an exported or hand-made notebook
        cell.metadata = {}
    # The learner kept the stub cell and wrote the solution in a new cell at the end.
    nb.cells.append(nbformat.v4.new_code_cell(solution, id="mine"))
    built = assemble(ex, stub, parse_notebook(nbformat.writes(nb), "s1.ipynb"))
    assert built.missing == ()
    assert built.cells[-1] == f"cell {len(nb.cells)} of s1.ipynb"  # the later definition wins
    namespace: dict = {}
    exec(compile(built.source, "assembled", "exec"), namespace)
    assert namespace["make_generator"](5).initial_seed() == 5

    renamed = _filled(project, 0, {})
    for cell in renamed.cells:
        if _role(cell) == ("1.3", "exercise"):
            cell.source = solution
            cell.metadata = {"tags": ["my-solution"]}
    built = assemble(ex, stub, parse_notebook(nbformat.writes(renamed), "s1.ipynb"))
    assert built.missing == () and "NotImplementedError" not in built.source


def test_cells_tagged_for_another_exercise_are_not_searched(mini: Project) -> None:
    ex = mini.exercise("1.2")
    stub = mini.stub_path(ex).read_text()
    cells = [
        Cell("def double(x):\n    return x + x + 1\n", "cell 1", "1.2", "exercise"),
        Cell("def double(x):\n    return 2 * x\n", "cell 2", "1.1", "exercise"),
    ]
    built = assemble(ex, stub, cells, known={"1.1", "1.2"})
    assert built.cells == ("cell 1",) and "x + x + 1" in built.source


def test_a_name_two_exercises_define_comes_from_the_exercise_s_own_cell(project: Project) -> None:
    """1.5 and 1.9 both define `predict`: checking 1.5 after running 1.9 still grades 1.5's."""
    ex5, ex9 = project.exercise("1.5"), project.exercise("1.9")
    assert "predict" in stub_names(project.stub_path(ex5).read_text())
    assert "predict" in stub_names(project.stub_path(ex9).read_text())
    history = ["", project.solution_path(ex5).read_text(), project.stub_path(ex9).read_text()]
    built = assemble(ex5, project.stub_path(ex5).read_text(), history_cells(history))
    assert built.cells == ("In [1]",) and built.missing == ()
    built = assemble(ex9, project.stub_path(ex9).read_text(), history_cells(history))
    assert built.cells == ("In [2]",)


def test_assembling_from_a_kernel_history(project: Project) -> None:
    """Imports from other cells, magics, check() calls and __future__ imports are handled."""
    ex = project.exercise("1.3")
    stub = project.stub_path(ex).read_text()
    history = [
        "",
        "import random\nimport numpy as np\nimport torch\nscratch = torch.zeros(3)",
        "get_ipython().run_line_magic('time', 'x = 1')",
        "from __future__ import annotations\n\ndef seed_everything(seed: int) -> None:\n"
        "    random.seed(seed)\n    np.random.seed(seed)\n    torch.manual_seed(seed)\n"
        "\nprint('defined')\ncheck('1.3')\n",
    ]
    built = assemble(ex, stub, history_cells(history))
    assert built.cells == ("In [3]",)
    assert built.found == ("seed_everything",)
    assert built.missing == ("make_generator", "sample_noise", "shuffled_indices")
    assert "check('1.3')" not in built.source and "print('defined')" in built.source
    assert "run_line_magic" not in built.source and "scratch" not in built.source
    assert built.source.startswith("from __future__ import annotations\n")
    namespace: dict = {}
    exec(compile(built.source, "assembled", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"1\.3: make_generator"):
        namespace["make_generator"](1)
    line = built.source.splitlines().index("    torch.manual_seed(seed)") + 1
    assert built.where(line) == ("In [3]", 6)


def test_the_stub_s_fill_ins_get_the_stub_s_imports(mini: Project) -> None:
    """A stub constant no cell defines runs before the cells: it needs its own imports."""
    stub = (
        "import math\n\nSCALE = math.pi\n\n\ndef double(x):\n"
        "    raise NotImplementedError('1.1: double')\n"
    )
    cells = [Cell("import math\n\ndef double(x):\n    return 2 * x * math.cos(0)\n", "In [1]")]
    built = assemble(mini.exercise("1.1"), stub, cells)
    namespace: dict = {}
    exec(compile(built.source, "assembled", "exec"), namespace)
    assert namespace["SCALE"] == pytest.approx(3.14159, abs=1e-5) and namespace["double"](2) == 4


def test_ipython_syntax_becomes_python() -> None:
    source = "%pip install x\n!ls\nif True:\n    %time y = 1\ndef f():\n    return 1\n"
    compile(python_source(source), "cell", "exec")
    assert "def f" in python_source(source)


def test_stub_names_are_its_top_level_definitions(project: Project) -> None:
    names = stub_names(project.stub_path(project.exercise("1.3")).read_text())
    assert names == ("seed_everything", "make_generator", "sample_noise", "shuffled_indices")


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', "has no cells"),
        (
            '{"cells": 3, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            "not a valid notebook",
        ),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_a_malformed_notebook_is_one_sentence(text: str | bytes, phrase: str) -> None:
    with pytest.raises(NotebookError, match=phrase) as info:
        parse_notebook(text, "bad.ipynb")
    assert "\n" not in str(info.value) and str(info.value).startswith("bad.ipynb ")


def test_notebook_submissions_are_recognised(mini: Project, tmp_path: Path) -> None:
    exercises = mini.exercises
    (tmp_path / "a.ipynb").write_text("{}")
    assert notebook_files(tmp_path / "a.ipynb", exercises) == [tmp_path / "a.ipynb"]
    folder = tmp_path / "bob"
    (folder / "notebooks" / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / "notebooks" / "stage1.ipynb").write_text("{}")
    (folder / "notebooks" / ".ipynb_checkpoints" / "stage1-checkpoint.ipynb").write_text("{}")
    assert notebook_files(folder, exercises) == [folder / "notebooks" / "stage1.ipynb"]
    (folder / "stage1_mini").mkdir()
    (folder / "stage1_mini" / "ex01_passes.py").write_text("")
    assert notebook_files(folder, exercises) is None  # exercise files: graded as files
    assert unique_names([tmp_path / "alice.ipynb", tmp_path / "alice"]) == ["alice", "alice-2"]


def test_extraction_never_runs_a_cell(mini: Project, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    body = f"from pathlib import Path\nPath({str(marker)!r}).touch()\n\ndef double(x):\n    return 2 * x\n"
    nb = _filled(mini, 0, {"1.1": body})
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "out"
    extracted = extract_notebooks([path], mini.exercises, mini, out)
    assert not marker.exists()
    assert (out / "stage1_mini" / "ex01_passes.py").read_text() == extracted.built["1.1"].source
    assert "Path(" in extracted.built["1.1"].source
    assert "1.1 from cell" in extracted.note
    link = tmp_path / "link.ipynb"
    link.symlink_to(path)
    with pytest.raises(NotebookError, match="symbolic links are not accepted"):
        extract_notebooks([link], mini.exercises, mini, tmp_path / "out2")


def test_odd_names_and_strings_in_a_notebook_stay_reportable(mini: Project, tmp_path: Path) -> None:
    body = 'import torch\n\ndef double(x):\n    """\udcff\x1b[31m"""\n    return 2 * x\n'
    path = tmp_path / "evil\x1b[2J name.ipynb"
    path.write_text(json.dumps(_filled(mini, 0, {"1.1": body})), encoding="ascii")  # \udcff escaped
    extracted = extract_notebooks([path], mini.exercises, mini, tmp_path / "out")
    assert "\x1b" not in extracted.note and "evil" in extracted.note
    written = (tmp_path / "out" / "stage1_mini" / "ex01_passes.py").read_text(encoding="utf-8")
    compile(written, "ex01", "exec")
    assert "\\udcff" in written


def test_the_notebook_module_is_cheap_to_import() -> None:
    code = "import sys, pytorch_path.notebooks; print(sorted({'torch', 'nbformat', 'IPython'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# --------------------------------------------------------------------------- check() from cells


def test_check_grades_a_namespace_s_cells(mini_copy: Project, monkeypatch) -> None:
    monkeypatch.chdir(mini_copy.root)
    history = ["", "import torch", "def double(x):\n    return 2 * x\n\ncheck('1.1')"]
    results = pytorch_path.check("1.1", seed=1, namespace={"In": history})
    (ex,) = results.exercises
    assert ex.status is Status.PASSED and ex.file == "cell In [2]"
    assert results.target == "notebook"

    wrong = ["", "import torch\n\ndef double(x):\n    raise ValueError('nope')\n"]
    results = pytorch_path.check("1.2", seed=1, namespace={"In": wrong})
    (ex,) = results.exercises
    assert ex.status is Status.FAILED
    assert "In [1], line 4" in ex.tests[0].message, ex.tests[0].message


def test_names_no_cell_defines_are_not_started_with_a_sentence(
    mini_copy: Project, monkeypatch
) -> None:
    monkeypatch.chdir(mini_copy.root)
    results = pytorch_path.check("1.3", seed=1, namespace={"In": ["", "import torch"]})
    (ex,) = results.exercises
    assert ex.status is Status.NOT_STARTED
    assert "`double`" in ex.message and "fill in the 1.3 cell" in ex.message
    assert any("`double`" in note for note in results.notes)
    assert "`double`" in str(results) and "`double`" in results._repr_html_()

    lambda_only = {"In": ["", "double = None"], "double": lambda x: 2 * x}
    results = pytorch_path.check("1.3", seed=1, namespace=lambda_only)
    assert results.exercises[0].status is not Status.PASSED


def test_a_kernel_namespace_is_recognised(mini: Project, monkeypatch, capsys) -> None:
    """Notebook mode: the kernel's own namespace, after notebook_setup() or defining a name."""
    import types

    from pytorch_path import _kernel_namespace, notebook_setup

    user_ns: dict = {"In": [""]}
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: types.SimpleNamespace(user_ns=user_ns)  # type: ignore[attr-defined]
    monkeypatch.setitem(pytorch_path._NOTEBOOK, "on", False)
    assert _kernel_namespace(user_ns, mini, "1.1") is None  # not inside IPython
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert _kernel_namespace(user_ns, mini, "1.1") is None  # a kernel checking files
    assert _kernel_namespace({"double": 1}, mini, "1.1") is None  # not the kernel's namespace
    user_ns["double"] = lambda x: 2 * x
    assert _kernel_namespace(user_ns, mini, "1.1") is user_ns
    del user_ns["double"]
    notebook_setup()
    assert "the graders run every test on cpu" in capsys.readouterr().out
    assert _kernel_namespace(user_ns, mini, "1.1") is user_ns


def test_many_untouched_exercises_are_one_note(mini_copy: Project, monkeypatch) -> None:
    monkeypatch.chdir(mini_copy.root)
    results = pytorch_path.check("1.1,1.2,1.3,1.6", seed=1, namespace={"In": ["", "x = 1"]})
    assert len(results.notes) == 1 and "4 exercises (1.1, 1.2, 1.3, …)" in results.notes[0]
    assert all("`double`" in e.message for e in results.exercises)


def test_a_namespace_without_history_is_read_with_inspect(mini_copy: Project, monkeypatch) -> None:
    monkeypatch.chdir(mini_copy.root)

    def double(x):
        return 2 * x

    results = pytorch_path.check("1.1", seed=2, namespace={"double": double})
    assert results.exercises[0].status is Status.PASSED


def test_outside_a_kernel_check_grades_files(mini_copy: Project, monkeypatch) -> None:
    monkeypatch.chdir(mini_copy.root)
    double = None  # noqa: F841 - a name the exercise asks for, in a namespace that is no kernel's
    results = pytorch_path.check("1.2", target="learner", seed=3)
    assert results.target != "notebook" and results.exercises[0].status is Status.FAILED


def test_the_html_has_the_terminal_s_headlines(mini_copy: Project, monkeypatch) -> None:
    monkeypatch.chdir(mini_copy.root)
    results = pytorch_path.check("1.1,1.2,1.3,1.6", target="learner", seed=3)
    html = render_html(results)
    for ex in results.exercises:  # points read as in the terminal: 5.7/10, not 5.71429/10
        assert f">{points_text(ex.points_earned, ex.points_possible)}<" in html
    assert header_line(results).plain.replace("'", "&#x27;") in html
    assert summary_line(results).plain.splitlines()[0] in html
    failed = next(e for e in results.exercises if e.status is Status.FAILED)
    assert failed.first_problem is not None and failed.first_problem.headline in html
    assert "next up: 1.3" in html


# --------------------------------------------------------------------------- grade (slow)


def _honest_and_hostile(mini: Project, root: Path) -> dict[str, Path]:
    """The same code as files and as notebooks, plus hostile and malformed notebooks."""
    from test_hostile import ATTACKS

    right = mini.solution_path(mini.exercise("1.1")).read_text()
    wrong = (mini.root / "learner" / "stage1_mini" / "ex02_fails.py").read_text()
    files = root / "files" / "stage1_mini"
    files.mkdir(parents=True)
    (files / "ex01_passes.py").write_text(right)
    (files / "ex02_fails.py").write_text(wrong)
    subs = {"files": root / "files"}

    def notebook(name: str, sources: dict[str, str], *, tags: bool = True) -> None:
        nb = _filled(mini, 0, sources)
        if not tags:
            for cell in nb.cells:
                cell.metadata = {}
        nbformat.write(nb, root / f"{name}.ipynb")
        subs[name] = root / f"{name}.ipynb"

    notebook("tagged", {"1.1": right, "1.2": wrong})
    notebook("untagged", {"1.1": right, "1.2": wrong}, tags=False)
    exec_defined = 'import torch\nexec("def double(x):\\n    return 2 * x\\n")\n'
    notebook("exec_defined", {"1.1": exec_defined})
    notebook("forges_the_plugin", {"1.1": textwrap.dedent(ATTACKS["forges_the_plugin"])})
    notebook("forges_the_channel", {"1.1": textwrap.dedent(ATTACKS["forges_the_channel"])})
    notebook("exits", {"1.1": "import os\nos._exit(0)\n\ndef double(x):\n    return 2 * x\n"})
    (root / "malformed.ipynb").write_text('{"cells": [')
    subs["malformed"] = root / "malformed.ipynb"
    return subs


@pytest.mark.slow
def test_grade_scores_a_notebook_exactly_as_the_same_files(mini: Project, tmp_path: Path) -> None:
    from pytorch_path.grading import GradeSettings, grade

    subs = _honest_and_hostile(mini, tmp_path / "subs")
    settings = GradeSettings(project=mini, selection="1.1,1.2,1.3", seed=11, sandbox="process")
    results = dict(zip(subs, grade(list(subs.values()), settings=settings, jobs=2), strict=True))

    def statuses(name: str) -> list[tuple[str, str, Status, float]]:
        return [
            (e.id, t.name, t.status, t.points_earned)
            for e in results[name].exercises
            for t in e.tests
            if e.id != "1.3"  # absent from the files, the untouched stub in a notebook
        ]

    assert statuses("tagged") == statuses("files") == statuses("untagged")
    assert results["files"].points_earned == results["tagged"].points_earned == 4
    assert results["tagged"].exercises[2].status is Status.NOT_STARTED
    # Messages point at the notebook's cell and line, not at the extracted file.
    stub = mini.stub_path(mini.exercise("1.3")).read_text().splitlines()
    line = stub.index('    raise NotImplementedError("1.3: double")') + 1
    message = results["tagged"].exercises[2].tests[0].message
    assert f"of tagged.ipynb, line {line}" in message, message
    assert "graded from the notebook cells of tagged.ipynb" in results["tagged"].grading.notes[0]
    # exec() inside the tagged cell is learner code, run in the worker like any other.
    assert results["exec_defined"].exercises[0].status is Status.PASSED
    for name in ("forges_the_plugin", "forges_the_channel", "exits"):
        assert results[name].points_earned == 0, name
        assert results[name].exercises[0].status is not Status.PASSED, name
    bad = results["malformed"]
    assert bad.grading_status == "unreadable" and bad.points_earned == 0
    assert {e.status for e in bad.exercises} == {Status.ERROR}
    assert "malformed.ipynb is not a notebook" in bad.exercises[0].message


# --------------------------------------------------------------------------- a real kernel (slow)


def _execute(nb, cwd: Path) -> float:
    """Run ``nb`` in a fresh ipykernel whose working directory is a workspace (progress)."""
    from nbclient import NotebookClient

    (cwd / ".pytorch_path").mkdir(parents=True, exist_ok=True)
    (cwd / ".pytorch_path" / "workspace.json").write_text("{}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    started = time.monotonic()
    client.execute(env=env)
    return time.monotonic() - started


def _check_outputs(nb) -> dict[str, str]:
    found = {}
    for cell in nb.cells:
        ex_id, role = _role(cell)
        if role == "check":
            found[ex_id] = "\n".join(
                o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in cell.outputs
            )
            assert any("text/html" in o.get("data", {}) for o in cell.outputs), ex_id
    return found


@pytest.mark.slow
def test_a_kernel_passes_every_check_cell_with_the_solutions(
    project: Project, tmp_path: Path
) -> None:
    stage = project.stages[0]
    solutions = {ex.id: project.solution_path(ex).read_text() for ex in stage.exercises}
    nb = _filled(project, 0, solutions)
    took = _execute(nb, tmp_path)
    print(f"stage 1 with the solutions ran in a kernel in {took:.1f} s")
    outputs = _check_outputs(nb)
    assert set(outputs) == {ex.id for ex in stage.exercises}
    for ex_id, text in outputs.items():
        assert "All selected exercises passed." in text, (ex_id, text)
        assert "target notebook" in text
    setup = next(c for c in nb.cells if _role(c) == (None, "setup"))
    assert "the graders run every test on cpu" in setup.outputs[0]["text"]
    assert took < 120, took


@pytest.mark.slow
def test_a_kernel_reports_the_untouched_stubs_not_started(project: Project, tmp_path: Path) -> None:
    nb = stage_notebook(project, project.stages[0])
    took = _execute(nb, tmp_path)
    print(f"stage 1 with the stubs ran in a kernel in {took:.1f} s")
    outputs = _check_outputs(nb)
    assert set(outputs) == {ex.id for ex in project.stages[0].exercises}
    for ex_id, text in outputs.items():
        assert "1 not started" in text and "passed" not in text.split("Points")[-1], (ex_id, text)
    progress = json.loads((tmp_path / ".pytorch_path" / "progress.json").read_text())
    assert {e["status"] for e in progress["exercises"].values()} == {"not_started"}
