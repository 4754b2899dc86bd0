"""A grading batch that nothing can break: every situation of a hostile class, end to end.

One batch holds honest submissions and every situation below; it must exit 0, write every
report, keep each honest score exact, leave no process behind and change no file outside
its folders. Then sharding: the same batch graded in shards and merged gives the same
gradebook as one run.
"""

from __future__ import annotations

import json
import os
import resource
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytorch_path.cli import main
from pytorch_path.curriculum import Project
from pytorch_path.sandbox import bwrap_available, descendants

pytestmark = pytest.mark.slow

SANDBOX = "bwrap" if bwrap_available() else "process"
HONEST = "import torch\n\n\ndef double(x):\n    return 2 * x\n"
NASTY = "\\udcff \\x01\\x1b\\x00 end"

FILE = "stage1_mini/ex01_passes.py"


def _write(root: Path, name: str, body: str | None) -> Path:
    folder = root / name / "stage1_mini"
    folder.mkdir(parents=True)
    if body is not None:
        (folder / "ex01_passes.py").write_text(textwrap.dedent(body))
    return root / name


@pytest.fixture(autouse=True)
def _in_the_mini_project(mini: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(mini.root)  # the CLI finds the fixture curriculum from here


def _grade(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def hostile_batch(mini: Project, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("batch")
    subs = root / "subs"
    paths = {
        "honest": _write(subs, "honest", HONEST),
        "alice": _write(subs, "alice", HONEST),
        "alice.results": _write(subs, "alice.results", "def double(x):\n    return x\n"),
        "nasty_message": _write(
            subs,
            "nasty_message",
            f"""
            def double(x):
                raise ValueError("{NASTY}")
            """,
        ),
        "floods_channel": _write(
            subs,
            "floods_channel",
            """
            import os, stat

            def double(x):
                chunk = b"x" * (1 << 20)
                pipes = [fd for fd in range(3, 64) if _is_pipe(fd)]
                for _ in range(3 * 1024):  # 3 GiB without a newline, into every pipe
                    for fd in list(pipes):
                        try:
                            os.write(fd, chunk)
                        except OSError:
                            pipes.remove(fd)
                    if not pipes:
                        break
                return 2 * x

            def _is_pipe(fd):
                try:
                    return stat.S_ISFIFO(os.fstat(fd).st_mode)
                except OSError:
                    return False
            """,
        ),
    }
    if SANDBOX == "bwrap":
        # Kill every grading process it can see and scribble over every report it can reach.
        paths["saboteur"] = _write(
            subs,
            "saboteur",
            """
            import glob, os, signal

            def double(x):
                for pid in os.listdir("/proc"):
                    if pid.isdigit() and int(pid) != os.getpid():
                        try:
                            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
                            if b"pytorch_path" in cmd or b"pytest" in cmd:
                                os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
                for path in glob.glob("/tmp/**/*.json", recursive=True):
                    try:
                        open(path, "w").write("{}")
                    except OSError:
                        pass
                return x
            """,
        )
    # A stage folder that is a link to the project's solutions (through /proc/self/cwd).
    linked = subs / "linked_to_solutions"
    linked.mkdir()
    (linked / "stage1_mini").symlink_to("/proc/self/cwd/solutions/stage1_mini")
    paths["linked_to_solutions"] = linked
    # A link whose target name is too long, and one into a folder nobody may enter.
    long_link = subs / "long_link"
    (long_link / "stage1_mini").mkdir(parents=True)
    (long_link / "stage1_mini" / "ex01_passes.py").symlink_to("x" * 300)
    paths["long_link"] = long_link
    closed = root / "closed"
    closed.mkdir()
    (closed / "ex01_passes.py").write_text(HONEST)
    closed.chmod(0)
    denied = subs / "denied_link"
    (denied / "stage1_mini").mkdir(parents=True)
    (denied / "stage1_mini" / "ex01_passes.py").symlink_to(closed / "ex01_passes.py")
    paths["denied_link"] = denied
    fifo = subs / "fifo"
    (fifo / "stage1_mini").mkdir(parents=True)
    os.mkfifo(fifo / "stage1_mini" / "ex01_passes.py")
    paths["fifo"] = fifo
    out = root / "out"
    before = sorted(p.relative_to(root) for p in root.rglob("*") if "out" not in p.parts)
    argv = ["grade", *map(str, paths.values()), "--stages", "1.1", "--out", str(out),
            "--format", "json,junit,gradescope,csv,md", "--seed", "6", "--jobs", "2",
            "--sandbox", SANDBOX, "--json-progress"]  # fmt: skip
    old = Path.cwd()
    os.chdir(mini.root)
    try:
        started = time.monotonic()
        code = main(argv)
        took = time.monotonic() - started
    finally:
        os.chdir(old)
        closed.chmod(0o700)
    after = sorted(p.relative_to(root) for p in root.rglob("*") if "out" not in p.parts)
    return {"code": code, "out": out, "paths": paths, "took": took,
            "unchanged": before == after}  # fmt: skip


def _report(batch, name: str) -> dict:
    return json.loads((batch["out"] / name / "report.json").read_text(encoding="utf-8"))


def test_the_batch_exits_0_and_writes_every_report(hostile_batch) -> None:
    assert hostile_batch["code"] == 0
    for name in hostile_batch["paths"]:
        folder = hostile_batch["out"] / name
        for file in ("report.json", "results.json", "junit.xml"):
            assert (folder / file).is_file(), (name, file)
        ET.parse(folder / "junit.xml")  # parseable, whatever the learner's strings held
        json.loads((folder / "results.json").read_text(encoding="utf-8"))
    rows = (hostile_batch["out"] / "gradebook.csv").read_text().splitlines()
    assert len(rows) == 1 + len(hostile_batch["paths"])
    assert hostile_batch["unchanged"], "grading changed files outside its folders"


def test_honest_scores_stay_exact(hostile_batch) -> None:
    for name in ("honest", "alice"):
        assert _report(hostile_batch, name)["points_earned"] == 4
    if "saboteur" in hostile_batch["paths"]:  # it could reach no sibling's process or file
        assert _report(hostile_batch, "saboteur")["points_earned"] == 0


def test_names_that_look_alike_do_not_collide(hostile_batch) -> None:
    assert _report(hostile_batch, "alice")["points_earned"] == 4
    assert _report(hostile_batch, "alice.results")["points_earned"] == 0
    assert _report(hostile_batch, "alice.results")["grading"]["submission"] == "alice.results"


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("linked_to_solutions", "symbolic links are not accepted: stage1_mini"),
        ("long_link", f"symbolic links are not accepted: {FILE}"),
        ("denied_link", f"symbolic links are not accepted: {FILE}"),
        ("fifo", "is not a regular file"),
    ],
)
def test_links_and_odd_files_are_an_error_of_that_exercise(hostile_batch, name, sentence) -> None:
    report = _report(hostile_batch, name)
    (ex,) = report["exercises"]
    assert ex["status"] == "error" and report["points_earned"] == 0
    assert sentence in ex["message"]


def test_strings_that_break_writers_are_cleaned_on_arrival(hostile_batch, mini, tmp_path) -> None:
    report = _report(hostile_batch, "nasty_message")
    message = report["exercises"][0]["tests"][0]["message"]
    assert "ValueError" in message and "\\udcff" in message and "\\x00" in message
    # check --json on the same file writes a valid report too.
    target = tmp_path / "t"
    _write(target, "x", f'def double(x):\n    raise ValueError("{NASTY}")\n')
    out = tmp_path / "r.json"
    old = Path.cwd()
    os.chdir(mini.root)
    try:
        assert main(["check", "1.1", "--target", str(target / "x"), "--json", str(out)]) == 1
    finally:
        os.chdir(old)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert "\\udcff" in data["exercises"][0]["tests"][0]["message"]


def test_a_flood_is_cut_off_and_scores_nothing(hostile_batch) -> None:
    report = _report(hostile_batch, "floods_channel")
    (ex,) = report["exercises"]
    assert report["points_earned"] == 0
    assert ex["status"] == "error"
    assert "over the size limit" in ex["tests"][0]["message"]
    assert hostile_batch["took"] < 300
    # Read in bounded frames: no process of the batch ever held the flood in memory.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 2.5 * 2**20, f"a grading process peaked at {peak_kib / 2**20:.1f} GiB"


def test_no_process_is_left_behind(hostile_batch) -> None:
    leftovers = [p for p in descendants() if "pytorch_path" in _cmdline(p)]
    assert leftovers == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_a_daemon_does_not_outlive_grade_to_rewrite_its_report(
    mini: Project, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    marker = tmp_path / "daemon_was_here"
    body = f"""
        import json, os, time
        from pathlib import Path

        def double(x):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(4)
                    Path({str(marker)!r}).write_text("alive")
                    for report in Path({str(out)!r}).glob("*/report.json"):
                        data = json.loads(report.read_text())
                        data["points_earned"] = 1000
                        report.write_text(json.dumps(data))
                    os._exit(0)
                os._exit(0)
            return x
        """
    path = _write(tmp_path / "subs", "daemon", body)
    code, _ = _grade(["grade", str(path), "--stages", "1.1", "--out", str(out), "--seed", "1",
                      "--sandbox", "process"], capsys)  # fmt: skip
    assert code == 0
    time.sleep(6)
    assert not marker.exists(), "a process of the submission outlived grade"
    assert json.loads((out / "daemon" / "report.json").read_text())["points_earned"] == 0


def test_progress_is_json_lines_outside_a_terminal(mini: Project, tmp_path: Path, capsys) -> None:
    paths = [_write(tmp_path / "subs", n, HONEST) for n in ("p1", "p2")]
    code, printed = _grade(["grade", *map(str, paths), "--stages", "1.1", "--out",
                            str(tmp_path / "out"), "--seed", "1", "--sandbox", SANDBOX,
                            "--json-progress"], capsys)  # fmt: skip
    assert code == 0
    events = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events].count("done") == 2
    last = events[-1]
    assert last["done"] == 2 and last["left"] == 0 and last["running"] == 0
    assert {"eta_s", "total", "submission"} <= set(last)


def test_shards_merged_equal_one_run(mini: Project, tmp_path: Path, capsys) -> None:
    bodies = {"ann": HONEST, "bob": "def double(x):\n    return x\n", "cy": HONEST,
              "dee": "def double(x):\n    raise NotImplementedError('1.1: double')\n",
              "eve": HONEST}  # fmt: skip
    paths = [str(_write(tmp_path / "subs", n, b)) for n, b in bodies.items()]
    common = ["--stages", "1.1,1.2", "--seed", "4", "--sandbox", SANDBOX, "--format", "json,csv"]
    assert _grade(["grade", *paths, "--out", str(tmp_path / "whole"), *common], capsys)[0] == 0
    for i in (1, 2, 3):
        argv = ["grade", *reversed(paths), "--out", str(tmp_path / f"s{i}"), "--shard", f"{i}/3"]
        assert _grade([*argv, *common], capsys)[0] == 0
    shards = [str(tmp_path / f"s{i}") for i in (1, 2, 3)]
    assert _grade(["merge", *shards, "--out", str(tmp_path / "merged")], capsys)[0] == 0
    whole = (tmp_path / "whole" / "gradebook.csv").read_bytes()
    assert (tmp_path / "merged" / "gradebook.csv").read_bytes() == whole
    assert len(whole.splitlines()) == 1 + len(bodies)


def test_merge_refuses_shards_graded_differently(mini: Project, tmp_path: Path, capsys) -> None:
    path = str(_write(tmp_path / "subs", "ann", HONEST))
    for seed in ("1", "2"):
        argv = ["grade", path, "--stages", "1.1", "--out", str(tmp_path / seed), "--seed", seed,
                "--sandbox", SANDBOX]  # fmt: skip
        assert _grade(argv, capsys)[0] == 0
    assert (
        main(["merge", str(tmp_path / "1"), str(tmp_path / "2"), "--out", str(tmp_path / "m")]) == 2
    )
    assert "graded with seed 2 but" in capsys.readouterr().err
