from __future__ import annotations

import numpy as np
import pytest
import torch

from pytorch_path import checks
from pytorch_path.checks import (
    CheckFailure,
    assert_close,
    assert_grad_flows,
    assert_loss_decreases,
    assert_no_graph,
    assert_on_device,
    assert_python_float,
    assert_requires_grad,
    assert_scalar_close,
    assert_shape,
    assert_tensor,
    call_learner,
    call_repr,
    describe,
    expect_raises,
)
from pytorch_path.scenario import LearnerError


def message(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_numpy_array_instead_of_tensor() -> None:
    text = message(assert_tensor, np.zeros((4, 3)), what="the result")
    assert "should be a torch.Tensor, got numpy.ndarray(4, 3) float64" in text
    assert "torch.from_numpy" in text


def test_list_and_none_instead_of_tensor() -> None:
    assert "got a list of 3 items" in message(assert_tensor, [1, 2, 3])
    assert "forget a return statement" in message(assert_tensor, None)
    assert "do not call .item()" in message(assert_tensor, 3.0)


def test_tensor_subclass_is_refused() -> None:
    class Sneaky(torch.Tensor):
        pass

    fake = torch.zeros(2).as_subclass(Sneaky)
    assert "subclass of torch.Tensor" in message(assert_tensor, fake)


def test_shape_dtype_device_in_that_order() -> None:
    x = torch.zeros(3, 4, dtype=torch.float64)
    text = message(assert_tensor, x, shape=(4, 3), dtype=torch.float32)
    assert "has shape (3, 4), expected (4, 3)" in text and "permute" in text
    assert "has shape (2, 6), expected (3, 4)" in message(assert_shape, torch.zeros(2, 6), (3, 4))
    assert "view/reshape" in message(assert_shape, torch.zeros(2, 6), (3, 4))
    text = message(assert_tensor, x, shape=(3, 4), dtype=torch.float32)
    assert "has dtype torch.float64, expected torch.float32" in text
    text = message(assert_tensor, x, dtype=torch.float64, device="meta")
    assert "is on cpu, expected meta" in text


def test_nan_and_inf_are_located() -> None:
    x = torch.zeros(2, 3)
    x[1, 2] = float("nan")
    text = message(assert_tensor, x, call=call_repr("f", x))
    assert text.startswith("called f(Tensor(2, 3) float32 on cpu)")
    assert "contains NaN" in text and "index (1, 2)" in text
    y = torch.ones(4)
    y[0] = float("inf")
    assert "contains infinity (1 of 4 values" in message(assert_tensor, y)


def test_assert_close_points_at_the_worst_element() -> None:
    expected = torch.arange(6.0).reshape(2, 3)
    actual = expected.clone()
    actual[1, 0] += 0.5
    text = message(assert_close, actual, expected, what="the sum")
    assert "the sum has wrong values: 1 of 6 elements differ" in text
    assert "index (1, 0): got 3.5, expected 3" in text
    assert_close(expected.clone(), expected)


def test_assert_close_checks_dtype_before_values() -> None:
    text = message(assert_close, torch.zeros(3, dtype=torch.float64), torch.zeros(3))
    assert "dtype torch.float64, expected torch.float32" in text
    assert_close(torch.zeros(3, dtype=torch.float64), torch.zeros(3), check_dtype=False)


def test_assert_close_nan_in_actual() -> None:
    text = message(assert_close, torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]))
    assert "NaN" in text


def test_assert_close_with_number() -> None:
    assert_close(2.0, 2.0)
    assert ".item()" in message(assert_close, torch.tensor(2.0), 2.0)


def test_meta_tensors_check_structure_only() -> None:
    assert_close(torch.empty(2, 3, device="meta"), torch.empty(2, 3, device="meta"))
    assert "shape" in message(
        assert_close, torch.empty(3, 2, device="meta"), torch.empty(2, 3, device="meta")
    )


def test_scalars() -> None:
    assert_scalar_close(1.0 + 1e-9, 1.0)
    assert "is 1.5, expected 1" in message(assert_scalar_close, 1.5, 1.0)
    assert "finite" in message(assert_scalar_close, float("nan"), 1.0)
    assert assert_python_float(0.5) == 0.5
    assert ".item()" in message(assert_python_float, torch.tensor(0.5))
    assert "Python float" in message(assert_python_float, np.float32(0.5))


def test_graph_checks() -> None:
    w = torch.ones(2, requires_grad=True)
    text = message(assert_no_graph, w * 2)
    assert "still tracks gradients" in text and "MulBackward0" in text
    assert_no_graph((w * 2).detach())
    assert_requires_grad(w * 2)
    assert "does not track gradients" in message(assert_requires_grad, (w * 2).detach())


def test_grad_flows() -> None:
    model = torch.nn.Linear(3, 2)
    text = message(assert_grad_flows, model)
    assert "weight received no gradient" in text
    model(torch.randn(4, 3)).sum().backward()
    assert_grad_flows(model)
    model.bias.grad.zero_()
    assert "gradient of bias is all zeros" in message(assert_grad_flows, model)


