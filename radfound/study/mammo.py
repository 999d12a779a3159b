"""Mammogram view codes and 4-view set assembly.

View family: every mammographic projection maps to CC or MLO, the two views the model
knows. From View Position (0018,5101) first, else the View Code Sequence (SNOMED CT
or SRT code, else its meaning):

- CC family: CC, XCCL, XCCM (exaggerated CC), FB (caudo-cranial, "from below").
- MLO family: MLO, ML (90 degree medio-lateral), LM, LMO, SIO.

Laterality from Image Laterality (0020,0062), else Laterality (0020,0060).

Duplicates (two images for one of L-CC, L-MLO, R-CC, R-MLO) are resolved by, in order:
an unmodified view before one with a View Modifier (spot compression, magnification,
implant displaced...: a diagnostic work-up view, not the screening view the model
expects); a 2D image before a breast tomosynthesis object; FOR PRESENTATION before FOR
PROCESSING; the standard projection (CC, MLO) before another family member (XCCL, ML,
...); the larger image; the later instance (higher Instance Number: a retake is
acquired after the first try). A modified or tomosynthesis image used because nothing
better exists for its view is warned. When the
preferred image of a view cannot be decoded (e.g. a 12-bit lossy JPEG no installed
decoder handles) the next duplicate in that order is used instead, with a warning;
only when no image of the view decodes is the error raised. Each ignored
duplicate is reported as a warning. Missing views are allowed; ``Study.missing_views``
and a warning list them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from radfound.study.model import MAMMO_VIEWS

CC_FAMILY = {"CC", "XCCL", "XCCM", "FB", "RCC"}
MLO_FAMILY = {"MLO", "ML", "LM", "LMO", "SIO", "RMLO"}

#: SNOMED CT (and legacy SRT) codes of CID 4014 "View for Mammography" -> family.
VIEW_CODES = {
    "399162004": "CC", "R-10242": "CC",  # cranio-caudal
    "399192003": "CC", "R-1024A": "CC",  # cranio-caudal exaggerated laterally (XCCL)
    "399101009": "CC", "R-1024B": "CC",  # cranio-caudal exaggerated medially (XCCM)
    "399196006": "CC", "R-10244": "CC",  # caudo-cranial (from below, FB)
    "399368009": "MLO", "R-10226": "MLO",  # medio-lateral oblique
    "399260004": "MLO", "R-10224": "MLO",  # medio-lateral (ML)
    "399352003": "MLO", "R-10228": "MLO",  # latero-medial (LM)
    "399099002": "MLO", "R-10230": "MLO",  # latero-medial oblique (LMO)
    "399188001": "MLO", "R-102D0": "MLO",  # superolateral to inferomedial oblique (SIO)
}


def view_family(view_position: str, view_codes: Sequence[tuple[str, str]] = ()) -> str | None:
    """'CC', 'MLO' or None from View Position and/or (code value, meaning) pairs of the View Code Sequence."""
    vp = view_position.strip().upper().replace(" ", "")
    if vp in CC_FAMILY:
        return "CC"
    if vp in MLO_FAMILY:
        return "MLO"
    for value, meaning in view_codes:
        if value.strip() in VIEW_CODES:
            return VIEW_CODES[value.strip()]
        m = meaning.lower()
        if "cranio-caudal" in m or "craniocaudal" in m or "caudo-cranial" in m:
            return "CC"
        if "oblique" in m or "medio-lateral" in m or "latero-medial" in m or "mediolateral" in m:
            return "MLO"
    return None


def view_code(laterality: str, view_position: str, view_codes: Sequence[tuple[str, str]] = ()) -> str | None:
    """Canonical 'L-CC' / 'L-MLO' / 'R-CC' / 'R-MLO', or None when side or family is unknown."""
    side = (laterality or "").strip().upper()[:1]
    family = view_family(view_position, view_codes)
    if side in ("L", "R") and family:
        return f"{side}-{family}"
    return None


def modifier_text(modifiers: Sequence[tuple[str, str]]) -> str:
    """'' without View Modifiers, else their meanings (or code values) joined: 'Spot Compression, Magnification'."""
    return ", ".join(meaning or value for value, meaning in modifiers)


def is_standard_projection(view_position: str) -> bool:
    return view_position.strip().upper() in ("CC", "MLO")


T = TypeVar("T")


@dataclass
class Candidate(Generic[T]):
    """One image offered for a view slot, with what the duplicate rule looks at."""

    item: T
    view: str
    label: str  # how to name it in a warning (file or node name)
    for_processing: bool = False
    standard: bool = True
    pixels: int = 0
    instance_number: int = 0
    modified: str = ""  # the View Modifier meanings ("Spot Compression, Magnification"), "" when unmodified
    tomo: bool = False  # a breast tomosynthesis / projection object, not a 2D mammogram


def rank_views(candidates: Sequence[Candidate[T]]) -> list[list[Candidate[T]]]:
    """Candidates grouped per view in MAMMO_VIEWS order, each group best first (duplicate rule above)."""
    key: Callable[[Candidate[T]], tuple] = lambda c: (
        not c.modified,
        not c.tomo,
        not c.for_processing,
        c.standard,
        c.pixels,
        c.instance_number,
    )
    groups = [sorted((c for c in candidates if c.view == view), key=key, reverse=True) for view in MAMMO_VIEWS]
    return [g for g in groups if g]


def _ignored_as(kept: Candidate[T], other: Candidate[T]) -> str:
    if other.modified and not kept.modified:
        return f"modified view ({other.modified})"
    if other.tomo and not kept.tomo:
        return "tomosynthesis"
    if other.for_processing and not kept.for_processing:
        return "FOR PROCESSING"
    return "duplicate"


def duplicate_warnings(kept: Candidate[T], group: Sequence[Candidate[T]]) -> list[str]:
    """One warning per image of ``group`` not used for its view, plus one when the kept image is a fallback."""
    out = [f"{kept.view}: ignored {_ignored_as(kept, other)} image {other.label} (kept {kept.label})"
           for other in group if other is not kept]
    if kept.modified:
        out.append(f"{kept.view}: only a modified view is available ({kept.modified}, {kept.label}); used it")
    return out


def missing_warnings(views: Sequence[str]) -> list[str]:
    missing = [v for v in MAMMO_VIEWS if v not in set(views)]
    if not missing:
        return []
    return [f"mammogram set is missing {', '.join(missing)}: the model is told which views are present"]


def choose_views(candidates: Sequence[Candidate[T]]) -> tuple[list[Candidate[T]], list[str]]:
    """One candidate per view in MAMMO_VIEWS order (duplicate rule above), plus warnings."""
    chosen: list[Candidate[T]] = []
    warnings: list[str] = []
    for group in rank_views(candidates):
        chosen.append(group[0])
        warnings += duplicate_warnings(group[0], group)
    return chosen, warnings + missing_warnings([c.view for c in chosen])
