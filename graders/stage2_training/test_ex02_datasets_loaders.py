"""Grader for 2.2: datasets, reproducible splits and DataLoaders.

The test draws the tensors, the fractions, the seeds and the global seeds set around each
call; a scenario builds the learner's dataset, splits or loaders from them and reports
what came out as data: the items read, the indices of each split, the item ids of each
batch of each epoch, and whether the global RNG state moved. The judge compares those
values with the tensors it chose, the documented size rule and the reference's splits.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from pytorch_path.checks import (
    assert_close,
    assert_equal,
    assert_tensor,
    assert_unchanged,
    describe,
    expect_raises,
    fail,
)
from pytorch_path.scenario import LearnerError, scenario

#: Fraction sets for splits; each has a remainder to place for most n.
FRACTIONS = (
    (0.5, 0.5),
    (0.625, 0.25, 0.125),
    (0.8, 0.1, 0.1),
    (0.7, 0.15, 0.15),
    (0.375, 0.375, 0.25),
    (0.6, 0.2, 0.2),
    (0.34, 0.33, 0.33),
)


# ----------------------------------------------------------------------------- the dataset


def test_dataset_len_and_items(learner, device, seed):
    """len(dataset) is N and dataset[i] is the pair (features[i], labels[i]), untouched."""
    rng = seed.python_random()
    for index in range(3):
        n = rng.randint(5, 12)
        shape = (n, rng.randint(2, 4), rng.randint(5, 7)) if index % 2 else (n, rng.randint(2, 6))
        features = seed.randn(*shape, device=device, offset=index)
        labels = (
            seed.randint(0, 7, (n,), device=device, offset=10 + index)
            if index < 2
            else seed.rand(n, 2, device=device, offset=10)
        )
        built = f"TensorPairDataset(features: {describe(features)}, labels: {describe(labels)})"
        wanted = sorted({0, n - 1, rng.randrange(n)})
        got = learner.run(dataset_items, features, labels, wanted)
        assert_equal(got["len"], n, what=f"len({built})")
        for i, item in zip(wanted, got["items"], strict=True):
            call = f"{built}[{i}]"
            if not item["is_tuple"] or len(item["value"]) != 2:
                raise fail(f"{call} is {item['described']}; return the tuple (x, y)")
            x, y = item["value"]
            assert_close(x, features[i], what="x", call=call, rtol=0, atol=0)
            assert_close(y, labels[i], what="y", call=call, rtol=0, atol=0)
        assert_unchanged(
            got["features_after"], features, what="the features tensor", call=f"reading {built}"
        )
        assert_unchanged(
            got["labels_after"], labels, what="the labels tensor", call=f"reading {built}"
        )


def test_dataset_rejects_mismatched_lengths(learner, seed):
    """TensorPairDataset raises ValueError when features and labels differ in length."""
    rng = seed.python_random()
    n = rng.randint(4, 9)
    features, labels = seed.randn(n, 3), seed.randint(0, 3, (n + rng.randint(1, 3),))
    longer = seed.randn(len(labels), 3, offset=1)
    for xs, ys, why in (
        (features, labels, "more labels than features"),
        (longer, labels[:n], "more features than labels"),
    ):
        expect_raises(
            learner.TensorPairDataset,
            "ValueError",
            xs,
            ys,
            what=f"TensorPairDataset(features: {describe(xs)}, labels: {describe(ys)}) ({why})",
        )
    # Matching lengths are accepted, and the items are the given rows.
    built = f"TensorPairDataset(features: {describe(features)}, labels: {describe(labels[:n])})"
    got = learner.run(dataset_items, features, labels[:n], [n - 1])
    assert_equal(got["len"], n, what=f"len({built})")
    item = got["items"][0]
    if not item["is_tuple"] or len(item["value"]) != 2:
        raise fail(f"{built}[{n - 1}] is {item['described']}; return the tuple (x, y)")
    assert_close(item["value"][0], features[n - 1], what="x", call=f"{built}[{n - 1}]",
                 rtol=0, atol=0)  # fmt: skip


def test_dataset_stores_the_tensors_as_given(learner, seed):
    """The dataset keeps the tensors it was given (no copy, no conversion): items follow them."""
    rng = seed.python_random(1)
    n = rng.randint(5, 9)
    features = seed.randn(n, rng.randint(2, 4), dtype=torch.float64, offset=20)
    labels = seed.randint(0, 5, (n,), offset=21).to(torch.int32)
    wanted = sorted({0, n - 1, rng.randrange(n)})
    built = f"TensorPairDataset(features: {describe(features)}, labels: {describe(labels)})"
    got = learner.run(items_after_change, features, labels, wanted)
    for i, item in zip(wanted, got["items"], strict=True):
        call = f"built {built}, then changed both tensors in place (+1), then read item {i}"
        if not item["is_tuple"] or len(item["value"]) != 2:
            raise fail(f"{call}; got {item['described']}; return the tuple (x, y)")
        x, y = item["value"]
        for what, value, base in (("x", x, features[i]), ("y", y, labels[i])):
            assert_tensor(value, what=what, dtype=base.dtype, call=call)
            if value.shape == base.shape and torch.equal(value, base):
                raise fail(
                    f"{call}; {what} still holds the old values: the dataset keeps a copy. "
                    "Store the tensors as given (no clone(), no torch.tensor(...), no .to(...))"
                )
            assert_close(value, base + 1, what=what, call=call, rtol=0, atol=0)


def test_transform_runs_per_item_on_read(learner, device, seed):
    """The transform runs in __getitem__, once per read, on that item's features only."""
    rng = seed.python_random()
    n = rng.randint(6, 11)
    features = seed.randn(n, rng.randint(2, 5), device=device)
    labels = seed.randint(0, 4, (n,), device=device, offset=1)
    scale, shift = rng.choice((2.0, 3.0, -1.5)), rng.choice((0.5, 1.0, -2.0))
    reads = [rng.randrange(n), n - 1, 0, 0]
    built = "TensorPairDataset(features, labels, transform)"
    got = learner.run(transform_reads, features, labels, scale, shift, reads)
    if got["init_calls"]:
        raise fail(
            f"{built} called the transform {got['init_calls']} time(s) while the dataset was "
            "being built (in __init__); it must run in __getitem__, on each item as it is "
            "read, and never on the whole stored tensor"
        )
    for read, (i, seen) in enumerate(zip(reads, got["reads"], strict=True)):
        call = f"{built}[{i}]"
        x, y = seen["x"], seen["y"]
        if read == 3:  # item 0 read a second time
            if seen["calls"] != 1:
                raise fail(f"{built}[0] read a second time did not run the transform again")
            assert_close(x, features[0] * scale + shift, what="x read again", call=call)
            continue
        if seen["calls"] != 1:
            raise fail(
                f"{call} ran the transform {seen['calls']} time(s), expected once per read "
                "(no caching, no transform in __init__)"
            )
        got_in = seen["input"]
        if not isinstance(got_in, torch.Tensor) or tuple(got_in.shape) != tuple(features[i].shape):
            raise fail(
                f"{call} passed {seen['input_described']} to the transform, expected this "
                f"item's features {describe(features[i])}"
            )
        assert_close(got_in, features[i], what="the transform's input", call=call, rtol=0, atol=0)
        assert_close(x, features[i] * scale + shift, what="x (the transformed features)", call=call)
        assert_close(y, labels[i], what="y (labels are not transformed)", call=call, rtol=0, atol=0)
    for after, before in ((got["features_after"], features), (got["labels_after"], labels)):
        if not (isinstance(after, torch.Tensor) and torch.equal(after, before)):
            raise fail(
                f"after reading items of {built}, the stored features or labels changed: the "
                "transform must act on a copy of one item, never on the stored tensor"
            )


