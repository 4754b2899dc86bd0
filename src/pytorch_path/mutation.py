"""Mutation testing of the graders: small seeded changes to the reference solutions.

A *mutant* is a reference solution with one small change: a comparison flipped, a
constant or a default value perturbed, an arithmetic operator swapped, a call
statement or a keyword argument dropped, an ``if`` condition negated. Each mutant is
graded as if a learner had submitted it; when its exercise still *passes*, the mutant
*survives*, and that usually shows a promise of the contract that no test checks (see
issue 15 and ``DESIGN.md``: "the grader checks everything the contract says"). Some
survivors cannot be told apart from the original by any test (a ``.to(device)`` on a
tensor already there); those are listed, each with a one-line reason, in
``tests/mutants_equivalent.yaml``.

Only code the learner writes is mutated: the bodies of functions and classes and the
default values of function parameters; never a docstring, an import, a type annotation,
an f-string, the contents of a ``raise``, or a definition that the exercise's stub hands
out unchanged (given code, see :func:`given_definitions`). A mutant keeps the original
text and replaces only the changed node's source, so it reads as a one- or two-line diff.

Its id names the exercise, the enclosing function (``EarlyStopping._improves``), the
operator and the change, plus ``#2``, ``#3``, … when the same change occurs more than
once in that function: ``2.6:EarlyStopping._improves:cmp < -> <=``. So ids survive
unrelated edits elsewhere in the file. A seeded sample (:func:`sample`) takes at most
``n`` mutants per exercise, spread over the operators; which ones depends only on the
seed and the ids, so the same seed picks the same mutants.

Cheap to import (no torch): grading happens in :func:`run_mutation`, through
:func:`pytorch_path.devcheck.run_text`.
"""

from __future__ import annotations

import ast
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytorch_path.curriculum import Exercise, Project, select
from pytorch_path.statuses import Status

#: The mutation operators, each with what it does.
OPERATORS: dict[str, str] = {
    "cmp": "flip a comparison: < <=, > >=, == !=, is / is not, in / not in",
    "const": "perturb a number: 0 -> 1, 1 -> 0, n -> n+1, x -> 2x (0.0 -> 1.0), True <-> False",
    "arith": "swap an arithmetic operator: + -, * /, and += -=, *= /=",
    "default": "perturb a parameter's default value like a constant (a string one -> None)",
    "drop-call": "replace a call statement (an expression that is only a call) by pass",
    "drop-kwarg": "remove one keyword argument from a call",
    "drop-method": "replace a method call x.f(...) by its receiver x (x.to(device) -> x)",
    "negate-if": "negate the condition of an if statement",
}

#: How many mutants per exercise a run grades unless told otherwise.
DEFAULT_PER_EXERCISE = 10

#: Where the list of mutants judged equivalent lives, relative to the project root.
EQUIVALENT_FILE = Path("tests") / "mutants_equivalent.yaml"


@dataclass(frozen=True)
class Mutant:
    """One small change to a module's source."""

    id: str
    """Stable name: ``<exercise>:<function>:<operator> <change>`` (``#k`` for repeats)."""
    operator: str
    """One of :data:`OPERATORS`."""
    scope: str
    """The qualified name of the enclosing function or class (``Class.method``)."""
    description: str
    """The change in a few words: ``< -> <=``, ``antialias=True``."""
    line: int
    """The first changed line of the original (1-based)."""
    text: str
    """The whole mutated module."""
    removed: tuple[str, ...]
    """The original lines that changed (without line ends)."""
    added: tuple[str, ...]
    """The lines that replace them."""

    def diff(self) -> str:
        """The change as ``-``/``+`` lines, stripped of their indentation."""
        lines = [f"- {line.strip()}" for line in self.removed]
        lines += [f"+ {line.strip()}" for line in self.added]
        return "\n".join(lines)


class EquivalenceListError(ValueError):
    """The equivalence list does not parse or is not a mapping of id -> one-line reason."""


# --------------------------------------------------------------------------- generating


