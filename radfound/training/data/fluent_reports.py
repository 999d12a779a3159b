"""radfound-base's report targets: Findings and Impression written as a radiologist would, from labels only.

Every sentence states a labelled fact and nothing else (docs/training.md, "Reports for radfound-base"):

- SLAKE (train split, English records and ``detection.json``): modality, region, plane, the visible organs,
  each disease under its canonical name (radfound.eval.disease_terms), with its side; normal images get the
  negatives their label allows ("The lungs are clear. No pleural effusion or pneumothorax." for a chest
  radiograph labelled normal). The side of a chest lesion is taken from its box (a frontal radiograph is
  displayed with the patient's right on the image's left), else from the "Where is the abnormality?" answer
  when it names one lung.
- VQA-RAD (the training part) gives no report text; its yes/no presence answers are read by
  :func:`presence_answers` for the concept head instead.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from radfound.eval.disease_terms import canonical
from radfound.eval.vqa_file import VQAItem
from radfound.training.data.slake_reports import ImageReport

#: canonical disease -> (finding sentence with {side} / {in_side}, impression phrase with {Side}).
CHEST_SENTENCES = {
    "cardiomegaly": ("The heart is enlarged.", "Cardiomegaly."),
    "pleural effusion": ("There is a {side}pleural effusion.", "{Side}pleural effusion."),
    "pneumothorax": ("There is a {side}pneumothorax.", "{Side}pneumothorax."),
    "nodule": ("There is a pulmonary nodule{in_side}.", "{Side}lung nodule."),
    "mass": ("There is a mass{in_side}.", "{Side}lung mass."),
    "atelectasis": ("There is atelectasis{in_side}.", "{Side}atelectasis."),
    "pneumonia": ("There is airspace opacity{in_side}, consistent with pneumonia.", "{Side}pneumonia."),
    "infiltration": ("There is an infiltrate{in_side}.", "{Side}pulmonary infiltrate."),
    "lung cancer": ("There is a lung mass{in_side}, consistent with lung cancer.", "{Side}lung cancer."),
}
CHEST_NORMAL = ("The heart size is normal. The lungs are clear. No pleural effusion or pneumothorax.",
                "No acute cardiopulmonary abnormality.")
_LUNG_SIDE = re.compile(r"\b(right|left) lung\b", re.IGNORECASE)


def _side_words(side: str | None) -> dict[str, str]:
    if not side:
        return {"side": "", "Side": "", "in_side": ""}
    lung = "both lungs" if side == "bilateral" else f"the {side} lung"
    return {"side": f"{side} ", "Side": f"{side.capitalize()} ", "in_side": f" in {lung}"}


def _box_side(box, width: float) -> str:
    _, x, _, w, _ = box
    return "right" if x + w / 2 < width / 2 else "left"  # the patient's right is on the image's left


def chest_side(disease: str, rep: ImageReport, width: float | None) -> str | None:
    """The side of one chest disease: from its boxes (both sides: bilateral), else from the location answer."""
    if disease == "cardiomegaly":
        return None
    boxes = [b for b in rep.boxes if canonical(b[0]) == disease]
    if boxes and width:
        sides = {_box_side(b, width) for b in boxes}
        return "bilateral" if len(sides) == 2 else sides.pop()
    lungs = {m.lower() for m in _LUNG_SIDE.findall(rep.abnormality_location)}
    return lungs.pop() if len(lungs) == 1 else None


def _diseases(rep: ImageReport) -> list[str]:
    out = []
    for d in rep.diseases:
        c = canonical(d)
        if c and c not in out:
            out.append(c)
    return out


def _image_width(path: Path) -> float | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return float(im.size[0])
    except OSError:
        return None


#: SLAKE organ labels spelt otherwise in its annotations.
_ORGAN_SPELLING = {"brian": "brain", "brain_tissue": "brain tissue", "brainstem": "brainstem"}


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _organ_sentence(organs: list[str]) -> str:
    names = list(dict.fromkeys(_ORGAN_SPELLING.get(o.lower(), o.lower()) for o in organs))
    if not names:
        return ""
    return f"The {_listed(names)} {'is' if len(names) == 1 else 'are'} visible."


def slake_report(rep: ImageReport) -> tuple[str, str] | None:
    """(findings, impression) of one SLAKE image, or None when its normal/abnormal status is unknown."""
    if rep.abnormal is None:
        return None
    chest_xray = rep.modality.lower().startswith("x-ray") and rep.region.lower() in ("chest", "lung")
    plane = f" ({rep.plane.lower().replace(' plane', '')} plane)" if rep.plane and not chest_xray else ""
    head = "Frontal chest radiograph." if chest_xray else f"{rep.modality} of the {rep.region.lower()}{plane}."
    diseases = _diseases(rep)
    if chest_xray:
        if not rep.abnormal:
            return f"{head} {CHEST_NORMAL[0]}", CHEST_NORMAL[1]
        width = _image_width(rep.image) if rep.boxes else None
        found, impression = [], []
        for d in diseases:
            if d in CHEST_SENTENCES:
                words = _side_words(chest_side(d, rep, width))
                found.append(CHEST_SENTENCES[d][0].format(**words))
                impression.append(CHEST_SENTENCES[d][1].format(**words))
        if not found:
            where = f" in the {rep.abnormality_location.lower()}" if rep.abnormality_location else ""
            found, impression = [f"There is an abnormality{where}."], ["Abnormal chest radiograph."]
        return " ".join([head, *found]), " ".join(impression)
    organs = _organ_sentence(rep.organs)
    if not rep.abnormal:
        return " ".join(x for x in (head, organs, "No abnormality is seen.") if x), "No abnormality detected."
    named = _listed(diseases) if diseases else "an abnormality"
    where = f" in the {rep.abnormality_location.lower()}" if rep.abnormality_location else ""
    found = f"There is {named}{where}."
    impression = (", ".join(diseases) or "Abnormality") + (f" ({rep.abnormality_location.lower()})" if where else "")
    return " ".join(x for x in (head, organs, found) if x), impression[0].upper() + impression[1:] + "."


_PRESENCE = re.compile(
    r"^(?:is|are|is/are) there (?:any |evidence of (?:an? )?|an? )?(?P<x>[^?]+?)\??$|"
    r"^(?:do you see|can you see|does the patient have|does this patient have) (?:any |an? )?(?P<y>[^?]+?)\??$",
    re.IGNORECASE)
_TRAILING = re.compile(r"\s+(?:present|seen|visible|noted|in (?:this|the above|the) (?:image|patient|film))\b.*$",
                       re.IGNORECASE)


def presence_answers(items: list[VQAItem]) -> dict[Path, dict[str, list[bool]]]:
    """image -> what its closed presence questions ask about ("Is there a pleural effusion?") -> the yes/no answers.

    VQA-RAD's labels for radfound-base's concept head (radfound.training.pretrained.pool). As report text they
    made drafts worse: written as sentences ("No free air. There is visualization.") they taught a second,
    awkward report style under the same instruction (docs/radfound-base.md)."""
    out: dict[Path, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for qa in items:
        if qa.dataset != "vqa-rad" or qa.answer_type != "CLOSED" or qa.answer.strip().lower() not in ("yes", "no"):
            continue
        m = _PRESENCE.match(" ".join(qa.question.split()))
        if m:
            thing = _TRAILING.sub("", (m.group("x") or m.group("y")).strip().rstrip(".")).strip()
            if thing and len(thing.split()) <= 6 and " or " not in thing:
                out[qa.image][thing.lower()].append(qa.answer.strip().lower() == "yes")
    return {image: dict(things) for image, things in out.items()}
