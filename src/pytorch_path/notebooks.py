"""Notebooks: one ``.ipynb`` per stage, generated from the manifest, and code read back from cells.

**Generation** (:func:`stage_notebook`, :func:`write_notebooks`): each stage's notebook holds
a setup cell (installs the package where it is missing, as in Colab, and says which devices
the graders use), the lesson as Markdown cells, and per exercise its lesson section, one code
cell holding the untouched stub and one check cell. Every generated cell carries metadata
naming its role and exercise (``{"tags": ["pytorch-path:1.3"], "pytorch_path": {"exercise":
"1.3", "role": "exercise"}}``) and an id derived from them, so regenerating gives identical
bytes and tools can find the cells (nbgrader-style). The notebooks are generated, never
edited by hand: a test keeps the committed ``notebooks/`` equal to what the stubs give.

**Reading back** (:func:`read_notebook`, :func:`history_cells`, :func:`assemble`): the code of
an exercise is the text of the cells that define its names, never the objects a kernel
holds, so a notebook is graded exactly like a file: ``check`` in a kernel builds a module
from the cells the learner ran (IPython's ``In``), and ``grade`` builds the exercise files
from a submitted notebook's cells (tagged cells first, then cells found by the names they
define) and grades those files as usual. Nothing here executes a cell.

How a module is assembled from cells, for one exercise:

1. the exercise's cells: those tagged with its id, and, for each name its stub defines at the
   top level, the last cell defining it (``def``, ``class``, ``=``), as running the notebook
   from top to bottom would leave it; cells that belong to another exercise (by their tag,
   the stub markers they hold such as ``TODO(1.5)``, or the lesson heading they stand
   under) are not searched.
   The whole text of each, in notebook (or execution) order, so later definitions win;
2. IPython syntax (``%pip``, ``!ls``) is turned into Python first, and the calls at a cell's
   top level that only make sense in a notebook are left out: ``check(…)``, ``hint(…)``,
   ``notebook_setup()``, ``display(…)``, ``get_ipython()…`` (a magic) and anything called
   on ``pytorch_path`` or ``plot``. Everything else stays, exactly as in a file;
3. names those cells use but do not define are taken from the other cells (the last
   top-level ``import``, ``def``, ``class`` or ``=`` binding each), then from the stub's imports;
4. a name of the stub that no cell defines keeps the stub's definition (a function of it still
   raises ``NotImplementedError``, so its tests are ``not_started``).

This module never imports torch; nbformat is imported on first use.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytorch_path.curriculum import Exercise, Project, Stage

if TYPE_CHECKING:
    from pytorch_path.results import Results

#: The course's repository: the one place a notebook's install line comes from.
REPOSITORY_URL = "https://github.com/pytorch-path/pytorch-path"
#: What the setup cell installs where ``pytorch_path`` cannot be imported (Colab).
INSTALL_SPEC = f"pytorch-path @ git+{REPOSITORY_URL}"
#: The folder of generated notebooks: at the top of a clone, and inside a workspace.
FOLDER = "notebooks"
#: Every tag this project writes starts with this.
TAG_PREFIX = "pytorch-path:"
#: The cell metadata key holding ``{"exercise": …, "role": …}``.
META_KEY = "pytorch_path"
#: The roles a generated cell can have.
ROLES = ("intro", "setup", "lesson", "exercise", "check")
#: nbformat 4.5: the first minor version with cell ids (set here, so output never drifts).
NBFORMAT_MINOR = 5
#: Largest notebook ``grade`` reads, in bytes (outputs such as images make notebooks big).
MAX_NOTEBOOK_BYTES = 20_000_000
#: Languages a notebook's lesson and its generated text come in.
LANGS = ("en", "zh")

_ID = re.compile(r"^\d+\.\d+$")
_SECTION = re.compile(r"^## (\d+\.\d+)\b")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6} (\d+\.\d+)\b", re.MULTILINE)
#: What marks a stub's text as an exercise's: its TODO, its NotImplementedError, its docstring.
_MARKER = re.compile(
    r"TODO\((\d+\.\d+)\)"
    r"|NotImplementedError\(\s*[\"'](\d+\.\d+):"
    r"|\A\s*[rRuU]?(?:\"\"\"|''')(\d+\.\d+) "
)

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "intro": (
            "**pytorch-path · stage {stage}: {title}** — {count} exercises, {points:g} points.\n\n"
            "Run the first code cell once (in Colab it installs pytorch-path; choose *Runtime → "
            "Change runtime type → GPU* first and the graders also test on CUDA). Then, for each "
            "exercise: read its section, fill in the code cell under it (replace each `raise "
            "NotImplementedError(...)` under its `# TODO`), run that cell, and run the check "
            'cell below it. `hint("{first}")` shows a hint.\n\n'
            "*Generated by `pytorch-path notebooks` from the course's manifests and stubs; "
            "regenerate it rather than editing it by hand.*"
        ),
        "setup": (
            "# Run this cell first. Where pytorch-path is missing (Colab) it is installed; it\n"
            "# carries its data sets and weights, so nothing else is downloaded. It then says\n"
            "# which devices the graders will run your code on."
        ),
        "exercise": "Exercise {id} · {title}",
        "check": "# grades the {id} cell above (run that cell first)",
    },
    "zh": {
        "intro": (
            "**pytorch-path · 第 {stage} 阶段：{title}** —— {count} 道练习，共 {points:g} 分。\n\n"
            "先运行第一个代码单元格（在 Colab 中它会安装 pytorch-path；先选择 *代码执行程序 → "
            "更改运行时类型 → GPU*，评分器还会在 CUDA 上测试）。然后对每道练习：阅读它的小节，"
            "填写下面的代码单元格（替换 `# TODO` 下的每个 `raise NotImplementedError(...)`），"
            '运行该单元格，再运行它下面的检查单元格。`hint("{first}")` 显示提示。\n\n'
            "*本笔记本由 `pytorch-path notebooks` 根据课程的清单和存根生成；请重新生成，"
            "不要手工编辑。*"
        ),
        "setup": (
            "# 先运行这个单元格。缺少 pytorch-path 时（如 Colab）会安装它；它自带数据集和权重，\n"
            "# 不会再下载别的东西。然后它会说明评分器将在哪些设备上运行你的代码。"
        ),
        "exercise": "练习 {id} · {title}",
        "check": "# 为上面的 {id} 单元格评分（先运行那个单元格）",
    },
}


def _nbformat() -> Any:
    """The ``nbformat`` module, imported on first use (it is untyped: hence ``Any``)."""
    import importlib

    return importlib.import_module("nbformat")


class NotebookError(ValueError):
    """A notebook that cannot be read (not JSON, not a notebook): ``str()`` is one sentence."""


# --------------------------------------------------------------------------- generation


def notebook_name(stage: Stage) -> str:
    """The notebook's file name: ``stage1_tensors.ipynb``."""
    return f"{stage.folder}.ipynb"


