"""The ``pytorch-path`` command line: parse, call, render. Nothing else lives here.

Exit status: 0 when the command succeeded (for ``check``: every selected
exercise passed), 1 when it ran but something did not pass, 2 for a usage
error (unknown stage or exercise, missing target folder, bad manifest).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pytorch_path._version import __version__
from pytorch_path.curriculum import (
    TIERS,
    Exercise,
    ManifestError,
    Project,
    ProjectNotFoundError,
    SelectionError,
    select,
)
from pytorch_path.devices import TEST_ORDER
from pytorch_path.mutation import DEFAULT_PER_EXERCISE, MutationReport
from pytorch_path.report.files import FORMATS
from pytorch_path.report.terminal import make_console
from pytorch_path.results import Results
from pytorch_path.text import shown_path

console = make_console()
err_console = make_console(stderr=True)

EXIT_OK, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A user error: printed as one sentence, exit status 2."""


def fail(message: str) -> NoReturn:
    """Stop with a one-sentence user error (exit status 2)."""
    raise UsageError(message)


def _project() -> Project:
    try:
        project = Project.locate()
        project.stages  # noqa: B018 - load and validate the manifests now
    except (ProjectNotFoundError, ManifestError) as exc:
        fail(str(exc))
    return project


# --------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    """``check``: grade a selection in this process and print the report."""
    from pytorch_path.devices import DeviceUnavailableError
    from pytorch_path.learn import check_and_record, next_exercise
    from pytorch_path.report import render_terminal, write_json
    from pytorch_path.targets import TargetError, resolve_target

    project = _project()
    try:
        with console.status("grading…", spinner="dots"):
            results, warning = check_and_record(
                args.selection,
                project=project,
                target=args.target,
                seed=args.seed,
                device=args.device,
            )
    except (SelectionError, TargetError, DeviceUnavailableError) as exc:
        fail(str(exc))
    if warning:
        err_console.print(f"[yellow]warning:[/] {warning}")
    render_terminal(results, console, verbose=args.verbose)
    folder = resolve_target(args.target, project)
    if results.all_passed and folder != project.solutions_dir.resolve():  # no progress there
        nxt = next_exercise(project, folder)
        if nxt is not None:
            console.print(
                f"next: [bold]{nxt.emoji} {nxt.id} {escape(nxt.title)}[/] — "
                f"`pytorch-path check {nxt.id}` (or `pytorch-path watch`)"
            )
    if args.json:
        write_json(results, Path(args.json))
        console.print(f"[dim]JSON report written to {args.json}[/]")
    return EXIT_OK if results.all_passed else EXIT_NOT_PASSED


