"""Grader for 4.10: an experiment runner with records you can trust.

``load_config`` is called on YAML files the judge wrote (valid ones with and without the
optional keys, and one file per validation boundary, on both sides of it); the judge knows
what each must give. ``run_experiments`` runs where the learner's code runs, on a config
file a scenario writes into a temporary folder of its own, with the working directory
moved to another temporary folder (so ``out_dir`` must be resolved against the config's
folder). The scenario sends back data only: the rows, the text the rich table printed, and
the bytes of every file written (CSV, JSON, Markdown, PNG, TensorBoard event files).

The judge parses every file itself: the CSV with ``csv.DictReader``, the JSON with
``json.loads``, the Markdown table line by line, the PNG's signature and IHDR chunk
(``struct.unpack(">II", data[16:24])``) and its pixels (with PIL), and
the event files with TensorBoard's ``EventAccumulator``. The rows are compared with a twin
run of the reference under the same config (accuracy within one test image, losses within
1e-4 relative), and every record with the rows. Accuracy margins between methods are not
checked: on 8x8 digits, transfer does not reliably beat training from scratch.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import os
import platform
import re
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
import yaml
from rich.console import Console

from pytorch_path.checks import (
    assert_equal,
    assert_python_float,
    describe,
    expect_raises,
    fail,
)
from pytorch_path.scenario import scenario

METHODS = ("scratch", "linear_probe", "fine_tune")
KEYS = ("methods", "seeds", "labels_per_class", "epochs", "lr", "out_dir")
DEFAULTS: dict[str, Any] = {"labels_per_class": 10, "epochs": 5, "lr": 1e-3, "out_dir": "results"}
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
TEST_IMAGES = 174  # digits 5-9 in digits_split(seed=0)["test"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ADVICE = {
    "scratch": (
        "torch.manual_seed(seed), make_backbone(), a new head nn.Linear(128, 5), every "
        "parameter trained in train mode"
    ),
    "linear_probe": (
        "torch.manual_seed(seed), make_backbone(), the shipped weights loaded, a new head "
        "nn.Linear(128, 5), only fc trainable, the whole model in eval mode while training"
    ),
    "fine_tune": (
        "torch.manual_seed(seed), make_backbone(), the shipped weights loaded, a new head "
        "nn.Linear(128, 5), every parameter trained in train mode"
    ),
}
COMMON = (
    "each epoch one full-batch Adam step on the first labels_per_class images of each class "
    "(the loss taken before the step), then the accuracy on the test split's digits 5-9"
)


# ----------------------------------------------------------------------------- load_config


def test_load_config_fills_the_defaults(learner, seed):
    """methods and seeds alone get the documented defaults; given values come back as given."""
    rng = seed.python_random(10)
    cases = [("methods: [scratch]\nseeds: [0]\n", {"methods": ["scratch"], "seeds": [0]})]
    methods = rng.sample(METHODS, 3)
    seeds = [2**32 - 1, rng.randrange(1, 1000), 0]
    full = {
        "methods": methods,
        "seeds": seeds,
        "labels_per_class": rng.choice([1, 100, rng.randrange(2, 100)]),
        "epochs": rng.choice([1, rng.randrange(2, 50)]),
        "lr": 1,
        "out_dir": rng.choice(["runs/a", "out"]),
    }
    cases.append((yaml.safe_dump(full, sort_keys=False), full))
    partial = {"seeds": [rng.randrange(1000)], "methods": ["fine_tune", "linear_probe"], "lr": 3e-3}
    text = f"seeds: {partial['seeds']}\nmethods: [fine_tune, linear_probe]\nlr: 3.0e-3\n"
    cases.append((text, partial))
    texts = [text for text, _ in cases]
    got = learner.run(load_configs, texts)
    for text, (_, given), result in zip(texts, cases, got, strict=True):
        call = f"called load_config(path) on a file holding:\n{text}"
        want = {**DEFAULTS, **given}
        want["lr"] = float(want["lr"])
        want = {key: want[key] for key in KEYS}
        if "raised" in result:
            raise fail(f"{call}\nit raised {result['raised']}: {result['message']}")
        value = result["value"]
        if not isinstance(value, dict):
            raise fail(f"{call}\nit returned {describe(value)}, expected a dict")
        if list(value) != list(KEYS):
            raise fail(f"{call}\nthe dict's keys are {list(value)}, expected {list(KEYS)}")
        for key in KEYS:
            assert_equal(value[key], want[key], what=f"config[{key!r}]", call=call)


def test_load_config_rejects_unknown_and_missing_keys(learner):
    """An unknown key raises ValueError naming it and the known keys; so does a missing one."""
    cases = [
        (
            "methods: [scratch]\nseeds: [1]\nlearning_rate: 0.1\n",
            "an unknown key 'learning_rate'",
            ["learning_rate", *KEYS],
        ),
        ("methods: [scratch]\nseeds: [1]\nepoch: 3\n", "an unknown key 'epoch'", ["epoch", *KEYS]),
        ("seeds: [1]\nepochs: 2\n", "no 'methods'", ["methods"]),
        ("methods: [fine_tune]\n", "no 'seeds'", ["seeds"]),
        ("", "nothing in it", []),
        ("- methods\n- seeds\n", "a YAML list instead of a mapping", []),
    ]
    got = learner.run(load_configs, [text for text, _, _ in cases])
    for (_, label, needles), result in zip(cases, got, strict=True):
        _check_rejected(result, f"called load_config(path) on a file with {label}", needles)


def test_load_config_checks_every_boundary(learner):
    """A value just outside its range, or of the wrong type: ValueError naming key and value."""
    base = {"methods": ["scratch"], "seeds": [1]}
    bad = [
        ("methods", [], ""),
        ("methods", ["transfer"], ""),
        ("methods", "scratch", " (a string, not a list)"),
        ("methods", ["scratch", "scratch"], " (twice the same)"),
        ("seeds", [], ""),
        ("seeds", [1.5], ""),
        ("seeds", [True], " (a bool is not an int)"),
        ("seeds", [-1], ""),
        ("seeds", [2**32], ""),
        ("seeds", [3, 3], " (twice the same)"),
        ("seeds", 7, " (not a list)"),
        ("labels_per_class", 0, ""),
        ("labels_per_class", 101, ""),
        ("labels_per_class", True, " (a bool is not an int)"),
        ("labels_per_class", 2.0, " (a float, not an int)"),
        ("epochs", 0, ""),
        ("epochs", "2", " (a string)"),
        ("epochs", 1.5, ""),
        ("lr", 0, ""),
        ("lr", 0.0, ""),
        ("lr", -0.001, ""),
        ("lr", "1e-3", " (YAML reads 1e-3, written without a dot, as the string '1e-3')"),
        ("lr", math.inf, ""),
        ("lr", math.nan, ""),
        ("lr", True, " (a bool is not a number here)"),
        ("out_dir", "", ""),
        ("out_dir", 3, ""),
    ]
    texts = []
    for key, value, _ in bad:
        config = {**base, key: value}
        text = yaml.safe_dump(config, sort_keys=False)
        if key == "lr" and value == "1e-3":
            text = "methods: [scratch]\nseeds: [1]\nlr: 1e-3\n"
        texts.append(text)
    got = learner.run(load_configs, texts)
    for (key, _, note), text, result in zip(bad, texts, got, strict=True):
        shown = yaml.safe_load(text)[key]
        label = f"{key}: {shown!r}{note}"
        _check_rejected(
            result, f"called load_config(path) on a file with {label}", [key, repr(shown)]
        )
    # Just inside every boundary (each end of a range): accepted, with the values as given.
    edges = [
        {
            "methods": ["linear_probe"],
            "seeds": [0, 2**32 - 1],
            "labels_per_class": 1,
            "epochs": 1,
            "lr": 1.0e-12,
            "out_dir": "x",
        },
        {"methods": ["scratch", "fine_tune"], "seeds": [5], "labels_per_class": 100,
         "epochs": 1, "lr": 1.0, "out_dir": "y"},
    ]  # fmt: skip
    texts = [yaml.safe_dump(edge, sort_keys=False) for edge in edges]
    for edge, text, result in zip(edges, texts, learner.run(load_configs, texts), strict=True):
        call = f"called load_config(path) on a file holding:\n{text}"
        if "raised" in result:
            raise fail(
                f"{call}\nit raised {result['raised']}: {result['message']}; all are allowed "
                "(1 <= labels_per_class <= 100, both ends included)"
            )
        for key in KEYS:
            assert_equal(result["value"][key], edge[key], what=f"config[{key!r}]", call=call)


# ----------------------------------------------------------------------------- run_experiments


@pytest.mark.points(2)
def test_rows_csv_and_json(learner, reference, seed):
    """Rows in grid order equal a correct run's; results.csv and results.json hold exactly them."""
    cfg = _config(seed, 20)
    got, took = _learner(learner, cfg["text"], out_dir=cfg["out_dir"])
    want = _reference(reference, cfg["text"], out_dir=cfg["out_dir"])
    call = _call(cfg)
    _check_wrote_where_told(got, cfg, call)
    rows = _check_rows(got["answers"][0]["rows"], cfg, call)
    _check_row_types(got["answers"][0]["types"], call)
    _compare_rows(rows, want["answers"][0]["rows"], call)
    total = sum(row["duration_s"] for row in rows)
    if total > took + 1e-3:
        raise fail(
            f"{call}: the rows' duration_s add up to {total:.3f} s, but the call took "
            f"{took:.3f} s; measure each run with time.perf_counter() (seconds)"
        )
    _check_csv(got["files"], rows, call)
    _check_json(got["files"], rows, cfg, call)


