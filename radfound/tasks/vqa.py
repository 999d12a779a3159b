"""Visual question answering (English or Chinese) about an encoded study; grounding questions get boxes.

An English yes/no question ("Is there ...?", "Does ...?", with no "or") is answered by comparing the
model's probability of "Yes" and "No" rather than by free generation, so it always gets one of the
two: what a radiologist expects, and what closed-question accuracy measures. ``closed=False`` asks
for free text instead. Chinese yes/no answers depend on the verb (是的/不是, 有/没有, 包含/不包含),
so Chinese questions are always answered freely.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from radfound.errors import RadFoundError
from radfound.tasks.boxes import boxes_from_text
from radfound.tasks.prompts import grounding_prompt, strip_boxes, vqa_prompt
from radfound.tasks.report import encoded_study
from radfound.tasks.results import Answer, Timings

#: How an English yes/no question starts (an auxiliary verb); one with " or " offers other choices.
_YES_NO_START = re.compile(
    r"^\s*(is|are|was|were|does|do|did|can|could|has|have|had|will|would|should|shall|may|might|must)\b",
    re.IGNORECASE)
_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)
#: The spellings compared for each closed answer (the training data writes both cases).
YES_NO = {"Yes": ("Yes", "yes"), "No": ("No", "no")}


def is_yes_no_question(question: str) -> bool:
    """True for an English question answered by yes or no ("Is the heart enlarged?"), not a choice."""
    return bool(_YES_NO_START.match(question)) and not _CHOICE.search(question)


def _answer_yes_no(model, enc, question: str, on_text, cancel) -> tuple[str, Timings]:
    t0 = time.perf_counter()
    spellings = [s for forms in YES_NO.values() for s in forms]
    scores = dict(zip(spellings, model.score(enc, vqa_prompt(question, model.num_image_tokens), spellings,
                                             cancel=cancel)))
    best = max(YES_NO, key=lambda a: max(scores[s] for s in YES_NO[a]))
    if on_text is not None:
        on_text(best)
    ms = (time.perf_counter() - t0) * 1e3
    return best, Timings(encode_ms=enc.encode_ms, ttft_ms=ms, total_ms=ms, new_tokens=1)


def answer_question(model, study_or_encoded, question: str, *, on_text: Callable[[str], None] | None = None,
                    cancel: threading.Event | None = None, closed: bool = True, **gen) -> Answer:
    """Answer one question; encode the study once and pass the EncodedStudy to ask several.

    With ``closed`` (the default) an English yes/no question gets "Yes" or "No", whichever the model
    finds more probable; models without answer scoring (community families) always answer freely."""
    if not question or not question.strip():
        raise RadFoundError("the question is empty")
    enc = encoded_study(model, study_or_encoded)
    if closed and hasattr(model, "score") and is_yes_no_question(question):
        text, timings = _answer_yes_no(model, enc, question, on_text, cancel)
        return Answer(question=question, answer=text, model=model.name, provider=model.provider, boxes=[],
                      timings=timings, model_version=model.version)
    result = model.generate(enc, vqa_prompt(question, model.num_image_tokens), on_text=on_text, cancel=cancel, **gen)
    return Answer(
        question=question,
        answer=strip_boxes(result.text) or result.text.strip(),
        model=model.name,
        provider=model.provider,
        boxes=boxes_from_text(result.text, enc.inputs),
        timings=result.timings,
        model_version=model.version,
    )


def locate(model, study_or_encoded, target: str, *, on_text=None, cancel=None, **gen) -> Answer:
    """Grounding: "where is <target>", answered with boxes mapped to the original view pixels."""
    enc = encoded_study(model, study_or_encoded)
    result = model.generate(enc, grounding_prompt(target, model.num_image_tokens), on_text=on_text, cancel=cancel,
                            **gen)
    return Answer(
        question=f"Where is the {target}?",
        answer=strip_boxes(result.text) or result.text.strip(),
        model=model.name,
        provider=model.provider,
        boxes=boxes_from_text(result.text, enc.inputs),
        timings=result.timings,
        model_version=model.version,
    )