# ----------------------------------------------------------------------------- splits


def test_split_sizes(learner, seed):
    """split_dataset sizes: floor(n * fraction) each, the leftover going to the first split."""
    rng = seed.python_random()
    for index in range(5):
        n, fractions, sizes = _split_case(rng, telling=index < 3)
        features, labels = _pair_data(seed, n)
        call = f"called split_dataset(dataset of {n} items, fractions={list(fractions)}, seed=...)"
        try:
            got = learner.run(split, features, labels, list(fractions), rng.randint(0, 10**6))
        except LearnerError as exc:
            if not exc.is_a("ValueError"):
                raise
            raise fail(
                f"{call}; it raised ValueError: {exc.message}. These fractions are valid; if "
                "random_split complained about the lengths, they do not sum to n: take "
                "floor(n * fraction) for each split and give the leftover items to the first "
                "split"
            ) from None
        if not got["is_sequence"] or len(got["splits"]) != len(fractions):
            raise fail(
                f"{call}; got {got['described']}, expected a list of {len(fractions)} Subsets"
            )
        indices = _split_indices(got, call)
        lengths = [len(s) for s in indices]
        if lengths != sizes:
            hint = ""
            if sum(lengths) != n:
                hint = f"; they sum to {sum(lengths)}, not {n}: an item was lost or duplicated"
            elif lengths == [round(n * f) for f in fractions]:
                hint = "; those come from round(): the rule is floor, leftovers to split 0"
            raise fail(
                f"{call}; split sizes are {lengths}, expected {sizes}: each split gets "
                f"floor(n * fraction) items and the remainder of rounding down goes to the "
                f"first split{hint}"
            )
        everything = [i for s in indices for i in s]
        if sorted(everything) != list(range(n)):
            repeated = sorted({i for i in everything if everything.count(i) > 1})[:5]
            raise fail(
                f"{call}; the splits are not disjoint or do not cover the dataset (repeated "
                f"indices: {repeated}); split one random permutation"
            )
        for i, entry in enumerate(got["splits"]):
            if not entry["same_dataset"]:
                raise fail(f"{call}; split {i}.dataset is not the dataset that was split")