def lesson_sections(text: str) -> tuple[str, dict[str, str]]:
    """A lesson split into its introduction and one section per exercise id.

    A section starts at a ``## 1.3 …`` heading (outside code fences) and runs to the next one.
    """
    intro: list[str] = []
    sections: dict[str, list[str]] = {}
    current = intro
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        found = None if fenced else _SECTION.match(line)
        if found:
            current = sections.setdefault(found.group(1), [])
        current.append(line)
    return "\n".join(intro).strip("\n"), {k: "\n".join(v).strip("\n") for k, v in sections.items()}


def _cell_id(*parts: str) -> str:
    return "pp-" + "-".join(re.sub(r"[^A-Za-z0-9]+", "-", p) for p in parts)


def _meta(role: str, ex_id: str | None = None) -> dict[str, Any]:
    tag = f"{TAG_PREFIX}{ex_id}" if role == "exercise" and ex_id else f"{TAG_PREFIX}{role}"
    tags = [tag] if role == "exercise" or not ex_id else [tag, f"{TAG_PREFIX}{role}:{ex_id}"]
    data: dict[str, Any] = {"role": role}
    if ex_id:
        data["exercise"] = ex_id
    return {"tags": tags, META_KEY: data}


def setup_source(lang: str = "en") -> str:
    """The setup cell: install where missing, import the notebook API, show the devices."""
    return (
        f"{_TEXT[lang]['setup']}\n"
        "try:\n"
        "    import pytorch_path\n"
        "except ImportError:\n"
        f'    %pip install --quiet "{INSTALL_SPEC}"\n'
        "    import importlib\n"
        "\n"
        "    importlib.invalidate_caches()  # see the package pip has just installed\n"
        "    import pytorch_path\n"
        "from pytorch_path import check, hint, notebook_setup\n"
        "\n"
        "notebook_setup()"
    )


def check_source(ex: Exercise, lang: str = "en") -> str:
    """The check cell under an exercise's cell."""
    return f'check("{ex.id}")  {_TEXT[lang]["check"].format(id=ex.id)}'


