"""Procedural, clearly synthetic phantoms with known findings (mammogram 4-view sets, neck CT).

There is no open multi-view mammography or CT report data here, so these pathways are
trained and evaluated on phantoms: every Study carries ``metadata["synthetic"] = "true"``
and its ground truth (findings with locations, boxes, a templated report).
"""

from radfound.training.phantoms.base import Phantom, PhantomFinding
from radfound.training.phantoms.ct_neck import make_neck_ct
from radfound.training.phantoms.mammo import make_mammo_set


def make_phantoms(kind: str, n: int, seed: int) -> list[Phantom]:
    """``n`` phantoms of ``kind`` ("mammo" or "ct"), deterministic for ``seed``."""
    make = {"mammo": make_mammo_set, "ct": make_neck_ct}[kind]
    return [make(seed * 100_003 + i) for i in range(n)]


__all__ = ["Phantom", "PhantomFinding", "make_mammo_set", "make_neck_ct", "make_phantoms"]
