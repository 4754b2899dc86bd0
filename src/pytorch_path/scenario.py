"""Scenarios: the learner's side of a grader test, and the data-only wire between sides.

A grader holds *scenarios* and *tests*. A scenario (``@scenario``) receives a module (the
learner's or the reference solution's) and plain data, builds what it needs, calls the
module and returns plain data. A test (``test_*``) chooses the inputs, asks both sides::

    got = learner.run(fit, X, y, lr=0.1)       # the learner's module, wherever it runs
    want = reference.run(fit, X, y, lr=0.1)    # always in the trusted process
    got = learner.predict(X, w, b)             # shorthand: call one function on data

and gives the verdict with :mod:`pytorch_path.checks`.

Everything that crosses between the test and a scenario goes through :func:`encode` and
:func:`decode`: ``torch.save`` into bytes, ``torch.load(weights_only=True)`` out of them.
Only tensors, numbers, strings, bytes, ``None``, dtypes, devices, sizes and
lists/tuples/dicts/sets of them cross; a tensor subclass arrives as a plain
``torch.Tensor``; a NumPy array or scalar crosses as tagged data and is rebuilt; any other
object arrives as an :class:`Opaque` description (its type name and a short text), never
as the object. In ``check`` the round trip happens in memory; in ``grade`` the learner's
side runs in a sandboxed worker process. Both see identical values, and a learner who
mutates an input changes only its own copy.

A learner's exception crosses as data too and is raised in the test as
:class:`LearnerError`.
"""

from __future__ import annotations

import io
import random
import struct
import traceback
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from pytorch_path.text import clean

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_TOTAL_BYTES",
    "LearnerError",
    "Opaque",
    "Side",
    "WireError",
    "decode",
    "encode",
    "scenario",
]

#: Largest single message (a request or an answer) in bytes.
MAX_FRAME_BYTES = 64 * 2**20
#: Most bytes one worker may send in all, over its whole life.
MAX_TOTAL_BYTES = 1024 * 2**20
#: Longest string kept from a learner's exception message.
MAX_MESSAGE_CHARS = 4000

_SCENARIO_ATTR = "__pytorch_path_scenario__"
_TAG = "__pytorch_path_wire__"
_HEADER = struct.Struct(">Q")

F = TypeVar("F", bound=Callable[..., Any])


def scenario(fn: F) -> F:
    """Mark ``fn(module, *data, **options)`` as a scenario: the learner's side of a test.

    The function is returned unchanged, so a scenario can also be called directly in a
    grader's own helpers. It must only take and return data (see the module docstring).
    """
    setattr(fn, _SCENARIO_ATTR, True)
    return fn


def is_scenario(obj: Any) -> bool:
    """Whether ``obj`` was decorated with :func:`scenario`."""
    return callable(obj) and getattr(obj, _SCENARIO_ATTR, False) is True


# ----------------------------------------------------------------------------- data


class WireError(Exception):
    """A message could not be encoded or decoded: too large, malformed, or not data."""


@dataclass(frozen=True)
class Opaque:
    """An object that could not cross the wire, described by its type and a short text."""

    type_name: str
    """``module.QualName`` of the object's class."""
    text: str
    """A short description (e.g. ``repr`` cut to 200 characters)."""

    def __repr__(self) -> str:
        """How the object is named in a failure message."""
        return f"<{self.type_name} object>"


def _tag(kind: str, **fields: Any) -> dict[str, Any]:
    return {_TAG: kind, **fields}


