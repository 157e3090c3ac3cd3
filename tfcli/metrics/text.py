"""Script detection shared by the text metrics."""

from __future__ import annotations

import re
from typing import Iterable

#: Han ideographs (with extensions and compatibility forms), kana, bopomofo and Hangul:
#: scripts that are scored a character at a time. CJK punctuation is deliberately left out.
CJK_CHARS = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u2e80-\u2fdf"  # CJK and Kangxi radicals
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u31ff"  # Bopomofo, Hangul compatibility Jamo, Kanbun, strokes, Katakana ext.
    "\u3400-\u4dbf"  # CJK Unified Ideographs Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\U00020000-\U0003134f"  # Extensions B-G and compatibility supplement
)
CJK_RE = re.compile(f"[{CJK_CHARS}]")

#: A word character outside ASCII: text that rouge-score's default tokenizer would drop.
NON_ASCII_WORD_RE = re.compile(r"(?![\x00-\x7f])\w")


def _texts(predictions: Iterable[str], references: Iterable[list[str]]) -> Iterable[str]:
    yield from predictions
    for refs in references:
        yield from refs


def contains_cjk(predictions: Iterable[str], references: Iterable[list[str]]) -> bool:
    return any(CJK_RE.search(text) for text in _texts(predictions, references))


def contains_non_ascii_words(predictions: Iterable[str], references: Iterable[list[str]]) -> bool:
    return any(NON_ASCII_WORD_RE.search(text) for text in _texts(predictions, references))
