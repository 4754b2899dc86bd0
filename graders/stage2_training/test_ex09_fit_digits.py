"""Grader for 2.9: fit(): training on real digits, with a log and a config.

``fit`` is run a few times with small configs (a fraction of a second each) inside the
``fit_watched`` scenario: in a fresh temporary folder, with ``build_model`` wrapped so that
every model it returns carries forward hooks. They record, for each forward pass, the
train/eval mode, whether autograd was on, which digits went in (matched row by row
against ``digits_split``) and the logits that came out. The scenario sends back that
trace, the returned summary and the bytes of the files ``fit`` wrote (``log.csv``,
``config.json``, ``best.pt``).

From the trace the tests rebuild what the run did: the training steps of each epoch, the
validation pass after each epoch, the test pass at the end, and check the log against it.
The grader's own computations back every test: ``best.pt`` is loaded and evaluated with
the reference's ``build_model`` (the model the docstring describes; a probe first checks
that the learner's ``build_model`` computes the same), and the optimizer steps are
replayed with the reference optimizer from the same initial weights on the same batches.

Runs are shared between tests through a session-scoped cache (the config comes from the
seed of the first test that needs it), so the whole grader costs a handful of fits.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import RandomSampler

from pytorch_path.checks import describe, expect_raises, fail, loader_orders
from pytorch_path.data import digits_split
from pytorch_path.scenario import LearnerError, learner_attr, scenario

#: Honest runs of the main config reach 0.92 or more on validation (the reference, over
#: 1000 seeds; the median is 0.96); this floor leaves a wide margin and still catches a run
#: that does not learn (a wrong lr, missing zero_grad, a wrong loss).
VAL_ACCURACY_FLOOR = 0.85
SUMMARY_TYPES = {
    "best_val_accuracy": float,
    "best_epoch": int,
    "test_accuracy": float,
    "epochs_run": int,
}
HEADER = ["epoch", "train_loss", "val_loss", "val_accuracy", "lr"]
#: The most bytes of each file of out_dir the fit scenario sends back.
FILE_LIMITS = {"log.csv": 4 * 2**20, "config.json": 2**20, "best.pt": 16 * 2**20}


# ----------------------------------------------------------------------------- tests


def test_resolve_config(learner, reference, seed):
    """resolve_config fills in the defaults, keeps the caller's values, and rejects unknown keys."""
    rng = seed.python_random()
    configs = [{}, {"hidden_sizes": (rng.randint(5, 40), rng.randint(5, 40))}]
    configs += [_random_partial_config(rng) for _ in range(4)]
    expected = reference.run(resolve_each, configs)["calls"]
    got = learner.run(resolve_each, configs)
    if got["no_defaults"]:
        raise fail(
            f"{learner.file} does not define DEFAULT_CONFIG; keep it as given, with every key "
            "fit understands and its default"
        )
    for index, (config, want) in enumerate(zip(configs, expected, strict=True)):
        call = f"called resolve_config({config!r})"
        if index >= len(got["calls"]):
            # It raised on this config: call it alone, so the error is reported as it is.
            learner.resolve_config(copy.deepcopy(config))
            raise fail(f"{call}; it raised an error the first time and not the second")
        _check_resolved(call, config, got["calls"][index], want["result"])
    for bad, needle in (
        ({"learning_rate": 0.1}, "learning_rate"),
        ({"lr": 0.1, "hiden_sizes": [8]}, "hiden_sizes"),
        ({"optimizer": "adamw"}, None),
        ({"lr_schedule": "step"}, None),
    ):
        call = f"called resolve_config({bad!r})"
        caught = expect_raises(learner.resolve_config, "ValueError", dict(bad), what=call)
        if needle and needle not in caught.message:
            raise fail(
                f"{call}; the ValueError says {caught.message!r}: name the unknown key "
                f"({needle!r}) so the typo is easy to find"
            )


def test_build_model(learner, reference, seed):
    """build_model gives Flatten, then Linear-ReLU-Dropout per hidden size, then Linear(., 10)."""
    rng = seed.python_random()
    for index, hidden in enumerate(
        ([], [rng.randint(5, 30)], [rng.randint(31, 60), rng.randint(3, 9)])
    ):
        dropout = (0.0, 0.5, 0.3)[index]
        cfg = reference.resolve_config({"hidden_sizes": hidden, "dropout": dropout})
        x = seed.rand(rng.randint(3, 9), 1, 8, 8, offset=index)
        train_seed = seed.value + index
        want = reference.run(build_and_call, cfg, x, None, train_seed=train_seed)
        call = f"called build_model(cfg) with hidden_sizes={hidden}, dropout={dropout}"
        got = learner.run(build_and_call, cfg, x, want["state"], train_seed=train_seed)
        if not got["is_module"]:
            raise fail(f"{call}; it returned {got['described']}, expected an nn.Module")
        if got["shapes"] != want["shapes"]:
            raise fail(
                f"{call}; its state_dict has {got['shapes']}, expected {want['shapes']}: an "
                "nn.Sequential of Flatten, then Linear, ReLU, Dropout per hidden size (Dropout "
                "even when p is 0), then Linear(last width, 10)"
            )
        if got["bad_parameter"] is not None:
            raise fail(
                f"{call}; a parameter is {got['bad_parameter']}; build on the CPU in float32"
            )
        out, expected = got["eval"], want["eval"]
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(x), 10):
            raise fail(f"{call}; model(x) for x of shape {tuple(x.shape)} gave {describe(out)}")
        if not torch.allclose(out.double(), expected.double(), rtol=1e-5, atol=1e-6):
            raise fail(
                f"{call}; with the same weights as the reference it computes different logits "
                "in eval mode: check the order of the layers and the ReLU after each hidden "
                "Linear"
            )
        noisy = got["train"]
        if dropout and (
            isinstance(noisy, torch.Tensor)
            and noisy.shape == expected.shape
            and torch.allclose(noisy.double(), expected.double(), rtol=1e-5, atol=1e-6)
        ):
            raise fail(
                f"{call}; in train mode the output equals the eval-mode output: the "
                f"Dropout({dropout}) layers are missing or not given config['dropout']"
            )
        if not (
            isinstance(noisy, torch.Tensor)
            and noisy.shape == want["train"].shape
            and torch.allclose(noisy.double(), want["train"].double(), rtol=1e-5, atol=1e-6)
        ):
            raise fail(
                f"{call}; in train mode, right after torch.manual_seed(s) and with the same "
                "weights, its logits differ from those of the documented model, which has "
                f"nn.Dropout(config['dropout']) = Dropout({dropout}) after each hidden ReLU: "
                "check the dropout probability each Dropout layer is given"
            )


@pytest.mark.points(2)
def test_fit_trains_and_writes_its_files(learner, reference, runner):
    """fit learns the digits and writes log.csv, config.json and best.pt, returning a summary."""
    for bad in ({"epochs": 1, "learning_rate": 0.1}, {"epochs": 1, "optimizer": "rmsprop"}):
        expect_raises(
            learner.run, "ValueError", fit_rejected, bad, what=f"called fit({bad!r}, ...)"
        )
    run = runner("main")
    if run.config_after != run.config:
        raise fail(f"{run.call}; the caller's config dict was changed to {run.config_after!r}")
    summary = _summary(run)
    if not run.out_dir_exists:
        raise fail(f"{run.call}; out_dir does not exist afterwards: create it (parents too)")
    _check_config_file(run)
    rows = _log(run)
    if len(rows) != summary["epochs_run"]:
        raise fail(
            f"{run.call}; log.csv has {len(rows)} rows but summary['epochs_run'] is "
            f"{summary['epochs_run']}: one row per epoch trained"
        )
    if "best.pt" not in run.files:
        raise fail(f"{run.call}; out_dir has no best.pt: save the best model's state_dict there")
    best = summary["best_val_accuracy"]
    if best < VAL_ACCURACY_FLOOR:
        raise fail(
            f"{run.call}; best_val_accuracy is {best:.3f}, expected at least "
            f"{VAL_ACCURACY_FLOOR}: an MLP learns these digits to over 0.9 in a few epochs. "
            "Check the optimizer and its lr, zero_grad, and the loss"
        )
    if not rows[-1].train_loss < rows[0].train_loss:
        raise fail(
            f"{run.call}; train_loss went from {rows[0].train_loss:.4g} (epoch 1) to "
            f"{rows[-1].train_loss:.4g} (epoch {rows[-1].epoch}); it should fall"
        )
    _check_best_pt_learned(run, reference)


