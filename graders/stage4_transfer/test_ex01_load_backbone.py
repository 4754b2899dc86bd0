"""Grader for 4.1: load a pretrained backbone, offline and safely.

``load_backbone`` is run on the shipped ``data/backbone.pt`` (by default, and by ``str`` and
``Path``), on a data folder of the grader's own (``$PYTORCH_PATH_DATA``), on checkpoints the
judge makes itself and sends as bytes (another backbone, a copy with one byte flipped, a
renamed or extra key, a file saved on a "GPU"), and on files whose pickle would run code.
Every loaded model is run on the judge's random inputs, and its outputs are compared with
the reference's; every digest a message must name is computed by the judge.

``load_torchvision_resnet18`` gets hub folders made inside the scenario: empty, holding a
checkpoint that pickles code, holding one saved on a "GPU" whose keys are wrong, and
holding a resnet18 checkpoint with random weights drawn from a seeded generator (45 MB,
built once per call). All downloads are refused while the learner's code runs
(``torch.hub.load_state_dict_from_url``, ``download_url_to_file``, ``urlopen`` and
torchvision's references to them), and every attempt fails the test.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import os
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from pytorch_path import data
from pytorch_path.checks import assert_close, describe, fail
from pytorch_path.scenario import LearnerError, scenario

RESNET18_FILE = "resnet18-f37072fd.pth"
_NO_DOWNLOAD = "no download is allowed"


# ----------------------------------------------------------------------------- load_backbone


@pytest.mark.points(2)
def test_loads_the_shipped_backbone(learner, reference, seed):
    """load_backbone() gives the pretrained backbone in eval mode (default path, str, Path)."""
    x = _inputs(seed, 0)
    want = reference.run(shipped, x, "default")
    for how in ("default", "str", "path"):
        call = {
            "default": "called load_backbone()",
            "str": "called load_backbone(str(path_to_backbone_pt))",
            "path": "called load_backbone(Path(path_to_backbone_pt))",
        }[how]
        got = _run(learner, shipped, x, how, call=call)
        _check_model(got, want, call)


def test_default_follows_the_data_folder(learner, reference, seed):
    """The default path and digest come from pytorch_path.data when called ($PYTORCH_PATH_DATA)."""
    x = _inputs(seed, 1)
    blob = _backbone_bytes(seed.value % 10_000 + 1)
    want = reference.run(from_data_dir, x, blob)
    call = (
        "called load_backbone() with $PYTORCH_PATH_DATA pointing at another data folder (its "
        "own backbone.pt, listed in its own checksums.json)"
    )
    hints = {
        "ValueError": (
            "resolve the default when the function is called: path = data.data_dir() / "
            "data.BACKBONE_FILE and the digest data.expected_sha256(data.BACKBONE_FILE); "
            "data.DATA_DIR, a path relative to the working directory or a digest copied into "
            "your file all stay on the shipped backbone"
        )
    }
    got = _run(learner, from_data_dir, x, blob, call=call, hints=hints)
    shipped_out = reference.run(shipped, x, "default")["out"]
    out = got.get("out")
    same_shape = isinstance(out, torch.Tensor) and out.shape == shipped_out.shape
    if same_shape and torch.allclose(out, shipped_out, rtol=1e-5, atol=1e-6):
        raise fail(f"{call}; it loaded the shipped backbone instead: {hints['ValueError']}")
    _check_model(got, want, call)


def test_missing_file_raises_file_not_found(learner):
    """A path that does not exist raises FileNotFoundError naming it (with or without a digest)."""
    for digest in (None, "0" * 64):
        name = "no_such_backbone.pt"
        call = f"called load_backbone(path, expected_sha256={_short(digest)}) for a missing {name}"
        err = _expect_error(learner, missing, name, digest, types=("FileNotFoundError",), call=call)
        if name not in err.message:
            raise fail(f"{call}; the FileNotFoundError says {err.message!r}: name the file in it")


@pytest.mark.points(2)
def test_tampered_copy_is_refused(learner, seed):
    """A copy with one byte flipped raises ValueError naming the file and both digests."""
    shipped_bytes = (data.data_dir() / data.BACKBONE_FILE).read_bytes()
    rng = seed.python_random()
    expected = data.expected_sha256(data.BACKBONE_FILE)
    for index in range(2):
        # Anywhere in the tensors' data: torch.load reads such a file without complaint.
        offset = rng.randrange(len(shipped_bytes) // 4, 3 * len(shipped_bytes) // 4)
        blob = bytearray(shipped_bytes)
        blob[offset] ^= 0xFF
        actual = hashlib.sha256(blob).hexdigest()
        name = f"backbone_copy{index}.pt"
        call = f"called load_backbone(path) on a copy of backbone.pt with byte {offset} flipped"
        err = _expect_error(
            learner, load_bytes, name, bytes(blob), None, types=("ValueError",), call=call
        )
        _check_digest_message(err, name, expected, actual, call)


def test_other_checkpoint_needs_its_digest(learner, reference, seed):
    """Another backbone loads only with its own expected_sha256 (either case); else ValueError."""
    x = _inputs(seed, 2)
    blob = _backbone_bytes(seed.value % 10_000 + 2)
    digest = hashlib.sha256(blob).hexdigest()
    shipped_digest = data.expected_sha256(data.BACKBONE_FILE)
    name = "finetuned.pt"
    call = f"called load_backbone(path) on {name}, a backbone with other weights"
    err = _expect_error(learner, load_bytes, name, blob, None, types=("ValueError",), call=call)
    _check_digest_message(err, name, shipped_digest, digest, call)

    want = reference.run(load_bytes, name, blob, digest, x=x)
    for given in (digest, digest.upper()):
        call = f"called load_backbone(path, expected_sha256={_short(given)}) on {name}"
        got = _run(learner, load_bytes, name, blob, given, x=x, call=call)
        _check_model(got, want, call)

    wrong = hashlib.sha256(b"not the backbone").hexdigest()
    call = (
        f"called load_backbone(path, expected_sha256={_short(wrong)}) on a byte-exact copy of "
        "the shipped backbone.pt"
    )
    shipped_bytes = (data.data_dir() / data.BACKBONE_FILE).read_bytes()
    err = _expect_error(
        learner, load_bytes, "backbone.pt", shipped_bytes, wrong, types=("ValueError",), call=call
    )
    _check_digest_message(err, "backbone.pt", wrong, shipped_digest, call)


def test_refuses_a_checkpoint_that_runs_code(learner, reference, seed):
    """A pickle that runs code is refused unexecuted: verified first, weights_only=True after."""
    x = _inputs(seed, 3)
    want = reference.run(shipped, x, "default")
    got = _run(learner, pickled_code, x, call="called load_backbone(path, ...)")
    for case, what in (
        ("matching", "load_backbone(path, expected_sha256=<the file's own sha256>)"),
        ("default", "load_backbone(path) (the default digest: the shipped backbone's)"),
    ):
        seen = got[case]
        call = f"called {what} on a file whose pickle would run code"
        if seen["ran"]:
            raise fail(
                f"{call}; the code in the file ran. torch.load(..., weights_only=False) unpickles "
                "arbitrary objects, and unpickling can execute anything: load with "
                "weights_only=True, and only after the digest matched"
            )
        if seen["raised"] is None:
            raise fail(f"{call}; it returned normally; expected torch.load to refuse the file")
        if case == "default" and seen["raised"] != "ValueError":
            raise fail(
                f"{call}; raised {seen['raised']}, expected ValueError from the checksum: compare "
                "the sha256 before torch.load, so an unverified file never reaches the unpickler"
            )
    # Refusing is not enough: the shipped backbone still loads, with the right outputs.
    _check_model(got["after"], want, "then called load_backbone()")


def test_strict_keys(learner):
    """A checkpoint with a renamed, a missing or an extra key raises (strict=True), naming it."""
    state = _shipped_state()
    renamed = dict(state)
    renamed["head.weight"] = renamed.pop("fc.weight")
    dropped = {k: v for k, v in state.items() if k != "layer2.0.bn1.running_var"}
    extra = {**state, "projector.weight": torch.zeros(3, 3)}
    cases = (
        (renamed, "fc.weight renamed to head.weight", ("fc.weight", "head.weight")),
        (dropped, "layer2.0.bn1.running_var removed", ("layer2.0.bn1.running_var",)),
        (extra, "an extra key projector.weight", ("projector.weight",)),
    )
    for index, (sd, change, keys) in enumerate(cases):
        blob = _to_bytes(sd)
        digest = hashlib.sha256(blob).hexdigest()
        call = (
            f"called load_backbone(path, expected_sha256=<its sha256>) on a checkpoint with "
            f"{change}"
        )
        hints = {
            "returned": (
                "load with model.load_state_dict(state, strict=True): with strict=False a "
                "missing or unexpected key is ignored and you train on a half-loaded model"
            )
        }
        err = _expect_error(
            learner, load_bytes, f"keys{index}.pt", blob, digest,
            types=("RuntimeError",), call=call, hints=hints,
        )  # fmt: skip
        missing = [k for k in keys if k not in err.message]
        if missing:
            raise fail(
                f"{call}; raised RuntimeError: {_first(err.message)}, which does not name "
                f"{missing}: let load_state_dict's own error propagate"
            )


def test_gpu_checkpoint_loads_on_cpu(learner, reference, seed):
    """A checkpoint written on a GPU loads on the CPU (map_location='cpu')."""
    x = _inputs(seed, 4)
    missing_gpu = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda:0"
    blob = _to_bytes(_shipped_state(), location=missing_gpu)
    digest = hashlib.sha256(blob).hexdigest()
    call = (
        f"called load_backbone(path, expected_sha256=<its sha256>) on a checkpoint saved on a "
        f"GPU ({missing_gpu}) on a machine without that GPU"
    )
    advice = "pass map_location='cpu' to torch.load so a checkpoint written on a GPU loads anywhere"
    hints = {"deserialize object on": advice, "CUDA": advice}
    want = reference.run(load_bytes, "gpu.pt", blob, digest, x=x)
    got = _run(learner, load_bytes, "gpu.pt", blob, digest, x=x, call=call, hints=hints)
    _check_model(got, want, call)


# ----------------------------------------------------------------------------- resnet18


def test_resnet18_absent_raises_file_not_found(learner):
    """Without the cached file: FileNotFoundError naming it and hub_dir/checkpoints; no download."""
    got = _run(learner, hub_absent, call="called load_torchvision_resnet18(hub_dir)")
    for case, call in (
        ("empty", "called load_torchvision_resnet18(hub_dir) with an empty hub_dir"),
        ("empty_checkpoints", "called load_torchvision_resnet18(hub_dir) with an empty "
                              "hub_dir/checkpoints folder"),
        ("default", "called load_torchvision_resnet18() after torch.hub.set_dir(hub_dir), "
                    "hub_dir empty"),
        ("elsewhere", f"called load_torchvision_resnet18(hub_dir) with {RESNET18_FILE} in hub_dir "
                      "itself (torch.hub keeps it in hub_dir/checkpoints)"),
    ):  # fmt: skip
        seen = got[case]
        _no_downloads(seen, call)
        if seen["raised"] is None:
            raise fail(f"{call}; it returned {seen['returned']}, expected FileNotFoundError")
        if seen["raised"] != "FileNotFoundError":
            raise fail(
                f"{call}; raised {seen['raised']}: {_first(seen['message'])}; expected "
                f"FileNotFoundError naming {RESNET18_FILE} and the folder to put it in"
            )
        text = seen["message"]
        if RESNET18_FILE not in text:
            raise fail(
                f"{call}; the FileNotFoundError says {text!r}: it must name the file, "
                f"{RESNET18_FILE} (the last part of ResNet18_Weights.IMAGENET1K_V1.url)"
            )
        if not any(folder in text for folder in seen["folders"]):
            raise fail(
                f"{call}; the FileNotFoundError says {text!r}: it must name the folder to put "
                f"the file in, {seen['folders'][0]} (hub_dir / 'checkpoints'; hub_dir defaults "
                "to torch.hub.get_dir())"
            )


def test_resnet18_refuses_a_checkpoint_that_runs_code(learner):
    """A cached resnet18 file whose pickle runs code is refused, and the code never runs."""
    got = _run(learner, hub_pickled_code, call="called load_torchvision_resnet18(hub_dir)")
    call = (
        f"called load_torchvision_resnet18(hub_dir) with a {RESNET18_FILE} whose pickle would "
        "run code"
    )
    _no_downloads(got, call)
    if got["ran"]:
        raise fail(
            f"{call}; the code in the file ran: load it with torch.load(file, "
            "map_location='cpu', weights_only=True)"
        )
    if got["raised"] is None:
        raise fail(f"{call}; it returned normally; expected torch.load to refuse the file")
    if got["raised"] == "FileNotFoundError":
        raise fail(
            f"{call}; raised FileNotFoundError although the file is in hub_dir/checkpoints: "
            f"{_first(got['message'])}"
        )


def test_resnet18_strict_keys_and_map_location(learner):
    """A cached resnet18 file saved on a GPU, with wrong keys: loads on the CPU, then raises."""
    gpu = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda:0"
    blob = _to_bytes({"projector.weight": torch.zeros(2, 2)}, location=gpu)
    got = _run(learner, hub_wrong_keys, blob, call="called load_torchvision_resnet18(hub_dir)")
    call = (
        f"called load_torchvision_resnet18(hub_dir) with a {RESNET18_FILE} saved on a GPU "
        f"({gpu}, absent here) whose only key is projector.weight"
    )
    _no_downloads(got, call)
    if got["raised"] is None:
        raise fail(
            f"{call}; it returned {got['returned']}, expected RuntimeError from "
            "load_state_dict(..., strict=True): with strict=False every missing and unexpected "
            "key is ignored and the model keeps its random weights"
        )
    text = got["message"]
    if "deserialize object on" in text or "CUDA" in text:
        raise fail(
            f"{call}; raised {got['raised']}: {_first(text)[:160]}; pass map_location='cpu' to "
            "torch.load so a checkpoint written on a GPU loads anywhere"
        )
    if got["raised"] != "RuntimeError" or not any(k in text for k in ("conv1.weight", "projector")):
        raise fail(
            f"{call}; raised {got['raised']}: {_first(text)[:160]}; expected load_state_dict("
            "..., strict=True) to raise RuntimeError naming the missing and unexpected keys"
        )


@pytest.mark.points(2)
def test_resnet18_loads_from_the_cache(learner, reference, seed):
    """A cached resnet18 checkpoint loads into resnet18(weights=None), eval mode, no download."""
    x = _inputs(seed, 5, n=2)
    weights_seed = seed.value % 100_000
    want = reference.run(hub_present, x, weights_seed)
    call = f"called load_torchvision_resnet18(hub_dir) with hub_dir/checkpoints/{RESNET18_FILE}"
    got = _run(learner, hub_present, x, weights_seed, call=call)
    _no_downloads(got, call)
    _check_model(got, want, call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def shipped(mod: Any, x: torch.Tensor, how: str) -> dict[str, Any]:
    """load_backbone() on the shipped file: by default, by str, or by Path."""
    path = data.data_dir() / data.BACKBONE_FILE
    with _downloads_refused() as attempts:
        if how == "default":
            model = mod.load_backbone()
        else:
            model = mod.load_backbone(str(path) if how == "str" else Path(path))
    return _observe(model, x, attempts)


@scenario
def from_data_dir(mod: Any, x: torch.Tensor, blob: bytes) -> dict[str, Any]:
    """load_backbone() with $PYTORCH_PATH_DATA at a folder holding another backbone.pt."""
    with tempfile.TemporaryDirectory(prefix="pp-data-") as tmp:
        folder = Path(tmp)
        (folder / data.BACKBONE_FILE).write_bytes(blob)
        listing = {
            "format_version": 1,
            "files": {
                data.BACKBONE_FILE: {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
            },
        }
        (folder / "checksums.json").write_text(json.dumps(listing), encoding="utf-8")
        with _env(data.DATA_ENV_VAR, str(folder)):
            model = mod.load_backbone()
        return _observe(model, x, [])


@scenario
def missing(mod: Any, name: str, digest: str | None) -> dict[str, Any]:
    """load_backbone(path) for a path that does not exist."""
    with tempfile.TemporaryDirectory(prefix="pp-missing-") as tmp:
        model = mod.load_backbone(Path(tmp) / name, expected_sha256=digest)
        return {"returned": describe(model)}


@scenario
def load_bytes(
    mod: Any, name: str, blob: bytes, digest: str | None, *, x: torch.Tensor | None = None
) -> dict[str, Any]:
    """Write the judge's bytes to a file and load_backbone(path, expected_sha256=digest)."""
    with tempfile.TemporaryDirectory(prefix="pp-ckpt-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(blob)
        if digest is None:
            model = mod.load_backbone(path)
        else:
            model = mod.load_backbone(path, expected_sha256=digest)
        if x is None:
            return {"returned": describe(model)}
        return _observe(model, x, [])


@scenario
def pickled_code(mod: Any, x: torch.Tensor) -> dict[str, Any]:
    """Files whose pickle would create a marker file: did it appear? what was raised?"""
    answer: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pp-trap-") as tmp:
        marker = Path(tmp) / "the_code_ran"
        path = Path(tmp) / "downloaded.pt"
        state: dict[str, Any] = dict(torch.load(data.data_dir() / data.BACKBONE_FILE,
                                                map_location="cpu", weights_only=True))  # fmt: skip
        state["fc.bias"] = _Payload(str(marker))
        torch.save(state, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for case, kwargs in (("matching", {"expected_sha256": digest}), ("default", {})):
            answer[case] = _trap(lambda kw=kwargs: mod.load_backbone(path, **kw), marker)
    answer["after"] = _observe(mod.load_backbone(), x, [])
    return answer


@scenario
def hub_absent(mod: Any) -> dict[str, Any]:
    """load_torchvision_resnet18 with no cached file (several ways); what it raised."""
    answer: dict[str, Any] = {}
    for case in ("empty", "empty_checkpoints", "default", "elsewhere"):
        with tempfile.TemporaryDirectory(prefix="pp-hub-") as tmp:
            hub = Path(tmp)
            if case == "empty_checkpoints":
                (hub / "checkpoints").mkdir()
            if case == "elsewhere":
                (hub / RESNET18_FILE).write_bytes(b"not the weights")
            folder = hub / "checkpoints"
            if case == "default":
                with _hub_dir(str(hub)):
                    seen = _attempt(lambda: mod.load_torchvision_resnet18())
            else:
                seen = _attempt(lambda h=hub: mod.load_torchvision_resnet18(h))
            answer[case] = {**seen, "folders": [str(folder), str(folder.resolve())]}
    return answer


@scenario
def hub_pickled_code(mod: Any) -> dict[str, Any]:
    """A cached resnet18 file whose pickle would create a marker file."""
    with tempfile.TemporaryDirectory(prefix="pp-hub-") as tmp:
        hub = Path(tmp)
        (hub / "checkpoints").mkdir()
        marker = hub / "the_code_ran"
        torch.save({"fc.bias": _Payload(str(marker))}, hub / "checkpoints" / RESNET18_FILE)
        seen = _attempt(lambda: mod.load_torchvision_resnet18(str(hub)))
        seen["ran"] = marker.exists()
        return seen


@scenario
def hub_wrong_keys(mod: Any, blob: bytes) -> dict[str, Any]:
    """A hub folder holding the judge's bytes as the resnet18 file; what the call raised.

    The model's weights are never used, so torch.nn.init is skipped while it is built
    (resnet18's random initialisation alone takes about 0.2 s).
    """
    with tempfile.TemporaryDirectory(prefix="pp-hub-") as tmp:
        hub = Path(tmp)
        (hub / "checkpoints").mkdir()
        (hub / "checkpoints" / RESNET18_FILE).write_bytes(blob)
        with _no_init():
            return _attempt(lambda: mod.load_torchvision_resnet18(hub))


@scenario
def hub_present(mod: Any, x: torch.Tensor, weights_seed: int) -> dict[str, Any]:
    """A hub folder holding a resnet18 checkpoint of seeded random weights; the loaded model."""
    with tempfile.TemporaryDirectory(prefix="pp-hub-") as tmp:
        hub = Path(tmp)
        (hub / "checkpoints").mkdir()
        (hub / "checkpoints" / RESNET18_FILE).write_bytes(_random_resnet18_bytes(weights_seed))
        with _downloads_refused() as attempts:
            try:
                model = mod.load_torchvision_resnet18(hub)
            except Exception:
                if attempts:
                    return {"downloads": attempts}
                raise
        return _observe(model, x, attempts)


# ----------------------------------------------------------------------------- helpers: scenarios


class _Payload:
    """Pickles as a call that creates ``marker``: code that runs while a file is unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _trap(call: Callable[[], Any], marker: Path) -> dict[str, Any]:
    """Run ``call``; report whether the marker appeared and what was raised."""
    raised = None
    try:
        with _downloads_refused():
            call()
    except NotImplementedError:
        raise
    except Exception as exc:  # any refusal will do, as long as nothing ran
        raised = type(exc).__name__
    ran = marker.exists()
    if ran:
        marker.unlink()
    return {"ran": ran, "raised": raised}


def _attempt(call: Callable[[], Any]) -> dict[str, Any]:
    """Run ``call`` with downloads refused; what it returned or raised, and any download."""
    with _downloads_refused() as attempts:
        try:
            value = call()
        except NotImplementedError:
            raise
        except Exception as exc:
            return {
                "raised": type(exc).__name__,
                "message": str(exc)[:2000],
                "returned": None,
                "downloads": attempts,
            }
    return {"raised": None, "message": "", "returned": describe(value), "downloads": attempts}


@contextlib.contextmanager
def _downloads_refused() -> Iterator[list[str]]:
    """Replace torch.hub's download functions (and every reference to them) with refusals."""
    attempts: list[str] = []
    originals = {
        "load_state_dict_from_url": torch.hub.load_state_dict_from_url,
        "download_url_to_file": torch.hub.download_url_to_file,
        "urlopen": urllib.request.urlopen,
    }
    patched: list[tuple[Any, str, Any]] = []

    def refusal(name: str) -> Callable[..., Any]:
        def refuse(url: Any = None, *args: Any, **kwargs: Any) -> Any:
            shown = getattr(url, "full_url", url)
            attempts.append(f"{name}({shown!r})")
            raise RuntimeError(f"{_NO_DOWNLOAD}: {name}({shown!r}) was called")

        return refuse

    owners = [torch.hub, urllib.request]
    owners += [m for n, m in list(sys.modules.items()) if n.startswith("torchvision")]
    try:
        for owner in owners:
            namespace = getattr(owner, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for name, original in originals.items():
                if namespace.get(name) is original:
                    patched.append((owner, name, original))
                    setattr(owner, name, refusal(name))
        yield attempts
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)


@contextlib.contextmanager
def _no_init() -> Iterator[None]:
    """torch.nn.init's fillers as no-ops for a while (a model built meanwhile is uninitialised)."""
    names = ("kaiming_normal_", "kaiming_uniform_", "constant_", "uniform_", "normal_",
             "zeros_", "ones_")  # fmt: skip
    saved = {name: getattr(nn.init, name) for name in names}
    try:
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, original in saved.items():
            setattr(nn.init, name, original)


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@contextlib.contextmanager
def _hub_dir(folder: str) -> Iterator[None]:
    """torch.hub.set_dir(folder) for a while; the previous setting restored afterwards."""
    before = torch.hub._hub_dir
    torch.hub.set_dir(folder)
    try:
        yield
    finally:
        torch.hub._hub_dir = before


def _observe(model: Any, x: torch.Tensor, attempts: list[str]) -> dict[str, Any]:
    """What a loaded model is, as data: its type, mode, devices and outputs on ``x``."""
    if not isinstance(model, nn.Module):
        return {"module": False, "type": describe(model), "downloads": attempts}
    with torch.no_grad():
        out = model(x)
    return {
        "module": True,
        "type": f"{type(model).__module__}.{type(model).__qualname__}",
        "training": [name or "the model" for name, m in model.named_modules() if m.training],
        "devices": sorted({p.device.type for p in model.parameters()}),
        "out": out,
        "downloads": attempts,
    }


@functools.lru_cache(maxsize=1)
def _random_resnet18_bytes(seed: int) -> bytes:
    """``torch.save`` of :func:`_random_resnet18_state` (45 MB; made once per process)."""
    return _to_bytes(_random_resnet18_state(seed))


def _random_resnet18_state(seed: int) -> dict[str, torch.Tensor]:
    """A resnet18 state dict of seeded random values (BatchNorm statistics included)."""
    from torchvision.models import resnet18

    with torch.device("meta"):
        layout = {k: (v.shape, v.dtype) for k, v in resnet18().state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, (shape, dtype) in layout.items():
        if not dtype.is_floating_point:
            state[key] = torch.tensor(100 + seed % 7)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif key.endswith(("running_mean", ".bias")):
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:  # a BatchNorm weight
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
    return state


# ----------------------------------------------------------------------------- helpers: the judge


def _inputs(seed: Any, offset: int, n: int = 3) -> torch.Tensor:
    return seed.randn(n, 3, data.BACKBONE_SIZE, data.BACKBONE_SIZE, offset=offset)


def _shipped_state() -> dict[str, torch.Tensor]:
    path = data.verify_file(data.BACKBONE_FILE)
    return dict(torch.load(path, map_location="cpu", weights_only=True))


def _to_bytes(state: dict[str, Any], *, location: str | None = None) -> bytes:
    """``torch.save`` into bytes; with ``location`` every storage is tagged with that device."""
    buffer = io.BytesIO()
    if location is None:
        torch.save(state, buffer)
    else:
        location_tag = torch.serialization.location_tag
        torch.serialization.location_tag = lambda storage: location  # type: ignore[assignment]
        try:
            torch.save(state, buffer)
        finally:
            torch.serialization.location_tag = location_tag
    return buffer.getvalue()


def _backbone_bytes(init_seed: int) -> bytes:
    """The bytes of a checkpoint of the backbone's architecture with other (seeded) weights."""
    state = _shipped_state()
    gen = torch.Generator().manual_seed(init_seed)
    other = {
        k: v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
        for k, v in state.items()
    }
    for key in other:
        if key.endswith("running_var"):
            other[key] = other[key].abs() + 0.01
    return _to_bytes(other)


def _short(digest: str | None) -> str:
    return "None" if digest is None else f"'{digest[:8]}…'"


def _first(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def _run(
    side: Any,
    fn: Any,
    *args: Any,
    call: str,
    hints: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """Run a scenario; the learner's unexpected errors become a sentence naming the call."""
    try:
        return side.run(fn, *args, **kwargs)
    except LearnerError as exc:
        if exc.kind != "raised" or exc.is_a("NotImplementedError"):
            raise
        if _NO_DOWNLOAD in exc.message:
            raise fail(_download_advice(call, [_first(exc.message)])) from None
        for needle, advice in (hints or {}).items():
            if needle == exc.type_name or needle in exc.message:
                raise fail(
                    f"{call} raised {exc.type_name}: {_first(exc.message)}; {advice}"
                ) from None
        if exc.is_a("UnpicklingError"):
            raise fail(
                f"{call} raised UnpicklingError: {_first(exc.message)[:120]}; the file holds "
                "only tensors, so torch.load(..., weights_only=True) reads it"
            ) from None
        raise


def _expect_error(
    side: Any,
    fn: Any,
    *args: Any,
    types: tuple[str, ...],
    call: str,
    hints: dict[str, str] | None = None,
) -> LearnerError:
    """Run a scenario that must end in the learner raising one of ``types``; that error."""
    try:
        got = side.run(fn, *args)
    except LearnerError as exc:
        if exc.kind != "raised" or exc.is_a("NotImplementedError"):
            raise
        if _NO_DOWNLOAD in exc.message:
            raise fail(_download_advice(call, [_first(exc.message)])) from None
        if exc.is_a(*types):
            return exc
        raise fail(
            f"{call}; expected {' or '.join(types)}, got {exc.type_name}: {_first(exc.message)}"
        ) from None
    advice = (hints or {}).get("returned")
    if advice is None and "ValueError" in types:
        advice = (
            "compare the file's sha256 (hashlib.sha256 over its bytes) with the expected digest "
            "and raise ValueError on a mismatch, before torch.load"
        )
    tail = f"; {advice}" if advice else ""
    raise fail(
        f"{call}; expected {' or '.join(types)}, but it returned {got.get('returned')}{tail}"
    )


def _check_digest_message(err: LearnerError, name: str, expected: str, actual: str, call: str):
    text = err.message.lower()
    missing = [
        label
        for label, value in (
            ("the file", name.lower()),
            ("the expected digest", expected.lower()),
            ("the actual digest", actual.lower()),
        )
        if value not in text
    ]
    if missing:
        raise fail(
            f"{call}; the ValueError says {err.message!r}, which does not give "
            f"{' and '.join(missing)}; name the file and give both digests in full (expected "
            f"{expected}, actual {actual}), so whoever reads it can tell which file is wrong"
        )


def _download_advice(call: str, attempts: list[str]) -> str:
    return (
        f"{call}; {_NO_DOWNLOAD}, but your code tried: {attempts[0]}. "
        "resnet18(weights=ResNet18_Weights...) and torch.hub.load_state_dict_from_url fetch "
        "the file from the internet; build resnet18(weights=None) and load the cached file "
        "yourself with torch.load(file, map_location='cpu', weights_only=True)"
    )


def _no_downloads(seen: dict[str, Any], call: str) -> None:
    attempts = seen.get("downloads") or []
    if attempts:
        raise fail(_download_advice(call, attempts))


def _check_model(got: dict[str, Any], want: dict[str, Any], call: str) -> None:
    """The learner's loaded model against the reference's: a module, eval mode, same outputs."""
    _no_downloads(got, call)
    if not got["module"]:
        raise fail(f"{call}; it returned {got['type']}, expected the nn.Module with the weights")
    if got["type"] != want["type"]:
        raise fail(f"{call}; it returned a {got['type']}, expected a {want['type']}")
    if got["training"]:
        raise fail(
            f"{call}; the model is in training mode ({got['training'][:3]} have training=True): "
            "return model.eval(), so BatchNorm uses its running statistics and dropout is off"
        )
    if got["devices"] != ["cpu"]:
        raise fail(f"{call}; the parameters are on {got['devices']}, expected the CPU")
    try:
        assert_close(got["out"], want["out"], what="the model's output", call=call)
    except AssertionError as exc:
        raise fail(
            f"{exc}; the weights in your model are not the file's: load the whole state dict "
            "with load_state_dict(state, strict=True)"
        ) from None
