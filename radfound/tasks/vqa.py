"""Visual question answering (English or Chinese) about an encoded study; grounding questions get boxes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from radfound.errors import RadFoundError
from radfound.tasks.boxes import boxes_from_text
from radfound.tasks.prompts import grounding_prompt, strip_boxes, vqa_prompt
from radfound.tasks.report import encoded_study
from radfound.tasks.results import Answer


def answer_question(model, study_or_encoded, question: str, *, on_text: Callable[[str], None] | None = None,
                    cancel: threading.Event | None = None, **gen) -> Answer:
    """Answer one question; encode the study once and pass the EncodedStudy to ask several."""
    if not question or not question.strip():
        raise RadFoundError("the question is empty")
    enc = encoded_study(model, study_or_encoded)
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
