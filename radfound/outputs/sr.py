"""DICOM Structured Report of a draft: Comprehensive SR following TID 2000 (Basic Diagnostic Imaging Report).

Why an SR: it goes back into the PACS next to the images and every viewer can
show it. What it contains:

- patient and study context copied from the source DICOM headers (read with
  ``stop_before_pixels``; names and IDs stay inside the SR, never in logs);
- every source image in CurrentRequestedProcedureEvidenceSequence;
- root CONTAINER "Diagnostic Imaging Report" (LOINC 18748-4, template 2000 DCMR),
  language (TID 1204: en-US; a Chinese paragraph has its own zh-CN) and a DEVICE
  observer (TID 1001/1002/1004) naming the model and its version, then a "Findings"
  section (DCM 121070) with "Finding" TEXT items and an "Impressions" section
  (DCM 121072) with an "Impression" TEXT item;
  each section starts with a "Comment" (DCM 121106) TEXT item holding
  :data:`radfound.config.PRELIMINARY_NOTICE`; each localised finding (``draft.boxes``)
  becomes a "Finding" TEXT INFERRED FROM an "Image Region" SCOORD on its source image;
- flags of unverified AI work: VerificationFlag UNVERIFIED, CompletionFlag
  PARTIAL, PreliminaryFlag PRELIMINARY, and a Series Description saying so.

highdicom builds the SOP instance, the evidence, the flags and the TID 1001-1004
observer context; it has no TID 2000 class, so the root container and the two
sections (TID 2001/2002 rows) are assembled here from highdicom content items.

UIDs are derived deterministically: the series from the source study UID and the
model name and version, the SOP instance also from the draft's content. Storing
the same draft again gives the same SOP Instance UID (STOW-RS is then idempotent:
no duplicates); a different draft of the same study (sampled, edited, other
settings) is a new instance in the same series, never a second object under one UID.
Reader warnings (missing mammogram views, a series chosen among several) and a
draft cut off at the token limit are recorded as Comments beside the notice.

Non-DICOM sources (JPEG, PNG, NRRD...) are refused with UnsupportedInputError:
an SR needs a real patient and study to attach to, and inventing one would
create an orphan object a PACS could mis-file. Use the .txt/.json outputs there.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import unicodedata
import uuid
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes

from radfound import __version__
from radfound.config import PRELIMINARY_NOTICE
from radfound.errors import OutputError, StudyReadError, UnsupportedInputError
from radfound.eval.normalize import is_cjk
from radfound.outputs.atomic import atomic_path
from radfound.study.model import Study
from radfound.tasks.results import TRUNCATED_NOTE, Draft, model_label

#: Codes of TID 2000 and its sections (PS3.16 CID 7001 / 7002).
REPORT_TITLE = hd.sr.CodedConcept("18748-4", "LN", "Diagnostic Imaging Report")
FINDINGS_SECTION = hd.sr.CodedConcept("121070", "DCM", "Findings")
FINDING = hd.sr.CodedConcept("121071", "DCM", "Finding")
IMPRESSIONS_SECTION = hd.sr.CodedConcept("121072", "DCM", "Impressions")
IMPRESSION = hd.sr.CodedConcept("121073", "DCM", "Impression")
COMMENT = hd.sr.CodedConcept("121106", "DCM", "Comment")
#: Compare with prior (radfound.tasks.compare): LOINC's comparison section heading, one Previous Finding item per line
COMPARISON_SECTION = hd.sr.CodedConcept("18834-2", "LN", "Radiology Comparison study (narrative)")
PREVIOUS_FINDING = hd.sr.CodedConcept("121069", "DCM", "Previous Finding")
ENGLISH = hd.sr.CodedConcept("en-US", "RFC5646", "English (United States)")
CHINESE = hd.sr.CodedConcept("zh-CN", "RFC5646", "Chinese (China)")

#: What the SR series is called in a PACS browser (LO, at most 64 characters).
SERIES_DESCRIPTION = "PRELIMINARY AI DRAFT - unverified (RadFound)"
SERIES_NUMBER = 9901  # high, so that the draft sorts after the acquired series
MANUFACTURER = "RadFound"

_UID_NAMESPACE = uuid.UUID("5b0c6c1e-4a57-4d0e-9a43-7261646e6f75")  # RadFound's own namespace

#: Type 2 attributes highdicom reads from the first source; absent in some real files.
_CONTEXT_ATTRS = (
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "AccessionNumber", "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName",
)


#: Source attributes highdicom copies that the SR IOD (as dicom3tools knows it) does not define.
_NOT_IN_SR_IOD = ("RequestingService", "RequestingServiceCodeSequence")


def name_uid(*parts: str) -> str:
    """A UID derived from names: ``2.25.`` + a name-based (SHA-1, RFC 4122 v5) UUID, as PS3.5 B.2 allows."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, chr(31).join(parts)).int}"


