"""Grader for 2.2: datasets, reproducible splits and DataLoaders."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from pytorch_path.checks import (
    assert_close,
    assert_equal,
    assert_tensor,
    describe,
    expect_raises,
    fail,
)

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


def _pair_dataset(learner: Any, seed: Any, n: int, device: Any = "cpu") -> Any:
    features = seed.randn(n, 3, device=device, offset=n)
    labels = seed.randint(0, 5, (n,), device=device, offset=n + 1)
    return learner.TensorPairDataset(features, labels)


def _ids_dataset(n: int) -> TensorDataset:
    """Item i is (i, 10 * i): batches show which items came, in which order."""
    ids = torch.arange(n)
    return TensorDataset(ids, 10 * ids)


def _indices(split: Any, what: str) -> list[int]:
    if not isinstance(split, Subset):
        raise fail(
            f"{what} is {describe(split)}, expected a torch.utils.data.Subset (random_split "
            "returns a list of them)"
        )
    return [int(i) for i in split.indices]


def _global_state() -> torch.Tensor:
    return torch.get_rng_state()


def _rng_untouched(before: torch.Tensor, call: str, after: torch.Tensor | None = None) -> None:
    if not torch.equal(before, torch.get_rng_state() if after is None else after):
        raise fail(
            f"{call} changed the global RNG state (torch.manual_seed or a draw from the global "
            "RNG?); use a private torch.Generator().manual_seed(seed) and pass it as "
            "generator=..., so the rest of the program's randomness is left alone"
        )


def _epoch(loader: Any, call: str) -> tuple[list[int], list[int]]:
    """The item ids of one pass over ``loader``, and the batch sizes."""
    ids: list[int] = []
    sizes: list[int] = []
    for batch in loader:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            raise fail(f"{call}; a batch is {describe(batch)}, expected [ids, labels] collated")
        first, second = batch
        assert_tensor(first, what="a batch's first field", call=call)
        if not torch.equal(second, 10 * first):
            raise fail(f"{call}; a batch's items are torn apart: labels do not match features")
        ids += [int(i) for i in first]
        sizes.append(int(first.shape[0]))
    return ids, sizes


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
        kept_x, kept_y = features.clone(), labels.clone()
        built = f"TensorPairDataset(features: {describe(features)}, labels: {describe(labels)})"
        ds = learner.TensorPairDataset(features, labels)
        size = len(ds)
        assert_equal(size, n, what=f"len({built})")
        for i in sorted({0, n - 1, rng.randrange(n)}):
            item = ds[i]
            call = f"{built}[{i}]"
            if not isinstance(item, tuple) or len(item) != 2:
                raise fail(f"{call} is {describe(item)}; return the tuple (x, y)")
            x, y = item
            assert_close(x, kept_x[i], what="x", call=call, rtol=0, atol=0)
            assert_close(y, kept_y[i], what="y", call=call, rtol=0, atol=0)
        if not (torch.equal(features, kept_x) and torch.equal(labels, kept_y)):
            raise fail(f"reading items of {built} changed the features or labels tensor")


def test_dataset_rejects_mismatched_lengths(learner, seed):
    """TensorPairDataset raises ValueError when features and labels differ in length."""
    rng = seed.python_random()
    n = rng.randint(4, 9)
    features, labels = seed.randn(n, 3), seed.randint(0, 3, (n + rng.randint(1, 3),))
    expect_raises(
        learner.TensorPairDataset,
        ValueError,
        features,
        labels,
        what=f"TensorPairDataset(features: {describe(features)}, labels: {describe(labels)})",
    )


def test_transform_runs_per_item_on_read(learner, device, seed):
    """The transform runs in __getitem__, once per read, on that item's features only."""
    rng = seed.python_random()
    n = rng.randint(6, 11)
    features = seed.randn(n, rng.randint(2, 5), device=device)
    labels = seed.randint(0, 4, (n,), device=device, offset=1)
    kept_x, kept_y = features.clone(), labels.clone()
    seen: list[Any] = []
    scale, shift = rng.choice((2.0, 3.0, -1.5)), rng.choice((0.5, 1.0, -2.0))

    def transform(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().clone() if isinstance(x, torch.Tensor) else x)
        return x * scale + shift

    built = "TensorPairDataset(features, labels, transform)"
    ds = learner.TensorPairDataset(features, labels, transform)
    if seen:
        raise fail(
            f"{built} called the transform {len(seen)} time(s) while the dataset was being "
            "built (in __init__); it must run in __getitem__, on each item as it is read, and "
            "never on the whole stored tensor"
        )
    for read, i in enumerate([rng.randrange(n), n - 1, 0]):
        call = f"{built}[{i}]"
        x, y = ds[i]
        if len(seen) != read + 1:
            raise fail(
                f"{call} ran the transform {len(seen) - read} time(s), expected once per read "
                "(no caching, no transform in __init__)"
            )
        got_in = seen[-1]
        if not isinstance(got_in, torch.Tensor) or tuple(got_in.shape) != tuple(kept_x[i].shape):
            raise fail(
                f"{call} passed {describe(got_in)} to the transform, expected this item's "
                f"features {describe(kept_x[i])}"
            )
        assert_close(got_in, kept_x[i], what="the transform's input", call=call, rtol=0, atol=0)
        assert_close(x, kept_x[i] * scale + shift, what="x (the transformed features)", call=call)
        assert_close(y, kept_y[i], what="y (labels are not transformed)", call=call, rtol=0, atol=0)
    x_again, _ = ds[0]
    if len(seen) != 4:
        raise fail(f"{built}[0] read a second time did not run the transform again")
    assert_close(x_again, kept_x[0] * scale + shift, what="x read again", call=f"{built}[0]")
    if not torch.equal(features, kept_x) or not torch.equal(labels, kept_y):
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
        ds = _pair_dataset(learner, seed, n)
        call = f"called split_dataset(dataset of {n} items, fractions={list(fractions)}, seed=...)"
        try:
            splits = learner.split_dataset(ds, list(fractions), rng.randint(0, 10**6))
        except ValueError as exc:
            raise fail(
                f"{call}; it raised ValueError: {exc}. These fractions are valid; if random_split "
                "complained about the lengths, they do not sum to n: take floor(n * fraction) "
                "for each split and give the leftover items to the first split"
            ) from exc
        if not isinstance(splits, (list, tuple)) or len(splits) != len(fractions):
            raise fail(
                f"{call}; got {describe(splits)}, expected a list of {len(fractions)} Subsets"
            )
        got = [len(_indices(s, f"{call}; split {i}")) for i, s in enumerate(splits)]
        if got != sizes:
            hint = ""
            if sum(got) != n:
                hint = f"; they sum to {sum(got)}, not {n}: an item was lost or duplicated"
            elif got == [round(n * f) for f in fractions]:
                hint = "; those come from round(): the rule is floor, leftovers to split 0"
            raise fail(
                f"{call}; split sizes are {got}, expected {sizes}: each split gets "
                f"floor(n * fraction) items and the remainder of rounding down goes to the "
                f"first split{hint}"
            )
        everything = [i for s in splits for i in _indices(s, call)]
        if sorted(everything) != list(range(n)):
            repeated = sorted({i for i in everything if everything.count(i) > 1})[:5]
            raise fail(
                f"{call}; the splits are not disjoint or do not cover the dataset (repeated "
                f"indices: {repeated}); split one random permutation"
            )
        for i, split in enumerate(splits):
            if split.dataset is not ds:
                raise fail(f"{call}; split {i}.dataset is not the dataset that was split")


