"""Grader for 4.8: fine-tune from an ImageFolder tree, keep the best epoch.

Every folder tree is written by a scenario itself, inside a temporary folder of its own,
from PNG bytes the judge encoded (with PIL): grey 8x8 digits 5-9 of
the shipped data set, in class folders named ``five`` ... ``nine``, and a flat
Tiny-ImageNet-style validation folder (``images/`` plus an annotation file). Scenarios send
back data only: a listing of the tree (every path with the sha256 of its bytes), the
batches the loaders yield, the weights and history ``fine_tune`` returns. The judge
computes what each should be: where every image must land, ImageFolder's order and class
mapping, ``backbone_images`` of each image's pixels, the reference's shuffled order for a
seed, and, with its own training loop, the weights of every epoch.

``fine_tune`` is checked twice over: a twin run with the reference on the pretrained
backbone (digits 5-9, a new head, a frozen stem), and a designed run on a small linear
model whose validation batches change from epoch to epoch so that the validation
accuracies come out as low, high, the same high, low: the best epoch is the second, not
the last, and not the third (a tie goes to the earliest). A forward pre-hook and a wrapper
around the validation loader observe the train/eval mode, autograd, and whether the
validation phase changed the model; every test also compares weights or numbers with the
judge's.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pytorch_path.checks import (
    assert_close,
    assert_equal,
    assert_python_float,
    assert_state_dict_close,
    assert_tensor,
    describe,
    expect_raises,
    fail,
    loader_orders,
    name_the_mistake,
    states_close,
)
from pytorch_path.data import (
    BACKBONE_FILE,
    backbone_images,
    load_digits,
    make_backbone,
    make_classification,
    verify_file,
)
from pytorch_path.scenario import scenario

CLASSES = {"five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
SORTED = sorted(CLASSES)  # ImageFolder's class order: eight, five, nine, seven, six
DIR = "<dir>"
HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "val_acc")
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

# ----------------------------------------------------------------------------- organize_val_folder


def test_organize_moves_listed_images_into_class_folders(learner, seed):
    """Each listed image lands in val/<class>/; the count is returned; images/ goes once empty."""
    tree = _val_tree(seed, 10, padded=True)
    call = (
        f"called organize_val_folder({str(tree['val_dir'])!r}) (the default annotations file; "
        "some of its lines have spaces around the file name and the class)"
    )
    got = learner.run(organize, tree, calls=[{"as_str": True}])
    result = got["results"][0]
    advice = (
        "every field of a line is stripped of surrounding whitespace (field.strip()) before "
        "it names a file or a class"
    )
    _check_count(result, len(tree["listed"]), call, advice=advice)
    _check_listing(got["listings"][1], _expected_listing(tree), call)


def test_organize_leaves_placed_and_unlisted_images(learner, seed):
    """Images already in place are not counted; unlisted ones stay; a custom file name is used."""
    tree = _val_tree(seed, 20, annotations="labels.tsv", placed=2, unlisted=1)
    call = (
        "called organize_val_folder(val_dir, annotations='labels.tsv') with "
        f"{len(tree['placed'])} listed images already in their class folders and one image "
        "(not listed) left in images/"
    )
    got = learner.run(organize, tree, calls=[{"annotations": "labels.tsv"}])
    result = got["results"][0]
    _check_count(result, len(tree["listed"]) - len(tree["placed"]), call)
    _check_listing(got["listings"][1], _expected_listing(tree), call)


def test_organize_is_idempotent(learner, seed):
    """A second call moves nothing, returns 0 and leaves the tree exactly as the first left it."""
    tree = _val_tree(seed, 30)
    got = learner.run(organize, tree, calls=[{}, {}])
    first, second = got["results"]
    _check_count(first, len(tree["listed"]), "called organize_val_folder(val_dir)")
    call = "called organize_val_folder(val_dir) a second time on the folder the first call made"
    if "raised" in second:
        raise fail(
            f"{call}; it raised {second['raised']}: {second['message']}. An image already in "
            "its class folder is in place: skip it (the call must be idempotent)"
        )
    _check_count(second, 0, call)
    _check_listing(got["listings"][2], _expected_listing(tree), call)


def test_organize_checks_every_line_before_moving(learner, seed):
    """A missing file (FileNotFoundError) or a line without a tab (ValueError) moves nothing."""
    rng = seed.python_random(40)
    tree = _val_tree(seed, 41, missing=1)
    missing = tree["missing"][0]
    call = f"called organize_val_folder(val_dir) where {missing!r} is listed but exists nowhere"
    got = learner.run(organize, tree, calls=[{}])
    _check_refused(got, tree, "FileNotFoundError", missing, call)

    tree = _val_tree(seed, 42)
    lines = tree["annotation_text"].split("\n")
    where = rng.randrange(len(lines) // 2, len(lines))
    lines.insert(where, rng.choice(["val_extra.png", "val_extra.png\t"]))
    tree = _with_text(tree, "\n".join(lines))
    bad = f"line {where + 1}"
    call = (
        f"called organize_val_folder(val_dir) whose annotation file has a line without a class "
        f"({bad}: {lines[where]!r})"
    )
    got = learner.run(organize, tree, calls=[{}])
    _check_refused(got, tree, "ValueError", bad, call)


# ----------------------------------------------------------------------------- make_loaders


def test_class_to_idx_is_imagefolders(learner, seed):
    """class_to_idx maps the sorted class folder names to 0..4, and the labels follow it."""
    tree = _image_tree(seed, 50)
    got = learner.run(loaders, tree, kwargs={"batch_size": 7, "seed": 1})
    call = "called make_loaders(root, batch_size=7, seed=1)"
    want = {name: i for i, name in enumerate(SORTED)}
    mapping = got["class_to_idx"]
    if not isinstance(mapping, dict):
        raise fail(f"{call}; the mapping returned is {describe(mapping)}, expected a dict")
    if mapping != want:
        advice = ""
        if sorted(mapping.items()) == sorted({n: d - 5 for n, d in CLASSES.items()}.items()):
            advice = (
                "; you mapped each digit to digit - 5, but ImageFolder numbers the class "
                "folders in sorted order of their names: return train_set.class_to_idx"
            )
        raise fail(f"{call}; class_to_idx is {mapping}, expected {want}{advice}")
    labels = torch.cat([y for _, y in got["val"][0]]) if got["val"][0] else torch.zeros(0)
    want_labels = torch.tensor([want[name] for name, _ in _folder_order(tree, "val")])
    shuffled = (
        labels.shape == want_labels.shape
        and not torch.equal(labels, want_labels)
        and torch.equal(labels.sort().values, want_labels.sort().values)
    )
    if shuffled:
        raise fail(f"{call}; the val labels come in another order than ImageFolder's: {_VAL_RULE}")
    assert_close(labels, want_labels, what="the val loader's labels, in order", call=call)


def test_images_are_the_backbone_inputs(learner, seed):
    """Val batches: float32 (B, 3, 32, 32), equal to backbone_images(pixels / 255), in order."""
    tree = _image_tree(seed, 60)
    batch = seed.python_random(60).choice([4, 6, 7])
    call = f"called make_loaders(root, batch_size={batch}, seed=3)"
    got = learner.run(loaders, tree, kwargs={"batch_size": batch, "seed": 3})
    order = _folder_order(tree, "val")
    pixels = torch.stack([tree["pixels"][rel] for _, rel in order])
    want = backbone_images(pixels.float() / 255)
    for epoch in range(2):
        batches = got["val"][epoch]
        sizes = [x.shape[0] if isinstance(x, torch.Tensor) else -1 for x, _ in batches]
        want_sizes = _sizes(len(order), batch)
        if sizes != want_sizes:
            raise fail(
                f"{call}; iterating the val loader gave batches of sizes {sizes}, expected "
                f"{want_sizes}: DataLoader(val_set, batch_size=batch_size, shuffle=False)"
            )
        xs = [x for x, _ in batches]
        if all(isinstance(x, torch.Tensor) and x.shape[1:] == want.shape[1:] for x in xs):
            order = _positions(batches, want)
            if sorted(order) == list(range(len(want))) and order != sorted(order):
                raise fail(
                    f"{call}; pass {epoch + 1} over the val loader gave the images in the order "
                    f"{order[:10]}... (indices in ImageFolder's order): {_VAL_RULE}"
                )
        start = 0
        for i, (x, _) in enumerate(batches):
            expected = want[start : start + x.shape[0]]
            what = f"val batch {i} (pass {epoch + 1} over the loader)"
            assert_tensor(x, what=what, shape=tuple(expected.shape), dtype=torch.float32,
                          call=call)  # fmt: skip
            _compare_pixels(x, expected, pixels[start : start + x.shape[0]], what, call)
            start += x.shape[0]


def test_train_loader_shuffles_with_a_seeded_generator(learner, seed):
    """The train order is DataLoader(shuffle=True, generator seeded with `seed`): new each epoch."""
    tree = _image_tree(seed, 70)
    rng = seed.python_random(70)
    train_order = _folder_order(tree, "train")
    expected_inputs = _expected_inputs(tree, train_order)
    for s in rng.sample(range(1, 1000), 2):
        batch = rng.choice([4, 8, 16])
        kwargs = {"batch_size": batch, "seed": s}
        call = f"called make_loaders(root, batch_size={batch}, seed={s})"
        got = learner.run(loaders, tree, kwargs=kwargs, train_epochs=2, again=True)
        want = _shuffled(train_order, seed=s, epochs=2)
        _check_train_order(got, want, expected_inputs, len(train_order), call)


def test_defaults_batch_size_32_and_seed_0(learner, seed):
    """Without batch_size and seed: batches of 32 and the order seed 0 gives."""
    tree = _image_tree(seed, 80, train_per_class=7)
    train_order = _folder_order(tree, "train")
    call = "called make_loaders(root) (the default batch_size and seed)"
    got = learner.run(loaders, tree, kwargs={}, train_epochs=1)
    want = _shuffled(train_order, seed=0, epochs=1)
    sizes = [x.shape[0] for x, _ in got["train"][0]]
    if sizes != [32, len(train_order) - 32]:
        raise fail(
            f"{call}; the train batches have sizes {sizes} for {len(train_order)} images, "
            f"expected [32, {len(train_order) - 32}]: batch_size defaults to 32"
        )
    _check_train_order(got, want, _expected_inputs(tree, train_order), len(train_order), call)


def test_mismatched_class_folders_raise(learner, seed):
    """ValueError when val lacks a class of train's, or has one train lacks."""
    tree = _image_tree(seed, 90)
    gone = seed.python_random(90).choice(SORTED)
    lacking = {k: v for k, v in tree["files"].items() if not k.startswith(f"val/{gone}/")}
    expect_raises(
        learner.run, "ValueError", loaders, {**tree, "files": lacking}, kwargs={},
        what=f"called make_loaders(root) where val/ has no folder {gone!r} (train/ has one)",
    )  # fmt: skip
    extra = dict(tree["files"])
    extra["val/ten/ten_000.png"] = next(v for k, v in tree["files"].items() if k.startswith("val/"))
    expect_raises(
        learner.run, "ValueError", loaders, {**tree, "files": extra}, kwargs={},
        what="called make_loaders(root) where val/ has a class folder 'ten' that train/ lacks",
    )  # fmt: skip
    # Just inside: the same classes on both sides load (and batch_size=1 is allowed).
    got = learner.run(loaders, tree, kwargs={"batch_size": 1}, train_epochs=1)
    sizes = {x.shape[0] for x, _ in got["train"][0]}
    if sizes != {1} or len(got["train"][0]) != len(_folder_order(tree, "train")):
        raise fail(
            "called make_loaders(root, batch_size=1); expected one train batch per image, "
            f"each of one image, got {len(got['train'][0])} batches of sizes {sorted(sizes)}"
        )
    expect_raises(
        learner.run, "ValueError", loaders, tree, kwargs={"batch_size": 0},
        what="called make_loaders(root, batch_size=0)",
    )  # fmt: skip