def draft_digest(draft: Draft, notes: Sequence[str] = ()) -> str:
    """sha256 of what the SR says (sections, boxes, cut-off flag, further comments): equal SRs, equal digest."""
    content = {"findings": draft.findings, "impression": draft.impression, "truncated": draft.truncated,
               "boxes": [[b.label, b.x0, b.y0, b.x1, b.y1, b.view_index] for b in draft.boxes]}
    if notes:
        content["notes"] = list(notes)
    if draft.comparison:  # only then: the digests (and UIDs) of SRs without a comparison stay as they were
        content["comparison"] = draft.comparison
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def sr_uids(study_uid: str, model: str, model_version: str, digest: str = "") -> dict[str, str]:
    """Deterministic UIDs: one series per study and model version; one SOP instance per draft content."""
    return {
        "series": name_uid("sr-series", study_uid, model, model_version),
        "sop_instance": name_uid("sr-instance", study_uid, model, model_version, digest),
        "device": name_uid("device", model, model_version),
    }


def read_source_headers(study: Study) -> list[Dataset]:
    """Headers (no pixels) of every distinct DICOM source of ``study``, in study order."""
    paths: list[str] = []
    seen: set[str] = set()
    for src in study.sources:
        key = src.sop_instance_uid or src.path
        if not src.path or not src.sop_instance_uid or key in seen:
            continue
        seen.add(key)
        paths.append(src.path)
    if not paths:
        raise UnsupportedInputError(
            "a DICOM SR needs DICOM source images (this study has none: JPEG/PNG/NRRD input); "
            "write the text or JSON draft instead"
        )
    headers = []
    for path in paths:
        try:
            headers.append(pydicom.dcmread(path, stop_before_pixels=True))
        except FileNotFoundError as exc:
            raise StudyReadError("source image no longer exists", path) from exc
        except (InvalidDicomError, OSError) as exc:
            raise StudyReadError(f"source image is not readable DICOM ({exc})", path) from exc
    for ds, path in zip(headers, paths):
        for attr in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
            if attr not in ds:
                raise StudyReadError(f"source image has no {attr}", path)
    return headers


def _with_context_defaults(ds: Dataset) -> Dataset:
    """A copy of ``ds`` with empty values for absent type 2 patient/study attributes."""
    ds = copy.copy(ds)
    for attr in _CONTEXT_ATTRS:
        if attr not in ds:
            setattr(ds, attr, None)
    return ds


def clean_text(text: str) -> str:
    """Generated text made safe for a UT value: control characters other than TAB/LF/FF/CR dropped."""
    return "".join(c for c in text if c in "\t\n\f\r" or unicodedata.category(c) != "Cc")


def _paragraphs(text: str) -> list[str]:
    """Split a section into its non-empty paragraphs (one TEXT item each)."""
    parts = [p.strip() for p in clean_text(text).replace("\r\n", "\n").split("\n\n")]
    return [p for p in parts if p] or ["(no text generated)"]


