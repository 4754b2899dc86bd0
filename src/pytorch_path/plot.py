"""Loss curves: the learner's training next to the reference's (``pytorch-path plot``).

Where a curve comes from is declared once, in the exercise's grader, by a scenario named
``loss_curve``::

    @scenario
    def loss_curve(mod, *, seed=0):
        ...  # a small seeded training run that calls the module's functions
        return {"loss": [1.2, 0.7, ...], "label": "train loss per epoch"}

It returns ``"loss"`` (one number per point) and ``"label"`` (what the curve is), and may
add ``"val_loss"`` and ``"accuracy"`` (lists as long as ``"loss"``) and ``"x_label"`` (what
one point is; ``"epoch"`` by default). An exercise is plottable when its grader defines
that scenario (:func:`has_curve`); nothing else lists plottable exercises.

:func:`curves` runs ``loss_curve`` in this process for the learner's file and for the
reference solution, through the same sides as ``check`` (a
:class:`~pytorch_path.scenario.Side` over :class:`~pytorch_path.plugin.LocalTransport`),
so the learner's answer takes the same wire and seeding as in a graded run. A learner's
error (the stub's ``NotImplementedError``, any exception, a NaN loss) becomes a
:class:`PlotError` of one sentence, worded as ``check`` words it. This is the learner's own
machine and nothing is graded, so no sandbox is involved.

:func:`write_png` draws both curves with matplotlib (its Agg canvas, used directly, so
no global backend is switched); :func:`sparkline` renders a curve as block characters for
the terminal; :func:`show` is the notebook entry point. Importing this module is cheap:
torch, the graders and matplotlib are imported by the first call that needs them.
"""

from __future__ import annotations

import ast
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytorch_path.curriculum import Exercise, Project, learner_path
from pytorch_path.text import clean, shown_path

__all__ = [
    "BLOCKS",
    "CURVE_SCENARIO",
    "Curve",
    "CurvePlot",
    "Curves",
    "NoCurveError",
    "PlotError",
    "curves",
    "has_curve",
    "plottable",
    "png_bytes",
    "show",
    "sparkline",
    "summary_lines",
    "write_png",
]

#: The name of the scenario, in a grader, that produces an exercise's loss curve.
CURVE_SCENARIO = "loss_curve"
#: The characters of a sparkline, lowest first.
BLOCKS = "▁▂▃▄▅▆▇█"
#: Shown in a sparkline where a value is NaN or infinite.
MISSING = "?"
#: A curve spanning more than this ratio (max / min, all positive) is drawn on a log scale.
LOG_SCALE_RATIO = 50.0


class PlotError(Exception):
    """A curve could not be made. ``str()`` is one sentence naming the file (and line)."""


class NoCurveError(PlotError):
    """The exercise's grader declares no ``loss_curve`` scenario (a usage error)."""


@dataclass(frozen=True)
class Curve:
    """One side's training run, as its ``loss_curve`` scenario reported it."""

    loss: tuple[float, ...]
    """The loss at each point (epoch, step, …), finite."""
    label: str
    """What the curve is, e.g. ``train loss per epoch``."""
    x_label: str = "epoch"
    """What one point is (the x axis)."""
    val_loss: tuple[float, ...] | None = None
    """The validation loss at each point, when the scenario measures it."""
    accuracy: tuple[float, ...] | None = None
    """The validation accuracy at each point, when the scenario measures it."""


@dataclass(frozen=True)
class Curves:
    """The learner's curve and the reference's, from the same seeded run."""

    exercise: Exercise
    """The exercise plotted."""
    seed: int
    """The seed both runs used."""
    yours: Curve
    """The learner's run (the target's file)."""
    reference: Curve
    """The reference solution's run."""
    learner_file: Path
    """The learner's file that ran."""

    @property
    def title(self) -> str:
        """``2.3 A train / validate loop``."""
        return f"{self.exercise.id} {self.exercise.title}"


# ----------------------------------------------------------------------------- finding curves


