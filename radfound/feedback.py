"""Human evaluation log: what the model drafted, what the radiologist signed, and how far apart they are.

The RadFound paper evaluates drafts with radiologists; this is the local, private
version of that study. Each time a draft is saved (Slicer module or CLI), one JSON
line is appended: generated text, edited text, word-level edit distance, optional
rating (1-5), model, task, study kind and a UTC timestamp. No patient identifiers,
UIDs or file paths are recorded, and nothing leaves the machine.

Log location: ``RADFOUND_FEEDBACK_LOG`` if set, else ``feedback.jsonl`` in the
per-user data directory (platformdirs: e.g. ``~/.local/share/RadFound`` on Linux).
``summarize(path)`` gives the numbers ``radfound eval`` reports.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from datetime import datetime, timezone
from pathlib import Path

from radfound.errors import ConfigError

ENV_VAR = "RADFOUND_FEEDBACK_LOG"
_WORD = re.compile(r"\w+|[^\w\s]")


def log_path() -> Path:
    """Where the feedback log lives (environment override, else the per-user data dir)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("RadFound", appauthor=False)) / "feedback.jsonl"


def tokens(text: str) -> list[str]:
    """Words and punctuation, case-folded: the units edits are counted in."""
    return _WORD.findall(text.lower())


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between two token lists (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def record(
    generated: str,
    edited: str,
    *,
    model: str,
    model_version: str = "",
    task: str = "report",
    kind: str = "",
    rating: int | None = None,
    path: str | Path | None = None,
) -> dict:
    """Append one evaluation entry to the log and return it."""
    if rating is not None and not 1 <= int(rating) <= 5:
        raise ConfigError(f"rating must be 1-5, got {rating}")
    a, b = tokens(generated), tokens(edited)
    distance = edit_distance(a, b)
    entry = {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "kind": kind,
        "model": model,
        "model_version": model_version,
        "generated": generated,
        "edited": edited,
        "edit_distance": distance,
        "normalized_edit_distance": round(distance / max(len(a), len(b), 1), 4),
        "rating": int(rating) if rating is not None else None,
    }
    target = Path(path) if path else log_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as log:  # one write per line: a crash never leaves half an entry
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return entry


def read(path: str | Path | None = None) -> list[dict]:
    """All entries of a log (a missing log has none)."""
    target = Path(path) if path else log_path()
    if not target.exists():
        return []
    try:
        lines = target.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a feedback log: not UTF-8 text ({exc.reason} at byte {exc.start})", target) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the feedback log ({exc.strerror or exc})", target) from None
    entries = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"line {number} is not JSON ({exc.msg})", target) from exc
            entries.append(_checked(entry, number, target))
    return entries


def _checked(entry, number: int, target: Path) -> dict:
    """An entry as ``record`` writes it, or a ConfigError naming the line (a hand-edited or foreign log)."""
    if not isinstance(entry, dict):
        raise ConfigError(f"line {number} is not a feedback entry (a JSON object)", target)
    for key in ("edit_distance", "normalized_edit_distance"):
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"line {number}: {key!r} must be a number of at least 0, not {value!r}", target)
    rating = entry.get("rating")
    if rating is not None and (isinstance(rating, bool) or rating not in range(1, 6)):
        raise ConfigError(f"line {number}: 'rating' must be 1-5 or null, not {rating!r}", target)
    return entry


def _stats(entries: list[dict]) -> dict:
    ratings = [e["rating"] for e in entries if e.get("rating") is not None]
    distances = [e["normalized_edit_distance"] for e in entries]
    return {
        "drafts": len(entries),
        "unedited_fraction": round(sum(e["edit_distance"] == 0 for e in entries) / len(entries), 4),
        "mean_edit_distance": round(statistics.fmean(e["edit_distance"] for e in entries), 2),
        "mean_normalized_edit_distance": round(statistics.fmean(distances), 4),
        "median_normalized_edit_distance": round(statistics.median(distances), 4),
        "rated": len(ratings),
        "mean_rating": round(statistics.fmean(ratings), 2) if ratings else None,
        "ratings": {str(r): ratings.count(r) for r in range(1, 6) if r in ratings},
    }


def summarize(path: str | Path | None = None) -> dict:
    """Totals and per-model/task numbers of a feedback log (what ``radfound eval`` prints)."""
    entries = read(path)
    if not entries:
        return {"drafts": 0, "by_model": {}}
    groups: dict[str, list[dict]] = {}
    for e in entries:
        model = f"{e.get('model', '?')} {e.get('model_version') or ''}".strip()  # versions of a model apart
        groups.setdefault(f"{model} / {e.get('task', 'report')}", []).append(e)
    return {**_stats(entries), "by_model": {k: _stats(v) for k, v in sorted(groups.items())}}
