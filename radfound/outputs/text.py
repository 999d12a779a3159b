"""Plain-text and JSON copies of a draft, for people and for scripts.

Both always carry the preliminary notice, and both are written atomically.
The JSON holds no patient identifiers: only the draft, the model and the
study/SOP UIDs needed to find the source again.
"""

from __future__ import annotations

import json
from pathlib import Path

from radfound.outputs.atomic import write_text_atomic
from radfound.study.model import Study
from radfound.tasks.results import TRUNCATED_NOTE, Answer, Draft, model_label, option_shares

#: What a transcript adds after a free-text answer that stopped at the token limit (Answer.truncated).
CUT_OFF_ANSWER = " [stopped at the token limit: may be cut off]"


def footer(result: Draft | Answer, warnings=(), truncated: bool = False, label: str = "Model") -> str:
    """The lines under a draft's or an answer's text: the model that wrote it (after ``label``), what the
    reader noticed about the input, and whether the text stopped at the token limit."""
    notes = [f"Input warning: {w}" for w in warnings] + ([f"Note: {TRUNCATED_NOTE}"] if truncated else [])
    return f"{label}: {model_label(result)} ({result.provider})\n" + "".join(f"{n}\n" for n in notes)


def draft_text(draft: Draft, study: Study | None = None) -> str:
    """The report as a radiologist reads it: notice, Findings, Impression, then the footer."""
    warnings = study.warnings if study is not None else []
    return f"{draft.notice}\n\n{draft.text}\n\n{footer(draft, warnings, draft.truncated)}"


def answer_notes(answer: Answer) -> str:
    """What follows an answer's text: how the model weighed the offered answers of a closed question, and
    whether a free-text answer was cut off ("" when neither applies)."""
    shares = option_shares(answer)
    return (f" ({shares})" if shares else "") + (CUT_OFF_ANSWER if answer.truncated else "")


def answer_text(answer: Answer) -> str:
    """An answer as a reader sees it: its text, then its notes."""
    return answer.answer + answer_notes(answer)


def conversation_models(answers: list[Answer]) -> list[str]:
    """The models (name and version) that gave a conversation's answers, in the order they first answered."""
    return list(dict.fromkeys(model_label(a) for a in answers))


def conversation_text(answers: list[Answer]) -> str:
    """Plain-text transcript of a VQA conversation (the panel, the text node and the SR show the same). When
    the answers came from more than one model (the user switched models), each answer names its model."""
    several = len(conversation_models(answers)) > 1

    def label(a: Answer) -> str:
        return f"A ({model_label(a)})" if several else "A"

    return "\n\n".join(f"Q: {a.question}\n{label(a)}: {answer_text(a)}" for a in answers)


def study_record(study: Study) -> dict:
    """What a JSON output says of the study it is about: kind, UIDs, and what the reader and model noticed."""
    return {
        "kind": study.kind,
        "study_uid": study.study_uid,
        "sop_instance_uids": [s.sop_instance_uid for s in study.sources if s.sop_instance_uid],
        "warnings": list(study.warnings),
    }


def draft_json(draft: Draft, study: Study | None = None, *, sr_uid: str | None = None) -> dict:
    """JSON-ready record of a draft and where it came from (UIDs only, never names or IDs)."""
    record = draft.to_json()
    if study is not None:
        record["study"] = study_record(study)
    if sr_uid:
        record["sr_sop_instance_uid"] = sr_uid
    return record


def write_text(draft: Draft, path: str | Path, study: Study | None = None) -> Path:
    """Write the human-readable draft to ``path`` (atomic)."""
    return write_text_atomic(path, draft_text(draft, study))


def write_json(draft: Draft, path: str | Path, study: Study | None = None, *, sr_uid: str | None = None) -> Path:
    """Write the JSON record of the draft to ``path`` (atomic)."""
    text = json.dumps(draft_json(draft, study, sr_uid=sr_uid), indent=2, ensure_ascii=False) + "\n"
    return write_text_atomic(path, text)