@pytest.mark.points(2)
def test_table_plot_and_tensorboard(learner, reference, seed):
    """comparison.md and the printed table: mean/std per method; an 800x500 PNG; TB scalars."""
    cfg = _config(seed, 20)
    got, _ = _learner(learner, cfg["text"], out_dir=cfg["out_dir"])
    want = _reference(reference, cfg["text"], out_dir=cfg["out_dir"])
    call = _call(cfg)
    _check_wrote_where_told(got, cfg, call)
    rows = _check_rows(got["answers"][0]["rows"], cfg, call)
    _compare_rows(rows, want["answers"][0]["rows"], call)
    lines = _summary(rows, cfg["config"]["methods"])
    _check_markdown(got["files"], lines, call)
    _check_printed(
        got["answers"][0]["console"], lines, call + " with console=<a recording Console>"
    )
    _check_png(got["files"], got["open_figures"], call)
    _check_tensorboard(got, want, cfg, call)


def test_reruns_are_reproducible_and_replace_old_records(learner, reference, seed):
    """The same config twice gives the same numbers; tb/ holds only the last call's runs."""
    main = _config(seed, 20)
    want = _reference(reference, main["text"], out_dir=main["out_dir"])
    rng = seed.python_random(30)
    method, run_seed = rng.choice(main["config"]["methods"]), rng.choice(main["config"]["seeds"])
    cfg = _subset(main, method, run_seed)  # its runs are among the main config's
    got = learner.run(experiment, cfg["text"], out_dir=cfg["out_dir"], runs=2, stale=True)
    call = _call(cfg) + " twice, into the same out_dir, with the default console"
    ref_rows = [
        r for r in want["answers"][0]["rows"] if (r["method"], r["seed"]) == (method, run_seed)
    ]
    _check_wrote_where_told(got, cfg, call)
    first = _check_rows(got["answers"][0]["rows"], cfg, call)
    second = _check_rows(got["answers"][1]["rows"], cfg, call)
    for a, b in zip(first, second, strict=True):
        for key in ("accuracy", "final_loss"):
            if a[key] != b[key]:
                raise fail(
                    f"{call}: the {a['method']} run with seed {a['seed']} gave {key}={a[key]!r} "
                    f"the first time and {b[key]!r} the second; seed every run with "
                    "torch.manual_seed(seed) right before make_backbone(), and take nothing "
                    "else from a random source"
                )
    _compare_rows(second, ref_rows, call)
    lines = _summary(second, cfg["config"]["methods"])
    for i, answer in enumerate(got["answers"]):
        _check_printed(answer["console"], lines, f"{call} (call {i + 1}, printed to stdout)")
    _check_tensorboard(got, want, cfg, call)


