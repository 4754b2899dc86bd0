"""Mutation testing of the graders (``pytorch_path.mutation``, ``pytorch-path mutants``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from pytorch_path.cli import main
from pytorch_path.curriculum import Project
from pytorch_path.mutation import (
    EQUIVALENT_FILE,
    OPERATORS,
    EquivalenceListError,
    ExerciseMutation,
    Mutant,
    MutantOutcome,
    MutationReport,
    given_definitions,
    iter_candidates,
    load_equivalent,
    mutants_of,
    mutate_exercise,
    run_mutation,
    sample,
    stale_entries,
    yaml_key,
)
from pytorch_path.statuses import Status


def _mutants(source: str) -> dict[str, Mutant]:
    return {m.id: m for m in mutants_of(textwrap.dedent(source), "9.9")}


def _changes(source: str) -> dict[str, str]:
    """id -> the changed lines as one string, '-old / +new'."""
    return {mid: m.diff().replace("\n", " / ") for mid, m in _mutants(source).items()}


# --------------------------------------------------------------------------- operators


def test_cmp_flips_each_operator_in_place() -> None:
    changes = _changes(
        """
        def f(a, b, c):
            return (a < b, a >= c, a == b, a is None, a not in c, 0 <= a < b)
        """
    )
    line = "- return (a < b, a >= c, a == b, a is None, a not in c, 0 <= a < b)"
    assert (
        changes["9.9:f:cmp < -> <="]
        == line + " / + return (a <= b, a >= c, a == b, a is None, a not in c, 0 <= a < b)"
    )
    assert changes["9.9:f:cmp >= -> >"].endswith(
        "+ return (a < b, a > c, a == b, a is None, a not in c, 0 <= a < b)"
    )
    assert changes["9.9:f:cmp == -> !="].endswith(
        "(a < b, a >= c, a != b, a is None, a not in c, 0 <= a < b)"
    )
    assert changes["9.9:f:cmp is -> is not"].endswith("a is not None, a not in c, 0 <= a < b)")
    assert changes["9.9:f:cmp not in -> in"].endswith("a is None, a in c, 0 <= a < b)")
    # A chain: each operator on its own; the second '<' of the function gets #2.
    assert changes["9.9:f:cmp <= -> <"].endswith("a not in c, 0 < a < b)")
    assert changes["9.9:f:cmp < -> <= #2"].endswith("a not in c, 0 <= a <= b)")


def test_const_perturbs_numbers_and_booleans() -> None:
    changes = _changes(
        """
        def f(x):
            return x.sum(0) + x.mean(1) * 5 + 0.5 + 0.0 + (-1) + True
        """
    )
    ends = {
        mid.split(":const ", 1)[1]: c.split(" / + ")[1]
        for mid, c in changes.items()
        if ":const " in mid
    }
    assert ends["0 -> 1"] == "return x.sum(1) + x.mean(1) * 5 + 0.5 + 0.0 + (-1) + True"
    assert ends["1 -> 0"] == "return x.sum(0) + x.mean(0) * 5 + 0.5 + 0.0 + (-1) + True"
    assert ends["5 -> 6"] == "return x.sum(0) + x.mean(1) * 6 + 0.5 + 0.0 + (-1) + True"
    assert ends["0.5 -> 1.0"] == "return x.sum(0) + x.mean(1) * 5 + 1.0 + 0.0 + (-1) + True"
    assert ends["0.0 -> 1.0"] == "return x.sum(0) + x.mean(1) * 5 + 0.5 + 1.0 + (-1) + True"
    assert ends["-1 -> 0"] == "return x.sum(0) + x.mean(1) * 5 + 0.5 + 0.0 + (0) + True"
    assert ends["True -> False"] == "return x.sum(0) + x.mean(1) * 5 + 0.5 + 0.0 + (-1) + False"


def test_arith_swaps_operators_and_augmented_assignments() -> None:
    changes = _changes(
        """
        def f(a, b):
            a += b * 2
            a /= b ** 2
            return a - b // 2
        """
    )
    assert changes["9.9:f:arith += -> -="] == "- a += b * 2 / + a -= b * 2"
    assert changes["9.9:f:arith * -> /"] == "- a += b * 2 / + a += b / 2"
    assert changes["9.9:f:arith /= -> *="] == "- a /= b ** 2 / + a *= b ** 2"
    assert changes["9.9:f:arith - -> +"] == "- return a - b // 2 / + return a + b // 2"
    assert not [mid for mid in changes if "**" in mid or "//" in mid]


def test_default_perturbs_numbers_and_makes_strings_none() -> None:
    changes = _changes(
        """
        def f(x, eps=1e-5, dim=-1, *, mode="min", flag=False, other=None):
            return x
        """
    )
    assert set(changes) == {
        "9.9:f:default eps=1e-05 -> 2e-05",
        "9.9:f:default dim=-1 -> 0",
        "9.9:f:default mode='min' -> None",
        "9.9:f:default flag=False -> True",
    }
    assert changes["9.9:f:default mode='min' -> None"].endswith(
        "+ def f(x, eps=1e-5, dim=-1, *, mode=None, flag=False, other=None):"
    )


def test_drop_call_replaces_a_call_statement_by_pass() -> None:
    mutants = _mutants(
        """
        def f(model, loss):
            model.train()
            loss.backward(
                retain_graph=True,
            )
            return model
        """
    )
    assert mutants["9.9:f:drop-call model.train()"].diff() == "- model.train()\n+ pass"
    multi = mutants["9.9:f:drop-call loss.backward( retain_graph=True, )"]
    assert multi.removed == ("    loss.backward(", "        retain_graph=True,", "    )")
    assert multi.added == ("    pass",)


def test_drop_kwarg_removes_one_keyword_with_its_comma() -> None:
    changes = _changes(
        """
        def f(x, size):
            a = resize(x, size, antialias=True, mode="bilinear")
            b = resize(x, antialias=True)
            c = resize(antialias=True)
            d = resize(x, **size)
            return a, b, c, d
        """
    )
    drops = {mid: c.split(" / + ")[1] for mid, c in changes.items() if ":drop-kwarg " in mid}
    assert drops == {
        "9.9:f:drop-kwarg antialias=True": 'a = resize(x, size, mode="bilinear")',
        '9.9:f:drop-kwarg mode="bilinear"': "a = resize(x, size, antialias=True)",
        "9.9:f:drop-kwarg antialias=True #2": "b = resize(x)",
        "9.9:f:drop-kwarg antialias=True #3": "c = resize()",
    }


def test_drop_method_keeps_the_receiver_but_not_for_modules_or_self() -> None:
    changes = _changes(
        """
        import torch
        import torch.nn.functional as F

        class M:
            def forward(self, x, device):
                y = self.fc(x)
                z = F.relu(torch.relu(y))
                return x.detach().to(device), self.net.eval()
        """
    )
    methods = {mid: c.split(" / + ")[1] for mid, c in changes.items() if ":drop-method " in mid}
    assert methods == {
        "9.9:M.forward:drop-method .to(device)": "return x.detach(), self.net.eval()",
        "9.9:M.forward:drop-method .detach()": "return x.to(device), self.net.eval()",
        "9.9:M.forward:drop-method .eval()": "return x.detach().to(device), self.net",
    }


def test_negate_if_wraps_the_condition() -> None:
    changes = _changes(
        """
        def f(x):
            if x > 0 and x < 3:
                return 1
            elif not x:
                return 2
            return 3
        """
    )
    assert changes["9.9:f:negate-if x > 0 and x < 3"] == (
        "- if x > 0 and x < 3: / + if not (x > 0 and x < 3):"
    )
    assert changes["9.9:f:negate-if not x"] == "- elif not x: / + elif not (not x):"


def test_every_operator_is_documented() -> None:
    source = textwrap.dedent(
        """
        def f(x, eps=1e-5):
            x.step()
            if x < 1:
                x = x.to("cpu") + 2
            return g(x, strict=True)
        """
    )
    assert {m.operator for m in mutants_of(source)} == set(OPERATORS)


def test_docstrings_imports_annotations_fstrings_raise_and_module_code_are_left_alone() -> None:
    source = textwrap.dedent(
        '''
        """Module docstring 1 < 2."""

        from __future__ import annotations

        import math

        LIMIT = 3
        print(LIMIT + 1)


        def f(x: list[int] = None, n: int = 2) -> dict[str, int]:
            """Docstring: returns 2 * x."""
            import os
            y: tuple[int, int] = (1, 2)
            if n < 0:
                raise ValueError(f"n must be >= 0, got {n + 1}")
            return {"a": n * 2, "b": f"{n - 1}"}


        class C:
            """Class docstring."""

            size = 4
        '''
    )
    mutants = mutants_of(source, "9.9")
    changed = {m.line for m in mutants}
    text = source.splitlines()
    lines = {text[i - 1].strip() for i in changed}
    assert lines == {
        "def f(x: list[int] = None, n: int = 2) -> dict[str, int]:",  # the default n=2
        "y: tuple[int, int] = (1, 2)",  # the value, not the annotation
        "if n < 0:",
        'return {"a": n * 2, "b": f"{n - 1}"}',  # n * 2, not inside the f-string
        "size = 4",
    }
    y_line = [m for m in mutants if "y: tuple" in m.removed[0]]
    assert all(m.added[0].strip().startswith("y: tuple[int, int] = ") for m in y_line)
    returned = [m for m in mutants if m.removed[0].strip().startswith("return")]
    assert all('f"{n - 1}"' in m.added[0] for m in returned)


def test_given_code_is_left_alone() -> None:
    stub = "class Model:\n    size = 3\n\n\ndef train(m):\n    raise NotImplementedError\n"
    solution = "class Model:\n    size = 3  # a comment\n\n\ndef train(m):\n    return m.size + 1\n"
    assert given_definitions(stub, solution) == {"Model"}
    ids = [m.id for m in mutants_of(solution, given={"Model"})]
    assert ids == ["train:arith + -> -", "train:const 1 -> 0"]


def test_the_given_code_of_3_9_is_not_mutated(project: Project) -> None:
    ((_ex, mutants),) = iter_candidates(project, "3.9", compiled=False)
    assert mutants and not [m for m in mutants if m.scope.startswith("CharRNN")]


def test_offsets_are_bytes_so_non_ascii_text_is_safe() -> None:
    changes = _changes(
        """
        def f(x):
            label = "température — été"; return x + 1  # ← a comment
        """
    )
    assert changes["9.9:f:arith + -> -"].endswith(
        '+ label = "température — été"; return x - 1  # ← a comment'
    )


def test_mutants_compile_differ_from_the_original_and_have_unique_ids(project: Project) -> None:
    for ex, mutants in iter_candidates(project, "1-3"):
        source = project.solution_path(ex).read_text(encoding="utf-8")
        ids = [m.id for m in mutants]
        assert len(ids) == len(set(ids)), ex.id
        assert all(mid.startswith(f"{ex.id}:") for mid in ids)
        for m in mutants:
            assert m.text != source
            compile(m.text, m.id, "exec")
            assert m.removed and m.line >= 1


def test_ids_do_not_depend_on_unrelated_code_elsewhere() -> None:
    body = "def g(a):\n    return a < 2\n"
    before = {m.id: m.diff() for m in mutants_of(body)}
    after = {m.id: m.diff() for m in mutants_of("def h(b):\n    return b + 1 < 7\n\n\n" + body)}
    assert before.items() <= after.items()


# --------------------------------------------------------------------------- sampling


def _pool() -> list[Mutant]:
    source = textwrap.dedent(
        """
        def f(x, a=1, b=2.0):
            x.step()
            x.zero_grad()
            if x < 1 and x > 2 and x != 3:
                x = x.to("cpu") + 2 - 3 * 4
            return g(x, strict=True, p=0.5, q=True)
        """
    )
    return mutants_of(source, "9.9")


def test_sample_is_deterministic_and_spread_over_the_operators() -> None:
    pool = _pool()
    first = [m.id for m in sample(pool, 8, seed=3)]
    assert first == [m.id for m in sample(pool, 8, seed=3)]
    # The choice depends on the ids, not on the order they come in.
    assert sorted(first) == sorted(m.id for m in sample(reversed(pool), 8, seed=3))
    assert len(first) == 8 == len(OPERATORS)
    assert {m.operator for m in sample(pool, 8, seed=3)} == set(OPERATORS)  # one of each
    assert {tuple(m.id for m in sample(pool, 8, seed=s)) for s in range(6)} != {tuple(first)}
    # In source order, and all of them when n is None or large.
    order = [m.id for m in pool]
    assert first == sorted(first, key=order.index)
    assert sample(pool, None) == pool
    assert sample(pool, len(pool) + 5, seed=1) == pool


def test_a_bigger_sample_contains_the_smaller_one() -> None:
    pool = _pool()
    small = {m.id for m in sample(pool, 7, seed=0)}
    assert small <= {m.id for m in sample(pool, 14, seed=0)}


# --------------------------------------------------------------------------- the equivalence list


def test_load_equivalent(tmp_path: Path) -> None:
    path = tmp_path / "eq.yaml"
    assert load_equivalent(path) == {}
    path.write_text("# nothing yet\n")
    assert load_equivalent(path) == {}
    path.write_text("'1.3:f:drop-kwarg device=\"cpu\"': the default device is the CPU\n")
    assert load_equivalent(path) == {
        '1.3:f:drop-kwarg device="cpu"': "the default device is the CPU"
    }
    for bad, phrase in [
        ("- a\n- b\n", "mapping of mutant id"),
        ("'1.1:f:cmp < -> <=':\n", "one-line reason"),
        ("'1.1:f:cmp < -> <=': ''\n", "one-line reason"),
        ("'1.1:f:cmp < -> <=': |\n  two\n  lines\n", "one-line reason"),
        ("'1.1:f': [1, 2\n", "not valid YAML"),
        ("3: a reason\n", "is not a mutant id"),
    ]:
        path.write_text(bad)
        with pytest.raises(EquivalenceListError, match=phrase) as info:
            load_equivalent(path)
        assert str(path) in str(info.value)


def test_yaml_key_round_trips() -> None:
    for mid in [
        '1.3:f:drop-kwarg device="cpu"',
        "2.6:C.m:default mode='min' -> None",
        "1.1:f:cmp < -> <= #2",
    ]:
        assert yaml.safe_load(f"{yaml_key(mid)}: reason") == {mid: "reason"}


def test_stale_entries() -> None:
    listed = {"1.1:f:a": "r", "1.1:f:gone": "r", "1.2:g:x": "r", "7.7:h:y": "r"}
    assert stale_entries(listed, ["1.1:f:a"], ["1.1"]) == ["1.1:f:gone"]
    assert stale_entries(listed, ["1.1:f:a", "1.2:g:z"], ["1.1", "1.2"]) == [
        "1.1:f:gone",
        "1.2:g:x",
    ]


def test_the_committed_list_names_only_existing_mutants_with_reasons(project: Project) -> None:
    listed = load_equivalent(project.root / EQUIVALENT_FILE)
    existing = [m.id for _ex, mutants in iter_candidates(project, compiled=False) for m in mutants]
    known = {ex.id for ex in project.exercises}
    assert stale_entries(listed, existing, known) == []
    assert all(mid.split(":", 1)[0] in known for mid in listed)


# --------------------------------------------------------------------------- running


def _outcome(mid: str, status: Status) -> MutantOutcome:
    mutant = Mutant(mid, "cmp", "f", "< -> <=", 1, "", ("a",), ("b",))
    return MutantOutcome(mutant, status, "" if status is Status.PASSED else "no", 0.1)


def test_report_sorts_survivors_against_the_list() -> None:
    ex = ExerciseMutation(
        exercise="1.1",
        candidates=("1.1:f:a", "1.1:f:b", "1.1:f:c", "1.1:f:d"),
        baseline=Status.PASSED,
        baseline_message="",
        outcomes=(
            _outcome("1.1:f:a", Status.PASSED),
            _outcome("1.1:f:b", Status.PASSED),
            _outcome("1.1:f:c", Status.FAILED),
            _outcome("1.1:f:d", Status.TIMEOUT),
        ),
        duration_s=1.0,
    )
    listed = {"1.1:f:b": "equivalent", "1.1:f:c": "thought so", "1.1:f:gone": "stale"}
    report = MutationReport((ex,), listed, seed=0, per_exercise=4)
    assert [o.mutant.id for o in report.survivors] == ["1.1:f:a"]
    assert [o.mutant.id for o in report.listed_survivors] == ["1.1:f:b"]
    assert [o.mutant.id for o in report.listed_but_killed] == ["1.1:f:c"]
    assert report.stale == ["1.1:f:gone"]
    assert not report.clean
    assert MutationReport((ex,), {**listed, "1.1:f:a": "also"}, seed=0, per_exercise=4).clean


def test_mutate_exercise_grades_the_reference_and_its_mutants(mini: Project) -> None:
    # The fixture's 1.1 tests double() but not triple(): the mutants of triple survive.
    result = mutate_exercise(mini, mini.exercise("1.1"), per_exercise=None, seed=0)
    assert result.baseline is Status.PASSED
    assert {o.mutant.id: o.status for o in result.outcomes} == {
        "1.1:double:arith * -> /": Status.FAILED,
        "1.1:double:const 2 -> 3": Status.FAILED,
        "1.1:triple:arith * -> /": Status.PASSED,
        "1.1:triple:const 3 -> 4": Status.PASSED,
    }
    killed = next(o for o in result.outcomes if not o.survived)
    assert "double" in killed.message


def test_a_reference_that_fails_grades_no_mutant(mini_copy: Project) -> None:
    solution = mini_copy.solution_path(mini_copy.exercise("1.1"))
    solution.write_text(
        solution.read_text().replace("return 2 * x", 'raise RuntimeError("broken")')
    )
    report = run_mutation(mini_copy, "1.1", per_exercise=None)
    assert [ex.exercise for ex in report.broken_baselines] == ["1.1"]
    assert report.exercises[0].outcomes == ()
    assert not report.clean


def test_a_mutant_that_hangs_is_killed_at_the_time_limit(mini_copy: Project) -> None:
    solution = mini_copy.solution_path(mini_copy.exercise("1.1"))
    solution.write_text(
        solution.read_text().replace(
            "    return 2 * x\n", "    i = 0\n    while i != 3:\n        i += 1\n    return 2 * x\n"
        )
    )
    result = mutate_exercise(
        mini_copy, mini_copy.exercise("1.1"), per_exercise=None, seed=0, time_limit_s=1
    )
    status = {o.mutant.id: o.status for o in result.outcomes}
    assert status["1.1:double:arith += -> -="] is Status.TIMEOUT
    assert status["1.1:double:cmp != -> =="] is Status.PASSED  # the loop never mattered
    assert not next(o for o in result.outcomes if o.status is Status.TIMEOUT).survived


@pytest.mark.slow
def test_jobs_grade_in_worker_processes_with_the_same_outcome(mini: Project) -> None:
    alone = run_mutation(mini, "1.1", per_exercise=None)
    parallel = run_mutation(mini, "1.1,1.2", per_exercise=None, jobs=2)
    assert [ex.exercise for ex in parallel.exercises] == ["1.1", "1.2"]
    outcome = {o.mutant.id: o.status for o in parallel.exercises[0].outcomes}
    assert outcome == {o.mutant.id: o.status for o in alone.outcomes}


def test_cli_lists_unlisted_survivors_and_exits_1(
    mini_copy: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(mini_copy.root)
    monkeypatch.setenv("COLUMNS", "200")
    code = main(["mutants", "1.1", "--every"])
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # however the console wrapped it
    assert code == 1, out
    assert "'1.1:triple:const 3 -> 4'" in flat
    assert "+ return 4 * x" in flat
    assert "4 mutants of 1 exercises" in flat and "2 survived unlisted" in flat
    # Listed as equivalent (with a stale entry beside it): clean, with a warning.
    listing = mini_copy.root / EQUIVALENT_FILE
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text(
        "'1.1:triple:const 3 -> 4': untested on purpose\n"
        "'1.1:triple:arith * -> /': untested too\n"
        "'1.1:gone:cmp < -> <=': old\n"
    )
    code = main(["mutants", "1.1", "--every", "-v"])
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # however the console wrapped it
    assert code == 0, out
    assert "untested on purpose" in flat
    assert "'1.1:gone:cmp < -> <=', which is no mutant" in flat
    # A broken list is a usage error.
    listing.write_text("- not a mapping\n")
    assert main(["mutants", "1.1"]) == 2
    assert "mapping of mutant id" in capsys.readouterr().err


def test_cli_dry_run_grades_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], project: Project
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["mutants", "1.3", "-n", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 mutant(s); nothing was graded" in out
    assert main(["mutants", "9", "--dry-run"]) == 2
    assert main(["mutants", "1.3", "-n", "0"]) == 2


# --------------------------------------------------------------------------- the curriculum


@pytest.mark.slow
def test_no_unlisted_mutant_survives_in_stages_1_to_3(project: Project) -> None:
    report = run_mutation(project, "1-3", seed=0)
    lines = [f"{o.mutant.id}\n{o.mutant.diff()}" for o in report.survivors]
    lines += [
        f"{ex.exercise}: the reference is {ex.baseline.value}" for ex in report.broken_baselines
    ]
    assert report.clean, (
        f"{len(report.survivors)} mutant(s) survive that {EQUIVALENT_FILE} does not list "
        "(add the missing test, or list it with a one-line reason):\n" + "\n".join(lines)
    )
