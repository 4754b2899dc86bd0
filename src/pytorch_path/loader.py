"""Importing a learner's module from a file, with errors a learner can act on.

Each load gets a fresh, unique module name, so a re-check sees the file as it is
now, and a learner module can never shadow ``torch`` or another learner's file.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import traceback
from pathlib import Path
from types import ModuleType

_counter = itertools.count()


class LearnerLoadError(Exception):
    """The learner's file could not be loaded. ``str()`` is the one-sentence reason."""

    def __init__(self, message: str, *, path: Path, line: int | None = None) -> None:
        """Record the reason, the file and (when known) the line."""
        super().__init__(message)
        self.path = path
        self.line = line


class LearnerFileMissingError(LearnerLoadError):
    """The file the exercise expects does not exist in the target."""


class LearnerSyntaxError(LearnerLoadError):
    """The file is not valid Python."""


class LearnerImportError(LearnerLoadError):
    """Running the file's top level raised an exception."""


def learner_frame(tb: traceback.StackSummary, path: Path) -> traceback.FrameSummary | None:
    """The innermost frame of ``tb`` that lies in ``path``, if any."""
    wanted = str(path.resolve())
    found = None
    for frame in tb:
        try:
            if str(Path(frame.filename).resolve()) == wanted:
                found = frame
        except OSError:
            continue
    return found


def point_at(
    source: bytes | str, line: int | None, column: int | None = None, end: int | None = None
) -> str:
    """The source line ``line`` (1-based) with a caret under ``column`` (1-based), indented.

    ``end`` (exclusive, 1-based) widens the caret to ``^^^``. Empty when the line is
    unknown or out of range. Used under a load error, so the learner sees where.
    """
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    lines = text.splitlines()
    if line is None or not 1 <= line <= len(lines):
        return ""
    code = lines[line - 1].rstrip().expandtabs(4)
    gutter = f"{line:>4} | "
    out = f"\n{gutter}{code}"
    if column is not None and column >= 1:
        stripped = len(code) - len(code.lstrip())
        start = max(column - 1, stripped)
        width = max(1, (end - column) if end and end > column else 1)
        width = min(width, max(1, len(code) - start))
        out += "\n" + " " * (len(gutter) - 2) + "| " + " " * start + "^" * width
    return out


def load_module(path: Path, *, display: str | None = None) -> ModuleType:
    """Import the Python file at ``path`` under a fresh module name and return it.

    ``display`` is how the file is named in messages (default: ``path``). Raises a
    :class:`LearnerLoadError` subclass with one clear sentence for a missing file,
    a syntax error (with the line) or an exception at import time (with its line
    in the learner's file).
    """
    shown = display or str(path)
    if not path.is_file():
        raise LearnerFileMissingError(
            f"{shown} does not exist; restore it with git or copy the stub back", path=path
        )
    source = path.read_bytes()
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        detail = exc.msg or "invalid syntax"
        end = exc.end_offset if exc.end_lineno == exc.lineno else None
        raise LearnerSyntaxError(
            f"{shown} has a syntax error on line {exc.lineno}: {detail}"
            + point_at(source, exc.lineno, exc.offset, end),
            path=path,
            line=exc.lineno,
        ) from None
    except ValueError as exc:  # e.g. null bytes
        raise LearnerSyntaxError(f"{shown} cannot be read as Python: {exc}", path=path) from None
    name = f"pytorch_path_learner_{next(_counter)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None  # a .py path always gives a spec
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except NotImplementedError:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        frame = learner_frame(traceback.extract_tb(exc.__traceback__), path)
        where = f" on line {frame.lineno}" if frame else ""
        if isinstance(exc, SystemExit):
            reason = (
                "it called exit() at import time; keep scripts under `if __name__ == '__main__':`"
            )
        elif isinstance(exc, ImportError) and exc.name:
            reason = f"it imports {exc.name!r}, which is not installed or does not exist"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        pointer = ""
        if frame is not None:
            column = getattr(frame, "colno", None)
            one_line = getattr(frame, "end_lineno", None) == frame.lineno  # 3.11+ positions
            end = getattr(frame, "end_colno", None) if one_line else None
            pointer = point_at(
                source, frame.lineno, None if column is None else column + 1,
                None if end is None else end + 1,
            )  # fmt: skip
        raise LearnerImportError(
            f"{shown} failed while being imported{where}: {reason}{pointer}",
            path=path,
            line=frame.lineno if frame else None,
        ) from exc
    return module


def unload(module: ModuleType) -> None:
    """Drop a module loaded by :func:`load_module` from ``sys.modules``."""
    sys.modules.pop(module.__name__, None)