_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_CMP_TEXT: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
#: How each comparison operator is found between its operands (not inside a longer token).
_CMP_PATTERN: dict[type[ast.cmpop], str] = {
    ast.Lt: r"(?<![<>=!])<(?![<=])",
    ast.LtE: r"<=",
    ast.Gt: r"(?<![<>=!-])>(?![>=])",
    ast.GtE: r">=",
    ast.Eq: r"==",
    ast.NotEq: r"!=",
    ast.Is: r"\bis\b(?!\s+not\b)",
    ast.IsNot: r"\bis\s+not\b",
    ast.In: r"(?<!not )\bin\b",
    ast.NotIn: r"\bnot\s+in\b",
}
_ARITH_SWAP: dict[type[ast.operator], tuple[type[ast.operator], str, str, str]] = {
    # op: (replacement, its text, this op's text, pattern of this op between the operands)
    ast.Add: (ast.Sub, "-", "+", r"\+"),
    ast.Sub: (ast.Add, "+", "-", r"-"),
    ast.Mult: (ast.Div, "/", "*", r"(?<!\*)\*(?!\*)"),
    ast.Div: (ast.Mult, "*", "/", r"(?<!/)/(?!/)"),
}

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SKIPPED_STATEMENTS = (ast.Import, ast.ImportFrom, ast.Raise, ast.Global, ast.Nonlocal)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _short(text: str, limit: int = 48) -> str:
    """``text`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _perturbed(value: Any) -> Any:
    """The constant a ``const`` mutant puts in place of ``value`` (None: not a number)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return {0: 1, 1: 0}.get(value, value + 1)
    if isinstance(value, float):
        return 1.0 if value == 0 else value * 2
    return None


def _negative_number(node: ast.AST) -> int | float | None:
    """The value of a literal like ``-1`` or ``-0.5`` (None for anything else)."""
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value
    return None


@dataclass
class _Edit:
    """A candidate change before it becomes a :class:`Mutant`."""

    operator: str
    scope: str
    description: str
    start: int
    """Byte offset in the original where the replaced text starts."""
    end: int
    replacement: str


