"""VQA-RAD training rows shaped so the image matters (``data.vqarad_rows`` in a training config).

Why: 0.3.0 answers 91% of the closed questions about its VQA-RAD training images right with a blank
image (docs/evaluation.md, "Does the model read the image?"): most wordings occur on one image with one
answer, so the wording alone recalls the answer. Two options, both off by default (0.3.0's recipe):

- ``"unique": true`` drops rows repeating an earlier row's image, question and answer after
  normalisation (403 of the 2,592 train-part rows), which otherwise count twice or more;
- ``"organ_questions": true`` adds, for every training image, a yes/no question per body region
  VQA-RAD labels (``image_organ``: head, chest, abdomen), answerable only by looking: three rows per
  image, one "Yes" and two "No".
"""

from __future__ import annotations

from collections.abc import Sequence

from radfound.errors import ConfigError
from radfound.eval.normalize import normalize_answer
from radfound.eval.vqa_file import VQAItem

#: VQA-RAD's image_organ labels and how a question names them.
REGIONS = {"HEAD": "the head", "CHEST": "the chest", "ABD": "the abdomen"}
ORGAN_QUESTION = "Is this an image of {}?"
OPTIONS = frozenset({"unique", "organ_questions"})


def vqarad_rows(items: Sequence[VQAItem], options: dict | None = None) -> list[tuple[VQAItem, str, str]]:
    """(item, question, answer) rows of VQA-RAD ``items`` as ``options`` shape them (module docstring)."""
    options = options or {}
    unknown = set(options) - OPTIONS
    if unknown:
        raise ConfigError(f"data.vqarad_rows: unknown option(s) {sorted(unknown)}; use {sorted(OPTIONS)}")
    rows, seen = [], set()
    for it in items:
        key = (it.image, normalize_answer(it.question), normalize_answer(it.answer))
        if options.get("unique") and key in seen:
            continue
        seen.add(key)
        rows.append((it, it.question, it.answer))
    if options.get("organ_questions"):
        organs = {}
        for it in items:
            organs.setdefault(it.image, (it, str(it.meta.get("image_organ", "")).strip().upper()))
        for it, organ in organs.values():
            if organ in REGIONS:
                rows += [(it, ORGAN_QUESTION.format(name), "Yes" if code == organ else "No")
                         for code, name in REGIONS.items()]
    return rows
