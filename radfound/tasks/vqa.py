"""Visual question answering (English or Chinese) about an encoded study; grounding questions get boxes.

An English closed question is answered by comparing the model's probability of each possible answer
rather than by free generation, so it always gets one of them: what a radiologist expects, and what
closed-question accuracy measures. A yes/no question ("Is there ...?", "Does ...?", no "or") chooses
between "Yes" and "No"; a choice question ("Is the lesion on the left or right?", "Is the mass more
or less dense ...?") chooses between the options the question itself offers around its "or"
(``closed_options``). ``closed=False`` asks for free text instead. Chinese yes/no answers depend
on the verb (是的/不是, 有/没有, 包含/不包含), so Chinese questions are always answered freely.
"""

from __future__ import annotations

import math
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
_ARTICLES = frozenset({"a", "an", "the"})
#: Words that end an option rather than continue it ("inferior to the diaphragm" offers "inferior").
_FUNCTION_WORDS = _ARTICLES | {"to", "in", "of", "than", "on", "at", "for", "from", "by", "with", "into", "one"}
_PUNCTUATION = "?.,!:;\"'()"


def is_yes_no_question(question: str) -> bool:
    """True for an English question answered by yes or no ("Is the heart enlarged?"), not a choice."""
    return bool(_YES_NO_START.match(question)) and not _CHOICE.search(question)


def _words(text: str) -> list[str]:
    return [w for w in (t.strip(_PUNCTUATION) for t in text.split()) if w]


def closed_options(question: str) -> dict[str, tuple[str, ...]] | None:
    """The answers an English closed question allows, each with the spellings to score; None when open.

    Yes/no questions allow Yes and No. A choice question (auxiliary verb first, one "or") allows
    the word either side of its "or" (articles skipped; the right side ends at a comma), the right
    side's two-word phrase unless its second word is a function word, and that phrase with the left
    word ("more or less dense" -> "less dense", "more dense"); parallel phrases give their heads and
    themselves ("T1 weighted or T2 weighted" -> "T1", "T2", "T1 weighted", "T2 weighted").
    Yes and No are not options of a choice question: the small model's strong prior for them (most
    closed training answers are yes/no) drowned the offered choices, and on VQA-RAD held-out choice
    questions offering them cut correct answers from 6 to 4 of 13. The model's probabilities pick
    among the options."""
    if is_yes_no_question(question):
        return dict(YES_NO)
    parts = _CHOICE.split(question)
    if not _YES_NO_START.match(question) or len(parts) != 2:
        return None
    left = _words(parts[0])[1:]  # without the auxiliary verb
    right = _words(parts[1].split(",")[0].split(";")[0])
    if right and right[0].lower() in _ARTICLES:
        right = right[1:]
    if not left or not right:
        return None
    pair = right[:2] if len(right) >= 2 and right[1].lower() not in _FUNCTION_WORDS else None
    if pair and len(left) >= 2 and left[-1].lower() == pair[1].lower():  # "T1 weighted or T2 weighted"
        phrases = [left[-2], pair[0], " ".join(left[-2:]), " ".join(pair)]
    else:
        phrases = [left[-1], right[0]]
        if pair:
            phrases += [" ".join(pair), f"{left[-1]} {pair[1]}"]
    options: dict[str, tuple[str, ...]] = {}
    for phrase in phrases:
        shown = phrase[0].upper() + phrase[1:]  # spelled as the question writes it, or capitalised
        if shown.lower() not in {k.lower() for k in options}:
            options[shown] = tuple(dict.fromkeys((shown, phrase)))
    return options


def option_probabilities(log_probs: dict[str, float]) -> dict[str, float]:
    """Log-probabilities of the offered answers -> probabilities normalised over them (a softmax)."""
    top = max(log_probs.values())
    weights = {a: math.exp(lp - top) for a, lp in log_probs.items()}
    total = sum(weights.values())
    return {a: round(w / total, 4) for a, w in weights.items()}


def _answer_closed(model, enc, question: str, options: dict[str, tuple[str, ...]], on_text,
                   cancel) -> tuple[str, dict[str, float], Timings]:
    """The option whose best spelling the model finds most probable (one prefill, all spellings scored),
    with every option's probability normalised over the options."""
    t0 = time.perf_counter()
    spellings = list(dict.fromkeys(s for forms in options.values() for s in forms))
    scores = dict(zip(spellings, model.score(enc, vqa_prompt(question, model.num_image_tokens), spellings,
                                             cancel=cancel)))
    log_probs = {a: max(scores[s] for s in forms) for a, forms in options.items()}
    best = max(log_probs, key=log_probs.get)
    if on_text is not None:
        on_text(best)
    ms = (time.perf_counter() - t0) * 1e3
    return best, option_probabilities(log_probs), Timings(encode_ms=enc.encode_ms, ttft_ms=ms, total_ms=ms,
                                                          new_tokens=1)


def answer_question(model, study_or_encoded, question: str, *, on_text: Callable[[str], None] | None = None,
                    cancel: threading.Event | None = None, closed: bool = True, **gen) -> Answer:
    """Answer one question; encode the study once and pass the EncodedStudy to ask several.

    With ``closed`` (the default) an English closed question gets whichever of its options
    (``closed_options``: Yes/No, or the choices around its "or") the model finds most probable;
    models without answer scoring (community families) always answer freely."""
    if not question or not question.strip():
        raise RadFoundError("the question is empty")
    enc = encoded_study(model, study_or_encoded)
    options = closed_options(question) if closed and hasattr(model, "score") else None
    if options:
        text, probabilities, timings = _answer_closed(model, enc, question, options, on_text, cancel)
        return Answer(question=question, answer=text, model=model.name, provider=model.provider, boxes=[],
                      timings=timings, model_version=model.version, options=probabilities)
    result = model.generate(enc, vqa_prompt(question, model.num_image_tokens), on_text=on_text, cancel=cancel, **gen)
    return Answer(
        question=question,
        answer=strip_boxes(result.text) or result.text.strip(),
        model=model.name,
        provider=model.provider,
        boxes=boxes_from_text(result.text, enc.inputs),
        timings=result.timings,
        model_version=model.version,
        truncated=getattr(result, "stopped_by", "") == "max_new_tokens",
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
        truncated=getattr(result, "stopped_by", "") == "max_new_tokens",
    )