def _section(name: hd.sr.CodedConcept, item_name: hd.sr.CodedConcept, text: str, notice: str,
             comments: Sequence[str] = ()):
    """One TID 2001 section: CONTAINER with the notice (and any other) comments, then the narrative TEXT
    items (TID 2002)."""
    section = hd.sr.ContainerContentItem(name=name, relationship_type="CONTAINS")
    items = [hd.sr.TextContentItem(name=COMMENT, value=clean_text(c)[:1024], relationship_type="CONTAINS")
             for c in (notice, *comments)]
    items += [_paragraph(item_name, p) for p in _paragraphs(text)]
    section.ContentSequence = hd.sr.ContentSequence(items)
    return section


def _paragraph(name: hd.sr.CodedConcept, text: str) -> hd.sr.TextContentItem:
    """One narrative TEXT item; a Chinese paragraph carries its own language (TID 1204 as a concept
    modifier), since the document's language is English (its notice and comments always are)."""
    item = hd.sr.TextContentItem(name=name, value=text, relationship_type="CONTAINS")
    if is_cjk(text):
        item.ContentSequence = hd.sr.ContentSequence(list(hd.sr.LanguageOfContentItemAndDescendants(CHINESE)))
    return item


def _box_findings(draft: Draft, study: Study) -> list:
    """Each box as a Finding TEXT (its label) INFERRED FROM an Image Region SCOORD (closed polyline,
    column/row pixels) SELECTED FROM the view's source image. Boxes of views without a DICOM source
    (or of a CT volume, which has no 2D views) are left out: the text items still carry the finding."""
    items = []
    for box in draft.boxes:
        if not 0 <= box.view_index < len(study.views):
            continue
        view = study.views[box.view_index]
        src = view.source
        coords = np.array([box.x0, box.y0, box.x1, box.y1], dtype=float)
        if src is None or not (src.sop_instance_uid and src.sop_class_uid) or not np.isfinite(coords).all():
            continue
        rows, cols = view.shape[:2]
        x0, x1 = sorted(np.clip(coords[[0, 2]], 0, cols).tolist())  # inside the image
        y0, y1 = sorted(np.clip(coords[[1, 3]], 0, rows).tolist())
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
        image = hd.sr.SourceImageForRegion(src.sop_class_uid, src.sop_instance_uid,
                                           referenced_frame_numbers=[src.frame] if src.frame else None)
        region = hd.sr.ImageRegion(graphic_type="POLYLINE", graphic_data=corners, source_image=image)
        region.RelationshipType = "INFERRED FROM"
        finding = hd.sr.TextContentItem(name=FINDING, value=clean_text(box.label).strip()[:1024] or "region",
                                        relationship_type="CONTAINS")
        finding.ContentSequence = hd.sr.ContentSequence([region])
        items.append(finding)
    return items


def _content(draft: Draft, device_uid: str, study: Study, notes: Sequence[str] = ()) -> hd.sr.ContainerContentItem:
    """The TID 2000 content tree (root container and everything under it)."""
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=device_uid,
        name=model_label(draft)[:64],
        manufacturer_name=MANUFACTURER,
        model_name=draft.model[:64],
    )
    observation = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )
    root = hd.sr.ContainerContentItem(name=REPORT_TITLE, template_id="2000")
    items = list(hd.sr.LanguageOfContentItemAndDescendants(ENGLISH))
    items += list(observation)
    notice = draft.notice or PRELIMINARY_NOTICE
    if draft.comparison:  # one paragraph per line: the prior named, then each finding's change
        items.append(_section(COMPARISON_SECTION, PREVIOUS_FINDING, draft.comparison.replace("\n", "\n\n"), notice))
    comments = [f"Input: {w}" for w in study.warnings] + ([TRUNCATED_NOTE] if draft.truncated else []) + list(notes)
    findings = _section(FINDINGS_SECTION, FINDING, draft.findings, notice, comments)
    findings.ContentSequence.extend(_box_findings(draft, study))
    items.append(findings)
    items.append(_section(IMPRESSIONS_SECTION, IMPRESSION, draft.impression, notice))
    root.ContentSequence = hd.sr.ContentSequence(items)
    return root