def stage_notebook(project: Project, stage: Stage, lang: str = "en") -> Any:
    """The notebook of one stage (an ``nbformat`` node), deterministic for the same course."""
    nbformat = _nbformat()
    if lang not in LANGS:
        raise ValueError(f"there is no notebook language {lang!r}; use {' or '.join(LANGS)}")
    v4 = nbformat.v4
    text = _TEXT[lang]
    lesson_path = project.lesson_path(stage, lang)
    lesson = lesson_path.read_text(encoding="utf-8") if lesson_path.is_file() else ""
    intro, sections = lesson_sections(lesson)
    first = stage.exercises[0].id
    points = sum(ex.points for ex in stage.exercises)
    cells = [
        v4.new_markdown_cell(
            text["intro"].format(
                stage=stage.number,
                title=stage.title,
                count=len(stage.exercises),
                points=points,
                first=first,
            ),
            id=_cell_id("intro"),
            metadata=_meta("intro"),
        ),
        v4.new_code_cell(setup_source(lang), id=_cell_id("setup"), metadata=_meta("setup")),
    ]
    if intro:
        cells.append(v4.new_markdown_cell(intro, id=_cell_id("lesson"), metadata=_meta("lesson")))
    for ex in stage.exercises:
        section = sections.get(ex.id) or f"## {ex.id} {ex.title}"
        heading = text["exercise"].format(id=ex.id, title=ex.title)
        section += f"\n\n**{ex.emoji} {heading}** ({ex.tier}, {ex.points:g})"
        cells.append(
            v4.new_markdown_cell(
                section, id=_cell_id(ex.id, "lesson"), metadata=_meta("lesson", ex.id)
            )
        )
        stub = project.stub_path(ex).read_text(encoding="utf-8").rstrip("\n")
        cells.append(v4.new_code_cell(stub, id=_cell_id(ex.id), metadata=_meta("exercise", ex.id)))
        cells.append(
            v4.new_code_cell(
                check_source(ex, lang), id=_cell_id(ex.id, "check"), metadata=_meta("check", ex.id)
            )
        )
    nb = v4.new_notebook(cells=cells)
    nb.nbformat_minor = NBFORMAT_MINOR
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",  # Colab opens it on a GPU runtime where one is free
        "colab": {"provenance": []},
        META_KEY: {"stage": stage.number, "folder": stage.folder, "lang": lang},
    }
    return nb


def notebook_text(project: Project, stage: Stage, lang: str = "en") -> str:
    """The notebook of a stage as the exact text written to disk."""
    return str(_nbformat().writes(stage_notebook(project, stage, lang))) + "\n"


def write_notebooks(
    project: Project, dest: Path, *, lang: str = "en", stages: Iterable[Stage] | None = None
) -> list[Path]:
    """Write one notebook per stage into ``dest``; returns the paths written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for stage in project.stages if stages is None else stages:
        path = dest / notebook_name(stage)
        path.write_text(notebook_text(project, stage, lang), encoding="utf-8")
        written.append(path)
    return written


def stale_notebooks(project: Project, folder: Path, *, lang: str = "en") -> list[str]:
    """The names of the stage notebooks in ``folder`` that are missing or differ from the stubs."""
    stale = []
    for stage in project.stages:
        path = folder / notebook_name(stage)
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != notebook_text(project, stage, lang):
            stale.append(path.name)
    return stale


# --------------------------------------------------------------------------- reading cells


@dataclass(frozen=True)
class Cell:
    """One code cell, as :func:`assemble` reads it."""

    source: str
    """The cell's Python source (IPython syntax already turned into Python)."""
    label: str
    """How a message names it: ``In [7]`` in a kernel, ``cell 12 of stage1.ipynb`` in a file."""
    exercise: str | None = None
    """The exercise id its metadata or tags name, if any."""
    role: str | None = None
    """Its role (``exercise``, ``check``, ``setup``, …) where its metadata says."""
    section: str | None = None
    """The exercise id of the ``## 1.3 …`` heading above it, in a notebook."""

    @property
    def owner(self) -> str | None:
        """The exercise the cell belongs to.

        Its tag; else the one exercise whose stub markers it holds (``TODO(1.3)``,
        ``NotImplementedError("1.3: …")``, a docstring starting ``1.3``); else, holding no
        marker, the exercise whose lesson heading it stands under.
        """
        if self.exercise:
            return self.exercise
        ids: set[str] = {i for group in _MARKER.findall(self.source) for i in group if i}
        if len(ids) == 1:
            return ids.pop()
        return self.section if not ids else None


def _cell_role(metadata: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(exercise id, role)`` from a cell's metadata, else from its tags."""
    ours = metadata.get(META_KEY)
    if isinstance(ours, Mapping):
        ex_id, role = ours.get("exercise"), ours.get("role")
        if isinstance(ex_id, str) and _ID.match(ex_id):
            return ex_id, role if isinstance(role, str) else "exercise"
        if isinstance(role, str):
            return None, role
    tags = metadata.get("tags")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, str) and tag.startswith(TAG_PREFIX):
            rest = tag[len(TAG_PREFIX) :]
            if _ID.match(rest):
                return rest, "exercise"
            role, _, ex_id = rest.partition(":")
            if role in ROLES:
                return (ex_id if _ID.match(ex_id) else None), role
    return None, None