def test_split_reproducible(learner, reference, seed):
    """The same seed gives the same split whatever the global RNG; another seed another split."""
    rng = seed.python_random()
    for _ in range(3):
        n, fractions, _ = _split_case(rng)
        ds = _pair_dataset(learner, seed, n)
        s1, s2 = rng.sample(range(10**6), 2)
        expected = [list(s.indices) for s in reference.split_dataset(ds, list(fractions), s1)]
        call = f"split_dataset(dataset of {n} items, {list(fractions)}, seed={s1})"

        torch.manual_seed(rng.randint(0, 10**6))
        before = _global_state()
        first = [_indices(s, call) for s in learner.split_dataset(ds, list(fractions), s1)]
        after = _global_state()
        torch.manual_seed(rng.randint(0, 10**6))
        again = [_indices(s, call) for s in learner.split_dataset(ds, list(fractions), s1)]
        if first != again:
            raise fail(
                f"called {call} twice, with torch.manual_seed(...) set differently before each "
                "call; the splits differ: the split depends on the global RNG. Pass "
                "generator=torch.Generator().manual_seed(seed) to random_split"
            )
        _rng_untouched(before, f"called {call}", after)
        other = [
            _indices(s, call) for s in learner.split_dataset(ds, list(fractions), s2)
        ]  # fmt: skip
        if other == first:
            raise fail(f"called {call} and again with seed={s2}; both splits are identical")
        if first != expected:
            raise fail(
                f"called {call}; the split is reproducible but not the documented one: use "
                "random_split(dataset, sizes, generator=torch.Generator().manual_seed(seed))"
            )


