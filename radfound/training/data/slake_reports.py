"""Captions and report-style findings derived from SLAKE's own annotations (no invented facts).

For each image, only from the English QA of the SAME split plus the image's
``detection.json`` (derivation documented in docs/training.md):

- modality: the record's ``modality`` field (CT, MRI, X-Ray), with the MR weighting
  from "What is the mr weighting ...?" answers (e.g. "MRI (T2-weighted)");
- body region: the answer to "Which part of the body does this image belong to?",
  else the record's ``location`` field mapped to a region (Lung -> chest, ...);
- plane: answers to open questions containing "plane" (e.g. "Transverse Plane");
- organs: detection.json labels that are organs, plus "Does the picture contain X?" -> Yes;
- abnormality: diseases from "What diseases are included ...?" answers and lesion labels
  in detection.json; normal/abnormal from "Are there abnormalities ...?", "Does this image
  look abnormal/normal?", "Is this image normal?"; location from "Where is/are the abnormality
  located?" / "Where is the abnormality in this image?".

Caption: ``"{modality} of the {region}, {plane}."``. Findings: the caption, the visible
organs and the abnormality sentence. Impression: the diseases (and location), or "No
abnormality detected." An image whose normal/abnormal status is unknown gets a caption
but no report.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from radfound.eval.normalize import normalize_answer
from radfound.eval.vqa_file import VQAItem

LESION_LABELS = {
    "brain edema", "brain non-enhancing tumor", "brain enhancing tumor", "liver cancer", "cardiomegaly",
    "atelectasis", "pneumonia", "nodule", "mass", "effusion", "lung cancer", "pneumothorax", "infiltrate",
}
REGION_OF_LOCATION = {
    "lung": "chest", "chest_lung": "chest", "chest_heart": "chest", "chest_mediastinal": "chest",
    "abdomen": "abdomen", "brain": "head", "brain_tissue": "head", "brain_face": "head",
    "pelvic cavity": "pelvis", "neck": "neck",
}
_ABNORMAL_Q = ("are there abnormalities in this image", "does this image look abnormal", "is this image abnormal",
               "does picture contain any abnormality", "is there any abnormality in this image")
_NORMAL_Q = ("is this image normal", "does this image look normal")
_WHERE_ABN = ("where is/are the abnormality located", "where is the abnormality in this image",
              "where is are abnormality located", "where is abnormality in this image")


@dataclass
class ImageReport:
    image: Path
    modality: str
    region: str
    plane: str = ""
    organs: list[str] = field(default_factory=list)
    diseases: list[str] = field(default_factory=list)
    abnormal: bool | None = None
    abnormality_location: str = ""
    boxes: list[tuple[str, float, float, float, float]] = field(default_factory=list)  # label, x, y, w, h

    @property
    def caption(self) -> str:
        plane = f", {self.plane.lower()}" if self.plane else ""
        return f"{self.modality} of the {self.region}{plane}."

    @property
    def has_report(self) -> bool:
        return self.abnormal is not None

    @property
    def findings(self) -> str:
        parts = [self.caption]
        if self.organs:
            parts.append(f"Visible organs: {', '.join(o.lower() for o in self.organs)}.")
        if self.abnormal:
            what = ", ".join(d.lower() for d in self.diseases) or "an abnormality"
            where = f" in the {self.abnormality_location.lower()}" if self.abnormality_location else ""
            parts.append(f"There is {what}{where}.")
        elif self.abnormal is False:
            parts.append("No abnormality is seen.")
        return " ".join(parts)

    @property
    def impression(self) -> str:
        if self.abnormal:
            what = ", ".join(self.diseases) or "Abnormality"
            where = f" ({self.abnormality_location.lower()})" if self.abnormality_location else ""
            return f"{what[0].upper()}{what[1:]}{where}."
        return "No abnormality detected."


def _modality(m: str, weighting: str) -> str:
    m = {"X-Ray": "X-ray", "MRI": "MRI", "CT": "CT"}.get(m, m)
    return f"{m} ({weighting}-weighted)" if weighting and m == "MRI" else m


def read_detection(image: Path) -> list[tuple[str, float, float, float, float]]:
    """SLAKE organ/lesion boxes of one image as (label, x, y, w, h) in pixels; [] if it has none."""
    path = image.parent / "detection.json"
    if not path.is_file():
        return []
    out = []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        for label, box in entry.items():
            x, y, w, h = (float(v) for v in box)
            out.append((label, x, y, w, h))
    return out


def derive_reports(items: list[VQAItem]) -> list[ImageReport]:
    """One ImageReport per SLAKE image in ``items`` (English records drive the derivation)."""
    by_image: dict[Path, list[VQAItem]] = defaultdict(list)
    for it in items:
        if it.dataset == "slake" and it.lang == "en":
            by_image[it.image].append(it)
    reports = []
    for image, qas in sorted(by_image.items()):
        meta = qas[0].meta
        region = REGION_OF_LOCATION.get(str(meta.get("location", "")).lower(), str(meta.get("location", "")).lower())
        weighting, plane, where, diseases, organs = "", "", "", [], []
        abnormal: bool | None = None
        for qa in qas:
            q, a = normalize_answer(qa.question), qa.answer.strip()
            yes = normalize_answer(a) == "yes"
            if q == normalize_answer("Which part of the body does this image belong to?"):
                region = a.lower()
            elif "weighting" in q and qa.answer_type == "OPEN":
                weighting = a
            elif "plane" in q and qa.answer_type == "OPEN" and "plane" in a.lower():
                plane = " ".join(a.split())
            elif q.startswith("what diseases are included"):
                diseases += [d.strip() for d in a.split(",") if d.strip()]
            elif q in {normalize_answer(x) for x in _WHERE_ABN}:
                where = " ".join(a.split())
            elif q in {normalize_answer(x) for x in _ABNORMAL_Q}:
                abnormal = yes
            elif q in {normalize_answer(x) for x in _NORMAL_Q}:
                abnormal = not yes
            elif q.startswith("does picture contain ") and yes and "abnormal" not in q:
                organs.append(q.removeprefix("does picture contain ").strip())
        boxes = read_detection(image)
        for label, *_ in boxes:
            if label.lower() in LESION_LABELS:
                if label not in diseases and label.lower() not in {d.lower() for d in diseases}:
                    diseases.append(label)
            elif label.lower() not in {o.lower() for o in organs}:
                organs.append(label)
        if diseases:
            abnormal = True
        reports.append(
            ImageReport(
                image=image, modality=_modality(str(meta.get("modality", "")), weighting), region=region,
                plane=plane, organs=organs, diseases=diseases, abnormal=abnormal, abnormality_location=where,
                boxes=boxes,
            )
        )
    return reports
