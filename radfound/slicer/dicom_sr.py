"""The DICOM SR of a draft saved in RadFound Report (or a RadFound VQA conversation), beside the source images.

Saving a draft in Slicer writes the same Comprehensive SR as ``radfound report --sr``
(radfound.outputs.sr), with the (possibly edited) Findings and Impression and a Comment
saying whether a user edited them; it stays UNVERIFIED and PRELIMINARY until signed in
the reporting system. The file goes to ``sr_output_dir()/<StudyInstanceUID>/`` and, inside
the Slicer application, into its DICOM database, where the DICOM module can send it to a
PACS. A VQA conversation is written the same way, one Findings paragraph per question and
answer. Images that did not come from DICOM (NRRD, PNG) get no SR: an SR needs the real
patient and study (UnsupportedInputError, as on the command line).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from radfound.config import sr_output_dir
from radfound.errors import RadFoundError, UnsupportedInputError
from radfound.outputs.sr import draft_digest, read_source_headers, write_sr
from radfound.outputs.text import conversation_models, conversation_text
from radfound.study.model import Study
from radfound.tasks.prompts import parse_report
from radfound.tasks.results import Answer, Draft

EDITED_NOTE = "The Findings and Impression were edited by a user in RadFound Report before saving (not signed)."
UNEDITED_NOTE = "Saved as generated, without edits, in RadFound Report."
NO_SECTION = "(no {} in the text as saved)"
CONVERSATION_NOTE = "Questions a user asked about these images in RadFound VQA, with the model's answers."
SEVERAL_MODELS_NOTE = "The answers came from several models ({}); each answer names its model."
CONVERSATION_IMPRESSION = "No impression: this report holds questions and the model's answers only."


def save_draft_sr(draft: Draft, study: Study, edited_text: str | None = None, folder: str | Path | None = None, *,
                  prior: Study | None = None, prior_reports=()) -> Path:
    """Write the SR of the draft as saved (edited text split into Comparison, Findings and Impression); return its
    path. ``prior``: the study a comparison was made with, whose images the SR references too."""
    from radfound.tasks.compare import split_comparison

    edited = edited_text is not None and edited_text.strip() != draft.text.strip()
    if edited:
        if not edited_text.strip():
            raise UnsupportedInputError("the text is empty: there is no report to store as a DICOM SR")
        comparison, rest = split_comparison(edited_text) if draft.comparison else ("", edited_text)
        findings, impression = parse_report(rest)
        # The user's text, not the model's: an absent section is theirs, and a cut-off no longer applies.
        draft = dataclasses.replace(draft, findings=findings or NO_SECTION.format("findings"),
                                    impression=impression or NO_SECTION.format("impression"), truncated=False,
                                    comparison=comparison)
    return _write(draft, study, folder, EDITED_NOTE if edited else UNEDITED_NOTE, prior=prior,
                  prior_reports=prior_reports)


def save_conversation_sr(answers: list[Answer], study: Study, folder: str | Path | None = None) -> Path:
    """Write a RadFound VQA conversation as an SR: one Findings paragraph per question and answer, the
    boxes of grounding answers as image regions, and an Impression saying there is none."""
    if not answers:
        raise UnsupportedInputError("the conversation is empty: ask a question first")
    last = answers[-1]
    draft = Draft(findings=conversation_text(answers), impression=CONVERSATION_IMPRESSION, model=last.model,
                  provider=last.provider, model_version=last.model_version,
                  boxes=[box for answer in answers for box in answer.boxes])
    models = conversation_models(answers)
    notes = [CONVERSATION_NOTE] + ([SEVERAL_MODELS_NOTE.format(", ".join(models))] if len(models) > 1 else [])
    return _write(draft, study, folder, *notes)


def _write(draft: Draft, study: Study, folder: str | Path | None, *notes: str, prior: Study | None = None,
           prior_reports=()) -> Path:
    headers = read_source_headers(study)  # refuses non-DICOM studies before anything is written
    prior_headers = read_source_headers(prior) if prior is not None else ()
    study_uid = str(headers[0].StudyInstanceUID)
    path = Path(folder or sr_output_dir()) / study_uid / f"RadFound-{draft_digest(draft, list(notes))[:16]}.sr.dcm"
    write_sr(draft, study, path, headers=headers, notes=list(notes), prior_headers=prior_headers,
             prior_reports=prior_reports)
    return path


def sr_result(write: Callable[[], Path] | None) -> dict:
    """The SR keys of a module's save result: run ``write()`` (None: no SR asked for) and say where the SR
    went, ``sr`` and ``sr_in_database``, or why there is none, ``sr_note``. A RadFoundError (the image did not
    come from DICOM...) becomes the note: the scene save never depends on the SR."""
    if write is None:
        return {"sr": None, "sr_in_database": False, "sr_note": ""}
    try:
        path = write()
    except RadFoundError as exc:
        return {"sr": None, "sr_in_database": False, "sr_note": str(exc)}
    return {"sr": path, "sr_in_database": add_to_dicom_database(path), "sr_note": ""}


def add_to_dicom_database(path: Path) -> bool:
    """Index the SR into the Slicer application's DICOM database (a copy); False outside the application."""
    try:
        import slicer
        from DICOMLib import DICOMUtils
    except ImportError:
        return False
    if getattr(slicer, "dicomDatabase", None) is None:
        return False
    return bool(DICOMUtils.importDicom(str(path.parent), slicer.dicomDatabase, copyFiles=True))
