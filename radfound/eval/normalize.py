"""Answer normalisation for exact-match VQA scoring (documented in docs/evaluation.md).

English (and any Latin-script answer): lowercase, number words -> digits,
punctuation -> space except a decimal point between digits (``3.4 cm`` is not ``3-4 cm``, as in the
standard VQA evaluation), drop the articles a/an/the, collapse whitespace.
Chinese: the same, and whitespace is removed (Chinese has no word spaces), so
``"肝 脏"`` and ``"肝脏"`` match. Tokens for recall are words for Latin script and
single characters for CJK text.
"""

from __future__ import annotations

import re
import unicodedata

_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
_ARTICLES = {"a", "an", "the"}
#: CJK ideograph ranges (extension A, unified, compatibility), for a regex character class.
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{CJK_RANGES}]")
#: Yes/no answers: English, and SLAKE's Chinese ones (是的/不是, and the verb echoed: 有/没有, 包含/不包含, 可以/不可以).
CLOSED_ANSWERS = frozenset({"yes", "no", "是", "否", "是的", "不是", "有", "没有", "包含", "不包含", "可以", "不可以"})


def _decimal_point(text: str, i: int) -> bool:
    return text[i] == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


def _strip_punctuation(text: str) -> str:
    # Unicode category P* covers ASCII and CJK punctuation (，。？、) alike; a decimal point is kept.
    return "".join(" " if unicodedata.category(ch).startswith("P") and not _decimal_point(text, i) else ch
                   for i, ch in enumerate(text))


def is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def normalize_answer(text: str) -> str:
    """Canonical form of an answer for exact match: ``"The  Left-Lung."`` -> ``"left lung"``."""
    text = unicodedata.normalize("NFKC", str(text)).lower().strip()
    text = _strip_punctuation(text)
    words = [_NUMBERS.get(w, w) for w in text.split() if w not in _ARTICLES]
    if is_cjk(text):
        return "".join(words)
    return " ".join(words)


def answer_tokens(text: str) -> list[str]:
    """Tokens of a normalised answer: words, or characters for CJK text (used by token recall)."""
    norm = normalize_answer(text)
    if is_cjk(norm):
        return [ch for ch in norm if not ch.isspace()]
    return norm.split()


def is_closed_answer(answer: str) -> bool:
    """A yes/no answer (``CLOSED_ANSWERS``) after normalisation: ``"Yes."``, ``"是的"``, ``"不包含"``."""
    return normalize_answer(answer) in CLOSED_ANSWERS
