"""Index a study and find its similar cases with a loaded model: what the CLI, batch and Slicer call."""

from __future__ import annotations

from pathlib import Path

from radfound.similar.embedding import pooled_embedding, thumbnail
from radfound.similar.index import CaseIndex, Match


def study_key(study) -> str:
    """StudyInstanceUID when the study has one, else the first source file's absolute path."""
    uid = study.study_uid
    if uid:
        return uid
    path = next((s.path for s in study.sources if s.path), None)
    return str(Path(path).resolve()) if path else f"unnamed-{id(study)}"


def study_source(study) -> str:
    path = next((s.path for s in study.sources if s.path), None)
    return str(path) if path else ""


def index_study(model, study, *, encoded=None, report: str = "", edited: bool = False, labels: dict | None = None,
                index: CaseIndex | None = None, root: Path | None = None):
    """Add ``study`` (encoded once: pass ``encoded`` when it already is) to the model's index; returns the case."""
    encoded = encoded if encoded is not None else model.encode(study)
    index = index if index is not None else CaseIndex.for_model(model, root)
    return index.add(study_key(study), pooled_embedding(encoded.image_features), kind=study.kind,
                     source=study_source(study), report=report, edited=edited, labels=labels,
                     thumbnail=thumbnail(encoded))


def find_similar(model, study, k: int = 5, *, encoded=None, index: CaseIndex | None = None,
                 root: Path | None = None) -> list[Match]:
    """The ``k`` most similar indexed studies to ``study`` (never the study itself)."""
    encoded = encoded if encoded is not None else model.encode(study)
    index = index if index is not None else CaseIndex.for_model(model, root)
    return index.search(pooled_embedding(encoded.image_features), k, exclude=study_key(study))