def python_source(source: str) -> str:
    """A cell's text as the kernel runs it: IPython syntax (``%pip``, ``!ls``) made Python.

    Uses IPython's own transformer where IPython is installed; else magic and shell lines
    become ``pass`` (their indentation kept) and a cell magic's cell is dropped, except
    ``%%time``, ``%%timeit`` and ``%%capture``, whose bodies are Python.
    """
    try:
        import importlib

        transformer: Any = importlib.import_module("IPython.core.inputtransformer2")
    except ImportError:
        return _plain_python(source)
    try:
        return str(transformer.TransformerManager().transform_cell(source))
    except Exception:  # IPython cannot transform it: the compiler will say why
        return _plain_python(source)


def _plain_python(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].startswith("%%"):
        if lines[0][2:].split(" ")[0] not in ("time", "timeit", "capture"):
            return ""
        lines = lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            out.append(line[: len(line) - len(stripped)] + "pass")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def parse_notebook(text: str | bytes, name: str) -> list[Cell]:
    """The code cells of a notebook's JSON text; :class:`NotebookError` for a malformed one."""
    nbformat = _nbformat()
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotebookError(f"{name} is not a notebook: it is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise NotebookError(f"{name} is not a notebook: it has no cells (not an .ipynb file)")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds for a broken notebook
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise NotebookError(
            f"{name} is not a valid notebook (nbformat 4 could not read it: {detail})"
        ) from None
    cells = []
    section = None
    for index, cell in enumerate(nb.cells, start=1):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            headings = _HEADING.findall(source)
            section = headings[-1] if headings else section
        if cell.get("cell_type") != "code":
            continue
        ex_id, role = _cell_role(cell.get("metadata", {}))
        label = f"cell {index} of {name}"
        cells.append(Cell(python_source(source), label, ex_id, role, section))
    return cells


def read_notebook(path: Path, *, name: str | None = None) -> list[Cell]:
    """The code cells of the notebook at ``path`` (read without following a link)."""
    import os
    import stat

    shown = name or path.name
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError as exc:
        raise NotebookError(f"{shown} could not be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NotebookError(f"{shown} is not a regular file; only plain files are graded")
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(
            f"{shown} is larger than {MAX_NOTEBOOK_BYTES} bytes; clear its outputs and submit again"
        )
    return parse_notebook(data, shown)


def history_cells(inputs: Sequence[object]) -> list[Cell]:
    """A kernel's input history (IPython's ``In``: index = execution count) as cells."""
    return [
        Cell(text, f"In [{count}]")
        for count, text in enumerate(inputs)
        if isinstance(text, str) and text.strip()
    ]


# --------------------------------------------------------------------------- assembling

_DEFINING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
_BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__"}


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for elt in node.elts for n in _targets(elt)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


def _defines(stmt: ast.stmt) -> list[str]:
    """The names a top-level ``def``, ``class`` or assignment binds."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, ast.Assign):
        return [n for target in stmt.targets for n in _targets(target)]
    if isinstance(stmt, ast.AnnAssign):
        return _targets(stmt.target)
    return []


def _binds(stmt: ast.stmt) -> list[str]:
    """What a top-level statement binds, imports included (for the names a cell uses)."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            return []
        return [
            (alias.asname or alias.name).split(".")[0] for alias in stmt.names if alias.name != "*"
        ]
    return _defines(stmt)


def stub_names(stub_source: str) -> tuple[str, ...]:
    """The names a stub defines at its top level (``def``, ``class``, assignments), in order."""
    names: list[str] = []
    for stmt in ast.parse(stub_source).body:
        names += [n for n in _defines(stmt) if n not in names and n != "__all__"]
    return tuple(names)


def _used(nodes: Iterable[ast.AST]) -> set[str]:
    """Names read but never bound anywhere in ``nodes``: what they need from elsewhere."""
    loads: set[str] = set()
    stores: set[str] = set()
    for tree in nodes:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                stores.add(node.name)
            elif isinstance(node, ast.arg):
                stores.add(node.arg)
            elif isinstance(node, ast.alias):
                stores.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                stores.add(node.name)
    return loads - stores - _BUILTINS


@dataclass
class _Parsed:
    cell: Cell
    tree: ast.Module | None
    defines: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, cell: Cell) -> _Parsed:
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, ValueError):
            return cls(cell, None)
        return cls(cell, tree, {n for stmt in tree.body for n in _defines(stmt)})


@dataclass(frozen=True)
class Chunk:
    """A piece of an assembled module and the cell it came from."""

    label: str
    """The cell's label (``In [7]``, ``cell 12 of stage1.ipynb``) or ``the stub``."""
    first_line: int
    """The module line of the piece's first line (1-based)."""
    lines: int
    """How many lines it has."""
    cell_line: int = 1
    """The line of the cell that the piece's first line is."""