def cmd_grade(args: argparse.Namespace) -> int:
    """``grade``: grade submissions, each with its own judge, and write the reports."""
    from pytorch_path import report
    from pytorch_path.grading import GradeSettings, grade
    from pytorch_path.grading.batch import selected
    from pytorch_path.runner import new_seed
    from pytorch_path.sandbox import ISOLATION_LABELS, SandboxUnavailableError

    project = _project()
    try:
        formats = report.parse_formats(args.format)
        settings = GradeSettings(
            project=project,
            selection=args.stages,
            seed=new_seed() if args.seed is None else args.seed,
            graders_dir=args.graders.resolve() if args.graders else None,
            solutions_dir=args.solutions.resolve() if args.solutions else None,
            timeout_s=args.timeout,
            memory_mb=args.memory_mb,
            sandbox=args.sandbox,
            shard=GradeSettings.parse_shard(args.shard),
            jobs=args.jobs,
        )
        isolation = settings.isolation()
    except (SelectionError, ValueError, SandboxUnavailableError) as exc:
        fail(str(exc))
    submissions = [Path(s) for s in args.submissions]
    count = len(selected(submissions, settings))
    header = report.grade_header(
        count,
        selection=args.stages,
        seed=settings.seed,
        isolation=ISOLATION_LABELS[isolation],
        shard_label=settings.shard_label,
    )
    console.print(header)
    reports = report.BatchReports(args.out, formats)
    progress = report.BatchProgress(
        count,
        json_lines=args.json_progress or not console.is_terminal,
        console=console,
    )

    def done(result: Results) -> None:
        reports.add(result)  # written as each finishes: an interrupted batch keeps them
        progress.finished(result)

    with progress:
        results = grade(submissions, settings=settings, on_start=progress.started, on_result=done)
    reports.finish(results)  # also when this shard had none
    report.render_grade_summary(results, console, out=str(args.out), formats=formats)
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    """``merge``: join the reports of several ``grade --shard`` runs into one gradebook."""
    from pytorch_path import report
    from pytorch_path.grading.merge import MergeError, merge

    try:
        formats = report.parse_formats(args.format)
        results = merge(args.dirs, out=args.out)
    except (MergeError, ValueError) as exc:
        fail(str(exc))
    report.write_batch_reports(results, args.out, formats)
    console.print(
        f"merged {len(results)} submission(s) from {len(args.dirs)} folder(s) into {args.out}"
    )
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """``list``: the exercises of a selection, per stage, without running anything.

    Each stage's folder heads its table and the file column holds whole file names
    (never cut), so every path can be copied as shown.
    """
    project = _project()
    try:
        exercises = select(project.stages, args.selection)
    except SelectionError as exc:
        fail(str(exc))
    for stage in project.stages:
        chosen = [ex for ex in exercises if ex.stage == stage.number]
        if not chosen:
            continue
        folder = shown_path(project.stub_path(chosen[0]).parent)
        console.print(f"[bold]Stage {stage.number} · {stage.title}[/]  [cyan]{folder}/[/]")
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        for column in ("", "id", "exercise", "points", "file"):
            table.add_column(column, no_wrap=column != "exercise")
        for ex in chosen:
            table.add_row(TIERS[ex.tier], ex.id, ex.title, f"{ex.points:g}", ex.filename)
        console.print(table)
        console.print()
    return EXIT_OK


def _exercise_and_target(args: argparse.Namespace) -> tuple[Project, Exercise, Path]:
    from pytorch_path.targets import TargetError, resolve_target

    project = _project()
    try:
        ex = project.exercise(args.id)
        target = resolve_target(getattr(args, "target", None), project)
    except (SelectionError, TargetError) as exc:
        fail(str(exc))
    return project, ex, target