def test_smallest_config_and_a_single_seed(learner, reference, seed):
    """labels_per_class=1, epochs=1, one seed: runs; std is nan; nested out_dir is created."""
    rng = seed.python_random(40)
    method = rng.choice(METHODS)
    s = rng.randrange(1000)
    text = f"methods: [{method}]\nseeds: [{s}]\nlabels_per_class: 1\nepochs: 1\nlr: 1\n"
    text += "out_dir: deep/er/out\n"
    cfg = {"text": text, "out_dir": "deep/er/out", "config": _expected(text)}
    got = learner.run(experiment, text, out_dir=cfg["out_dir"])
    want = _reference(reference, text, out_dir=cfg["out_dir"])
    call = _call(cfg)
    _check_wrote_where_told(got, cfg, call)
    rows = _check_rows(got["answers"][0]["rows"], cfg, call)
    _compare_rows(rows, want["answers"][0]["rows"], call)
    _check_markdown(got["files"], _summary(rows, [method]), call)
    _check_json(got["files"], rows, cfg, call)


def test_a_bad_config_writes_nothing(learner, seed):
    """run_experiments on a config with an unknown key raises ValueError and creates nothing."""
    rng = seed.python_random(50)
    key = rng.choice(["learning_rate", "batch_size", "device"])
    text = f"methods: [scratch]\nseeds: [1]\nepochs: 1\nout_dir: out\n{key}: 1\n"
    call = f"called run_experiments(path) on a config with the unknown key {key!r}"
    error = expect_raises(learner.run, "ValueError", experiment, text, out_dir="out", what=call)
    if key not in error.message:
        raise fail(f"{call}; the ValueError says {error.message!r}, which does not name {key!r}")
    got = learner.run(bad_experiment, text)
    if got["created"]:
        raise fail(
            f"{call}; it raised, but only after creating {got['created'][:5]}; validate the "
            "config (load_config) before creating or writing anything"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def load_configs(mod: Any, texts: list[str]) -> list[dict[str, Any]]:
    """load_config on each text, written to a file: its value, or the exception it raised."""
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pp-cfg-") as tmp:
        for i, text in enumerate(texts):
            path = Path(tmp) / f"config{i}.yaml"
            path.write_text(text, encoding="utf-8")
            try:
                value = mod.load_config(path if i % 2 else str(path))
            except NotImplementedError:
                raise
            except Exception as exc:
                mro = [k.__name__ for k in type(exc).__mro__]
                out.append({"raised": type(exc).__name__, "mro": mro, "message": str(exc)})
            else:
                out.append({"value": value})
    return out


@scenario
def experiment(
    mod: Any, text: str, *, out_dir: str, runs: int = 1, stale: bool = False
) -> dict[str, Any]:
    """run_experiments on a config file, from another working directory; every file written.

    With ``runs=1`` the table goes to a recording console; with ``runs=2`` the same config
    runs twice with the default console (stdout captured). With ``stale``, out_dir/tb first
    holds a run folder from an older experiment.
    """
    with tempfile.TemporaryDirectory(prefix="pp-exp-") as tmp:
        project, elsewhere = Path(tmp) / "project", Path(tmp) / "cwd"
        project.mkdir()
        elsewhere.mkdir()
        path = project / "experiment.yaml"
        path.write_text(text, encoding="utf-8")
        out = project / out_dir
        if stale:
            old = out / "tb" / "old-run-seed0"
            old.mkdir(parents=True)
            (old / "events.out.tfevents.0.old").write_bytes(b"stale")
        answers = []
        before = Path.cwd()
        os.chdir(elsewhere)
        try:
            for i in range(runs):
                if runs == 1:
                    console = Console(record=True, width=120, file=io.StringIO())
                    rows = mod.run_experiments(path, console=console)
                    printed = console.export_text()
                else:
                    buffer = io.StringIO()
                    with contextlib.redirect_stdout(buffer):
                        rows = mod.run_experiments(str(path) if i else path)
                    printed = buffer.getvalue()
                answers.append({"rows": rows, "console": printed, "types": _row_types(rows)})
        finally:
            os.chdir(before)
        files, tb = {}, {}
        if out.is_dir():
            for file in sorted(out.rglob("*")):
                rel = file.relative_to(out).as_posix()
                if file.is_file():  # an empty file as None: b"" does not cross the wire
                    (tb if rel.startswith("tb/") else files)[rel] = file.read_bytes() or None
        tb_dirs = sorted(p.name for p in (out / "tb").iterdir()) if (out / "tb").is_dir() else []
        pyplot = sys.modules.get("matplotlib.pyplot")
        return {
            "answers": answers,
            "files": files,
            "tb": tb,
            "tb_dirs": tb_dirs,
            "elsewhere": sorted(p.relative_to(elsewhere).as_posix() for p in elsewhere.rglob("*")),
            "open_figures": len(pyplot.get_fignums()) if pyplot is not None else 0,
        }


@scenario
def bad_experiment(mod: Any, text: str) -> dict[str, Any]:
    """run_experiments on an invalid config: what it created before raising (nothing, ideally)."""
    with tempfile.TemporaryDirectory(prefix="pp-bad-") as tmp:
        path = Path(tmp) / "experiment.yaml"
        path.write_text(text, encoding="utf-8")
        before = Path.cwd()
        os.chdir(tmp)
        try:
            mod.run_experiments(path)
        except NotImplementedError:
            raise
        except Exception:
            pass
        finally:
            os.chdir(before)
        created = sorted(p.relative_to(tmp).as_posix() for p in Path(tmp).rglob("*"))
        return {"created": [p for p in created if p != "experiment.yaml"]}


def _row_types(rows: Any) -> list[dict[str, str]]:
    """The exact class of every value of every row, as ``module.QualName``."""
    if not isinstance(rows, list):
        return []
    return [
        {str(k): f"{type(v).__module__}.{type(v).__qualname__}" for k, v in row.items()}
        if isinstance(row, dict)
        else {}
        for row in rows
    ]


# ----------------------------------------------------------------------------- helpers


#: The class each row value must have exactly (checked inside the scenario: the wire would
#: turn a str subclass into a plain str).
_ROW_TYPES = {"method": "str", "seed": "int", "accuracy": "float", "final_loss": "float",
              "duration_s": "float", "torch": "str", "device": "str", "epochs": "int",
              "labels_per_class": "int"}  # fmt: skip
_ANSWERS: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}


