"""Several models' closed answers combined by averaging their option probabilities (soft voting).

Reads the ``--predictions`` files ``radfound eval vqa`` wrote for one question file, one file per
model. On the questions every model answered by probability (rows with ``options``) it averages each
offered answer's probability over the models, takes the most probable and scores it as the harness
does. Beside the ensemble it reports each model on the same questions and how the models agree (all
right, all wrong, split): errors every model shares cannot be averaged away, so this says whether
an ensemble, or more runs of one recipe, can help. Each model and the vote are also compared with the
first model on the same questions (``vs_first``: the difference in closed accuracy with a paired 95%
interval, images resampled), which says whether two runs really differ or only this split does.
"""

from __future__ import annotations

import json
from pathlib import Path

from radfound.errors import ConfigError
from radfound.eval.uncertainty import paired_difference
from radfound.eval.vqa_metrics import score_one


def read_predictions(path: str | Path) -> list[dict]:
    """The rows of one predictions file (JSON lines), with a typed error naming the file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a byte-order mark is not an error
    except OSError as exc:
        raise ConfigError(f"cannot read predictions ({exc.strerror})", path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a predictions file: not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
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
        options = row.get("options")
        if options is not None and not (isinstance(options, dict) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in options.values())):
            raise ConfigError(f"line {number}: 'options' must map each offered answer to a probability", path)
        rows.append(row)
    if not rows:
        raise ConfigError("empty predictions file", path)
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
    per_model: list[list[float]] = [[] for _ in runs]
    voted: list[float] = []
    images: list[str] = []
    all_right = all_wrong = 0
    for rows in zip(*runs):
        if not all(r.get("options") for r in rows) or any(r["options"].keys() != rows[0]["options"].keys()
                                                          for r in rows):
            continue
        votes = {a: sum(r["options"][a] for r in rows) / len(rows) for a in rows[0]["options"]}
        voted.append(float(_correct(max(votes, key=votes.get), rows[0])))
        images.append(rows[0]["image"])
        member = [bool(r["correct"]) for r in rows]  # each model's own answer, as the harness scored it
        for scores, m in zip(per_model, member):
            scores.append(float(m))
        all_right += all(member)
        all_wrong += not any(member)
    n = len(voted)
    if n == 0:
        without = next((p for p, rows in zip(paths, runs) if not any(r.get("options") for r in rows)), paths[0])
        raise ConfigError("no question was answered by probability in every file; this one has none (rows with "
                          "'options' are written by radfound eval vqa --predictions without --free-text)", without)

    def scored(values: list[float]) -> dict:
        right = int(sum(values))
        return {"closed_acc": round(right / n, 4), "correct": right,
                "vs_first": paired_difference(values, per_model[0], images)}

    return {
        "n": n,
        "models": [{"predictions": str(p), **scored(v)} for p, v in zip(paths, per_model)],
        "ensemble": scored(voted),
        "agreement": {"all_right": all_right, "all_wrong": all_wrong, "split": n - all_right - all_wrong},
    }