def has_curve(project: Project, ex: Exercise) -> bool:
    """Whether ``ex``'s grader defines a ``@scenario`` named ``loss_curve``.

    Read from the grader's source, without importing it (so listing is cheap).
    """
    path = project.grader_path(ex)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == CURVE_SCENARIO:
            for deco in node.decorator_list:
                name = deco.attr if isinstance(deco, ast.Attribute) else getattr(deco, "id", "")
                if name == "scenario":
                    return True
    return False


def plottable(project: Project) -> list[Exercise]:
    """The exercises whose grader declares a loss curve, in curriculum order."""
    return [ex for ex in project.exercises if has_curve(project, ex)]


def _no_curve(project: Project, ex: Exercise) -> NoCurveError:
    ids = ", ".join(e.id for e in plottable(project)) or "none"
    return NoCurveError(f"exercise {ex.id} has no loss curve to plot; these have one: {ids}")


# ----------------------------------------------------------------------------- running


def curves(project: Project, ex: Exercise, target: Path, *, seed: int = 0) -> Curves:
    """Run ``ex``'s ``loss_curve`` scenario for the learner's file in ``target`` and the reference.

    Both runs get the same ``seed`` (and the same seeding of the global RNGs), so a
    correct solution draws the reference's curve exactly. Raises :class:`NoCurveError`
    when the grader declares no curve, and :class:`PlotError` (one sentence naming the
    file and, where known, the line) when either side's code fails or reports a loss
    that is not a finite number.
    """
    from pytorch_path.loader import LearnerLoadError, load_module, unload
    from pytorch_path.plugin import GraderPlugin, LocalTransport, RunConfig
    from pytorch_path.scenario import Side, is_scenario

    if not has_curve(project, ex):
        raise _no_curve(project, ex)
    grader_file = project.grader_path(ex)
    try:
        grader = load_module(grader_file, display=shown_path(grader_file))
    except (LearnerLoadError, NotImplementedError) as exc:
        raise PlotError(f"the grader of {ex.id} failed to load: {exc}") from None
    mine = learner_path(target, ex)
    shown = shown_path(mine)
    solution = project.solution_path(ex)
    solution_shown = shown_path(solution)
    learner_transport = LocalTransport(lambda: load_module(mine, display=shown), mine)
    reference_transport = LocalTransport(
        lambda: load_module(solution, display=solution_shown), None, trusted=True
    )
    try:
        scenario_fn = getattr(grader, CURVE_SCENARIO, None)
        if scenario_fn is None or not is_scenario(scenario_fn):
            raise _no_curve(project, ex)
        learner = Side("learner", learner_transport, grader_file, shown)
        reference = Side("reference", reference_transport, grader_file, solution_shown)
        try:
            got = learner.run(scenario_fn, seed=seed)
        except Exception as exc:  # the learner's code, loading it included
            config = RunConfig(
                project=project, target=target, exercises=(ex,), seed=seed, devices=("cpu",)
            )
            _, message = GraderPlugin(config).classify(ex, exc)
            raise PlotError(_naming(message, shown)) from None
        yours = _curve(got, shown, mine=True)
        try:
            want = reference.run(scenario_fn, seed=seed)
        except Exception as exc:  # a broken reference is the project's bug: say so plainly
            raise PlotError(f"the reference solution {solution_shown} failed: {exc}") from None
        theirs = _curve(want, solution_shown, mine=False)
    finally:
        for loaded in (learner_transport.module, reference_transport.module, grader):
            if loaded is not None:
                unload(loaded)
    return Curves(exercise=ex, seed=seed, yours=yours, reference=theirs, learner_file=mine)


def _naming(message: str, shown: str) -> str:
    """``message`` as one sentence that names the learner's file."""
    text = clean(message.strip().splitlines()[0] if message.strip() else "it failed", 600)
    text = text.rstrip(".")
    return text if shown in text else f"{text} (see {shown})"


