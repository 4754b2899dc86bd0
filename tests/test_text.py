"""Strings from untrusted code are made safe once, on arrival, for every report format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from pytorch_path.text import clean


def test_lone_surrogates_become_visible_escapes() -> None:
    text = clean("bad \udcff value")
    assert text == "bad \\udcff value"
    text.encode("utf-8")  # no UnicodeEncodeError


def test_xml_forbidden_characters_are_escaped() -> None:
    text = clean("a\x00b\x01c\x1bd\tok\n")
    assert text == "a\\x00b\\x01c\\x1bd\tok\n"
    ET.fromstring(f"<m>{text}</m>")
    json.dumps(text)


def test_long_strings_are_capped() -> None:
    text = clean("x" * 100, limit=10)
    assert text.startswith("x" * 10) and "90 more characters cut" in text
    assert clean("x" * 100, limit=None) == "x" * 100
    assert clean(42) == "42"