def test_split_reproducible(learner, reference, seed):
    """The same seed gives the same split whatever the global RNG; another seed another split."""
    rng = seed.python_random()
    for _ in range(3):
        n, fractions, _ = _split_case(rng)
        features, labels = _pair_data(seed, n)
        s1, s2 = rng.sample(range(10**6), 2)
        global_seeds = (rng.randint(0, 10**6), rng.randint(0, 10**6))
        args = (features, labels, list(fractions), s1, s2, global_seeds)
        want = reference.run(split_twice, *args)
        got = learner.run(split_twice, *args)
        call = f"split_dataset(dataset of {n} items, {list(fractions)}, seed={s1})"
        first = _split_indices(got["first"], call)
        again = _split_indices(got["again"], call)
        if first != again:
            raise fail(
                f"called {call} twice, with torch.manual_seed(...) set differently before each "
                "call; the splits differ: the split depends on the global RNG. Pass "
                "generator=torch.Generator().manual_seed(seed) to random_split"
            )
        if got["rng_changed"]:
            raise fail(_RNG_MOVED.format(call=f"called {call}"))
        other = _split_indices(got["other"], call)
        if other == first:
            raise fail(f"called {call} and again with seed={s2}; both splits are identical")
        if first != _split_indices(want["first"], call):
            raise fail(
                f"called {call}; the split is reproducible but not the documented one: use "
                "random_split(dataset, sizes, generator=torch.Generator().manual_seed(seed))"
            )


def test_split_rejects_bad_fractions(learner, reference, seed):
    """ValueError for no fractions, one outside (0, 1], a sum off 1 by more than 1e-6; not else."""
    features, labels = _pair_data(seed, 20)
    rejected = (
        ([0.5, 0.6], "they sum to 1.1"),
        ([0.7, 0.2], "they sum to 0.9"),
        ([0.25, 0.75 + 1.5e-6], "they sum to 1 + 1.5e-6, off by more than 1e-6"),
        ([0.25, 0.75 - 1.5e-6], "they sum to 1 - 1.5e-6, off by more than 1e-6"),
        ([1.2, -0.2], "both lie outside (0, 1]"),
        ([0.0, 1.0], "0 lies outside (0, 1]"),
        ([1.0 + 5e-7], "1 + 5e-7 lies outside (0, 1], although the sum is within 1e-6 of 1"),
        ([], "there are none"),
    )
    for fractions, why in rejected:
        expect_raises(
            learner.run,
            "ValueError",
            split,
            features,
            labels,
            fractions,
            0,
            what=f"split_dataset(dataset, {fractions}, seed=0) ({why})",
        )
    # The boundaries that are allowed: a single fraction of 1, fractions summing to 1, and
    # fractions whose sum is within 1e-6 of 1.
    for fractions in ([1.0], [0.25, 0.75], [0.5, 0.5 + 5e-7], [0.5, 0.5 - 5e-7]):
        call = f"called split_dataset(dataset of 20 items, {fractions}, seed=3)"
        try:
            got = learner.run(split, features, labels, fractions, 3)
        except LearnerError as exc:
            if not exc.is_a("ValueError"):
                raise
            raise fail(
                f"{call}; it raised ValueError: {exc.message}; these fractions are valid "
                "(each in (0, 1], summing to 1 within 1e-6)"
            ) from None
        want = reference.run(split, features, labels, fractions, 3)
        if _split_indices(got, call) != _split_indices(want, call):
            raise fail(
                f"{call}; the splits differ from random_split(dataset, sizes, "
                "generator=torch.Generator().manual_seed(seed)) with sizes floor(n * fraction), "
                "the leftover going to the first split"
            )