def _character_set(draft: Draft, study: Study, source: Dataset, notes: Sequence[str] = ()):
    """The source's character set, or UTF-8 (ISO_IR 192) when any text the SR carries is not plain ASCII."""
    texts = [draft.findings, draft.impression, draft.comparison, draft.model, draft.model_version, draft.notice,
             *(b.label for b in draft.boxes), *study.warnings, *notes]
    if all(t.isascii() for t in texts):
        return source.get("SpecificCharacterSet")
    return "ISO_IR 192"


def build_sr(
    draft: Draft,
    study: Study,
    *,
    headers: Sequence[Dataset] | None = None,
    content_datetime: datetime.datetime | None = None,
    notes: Sequence[str] = (),
    prior_headers: Sequence[Dataset] = (),
    prior_reports: Sequence[Dataset] = (),
) -> hd.sr.ComprehensiveSR:
    """Build the Comprehensive SR of ``draft`` for ``study`` (a pydicom Dataset; nothing written).

    ``headers`` are the source images' headers (read from ``study.sources`` when
    not given); ``notes`` are further Comments for the Findings section (e.g. that a
    user edited the text). ``prior_headers``: the prior study's images a comparison was made with; they join the
    evidence, where highdicom lists another study's images as Pertinent Other Evidence; ``prior_reports``: the
    prior study's SRs (headers), referenced as Predecessor Documents. Raises
    UnsupportedInputError for a study without DICOM sources.
    """
    evidence = [_with_context_defaults(ds) for ds in (headers if headers is not None else read_source_headers(study))]
    if not evidence:
        raise UnsupportedInputError("a DICOM SR needs at least one DICOM source image")
    study_uid = str(evidence[0].StudyInstanceUID)
    evidence += [_with_context_defaults(ds) for ds in prior_headers if str(ds.StudyInstanceUID) != study_uid]
    uids = sr_uids(study_uid, draft.model, draft.model_version, draft_digest(draft, notes))
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=_content(draft, uids["device"], study, notes),
        series_instance_uid=uids["series"],
        series_number=SERIES_NUMBER,
        sop_instance_uid=uids["sop_instance"],
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=False,
        is_final=False,
        is_verified=False,
        series_description=SERIES_DESCRIPTION,
        specific_character_set=_character_set(draft, study, evidence[0], notes),
        previous_versions=list(prior_reports) or None,
    )
    for attr in _NOT_IN_SR_IOD:  # copied by highdicom from newer General Study tables; dciodvfy flags them
        if attr in sr:
            delattr(sr, attr)
    sr.ManufacturerModelName = draft.model[:64]
    sr.SoftwareVersions = [f"radfound {__version__}", f"model {draft.model_version or 'unknown'}"]
    when = content_datetime or datetime.datetime.now()
    sr.ContentDate = when.strftime("%Y%m%d")
    sr.ContentTime = when.strftime("%H%M%S")
    return sr


def write_sr(
    draft: Draft,
    study: Study,
    path: str | Path,
    *,
    headers: Sequence[Dataset] | None = None,
    content_datetime: datetime.datetime | None = None,
    notes: Sequence[str] = (),
    prior_headers: Sequence[Dataset] = (),
    prior_reports: Sequence[Dataset] = (),
) -> Path:
    """Build the SR of ``draft`` and write it to ``path`` as a DICOM Part 10 file (temp file + rename)."""
    sr = build_sr(draft, study, headers=headers, content_datetime=content_datetime, notes=notes,
                  prior_headers=prior_headers, prior_reports=prior_reports)
    with atomic_path(path) as tmp:
        try:
            sr.save_as(tmp, enforce_file_format=True)
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    return Path(path)
