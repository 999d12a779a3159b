"""What the panels tell the user when something fails (one readable line, never a traceback) and where a
saved result went.

A RadFoundError is the user's to fix (its text names the file and the problem). Anything
else is a bug: the user gets a one-line summary and the traceback goes to the log
(Slicer's Python console and application log), so it is visible without being hidden.
"""

from __future__ import annotations

import logging

from radfound.errors import RadFoundError

log = logging.getLogger("radfound.ui")


def user_message(exc: BaseException) -> str:
    if isinstance(exc, RadFoundError):
        return str(exc)
    log.error("unexpected error in RadFound", exc_info=(type(exc), exc, exc.__traceback__))
    return f"Internal error: {type(exc).__name__}: {exc} (the details are in the Python console / application log)"


def saved_message(saved: dict, what: str) -> str:
    """Where a saved draft or conversation went: the scene folder, and its DICOM SR or why there is none."""
    if saved.get("sr"):
        sr = "DICOM SR added to the DICOM database" if saved.get("sr_in_database") else "DICOM SR written"
        sr = f"{sr}: {saved['sr']}"
    else:
        sr = f"no DICOM SR ({saved.get('sr_note') or 'not requested'})"
    similar = ""
    if saved.get("similar"):
        similar = " Added to your similar cases."
    elif saved.get("similar_note"):
        similar = f" Not added to your similar cases ({saved['similar_note']})."
    return f"Saved '{saved['text'].GetName()}'{what} in the study's RadFound folder; {sr}.{similar}"
