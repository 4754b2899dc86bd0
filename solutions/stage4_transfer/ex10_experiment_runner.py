"""4.10 An experiment runner with records you can trust (reference solution)."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from pytorch_path.data import (
    BACKBONE_FILE,
    backbone_images,
    digits_split,
    make_backbone,
    verify_file,
)

METHODS = ("scratch", "linear_probe", "fine_tune")
KEYS = ("methods", "seeds", "labels_per_class", "epochs", "lr", "out_dir")
DEFAULTS: dict[str, Any] = {"labels_per_class": 10, "epochs": 5, "lr": 1e-3, "out_dir": "results"}
MAX_LABELS_PER_CLASS = 100
MAX_SEED = 2**32 - 1
ROW_KEYS = (
    "method",
    "seed",
    "accuracy",
    "final_loss",
    "duration_s",
    "torch",
    "device",
    "epochs",
    "labels_per_class",
)
COLUMNS = ("method", "mean accuracy", "std accuracy", "runs")
DEVICE = "cpu"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(key: str, value: Any, expected: str) -> ValueError:
    hint = ""
    if key == "lr" and isinstance(value, str):
        hint = " (YAML reads 1e-3 as a string: write 1.0e-3 or 0.001)"
    return ValueError(f"config key {key!r}: expected {expected}, got {value!r}{hint}")


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate an experiment config, a YAML mapping read with ``yaml.safe_load``.

    Keys (no others):

    ================ ======== ================================================
    key              default  value
    ================ ======== ================================================
    methods          required a non-empty list of distinct names from
                              ``"scratch"``, ``"linear_probe"``, ``"fine_tune"``
    seeds            required a non-empty list of distinct ints, each
                              ``0 <= seed <= 2**32 - 1``
    labels_per_class 10       an int, ``1 <= labels_per_class <= 100``
    epochs           5        an int ``>= 1``
    lr               1e-3     a number ``> 0`` and finite (an int is accepted),
                              returned as a float; mind that YAML reads ``1e-3``
                              as the string ``"1e-3"`` (write ``1.0e-3`` or
                              ``0.001``): a string is rejected
    out_dir          results  a non-empty string: the output folder, relative to
                              the config file's folder (an absolute path stays)
    ================ ======== ================================================

    "An int" excludes ``bool`` (``True`` is not 1 here) and floats (``2.0`` is rejected).
    Every problem raises ``ValueError`` whose message names the key: an unknown key (the
    message also lists the known keys), a missing required key, a value of the wrong type
    or out of range (the message also shows the value, as ``repr`` gives it). A file that
    does not hold a mapping (empty, or a list) raises ``ValueError`` too.

    Returns a new dict with exactly the six keys in the order of the table, the defaults
    filled in: ``methods`` and ``seeds`` as lists in the file's order, ``lr`` a float,
    ``out_dir`` the string as written (not resolved).
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping of config keys, got {data!r}")
    for key in data:
        if key not in KEYS:
            raise ValueError(f"unknown config key {key!r}; the known keys are {', '.join(KEYS)}")
    for key in ("methods", "seeds"):
        if key not in data:
            raise ValueError(f"config key {key!r} is required")
    config = {**DEFAULTS, **data}

    methods = config["methods"]
    if (
        not isinstance(methods, list)
        or not methods
        or any(m not in METHODS for m in methods)
        or len(set(methods)) != len(methods)
    ):
        raise _bad("methods", methods, f"a non-empty list of distinct names from {METHODS}")
    seeds = config["seeds"]
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(_is_int(s) and 0 <= s <= MAX_SEED for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise _bad("seeds", seeds, f"a non-empty list of distinct ints from 0 to {MAX_SEED}")
    labels = config["labels_per_class"]
    if not _is_int(labels) or not 1 <= labels <= MAX_LABELS_PER_CLASS:
        raise _bad("labels_per_class", labels, f"an int from 1 to {MAX_LABELS_PER_CLASS}")
    epochs = config["epochs"]
    if not _is_int(epochs) or epochs < 1:
        raise _bad("epochs", epochs, "an int >= 1")
    lr = config["lr"]
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not math.isfinite(lr) or lr <= 0:
        raise _bad("lr", lr, "a finite number > 0")
    out_dir = config["out_dir"]
    if not isinstance(out_dir, str) or not out_dir:
        raise _bad("out_dir", out_dir, "a non-empty string")
    return {
        "methods": list(methods),
        "seeds": list(seeds),
        "labels_per_class": labels,
        "epochs": epochs,
        "lr": float(lr),
        "out_dir": out_dir,
    }


def _data(labels_per_class: int) -> dict[str, torch.Tensor]:
    """Digits 5-9 as labels 0-4: the labelled training subset and the whole test split."""
    split = digits_split(seed=0)

    def part(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = split[name]
        keep = y >= 5
        return backbone_images(x[keep]), y[keep] - 5

    x_train, y_train = part("train")
    idx = torch.cat([(y_train == c).nonzero().flatten()[:labels_per_class] for c in range(5)])
    x_test, y_test = part("test")
    return {"x": x_train[idx], "y": y_train[idx], "x_test": x_test, "y_test": y_test}


def _build(method: str, seed: int) -> nn.Module:
    """The model of one run, made right after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    model = make_backbone()
    if method != "scratch":
        path = verify_file(BACKBONE_FILE)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.fc = nn.Linear(model.fc.in_features, 5)
    if method == "linear_probe":
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
    return model


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return int((model(x).argmax(dim=1) == y).sum()) / len(y)


