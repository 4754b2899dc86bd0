"""Grader for 3.6: an LSTM classifier with packed sequences.

The learner's model gets the reference model's weights (``load_state_dict(strict=True)``)
and must then give the same logits on random, unsorted, padded batches, in float64 (float32
on MPS). Padding invariance is checked directly: the logits of a sequence must not change
when the batch gains extra padding columns or when the sequence is batched alone. When the
logits differ, they are compared with what the usual mistakes compute (reading the padded
end, h_n of the first layer, the cell state, softmax) to say which one it is.
``train_classifier`` is checked by a twin run on a model with the documented layout, and
end to end on the ``"last"`` task of ``make_sequence_task``, which a model that reads the
padded end of the batch cannot learn reliably.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    assert_state_dict_close,
    assert_tensor,
    call_learner,
    describe,
    fail,
)
from pytorch_path.data import make_sequence_task
from pytorch_path.scenario import scenario

#: Accuracy the "last" task must reach; a correct model reached 1.0 on 100 of 100 seeds.
ACCURACY_FLOOR = 0.9

_ERROR_HINTS = {
    "must be sorted in decreasing order": (
        "the batch is not sorted by length, and it need not be: pass enforce_sorted=False to "
        "pack_padded_sequence (it sorts internally and restores the order of h_n)"
    ),
    "should be a 1D CPU int64 tensor": (
        "pack_padded_sequence wants the lengths on the CPU: pass lengths.cpu()"
    ),
    "Expected all tensors to be on the same device": (
        "keep tokens, model and labels on one device; only the lengths go to the CPU"
    ),
    "Expected tensor for argument #1 'indices' to have one of the following scalar types": (
        "the embedding wants int64 token ids: pass the tokens as they are"
    ),
}


# ----------------------------------------------------------------------------- the model


def test_padding_embeds_to_zero(learner, seed):
    """The embedding of PAD_TOKEN (0) starts as a zero vector: Embedding(..., padding_idx=0)."""
    rng = seed.python_random(1)
    for index in range(2):
        cfg = _config(rng)
        lengths = _lengths(rng, rng.randint(3, 6))
        tokens = _tokens(seed, 90 + index, lengths, cfg["vocab_size"])
        got = learner.run(fresh_embedding, cfg, tokens, init_seed=seed.value + index)
        _check_built(got, cfg)
        if not got["is_embedding"]:
            raise fail(
                f"{_describe_cfg(cfg)}: model.embedding is {got['embedding']}, expected an "
                "nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_TOKEN)"
            )
        weight = got["weight"]
        call = f"{_describe_cfg(cfg)}: model.embedding(tokens) with tokens {describe(tokens)}"
        assert_tensor(
            weight,
            what="model.embedding.weight",
            shape=(cfg["vocab_size"], cfg["embedding_dim"]),
            call=_describe_cfg(cfg),
        )
        if not bool((weight[0] == 0).all()) or not bool((got["embedded"][tokens == 0] == 0).all()):
            raise fail(
                f"{_describe_cfg(cfg)}: the embedding of PAD_TOKEN (0) is not a zero vector; "
                "create the embedding with padding_idx=PAD_TOKEN, which zeroes that row and "
                "never updates it"
            )
        # A value the learner's layer computed on the judge's tokens: one row per token id.
        assert_close(got["embedded"], F.embedding(tokens, weight), what="the embeddings",
                     call=call)  # fmt: skip


def test_matches_reference_after_weight_copy(learner, reference, device, seed):
    """With the reference's weights, the logits (B, num_classes) equal the reference's."""
    rng = seed.python_random(2)
    for index in range(3):
        cfg = _config(rng, num_layers=1 + index % 2)
        state = reference.run(init_state, cfg, init_seed=seed.value + index)
        lengths = torch.tensor(_lengths(rng, rng.randint(3, 7)))
        tokens = _tokens(seed, 10 + index, lengths.tolist(), cfg["vocab_size"]).to(device)
        expected = _forward(reference, cfg, state, tokens, lengths, device, "the reference")
        call = f"{_call(tokens, lengths)} on {_describe_cfg(cfg)}"
        got = _forward(learner, cfg, state, tokens, lengths, device, call)
        _check_logits(got, expected, cfg, state, tokens, lengths, call, device)


def test_num_layers_defaults_to_one(learner, reference, device, seed):
    """LSTMClassifier(...) without num_layers has one LSTM layer, as documented."""
    rng = seed.python_random(9)
    cfg = _config(rng, num_layers=1)
    default = {**cfg, "num_layers": None}
    state = reference.run(init_state, cfg, init_seed=seed.value + 9)
    lengths = torch.tensor(_lengths(rng, rng.randint(3, 5)))
    tokens = _tokens(seed, 95, lengths.tolist(), cfg["vocab_size"]).to(device)
    expected = _forward(reference, cfg, state, tokens, lengths, device, "the reference")
    what = f"{_describe_cfg(default)} (num_layers left out)"
    call = f"{_call(tokens, lengths)} on {what}"
    got = call_learner(
        learner.run, logits, default, state, tokens, lengths, device=device,
        dtype=_dtype(device), call=call, hints=_ERROR_HINTS,
    )  # fmt: skip
    _check_built(got, default)
    if got["load_error"] is not None:
        extra = sorted(set(got["keys"]) - set(state))
        raise fail(
            f"{what} cannot load the weights of a one-layer model ({got['load_error']}); "
            f"unexpected keys {extra}: num_layers defaults to 1 "
            "(def __init__(..., *, num_layers=1))"
        )
    _check_logits(got["logits"], expected, cfg, state, tokens, lengths, call, device)


def test_logits_ignore_extra_padding(learner, reference, device, seed):
    """A sequence's logits do not change when the batch gets extra padding columns."""
    rng = seed.python_random(3)
    for index in range(2):
        cfg = _config(rng)
        state = reference.run(init_state, cfg, init_seed=seed.value + 10 + index)
        lengths = torch.tensor(_lengths(rng, rng.randint(3, 6)))
        tokens = _tokens(seed, 20 + index, lengths.tolist(), cfg["vocab_size"]).to(device)
        call = f"{_call(tokens, lengths)} on {_describe_cfg(cfg)}"
        base = _forward(learner, cfg, state, tokens, lengths, device, call)
        assert_tensor(base, what="the logits", shape=(len(lengths), cfg["num_classes"]), call=call)
        extra = rng.randint(2, 5)
        padded = torch.cat([tokens, torch.zeros_like(tokens[:, :extra])], dim=1)
        call2 = f"{_call(padded, lengths)} (the same batch with {extra} more padding columns)"
        more = _forward(learner, cfg, state, padded, lengths, device, call2)
        assert_tensor(more, what="the logits", shape=base.shape, call=call2)
        if not torch.allclose(more, base, **_tol(device)):
            row = int((more - base).abs().amax(dim=1).argmax())
            raise fail(
                f"{call2}; the logits changed when only padding was added (largest change in "
                f"row {row}, length {int(lengths[row])}): the LSTM reads the padding. Pack the "
                "embedded batch with pack_padded_sequence(..., lengths.cpu(), batch_first=True,"
                " enforce_sorted=False) and classify h_n[-1], the state at each sequence's true "
                "end"
            )
        expected = _forward(reference, cfg, state, padded, lengths, device, "the reference")
        _check_logits(more, expected, cfg, state, padded, lengths, call2, device)