def _run_once(side: Any, who: str, text: str, **options: Any) -> tuple[dict[str, Any], float]:
    """``side``'s answer for this config and how long the call took, run once per check.

    The tests of the rows and of the derived files look at the same run: one call, each
    test checking its own part of it (a copy). A grader module lives for one check, so
    nothing is shared between two learners; ``who`` keeps the learner's and the
    reference's answers apart.
    """
    key = (who, repr((text, sorted(options.items()))))
    if key not in _ANSWERS:
        started = time.perf_counter()
        answer = side.run(experiment, text, **options)
        _ANSWERS[key] = (answer, time.perf_counter() - started)
    answer, took = _ANSWERS[key]
    return copy.deepcopy(answer), took


def _learner(learner: Any, text: str, **options: Any) -> tuple[dict[str, Any], float]:
    """The learner's answer for this config and the call's duration (see :func:`_run_once`)."""
    return _run_once(learner, "learner", text, **options)


def _reference(reference: Any, text: str, **options: Any) -> dict[str, Any]:
    """The reference's answer for this config (see :func:`_run_once`)."""
    return _run_once(reference, "reference", text, **options)[0]


def _expected(text: str) -> dict[str, Any]:
    """What load_config must return for a valid text: the defaults filled in, in key order."""
    given = yaml.safe_load(text)
    merged = {**DEFAULTS, **given}
    merged["lr"] = float(merged["lr"])
    return {key: merged[key] for key in KEYS}


