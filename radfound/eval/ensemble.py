"""Several models' closed answers combined by averaging their option probabilities (soft voting).

Reads the ``--predictions`` files ``radfound eval vqa`` wrote for one question file, one file per
model. On the questions every model answered by probability (rows with ``options``) it averages each
offered answer's probability over the models, takes the most probable and scores it as the harness
does. Beside the ensemble it reports each model on the same questions and how the models agree (all
right, all wrong, split): errors every model shares cannot be averaged away, so this says whether
an ensemble, or more runs of one recipe, can help.
"""

from __future__ import annotations

import json
from pathlib import Path

from radfound.errors import ConfigError
from radfound.eval.vqa_metrics import score_one


def read_predictions(path: str | Path) -> list[dict]:
    """The rows of one predictions file (JSON lines), with a typed error naming the file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read predictions ({exc.strerror})", path) from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {number} is not JSON ({exc.msg})", path) from None
        if not isinstance(row, dict) or not {"image", "question", "answer", "correct"} <= row.keys():
            raise ConfigError(f"line {number} is not a prediction row (needs image, question, answer, correct)",
                              path)
        rows.append(row)
    return rows


def _key(row: dict) -> tuple[str, str, str]:
    return row["image"], row["question"], str(row["answer"])


def _correct(option: str, row: dict) -> bool:
    return score_one(option, str(row["answer"]), row.get("answer_type", "CLOSED"), row.get("lang", "en")).exact


def combine(paths: list[str | Path]) -> dict:
    """Accuracy of each model and of their soft vote on the questions all of them scored by probability."""
    if len(paths) < 2:
        raise ConfigError("give at least two predictions files to combine", paths[0] if paths else "")
    runs = [read_predictions(p) for p in paths]
    first = runs[0]
    for path, rows in zip(paths[1:], runs[1:]):
        if len(rows) != len(first) or any(_key(a) != _key(b) for a, b in zip(first, rows)):
            raise ConfigError(f"its questions differ from those of {Path(paths[0]).name} "
                              "(predictions must come from the same question file, split and filters)", path)
    right = [0] * len(runs)
    ensemble = all_right = all_wrong = n = 0
    for rows in zip(*runs):
        if not all(r.get("options") for r in rows) or any(r["options"].keys() != rows[0]["options"].keys()
                                                          for r in rows):
            continue
        n += 1
        votes = {a: sum(r["options"][a] for r in rows) / len(rows) for a in rows[0]["options"]}
        ensemble += _correct(max(votes, key=votes.get), rows[0])
        member = [bool(r["correct"]) for r in rows]  # each model's own answer, as the harness scored it
        right = [t + m for t, m in zip(right, member)]
        all_right += all(member)
        all_wrong += not any(member)
    if n == 0:
        raise ConfigError("no question was answered by probability in every file (rows with 'options'; "
                          "written by radfound eval vqa --predictions without --free-text)", paths[0])
    return {
        "n": n,
        "models": [{"predictions": str(p), "closed_acc": round(r / n, 4), "correct": r} for p, r in zip(paths, right)],
        "ensemble": {"closed_acc": round(ensemble / n, 4), "correct": ensemble},
        "agreement": {"all_right": all_right, "all_wrong": all_wrong, "split": n - all_right - all_wrong},
    }