def test_logits_do_not_depend_on_batch_mates(learner, reference, device, seed):
    """A sequence gets the same logits alone as in a batch with longer sequences."""
    rng = seed.python_random(4)
    for index in range(2):
        cfg = _config(rng)
        state = reference.run(init_state, cfg, init_seed=seed.value + 20 + index)
        lengths = torch.tensor(_lengths(rng, rng.randint(3, 6)))
        tokens = _tokens(seed, 30 + index, lengths.tolist(), cfg["vocab_size"]).to(device)
        call = f"{_call(tokens, lengths)} on {_describe_cfg(cfg)}"
        batch = _forward(learner, cfg, state, tokens, lengths, device, call)
        assert_tensor(batch, what="the logits", shape=(len(lengths), cfg["num_classes"]), call=call)
        for i in sorted(range(len(lengths)), key=lambda i: int(lengths[i]))[:2]:
            n = int(lengths[i])
            alone_tokens = tokens[i : i + 1, :n].clone()
            alone_lengths = torch.tensor([n])
            call1 = f"{_call(alone_tokens, alone_lengths)} (sequence {i} of the batch, alone)"
            alone = _forward(learner, cfg, state, alone_tokens, alone_lengths, device, call1)
            assert_tensor(alone, what="the logits", shape=(1, cfg["num_classes"]), call=call1)
            if not torch.allclose(alone[0], batch[i], **_tol(device)):
                raise fail(
                    f"{call1}; its logits {alone[0].tolist()} differ from row {i} of the batch "
                    f"{batch[i].tolist()}, where longer sequences made it padded to "
                    f"{tokens.shape[1]} steps: the model reads past the true end. Classify "
                    "h_n[-1] of the packed sequence (not output[:, -1] of a padded or unpacked "
                    "output)"
                )
        expected = _forward(reference, cfg, state, tokens, lengths, device, "the reference")
        _check_logits(batch, expected, cfg, state, tokens, lengths, call, device)


