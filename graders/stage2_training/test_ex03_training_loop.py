"""Grader for 2.3: a train / validate loop.

Twin runs: the test builds one small classifier (Linear, BatchNorm1d, ReLU, Dropout,
Linear), draws its weights and the data, and hands the same state dict, samples and seeds
to the reference and to the learner's code. A scenario rebuilds the model from that state
dict, the batches (a list of CPU tensors, or a DataLoader with its own generator, so
iterating it draws nothing from the global RNG) and the optimizer, seeds the global RNG
so Dropout draws the same masks in both runs, calls the function and returns the final
state dict, the gradients and the returned numbers. The judge compares them with the
reference's; when the weights differ they are matched against simulated common mistakes
(gradients never cleared, two steps per batch, softmax before the loss), run by the judge
itself, to name the mistake.

Inside the scenario a forward pre-hook records, for every forward pass, the train/eval
mode of every sub-module, whether autograd was recording, and whether the batch is on the
model's device. That last check can only fail on a machine with cuda or mps: on a CPU-only
box the batches and the model are all on the CPU, so "data left on the CPU" is graded where
a GPU is present. The loss function handed to the learner is instrumented: it notices
probabilities instead of logits, and keeps a weak reference to each batch's autograd node,
so a loss tensor kept alive across batches (``total += loss``) is caught while the epoch
runs. What these instruments report is only ever a reason to fail: a test passes on the
weights and numbers it compares with the reference's.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    assert_unchanged,
    call_learner,
    describe,
    fail,
    name_the_mistake,
    states_close,
    tolerance,
)
from pytorch_path.data import make_classification
from pytorch_path.scenario import scenario

Batches = list[tuple[torch.Tensor, torch.Tensor]]

_HINTS = {
    "has no attribute 'dataset'": (
        "the loader may be a plain list of (x, y) batches: count the samples as you go "
        "(x.shape[0] per batch) instead of len(loader.dataset)"
    ),
    "same device": "move every batch to the device first: x, y = x.to(device), y.to(device)",
    "does not require grad and does not have a grad_fn": (
        "the loss has no graph: the training forward pass must run with autograd on (no "
        "torch.no_grad() around it) and the loss must not be detached before backward()"
    ),
    "backward through the graph a second time": (
        "call backward() once per batch, on that batch's loss only (not on a running total)"
    ),
}


# ----------------------------------------------------------------------------- train tests


def test_train_one_epoch_updates_like_a_correct_loop(learner, reference, device, seed):
    """After one epoch the weights and BatchNorm statistics equal a correct loop's (twin run)."""
    for index, smoothing in enumerate((0.0, 0.1, 0.0)):
        cfg = _Config(seed, 10 * index)
        twin = _train_twin(learner, reference, cfg, device, label_smoothing=smoothing)
        _compare_weights(cfg, twin, device, label_smoothing=smoothing)


def test_train_one_epoch_returns_mean_loss_per_sample(learner, reference, device, seed):
    """The returned loss is a float: batch losses weighted by batch size, over all samples."""
    for index in range(3):
        cfg = _Config(seed, 100 + 10 * index)
        _check_loss(_train_twin(learner, reference, cfg, device), cfg, device)


def test_train_one_epoch_keeps_no_graph(learner, reference, device, seed):
    """No loss tensor (and so no graph) survives from one batch to the next; a float comes back."""
    cfg = _Config(seed, 200)
    cfg.n_batches, cfg.last = 5, cfg.batch
    cfg.n = 5 * cfg.batch
    _check_loss(_train_twin(learner, reference, cfg, device), cfg, device)


def test_train_one_epoch_with_a_dataloader(learner, reference, device, seed):
    """A DataLoader (shuffle=False) and a device given as a string work like a list of batches."""
    cfg = _Config(seed, 300)
    twin = _train_twin(
        learner, reference, cfg, device, loader_kind="dataloader", device_arg=str(device)
    )
    _compare_weights(cfg, twin, device, label_smoothing=0.0)
    _check_loss(twin, cfg, device)