@dataclass(frozen=True)
class Assembled:
    """The learner module of one exercise, built from cells."""

    source: str
    """The module's text, graded like the exercise's file."""
    cells: tuple[str, ...]
    """Labels of the exercise's cells, in module order (empty: no cell defines its names)."""
    found: tuple[str, ...]
    """The stub's names some cell defines."""
    missing: tuple[str, ...]
    """The names the exercise asks for (``implement``) that no cell defines."""
    chunks: tuple[Chunk, ...] = ()
    """Where each piece of :attr:`source` came from."""

    def where(self, line: int) -> tuple[str, int] | None:
        """``(cell label, line in that cell)`` of a module line, or None outside any cell."""
        for chunk in self.chunks:
            if chunk.first_line <= line < chunk.first_line + chunk.lines:
                return chunk.label, chunk.cell_line + line - chunk.first_line
        return None


def _first_line(stmt: ast.stmt) -> int:
    """The statement's first line, its decorators included."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)])
    return stmt.lineno


def _segment(source: str, stmt: ast.stmt) -> str:
    """The statement's text, decorators included."""
    lines = source.splitlines()
    return "\n".join(lines[_first_line(stmt) - 1 : stmt.end_lineno or stmt.lineno])


#: Called at a cell's top level, these only make sense in a notebook (see the module docstring).
NOTEBOOK_ONLY = frozenset(
    {"check", "hint", "notebook_setup", "display", "get_ipython", "pytorch_path", "plot"}
)


def _notebook_only(stmt: ast.stmt) -> bool:
    """Whether a top-level statement is a call only a notebook makes: ``check("1.3")``, …."""
    if not isinstance(stmt, ast.Expr):
        return False
    node: ast.AST = stmt.value
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            break
    return isinstance(node, ast.Name) and node.id in NOTEBOOK_ONLY and stmt.value is not node


def _cleaned(parsed: _Parsed) -> tuple[str, set[str]]:
    """A cell's text without its notebook-only calls and ``__future__`` imports.

    Those lines are blanked, so every other line keeps its number. Returns the text and
    the ``__future__`` features it imported.
    """
    lines = parsed.cell.source.splitlines()
    if parsed.tree is None:
        return parsed.cell.source, set()
    features: set[str] = set()
    drop: list[ast.stmt] = []
    for stmt in parsed.tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            features.update(alias.name for alias in stmt.names)
            drop.append(stmt)
        elif _notebook_only(stmt):
            drop.append(stmt)
    spans = [(s.lineno, s.end_lineno or s.lineno) for s in parsed.tree.body]
    for stmt in drop:
        first, last = stmt.lineno, stmt.end_lineno or stmt.lineno
        shared = any(a <= last and b >= first for a, b in spans if (a, b) != (first, last))
        if shared:  # `x = 1; check("1.3")`: rebuilt from the tree, lines not kept
            kept = [s for s in parsed.tree.body if s not in drop]
            return ast.unparse(ast.Module(body=kept, type_ignores=[])), features
        for number in range(first, last + 1):
            lines[number - 1] = ""
    return "\n".join(lines), features


def assemble(
    ex: Exercise,
    stub_source: str,
    cells: Sequence[Cell],
    *,
    known: Collection[str] | None = None,
) -> Assembled:
    """The learner module of ``ex`` from ``cells`` (see the module docstring for the rules).

    ``cells`` are in the order they ran (a kernel's history) or stand (a notebook). A cell
    that belongs to another exercise (:attr:`Cell.owner`; one of ``known``, by default any)
    is not searched for the exercise's names: 1.5 and 1.9 both define ``predict``. With no
    cell defining any of them, the module is the stub itself.
    """
    names = stub_names(stub_source)
    parsed = [_Parsed.of(c) for c in cells]
    usable = [p for p in parsed if p.cell.role not in ("check", "setup", "lesson", "intro")]
    own = [p for p in usable if p.cell.exercise == ex.id]
    chosen = {id(p) for p in own}

    def searched(p: _Parsed) -> bool:
        other = p.cell.owner
        return other in (None, ex.id) or (known is not None and other not in known)

    others = [p for p in usable if searched(p)]
    for name in names:
        last = next((p for p in reversed(others) if name in p.defines), None)
        if last is not None:
            chosen.add(id(last))
    picked = [p for p in parsed if id(p) in chosen]
    found = tuple(n for n in names if any(n in p.defines for p in picked))
    missing = tuple(n for n in ex.implement if n not in found)
    if not picked:
        return Assembled(stub_source, (), (), missing)

    bodies: list[tuple[str, str]] = []
    features: set[str] = set()
    trees: list[ast.AST] = []
    for p in picked:
        text, used_features = _cleaned(p)
        features |= used_features
        bodies.append((p.cell.label, text))
        if p.tree is not None:
            trees.append(ast.parse(text))
    bound = {n for p in picked for n in p.defines}
    for tree in trees:
        assert isinstance(tree, ast.Module)
        bound |= {n for stmt in tree.body for n in _binds(stmt)}

    stub_tree = ast.parse(stub_source)
    fill_in = [s for s in stub_tree.body if set(_defines(s)) & (set(names) - set(found))]
    filled = {n for s in fill_in for n in _defines(s)}
    needed = _used(trees) - bound - filled
    deps = _dependencies(needed, [p for p in parsed if id(p) not in chosen and p.tree is not None])
    resolved = {n for _label, stmt, _text in deps for n in _binds(stmt)}
    # The stub's own definitions run before the cells: they get the stub's imports.
    wanted = (needed - resolved) | (_used(fill_in) - filled)
    stub_imports = [
        s
        for s in stub_tree.body
        if isinstance(s, ast.Import) or (isinstance(s, ast.ImportFrom) and s.module != "__future__")
    ]
    from_stub = [s for s in stub_imports if set(_binds(s)) & wanted] + fill_in
    for stmt in stub_tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__" and fill_in:
            features.update(alias.name for alias in stmt.names)

    out: list[str] = []
    chunks: list[Chunk] = []
    if features:
        out.append(f"from __future__ import {', '.join(sorted(features))}")
    out.append(f'"""Exercise {ex.id}, assembled by pytorch-path from notebook cells."""')

    def add(label: str, text: str, cell_line: int = 1) -> None:
        out.append(f"# --- {label} ---")
        body = text.splitlines() or [""]
        chunks.append(Chunk(label, len(out) + 1, len(body), cell_line))
        out.extend(body)

    for label, stmt, text in deps:
        add(label, text, _first_line(stmt))
    if from_stub:
        add("the stub", "\n\n".join(_segment(stub_source, s) for s in from_stub), 0)
    for label, text in bodies:
        add(label, text)
    return Assembled(
        "\n".join(out) + "\n",
        tuple(p.cell.label for p in picked),
        found,
        missing,
        tuple(c for c in chunks if c.label != "the stub"),
    )


