"""Grader for 3.5: variable-length sequences, padding, lengths and masks.

Every batch is random: 3 to 7 sequences of lengths 1 to 9 (at least one of length 1, never
already sorted by length), with labels that are not a function of the length. The expected
batch comes from the reference collate function (which gets its own copy of the batch).
When a value is wrong, the learner's answer is compared with the usual mistakes (the batch
sorted by length, an inverted mask, the wrong padding value, a T_max one too long or too
short) to say which one it is. Datasets and DataLoaders are built inside scenarios (where
the learner's code runs) and come back as the items and batches they yield.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from pytorch_path.checks import (
    assert_equal,
    assert_tensor,
    assert_unchanged,
    describe,
    expect_raises,
    fail,
)
from pytorch_path.scenario import scenario

KEYS = ("tokens", "lengths", "mask", "labels")

# ----------------------------------------------------------------------------- dataset


def test_dataset_items(learner, seed):
    """SequenceDataset has one item per sequence: (the sequence, its label as a Python int)."""
    rng = seed.python_random(1)
    for index, as_tensor in enumerate((True, False)):
        batch = _batch(seed, "cpu", 10 + index)
        sequences = [seq for seq, _ in batch]
        labels_list = [rng.randint(0, 5) for _ in sequences]
        labels: Any = torch.tensor(labels_list) if as_tensor else list(labels_list)
        kind = "an int64 tensor" if as_tensor else "a list of ints"
        call = (
            f"SequenceDataset(sequences, labels) with {len(sequences)} sequences and labels "
            f"as {kind}"
        )
        got = learner.run(dataset_items, sequences, labels)
        assert_equal(got["len"], len(sequences), what="len(dataset)", call=call)
        _check_items(got, sequences, labels_list, call)


def test_dataset_rejects_mismatched_labels(learner, seed):
    """SequenceDataset raises ValueError when there is not exactly one label per sequence."""
    batch = _batch(seed, "cpu", 20)
    sequences = [seq for seq, _ in batch]
    for labels in (torch.zeros(len(sequences) + 1, dtype=torch.int64), [0] * (len(sequences) - 1)):
        call = (
            f"SequenceDataset(sequences, labels) with {len(sequences)} sequences and "
            f"{len(labels)} labels"
        )
        expect_raises(
            learner.run, "ValueError", dataset_items, sequences, labels,
            what=f"{call} (one label per sequence)",
        )  # fmt: skip
    # and one label per sequence is accepted
    labels_list = [label for _, label in batch]
    call = f"SequenceDataset(sequences, labels) with {len(sequences)} sequences and as many labels"
    got = learner.run(dataset_items, sequences, labels_list)
    assert_equal(got["len"], len(sequences), what="len(dataset)", call=call)
    _check_items(got, sequences, labels_list, call)


# ----------------------------------------------------------------------------- collate


def test_tokens_padded_with_pad_token(learner, reference, device, seed):
    """tokens is (B, T_max) int64, batch first: each sequence, in order, then PAD_TOKEN (0)."""
    for offset in range(3):
        batch = _batch(seed, device, 30 + offset)
        expected, got, call = _collate(learner, reference, batch)
        _check_tokens(got["tokens"], expected["tokens"], [len(s) for s, _ in batch], call)


def test_lengths_int64_on_cpu(learner, reference, device, seed):
    """lengths is a (B,) int64 tensor on the CPU, in the batch's order."""
    for offset in range(3):
        batch = _batch(seed, device, 40 + offset)
        expected, got, call = _collate(learner, reference, batch)
        _check_lengths(got["lengths"], expected["lengths"], [len(s) for s, _ in batch], call)


def test_mask_true_at_real_tokens(learner, reference, device, seed):
    """mask is (B, T_max) bool, True exactly where a real token is (t < lengths[i])."""
    for offset in range(3):
        batch = _batch(seed, device, 50 + offset)
        expected, got, call = _collate(learner, reference, batch)
        _check_mask(got["mask"], expected["mask"], [len(s) for s, _ in batch], call)


def test_labels_in_batch_order(learner, reference, device, seed):
    """labels is a (B,) int64 tensor in the items' order, from ints or 0-dim tensors."""
    for offset in range(3):
        batch = _batch(seed, device, 60 + offset, tensor_labels=offset == 2)
        expected, got, call = _collate(learner, reference, batch)
        _check_labels(got["labels"], expected["labels"], [len(s) for s, _ in batch], call)


def test_equal_lengths(learner, reference, device, seed):
    """A batch whose sequences all have the same length needs no padding and an all-True mask."""
    for offset in range(2):
        batch = _batch(seed, device, 70 + offset, equal=True)
        expected, got, call = _collate(learner, reference, batch)
        _check_all(got, expected, [len(s) for s, _ in batch], call)


