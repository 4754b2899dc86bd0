"""Grader for 2.3: a train / validate loop.

Twin runs: the reference and the learner's code start from deep copies of one model
(Linear, BatchNorm1d, ReLU, Dropout, Linear), get the same batches (a list of CPU tensors,
or a DataLoader with its own generator, so iterating it draws nothing from the global RNG)
and start from the same global seed, so Dropout draws the same masks in both runs. The final
weights, the BatchNorm buffers and the returned numbers are compared; when the weights
differ they are matched against simulated common mistakes (gradients never cleared, two
steps per batch, softmax before the loss) to name the mistake.

A forward pre-hook on the model records, for every forward pass, the train/eval mode of
every sub-module, whether autograd was recording, and whether the batch is on the model's
device. That last check can only fail on a machine with cuda or mps: on a CPU-only box the
batches and the model are all on the CPU, so "data left on the CPU" is graded where a GPU is
present. The loss function handed to the learner is instrumented: it notices probabilities
instead of logits, and keeps a weak reference to each batch's autograd node, so a loss tensor
kept alive across batches (``total += loss``) is caught while the epoch runs.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    describe,
    fail,
)

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for tight comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    if device.type == "mps":
        return {"rtol": 1e-4, "atol": 1e-5}
    return {"rtol": 1e-7, "atol": 1e-9}


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


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
        return [
            (X[i : i + self.batch], y[i : i + self.batch]) for i in range(0, self.n, self.batch)
        ]

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=self.lr, momentum=self.momentum)

    def shape(self) -> str:
        return (
            f"{self.n} samples of {self.d_in} features in {self.n_batches} batches of "
            f"{self.batch} (the last has {self.last}), {self.classes} classes"
        )


def _clone_batches(batches: Batches) -> Batches:
    return [(x.clone(), y.clone()) for x, y in batches]


# ----------------------------------------------------------------------------- instruments


class _Probe:
    """Watches every forward pass of a model while one learner function runs."""

    def __init__(self, model: nn.Module, *, phase: str, call: str) -> None:
        self.model, self.phase, self.call = model, phase, call
        self.forwards = 0
        self.nodes: list[weakref.ref[Any]] = []
        self.problem: str | None = None
        self.param = next(model.parameters())
        self.handle = model.register_forward_pre_hook(self._pre)

    def __enter__(self) -> _Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.forwards += 1
        problem = self._check(args[0] if args else None)
        if problem is not None:
            if self.problem is None:
                self.problem = problem
            raise fail(problem)

    def _check(self, x: Any) -> str | None:
        wrong = [
            type(m).__name__ for m in self.model.modules() if m.training != (self.phase == "train")
        ]
        grad = torch.is_grad_enabled()
        if self.phase == "train":
            if wrong:
                return (
                    f"{self.call}; a forward pass ran with the model in eval mode ("
                    f"{', '.join(sorted(set(wrong)))} not training); call model.train() at the "
                    "start of train_one_epoch: the model may arrive in eval mode (for example "
                    "right after evaluate), and then Dropout would not drop and BatchNorm would "
                    "not learn its statistics"
                )
            if not grad:
                return (
                    f"{self.call}; a forward pass ran with autograd switched off "
                    "(torch.no_grad() or inference_mode); training needs the graph for "
                    "loss.backward(): run one forward pass per batch, with autograd on, and take "
                    "loss.item() from that pass"
                )
            alive = [i for i, ref in enumerate(self.nodes[:-1]) if ref() is not None]
            if alive:
                return (
                    f"{self.call}; when batch {len(self.nodes)} started, the autograd graph of "
                    f"batch {alive[0]} was still alive: a loss tensor is kept across batches "
                    "(total += loss, or a list of loss tensors), which holds every batch's graph "
                    "in memory for the whole epoch. Accumulate loss.item(), a Python float"
                )
        else:
            if wrong:
                return (
                    f"{self.call}; evaluate ran a forward pass with the model in train mode ("
                    f"{', '.join(sorted(set(wrong)))}); call model.eval() first: in train mode "
                    "Dropout drops units at random and BatchNorm normalises with each batch's "
                    "statistics and overwrites its running statistics"
                )
            if grad:
                return (
                    f"{self.call}; evaluate ran a forward pass with autograd recording "
                    "(torch.is_grad_enabled() was True); run the loop inside torch.no_grad() "
                    "(or torch.inference_mode()): evaluation needs no graph, and building one "
                    "costs memory and time"
                )
        if isinstance(x, torch.Tensor) and not _same_device(x.device, self.param.device):
            return (
                f"{self.call}; the model is on {self.param.device} but a batch reached it on "
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

    def __init__(self, probe: _Probe | None, label_smoothing: float, call: str) -> None:
        self.probe, self.label_smoothing, self.call = probe, label_smoothing, call
        self.calls = 0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if isinstance(logits, torch.Tensor) and isinstance(y, torch.Tensor):
            if not _same_device(logits.device, y.device):
                raise fail(
                    f"{self.call}; loss_fn got logits on {logits.device} and targets on "
                    f"{y.device}; move y to the device too: y = y.to(device)"
                )
            if logits.dim() == 2 and logits.is_floating_point() and logits.shape[0] > 0:
                with torch.no_grad():
                    rows = logits.detach().sum(dim=1)
                    probs = bool((logits.detach() >= 0).all()) and bool(
                        ((rows - 1).abs() < 1e-4).all()
                    )
                if probs:
                    raise fail(
                        f"{self.call}; loss_fn received probabilities (every row is >= 0 and "
                        "sums to 1), not logits: pass the model's raw output. CrossEntropyLoss "
                        "applies log_softmax itself; a softmax before it squashes the loss and "
                        "shrinks the gradients"
                    )
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if self.probe is not None and loss.requires_grad:
            loss = _Mark.apply(loss, self.probe.nodes)
        return loss


_HINTS = (
    (
        "has no attribute 'dataset'",
        "the loader may be a plain list of (x, y) batches: count the samples as you go "
        "(x.shape[0] per batch) instead of len(loader.dataset)",
    ),
    (
        "same device",
        "move every batch to the device first: x, y = x.to(device), y.to(device)",
    ),
    (
        "does not require grad and does not have a grad_fn",
        "the loss has no graph: the training forward pass must run with autograd on (no "
        "torch.no_grad() around it) and the loss must not be detached before backward()",
    ),
    (
        "backward through the graph a second time",
        "call backward() once per batch, on that batch's loss only (not on a running total)",
    ),
)


def _run(fn: Callable[..., Any], *args: Any, call: str) -> Any:
    """Call learner code; explain well-known errors (others pass through)."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except (RuntimeError, AttributeError, TypeError) as exc:
        text = str(exc).strip()
        for needle, hint in _HINTS:
            if needle in text:
                first = text.splitlines()[0]
                raise fail(f"{call} raised {type(exc).__name__}: {first}; {hint}") from exc
        raise