# ----------------------------------------------------------------------------- fine_tune


def test_fine_tune_matches_a_twin_run_on_the_backbone(learner, reference, device, seed):
    """The pretrained backbone with a new head: history and best weights equal a correct run's."""
    spec = _backbone_spec(seed, 100)
    call = (
        f"called fine_tune(backbone, train_loader, val_loader, epochs={spec['epochs']}, "
        f"lr={spec['lr']}, device={str(device)!r}) on digits 5-9 (layer1 frozen)"
    )
    got = learner.run(backbone_run, spec, device=str(device))
    want = reference.run(backbone_run, spec, device=str(device))
    tol = _tol(device)
    _check_history(got["history"], want["history"], spec["epochs"], call, tol)
    _check_returned_state(got, call)
    assert_state_dict_close(got["best"], want["best"], what="the returned weights", call=call,
                            **tol)  # fmt: skip
    assert_state_dict_close(
        got["final"], want["best"], what="the model's weights after the call", call=call, **tol
    )
    if any(kind != device.type for kind in got["devices"]):
        raise fail(f"{call}; afterwards the model is on {got['devices']}, expected {device}")


def test_keeps_the_earliest_best_epoch(learner, device, seed):
    """Returns (and loads) the weights of the best val_acc epoch; a tie keeps the earliest."""
    spec = _designed_spec(seed, 110)
    got = learner.run(designed_run, spec, options=_options(spec, device))
    judge = _judge_fine_tune(spec)
    call = (
        f"called fine_tune(model, train_loader, val_loader, epochs={spec['epochs']}, "
        f"lr={spec['lr']}, device={str(device)!r}) where the val accuracies come out "
        f"{[round(r['val_acc'], 3) for r in judge['history']]}"
    )
    accs = [row["val_acc"] for row in judge["history"]]
    if not (accs[1] == accs[2] > max(accs[0], accs[3])):  # the grader's own design
        raise fail(f"grader error: the designed run gave val accuracies {accs}")
    tol = _tol(device)
    _check_history(got["history"], judge["history"], spec["epochs"], call, tol)
    _check_best(got, judge, call, tol)
    # The judge's own measurement of what came back: loaded into the judge's copy of the model.
    acc = _accuracy(spec, got["best"], epoch=1)
    if acc != max(accs):
        raise fail(
            f"{call}; the returned weights score {acc} on the val data, expected {max(accs)}"
        )