def test_split_rejects_bad_fractions(learner, seed):
    """split_dataset raises ValueError for fractions that do not sum to 1 or are not positive."""
    ds = _pair_dataset(learner, seed, 20)
    for fractions in ([0.5, 0.6], [0.7, 0.2], [1.2, -0.2], []):
        expect_raises(
            learner.split_dataset,
            ValueError,
            ds,
            fractions,
            0,
            what=f"split_dataset(dataset, {fractions}, seed=0)",
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
        loader = learner.make_loader(
            _ids_dataset(n), batch_size, shuffle=False, seed=rng.randint(0, 99), drop_last=drop_last
        )
        if not isinstance(loader, DataLoader):
            raise fail(f"{call}; got {describe(loader)}, expected a torch.utils.data.DataLoader")
        if loader.num_workers != 0:
            raise fail(f"{call}; num_workers is {loader.num_workers}, expected 0")
        ids, sizes = _epoch(loader, call)
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
        assert_equal(len(loader), len(want), what=f"{call}; len(loader)")


def test_loader_with_pair_dataset(learner, seed):
    """make_loader batches a TensorPairDataset into (x of (B, D), y of (B,))."""
    rng = seed.python_random()
    n, d, batch_size = rng.randint(13, 20), rng.randint(2, 5), rng.randint(3, 6)
    features = seed.randn(n, d)
    labels = seed.randint(0, 3, (n,), offset=1)
    ds = learner.TensorPairDataset(features, labels)
    call = f"iterated make_loader(TensorPairDataset of {n} items, batch_size={batch_size}, …)"
    loader = learner.make_loader(ds, batch_size, shuffle=False, seed=0)
    batches = list(loader)
    x, y = batches[0]
    assert_close(x, features[:batch_size], what="the first batch's x", call=call, rtol=0, atol=0)
    assert_close(y, labels[:batch_size], what="the first batch's y", call=call, rtol=0, atol=0)
    assert_equal(len(batches), -(-n // batch_size), what=f"{call}; the number of batches")


def test_loader_shuffle_reproducible(learner, seed):
    """With shuffle, the order depends on the seed only: not on the global RNG, not on time."""
    rng = seed.python_random()
    for drop_last in (False, True):
        n, batch_size = rng.randint(20, 40), rng.randint(3, 7)
        s1, s2 = rng.sample(range(10**6), 2)
        data = _ids_dataset(n)
        call = (
            f"make_loader(dataset of {n} items, batch_size={batch_size}, shuffle=True, "
            f"seed={s1}, drop_last={drop_last})"
        )
        epochs = []
        for _ in range(2):
            torch.manual_seed(rng.randint(0, 10**6))
            before = _global_state()
            loader = learner.make_loader(
                data, batch_size, shuffle=True, seed=s1, drop_last=drop_last
            )
            _rng_untouched(before, f"called {call}")
            seen = []
            for _ in range(2):
                torch.manual_seed(rng.randint(0, 10**6))  # the global RNG moves between epochs
                seen.append(_epoch(loader, f"iterated {call}")[0])
            epochs.append(seen)
        first, second = epochs
        ids = first[0]
        want_len = (n // batch_size) * batch_size if drop_last else n
        if len(ids) != want_len or len(set(ids)) != len(ids):
            raise fail(
                f"iterated {call}; one epoch gave {len(ids)} items ({len(set(ids))} distinct), "
                f"expected {want_len} distinct items"
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
        other = learner.make_loader(data, batch_size, shuffle=True, seed=s2, drop_last=drop_last)
        if _epoch(other, call)[0] == ids:
            raise fail(f"{call} and the same with seed={s2} give the same order; use the seed")


def test_count_batches(learner, reference, seed):
    """count_batches(n, batch_size, drop_last) equals len() of the matching DataLoader."""
    rng = seed.python_random()
    cases = [(12, 4), (13, 4), (3, 5), (5, 5)]
    cases += [(rng.randint(1, 200), rng.randint(1, 32)) for _ in range(6)]
    for n, batch_size in cases:
        for drop_last in (False, True):
            expected = reference.count_batches(n, batch_size, drop_last)
            if expected != len(DataLoader(range(n), batch_size=batch_size, drop_last=drop_last)):
                raise fail("grader error: reference count_batches disagrees with DataLoader")
            call = f"called count_batches({n}, {batch_size}, drop_last={drop_last})"
            out = learner.count_batches(n, batch_size, drop_last)
            if type(out) is not int:
                raise fail(f"{call}; got {describe(out)}, expected the int {expected}")
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