def _config(
    seed: Any, offset: int, *, methods: int = 2, seeds: int = 2, epochs: int = 2
) -> dict[str, Any]:
    """A small valid config (methods and seeds in no sorted order) and what it means."""
    rng = seed.python_random(offset)
    chosen = rng.sample(METHODS, methods)
    while methods > 1 and chosen == sorted(chosen):
        rng.shuffle(chosen)
    picked = rng.sample(range(1000), seeds)
    while seeds > 1 and picked == sorted(picked):
        rng.shuffle(picked)
    out_dir = rng.choice(["runs/exp", "results-a"])
    lr = rng.choice(["0.001", "3.0e-3", "0.002"])
    text = (
        f"methods: [{', '.join(chosen)}]\nseeds: {picked}\nlabels_per_class: "
        f"{rng.choice([2, 3])}\nepochs: {epochs}\nlr: {lr}\nout_dir: {out_dir}\n"
    )
    return {"text": text, "out_dir": out_dir, "config": _expected(text)}


def _subset(cfg: dict[str, Any], method: str, seed: int) -> dict[str, Any]:
    """The config with one method and one seed of its own, everything else the same."""
    lines = cfg["text"].splitlines()
    lines[0], lines[1] = f"methods: [{method}]", f"seeds: [{seed}]"
    text = "\n".join(lines) + "\n"
    return {"text": text, "out_dir": cfg["out_dir"], "config": _expected(text)}


def _call(cfg: dict[str, Any]) -> str:
    flat = cfg["text"].strip().replace("\n", "; ")
    return f"called run_experiments(path) on a config with {flat}"


def _check_rejected(result: dict[str, Any], call: str, needles: list[str]) -> None:
    if "raised" not in result:
        raise fail(f"{call}; it returned {describe(result['value'])}, expected ValueError")
    if "ValueError" not in result["mro"]:
        raise fail(
            f"{call}; it raised {result['raised']}: {result['message']}; expected ValueError"
        )
    missing = [n for n in needles if n not in result["message"]]
    if missing:
        raise fail(
            f"{call}; the ValueError says {result['message']!r}, which does not mention "
            f"{missing}: name the key (and show the value with repr)"
        )


