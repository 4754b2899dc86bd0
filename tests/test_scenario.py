"""The data-only wire: what crosses, what is refused, and learner errors as data."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pytorch_path import scenario as wire
from pytorch_path.scenario import LearnerError, Opaque, WireError


class _Sub(torch.Tensor):
    pass


class _Evil:
    def __reduce__(self):
        return (Path("/tmp/pytorch_path_wire_probe").write_text, ("pwned",))


def test_plain_data_round_trips() -> None:
    value = {
        "t": torch.arange(6, dtype=torch.float64).reshape(2, 3),
        "ints": torch.tensor([1, 2], dtype=torch.int8),
        "grad": torch.ones(2, requires_grad=True),
        "param": torch.nn.Parameter(torch.zeros(3)),
        "list": [1, 2.5, "s", b"b", None, True],
        "tuple": (torch.float16, torch.device("cpu"), torch.Size([2, 3])),
        "set": {1, 2},
        "nested": {"a": [{"b": (1,)}]},
        "complex": 1 + 2j,
    }
    back = wire.round_trip(value)
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float64
    assert back["ints"].dtype == torch.int8
    assert back["grad"].requires_grad
    assert isinstance(back["param"], torch.nn.Parameter)
    assert back["list"] == value["list"] and back["tuple"] == value["tuple"]
    assert back["set"] == {1, 2} and back["nested"] == {"a": [{"b": (1,)}]}
    assert back["t"] is not value["t"]


def test_a_non_leaf_tensor_arrives_as_a_leaf_that_requires_grad() -> None:
    x = torch.ones(3, requires_grad=True) * 2
    back = wire.round_trip(x)
    assert back.requires_grad and back.grad_fn is None


def test_numpy_values_are_rebuilt() -> None:
    array = np.arange(6, dtype=np.int16).reshape(3, 2)
    back = wire.round_trip({"a": array, "s": np.float32(1.5), "e": np.zeros((0, 4))})
    assert isinstance(back["a"], np.ndarray) and back["a"].dtype == np.int16
    assert np.array_equal(back["a"], array)
    assert isinstance(back["s"], np.float32) and back["s"] == 1.5
    assert back["e"].shape == (0, 4)


def test_a_tensor_subclass_arrives_as_a_plain_tensor() -> None:
    sub = torch.ones(2).as_subclass(_Sub)
    back = wire.round_trip(sub)
    assert type(back) is torch.Tensor and torch.equal(back, torch.ones(2))


def test_other_objects_arrive_as_descriptions() -> None:
    back = wire.round_trip({"model": torch.nn.Linear(2, 2), "fn": len})
    assert isinstance(back["model"], Opaque)
    assert back["model"].type_name == "torch.nn.modules.linear.Linear"
    assert isinstance(back["fn"], Opaque)


def test_an_oversized_value_is_refused() -> None:
    with pytest.raises(WireError, match="more than the 1000 allowed"):
        wire.encode(torch.zeros(10_000), limit=1000)
    with pytest.raises(WireError, match="over the"):
        wire.frame_length((2**40).to_bytes(8, "big"))
    with pytest.raises(WireError, match="over the"):
        wire.decode(b"x" * 2000, limit=1000)


def test_a_malformed_frame_is_refused() -> None:
    with pytest.raises(WireError, match="not plain data"):
        wire.decode(b"definitely not a torch.save file")
    with pytest.raises(WireError, match="cut short"):
        wire.frame_length(b"\x00\x01")


def test_a_pickle_that_is_not_weights_only_is_refused_and_never_runs(tmp_path: Path) -> None:
    probe = Path("/tmp/pytorch_path_wire_probe")
    probe.unlink(missing_ok=True)
    buffer = io.BytesIO()
    torch.save({"x": _Evil()}, buffer)
    with pytest.raises(WireError, match="not plain data"):
        wire.decode(buffer.getvalue())
    with pytest.raises(WireError):
        wire.decode(pickle.dumps(_Evil()))
    assert not probe.exists()


def test_a_raw_subclass_or_numpy_array_in_a_frame_is_refused() -> None:
    # What a forging worker might send without going through to_data.
    for value in (torch.ones(2).as_subclass(_Sub), np.zeros(3)):
        buffer = io.BytesIO()
        torch.save(value, buffer)
        with pytest.raises(WireError):
            wire.decode(buffer.getvalue())


def test_forged_tags_decode_to_data_or_a_wire_error() -> None:
    tag = "__pytorch_path_wire__"
    assert wire.round_trip({tag: "opaque", "type_name": "x", "text": "y"}) == Opaque("x", "y")
    with pytest.raises(WireError):
        wire.decode(wire.encode({tag: "ndarray", "data": 1, "dtype": "int8", "shape": [1]}))
    with pytest.raises(WireError):
        wire.decode(wire.encode({tag: "nonsense"}))


def test_learner_errors_cross_as_data() -> None:
    def boom(mod, x):
        raise ValueError("bad x")

    answer = wire.execute(None, boom, wire.encode(([1], {})), name="boom", learner_file=None)
    with pytest.raises(LearnerError) as caught:
        wire.unpack_answer(answer)
    err = caught.value
    assert err.type_name == "ValueError" and err.message == "bad x"
    assert err.is_a("ValueError") and err.is_a("Exception") and not err.is_a("TypeError")
    assert LearnerError.from_data(err.to_data()) == err
    with pytest.raises(WireError):
        LearnerError.from_data({"message": "no type"})


def test_system_exit_and_skips_in_learner_code_become_errors() -> None:
    def leave(mod):
        raise SystemExit(0)

    def skip(mod):
        pytest.skip("claims to be skipped")

    for fn in (leave, skip):
        answer = wire.execute(None, fn, wire.encode(([], {})), name="x", learner_file=None)
        with pytest.raises(LearnerError):
            wire.unpack_answer(answer)


def test_both_sides_start_from_the_same_global_rng() -> None:
    def draw(mod, n):
        return torch.rand(n)

    payload = wire.encode(([4], {}))
    first = wire.unpack_answer(wire.execute(None, draw, payload, name="draw", learner_file=None))
    torch.manual_seed(999)
    second = wire.unpack_answer(wire.execute(None, draw, payload, name="draw", learner_file=None))
    assert torch.equal(first, second)


def test_a_scenario_cannot_change_the_callers_input() -> None:
    from pytorch_path.plugin import LocalTransport

    def mutate(mod, x):
        x.add_(1)
        return x

    mutate = wire.scenario(mutate)
    side = wire.Side("learner", LocalTransport(lambda: None, None), Path("g.py"), "x.py")  # type: ignore[arg-type]
    x = torch.zeros(3)
    got = side.run(mutate, x)
    assert torch.equal(got, torch.ones(3)) and torch.equal(x, torch.zeros(3))
    with pytest.raises(TypeError, match="not marked with @scenario"):
        side.run(lambda mod: None)


def _corpus():
    x = torch.arange(24.0).reshape(4, 6)
    w = torch.randn(3, requires_grad=True)
    return [
        {"x": x, "view": x[:, ::2], "t": x.t(), "row": x[1]},  # views share one storage
        (w, w * 2, torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(1), False)),
        [torch.zeros(0), torch.empty(3, device="meta"), torch.tensor(True), 1 + 2j],
        {"ints": torch.arange(5, dtype=torch.int16), "c": torch.randn(2, dtype=torch.complex64)},
        {"np": np.arange(4.0), "scalar": np.int8(3), "sub": torch.ones(2).as_subclass(_Sub)},
        {"model": torch.nn.Linear(2, 2), "size": torch.Size([2]), "dtype": torch.float16},
        [1, 2.5, "s", b"b", None, {1, 2}, (torch.float32, torch.device("cpu"))],
        torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,), check_invariants=True),
    ]


def _same(a, b) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape, a.device, a.requires_grad, a.is_leaf) == (
            b.dtype, b.shape, b.device, b.requires_grad, b.is_leaf
        )  # fmt: skip
        if a.layout == torch.strided:
            assert (a.stride(), a.storage_offset()) == (b.stride(), b.storage_offset())
        if a.device.type != "meta":
            assert torch.equal(a.detach().to_dense(), b.detach().to_dense())
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _same(u, v)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("value", _corpus(), ids=range(len(_corpus())))
def test_copy_data_gives_what_the_wire_gives(value) -> None:
    """The reference side's shortcut receives exactly what a round trip through the wire gives."""
    _same(wire.copy_data(value), wire.round_trip(value))


def test_copy_data_keeps_storage_sharing_and_never_aliases() -> None:
    x = torch.arange(6.0)
    got = wire.copy_data((x, x[2:]))
    got[0][3] = 100.0
    assert got[1][1] == 100.0  # the two views still share one (new) storage
    assert x[3] == 3.0  # and neither is the caller's