@dataclass
class _Collector:
    """Walks a module and records every candidate edit, in source order."""

    data: bytes
    starts: list[int] = field(default_factory=list)
    edits: list[_Edit] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)
    """Names bound by imports: ``torch.f(x)`` is a function call, not a method call."""
    statement_calls: set[int] = field(default_factory=set)
    """The calls that are whole statements (``drop-call`` covers them)."""

    def __post_init__(self) -> None:
        offset = 0
        for line in self.data.splitlines(keepends=True) or [b""]:
            self.starts.append(offset)
            offset += len(line)
        self.starts.append(offset)

    # -- positions

    def offset(self, lineno: int, col: int) -> int:
        """The byte offset of a node position (ast columns are UTF-8 byte offsets)."""
        return self.starts[lineno - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        """The byte range of ``node``'s source."""
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def source(self, node: ast.AST) -> str:
        """``node``'s source text."""
        start, end = self.span(node)
        return self.data[start:end].decode("utf-8")

    def add(
        self, operator: str, scope: str, description: str, span: tuple[int, int], new: str
    ) -> None:
        """Record one candidate edit."""
        self.edits.append(_Edit(operator, scope, description, span[0], span[1], new))

    # -- the walk

    def module(self, tree: ast.Module, given: Iterable[str] = ()) -> None:
        """Visit the definitions of a module but those named in ``given``; not module code."""
        given = set(given)
        for imported in ast.walk(tree):
            if isinstance(imported, (ast.Import, ast.ImportFrom)):
                for alias in imported.names:
                    self.namespaces.add((alias.asname or alias.name).split(".")[0])
        for node in tree.body:
            if isinstance(node, (*_FUNCTIONS, ast.ClassDef)) and node.name not in given:
                self.statement(node, ())

    def body(self, statements: Sequence[ast.stmt], scope: tuple[str, ...]) -> None:
        """Visit a block of statements."""
        for node in statements:
            self.statement(node, scope)

    def statement(self, node: ast.stmt, scope: tuple[str, ...]) -> None:
        """Visit one statement."""
        name = ".".join(scope)
        if isinstance(node, _FUNCTIONS):
            inner = (*scope, node.name)
            self.defaults(node.args, ".".join(inner))
            body = node.body[1:] if node.body and _is_docstring(node.body[0]) else node.body
            self.body(body, inner)
        elif isinstance(node, ast.ClassDef):
            inner = (*scope, node.name)
            body = node.body[1:] if node.body and _is_docstring(node.body[0]) else node.body
            self.body(body, inner)
        elif isinstance(node, _SKIPPED_STATEMENTS) or _is_docstring(node):
            return
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expression(node.value, name)
        elif isinstance(node, ast.AugAssign):
            self.augmented(node, name)
            self.expression(node.value, name)
        elif isinstance(node, ast.Expr):
            call = node.value.value if isinstance(node.value, ast.Await) else node.value
            if isinstance(call, ast.Call):
                self.statement_calls.add(id(call))
                described = _short(self.source(call))
                self.add("drop-call", name, described, self.span(node), "pass")
            self.expression(node.value, name)
        elif isinstance(node, ast.If):
            test = self.source(node.test)
            self.add("negate-if", name, _short(test), self.span(node.test), f"not ({test})")
            self.expression(node.test, name)
            self.body(node.body, scope)
            self.body(node.orelse, scope)
        else:
            self.children(node, scope)

    def children(self, node: ast.AST, scope: tuple[str, ...]) -> None:
        """Visit the statements and expressions under ``node``."""
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.statement(child, scope)
            elif isinstance(child, ast.expr):
                self.expression(child, ".".join(scope))
            elif isinstance(child, (ast.excepthandler, ast.withitem, ast.match_case)):
                self.children(child, scope)

    def expression(self, node: ast.expr, scope: str) -> None:
        """Visit an expression and everything in it (f-strings and lambdas' defaults aside)."""
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, ast.Compare):
            self.comparison(node, scope)
        elif isinstance(node, ast.BinOp):
            self.arithmetic(node, scope)
        elif _negative_number(node) is not None:  # -1 is one constant, not "- 1"
            value = _negative_number(node)
            new = _perturbed(value)
            self.add("const", scope, f"{value!r} -> {new!r}", self.span(node), repr(new))
            return
        elif isinstance(node, ast.Constant):
            new = _perturbed(node.value)
            if new is not None:
                self.add("const", scope, f"{node.value!r} -> {new!r}", self.span(node), repr(new))
        elif isinstance(node, ast.Call):
            self.keywords(node, scope)
            self.method(node, scope)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expression(child, scope)
            elif isinstance(child, ast.keyword):
                self.expression(child.value, scope)
            elif isinstance(child, ast.comprehension):
                for part in (child.target, child.iter, *child.ifs):
                    self.expression(part, scope)
            elif isinstance(child, ast.arguments):
                continue  # a lambda's parameters

    # -- the operators

    def _between(
        self, left: ast.expr, right: ast.expr, pattern: str, new: str
    ) -> tuple[tuple[int, int], str] | None:
        """Replace the one match of ``pattern`` between two operands; None if not exactly one."""
        gap_start, gap_end = self.span(left)[1], self.span(right)[0]
        gap = self.data[gap_start:gap_end].decode("utf-8")
        matches = list(re.finditer(pattern, gap))
        if len(matches) != 1:
            return None
        match = matches[0]
        at = gap_start + len(gap[: match.start()].encode("utf-8"))
        to = gap_start + len(gap[: match.end()].encode("utf-8"))
        return (at, to), new

    def comparison(self, node: ast.Compare, scope: str) -> None:
        """``cmp``: each operator of a comparison chain, flipped."""
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            swapped = _CMP_SWAP[type(op)]
            old, new = _CMP_TEXT[type(op)], _CMP_TEXT[swapped]
            found = self._between(operands[i], operands[i + 1], _CMP_PATTERN[type(op)], new)
            if found is not None:
                self.add("cmp", scope, f"{old} -> {new}", *found)
            else:  # a comment in the way: rewrite the whole comparison
                ops = list(node.ops)
                ops[i] = swapped()
                copy = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                self.add("cmp", scope, f"{old} -> {new}", self.span(node), ast.unparse(copy))

    def arithmetic(self, node: ast.BinOp, scope: str) -> None:
        """``arith``: ``+`` and ``-``, ``*`` and ``/`` swapped."""
        swap = _ARITH_SWAP.get(type(node.op))
        if swap is None:
            return
        other, new, old, pattern = swap
        found = self._between(node.left, node.right, pattern, new)
        if found is not None:
            self.add("arith", scope, f"{old} -> {new}", *found)
        else:
            copy = ast.BinOp(left=node.left, op=other(), right=node.right)
            self.add("arith", scope, f"{old} -> {new}", self.span(node), ast.unparse(copy))

    def augmented(self, node: ast.AugAssign, scope: str) -> None:
        """``arith``: ``+=`` and ``-=``, ``*=`` and ``/=`` swapped."""
        swap = _ARITH_SWAP.get(type(node.op))
        if swap is None:
            return
        _, new, old, pattern = swap
        found = self._between(node.target, node.value, pattern + "=", new + "=")
        if found is not None:
            self.add("arith", scope, f"{old}= -> {new}=", *found)

    def keywords(self, node: ast.Call, scope: str) -> None:
        """``drop-kwarg``: each named keyword argument of a call, removed."""
        items: list[ast.expr | ast.keyword] = sorted(
            [*node.args, *node.keywords], key=lambda n: (n.lineno, n.col_offset)
        )
        for i, kw in enumerate(items):
            if not isinstance(kw, ast.keyword) or kw.arg is None:
                continue
            start, end = self.span(kw)
            if i + 1 < len(items):  # up to the next argument: "kw=v, " goes
                end = self.span(items[i + 1])[0]
            elif i > 0:  # the last one: ", kw=v" goes
                start = self.span(items[i - 1])[1]
            else:  # the only one: up to the closing parenthesis
                end = self.span(node)[1] - 1
            self.add("drop-kwarg", scope, _short(self.source(kw)), (start, end), "")

    def method(self, node: ast.Call, scope: str) -> None:
        """``drop-method``: ``x.f(...)`` -> ``x`` (not ``torch.f()``, ``self.f()``, statements)."""
        func = node.func
        if not isinstance(func, ast.Attribute) or id(node) in self.statement_calls:
            return
        receiver = func.value
        if isinstance(receiver, ast.Name) and receiver.id in {*self.namespaces, "self", "cls"}:
            return
        root = receiver
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.namespaces:
            return  # torch.nn.functional.relu(x)
        call = self.source(node)[len(self.source(receiver)) :]
        self.add("drop-method", scope, _short(call), self.span(node), self.source(receiver))

    def defaults(self, args: ast.arguments, scope: str) -> None:
        """``default``: each numeric or boolean default perturbed, a string default -> None."""
        positional = [*args.posonlyargs, *args.args]
        pairs = list(
            zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
        )
        pairs += [
            (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
        ]
        for arg, default in pairs:
            value: Any = _negative_number(default)
            if value is None and isinstance(default, ast.Constant):
                value = default.value
            if isinstance(value, str):
                new: Any = None
            else:
                new = _perturbed(value)
                if new is None:
                    continue
            change = f"{arg.arg}={value!r} -> {new!r}"
            self.add("default", scope, change, self.span(default), repr(new))


def _changed_lines(data: bytes, edit: _Edit) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    """The first changed line (1-based), the original lines the edit touches and their new text."""
    line_start = data.rfind(b"\n", 0, edit.start) + 1
    line_end = data.find(b"\n", max(edit.end - 1, edit.start))
    line_end = len(data) if line_end < 0 else line_end
    before = data[line_start:line_end].decode("utf-8")
    after = (
        data[line_start : edit.start].decode("utf-8")
        + edit.replacement
        + data[edit.end : line_end].decode("utf-8")
    )
    first = data.count(b"\n", 0, line_start) + 1
    removed = before.split("\n")
    added = [line for line in after.split("\n") if line.strip()]
    while len(removed) > 1 and added and removed[-1] == added[-1]:
        removed.pop()
        added.pop()
    while len(removed) > 1 and added and removed[0] == added[0]:
        removed.pop(0)
        added.pop(0)
        first += 1
    return first, tuple(removed), tuple(added)


def given_definitions(stub: str, solution: str) -> set[str]:
    """Top-level functions and classes the stub already holds exactly as the solution does.

    That is given code (a model the exercise hands out, a demo app): the learner does not
    write it, and a grader may use its own copy, so its mutants say nothing about the
    grader. Compared as syntax trees, so formatting and comments do not matter.
    """

    def definitions(text: str) -> dict[str, str]:
        return {
            node.name: ast.dump(node)
            for node in ast.parse(text).body
            if isinstance(node, (*_FUNCTIONS, ast.ClassDef))
        }

    stub_defs = definitions(stub)
    return {name for name, dump in definitions(solution).items() if stub_defs.get(name) == dump}


def mutants_of(
    source: str, exercise_id: str = "", *, given: Iterable[str] = (), compiled: bool = True
) -> list[Mutant]:
    """Every mutant of module ``source``, in source order; ids start with ``exercise_id:``.

    The top-level definitions named in ``given`` (see :func:`given_definitions`) are left
    alone. Mutants whose text equals the original or another mutant's are left out, and so
    are those that do not compile (unless ``compiled`` is False: checking costs a few
    milliseconds a mutant). Raises :class:`SyntaxError` when ``source`` does not parse.
    """
    data = source.encode("utf-8")
    tree = ast.parse(source)
    collector = _Collector(data)
    collector.module(tree, given)
    prefix = f"{exercise_id}:" if exercise_id else ""
    seen_ids: dict[str, int] = defaultdict(int)
    seen_texts = {source}
    mutants = []
    for edit in collector.edits:
        new = data[: edit.start] + edit.replacement.encode("utf-8") + data[edit.end :]
        text = new.decode("utf-8")
        base = f"{prefix}{edit.scope or '<module>'}:{edit.operator} {edit.description}"
        seen_ids[base] += 1
        mid = base if seen_ids[base] == 1 else f"{base} #{seen_ids[base]}"
        if text in seen_texts:
            continue
        if compiled:
            try:
                compile(text, "<mutant>", "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                continue
        seen_texts.add(text)
        line, removed, added = _changed_lines(data, edit)
        mutants.append(
            Mutant(
                id=mid,
                operator=edit.operator,
                scope=edit.scope,
                description=edit.description,
                line=line,
                text=text,
                removed=removed,
                added=added,
            )
        )
    return mutants


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


def sample(mutants: Iterable[Mutant], n: int | None, seed: int = 0) -> list[Mutant]:
    """At most ``n`` of ``mutants`` (all of them for ``None``), spread over the operators.

    Each operator's mutants are ranked by a hash of the seed and the mutant's id; the
    sample takes the first of each operator in turn, then the second, and so on. So the
    same seed gives the same sample, and an edit elsewhere in a file changes it little.
    The result is in source order.
    """
    pool = list(mutants)
    if n is None or n >= len(pool):
        return pool
    by_operator: dict[str, list[Mutant]] = defaultdict(list)
    for mutant in pool:
        by_operator[mutant.operator].append(mutant)
    queues = [sorted(group, key=lambda m: _rank(seed, m.id)) for group in by_operator.values()]
    queues.sort(key=lambda q: _rank(seed, q[0].operator))
    chosen: set[str] = set()
    depth = 0
    while len(chosen) < n:
        for queue in queues:
            if depth < len(queue) and len(chosen) < n:
                chosen.add(queue[depth].id)
        depth += 1
    return [m for m in pool if m.id in chosen]


# --------------------------------------------------------------------------- the equivalence list


def load_equivalent(path: Path) -> dict[str, str]:
    """The committed list of mutants judged equivalent: id -> one-line reason.

    A missing file is an empty list. Raises :class:`EquivalenceListError` naming the file
    (and the id) when it is not a mapping of ids to non-empty one-line reasons.
    """
    import yaml

    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EquivalenceListError(f"{path}: not valid YAML ({exc})") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise EquivalenceListError(
            f"{path}: expected a mapping of mutant id -> reason, got {type(raw).__name__}"
        )
    listed: dict[str, str] = {}
    for key, reason in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise EquivalenceListError(f"{path}: {key!r} is not a mutant id (a string)")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            raise EquivalenceListError(
                f"{path}: {key!r} needs a one-line reason why no test can tell it apart"
            )
        listed[key] = reason.strip()
    return listed


def yaml_key(mutant_id: str) -> str:
    """``mutant_id`` quoted as a key of the equivalence list (single quotes, ``'`` doubled)."""
    return "'" + mutant_id.replace("'", "''") + "'"


def stale_entries(
    listed: Mapping[str, str], existing: Iterable[str], exercise_ids: Iterable[str]
) -> list[str]:
    """Listed ids of the given exercises that name no mutant any more, in list order.

    ``existing`` holds the ids of every mutant of those exercises (not just a sample's).
    An id whose exercise part is not a known exercise is stale too.
    """
    existing = set(existing)
    exercises = set(exercise_ids)
    stale = []
    for mid in listed:
        exercise = mid.split(":", 1)[0]
        if exercise in exercises and mid not in existing:
            stale.append(mid)
    return stale


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class MutantOutcome:
    """How one mutant fared."""

    mutant: Mutant
    """The mutant graded."""
    status: Status
    """Its exercise status: ``passed`` means the mutant survived."""
    message: str
    """The first failure message (empty for a survivor)."""
    duration_s: float
    """Wall-clock seconds its grading took."""

    @property
    def survived(self) -> bool:
        """True when every test of the exercise passed with this mutant."""
        return self.status is Status.PASSED


@dataclass(frozen=True)
class ExerciseMutation:
    """The mutants of one exercise's reference solution and how they fared."""

    exercise: str
    """The exercise id."""
    candidates: tuple[str, ...]
    """The ids of every mutant of the reference (the sample was drawn from these)."""
    baseline: Status
    """The unmutated reference's status under the same seed (should be ``passed``)."""
    baseline_message: str
    """Why the reference did not pass, if it did not."""
    outcomes: tuple[MutantOutcome, ...]
    """The sampled mutants, graded, in source order."""
    duration_s: float
    """Wall-clock seconds for the reference and every mutant."""


@dataclass(frozen=True)
class MutationReport:
    """A mutation run over a selection, judged against the equivalence list."""

    exercises: tuple[ExerciseMutation, ...]
    """One entry per selected exercise, in curriculum order."""
    equivalent: Mapping[str, str]
    """The equivalence list: id -> reason."""
    seed: int
    """The seed of the sample and of the grader runs."""
    per_exercise: int | None
    """The sample size per exercise (None: every mutant)."""

    @property
    def outcomes(self) -> list[MutantOutcome]:
        """Every graded mutant."""
        return [o for ex in self.exercises for o in ex.outcomes]

    @property
    def survivors(self) -> list[MutantOutcome]:
        """Survivors not in the equivalence list: the gaps to look at."""
        return [o for o in self.outcomes if o.survived and o.mutant.id not in self.equivalent]

    @property
    def listed_survivors(self) -> list[MutantOutcome]:
        """Survivors the equivalence list explains."""
        return [o for o in self.outcomes if o.survived and o.mutant.id in self.equivalent]

    @property
    def listed_but_killed(self) -> list[MutantOutcome]:
        """Listed as equivalent, yet some test told them apart: the entry can go."""
        return [o for o in self.outcomes if not o.survived and o.mutant.id in self.equivalent]

    @property
    def stale(self) -> list[str]:
        """Listed ids of the selected exercises that name no mutant any more."""
        existing = [mid for ex in self.exercises for mid in ex.candidates]
        return stale_entries(self.equivalent, existing, [ex.exercise for ex in self.exercises])

    @property
    def broken_baselines(self) -> list[ExerciseMutation]:
        """Exercises whose unmutated reference did not pass (their mutants say nothing)."""
        return [ex for ex in self.exercises if ex.baseline is not Status.PASSED]

    @property
    def clean(self) -> bool:
        """No unlisted survivor and every reference passed."""
        return not self.survivors and not self.broken_baselines


def _first_failure(result: Any) -> str:
    if result.message:
        return str(result.message)
    problem = result.first_problem
    return f"{problem.name}: {problem.message}" if problem else ""


def mutate_exercise(
    project: Project,
    ex: Exercise,
    *,
    per_exercise: int | None = DEFAULT_PER_EXERCISE,
    seed: int = 0,
    time_limit_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExerciseMutation:
    """Grade the reference of ``ex``, then a seeded sample of its mutants, in this process.

    Each is graded like a learner's file with the same ``seed``, under the exercise's
    time limit (or ``time_limit_s``). A mutant that fails to import, crashes or runs out
    of time counts as killed. When the reference itself does not pass, no mutant runs.
    """
    from pytorch_path.devcheck import run_text

    started = time.perf_counter()
    source = project.solution_path(ex).read_text(encoding="utf-8")
    every = mutants_of(source, ex.id, given=_given(project, ex, source))
    chosen = sample(every, per_exercise, seed)
    say = progress or (lambda _msg: None)
    say(f"{ex.id} reference")
    base = run_text(project, ex, source.encode("utf-8"), seed=seed, time_limit_s=time_limit_s)
    outcomes = []
    if base.status is Status.PASSED:
        for i, mutant in enumerate(chosen, 1):
            say(f"{ex.id} mutant {i}/{len(chosen)}")
            t0 = time.perf_counter()
            result = run_text(
                project, ex, mutant.text.encode("utf-8"), seed=seed, time_limit_s=time_limit_s
            )
            message = "" if result.status is Status.PASSED else _first_failure(result)
            outcomes.append(MutantOutcome(mutant, result.status, message, time.perf_counter() - t0))
    return ExerciseMutation(
        exercise=ex.id,
        candidates=tuple(m.id for m in every),
        baseline=base.status,
        baseline_message="" if base.status is Status.PASSED else _first_failure(base),
        outcomes=tuple(outcomes),
        duration_s=time.perf_counter() - started,
    )


def _mutate_in_worker(
    root: str, ex_id: str, per_exercise: int | None, seed: int, time_limit_s: float | None
) -> ExerciseMutation:
    """:func:`mutate_exercise` in a worker process of :func:`run_mutation`."""
    project = Project(Path(root))
    return mutate_exercise(
        project,
        project.exercise(ex_id),
        per_exercise=per_exercise,
        seed=seed,
        time_limit_s=time_limit_s,
    )


def run_mutation(
    project: Project,
    selection: str = "all",
    *,
    per_exercise: int | None = DEFAULT_PER_EXERCISE,
    seed: int = 0,
    jobs: int = 1,
    time_limit_s: float | None = None,
    equivalent: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> MutationReport:
    """Mutate the reference of every selected exercise and grade the mutants.

    ``jobs`` > 1 grades that many exercises at once, each in a fresh process (torch is
    imported once per process). ``equivalent`` defaults to the project's committed list
    (:data:`EQUIVALENT_FILE`). Raises :class:`~pytorch_path.curriculum.SelectionError` for
    a selection that names nothing and :class:`EquivalenceListError` for a broken list.
    """
    exercises = select(project.stages, selection)
    if equivalent is None:
        equivalent = load_equivalent(project.root / EQUIVALENT_FILE)
    say = progress or (lambda _msg: None)
    done: dict[str, ExerciseMutation] = {}
    if jobs <= 1:
        for ex in exercises:
            done[ex.id] = mutate_exercise(
                project,
                ex,
                per_exercise=per_exercise,
                seed=seed,
                time_limit_s=time_limit_s,
                progress=say,
            )
    else:
        done = _run_parallel(project, exercises, per_exercise, seed, jobs, time_limit_s, say)
    return MutationReport(
        exercises=tuple(done[ex.id] for ex in exercises),
        equivalent=dict(equivalent),
        seed=seed,
        per_exercise=per_exercise,
    )


def _run_parallel(
    project: Project,
    exercises: Sequence[Exercise],
    per_exercise: int | None,
    seed: int,
    jobs: int,
    time_limit_s: float | None,
    say: Callable[[str], None],
) -> dict[str, ExerciseMutation]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no forked torch or pytest state
    done: dict[str, ExerciseMutation] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {
            pool.submit(
                _mutate_in_worker, str(project.root), ex.id, per_exercise, seed, time_limit_s
            ): ex.id
            for ex in exercises
        }
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            say(f"{len(done)}/{len(exercises)} exercises done")
    return done


def iter_candidates(
    project: Project, selection: str = "all", *, compiled: bool = True
) -> Iterator[tuple[Exercise, list[Mutant]]]:
    """Every mutant of every selected exercise's reference (see :func:`mutants_of`)."""
    for ex in select(project.stages, selection):
        source = project.solution_path(ex).read_text(encoding="utf-8")
        yield ex, mutants_of(source, ex.id, given=_given(project, ex, source), compiled=compiled)


def _given(project: Project, ex: Exercise, source: str) -> set[str]:
    """The given code of ``ex``: definitions its stub holds unchanged (none without a stub)."""
    stub = project.stub_path(ex)
    if not stub.is_file():
        return set()
    return given_definitions(stub.read_text(encoding="utf-8"), source)