def _qualname(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _safe_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception:  # a learner's __repr__ may raise anything
        text = f"<{_qualname(obj)}>"
    return text[:200]


def to_data(obj: Any, *, _depth: int = 0) -> Any:
    """``obj`` as wire data: tensors made plain, NumPy values tagged, other objects described."""
    if _depth > 50:
        raise WireError("the value is nested more than 50 levels deep")
    if obj is None or type(obj) in (bool, int, float, complex, str, bytes):
        return obj
    if isinstance(obj, torch.Tensor):
        if type(obj) in (torch.Tensor, torch.nn.Parameter):
            return obj
        if obj.requires_grad and obj.grad_fn is None:
            return obj.detach().as_subclass(torch.Tensor).requires_grad_(True)
        return obj.as_subclass(torch.Tensor)
    if isinstance(obj, (torch.dtype, torch.device)):
        return obj
    if isinstance(obj, torch.Size):
        return torch.Size(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            return Opaque("numpy.ndarray", f"an array of dtype {obj.dtype}")
        array = np.ascontiguousarray(obj)
        return _tag(
            "ndarray",
            data=torch.from_numpy(array.copy()) if array.size else torch.tensor([]),
            dtype=str(obj.dtype),
            shape=list(obj.shape),
        )
    if isinstance(obj, np.generic):
        return _tag("npscalar", value=obj.item(), dtype=str(obj.dtype))
    if isinstance(obj, bool | int | float | str):  # subclasses (IntEnum, …) become plain
        for base in (bool, int, float, str):
            if isinstance(obj, base):
                return base(obj)
    if isinstance(obj, Mapping):
        return {
            to_data(k, _depth=_depth + 1): to_data(v, _depth=_depth + 1) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [to_data(v, _depth=_depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_data(v, _depth=_depth + 1) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return {to_data(v, _depth=_depth + 1) for v in obj}
    if isinstance(obj, Opaque):
        return _tag("opaque", type_name=obj.type_name, text=obj.text)
    return _tag("opaque", type_name=_qualname(obj), text=_safe_repr(obj))


def from_data(obj: Any) -> Any:
    """Rebuild what :func:`to_data` tagged (NumPy values, opaque descriptions)."""
    if isinstance(obj, dict):
        kind = obj.get(_TAG)
        if isinstance(kind, str):
            return _untag(kind, obj)
        return {k: from_data(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_data(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(from_data(v) for v in obj)
    return obj


def _untag(kind: str, obj: dict[str, Any]) -> Any:
    try:
        if kind == "ndarray":
            dtype = np.dtype(str(obj["dtype"]))
            data = obj["data"]
            shape = tuple(int(s) for s in obj["shape"])
            if not isinstance(data, torch.Tensor):
                raise WireError("a NumPy array arrived without its data")
            array = data.detach().cpu().numpy() if data.numel() else np.zeros(0, dtype=dtype)
            return array.astype(dtype, copy=False).reshape(shape)
        if kind == "npscalar":
            return np.dtype(str(obj["dtype"])).type(obj["value"])
        if kind == "opaque":
            return Opaque(clean(obj["type_name"], 200), clean(obj["text"], 200))
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"a tagged value of kind {kind!r} is malformed: {exc}") from None
    raise WireError(f"unknown tagged value {kind!r}")


def encode(obj: Any, *, limit: int = MAX_FRAME_BYTES) -> bytes:
    """``obj`` as the bytes of one frame (``torch.save`` of its wire data)."""
    buffer = io.BytesIO()
    try:
        torch.save(to_data(obj), buffer)
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"the value could not be encoded: {type(exc).__name__}: {exc}") from exc
    data = buffer.getvalue()
    if len(data) > limit:
        raise WireError(f"the value takes {len(data)} bytes, more than the {limit} allowed")
    return data


def decode(data: bytes, *, limit: int = MAX_FRAME_BYTES) -> Any:
    """The value one frame holds; :class:`WireError` for anything but weights-only data."""
    if len(data) > limit:
        raise WireError(f"a message of {len(data)} bytes is over the {limit} allowed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a forged pickle protocol warns before it fails
            loaded = torch.load(io.BytesIO(data), weights_only=True, map_location=None)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WireError(f"a message is not plain data ({type(exc).__name__}: {first})") from None
    except RecursionError:  # pragma: no cover - subclass of Exception, kept for clarity
        raise WireError("a message is nested too deeply") from None
    return from_data(loaded)


def round_trip(obj: Any) -> Any:
    """``decode(encode(obj))``: what the other side of the wire would receive."""
    return decode(encode(obj))


def copy_data(obj: Any) -> Any:
    """What :func:`round_trip` returns, made without serialising: for *trusted* values only.

    The same conversions (:func:`to_data`, :func:`from_data`); every tensor gets a copy of
    its storage (shared between tensors that shared one, as ``torch.save`` keeps it) with
    the same offset, size, strides, ``requires_grad`` and Parameter-ness. Used for the
    reference side, whose answers the judge computes itself; anything unusual (a sparse or
    quantized tensor) takes the real round trip.
    """
    data = to_data(obj)
    if _needs_round_trip(data):
        return round_trip(obj)
    return from_data(_copy(data, {}))


def _needs_round_trip(obj: Any) -> bool:
    if isinstance(obj, torch.Tensor):
        return obj.layout != torch.strided or obj.is_quantized or obj.is_nested
    if isinstance(obj, dict):
        return any(_needs_round_trip(k) or _needs_round_trip(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return any(_needs_round_trip(v) for v in obj)
    return False


def _copy(obj: Any, storages: dict[tuple[int, int, str], Any]) -> Any:
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes(), str(storage.device))
        if storage.data_ptr() == 0:  # meta or empty: nothing to share
            new = storage.clone() if storage.device.type != "meta" else storage  # type: ignore[no-untyped-call]
        else:
            new = storages.get(key)
            if new is None:
                new = storages[key] = storage.clone()  # type: ignore[no-untyped-call]
        tensor = torch.empty(0, dtype=obj.dtype, device=obj.device)
        tensor.set_(new, obj.storage_offset(), obj.size(), obj.stride())
        if type(obj) is torch.nn.Parameter:
            return torch.nn.Parameter(tensor, requires_grad=obj.requires_grad)
        return tensor.requires_grad_(True) if obj.requires_grad else tensor
    if isinstance(obj, dict):
        return {_copy(k, storages): _copy(v, storages) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v, storages) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_copy(v, storages) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return {_copy(v, storages) for v in obj}
    return obj  # numbers, strings, bytes, None, dtypes, devices, sizes: immutable


def frame(payload: bytes) -> bytes:
    """A length-prefixed frame: 8 bytes of big-endian length, then the payload."""
    return _HEADER.pack(len(payload)) + payload


def frame_length(header: bytes, *, limit: int = MAX_FRAME_BYTES) -> int:
    """The payload length a frame header announces; :class:`WireError` over ``limit``."""
    if len(header) != _HEADER.size:
        raise WireError("a message header was cut short")
    (length,) = _HEADER.unpack(header)
    if length > limit:
        raise WireError(f"a message of {length} bytes was announced, over the {limit} allowed")
    return int(length)


HEADER_BYTES = _HEADER.size


# ----------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Request:
    """One scenario call, as the judge sends it to a worker (the one message type of the wire).

    The answer is :func:`pack_answer`'s frame: the scenario's data, or the learner's error.
    """

    learner: str
    """The learner's file, as the worker sees it."""
    shown: str
    """How that file is named in messages."""
    grader: str
    """The grader file holding the scenario, as the worker sees it."""
    name: str
    """The scenario's function name (``call_by_name`` for ``learner.fn(...)``)."""
    payload: bytes
    """The encoded ``(args, kwargs)``."""

    def to_data(self) -> dict[str, Any]:
        """The request as wire data."""
        return {
            "op": "run",
            "learner": self.learner,
            "shown": self.shown,
            "grader": self.grader,
            "name": self.name,
            "payload": self.payload,
        }

    @classmethod
    def from_data(cls, data: Any) -> Request:
        """Read a request; :class:`WireError` for anything else."""
        if not isinstance(data, dict) or data.get("op") != "run":
            raise WireError("a request is not of the form {'op': 'run', ...}")
        try:
            fields = {k: data[k] for k in ("learner", "shown", "grader", "name", "payload")}
        except KeyError as exc:
            raise WireError(f"a request lacks {exc}") from None
        if not isinstance(fields["payload"], bytes) or not all(
            isinstance(fields[k], str) for k in ("learner", "shown", "grader", "name")
        ):
            raise WireError("a request has fields of the wrong type")
        return cls(**fields)


# ----------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Frame:
    """One frame of a learner's traceback that lies in the learner's file."""

    name: str
    """The function."""
    lineno: int
    """The line number in the learner's file."""
    line: str = ""
    """The source line, stripped."""


@dataclass
class LearnerError(Exception):
    """The learner's code raised an exception; it crossed the wire as data.

    Tests never catch learner exceptions by Python class: they ask
    :meth:`is_a` with a class name, or let the engine report it.
    """

    type_name: str
    """The exception's class name, e.g. ``"ValueError"``."""
    message: str
    """``str()`` of the exception, cut to 4000 characters."""
    mro: tuple[str, ...] = ()
    """Names of the exception's classes, most derived first (``ValueError``, ``Exception``…)."""
    frames: tuple[Frame, ...] = ()
    """The traceback frames that lie in the learner's file, outermost first."""
    innermost_in_learner: bool = False
    """Whether the exception was raised by a line of the learner's file itself."""
    kind: str = "raised"
    """``raised``; ``missing`` (the module lacks a name); ``load`` (the file did not import)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Details of some kinds (the missing name)."""

    def __post_init__(self) -> None:
        """Give the exception its message."""
        Exception.__init__(self, f"{self.type_name}: {self.message}")

    def __str__(self) -> str:
        """``Type: message``, as Python prints an exception."""
        return f"{self.type_name}: {self.message}" if self.message else self.type_name

    def __hash__(self) -> int:
        """Exceptions hash by identity."""
        return id(self)

    def is_a(self, *names: str) -> bool:
        """Whether the learner's exception is an instance of a class with one of ``names``."""
        return any(name in (self.type_name, *self.mro) for name in names)

    @property
    def last_frame(self) -> Frame | None:
        """The innermost frame in the learner's file, if any."""
        return self.frames[-1] if self.frames else None

    def to_data(self) -> dict[str, Any]:
        """The error as wire data."""
        return {
            "type_name": self.type_name,
            "message": self.message,
            "mro": list(self.mro),
            "frames": [[f.name, f.lineno, f.line] for f in self.frames],
            "innermost_in_learner": self.innermost_in_learner,
            "kind": self.kind,
            "extra": {str(k): str(v) for k, v in self.extra.items()},
        }

    @classmethod
    def from_data(cls, data: Any) -> LearnerError:
        """Rebuild an error from wire data; malformed data gives :class:`WireError`."""
        if not isinstance(data, dict):
            raise WireError("an error report is not a dict")
        try:
            frames = tuple(
                Frame(clean(f[0], 200), int(f[1]), clean(f[2], 300)) for f in data.get("frames", [])
            )
            return cls(
                type_name=clean(data["type_name"], 200),
                message=clean(data.get("message", ""), MAX_MESSAGE_CHARS),
                mro=tuple(clean(m, 200) for m in data.get("mro", ()))[:40],
                frames=frames[-40:],
                innermost_in_learner=bool(data.get("innermost_in_learner", False)),
                kind=clean(data.get("kind", "raised"), 20),
                extra={
                    clean(k, 100): clean(v, 500) for k, v in dict(data.get("extra", {})).items()
                },
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise WireError(f"an error report is malformed: {exc}") from None


def learner_error(exc: BaseException, learner_file: Path | None) -> LearnerError:
    """Describe ``exc`` (raised while a scenario ran) as a :class:`LearnerError`."""
    try:
        text = str(exc)
    except Exception:  # a learner's __str__ may raise
        text = f"<{type(exc).__name__} with an unprintable message>"
    frames: list[Frame] = []
    innermost = False
    if learner_file is not None:
        wanted = str(learner_file.resolve())
        summary = traceback.extract_tb(exc.__traceback__)
        for i, f in enumerate(summary):
            if _resolved(f.filename) == wanted:
                frames.append(
                    Frame(clean(f.name, 200), f.lineno or 0, clean((f.line or "").strip(), 300))
                )
                innermost = i == len(summary) - 1
    mro = tuple(k.__name__ for k in type(exc).__mro__[1:] if k not in (object, BaseException))
    return LearnerError(
        type_name=clean(type(exc).__name__, 200),
        message=clean(text, MAX_MESSAGE_CHARS),
        mro=mro,
        frames=tuple(frames),
        innermost_in_learner=innermost,
    )


def _resolved(filename: str) -> str:
    try:
        return str(Path(filename).resolve())
    except (OSError, RuntimeError):
        return filename


# ----------------------------------------------------------------------------- running


def call_seed(name: str, payload: bytes) -> int:
    """The seed of the global RNGs for one scenario call: the same for both sides."""
    return zlib.crc32(payload, zlib.crc32(name.encode())) & 0x7FFFFFFF


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs (CPU, and accelerators in use).

    ``torch.manual_seed`` also queues a seed for every accelerator backend that is not
    initialised yet, recording a formatted stack each time (about a millisecond); seeding
    the CPU generator directly, and an accelerator only once it is in use, gives the same
    draws at a fraction of the cost.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        torch.cuda.manual_seed_all(seed)
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.manual_seed(seed)


def reset_state(seed: int) -> None:
    """Seed every global RNG and put torch's global switches back to their defaults."""
    seed_all(seed)
    if torch.get_default_dtype() != torch.float32:
        torch.set_default_dtype(torch.float32)
    if not torch.is_grad_enabled():
        torch.set_grad_enabled(True)


def call_by_name(module: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """The built-in scenario behind ``learner.fn(*data)``: call ``module.name`` on data."""
    fn: Any = getattr(module, name, _MISSING)
    if fn is _MISSING:
        raise MissingNameError(name)
    return fn(*args, **kwargs)


setattr(call_by_name, _SCENARIO_ATTR, True)
_MISSING = object()


def learner_attr(module: Any, name: str) -> Any:
    """``module.name`` inside a scenario; a missing name is reported as the learner's.

    Use it (or :func:`call_by_name`) for the names a contract asks for, so a renamed or
    deleted definition reads "… does not define 'name'" rather than an AttributeError.
    """
    value = getattr(module, name, _MISSING)
    if value is _MISSING:
        raise MissingNameError(name)
    return value


class MissingNameError(AttributeError):
    """The learner's module does not define a name the grader asked for."""

    def __init__(self, name: str) -> None:
        """Remember the missing ``name``."""
        super().__init__(name)
        self.name = name


class Transport(Protocol):
    """Runs scenarios for one side: in this process, or in a worker."""

    def run(self, grader: Path, name: str, fn: Callable[..., Any], payload: bytes) -> bytes:
        """Run scenario ``name`` (``fn`` when local) on the encoded ``(args, kwargs)``."""
        ...


class Side:
    """One side of a test (``learner`` or ``reference``): runs scenarios on its module.

    ``side.run(scenario, *data, **options)`` runs a scenario and returns its data;
    ``side.fn(*data, **options)`` calls the module's function ``fn`` on data.
    """

    def __init__(self, kind: str, transport: Transport, grader: Path, shown: str) -> None:
        """A side of kind ``learner``/``reference`` for the grader file ``grader``."""
        self._kind = kind
        self._transport = transport
        self._grader = grader
        self._shown = shown

    @property
    def kind(self) -> str:
        """``learner`` or ``reference``."""
        return self._kind

    @property
    def file(self) -> str:
        """The module's file as named in messages (e.g. ``stage1_tensors/ex09_….py``)."""
        return self._shown

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run the scenario ``fn`` on this side's module with ``args`` and return its data."""
        if not is_scenario(fn):
            raise TypeError(f"{getattr(fn, '__name__', fn)!r} is not marked with @scenario")
        name = "call_by_name" if fn is call_by_name else fn.__name__
        payload = encode((list(args), dict(kwargs)))
        direct = getattr(self._transport, "run_direct", None)
        if direct is not None:  # a trusted side in this process: no second serialisation
            return direct(name, fn, payload, args, kwargs)
        local = getattr(self._transport, "run_local", None)
        if local is not None:  # the learner in this process: its answer takes the real wire
            answer = local(name, fn, payload, args, kwargs)
        else:
            answer = self._transport.run(self._grader, name, fn, payload)
        return unpack_answer(answer)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """``side.fn``: a function that calls the module's ``fn`` on data."""
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(call_by_name, name, *args, **kwargs)

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        """``<learner side of stage1/ex01.py>``."""
        return f"<{self._kind} side of {self._shown}>"


def pack_answer(value: Any = None, error: LearnerError | None = None) -> bytes:
    """The encoded answer of one scenario call: its value, or the learner's error."""
    if error is not None:
        return encode({"ok": False, "error": error.to_data()})
    try:
        return encode({"ok": True, "value": value})
    except WireError as exc:
        return encode(
            {
                "ok": False,
                "error": LearnerError(
                    "WireError",
                    f"the scenario's result could not be sent back: {exc}",
                    kind="wire",
                ).to_data(),
            }
        )


def unpack_answer(answer: bytes) -> Any:
    """The value of an answer, or raise the :class:`LearnerError` it carries."""
    data = decode(answer)
    if not isinstance(data, dict) or "ok" not in data:
        raise WireError("an answer is not of the form {'ok': ..., ...}")
    if data["ok"] is True:
        return data.get("value")
    raise LearnerError.from_data(data.get("error"))


def _invoke(
    module: Any,
    fn: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    seed: int,
    learner_file: Path | None,
    passthrough: tuple[type[BaseException], ...],
) -> Any:
    """Seed the RNGs, run ``fn(module, *args, **kwargs)``; its exceptions as :class:`LearnerError`.

    ``KeyboardInterrupt`` and ``passthrough`` (the engine's own timeout) propagate; anything
    else (SystemExit, pytest's Skipped, …) is the learner's doing.
    """
    reset_state(seed)
    try:
        return fn(module, *args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        if isinstance(exc, passthrough):
            raise
        if isinstance(exc, MissingNameError):
            raise LearnerError(
                "AttributeError", str(exc.name), kind="missing", extra={"name": exc.name}
            ) from None
        raise learner_error(exc, learner_file) from None


def execute_direct(
    module: Any,
    fn: Callable[..., Any],
    payload: bytes,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    name: str,
    learner_file: Path | None,
    passthrough: tuple[type[BaseException], ...] = (),
) -> Any:
    """:func:`execute` for a trusted module (the reference) in this process.

    No second serialisation: the same seeding (from ``payload``), copies made by
    :func:`copy_data` instead of the wire, and errors raised as :class:`LearnerError`.
    """
    args_copy, kwargs_copy = copy_data((list(args), dict(kwargs)))
    value = _invoke(module, fn, args_copy, kwargs_copy, seed=call_seed(name, payload),
                    learner_file=learner_file, passthrough=passthrough)  # fmt: skip
    try:
        return copy_data(value)
    except WireError as exc:
        raise LearnerError(
            "WireError", f"the scenario's result could not be sent back: {exc}", kind="wire"
        ) from None


def execute(
    module: Any,
    fn: Callable[..., Any],
    payload: bytes,
    *,
    name: str,
    learner_file: Path | None,
    passthrough: tuple[type[BaseException], ...] = (),
    inputs: tuple[Any, Any] | None = None,
) -> bytes:
    """Run one scenario call on ``module`` and return the encoded answer.

    The global RNGs are seeded from the call itself, so both sides start alike.
    Exceptions become a :class:`LearnerError` answer, except those in ``passthrough``
    (the engine's own timeout) and ``KeyboardInterrupt``. ``inputs`` are the judge's own
    ``(args, kwargs)`` when the call runs in its process: they are copied with
    :func:`copy_data` (what decoding ``payload`` would give) instead of decoded.
    """
    if inputs is not None:
        args, kwargs = copy_data((list(inputs[0]), dict(inputs[1])))
    else:
        args, kwargs = decode(payload)
    try:
        value = _invoke(module, fn, args, kwargs, seed=call_seed(name, payload),
                        learner_file=learner_file, passthrough=passthrough)  # fmt: skip
    except LearnerError as error:
        return pack_answer(error=error)
    return pack_answer(value)
