"""Grader for 5.7: a model registry on disk, latency quantiles and Prometheus metrics.

The registry scenarios work in a fresh temporary folder of their own (created where the
learner's code runs) and send back data: manifests, the bytes of the files written, folder
listings, the versions reported, and the outputs of a small MLP built from the state dict
``load`` returned. The judge hashes the bytes itself, opens them with
``torch.load(weights_only=True)``, and compares the outputs with those of each version's
weights, which it chose. Atomic writes are observed by wrapping ``os.replace`` (and
``os.rename``) while ``promote`` runs: each call is recorded with what the files held at that
moment, and one run makes the replace of CURRENT fail, as a crash would. A corrupted file is
made by flipping one bit inside a tensor's bytes (``torch.load`` does not notice that), and a
replaced one holds a pickle that would run code.

The quantiles are compared with ``numpy.quantile`` (linear interpolation) over the last
``window`` latencies the judge drew; the Prometheus text is parsed line by line.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pytorch_path.checks import assert_close, describe, fail
from pytorch_path.scenario import LearnerError, learner_attr, scenario

_TRAP = "_pytorch_path_registry_trap"
_ALLOWED = {"versions", "CURRENT", "HISTORY"}
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$")


# ----------------------------------------------------------------------------- register


def test_register_writes_weights_and_manifest(learner, seed):
    """register writes versions/<v>/model.pt and a manifest (sha256, size, created, metrics)."""
    spec = _spec(seed, 0)
    metrics = {"val_accuracy": round(0.5 + 0.4 * (seed.value % 100) / 100, 4), "val_loss": 0.25}
    cases = (("v1", metrics, "path"), ("2026.03.01-rc_1", None, "str"))
    for version, given, root_kind in cases:
        state = _state(spec, seed, 10 + len(version))
        got = _run(learner, register_one, spec, state, version, given, root_kind)
        opt = f", metrics={given}" if given is not None else ""
        call = (
            f"called ModelRegistry(root).register(state_dict, {version!r}{opt}) with root a "
            f"{'str' if root_kind == 'str' else 'Path'} to a folder that does not exist yet"
        )
        expected_files = {f"versions/{version}/model.pt", f"versions/{version}/manifest.json"}
        if set(got["files"]) != expected_files:
            raise fail(
                f"{call}; the folder holds {sorted(got['files'])}, expected exactly "
                f"{sorted(expected_files)}"
            )
        data = got["model_bytes"]
        loaded = _judge_load(data, call)
        want_manifest = {
            "version": version,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "metrics": given if given is not None else {},
        }
        for where, manifest in (("the manifest it returned", got["returned"]),
                                ("manifest.json", got["manifest_file"])):  # fmt: skip
            _check_manifest(manifest, want_manifest, got["t0"], got["t1"], f"{call}; {where}")
        if got["returned"] != got["manifest_file"]:
            raise fail(f"{call}; the manifest it returned differs from manifest.json")
        for key, value in state.items():
            assert_close(
                loaded.get(key), value, what=f"model.pt[{key!r}]", call=call, atol=0, rtol=0
            )
        if got["current"] is not None:
            raise fail(
                f"{call}; afterwards current() is {got['current']!r}: registering must not promote"
            )
        if got["versions"] != [version]:
            raise fail(
                f"{call}; afterwards versions() is {got['versions']!r}, expected [{version!r}]"
            )
        for key, value in state.items():
            what = f"the state dict's {key!r} after register"
            assert_close(got["state_after"][key], value, what=what, call=call, atol=0, rtol=0)


def test_register_refuses_existing_and_unsafe_versions(learner, seed):
    """register refuses a version already there, and names other than [A-Za-z0-9._-]+, . and .."""
    spec = _spec(seed, 1)
    first, second = _state(spec, seed, 20), _state(spec, seed, 21)
    bad = ["", ".", "..", "a/b", "../escape", "v 1", "v1\n", "é", "a\\b", "v1/"]
    good = ["v1", "2.0.1", "rc-1_b", "V.9", "..x"]
    got = _run(learner, refusals, spec, first, second, bad, good)
    rule = (
        "a version name may only hold letters, digits, '.', '_' and '-' (check the whole name: "
        "re.fullmatch), and may not be '.' or '..', so that it stays one folder inside versions/"
    )
    for name, result in zip(bad, got["bad"], strict=True):
        call = f"called register(state_dict, {name!r})"
        if result is None:
            raise fail(f"{call}; it was accepted; expected ValueError: {rule}")
        if not _is(result, "ValueError"):
            raise fail(f"{call}; it raised {result['name']}, expected ValueError: {rule}")
    for name, result in zip(good, got["good"], strict=True):
        if result is not None:
            raise fail(
                f"called register(state_dict, {name!r}); it raised {result['name']}: "
                f"{result['message']}; the name is safe"
            )
    if got["outside"]:
        raise fail(f"after the refused names, files appeared outside versions/: {got['outside']}")
    if sorted(got["versions"]) != sorted(good):
        raise fail(
            f"after registering {good} and refusing {len(bad)} names, versions() is "
            f"{got['versions']!r}"
        )
    call = f"called register(other_state_dict, {good[0]!r}) when {good[0]!r} is already registered"
    dup = got["duplicate"]
    if dup is None:
        raise fail(f"{call}; it was accepted; expected ValueError (a version is never overwritten)")
    if not _is(dup, "ValueError"):
        raise fail(
            f"{call}; it raised {dup['name']}, expected ValueError (catch FileExistsError "
            "and raise ValueError)"
        )
    if got["model_after_dup"] != got["model_before_dup"]:
        raise fail(
            f"{call}; it raised, but model.pt of {good[0]!r} was overwritten: refuse before "
            "writing anything"
        )
    call = "called register(state_dict, 3) (an int, not a str)"
    if got["not_str"] is None or not _is(got["not_str"], "TypeError"):
        what = (
            "it was accepted" if got["not_str"] is None else f"it raised {got['not_str']['name']}"
        )
        raise fail(f"{call}; {what}, expected TypeError")


def test_versions_are_listed_in_order_of_creation(learner, seed):
    """versions() lists the versions oldest first (not alphabetically), also from a new registry."""
    spec = _spec(seed, 2)
    rng = seed.python_random(2)
    names = ["v10", "v2", "alpha", "v1", "beta-2"]
    while names == sorted(names):
        rng.shuffle(names)
    got = _run(learner, versions_order, spec, _state(spec, seed, 30), names)
    if got["empty_versions"] != [] or got["empty_current"] is not None:
        raise fail(
            "called versions() and current() on a new, empty registry; they returned "
            f"{got['empty_versions']!r} and {got['empty_current']!r}, expected [] and None"
        )
    for where, listed in (
        ("versions()", got["listed"]),
        ("versions() of a new ModelRegistry(root)", got["reopened"]),
    ):
        if listed != names:
            hint = " (that is alphabetical order)" if listed == sorted(names) else ""
            raise fail(
                f"registered {names} in this order, then called {where}; it returned "
                f"{listed!r}{hint}, expected the order of registration: sort by the manifests' "
                "'created'"
            )


# ----------------------------------------------------------------------------- promote, rollback


def test_promote_and_rollback_round_trip(learner, seed):
    """promote a, b, c; rollback gives b then a (their outputs), then ValueError; state persists."""
    spec = _spec(seed, 3)
    states = [_state(spec, seed, 40 + i) for i in range(3)]
    names = ["a-1", "b-2", "c-3"]
    x = torch.randn(5, spec["width"], generator=seed.generator(44))
    got = _run(learner, round_trip, spec, states, names, x)
    want = {n: _outputs(spec, s, x) for n, s in zip(names, states, strict=True)}
    steps = got["steps"]
    expected_steps = [
        ("promote('a-1')", "a-1", []),
        ("promote('b-2')", "b-2", ["a-1"]),
        ("promote('c-3')", "c-3", ["a-1", "b-2"]),
        ("promote('c-3') again", "c-3", ["a-1", "b-2"]),
        ("rollback()", "b-2", ["a-1"]),
        ("rollback() on a new ModelRegistry(root)", "a-1", []),
    ]
    done = []
    for (what, version, history), step in zip(expected_steps, steps, strict=False):
        done.append(what)
        call = f"called {', '.join(done)}"
        hint = ""
        if what.startswith("rollback") and "c-3" in (step.get("current"), step.get("returned")):
            hint = " (promoting the current version again must not add it to HISTORY)"
        if step.get("raised") is not None:
            if "new ModelRegistry" in what:
                hint = ": keep the history in root/HISTORY, not on the object"
            raise fail(
                f"{call}; the last call raised {step['raised']['name']}: "
                f"{step['raised']['message']}{hint}"
            )
        if what.startswith("rollback") and step["returned"] != version:
            raise fail(
                f"{call}; rollback() returned {step['returned']!r}, expected {version!r}{hint}"
            )
        if step["current"] != version:
            raise fail(f"{call}; current() is {step['current']!r}, expected {version!r}{hint}")
        if step["current_file"].strip() != version:
            raise fail(
                f"{call}; CURRENT holds {step['current_file']!r}, expected {version!r} (and an "
                "optional newline)"
            )
        _check_history(step["history_file"], history, version, call)
        out = step["outputs"]
        if isinstance(out, str):
            raise fail(f"{call}; building the model from load() failed: {out}")
        assert_close(out, want[version], what="the outputs of a model built from load()", call=call)
    if len(steps) < len(expected_steps):
        raise fail("the round trip stopped early")
    call = f"called {', '.join(done)}, then rollback() a third time"
    last = got["last_rollback"]
    if last is None or not _is(last, "ValueError"):
        what = "it returned normally" if last is None else f"it raised {last['name']}"
        raise fail(f"{call} (the history is empty); {what}, expected ValueError")
    if got["after_last"] != "a-1":
        raise fail(
            f"{call}; afterwards current() is {got['after_last']!r}, expected 'a-1' unchanged"
        )
    call = "called promote('nope') (never registered)"
    unknown = got["unknown"]
    if unknown is None or not _is(unknown, "ValueError"):
        what = "it returned normally" if unknown is None else f"it raised {unknown['name']}"
        raise fail(f"{call}; {what}, expected ValueError")
    if got["after_unknown"] != "a-1":
        raise fail(
            f"{call}; afterwards current() is {got['after_unknown']!r}, expected 'a-1' unchanged"
        )
    before, after = got["history_unknown"]
    if after != before:
        raise fail(
            f"{call}; it raised, but HISTORY went from {before!r} to {after!r}: a refused "
            "promote changes nothing, so check that the version is registered before writing "
            "HISTORY or CURRENT"
        )
    for name in names:
        out = got["explicit"][name]
        call = f"called load({name!r})"
        if isinstance(out, str):
            raise fail(f"{call}; building the model from it failed: {out}")
        assert_close(
            out, want[name], what="the outputs of a model built from load(version)", call=call
        )
    if got["tensor_kinds"] != ["Tensor on cpu"]:
        raise fail(
            f"called load(); the values are {got['tensor_kinds']}, expected plain tensors on "
            "the CPU"
        )


def test_current_is_replaced_atomically(learner, seed):
    """CURRENT is os.replace()d from a temp file in root; a failed replace changes nothing."""
    spec = _spec(seed, 4)
    states = [_state(spec, seed, 50 + i) for i in range(3)]
    got = _run(learner, atomic_current, spec, states, ["v1", "v2", "v3"])
    call = "called promote('v1'), then promote('v2')"
    onto = [c for c in got["calls"] if c["dst"] == "CURRENT"]
    if not onto:
        raise fail(
            f"{call}; os.replace(...) was never called with CURRENT as its target: write the "
            "new content to a temporary file in root, then os.replace(tmp, root / 'CURRENT') "
            "(called as os.replace or Path.replace), so a reader never sees a half-written file"
        )
    last = onto[-1]
    if last["src_folder"] != "root":
        raise fail(
            f"{call}; the temporary file {last['src']!r} is not in root itself: create it in the "
            "same folder (tempfile.mkstemp(dir=root)), so that os.replace is a rename on one "
            "file system"
        )
    if last["src_text"] is None or last["src_text"].strip() != "v2":
        raise fail(f"{call}; the file moved onto CURRENT held {last['src_text']!r}, expected 'v2'")
    if last["dst_text"] is None or last["dst_text"].strip() != "v1":
        raise fail(
            f"{call}; just before os.replace(tmp, CURRENT), CURRENT already held "
            f"{last['dst_text']!r}, expected the old 'v1': do not write CURRENT directly"
        )
    if got["current"] != "v2":
        raise fail(f"{call}; current() is {got['current']!r}, expected 'v2'")
    extra = sorted(set(got["listing"]) - _ALLOWED)
    if extra:
        raise fail(
            f"{call}; root holds {extra} besides versions, CURRENT and HISTORY: every "
            "temporary file must be renamed onto its target or removed"
        )
    call = (
        "called promote('v3') while os.replace(tmp, CURRENT) fails with OSError (a simulated crash)"
    )
    if got["crash"] is None:
        raise fail(
            f"{call}; promote returned normally and CURRENT holds {got['crash_current_file']!r}: "
            "it did not go through os.replace (or swallowed its error)"
        )
    if not _is(got["crash"], "OSError"):
        raise fail(f"{call}; it raised {got['crash']['name']}, expected the OSError to propagate")
    if got["crash_current_file"] is None or got["crash_current_file"].strip() != "v2":
        raise fail(
            f"{call}; afterwards CURRENT holds {got['crash_current_file']!r}, expected the old "
            "'v2': never write CURRENT itself, only the temporary file"
        )
    if got["crash_current"] != "v2":
        raise fail(f"{call}; afterwards current() is {got['crash_current']!r}, expected 'v2'")
    extra = sorted(set(got["crash_listing"]) - _ALLOWED)
    if extra:
        raise fail(
            f"{call}; afterwards root holds {extra}: when the replace fails, remove the "
            "temporary file (try/except, then re-raise)"
        )


# ----------------------------------------------------------------------------- load


def test_load_refuses_a_corrupted_file(learner, seed):
    """load verifies sha256 first: a changed model.pt is a ValueError naming version and digests."""
    spec = _spec(seed, 5)
    states = [_state(spec, seed, 60 + i) for i in range(2)]
    key = "body.0.weight"
    x = torch.randn(3, spec["width"], generator=seed.generator(62))
    for how, what in (("flip", "with one bit of a weight flipped"),
                      ("pickle", "replaced by a pickle that would run code")):  # fmt: skip
        got = _run(learner, corrupted, spec, states, key, how, x)
        call = f"called load('good-1') after its model.pt was changed on disk ({what})"
        original = got["manifest_sha"]
        actual = hashlib.sha256(got["bytes"]).hexdigest()
        if original == actual:
            raise fail("the grader failed to corrupt the file")
        if got["ran"]:
            raise fail(
                f"{call}; the pickled code ran: hash the bytes and compare with the manifest "
                "before anything is loaded, and load with weights_only=True"
            )
        result = got["result"]
        if result is None:
            raise fail(
                f"{call}; it returned the weights; expected ValueError: compare the sha256 "
                "of the file's bytes with the manifest's before loading (torch.load does "
                "not notice a changed byte)"
            )
        if not _is(result, "ValueError"):
            hint = (
                " It loaded before verifying: hash the bytes first"
                if result["name"] == "UnpicklingError"
                else ""
            )
            raise fail(
                f"{call}; it raised {result['name']}: {_first_line(result['message'])}; "
                f"expected ValueError.{hint}"
            )
        message = result["message"]
        missing = [name for name, text in (("the version 'good-1'", "good-1"),
                   ("the manifest's digest", original), ("the file's digest", actual))
                   if text not in message]  # fmt: skip
        if missing:
            raise fail(
                f"{call}; the ValueError says {message[:200]!r}; it should name "
                f"{' and '.join(missing)} (64 hex digits each)"
            )
        out = got["other"]
        if isinstance(out, str):
            raise fail(f"then called load('good-2') (intact); it failed: {out}")
        assert_close(out, _outputs(spec, states[1], x), what="the outputs of the intact version",
                     call="then called load('good-2') (intact)")  # fmt: skip


def test_load_refuses_pickled_code(learner):
    """load uses weights_only=True: a file whose pickle runs code (right digest) is refused."""
    got = _run(learner, pickled_code)
    call = (
        "called load('evil') where versions/evil/model.pt holds a pickle that runs code and "
        "the manifest's sha256 matches it"
    )
    if got["ran"]:
        raise fail(
            f"{call}; the code in the file ran: load with torch.load(..., weights_only=True), "
            "which refuses anything but tensors and plain containers"
        )
    if got["result"] is None:
        raise fail(f"{call}; it returned normally; expected torch.load to refuse the file")


def test_load_validates_its_argument(learner, seed):
    """load() without a current version, and load of an unknown version, raise ValueError."""
    spec = _spec(seed, 6)
    got = _run(learner, load_errors, _state(spec, seed, 70))
    for key, call in (("no_current", "called load() on a registry with a version but none current"),
                      ("unknown", "called load('missing') (never registered)")):  # fmt: skip
        result = got[key]
        if result is None or not _is(result, "ValueError"):
            what = "it returned normally" if result is None else f"it raised {result['name']}"
            raise fail(f"{call}; {what}, expected ValueError")


# ----------------------------------------------------------------------------- LatencyTracker


def test_quantiles_match_numpy(learner, seed):
    """quantile(q), p50, p95 equal numpy.quantile over the last window; count and sum cover all."""
    rng = np.random.default_rng(seed.value)
    qs = [0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0, float(np.round(rng.uniform(0.01, 0.99), 3))]
    for window, n in ((None, 1234), (7, 20), (50, 31), (1, 5)):
        values = [float(v) for v in rng.lognormal(mean=-4.0, sigma=0.6, size=n)]
        got = _run(learner, track, values, window, qs)
        shown = "LatencyTracker()" if window is None else f"LatencyTracker(window={window})"
        call = f"called {shown}, observe() on {n} latencies, then"
        kept = np.array(values[-(window or 1000) :], dtype=np.float64)
        for q, value in zip(qs, got["quantiles"], strict=True):
            _check_float(
                value, float(np.quantile(kept, q)), f"{call} quantile({q})", values, window
            )
        _check_float(got["p50"], float(np.quantile(kept, 0.5)), f"{call} .p50", values, window)
        _check_float(got["p95"], float(np.quantile(kept, 0.95)), f"{call} .p95", values, window)
        if got["count"] != n or type(got["count"]) is not int:
            raise fail(
                f"{call} .count; got {got['count']!r}, expected the int {n} (every "
                "observation, not only the window)"
            )
        _check_float(
            got["sum"],
            math.fsum(values),
            f"{call} .sum (of every observation)",
            None,
            None,
            rtol=1e-9,
        )


def test_tracker_validates_its_inputs(learner):
    """window >= 1; observe needs a finite value >= 0; q in [0, 1]; no observations gives NaN."""
    got = _run(learner, tracker_edges)
    checks = (
        ("window0", "LatencyTracker(window=0)", "ValueError"),
        ("window1", "LatencyTracker(window=1)", None),
        ("negative", "observe(-1e-9)", "ValueError"),
        ("zero", "observe(0.0)", None),
        ("nan", "observe(float('nan'))", "ValueError"),
        ("inf", "observe(float('inf'))", "ValueError"),
        ("q_low", "quantile(-0.001)", "ValueError"),
        ("q_high", "quantile(1.001)", "ValueError"),
    )
    for key, call, want in checks:
        result = got[key]
        if want is None and result is not None:
            raise fail(
                f"called {call}; it raised {result['name']}: {result['message']}; the value "
                "is allowed"
            )
        if want is not None and (result is None or not _is(result, want)):
            what = "it was accepted" if result is None else f"it raised {result['name']}"
            raise fail(f"called {call}; {what}, expected {want}")
    if got["count_after_refused"] != 1:
        raise fail(
            "called observe(0.0), then observe(-1e-9), observe(nan) and observe(inf) (refused); "
            f"count is {got['count_after_refused']!r}, expected 1: a refused value is not recorded"
        )
    edges = got["edges"]
    for q, want in ((0.0, 0.1), (1.0, 0.4)):
        _check_float(
            edges[str(q)],
            want,
            f"called observe() on [0.3, 0.1, 0.4, 0.2], then quantile({q})",
            None,
            None,
        )
    empty = got["empty"]
    if not (type(empty) is float and math.isnan(empty)):
        raise fail(
            "called LatencyTracker().quantile(0.5) without observations; got "
            f"{empty!r}, expected math.nan"
        )


# ----------------------------------------------------------------------------- metrics_text


def test_metrics_text_is_prometheus_format(learner, seed):
    """metrics_text: HELP/TYPE lines, quantiles, _sum, _count, model_version_info{version}."""
    rng = np.random.default_rng(seed.value + 1)
    values = [float(v) for v in rng.lognormal(mean=-3.0, sigma=0.5, size=int(rng.integers(40, 90)))]
    version = f"v{int(rng.integers(2, 99))}.{int(rng.integers(0, 9))}"
    got = _run(learner, metrics, values, version)
    kept = np.array(values, dtype=np.float64)
    for label, text in (
        ("with a current version", got["with"]),
        ("with no current version", got["without"]),
    ):
        call = f"called metrics_text(tracker, registry) {label}, after {len(values)} observations"
        if not isinstance(text, str):
            raise fail(f"{call}; it returned {describe(text)}, expected a str")
        if not text.endswith("\n"):
            raise fail(f"{call}; the text does not end with a newline")
        samples, types, helps = _parse(text, call)
        for name, kind in (("model_latency_seconds", "summary"), ("model_version_info", "gauge")):
            if types.get(name) != kind:
                raise fail(
                    f"{call}; expected a line '# TYPE {name} {kind}', got {types.get(name)!r}"
                )
            if name not in helps:
                raise fail(f"{call}; expected a line '# HELP {name} <text>'")
        wanted = {
            ("model_latency_seconds", 'quantile="0.5"'): float(np.quantile(kept, 0.5)),
            ("model_latency_seconds", 'quantile="0.95"'): float(np.quantile(kept, 0.95)),
            ("model_latency_seconds_sum", ""): math.fsum(values),
            ("model_latency_seconds_count", ""): float(len(values)),
        }
        if label.startswith("with a"):
            wanted[("model_version_info", f'version="{version}"')] = 1.0
        if set(samples) != set(wanted):
            shown = sorted(f"{n}{{{lab}}}" if lab else n for n, lab in samples)
            need = sorted(f"{n}{{{lab}}}" if lab else n for n, lab in wanted)
            raise fail(f"{call}; the samples are {shown}, expected {need}")
        for key, want in wanted.items():
            got_value = samples[key]
            name = f"{key[0]}{{{key[1]}}}" if key[1] else key[0]
            if not math.isclose(got_value, want, rel_tol=1e-9, abs_tol=0.0):
                raise fail(
                    f"{call}; {name} is {got_value!r}, expected {want!r} (write floats with "
                    "repr(), which keeps every digit)"
                )
        order = [n for n, _ in samples]
        if order.index("model_latency_seconds_count") < order.index("model_latency_seconds"):
            raise fail(
                f"{call}; the samples are out of order: the quantiles come first, then _sum "
                "and _count"
            )


def test_metrics_text_spells_nan_and_writes_the_count_as_an_int(learner, seed):
    """metrics_text: NaN (not nan) for the quantiles of an empty tracker; the count as an int."""
    rng = np.random.default_rng(seed.value + 2)
    values = [float(v) for v in rng.lognormal(mean=-3.0, sigma=0.5, size=int(rng.integers(5, 30)))]
    got = _run(learner, metrics, values, "v1")
    quantiles = ('model_latency_seconds{quantile="0.5"}', 'model_latency_seconds{quantile="0.95"}')
    for label, text, n in (
        (f"after {len(values)} observations", got["with"], len(values)),
        ("with no observations (LatencyTracker() just made)", got["empty"], 0),
    ):
        call = f"called metrics_text(tracker, registry) {label}"
        if not isinstance(text, str):
            raise fail(f"{call}; it returned {describe(text)}, expected a str")
        _parse(text, call)  # well-formed lines first
        raw = _raw_samples(text)
        count = raw.get("model_latency_seconds_count")
        if count != str(n):
            raise fail(
                f"{call}; model_latency_seconds_count is written {count!r}, expected {str(n)!r}: "
                "the count as an int (str(tracker.count)), not as a float"
            )
        if n == 0:
            for name in quantiles:
                if raw.get(name) != "NaN":
                    raise fail(
                        f"{call}; {name} is written {raw.get(name)!r}, expected 'NaN': the "
                        "quantile of no observations is NaN, spelt as Prometheus spells it "
                        "(repr(float('nan')) gives 'nan')"
                    )


# ----------------------------------------------------------------------------- scenarios


@scenario
def register_one(
    mod: Any,
    spec: dict[str, Any],
    state: dict[str, torch.Tensor],
    version: str,
    metrics_given: dict[str, float] | None,
    root_kind: str,
) -> dict[str, Any]:
    """register one version in a new folder; the files, manifests and listings."""
    with _tmp() as tmp:
        root = tmp / "deep" / "registry"
        registry = learner_attr(mod, "ModelRegistry")(str(root) if root_kind == "str" else root)
        kwargs = {"metrics": metrics_given} if metrics_given is not None else {}
        t0 = time.time()
        returned = registry.register(state, version, **kwargs)
        t1 = time.time()
        folder = root / "versions" / version
        manifest_path = folder / "manifest.json"
        return {
            "returned": _plain(returned),
            "manifest_file": _read_json(manifest_path),
            "model_bytes": (folder / "model.pt").read_bytes()
            if (folder / "model.pt").is_file()
            else b"",
            "files": _files(root),
            "current": registry.current(),
            "versions": _plain(registry.versions()),
            "state_after": {k: v.detach().clone() for k, v in state.items()},
            "t0": t0,
            "t1": t1,
        }


@scenario
def refusals(
    mod: Any,
    spec: dict[str, Any],
    first: dict[str, torch.Tensor],
    second: dict[str, torch.Tensor],
    bad: list[str],
    good: list[str],
) -> dict[str, Any]:
    """Unsafe names, safe names, a duplicate and a non-str name."""
    with _tmp() as tmp:
        root = tmp / "registry"
        registry = learner_attr(mod, "ModelRegistry")(root)
        bad_results = [_attempt(registry.register, first, name) for name in bad]
        good_results = [_attempt(registry.register, first, name) for name in good]
        inside = ("registry/versions/", "registry/CURRENT", "registry/HISTORY")
        outside = sorted(p for p in _files(tmp) if not p.startswith(inside))
        model = root / "versions" / good[0] / "model.pt"
        before = model.read_bytes() if model.is_file() else b""
        duplicate = _attempt(registry.register, second, good[0])
        after = model.read_bytes() if model.is_file() else b""
        not_str = _attempt(registry.register, first, 3)
        return {
            "bad": bad_results,
            "good": good_results,
            "outside": outside,
            "versions": _plain(registry.versions()),
            "duplicate": duplicate,
            "model_before_dup": before,
            "model_after_dup": after,
            "not_str": not_str,
        }


@scenario
def versions_order(
    mod: Any, spec: dict[str, Any], state: dict[str, torch.Tensor], names: list[str]
) -> dict[str, Any]:
    """An empty registry, then names registered in the given order."""
    with _tmp() as tmp:
        cls = learner_attr(mod, "ModelRegistry")
        registry = cls(tmp / "registry")
        out = {"empty_versions": _plain(registry.versions()), "empty_current": registry.current()}
        for name in names:
            registry.register(state, name)
            time.sleep(0.002)
        out["listed"] = _plain(registry.versions())
        out["reopened"] = _plain(cls(tmp / "registry").versions())
        return out


@scenario
def round_trip(
    mod: Any,
    spec: dict[str, Any],
    states: list[dict[str, torch.Tensor]],
    names: list[str],
    x: torch.Tensor,
) -> dict[str, Any]:
    """register three versions, promote them in turn, roll back twice, then once too often."""
    with _tmp() as tmp:
        root = tmp / "registry"
        cls = learner_attr(mod, "ModelRegistry")
        registry = cls(root)
        for state, name in zip(states, names, strict=True):
            registry.register(state, name)
        steps = []
        actions = [
            ("promote", names[0]),
            ("promote", names[1]),
            ("promote", names[2]),
            ("promote", names[2]),
            ("rollback", None),
            ("reopen-rollback", None),
        ]
        for action, name in actions:
            step: dict[str, Any] = {"raised": None, "returned": None}
            try:
                if action == "promote":
                    registry.promote(name)
                else:
                    if action == "reopen-rollback":
                        registry = cls(root)
                    step["returned"] = registry.rollback()
            except NotImplementedError:
                raise
            except Exception as exc:
                step["raised"] = _error(exc)
                steps.append(step)
                break
            step["current"] = registry.current()
            step["current_file"] = _read_text(root / "CURRENT")
            step["history_file"] = _read_text(root / "HISTORY")
            step["outputs"] = _outputs_of(spec, registry.load, x)
            steps.append(step)
        last = _attempt(registry.rollback)
        after_last = registry.current()
        history_before = _read_text(root / "HISTORY")
        unknown = _attempt(registry.promote, "nope")
        history_after = _read_text(root / "HISTORY")
        loaded = registry.load()
        return {
            "steps": steps,
            "last_rollback": last,
            "after_last": after_last,
            "unknown": unknown,
            "after_unknown": registry.current(),
            "history_unknown": [history_before, history_after],
            "explicit": {n: _outputs_of(spec, registry.load, x, n) for n in names},
            "tensor_kinds": sorted(
                {
                    f"{type(v).__name__} on {v.device}"
                    if isinstance(v, torch.Tensor)
                    else describe(v)
                    for v in loaded.values()
                }
            ),
        }


@scenario
def atomic_current(
    mod: Any, spec: dict[str, Any], states: list[dict[str, torch.Tensor]], names: list[str]
) -> dict[str, Any]:
    """Watch os.replace/os.rename while promoting; then make the replace of CURRENT fail."""
    with _tmp() as tmp:
        root = tmp / "registry"
        registry = learner_attr(mod, "ModelRegistry")(root)
        for state, name in zip(states, names, strict=True):
            registry.register(state, name)
        calls: list[dict[str, Any]] = []
        with _watch_replace(root, calls, fail_current=False):
            registry.promote(names[0])
            registry.promote(names[1])
        out: dict[str, Any] = {
            "calls": calls,
            "current": registry.current(),
            "listing": sorted(p.name for p in root.iterdir()),
        }
        crash_calls: list[dict[str, Any]] = []
        with _watch_replace(root, crash_calls, fail_current=True):
            out["crash"] = _attempt(registry.promote, names[2])
        out["crash_current_file"] = _read_text(root / "CURRENT")
        out["crash_current"] = registry.current()
        out["crash_listing"] = sorted(p.name for p in root.iterdir())
        return out


@scenario
def corrupted(
    mod: Any,
    spec: dict[str, Any],
    states: list[dict[str, torch.Tensor]],
    key: str,
    how: str,
    x: torch.Tensor,
) -> dict[str, Any]:
    """Register two versions, change the first one's model.pt, load both."""
    with _tmp() as tmp:
        root = tmp / "registry"
        registry = learner_attr(mod, "ModelRegistry")(root)
        registry.register(states[0], "good-1")
        registry.register(states[1], "good-2")
        registry.promote("good-1")
        path = root / "versions" / "good-1" / "model.pt"
        data = bytearray(path.read_bytes())
        if how == "flip":
            raw = states[0][key].numpy().tobytes()
            offset = bytes(data).find(raw)
            if offset < 0:
                raise RuntimeError("the grader could not find the tensor in model.pt")
            data[offset + len(raw) // 2] ^= 0x10
            path.write_bytes(bytes(data))
        else:
            path.write_bytes(_evil_bytes())
        manifest = _read_json(root / "versions" / "good-1" / "manifest.json")
        with _trap() as ran:
            result = _attempt(registry.load, "good-1")
        return {
            "manifest_sha": manifest.get("sha256") if isinstance(manifest, dict) else None,
            "bytes": path.read_bytes(),
            "result": result,
            "ran": ran[0],
            "other": _outputs_of(spec, registry.load, x, "good-2"),
        }


@scenario
def pickled_code(mod: Any) -> dict[str, Any]:
    """A version folder whose model.pt runs code when unpickled; the manifest matches it."""
    with _tmp() as tmp:
        root = tmp / "registry"
        registry = learner_attr(mod, "ModelRegistry")(root)
        folder = root / "versions" / "evil"
        folder.mkdir(parents=True, exist_ok=True)
        data = _evil_bytes()
        (folder / "model.pt").write_bytes(data)
        manifest = {
            "version": "evil",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "created": "2026-01-01T00:00:00+00:00",
            "metrics": {},
        }
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        with _trap() as ran:
            result = _attempt(registry.load, "evil")
        return {"result": result, "ran": ran[0]}


@scenario
def load_errors(mod: Any, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """load() with nothing current; load of an unknown version."""
    with _tmp() as tmp:
        registry = learner_attr(mod, "ModelRegistry")(tmp / "registry")
        registry.register(state, "only")
        return {
            "no_current": _attempt(registry.load),
            "unknown": _attempt(registry.load, "missing"),
        }


@scenario
def track(mod: Any, values: list[float], window: int | None, qs: list[float]) -> dict[str, Any]:
    """Observe the values, then ask for the quantiles, p50, p95, count and sum."""
    cls = learner_attr(mod, "LatencyTracker")
    tracker = cls() if window is None else cls(window=window)
    for value in values:
        tracker.observe(value)
    return {
        "quantiles": [tracker.quantile(q) for q in qs],
        "p50": tracker.p50,
        "p95": tracker.p95,
        "count": tracker.count,
        "sum": tracker.sum,
    }


@scenario
def tracker_edges(mod: Any) -> dict[str, Any]:
    """Validation boundaries of LatencyTracker."""
    cls = learner_attr(mod, "LatencyTracker")
    out: dict[str, Any] = {"window0": _attempt(cls, window=0), "window1": _attempt(cls, window=1)}
    tracker = cls()
    out["empty"] = tracker.quantile(0.5)
    out["zero"] = _attempt(tracker.observe, 0.0)
    out["negative"] = _attempt(tracker.observe, -1e-9)
    out["nan"] = _attempt(tracker.observe, float("nan"))
    out["inf"] = _attempt(tracker.observe, float("inf"))
    out["count_after_refused"] = tracker.count
    out["q_low"] = _attempt(tracker.quantile, -0.001)
    out["q_high"] = _attempt(tracker.quantile, 1.001)
    edges = cls()
    for value in (0.3, 0.1, 0.4, 0.2):
        edges.observe(value)
    out["edges"] = {"0.0": edges.quantile(0.0), "1.0": edges.quantile(1.0)}
    return out


@scenario
def metrics(mod: Any, values: list[float], version: str) -> dict[str, Any]:
    """metrics_text with a promoted version, and with none."""
    tracker = learner_attr(mod, "LatencyTracker")()
    for value in values:
        tracker.observe(value)
    with _tmp() as tmp:
        cls = learner_attr(mod, "ModelRegistry")
        empty = cls(tmp / "empty")
        registry = cls(tmp / "registry")
        registry.register({"w": torch.zeros(2)}, version)
        registry.promote(version)
        text = learner_attr(mod, "metrics_text")
        fresh = learner_attr(mod, "LatencyTracker")()
        return {
            "with": text(tracker, registry),
            "without": text(tracker, empty),
            "empty": text(fresh, registry),
        }


# ----------------------------------------------------------------------------- helpers: models


class Net(nn.Module):
    """The model whose weights the registry stores."""

    def __init__(self, width: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _spec(seed: Any, offset: int) -> dict[str, int]:
    rng = seed.python_random(200 + offset)
    return {"width": rng.randint(3, 6), "hidden": rng.randint(6, 10), "classes": rng.randint(2, 5)}


def _state(spec: dict[str, int], seed: Any, offset: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed.value * 7 + offset)
    net = Net(spec["width"], spec["hidden"], spec["classes"])
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _outputs(spec: dict[str, int], state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    net = Net(spec["width"], spec["hidden"], spec["classes"])
    net.load_state_dict(state)
    with torch.no_grad():
        return net.eval()(x)


def _outputs_of(spec: dict[str, int], load: Any, x: torch.Tensor, *args: Any) -> Any:
    """The outputs of a Net built from ``load(*args)``; a str when that fails."""
    try:
        state = load(*args)
    except NotImplementedError:
        raise
    except Exception as exc:
        return f"load({', '.join(map(repr, args))}) raised {type(exc).__name__}: {exc}"[:300]
    try:
        return _outputs(spec, state, x)
    except Exception as exc:
        return f"load_state_dict(...) of what load returned raised {type(exc).__name__}: {exc}"[
            :300
        ]


def _judge_load(data: bytes, call: str) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise fail(
            f"{call}; model.pt does not load with torch.load(..., weights_only=True) "
            f"({type(exc).__name__}: {str(exc)[:100]}): save the state dict itself with torch.save"
        ) from None
    if not isinstance(loaded, dict):
        raise fail(f"{call}; model.pt holds {describe(loaded)}, expected the state dict")
    return loaded


class _Evil:
    def __reduce__(self) -> Any:
        return (exec, (f"import builtins; builtins.{_TRAP} = True",))


def _evil_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2), "payload": _Evil()}, buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- helpers: scenarios


@contextlib.contextmanager
def _tmp() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pp-registry-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _trap() -> Iterator[list[bool]]:
    """Yields [ran]: whether the evil pickle's code ran while the block executed."""
    ran = [False]
    if hasattr(builtins, _TRAP):
        delattr(builtins, _TRAP)
    try:
        yield ran
    finally:
        ran[0] = bool(getattr(builtins, _TRAP, False))
        if hasattr(builtins, _TRAP):
            delattr(builtins, _TRAP)


@contextlib.contextmanager
def _watch_replace(
    root: Path, calls: list[dict[str, Any]], *, fail_current: bool
) -> Iterator[None]:
    """Record os.replace / os.rename calls (and what src and dst held); optionally fail CURRENT."""
    real = {"replace": os.replace, "rename": os.rename}
    root_resolved = root.resolve()

    def wrap(kind: str) -> Any:
        def watched(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            src_path, dst_path = Path(os.fsdecode(src)), Path(os.fsdecode(dst))
            dst_name = (
                dst_path.name if dst_path.resolve().parent == root_resolved else str(dst_path)
            )
            calls.append(
                {
                    "kind": kind,
                    "src": src_path.name,
                    "dst": dst_name,
                    "src_folder": "root"
                    if src_path.resolve().parent == root_resolved
                    else str(src_path.parent),
                    "src_text": _read_text(src_path),
                    "dst_text": _read_text(dst_path),
                }
            )
            if fail_current and dst_name == "CURRENT":
                raise OSError(28, "No space left on device (simulated by the grader)")
            return real[kind](src, dst, *args, **kwargs)

        return watched

    os.replace = wrap("replace")  # type: ignore[assignment]
    os.rename = wrap("rename")  # type: ignore[assignment]
    try:
        yield
    finally:
        os.replace = real["replace"]  # type: ignore[assignment]
        os.rename = real["rename"]  # type: ignore[assignment]


def _attempt(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """None if ``fn(*args)`` returned, else the exception as data (the stub's propagates)."""
    try:
        fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:
        return _error(exc)
    return None


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "name": type(exc).__name__,
        "mro": [k.__name__ for k in type(exc).__mro__],
        "message": str(exc)[:1000],
    }


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _check_history(text: str | None, want: list[str], current: str, call: str) -> None:
    """HISTORY holds the JSON list ``want`` (a missing file stands for the empty list)."""
    try:
        got = [] if text is None else json.loads(text)
    except ValueError:
        got = None
    if got == want:
        return
    hint = ""
    if text is None:
        hint = (
            " (there is no HISTORY file: keep the history in root/HISTORY, not on the object, "
            "so that a new ModelRegistry(root) can still roll back)"
        )
    elif isinstance(got, list) and got[: len(want)] == want and current in got[len(want) :]:
        hint = " (promoting the current version again must not add it to HISTORY)"
    raise fail(
        f"{call}; HISTORY holds {text!r}, expected the JSON list {json.dumps(want)}: the "
        "versions that were current before, oldest first (promote appends, rollback takes "
        f"the last one off){hint}"
    )


def _read_json(path: Path) -> Any:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return f"not JSON: {text[:100]!r}"


def _files(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _plain(value: Any) -> Any:
    """A JSON-like value with plain types (a learner's dict subclass or tuple made plain)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return describe(value)


# ----------------------------------------------------------------------------- helpers: verdicts


def _run(side: Any, fn: Any, *args: Any) -> Any:
    try:
        return side.run(fn, *args)
    except LearnerError as exc:
        if exc.is_a("NotImplementedError") or exc.kind != "raised":
            raise
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
        where = (
            f" (in {exc.last_frame.name}, line {exc.last_frame.lineno})" if exc.last_frame else ""
        )
        raise fail(
            f"{(fn.__doc__ or fn.__name__).strip().splitlines()[0]} — your code raised "
            f"{exc.type_name}: {first}{where}"
        ) from None


def _first_line(text: str) -> str:
    line = re.sub(r"\x1b\[[0-9;]*m", "", text).strip().split("\n")[0]
    return line[:100] + ("..." if len(line) > 100 else "")


def _is(raised: dict[str, Any], *names: str) -> bool:
    return any(name in raised["mro"] for name in names)


def _check_manifest(manifest: Any, want: dict[str, Any], t0: float, t1: float, call: str) -> None:
    keys = {"version", "sha256", "size", "created", "metrics"}
    if not isinstance(manifest, dict) or set(manifest) != keys:
        shown = sorted(manifest) if isinstance(manifest, dict) else describe(manifest)
        raise fail(f"{call} has keys {shown}, expected exactly {sorted(keys)}")
    for key in ("version", "size", "metrics"):
        if manifest[key] != want[key] or type(manifest[key]) is not type(want[key]):
            raise fail(f"{call}: {key} is {manifest[key]!r}, expected {want[key]!r}")
    if manifest["sha256"] != want["sha256"]:
        raise fail(
            f"{call}: sha256 is {manifest['sha256']!r}, expected {want['sha256']!r}, "
            "hashlib.sha256(<the bytes of model.pt>).hexdigest()"
        )
    created = manifest["created"]
    try:
        when = datetime.fromisoformat(created)
    except (TypeError, ValueError):
        raise fail(
            f"{call}: created is {created!r}, expected an ISO-8601 time in UTC, "
            "datetime.now(timezone.utc).isoformat()"
        ) from None
    if when.utcoffset() is None or when.utcoffset().total_seconds() != 0:
        raise fail(f"{call}: created is {created!r}, expected a UTC time (+00:00)")
    if not t0 - 2.0 <= when.timestamp() <= t1 + 2.0:
        raise fail(f"{call}: created is {created!r}, which is not the time register ran")


def _check_float(
    value: Any,
    want: float,
    call: str,
    values: list[float] | None,
    window: int | None,
    *,
    rtol: float = 1e-12,
) -> None:
    if type(value) is not float:
        raise fail(f"{call}; got {describe(value)}, expected a Python float (use float(...))")
    if math.isclose(value, want, rel_tol=rtol, abs_tol=1e-15):
        return
    hint = ""
    if values is not None:
        kept = np.array(values[-(window or 1000) :], dtype=np.float64)
        everything = np.array(values, dtype=np.float64)
        q = None
        match = re.search(r"quantile\(([\d.]+)\)|\.p(\d+)", call)
        if match:
            q = float(match.group(1)) if match.group(1) else int(match.group(2)) / 100
        if q is not None:
            if len(everything) > len(kept) and math.isclose(
                value, float(np.quantile(everything, q)), rel_tol=1e-9
            ):
                hint = (
                    f"; that is the quantile of all {len(values)} observations: keep only the "
                    "last window (deque(maxlen=window))"
                )
            else:
                for method in ("nearest", "lower", "higher", "midpoint", "inverted_cdf"):
                    if math.isclose(
                        value, float(np.quantile(kept, q, method=method)), rel_tol=1e-9
                    ):
                        hint = (
                            f"; that is numpy's method={method!r}: interpolate linearly "
                            "between the closest ranks (h = (n - 1) * q)"
                        )
                        break
    raise fail(f"{call}; got {value!r}, expected {want!r}{hint}")


def _raw_samples(text: str) -> dict[str, str]:
    """``{"name{labels}": value as written}`` for every sample line of a metrics text."""
    raw = {}
    for line in text.split("\n"):
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            raw[line.rpartition(" ")[0]] = match.group(4)
    return raw


def _parse(text: str, call: str) -> tuple[dict[tuple[str, str], float], dict[str, str], set[str]]:
    """Samples {(name, labels): value} in order, TYPE and HELP lines; fail on a malformed line."""
    samples: dict[tuple[str, str], float] = {}
    types: dict[str, str] = {}
    helps: set[str] = set()
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) != 4:
                raise fail(f"{call}; line {number} {line!r} is not '# TYPE <name> <type>'")
            types[parts[2]] = parts[3]
            continue
        if line.startswith("# HELP "):
            parts = line.split(maxsplit=3)
            if len(parts) < 4:
                raise fail(f"{call}; line {number} {line!r} is not '# HELP <name> <text>'")
            helps.add(parts[2])
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise fail(
                f"{call}; line {number} {line!r} is not a sample 'name{{label=\"value\"}} number' "
                "(one space before the value, no trailing spaces, no blank lines)"
            )
        name, _, labels, value = match.groups()
        try:
            number_value = float(value)
        except ValueError:
            raise fail(f"{call}; line {number} {line!r}: {value!r} is not a number") from None
        samples[(name, labels or "")] = number_value
    return samples, types, helps
