r"""Strings as every report shows them: untrusted text made safe, and paths made short.

:func:`clean` makes strings from untrusted code safe, used on arrival;
:func:`shown_path` is the one way a path is displayed (relative where it can be).

A learner's exception message, a value's description or printed output can hold a lone
surrogate (``"\udcff"``), which cannot be encoded as UTF-8, or control characters that XML
forbids (``"\x00"``, ``"\x1b"``), which make a JUnit file unparseable. :func:`clean` turns
both into visible escapes and caps the length, so every renderer can write the result.
"""

from __future__ import annotations

import re
from pathlib import Path

#: Characters XML 1.0 does not allow (tab, newline and carriage return are fine).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
#: The longest string kept from untrusted code, in characters.
DEFAULT_LIMIT = 8000


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object, limit: int | None = DEFAULT_LIMIT) -> str:
    """``text`` as valid UTF-8 with XML-forbidden characters escaped, at most ``limit`` long."""
    if not isinstance(text, str):
        text = str(text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = _XML_FORBIDDEN.sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"… [{len(text) - limit} more characters cut]"
    return text


def shown_path(path: Path | str, root: Path | None = None) -> str:
    """``path`` as a learner reads it: relative to ``root`` (else the working directory).

    A path under neither is shown whole; nothing on disk needs to exist.
    """
    path = Path(path)
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except (ValueError, OSError):
            continue
    return str(path)