def test_train_one_epoch_leaves_the_batches_alone(learner, reference, device, seed):
    """The batches are moved to the device, never modified in place."""
    cfg = _Config(seed, 400)
    twin = _train_twin(learner, reference, cfg, device)
    for i, ((x, y), (x0, y0)) in enumerate(zip(twin.batches_after, twin.batches, strict=True)):
        assert_unchanged(x, x0, what=f"batch {i}'s x", call=twin.call)
        assert_unchanged(y, y0, what=f"batch {i}'s y", call=twin.call)
    _check_loss(twin, cfg, device)


# ----------------------------------------------------------------------------- evaluate tests


def test_evaluate_matches_a_correct_evaluation(learner, reference, device, seed):
    """evaluate returns the per-sample mean loss and the fraction of correct predictions."""
    for index in range(3):
        cfg = _Config(seed, 500 + 10 * index)
        ev = _evaluate(learner, reference, cfg, device)
        if ev.got["loss_calls"] == 0:
            raise fail(
                f"{ev.call}; loss_fn was never called: compute each batch's loss with loss_fn"
            )
        _check_eval_loss(ev, device)
        want = ev.expected["accuracy"]
        acc, call = ev.accuracy, ev.call
        if abs(acc - want) <= 1e-6:  # float32 arithmetic is fine; a wrong count is >= 1/n off
            continue
        _, hits = _eval_record(ev.model0, ev.batches, device)
        correct = sum(c for c, _ in hits)
        per_batch = sum(c / n for c, n in hits) / len(hits)
        if abs(acc - 100 * want) <= 1e-4 and want > 0:
            raise fail(
                f"{call}; result['accuracy'] is {acc:.6g}, a percentage; return the fraction "
                f"of correct predictions, between 0 and 1 (expected {want:.6g})"
            )
        if abs(acc - per_batch) <= 1e-6:
            raise fail(
                f"{call}; result['accuracy'] is {acc:.6g}, the mean of the per-batch "
                "accuracies; count the correct predictions over all batches and divide by the "
                f"total number of samples: the last batch is smaller (expected {want:.6g})"
            )
        if abs(acc - correct) <= 1e-6:
            raise fail(
                f"{call}; result['accuracy'] is {acc:.6g}, the number of correct predictions; "
                f"divide it by the number of samples ({cfg.n}) (expected {want:.6g})"
            )
        raise fail(
            f"{call}; result['accuracy'] is {acc:.6g}, expected {want:.6g} ({correct} of "
            f"{cfg.n} samples have logits.argmax(dim=1) == y in eval mode)"
        )


def test_evaluate_trains_nothing(learner, reference, device, seed):
    """evaluate runs in eval mode under no_grad; weights, BatchNorm stats, .grad stay as given."""
    for index in range(2):
        cfg = _Config(seed, 600 + 10 * index)
        ev = _evaluate(learner, reference, cfg, device)
        state, grads, call = ev.got["state"], ev.got["grads"], ev.call
        for name, p in ev.model0.named_parameters():
            if not torch.equal(state[name], p.detach().cpu()):
                raise fail(
                    f"{call}; afterwards the parameter {name} has changed; evaluate must "
                    "not update the model"
                )
            grad = grads[name]
            if grad is None or not torch.equal(grad, ev.grads[name]):
                now = "None" if grad is None else "different values"
                raise fail(
                    f"{call}; afterwards {name}.grad is {now}: evaluate must leave the gradients "
                    "alone (no backward(), no zero_grad())"
                )
        for name, b in ev.model0.named_buffers():
            if not torch.equal(state[name], b.cpu()):
                raise fail(
                    f"{call}; afterwards the BatchNorm buffer {name} has changed: a forward "
                    "pass ran in train mode; call model.eval() before the loop"
                )
        _check_eval_loss(ev, device)


