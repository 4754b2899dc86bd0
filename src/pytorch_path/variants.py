"""Known-wrong variants as overrides of the reference solution.

A variant under ``tests/mistakes/<stage>/<exercise>/`` holds only what differs from
``solutions/<stage>/<exercise>.py``: its docstring (the mistake, and its ``Expect:`` lines),
the imports its own code uses, and the top-level definitions it changes, adds, or removes
(``del NAME``). :func:`compose` turns it back into a whole module: the reference's body
followed by the override's, so that the later definitions win by plain rebinding.

Text-based: comments and formatting survive; :mod:`ast` only finds where the docstring
and the ``from __future__`` imports stand. Cheap to import (no torch).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


class VariantError(ValueError):
    """A reference or override that cannot be composed, because it does not parse.

    The message names the file and the line: ``path:line:column: what is wrong``.
    """


@dataclass(frozen=True)
class _Parts:
    """A module split into its docstring, its future features and the rest."""

    docstring: str
    """The docstring's source text, quotes included; empty if there is none."""
    features: tuple[str, ...]
    """The names imported from ``__future__``, in order."""
    body: str
    """Everything else, with leading and trailing blank lines removed."""


def parse(text: str, name: str = "<override>") -> ast.Module:
    """Parse module ``text``; :class:`VariantError` naming ``name`` and the line if it cannot."""
    try:
        return ast.parse(text, filename=name)
    except SyntaxError as exc:
        where = f"{exc.filename or name}:{exc.lineno or '?'}"
        if exc.offset:
            where += f":{exc.offset}"
        raise VariantError(f"{where}: {exc.msg}") from exc


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _header(tree: ast.Module) -> tuple[ast.Expr | None, list[ast.ImportFrom]]:
    """The module docstring node (if any) and the ``from __future__`` imports after it."""
    body = list(tree.body)
    doc = body.pop(0) if body and _is_docstring(body[0]) else None
    futures: list[ast.ImportFrom] = []
    for node in body:
        if not _is_future(node):
            break
        assert isinstance(node, ast.ImportFrom)
        futures.append(node)
    assert doc is None or isinstance(doc, ast.Expr)
    return doc, futures


