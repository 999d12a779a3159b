"""Report drafting: Findings and Impression for a study, as a preliminary draft."""

from __future__ import annotations

import threading
from collections.abc import Callable

from radfound.tasks.boxes import boxes_from_text
from radfound.tasks.laterality_check import unimaged_side_warning
from radfound.tasks.prompts import parse_report, report_prompt, strip_boxes
from radfound.tasks.results import Draft


def encoded_study(model, study_or_encoded):
    """Accept a Study (encoded now) or an already EncodedStudy (reused as is)."""
    from radfound.engine.model import EncodedStudy

    return study_or_encoded if isinstance(study_or_encoded, EncodedStudy) else model.encode(study_or_encoded)


def draft_report(model, study_or_encoded, *, on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None, **gen) -> Draft:
    """Draft FINDINGS / IMPRESSION; ``on_text`` streams the raw text, ``cancel`` stops between tokens.

    A mammogram draft naming a breast none of whose views was given adds a warning to the study's
    warnings (``radfound.tasks.laterality_check``)."""
    enc = encoded_study(model, study_or_encoded)
    result = model.generate(enc, report_prompt(enc.kind, model.num_image_tokens), on_text=on_text, cancel=cancel,
                            **gen)
    findings, impression = parse_report(result.text)
    if enc.study is not None:  # the study's warnings reach the CLI, text, JSON, panel and SR
        enc.study.add_warning(unimaged_side_warning(enc.study, result.text))
    return Draft(
        findings=strip_boxes(findings),
        impression=strip_boxes(impression),
        model=model.name,
        provider=model.provider,
        boxes=boxes_from_text(result.text, enc.inputs),
        timings=result.timings,
        model_version=model.version,
        truncated=result.stopped_by == "max_new_tokens",
    )