@dataclass
class _Twin:
    """What one twin run of train_one_epoch produced."""

    got: float
    expected: float
    model: nn.Module
    ref_model: nn.Module
    model0: nn.Module
    batches: Batches
    call: str


# ----------------------------------------------------------------------------- simulation


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


def _states_match(a: nn.Module, b: nn.Module, tol: dict[str, float]) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    for name, t in sa.items():
        u = sb[name]
        if t.shape != u.shape or not torch.allclose(t.double().cpu(), u.double().cpu(), **tol):
            return False
    return True


def _compare_weights(
    cfg: _Config, twin: _Twin, device: torch.device, *, label_smoothing: float
) -> None:
    """The learner's model must equal the reference's after the epoch; name the mistake if not."""
    tol = _tol(device)
    model, model0, expected, call = twin.model, twin.model0, twin.ref_model, twin.call
    batches = twin.batches
    if _states_match(model, expected, tol):
        return
    unchanged = all(
        torch.equal(p.detach().cpu(), q.detach().cpu())
        for p, q in zip(model.parameters(), model0.parameters(), strict=True)
    )
    if unchanged:
        raise fail(
            f"{call}; after the epoch the parameters are exactly as they were: no update "
            "happened. Call optimizer.step() once per batch, after loss.backward(), and do not "
            "clear the gradients between backward() and step() (zero_grad() belongs before "
            "the forward pass)"
        )
    for mistake, advice in _MISTAKES:
        simulated, _ = _simulate(
            cfg, model0, batches, device, label_smoothing=label_smoothing, mistake=mistake
        )
        if _states_match(model, simulated, {"rtol": 1e-5, "atol": 1e-7}):
            raise fail(f"{call}; the weights after the epoch match a loop where {advice}")
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    for name, t in expected.state_dict().items():
        got = params.get(name, buffers.get(name))
        assert_close(
            got.detach() if got is not None else got,
            t,
            what=f"the model's {name} after one epoch (vs a correct loop on the same batches)",
            call=call
            + ("; per batch: zero_grad(), forward, loss_fn(logits, y), backward(), step()"),
            **tol,
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


# ----------------------------------------------------------------------------- train tests


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
    batches = cfg.batches(device)
    ref_model = copy.deepcopy(model0)
    torch.manual_seed(cfg.run_seed)
    expected = reference.train_one_epoch(
        ref_model,
        _clone_batches(batches),
        nn.CrossEntropyLoss(label_smoothing=label_smoothing),
        cfg.optimizer(ref_model),
        device,
    )
    model = copy.deepcopy(model0)
    model.eval()  # arrives in eval mode, as it would right after evaluate()
    if loader_kind == "list":
        loader: Iterable[Any] = _clone_batches(batches)
    else:
        X, y = cfg.data(device)
        loader = DataLoader(
            TensorDataset(X, y), batch_size=cfg.batch, shuffle=False, generator=torch.Generator()
        )
    kind = "a list of (x, y) CPU batches" if loader_kind == "list" else "a DataLoader"
    optimizer = cfg.optimizer(model)
    arg = device if device_arg is None else device_arg
    call = (
        f"called train_one_epoch(model, loader, loss_fn, optimizer, {arg!r}) with {kind}: "
        f"{cfg.shape()}; the model (Linear, BatchNorm1d, ReLU, Dropout, Linear) on {device}, "
        f"SGD(lr={cfg.lr}, momentum={cfg.momentum})"
    )
    with _Probe(model, phase="train", call=call) as probe:
        loss_fn = _Loss(probe, label_smoothing, call)
        torch.manual_seed(cfg.run_seed)
        got = _run(learner.train_one_epoch, model, loader, loss_fn, optimizer, arg, call=call)
    if probe.problem is not None:
        raise fail(probe.problem)
    if loss_fn.calls == 0:
        raise fail(f"{call}; loss_fn was never called: compute each batch's loss with loss_fn")
    if probe.forwards != cfg.n_batches:
        raise fail(
            f"{call}; the model ran {probe.forwards} forward passes for {cfg.n_batches} batches; "
            "run exactly one forward pass per batch (a second pass draws new Dropout masks and "
            "updates BatchNorm's statistics again)"
        )
    if not isinstance(got, torch.Tensor) and type(got) is not float:
        raise fail(f"{call}; returned {describe(got)}; return the epoch's mean loss as a float")
    assert_python_float(got, what="the returned epoch loss", call=call)
    return _Twin(got, expected, model, ref_model, model0, batches, call)


def _check_loss(twin: _Twin, cfg: _Config, device: torch.device) -> None:
    """The returned epoch loss must equal the reference's; say how it was averaged if not."""
    tol = _tol(device)
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
    model = cfg.model(device)
    batches = cfg.batches(device)
    before = _clone_batches(batches)
    call = f"called train_one_epoch(model, batches, loss_fn, optimizer, {device!r}): {cfg.shape()}"
    with _Probe(model, phase="train", call=call) as probe:
        loss_fn = _Loss(probe, 0.0, call)
        _run(
            learner.train_one_epoch,
            model,
            batches,
            loss_fn,
            cfg.optimizer(model),
            device,
            call=call,
        )
    for i, ((x, y), (x0, y0)) in enumerate(zip(batches, before, strict=True)):
        if not (torch.equal(x, x0) and torch.equal(y, y0)):
            raise fail(f"{call}; batch {i} was changed in place; leave the data as it was given")


# ----------------------------------------------------------------------------- evaluate tests


def _eval_setup(cfg: _Config, device: torch.device) -> tuple[nn.Module, Batches]:
    model = cfg.model(device)
    for p in model.parameters():  # stale gradients evaluate must not touch
        p.grad = torch.randn(
            p.shape, generator=cfg.seed.generator(cfg.offset + 3), dtype=p.dtype
        ).to(device)
    return model, cfg.batches(device)


def _check_result(out: Any, call: str) -> tuple[float, float]:
    if not isinstance(out, dict):
        raise fail(
            f"{call}; returned {describe(out)}; return a dict {{'loss': float, 'accuracy': float}}"
        )
    for key in ("loss", "accuracy"):
        if key not in out:
            raise fail(f"{call}; the returned dict has no key {key!r} (keys: {sorted(out)})")
    loss = assert_python_float(out["loss"], what="result['loss']", call=call)
    acc = assert_python_float(out["accuracy"], what="result['accuracy']", call=call)
    return loss, acc


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


def _evaluate(
    learner: Any, reference: Any, cfg: _Config, device: torch.device
) -> tuple[tuple[float, float], dict[str, float], nn.Module, nn.Module, Batches, str, Any]:
    model, batches = _eval_setup(cfg, device)
    expected = reference.evaluate(
        copy.deepcopy(model), _clone_batches(batches), nn.CrossEntropyLoss(), device
    )
    before = copy.deepcopy(model)
    for p, q in zip(before.parameters(), model.parameters(), strict=True):
        p.grad = q.grad.clone()
    model.train()  # arrives in train mode, as it would right after train_one_epoch()
    call = (
        f"called evaluate(model, loader, loss_fn, {device!r}) with a list of (x, y) CPU batches: "
        f"{cfg.shape()}; the model (Linear, BatchNorm1d, ReLU, Dropout, Linear) on {device}"
    )
    with _Probe(model, phase="eval", call=call) as probe:
        loss_fn = _Loss(None, 0.0, call)
        torch.manual_seed(cfg.run_seed)
        out = _run(learner.evaluate, model, _clone_batches(batches), loss_fn, device, call=call)
    if probe.problem is not None:
        raise fail(probe.problem)
    if probe.forwards == 0:
        raise fail(f"{call}; the model was never called")
    return _check_result(out, call), expected, model, before, batches, call, loss_fn


def test_evaluate_matches_a_correct_evaluation(learner, reference, device, seed):
    """evaluate returns the per-sample mean loss and the fraction of correct predictions."""
    for index in range(3):
        cfg = _Config(seed, 500 + 10 * index)
        (loss, acc), expected, _, before, batches, call, loss_fn = _evaluate(
            learner, reference, cfg, device
        )
        if loss_fn.calls == 0:
            raise fail(f"{call}; loss_fn was never called: compute each batch's loss with loss_fn")
        tol = _tol(device)
        record, hits = _eval_record(before, batches, device)
        if not abs(loss - expected["loss"]) <= tol["atol"] + tol["rtol"] * abs(expected["loss"]):
            _explain_mean(loss, record, expected["loss"], what="result['loss']", call=call)
            raise fail(
                f"{call}; result['loss'] is {loss:.6g}, expected {expected['loss']:.6g}: each "
                "batch's loss_fn(logits, y).item() weighted by its batch size, over all samples, "
                "with the model in eval mode"
            )
        want = expected["accuracy"]
        if abs(acc - want) <= 1e-6:  # float32 arithmetic is fine; a wrong count is >= 1/n off
            continue
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
        _, _, model, before, _, call, _ = _evaluate(learner, reference, cfg, device)
        for (name, p), q in zip(model.named_parameters(), before.parameters(), strict=True):
            if not torch.equal(p.detach(), q.detach()):
                raise fail(
                    f"{call}; afterwards the parameter {name} has changed; evaluate must "
                    "not update the model"
                )
            if p.grad is None or not torch.equal(p.grad, q.grad):
                now = "None" if p.grad is None else "different values"
                raise fail(
                    f"{call}; afterwards {name}.grad is {now}: evaluate must leave the gradients "
                    "alone (no backward(), no zero_grad())"
                )
        for (name, b), c in zip(model.named_buffers(), before.buffers(), strict=True):
            if not torch.equal(b, c):
                raise fail(
                    f"{call}; afterwards the BatchNorm buffer {name} has changed: a forward "
                    "pass ran in train mode; call model.eval() before the loop"
                )


def test_batches_reach_the_models_device(learner, reference, device, seed):
    """Both functions move each CPU batch to the device given (checked where cuda/mps exist)."""
    cfg = _Config(seed, 700)
    _train_twin(learner, reference, cfg, device, device_arg=device)
    _evaluate(learner, reference, cfg, device)