def test_validation_changes_nothing(learner, device, seed):
    """Val phase: model.eval(), grad disabled, no step; train phase: model.train(), grad on."""
    spec = _designed_spec(seed, 120, batchnorm=True)
    got = learner.run(designed_run, spec, options=_options(spec, device))
    judge = _judge_fine_tune(spec)
    call = (
        f"called fine_tune(model, train_loader, val_loader, epochs={spec['epochs']}, "
        f"lr={spec['lr']}, device={str(device)!r}) with a model that has BatchNorm and Dropout"
    )
    for epoch, changed in enumerate(got["val_changed"], start=1):
        if changed:
            stats = [k for k in changed if "running" in k or "num_batches" in k]
            why = (
                "the BatchNorm statistics moved: call model.eval() before the val loop"
                if stats
                else "parameters changed: the val phase must not call backward() or step()"
            )
            raise fail(f"{call}; in epoch {epoch} the val phase changed {changed[:4]}: {why}")
    n_train, n_val = len(spec["train"][0]), len(spec["val"][0])
    want = ([[True, True]] * n_train + [[False, False]] * n_val) * spec["epochs"]
    forwards = got["forwards"]
    if forwards != want:
        k = next((i for i, (a, b) in enumerate(zip(forwards, want, strict=False)) if a != b), None)
        if k is None:
            raise fail(
                f"{call}; the model ran {len(forwards)} forward passes, expected {len(want)}: "
                f"per epoch one per train batch ({n_train}), then one per val batch ({n_val})"
            )
        epoch, pos = divmod(k, n_train + n_val)
        phase = "train" if pos < n_train else "val"
        training, grad = forwards[k]
        raise fail(
            f"{call}; in epoch {epoch + 1} a {phase} batch ran with model.training={training} "
            f"and grad {'enabled' if grad else 'disabled'}; expected "
            + (
                "model.train() and torch.set_grad_enabled(True)"
                if phase == "train"
                else "model.eval() and torch.set_grad_enabled(False)"
            )
        )
    tol = _tol(device)
    _check_history(got["history"], judge["history"], spec["epochs"], call, tol)
    _check_best(got, judge, call, tol)


def test_fine_tune_defaults_and_epochs_boundary(learner, seed):
    """Defaults epochs=3, lr=1e-3, device='cpu'; epochs=1 runs one epoch; epochs=0 ValueError."""
    spec = _designed_spec(seed, 130, epochs=3, lr=1e-3, shifted=())
    call = "called fine_tune(model, train_loader, val_loader) (the default epochs, lr, device)"
    got = learner.run(designed_run, spec, options={})
    judge = _judge_fine_tune(spec)
    tol = _tol(torch.device("cpu"))
    _check_history(got["history"], judge["history"], 3, call, tol)
    _check_best(got, judge, call, tol)
    one = {**spec, "epochs": 1}
    call = "called fine_tune(model, train_loader, val_loader, epochs=1, lr=0.001)"
    got = learner.run(designed_run, one, options={"epochs": 1, "lr": 1e-3})
    _check_history(got["history"], _judge_fine_tune(one)["history"], 1, call, tol)
    expect_raises(
        learner.run, "ValueError", designed_run, spec, options={"epochs": 0},
        what="called fine_tune(model, train_loader, val_loader, epochs=0)",
    )  # fmt: skip