def test_unsorted_batches(learner, reference, device, seed):
    """Batches need not be sorted by length: shortest first and mixed orders both work."""
    rng = seed.python_random(5)
    cfg = _config(rng)
    state = reference.run(init_state, cfg, init_seed=seed.value + 30)
    for index, order in enumerate(("shortest first", "mixed")):
        lengths_list = _lengths(rng, rng.randint(4, 7))
        if order == "shortest first":
            lengths_list = sorted(lengths_list)
        lengths = torch.tensor(lengths_list)
        tokens = _tokens(seed, 40 + index, lengths_list, cfg["vocab_size"]).to(device)
        expected = _forward(reference, cfg, state, tokens, lengths, device, "the reference")
        call = f"{_call(tokens, lengths)} ({order})"
        got = _forward(learner, cfg, state, tokens, lengths, device, call)
        _check_logits(got, expected, cfg, state, tokens, lengths, call, device)


def test_lengths_on_cpu_or_on_device(learner, reference, device, seed):
    """The lengths may come on the CPU or on the model's device; the logits are the same."""
    rng = seed.python_random(6)
    cfg = _config(rng)
    state = reference.run(init_state, cfg, init_seed=seed.value + 40)
    lengths = torch.tensor(_lengths(rng, rng.randint(3, 6)))
    tokens = _tokens(seed, 50, lengths.tolist(), cfg["vocab_size"]).to(device)
    expected = _forward(reference, cfg, state, tokens, lengths, device, "the reference")
    for where in (torch.device("cpu"), device):
        given = lengths.to(where)
        call = _call(tokens, given)
        out = _run(learner, cfg, state, tokens, given, device, call)
        _check_logits(out["logits"], expected, cfg, state, tokens, lengths, call, device)
        after = out["lengths_after"]
        if (
            not isinstance(after, torch.Tensor)
            or after.device.type != where.type
            or not torch.equal(after.cpu(), lengths)
        ):
            raise fail(f"{call}; the lengths tensor was changed or moved in place")


# ----------------------------------------------------------------------------- training