def test_device_of_a_module() -> None:
    model = torch.nn.Linear(2, 2)
    text = message(assert_on_device, model, "meta", what="the model")
    assert "weight is on cpu, expected meta" in text
    assert_on_device(model.to("meta"), "meta")


def test_loss_decreases() -> None:
    assert_loss_decreases([1.0, 0.5, 0.05], fraction=0.9)
    text = message(assert_loss_decreases, [1.0, 0.9], fraction=0.5)
    assert "went from 1 to 0.9 (a 10% drop)" in text and "at least 50%" in text
    assert "rose from 1 to 1e+30" in message(assert_loss_decreases, [1.0, 1e30], fraction=0.5)
    assert "loss.item()" in message(assert_loss_decreases, [torch.tensor(1.0), 0.1], fraction=0.5)
    assert "finite" in message(assert_loss_decreases, [1.0, float("nan")], fraction=0.5)


def _raises(type_name: str, text: str, *mro: str, kind: str = "raised"):
    """A learner call that raised, as it arrives from the wire."""

    def call() -> None:
        raise LearnerError(type_name, text, mro=(*mro, "Exception"), kind=kind)

    return call


def test_expect_raises() -> None:
    def ok() -> None:
        return None

    got = expect_raises(_raises("ValueError", "x"), ValueError, what="boom()")
    assert isinstance(got, LearnerError) and got.type_name == "ValueError"
    assert expect_raises(_raises("ValueError", "x"), "ValueError", what="boom()")
    # A subclass counts, by the class names that crossed with it.
    assert expect_raises(_raises("UnpicklingError", "x", "PickleError"), "PickleError", what="f()")
    assert "expected ValueError to be raised" in message(expect_raises, ok, ValueError, what="ok()")


def test_learner_errors_of_other_kinds_pass_through() -> None:
    for kind in ("missing", "load", "crash"):
        with pytest.raises(LearnerError):
            expect_raises(_raises("AttributeError", "f", kind=kind), "AttributeError", what="f()")
        with pytest.raises(LearnerError):
            call_learner(
                _raises("RuntimeError", "boom", kind=kind), call="f()", hints={"boom": "x"}
            )


def test_call_learner_turns_known_errors_into_advice() -> None:
    err = _raises("RuntimeError", "mat1 and mat2 shapes cannot be multiplied", "RuntimeError")
    text = message(call_learner, err, call="f(x)", hints={"cannot be multiplied": "check dims"})
    assert text.startswith("f(x) raised RuntimeError: mat1 and mat2") and "check dims" in text
    with pytest.raises(LearnerError):
        call_learner(_raises("ValueError", "other"), call="f(x)", hints={"cannot": "no"})


def test_describe_is_short() -> None:
    assert (
        describe(torch.zeros(2, requires_grad=True)) == "Tensor(2,) float32 on cpu, requires_grad"
    )
    assert describe({"b": 1, "a": 2}) == "a dict with keys ['a', 'b']"
    assert call_repr("f", 1, dim=2) == "called f(1, dim=2)"


def test_integrity_detects_patched_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    assert checks.integrity_problems() == []
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(torch.Tensor, "__eq__", lambda *a, **k: True)
    problems = checks.integrity_problems()
    assert "torch.allclose" in problems
    assert "Tensor.__eq__" in problems


def test_patched_checks_module_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "assert_close", lambda *a, **k: None)
    assert "pytorch_path.checks.assert_close" in checks.integrity_problems()


def test_comparison_survives_patched_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "isfinite", lambda x: torch.ones_like(x, dtype=torch.bool))
    monkeypatch.setattr(torch, "abs", lambda x: torch.zeros_like(x))
    with pytest.raises(CheckFailure):
        assert_close(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]))
    with pytest.raises(CheckFailure):
        assert_close(torch.tensor([1.0, 5.0]), torch.tensor([1.0, 2.0]))


def test_equal_infinities_match() -> None:
    inf = float("inf")
    assert_close(torch.tensor([1.0, -inf, inf]), torch.tensor([1.0, -inf, inf]))
    assert "wrong values" in message(
        assert_close, torch.tensor([1.0, inf]), torch.tensor([1.0, -inf])
    )
    assert "wrong values" in message(
        assert_close, torch.tensor([1.0, 0.0]), torch.tensor([1.0, -inf])
    )


def test_expect_raises_names_the_wrong_exception() -> None:
    assert "expected ValueError to be raised, got KeyError" in message(
        expect_raises, _raises("KeyError", "'k'", "LookupError"), ValueError, what="f()"
    )
    with pytest.raises(LearnerError):  # the stub: reported as not started
        expect_raises(_raises("NotImplementedError", "1.1: f"), ValueError, what="f()")


def test_call_repr_shows_small_tuples() -> None:
    assert call_repr("f", (14, 18), [1, 2]) == "called f((14, 18), [1, 2])"
    assert "a tuple of 9 items" in call_repr("f", tuple(range(9)))