# ----------------------------------------------------------------------------- scenarios


@scenario
def organize(mod: Any, tree: dict[str, Any], *, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the val tree, call organize_val_folder for each entry of ``calls``; list the tree.

    Returns ``listings`` (before, and after each call) and, per call, its result or the
    exception it raised (type name, names of its classes, message).
    """
    with tempfile.TemporaryDirectory(prefix="pp-val-") as tmp:
        val_dir = Path(tmp) / tree["val_dir"]
        _write(val_dir, tree["files"])
        listings = [_listing(val_dir)]
        results: list[dict[str, Any]] = []
        for options in calls:
            kwargs = {k: v for k, v in options.items() if k != "as_str"}
            where: Any = str(val_dir) if options.get("as_str") else val_dir
            try:
                moved = mod.organize_val_folder(where, **kwargs)
            except NotImplementedError:
                raise
            except Exception as exc:
                mro = [k.__name__ for k in type(exc).__mro__]
                results.append({"raised": type(exc).__name__, "mro": mro, "message": str(exc)})
            else:
                results.append({"moved": moved, "described": describe(moved)})
            listings.append(_listing(val_dir))
        return {"listings": listings, "results": results}


@scenario
def loaders(
    mod: Any,
    tree: dict[str, Any],
    *,
    kwargs: dict[str, Any],
    train_epochs: int = 0,
    again: bool = False,
) -> dict[str, Any]:
    """Write the train/val tree, call make_loaders(root, **kwargs); the batches it yields.

    torch's global RNG is set to values that a correct solution never reads (and that
    differ between the two calls when ``again``).
    """
    with tempfile.TemporaryDirectory(prefix="pp-tree-") as tmp:
        root = Path(tmp) / "tiny"
        _write(root, tree["files"])
        torch.manual_seed(12345)
        train, val, mapping = mod.make_loaders(str(root), **kwargs)
        torch.manual_seed(999)
        answer: dict[str, Any] = {
            "class_to_idx": mapping,
            "train": [_batches(train) for _ in range(train_epochs)],
            "val": [_batches(val) for _ in range(2)],
        }
        if again:  # a second call under another global RNG state: the same orders
            torch.manual_seed(777)
            train2, _, _ = mod.make_loaders(root, **kwargs)
            torch.manual_seed(4242)
            answer["train_again"] = [_batches(train2) for _ in range(train_epochs)]
        return answer


@scenario
def backbone_run(mod: Any, spec: dict[str, Any], *, device: str) -> dict[str, Any]:
    """fine_tune on the pretrained backbone with a new 5-class head, layer1 frozen."""
    model = make_backbone()
    state = torch.load(verify_file(BACKBONE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    torch.manual_seed(spec["init_seed"])
    model.fc = nn.Linear(model.fc.in_features, 5)
    model.layer1.requires_grad_(False)
    x_train, y_train = backbone_images(spec["x_train"]), spec["y_train"]
    x_val, y_val = backbone_images(spec["x_val"]), spec["y_val"]
    train = DataLoader(
        TensorDataset(x_train, y_train),
        batch_size=spec["batch"],
        shuffle=True,
        generator=torch.Generator().manual_seed(spec["shuffle_seed"]),
    )
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=spec["batch"])
    best, history = mod.fine_tune(
        model, train, val, epochs=spec["epochs"], lr=spec["lr"], device=device
    )
    return _outcome(model, best, history)


@scenario
def designed_run(mod: Any, spec: dict[str, Any], *, options: dict[str, Any]) -> dict[str, Any]:
    """fine_tune on the spec's model; loaders that yield each epoch's own batches.

    The val loader records whether iterating it (the val phase) changed the model's state;
    a forward pre-hook records the mode and autograd state of every forward pass.
    """
    model = _designed_model(spec)
    forwards: list[list[bool]] = []

    def record(module: nn.Module, args: Any) -> None:
        forwards.append([module.training, torch.is_grad_enabled()])

    model.register_forward_pre_hook(record)
    train = _Feed(spec["train"])
    val = _Feed(spec["val"], watch=model)
    torch.manual_seed(spec["run_seed"])
    best, history = mod.fine_tune(model, train, val, **options)
    answer = _outcome(model, best, history)
    answer["forwards"] = forwards
    answer["val_changed"] = val.changed
    return answer


# ----------------------------------------------------------------------------- scenario helpers


class _Feed:
    """A re-iterable loader whose e-th pass yields the e-th list of batches (the last repeats).

    With ``watch``, it notes which entries of that model's state dict each pass changed.
    """

    def __init__(self, epochs: list[list[Any]], watch: nn.Module | None = None) -> None:
        self.epochs = epochs
        self.passes = 0
        self.watch = watch
        self.changed: list[list[str]] = []

    def __iter__(self) -> Iterator[Any]:
        batches = self.epochs[min(self.passes, len(self.epochs) - 1)]
        self.passes += 1
        before = self._state()
        yield from ((x.clone(), y.clone()) for x, y in batches)
        if self.watch is not None:
            after = self._state()
            self.changed.append([k for k in before if not torch.equal(before[k], after[k])])

    def _state(self) -> dict[str, torch.Tensor]:
        if self.watch is None:
            return {}
        return {k: v.detach().cpu().clone() for k, v in self.watch.state_dict().items()}


def _outcome(model: nn.Module, best: Any, history: Any) -> dict[str, Any]:
    """What fine_tune gave back, and the model as it was left."""
    own = {p.untyped_storage().data_ptr() for p in model.state_dict().values()}
    aliased = isinstance(best, dict) and any(
        isinstance(v, torch.Tensor) and v.untyped_storage().data_ptr() in own for v in best.values()
    )
    return {
        "best": best,
        "history": history,
        "aliased": aliased,
        "final": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "devices": sorted({p.device.type for p in model.parameters()}),
        "training": model.training,
    }


def _batches(loader: Any) -> list[tuple[Any, Any]]:
    """One pass over a loader: its (x, y) batches as given."""
    return [(x, y) for x, y in loader]


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _listing(root: Path) -> dict[str, str]:
    """Every path under ``root``: folders as DIR, files as the sha256 of their bytes."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = DIR if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _designed_model(spec: dict[str, Any]) -> nn.Module:
    if spec["batchnorm"]:
        model: nn.Module = nn.Sequential(
            nn.Linear(spec["d"], 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(12, 5),
        )  # fmt: skip
    else:
        model = nn.Sequential(nn.Linear(spec["d"], 5))
    model.load_state_dict(spec["state0"])
    return model


# ----------------------------------------------------------------------------- judge helpers


_VAL_RULE = (
    "the val loader keeps ImageFolder's order on every pass, "
    "DataLoader(val_set, batch_size=batch_size, shuffle=False)"
)
_ALIAS_ADVICE = (
    "model.state_dict() holds references to the live tensors, which later epochs keep "
    "changing; keep copy.deepcopy(model.state_dict()) (on a CPU model, .cpu() does not copy)"
)


def _options(spec: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {"epochs": spec["epochs"], "lr": spec["lr"], "device": str(device)}


def _check_best(got: dict[str, Any], judge: dict[str, Any], call: str, tol: dict[str, float]):
    """The returned weights, and the model's afterwards, are the judge's best epoch's."""
    _check_returned_state(got, call)
    states = judge["states"]
    accs = [row["val_acc"] for row in judge["history"]]
    best, last = accs.index(max(accs)), len(accs) - 1
    if not states_close(got["best"], states[best], **tol):
        mistakes = [
            (
                states[e],
                f"they are epoch {e + 1}'s, which only ties epoch {best + 1}'s val_acc; on a "
                "tie the earliest epoch wins: replace the best only when val_acc is strictly "
                "higher (>, not >=)",
            )
            for e in range(best + 1, len(accs))
            if accs[e] == accs[best]
        ]
        mistakes.append(
            (
                states[last],
                f"they are the last epoch's (epoch {last + 1}); keep a copy of the weights when "
                "an epoch beats the best val_acc so far, and return that copy",
            )
        )
        mistakes.append((judge["initial"], "they are the weights from before training"))
        advice = name_the_mistake(got["best"], mistakes, lambda a, b: states_close(a, b, **tol))
        raise fail(
            f"{call}; the returned weights are not epoch {best + 1}'s, the first with the "
            f"highest val_acc ({accs[best]:.4g}): "
            f"{advice or 'keep a copy whenever val_acc beats the best so far'}"
        )
    if not states_close(got["final"], states[best], **tol):
        advice = ""
        if states_close(got["final"], states[last], **tol):
            advice = (
                ": it still holds the last epoch's weights; load the best ones with "
                "model.load_state_dict(best_state) before returning"
            )
        raise fail(f"{call}; afterwards the model does not hold the best epoch's weights{advice}")
    if got["training"]:
        raise fail(f"{call}; afterwards the model is in training mode; leave it in eval mode")


def _tol(device: torch.device) -> dict[str, float]:
    if device.type == "cpu":
        return {"rtol": 1e-4, "atol": 1e-5}
    return {"rtol": 2e-3, "atol": 2e-4}


def _digit_pixels(seed: Any, offset: int, per_class: int) -> dict[str, list[torch.Tensor]]:
    """``per_class`` distinct digits of each class as uint8 (1, 8, 8) tensors (0..255)."""
    images, labels = load_digits()
    gen = seed.generator(offset)
    out: dict[str, list[torch.Tensor]] = {}
    for name, digit in CLASSES.items():
        idx = (labels == digit).nonzero().flatten()
        pick = idx[torch.randperm(len(idx), generator=gen)[:per_class]]
        out[name] = [(images[i] * 255).round().to(torch.uint8) for i in pick.tolist()]
    return out


def _png(pixels: torch.Tensor) -> bytes:
    """A grey PNG of a (1, H, W) uint8 tensor, encoded with PIL (torchvision.io's codecs are
    deprecated since torchvision 0.29)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels[0].numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def _names(rng: Any, count: int, prefix: str) -> list[str]:
    """Distinct file names whose string order differs from their numeric order."""
    return [f"{prefix}_{n}.png" for n in rng.sample(range(1, 120), count)]


def _val_tree(
    seed: Any,
    offset: int,
    *,
    annotations: str = "val_annotations.txt",
    placed: int = 0,
    unlisted: int = 0,
    missing: int = 0,
    per_class: int = 3,
    padded: bool = False,
) -> dict[str, Any]:
    """A flat Tiny-ImageNet-style val folder: images/, an annotation file, maybe extras.

    With ``padded``, the first listed line and about half of the others put spaces around
    the file name and the class (fields are stripped).
    """
    rng = seed.python_random(offset)
    pixels = _digit_pixels(seed, offset, per_class + 1)
    entries = [
        (name, cls_pixels[i]) for name, cls_pixels in pixels.items() for i in range(per_class)
    ]
    rng.shuffle(entries)
    names = _names(rng, len(entries) + unlisted + missing, "val")
    listed = [(names[i], label, _png(px)) for i, (label, px) in enumerate(entries)]
    files: dict[str, bytes] = {}
    lines: list[str] = []
    placed_names = {name for name, _, _ in rng.sample(listed, placed)}
    for name, label, data in listed:
        if name in placed_names:
            files[f"{label}/{name}"] = data
        else:
            files[f"images/{name}"] = data
        extra = rng.choice(["", "", f"\t{rng.randrange(4)}\t0\t8\t8"])
        if padded and (name == listed[0][0] or rng.random() < 0.5):
            lines.append(f" {name}  \t {label} {extra}")
        else:
            lines.append(f"{name}\t{label}{extra}")
        if rng.random() < 0.2:
            lines.append(rng.choice(["", "   "]))
    unlisted_names = names[len(listed) : len(listed) + unlisted]
    for name in unlisted_names:
        files[f"images/{name}"] = _png(pixels[SORTED[0]][per_class])
    missing_names = names[len(listed) + unlisted :]
    for name in missing_names:
        lines.insert(rng.randrange(len(lines) + 1), f"{name}\t{rng.choice(SORTED)}")
    text = "\n".join(lines) + "\n"
    files[annotations] = text.encode()
    return {
        "val_dir": "val",
        "files": files,
        "listed": [(name, label, hashlib.sha256(data).hexdigest()) for name, label, data in listed],
        "placed": sorted(placed_names),
        "unlisted": unlisted_names,
        "missing": missing_names,
        "annotations": annotations,
        "annotation_text": text,
    }


def _with_text(tree: dict[str, Any], text: str) -> dict[str, Any]:
    """The tree with another annotation file."""
    files = {**tree["files"], tree["annotations"]: text.encode()}
    return {**tree, "files": files, "annotation_text": text}


def _expected_listing(tree: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {tree["annotations"]: _sha(tree["annotation_text"].encode())}
    for name, label, digest in tree["listed"]:
        out[label] = DIR
        out[f"{label}/{name}"] = digest
    for name in tree["unlisted"]:
        out["images"] = DIR
        out[f"images/{name}"] = _sha(tree["files"][f"images/{name}"])
    return dict(sorted(out.items()))


def _initial_listing(tree: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for rel, data in tree["files"].items():
        parts = rel.split("/")
        for i in range(1, len(parts)):
            out["/".join(parts[:i])] = DIR
        out[rel] = _sha(data)
    return dict(sorted(out.items()))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_count(result: dict[str, Any], want: int, call: str, *, advice: str = "") -> None:
    if "raised" in result:
        tail = f"; {advice}" if advice else ""
        raise fail(f"{call}; it raised {result['raised']}: {result['message']}{tail}")
    assert_equal(result["moved"], want, what="the number of files moved (the return value)",
                 call=call)  # fmt: skip


def _check_listing(got: dict[str, str], want: dict[str, str], call: str) -> None:
    if got == want:
        return
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    changed = [k for k in want if k in got and got[k] != want[k]]
    parts = []
    if missing:
        parts.append(f"missing {missing[:5]}")
    if extra:
        parts.append(f"unexpected {extra[:5]}")
    if changed:
        parts.append(f"files with other bytes {changed[:5]}")
    advice = ""
    if "images" in extra and not any(k.startswith("images/") for k in got):
        advice = "; once images/ is empty, remove it (ImageFolder would take it for a class)"
    elif any(k.startswith("images/") for k in extra):
        advice = "; move every listed image from images/<name> to <class>/<name>"
    elif "images" in missing:
        advice = "; an image that is not listed stays in images/ (so images/ stays too)"
    raise fail(
        f"{call}; afterwards the folder holds {len(got)} paths, expected {len(want)}: "
        f"{'; '.join(parts)}{advice}"
    )


def _check_refused(
    got: dict[str, Any], tree: dict[str, Any], exc: str, needle: str, call: str
) -> None:
    result = got["results"][0]
    if "raised" not in result:
        raise fail(f"{call}; it returned {result['described']}, expected {exc}")
    if exc not in result["mro"]:
        raise fail(f"{call}; it raised {result['raised']}: {result['message']}; expected {exc}")
    if needle not in result["message"]:
        raise fail(f"{call}; the {exc} says {result['message']!r}, which does not name {needle!r}")
    before = _initial_listing(tree)
    if got["listings"][0] != before:
        raise fail("grader error: the val tree was not written as planned")
    if got["listings"][1] != before:
        raise fail(
            f"{call}; it raised {exc}, but only after moving files: check every line (and "
            "that every listed file exists) before moving anything"
        )


def _image_tree(
    seed: Any, offset: int, *, train_per_class: int = 6, val_per_class: int = 3
) -> dict[str, Any]:
    """root/train/<class>/*.png and root/val/<class>/*.png, with each file's pixels."""
    rng = seed.python_random(offset)
    pixels = _digit_pixels(seed, offset, train_per_class + val_per_class)
    files: dict[str, bytes] = {}
    by_path: dict[str, torch.Tensor] = {}
    for label, images in pixels.items():
        names = _names(rng, len(images), label)
        for i, (name, px) in enumerate(zip(names, images, strict=True)):
            split = "train" if i < train_per_class else "val"
            rel = f"{split}/{label}/{name}"
            files[rel] = _png(px)
            by_path[rel] = px
    return {"files": files, "pixels": by_path}


def _folder_order(tree: dict[str, Any], split: str) -> list[tuple[str, str]]:
    """ImageFolder's order of a split: (class, path) sorted by class name, then file name."""
    order = []
    for rel in tree["files"]:
        parts = rel.split("/")
        if parts[0] == split:
            order.append((parts[1], parts[2], rel))
    return [(label, rel) for label, _, rel in sorted(order)]


def _expected_inputs(tree: dict[str, Any], order: list[tuple[str, str]]) -> torch.Tensor:
    pixels = torch.stack([tree["pixels"][rel] for _, rel in order])
    return backbone_images(pixels.float() / 255)


def _sizes(n: int, batch: int) -> list[int]:
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


def _pixel_variants(pixels: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """What known-wrong pipelines make of these uint8 pixels, with the advice naming each."""
    from torchvision.transforms.v2 import functional as TF

    x = pixels.float() / 255
    big = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in IMAGENET)
    grey = TF.rgb_to_grayscale(pixels.repeat(1, 3, 1, 1), num_output_channels=1)
    return [
        (
            backbone_images(grey.float() / 255),
            "your images are one grey level too dark: v2.Grayscale on a uint8 tensor rounds "
            "0.2989 r + 0.587 g + 0.114 b down; apply it to the PIL image, before v2.ToImage()",
        ),
        (
            (big - mean) / std,
            "your images are normalised with ImageNet's mean and std; the backbone was "
            "trained with BACKBONE_MEAN and BACKBONE_STD (0.3 and 0.32 per channel)",
        ),
        (big, "your images are not normalised: end with v2.Normalize(BACKBONE_MEAN, BACKBONE_STD)"),
        (
            backbone_images(x * 255),
            "your pixels are 0..255, not [0, 1]: v2.ToDtype(torch.float32, scale=True)",
        ),
        (
            backbone_images(F.interpolate(x, size=(32, 32), mode="nearest")),
            "your images are resized with nearest-neighbour interpolation; use bilinear "
            "(v2.InterpolationMode.BILINEAR), as backbone_images does",
        ),
    ]


def _compare_pixels(
    x: torch.Tensor, expected: torch.Tensor, pixels: torch.Tensor, what: str, call: str
) -> None:
    if states_close({"x": x}, {"x": expected}, rtol=0.0, atol=1e-5):
        return
    mistakes = [(v[: x.shape[0]], advice) for v, advice in _pixel_variants(pixels)]
    advice = name_the_mistake(
        x, mistakes, lambda a, b: states_close({"x": a}, {"x": b}, rtol=0.0, atol=1e-4)
    )
    try:
        assert_close(x, expected, what=what, rtol=0.0, atol=1e-5, call=call)
    except AssertionError as exc:
        tail = advice or (
            "expected backbone_images(pixels / 255): bilinear to 32x32, the grey channel "
            "repeated 3 times, normalised with BACKBONE_MEAN and BACKBONE_STD; images in "
            "ImageFolder's order"
        )
        raise fail(f"{exc}; {tail}") from None


def _positions(batches: list[tuple[Any, Any]], expected: torch.Tensor) -> list[int]:
    """The index in ImageFolder's order of each image the batches hold (-1 if none matches)."""
    if not batches:
        return []
    x = torch.cat([b[0] for b in batches]).reshape(-1, expected[0].numel()).double()
    ref = expected.reshape(len(expected), -1).double()
    dist = torch.cdist(x, ref)
    best = dist.min(dim=1)
    return [int(i) if d < 1e-3 else -1 for d, i in zip(best.values, best.indices, strict=True)]


def _shuffled(order: list[tuple[str, str]], *, seed: int, epochs: int) -> dict[str, Any]:
    """What the contract's train loader yields, epoch by epoch, as indices and labels.

    The order of ``DataLoader(shuffle=True, generator=torch.Generator().manual_seed(seed))``
    over ImageFolder's order (:func:`pytorch_path.checks.loader_orders`: no image is
    decoded); the labels are the class indices of those images.
    """
    labels = torch.tensor([SORTED.index(label) for label, _ in order])
    orders = loader_orders(len(order), seed, epochs)
    return {"orders": orders, "labels": [labels[o] for o in orders]}


def _check_train_order(
    got: dict[str, Any], want: dict[str, Any], expected: torch.Tensor, n: int, call: str
) -> None:
    """The learner's train batches hold the images in the order :func:`_shuffled` gives."""
    rule = (
        "DataLoader(train_set, batch_size=batch_size, shuffle=True, "
        "generator=torch.Generator().manual_seed(seed))"
    )
    pairs = zip(got["train"], want["orders"], want["labels"], strict=True)
    for epoch, (mine, ref_order, ref_labels) in enumerate(pairs):
        where = f"{call}; pass {epoch + 1} over the train loader"
        for i, (x, _) in enumerate(mine):
            assert_tensor(x, what=f"train batch {i}", dtype=torch.float32, call=where)
            if tuple(x.shape[1:]) != tuple(expected.shape[1:]):
                raise fail(
                    f"{where}: train batch {i} has shape {tuple(x.shape)}, expected "
                    f"(B, {', '.join(map(str, expected.shape[1:]))})"
                )
        order = _positions(mine, expected)
        if sorted(order) != list(range(n)):
            raise fail(
                f"{where} did not yield every train image exactly once, as the transform of "
                "the val set makes it; use the same transform for both sets"
            )
        again = got.get("train_again")
        if again and _positions(again[epoch], expected) != order:
            raise fail(
                f"{where}: two calls with the same seed gave different orders; the order must "
                f"come from a generator seeded with `seed`, not from torch's global RNG: {rule}"
            )
        if order == list(range(n)):
            raise fail(f"{where} came in ImageFolder's order: shuffle it, {rule}")
        if order != ref_order:
            raise fail(
                f"{where} gave the images in the order {order[:10]}..., expected "
                f"{ref_order[:10]}... (indices in ImageFolder's order): {rule}"
            )
        labels = torch.cat([y for _, y in mine])
        assert_close(labels, ref_labels, what=f"the labels of pass {epoch + 1}", call=call)


def _backbone_spec(seed: Any, offset: int) -> dict[str, Any]:
    """Digits 5-9 (labels 0-4) for a short fine-tuning of the backbone."""
    rng = seed.python_random(offset)
    images, labels = load_digits()
    keep = (labels >= 5).nonzero().flatten()
    pick = keep[torch.randperm(len(keep), generator=seed.generator(offset))[:40]]
    x, y = images[pick], labels[pick] - 5
    return {
        "x_train": x[:28],
        "y_train": y[:28],
        "x_val": x[28:],
        "y_val": y[28:],
        "batch": rng.choice([8, 10]),
        "epochs": 2,
        "lr": rng.choice([1e-3, 2e-3]),
        "init_seed": rng.randrange(10**6),
        "shuffle_seed": rng.randrange(10**6),
    }


def _designed_spec(
    seed: Any,
    offset: int,
    *,
    batchnorm: bool = False,
    epochs: int = 4,
    lr: float = 0.01,
    shifted: tuple[int, ...] = (0, 3),
) -> dict[str, Any]:
    """Well-separated clusters; a nearest-mean linear model; val labels shifted in some epochs.

    A shifted epoch's val labels are ``(y + 1) % 5``: an accurate model scores about 0 on
    them, so the val accuracies come out low, high, the same high, low.
    """
    rng = seed.python_random(offset)
    d, n, n_val, batch = 6, 40, 30, 16
    X, y = make_classification(n + n_val, d, 5, separation=8.0, seed=seed.generator(offset))
    X, y = X.float(), y
    Xt, yt, Xv, yv = X[:n], y[:n], X[n:], y[n:]
    if batchnorm:
        model: nn.Module = nn.Sequential(
            nn.Linear(d, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.25), nn.Linear(12, 5)
        )
        state0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
        state0["1.running_mean"] = 0.1 * torch.randn(12, generator=seed.generator(offset + 1))
    else:
        mu = torch.stack([Xt[yt == c].mean(0) for c in range(5)])
        state0 = {"0.weight": mu.clone(), "0.bias": -(mu**2).sum(1) / 2}
    train = [(Xt[i : i + batch], yt[i : i + batch]) for i in range(0, n, batch)]

    def val(shift: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [
            (Xv[i : i + batch], (yv[i : i + batch] + shift) % 5) for i in range(0, n_val, batch)
        ]

    return {
        "d": d,
        "batchnorm": batchnorm,
        "state0": state0,
        "train": [train],
        "val": [val(1 if e in shifted else 0) for e in range(epochs)],
        "epochs": epochs,
        "lr": lr,
        "run_seed": rng.randrange(10**6),
    }


def _judge_fine_tune(spec: dict[str, Any]) -> dict[str, Any]:
    """The judge's own run of the documented loop: history and every epoch's weights."""
    model = _designed_model(spec)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.manual_seed(spec["run_seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    history, states = [], []
    for epoch in range(spec["epochs"]):
        sums = {}
        for phase, feed in (("train", spec["train"]), ("val", spec["val"])):
            batches = feed[min(epoch, len(feed) - 1)]
            model.train(phase == "train")
            total, correct, seen = 0.0, 0, 0
            for x, y in batches:
                with torch.set_grad_enabled(phase == "train"):
                    logits = model(x)
                    loss = F.cross_entropy(logits, y)
                    if phase == "train":
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                total += loss.item() * len(x)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(x)
            sums[phase] = (total / seen, correct / seen)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": sums["train"][0],
                "val_loss": sums["val"][0],
                "val_acc": sums["val"][1],
            }
        )
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return {"history": history, "states": states, "initial": initial}


def _accuracy(spec: dict[str, Any], state: dict[str, torch.Tensor], *, epoch: int) -> float:
    """The judge's val accuracy of ``state`` on epoch ``epoch``'s val batches (0-based)."""
    model = _designed_model(spec)
    model.load_state_dict({k: v.to("cpu") for k, v in state.items()})
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for x, y in spec["val"][epoch]:
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(x)
    return correct / seen


def _check_returned_state(got: dict[str, Any], call: str) -> None:
    best = got["best"]
    if not isinstance(best, dict):
        raise fail(f"{call}; the first value returned is {describe(best)}, expected a state dict")
    for key, value in best.items():
        if not isinstance(value, torch.Tensor):
            raise fail(f"{call}; best_state[{key!r}] is {describe(value)}, expected a tensor")
        if value.device.type != "cpu":
            raise fail(
                f"{call}; best_state[{key!r}] is on {value.device}; return CPU copies "
                "({k: v.cpu() for k, v in copy.deepcopy(model.state_dict()).items()})"
            )
    if got["aliased"]:
        raise fail(f"{call}; the returned weights share memory with the model: {_ALIAS_ADVICE}")


def _check_history(
    history: Any, want: list[dict[str, Any]], epochs: int, call: str, tol: dict[str, float]
) -> None:
    if not isinstance(history, list) or len(history) != epochs:
        raise fail(f"{call}; history is {describe(history)}, expected a list of {epochs} dicts")
    for i, (row, ref) in enumerate(zip(history, want, strict=True)):
        if not isinstance(row, dict) or set(row) != set(HISTORY_KEYS):
            keys = sorted(map(str, row)) if isinstance(row, dict) else describe(row)
            raise fail(f"{call}; history[{i}] has keys {keys}, expected {list(HISTORY_KEYS)}")
        assert_equal(row["epoch"], i + 1, what=f"history[{i}]['epoch']", call=call)
        for key in HISTORY_KEYS[1:]:
            assert_python_float(row[key], what=f"history[{i}][{key!r}]", call=call)
        acc, ref_acc = row["val_acc"], ref["val_acc"]
        if abs(acc - ref_acc) > 1e-6:
            extra = " (a percentage? return a fraction)" if abs(acc - 100 * ref_acc) < 1e-4 else ""
            raise fail(
                f"{call}; history[{i}]['val_acc'] is {acc:.6g}, expected {ref_acc:.6g}{extra}"
            )
        for key, advice in (
            ("train_loss", "the mean per sample of each batch's loss before its update"),
            ("val_loss", "the mean per sample over the val batches, in eval mode, no grad"),
        ):
            if not abs(row[key] - ref[key]) <= tol["atol"] + tol["rtol"] * abs(ref[key]):
                raise fail(
                    f"{call}; history[{i}][{key!r}] is {row[key]:.6g}, expected "
                    f"{ref[key]:.6g}: {advice}"
                )