def test_inputs_not_modified(learner, reference, device, seed):
    """collate_sequences leaves the sequences alone and returns tokens that do not share memory."""
    for offset in range(2):
        batch = _batch(seed, device, 80 + offset, equal=offset == 1)
        expected, got, call = _collate(learner, reference, batch, write=True)
        for i, ((seq, _), (old, _)) in enumerate(zip(got["batch_after"], batch, strict=True)):
            assert_unchanged(seq, old, what=f"sequence {i}", call=call)
        lengths = [len(s) for s, _ in batch]
        _check_tokens(got["out"]["tokens"], expected["tokens"], lengths, call)
        for i, ((seq, _), (old, _)) in enumerate(zip(got["batch_written"], batch, strict=True)):
            if not torch.equal(seq, old):
                raise fail(
                    f"{call}; writing to the returned tokens changed sequence {i}: tokens shares "
                    "memory with the input; build a new tensor (pad_sequence, torch.stack or "
                    "torch.full + copy all make one)"
                )


def test_works_as_dataloader_collate_fn(learner, reference, seed):
    """A DataLoader with collate_fn=collate_sequences yields padded batch dicts."""
    rng = seed.python_random(90)
    gen = seed.generator(90)
    n = rng.randint(9, 14)
    sequences = [torch.randint(1, 12, (rng.randint(1, 9),), generator=gen) for _ in range(n)]
    labels = torch.randint(0, 3, (n,), generator=gen)
    batch_size = rng.randint(3, 4)
    expected_batches = reference.run(loader_batches, sequences, labels, batch_size)
    got_batches = learner.run(loader_batches, sequences, labels, batch_size)
    what = (
        f"DataLoader(SequenceDataset(...) of {n} sequences, batch_size={batch_size}, "
        "collate_fn=collate_sequences)"
    )
    if len(got_batches) != len(expected_batches):
        raise fail(f"{what} gave {len(got_batches)} batches, expected {len(expected_batches)}")
    for index, (got, expected) in enumerate(zip(got_batches, expected_batches, strict=True)):
        lengths = expected["lengths"].tolist()
        call = f"{what}, batch {index} (lengths {lengths})"
        if not isinstance(got, dict) or any(key not in got for key in KEYS):
            raise fail(f"{call} is {describe(got)}, expected a dict with keys {list(KEYS)}")
        _check_all(got, expected, lengths, call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def dataset_items(mod: Any, sequences: list[torch.Tensor], labels: Any) -> dict[str, Any]:
    """SequenceDataset(sequences, labels): its length, and every item when the length is right."""
    dataset = mod.SequenceDataset(sequences, labels)
    size = len(dataset)
    items = [dataset[i] for i in range(len(sequences))] if size == len(sequences) else []
    # whether item i's sequence is the caller's tensor itself (or a view of it), not a copy
    shared = [
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], torch.Tensor)
        and item[0].untyped_storage().data_ptr() == seq.untyped_storage().data_ptr()
        for item, seq in zip(items, sequences, strict=False)
    ]
    return {
        "len": size,
        "items": items,
        "described": [describe(item) for item in items],
        "shared": shared,
    }


@scenario
def collate(mod: Any, batch: list[tuple[torch.Tensor, Any]], write: bool = False) -> dict:
    """collate_sequences(batch), the batch afterwards, and (``write``) after tokens += 100."""
    out = mod.collate_sequences(batch)
    answer = {"out": out, "described": describe(out), "batch_after": _snapshot(batch)}
    tokens = out.get("tokens") if isinstance(out, dict) else None
    if write and isinstance(tokens, torch.Tensor):
        answer["out"] = {**out, "tokens": tokens.clone()}
        try:
            with torch.no_grad():
                tokens.add_(100)
        except RuntimeError:
            pass
        answer["batch_written"] = _snapshot(batch)
    return answer


@scenario
def loader_batches(
    mod: Any, sequences: list[torch.Tensor], labels: torch.Tensor, batch_size: int
) -> list[Any]:
    """Every batch of DataLoader(SequenceDataset(...), batch_size, collate_fn=collate_sequences)."""
    loader = DataLoader(
        mod.SequenceDataset(sequences, labels),
        batch_size=batch_size,
        collate_fn=mod.collate_sequences,
    )
    return list(loader)


# ----------------------------------------------------------------------------- helpers


def _snapshot(batch: list[tuple[torch.Tensor, Any]]) -> list[tuple[Any, Any]]:
    return [(seq.clone() if isinstance(seq, torch.Tensor) else seq, label) for seq, label in batch]