def cmd_hint(args: argparse.Namespace) -> int:
    """``hint ID``: the next hint not yet seen (``--all``: every hint), gentle first."""
    from rich.markdown import Markdown
    from rich.padding import Padding

    from pytorch_path.curriculum import learner_path
    from pytorch_path.learn import next_hints

    project, ex, target = _exercise_and_target(args)
    console.print(f"[bold]{ex.emoji} {ex.id} {ex.title}[/]  [dim]({ex.tier})[/]")
    console.print(
        f"[dim]implement:[/] {', '.join(ex.implement)}   "
        f"[dim]file:[/] [cyan]{shown_path(learner_path(target, ex))}[/]"
    )
    hints = next_hints(ex, target, show_all=args.all)
    for hint in hints:
        console.print(Padding(Markdown(f"**{hint.number}/{hint.total}.** {hint.text}"), (0, 2)))
    if not args.all and hints[-1].number < hints[-1].total:
        console.print(f"[dim]run it again for hint {hints[-1].number + 1}; --all shows them all[/]")
    stage = project.stage(ex.stage)
    console.print(
        f"[dim]lesson:[/] {shown_path(project.lesson_path(stage))}  ·  "
        f"[dim]中文:[/] {shown_path(project.lesson_path(stage, 'zh'))}"
    )
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    """``watch``: re-check the current exercise on every save; move on when it passes."""
    from pytorch_path.learn import next_exercise, watch
    from pytorch_path.report import render_terminal
    from pytorch_path.targets import TargetError, resolve_target

    project = _project()
    try:
        select(project.stages, args.selection)
        target = resolve_target(args.target, project)
    except (SelectionError, TargetError) as exc:
        fail(str(exc))
    console.print(f"[bold]pytorch-path watch[/] {args.selection} · importing torch…")

    just_passed = [False]

    def show(results: Results, ex: Exercise) -> None:
        # The screen is cleared for each check, except right after a pass: the pass
        # line stays visible above the next exercise's first report.
        if console.is_terminal and not just_passed[0]:
            console.clear()
        console.print(
            f"[bold]watching {args.selection}[/] [dim](save a file to re-check; Ctrl-C stops)[/]"
        )
        render_terminal(results, console, verbose=args.verbose, command="watch", watching=True)
        just_passed[0] = results.all_passed
        if results.all_passed:
            nxt = next_exercise(project, target, args.selection)
            after = f"next: {nxt.id} {nxt.title}" if nxt else "that was the last exercise"
            console.print(f"[bold green]✔ {ex.id} passed[/] — {after}")
            console.rule(style="dim")

    def waiting(ex: Exercise) -> None:
        console.print(f"[dim]waiting for you to save {shown_path(target / ex.relpath)}…[/]")

    try:
        last = watch(
            args.selection,
            project=project,
            target=target,
            seed=args.seed,
            on_result=show,
            on_waiting=waiting,
        )
    except KeyboardInterrupt:
        console.print("\n[dim]stopped watching[/]")
        return EXIT_OK
    if last is not None:
        console.print(f"[bold green]Every exercise of {args.selection} has passed. 🎉[/]")
    return EXIT_OK


def cmd_progress(args: argparse.Namespace) -> int:
    """``progress``: per stage, what has passed, with bars and percentages, and what is next."""
    from pytorch_path.learn import first_unfinished
    from pytorch_path.progress import Progress, summarize
    from pytorch_path.report.progress import render_progress
    from pytorch_path.targets import TargetError, resolve_target

    project = _project()
    try:
        target = resolve_target(args.target, project)
    except TargetError as exc:
        fail(str(exc))
    progress = Progress.load(target)
    if progress.warning:
        err_console.print(f"[yellow]warning:[/] {progress.warning}")
        progress.save()
    exercises = list(project.exercises)
    index = first_unfinished(exercises, progress)
    nxt = exercises[index] if index < len(exercises) else None
    render_progress(
        console,
        summarize(project.stages, progress),
        target=shown_path(target),
        next_exercise=nxt,
        next_file=shown_path(target / nxt.relpath) if nxt else "",
    )
    return EXIT_OK


def cmd_solution(args: argparse.Namespace) -> int:
    """``solution ID``: how the reference differs from your file, once the exercise passed.

    ``--full`` prints the whole reference instead of the diff.
    """
    from rich.syntax import Syntax

    from pytorch_path.learn import LearnError, solution_diff, solution_source

    project, ex, target = _exercise_and_target(args)
    try:
        source = solution_source(project, ex, target, force=args.force)
    except LearnError as exc:
        err_console.print(f"[yellow]{exc}[/]")
        return EXIT_NOT_PASSED
    if args.force:
        err_console.print(
            f"[yellow]showing the solution of {ex.id} before it passed; "
            "this is recorded in your progress[/]"
        )
    if args.full:
        console.print(Syntax(source, "python", line_numbers=True, word_wrap=True))
        return EXIT_OK
    diff = solution_diff(project, ex, target, source)
    if not diff:
        console.print(f"your {shown_path(target / ex.relpath)} is the reference solution, exactly")
        return EXIT_OK
    console.print(
        f"[dim]how the reference differs from your {shown_path(target / ex.relpath)} "
        "(- yours, + reference; --full prints the whole reference):[/]"
    )
    console.print(Syntax(diff, "diff", word_wrap=True))
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    """``reset ID``: restore the untouched stub, keeping a backup of the learner's file."""
    from pytorch_path.learn import LearnError, reset_exercise

    project, ex, target = _exercise_and_target(args)
    try:
        backup = reset_exercise(project, ex, target)
    except LearnError as exc:
        fail(str(exc))
    console.print(f"restored the stub of {ex.id} in [cyan]{shown_path(target / ex.relpath)}[/]")
    if backup is not None:
        console.print(f"your version is kept in [cyan]{shown_path(backup)}[/]")
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    """``init DIR``: a fresh workspace with every stub and lesson (``--from``: your files)."""
    from pytorch_path.learn import LearnError, init_workspace
    from pytorch_path.targets import TargetError, resolve_target

    project = _project()
    try:
        source = resolve_target(args.source, project) if args.source else None
        written = init_workspace(project, args.dir, source=source)
    except (LearnError, TargetError) as exc:
        fail(str(exc))
    console.print(
        f"created [cyan]{args.dir}[/] with {len(written)} files "
        f"(notebooks: [cyan]{args.dir / 'notebooks'}[/])"
    )
    if source is not None:
        console.print(f"your files and progress were copied from [cyan]{shown_path(source)}[/]")
    console.print(
        f"next: `cd {args.dir}` and `pytorch-path check 1` "
        f"(or `pytorch-path check 1 --target {args.dir}` from anywhere)"
    )
    return EXIT_OK