# ----------------------------------------------------------------------------- loaders


def test_loader_batches_in_order(learner, seed):
    """Without shuffling, batches follow the dataset's order; the last one may be short."""
    rng = seed.python_random()
    for drop_last in (False, True, False):
        while True:
            n, batch_size = rng.randint(11, 30), rng.randint(3, 8)
            if n % batch_size:
                break
        call = (
            f"called make_loader(dataset of {n} items, batch_size={batch_size}, shuffle=False, "
            f"seed=..., drop_last={drop_last})"
        )
        got = learner.run(
            loader_epoch, n, batch_size, shuffle=False, seed=rng.randint(0, 99), drop_last=drop_last
        )
        if not got["is_loader"]:
            raise fail(f"{call}; got {got['described']}, expected a torch.utils.data.DataLoader")
        if got["num_workers"] != 0:
            raise fail(f"{call}; num_workers is {got['num_workers']}, expected 0")
        ids, sizes = _epoch(got["batches"], call)
        full = [batch_size] * (n // batch_size)
        want = full if drop_last else [*full, n % batch_size]
        if sizes != want:
            why = (
                "drop_last=True must drop the short last batch"
                if drop_last
                else "with drop_last=False the last, shorter batch is kept"
            )
            raise fail(f"{call}; batch sizes are {sizes}, expected {want}: {why}")
        if ids != list(range(len(ids))):
            raise fail(f"{call}; with shuffle=False items must come in order, got {ids[:10]}…")
        assert_equal(got["len"], len(want), what=f"{call}; len(loader)")


def test_loader_with_pair_dataset(learner, seed):
    """make_loader batches a TensorPairDataset into (x of (B, D), y of (B,)); keeps a short last."""
    rng = seed.python_random()
    n, d, batch_size = rng.randint(13, 20), rng.randint(2, 5), rng.randint(3, 6)
    if n % batch_size == 0:
        n += 1  # a short last batch, which drop_last's default (False) keeps
    features = seed.randn(n, d)
    labels = seed.randint(0, 3, (n,), offset=1)
    call = (
        f"iterated make_loader(TensorPairDataset of {n} items, batch_size={batch_size}, "
        "shuffle=False, seed=0) (drop_last left at its default, False)"
    )
    batches = learner.run(pair_loader, features, labels, batch_size)
    first = batches[0]
    if not first["pair"]:
        raise fail(f"{call}; a batch is {first['described']}, expected (x, y) collated")
    x, y = first["first"], first["second"]
    assert_close(x, features[:batch_size], what="the first batch's x", call=call, rtol=0, atol=0)
    assert_close(y, labels[:batch_size], what="the first batch's y", call=call, rtol=0, atol=0)
    want = -(-n // batch_size)
    if len(batches) == n // batch_size:
        raise fail(
            f"{call}; got {len(batches)} batches, expected {want}: the short last batch of "
            f"{n % batch_size} item(s) was dropped, but drop_last defaults to False"
        )
    assert_equal(len(batches), want, what=f"{call}; the number of batches")


def test_loader_shuffle_reproducible(learner, seed):
    """With shuffle, the order depends on the seed only: not on the global RNG, not on time."""
    rng = seed.python_random()
    for drop_last in (False, True):
        n, batch_size = rng.randint(20, 40), rng.randint(3, 7)
        s1, s2 = rng.sample(range(10**6), 2)
        call = (
            f"make_loader(dataset of {n} items, batch_size={batch_size}, shuffle=True, "
            f"seed={s1}, drop_last={drop_last})"
        )
        # The global seed set before building each loader, and before each of its two epochs.
        global_seeds = [[rng.randint(0, 10**6) for _ in range(3)] for _ in range(2)]
        got = learner.run(
            shuffled_epochs, n, batch_size, s1, s2, drop_last=drop_last, global_seeds=global_seeds
        )
        epochs = []
        for changed, records in zip(got["rng_changed"], got["epochs"], strict=True):
            if changed:
                raise fail(_RNG_MOVED.format(call=f"called {call}"))
            epochs.append([_epoch(r, f"iterated {call}")[0] for r in records])
        first, second = epochs
        ids = first[0]
        want_len = (n // batch_size) * batch_size if drop_last else n
        if (
            len(ids) != want_len
            or len(set(ids)) != len(ids)
            or not set(ids) <= set(range(n))
            or (not drop_last and sorted(ids) != list(range(n)))
        ):
            raise fail(
                f"iterated {call}; one epoch gave {len(ids)} items ({len(set(ids))} distinct), "
                f"expected {want_len} distinct items of the {n}"
            )
        if ids == sorted(ids):
            raise fail(f"iterated {call}; the items came in their original order: not shuffled")
        if first != second:
            raise fail(
                f"built {call} twice and iterated each, with torch.manual_seed(...) set "
                "differently around them; the orders differ: shuffling depends on the global "
                "RNG. Give the DataLoader its own generator=torch.Generator().manual_seed(seed)"
            )
        if first[0] == first[1]:
            raise fail(
                f"iterated {call} for two epochs; both epochs came in the same order: reshuffle "
                "each epoch (let the DataLoader shuffle with its generator; do not fix one "
                "permutation up front)"
            )
        if _epoch(got["other"], call)[0] == ids:
            raise fail(f"{call} and the same with seed={s2} give the same order; use the seed")


def test_count_batches(learner, reference, seed):
    """count_batches(n, batch_size, drop_last) equals len() of the matching DataLoader."""
    rng = seed.python_random()
    sizes = [(12, 4), (13, 4), (3, 5), (5, 5)]
    sizes += [(rng.randint(1, 200), rng.randint(1, 32)) for _ in range(6)]
    cases = [(n, b, drop_last) for n, b in sizes for drop_last in (False, True)]
    got = learner.run(count_all, cases)
    want = reference.run(count_all, cases)
    for (n, batch_size, drop_last), mine, theirs in zip(cases, got, want, strict=True):
        expected = theirs["out"]
        if expected != len(DataLoader(range(n), batch_size=batch_size, drop_last=drop_last)):
            raise fail("grader error: reference count_batches disagrees with DataLoader")
        call = f"called count_batches({n}, {batch_size}, drop_last={drop_last})"
        out = mine["out"]
        if type(out) is not int:
            raise fail(f"{call}; got {mine['described']}, expected the int {expected}")
        if out != expected:
            last = n % batch_size
            tail = (
                "the last, shorter batch is dropped"
                if drop_last
                else f"the last batch holds the {last} leftover item(s)"
                if last
                else "every batch is full"
            )
            raise fail(f"{call}; got {out}, expected {expected} ({tail})")


# ----------------------------------------------------------------------------- scenarios


@scenario
def dataset_items(
    mod: Any, features: torch.Tensor, labels: torch.Tensor, indices: list[int]
) -> dict[str, Any]:
    """TensorPairDataset(features, labels): its len, the items read, the tensors afterwards."""
    ds = mod.TensorPairDataset(features, labels)
    size = len(ds)
    items = [_item(ds[i]) for i in indices]
    return {"len": size, "items": items, "features_after": features, "labels_after": labels}


@scenario
def items_after_change(
    mod: Any, features: torch.Tensor, labels: torch.Tensor, indices: list[int]
) -> dict[str, Any]:
    """TensorPairDataset(features, labels), then both tensors changed in place, then items read."""
    ds = mod.TensorPairDataset(features, labels)
    features.add_(1)
    labels.add_(1)
    return {"items": [_item(ds[i]) for i in indices]}


@scenario
def transform_reads(
    mod: Any,
    features: torch.Tensor,
    labels: torch.Tensor,
    scale: float,
    shift: float,
    reads: list[int],
) -> dict[str, Any]:
    """A dataset with a recording transform: calls in __init__, then per read what it saw."""
    seen: list[Any] = []

    def transform(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().clone() if isinstance(x, torch.Tensor) else x)
        return x * scale + shift

    ds = mod.TensorPairDataset(features, labels, transform)
    out: dict[str, Any] = {"init_calls": len(seen), "reads": []}
    if seen:
        return out
    for i in reads:
        before = len(seen)
        x, y = ds[i]
        last = seen[-1] if len(seen) > before else None
        out["reads"].append(
            {
                "calls": len(seen) - before,
                "input": last if isinstance(last, torch.Tensor) else None,
                "input_described": describe(last),
                "x": x,
                "y": y,
            }
        )
    out["features_after"], out["labels_after"] = features, labels
    return out


@scenario
def split(
    mod: Any, features: torch.Tensor, labels: torch.Tensor, fractions: list[float], seed: int
) -> dict[str, Any]:
    """split_dataset(TensorPairDataset(features, labels), fractions, seed), as indices."""
    ds = mod.TensorPairDataset(features, labels)
    return _splits(mod.split_dataset(ds, fractions, seed), ds)


@scenario
def split_twice(
    mod: Any,
    features: torch.Tensor,
    labels: torch.Tensor,
    fractions: list[float],
    s1: int,
    s2: int,
    global_seeds: tuple[int, int],
) -> dict[str, Any]:
    """Seed s1 under two global seeds (did the global RNG move?), then seed s2."""
    ds = mod.TensorPairDataset(features, labels)
    torch.manual_seed(global_seeds[0])
    before = torch.get_rng_state()
    first = _splits(mod.split_dataset(ds, list(fractions), s1), ds)
    changed = not torch.equal(before, torch.get_rng_state())
    torch.manual_seed(global_seeds[1])
    again = _splits(mod.split_dataset(ds, list(fractions), s1), ds)
    other = _splits(mod.split_dataset(ds, list(fractions), s2), ds)
    return {"first": first, "again": again, "other": other, "rng_changed": changed}


@scenario
def loader_epoch(
    mod: Any, n: int, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool
) -> dict[str, Any]:
    """make_loader over item ids 0..n-1: its type, num_workers, one epoch of batches, len."""
    loader = mod.make_loader(
        _ids_dataset(n), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    if not isinstance(loader, DataLoader):
        return {"is_loader": False, "described": describe(loader)}
    return {
        "is_loader": True,
        "num_workers": loader.num_workers,
        "batches": _epoch_records(loader),
        "len": len(loader),
    }


@scenario
def pair_loader(
    mod: Any, features: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> list[dict[str, Any]]:
    """The batches of make_loader(TensorPairDataset(features, labels), batch_size)."""
    ds = mod.TensorPairDataset(features, labels)
    return _epoch_records(mod.make_loader(ds, batch_size, shuffle=False, seed=0))


@scenario
def shuffled_epochs(
    mod: Any,
    n: int,
    batch_size: int,
    s1: int,
    s2: int,
    *,
    drop_last: bool,
    global_seeds: list[list[int]],
) -> dict[str, Any]:
    """Two loaders with seed s1, two epochs each, the global seed moved around every step."""
    data = _ids_dataset(n)
    epochs, changed = [], []
    for build, *each_epoch in global_seeds:
        torch.manual_seed(build)
        before = torch.get_rng_state()
        loader = mod.make_loader(data, batch_size, shuffle=True, seed=s1, drop_last=drop_last)
        changed.append(not torch.equal(before, torch.get_rng_state()))
        seen = []
        for value in each_epoch:
            torch.manual_seed(value)  # the global RNG moves between epochs
            seen.append(_epoch_records(loader))
        epochs.append(seen)
    other = mod.make_loader(data, batch_size, shuffle=True, seed=s2, drop_last=drop_last)
    return {"epochs": epochs, "rng_changed": changed, "other": _epoch_records(other)}


@scenario
def count_all(mod: Any, cases: list[tuple[int, int, bool]]) -> list[dict[str, Any]]:
    """count_batches(n, batch_size, drop_last) for every case."""
    results = []
    for n, batch_size, drop_last in cases:
        out = mod.count_batches(n, batch_size, drop_last)
        results.append({"out": out, "described": describe(out)})
    return results


# ----------------------------------------------------------------------------- helpers

_RNG_MOVED = (
    "{call} changed the global RNG state (torch.manual_seed or a draw from the global RNG?); "
    "use a private torch.Generator().manual_seed(seed) and pass it as generator=..., so the "
    "rest of the program's randomness is left alone"
)


def _exact_sizes(n: int, fractions: tuple[float, ...]) -> list[int] | None:
    """Sizes by the documented rule, or None where float rounding could make them ambiguous."""
    floats = [math.floor(n * f) for f in fractions]
    exact = [math.floor(n * Fraction(str(f))) for f in fractions]
    if floats != exact:
        return None
    floats[0] += n - sum(floats)
    return floats


def _split_case(rng: Any, *, telling: bool = True) -> tuple[int, tuple[float, ...], list[int]]:
    """n, fractions and sizes; ``telling``: sizes differ from round()'s and random_split's own."""
    while True:
        n = rng.randint(21, 57)
        fractions = rng.choice(FRACTIONS)
        sizes = _exact_sizes(n, fractions)
        if sizes is None:
            continue
        rounded = [round(n * f) for f in fractions]
        spread = [math.floor(n * f) for f in fractions]
        for i in range(n - sum(spread)):
            spread[i % len(spread)] += 1  # what random_split does with fractions
        if not telling or (rounded != sizes and spread != sizes):
            return n, fractions, sizes


def _pair_data(seed: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (n, 3) and labels (n,) for a TensorPairDataset to split."""
    return seed.randn(n, 3, offset=n), seed.randint(0, 5, (n,), offset=n + 1)


def _ids_dataset(n: int) -> TensorDataset:
    """Item i is (i, 10 * i): batches show which items came, in which order."""
    ids = torch.arange(n)
    return TensorDataset(ids, 10 * ids)


def _item(item: Any) -> dict[str, Any]:
    """One item read from a dataset, as data."""
    is_tuple = isinstance(item, tuple)
    return {
        "is_tuple": is_tuple,
        "value": tuple(item) if is_tuple else (),
        "described": describe(item),
    }


def _splits(splits: Any, ds: Dataset) -> dict[str, Any]:
    """What split_dataset returned, as data: each split's indices, if it is a Subset of ds."""
    is_sequence = isinstance(splits, (list, tuple))
    entries = []
    for s in splits if is_sequence else ():
        if isinstance(s, Subset):
            entries.append(
                {
                    "subset": True,
                    "indices": [int(i) for i in s.indices],
                    "same_dataset": s.dataset is ds,
                }
            )
        else:
            entries.append({"subset": False, "described": describe(s)})
    return {"is_sequence": is_sequence, "described": describe(splits), "splits": entries}


def _split_indices(data: dict[str, Any], call: str) -> list[list[int]]:
    """The indices of each split a scenario reported; a failure for anything but Subsets."""
    if not data["is_sequence"]:
        raise fail(f"{call}; got {data['described']}, expected a list of Subsets")
    out = []
    for i, entry in enumerate(data["splits"]):
        if not entry["subset"]:
            raise fail(
                f"{call}; split {i} is {entry['described']}, expected a torch.utils.data.Subset "
                "(random_split returns a list of them)"
            )
        out.append(list(entry["indices"]))
    return out


def _epoch_records(loader: Any) -> list[dict[str, Any]]:
    """Every batch of one pass over ``loader``, as data."""
    records = []
    for batch in loader:
        if isinstance(batch, (list, tuple)) and len(batch) == 2:
            records.append({"pair": True, "first": batch[0], "second": batch[1]})
        else:
            records.append({"pair": False, "described": describe(batch)})
    return records


def _epoch(records: list[dict[str, Any]], call: str) -> tuple[list[int], list[int]]:
    """The item ids of one pass over a loader, and the batch sizes (judged from its records)."""
    ids: list[int] = []
    sizes: list[int] = []
    for record in records:
        if not record["pair"]:
            raise fail(f"{call}; a batch is {record['described']}, expected [ids, labels] collated")
        first, second = record["first"], record["second"]
        assert_tensor(first, what="a batch's first field", call=call)
        if not (
            isinstance(second, torch.Tensor)
            and second.shape == first.shape
            and torch.equal(second, 10 * first)
        ):
            raise fail(f"{call}; a batch's items are torn apart: labels do not match features")
        ids += [int(i) for i in first.reshape(-1)]
        sizes.append(int(first.shape[0]) if first.dim() else 1)
    return ids, sizes