#: How many rounds of "names a dependency needs" :func:`_dependencies` follows.
_DEPTH = 4


def _dependencies(needed: set[str], pool: Sequence[_Parsed]) -> list[tuple[str, ast.stmt, str]]:
    """The statements of other cells that bind ``needed`` names, and what those need in turn.

    The last binding of each name wins; the result is in cell order.
    """
    found: dict[int, tuple[int, int, str, ast.stmt, str]] = {}
    wanted: set[str] = set(needed)
    seen: set[str] = set()
    for _round in range(_DEPTH):
        wanted -= seen
        if not wanted:
            break
        seen |= wanted
        new: set[str] = set()
        for name in sorted(wanted):
            hit = None
            for index in range(len(pool) - 1, -1, -1):
                tree = pool[index].tree
                assert tree is not None
                for position in range(len(tree.body) - 1, -1, -1):
                    stmt = tree.body[position]
                    if name in _binds(stmt):
                        hit = (index, position, stmt)
                        break
                if hit:
                    break
            if hit is None:
                continue
            index, position, stmt = hit
            if id(stmt) not in found:
                text = _segment(pool[index].cell.source, stmt)
                found[id(stmt)] = (index, position, pool[index].cell.label, stmt, text)
                new |= _used([stmt]) - set(_binds(stmt))
        wanted = new
    return [
        (label, stmt, text)
        for _i, _p, label, stmt, text in sorted(found.values(), key=lambda t: t[:2])
    ]


# --------------------------------------------------------------------------- check in a kernel