def _lines(text: str) -> list[str]:
    """The lines as :mod:`ast` numbers them: a newline, CR LF or a lone CR ends one."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _at(line: str, offset: int) -> int:
    """The character index of a UTF-8 byte ``offset`` (what :mod:`ast` columns count)."""
    return len(line.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))


def _split(text: str, name: str) -> _Parts:
    tree = parse(text, name)
    doc, futures = _header(tree)
    lines = _lines(text)
    docstring = ""
    if doc is not None:
        docstring = _segment(lines, doc)
    features = tuple(alias.name for node in futures for alias in node.names)
    # Blank out each header statement: drop its lines where it stands alone on them,
    # otherwise (``from __future__ import x; import y``) put ``pass`` in its place.
    for node in reversed([n for n in (doc, *futures) if n is not None]):
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        start = _at(lines[first], node.col_offset)
        end = _at(lines[last], node.end_col_offset or 0)
        before, after = lines[first][:start], lines[last][end:]
        if not before.strip() and (not after.strip() or after.lstrip().startswith("#")):
            lines[first : last + 1] = []
        else:
            lines[first : last + 1] = [f"{before}pass{after}"]
    return _Parts(docstring, features, "\n".join(lines).strip("\n"))


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The exact source of ``node`` (from its column to its end column)."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    chunk = lines[first : last + 1]
    if node.end_col_offset is not None:
        chunk[-1] = chunk[-1][: _at(chunk[-1], node.end_col_offset)]
    chunk[0] = chunk[0][_at(chunk[0], node.col_offset) :]
    return "\n".join(chunk)


def compose(
    reference: str,
    override: str,
    *,
    reference_name: str = "<reference>",
    override_name: str = "<override>",
) -> str:
    """The whole module a variant stands for: the reference solution, then the override.

    In order: the override's docstring; the ``from __future__`` imports of both
    (deduplicated, so that they stay the first statements); the reference's body (its
    docstring and future imports removed); the override's body (likewise). Later
    definitions win, as plain Python rebinding. A one-line comment before each part says
    where it came from, naming the files as ``reference_name`` and ``override_name``.

    Raises :class:`VariantError` (naming the file and line) if either text does not parse.
    """
    ref = _split(reference, reference_name)
    over = _split(override, override_name)
    features = list(dict.fromkeys((*ref.features, *over.features)))
    parts = []
    if over.docstring:
        parts.append(f"# docstring: {override_name}\n{over.docstring}")
    if features:
        lines = "\n".join(f"from __future__ import {feature}" for feature in features)
        sources = ", ".join(
            n for n, p in ((reference_name, ref), (override_name, over)) if p.features
        )
        parts.append(f"# future imports: {sources}\n{lines}")
    head = "\n\n".join(parts)
    reference_part = f"# reference solution: {reference_name}\n{ref.body}".rstrip("\n")
    override_part = f"# override: {override_name}\n{over.body}".rstrip("\n")
    return f"{head}\n\n\n{reference_part}\n\n\n{override_part}\n".lstrip("\n")


def compose_files(reference: Path, override: Path) -> str:
    """:func:`compose` of two files, read as UTF-8 and named by their paths."""
    return compose(
        reference.read_text(encoding="utf-8"),
        override.read_text(encoding="utf-8"),
        reference_name=str(reference),
        override_name=str(override),
    )


def bound_names(node: ast.stmt) -> list[str]:
    """The module-level names a top-level statement binds (or, for ``del``, unbinds)."""
    names: list[str] = []

    def visit(sub: ast.AST) -> None:
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names.extend(import_bindings(sub))
        elif isinstance(sub, ast.Name):
            if isinstance(sub.ctx, (ast.Store, ast.Del)):
                names.append(sub.id)
        elif not isinstance(sub, (ast.Lambda, ast.comprehension)):
            for child in ast.iter_child_nodes(sub):
                visit(child)

    visit(node)
    return list(dict.fromkeys(names))


def import_bindings(node: ast.Import | ast.ImportFrom) -> dict[str, tuple[str, str, int]]:
    """What each name an import binds refers to: ``(module, attribute, level)``."""
    found: dict[str, tuple[str, str, int]] = {}
    for alias in node.names:
        if isinstance(node, ast.Import):
            name = alias.asname or alias.name.split(".")[0]
            target = alias.name if alias.asname else name
            found[name] = (target, "", 0)
        elif alias.name != "*":
            found[alias.asname or alias.name] = (node.module or "", alias.name, node.level)
    return found


def eager_names(node: ast.AST, *, lazy_annotations: bool = True) -> set[str]:
    """The names a statement reads when it runs, not later when a function it defines is called.

    That is decorators, base classes, default values, class bodies and module-level
    expressions, and annotations unless ``from __future__ import annotations`` makes them
    lazy (``lazy_annotations``). Function and lambda bodies are left out.
    """
    found: set[str] = set()

    def visit(sub: ast.AST) -> None:
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for item in (*sub.decorator_list, *sub.args.defaults, *sub.args.kw_defaults):
                if item is not None:
                    visit(item)
            if not lazy_annotations:
                args = (*sub.args.posonlyargs, *sub.args.args, *sub.args.kwonlyargs)
                extra = [a for a in (sub.args.vararg, sub.args.kwarg) if a is not None]
                for arg in (*args, *extra):
                    if arg.annotation is not None:
                        visit(arg.annotation)
                if sub.returns is not None:
                    visit(sub.returns)
        elif isinstance(sub, ast.Lambda):
            for item in (*sub.args.defaults, *sub.args.kw_defaults):
                if item is not None:
                    visit(item)
        elif isinstance(sub, ast.AnnAssign):
            if not lazy_annotations:
                visit(sub.annotation)
            for item in (sub.target, sub.value):
                if item is not None:
                    visit(item)
        elif isinstance(sub, ast.Name):
            if isinstance(sub.ctx, ast.Load):
                found.add(sub.id)
        else:
            for child in ast.iter_child_nodes(sub):
                visit(child)

    visit(node)
    return found


def _last_definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    """For each name, the last top-level definition (def, class, assignment) binding it."""
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, _DEFINITIONS):
            for name in bound_names(node):
                found[name] = node
    return found


def _reference_imports(tree: ast.Module) -> dict[str, tuple[str, str, int]]:
    found: dict[str, tuple[str, str, int]] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not _is_future(node):
            found.update(import_bindings(node))
    return found


def override_problems(
    reference: str,
    override: str,
    *,
    reference_name: str = "<reference>",
    override_name: str = "<override>",
) -> list[str]:
    """Why an override is not a minimal one, as sentences; empty when it is fine.

    An override that defines nothing besides its docstring (and future imports) is one
    problem. So is each top-level def, class or assignment identical (by :func:`ast.dump`)
    to the reference's definition of the same name: it changes nothing, so it should be
    dropped — unless what it evaluates when defined (a default value, a decorator, a base
    class, a class body) reads a name the override rebinds before it, which makes the
    copy needed. A text that does not parse is a problem too (named by file and line).
    """
    try:
        ref = parse(reference, reference_name)
        over = parse(override, override_name)
    except VariantError as exc:
        return [str(exc)]
    _, ref_futures = _header(ref)
    doc, futures = _header(over)
    features = {a.name for node in (*ref_futures, *futures) for a in node.names}
    body = [n for n in over.body if n is not doc and n not in futures]
    if not body:
        return ["it defines nothing: an override needs the definitions that make the mistake"]
    lazy = "annotations" in features
    definitions = _last_definitions(ref)
    imports = _reference_imports(ref)
    changed: set[str] = set()
    problems = []
    for node in body:
        names = bound_names(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bindings = import_bindings(node)
            changed.update(n for n, what in bindings.items() if imports.get(n) != what)
            continue
        same = isinstance(node, _DEFINITIONS) and all(
            n in definitions and ast.dump(definitions[n]) == ast.dump(node) for n in names
        )
        if same and names and not eager_names(node, lazy_annotations=lazy) & changed:
            what = _kind(node)
            problems.append(
                f"{what} {', '.join(names)} (line {node.lineno}) is the same as the reference "
                "solution's; it changes nothing, so drop it from the override"
            )
        else:
            changed.update(names)
    return problems


def _kind(node: ast.stmt) -> str:
    if isinstance(node, ast.ClassDef):
        return "class"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "def"
    return "the assignment to"