def _check_items(
    got: dict[str, Any], sequences: list[torch.Tensor], labels_list: list[int], call: str
) -> None:
    """dataset[i] is (sequence i as given, int(labels[i])) for every i."""
    for i, seq in enumerate(sequences):
        item = got["items"][i]
        if not isinstance(item, tuple) or len(item) != 2:
            raise fail(f"{call}; dataset[{i}] is {got['described'][i]}, expected (sequence, label)")
        got_seq, got_label = item
        assert_tensor(
            got_seq, what=f"dataset[{i}][0]", shape=seq.shape, dtype=torch.int64, call=call
        )
        if not torch.equal(got_seq, seq):
            raise fail(
                f"{call}; dataset[{i}][0] is not sequence {i} (return it as given, unpadded)"
            )
        if not got["shared"][i]:
            raise fail(
                f"{call}; dataset[{i}][0] has sequence {i}'s values but is a copy of it; keep "
                "the sequences as given (no clone, no copy: the dataset stores the caller's "
                "tensors and returns them)"
            )
        if type(got_label) is not int:
            raise fail(
                f"{call}; dataset[{i}][1] is {describe(got_label)}, expected the Python int "
                f"{labels_list[i]} (int(labels[i]))"
            )
        assert_equal(got_label, labels_list[i], what=f"dataset[{i}][1]", call=call)


def _collate(
    learner: Any, reference: Any, batch: list[tuple[torch.Tensor, Any]], *, write: bool = False
) -> Any:
    """(expected, got, call); with ``write`` got is the whole scenario answer."""
    expected = reference.collate_sequences(batch)
    call = _call(batch)
    answer = learner.run(collate, batch, write)
    got = answer["out"]
    if not isinstance(got, dict):
        raise fail(
            f"{call}; it returned {answer['described']}, expected a dict with keys {list(KEYS)}"
        )
    missing = [key for key in KEYS if key not in got]
    if missing:
        raise fail(
            f"{call}; the returned dict has keys {sorted(map(str, got))}, missing {missing}; "
            f"return exactly the keys {list(KEYS)}"
        )
    return expected, (answer if write else got), call


def _lengths(rng: Any, *, equal: bool = False) -> list[int]:
    """Random lengths with a 1 among them, never sorted; or all equal."""
    size = rng.randint(3, 7)
    if equal:
        return [rng.randint(2, 8)] * size
    while True:
        lengths = [1] + [rng.randint(1, 9) for _ in range(size - 1)]
        rng.shuffle(lengths)
        if lengths not in (sorted(lengths), sorted(lengths, reverse=True)) and max(lengths) > 2:
            return lengths


def _batch(
    seed: Any,
    device: torch.device | str,
    offset: int,
    *,
    equal: bool = False,
    tensor_labels: bool = False,
) -> list[tuple[torch.Tensor, Any]]:
    """A random list of (1-D int64 tokens in 1..11 on ``device``, label) items."""
    rng = seed.python_random(offset)
    gen = seed.generator(offset)
    items: list[tuple[torch.Tensor, Any]] = []
    for length in _lengths(rng, equal=equal):
        tokens = torch.randint(1, 12, (length,), generator=gen).to(device)
        label: Any = rng.randint(0, 4)
        if tensor_labels:
            label = torch.tensor(label)
        items.append((tokens, label))
    return items


def _call(batch: list[tuple[torch.Tensor, Any]]) -> str:
    lengths = [len(seq) for seq, _ in batch]
    device = batch[0][0].device
    return (
        f"called collate_sequences(batch) on {len(batch)} sequences (on {device}) "
        f"of lengths {lengths}"
    )


def _sorted_order(lengths: list[int]) -> list[list[int]]:
    """Orders a learner might have sorted the batch into (longest first, shortest first)."""
    index = list(range(len(lengths)))
    return [
        sorted(index, key=lambda i: -lengths[i]),
        sorted(index, key=lambda i: lengths[i]),
    ]


def _check_order(
    name: str, got: torch.Tensor, expected: torch.Tensor, lengths: list[int], call: str
):
    """Fail with a 'sorted' message when ``got`` is ``expected`` reordered by length."""
    g = got.detach().cpu()
    e = expected.detach().cpu()
    if g.shape != e.shape or torch.equal(g, e):
        return
    for order in _sorted_order(lengths):
        if torch.equal(g, e[order]):
            raise fail(
                f"{call}; {name} holds the right rows in another order: the batch was sorted by "
                "length. Keep the items in the order given (row i belongs to item i); "
                "pack_padded_sequence(..., enforce_sorted=False) sorts internally when it needs to"
            )


def _check_shape(got: Any, expected: torch.Tensor, what: str, call: str) -> torch.Tensor:
    """A (B, T_max) tensor; a wrong width is explained as a wrong T_max."""
    tensor = assert_tensor(got, what=what, call=call)
    b, t_max = expected.shape
    if tuple(tensor.shape) != (b, t_max):
        off = ""
        if tensor.dim() == 2 and tensor.shape[0] == b and abs(tensor.shape[1] - t_max) == 1:
            off = " (one column off)"
        elif tuple(tensor.shape) == (t_max, b):
            off = " (time first: pad with batch_first=True)"
        raise fail(
            f"{call}; {what} has shape {tuple(tensor.shape)}, expected (B, T_max) = "
            f"({b}, {t_max}){off}; T_max is the length of the longest sequence in THIS batch, "
            "max(lengths), no more and no less"
        )
    return tensor


