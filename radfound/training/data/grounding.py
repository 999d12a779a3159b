"""Grounding targets from SLAKE ``detection.json`` boxes and from phantom findings.

A SLAKE box ``[x, y, w, h]`` (pixels of source.jpg) becomes corners (x, y, x+w, y+h),
mapped into the model-input image by the preprocessing transform of that view
(``ModelInputs.transforms[i].to_input``) and written in the prompt module's box text
form, ``"Liver <box>x0,y0,x1,y1</box>"`` with integer corners in 0..1000 of the model
input (radfound.tasks.prompts). Several boxes with the same label (both kidneys,
several nodules) are answered together, in reading order (top to bottom, left to right).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from radfound.tasks.prompts import BOX_SCALE, format_box

#: (x, y, view_index) in original pixels -> (x, y) in model-input pixels, and the model-input side S.
ToInput = Callable[[float, float, int], tuple[float, float]]


def box_text(label: str, corners: list[tuple[int, float, float, float, float]], to_input: ToInput, side: int) -> str:
    """``label <box>..</box> <box>..</box>`` for boxes (view, x0, y0, x1, y1) in original pixels."""
    parts = []
    for view, x0, y0, x1, y1 in sorted(corners, key=lambda b: (b[0], round(b[2] / 8), b[1])):
        a = to_input(x0, y0, view)
        b = to_input(x1, y1, view)
        q = [int(round(min(max(v / side * BOX_SCALE, 0), BOX_SCALE))) for v in (a[0], a[1], b[0], b[1])]
        parts.append(format_box("", q[0], q[1], q[2], q[3], view).strip())
    return f"{label} " + " ".join(parts)


def slake_grounding_pairs(boxes: list[tuple[str, float, float, float, float]], to_input: ToInput, side: int) -> list[tuple[str, str]]:
    """(target name for the prompt, answer text) for each distinct label of one SLAKE image."""
    grouped: dict[str, list] = defaultdict(list)
    for label, x, y, w, h in boxes:
        grouped[label].append((0, x, y, x + w, y + h))
    return [(label.lower(), box_text(label, corners, to_input, side)) for label, corners in grouped.items()]


def scaled_to_input(width: int, height: int, side: int) -> ToInput:
    """A stand-in transform for a plain resize of a (width x height) image to side x side."""
    return lambda x, y, view=0: (x * side / width, y * side / height)