def cmd_notebooks(args: argparse.Namespace) -> int:
    """``notebooks [DIR]``: one Jupyter notebook per stage, generated from the manifests."""
    from pytorch_path.notebooks import write_notebooks

    project = _project()
    try:
        stages = (
            project.stages
            if args.stages == "all"
            else [
                project.stage(n)
                for n in sorted({ex.stage for ex in select(project.stages, args.stages)})
            ]
        )
        written = write_notebooks(project, args.dir, lang=args.lang, stages=stages)
    except SelectionError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"could not write the notebooks into {args.dir}: {exc.strerror or exc}")
    for path in written:
        console.print(f"wrote [cyan]{escape(shown_path(path))}[/]")
    console.print(
        "open one in Jupyter (`jupyter lab`) or upload it to Colab; its first cell sets it up"
    )
    return EXIT_OK


def cmd_lesson(args: argparse.Namespace) -> int:
    """``lesson N``: the stage's lesson rendered in the terminal."""
    from rich.markdown import Markdown

    from pytorch_path.learn import LearnError, lesson_text

    project = _project()
    try:
        text = lesson_text(project, args.stage, args.lang)
    except (LearnError, SelectionError) as exc:
        fail(str(exc))
    lesson = Markdown(text, code_theme="monokai")
    if console.is_terminal and not args.no_pager:
        with console.pager(styles=True):  # the learner's $PAGER (less -R), scrolled at will
            console.print(lesson)
    else:
        console.print(lesson)
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """``doctor``: versions of Python and the libraries, and the devices present.

    Versions come from the installed packages' metadata; only torch is imported (to
    find the devices). ``--imports`` also imports every other library, to catch a
    broken install.
    """
    import importlib
    import platform
    from importlib import metadata

    from pytorch_path import devices

    table = Table(show_header=False, show_edge=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("pytorch-path", __version__)
    table.add_row("python", f"{platform.python_version()} ({sys.executable})")
    for package, module in DOCTOR_PACKAGES:
        try:
            version = metadata.version(package)
            if args.imports:
                importlib.import_module(module)
        except metadata.PackageNotFoundError:
            version = "[red]not installed[/] (run `make setup`)"
        except Exception as exc:  # a broken install is worth reporting, not crashing on
            version = f"[red]installed but not importable[/] ({type(exc).__name__}: {exc})"
        table.add_row(package, version)
    for name, description in devices.describe_devices():
        style = "dim" if description.startswith("absent") else ""
        table.add_row(f"device {name}", Text(description, style=style))
    table.add_row("preferred", str(devices.preferred_device()))
    console.print(table)
    return EXIT_OK


#: (distribution, module) pairs ``doctor`` reports, in order.
DOCTOR_PACKAGES = (
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("numpy", "numpy"),
    ("pytest", "pytest"),
    ("rich", "rich"),
    ("torchinfo", "torchinfo"),
    ("matplotlib", "matplotlib"),
    ("tensorboard", "tensorboard"),
    ("onnx", "onnx"),
    ("onnxruntime", "onnxruntime"),
    ("fastapi", "fastapi"),
    ("uvicorn", "uvicorn"),
    ("httpx", "httpx"),
)


def cmd_roadmap(args: argparse.Namespace) -> int:
    """``roadmap``: print the roadmap (``--write`` updates the README's section)."""
    from pytorch_path.roadmap import roadmap_markdown, write_roadmap

    project = _project()
    if not args.write:
        sys.stdout.write(roadmap_markdown(project))
        return EXIT_OK
    try:
        changed = write_roadmap(project)
    except ValueError as exc:
        fail(str(exc))
    readme = shown_path(project.readme)
    console.print(
        f"updated the roadmap in {readme}" if changed else f"the roadmap in {readme} is up to date"
    )
    return EXIT_OK


def cmd_dev_check(args: argparse.Namespace) -> int:
    """``dev-check``: the curriculum's consistency check (run by CI)."""
    from pytorch_path.devcheck import dev_check

    try:
        project = Project.locate()
        with console.status("checking…") as status:
            problems = dev_check(
                project,
                args.selection,
                quick=args.quick,
                seed=args.seed,
                progress=lambda what: status.update(f"running graders: {what}"),
            )
        count = len(select(project.stages, args.selection))
    except (ProjectNotFoundError, SelectionError) as exc:
        fail(str(exc))
    for problem in problems:
        console.print(f"[red]✘[/] [bold]{problem.where}[/]: {escape(problem.message)}")
    if problems:
        console.print(f"[red]dev-check found {len(problems)} problem(s)[/]")
        return EXIT_NOT_PASSED
    scope = "manifests and files" if args.quick else "manifests, files, stubs, solutions, mistakes"
    console.print(f"[green]✔ dev-check clean[/] ({count} exercises; {scope})")
    return EXIT_OK


def cmd_mutants(args: argparse.Namespace) -> int:
    """``mutants``: grade small mutations of the reference solutions; list the survivors.

    Exit 1 when a mutant survives that the equivalence list does not name, or a reference
    does not pass; 2 for a usage error (a selection naming nothing, a broken list).
    """
    from pytorch_path import mutation

    project = _project()
    per_exercise = None if args.every else args.per_exercise
    if per_exercise is not None and per_exercise < 1:
        fail("--per-exercise must be at least 1 (or use --every)")
    if args.jobs < 1:
        fail("--jobs must be at least 1")
    listing = args.equivalent or project.root / mutation.EQUIVALENT_FILE
    try:
        equivalent = mutation.load_equivalent(listing)
        if args.dry_run:
            return _list_mutants(project, args.selection, per_exercise, args.seed)
        with console.status("mutating…", spinner="dots") as status:
            report = mutation.run_mutation(
                project,
                args.selection,
                per_exercise=per_exercise,
                seed=args.seed,
                jobs=args.jobs,
                time_limit_s=args.time_limit,
                equivalent=equivalent,
                progress=lambda what: status.update(f"grading mutants: {what}"),
            )
    except (SelectionError, mutation.EquivalenceListError) as exc:
        fail(str(exc))
    _print_mutation_report(report, shown_path(listing), verbose=args.verbose)
    return EXIT_OK if report.clean else EXIT_NOT_PASSED


def _list_mutants(project: Project, selection: str, per_exercise: int | None, seed: int) -> int:
    """``mutants --dry-run``: the sample a run would grade, graded nothing."""
    from pytorch_path import mutation

    table = Table(show_lines=False, title="mutants a run would grade")
    table.add_column("mutant (id as a YAML key)", overflow="fold")
    table.add_column("line", justify="right")
    table.add_column("change", overflow="fold")
    total = 0
    for _ex, every in mutation.iter_candidates(project, selection):
        for mutant in mutation.sample(every, per_exercise, seed):
            table.add_row(
                escape(mutation.yaml_key(mutant.id)), str(mutant.line), escape(mutant.diff())
            )
            total += 1
    console.print(table)
    console.print(f"{total} mutant(s); nothing was graded")
    return EXIT_OK


def _print_mutation_report(report: MutationReport, listing: str, *, verbose: bool) -> None:
    """The survivors as a table, then the counts and the equivalence list's loose ends."""
    from pytorch_path.mutation import yaml_key

    shown = report.survivors + (report.listed_survivors if verbose else [])
    if shown:
        table = Table(show_lines=True, title="surviving mutants (every test passed)")
        table.add_column("mutant (id as a YAML key)", overflow="fold")
        table.add_column("line", justify="right")
        table.add_column("change", overflow="fold")
        if verbose:
            table.add_column("listed as equivalent", overflow="fold")
        for outcome in shown:
            mutant = outcome.mutant
            row = [escape(yaml_key(mutant.id)), str(mutant.line), escape(mutant.diff())]
            if verbose:
                row.append(escape(report.equivalent.get(mutant.id, "[not listed]")))
            table.add_row(*row)
        console.print(table)
    for ex in report.broken_baselines:
        console.print(
            f"[red]✘[/] [bold]{ex.exercise}[/]: the reference solution is "
            f"'{ex.baseline.value}', so its mutants were not graded: {escape(ex.baseline_message)}"
        )
    for mid in report.stale:
        console.print(
            f"[yellow]warning:[/] {escape(listing)} lists {escape(yaml_key(mid))}, "
            "which is no mutant of the current reference any more; remove the entry"
        )
    for outcome in report.listed_but_killed:
        console.print(
            f"[yellow]warning:[/] {escape(yaml_key(outcome.mutant.id))} is listed as "
            f"equivalent, but a test tells it apart ('{outcome.status.value}'); remove the entry"
        )
    outcomes = report.outcomes
    killed = sum(not o.survived for o in outcomes)
    sample = "every mutant" if report.per_exercise is None else f"≤{report.per_exercise} each"
    summary = (
        f"{len(outcomes)} mutants of {len(report.exercises)} exercises ({sample}, seed "
        f"{report.seed}): {killed} killed, {len(report.listed_survivors)} survived as listed "
        f"equivalent, {len(report.survivors)} survived unlisted"
    )
    if report.clean:
        console.print(f"[green]✔[/] {summary}")
    else:
        console.print(f"[red]✘[/] {summary}")
    if report.survivors:
        console.print(
            "Each survivor is a change no test notices: add the test the contract promises "
            "(and a known-wrong variant), or, if no test could ever tell it apart, add a line "
            f"'<id>': <one-line reason> to {escape(listing)}."
        )


def cmd_plot(args: argparse.Namespace) -> int:
    """``plot ID``: your loss curve next to the reference's, as sparklines and a PNG.

    The curve comes from the ``loss_curve`` scenario of the exercise's grader. Exit 2 for
    an exercise without one (a usage error), 1 when your code fails (one sentence).
    """
    from pytorch_path.plot import NoCurveError, PlotError, curves, summary_lines, write_png

    project, ex, target = _exercise_and_target(args)
    try:
        with console.status(f"training {ex.id}: yours, then the reference…", spinner="dots"):
            result = curves(project, ex, target, seed=args.seed)
    except NoCurveError as exc:
        fail(str(exc))
    except PlotError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        return EXIT_NOT_PASSED
    for line in summary_lines(result):
        console.print(escape(line), soft_wrap=True)
    out = args.out if args.out is not None else target / "plots" / f"{ex.id}.png"
    try:
        write_png(result, out)
    except OSError as exc:
        fail(f"could not write {out}: {exc.strerror or exc}")
    console.print(f"wrote {escape(shown_path(out))}")
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="pytorch-path",
        description="A progressive PyTorch curriculum with an auto-grader.",
    )
    parser.add_argument("--version", action="version", version=f"pytorch-path {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    selection_help = "a stage (2), an exercise (2.3), a range (1-3) or 'all' (default)"
    target_help = "folder of learner files (default: the workspace here, else curriculum/)"

    p = sub.add_parser("check", help="grade your exercises and explain what is wrong")
    p.add_argument("selection", nargs="?", default="all", help=selection_help)
    p.add_argument("--target", type=Path, default=None, help=target_help)
    p.add_argument("--json", metavar="FILE", default=None, help="also write the JSON report here")
    p.add_argument("--device", choices=TEST_ORDER, default=None, help="only test on this device")
    p.add_argument("--seed", type=int, default=None, help="base seed (default: random, printed)")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show every failing test and its traceback"
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("grade", help="grade submissions, each isolated (for instructors)")
    p.add_argument(
        "submissions",
        nargs="+",
        metavar="SUBMISSION",
        help="folders shaped like curriculum/, clones containing it, .ipynb notebooks, "
        "or folders of them",
    )
    p.add_argument("--stages", default="all", help=selection_help)
    p.add_argument(
        "--out", type=Path, default=Path("grades"), help="folder for the reports (default: grades/)"
    )
    p.add_argument(
        "--format",
        default="json,csv,md",
        help=f"comma-separated: {', '.join(FORMATS)} (default: json,csv,md)",
    )
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default: 1)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="wall-clock seconds per submission (default: the exercises' limits plus 120)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="base seed (default: random, recorded in the reports)",
    )
    p.add_argument(
        "--graders", type=Path, default=None, help="private graders folder, shaped like graders/"
    )
    p.add_argument(
        "--solutions",
        type=Path,
        default=None,
        help="private reference solutions, shaped like solutions/",
    )
    p.add_argument(
        "--memory-mb",
        type=int,
        default=8192,
        help="address-space cap per submission in MiB; 0 for none (default: 8192)",
    )
    p.add_argument(
        "--sandbox",
        choices=["auto", "bwrap", "process", "none"],
        default="auto",
        help="how learner code is isolated: auto (bubblewrap, else refuse), bwrap, process "
        "(separate processes; the reference is readable), none",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="grade only shard I of N (by a hash of each submission's name); join with merge",
    )
    p.add_argument(
        "--json-progress",
        action="store_true",
        help="progress as JSON lines (the default when the output is not a terminal)",
    )
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("merge", help="join the reports of several grade --shard runs")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="--out folders of the shards")
    p.add_argument("--out", type=Path, required=True, help="folder for the joined reports")
    p.add_argument("--format", default="csv,md", help="batch reports to write (default: csv,md)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("list", help="list the exercises")
    p.add_argument("selection", nargs="?", default="all", help=selection_help)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("hint", help="show the next hint of an exercise")
    p.add_argument("id", help="exercise id, e.g. 1.3")
    p.add_argument("--all", action="store_true", help="show every hint")
    p.add_argument("--target", type=Path, default=None, help=target_help)
    p.set_defaults(func=cmd_hint)

    p = sub.add_parser("watch", help="re-check on every save and move on when an exercise passes")
    p.add_argument("selection", nargs="?", default="all", help=selection_help)
    p.add_argument("--target", type=Path, default=None, help=target_help)
    p.add_argument("--seed", type=int, default=None, help="base seed (default: random)")
    p.add_argument("-v", "--verbose", action="store_true", help="show every failing test")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("progress", help="show your progress per stage")
    p.add_argument("--target", type=Path, default=None, help=target_help)
    p.set_defaults(func=cmd_progress)

    p = sub.add_parser("solution", help="show the reference solution of an exercise you passed")
    p.add_argument("id", help="exercise id, e.g. 1.3")
    p.add_argument("--force", action="store_true", help="show it before passing (recorded)")
    p.add_argument("--full", action="store_true", help="the whole reference, not a diff")
    p.add_argument("--target", type=Path, default=None, help=target_help)
    p.set_defaults(func=cmd_solution)

    p = sub.add_parser("reset", help="restore an exercise's stub (your version is backed up)")
    p.add_argument("id", help="exercise id, e.g. 1.3")
    p.add_argument("--target", type=Path, default=None, help=target_help)
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser("init", help="create a workspace with every stub and lesson")
    p.add_argument("dir", type=Path, help="a new folder")
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="copy your own exercise files and progress from FOLDER (e.g. curriculum)",
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("notebooks", help="write one Jupyter/Colab notebook per stage")
    p.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("notebooks"),
        help="folder to write them into (default: notebooks/)",
    )
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="the lessons' language")
    p.add_argument("--stages", default="all", help="stages to write: 1, 1-3 or all (default)")
    p.set_defaults(func=cmd_notebooks)

    p = sub.add_parser("lesson", help="read a stage's lesson in the terminal")
    p.add_argument("stage", type=int, help="stage number, e.g. 2")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="en (default) or zh (中文)")
    p.add_argument("--no-pager", action="store_true", help="print it all instead of paging")
    p.set_defaults(func=cmd_lesson)

    p = sub.add_parser("doctor", help="show versions and the devices present")
    p.add_argument(
        "--imports", action="store_true", help="also import every library (slower; finds breakage)"
    )
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("roadmap", help="print the roadmap table generated from the manifests")
    p.add_argument("--write", action="store_true", help="update the roadmap section of README.md")
    p.set_defaults(func=cmd_roadmap)

    p = sub.add_parser("plot", help="draw your loss curve next to the reference's")
    p.add_argument("id", help="exercise id, e.g. 2.3")
    p.add_argument("--target", type=Path, default=None, help=target_help)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the PNG to write (default: plots/ID.png in the target)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of both training runs (default: 0)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("dev-check", help="check the curriculum's consistency (for maintainers)")
    p.add_argument("selection", nargs="?", default="all", help=selection_help)
    p.add_argument("--quick", action="store_true", help="only manifests and files; run no grader")
    p.add_argument("--seed", type=int, default=0, help="seed for the grader runs")
    p.set_defaults(func=cmd_dev_check)

    p = sub.add_parser(
        "mutants",
        help="find what the graders miss: grade small mutations of the solutions (maintainers)",
        description="Grade small seeded mutations of the reference solutions (a comparison "
        "flipped, a constant, default or arithmetic operator changed, a call, method call or "
        "keyword argument dropped, an if negated; never docstrings, imports, annotations or "
        "the code a stub hands out). A mutant that passes every test survives: a promise of "
        "the contract that no test checks. Survivors that no test could ever tell apart are "
        "listed, each with a one-line reason, in tests/mutants_equivalent.yaml. Exit 1 when "
        "a survivor is not listed or a reference solution fails.",
    )
    p.add_argument("selection", nargs="?", default="all", help=selection_help)
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "-n",
        "--per-exercise",
        type=int,
        default=DEFAULT_PER_EXERCISE,
        metavar="N",
        help=f"mutants graded per exercise, spread over the operators "
        f"(default: {DEFAULT_PER_EXERCISE})",
    )
    size.add_argument("--every", action="store_true", help="grade every mutant, not a sample")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the sample and the grader runs (default: 0)"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="exercises graded at once, one process each (default: 1)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="seconds per mutant (default: the exercise's time limit); a mutant out of time "
        "counts as killed",
    )
    p.add_argument(
        "--equivalent",
        type=Path,
        default=None,
        metavar="FILE",
        help="the list of mutants judged equivalent (default: tests/mutants_equivalent.yaml)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the sample; grade nothing")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="also show the listed survivors and why"
    )
    p.set_defaults(func=cmd_mutants)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err_console.print("[dim]interrupted[/]")
        return 130