def _run_one(
    method: str, seed: int, config: dict[str, Any], data: dict[str, torch.Tensor], tb: Path
) -> tuple[dict[str, Any], list[float]]:
    """Train one (method, seed) run; its row and its loss per epoch."""
    started = time.perf_counter()
    model = _build(method, seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config["lr"])
    losses: list[float] = []
    accuracy = 0.0
    with SummaryWriter(log_dir=str(tb / f"{method}-seed{seed}")) as writer:
        for epoch in range(1, config["epochs"] + 1):
            model.train(method != "linear_probe")
            optimizer.zero_grad()
            loss = F.cross_entropy(model(data["x"]), data["y"])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            accuracy = _accuracy(model, data["x_test"], data["y_test"])
            writer.add_scalar("loss", losses[-1], global_step=epoch)
            writer.add_scalar("accuracy", accuracy, global_step=epoch)
    row = {
        "method": method,
        "seed": seed,
        "accuracy": accuracy,
        "final_loss": losses[-1],
        "duration_s": time.perf_counter() - started,
        "torch": str(torch.__version__),
        "device": DEVICE,
        "epochs": config["epochs"],
        "labels_per_class": config["labels_per_class"],
    }
    return row, losses


def _summary(rows: list[dict[str, Any]], methods: list[str]) -> list[tuple[str, str, str, str]]:
    """One (method, mean, std, runs) line per method: accuracy over its seeds, as text."""
    lines = []
    for method in methods:
        accs = [row["accuracy"] for row in rows if row["method"] == method]
        mean = statistics.fmean(accs)
        std = statistics.stdev(accs) if len(accs) > 1 else math.nan
        lines.append((method, f"{mean:.4f}", f"{std:.4f}", str(len(accs))))
    return lines


def _markdown(lines: list[tuple[str, str, str, str]]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|---|---:|---:|---:|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def _table(lines: list[tuple[str, str, str, str]]) -> Table:
    table = Table(title="Transfer comparison (accuracy on the test digits 5-9)")
    for i, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if i == 0 else "right")
    for line in lines:
        table.add_row(*line)
    return table