def _check_wrote_where_told(got: dict[str, Any], cfg: dict[str, Any], call: str) -> None:
    if "results.csv" not in got["files"]:
        where = ""
        if got["elsewhere"]:
            where = (
                f"; files appeared in the working directory instead ({got['elsewhere'][:3]}): "
                "out_dir is relative to the config file's folder, Path(config_path).parent "
                "/ out_dir"
            )
        raise fail(f"{call}; no results.csv in {cfg['out_dir']!r} next to the config file{where}")


def _check_rows(rows: Any, cfg: dict[str, Any], call: str) -> list[dict[str, Any]]:
    """A list of rows in grid order, keys in order, values of the documented types."""
    config = cfg["config"]
    grid = [(m, s) for m in config["methods"] for s in config["seeds"]]
    if not isinstance(rows, list) or len(rows) != len(grid):
        raise fail(f"{call}; it returned {describe(rows)}, expected a list of {len(grid)} rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or list(row) != list(ROW_KEYS):
            keys = list(row) if isinstance(row, dict) else describe(row)
            raise fail(f"{call}; rows[{i}] has the keys {keys}, expected {list(ROW_KEYS)} in order")
    order = [(row["method"], row["seed"]) for row in rows]
    if order != grid:
        hint = ""
        if sorted(order) == sorted(grid):
            hint = ": methods outer, seeds inner, each in the config's order (no sorting)"
        raise fail(f"{call}; the rows come in the order {order}, expected {grid}{hint}")
    for i, row in enumerate(rows):
        for key in ("accuracy", "final_loss", "duration_s"):
            assert_python_float(row[key], what=f"rows[{i}][{key!r}]", call=call)
        if row["duration_s"] <= 0:
            raise fail(f"{call}; rows[{i}]['duration_s'] is {row['duration_s']}, expected > 0")
        for key, want in (
            ("seed", grid[i][1]),
            ("torch", str(torch.__version__)),
            ("device", "cpu"),
            ("epochs", config["epochs"]),
            ("labels_per_class", config["labels_per_class"]),
        ):
            assert_equal(row[key], want, what=f"rows[{i}][{key!r}]", call=call)
    return rows


def _check_row_types(types: list[dict[str, str]], call: str) -> None:
    """Every value of every row of the documented built-in class (a subclass crosses as it)."""
    for i, row in enumerate(types):
        for key, kind in row.items():
            want = _ROW_TYPES.get(key)
            if want is None or kind == f"builtins.{want}":
                continue
            advice = ""
            if key == "torch":
                advice = (
                    ": torch.__version__ is a TorchVersion, a subclass of str; store "
                    "str(torch.__version__), a plain str"
                )
            raise fail(f"{call}; rows[{i}][{key!r}] is a {kind}, expected a plain {want}{advice}")


def _compare_rows(rows: list[dict[str, Any]], want: list[dict[str, Any]], call: str) -> None:
    """Accuracy within one test image and final_loss within 1e-4 of the reference's."""
    for row, ref in zip(rows, want, strict=True):
        where = f"{call}; the {row['method']} run with seed {row['seed']}"
        advice = f"{ADVICE[row['method']]}; {COMMON}"
        if abs(row["accuracy"] - ref["accuracy"]) > 1.5 / TEST_IMAGES:
            percent = " (a percentage? give a fraction)" if row["accuracy"] > 1 else ""
            raise fail(
                f"{where} reports accuracy {row['accuracy']:.4f}, a correct run gives "
                f"{ref['accuracy']:.4f}{percent}: {advice}"
            )
        if not abs(row["final_loss"] - ref["final_loss"]) <= 1e-6 + 1e-4 * abs(ref["final_loss"]):
            raise fail(
                f"{where} reports final_loss {row['final_loss']:.6g}, a correct run gives "
                f"{ref['final_loss']:.6g}: {advice}"
            )


def _summary(rows: list[dict[str, Any]], methods: list[str]) -> list[tuple[str, float, float, int]]:
    """The judge's own (method, mean, sample std, runs) from the rows."""
    lines = []
    for method in methods:
        accs = [row["accuracy"] for row in rows if row["method"] == method]
        std = statistics.stdev(accs) if len(accs) > 1 else math.nan
        lines.append((method, statistics.fmean(accs), std, len(accs)))
    return lines


def _text(files: dict[str, bytes], name: str, call: str) -> str:
    if name not in files:
        raise fail(f"{call}; out_dir holds {sorted(files)}, but no {name}")
    if files[name] is None:
        raise fail(f"{call}; {name} is empty")
    try:
        return files[name].decode("utf-8")
    except UnicodeDecodeError:
        raise fail(f"{call}; {name} is not UTF-8 text") from None


def _check_csv(files: dict[str, bytes], rows: list[dict[str, Any]], call: str) -> None:
    text = _text(files, "results.csv", call)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if list(header) != list(ROW_KEYS):
        raise fail(f"{call}; results.csv's header is {header}, expected {list(ROW_KEYS)}")
    lines = list(reader)
    if len(lines) != len(rows):
        raise fail(f"{call}; results.csv holds {len(lines)} rows, expected {len(rows)}")
    for i, (line, row) in enumerate(zip(lines, rows, strict=True)):
        for key in ROW_KEYS:
            value, cell = row[key], line[key]
            same = cell == str(value)
            if isinstance(value, float):
                same = _number(cell) == value
            if not same:
                raise fail(
                    f"{call}; results.csv row {i} has {key}={cell!r}, but the returned row has "
                    f"{value!r}: write the rows themselves with csv.DictWriter (no rounding)"
                )


def _check_json(
    files: dict[str, bytes], rows: list[dict[str, Any]], cfg: dict[str, Any], call: str
) -> None:
    text = _text(files, "results.json", call)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{call}; results.json is not valid JSON ({exc})") from None
    keys = ["config", "versions", "device", "runs"]
    if not isinstance(record, dict) or sorted(record) != sorted(keys):
        shown = sorted(record) if isinstance(record, dict) else describe(record)
        raise fail(f"{call}; results.json holds {shown}, expected the keys {keys}")
    if record["config"] != cfg["config"]:
        raise fail(
            f"{call}; results.json's config is {record['config']}, expected what load_config "
            f"returns: {cfg['config']}"
        )
    versions = {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
    }
    if record["versions"] != versions:
        raise fail(
            f"{call}; results.json's versions are {record['versions']}, expected {versions} "
            "(torch.__version__, torchvision.__version__, platform.python_version())"
        )
    assert_equal(record["device"], "cpu", what="results.json's device", call=call)
    if record["runs"] != rows:
        raise fail(f"{call}; results.json's runs differ from the rows run_experiments returned")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _close(cell: str, want: float) -> bool:
    value = _number(cell)
    if value is None:
        return False
    if math.isnan(want):
        return math.isnan(value)
    return abs(value - want) <= 5e-5 + 1e-9


def _check_markdown(
    files: dict[str, bytes], lines: list[tuple[str, float, float, int]], call: str
) -> None:
    text = _text(files, "comparison.md", call)
    table = [line for line in text.splitlines() if line.strip().startswith("|")]
    if len(table) < 2 or _cells(table[0]) != list(COLUMNS):
        head = _cells(table[0]) if table else "no table"
        raise fail(f"{call}; comparison.md's table header is {head}, expected {list(COLUMNS)}")
    if not re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|){4}", table[1].strip()):
        raise fail(f"{call}; comparison.md's second table line {table[1]!r} is not a separator")
    body = table[2:]
    if len(body) != len(lines):
        raise fail(f"{call}; comparison.md has {len(body)} rows, expected one per method")
    for row, (method, mean, std, runs) in zip(body, lines, strict=True):
        cells = _cells(row)
        shown = f"{method} | {mean:.4f} | {std:.4f} | {runs}"
        if len(cells) != 4 or cells[0] != method:
            raise fail(f"{call}; comparison.md has the row {row!r}, expected {shown!r}")
        if not _close(cells[1], mean):
            raise fail(
                f"{call}; comparison.md gives {method} a mean accuracy of {cells[1]}, the rows "
                f"give {mean:.4f} (statistics.fmean over its seeds, .4f)"
            )
        if not _close(cells[2], std):
            hint = ""
            if runs > 1 and _close(cells[2], std * math.sqrt((runs - 1) / runs)):
                hint = " (that is the population std: use the sample std, n - 1)"
            raise fail(
                f"{call}; comparison.md gives {method} a std of {cells[2]}, expected "
                f"{std:.4f}: statistics.stdev, nan for a single seed{hint}"
            )
        if cells[3] != str(runs):
            raise fail(
                f"{call}; comparison.md counts {cells[3]} runs for {method}, expected {runs}"
            )