def namespace_cells(namespace: Mapping[str, Any], names: Iterable[str]) -> list[Cell]:
    """The cells to read a namespace's code from.

    A kernel's namespace has IPython's input history (``In``): its cells, in the order they
    ran. Any other namespace gives, for each of ``names`` that it holds as a function or
    class, that object's source (:func:`inspect.getsource`) as a cell of its own.
    """
    history = namespace.get("In")
    if isinstance(history, list) and all(isinstance(item, str) for item in history):
        return history_cells(history)
    import inspect

    cells = []
    for name in names:
        obj = namespace.get(name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            try:
                source = inspect.getsource(obj)
            except (OSError, TypeError):
                continue
            import textwrap

            cells.append(Cell(textwrap.dedent(source), f"the source of {name}"))
    return cells


def _names(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def exercise_notes(ex: Exercise, built: Assembled, namespace: Mapping[str, Any]) -> list[str]:
    """Sentences for the learner about names the cells do not define (empty: nothing to say)."""
    notes = []
    sourceless = [n for n in built.missing if n in namespace]
    absent = [n for n in built.missing if n not in namespace]
    if absent and not built.cells:
        notes.append(
            f"{ex.id}: this notebook does not define {_names(absent)} yet; fill in the {ex.id} "
            "cell, run it, then run the check again"
        )
    elif absent:
        notes.append(
            f"{ex.id}: no cell defines {_names(absent)}; the stub's version (which raises "
            f"NotImplementedError) was graded in its place"
        )
    if sourceless:
        notes.append(
            f"{ex.id}: {_names(sourceless)} exists in this kernel, but no cell that ran defines "
            "it with def, class or =; check() grades the source of your cells, as a file "
            "would be graded, so define it in a cell and run that cell"
        )
    return notes


def relabel(text: str, shown: str, built: Assembled) -> str:
    """A message about the assembled file, pointing at the learner's cells instead.

    ``…/ex03_….py, line 24`` becomes ``In [7], line 3``; other mentions of the file name
    the exercise's cells.
    """
    pattern = re.compile(re.escape(shown) + r"([^\n]*?\bline )(\d+)")

    def at(match: re.Match[str]) -> str:
        place = built.where(int(match.group(2)))
        if place is None:
            return f"the module assembled from your cells{match.group(1)}{match.group(2)}"
        return f"{place[0]}{match.group(1)}{place[1]}"

    text = pattern.sub(at, text)
    return text.replace(shown, ", ".join(built.cells) if built.cells else "the exercise's cell")


def relabel_results(
    results: Results, built: Mapping[str, Assembled], project: Project, *, prefix: str = ""
) -> Results:
    """``results`` with every message about an assembled file naming the cells instead.

    ``prefix`` is what the file's path starts with in the messages (``alice/`` in ``grade``).
    Exercises not in ``built`` are left as they are.
    """
    from dataclasses import replace

    exercises = []
    for result in results.exercises:
        one = built.get(result.id)
        if one is None or not one.cells:
            exercises.append(result)
            continue
        shown = prefix + project.exercise(result.id).relpath
        tests = tuple(replace(t, message=relabel(t.message, shown, one)) for t in result.tests)
        exercises.append(replace(result, tests=tests, message=relabel(result.message, shown, one)))
    return replace(results, exercises=tuple(exercises))


def check_cells(
    selection: str,
    cells: Sequence[Cell],
    *,
    project: Project,
    namespace: Mapping[str, Any] | None = None,
    seed: int | None = None,
    device: str | None = None,
) -> tuple[Results, tuple[str, ...]]:
    """Grade the exercises of ``selection`` as ``cells`` define them, in this process.

    Each exercise's module is assembled (:func:`assemble`) and written as the exercise's
    file into a temporary target, which the usual ``check`` grades: the same graders and
    scenarios as for a file. Messages then name the cells (``In [7], line 3``). Returns the
    results and sentences about names no cell defines.
    """
    import tempfile
    from dataclasses import replace

    from pytorch_path.curriculum import select
    from pytorch_path.runner import check

    exercises = select(project.stages, selection)
    built: dict[str, Assembled] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pytorch-path-notebook-") as tmp:
        root = Path(tmp)
        for ex in exercises:
            stub = project.stub_path(ex).read_text(encoding="utf-8")
            built[ex.id] = assemble(ex, stub, cells)
            notes += exercise_notes(ex, built[ex.id], namespace or {})
            dest = root / ex.relpath
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(built[ex.id].source, encoding="utf-8", errors="backslashreplace")
        results = check(
            selection, project=project, target=root, seed=seed, device=device, display_root=root
        )
    results = relabel_results(results, built, project)
    exercises_out = []
    for result in results.exercises:
        one = built[result.id]
        tests, message = result.tests, result.message
        if one.missing and not one.cells:
            message = next(n for n in notes if n.startswith(f"{result.id}:")).split(": ", 1)[1]
        exercises_out.append(
            replace(
                result,
                tests=tests,
                message=message,
                file=(
                    f"cell{'s' * (len(one.cells) > 1)} {', '.join(one.cells)}"
                    if one.cells
                    else f"the {result.id} cell of the notebook"
                ),
            )
        )
    untouched = [ex.id for ex in exercises if not built[ex.id].cells]
    if len(untouched) > _NOTED:  # `check("all")` in one stage's notebook: one line, not 40
        notes = [n for n in notes if n.split(":", 1)[0] not in untouched]
        notes.append(
            f"{len(untouched)} exercises ({', '.join(untouched[:3])}, …) have no cell defining "
            "their functions yet; each one's message names them"
        )
    return replace(results, target="notebook", exercises=tuple(exercises_out)), tuple(notes)


#: At most this many exercises without any cell get a note of their own.
_NOTED = 3


def progress_folder(project: Project) -> Path:
    """Where a notebook's checks and hints are recorded.

    The workspace around the working directory (a notebook opened from ``workspace/``), else
    the usual default target; but never inside an installed package (a wheel's bundled
    course, as in Colab): there, the working directory.
    """
    from pytorch_path.locations import BUNDLE_DIR
    from pytorch_path.targets import default_target

    folder = default_target(project).resolve()
    bundle = BUNDLE_DIR.resolve()
    if folder == bundle or bundle in folder.parents:
        return Path.cwd()
    return folder


def check_namespace(
    selection: str,
    namespace: Mapping[str, Any],
    *,
    project: Project,
    seed: int | None = None,
    device: str | None = None,
) -> tuple[Results, tuple[str, ...], str]:
    """``check`` in a notebook: grade the cells that ran in ``namespace``'s kernel.

    Records the results in :func:`progress_folder`. Returns the results, the notes of
    :func:`check_cells`, and a warning (empty unless the progress file was corrupt).
    """
    from pytorch_path.curriculum import select
    from pytorch_path.progress import Progress

    exercises = select(project.stages, selection)
    names = [
        n for ex in exercises for n in stub_names(project.stub_path(ex).read_text(encoding="utf-8"))
    ]
    cells = namespace_cells(namespace, names)
    results, notes = check_cells(
        selection, cells, project=project, namespace=namespace, seed=seed, device=device
    )
    progress = Progress.load(progress_folder(project))
    progress.record(results)
    progress.save()
    return results, notes, progress.warning


# --------------------------------------------------------------------------- grading notebooks

#: How deep below a submission folder ``grade`` looks for notebooks.
_SEARCH_DEPTH = 3


def notebook_files(submission: Path, exercises: Sequence[Exercise]) -> list[Path] | None:
    """The notebooks a submission consists of, or None when it is not a notebook submission.

    A submission is a notebook one when it is an ``.ipynb`` file, or a folder that holds
    none of ``exercises``' ``.py`` files but ``.ipynb`` files (up to three folders down,
    hidden folders such as ``.ipynb_checkpoints`` skipped, links never followed). A folder
    with exercise files is graded from those files, as before.
    """
    import os

    from pytorch_path.curriculum import learner_path
    from pytorch_path.targets import learner_root

    if submission.suffix == ".ipynb" and os.path.lexists(submission) and not submission.is_dir():
        return [submission]
    if submission.is_symlink() or not submission.is_dir():
        return None
    source = learner_root(submission)
    if any(os.path.lexists(learner_path(source, ex)) for ex in exercises):
        return None
    found: list[Path] = []
    top = len(submission.parts)
    for folder, dirs, files in os.walk(submission, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and len(here.parts) - top < _SEARCH_DEPTH
        )
        found += sorted(here / f for f in files if f.endswith(".ipynb") and not f.startswith("."))
    return found or None


@dataclass(frozen=True)
class Extracted:
    """What :func:`extract_notebooks` wrote for each exercise."""

    built: dict[str, Assembled]
    """The assembled module of each exercise id."""
    note: str
    """One sentence for the report: which cells each exercise came from."""

    @property
    def anything(self) -> bool:
        """Whether any exercise was found in a cell."""
        return any(b.cells for b in self.built.values())


def extract_notebooks(
    paths: Sequence[Path],
    exercises: Sequence[Exercise],
    project: Project,
    dest: Path,
    *,
    root: Path | None = None,
) -> Extracted:
    """Write each exercise's module, assembled from the notebooks' cells, into ``dest``.

    ``dest`` becomes a folder shaped like ``curriculum/``, to be graded exactly like a
    submission of ``.py`` files. An exercise no cell defines gets its untouched stub
    (``not_started``). No cell is executed. Raises :class:`NotebookError` (one sentence)
    for a notebook that cannot be read; ``root`` is what names are shown relative to.
    """
    from pytorch_path.text import clean

    cells: list[Cell] = []
    for path in paths:
        try:
            shown = path.relative_to(root).as_posix() if root and path != root else path.name
        except ValueError:
            shown = path.name
        shown = clean(shown, 200)  # a file name can hold anything: it reaches every report
        if path.is_symlink():
            raise NotebookError(f"symbolic links are not accepted: {shown}")
        cells += read_notebook(path, name=shown)
    built: dict[str, Assembled] = {}
    parts = []
    known = {ex.id for ex in project.exercises}
    for ex in exercises:
        stub = project.stub_path(ex).read_text(encoding="utf-8")
        built[ex.id] = one = assemble(ex, stub, cells, known=known)
        target = dest / ex.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        # A cell may hold a lone surrogate (valid JSON, not UTF-8): kept visible, as an escape.
        target.write_text(one.source, encoding="utf-8", errors="backslashreplace")
        if one.cells:
            missing = f" (not defined: {', '.join(one.missing)})" if one.missing else ""
            parts.append(f"{ex.id} from {', '.join(one.cells)}{missing}")
    names = clean(", ".join(p.name for p in paths), 400)
    if not parts:
        asked = "; ".join(f"{ex.id}: {', '.join(ex.implement)}" for ex in exercises[:3])
        more = ", …" if len(exercises) > 3 else ""
        return Extracted(
            built,
            f"no cell of {names} defines what the selected exercises ask for ({asked}{more}); "
            "each exercise's code goes in its tagged cell, or in any cell that defines those names",
        )
    return Extracted(built, f"graded from the notebook cells of {names}: {'; '.join(parts)}")