def _curve(data: Any, shown: str, *, mine: bool) -> Curve:
    """Check what a ``loss_curve`` scenario returned and make it a :class:`Curve`."""
    whose = "your code" if mine else f"the reference {shown}"
    if not isinstance(data, dict) or not isinstance(data.get("label"), str):
        raise PlotError(
            f"the loss_curve scenario gave no {{'loss': [...], 'label': ...}} dict for {shown}"
        )
    x_label = data.get("x_label", "epoch")
    x_label = x_label if isinstance(x_label, str) else "epoch"
    loss = _series(data.get("loss"), "loss", x_label, whose, shown)
    if not loss:
        raise PlotError(f"{whose} produced no loss values to plot (see {shown})")
    extra: dict[str, tuple[float, ...] | None] = {}
    for key, what in (("val_loss", "validation loss"), ("accuracy", "accuracy")):
        series = _series(data[key], what, x_label, whose, shown) if key in data else None
        extra[key] = series if series and len(series) == len(loss) else None
    return Curve(
        loss=loss,
        label=clean(data["label"], 200),
        x_label=clean(x_label, 60),
        val_loss=extra["val_loss"],
        accuracy=extra["accuracy"],
    )


def _series(values: Any, what: str, x_label: str, whose: str, shown: str) -> tuple[float, ...]:
    """A list of finite floats; a tensor of one element counts as its number."""
    if not isinstance(values, (list, tuple)):
        raise PlotError(
            f"{whose} gave {type(values).__name__} as the {what}, not a list (see {shown})"
        )
    out = []
    for i, value in enumerate(values, start=1):
        number = _number(value)
        if number is None:
            raise PlotError(
                f"{whose} gave {clean(repr(value), 80)} as the {what} at {x_label} {i}, not a "
                f"number (see {shown})"
            )
        if not math.isfinite(number):
            raise PlotError(
                f"{whose} produced a {what} of {number} at {x_label} {i}: training diverged "
                f"(check the learning rate, the loss and the update in {shown})"
            )
        out.append(number)
    return tuple(out)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    numel = getattr(value, "numel", None)
    if callable(numel) and numel() == 1 and hasattr(value, "item"):
        item = value.item()
        return (
            float(item) if isinstance(item, (int, float)) and not isinstance(item, bool) else None
        )
    return None


# ----------------------------------------------------------------------------- text