def test_train_classifier_twin_run(learner, reference, device, seed):
    """train_classifier records one loss per step and trains exactly like a correct loop."""
    rng = seed.python_random(7)
    for index in range(2):
        cfg = _config(rng, num_layers=1)
        state = reference.run(init_state, cfg, init_seed=seed.value + 50 + index)
        batches = _batches(seed, 60 + 10 * index, cfg, [rng.randint(3, 6) for _ in range(3)])
        epochs, lr = 2, [0.01, 0.03][index]
        options = {"epochs": epochs, "lr": lr, "device": device, "dtype": _dtype(device)}
        want = reference.run(train, cfg, state, batches, **options)
        expected = want["losses"]
        call = (
            f"called train_classifier(model, batches, epochs={epochs}, lr={lr}) with a correct "
            f"{_describe_cfg(cfg)} in float64 and {len(batches)} batches"
        )
        got = call_learner(
            learner.run, train, cfg, state, batches, call=call, hints=_ERROR_HINTS, **options
        )
        losses = got["losses"]
        if not isinstance(losses, list):
            raise fail(f"{call} returned {got['described']}; return a list of Python floats")
        if len(losses) != len(expected):
            raise fail(
                f"{call} returned {len(losses)} losses, expected {len(expected)}: one per batch "
                f"per epoch ({len(batches)} batches x {epochs} epochs), each loss.item()"
            )
        for i, value in enumerate(losses):
            assert_python_float(value, what=f"losses[{i}]", call=call)
        if got["seen"] and not all(got["seen"]):
            raise fail(
                f"{call} with the model in eval mode; the forward passes ran in eval mode: call "
                "model.train() before training"
            )
        tol = {"rtol": 1e-6, "atol": 1e-9} if device.type != "mps" else {"rtol": 1e-3, "atol": 1e-5}
        if not _agree(losses, expected, **tol):
            for mistake, advice in _TRAIN_MISTAKES.items():
                sim_model = _twin(cfg, state, device)
                sim = _simulate(sim_model, batches, epochs=epochs, lr=lr, mistake=mistake)
                if _agree(losses, sim, rtol=1e-5, atol=1e-8):
                    raise fail(f"{call}: the losses follow a run where {advice}")
            first = next(
                i
                for i, (g, e) in enumerate(zip(losses, expected, strict=True))
                if not _agree([g], [e], **tol)
            )
            raise fail(
                f"{call}: losses[{first}] is {losses[first]:.6g}, a correct run on the same model "
                f"and batches gives {expected[first]:.6g}; check: one Adam(model.parameters(), "
                "lr=lr) made before the loop, zero_grad / forward / F.cross_entropy (mean) / "
                "backward / step for every batch, loss.item() recorded each step"
            )
        assert_state_dict_close(got["state"], want["state"], what="the trained model's state_dict",
                                call=call, **tol)  # fmt: skip