def _check_printed(text: str, lines: list[tuple[str, float, float, int]], call: str) -> None:
    if not all(name in text for name in COLUMNS):
        raise fail(
            f"{call}; the printed table lacks the columns {list(COLUMNS)}; it printed:\n{text}"
        )
    printed = text.splitlines()
    for method, mean, std, runs in lines:
        cells = (method, f"{mean:.4f}", f"{std:.4f}", str(runs))
        if not any(all(c in line for c in cells) for line in printed):
            raise fail(f"{call}; no printed line shows {cells}; it printed:\n{text}")


def _check_png(files: dict[str, bytes], open_figures: int, call: str) -> None:
    name = "loss_curves.png"
    if name not in files:
        raise fail(f"{call}; out_dir holds {sorted(files)}, but no {name}")
    data = files[name] or b""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise fail(f"{call}; {name} does not start like a PNG file (signature, then IHDR)")
    width, height = struct.unpack(">II", data[16:24])
    if (width, height) != (800, 500):
        raise fail(
            f"{call}; {name} is {width} x {height} pixels, expected 800 x 500: "
            "Figure(figsize=(8, 5), dpi=100) saved without bbox_inches='tight'"
        )
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            colours = image.convert("RGB").getcolors(maxcolors=800 * 500)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise fail(f"{call}; {name} does not decode as a PNG ({exc})") from None
    if colours is not None and len(colours) < 3:
        raise fail(f"{call}; {name} is blank: draw one loss curve per run")
    if open_figures:
        raise fail(
            f"{call}; afterwards pyplot holds {open_figures} open figure(s): draw on a "
            "matplotlib.figure.Figure with an Agg canvas (no pyplot), or close what you open"
        )