def sparkline(
    values: Sequence[float], width: int = 40, *, bounds: tuple[float, float] | None = None
) -> str:
    """``values`` as ``width`` block characters (``▁▂▃▄▅▆▇█``), lowest value lowest.

    More values than ``width`` are averaged in ``width`` consecutive buckets; fewer are
    stretched by linear interpolation; so the line is always ``width`` long (empty for no
    values). NaN or infinite values (and the points they touch) show as ``?``; a constant
    series is a flat line. ``bounds`` (low, high) fixes the scale, so two curves drawn
    with the same bounds compare by eye; by default it is the finite values' own range.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    data = [float(v) for v in values]
    if not data:
        return ""
    n = len(data)
    points: list[float] = []
    for i in range(width):
        if n >= width:
            bucket = data[i * n // width : (i + 1) * n // width]
            finite_bucket = all(math.isfinite(v) for v in bucket)
            points.append(sum(bucket) / len(bucket) if finite_bucket else math.nan)
        else:  # width >= 2 here
            at = i * (n - 1) / (width - 1)
            left = int(at)
            right = min(left + 1, n - 1)
            a, b = data[left], data[right]
            if not (math.isfinite(a) and math.isfinite(b)):
                points.append(a if at == left and math.isfinite(a) else math.nan)
            else:
                points.append(a + (b - a) * (at - left))
    finite = [p for p in points if math.isfinite(p)]
    if bounds is not None:
        low, high = bounds
    elif finite:
        low, high = min(finite), max(finite)
    else:
        low = high = 0.0
    top = len(BLOCKS) - 1
    chars = []
    for p in points:
        if not math.isfinite(p):
            chars.append(MISSING)
        elif not high > low:
            chars.append(BLOCKS[top // 2])
        else:
            level = round((p - low) / (high - low) * top)
            chars.append(BLOCKS[min(top, max(0, level))])
    return "".join(chars)


def _log_scale(c: Curves) -> bool:
    values = [*c.yours.loss, *c.reference.loss]
    low = min(values)
    return low > 0 and max(values) / low > LOG_SCALE_RATIO


def summary_lines(c: Curves, *, width: int = 40) -> list[str]:
    """What the terminal shows: a heading, then a sparkline per side with first → last loss.

    Both sparklines share one scale (logarithmic when the PNG's is), so they compare by eye.
    """
    scale = math.log10 if _log_scale(c) else (lambda v: v)
    yours = [scale(v) for v in c.yours.loss]
    theirs = [scale(v) for v in c.reference.loss]
    bounds = (min(yours + theirs), max(yours + theirs))
    log = ", log scale" if _log_scale(c) else ""
    lines = [f"{c.title} · {c.reference.label} (seed {c.seed}{log})"]
    for name, curve, scaled in (("yours", c.yours, yours), ("reference", c.reference, theirs)):
        line = (
            f"  {name:<9}  {sparkline(scaled, width, bounds=bounds)}  "
            f"{curve.loss[0]:.4g} → {curve.loss[-1]:.4g}  ({curve.x_label} 1–{len(curve.loss)})"
        )
        if curve.accuracy:
            line += f"  accuracy {curve.accuracy[-1]:.3f}"
        lines.append(line)
    return lines


# ----------------------------------------------------------------------------- images


def png_bytes(c: Curves, *, width_px: int = 800, height_px: int = 500) -> bytes:
    """The PNG of both curves, exactly ``width_px`` × ``height_px`` pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width_px < 50 or height_px < 50:
        raise ValueError(f"a plot needs at least 50 x 50 pixels, got {width_px} x {height_px}")
    dpi = 100
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(figure)  # attaches itself: the Agg renderer, without pyplot's global state
    ax = figure.add_subplot()
    sides = (("yours", c.yours, "C0", "-"), ("reference", c.reference, "C1", "--"))
    for name, curve, color, style in sides:
        xs = range(1, len(curve.loss) + 1)
        marker = "o" if len(curve.loss) <= 30 else None
        ax.plot(xs, curve.loss, style, color=color, marker=marker, markersize=3, label=name)
        if curve.val_loss is not None:
            ax.plot(xs, curve.val_loss, ":", color=color, label=f"{name} (validation)")
    if _log_scale(c):
        ax.set_yscale("log")
    ax.set_xlabel(c.reference.x_label)
    ax.set_ylabel("loss")
    ax.set_title(f"{c.title}\n{c.reference.label}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def write_png(c: Curves, path: Path, *, width_px: int = 800, height_px: int = 500) -> Path:
    """Draw both curves into the PNG file ``path`` (folders created); return ``path``."""
    data = png_bytes(c, width_px=width_px, height_px=height_px)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------- notebooks


class CurvePlot:
    """What :func:`show` returns: the PNG inline in Jupyter, sparklines in a terminal."""

    def __init__(self, curves: Curves, *, width_px: int = 800, height_px: int = 500) -> None:
        """Wrap ``curves``; the PNG is drawn on first use."""
        self.curves = curves
        self.width_px, self.height_px = width_px, height_px
        self._png: bytes | None = None

    def _repr_png_(self) -> bytes:
        """The PNG bytes (Jupyter shows them inline)."""
        if self._png is None:
            self._png = png_bytes(self.curves, width_px=self.width_px, height_px=self.height_px)
        return self._png

    def save(self, path: str | Path) -> Path:
        """Write the PNG to ``path``; return it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._repr_png_())
        return target

    def __repr__(self) -> str:
        """The sparklines, as ``pytorch-path plot`` prints them."""
        return "\n".join(summary_lines(self.curves))


def show(ex_id: str, *, target: str | Path | None = None, seed: int = 0) -> CurvePlot:
    """Your loss curve for exercise ``ex_id`` next to the reference's (inline in Jupyter).

    ``target`` is the folder of your files (default: the workspace around the working
    directory, else ``curriculum/``). Raises :class:`PlotError` when your code fails.
    """
    from pytorch_path.targets import resolve_target

    project = Project.locate()
    ex = project.exercise(ex_id)
    folder = resolve_target(Path(target) if target is not None else None, project)
    return CurvePlot(curves(project, ex, folder, seed=seed))