def test_learns_the_last_task(learner, seed):
    """Trained with train_classifier, the model learns the "last" task (accuracy >= 0.9)."""
    data_seed = seed.python_random(8).randint(0, 10_000)
    sequences, labels = make_sequence_task(
        328, task="last", vocab_size=6, min_len=2, max_len=24, seed=data_seed
    )
    batches = []
    for start in range(0, 128, 16):
        chunk = sequences[start : start + 16]
        batches.append(
            {
                "tokens": pad_sequence(chunk, batch_first=True, padding_value=0),
                "lengths": torch.tensor([len(s) for s in chunk]),
                "labels": labels[start : start + 16],
            }
        )
    test_tokens = pad_sequence(sequences[128:], batch_first=True, padding_value=0)
    test_lengths = torch.tensor([len(s) for s in sequences[128:]])
    call = (
        "train_classifier(LSTMClassifier(6, 8, 16, 2), 8 batches of 16 sequences of the "
        f'"last" task (make_sequence_task seed={data_seed}), epochs=3, lr=0.03)'
    )
    got = call_learner(
        learner.run,
        learn_the_task,
        batches,
        test_tokens,
        test_lengths,
        init_seed=seed.value,
        call=call,
        hints=_ERROR_HINTS,
    )
    losses = got["losses"]
    if not isinstance(losses, list) or len(losses) != 24:
        raise fail(f"{call} returned {got['described']}; expected a list of 24 losses")
    logits = got["logits"]
    assert_tensor(logits, what="the logits", shape=(200, 2), call=call)
    accuracy = (logits.argmax(dim=1) == labels[128:]).float().mean().item()
    if accuracy < ACCURACY_FLOOR:
        raise fail(
            f"{call}; the accuracy on 200 held-out sequences is {accuracy:.1%}, expected at least "
            f"{ACCURACY_FLOOR:.0%} (a correct model reaches 100% here). The label is whether the "
            "LAST REAL token is A: classify the state at each sequence's true end, h_n[-1] of the "
            "packed batch, not the state after the padding"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def init_state(mod: Any, cfg: dict[str, int], *, init_seed: int) -> dict[str, torch.Tensor]:
    """The state_dict of a freshly built model (``torch.manual_seed(init_seed)`` first)."""
    torch.manual_seed(init_seed)
    return _build(mod, cfg).state_dict()


@scenario
def fresh_embedding(
    mod: Any, cfg: dict[str, int], tokens: torch.Tensor, *, init_seed: int
) -> dict[str, Any]:
    """A fresh model's embedding: its weight, and what it gives for ``tokens``."""
    torch.manual_seed(init_seed)
    model = _build(mod, cfg)
    if not isinstance(model, nn.Module):
        return {"built": describe(model)}
    embedding = getattr(model, "embedding", None)
    out: dict[str, Any] = {
        "built": None,
        "is_embedding": isinstance(embedding, nn.Embedding),
        "embedding": describe(embedding),
    }
    if isinstance(embedding, nn.Embedding):
        with torch.no_grad():
            out["embedded"] = embedding(tokens)
        out["weight"] = embedding.weight.detach().clone()
    return out


@scenario
def logits(
    mod: Any,
    cfg: dict[str, int],
    state: dict[str, torch.Tensor],
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    *,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, Any]:
    """Build the model, load ``state`` (strict), move it to device/dtype, eval, forward."""
    model = _build(mod, cfg)
    if not isinstance(model, nn.Module):
        return {"built": describe(model)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        return {
            "built": None,
            "load_error": str(exc).splitlines()[0],
            "keys": sorted(model.state_dict()),
        }
    model = model.to(device, dtype).eval()
    with torch.no_grad():
        out = model(tokens, lengths)
    return {"built": None, "load_error": None, "logits": out, "lengths_after": lengths}


@scenario
def train(
    mod: Any,
    cfg: dict[str, int],
    state: dict[str, torch.Tensor],
    batches: list[dict[str, torch.Tensor]],
    *,
    epochs: int,
    lr: float,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, Any]:
    """train_classifier on a correct model handed over in eval mode; the modes its forwards saw."""
    model = _twin(cfg, state, device, dtype).eval()
    seen: list[bool] = []

    def record(module: nn.Module, args: Any) -> None:
        seen.append(module.training)

    hook = model.register_forward_pre_hook(record)
    try:
        losses = mod.train_classifier(model, batches, epochs=epochs, lr=lr)
    finally:
        hook.remove()
    return {
        "losses": losses,
        "described": describe(losses),
        "seen": seen,
        "state": model.state_dict(),
    }


@scenario
def learn_the_task(
    mod: Any,
    batches: list[dict[str, torch.Tensor]],
    test_tokens: torch.Tensor,
    test_lengths: torch.Tensor,
    *,
    init_seed: int,
) -> dict[str, Any]:
    """Train LSTMClassifier(6, 8, 16, 2) with train_classifier; its logits on held-out data."""
    torch.manual_seed(init_seed)
    model = mod.LSTMClassifier(6, 8, 16, 2)
    losses = mod.train_classifier(model, batches, epochs=3, lr=0.03)
    model.eval()
    with torch.no_grad():
        out = model(test_tokens, test_lengths)
    return {"losses": losses, "described": describe(losses), "logits": out}


# ----------------------------------------------------------------------------- helpers


class _Twin(nn.Module):
    """A model with the documented layout and behaviour, built by the grader."""

    def __init__(self, cfg: dict[str, int]) -> None:
        super().__init__()
        self.embedding = nn.Embedding(cfg["vocab_size"], cfg["embedding_dim"], padding_idx=0)
        self.lstm = nn.LSTM(
            cfg["embedding_dim"], cfg["hidden_size"], num_layers=cfg["num_layers"],
            batch_first=True,
        )  # fmt: skip
        self.head = nn.Linear(cfg["hidden_size"], cfg["num_classes"])

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (h_n, _) = self.lstm(packed)
        return self.head(h_n[-1])


def _twin(
    cfg: dict[str, int],
    state: dict[str, torch.Tensor],
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> _Twin:
    model = _Twin(cfg)
    model.load_state_dict(state, strict=True)
    return model.to(device, dtype or _dtype(device))


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for tight comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5} if device.type == "mps" else {"rtol": 1e-7, "atol": 1e-9}


def _config(rng: Any, *, num_layers: int | None = None) -> dict[str, int]:
    """Vocabulary, embedding, hidden and class sizes, all different, and 1 or 2 layers."""
    while True:
        cfg = {
            "vocab_size": rng.randint(6, 14),
            "embedding_dim": rng.randint(3, 8),
            "hidden_size": rng.randint(5, 12),
            "num_classes": rng.randint(2, 5),
        }
        if len(set(cfg.values())) == 4:
            cfg["num_layers"] = num_layers if num_layers is not None else rng.randint(1, 2)
            return cfg


def _describe_cfg(cfg: dict[str, Any]) -> str:
    layers = "" if cfg["num_layers"] is None else f", num_layers={cfg['num_layers']}"
    return (
        f"LSTMClassifier({cfg['vocab_size']}, {cfg['embedding_dim']}, {cfg['hidden_size']}, "
        f"{cfg['num_classes']}{layers})"
    )


def _build(module: Any, cfg: dict[str, Any]) -> Any:
    """The model ``cfg`` describes; ``num_layers=None`` leaves it out (the default)."""
    args = (cfg["vocab_size"], cfg["embedding_dim"], cfg["hidden_size"], cfg["num_classes"])
    if cfg["num_layers"] is None:
        return module.LSTMClassifier(*args)
    return module.LSTMClassifier(*args, num_layers=cfg["num_layers"])


def _check_built(out: dict[str, Any], cfg: dict[str, int]) -> None:
    if out["built"] is not None:
        raise fail(f"{_describe_cfg(cfg)} built {out['built']}, expected an nn.Module")


def _check_keys(got: list[str], want: list[str], cfg: dict[str, int], first: str = "") -> None:
    if got == want:
        return
    error = f" ({first} ...)" if first else ""
    raise fail(
        f"{_describe_cfg(cfg)}: its parameters do not match the documented layout, so the "
        f"reference weights cannot be copied in{error}; expected the keys {want}, got {got}. "
        "Name the layers embedding, lstm and head, with the sizes the docstring gives "
        "(num_layers in the LSTM, batch_first=True)"
    )


def _run(
    side: Any,
    cfg: dict[str, int],
    state: dict[str, torch.Tensor],
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    device: torch.device,
    call: str,
) -> dict[str, Any]:
    """The ``logits`` scenario on one side, its known errors explained."""
    out = call_learner(
        side.run, logits, cfg, state, tokens, lengths, device=device, dtype=_dtype(device),
        call=call, hints=_ERROR_HINTS,
    )  # fmt: skip
    _check_built(out, cfg)
    if out["load_error"] is not None:
        _check_keys(out["keys"], sorted(state), cfg, out["load_error"])
        raise fail(
            f"{_describe_cfg(cfg)}: load_state_dict(strict=True) of the reference weights "
            f"failed ({out['load_error']}); give the layers the sizes the docstring gives"
        )
    return out


def _forward(
    side: Any,
    cfg: dict[str, int],
    state: dict[str, torch.Tensor],
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    device: torch.device,
    call: str,
) -> Any:
    """The logits one side's model computes with ``state`` loaded, in eval mode."""
    return _run(side, cfg, state, tokens, lengths, device, call)["logits"]


def _lengths(rng: Any, size: int, *, longest_first: bool = False) -> list[int]:
    """Random lengths 1..9 with a 1 among them, not sorted longest first (unless asked)."""
    while True:
        lengths = [1] + [rng.randint(1, 9) for _ in range(size - 1)]
        rng.shuffle(lengths)
        if max(lengths) < 3:
            continue
        if longest_first:
            return sorted(lengths, reverse=True)
        if lengths != sorted(lengths, reverse=True):
            return lengths


def _tokens(seed: Any, offset: int, lengths: list[int], vocab: int, extra: int = 0):
    """(B, max(lengths) + extra) int64 tokens in 1..vocab-1, padded with 0, on the CPU."""
    gen = seed.generator(offset)
    seqs = [torch.randint(1, vocab, (n,), generator=gen) for n in lengths]
    tokens = pad_sequence(seqs, batch_first=True, padding_value=0)
    if extra:
        tokens = torch.cat([tokens, torch.zeros(len(lengths), extra, dtype=torch.int64)], dim=1)
    return tokens


def _call(tokens: torch.Tensor, lengths: torch.Tensor) -> str:
    return (
        f"called model(tokens, lengths) with tokens {describe(tokens)} and lengths "
        f"{lengths.tolist()} (on {lengths.device})"
    )


def _alternatives(ref: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor):
    """What the usual mistakes compute, with the reference's weights."""
    with torch.no_grad():
        emb = ref.embedding(tokens)
        out, _ = ref.lstm(emb)
        yield (
            ref.head(out[:, -1]),
            "they equal head(output[:, -1]) of the LSTM run over the padded batch: that is the "
            "state after the padding, not after each sequence's last real token. Pack the batch "
            "with pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, "
            "enforce_sorted=False) and classify h_n[-1]",
        )
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out_p, (h_n, c_n) = ref.lstm(packed)
        unpacked, _ = pad_packed_sequence(out_p, batch_first=True)
        yield (
            ref.head(unpacked[:, -1]),
            "they equal head(output[:, -1]) of the unpacked output: pad_packed_sequence fills "
            "the steps after a sequence's end with zeros, so shorter sequences are classified "
            "from a zero vector. Classify h_n[-1], the state at each sequence's true end",
        )
        if h_n.shape[0] > 1:
            yield (
                ref.head(h_n[0]),
                "they equal head(h_n[0]): with num_layers > 1, h_n[0] is the FIRST layer's "
                "final state; the top layer's is h_n[-1]",
            )
        yield (
            ref.head(c_n[-1]),
            "they equal head(c_n[-1]), the final cell state; classify the hidden state "
            "h_n[-1] (from output, (h_n, c_n) = self.lstm(packed))",
        )
        yield (
            ref.head(h_n[-1]).softmax(dim=-1),
            "they are probabilities (softmax of the logits); return the raw logits, "
            "cross_entropy applies log-softmax itself",
        )


def _check_logits(got, expected, cfg, state, tokens, lengths, call, device) -> None:
    """Compare the logits with the reference's; name the mistake when they differ."""
    assert_tensor(got, what="the logits", shape=expected.shape, call=call)
    try:
        assert_close(got, expected, what="the logits", call=call, **_tol(device))
    except AssertionError:
        ref = _twin(cfg, state, device).eval()
        if got.shape == (tokens.shape[0], cfg["num_classes"]):
            for value, advice in _alternatives(ref, tokens, lengths):
                if torch.allclose(got.detach().to(value.dtype), value, rtol=1e-6, atol=1e-8):
                    raise fail(f"{call}; the logits are wrong: {advice}") from None
        raise


def _batches(seed: Any, offset: int, cfg: dict[str, int], sizes: list[int]) -> list[dict]:
    rng = seed.python_random(offset)
    gen = seed.generator(offset)
    batches = []
    for index, size in enumerate(sizes):
        lengths = _lengths(rng, size)
        batches.append(
            {
                "tokens": _tokens(seed, offset + 100 + index, lengths, cfg["vocab_size"]),
                "lengths": torch.tensor(lengths),
                "mask": torch.ones(size, max(lengths), dtype=torch.bool),
                "labels": torch.randint(0, cfg["num_classes"], (size,), generator=gen),
            }
        )
    return batches


def _simulate(model: nn.Module, batches: list[dict], *, epochs: int, lr: float, mistake: str):
    """A training run with one usual mistake switched on; returns the losses."""
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(epochs):
        if mistake == "optimizer per epoch":
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for batch in batches:
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            out = model(batch["tokens"].to(device), batch["lengths"])
            loss = F.cross_entropy(
                out, batch["labels"].to(device), reduction="sum" if mistake == "sum" else "mean"
            )
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


_TRAIN_MISTAKES = {
    "no zero_grad": "the gradients are never cleared: call optimizer.zero_grad() every batch",
    "optimizer per epoch": (
        "a new Adam optimizer is made every epoch, which throws away its running averages: "
        "make it once, before the first epoch"
    ),
    "sum": "the loss is summed over the batch; use the mean (F.cross_entropy's default)",
}


def _agree(got: list[float], want: list[float], rtol: float, atol: float) -> bool:
    return all(abs(g - e) <= atol + rtol * abs(e) for g, e in zip(got, want, strict=True))