def _scalars(tb: dict[str, bytes], run: str) -> tuple[dict[str, list[tuple[int, float]]], int]:
    """The scalars of one run's event files, read by the judge with EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    prefix = f"tb/{run}/"
    mine = {rel[len(prefix) :]: data for rel, data in tb.items() if rel.startswith(prefix)}
    events = [name for name in mine if "tfevents" in name]
    with tempfile.TemporaryDirectory(prefix="pp-tb-") as tmp:
        for name, data in mine.items():
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data or b"")
        acc = EventAccumulator(tmp, size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags().get("scalars", [])
        return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in tags}, len(events)


def _check_tensorboard(got: dict[str, Any], want: dict[str, Any], cfg: dict[str, Any], call: str):
    config = cfg["config"]
    runs = [f"{m}-seed{s}" for m in config["methods"] for s in config["seeds"]]
    if sorted(got["tb_dirs"]) != sorted(runs):
        extra = [d for d in got["tb_dirs"] if d not in runs]
        hint = ""
        if extra:
            hint = f" ({extra} should not be there: remove out_dir/tb first if it exists)"
        raise fail(
            f"{call}; out_dir/tb holds {got['tb_dirs']}, expected one folder per run, "
            f"{sorted(runs)}{hint}"
        )
    steps = list(range(1, config["epochs"] + 1))
    for run in runs:
        mine, count = _scalars(got["tb"], run)
        if count != 1:
            raise fail(
                f"{call}; tb/{run} holds {count} event files, expected one; a rerun must not "
                "add to an older run's folder: remove out_dir/tb first if it exists, and open "
                "one SummaryWriter per run (and close it)"
            )
        ref, _ = _scalars(want["tb"], run)
        for tag in ("loss", "accuracy"):
            values = mine.get(tag)
            if values is None:
                raise fail(
                    f"{call}; tb/{run} has the scalars {sorted(mine)}, but no {tag!r}: "
                    f"writer.add_scalar({tag!r}, value, global_step=epoch)"
                )
            if [step for step, _ in values] != steps:
                raise fail(
                    f"{call}; tb/{run}'s {tag!r} has the steps {[s for s, _ in values]}, "
                    f"expected {steps} (global_step=epoch, from 1)"
                )
            for (step, value), (_, expected) in zip(values, ref[tag], strict=True):
                close = abs(value - expected) <= (
                    1.5 / TEST_IMAGES if tag == "accuracy" else 1e-6 + 1e-4 * abs(expected)
                )
                if not close:
                    raise fail(
                        f"{call}; tb/{run}'s {tag!r} at step {step} is {value:.6g}, a correct "
                        f"run logs {expected:.6g}: log each epoch's loss (before its step) and "
                        "test accuracy (after it)"
                    )