def _plot(curves: list[tuple[str, list[float]]], path: Path) -> None:
    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, losses in curves:
        ax.plot(range(1, len(losses) + 1), losses, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.savefig(path)


def run_experiments(
    config_path: str | os.PathLike[str], *, console: Console | None = None
) -> list[dict[str, Any]]:
    """Run every (method, seed) of a config, write the records, print the comparison.

    ``config_path`` is read with :func:`load_config`; a bad config raises its
    ``ValueError`` before anything is created or written.

    **Data** (the same for every run): ``digits_split(seed=0)``, keeping digits 5-9 with
    labels ``y - 5`` (0-4), as ``backbone_images`` inputs. Training uses the first
    ``labels_per_class`` images of each class, in the split's order, class 0's first:
    ``torch.cat([(y == c).nonzero().flatten()[:k] for c in range(5)])`` on the train part.
    The test part's digits 5-9 (174 images) measure accuracy.

    **One run** per ``(method, seed)``, in grid order: methods outer, seeds inner, as the
    config lists them. Each run:

    1. ``torch.manual_seed(seed)``, then ``model = make_backbone()``; for
       ``"linear_probe"`` and ``"fine_tune"`` load the shipped weights into it
       (``verify_file(BACKBONE_FILE)``, ``torch.load(..., weights_only=True)``, strict);
       then, for every method, a new head ``model.fc = nn.Linear(128, 5)``.
       ``"scratch"`` trains every parameter from its random initialisation;
       ``"linear_probe"`` trains only ``fc`` (everything else ``requires_grad_(False)``)
       with the whole model in eval mode; ``"fine_tune"`` trains every parameter.
    2. ``torch.optim.Adam`` over the trainable parameters, ``lr`` from the config.
    3. ``epochs`` epochs, each one full-batch step on the labelled images: ``model.train()``
       (``model.eval()`` for the probe), ``zero_grad``, ``loss = F.cross_entropy(
       model(x), y)``, ``backward``, ``step``; the epoch's loss is that ``loss.item()``
       (before the step). Then the test accuracy: ``model.eval()``, under
       ``torch.no_grad()``, the fraction of test images with ``argmax == y``.
    4. TensorBoard: ``SummaryWriter(out_dir / "tb" / f"{method}-seed{seed}")`` gets the
       scalars ``"loss"`` and ``"accuracy"`` of every epoch at ``global_step=epoch``
       (1, 2, ...), and is closed.

    The run's row, a dict with exactly these keys in this order: ``method`` (str),
    ``seed`` (int), ``accuracy`` (float, the last epoch's), ``final_loss`` (float, the
    last epoch's loss), ``duration_s`` (float > 0: ``time.perf_counter()`` around the
    whole run), ``torch`` (``str(torch.__version__)``: a plain ``str``), ``device``
    (``"cpu"``: every run is on the CPU), ``epochs`` and ``labels_per_class`` (ints, from
    the config).

    **Records**, in ``out_dir`` (resolved against the config file's folder, created
    with its parents if needed; files of these names are replaced; ``out_dir / "tb"`` is
    removed first if it exists, so it holds exactly this call's runs):

    - ``results.csv``: ``csv.DictWriter`` with the row keys as ``fieldnames``, a header,
      then one line per run in grid order (``newline=""``, UTF-8).
    - ``results.json``: ``{"config": <load_config's dict>, "versions": {"torch":
      str(torch.__version__), "torchvision": str(torchvision.__version__), "python":
      platform.python_version()}, "device": "cpu", "runs": <the rows>}``.
    - ``comparison.md``: a Markdown table, the header ``| method | mean accuracy | std
      accuracy | runs |``, a separator line (``|---|---:|---:|---:|``), then one line
      per method in the config's order: the mean accuracy over its seeds
      (``statistics.fmean``), the sample standard deviation (``statistics.stdev``, n - 1;
      ``nan`` with a single seed: one run says nothing about the spread), both with
      ``.4f``, and the number of runs.
    - ``loss_curves.png``: one line per run (the loss per epoch, x = 1..epochs, with a
      legend, e.g. ``f"{method} seed {seed}"``), drawn on a ``matplotlib.figure.Figure``
      with ``figsize=(8, 5), dpi=100`` and an Agg canvas, saved as PNG: exactly 800 x 500
      pixels (no ``bbox_inches="tight"``, which crops). No pyplot: no figure is left open.

    Then the same table (the same four columns, the same cells) is printed as a
    ``rich.table.Table`` with ``console.print``; ``console`` defaults to a new
    ``Console()`` made in the call (it writes to the current ``sys.stdout``).

    What a correct run must match: the accuracy of every row within one test image
    (1/174) and ``final_loss`` within 1e-4 (relative) of a correct run's, the TensorBoard
    scalars likewise; the CSV cells and the JSON runs exactly the returned rows (a float
    written by ``DictWriter`` reads back as the same float); the Markdown numbers within
    5e-5 of what the rows give; a PNG with something drawn on it. The working directory
    plays no part. Transfer is not required to win: the numbers are what they are.

    Returns the rows, in grid order.
    """
    config_path = Path(config_path)
    config = load_config(config_path)
    out = config_path.parent / config["out_dir"]
    out.mkdir(parents=True, exist_ok=True)
    tb = out / "tb"
    if tb.exists():
        shutil.rmtree(tb)
    data = _data(config["labels_per_class"])
    rows: list[dict[str, Any]] = []
    curves: list[tuple[str, list[float]]] = []
    for method in config["methods"]:
        for seed in config["seeds"]:
            row, losses = _run_one(method, seed, config, data, tb)
            rows.append(row)
            curves.append((f"{method} seed {seed}", losses))

    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_KEYS)
        writer.writeheader()
        writer.writerows(rows)
    record = {
        "config": config,
        "versions": {
            "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__),
            "python": platform.python_version(),
        },
        "device": DEVICE,
        "runs": rows,
    }
    (out / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = _summary(rows, config["methods"])
    (out / "comparison.md").write_text(_markdown(lines), encoding="utf-8")
    _plot(curves, out / "loss_curves.png")
    (console if console is not None else Console()).print(_table(lines))
    return rows