def _check_tokens(got: Any, expected: torch.Tensor, lengths: list[int], call: str) -> None:
    tokens = _check_shape(got, expected, 'the "tokens" entry', call)
    assert_tensor(
        tokens, what='the "tokens" entry', dtype=torch.int64, device=expected.device, call=call
    )
    _check_order('the "tokens" entry', tokens, expected, lengths, call)
    real = torch.arange(expected.shape[1]).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    g, e = tokens.cpu(), expected.cpu()
    if not torch.equal(g[real], e[real]):
        raise fail(
            f'{call}; the "tokens" entry does not hold the sequences at their real positions: '
            "row i must start with sequence i's tokens, in order"
        )
    pads = g[~real]
    if not bool((pads == 0).all()):
        seen = sorted(set(pads.tolist()))[:4]
        raise fail(
            f'{call}; the "tokens" entry has padding value(s) {seen} after the real tokens; '
            "pad with PAD_TOKEN (0), the id that make_sequence_task never uses for a real token "
            "(pad_sequence(..., padding_value=PAD_TOKEN)); an Embedding with padding_idx=0 "
            "then maps it to zeros"
        )


def _check_lengths(got: Any, expected: torch.Tensor, lengths: list[int], call: str) -> None:
    what = 'the "lengths" entry'
    if isinstance(got, (list, tuple)):
        raise fail(
            f"{call}; {what} should be a torch.Tensor, got {describe(got)}; make it with "
            "torch.tensor([...], dtype=torch.int64): pack_padded_sequence and the model index "
            "and compare with it as a tensor"
        )
    assert_tensor(got, what=what, shape=expected.shape, call=call)
    if got.dtype != torch.int64:
        raise fail(
            f"{call}; {what} has dtype {got.dtype}, expected torch.int64 (lengths count tokens; "
            "pass dtype=torch.int64 to torch.tensor)"
        )
    if got.device.type != "cpu":
        raise fail(
            f"{call}; {what} is on {got.device}, expected the CPU whatever the sequences' device: "
            "pack_padded_sequence requires CPU lengths"
        )
    _check_order(what, got, expected, lengths, call)
    if not torch.equal(got, expected):
        raise fail(f"{call}; {what} is {got.tolist()}, expected {expected.tolist()}")


def _check_mask(got: Any, expected: torch.Tensor, lengths: list[int], call: str) -> None:
    what = 'the "mask" entry'
    _check_shape(got, expected, what, call)
    if got.dtype != torch.bool:
        raise fail(
            f"{call}; {what} has dtype {got.dtype}, expected torch.bool (a comparison such as "
            "positions < lengths gives one); masked_fill and indexing want a bool mask"
        )
    assert_tensor(got, what=what, device=expected.device, call=call)
    g, e = got.cpu(), expected.cpu()
    if torch.equal(g, ~e):
        raise fail(
            f"{call}; {what} is inverted: it is True at the padding and False at real tokens; "
            "mask[i, t] must be True where t < lengths[i] (a real token)"
        )
    _check_order(what, g, e, lengths, call)
    if not torch.equal(g, e):
        bad = (g != e).nonzero()[0].tolist()
        raise fail(
            f"{call}; {what} is wrong at [row, t] = {bad}: got {bool(g[bad[0], bad[1]])}, "
            f"expected {bool(e[bad[0], bad[1]])}; mask[i, t] is t < lengths[i] "
            f"(lengths {lengths})"
        )


def _check_labels(got: Any, expected: torch.Tensor, lengths: list[int], call: str) -> None:
    what = 'the "labels" entry'
    assert_tensor(got, what=what, shape=expected.shape, call=call)
    if got.dtype != torch.int64:
        raise fail(
            f"{call}; {what} has dtype {got.dtype}, expected torch.int64 (class indices for "
            "cross_entropy)"
        )
    assert_tensor(got, what=what, device=expected.device, call=call)
    _check_order(what, got, expected, lengths, call)
    if not torch.equal(got.cpu(), expected.cpu()):
        raise fail(f"{call}; {what} is {got.tolist()}, expected {expected.tolist()}")


_CHECKS = {
    "tokens": _check_tokens,
    "lengths": _check_lengths,
    "mask": _check_mask,
    "labels": _check_labels,
}


def _check_all(
    got: dict[str, Any], expected: dict[str, torch.Tensor], lengths: list[int], call: str
):
    for key in KEYS:
        _CHECKS[key](got[key], expected[key], lengths, call)