@pytest.mark.points(2)
def test_fit_trains_on_train_and_evaluates_properly(reference, runner):
    """Training uses the shuffled train split in train mode; evaluation is in eval mode, no_grad."""
    run = runner("main")
    _, trace, _ = _check_epochs_match_log(run)
    cfg = run.resolved
    n_train = len(run.splits["train"][1])
    size = cfg["batch_size"]
    orders = []
    for e, steps in enumerate(trace.epochs, start=1):
        if not all(f.training for f in steps):
            raise fail(
                f"{run.call}; in epoch {e} training steps ran with the model in eval mode: call "
                "model.train() at the start of every epoch (evaluation switches to eval mode)"
            )
        sizes = [len(f.idx) for f in steps]
        expected_sizes = [size] * (n_train // size) + ([n_train % size] if n_train % size else [])
        if sizes != expected_sizes:
            raise fail(
                f"{run.call}; epoch {e}'s training batches had sizes {sizes[:6]}... "
                f"({len(sizes)} batches), expected {len(expected_sizes)} batches of "
                f"batch_size={size} (the last one {expected_sizes[-1]})"
            )
        order = np.concatenate([f.idx for f in steps])
        if not np.array_equal(np.sort(order), np.arange(n_train)):
            raise fail(
                f"{run.call}; epoch {e} did not visit every training example exactly once "
                "(sampling with replacement?)"
            )
        orders.append(order)
    if np.array_equal(orders[0], np.arange(n_train)):
        raise fail(
            f"{run.call}; epoch 1 went through the training split in its stored order: "
            "shuffle it (DataLoader(..., shuffle=True, generator=...))"
        )
    if len(orders) > 1 and np.array_equal(orders[0], orders[1]):
        raise fail(
            f"{run.call}; epochs 1 and 2 used the same order of training examples: shuffle "
            "anew every epoch (one DataLoader with shuffle=True, iterated once per epoch)"
        )
    accepted = _seeded_orders(n_train, cfg["seed"], len(orders))
    for e, order in enumerate(orders, start=1):
        if not any(np.array_equal(order, way[e - 1]) for way in accepted):
            raise fail(
                f"{run.call}; epoch {e}'s order of training examples is not the one the "
                "training DataLoader's own generator gives: shuffle with generator="
                "torch.Generator().manual_seed(cfg['seed']) (DataLoader(..., shuffle=True, "
                "generator=...)), so that the order depends on the seed alone, not on the "
                "global RNG"
            )
    for done, f in trace.eval_forwards:
        when = f"after epoch {done}" if done else "before training"
        if f.grad:
            raise fail(
                f"{run.call}; the {f.split} split was evaluated ({when}) with autograd on: wrap "
                "evaluation in torch.no_grad() (or torch.inference_mode())"
            )
        if f.training:
            raise fail(
                f"{run.call}; the {f.split} split was evaluated ({when}) with the model in "
                "train mode: call model.eval() before evaluating (Dropout and BatchNorm act "
                "differently in train mode)"
            )
        if f.split == "test" and done < len(trace.epochs):
            raise fail(
                f"{run.call}; the test split was evaluated {when}, during training: use it "
                "once, after training, with the best model"
            )
    _check_best_pt_is_logged(run, reference)


def test_fit_logs_the_right_numbers(reference, runner):
    """log.csv's losses, accuracies and lr are what the model's own outputs give, epoch by epoch."""
    run = runner("main")
    rows, trace, summary = _check_epochs_match_log(run)
    x_train, y_train = run.splits["train"]
    _, y_val = run.splits["val"]
    for row, steps, val_logits in zip(rows, trace.epochs, trace.val, strict=True):
        losses = [
            F.cross_entropy(torch.from_numpy(f.logits), y_train[torch.from_numpy(f.idx)]).item()
            for f in steps
        ]
        train_loss = sum(loss * len(f.idx) for loss, f in zip(losses, steps, strict=True))
        train_loss /= len(x_train)
        last = (
            " (the logged value is the last batch's loss)"
            if math.isclose(row.train_loss, losses[-1], rel_tol=1e-4)
            else ""
        )
        _check_logged(
            run,
            "train_loss",
            row,
            train_loss,
            "the mean cross-entropy of that epoch's training batches, weighted by their "
            "sizes, is {exact:.8g}" + last + ": sum loss.item() * batch size over the epoch, "
            "then divide by the number of training examples",
        )
        val_loss, val_accuracy = _ce_and_accuracy(val_logits, y_val)
        _check_logged(
            run,
            "val_loss",
            row,
            val_loss,
            "the model's outputs on the validation split after that epoch give a mean "
            "cross-entropy of {exact:.8g}: compute it on the validation split, averaged over "
            "its examples",
        )
        _check_logged(
            run,
            "val_accuracy",
            row,
            val_accuracy,
            "the model's outputs on the validation split after that epoch are {exact:.8g} "
            "correct: compute it on the validation split, as correct / total",
        )
        _check_logged(
            run,
            "lr",
            row,
            run.resolved["lr"],
            "this config's learning rate is a constant {exact:.8g}",
            rel=1e-6,
        )
    _, test_accuracy = _ce_and_accuracy(trace.test, run.splits["test"][1])
    if not math.isclose(summary["test_accuracy"], test_accuracy, abs_tol=1e-4):
        raise fail(
            f"{run.call}; summary['test_accuracy'] is {summary['test_accuracy']:.8g}, but the "
            f"model's outputs on the test split after training give {test_accuracy:.8g}: "
            "compute it on the test split, as correct / total"
        )
    _check_best_pt_is_logged(run, reference)


@pytest.mark.points(2)
def test_fit_keeps_the_best_model(reference, runner):
    """best.pt holds the epoch with the highest val_accuracy; early stopping follows patience.

    The "frozen" run trains with lr=0, so every epoch ties: the first stays the best (a tie
    keeps the earlier epoch) and patience counts the tied epochs as epochs without a new best.
    """
    for name in ("frozen", "main", "short", "short_other_seed"):
        _check_best(runner(name), reference)


@pytest.mark.points(2)
def test_fit_steps_the_optimizer_as_configured(reference, runner):
    """Each training step is one step of the configured optimizer and schedule from zeroed grads."""
    for name, max_epochs in (("main", 2), ("sgd", 4)):
        _check_steps(runner(name), reference, max_epochs=max_epochs)


def test_fit_is_reproducible_from_its_seed(reference, runner):
    """The same config gives the same log and best.pt; another seed gives another run."""
    first, again, other = runner("short"), runner("short_again"), runner("short_other_seed")
    rows_a, rows_b = _log_values(_log(first)), _log_values(_log(again))
    exact = first.device.type == "cpu"
    same = rows_a == rows_b if exact else np.allclose(rows_a, rows_b, rtol=1e-3, atol=1e-4)
    if len(rows_a) != len(rows_b) or not same:
        diff = next(
            (i for i, (a, b) in enumerate(zip(rows_a, rows_b, strict=False)) if a != b),
            min(len(rows_a), len(rows_b)),
        )
        raise fail(
            f"{first.call} twice (with other global random states in between); the two logs "
            f"differ from epoch {diff + 1}: seed torch (torch.manual_seed(cfg['seed'])) before "
            "building the model, and give the DataLoader a generator seeded from cfg['seed']"
        )
    state_a, state_b = _best_state(first), _best_state(again)
    tol = 0.0 if exact else 1e-3
    if state_a.keys() != state_b.keys() or not all(
        state_a[k].shape == state_b[k].shape
        and torch.allclose(state_a[k].float(), state_b[k].float(), rtol=tol, atol=tol / 10)
        for k in state_a
    ):
        raise fail(f"{first.call} twice; the two best.pt files differ")
    init_a, init_c = first.initial_state, other.initial_state
    if (
        init_a is not None
        and init_c is not None
        and init_a.keys() == init_c.keys()
        and all(torch.equal(init_a[k], init_c[k]) for k in init_a)
    ):
        raise fail(
            f"{other.call}; the model started from the same weights as with seed "
            f"{first.config['seed']}: the initialisation must come from cfg['seed'] "
            "(torch.manual_seed(cfg['seed']) before build_model)"
        )
    order_a = [f.idx for f in _trace(first).epochs[0]]
    order_c = [f.idx for f in _trace(other).epochs[0]]
    if len(order_a) == len(order_c) and all(
        np.array_equal(a, c) for a, c in zip(order_a, order_c, strict=True)
    ):
        raise fail(
            f"{other.call}; the training data came in the same order as with seed "
            f"{first.config['seed']}: seed the DataLoader's generator with cfg['seed'] "
            "(torch.Generator().manual_seed(cfg['seed']))"
        )
    if _log_values(_log(other)) == rows_a:
        raise fail(f"{other.call}; it wrote the same log as seed {first.config['seed']}")
    _check_best_pt_is_logged(first, reference)


# ----------------------------------------------------------------------------- scenarios


@scenario
def resolve_each(mod: Any, configs: list[dict[str, Any]]) -> dict[str, Any]:
    """resolve_config on each config in turn: the result and what became of the dicts around it.

    Stops at the first config it raises on (the test calls that one again on its own).
    """
    defaults = getattr(mod, "DEFAULT_CONFIG", None)
    if not isinstance(defaults, dict):
        return {"no_defaults": True, "calls": []}
    defaults_before = copy.deepcopy(defaults)
    calls = []
    for config in configs:
        given = copy.deepcopy(config)
        try:
            got = learner_attr(mod, "resolve_config")(given)
        except NotImplementedError:
            raise
        except Exception:
            break
        shared = None
        if isinstance(got, dict):
            for where, other in (("the caller's", given), ("DEFAULT_CONFIG's", defaults)):
                if got.get("hidden_sizes") is other.get("hidden_sizes"):
                    shared = where
                    break
        calls.append(
            {
                "result": copy.deepcopy(got) if isinstance(got, dict) else got,
                "described": describe(got),
                "is_defaults": got is defaults,
                "is_given": got is given,
                "given_after": copy.deepcopy(given),
                "defaults_changed": defaults != defaults_before,
                "defaults_now": copy.deepcopy(defaults),
                "shared": shared,
            }
        )
    return {"no_defaults": False, "calls": calls}


@scenario
def build_and_call(
    mod: Any,
    cfg: dict[str, Any],
    x: torch.Tensor,
    state: dict[str, torch.Tensor] | None,
    *,
    train_seed: int = 0,
) -> dict[str, Any]:
    """build_model(cfg): its state_dict's shapes and, with ``state`` loaded, its logits on ``x``.

    ``state`` None keeps the model's own weights (and sends them back). The train-mode
    logits are computed right after ``torch.manual_seed(train_seed)``, so that models with
    the same Dropout layers draw the same masks.
    """
    model = learner_attr(mod, "build_model")(cfg)
    if not isinstance(model, nn.Module):
        return {"is_module": False, "described": describe(model)}
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    bad = next(
        (
            describe(p)
            for p in model.parameters()
            if p.device.type != "cpu" or p.dtype != torch.float32
        ),
        None,
    )
    out: dict[str, Any] = {"is_module": True, "shapes": shapes, "bad_parameter": bad}
    if state is None:
        out["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    elif shapes == {k: tuple(v.shape) for k, v in state.items()}:
        model.load_state_dict(state)
    else:
        return out
    model.eval()
    with torch.no_grad():
        out["eval"] = model(x.clone())
    model.train()
    torch.manual_seed(train_seed)
    with torch.no_grad():
        out["train"] = model(x.clone())
    return out


@scenario
def fit_rejected(mod: Any, config: dict[str, Any]) -> None:
    """fit(config) into a temporary folder; the test expects it to raise ValueError."""
    with tempfile.TemporaryDirectory() as tmp:
        learner_attr(mod, "fit")(config, out_dir=Path(tmp) / "rejected", device="cpu")


@scenario
def fit_watched(
    mod: Any, config: dict[str, Any], device: torch.device, split_seed: int, scramble: int
) -> dict[str, Any]:
    """fit(config) in a fresh folder with build_model wrapped by a spy.

    Returns the summary, the config dict afterwards, the files fit wrote (their bytes) and
    the spy's trace: every forward pass of the models build_model returned.
    """
    fit, build = learner_attr(mod, "fit"), learner_attr(mod, "build_model")
    spy = _Spy(build, _Lookup(digits_split(seed=split_seed)))
    given = copy.deepcopy(config)
    _scramble_global_rngs(scramble)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "runs" / "fit"
        mod.build_model = spy
        try:
            summary = fit(given, out_dir=out_dir, device=device)
        finally:
            mod.build_model = build
        files, sizes = {}, {}
        if out_dir.is_dir():
            for path in sorted(out_dir.iterdir()):
                if not path.is_file():
                    continue
                sizes[path.name] = path.stat().st_size
                limit = FILE_LIMITS.get(path.name)
                if limit is not None and sizes[path.name] <= limit:
                    files[path.name] = path.read_bytes()
        return {
            "summary": summary,
            "config_after": given,
            "out_dir_exists": out_dir.is_dir(),
            "listing": sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else [],
            "files": files,
            "sizes": sizes,
            "build_calls": spy.calls,
            "forwards": [(f.training, f.grad, f.split, f.idx, f.logits) for f in spy.forwards],
            "initial_state": spy.initial_state,
        }


@scenario
def evaluate_state(mod: Any, cfg: dict[str, Any], state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Reference side: ``state`` loaded into build_model(cfg); its logits on val and test."""
    model = mod.build_model(copy.deepcopy(cfg))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        return {"error": str(exc).splitlines()[0][:300]}
    model.eval()
    splits = digits_split(seed=cfg["split_seed"])
    with torch.no_grad():
        return {
            "error": None,
            "val": model(splits["val"][0]).double().numpy(),
            "test": model(splits["test"][0]).double().numpy(),
        }


@scenario
def replay(
    mod: Any,
    cfg: dict[str, Any],
    initial_state: dict[str, torch.Tensor],
    batches: list[list[torch.Tensor]],
    *,
    zero_grad: bool = True,
    schedule_per_batch: bool = False,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Reference side: the training steps redone from ``initial_state`` on the given batches.

    Returns the logits of every step (before its update) and of the validation split after
    each epoch. The knobs switch on a known mistake, to name it when the learner's steps
    differ.
    """
    model = mod.build_model(copy.deepcopy(cfg))
    try:
        model.load_state_dict(initial_state)
    except RuntimeError as exc:
        return {"error": str(exc).splitlines()[0][:300], "logits": [], "val": []}
    model.train()
    optimizer = mod.make_optimizer(model, {**cfg, **(overrides or {})})
    scheduler = mod.make_scheduler(optimizer, {**cfg, **(overrides or {})})
    splits = digits_split(seed=cfg["split_seed"])
    x_train, y_train = splits["train"]
    logits_per_epoch, val_per_epoch = [], []
    for steps in batches:
        seen = []
        for index in steps:
            logits = model(x_train[index])
            seen.append(logits.detach().double().numpy())
            loss = F.cross_entropy(logits, y_train[index])
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None and schedule_per_batch:
                scheduler.step()
        if scheduler is not None and not schedule_per_batch:
            scheduler.step()
        logits_per_epoch.append(seen)
        model.eval()
        with torch.no_grad():
            val_per_epoch.append(model(splits["val"][0]).double().numpy())
        model.train()
    return {"error": None, "logits": logits_per_epoch, "val": val_per_epoch}


@scenario
def loss_curve(mod: Any, *, seed: int = 0) -> dict[str, Any]:
    """For ``pytorch-path plot``: fit() with the main test config; the curves its log.csv holds."""
    config = _config_main(random.Random(seed))
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "run"
        learner_attr(mod, "fit")(config, out_dir=out_dir, device="cpu")
        log = out_dir / "log.csv"
        if not log.is_file():
            raise fail(f"fit({config!r}, ...) wrote no log.csv into out_dir")
        rows = list(csv.DictReader(io.StringIO(log.read_text(encoding="utf-8"))))
    columns = {"train_loss": "loss", "val_loss": "val_loss", "val_accuracy": "accuracy"}
    curves: dict[str, Any] = {"label": "train_loss per epoch from log.csv (val_loss dotted)"}
    for column, key in columns.items():
        try:
            curves[key] = [float(row[column]) for row in rows]
        except (KeyError, TypeError, ValueError):
            raise fail(
                f"log.csv has no readable {column} column; its header must be {','.join(HEADER)}"
            ) from None
    return curves


# ----------------------------------------------------------------------------- helpers: configs


def _config_main(rng: random.Random) -> dict[str, Any]:
    """Adam with weight decay, no early stopping: the accuracy floor and the full trace."""
    return {
        "seed": rng.randrange(1, 10**6),
        "split_seed": rng.randrange(1, 1000),
        "hidden_sizes": [rng.randint(24, 40)],
        "lr": 0.02,
        "weight_decay": 1e-3,
        "epochs": 10,
        "batch_size": rng.choice([128, 150]),
    }


def _config_sgd(rng: random.Random) -> dict[str, Any]:
    """SGD with momentum, weight decay and a cosine schedule, two hidden layers."""
    return {
        "seed": rng.randrange(1, 10**6),
        "split_seed": rng.randrange(1, 1000),
        "hidden_sizes": [rng.randint(16, 24), rng.randint(10, 14)],
        "optimizer": "sgd",
        "lr": 0.2,
        "momentum": 0.9,
        "weight_decay": 0.01,
        "lr_schedule": "cosine",
        "epochs": 4,
        "batch_size": rng.choice([96, 100]),
    }


def _config_short(rng: random.Random) -> dict[str, Any]:
    """Patience 1 and dropout: stops early (the last epoch is not the best) and is cheap."""
    return {
        "seed": rng.randrange(1, 10**6),
        "split_seed": rng.randrange(1, 1000),
        "hidden_sizes": [rng.randint(12, 20)],
        "dropout": 0.2,
        "lr": 0.03,
        "epochs": 12,
        "batch_size": rng.choice([128, 150]),
        "patience": 1,
    }


def _config_frozen(rng: random.Random) -> dict[str, Any]:
    """lr 0: the weights never change, so every epoch's val_accuracy ties with the first's."""
    return {
        "seed": rng.randrange(1, 10**6),
        "split_seed": rng.randrange(1, 1000),
        "hidden_sizes": [rng.randint(8, 12)],
        "lr": 0.0,
        "epochs": 5,
        "batch_size": rng.choice([150, 200]),
        "patience": 2,
    }


def _random_partial_config(rng: random.Random) -> dict[str, Any]:
    options: dict[str, Callable[[], Any]] = {
        "seed": lambda: rng.randrange(10**6),
        "split_seed": lambda: rng.randrange(1000),
        "hidden_sizes": lambda: [rng.randint(4, 90) for _ in range(rng.randint(0, 3))],
        "dropout": lambda: round(rng.uniform(0, 0.5), 3),
        "optimizer": lambda: rng.choice(["adam", "sgd"]),
        "lr": lambda: round(rng.uniform(1e-4, 0.5), 5),
        "momentum": lambda: round(rng.uniform(0, 0.99), 3),
        "weight_decay": lambda: round(rng.uniform(0, 0.1), 4),
        "lr_schedule": lambda: rng.choice(["constant", "cosine"]),
        "epochs": lambda: rng.randint(1, 30),
        "batch_size": lambda: rng.randint(1, 300),
        "patience": lambda: rng.choice([None, rng.randint(1, 5)]),
    }
    keys = rng.sample(sorted(options), rng.randint(1, 6))
    return {k: options[k]() for k in keys}


def _describe_config(cfg: dict[str, Any]) -> str:
    return json.dumps(cfg, sort_keys=False)


def _check_resolved(call: str, config: dict[str, Any], got: dict[str, Any], want: Any) -> None:
    """One resolve_config call, as the resolve_each scenario saw it, against the reference's."""
    result = got["result"]
    if not isinstance(result, dict):
        raise fail(f"{call}; it returned {got['described']}, expected a dict")
    if got["is_defaults"]:
        raise fail(
            f"{call}; it returned DEFAULT_CONFIG itself: merge into a copy, or the next "
            "call sees this call's values as its defaults"
        )
    if got["is_given"]:
        raise fail(f"{call}; it returned the caller's dict itself; return a new dict")
    missing = sorted(set(want) - set(result))
    if missing:
        raise fail(f"{call}; the result lacks {missing}: every default must be filled in")
    extra = sorted(set(result) - set(want))
    if extra:
        raise fail(f"{call}; the result has keys {extra} that DEFAULT_CONFIG does not have")
    for key, value in want.items():
        if result[key] != value or type(result[key]) is not type(value):
            source = "the caller's value" if key in config else "the default"
            raise fail(f"{call}; result[{key!r}] is {result[key]!r}, expected {value!r} ({source})")
    if got["given_after"] != config:
        raise fail(
            f"{call}; the caller's dict was changed to {got['given_after']!r}; leave it alone"
        )
    if got["defaults_changed"]:
        raise fail(
            f"{call}; DEFAULT_CONFIG changed to {got['defaults_now']!r}: merge into a copy, not "
            "into the defaults themselves"
        )
    if got["shared"]:
        raise fail(
            f"{call}; result['hidden_sizes'] is {got['shared']} list object itself; make a new "
            "list, or appending to one changes the other"
        )


# ----------------------------------------------------------------------------- helpers: runs


@dataclass
class _Forward:
    """One forward pass of a model that build_model returned."""

    training: bool
    grad: bool
    split: str
    idx: np.ndarray
    logits: np.ndarray | None


@dataclass
class _Run:
    """One call of the learner's fit and everything the fit_watched scenario saw of it."""

    name: str
    config: dict[str, Any]
    resolved: dict[str, Any]
    device: torch.device
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    seen: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def call(self) -> str:
        return f"called fit({_describe_config(self.config)}, out_dir=..., device={self.device})"

    @property
    def summary(self) -> Any:
        return self.seen["summary"]

    @property
    def config_after(self) -> Any:
        return self.seen["config_after"]

    @property
    def out_dir_exists(self) -> bool:
        return bool(self.seen["out_dir_exists"])

    @property
    def files(self) -> dict[str, bytes]:
        return self.seen["files"]

    @property
    def initial_state(self) -> dict[str, torch.Tensor] | None:
        return self.seen["initial_state"]

    @property
    def forwards(self) -> list[_Forward]:
        if "forwards" not in self.cache:
            self.cache["forwards"] = [
                _Forward(
                    bool(training),
                    bool(grad),
                    str(split),
                    np.asarray(idx, dtype=np.int64),
                    None if logits is None else np.asarray(logits, dtype=np.float64),
                )
                for training, grad, split, idx, logits in self.seen["forwards"]
            ]
        return self.cache["forwards"]

    def file(self, name: str) -> bytes | None:
        """The bytes of ``out_dir / name``; a failure if it was too large to send back."""
        if name in self.files:
            return self.files[name]
        size = self.seen["sizes"].get(name)
        if size is not None:
            raise fail(
                f"{self.call}; {name} in out_dir is {size} bytes, far more than this small "
                "run needs (the grader reads at most "
                f"{FILE_LIMITS[name]} bytes)"
            )
        return None


@pytest.fixture(scope="session")
def _runs() -> dict[Any, _Run | LearnerError]:
    """Runs of the learner's fit, shared by the tests of one grading session."""
    return {}


@pytest.fixture
def runner(_runs, learner, reference, device, seed):
    """``runner(name)`` gives the named run, running fit the first time it is asked for."""
    makers = {
        "main": _config_main,
        "sgd": _config_sgd,
        "short": _config_short,
        "frozen": _config_frozen,
    }

    def get(name: str) -> _Run:
        key = (id(learner), learner.file, device.type, name)
        if key not in _runs:
            try:
                _runs[key] = make(name)
            except LearnerError as exc:  # the same error for every test that needs this run
                _runs[key] = exc
        run = _runs[key]
        if isinstance(run, LearnerError):
            raise run
        return run

    def make(name: str) -> _Run:
        """Run fit on the named config and gather what the tests need."""
        if name in makers:
            config = makers[name](seed.python_random())
        elif name == "short_again":
            config = get("short").config
        elif name == "short_other_seed":
            config = {**get("short").config, "seed": get("short").config["seed"] + 7919}
        else:  # pragma: no cover - grader bug
            raise KeyError(name)
        scramble = seed.python_random(offset=len(_runs)).randrange(2**31)
        resolved = reference.resolve_config(copy.deepcopy(config))
        seen = learner.run(
            fit_watched, copy.deepcopy(config), device, resolved["split_seed"], scramble
        )
        splits = digits_split(seed=resolved["split_seed"])
        # The model build_model(cfg) returns, given the reference's weights: the grader
        # evaluates best.pt and replays the steps with the model the docstring describes.
        probe = splits["val"][0][:16]
        want = reference.run(build_and_call, resolved, probe, None)
        got = learner.run(build_and_call, resolved, probe, want["state"])
        seen["same_model"] = (
            got["is_module"]
            and got["shapes"] == want["shapes"]
            and isinstance(got.get("eval"), torch.Tensor)
            and got["eval"].shape == want["eval"].shape
            and bool(torch.allclose(got["eval"], want["eval"], rtol=1e-5, atol=1e-6))
        )
        return _Run(name, config, resolved, device, splits, seen)

    return get


def _scramble_global_rngs(value: int) -> None:
    torch.manual_seed(value)
    random.seed(value)
    np.random.seed(value % 2**32)


# ----------------------------------------------------------------------------- helpers: files


@dataclass
class _Row:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    lr: float


def _number(text: str, column: str, line: int, run: _Run) -> float:
    try:
        value = float(text)
    except ValueError:
        advice = ""
        if "tensor" in text:
            advice = "; that is a tensor's repr: write loss.item() (a Python float), not the tensor"
        raise fail(
            f"{run.call}; log.csv line {line}, column {column}: {text!r} is not a number{advice}"
        ) from None
    if not math.isfinite(value):
        raise fail(
            f"{run.call}; log.csv line {line}, column {column} is {text}: the training diverged "
            "(a learning rate too high?) or a loss was computed wrongly"
        )
    return value


def _log(run: _Run) -> list[_Row]:
    """Parse and sanity-check log.csv (cached)."""
    if "log" in run.cache:
        return run.cache["log"]
    data = run.file("log.csv")
    if data is None:
        raise fail(
            f"{run.call}; log.csv was not written in out_dir (it holds {run.seen['listing']}); "
            "write one row per epoch to out_dir / 'log.csv'"
        )
    text = data.decode("utf-8", errors="replace")
    lines = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not lines or [c.strip() for c in lines[0]] != HEADER:
        got = lines[0] if lines else "nothing"
        raise fail(
            f"{run.call}; the first line of log.csv is {got}, expected the header "
            f"{','.join(HEADER)}"
        )
    rows = []
    for line, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(HEADER):
            raise fail(
                f"{run.call}; log.csv line {line} has {len(cells)} values ({cells}), expected "
                f"{len(HEADER)}: {','.join(HEADER)}"
            )
        values = [_number(c.strip(), h, line, run) for c, h in zip(cells, HEADER, strict=True)]
        epoch = values[0]
        if epoch != line - 1:
            raise fail(
                f"{run.call}; log.csv line {line} has epoch {cells[0]}, expected {line - 1} "
                "(epochs count from 1, one row each, in order)"
            )
        row = _Row(int(epoch), *values[1:])
        if row.train_loss <= 0 or row.val_loss <= 0:
            raise fail(
                f"{run.call}; log.csv epoch {row.epoch} has train_loss {row.train_loss} and "
                f"val_loss {row.val_loss}; a mean cross-entropy is positive"
            )
        if not 0.0 <= row.val_accuracy <= 1.0:
            raise fail(
                f"{run.call}; log.csv epoch {row.epoch} has val_accuracy {row.val_accuracy}; "
                "it is a fraction in [0, 1] (correct / total), not a percentage or a count"
            )
        if row.lr < 0:
            raise fail(f"{run.call}; log.csv epoch {row.epoch} has lr {row.lr}; expected >= 0")
        rows.append(row)
    if not rows:
        raise fail(f"{run.call}; log.csv has a header but no rows; write one row per epoch")
    run.cache["log"] = rows
    return rows


def _summary(run: _Run) -> dict[str, Any]:
    summary = run.summary
    if not isinstance(summary, dict):
        raise fail(f"{run.call}; it returned {describe(summary)}, expected a dict")
    for key, kind in SUMMARY_TYPES.items():
        if key not in summary:
            raise fail(
                f"{run.call}; the returned dict has keys {sorted(map(str, summary))}, "
                f"missing {key!r}"
            )
        value = summary[key]
        if isinstance(value, torch.Tensor):
            raise fail(
                f"{run.call}; summary[{key!r}] is {describe(value)}; return a Python "
                f"{kind.__name__} (.item())"
            )
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise fail(
                f"{run.call}; summary[{key!r}] is {describe(value)}, expected a Python "
                f"{kind.__name__}"
            )
    return summary


def _check_config_file(run: _Run) -> None:
    data = run.file("config.json")
    if data is None:
        raise fail(f"{run.call}; out_dir has no config.json; write the resolved config there")
    try:
        written = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(f"{run.call}; config.json is not valid JSON: {exc}") from None
    if not isinstance(written, dict):
        raise fail(f"{run.call}; config.json holds {describe(written)}, expected an object")
    missing = sorted(set(run.resolved) - set(written))
    if missing:
        raise fail(
            f"{run.call}; config.json lacks the keys {missing}: write the resolved config "
            "(defaults filled in), not only what the caller passed"
        )
    extra = sorted(set(written) - set(run.resolved))
    if extra:
        raise fail(f"{run.call}; config.json has keys {extra} that are not config keys")
    for key, want in run.resolved.items():
        if written[key] != want:
            raise fail(
                f"{run.call}; config.json has {key!r}: {written[key]!r}, expected {want!r} "
                "(the config fit ran with)"
            )


def _best_state(run: _Run) -> dict[str, torch.Tensor]:
    """best.pt, loaded by the grader (cached)."""
    if "best_state" in run.cache:
        return run.cache["best_state"]
    data = run.file("best.pt")
    if data is None:
        raise fail(f"{run.call}; out_dir has no best.pt: save the best model's state_dict there")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise fail(
            f"{run.call}; torch.load(best.pt, map_location='cpu', weights_only=True) failed: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}. "
            "Save model.state_dict(), not the model"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise fail(f"{run.call}; best.pt holds {describe(state)}; save model.state_dict()")
    run.cache["best_state"] = state
    return state


def _best_outputs(run: _Run, reference: Any) -> tuple[np.ndarray, np.ndarray]:
    """The logits of best.pt on the validation and test splits, computed by the grader.

    best.pt is loaded into the reference's build_model(cfg), the nn.Sequential the
    contract describes.
    """
    if "best_outputs" not in run.cache:
        state = _best_state(run)
        _check_same_model(run)
        out = reference.run(evaluate_state, run.resolved, state)
        if out["error"] is not None:
            raise fail(
                f"{run.call}; best.pt does not load into build_model(cfg) (the nn.Sequential "
                f"the docstring describes): {out['error']}"
            )
        run.cache["best_outputs"] = (out["val"], out["test"])
    return run.cache["best_outputs"]


def _check_same_model(run: _Run) -> None:
    """build_model(cfg) computes the docstring's model (the grader evaluates runs with it)."""
    if not run.seen["same_model"]:
        raise fail(
            f"{run.call}; the grader evaluates best.pt and replays the training steps with "
            "the nn.Sequential the docstring describes, but the model build_model(cfg) "
            "returns computes something else with the same weights (see the build_model "
            "test): fix build_model first"
        )


def _val_accuracy_of_best_pt(run: _Run, reference: Any) -> float:
    """The accuracy of best.pt on the validation split, computed by the grader."""
    val_logits, _ = _best_outputs(run, reference)
    return _ce_and_accuracy(val_logits, run.splits["val"][1])[1]


def _check_best_pt_learned(run: _Run, reference: Any) -> None:
    """Value check: best.pt, evaluated by the grader, classifies the digits above the floor."""
    accuracy = _val_accuracy_of_best_pt(run, reference)
    if accuracy < VAL_ACCURACY_FLOOR:
        raise fail(
            f"{run.call}; best.pt, evaluated by the grader, scores {accuracy:.3f} on the "
            f"validation split, expected at least {VAL_ACCURACY_FLOOR}: save the trained "
            "model's state_dict (model.state_dict()) when val_accuracy improves"
        )


def _check_best_pt_is_logged(run: _Run, reference: Any) -> None:
    """Value check: best.pt's validation accuracy, computed by the grader, is one log.csv shows."""
    accuracy = _val_accuracy_of_best_pt(run, reference)
    slack = 1.0 / len(run.splits["val"][1]) + 1e-9
    logged = [row.val_accuracy for row in _log(run)]
    if not any(abs(value - accuracy) <= slack for value in logged):
        shown = ", ".join(f"{value:.4f}" for value in logged[:6])
        raise fail(
            f"{run.call}; best.pt, evaluated by the grader (eval mode, no_grad), scores "
            f"{accuracy:.4f} on the validation split, but no epoch of log.csv shows that "
            f"val_accuracy (it shows {shown}{', ...' if len(logged) > 6 else ''}): log the "
            "accuracy of the model itself on the validation split, in eval mode, and save "
            "that model's state_dict"
        )


def _check_scores(run: _Run, reference: Any) -> None:
    """Value check: the summary's accuracies are those of best.pt, evaluated by the grader."""
    summary = _summary(run)
    val_logits, test_logits = _best_outputs(run, reference)
    for key, split, logits in (
        ("best_val_accuracy", "validation", val_logits),
        ("test_accuracy", "test", test_logits),
    ):
        labels = run.splits["val" if split == "validation" else "test"][1]
        _, accuracy = _ce_and_accuracy(logits, labels)
        slack = 1.0 / len(labels) + 1e-9
        if abs(summary[key] - accuracy) > slack:
            raise fail(
                f"{run.call}; summary[{key!r}] is {summary[key]:.4f}, but best.pt scores "
                f"{accuracy:.4f} on the {split} split (evaluated by the grader): report the "
                f"accuracy of the model saved in best.pt, on the {split} split in eval mode"
            )


# ----------------------------------------------------------------------------- helpers: the trace


@dataclass
class _Trace:
    epochs: list[list[_Forward]]
    """The training steps (forward passes with autograd on, on training images) per epoch."""
    val: list[np.ndarray]
    """Per epoch, the logits of the validation pass after it, in split order."""
    test: np.ndarray
    """The logits of the test pass after training, in split order."""
    eval_forwards: list[tuple[int, _Forward]]
    """(epochs completed, forward) for every forward on validation or test images."""


def _one_pass(
    forwards: list[_Forward], size: int, what: str, run: _Run, *, last: bool = False
) -> np.ndarray:
    """The first (or last) complete pass over a split in ``forwards``: logits in split order."""
    idx = np.concatenate([f.idx for f in forwards]) if forwards else np.zeros(0, np.int64)
    if len(idx) < size:
        if not len(idx):
            raise fail(
                f"{run.call}; {what} was not evaluated (the model never saw its images "
                "there); check which split each evaluation is given"
            )
        raise fail(
            f"{run.call}; {what} covered only {len(idx)} of its {size} examples (every "
            "example must be evaluated: no drop_last, no early break)"
        )
    first = idx[-size:] if last else idx[:size]
    if not np.array_equal(np.sort(first), np.arange(size)):
        raise fail(
            f"{run.call}; {what} did not evaluate each of its {size} examples once "
            "(some repeated, some missed)"
        )
    if any(
        f.logits is None or f.logits.shape[0] != len(f.idx) or f.logits.shape[1:] != (10,)
        for f in forwards
    ):
        raise fail(f"{run.call}; the model did not return logits of shape (N, 10)")
    logits = np.concatenate([f.logits for f in forwards])
    logits = logits[-size:] if last else logits[:size]
    ordered = np.empty_like(logits)
    ordered[first] = logits
    return ordered


def _seeded_orders(n: int, seed_value: int, epochs: int) -> list[list[np.ndarray]]:
    """The epoch orders of a training set shuffled by ``Generator().manual_seed(seed)``.

    Three ways of using the generator are accepted: ``DataLoader(shuffle=True,
    generator=g)`` (whose iterator also draws a base seed from ``g`` every epoch), a
    ``RandomSampler(dataset, generator=g)`` given to the DataLoader, and one
    ``torch.randperm(n, generator=g)`` per epoch.
    """
    by_loader = [np.array(order) for order in loader_orders(n, seed_value, epochs)]
    sampler = RandomSampler(range(n), generator=torch.Generator().manual_seed(seed_value))
    by_sampler = [np.array(list(sampler)) for _ in range(epochs)]
    gen = torch.Generator().manual_seed(seed_value)
    by_randperm = [torch.randperm(n, generator=gen).numpy() for _ in range(epochs)]
    return [by_loader, by_sampler, by_randperm]


def _trace(run: _Run) -> _Trace:
    """Rebuild the run's epochs, validation passes and test pass from the forward hooks."""
    if "trace" in run.cache:
        return run.cache["trace"]
    if run.seen["build_calls"] == 0:
        raise fail(
            f"{run.call}; fit never called build_model(cfg): build the model with it (the "
            "grader watches the model it returns)"
        )
    if not run.forwards:
        raise fail(f"{run.call}; the model built by build_model(cfg) was never called")
    n_train = len(run.splits["train"][1])
    epochs: list[list[_Forward]] = []
    current: list[_Forward] = []
    seen = 0
    windows: list[list[_Forward]] = [[]]
    eval_forwards: list[tuple[int, _Forward]] = []
    for f in run.forwards:
        if f.split == "unknown":
            raise fail(
                f"{run.call}; the model was given inputs that are not digits images from "
                "digits_split(seed=cfg['split_seed']) as they come (float32 in [0, 1], "
                "one image per row): do not rescale or standardise them"
            )
        if f.split == "mixed":
            if f.grad and f.training:
                raise fail(
                    f"{run.call}; a training batch held validation or test images: train on "
                    "digits_split(seed=cfg['split_seed'])['train'] only"
                )
            raise fail(
                f"{run.call}; one forward pass mixed images from different splits "
                "(train / val / test); evaluate each split on its own"
            )
        if f.grad and f.training and f.split != "train":
            raise fail(
                f"{run.call}; the model ran in train mode with autograd on over {f.split} "
                f"images: train on digits_split(seed=cfg['split_seed'])['train'] only (and "
                "evaluate in eval mode under torch.no_grad())"
            )
        if f.split == "train" and f.grad:
            current.append(f)
            seen += len(f.idx)
            if seen == n_train:
                epochs.append(current)
                current, seen = [], 0
                windows.append([])
            elif seen > n_train:
                raise fail(
                    f"{run.call}; epoch {len(epochs) + 1} went through more than the "
                    f"{n_train} training examples (it saw {seen}); one epoch is one pass "
                    "over the training split"
                )
            continue
        if f.split == "train":
            continue  # an extra evaluation on training images: allowed
        eval_forwards.append((len(epochs), f))
        if f.split == "val":
            if seen:
                raise fail(
                    f"{run.call}; the validation split was evaluated after only {seen} of the "
                    f"{n_train} training examples of epoch {len(epochs) + 1}: an epoch is one "
                    "full pass over the training split (no drop_last, no early break), and "
                    "validation comes after it"
                )
            windows[len(epochs)].append(f)
    if seen:
        raise fail(
            f"{run.call}; the last epoch stopped after {seen} of the {n_train} training "
            "examples; every epoch is one full pass"
        )
    if not epochs:
        raise fail(f"{run.call}; no training step was seen (no forward pass with autograd on)")
    n_val, n_test = len(run.splits["val"][1]), len(run.splits["test"][1])
    val = [
        _one_pass(windows[e], n_val, f"after epoch {e}, the validation split", run)
        for e in range(1, len(epochs) + 1)
    ]
    final = [f for done, f in eval_forwards if f.split == "test" and done == len(epochs)]
    test = _one_pass(final, n_test, "after training, the test split", run, last=True)
    trace = _Trace(epochs, val, test, eval_forwards)
    run.cache["trace"] = trace
    return trace


def _check_epochs_match_log(run: _Run) -> tuple[list[_Row], _Trace, dict[str, Any]]:
    rows, summary, trace = _log(run), _summary(run), _trace(run)
    if not len(rows) == summary["epochs_run"] == len(trace.epochs):
        raise fail(
            f"{run.call}; log.csv has {len(rows)} rows, summary['epochs_run'] is "
            f"{summary['epochs_run']}, and the model trained for {len(trace.epochs)} epochs; "
            "these three must agree"
        )
    return rows, trace, summary


# ----------------------------------------------------------------------------- helpers: metrics


def _rounding(logged: float, exact: float) -> str:
    """A hint when ``logged`` is ``exact`` rounded to a few decimals."""
    for places in range(1, 7):
        if logged != exact and round(exact, places) == logged:
            return (
                f"that is {exact!r} rounded to {places} decimals; write the float in full "
                "(csv.writer or str(value) do, without rounding or formatting it)"
            )
    return ""


def _ce_and_accuracy(logits: np.ndarray, labels: torch.Tensor) -> tuple[float, float]:
    t = torch.from_numpy(logits)
    y = labels.to(torch.int64)
    return F.cross_entropy(t, y).item(), (t.argmax(1) == y).double().mean().item()


def _check_logged(
    run: _Run, column: str, row: _Row, exact: float, advice: str, *, rel: float = 1e-4
) -> None:
    logged = getattr(row, column)
    if math.isclose(logged, exact, rel_tol=rel, abs_tol=1e-5):
        return
    rounded = _rounding(logged, exact)
    if rounded:
        raise fail(f"{run.call}; log.csv epoch {row.epoch} has {column} {logged!r}: {rounded}")
    raise fail(
        f"{run.call}; log.csv epoch {row.epoch} has {column} {logged:.8g}, but "
        f"{advice.format(exact=exact)}"
    )


# ----------------------------------------------------------------------------- helpers: best.pt


def _same_logits(a: np.ndarray | None, b: np.ndarray, device: torch.device) -> bool:
    """Equal up to float32 noise (larger across devices: the grader recomputes on the CPU)."""
    if a is None:
        return False
    scale = 1.0 + float(np.abs(b).max())
    tolerance = 1e-4 if device.type == "cpu" else 2e-3
    return a.shape == b.shape and bool(np.abs(a - b).max() <= tolerance * scale)


def _check_best(run: _Run, reference: Any) -> None:
    rows, trace, summary = _check_epochs_match_log(run)
    accs = [r.val_accuracy for r in rows]
    best_epoch = 1 + int(np.argmax(accs))  # the first of equal maxima
    if summary["best_epoch"] != best_epoch:
        raise fail(
            f"{run.call}; summary['best_epoch'] is {summary['best_epoch']}, but log.csv's "
            f"val_accuracy is highest first at epoch {best_epoch} ({accs[best_epoch - 1]:.4f});"
            " a later epoch becomes the best only if it is strictly higher"
        )
    if not math.isclose(summary["best_val_accuracy"], accs[best_epoch - 1], abs_tol=1e-9):
        raise fail(
            f"{run.call}; summary['best_val_accuracy'] is {summary['best_val_accuracy']:.6g}, "
            f"but log.csv's best epoch ({best_epoch}) has {accs[best_epoch - 1]:.6g}"
        )
    patience, epochs = run.resolved["patience"], run.resolved["epochs"]
    stop = epochs
    if patience is not None:
        best_so_far, best_at = -1.0, 0
        for e, acc in enumerate(accs, start=1):
            if acc > best_so_far:
                best_so_far, best_at = acc, e
            if e - best_at >= patience:
                stop = min(e, epochs)
                break
    if len(rows) != stop:
        why = (
            f"with patience={patience}, the run should stop after epoch {stop} "
            f"({patience} epoch(s) without a new best after epoch {best_epoch})"
            if stop < epochs
            else f"no early stop was due, so all {epochs} epochs should run"
        )
        raise fail(f"{run.call}; it trained {len(rows)} epochs, but {why}")
    val_logits, test_logits = _best_outputs(run, reference)
    if not _same_logits(val_logits, trace.val[best_epoch - 1], run.device):
        matches = [
            e for e, v in enumerate(trace.val, start=1) if _same_logits(val_logits, v, run.device)
        ]
        which = (
            f"it holds the model after epoch {matches[0]}"
            if matches
            else "its outputs match the model after no epoch (if validation ran in train "
            "mode, Dropout changed them)"
        )
        raise fail(
            f"{run.call}; best.pt is not the best model: the best epoch is {best_epoch} (highest "
            f"val_accuracy), but {which}. Save model.state_dict() when val_accuracy improves, "
            "not after the last epoch"
        )
    if not _same_logits(test_logits, trace.test, run.device):
        raise fail(
            f"{run.call}; the test split was evaluated with a model other than the one in "
            "best.pt: load the best weights back before evaluating the test split"
        )
    _check_scores(run, reference)


# ----------------------------------------------------------------------------- helpers: optimizer


def _cosine_lr(base: float, epoch: int, epochs: int) -> float:
    return base * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2


def _replay(
    run: _Run, reference: Any, trace: _Trace, max_epochs: int, **knobs: Any
) -> tuple[tuple[int, int, float] | None, list[np.ndarray]]:
    """Redo the training steps (with the reference optimizer, in the grader).

    Returns (epoch, batch, gap) of the first step whose logits differ, or None, and the
    replayed model's logits on the validation split after each epoch.
    """
    state = run.initial_state
    if state is None:  # pragma: no cover - a trace always has a training step
        raise fail(f"{run.call}; no training step was seen")
    _check_same_model(run)
    epochs = trace.epochs[:max_epochs]
    batches = [[torch.from_numpy(f.idx) for f in steps] for steps in epochs]
    out = reference.run(replay, run.resolved, state, batches, **knobs)
    if out["error"] is not None:
        raise fail(
            f"{run.call}; the training steps cannot be replayed: the weights of the model "
            f"build_model(cfg) returned do not load into the nn.Sequential the docstring "
            f"describes ({out['error']}); see the build_model test"
        )
    for e, (steps, wanted) in enumerate(zip(epochs, out["logits"], strict=True), start=1):
        for b, (f, want) in enumerate(zip(steps, wanted, strict=True), start=1):
            if not _same_logits(f.logits, want, run.device):
                same_shape = f.logits is not None and f.logits.shape == want.shape
                gap = float(np.abs(f.logits - want).max()) if same_shape else float("inf")
                return (e, b, gap), out["val"]
    return None, out["val"]


def _check_steps(run: _Run, reference: Any, max_epochs: int) -> None:
    rows, trace, _ = _check_epochs_match_log(run)
    cfg = run.resolved
    for row in rows:
        want = (
            _cosine_lr(cfg["lr"], row.epoch, cfg["epochs"])
            if cfg["lr_schedule"] == "cosine"
            else cfg["lr"]
        )
        if not math.isclose(row.lr, want, rel_tol=1e-5, abs_tol=1e-12):
            raise fail(
                f"{run.call}; log.csv epoch {row.epoch} has lr {row.lr:.6g}, expected {want:.6g}"
                f" ({cfg['lr_schedule']} schedule from lr={cfg['lr']} over {cfg['epochs']} "
                "epochs; record the lr the epoch trained with, and step the scheduler once per "
                "epoch, after the epoch)"
            )
    mismatch, val_logits = _replay(run, reference, trace, max_epochs)
    if mismatch is None:
        # Value check: the grader's own replay scores what log.csv says, epoch by epoch.
        labels = run.splits["val"][1]
        for row, logits in zip(rows, val_logits, strict=False):
            _, accuracy = _ce_and_accuracy(logits, labels)
            if abs(row.val_accuracy - accuracy) > 1.0 / len(labels) + 1e-9:
                raise fail(
                    f"{run.call}; log.csv epoch {row.epoch} has val_accuracy "
                    f"{row.val_accuracy:.4f}, but the grader's replay of the same training "
                    f"steps scores {accuracy:.4f} on the validation split after that epoch: "
                    "log the accuracy of the model on the validation split, in eval mode"
                )
        return
    epoch, batch, gap = mismatch
    if (epoch, batch) == (1, 1):
        raise fail(
            f"{run.call}; on the first training batch, before any update, the model's outputs "
            f"differ (by {gap:.3g}) from those of the nn.Sequential the docstring describes "
            "with the same weights: fit must train the model build_model(cfg) returns, as it "
            "is (see the build_model test)"
        )
    if cfg["optimizer"] == "adam":
        described = f"Adam(lr={cfg['lr']}, weight_decay={cfg['weight_decay']})"
    else:
        described = (
            f"SGD(lr={cfg['lr']}, momentum={cfg['momentum']}, weight_decay={cfg['weight_decay']})"
        )
    if cfg["lr_schedule"] == "cosine":
        described += " with CosineAnnealingLR(T_max=epochs) stepped after each epoch"
    suspects = {
        "the gradients are not cleared before each backward (optimizer.zero_grad())": {
            "zero_grad": False
        },
        "the scheduler is stepped after every batch instead of every epoch": {
            "schedule_per_batch": True
        },
        "momentum is not passed to SGD": {"overrides": {"momentum": 0.0}},
        "weight_decay is not passed to the optimizer": {"overrides": {"weight_decay": 0.0}},
        "the optimizer is not the one config['optimizer'] names": {
            "overrides": {"optimizer": "sgd" if cfg["optimizer"] == "adam" else "adam"}
        },
    }
    named = [
        text
        for text, knobs in suspects.items()
        if _replay(run, reference, trace, max_epochs, **knobs)[0] is None
    ]
    cause = (
        f"it looks like {named[0]}"
        if named
        else "check zero_grad before each backward, the optimizer and its lr / momentum / "
        "weight_decay from the config, the mean cross-entropy loss, and when the scheduler steps"
    )
    raise fail(
        f"{run.call}; the training steps are not those of {described} on the mean "
        f"cross-entropy: replaying them from the same initial weights on the same batches, the "
        f"model's outputs first differ at epoch {epoch}, batch {batch} (by {gap:.3g}); {cause}"
    )


# ----------------------------------------------------------------------------- helpers: seeds


def _log_values(rows: list[_Row]) -> list[tuple[float, ...]]:
    return [(r.epoch, r.train_loss, r.val_loss, r.val_accuracy, r.lr) for r in rows]


# ----------------------------------------------------------------------------- helpers: the spy
# These run where the learner's code runs, inside the fit_watched scenario.


class _Lookup:
    """Finds which split, and which row of it, each input image is (the digits are unique)."""

    def __init__(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.table: dict[bytes, tuple[str, int]] = {}
        for name, (x, _) in splits.items():
            keys = (x.reshape(len(x), -1) * 16).round().to(torch.uint8).numpy()
            for i, row in enumerate(keys):
                self.table[row.tobytes()] = (name, i)

    def find(self, x: Any) -> tuple[str, np.ndarray]:
        """``(split, indices)``; split is "mixed" or "unknown" when it is not one split."""
        empty = np.zeros(0, dtype=np.int64)
        if not isinstance(x, torch.Tensor) or x.dim() < 1 or not x.is_floating_point():
            return "unknown", empty
        flat = x.detach().to("cpu").to(torch.float64).reshape(len(x), -1)
        if flat.shape[1] != 64:
            return "unknown", empty
        scaled = flat * 16
        rounded = scaled.round()
        if len(flat) and (
            bool((scaled - rounded).abs().max() > 1e-3)
            or bool(rounded.min() < 0)
            or bool(rounded.max() > 16)
        ):
            return "unknown", empty
        names, idx = set(), []
        for row in rounded.to(torch.uint8).numpy():
            hit = self.table.get(row.tobytes())
            if hit is None:
                return "unknown", empty
            names.add(hit[0])
            idx.append(hit[1])
        if len(names) != 1:
            return "mixed", np.asarray(idx, dtype=np.int64)
        return names.pop(), np.asarray(idx, dtype=np.int64)


class _Hook:
    """A forward (pre-)hook that reports to a spy; survives deepcopy as itself."""

    def __init__(self, spy: _Spy, kind: str) -> None:
        self.spy = spy
        self.kind = kind

    def __call__(self, module: nn.Module, args: tuple[Any, ...], *rest: Any) -> None:
        if self.kind == "pre":
            self.spy.before(module, args)
        else:
            self.spy.after(module, args, rest[0])

    def __deepcopy__(self, memo: dict[int, Any]) -> _Hook:
        return self

    def __reduce__(self) -> tuple[Callable[[], _Inert], tuple[()]]:
        return (_Inert, ())


class _Inert:
    """What a pickled hook becomes: a hook that does nothing."""

    def __call__(self, *args: Any) -> None:
        return None


class _Spy:
    """Stands in for the learner's build_model during a run, hooking every model it builds."""

    def __init__(self, build: Callable[..., Any], lookup: _Lookup) -> None:
        self.build = build
        self.lookup = lookup
        self.calls = 0
        self.forwards: list[_Forward] = []
        self.initial_state: dict[str, torch.Tensor] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        model = self.build(*args, **kwargs)
        if isinstance(model, nn.Module):
            model.register_forward_pre_hook(_Hook(self, "pre"))
            model.register_forward_hook(_Hook(self, "post"))
        return model

    def before(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if self.initial_state is None and module.training and torch.is_grad_enabled():
            self.initial_state = {
                k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()
            }

    def after(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        split, idx = self.lookup.find(args[0] if args else None)
        logits = None
        if isinstance(output, torch.Tensor) and output.dim() == 2:
            logits = output.detach().to("cpu").to(torch.float64).numpy().copy()
        self.forwards.append(_Forward(module.training, torch.is_grad_enabled(), split, idx, logits))