def test_batches_reach_the_models_device(learner, reference, device, seed):
    """Both functions move each CPU batch to the device given (checked where cuda/mps exist)."""
    cfg = _Config(seed, 700)
    _check_loss(_train_twin(learner, reference, cfg, device, device_arg=device), cfg, device)
    _check_eval_loss(_evaluate(learner, reference, cfg, device), device)


# ----------------------------------------------------------------------------- scenarios


@scenario
def training(
    mod: Any,
    spec: dict[str, Any],
    state0: dict[str, torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device,
    device_arg: Any,
    label_smoothing: float,
    loader_kind: str,
) -> dict[str, Any]:
    """train_one_epoch on the test's model (arriving in eval mode), data and seed."""
    model = _build(spec, state0, X.dtype, device)
    model.eval()  # arrives in eval mode, as it would right after evaluate()
    batches = _split(X, y, spec["batch"])
    loader: Iterable[Any] = batches
    if loader_kind == "dataloader":
        loader = DataLoader(
            TensorDataset(X, y),
            batch_size=spec["batch"],
            shuffle=False,
            generator=torch.Generator(),
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    watch = _Watch(model, phase="train")
    loss_fn = _Loss(watch, label_smoothing, mark=True)
    torch.manual_seed(spec["run_seed"])
    out = None
    try:
        out = mod.train_one_epoch(model, loader, loss_fn, optimizer, device_arg)
    except Exception:
        if watch.problem is None:
            raise
    finally:
        watch.close()
    return {
        "problem": watch.problem,
        "forwards": watch.forwards,
        "loss_calls": loss_fn.calls,
        "out": out,
        "described": describe(out),
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "batches_after": batches if loader_kind == "list" else None,
    }


@scenario
def evaluation(
    mod: Any,
    spec: dict[str, Any],
    state0: dict[str, torch.Tensor],
    grads: dict[str, torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device,
) -> dict[str, Any]:
    """evaluate on the test's model (arriving in train mode, with stale gradients) and data."""
    model = _build(spec, state0, X.dtype, device)
    for name, p in model.named_parameters():  # stale gradients evaluate must not touch
        p.grad = grads[name].to(device=p.device, dtype=p.dtype)
    model.train()  # arrives in train mode, as it would right after train_one_epoch()
    watch = _Watch(model, phase="eval")
    loss_fn = _Loss(watch, 0.0, mark=False)
    torch.manual_seed(spec["run_seed"])
    out = None
    try:
        out = mod.evaluate(model, _split(X, y, spec["batch"]), loss_fn, device)
    except Exception:
        if watch.problem is None:
            raise
    finally:
        watch.close()
    return {
        "problem": watch.problem,
        "forwards": watch.forwards,
        "loss_calls": loss_fn.calls,
        "out": out,
        "described": describe(out),
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "grads": {
            name: None if p.grad is None else p.grad.detach().cpu()
            for name, p in model.named_parameters()
        },
    }


@scenario
def loss_curve(mod: Any, *, seed: int = 0) -> dict[str, Any]:
    """For ``pytorch-path plot``: 12 epochs of train_one_epoch then evaluate, on seeded blobs."""
    X, y = make_classification(320, 6, 3, separation=2.5, seed=seed)
    train, val = _split(X[:256], y[:256], 32), _split(X[256:], y[256:], 64)
    torch.manual_seed(seed)
    model = _Net(6, 16, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    call = "train_one_epoch(model, batches, nn.CrossEntropyLoss(), SGD(lr=0.05), 'cpu')"
    losses, val_losses, accuracies = [], [], []
    for epoch in range(1, 13):
        out = mod.train_one_epoch(model, train, loss_fn, optimizer, "cpu")
        losses.append(assert_python_float(out, what=f"epoch {epoch}'s loss", call=call))
        result = mod.evaluate(model, val, loss_fn, "cpu")
        loss, accuracy = _check_result(result, describe(result), "evaluate(model, ...)")
        val_losses.append(loss)
        accuracies.append(accuracy)
    return {
        "loss": losses,
        "val_loss": val_losses,
        "accuracy": accuracies,
        "label": "train loss per epoch (validation dotted)",
    }


# ----------------------------------------------------------------------------- the model


class _Net(nn.Module):
    """A small classifier whose output depends on train/eval mode (BatchNorm and Dropout)."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _build(
    spec: dict[str, Any], state: dict[str, torch.Tensor], dtype: torch.dtype, device: Any
) -> nn.Module:
    """The test's model: a fresh _Net holding ``state``, on ``device`` in ``dtype``."""
    model = _Net(spec["d_in"], spec["hidden"], spec["classes"]).to(dtype)
    model.load_state_dict(state)
    return model.to(device)


def _split(X: torch.Tensor, y: torch.Tensor, batch: int) -> Batches:
    """Consecutive (x, y) batches of ``batch`` samples (the last may be smaller), as copies."""
    return [(X[i : i + batch].clone(), y[i : i + batch].clone()) for i in range(0, len(X), batch)]


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for tight comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


class _Config:
    """One random problem: sizes all different, and a smaller last batch."""

    def __init__(self, seed: Any, offset: int) -> None:
        rng = seed.python_random(offset)
        while True:
            self.d_in, self.hidden = rng.randint(3, 8), rng.randint(5, 12)
            self.classes, self.batch = rng.randint(2, 5), rng.randint(4, 8)
            if len({self.d_in, self.hidden, self.classes, self.batch}) == 4:
                break
        self.n_batches = rng.randint(3, 5)
        self.last = rng.randint(2, self.batch - 1)  # BatchNorm needs 2 samples in train mode
        self.n = self.batch * (self.n_batches - 1) + self.last
        self.lr = round(rng.uniform(0.05, 0.2), 3)
        self.momentum = round(rng.uniform(0.5, 0.9), 2)
        self.run_seed = rng.randint(0, 2**31 - 1)
        self.seed, self.offset = seed, offset

    def spec(self) -> dict[str, Any]:
        """What a scenario needs to rebuild the model, the batches and the optimizer."""
        return {
            "d_in": self.d_in,
            "hidden": self.hidden,
            "classes": self.classes,
            "batch": self.batch,
            "lr": self.lr,
            "momentum": self.momentum,
            "run_seed": self.run_seed,
        }

    def model(self, device: torch.device) -> nn.Module:
        torch.manual_seed(self.run_seed + 1)
        model = _Net(self.d_in, self.hidden, self.classes)
        with torch.no_grad():  # non-trivial BatchNorm affine parameters and running stats
            model.body[1].weight.uniform_(0.5, 1.5)
            model.body[1].bias.uniform_(-0.5, 0.5)
            model.train()
            for _ in range(2):
                model(2.0 * torch.randn(3 * self.batch, self.d_in) + 0.5)
        return model.to(device, _dtype(device))

    def data(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """All samples, on the CPU (the learner moves them), in the model's dtype."""
        X = self.seed.randn(self.n, self.d_in, dtype=_dtype(device), offset=self.offset + 7)
        y = self.seed.randint(0, self.classes, (self.n,), offset=self.offset + 8)
        return X, y

    def batches(self, device: torch.device) -> Batches:
        X, y = self.data(device)
        return _split(X, y, self.batch)

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=self.lr, momentum=self.momentum)

    def shape(self) -> str:
        return (
            f"{self.n} samples of {self.d_in} features in {self.n_batches} batches of "
            f"{self.batch} (the last has {self.last}), {self.classes} classes"
        )


# ----------------------------------------------------------------------------- instruments


class _Watch:
    """Watches every forward pass of a model while one learner function runs (worker side)."""

    def __init__(self, model: nn.Module, *, phase: str) -> None:
        self.model, self.phase = model, phase
        self.forwards = 0
        self.nodes: list[weakref.ref[Any]] = []
        self.problem: str | None = None
        self.param = next(model.parameters())
        self.handle = model.register_forward_pre_hook(self._pre)

    def close(self) -> None:
        self.handle.remove()

    def flag(self, problem: str) -> Exception:
        """Remember the first problem; the exception that stops the learner's loop."""
        if self.problem is None:
            self.problem = problem
        return fail(problem)

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.forwards += 1
        problem = self._check(args[0] if args else None)
        if problem is not None:
            raise self.flag(problem)

    def _check(self, x: Any) -> str | None:
        wrong = [
            type(m).__name__ for m in self.model.modules() if m.training != (self.phase == "train")
        ]
        grad = torch.is_grad_enabled()
        if self.phase == "train":
            if wrong:
                return (
                    f"a forward pass ran with the model in eval mode ("
                    f"{', '.join(sorted(set(wrong)))} not training); call model.train() at the "
                    "start of train_one_epoch: the model may arrive in eval mode (for example "
                    "right after evaluate), and then Dropout would not drop and BatchNorm would "
                    "not learn its statistics"
                )
            if not grad:
                return (
                    "a forward pass ran with autograd switched off "
                    "(torch.no_grad() or inference_mode); training needs the graph for "
                    "loss.backward(): run one forward pass per batch, with autograd on, and take "
                    "loss.item() from that pass"
                )
            alive = [i for i, ref in enumerate(self.nodes[:-1]) if ref() is not None]
            if alive:
                return (
                    f"when batch {len(self.nodes)} started, the autograd graph of "
                    f"batch {alive[0]} was still alive: a loss tensor is kept across batches "
                    "(total += loss, or a list of loss tensors), which holds every batch's graph "
                    "in memory for the whole epoch. Accumulate loss.item(), a Python float"
                )
        else:
            if wrong:
                return (
                    f"evaluate ran a forward pass with the model in train mode ("
                    f"{', '.join(sorted(set(wrong)))}); call model.eval() first: in train mode "
                    "Dropout drops units at random and BatchNorm normalises with each batch's "
                    "statistics and overwrites its running statistics"
                )
            if grad:
                return (
                    "evaluate ran a forward pass with autograd recording "
                    "(torch.is_grad_enabled() was True); run the loop inside torch.no_grad() "
                    "(or torch.inference_mode()): evaluation needs no graph, and building one "
                    "costs memory and time"
                )
        if isinstance(x, torch.Tensor) and not _same_device(x.device, self.param.device):
            return (
                f"the model is on {self.param.device} but a batch reached it on "
                f"{x.device}; move every batch to the device: x, y = x.to(device), y.to(device)"
            )
        return None


class _Mark(torch.autograd.Function):
    """The identity, with a weak reference to its autograd node (to see how long it lives)."""

    @staticmethod
    def forward(ctx: Any, loss: torch.Tensor, nodes: list[Any]) -> torch.Tensor:
        nodes.append(weakref.ref(ctx))
        return loss.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class _Loss:
    """The loss handed to learner code: cross-entropy that checks what it is given."""

    def __init__(self, watch: _Watch, label_smoothing: float, *, mark: bool) -> None:
        self.watch, self.label_smoothing, self.mark = watch, label_smoothing, mark
        self.calls = 0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if isinstance(logits, torch.Tensor) and isinstance(y, torch.Tensor):
            if not _same_device(logits.device, y.device):
                raise self.watch.flag(
                    f"loss_fn got logits on {logits.device} and targets on "
                    f"{y.device}; move y to the device too: y = y.to(device)"
                )
            if logits.dim() == 2 and logits.is_floating_point() and logits.shape[0] > 0:
                with torch.no_grad():
                    rows = logits.detach().sum(dim=1)
                    probs = bool((logits.detach() >= 0).all()) and bool(
                        ((rows - 1).abs() < 1e-4).all()
                    )
                if probs:
                    raise self.watch.flag(
                        "loss_fn received probabilities (every row is >= 0 and "
                        "sums to 1), not logits: pass the model's raw output. CrossEntropyLoss "
                        "applies log_softmax itself; a softmax before it squashes the loss and "
                        "shrinks the gradients"
                    )
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if self.mark and loss.requires_grad:
            loss = _Mark.apply(loss, self.watch.nodes)
        return loss


# ----------------------------------------------------------------------------- train helpers


@dataclass
class _Twin:
    """What one twin run of train_one_epoch produced (the learner's, the reference's)."""

    got: float
    expected: float
    state: dict[str, torch.Tensor]
    ref_state: dict[str, torch.Tensor]
    model0: nn.Module
    batches: Batches
    batches_after: Any
    call: str


def _train_twin(
    learner: Any,
    reference: Any,
    cfg: _Config,
    device: torch.device,
    *,
    label_smoothing: float = 0.0,
    loader_kind: str = "list",
    device_arg: Any = None,
) -> _Twin:
    """Run reference and learner on the same model, batches and seed; return what came."""
    model0 = cfg.model(device)
    state0 = {k: v.detach().cpu() for k, v in model0.state_dict().items()}
    X, y = cfg.data(device)
    arg = device if device_arg is None else device_arg
    options = {
        "device": device,
        "device_arg": arg,
        "label_smoothing": label_smoothing,
        "loader_kind": loader_kind,
    }
    want = reference.run(training, cfg.spec(), state0, X, y, **options)
    kind = "a list of (x, y) CPU batches" if loader_kind == "list" else "a DataLoader"
    call = (
        f"called train_one_epoch(model, loader, loss_fn, optimizer, {arg!r}) with {kind}: "
        f"{cfg.shape()}; the model (Linear, BatchNorm1d, ReLU, Dropout, Linear) on {device}, "
        f"SGD(lr={cfg.lr}, momentum={cfg.momentum})"
    )
    got = call_learner(
        learner.run, training, cfg.spec(), state0, X, y, call=call, hints=_HINTS, **options
    )
    if got["problem"] is not None:
        raise fail(f"{call}; {got['problem']}")
    if got["loss_calls"] == 0:
        raise fail(f"{call}; loss_fn was never called: compute each batch's loss with loss_fn")
    if got["forwards"] != cfg.n_batches:
        raise fail(
            f"{call}; the model ran {got['forwards']} forward passes for {cfg.n_batches} "
            "batches; run exactly one forward pass per batch (a second pass draws new Dropout "
            "masks and updates BatchNorm's statistics again)"
        )
    out = got["out"]
    if not isinstance(out, torch.Tensor) and type(out) is not float:
        raise fail(f"{call}; returned {got['described']}; return the epoch's mean loss as a float")
    assert_python_float(out, what="the returned epoch loss", call=call)
    return _Twin(
        got=out,
        expected=want["out"],
        state=got["state"],
        ref_state=want["state"],
        model0=model0,
        batches=cfg.batches(device),
        batches_after=got["batches_after"],
        call=call,
    )


def _simulate(
    cfg: _Config,
    model0: nn.Module,
    batches: Batches,
    device: torch.device,
    *,
    label_smoothing: float,
    mistake: str | None = None,
) -> tuple[nn.Module, list[tuple[float, int]]]:
    """One epoch of a training loop, correct or with one mistake; per-batch (loss, size)."""
    model = copy.deepcopy(model0)
    opt = cfg.optimizer(model)
    torch.manual_seed(cfg.run_seed)
    model.train()
    record = []
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        if mistake != "no_zero_grad":
            opt.zero_grad()
        out = model(x)
        if mistake == "softmax":
            out = out.softmax(dim=1)
        loss = F.cross_entropy(out, y, label_smoothing=label_smoothing)
        loss.backward()
        opt.step()
        if mistake == "double_step":
            opt.step()
        record.append((loss.item(), x.shape[0]))
    return model, record


_MISTAKES = (
    (
        "no_zero_grad",
        "the gradients are never cleared, so every step also applies all the earlier batches' "
        "gradients: call optimizer.zero_grad() at the start of every batch",
    ),
    (
        "double_step",
        "optimizer.step() runs twice per batch: call it exactly once, after loss.backward()",
    ),
    (
        "softmax",
        "a softmax is applied before the loss: CrossEntropyLoss expects the raw logits",
    ),
)


def _compare_weights(
    cfg: _Config, twin: _Twin, device: torch.device, *, label_smoothing: float
) -> None:
    """The learner's model must equal the reference's after the epoch; name the mistake if not."""
    tol = tolerance(_dtype(device), device)
    call = twin.call
    if states_close(twin.state, twin.ref_state, **tol):
        return
    unchanged = all(
        torch.equal(twin.state[name], p.detach().cpu())
        for name, p in twin.model0.named_parameters()
    )
    if unchanged:
        raise fail(
            f"{call}; after the epoch the parameters are exactly as they were: no update "
            "happened. Call optimizer.step() once per batch, after loss.backward(), and do not "
            "clear the gradients between backward() and step() (zero_grad() belongs before "
            "the forward pass)"
        )
    simulated = (
        (
            _simulate(
                cfg, twin.model0, twin.batches, device, label_smoothing=label_smoothing,
                mistake=mistake,
            )[0].state_dict(),
            advice,
        )
        for mistake, advice in _MISTAKES
    )  # fmt: skip
    advice = name_the_mistake(
        twin.state, simulated, lambda got, sim: states_close(got, sim, rtol=1e-5, atol=1e-7)
    )
    if advice is not None:
        raise fail(f"{call}; the weights after the epoch match a loop where {advice}")
    for name, t in twin.ref_state.items():
        assert_close(
            twin.state.get(name),
            t,
            what=f"the model's {name} after one epoch (vs a correct loop on the same batches)",
            call=call
            + ("; per batch: zero_grad(), forward, loss_fn(logits, y), backward(), step()"),
            **tol,
        )


def _check_loss(twin: _Twin, cfg: _Config, device: torch.device) -> None:
    """The returned epoch loss must equal the reference's; say how it was averaged if not."""
    tol = tolerance(_dtype(device), device)
    got, expected = twin.got, twin.expected
    if abs(got - expected) <= tol["atol"] + tol["rtol"] * abs(expected):
        return
    _compare_weights(cfg, twin, device, label_smoothing=0.0)  # a wrong update explains it all
    _, record = _simulate(cfg, twin.model0, twin.batches, device, label_smoothing=0.0)
    _explain_mean(got, record, expected, what="the returned epoch loss", call=twin.call)
    raise fail(
        f"{twin.call}; the returned epoch loss is {got:.6g}, expected {expected:.6g}: the mean "
        "of each batch's loss.item() (taken during its training step) weighted by its "
        "batch size"
    )


def _explain_mean(
    got: float, record: list[tuple[float, int]], expected: float, *, what: str, call: str
) -> None:
    """The returned mean loss differs from the expected one: say how it was averaged."""
    losses = [loss for loss, _ in record]
    sizes = [n for _, n in record]
    weighted = sum(loss * n for loss, n in record)
    candidates = (
        (
            sum(losses) / len(losses),
            "the plain mean of the batch losses; weight each batch's loss by its number of "
            "samples (x.shape[0]) and divide by the total number of samples: the last batch "
            "is smaller",
        ),
        (weighted, "the sum of loss * batch size; divide it by the total number of samples"),
        (sum(losses), "the sum of the batch losses; return the mean loss per sample"),
        (
            weighted / len(losses),
            "divided by the number of batches; divide by the total number of samples",
        ),
        (losses[-1], "the last batch's loss only; average over every batch of the epoch"),
        (
            sum(losses) / sum(sizes),
            "the sum of the batch-mean losses divided by the number of samples; multiply each "
            "batch's mean loss by its size first",
        ),
    )
    for value, advice in candidates:
        if abs(got - value) <= 1e-6 * max(1.0, abs(value)) and abs(value - expected) > 1e-9:
            raise fail(f"{call}; {what} is {got:.6g}, {advice} (expected {expected:.6g})")


# ----------------------------------------------------------------------------- evaluate helpers


@dataclass
class _Eval:
    """What one twin run of evaluate produced (the learner's, the reference's)."""

    loss: float
    accuracy: float
    expected: dict[str, float]
    got: dict[str, Any]
    model0: nn.Module
    grads: dict[str, torch.Tensor]
    batches: Batches
    call: str


def _evaluate(learner: Any, reference: Any, cfg: _Config, device: torch.device) -> _Eval:
    """Run reference and learner's evaluate on the same model, stale gradients and batches."""
    model0 = cfg.model(device)
    state0 = {k: v.detach().cpu() for k, v in model0.state_dict().items()}
    gen = cfg.seed.generator(cfg.offset + 3)
    grads = {
        name: torch.randn(p.shape, generator=gen, dtype=p.dtype)
        for name, p in model0.named_parameters()
    }
    X, y = cfg.data(device)
    want = reference.run(evaluation, cfg.spec(), state0, grads, X, y, device=device)
    call = (
        f"called evaluate(model, loader, loss_fn, {device!r}) with a list of (x, y) CPU batches: "
        f"{cfg.shape()}; the model (Linear, BatchNorm1d, ReLU, Dropout, Linear) on {device}"
    )
    got = call_learner(
        learner.run, evaluation, cfg.spec(), state0, grads, X, y, call=call, hints=_HINTS,
        device=device,
    )  # fmt: skip
    if got["problem"] is not None:
        raise fail(f"{call}; {got['problem']}")
    if got["forwards"] == 0:
        raise fail(f"{call}; the model was never called")
    loss, acc = _check_result(got["out"], got["described"], call)
    return _Eval(loss, acc, want["out"], got, model0, grads, cfg.batches(device), call)


def _check_result(out: Any, described: str, call: str) -> tuple[float, float]:
    if not isinstance(out, dict):
        raise fail(
            f"{call}; returned {described}; return a dict {{'loss': float, 'accuracy': float}}"
        )
    for key in ("loss", "accuracy"):
        if key not in out:
            raise fail(f"{call}; the returned dict has no key {key!r} (keys: {sorted(out)})")
    loss = assert_python_float(out["loss"], what="result['loss']", call=call)
    acc = assert_python_float(out["accuracy"], what="result['accuracy']", call=call)
    return loss, acc


def _check_eval_loss(ev: _Eval, device: torch.device) -> None:
    """result['loss'] must equal the reference's; say how it was averaged if not."""
    tol = tolerance(_dtype(device), device)
    want = ev.expected["loss"]
    if abs(ev.loss - want) <= tol["atol"] + tol["rtol"] * abs(want):
        return
    record, _ = _eval_record(ev.model0, ev.batches, device)
    _explain_mean(ev.loss, record, want, what="result['loss']", call=ev.call)
    raise fail(
        f"{ev.call}; result['loss'] is {ev.loss:.6g}, expected {want:.6g}: each "
        "batch's loss_fn(logits, y).item() weighted by its batch size, over all samples, "
        "with the model in eval mode"
    )


def _eval_record(
    model: nn.Module, batches: Batches, device: torch.device
) -> tuple[list[tuple[float, int]], list[tuple[int, int]]]:
    """Per-batch (mean loss, size) and (correct, size) of a model in eval mode."""
    model = copy.deepcopy(model).eval()
    losses, hits = [], []
    with torch.no_grad():
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            out = model(x)
            losses.append((F.cross_entropy(out, y).item(), x.shape[0]))
            hits.append((int((out.argmax(dim=1) == y).sum()), x.shape[0]))
    return losses, hits
